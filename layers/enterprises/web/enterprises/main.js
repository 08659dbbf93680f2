// The enterprise register's page (企业库): sign in (the cookie session), then the list with search and filters, the
// detail of the chosen enterprise (principals, qualifications with the expired ones marked, track record, market
// behaviour, merges), edit, merge, qualifications, Excel import (with its row-numbered report) and export.
// The address keeps the open enterprise (#<credit code>) so that a reload stays there.
import { ApiError, api, queryString } from "/static/console/http.js";
import { Form, ListView, act, dash, dialog, fmtTime, formDialog, h, options, table, toast } from "/static/console/ui.js";

const API = "/api/registers/enterprises";
const $ = (id) => document.getElementById(id);
let meta = null;
let list = null;

function show(section) {
  for (const id of ["login", "denied", "app"]) $(id).hidden = id !== section;
  $("logout").hidden = section === "login";
}

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
  form.el.querySelector("input").focus();
}

const typeTags = (e) => (e.type_titles || []).map((t) => h("span", { class: "tag" }, t));
const recordLink = (kind, key, text) => h("a", { href: `/records/${kind}/${encodeURIComponent(key)}` }, text);

function fields(e = {}) {
  return [
    { name: "name", label: "企业名称", required: true, value: e.name },
    { name: "types", label: "企业类型", type: "checkboxes", choices: options(meta.types), value: e.types || [] },
    { name: "legal_rep", label: "法定代表人", value: e.legal_rep },
    { name: "tech_lead", label: "技术负责人", value: e.tech_lead },
    { name: "address", label: "地址", value: e.address },
    { name: "district", label: "所在区县", type: "select", choices: options(meta.districts, "（未填）"), value: e.district || "" },
  ];
}

function body(v) {
  const out = { ...v };
  for (const k of ["legal_rep", "tech_lead", "address", "district"]) out[k] = out[k] ? out[k] : null;
  return out;
}

function createDialog() {
  formDialog("登记企业", [{ name: "uscc", label: "统一社会信用代码", required: true, hint: "18 位，末位为校验码" }, ...fields()],
    async (v) => {
      const e = await api(API, { method: "POST", body: body(v) });
      toast("已登记。");
      await list.reload();
      openDetail(e.uscc);
    }, { submit: "登记", wide: true });
}

function editDialog(e) {
  formDialog(`修改：${e.name}`, fields(e), async (v) => {
    await api(`${API}/${e.uscc}`, { method: "PATCH", body: { ...body(v), version: e.version } });
    toast("已保存。");
    await list.reload();
    openDetail(e.uscc);
  }, { submit: "保存", wide: true });
}

function mergeDialog(e) {
  formDialog(`合并重复企业到「${e.name}」`, [
    { name: "merged_uscc", label: "被合并企业的统一社会信用代码", required: true },
    { name: "reason", label: "合并原因", type: "textarea", rows: 2 },
  ], async (v) => {
    const out = await api(`${API}/${e.uscc}/merge`, { method: "POST", body: { merged_uscc: v.merged_uscc.trim(), reason: v.reason || null } });
    const moved = Object.values(out.moved).reduce((a, b) => a + b, 0);
    toast(`已合并，转入 ${moved} 条关联记录。`);
    await list.reload();
    openDetail(e.uscc);
  }, {
    submit: "合并",
    note: "被合并企业的项目、资质、信用记录、单位账号、专家和从业人员记录将全部转到本企业，被合并企业随后从企业库删除（合并记录保留）。",
  });
}

function qualificationDialog(e) {
  formDialog(`登记资质：${e.name}`, [
    { name: "category", label: "资质类别", required: true },
    { name: "grade", label: "等级" },
    { name: "scope", label: "资质范围", type: "textarea", rows: 2 },
    { name: "number", label: "证书编号", required: true },
    { name: "valid_from", label: "有效期起", type: "date" },
    { name: "valid_to", label: "有效期至", type: "date" },
  ], async (v) => {
    const out = { ...v };
    for (const k of ["grade", "scope", "valid_from", "valid_to"]) out[k] = out[k] || null;
    await api(`${API}/${e.uscc}/qualifications`, { method: "POST", body: out });
    toast("资质已登记。");
    openDetail(e.uscc);
  }, { submit: "登记" });
}

function report(out) {
  const errors = out.errors || [];
  return h("div", { class: "report" },
    h("p", { class: errors.length ? "" : "ok" },
      `企业表共 ${out.rows} 行：新增 ${out.created} 家，更新 ${out.updated} 家，同一代码重复 ${out.merged_rows} 行（已并为一家）` +
      (out.qualification_rows ? `；资质表共 ${out.qualification_rows} 行：新增 ${out.qualifications_created} 项，更新 ${out.qualifications_updated} 项` : "") +
      (errors.length ? `；${errors.length} 行未通过检查。` : "。")),
    errors.length ? h("ul", {}, errors.map((e) => h("li", {}, e.message))) : null);
}

function importDialog() {
  const holder = h("div");
  let d;
  const form = new Form([
    { name: "file", label: "Excel 文件（.xlsx）", type: "file", required: true, accept: ".xlsx",
      hint: `第一个工作表为企业，第 1 行为表头：${meta.columns.join("、")}（前两列必填；企业类型用“、”分隔）；可另附名为「资质」的工作表（格式见导入模板）` },
    { name: "mode", label: "方式", type: "select", choices: [["dry_run", "试导入（只检查，不保存）"], ["commit", "正式导入（全部通过才保存）"]] },
  ], {
    submit: "上传",
    cancel: () => d.close(),
    onSubmit: async (v) => {
      holder.replaceChildren();
      if (!v.file) throw Object.assign(new Error("请选择文件。"), { field: "file" });
      const data = new FormData();
      data.append("file", v.file);
      try {
        const out = await api(`${API}/import`, { method: "POST", form: data, query: { mode: v.mode } });
        holder.replaceChildren(report(out));
        if (v.mode === "commit") {
          toast("导入完成。");
          await list.reload();
        }
      } catch (e) {
        if (e instanceof ApiError && e.detail && e.detail.errors) holder.replaceChildren(report(e.detail));
        throw e;
      }
    },
  });
  const template = h("a", { href: `${API}/import/template`, download: "企业导入模板.xlsx" }, "下载导入模板");
  d = dialog("导入企业", h("div", {}, h("p", { class: "note" }, "导入全部通过检查才保存；统一社会信用代码已在企业库中的，更新该企业（空白单元格不改动原值）。", template), form.el, holder), { wide: true });
}

function exportNow() {
  const v = list.filters.values();
  const a = h("a", { href: `${API}/export${queryString({ q: v.q, type: v.type, district: v.district, expired: v.expired })}`, download: "企业库.xlsx" });
  document.body.append(a);
  a.click();
  a.remove();
}

async function openDetail(uscc) {
  const pane = $("detail");
  let e;
  try {
    e = await api(`${API}/${encodeURIComponent(uscc)}`);
  } catch (err) {
    pane.hidden = false;
    pane.replaceChildren(h("p", { class: "form-error" }, err.message));
    return;
  }
  if (location.hash.slice(1) !== e.uscc) history.replaceState(null, "", `#${e.uscc}`);
  const can = meta.can;
  const actions = h("div", { class: "actionbar" },
    can.edit ? h("button", { type: "button", class: "btn", id: "edit", onclick: () => editDialog(e) }, "修改") : null,
    can.edit ? h("button", { type: "button", class: "btn", id: "add-qualification", onclick: () => qualificationDialog(e) }, "登记资质") : null,
    can.merge ? h("button", { type: "button", class: "btn", id: "merge", onclick: () => mergeDialog(e) }, "合并重复企业") : null,
    h("a", { class: "btn", href: e.record_url }, "档案页"));
  const quals = table([
    { label: "资质类别", render: (q) => q.category },
    { label: "等级", render: (q) => dash(q.grade) },
    { label: "证书编号", render: (q) => q.number, className: "mono" },
    { label: "范围", render: (q) => dash(q.scope) },
    { label: "有效期", className: "validity", render: (q) => `${dash(q.valid_from)} 至 ${dash(q.valid_to)}` },
    { label: "状态", render: (q) => (q.expired ? h("span", { class: "tag expired" }, "已过期") : "有效") },
    can.edit ? { label: "", render: (q) => h("button", { type: "button", class: "btn small danger", onclick: () => act(async () => {
      if (!confirm(`删除资质「${q.category} ${q.number}」？`)) return;
      await api(`${API}/${e.uscc}/qualifications/${q.id}`, { method: "DELETE" });
      openDetail(e.uscc);
    }, "资质已删除。") }, "删除") } : null,
  ].filter(Boolean), e.qualifications, "暂无资质记录。");
  for (const [i, q] of e.qualifications.entries()) if (q.expired) quals.querySelectorAll("tbody tr")[i].classList.add("expired");
  pane.hidden = false;
  pane.replaceChildren(...[
    h("div", { class: "detail-head" }, h("h2", {}, recordLink("enterprises", e.uscc, e.name)), ...typeTags(e), actions),
    h("dl", { class: "kv" },
      ...[["统一社会信用代码", e.uscc], ["所在区县", e.district], ["法定代表人", e.principals.legal_rep],
        ["技术负责人", e.principals.tech_lead], ["地址", e.address], ["信用分", e.credit_score],
        ["更新时间", fmtTime(e.updated_at)], ["版本", e.version]]
        .flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, dash(v))])),
    h("h3", {}, `资质（${e.qualifications.length}）`), quals,
    h("h3", {}, `业绩：参建项目（${e.projects.total}）`),
    table([
      { label: "项目", render: (p) => recordLink("projects", p.key, p.name) },
      { label: "项目代码", render: (p) => p.code, className: "mono" },
      { label: "区县", render: (p) => dash(p.district) },
      { label: "承担角色", render: (p) => p.roles.join("、") },
      { label: "开工日期", render: (p) => dash(p.start_date) },
      { label: "竣工日期", render: (p) => dash(p.completion_date) },
    ], e.projects.items, "暂无项目记录。"),
    h("h3", {}, `市场行为：信用记录（${e.credit_events.total}）`),
    table([
      { label: "日期", render: (c) => c.occurred_on },
      { label: "类别", render: (c) => (c.polarity === "good" ? "良好行为" : "不良行为") },
      { label: "分值", render: (c) => c.points },
      { label: "事由", render: (c) => c.reason },
      { label: "区县", render: (c) => dash(c.district) },
    ], e.credit_events.items, "暂无信用记录。"),
    e.merges.length ? h("h3", {}, "合并记录") : null,
    e.merges.length ? table([
      { label: "被合并企业代码", render: (m) => m.merged_uscc, className: "mono" },
      { label: "时间", render: (m) => fmtTime(m.at) },
      { label: "办理人", render: (m) => m.by },
    ], e.merges) : null,
  ].filter(Boolean));
}

async function showApp(me) {
  $("whoami").textContent = me.display_name ? `${me.display_name}（${me.user}）` : me.user;
  try {
    meta = await api(`${API}/meta`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) return show("denied");
    throw e;
  }
  show("app");
  const buttons = [
    meta.can.edit ? h("button", { type: "button", class: "btn", id: "create", onclick: createDialog }, "登记企业") : null,
    meta.can.import ? h("button", { type: "button", class: "btn", id: "import", onclick: importDialog }, "导入") : null,
    meta.can.export ? h("button", { type: "button", class: "btn", id: "export", onclick: exportNow }, "导出") : null,
  ].filter(Boolean);
  list = new ListView({
    filters: [
      { name: "q", label: "企业名称或信用代码", placeholder: "如：建工" },
      { name: "type", label: "企业类型", type: "select", choices: options(meta.types, "全部") },
      { name: "district", label: "区县", type: "select", choices: options(meta.districts, "全部") },
      { name: "expired", label: "资质", type: "select", choices: [["", "全部"], ["true", "有过期资质"], ["false", "无过期资质"]] },
    ],
    columns: [
      { label: "企业名称", render: (e) => e.name },
      { label: "统一社会信用代码", render: (e) => e.uscc, className: "mono" },
      { label: "类型", render: typeTags },
      { label: "区县", render: (e) => dash(e.district) },
      { label: "法定代表人", render: (e) => dash(e.legal_rep) },
      { label: "资质", render: (e) => (e.expired_qualifications
        ? h("span", {}, `${e.qualifications} 项，`, h("span", { class: "tag expired" }, `${e.expired_qualifications} 项过期`))
        : `${e.qualifications} 项`) },
    ],
    load: (v, limit, offset) => api(API, { query: { ...v, limit, offset } }),
    buttons,
    onRow: (e) => openDetail(e.uscc),
    empty: "没有符合条件的企业。",
  });
  $("list").replaceChildren(list.el);
  await list.go(0);
  const open = decodeURIComponent(location.hash.slice(1));
  if (open) openDetail(open);
}

async function start() {
  const me = await api("/api/auth/me");
  if (!me.authenticated) return showLogin();
  await showApp(me);
}

$("logout").addEventListener("click", async () => {
  try {
    await api("/api/auth/logout", { method: "POST" });
  } catch (e) {
    toast(e.message, "error");
  }
  history.replaceState(null, "", location.pathname);
  showLogin();
});

start().catch((e) => toast(e.message || String(e), "error"));
