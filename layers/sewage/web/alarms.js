// The alarm list: filter by district, kind and state; acknowledge an open alarm or close one, each with a note.
import { api } from "/static/console/http.js";

const $ = (id) => document.getElementById(id);
const ACTIONS = { acknowledge: "确认告警", close: "关闭告警" };
let permissions = [];
let current = null; // {alarm, action} of the open dialog

function can(permission) {
  return permissions.some((p) => new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`).test(permission));
}

function fmt(t) {
  return t ? new Date(t).toLocaleString("zh-CN", { hour12: false }) : "";
}

function fill(select, values) {
  if (select.options.length > 1 && select.name !== "state") return;
  for (const v of values) {
    if ([...select.options].some((o) => o.value === v)) continue;
    select.add(new Option(v, v));
  }
}

function query() {
  const data = new FormData($("filters"));
  const plant = new URLSearchParams(location.search).get("plant_id"); // from a facility's page
  return { ...Object.fromEntries([...data.entries()].filter(([, v]) => v !== "")), ...(plant ? { plant_id: plant } : {}) };
}

async function load() {
  let body;
  try {
    body = await api("/api/sewage/alarms", { query: query() });
  } catch (e) {
    $("error").hidden = false;
    $("error").textContent = e.status === 401 ? "请先登录后查看污水设施告警。" : e.message;
    $("counts").textContent = "";
    return;
  }
  $("error").hidden = true;
  const f = $("filters");
  fill(f.district, body.districts);
  fill(f.kind, body.kinds);
  fill(f.state, body.states);
  const open = body.by_state["待处理"] + body.by_state["已确认"];
  $("counts").textContent = `未关闭 ${open} 条（待处理 ${body.by_state["待处理"]}，已确认 ${body.by_state["已确认"]}）：` +
    body.kinds.map((k) => `${k} ${body.open_by_kind[k]}`).join("，") + `；共查到 ${body.total} 条`;
  const tbody = $("alarms").tBodies[0];
  tbody.replaceChildren();
  for (const a of body.items) {
    const tr = tbody.insertRow();
    tr.dataset.id = a.id;
    const link = document.createElement("a");
    link.href = `/sewage/${a.plant_id}`;
    link.textContent = a.plant_name;
    const handled = [a.acked_by ? `${a.acked_by} 确认：${a.ack_note}` : "", a.closed_by ? `${a.closed_by === "system" ? "系统" : a.closed_by} 关闭：${a.close_note}` : ""].filter(Boolean).join("；");
    const cells = [fmt(a.opened_at), a.district || "", link, a.kind, a.message, a.state, handled];
    for (const c of cells) {
      const td = tr.insertCell();
      if (c instanceof Node) td.append(c);
      else td.textContent = c;
    }
    tr.cells[5].className = "state";
    const td = tr.insertCell();
    if (can("sewage.alarm")) {
      if (a.state === "待处理") td.append(button(a, "acknowledge"));
      if (a.state !== "已关闭") td.append(button(a, "close"));
    }
  }
  $("more").hidden = body.total <= body.items.length;
  $("more").textContent = `仅显示最近 ${body.items.length} 条，请缩小查询条件。`;
}

function button(alarm, action) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = action;
  b.textContent = action === "acknowledge" ? "确认" : "关闭";
  b.addEventListener("click", () => {
    current = { alarm, action };
    $("act-title").textContent = ACTIONS[action];
    $("act-what").textContent = `${alarm.plant_name}：${alarm.message}`;
    $("act-form").note.value = "";
    $("act-error").hidden = true;
    $("act").showModal();
  });
  return b;
}

$("act-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const { alarm, action } = current;
  try {
    await api(`/api/sewage/alarms/${alarm.id}/${action}`, { method: "POST", body: { note: $("act-form").note.value.trim() } });
  } catch (e) {
    $("act-error").hidden = false;
    $("act-error").textContent = e.message;
    return;
  }
  $("act").close();
  await load();
});
$("act-cancel").addEventListener("click", () => $("act").close());
$("filters").addEventListener("submit", (ev) => {
  ev.preventDefault();
  load();
});

const params = new URLSearchParams(location.search);
for (const name of ["district", "kind", "state"]) {
  if (params.has(name)) {
    const select = $("filters")[name];
    if (![...select.options].some((o) => o.value === params.get(name))) select.add(new Option(params.get(name), params.get(name)));
    select.value = params.get(name);
  }
}
try {
  permissions = (await api("/api/auth/me")).permissions || [];
} catch {
  permissions = [];
}
await load();
setInterval(load, 60_000);
