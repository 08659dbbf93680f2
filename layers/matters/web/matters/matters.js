// The handled-matter register's page: the cross-module list with filters, paging and the Excel export; each matter
// links to its record page, and its detail (办件详情) lists the submitted materials with links to the files. Data
// from /api/registers/matters with the browser session.
import { api, ApiError, queryString } from "/static/console/http.js";
import { dialog, table } from "/static/console/ui.js";

const API = "/api/registers/matters";
const PAGE = 50;
const $ = (id) => document.getElementById(id);
const types = {};

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

const when = (iso) => (iso ? iso.slice(0, 16).replace("T", " ") : "");

function show(section) {
  for (const id of ["login", "denied", "app"]) $(id).hidden = id !== section;
  $("logout").hidden = section === "login";
}

function values() {
  return Object.fromEntries([...new FormData($("filters")).entries()].filter(([, v]) => typeof v === "string" && v !== ""));
}

function fillStatuses() {
  const select = $("filters").querySelector("select[name=status]");
  const kind = $("filters").querySelector("select[name=type]").value;
  const states = new Map();
  for (const t of Object.values(types)) {
    if (kind && t.kind !== kind) continue;
    for (const [code, title] of Object.entries(t.states)) if (!states.has(code)) states.set(code, kind ? title : `${title}`);
  }
  select.replaceChildren(h("option", { value: "" }, "全部"), ...[...states].map(([code, title]) => h("option", { value: code }, title)));
}

function row(m) {
  return h(
    "tr",
    {},
    h("td", {}, h("a", { class: "record", href: m.url }, `${m.kind_title} #${m.id}`)),
    h("td", {}, h("span", { class: "status" }, m.status_title)),
    h("td", {}, m.applicant_name || m.applicant || "—"),
    h("td", {}, m.unit || "—"),
    h("td", {}, m.project_code ? h("span", {}, h("span", { class: "mono" }, m.project_code), h("br"), m.project_name || "") : "—"),
    h("td", {}, m.district || "—"),
    h("td", {}, h("button", { type: "button", class: "btn small materials", title: "办件详情与材料清单", onclick: () => openDetail(m) }, `${m.materials} 份`)),
    h("td", { class: "nowrap" }, when(m.created_at)),
    h("td", {}, h("ol", { class: "steps" }, m.history.map((s) => h("li", {}, `${when(s.at)} ${s.action_title}（${s.actor || ""}）`)))),
  );
}

function size(bytes) {
  if (bytes === null || bytes === undefined) return "—";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

async function openDetail(m) {
  const d = await api(`${API}/${encodeURIComponent(m.kind)}/${m.id}`).catch((e) => ({ error: e.message }));
  if (d.error) return dialog(`${m.kind_title} #${m.id}`, h("p", { class: "form-error" }, d.error));
  const facts = [["类型", d.kind_title], ["状态", d.status_title], ["申请人", d.applicant_name || d.applicant || "—"],
    ["申请单位", d.unit || "—"], ["项目", d.project_code ? `${d.project_code} ${d.project_name || ""}` : "—"],
    ["区县", d.district || "—"], ["创建时间", when(d.created_at)], ["最后更新", when(d.updated_at)]];
  const files = table([
    { label: "材料", render: (f) => h("span", {}, f.thumbnail ? h("img", { class: "thumb", src: f.thumbnail, alt: "", loading: "lazy" }) : null, f.name) },
    { label: "类别", render: (f) => f.title },
    { label: "文件类型", render: (f) => f.content_type },
    { label: "大小", render: (f) => size(f.size) },
    { label: "上传时间", render: (f) => when(f.uploaded_at) },
    { label: "", render: (f) => h("a", { class: "file", href: f.url, target: "_blank", rel: "noopener" }, "查看文件") },
  ], d.material_files, "该办件没有提交材料。");
  const body = h("div", { class: "matter", "data-kind": d.kind, "data-id": d.id },
    h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    h("h3", {}, `申报材料（${d.material_files.length} 份）`), files,
    h("h3", {}, "办理记录"),
    h("ol", { class: "steps" }, d.history.map((s) => h("li", {}, `${when(s.at)} ${s.action_title}（${s.actor || ""}）`))),
    h("p", {}, h("a", { class: "btn", href: d.url }, "记录页")));
  return dialog(`${d.kind_title} #${d.id}`, body, { wide: true });
}

async function load(offset = 0) {
  const form = $("filters");
  const err = form.querySelector(".form-error");
  const query = values();
  try {
    const data = await api(API, { query: { ...query, limit: PAGE, offset } });
    err.hidden = true;
    $("matters").querySelector("tbody").replaceChildren(
      ...(data.items.length ? data.items.map(row) : [h("tr", {}, h("td", { colspan: 9, class: "empty" }, "没有符合条件的办件"))]),
    );
    const last = Math.max(0, Math.ceil(data.total / PAGE) - 1);
    const page = Math.floor(offset / PAGE);
    $("pager").replaceChildren(
      h("span", { class: "page-info" }, `共 ${data.total} 件，第 ${page + 1} / ${last + 1} 页`),
      h("button", { type: "button", class: "btn small", disabled: page <= 0, onclick: () => load(offset - PAGE) }, "上一页"),
      h("button", { type: "button", class: "btn small", disabled: page >= last, onclick: () => load(offset + PAGE) }, "下一页"),
    );
    $("export").href = `${API}.xlsx${queryString(query)}`;
  } catch (e) {
    err.textContent = e.message;
    err.hidden = false;
  }
}

async function start() {
  let me;
  try {
    me = await api("/api/auth/me");
  } catch {
    me = { authenticated: false };
  }
  if (!me.authenticated) return show("login");
  $("whoami").textContent = me.display_name || me.user;
  const can = (p) => me.permissions.some((x) => new RegExp(`^${x.replace(/[.]/g, "\\.").replace(/\*/g, ".*")}$`).test(p));
  if (!can("registers.view")) return show("denied");
  show("app");
  const data = await api(`${API}/types`);
  const select = $("filters").querySelector("select[name=type]");
  for (const t of data.types) {
    types[t.kind] = t;
    select.append(h("option", { value: t.kind }, t.title));
  }
  fillStatuses();
  load();
}

$("login").querySelector("form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const err = ev.target.querySelector(".form-error");
  try {
    await api("/api/auth/login", { method: "POST", body: Object.fromEntries(new FormData(ev.target)) });
    err.hidden = true;
    start();
  } catch (e) {
    err.textContent = e instanceof ApiError ? e.message : "登录失败";
    err.hidden = false;
  }
});
$("logout").addEventListener("click", async () => {
  await api("/api/auth/logout", { method: "POST" }).catch(() => {});
  location.reload();
});
$("filters").querySelector("select[name=type]").addEventListener("change", fillStatuses);
$("filters").addEventListener("submit", (ev) => {
  ev.preventDefault();
  load(0);
});
start();
