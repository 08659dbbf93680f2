// The farmhouse overview (/villages/overview, VT-01): the figures, the charts and the map of one scope together —
// the city by district, or one district by township (the select, or a click on a district's circle) — and the
// 杭派民居 gallery, which administrators manage here (upload, edit the caption, remove).
import * as maplibregl from "maplibre-gl";
import { api } from "/static/console/http.js";
import { Form, buttons, formDialog, h, table, toast } from "/static/console/ui.js";

const API = "/api/villages";
const $ = (id) => document.getElementById(id);
const num = (v) => Number(v || 0).toLocaleString("zh-CN");
const FIGURES = [
  ["houses", "农房总数"], ["stock", "存量农房"], ["approving", "审批中"], ["building", "在建"],
  ["completed", "已竣工"], ["dangerous", "危房（B/C/D级）"], ["craftsmen", "乡村工匠"],
];
const SERIES = [["stock", "存量", "#94a3b8"], ["approving", "审批中", "#f59e0b"], ["building", "在建", "#2563eb"],
  ["completed", "已竣工", "#16a34a"]];
const charts = {};
let map = null;
let ctx = null;

function show(section) {
  for (const id of ["login", "denied", "app"]) $(id).hidden = id !== section;
  $("logout").hidden = section === "login";
  document.body.dataset.state = section;
}

function showLogin() {
  show("login");
  const form = new Form([
    { name: "username", label: "用户名", required: true, autocomplete: "username" },
    { name: "password", label: "密码", type: "password", required: true, autocomplete: "current-password" },
  ], { submit: "登录", onSubmit: async (v) => { await api("/api/auth/login", { method: "POST", body: v }); await start(); } });
  $("login-form").replaceChildren(form.el);
}

function chart(id) {
  if (!charts[id]) charts[id] = echarts.init($(id));
  return charts[id];
}

function drawFigures(data) {
  $("figures").replaceChildren(...FIGURES.map(([k, label]) => h("div", { class: "figure", "data-figure": k },
    h("div", { class: "label" }, label), h("div", { class: "value" }, num(data.totals[k])))));
}

function drawCharts(data) {
  const names = data.rows.map((r) => r.name || "（未填）");
  chart("chart-areas").setOption({
    tooltip: { trigger: "axis" }, legend: { top: 0 }, grid: { left: 60, right: 50, top: 30, bottom: 60 },
    xAxis: { type: "category", data: names, axisLabel: { rotate: 40, interval: 0 } },
    yAxis: [{ type: "value", name: "农房" }, { type: "value", name: "工匠" }],
    series: [
      ...SERIES.map(([k, label, color]) => ({ name: label, type: "bar", stack: "houses", itemStyle: { color },
        data: data.rows.map((r) => r[k]) })),
      { name: "工匠", type: "line", yAxisIndex: 1, data: data.rows.map((r) => r.craftsmen), itemStyle: { color: "#9333ea" } },
    ],
  }, true);
  chart("chart-stages").setOption({
    tooltip: { trigger: "axis" }, grid: { left: 60, right: 20, top: 20, bottom: 40 },
    xAxis: { type: "category", data: data.stages.map((s) => s.name) },
    yAxis: { type: "value", name: "农房" },
    series: [{ name: "在建农房", type: "bar", data: data.stages.map((s) => s.houses), itemStyle: { color: "#2563eb" },
      label: { show: true, position: "top" } }],
  }, true);
}

function drawTable(data) {
  const cols = [{ label: data.level === "district" ? "区县" : "乡镇街道", render: (r) => r.name || "（未填）" },
    ...[["houses", "农房"], ...SERIES.map(([k, l]) => [k, l]), ["dangerous", "危房"], ["craftsmen", "工匠"]]
      .map(([k, label]) => ({ label, className: "num", render: (r) => num(r[k]) })),
    ...data.stages.map((st) => ({ label: `在建·${st.name}`, className: "num",
      render: (r) => num(r.stages[st.stage || "none"]) }))];
  $("table").replaceChildren(table(cols, data.rows, "没有农房。",
    data.level === "district" ? (r) => choose(r.name) : null));
}

function areasGeojson(data) {
  return { type: "FeatureCollection", features: data.rows.filter((r) => r.position).map((r) => ({ type: "Feature",
    geometry: { type: "Point", coordinates: r.position },
    properties: { name: r.name || "", houses: r.houses, building: r.approving + r.building, label: `${r.name || ""}\n${num(r.houses)}` } })) };
}

async function ensureMap() {
  if (map) return map;
  const style = await api("/map/style.json");
  const keep = new Set(["districts", "townships", "farmhouses"]);
  style.layers = style.layers.filter((l) => l.type === "background" || keep.has(l.source));
  map = new maplibregl.Map({ container: "map", style, center: [119.6, 29.95], zoom: 7.3, attributionControl: false });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  await new Promise((resolve) => map.on("load", resolve));
  map.addSource("areas", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
  map.addLayer({ id: "areas", type: "circle", source: "areas", paint: {
    "circle-color": "#0f3d6e", "circle-opacity": 0.55, "circle-stroke-color": "#fff", "circle-stroke-width": 1.5,
    "circle-radius": ["interpolate", ["linear"], ["sqrt", ["get", "houses"]], 0, 4, 300, 30] } });
  if (style.glyphs) {
    map.addLayer({ id: "areas-label", type: "symbol", source: "areas", layout: { "text-field": ["get", "label"],
      "text-size": 12, "text-font": style.layers.find((l) => l.layout && l.layout["text-font"])?.layout["text-font"] || ["Noto Sans Regular"] },
      paint: { "text-color": "#111827", "text-halo-color": "#fff", "text-halo-width": 1.5 } });
  }
  map.on("click", "areas", (e) => { if (ctx.level === "district") choose(e.features[0].properties.name); });
  window.overviewMap = map;
  return map;
}

async function drawMap(data) {
  const m = await ensureMap();
  const geo = areasGeojson(data);
  m.getSource("areas").setData(geo);
  window.overviewAreas = geo; // what the circles show (read by the browser test)
  const pts = geo.features.map((f) => f.geometry.coordinates);
  if (pts.length) {
    const xs = pts.map((p) => p[0]);
    const ys = pts.map((p) => p[1]);
    m.fitBounds([[Math.min(...xs) - 0.05, Math.min(...ys) - 0.05], [Math.max(...xs) + 0.05, Math.max(...ys) + 0.05]],
      { padding: 40, maxZoom: 12, duration: 0 });
  }
  m.once("idle", () => { document.body.dataset.mapReady = "true"; });
}

async function load() {
  const district = $("district").value || null;
  const data = await api(`${API}/overview`, { query: { district } });
  ctx.level = data.level;
  document.querySelectorAll(".level").forEach((e) => { e.textContent = data.level === "district" ? "区县" : "乡镇街道"; });
  $("scope-note").textContent = district ? `${district}，按乡镇街道统计` : "全市，按区县统计（点击区县查看乡镇街道）";
  drawFigures(data);
  drawCharts(data);
  drawTable(data);
  document.body.dataset.loaded = district || "city";
  await drawMap(data);
}

function choose(name) {
  if (!name || ctx.me.district) return;
  $("district").value = name;
  load().catch((e) => toast(e.message, "error"));
}

// -- gallery ------------------------------------------------------------------------------------------------------

const IMAGE_FIELDS = [
  { name: "title", label: "标题", required: true },
  { name: "caption", label: "说明", type: "textarea" },
  { name: "place", label: "地点" },
  { name: "seq", label: "排序（小的在前）", type: "number", value: 100, min: 0, max: 100000 },
];

async function gallery() {
  const data = await api(`${API}/gallery`);
  $("gallery-tools").replaceChildren(data.can_manage ? h("button", { type: "button", class: "btn", id: "gallery-add",
    onclick: () => formDialog("上传杭派民居图片", [{ name: "file", label: "图片（JPEG、PNG、WebP）", type: "file",
      accept: "image/*", required: true }, ...IMAGE_FIELDS], async (v) => {
      const form = new FormData();
      for (const [k, val] of Object.entries(v)) if (val !== null && val !== "") form.append(k, val);
      await api(`${API}/gallery`, { method: "POST", form });
      toast("图片已上传。");
      await gallery();
    }, { submit: "上传" }) }, "上传图片") : "");
  $("gallery").replaceChildren(...(data.rows.length ? data.rows.map((g) => h("figure", { "data-id": g.id },
    h("a", { href: g.image, target: "_blank" }, h("img", { src: g.thumbnail, alt: g.title, loading: "lazy" })),
    h("figcaption", {}, h("b", {}, g.title), g.caption, g.place ? ` （${g.place}）` : "",
      data.can_manage ? buttons(["编辑", () => editImage(g)], ["删除", () => removeImage(g), "danger"]) : ""))) :
    [h("p", { class: "note" }, "图集中还没有图片。")]));
}

function editImage(g) {
  formDialog("修改图片说明", IMAGE_FIELDS.map((f) => ({ ...f, value: g[f.name] ?? f.value })), async (v) => {
    await api(`${API}/gallery/${g.id}`, { method: "PUT", body: { ...v, place: v.place || null, version: g.version } });
    toast("已保存。");
    await gallery();
  }, { submit: "保存" });
}

async function removeImage(g) {
  if (!confirm(`删除图片「${g.title}」？`)) return;
  await api(`${API}/gallery/${g.id}`, { method: "DELETE" });
  toast("已删除。");
  await gallery();
}

// -- start --------------------------------------------------------------------------------------------------------

async function start() {
  const me = await api("/api/auth/me");
  if (!me.authenticated) return showLogin();
  $("whoami").textContent = me.display_name ? `${me.display_name}（${me.user}）` : me.user;
  const can = (p) => me.permissions.some((x) => new RegExp(`^${x.replace(/[.]/g, "\\.").replace(/\*/g, ".*")}$`).test(p));
  if (!can("farmhouse.view")) return show("denied");
  show("app");
  ctx = { me, level: "district" };
  const districts = (await api("/api/villages/overview")).rows.map((r) => r.name).filter(Boolean);
  const select = $("district");
  const choices = me.district ? [[me.district, me.district]] : [["", "全市"], ...districts.map((d) => [d, d])];
  select.replaceChildren(...choices.map(([v, l]) => h("option", { value: v }, l)));
  select.onchange = () => load().catch((e) => toast(e.message, "error"));
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
  await load();
  await gallery();
}

$("logout").addEventListener("click", async () => {
  try { await api("/api/auth/logout", { method: "POST" }); } catch (e) { toast(e.message, "error"); }
  showLogin();
});

start().catch((e) => toast(e.message || String(e), "error"));
