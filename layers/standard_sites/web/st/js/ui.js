// The workbench's own building blocks (key–value lists, status tags, photos, case histories, the position for an
// upload), beside the consoles' shared ones, which it re-exports.
import { dash, fmtTime, h, table } from "/static/console/ui.js";

export * from "/static/console/ui.js";

// A definition list of [label, value] pairs (empty values shown as —).
export function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.filter(Boolean).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, dash(v))]));
}

export function statusTag(code, title) {
  return h("span", { class: `status s-${code}`, "data-status": code }, title || code);
}

// Photos as thumbnails (click: the original in a new tab) with their checklist item, time, fence and flags.
export function photoGrid(photos, checklist = []) {
  if (!photos.length) return h("p", { class: "muted" }, "暂无照片。");
  const names = Object.fromEntries(checklist.map((c) => [c.code, c.name]));
  return h("div", { class: "photos" }, photos.map((p) => {
    const flags = p.flags || [];
    const fence = p.inside_fence === null || p.inside_fence === undefined ? null
      : p.inside_fence ? h("span", {}, `围栏内（距边界 ${Math.abs(Math.round(p.distance_m ?? 0))} 米）`)
        : h("span", { class: "red" }, `围栏外 ${Math.round(p.distance_m ?? 0)} 米`);
    return h("figure", { class: `photo${flags.length || p.inside_fence === false ? " flagged" : ""}`, "data-photo": p.id },
      h("a", { href: p.url, target: "_blank", rel: "noopener", title: "查看原图" },
        h("img", { src: p.thumbnail_url, alt: names[p.checklist_code] || "现场照片" })),
      h("figcaption", { class: "cap" },
        h("b", {}, p.checklist_code ? `${p.checklist_code} ${names[p.checklist_code] || ""}` : "照片"), h("br"),
        fmtTime(p.taken_at), " · ", { construction: "施工单位", supervision: "监理单位", authority: "主管部门" }[p.uploader_role] || "",
        h("br"), fence,
        flags.map((f) => h("span", { class: "flag" }, `⚠ ${f}`))));
  }));
}

// The case history: who did what, when, from which state to which, and why.
export function historyTable(history, states, titles) {
  return table([
    { label: "时间", className: "nowrap", render: (r) => fmtTime(r.at) },
    { label: "操作", render: (r) => titles[r.action] || r.action },
    { label: "状态", render: (r) => `${r.from_state ? `${states[r.from_state] || r.from_state} → ` : ""}${states[r.to_state] || r.to_state}` },
    { label: "理由", className: "content", render: (r) => r.reason || "" },
    { label: "办理人", render: (r) => r.actor_name || r.actor },
  ], history, "暂无办理记录。");
}

// The device's position for a photo upload ({lon, lat, accuracy_m}), or an explanation why there is none.
export function locate() {
  return new Promise((resolve, reject) => {
    const phone = "请用手机端（/m）在工地现场拍照上传。";
    if (!("geolocation" in navigator)) return reject(new Error(`本浏览器不能定位，照片须带拍摄位置才能上传。${phone}`));
    navigator.geolocation.getCurrentPosition(
      (pos) => resolve({ lon: pos.coords.longitude, lat: pos.coords.latitude, accuracy_m: pos.coords.accuracy }),
      (err) => reject(new Error(`无法取得当前位置（${err.code === 1 ? "定位权限被拒绝" : "定位失败"}），照片须带拍摄位置才能上传。${phone}`)),
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });
}

// A version-4 UUID (an Idempotency-Key); plain-HTTP pages have no crypto.randomUUID.
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
