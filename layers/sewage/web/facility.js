// A facility's page: the last 24 hours per parameter, then every new reading as it arrives (server-sent events);
// its open alarms; its discharge limits with the clause cited (an administrator sets the facility's own values).
import { api } from "/static/console/http.js";

const $ = (id) => document.getElementById(id);
const plantId = Number(location.pathname.split("/").pop());
const SHOWN = ["w00000", "w01018", "w21003", "w21011", "w21001", "w01001"];
const REASONS = { unknown_code: "因子编码未知", bad_unit: "单位不符", future_time: "数据时间超前", too_old: "数据时间过早", out_of_range: "超出物理量程", bad_password: "密码错误", unsupported_cn: "命令编码不支持" };
const charts = {};
const series = {};
const seen = {};

function fail(message) {
  $("error").hidden = false;
  $("error").textContent = message;
}

function chartFor(code, meta) {
  const div = document.createElement("div");
  div.className = "chart";
  div.dataset.code = code;
  $("charts").append(div);
  const chart = echarts.init(div);
  chart.setOption({
    title: { text: `${meta.name}（${meta.unit}）`, textStyle: { fontSize: 14 } },
    tooltip: { trigger: "axis" },
    xAxis: { type: "time" },
    yAxis: { type: "value", scale: true },
    grid: { left: 50, right: 20, top: 40, bottom: 30 },
    series: [{ type: "line", showSymbol: false, data: [] }],
  });
  return chart;
}

function add(points) {
  const touched = new Set();
  for (const [code, t, v] of points) {
    if (!charts[code] || v === null) continue;
    const key = new Date(t).getTime();
    if (seen[code].has(key)) continue; // the stream looks a few seconds back: a point already shown
    seen[code].add(key);
    series[code].push([t, v]);
    touched.add(code);
  }
  const cutoff = Date.now() - 24 * 3600 * 1000;
  for (const code of touched) {
    series[code] = series[code].filter((p) => new Date(p[0]).getTime() >= cutoff).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    charts[code].setOption({ series: [{ data: series[code] }] });
    charts[code].getDom().dataset.points = series[code].length;
  }
  if (points.length) {
    const last = points[points.length - 1];
    $("last").textContent = `最新：${new Date(last[1]).toLocaleString("zh-CN")}`;
    $("last").dataset.count = String((Number($("last").dataset.count) || 0) + points.length);
  }
}

async function main() {
  const r = await fetch(`/api/sewage/facilities/${plantId}`, { credentials: "same-origin" });
  const f = await r.json();
  if (!r.ok) return fail(f.message || "加载失败");
  $("title").textContent = `${f.name}（${f.code}）`;
  $("info").innerHTML = "";
  const status = document.createElement("span");
  status.className = `status s${f.online_status}`;
  status.id = "status";
  status.textContent = f.online_status;
  $("info").append(status, ` ${f.district} · ${f.kind} · 排放标准 ${f.discharge_standard || "未设"} · 监测设备 ${f.monitors.map((m) => m.mn).join("、") || "无"}`);
  const refused = Object.entries(f.refused_30d);
  $("refused").textContent = refused.length ? refused.map(([k, n]) => `${REASONS[k] || k} ${n} 条`).join("；") : "无";
  const metas = Object.fromEntries(f.codes.map((c) => [c.code, c]));
  for (const code of SHOWN) {
    charts[code] = chartFor(code, metas[code]);
    series[code] = [];
    seen[code] = new Set();
  }
  const recent = await (await fetch(`/api/sewage/facilities/${plantId}/recent?hours=24`, { credentials: "same-origin" })).json();
  for (const [code, pts] of Object.entries(recent.series || {})) add(pts.map(([t, v, fl]) => [code, t, v, fl]));
  const es = new EventSource(`/api/sewage/facilities/${plantId}/stream`);
  es.onopen = () => { $("live").textContent = "已连接"; $("live").classList.add("on"); };
  es.onerror = () => { $("live").textContent = "连接中断，正在重连…"; $("live").classList.remove("on"); };
  es.addEventListener("readings", (e) => add(JSON.parse(e.data).points));
}

// The facility's alarms not closed yet (alarms.py), refreshed every minute.
async function alarms() {
  const r = await fetch(`/api/sewage/alarms?plant_id=${plantId}&state=${encodeURIComponent("未关闭")}`, { credentials: "same-origin" });
  if (!r.ok) return;
  const body = await r.json();
  $("alarms-link").href = `/sewage/alarms?plant_id=${plantId}`;
  $("alarms").replaceChildren(...(body.items.length ? body.items.map((a) => {
    const li = document.createElement("li");
    li.textContent = `${new Date(a.opened_at).toLocaleString("zh-CN", { hour12: false })} ${a.kind}（${a.state}）：${a.message}`;
    return li;
  }) : [Object.assign(document.createElement("li"), { textContent: "无" })]));
  $("alarms").dataset.count = String(body.items.length);
}

let editing = null; // the code whose limit the dialog sets

function num(v) {
  return v === null || v === undefined ? "" : String(v);
}

async function limits() {
  let body;
  let me = { permissions: [] };
  try {
    body = await api(`/api/sewage/facilities/${plantId}/limits`);
    me = await api("/api/auth/me").catch(() => me);
  } catch {
    return;
  }
  const pattern = (p) => new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`);
  const mayEdit = (me.permissions || []).some((p) => pattern(p).test("sewage.limits"));
  $("limit-set").textContent = body.set_title ? `（${body.set_title}）` : "（未设排放标准）";
  const tbody = $("limits").tBodies[0];
  tbody.replaceChildren();
  for (const l of body.items) {
    const tr = tbody.insertRow();
    tr.dataset.code = l.code;
    const own = l.overridden ? `是（标准值 ${num(l.standard_max)}）：${l.override_reason}` : "";
    for (const v of [`${l.code_name}（${l.unit}）`, num(l.max), num(l.max_cold), num(l.min), l.clause || "", l.clause ? (l.verified ? "已核实" : "未核实") : "", own]) {
      tr.insertCell().textContent = v;
    }
    const td = tr.insertCell();
    if (!mayEdit) continue;
    const edit = document.createElement("button");
    edit.type = "button";
    edit.className = "edit";
    edit.textContent = "设定";
    edit.addEventListener("click", () => {
      editing = l.code;
      const f = $("limit-form");
      $("limit-title").textContent = `设定${l.code_name}的排放限值`;
      f.max.value = num(l.max);
      f.max_cold.value = num(l.max_cold);
      f.min.value = num(l.min);
      f.reason.value = "";
      $("limit-error").hidden = true;
      $("limit-dialog").showModal();
    });
    td.append(edit);
    if (l.overridden) {
      const reset = document.createElement("button");
      reset.type = "button";
      reset.className = "reset";
      reset.textContent = "恢复标准";
      reset.addEventListener("click", async () => {
        await api(`/api/sewage/facilities/${plantId}/limits/${l.code}`, { method: "DELETE" });
        await limits();
      });
      td.append(reset);
    }
  }
}

$("limit-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = $("limit-form");
  const value = (input) => (input.value === "" ? null : Number(input.value));
  const body = { max: value(f.max), max_cold: value(f.max_cold), min: value(f.min), reason: f.reason.value.trim() };
  try {
    await api(`/api/sewage/facilities/${plantId}/limits/${editing}`, { method: "PUT", body });
  } catch (e) {
    $("limit-error").hidden = false;
    $("limit-error").textContent = e.message;
    return;
  }
  $("limit-dialog").close();
  await limits();
});
$("limit-cancel").addEventListener("click", () => $("limit-dialog").close());

main();
alarms();
limits();
setInterval(alarms, 60_000);
