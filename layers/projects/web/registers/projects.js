// The project register's page (/registers/projects): sign in (the cookie session), then the list with search and
// filters, a project's detail (stage timeline, attributes, linked records of every module), edit, Excel import and
// export — as far as the signed-in user's permissions allow. The address keeps the open project (#2024-330106-…).
import { api, queryString } from "/static/console/http.js";
import { Form, ListView, dash, dialog, formDialog, h, options, toast } from "/static/console/ui.js";

const API = "/api/registers/projects";
const DISTRICTS = ["上城区", "拱墅区", "西湖区", "滨江区", "萧山区", "余杭区", "临平区", "钱塘区", "富阳区", "临安区", "桐庐县",
  "淳安县", "建德市"];
const TYPES = ["房屋建筑", "市政基础设施", "轨道交通", "水利", "其他"];
const STAGES = ["前期", "立项", "规划许可", "施工图审查", "施工许可", "开工", "标化监管", "竣工验收"];
const DATES = [
  ["approved_on", "立项（备案）日期"], ["planning_permit_on", "规划许可日期"], ["drawing_review_on", "施工图审查合格日期"],
  ["permit_date", "施工许可日期"], ["start_date", "开工日期"], ["st_supervised_on", "纳入标化监管日期"],
  ["completion_date", "竣工验收日期"],
];
const ATTRS = [
  ["project_code", "项目代码"], ["name", "项目名称"], ["district", "所属区县"], ["project_type", "工程类别"],
  ["address", "项目地址"], ["permit_nos", "施工许可证号"], ["builder_name", "建设单位"], ["construction_name", "施工单位"],
  ["supervision_name", "监理单位"], ["planned_end_date", "计划竣工日期"], ["floor_area_m2", "建筑面积（㎡）"],
  ["investment_wan", "总投资（万元）"], ["lon", "经度"], ["lat", "纬度"], ["code", "工地项目编号"], ["version", "版本"],
];

const $ = (id) => document.getElementById(id);
let can = () => false;

function matcher(patterns) {
  const res = patterns.map((p) => new RegExp(`^${p.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`));
  return (perm) => res.some((r) => r.test(perm));
}

function show(section) {
  for (const id of ["login", "denied", "app"]) $(id).hidden = id !== section;
  $("logout").hidden = section === "login";
  document.body.dataset.state = section;
}

const recordUrl = (kind, key) => `/records/${encodeURIComponent(kind)}/${encodeURIComponent(key)}`;
const stageTag = (stage) => h("span", { class: "stage", "data-stage": stage }, stage);
const units = (list) => (Array.isArray(list) ? list.join("；") : list);

function showLogin(message) {
  show("login");
  $("whoami").textContent = "";
  const form = new Form([
    { name: "username", label: "用户名", required: true, autocomplete: "username" },
    { name: "password", label: "密码", type: "password", required: true, autocomplete: "current-password" },
  ], {
    submit: "登录",
    onSubmit: async (v) => {
      await api("/api/auth/login", { method: "POST", body: v });
      await start();
    },
  });
  $("login-form").replaceChildren(form.el);
  if (message) form.showError({ message });
}

function filters(values = {}) {
  return [
    { name: "q", label: "检索", placeholder: "项目代码、名称、施工许可证号、单位", value: values.q },
    { name: "district", label: "所属区县", type: "select", choices: options(DISTRICTS, "全部") },
    { name: "stage", label: "当前阶段", type: "select", choices: options(STAGES, "全部") },
    { name: "project_type", label: "工程类别", type: "select", choices: options(TYPES, "全部") },
  ];
}

function showApp(me) {
  show("app");
  can = matcher(me.permissions || []);
  $("whoami").textContent = `${me.display_name || me.user}（${me.scope}）`;
  const extra = [];
  if (can("registers.export")) {
    extra.push(h("button", { type: "button", class: "btn", id: "export", onclick: () => {
      location.href = `${API}/export${queryString(list.filters.values())}`;
    } }, "导出 Excel"));
  }
  if (can("registers.import")) extra.push(h("button", { type: "button", class: "btn", id: "import", onclick: importDialog }, "导入 Excel"));
  if (can("registers.edit")) extra.push(h("button", { type: "button", class: "btn", id: "create", onclick: createDialog }, "登记项目"));
  const list = new ListView({
    filters: filters(),
    buttons: extra,
    columns: [
      { label: "项目代码", render: (p) => (p.project_code ? h("a", { href: recordUrl("projects", p.project_code) }, p.project_code) : h("span", { class: "muted" }, `（未赋码）${p.code}`)) },
      { label: "项目名称", render: (p) => p.name },
      { label: "所属区县", render: (p) => dash(p.district) },
      { label: "工程类别", render: (p) => dash(p.project_type) },
      { label: "当前阶段", render: (p) => stageTag(p.stage) },
      { label: "施工许可证号", render: (p) => dash(units(p.permit_nos)) },
      { label: "施工单位", render: (p) => dash(p.construction_name) },
    ],
    load: async (f, limit, offset) => {
      const data = await api(API, { query: { ...f, limit, offset } });
      return { items: data.projects, total: data.total };
    },
    onRow: (p) => { if (p.project_code) location.hash = p.project_code; },
    empty: "没有符合条件的项目。",
  });
  window.refreshList = () => list.reload();
  $("list").replaceChildren(list.el);
  list.go(0);
  window.onhashchange = openFromHash;
  openFromHash();
}

let open = null;

function openFromHash() {
  const code = decodeURIComponent(location.hash.slice(1));
  if (open) open.close();
  open = null;
  if (code) detail(code).catch((e) => toast(e.message || String(e), "error"));
}

function timeline(p) {
  const reachedIndex = STAGES.indexOf(p.stage);
  return h("ol", { class: "timeline", "aria-label": "项目阶段" }, p.timeline.map((t) => h("li", {
    class: [t.reached || STAGES.indexOf(t.stage) <= reachedIndex ? "reached" : "", t.stage === p.stage ? "current" : ""].join(" "),
    "data-stage": t.stage,
  }, t.stage, h("span", { class: "day" }, t.date || "—"))));
}

// A linked row's value as shown: a case's state by its Chinese name, yes/no, a dash for nothing.
function cell(group, name, value) {
  if (name === "status" && group.states && group.states[value]) return group.states[value];
  if (typeof value === "boolean") return value ? "是" : "否";
  return dash(value);
}

function linkedRecords(linked) {
  const sections = Object.entries(linked).map(([, mod]) => {
    const groups = Object.entries(mod.groups).filter(([, g]) => g.total > 0);
    if (!groups.length) return null;
    return h("section", { class: "linked" }, h("h3", {}, mod.title),
      groups.map(([title, g]) => h("div", { class: "group" },
        h("h4", {}, title, h("span", { class: "count" }, `共 ${g.total} 条`)),
        h("div", { class: "table-wrap" }, h("table", {},
          h("thead", {}, h("tr", {}, h("th", {}, "记录"), g.columns.map((c) => h("th", {}, c.title)))),
          h("tbody", {}, g.rows.map((row) => h("tr", {},
            h("td", {}, g.kind ? h("a", { href: recordUrl(g.kind, row[g.key]) }, String(row[g.key])) : String(row[g.key])),
            g.columns.map((c) => h("td", {}, cell(g, c.name, row[c.name]))))))))))
    );
  }).filter(Boolean);
  return sections.length ? sections : [h("p", { class: "muted" }, "暂无其他模块的关联记录。")];
}

async function detail(code) {
  const data = await api(`${API}/${encodeURIComponent(code)}`);
  const p = data.project;
  const body = h("div", { class: "project-detail" },
    h("p", {}, stageTag(p.stage), " ", h("a", { href: data.record_url, id: "record-link" }, "打开记录页")),
    timeline(p),
    h("dl", { class: "attrs" }, ATTRS.map(([k, label]) => h("div", {}, h("dt", {}, label), h("dd", {}, dash(units(p[k])))))),
    ...linkedRecords(data.linked),
    can("registers.edit") ? h("div", { class: "form-actions" }, h("button", { type: "button", class: "btn primary", id: "edit",
      onclick: () => editDialog(p) }, "修改")) : null);
  open = dialog(`${p.name}（${p.project_code}）`, body, { wide: true });
  open.el.addEventListener("close", () => {
    if (location.hash) history.replaceState(null, "", location.pathname);
  });
}

function projectFields(p = {}) {
  return [
    { name: "name", label: "项目名称", required: true, value: p.name },
    { name: "district", label: "所属区县", type: "select", choices: options(DISTRICTS), value: p.district },
    { name: "project_type", label: "工程类别", type: "select", choices: options(TYPES, "（未填）"), value: p.project_type || "" },
    { name: "address", label: "项目地址", value: p.address },
    { name: "permit_nos", label: "施工许可证号", value: units(p.permit_nos || []), hint: "多个以“；”分隔" },
    ...DATES.map(([name, label]) => ({ name, label, type: "date", value: p[name] })),
    { name: "planned_end_date", label: "计划竣工日期", type: "date", value: p.planned_end_date },
    { name: "lon", label: "经度", type: "number", step: "0.000001", value: p.lon },
    { name: "lat", label: "纬度", type: "number", step: "0.000001", value: p.lat },
  ];
}

function body(v) {
  const out = {};
  for (const [k, val] of Object.entries(v)) out[k] = val === "" ? null : val;
  out.permit_nos = (v.permit_nos || "").split(/[；;、,，\s]+/).filter(Boolean);
  return out;
}

function editDialog(p) {
  formDialog(`修改项目 ${p.project_code}`, projectFields(p), async (v) => {
    await api(`${API}/${encodeURIComponent(p.project_code)}`, { method: "PATCH", body: { ...body(v), version: p.version } });
    toast("已保存。");
    if (open) open.close();
    window.refreshList();
    await detail(p.project_code);
  }, { wide: true, submit: "保存" });
}

function createDialog() {
  formDialog("登记项目", [
    { name: "project_code", label: "项目代码", required: true, placeholder: "2024-330106-47-01-123456",
      hint: "投资项目代码：年份-行政区划代码-行业代码-项目类型代码-流水号" },
    ...projectFields(),
  ], async (v) => {
    const made = await api(API, { method: "POST", body: body(v) });
    toast(`已登记 ${made.project_code}。`);
    window.refreshList();
  }, { wide: true, submit: "登记" });
}

async function importDialog() {
  const { columns } = await api(`${API}/columns`);
  const report = h("div", { class: "import-report" });
  let d;
  const form = new Form([
    { name: "file", label: "Excel 文件（.xlsx）", type: "file", accept: ".xlsx", required: true },
    { name: "mode", label: "方式", type: "select", choices: [["dry_run", "只检查，不导入"], ["commit", "检查并导入（全部通过才导入）"]] },
  ], {
    submit: "上传",
    cancel: () => d.close(),
    onSubmit: async (v) => {
      if (!v.file) throw Object.assign(new Error("请选择文件。"), { field: "file" });
      const fd = new FormData();
      fd.append("file", v.file);
      report.replaceChildren();
      try {
        const r = await api(`${API}/import`, { method: "POST", form: fd, query: { mode: v.mode } });
        report.replaceChildren(h("p", {}, `共 ${r.rows} 行：新增 ${r.created}，更新 ${r.updated}。`
          + (r.stored ? "已导入。" : "检查通过（未导入）。")));
        if (r.stored) window.refreshList();
      } catch (e) {
        const errors = e.detail?.errors || [];
        report.replaceChildren(h("p", {}, e.message), h("ul", {}, errors.map((x) => h("li", {}, x.message))));
        if (!errors.length) throw e;
      }
    },
  });
  d = dialog("导入项目（Excel）", h("div", {},
    h("p", { class: "note" }, `第 1 行为表头，可用的列：${columns.map((c) => c.title + (c.required ? "（必填）" : "")).join("、")}。`
      + "项目代码已在库中的行更新该项目，其余新增；任何一行有误则一行也不导入，报告列出行号和原因。"),
    form.el, report), { wide: true });
}

async function start() {
  const me = await api("/api/auth/me");
  if (!me.authenticated) return showLogin();
  if (!matcher(me.permissions || [])("registers.view")) {
    show("denied");
    $("whoami").textContent = me.display_name || me.user;
    return;
  }
  showApp(me);
}

$("logout").addEventListener("click", async () => {
  try {
    await api("/api/auth/logout", { method: "POST" });
  } catch (e) {
    toast(e.message, "error");
  }
  showLogin();
});

start().catch((e) => toast(e.message || String(e), "error"));
