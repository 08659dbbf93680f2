// The editor /thematic/edit (thematic.edit): the saved maps, a form for one declaration and a live preview of its
// figures (POST /api/thematic/preview) on the map, with the legend and headline figures; errors at their field.
import { api } from "/static/console/http.js";
import { createMap, draw, headlineHtml, idle, legendHtml } from "./render.js";

const $ = (id) => document.getElementById(id);
let options = null, maps = [], current = null, map = null, timer = null, seq = 0;

const FIELDS = [
  ["title", "标题", "text"], ["slug", "链接名（网址）", "text"], ["description", "说明", "text"],
  ["source", "数据源", "select"], ["statistic", "统计方式", "select"], ["attribute", "统计字段", "select"],
  ["filter_attribute", "筛选字段", "select"], ["filter_value", "筛选取值", "value"],
  ["grouping", "分组方式", "select"], ["cell_shape", "网格形状", "select"], ["cell_size_m", "网格边长（米）", "number"],
  ["classification", "分级方法", "select"], ["classes", "分级数", "number"], ["colors", "配色", "select"],
  ["rendering", "表现方式", "select"], ["category", "分类字段", "select"], ["sort", "排序", "number"], ["published", "发布（大屏轮播）", "checkbox"],
];

function source() { return options.sources.find((s) => s.id === $("f-source").value); }

function opts(entries, empty) {
  return (empty ? [`<option value="">${empty}</option>`] : []).concat(entries.map(([v, t]) => `<option value="${v}">${t}</option>`)).join("");
}

function buildForm() {
  $("form").innerHTML = FIELDS.map(([name, label, type]) => {
    const input = type === "select" ? `<select id="f-${name}" name="${name}"></select>`
      : type === "checkbox" ? `<input id="f-${name}" name="${name}" type="checkbox">`
      : `<input id="f-${name}" name="${name}" type="${type === "number" ? "number" : "text"}">`;
    return `<label data-field="${name}"><span>${label}</span>${input}<em class="msg"></em></label>`;
  }).join("");
  $("f-source").innerHTML = opts(options.sources.map((s) => [s.id, `${s.title}（${s.kind === "layer" ? "图层" : "数据库"}）`]));
  $("f-statistic").innerHTML = opts(Object.entries(options.statistics));
  $("f-grouping").innerHTML = opts(Object.entries(options.groupings));
  $("f-cell_shape").innerHTML = opts(Object.entries(options.cell_shapes));
  $("f-classification").innerHTML = opts(Object.entries(options.classifications));
  $("f-colors").innerHTML = opts(Object.entries(options.ramps).map(([k, v]) => [k, v.title]));
  $("f-rendering").innerHTML = opts(Object.entries(options.renderings));
  $("form").addEventListener("change", (e) => { if (e.target.name === "source") fillAttributes(); toggle(); schedule(); });
  $("form").addEventListener("input", () => schedule());
}

function fillAttributes() {
  const s = source();
  const attrs = s ? s.attributes : [];
  $("f-attribute").innerHTML = opts(attrs.filter((a) => a.type === "int" || a.type === "float").map((a) => [a.name, a.label]), "（无）");
  $("f-filter_attribute").innerHTML = opts(attrs.map((a) => [a.name, a.label]), "（不筛选）");
  $("f-category").innerHTML = opts(attrs.filter((a) => a.choices).map((a) => [a.name, a.label]), "（无）");
}

function toggle() {
  const show = (name, on) => { document.querySelector(`[data-field=${name}]`).hidden = !on; };
  const stat = $("f-statistic").value, grid = $("f-grouping").value === "grid";
  show("attribute", stat === "sum" || stat === "avg");
  show("cell_shape", grid);
  show("cell_size_m", grid);
  show("category", $("f-rendering").value === "category");
  const attr = (source()?.attributes || []).find((a) => a.name === $("f-filter_attribute").value);
  show("filter_value", !!attr);
  const holder = document.querySelector("[data-field=filter_value]");
  const old = $("f-filter_value");
  const want = attr && attr.choices ? "SELECT" : "INPUT";
  if (old.tagName !== want) {
    const el = document.createElement(want.toLowerCase());
    el.id = "f-filter_value"; el.name = "filter_value";
    old.replaceWith(el);
  }
  if (attr && attr.choices && holder.dataset.attr !== attr.name) $("f-filter_value").innerHTML = opts(attr.choices.map((c) => [c, c]));
  holder.dataset.attr = attr ? attr.name : "";
}

function typed(attr, raw) {
  if (!attr || attr.choices) return raw;
  if (attr.type === "int" || attr.type === "float") return raw === "" ? raw : Number(raw);
  if (attr.type === "bool") return raw === "是" || raw === "true";
  return raw;
}

function declaration() {
  const v = (n) => $(`f-${n}`).value;
  const num = (n) => (v(n) === "" ? null : Number(v(n)));
  const stat = v("statistic"), grid = v("grouping") === "grid";
  const fa = v("filter_attribute");
  const attr = (source()?.attributes || []).find((a) => a.name === fa);
  return {
    title: v("title"), slug: v("slug"), description: v("description"), source: v("source"), statistic: stat,
    attribute: stat === "sum" || stat === "avg" ? v("attribute") || null : null,
    filter: fa ? { attribute: fa, value: typed(attr, v("filter_value")) } : null,
    grouping: v("grouping"), cell_shape: grid ? v("cell_shape") : null, cell_size_m: grid ? num("cell_size_m") : null,
    classification: v("classification"), classes: num("classes"), colors: v("colors"), rendering: v("rendering"),
    category: v("rendering") === "category" ? v("category") || null : null,
    sort: num("sort") ?? 100, published: $("f-published").checked,
  };
}

function load(m) {
  current = m;
  const d = m || { title: "新专题图", slug: `map-${Date.now().toString(36)}`, description: "", source: options.sources[0]?.id, statistic: "count", grouping: "district", cell_shape: "square", cell_size_m: 2000, classification: "quantiles", classes: 5, colors: "blues", rendering: "choropleth", sort: 100, published: false };
  for (const n of ["title", "slug", "description", "source", "statistic", "grouping", "classification", "classes", "rendering", "sort"]) $(`f-${n}`).value = d[n] ?? "";
  $("f-cell_shape").value = d.cell_shape || "square";
  $("f-cell_size_m").value = d.cell_size_m || 2000;
  $("f-colors").value = typeof d.colors === "string" ? d.colors : "blues";
  $("f-published").checked = !!d.published;
  fillAttributes();
  $("f-attribute").value = d.attribute || "";
  $("f-category").value = d.category || "";
  $("f-filter_attribute").value = d.filter?.attribute || "";
  toggle();
  if (d.filter) $("f-filter_value").value = d.filter.value;
  $("open").href = m ? `/thematic/${m.slug}` : "#";
  $("delete").disabled = !m;
  renderList();
  schedule(0);
}

function clearErrors() {
  $("form-error").textContent = "";
  for (const l of document.querySelectorAll("#form label")) { l.classList.remove("bad"); l.querySelector(".msg").textContent = ""; }
}

function showError(e) {
  const field = (e.field || "").startsWith("filter") ? (e.field === "filter.value" ? "filter_value" : "filter_attribute") : e.field;
  const label = field && document.querySelector(`[data-field="${field}"]`);
  if (label && !label.hidden) { label.classList.add("bad"); label.querySelector(".msg").textContent = e.message; }
  $("form-error").textContent = e.message;
}

function schedule(ms = 400) {
  clearTimeout(timer);
  timer = setTimeout(previewNow, ms);
}

async function previewNow() {
  const mine = ++seq;
  clearErrors();
  try {
    const data = await api("/api/thematic/preview", { method: "POST", body: declaration() });
    if (mine !== seq) return;
    $("legend").innerHTML = legendHtml(data);
    $("headline").innerHTML = headlineHtml(data);
    $("hint").hidden = !data.hint;
    $("hint").textContent = data.hint || "";
    draw(map, data);
    await idle(map);
    document.body.dataset.previewGroups = String(data.groups.length);
  } catch (e) {
    if (mine === seq) showError(e);
  }
  document.body.dataset.ready = "true";
}

function renderList() {
  $("maps").innerHTML = maps.map((m) => `<li data-slug="${m.slug}" class="${current && current.slug === m.slug ? "on" : ""}">${m.title}<small>${m.published ? "已发布" : "未发布"}</small></li>`).join("");
}

async function refresh(slug) {
  maps = (await api("/api/thematic")).data;
  load(maps.find((m) => m.slug === slug) || null);
}

async function save() {
  clearErrors();
  try {
    const body = declaration();
    const saved = current
      ? await api(`/api/thematic/${encodeURIComponent(current.slug)}`, { method: "PUT", body: { ...body, version: current.version } })
      : await api("/api/thematic", { method: "POST", body });
    $("form-error").textContent = "";
    await refresh(saved.slug);
    document.body.dataset.saved = saved.slug;
  } catch (e) { showError(e); }
}

async function remove() {
  if (!current || !confirm(`删除专题图「${current.title}」？`)) return;
  try { await api(`/api/thematic/${encodeURIComponent(current.slug)}`, { method: "DELETE" }); await refresh(null); } catch (e) { showError(e); }
}

async function start() {
  const me = await api("/api/auth/me");
  if (!me.authenticated) {
    $("login").hidden = false;
    document.body.dataset.ready = "true";
    $("login-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const f = new FormData(e.target);
      try { await api("/api/auth/login", { method: "POST", body: { username: f.get("username"), password: f.get("password") } }); location.reload(); } catch (err) { $("login-error").textContent = err.message; }
    });
    return;
  }
  $("whoami").textContent = me.display_name || me.user;
  try { options = await api("/api/thematic/options"); } catch (e) {
    $("login").hidden = false; $("login-form").innerHTML = `<p class="err">${e.message}</p>`; document.body.dataset.ready = "true"; return;
  }
  $("app").hidden = false;
  map = createMap("map");
  window.thematicMap = map;
  await new Promise((r) => map.once("load", r));
  buildForm();
  $("maps").addEventListener("click", (e) => { const li = e.target.closest("li"); if (li) load(maps.find((m) => m.slug === li.dataset.slug)); });
  $("new").addEventListener("click", () => load(null));
  $("save").addEventListener("click", save);
  $("delete").addEventListener("click", remove);
  await refresh(new URLSearchParams(location.search).get("slug"));
}

start();
