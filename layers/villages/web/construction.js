// The construction dynamics workbench (/villages/construction, VT-02): sign in (the cookie session), then
// - 专题图: every house under construction on the map, as one of three thematic views — by stage passed, overdue
//   inspections (the next stage past due), density (a heat map); a click opens the house;
// - 在建农房: the list (county, stage, overdue, search) and a house's record: approval result (entered here by the
//   county), its stages with due days, and the inspections with their photos;
// - 上报统计: per county, the year's reports, late reports, houses under construction and overdue (missing reports),
//   with a chart of the reports per month;
// - 建设阶段: the administrators' list of post-approval stages (add, rename, reorder, due days, retire).
// The address keeps the tab and the open house (#map, #houses, #house/12) so that a reload stays there.
import * as maplibregl from "maplibre-gl";
import { api } from "/static/console/http.js";
import { workbench } from "/static/console/workbench.js";
import { ListView, dash, formDialog, h, options, table, toast } from "/static/console/ui.js";

const API = "/api/villages/construction";
const $ = (id) => document.getElementById(id);
const STAGE_COLORS = ["#a3a3a3", "#60a5fa", "#f59e0b", "#8b5cf6", "#16a34a", "#0ea5e9", "#db2777"];
const STATES = { passed: "已通过", next: "待巡查", pending: "未开始" };

// [id, title, permission, mount(pane, ctx)]
const TABS = [
  ["map", "专题图", "farmhouse.view", mapTab],
  ["houses", "在建农房", "farmhouse.view", housesTab],
  ["stats", "上报统计", "farmhouse.view", statsTab],
  ["stages", "建设阶段", "farmhouse.stages", stagesTab],
];

const kv = (pairs) => h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, dash(v))]));
const tag = (cls, text) => h("span", { class: `tag ${cls}` }, text);

// -- the thematic map ---------------------------------------------------------------------------------------------

const VIEWS = {
  stage: "按所处阶段",
  overdue: "逾期巡查",
  density: "密度",
};

function stageColor(stages) {
  const pairs = [["none", STAGE_COLORS[0]], ...stages.map((s, i) => [s.code, STAGE_COLORS[(i + 1) % STAGE_COLORS.length]])];
  return { pairs, expr: ["match", ["get", "stage"], ...pairs.flat(), "#6b7280"] };
}

async function mapTab(pane, ctx) {
  const [{ items: stages }, data, style] = await Promise.all([
    api(`${API}/stages`), api(`${API}/map`), api("/map/style.json"),
  ]);
  const colors = stageColor(stages);
  const names = { none: "尚未开始", ...Object.fromEntries(stages.map((s) => [s.code, `已完成${s.name}`])) };
  const legend = h("div", { class: "legend", id: "legend" });
  const count = h("span", { id: "map-count" }, `在建农房 ${data.features.length} 户，`
    + `逾期 ${data.features.filter((f) => f.properties.overdue).length} 户`);
  const radios = Object.entries(VIEWS).map(([id, label]) => h("label", { class: "check" },
    h("input", { type: "radio", name: "view", value: id, checked: id === "stage" }), label));
  const holder = h("div", { class: "cmap", id: "cmap" });
  pane.append(h("div", { class: "views" }, ...radios, count), legend, holder);
  const map = new maplibregl.Map({ container: holder, style, center: [119.8, 29.9], zoom: 7.6, attributionControl: false });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  const setLegend = (view) => {
    const items = view === "stage" ? colors.pairs.map(([code, c]) => [names[code] || code, c])
      : view === "overdue" ? [["逾期", "#dc2626"], ["未逾期", "#9ca3af"]] : [["少", "#fde68a"], ["多", "#b91c1c"]];
    legend.replaceChildren(...items.map(([label, c]) => h("span", {}, h("i", { style: `background:${c}` }), label)));
  };
  const setView = (view) => {
    map.setLayoutProperty("houses-heat", "visibility", view === "density" ? "visible" : "none");
    map.setLayoutProperty("houses-point", "visibility", view === "density" ? "none" : "visible");
    map.setPaintProperty("houses-point", "circle-color", view === "overdue"
      ? ["case", ["get", "overdue"], "#dc2626", "#9ca3af"] : colors.expr);
    setLegend(view);
    document.body.dataset.view = view;
  };
  map.on("load", () => {
    map.addSource("houses", { type: "geojson", data });
    map.addLayer({ id: "houses-heat", type: "heatmap", source: "houses", layout: { visibility: "none" },
      paint: { "heatmap-radius": 18, "heatmap-opacity": 0.8,
        "heatmap-color": ["interpolate", ["linear"], ["heatmap-density"], 0, "rgba(0,0,0,0)", 0.2, "#fde68a",
          0.5, "#f97316", 1, "#b91c1c"] } });
    map.addLayer({ id: "houses-point", type: "circle", source: "houses",
      paint: { "circle-radius": 4, "circle-color": colors.expr, "circle-stroke-color": "#fff", "circle-stroke-width": 1 } });
    map.on("click", "houses-point", (e) => { location.hash = `house/${e.features[0].id}`; });
    map.on("mouseenter", "houses-point", () => { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", "houses-point", () => { map.getCanvas().style.cursor = ""; });
    setView("stage");
    map.once("idle", () => { document.body.dataset.mapReady = "true"; });
  });
  for (const r of radios) r.querySelector("input").addEventListener("change", (e) => setView(e.target.value));
  window.constructionMap = map;
}

// -- houses -------------------------------------------------------------------------------------------------------

async function housesTab(pane) {
  const { items: stages } = await api(`${API}/stages`);
  const list = new ListView({
    filters: [
      { name: "district", label: "区县", placeholder: "全部" },
      { name: "stage", label: "已完成阶段", type: "select",
        choices: options([["none", "尚未开始"], ...stages.map((s) => [s.code, s.name])], "全部") },
      { name: "overdue", label: "仅逾期", type: "checkbox" },
      { name: "q", label: "农房编号、乡镇、村" },
    ],
    columns: [
      { label: "农房编号", render: (r) => r.code },
      { label: "区县", render: (r) => r.district },
      { label: "乡镇 / 村", render: (r) => `${r.township || ""} ${r.village || ""}` },
      { label: "户主", render: (r) => r.owner_name },
      { label: "状态", render: (r) => r.status },
      { label: "审批文号", render: (r) => dash(r.approval_no) },
      { label: "已完成阶段", render: (r) => r.stage_name || "—" },
      { label: "下一阶段", render: (r) => (r.next_stage_name ? `${r.next_stage_name}（${r.next_due_on} 前）` : "—") },
      { label: "逾期", render: (r) => (r.overdue ? tag("overdue", "逾期") : "") },
    ],
    empty: "没有符合条件的在建农房。",
    onRow: (r) => { location.hash = `house/${r.id}`; },
    load: async (v, limit, offset) => {
      const query = { ...v, overdue: v.overdue ? "true" : "", limit, offset };
      const data = await api(`${API}/houses`, { query });
      return { items: data.items, total: data.total };
    },
  });
  pane.append(list.el);
  return list.go(0);
}

async function housePane(pane, ctx, id) {
  const r = await api(`${API}/houses/${id}`);
  const canApprove = ctx.can("farmhouse.inspect") && ["审批中", "在建"].includes(r.status)
    && r.timeline.every((s) => s.state !== "passed");
  pane.append(
    h("div", { class: "card", id: "house" },
      h("h2", {}, `${r.code} · ${r.district} ${r.township || ""} ${r.village || ""}`),
      kv([["户主", r.owner_name], ["建设状态", r.status], ["审批文号", r.approval_no], ["审批日期", r.approved_on],
        ["建房工匠", r.craftsman ? (r.craftsman.name || "（其他区县登记的工匠）") : null],
        ["已完成阶段", r.timeline.filter((s) => s.state === "passed").map((s) => s.name).pop()],
        ["下一阶段", r.next_stage_name ? `${r.next_stage_name}（${r.next_due_on} 前）` : null]]),
      r.overdue ? h("p", {}, tag("overdue", `「${r.next_stage_name}」已逾期，缺少巡查上报`)) : null,
      h("p", {}, h("a", { href: r.record_url }, "农房档案页"), " ",
        canApprove ? h("button", { type: "button", class: "btn", id: "approve", onclick: () => approve(r) },
          r.approval_no ? "修改审批结果" : "登记审批结果") : null, " ",
        ctx.can("farmhouse.inspect") && ["审批中", "在建"].includes(r.status)
          ? h("button", { type: "button", class: "btn", id: "builder", onclick: () => builder(r) },
            r.craftsman ? "更换建房工匠" : "登记建房工匠") : null)),
    h("div", { class: "card" }, h("h3", {}, "审批后阶段"), table([
      { label: "阶段", render: (s) => s.name },
      { label: "期限（天）", render: (s) => s.due_days },
      { label: "状态", render: (s) => tag(s.state, STATES[s.state]) },
      { label: "通过日期", render: (s) => dash(s.passed_on) },
      { label: "应于", render: (s) => dash(s.due_on) },
      { label: "巡查次数", render: (s) => s.inspections },
    ], r.timeline)),
    h("div", { class: "card", id: "inspections" }, h("h3", {}, "巡查记录"), table([
      { label: "阶段", render: (i) => i.stage_name },
      { label: "日期", render: (i) => i.inspected_on },
      { label: "结果", render: (i) => tag(i.result, i.result_name) },
      { label: "巡查人", render: (i) => i.inspector },
      { label: "意见", render: (i) => dash(i.note) },
      { label: "期限", render: (i) => (i.late ? tag("late", `迟于 ${i.due_on}`) : dash(i.due_on)) },
      { label: "距农房（米）", render: (i) => (i.distance_m === null ? "—" : Math.round(i.distance_m)) },
      { label: "照片", render: (i) => h("div", { class: "thumbs" }, i.photos.map((p) =>
        h("a", { href: p.url, target: "_blank" }, h("img", { src: p.thumbnail_url, alt: "现场照片",
          title: p.flags.join("；") }))))},
    ], r.inspections, "尚无巡查记录。")),
  );
}

function approve(r) {
  formDialog("登记审批结果", [
    { name: "approval_no", label: "审批文号", required: true, value: r.approval_no || "" },
    { name: "approved_on", label: "审批日期", type: "date", required: true, value: r.approved_on || "" },
  ], async (v) => {
    await api(`${API}/houses/${r.id}/approval`, { method: "PUT", body: v });
    toast("审批结果已登记。");
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  }, { submit: "保存" });
}

function builder(r) {
  formDialog("登记建房工匠", [
    { name: "craftsman_id_number", label: "工匠身份证号", required: true,
      hint: "须为「建房工匠」中已登记、在册的工匠；此后每次巡查的合格或不合格计入其信用记录" },
  ], async (v) => {
    const out = await api(`${API}/houses/${r.id}/craftsman`, { method: "PUT", body: { ...v, version: r.version } });
    toast(out.credit_events.length ? `已登记建房工匠「${out.craftsman.name}」，${out.credit_events.length} 次已有巡查计入其信用记录。`
      : `已登记建房工匠「${out.craftsman.name}」。`);
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  }, { submit: "保存" });
}

// -- statistics ---------------------------------------------------------------------------------------------------

async function statsTab(pane) {
  const year = Number(new URLSearchParams(location.hash.split("?")[1] || "").get("year")) || new Date().getFullYear();
  const s = await api(`${API}/stats`, { query: { year } });
  const years = Array.from({ length: 6 }, (_, i) => new Date().getFullYear() - i);
  const pick = h("select", { id: "year", onchange: (e) => { location.hash = `stats?year=${e.target.value}`; } },
    years.map((y) => h("option", { value: y, selected: y === year }, `${y}年`)));
  const rows = [...s.items, { ...s.total, district: "合计", has_system: null }];
  const chart = h("div", { class: "chart", id: "chart-months" });
  pane.append(
    h("div", { class: "views" }, h("label", {}, "年度 ", pick),
      h("span", { class: "note" }, "迟报：巡查晚于该阶段期限；逾期（缺报）：下一阶段已过期限仍未上报巡查。")),
    h("div", { id: "stats-table" }, table([
      { label: "区县", render: (d) => d.district },
      { label: "自有系统", render: (d) => (d.has_system === null ? "" : d.has_system ? "是" : "否（市平台录入）") },
      { label: "在建农房", render: (d) => d.under_construction },
      { label: "已审批", render: (d) => d.approved },
      { label: "逾期（缺报）", render: (d) => d.overdue },
      { label: "上报巡查", render: (d) => d.reports },
      { label: "迟报", render: (d) => d.late },
      { label: "不合格", render: (d) => d.failed },
    ], rows)),
    chart,
  );
  const months = Array.from({ length: 12 }, (_, i) => `${i + 1}月`);
  const sum = (key) => months.map((_, m) => s.items.reduce((a, d) => a + d.months[m][key], 0));
  window.echarts?.init(chart).setOption({
    title: { text: `${s.year}年 各月巡查上报`, left: "center", textStyle: { fontSize: 14 } },
    tooltip: { trigger: "axis" },
    legend: { bottom: 0 },
    xAxis: { type: "category", data: months },
    yAxis: { type: "value" },
    series: [{ name: "按期", type: "bar", stack: "r", data: sum("reports").map((n, i) => n - sum("late")[i]) },
      { name: "迟报", type: "bar", stack: "r", data: sum("late"), itemStyle: { color: "#dc2626" } }],
  });
}

// -- stages (administrators) ----------------------------------------------------------------------------------------

async function stagesTab(pane) {
  const { items } = await api("/api/villages/stages");
  const edit = (s) => formDialog(`修改阶段「${s.name}」`, [
    { name: "name", label: "名称", required: true, value: s.name },
    { name: "seq", label: "顺序", type: "number", required: true, value: s.seq, min: 1, max: 1000 },
    { name: "due_days", label: "期限（天，自上一阶段通过）", type: "number", required: true, value: s.due_days, min: 1, max: 720 },
    { name: "active", label: "启用", type: "checkbox", value: s.active },
  ], async (v) => {
    await api(`/api/villages/stages/${s.code}`, { method: "PATCH", body: { ...v, version: s.version } });
    toast("阶段已保存。");
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  });
  const add = () => formDialog("新增阶段", [
    { name: "code", label: "编码（小写字母、数字、下划线）", required: true },
    { name: "name", label: "名称", required: true },
    { name: "seq", label: "顺序", type: "number", required: true, min: 1, max: 1000 },
    { name: "due_days", label: "期限（天）", type: "number", required: true, value: 30, min: 1, max: 720 },
  ], async (v) => {
    await api("/api/villages/stages", { method: "POST", body: v });
    toast("阶段已新增。");
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  });
  pane.append(
    h("p", {}, h("button", { type: "button", class: "btn", id: "add-stage", onclick: add }, "新增阶段")),
    table([
      { label: "顺序", render: (s) => s.seq },
      { label: "编码", render: (s) => s.code },
      { label: "名称", render: (s) => s.name },
      { label: "期限（天）", render: (s) => s.due_days },
      { label: "启用", render: (s) => (s.active ? "是" : "已停用") },
      { label: "", render: (s) => h("button", { type: "button", class: "btn small", onclick: () => edit(s) }, "修改") },
    ], items),
  );
}

// -- routing ------------------------------------------------------------------------------------------------------

async function openRoute(ctx) {
  const route = location.hash.slice(1).split("?")[0] || ctx.tabs[0][0];
  const [name, arg] = route.split("/");
  const pane = h("div", { class: "pane" });
  $("view").replaceChildren(pane);
  window.constructionMap?.remove();
  window.constructionMap = null;
  for (const b of $("tabs").children) b.classList.toggle("active", b.dataset.tab === (name === "house" ? "houses" : name));
  try {
    if (name === "house" && arg) return await housePane(pane, ctx, arg);
    const tab = ctx.tabs.find(([id]) => id === name) || ctx.tabs[0];
    await tab[3](pane, ctx);
  } catch (e) {
    pane.append(h("p", { class: "form-error" }, e.message || String(e)));
  }
}

workbench({ tabs: TABS, route: openRoute });
