// The drawing review's workbench (/review): sign in (the cookie session), then the lists the signed-in account's
// permissions allow — my applications, to accept, in review, to reply, overdue and nearly due, all, the time
// limits — the application form and an application's detail with its rounds, opinions, timeline and actions.
// The address keeps the tab and the open application (#mine, #app/12) so that a reload stays there.
import { ApiError, api } from "/static/console/http.js";
import { uuid, workbench } from "/static/console/workbench.js";
import { Form, ListView, dash, dialog, fmtTime, formDialog, h, options, table, toast } from "/static/console/ui.js";

const API = "/api/review";
const $ = (id) => document.getElementById(id);
let V = null; // the vocabulary (/api/review/vocabulary)

// [id, title, permission, mount(pane, ctx)]
const TABS = [
  ["mine", "我的申请", "review.submit", (pane, ctx) => applications(pane, ctx, {}, true)],
  ["accept", "待受理", "review.accept", (pane, ctx) => applications(pane, ctx, { status: "drawn" })],
  ["reviewing", "审查中", "review.opine", (pane, ctx) => applications(pane, ctx, { status: "reviewing" })],
  ["reply", "待回复", "review.reply", (pane, ctx) => applications(pane, ctx, { status: "replying" })],
  ["overdue", "逾期与临期", "review.view", overdue],
  ["all", "全部申请", "review.view", (pane, ctx) => applications(pane, ctx, {}, false, true)],
  ["limits", "时限配置", "review.config", timeLimits],
];

const statusTag = (a) => h("span", { class: `status s-${a.status}`, "data-status": a.status }, a.status_title);
const kv = (pairs) => h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, dash(v))]));
const day = (iso) => (iso ? String(iso).slice(0, 10) : "");
const num = (v, unit = "") => (v === null || v === undefined ? "" : `${Number(v).toLocaleString("zh-CN")}${unit}`);

// -- lists --------------------------------------------------------------------------------------------------------

const COLUMNS = [
  { label: "申请编号", render: (a) => a.application_no },
  { label: "项目名称", className: "content", render: (a) => a.name },
  { label: "送审名称", render: (a) => a.submission_name },
  { label: "建设单位", render: (a) => a.builder_name },
  { label: "审查机构", render: (a) => a.agency_name || "" },
  { label: "管辖", render: (a) => a.jurisdiction },
  { label: "状态", render: (a) => statusTag(a) },
  { label: "本阶段到期日", className: "nowrap", render: (a) => day(a.due_on) },
  { label: "时限", render: (a) => (a.flag ? h("span", { class: `flag-${a.flag}` }, a.flag_title) : "") },
];

function applications(pane, ctx, fixed, mine = false, filters = false) {
  const open = (a) => { location.hash = `app/${a.id}`; };
  const list = new ListView({
    filters: filters ? [
      { name: "status", label: "状态", type: "select", choices: options(V.states, "全部") },
      { name: "jurisdiction", label: "管辖", type: "select", choices: options(V.jurisdictions, "全部") },
      { name: "project_code", label: "项目代码" },
    ] : [],
    columns: COLUMNS,
    empty: "没有施工图审查申请。",
    search: "刷新",
    buttons: mine && ctx.can("review.submit")
      ? [h("button", { type: "button", class: "btn", id: "new-application", onclick: () => { location.hash = "new"; } }, "新建申请")]
      : [],
    onRow: open,
    load: async (v, limit, offset) => {
      const data = await api(`${API}/applications`, { query: { ...v, ...fixed, limit, offset } });
      return { items: data.items, total: data.total };
    },
  });
  pane.append(list.el);
  return list.go(0);
}

async function overdue(pane) {
  const choose = new Form([
    { name: "which", label: "范围", type: "select", choices: [["all", "逾期和临期"], ["overdue", "已逾期"], ["nearly_due", "临近到期（≤2 个工作日）"]] },
  ], { submit: "查询", className: "filters", onSubmit: async (v) => load(v.which) });
  const holder = h("div");
  pane.append(choose.el, holder);
  async function load(which) {
    const data = await api(`${API}/overdue`, { query: { which } });
    holder.replaceChildren(h("p", { class: "note" }, `今天 ${data.today}；临期：${data.soon_until} 前到期。共 ${data.total} 件。`),
      table([
        { label: "申请编号", render: (a) => a.application_no },
        { label: "项目名称", className: "content", render: (a) => a.name },
        { label: "管辖", render: (a) => a.jurisdiction },
        { label: "状态", render: (a) => statusTag(a) },
        { label: "阶段", render: (a) => `${a.stage_title}${a.stage === "review" || a.stage === "reply" ? `（第 ${a.round_no} 轮）` : ""}` },
        { label: "到期日", render: (a) => a.due_on },
        { label: "标记", render: (a) => h("span", { class: `flag-${a.flag}` }, a.flag_title) },
        { label: "工作日", render: (a) => (a.flag === "overdue" ? `逾期 ${a.overdue_working_days} 天` : `剩余 ${a.working_days_left} 天`) },
      ], data.items, "没有逾期或临近到期的申请。", (a) => { location.hash = `app/${a.id}`; }));
  }
  await load("all");
}

async function timeLimits(pane) {
  const data = await api(`${API}/time-limits`);
  const inputs = new Map();
  const rows = data.items.map((r) => {
    const input = h("input", { type: "number", min: 1, max: 365, step: 1, value: r.working_days,
      "data-limit": `${r.review_category}/${r.grade}/${r.stage}` });
    inputs.set(r, input);
    return r;
  });
  const form = new Form([], {
    submit: "保存时限",
    onSubmit: async () => {
      const items = rows.filter((r) => Number(inputs.get(r).value) !== r.working_days).map((r) => ({
        review_category: r.review_category, grade: r.grade, stage: r.stage, version: r.version,
        working_days: Number(inputs.get(r).value),
      }));
      if (!items.length) return toast("没有修改。");
      await api(`${API}/time-limits`, { method: "PUT", body: { items } });
      toast("时限已保存。");
      pane.replaceChildren();
      await timeLimits(pane);
    },
  });
  form.el.prepend(table([
    { label: "审查类别", render: (r) => r.review_category },
    { label: "项目等级", render: (r) => r.grade },
    { label: "阶段", render: (r) => r.stage_title },
    { label: "时限（工作日）", render: (r) => inputs.get(r) },
    { label: "最后修改", render: (r) => `${fmtTime(r.updated_at)} ${r.updated_by || ""}` },
  ], rows));
  pane.append(h("p", { class: "note" }, "各阶段时限按法定工作日计算（节假日和调休以工作日历为准）；修改只影响此后开始的阶段。"),
    h("div", { class: "limits" }, form.el));
}

// -- the application form -----------------------------------------------------------------------------------------

function buildingsEditor(initial) {
  const list = h("div", { class: "buildings" });
  const add = (b = {}) => {
    const boxes = Object.entries(V.disciplines).map(([k, title]) => {
      const box = h("input", { type: "checkbox", value: k, name: "discipline" });
      box.checked = (b.disciplines || []).includes(k);
      return h("label", { class: "check" }, box, title);
    });
    const row = h("div", { class: "building" },
      h("input", { name: "building_name", placeholder: "单体名称，如 1#楼", value: b.name || "" }),
      h("input", { name: "floors", type: "number", placeholder: "层数", value: b.floors ?? "" }),
      h("input", { name: "building_area", type: "number", placeholder: "建筑面积（㎡）", value: b.floor_area_m2 ?? "" }),
      h("div", { class: "checks" }, boxes),
      h("button", { type: "button", class: "btn small danger", onclick: () => row.remove() }, "删除"));
    list.append(row);
  };
  (initial.length ? initial : [{}]).forEach(add);
  return h("div", {}, list, h("button", { type: "button", class: "btn small", id: "add-building", onclick: () => add() }, "添加单体"));
}

function readBuildings(el) {
  const n = (v) => (v === "" ? null : Number(v));
  return [...el.querySelectorAll(".building")].map((row) => ({
    name: row.querySelector("[name=building_name]").value,
    floors: n(row.querySelector("[name=floors]").value),
    floor_area_m2: n(row.querySelector("[name=building_area]").value),
    disciplines: [...row.querySelectorAll("input[name=discipline]:checked")].map((i) => i.value),
  }));
}

function applicationForm(pane, a = null) {
  const v = a || {};
  const form = new Form([
    { name: "project_code", label: "项目代码", required: true, value: v.project_code, placeholder: "如 2024-330106-47-01-123456",
      hint: "项目库中的项目自动核验（位置取项目库的项目位置）；项目库之外的项目须填写位置" },
    { name: "name", label: "项目名称", required: true, value: v.name },
    { name: "submission_name", label: "送审名称", required: true, value: v.submission_name },
    { name: "builder_uscc", label: "建设单位统一社会信用代码", required: true, value: v.builder_uscc },
    { name: "designer_uscc", label: "设计单位统一社会信用代码", required: true, value: v.designer_uscc },
    { name: "review_category", label: "审查类别", type: "select", choices: options(V.categories), value: v.review_category },
    { name: "grade", label: "项目等级", type: "select", choices: options(V.grades), value: v.grade },
    { name: "contents", label: "审查内容", type: "checkboxes", choices: options(V.contents), value: v.contents || ["general"] },
    { name: "floor_area_m2", label: "总建筑面积（㎡）", type: "number", value: v.floor_area_m2 },
    { name: "investment_wan", label: "估算投资（万元）", type: "number", value: v.investment_wan },
    { name: "district", label: "所在区县（项目库之外的项目）", value: a ? a.district : "" },
    { name: "lon", label: "经度（项目库之外的项目）", type: "number", step: "any", value: a && !a.verified ? a.point.lon : "" },
    { name: "lat", label: "纬度（项目库之外的项目）", type: "number", step: "any", value: a && !a.verified ? a.point.lat : "" },
    { name: "buildings", label: "单体及专业", type: "custom", render: () => buildingsEditor(a ? a.buildings : []), read: readBuildings },
  ], {
    submit: a ? "保存修改" : "保存草稿",
    cancel: () => history.back(),
    className: "application-form",
    onSubmit: async (values) => {
      const body = { ...values };
      for (const k of ["district"]) if (!body[k]) body[k] = null;
      let out;
      if (a) {
        out = await api(`${API}/applications/${a.id}`, { method: "PUT", body: { ...body, version: a.version } });
      } else {
        out = await api(`${API}/applications`, { method: "POST", body, headers: { "Idempotency-Key": uuid() } });
      }
      toast(a ? "申请已修改。" : "申请草稿已保存，请核对后送审。");
      location.hash = `app/${out.id}`;
    },
  });
  pane.append(h("div", { class: "detail" }, h("h2", {}, a ? `修改申请 ${a.application_no}` : "新建施工图审查申请"), form.el));
}

// -- the application ----------------------------------------------------------------------------------------------

async function detail(pane, ctx, id) {
  const a = await api(`${API}/applications/${id}`);
  const reload = () => openRoute(ctx);
  const run = async (fn, done) => {
    try {
      await fn();
      toast(done);
      await reload();
    } catch (e) {
      toast(e.message || String(e), "error");
    }
  };
  const bar = h("div", { class: "actionbar" });
  const actionPath = (name) => `${API}/applications/${a.id}/actions/${name}`;
  if (a.can.edit) bar.append(h("button", { type: "button", class: "btn", onclick: () => { location.hash = `edit/${a.id}`; } }, "修改"));
  for (const act of a.actions) {
    if (act.action === "submit") {
      bar.append(h("button", { type: "button", class: "btn primary", "data-action": "submit", onclick: () => run(() =>
        api(`${API}/applications/${a.id}/submit`, { method: "POST", body: { version: a.version }, headers: { "Idempotency-Key": uuid() } }),
      "已送审，等待摇号确定审查机构。") }, act.title));
    } else if (act.reason_required) {
      bar.append(h("button", { type: "button", class: "btn danger", "data-action": act.action, onclick: () =>
        formDialog(act.title, [{ name: "reason", label: "理由", type: "textarea", required: true }], async (v) => {
          await api(actionPath(act.action), { method: "POST", body: { version: a.version, reason: v.reason } });
          toast(`已${act.title}。`);
          await reload();
        }, { submit: act.title }) }, act.title));
    } else {
      bar.append(h("button", { type: "button", class: act.action === "withdraw" ? "btn" : "btn primary", "data-action": act.action,
        onclick: () => run(() => api(actionPath(act.action), { method: "POST", body: { version: a.version } }), `已${act.title}。`) }, act.title));
    }
  }
  if (a.can.opine) bar.append(h("button", { type: "button", class: "btn primary", id: "give-opinions", onclick: () => opinionsDialog(a, reload) }, "出具审查意见"));
  if (a.can.reply) {
    bar.append(h("button", { type: "button", class: "btn primary", id: "give-reply", onclick: () =>
      formDialog("设计回复", [{ name: "note", label: "回复说明", type: "textarea", required: true,
        hint: "说明按审查意见修改的内容；修改后的图纸在图纸栏目上传" }], async (v) => {
        await api(`${API}/applications/${a.id}/reply`, { method: "POST", body: { version: a.version, note: v.note } });
        toast("设计回复已提交，进入下一轮审查。");
        await reload();
      }, { submit: "提交回复" }) }, "设计回复"));
  }
  if (a.can.certify) {
    bar.append(h("button", { type: "button", class: "btn primary", id: "certify", onclick: () => run(() =>
      api(`${API}/applications/${a.id}/certificate`, { method: "POST", body: { version: a.version } }), "审查合格书已发放。") }, "发放审查合格书"));
  }
  const p = a.progress;
  const rounds = a.rounds.length ? a.rounds.map((r) => h("div", { class: "round", "data-round": r.round_no },
    h("h4", {}, `第 ${r.round_no} 轮审查`, r.result_title ? ` · ${r.result_title}` : " · 审查中"),
    h("p", { class: "note" }, `开始 ${fmtTime(r.started_at)}`, r.opinion_at ? `；出具意见 ${fmtTime(r.opinion_at)}` : "",
      r.replied_at ? `；设计回复 ${fmtTime(r.replied_at)}` : ""),
    r.opinions.length ? table([
      { label: "专业", render: (o) => o.discipline_title },
      { label: "结论", render: (o) => o.conclusion },
      { label: "审查意见", className: "content prewrap", render: (o) => o.opinion || "" },
    ], r.opinions) : null,
    r.reply_note ? h("p", { class: "prewrap" }, h("b", {}, "设计回复："), r.reply_note) : null))
    : [h("p", { class: "muted" }, "尚未开始审查。")];
  pane.append(h("div", { class: "detail", "data-application": a.id },
    h("div", { class: "detail-head" }, h("h2", {}, `${a.application_no} ${a.name}`), statusTag(a), bar),
    kv([
      ["项目代码", `${p.project_code}（${p.verified ? "已核验：项目库项目" : "未核验：项目库中无此项目"}）`],
      ["项目名称", p.name], ["送审名称", p.submission_name],
      ["建设单位", p.builder_name], ["设计单位", p.designer_name],
      ["审查机构", p.agency_name], ["审查类别", `${p.review_category} · ${a.grade}`],
      ["审查内容", p.contents_titles.join("、")],
      ["总建筑面积", num(p.floor_area_m2, " ㎡")], ["估算投资", num(p.investment_wan, " 万元")],
      ["管辖", `${a.jurisdiction}（${a.district}）`], ["本阶段到期日", day(a.due_on)],
      ["审查结论", a.conclusion], ["审查合格书", a.certificate_no ? `${a.certificate_no}（${fmtTime(a.certified_at)}）` : ""],
      ["退回理由", a.return_reason], ["附件（图纸）", p.attachments.length ? `${p.attachments.length} 套` : "无"],
    ]),
    h("h3", {}, "单体"),
    table([
      { label: "单体", render: (b) => b.name },
      { label: "层数", render: (b) => b.floors ?? "" },
      { label: "建筑面积（㎡）", render: (b) => num(b.floor_area_m2) },
      { label: "专业", render: (b) => b.disciplines.map((d) => V.disciplines[d]).join("、") },
    ], a.buildings),
    h("h3", {}, "审查轮次与意见"), ...rounds,
    h("h3", {}, "进度时间轴"),
    table([
      { label: "阶段", render: (s) => s.title },
      { label: "开始", render: (s) => fmtTime(s.started_at) },
      { label: "时限", render: (s) => `${s.limit_days} 个工作日` },
      { label: "到期日", render: (s) => day(s.due_on) },
      { label: "完成", render: (s) => (s.completed_at ? fmtTime(s.completed_at) : "进行中") },
      { label: "用时（工作日）", render: (s) => s.working_days },
      { label: "结果", render: (s) => (s.overdue ? h("span", { class: "flag-overdue" }, `${s.result || ""} 超期`) : s.result || "") },
    ], a.timeline, "尚无阶段。"),
    h("h3", {}, "办理记录"),
    table([
      { label: "时间", className: "nowrap", render: (r) => fmtTime(r.at) },
      { label: "状态", render: (r) => `${r.from_state ? `${V.states[r.from_state]} → ` : ""}${V.states[r.to_state]}` },
      { label: "理由", className: "content", render: (r) => r.reason || "" },
      { label: "办理人", render: (r) => r.actor_name || r.actor },
    ], a.history, "暂无办理记录。")));
}

function opinionsDialog(a, reload) {
  const rows = a.disciplines.map((d) => {
    const select = h("select", { name: `conclusion-${d}`, "data-discipline": d },
      V.conclusions.map((c) => h("option", { value: c }, c)));
    const text = h("textarea", { name: `opinion-${d}`, rows: 2, placeholder: "审查意见（需修改、不合格时必填）" });
    return { d, select, text, el: h("div", { class: "opinion-row field", "data-field": d }, h("b", {}, V.disciplines[d]), select, text,
      h("p", { class: "field-error", hidden: true })) };
  });
  let d;
  const form = new Form([
    { name: "reason", label: "不合格理由（有专业不合格时必填）", type: "textarea", rows: 2 },
  ], {
    submit: "出具意见",
    cancel: () => d.close(),
    onSubmit: async (v) => {
      const opinions = rows.map((r) => ({ discipline: r.d, conclusion: r.select.value, opinion: r.text.value || null }));
      try {
        await api(`${API}/applications/${a.id}/opinions`, { method: "POST", body: { version: a.version, opinions, reason: v.reason || null } });
      } catch (e) {
        // opinions.3.opinion → the row of that discipline
        const m = /^opinions\.(\d+)\./.exec(e.field || "");
        if (m) throw Object.assign(new ApiError(e.status, { code: e.code, message: e.message, field: rows[Number(m[1])].d }), {});
        throw e;
      }
      d.close();
      toast("审查意见已出具。");
      await reload();
    },
  });
  form.el.prepend(h("div", { class: "opinions" }, rows.map((r) => r.el)));
  d = dialog(`第 ${a.round_no} 轮审查意见`, form.el, { wide: true });
}

// -- routing ------------------------------------------------------------------------------------------------------

async function openRoute(ctx) {
  const [name, sub] = location.hash.slice(1).split("/");
  const tab = ctx.tabs.find((t) => t[0] === name);
  for (const b of $("tabs").children) b.setAttribute("aria-selected", String(tab ? b.dataset.tab === tab[0] : false));
  const pane = h("div", { class: "pane", "data-view": name || ctx.tabs[0][0] });
  $("view").replaceChildren(pane);
  try {
    if (name === "app" && sub) return await detail(pane, ctx, Number(sub));
    if (name === "new") return applicationForm(pane);
    if (name === "edit" && sub) return applicationForm(pane, await api(`${API}/applications/${Number(sub)}`));
    const chosen = tab || ctx.tabs[0];
    pane.dataset.view = chosen[0];
    await chosen[3](pane, ctx);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return session.showLogin("登录已失效，请重新登录。");
    pane.append(h("p", { class: "form-error" }, e.message || String(e)));
  }
}

const session = workbench({
  tabs: TABS,
  route: openRoute,
  prepare: async () => { V = V || await api(`${API}/vocabulary`); },
});
