// The craftsmen workbench (/villages/craftsmen): sign in (the cookie session), then the register of rural
// construction craftsmen — search, register by ID number (the person comes from the personnel register), one
// craftsman's record with trainings and credit events, the merge of existing lists (Excel: dry run, then import)
// with the conflicts a person resolves, and the figures by district. ID numbers and phones are shown masked; an
// account holding 「查看个人信息明文」 may show them (logged). The address keeps the tab and the open craftsman
// (#list, #craftsman/12) so that a reload stays there. City administrators configure the trades (工种配置): add,
// rename, reorder, retire; the registration and the filters offer the active ones.
import { api, queryString } from "/static/console/http.js";
import { workbench } from "/static/console/workbench.js";
import { ListView, buttons, dash, formDialog, h, options, table, toast } from "/static/console/ui.js";

const API = "/api/villages/craftsmen";
const MERGE = "/api/villages/craftsman-merge";
const $ = (id) => document.getElementById(id);
const CONFLICT_STATES = { open: "待处理", kept: "保留人员库信息", taken: "采用导入信息" };

// [id, title, permission (or a test of the rights the options report), mount(pane, ctx)]
const TABS = [
  ["list", "工匠名册", "farmhouse.view", list],
  ["merge", "名单合并导入", (ctx) => ctx.options.can_import && ctx.options.can_edit, merge],
  ["conflicts", "合并冲突", "farmhouse.view", conflicts],
  ["stats", "统计", "farmhouse.view", stats],
  ["trades", "工种配置", (ctx) => ctx.options.can_edit_trades, tradesTab],
];

const kv = (pairs) => h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, dash(v))]));
const tags = (list) => h("span", {}, (list || []).map((t) => h("span", { class: "tag" }, t)));

// -- the list -----------------------------------------------------------------------------------------------------

const COLUMNS = [
  { label: "姓名", render: (r) => dash(r.name) },
  { label: "身份证号", className: "nowrap", render: (r) => r.id_number },
  { label: "手机号", className: "nowrap", render: (r) => dash(r.phone) },
  { label: "区县", render: (r) => r.district },
  { label: "乡镇街道", render: (r) => dash(r.township) },
  { label: "工种", render: (r) => tags(r.trades) },
  { label: "施工队/班组", render: (r) => dash(r.team) },
  { label: "培训", render: (r) => `${r.trainings_n} 次 / ${r.training_hours} 学时` },
  { label: "有效证书", render: (r) => r.valid_certificates },
  { label: "信用分", render: (r) => (r.credit_score === null ? "—" : r.credit_score.toFixed(1)) },
  { label: "状态", render: (r) => r.status_title },
];

function list(pane, ctx) {
  const o = ctx.options;
  const view = new ListView({
    filters: [
      { name: "q", label: "姓名/施工队/身份证号", placeholder: "姓名、施工队或完整身份证号" },
      { name: "district", label: "区县", type: "select", choices: options(o.districts, "全部") },
      { name: "trade", label: "工种", type: "select", choices: options(o.trades, "全部") },
      { name: "status", label: "状态", type: "select", choices: options(o.statuses, "全部") },
    ],
    columns: COLUMNS,
    empty: "没有符合条件的工匠。",
    buttons: [
      o.can_edit ? h("button", { type: "button", class: "btn", id: "new-craftsman", onclick: () => registerDialog(ctx) }, "登记工匠") : null,
      o.can_export ? h("button", { type: "button", class: "btn", id: "export", onclick: () => {
        const v = view.filters.values();
        const query = Object.fromEntries(Object.entries(v).filter(([, x]) => x !== "" && x !== null));
        location.href = `${MERGE}/export${queryString(query)}`;
      } }, "导出 Excel") : null,
    ].filter(Boolean),
    onRow: (r) => { location.hash = `craftsman/${r.id}`; },
    load: async (v, limit, offset) => {
      const query = Object.fromEntries(Object.entries({ ...v, limit, offset }).filter(([, x]) => x !== "" && x !== null));
      const data = await api(API, { query });
      return { items: data.craftsmen, total: data.total };
    },
  });
  pane.append(view.el);
  return view.go(0);
}

// The active trades, and those the craftsman already carries (a retired one stays unless unticked).
const tradeField = (o, value = []) => ({
  name: "trades", label: "工种", type: "checkboxes", value,
  choices: options([...o.trades, ...value.filter((t) => !o.trades.includes(t))]),
});

function registerDialog(ctx) {
  const o = ctx.options;
  formDialog("登记工匠", [
    { name: "id_number", label: "身份证号", required: true, hint: "按身份证号在人员库中查找；人员库中没有时一并新增" },
    { name: "name", label: "姓名", hint: "人员库中已有此人时可不填；填写须与人员库一致" },
    { name: "phone", label: "手机号", type: "tel" },
    { name: "district", label: "登记区县", type: "select", choices: options(o.districts), required: true, value: ctx.me.district || o.districts[0] },
    { name: "township", label: "乡镇街道" },
    tradeField(o),
    { name: "team", label: "施工队/班组" },
  ], async (v) => {
    const body = Object.fromEntries(Object.entries(v).filter(([, x]) => x !== "" && x !== null));
    const c = await api(API, { method: "POST", body });
    toast(`已登记工匠「${c.name}」。`);
    location.hash = `craftsman/${c.id}`;
  }, { submit: "登记", wide: true });
}

// -- one craftsman ------------------------------------------------------------------------------------------------

async function detail(pane, ctx, id) {
  const c = await api(`${API}/${id}`);
  render(pane, ctx, c);
}

function render(pane, ctx, c) {
  const o = ctx.options;
  const reload = (fresh) => { pane.replaceChildren(); render(pane, ctx, fresh); };
  const photo = c.has_photo
    ? h("img", { src: `${API}/${c.id}/photo?thumb=true&v=${c.version}`, alt: `${c.name || "工匠"}的照片` })
    : h("div", { class: "nophoto" }, "暂无照片");
  const actions = h("div", { class: "actionbar" },
    o.can_edit ? h("button", { type: "button", class: "btn", onclick: () => editDialog(ctx, c, reload) }, "修改") : null,
    o.can_edit ? h("button", { type: "button", class: "btn", onclick: () => photoDialog(c, reload) }, "上传照片") : null,
    o.can_unmask && c.masked ? h("button", { type: "button", class: "btn", id: "unmask", onclick: async () => {
      reload(await api(`${API}/${c.id}/unmask`, { method: "POST" }));
    } }, "查看明文") : null,
    h("button", { type: "button", class: "btn ghost", onclick: () => { location.hash = "list"; } }, "返回名册"));
  const trainings = table([
    { label: "培训课程", render: (t) => t.course },
    { label: "学时", render: (t) => t.hours },
    { label: "培训日期", render: (t) => t.trained_on },
    { label: "证书编号", render: (t) => dash(t.certificate_no) },
    { label: "证书有效期至", render: (t) => (t.expires_on ? h("span", { class: t.expired ? "expired" : "" }, t.expired ? `${t.expires_on}（已过期）` : t.expires_on) : "—") },
    { label: "", render: (t) => (o.can_edit ? buttons(["删除", async () => {
      if (!confirm(`删除培训记录「${t.course}」？`)) return;
      reload(await api(`${API}/${c.id}/trainings/${t.id}`, { method: "DELETE" }));
    }, "danger"]) : "") },
  ], c.trainings, "没有培训记录。");
  const events = table([
    { label: "发生日期", render: (e) => e.occurred_on },
    { label: "事件", render: (e) => h("span", { class: e.polarity }, e.title) },
    { label: "分值", render: (e) => (e.polarity === "good" ? `+${e.points}` : `-${e.points}`) },
    { label: "事由", render: (e) => e.reason },
    { label: "农房编号", render: (e) => dash(e.farmhouse_code) },
    { label: "登记人", render: (e) => e.created_by },
  ], c.events, "没有信用事件。");
  pane.append(h("article", { class: "detail", id: "craftsman", "data-id": c.id },
    h("div", { class: "detail-head" }, h("h2", {}, `${dash(c.name)} · ${c.district}`), actions),
    h("div", { class: "person" }, photo, kv([
      ["姓名", c.name], ["性别", c.gender], ["身份证号", c.id_number], ["手机号", c.phone],
      ["登记区县", c.district], ["乡镇街道", c.township], ["工种", tags(c.trades)], ["施工队/班组", c.team],
      ["状态", c.status_title], ["信用分", c.credit_score === null ? null : c.credit_score.toFixed(1)],
      ["有效证书", c.valid_certificates], ["备注", c.note],
    ])),
    h("h3", {}, "培训记录 ", o.can_edit ? h("button", { type: "button", class: "btn small", id: "add-training", onclick: () => trainingDialog(c, reload) }, "登记培训") : null),
    trainings,
    h("h3", {}, "信用记录 ", o.can_edit ? h("button", { type: "button", class: "btn small", id: "add-event", onclick: () => eventDialog(ctx, c, reload) }, "记录信用事件") : null),
    events));
}

function editDialog(ctx, c, reload) {
  const o = ctx.options;
  formDialog("修改工匠登记信息", [
    { name: "township", label: "乡镇街道", value: c.township },
    tradeField(o, c.trades),
    { name: "team", label: "施工队/班组", value: c.team },
    { name: "status", label: "状态", type: "select", choices: options(o.statuses), value: c.status },
    { name: "note", label: "备注", type: "textarea", value: c.note },
  ], async (v) => {
    reload(await api(`${API}/${c.id}`, { method: "PATCH", body: { ...v, version: c.version } }));
    toast("已保存。");
  }, { wide: true });
}

function photoDialog(c, reload) {
  formDialog("上传工匠照片", [{ name: "file", label: "照片（JPEG/PNG）", type: "file", accept: "image/*", required: true }], async (v) => {
    if (!v.file) throw Object.assign(new Error("请选择照片。"), { field: "file" });
    const form = new FormData();
    form.append("file", v.file);
    reload(await api(`${API}/${c.id}/photo`, { method: "POST", form }));
    toast("照片已上传。");
  });
}

function trainingDialog(c, reload) {
  formDialog("登记培训", [
    { name: "course", label: "培训课程", required: true },
    { name: "hours", label: "学时", type: "number", min: 0.5, max: 1000, step: 0.5, required: true },
    { name: "trained_on", label: "培训日期", type: "date", required: true },
    { name: "certificate_no", label: "证书编号" },
    { name: "expires_on", label: "证书有效期至", type: "date" },
  ], async (v) => {
    const body = Object.fromEntries(Object.entries(v).filter(([, x]) => x !== "" && x !== null));
    reload(await api(`${API}/${c.id}/trainings`, { method: "POST", body }));
    toast("培训记录已登记。");
  });
}

function eventDialog(ctx, c, reload) {
  const ev = ctx.options.events;
  formDialog("记录信用事件", [
    { name: "event_type", label: "事件类型", type: "select", required: true,
      choices: Object.entries(ev).map(([k, e]) => [k, `${e.title}（${e.polarity === "good" ? "良好" : "不良"}，默认 ${e.points} 分）`]) },
    { name: "occurred_on", label: "发生日期", type: "date", required: true },
    { name: "points", label: "分值（不填按默认）", type: "number", min: 0.5, max: 100, step: 0.5 },
    { name: "reason", label: "事由", type: "textarea", required: true },
    { name: "farmhouse_code", label: "农房编号" },
  ], async (v) => {
    const body = Object.fromEntries(Object.entries(v).filter(([, x]) => x !== "" && x !== null));
    reload(await api(`${API}/${c.id}/events`, { method: "POST", body }));
    toast("信用事件已记录，并计入信用库。");
  }, { wide: true });
}

// -- the merge ----------------------------------------------------------------------------------------------------

function merge(pane) {
  const input = h("input", { type: "file", id: "merge-file", accept: ".xlsx" });
  const out = h("div", { id: "merge-report" });
  const run = async (mode) => {
    if (!input.files[0]) return toast("请先选择 Excel 文件。", "error");
    const form = new FormData();
    form.append("file", input.files[0]);
    out.replaceChildren();
    try {
      const r = await api(`${MERGE}/import`, { method: "POST", form, query: { mode } });
      out.append(report(r));
      if (mode === "commit") toast(`已合并：新增 ${r.created} 人，合并 ${r.merged} 人，冲突 ${r.conflicts} 项。`);
    } catch (e) {
      if (e.detail && e.detail.errors) out.append(report(e.detail));
      out.prepend(h("p", { class: "form-error" }, e.message));
    }
  };
  pane.append(h("section", { class: "card" },
    h("p", { class: "note" }, "Excel 第 1 行为表头，按列名读取：姓名*、身份证号*、手机号、区县*、乡镇街道、工种（多个用顿号分隔）、施工队/班组，以及可选的培训课程、培训学时、培训日期、证书编号、证书有效期至。按身份证号与人员库、工匠名册匹配，不会重复登记；姓名或手机号与人员库不一致的列为冲突，由人工处理。任何一行有误则整个文件不导入。"),
    h("div", { class: "toolbar" }, h("a", { class: "btn", href: `${MERGE}/template`, id: "template" }, "下载模板"), input,
      h("button", { type: "button", class: "btn", id: "dry-run", onclick: () => run("dry_run") }, "试导入（检查）"),
      h("button", { type: "button", class: "btn primary", id: "commit", onclick: () => run("commit") }, "正式导入")),
    out));
}

function report(r) {
  const counts = h("div", { class: "counts" },
    h("span", {}, r.mode === "commit" ? "正式导入" : "试导入"), h("span", {}, `共 ${r.rows} 行`),
    h("span", {}, `新增 ${r.created}`), h("span", {}, `合并 ${r.merged}`), h("span", {}, `无变化 ${r.unchanged}`),
    h("span", {}, `冲突 ${r.conflicts}`), h("span", {}, `错误 ${(r.errors || []).length}`));
  const errors = (r.errors || []).length ? table([
    { label: "行号", render: (e) => e.row }, { label: "列", render: (e) => dash(e.column) },
    { label: "身份证号", render: (e) => e.id_number }, { label: "问题", render: (e) => e.message },
  ], r.errors) : null;
  const found = (r.conflict_rows || []).length ? table([
    { label: "行号", render: (c) => c.row }, { label: "项目", render: (c) => c.field_title },
    { label: "人员库", render: (c) => dash(c.current_value) }, { label: "名单", render: (c) => c.incoming_value },
  ], r.conflict_rows) : null;
  return h("div", { class: "report" }, counts,
    errors ? h("h3", {}, "未通过检查的行") : null, errors,
    found ? h("h3", {}, "冲突（导入后在「合并冲突」中处理）") : null, found);
}

// -- conflicts ----------------------------------------------------------------------------------------------------

function conflicts(pane) {
  const view = new ListView({
    filters: [{ name: "status", label: "状态", type: "select", choices: options(CONFLICT_STATES), value: "open" }],
    columns: [
      { label: "导入批次", render: (c) => c.import_id },
      { label: "行号", render: (c) => c.row },
      { label: "区县", render: (c) => c.district },
      { label: "项目", render: (c) => c.field_title },
      { label: "人员库现值", render: (c) => dash(c.register_value) },
      { label: "导入值", render: (c) => c.incoming_value },
      { label: "状态", render: (c) => c.status_title },
      { label: "", render: (c) => (c.status === "open" && view.canResolve ? buttons(
        ["保留人员库信息", () => resolve(c, "keep", view)],
        ["采用导入信息", () => resolve(c, "take", view), "primary"],
      ) : dash(c.resolved_by)) },
    ],
    empty: "没有冲突。",
    load: async (v, limit, offset) => {
      const data = await api(`${MERGE}/conflicts`, { query: { ...v, limit, offset } });
      view.canResolve = data.can_resolve;
      return { items: data.conflicts, total: data.total };
    },
  });
  pane.append(view.el);
  return view.go(0);
}

async function resolve(c, choice, view) {
  try {
    await api(`${MERGE}/conflicts/${c.id}/resolve`, { method: "POST", body: { choice, version: c.version } });
    toast(choice === "take" ? "已采用导入信息并更新人员库。" : "已保留人员库信息。");
    await view.reload();
  } catch (e) {
    toast(e.message, "error");
  }
}

// -- statistics ---------------------------------------------------------------------------------------------------

async function stats(pane) {
  const data = await api(`${API}/stats`);
  const sum = (k) => data.districts.reduce((s, d) => s + d[k], 0);
  pane.append(h("section", { class: "card", id: "stats" }, table([
    { label: "区县", render: (d) => d.district },
    { label: "登记工匠", render: (d) => d.craftsmen },
    { label: "在册", render: (d) => d.active },
    { label: "持有效证书", render: (d) => d.certified },
  ], [...data.districts, { district: "合计", craftsmen: sum("craftsmen"), active: sum("active"), certified: sum("certified") }],
  "没有工匠。")));
}

// -- trades (city administrators) ------------------------------------------------------------------------------------

async function tradesTab(pane) {
  const { items } = await api("/api/villages/trades");
  const again = () => window.dispatchEvent(new HashChangeEvent("hashchange"));
  const edit = (t) => formDialog(`修改工种「${t.name}」`, [
    { name: "name", label: "名称", required: true, value: t.name, hint: "改名后，已登记该工种的工匠随之改名" },
    { name: "seq", label: "顺序", type: "number", required: true, value: t.seq, min: 1, max: 1000 },
    { name: "active", label: "启用", type: "checkbox", value: t.active },
  ], async (v) => {
    const r = await api(`/api/villages/trades/${t.code}`, { method: "PATCH", body: { ...v, version: t.version } });
    toast(r.craftsmen_renamed ? `工种已保存，${r.craftsmen_renamed} 名工匠的工种随之改名。` : "工种已保存。");
    again();
  });
  const add = () => formDialog("新增工种", [
    { name: "code", label: "编码（小写字母、数字、下划线）", required: true },
    { name: "name", label: "名称", required: true },
    { name: "seq", label: "顺序", type: "number", required: true, min: 1, max: 1000,
      value: Math.max(0, ...items.map((t) => t.seq)) + 1 },
  ], async (v) => {
    await api("/api/villages/trades", { method: "POST", body: v });
    toast("工种已新增。");
    again();
  });
  pane.append(h("section", { class: "card", id: "trades" },
    h("p", { class: "note" }, "工种列表全市统一。停用的工种不再用于新登记和名单导入，已登记该工种的工匠保留。"),
    h("p", {}, h("button", { type: "button", class: "btn", id: "add-trade", onclick: add }, "新增工种")),
    table([
      { label: "顺序", render: (t) => t.seq },
      { label: "编码", render: (t) => t.code },
      { label: "名称", render: (t) => t.name },
      { label: "启用", render: (t) => (t.active ? "是" : "已停用") },
      { label: "", render: (t) => h("button", { type: "button", class: "btn small", onclick: () => edit(t) }, "修改") },
    ], items, "没有工种。")));
}

// -- routing ------------------------------------------------------------------------------------------------------

async function openRoute(ctx) {
  const [name, arg] = location.hash.replace(/^#/, "").split("/");
  const pane = h("div", { class: "pane" });
  $("view").replaceChildren(pane);
  for (const b of $("tabs").children) b.classList.toggle("active", b.dataset.tab === (name === "craftsman" ? "list" : name));
  try {
    if (name === "craftsman" && arg) return await detail(pane, ctx, arg);
    const tab = ctx.tabs.find(([id]) => id === name) || ctx.tabs[0];
    await tab[3](pane, ctx);
  } catch (e) {
    pane.append(h("p", { class: "form-error" }, e.message || String(e)));
  }
}

workbench({ tabs: TABS, route: openRoute, prepare: async () => ({ options: await api(`${API}/options`) }) });
