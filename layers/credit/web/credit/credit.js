// The credit register's page: events (filters, paging, Excel), subjects, a subject's credit section, the import with
// its row-numbered report, the scoring rule. Data from /api/registers/credit with the browser session.
import { api, ApiError, queryString } from "/static/console/http.js";

const API = "/api/registers/credit";
const PAGE = 50;
const $ = (id) => document.getElementById(id);

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

function toast(message) {
  const t = $("toast");
  t.textContent = message;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.hidden = true), 4000);
}

function show(section) {
  for (const id of ["login", "denied", "app"]) $(id).hidden = id !== section;
  $("logout").hidden = section === "login";
}

const state = { events: 0, subjects: 0, types: {}, rule: null };

function formValues(form) {
  return Object.fromEntries([...new FormData(form).entries()].filter(([, v]) => typeof v === "string"));
}

function pager(el, total, offset, go) {
  const last = Math.max(0, Math.ceil(total / PAGE) - 1);
  const page = Math.floor(offset / PAGE);
  el.replaceChildren(
    h("span", { class: "page-info" }, `共 ${total} 条，第 ${page + 1} / ${last + 1} 页`),
    h("button", { type: "button", class: "btn small", disabled: page <= 0, onclick: () => go(offset - PAGE) }, "上一页"),
    h("button", { type: "button", class: "btn small", disabled: page >= last, onclick: () => go(offset + PAGE) }, "下一页"),
  );
}

function sourceCell(e) {
  if (e.source_url) return h("a", { href: e.source_url }, `${e.event_type_title} #${e.source_id}`);
  return e.document_no ? h("span", {}, e.document_no, e.authority ? h("span", { class: "muted" }, ` ${e.authority}`) : null) : "—";
}

function eventRow(e, withSubject = true) {
  return h(
    "tr",
    {},
    h("td", { class: "nowrap" }, e.occurred_on),
    withSubject
      ? h("td", {}, h("a", { href: `#subject=${e.subject_id}`, class: "subject" }, e.subject_name), h("span", { class: "muted" }, ` ${e.subject_kind_title}`))
      : null,
    withSubject ? h("td", { class: "mono" }, e.subject_code) : null,
    h("td", {}, e.event_type_title),
    h("td", { class: `pol-${e.polarity}` }, e.polarity_title),
    h("td", {}, e.points),
    h("td", { class: "content" }, e.reason),
    h("td", {}, sourceCell(e)),
  );
}

async function loadEvents(offset = 0) {
  const form = $("filters");
  const err = form.querySelector(".form-error");
  const query = formValues(form);
  try {
    const data = await api(`${API}/events`, { query: { ...query, limit: PAGE, offset } });
    err.hidden = true;
    const body = $("events").querySelector("tbody");
    body.replaceChildren(...(data.items.length ? data.items.map((e) => eventRow(e)) : [h("tr", {}, h("td", { colspan: 8, class: "empty" }, "没有符合条件的信用事件"))]));
    pager($("events-pager"), data.total, offset, loadEvents);
    $("export").href = `${API}/events.xlsx${queryString(query)}`;
  } catch (e) {
    err.textContent = e.message;
    err.hidden = false;
  }
}

async function loadSubjects(offset = 0) {
  const query = formValues($("subject-filters"));
  const data = await api(`${API}/subjects`, { query: { ...query, limit: PAGE, offset } });
  $("subjects").querySelector("tbody").replaceChildren(
    ...data.items.map((s) =>
      h("tr", {},
        h("td", {}, h("a", { href: `#subject=${s.id}`, class: "subject" }, s.subject_name)),
        h("td", {}, s.subject_kind_title),
        h("td", { class: "mono" }, s.subject_code),
        h("td", {}, s.score ?? "—"),
        h("td", {}, s.events),
        h("td", {}, s.rule_version ?? "—"),
        h("td", { class: "nowrap" }, (s.computed_at || "").slice(0, 19).replace("T", " ")),
      ),
    ),
  );
  pager($("subjects-pager"), data.total, offset, loadSubjects);
}

async function loadSubject(id) {
  const box = $("subject");
  selectTab("events");
  try {
    const s = await api(`${API}/subjects/${id}`);
    box.replaceChildren(
      h("h2", {}, `${s.subject_name} 的信用档案`),
      h("p", {}, `${s.subject_kind_title} · `, h("span", { class: "mono" }, s.subject_code),
        s.record_url ? h("span", {}, " · ", h("a", { href: s.record_url }, "查看登记信息")) : null),
      h("p", { class: "score" }, "信用分", h("b", {}, s.score ?? "—"), h("span", { class: "muted" }, `（规则第 ${s.rule_version ?? "—"} 版，${s.events} 条事件）`)),
      h("h3", {}, "信用分历史"),
      h("div", { class: "table-wrap" }, h("table", { class: "history" },
        h("thead", {}, h("tr", {}, h("th", {}, "计算时间"), h("th", {}, "信用分"), h("th", {}, "事件数"), h("th", {}, "规则版本"))),
        h("tbody", {}, s.history.map((x) => h("tr", {}, h("td", {}, x.computed_at.slice(0, 19).replace("T", " ")), h("td", {}, x.score), h("td", {}, x.events), h("td", {}, x.rule_version)))),
      )),
      h("h3", {}, "全部信用事件"),
      h("div", { class: "table-wrap" }, h("table", { class: "events" },
        h("thead", {}, h("tr", {}, ...["发生日期", "事件类型", "性质", "分值", "事由", "来源记录"].map((t) => h("th", {}, t)))),
        h("tbody", {}, s.items.map((e) => eventRow(e, false))),
      )),
    );
    box.hidden = false;
    box.scrollIntoView({ block: "start" });
  } catch (e) {
    toast(e.message);
  }
}

async function loadColumns() {
  const data = await api(`${API}/import/columns`);
  $("columns").querySelector("tbody").replaceChildren(
    ...data.columns.map((c) => h("tr", {}, h("td", {}, c.name), h("td", {}, c.required ? "是" : "否"), h("td", {}, c.description))),
  );
}

async function runImport(ev) {
  ev.preventDefault();
  const form = ev.target;
  const report = $("import-report");
  const result = $("import-result");
  report.hidden = true;
  result.hidden = true;
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const out = await api(`${API}/import`, { method: "POST", form: new FormData(form) });
    result.textContent = `导入完成：共 ${out.rows} 行，新增 ${out.imported} 条，已存在 ${out.existing} 条。`;
    result.hidden = false;
    loadEvents();
  } catch (e) {
    report.querySelector("p").textContent = e.message;
    const rows = (e.detail && e.detail.errors) || [];
    report.querySelector("tbody").replaceChildren(...rows.map((r) => h("tr", {}, h("td", {}, `第 ${r.row} 行`), h("td", {}, r.column), h("td", {}, r.message))));
    report.hidden = false;
  } finally {
    button.disabled = false;
  }
}

async function loadRules() {
  const data = await api(`${API}/rules`);
  const r = data.current;
  state.rule = r;
  const box = $("rules");
  const form = h("form", {},
    h("p", {}, data.formula),
    h("div", { class: "inline" },
      h("div", { class: "field" }, h("label", {}, "基础分"), h("input", { name: "base_score", type: "number", step: "0.1", min: 0, max: 1000, value: r.base_score, disabled: !data.can_edit })),
      h("div", { class: "field" }, h("label", {}, "半衰期（天）"), h("input", { name: "half_life_days", type: "number", step: "1", min: 1, max: 36500, value: r.half_life_days, disabled: !data.can_edit })),
    ),
    h("h3", {}, "事件类型权重"),
    h("div", { class: "weights" }, data.event_types.map((t) =>
      h("div", { class: "field" }, h("label", {}, `${t.title}（${t.polarity === "good" ? "加分" : "减分"}）`),
        h("input", { name: `w:${t.code}`, type: "number", step: "0.1", min: 0, max: 100, value: r.weights[t.code] ?? 1, disabled: !data.can_edit })))),
    h("div", { class: "field" }, h("label", {}, "修改说明"), h("input", { name: "note", maxlength: 500, disabled: !data.can_edit })),
    h("p", { class: "form-error", hidden: true }),
    data.can_edit ? h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn primary" }, "保存为新版本并重算信用分")) : h("p", { class: "muted" }, "只有具备「配置信用评分规则」权限的账号可以修改。"),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = formValues(form);
    const weights = {};
    for (const [k, val] of Object.entries(v)) if (k.startsWith("w:")) weights[k.slice(2)] = Number(val);
    const err = form.querySelector(".form-error");
    try {
      const out = await api(`${API}/rules`, { method: "PUT", body: { version: state.rule.version, base_score: Number(v.base_score), half_life_days: Number(v.half_life_days), weights, note: v.note || null } });
      toast(`已保存为第 ${out.version} 版，重算了 ${out.rescored} 个主体的信用分。`);
      loadRules();
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
    }
  });
  box.replaceChildren(
    h("h2", {}, `信用评分规则（当前第 ${r.version} 版）`),
    form,
    h("h3", {}, "历次版本"),
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ...["版本", "基础分", "半衰期（天）", "权重", "说明", "修改人", "时间"].map((t) => h("th", {}, t)))),
      h("tbody", {}, data.versions.map((x) => h("tr", {}, h("td", {}, x.version), h("td", {}, x.base_score), h("td", {}, x.half_life_days),
        h("td", { class: "content" }, Object.entries(x.weights).map(([k, w]) => `${state.types[k] || k} ${w}`).join("，")),
        h("td", {}, x.note || ""), h("td", {}, x.created_by), h("td", { class: "nowrap" }, x.created_at.slice(0, 19).replace("T", " "))))),
    )),
  );
}

function selectTab(name) {
  for (const b of $("tabs").querySelectorAll("button")) b.setAttribute("aria-selected", String(b.dataset.tab === name));
  for (const p of document.querySelectorAll("[data-panel]")) p.hidden = p.dataset.panel !== name;
  if (name === "subjects") loadSubjects();
  if (name === "import") loadColumns();
  if (name === "rules") loadRules();
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
  const rules = await api(`${API}/rules`);
  const typeSelect = $("filters").querySelector("select[name=event_type]");
  const sourceSelect = $("filters").querySelector("select[name=source]");
  for (const t of rules.event_types) {
    state.types[t.code] = t.title;
    typeSelect.append(h("option", { value: t.code }, t.title));
  }
  for (const s of rules.sources) sourceSelect.append(h("option", { value: s.code }, s.title));
  await loadEvents();
  route();
}

function route() {
  const m = location.hash.match(/^#subject=(\d+)$/);
  if (m) loadSubject(m[1]);
}

$("login").querySelector("form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const err = ev.target.querySelector(".form-error");
  try {
    await api("/api/auth/login", { method: "POST", body: formValues(ev.target) });
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
$("filters").addEventListener("submit", (ev) => {
  ev.preventDefault();
  loadEvents(0);
});
$("subject-filters").addEventListener("submit", (ev) => {
  ev.preventDefault();
  loadSubjects(0);
});
$("tabs").addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-tab]");
  if (b) selectTab(b.dataset.tab);
});
$("import").addEventListener("submit", runImport);
window.addEventListener("hashchange", route);
start();
