// The personnel register (人员库): sign in (the cookie session), then the list with name search, filters and
// paging; a person's detail (registrations, employment, linked records) with 查看明文 for those allowed; new and
// edit forms; Excel import (dry run first, row-numbered report) and export.
import { api, queryString } from "/static/console/http.js";
import { Form, ListView, buttons, dash, dialog, formDialog, h, options, table, toast } from "/static/console/ui.js";

const API = "/api/registers/persons";
const $ = (id) => document.getElementById(id);
let opts = null;
let list = null;

function show(section) {
  for (const id of ["login", "denied", "app"]) $(id).hidden = id !== section;
  $("logout").hidden = section === "login";
  document.body.dataset.state = section;
}

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, dash(v))]));
}

const titles = (codes, names) => (codes || []).map((c) => names[c] || c).join("、");
const splitList = (text) => String(text || "").split(/[,，、;；\s]+/).map((s) => s.trim()).filter(Boolean);

function personFields(p = {}) {
  return [
    { name: "name", label: "姓名", required: true, value: p.name },
    p.id ? null : { name: "id_number", label: "身份证号", required: true, placeholder: "18 位，含校验位" },
    p.id ? null : { name: "phone", label: "手机号", type: "tel" },
    { name: "district", label: "所属区县", value: p.district },
    { name: "categories", label: "人员类别", type: "checkboxes", choices: options(opts.categories), value: p.categories },
    { name: "expert_kinds", label: "专家类别", type: "checkboxes", choices: options(opts.expert_kinds), value: p.expert_kinds },
    { name: "specialties", label: "专业", value: (p.specialties || []).join("、"), hint: "多个用顿号分隔" },
    { name: "expert_groups", label: "专家分组", value: (p.expert_groups || []).join("、") },
  ].filter(Boolean);
}

function personBody(v) {
  const out = { ...v, specialties: splitList(v.specialties), expert_groups: splitList(v.expert_groups) };
  for (const k of ["district", "phone"]) if (out[k] === "") out[k] = null;
  return out;
}

async function openDetail(id, unmask = false) {
  const p = unmask ? await api(`${API}/${id}/unmask`, { method: "POST" }) : await api(`${API}/${id}`);
  const full = unmask ? { ...(await api(`${API}/${id}`)), id_number: p.id_number, phone: p.phone, masked: false } : p;
  const body = h("div", { class: "detail", "data-person": id },
    kv([["姓名", full.name], ["性别", full.gender_title], ["身份证号", h("span", { class: "masked", id: "p-id-number" }, full.id_number)],
      ["手机号", h("span", { class: "masked", id: "p-phone" }, dash(full.phone))], ["所属区县", full.district],
      ["人员类别", titles(full.categories, opts.categories)], ["专家类别", titles(full.expert_kinds, opts.expert_kinds)],
      ["专业", full.specialties.join("、")], ["信用分", full.credit_score], ["版本", full.version]]),
    h("h3", {}, "注册执业"),
    table([{ label: "注册类别", render: (r) => r.reg_type }, { label: "证书编号", render: (r) => r.reg_no },
      { label: "有效期至", render: (r) => dash(r.valid_to) }], full.registrations, "无注册执业信息。"),
    h("h3", {}, "从业经历"),
    table([{ label: "单位", render: (r) => h("a", { href: `/records/enterprises/${r.enterprise_uscc}` }, r.enterprise_name || r.enterprise_uscc) },
      { label: "岗位", render: (r) => dash(r.role) }, { label: "入职", render: (r) => r.started_on },
      { label: "离职", render: (r) => r.ended_on || "在职" }], full.employment, "无从业经历。"),
    ...Object.entries(full.linked || {}).flatMap(([, groups]) => Object.entries(groups).flatMap(([title, g]) => [
      h("h3", {}, `${title}（${g.total}）`),
      table(g.columns.map((c) => ({ label: c.title, render: (r) => (Array.isArray(r[c.name]) ? r[c.name].join("、") : dash(r[c.name])) })),
        g.rows, "无。"),
    ])),
    h("p", {}, opts.can_unmask && full.masked
      ? h("button", { type: "button", class: "btn", id: "unmask", onclick: () => { d.close(); openDetail(id, true).catch((e) => toast(e.message, "error")); } }, "查看明文（记入操作日志）")
      : null,
    opts.can_edit ? h("button", { type: "button", class: "btn", onclick: () => { d.close(); editPerson(full); } }, "修改") : null,
    h("a", { class: "btn", href: `/records/persons/${id}` }, "记录页")));
  const d = dialog(`人员：${full.name}`, body, { wide: true });
}

function editPerson(p) {
  formDialog(`修改人员「${p.name}」`, personFields(p), async (v) => {
    await api(`${API}/${p.id}`, { method: "PATCH", body: { ...personBody(v), version: p.version } });
    await list.reload();
    toast("已保存。");
  }, { wide: true, submit: "保存" });
}

function importDialog() {
  const report = h("div", { id: "import-report" });
  const form = new Form([
    { name: "file", label: "Excel 文件", type: "file", accept: ".xlsx", required: true,
      hint: "第 1 行为表头：姓名、身份证号（必填），手机号、人员类别、所属区县、注册类别、注册证书编号、单位统一社会信用代码、入职日期等" },
    { name: "mode", label: "方式", type: "select", choices: [["dry_run", "试导入（只检查）"], ["commit", "正式导入（全部通过才导入）"]] },
  ], {
    submit: "上传",
    onSubmit: async (v) => {
      const data = new FormData();
      data.append("file", v.file);
      let out;
      try {
        out = await api(`${API}/import${queryString({ mode: v.mode })}`, { method: "POST", form: data });
      } catch (e) {
        if (e.code === "import_rejected") showReport(e.detail);
        throw e;
      }
      showReport(out);
      if (v.mode === "commit") {
        await list.reload();
        toast(`已导入：新增 ${out.created}，更新 ${out.updated}。`);
      }
    },
  });
  function showReport(r) {
    report.replaceChildren(h("p", {}, `${r.mode === "commit" ? "正式导入" : "试导入"}：共 ${r.rows} 行，新增 ${r.created}，更新 ${r.updated}，`,
      r.errors.length ? h("span", { class: "red" }, `${r.errors.length} 行未通过`) : "全部通过"),
    r.errors.length ? table([{ label: "行", render: (e) => e.row }, { label: "列", render: (e) => e.column || "" },
      { label: "身份证号", render: (e) => e.id_number || "" }, { label: "问题", render: (e) => e.message }], r.errors) : "");
  }
  dialog("导入人员", h("div", {}, form.el, report), { wide: true });
}

function mountList() {
  list = new ListView({
    filters: [
      { name: "q", label: "姓名", placeholder: "姓名中的字，如 建国" },
      { name: "category", label: "人员类别", type: "select", choices: options(opts.categories, "全部") },
      { name: "district", label: "所属区县" },
      { name: "enterprise", label: "现任职企业（统一社会信用代码）" },
    ],
    columns: [
      { label: "姓名", render: (p) => p.name },
      { label: "性别", render: (p) => p.gender_title },
      { label: "身份证号", className: "masked", render: (p) => p.id_number },
      { label: "手机号", className: "masked", render: (p) => dash(p.phone) },
      { label: "人员类别", render: (p) => titles(p.categories, opts.categories) },
      { label: "所属区县", render: (p) => dash(p.district) },
      { label: "操作", className: "actions", render: (p) => buttons(["详情", () => openDetail(p.id).catch((e) => toast(e.message, "error"))]) },
    ],
    load: async (q, limit, offset) => {
      const data = await api(API, { query: { ...q, limit, offset } });
      return { items: data.persons, total: data.total };
    },
    onRow: (p) => openDetail(p.id).catch((e) => toast(e.message, "error")),
    buttons: [
      opts.can_edit ? h("button", { type: "button", class: "btn primary", id: "new-person", onclick: () => formDialog("新增人员", personFields(), async (v) => {
        await api(API, { method: "POST", body: personBody(v) });
        list.offset = 0;
        await list.reload();
        toast("已新增人员。");
      }, { wide: true, submit: "保存" }) }, "新增人员") : null,
      opts.can_import ? h("button", { type: "button", class: "btn", onclick: importDialog }, "导入 Excel") : null,
      opts.can_export ? h("button", { type: "button", class: "btn", onclick: () => {
        window.location.href = `${API}/export${queryString(list.filters.values())}`;
      } }, "导出 Excel") : null,
    ].filter(Boolean),
  });
  $("list").replaceChildren(list.el);
  return list.go(0);
}

function showLogin(message) {
  show("login");
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

async function start() {
  const me = await api("/api/auth/me");
  if (!me.authenticated) return showLogin();
  $("whoami").textContent = me.display_name || me.user;
  try {
    opts = await api(`${API}/options`);
  } catch (e) {
    if (e.status === 403) return show("denied");
    throw e;
  }
  show("app");
  await mountList();
}

$("logout").addEventListener("click", async () => {
  await api("/api/auth/logout", { method: "POST" }).catch(() => null);
  showLogin();
});

start().catch((e) => toast(e.message || String(e), "error"));
