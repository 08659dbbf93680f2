// The drawing sets of an application (/review/drawings/{application}): browse by review stage (round), building and
// discipline, each set's rendering progress and its sheets (thumbnails open the viewer), and — for the design unit
// and the builder — the upload of a PDF or a raster drawing (sent as the request body, checked by the server).
import { api, ApiError, cookie } from "/static/console/http.js";
import { h, toast } from "/static/console/ui.js";

const $ = (id) => document.getElementById(id);
const applicationId = Number(location.pathname.split("/").filter(Boolean).pop());
let poll = null;

function fill(select, entries, chosen = "") {
  select.replaceChildren(...entries.map(([value, text]) => h("option", { value, selected: String(value) === String(chosen) }, text)));
}

function filters() {
  return {
    application_id: applicationId,
    round_no: $("f-round").value,
    building_id: $("f-building").value,
    discipline: $("f-discipline").value,
  };
}

function setCard(s) {
  const busy = s.status === "queued" || s.status === "processing";
  return h(
    "section",
    { class: "card ds-set", "data-set": s.id },
    h("h3", {}, `${s.round_title} · ${s.building} · ${s.discipline_title}`),
    h(
      "div",
      { class: "meta" },
      `${s.file_name} · ${s.progress.total} 张 · `,
      h("span", { class: `ds-status-${s.status}` }, busy ? `${s.status_title} ${s.progress.done}/${s.progress.total}` : s.status_title),
      s.error ? `（${s.error}）` : "",
    ),
    busy ? h("div", { class: "ds-bar" }, h("i", { style: `width:${s.progress.percent}%` })) : null,
    h(
      "div",
      { class: "ds-sheets" },
      s.sheets.map((sh) =>
        h(
          "a",
          { class: "ds-sheet", href: sh.viewer, "data-sheet": sh.id },
          sh.thumbnail ? h("img", { src: sh.thumbnail, alt: sh.title, loading: "lazy" }) : h("div", { class: "wait" }, sh.status_title),
          h("div", {}, `${sh.page_no}. ${sh.title}`),
          h("div", { class: "meta" }, sh.comments ? `${sh.comments} 条意见` : "无意见"),
        ),
      ),
    ),
  );
}

async function load() {
  const data = await api("/api/review/drawings", { query: filters() });
  $("title").textContent = `${data.application.name}（${data.application.application_no}）· 施工图纸`;
  $("sets").replaceChildren(...(data.sets.length ? data.sets.map(setCard) : [h("p", { class: "meta" }, "没有符合条件的图纸。")]));
  clearTimeout(poll);
  if (data.sets.some((s) => s.status === "queued" || s.status === "processing")) poll = setTimeout(load, 2000);
  return data;
}

async function upload(ev, data) {
  ev.preventDefault();
  const file = $("up-file").files[0];
  if (!file) return toast("请选择图纸文件。", "error");
  const query = new URLSearchParams({
    application_id: applicationId,
    round_no: $("up-round").value,
    discipline: $("up-discipline").value,
    file_name: file.name,
  });
  if ($("up-building").value) query.set("building_id", $("up-building").value);
  $("up-submit").disabled = true;
  $("up-status").textContent = "上传中……";
  try {
    const res = await fetch(`/api/review/drawings?${query}`, {
      method: "POST",
      body: file,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": cookie("cj_csrf"), "Content-Type": "application/octet-stream", Accept: "application/json" },
    });
    const body = await res.json().catch(() => null);
    if (!res.ok) throw new ApiError(res.status, body);
    toast(res.status === 201 ? "图纸已上传，正在后台生成图像。" : "这份图纸已经上传过。");
    $("upload").reset();
    await load();
  } catch (e) {
    toast(e.message, "error");
  } finally {
    $("up-submit").disabled = false;
    $("up-status").textContent = "";
  }
}

async function signIn(ev) {
  ev.preventDefault();
  const form = new FormData(ev.target);
  try {
    await api("/api/auth/login", { method: "POST", body: { username: form.get("username"), password: form.get("password") } });
    location.reload();
  } catch (e) {
    $("login-error").textContent = e.message;
    $("login-error").hidden = false;
  }
}

async function main() {
  const me = await api("/api/auth/me");
  if (!me.authenticated) {
    $("login").hidden = false;
    $("login-form").onsubmit = signIn;
    return;
  }
  $("whoami").textContent = me.display_name || me.user;
  let data;
  try {
    data = await load();
  } catch (e) {
    $("problem").replaceChildren(h("h2", {}, "无法打开图纸"), h("p", {}, e.message));
    $("problem").hidden = false;
    return;
  }
  const c = data.choices;
  fill($("f-round"), [["", "全部审查阶段"], ...c.rounds.map((r) => [r.value, r.title])]);
  fill($("f-building"), [["", "全部单体"], ...c.buildings.map((b) => [b.value, b.title])]);
  fill($("f-discipline"), [["", "全部专业"], ...c.disciplines.map((d) => [d.value, d.title])]);
  for (const id of ["f-round", "f-building", "f-discipline"]) $(id).onchange = () => load().catch((e) => toast(e.message, "error"));
  if (data.can.upload) {
    const rounds = [];
    for (let n = 1; n <= data.next_round; n += 1) rounds.push([n, n === 1 ? "第 1 轮（送审图纸）" : `第 ${n} 轮（回复修改图纸）`]);
    fill($("up-round"), rounds, data.next_round);
    fill($("up-building"), [["", "整体（不分单体）"], ...c.buildings.map((b) => [b.value, b.title])]);
    fill($("up-discipline"), c.disciplines.map((d) => [d.value, d.title]));
    $("upload").hidden = false;
    $("upload").onsubmit = (ev) => upload(ev, data);
  }
  $("app").hidden = false;
}

main();
