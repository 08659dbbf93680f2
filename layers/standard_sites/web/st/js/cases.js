// The cases that move through a state machine: 月度申报 (monthly reports), 加分项 (bonus claims), 考评申报
// (evaluation applications) — the construction unit fills them in, the supervision unit reviews, the authority
// receives, recommends and decides. The buttons come from each record's `actions`.
import { api } from "/static/console/http.js";
import { caseLabels } from "./labels.js";
import { districtField, recordTab, section, siteField, statusField } from "./records.js";
import { Form, buttons, dash, fmtTime, formDialog, h, kv, locate, photoGrid, statusTag, table, thisMonth, toast } from "./ui.js";

const EDITABLE = ["draft", "returned"];

const status = (states) => (r) => statusTag(r.status, r.status_title || states[r.status]);
const who = (by, at) => (by || at ? `${by || ""} ${fmtTime(at)}`.trim() : null);

// Upload photos to a record (`kind`: report, bonus, evaluation): the file, the checklist item and the position of
// this computer — the server checks it against the site's fence, so on a PC it works only at the site.
function photoUpload(kind, id, checklist, done) {
  const fields = [];
  if (checklist?.length) {
    fields.push({ name: "checklist_code", label: "拍照清单项", type: "select",
      choices: checklist.map((c) => [c.code, `${c.code} ${c.part ? `${c.part}·` : ""}${c.name}${c.required ? "（必拍）" : ""}`]) });
  }
  fields.push({ name: "file", label: "照片文件", type: "file", accept: "image/*", required: true });
  const form = new Form(fields, {
    submit: "定位并上传",
    className: "inline-upload",
    onSubmit: async (v, f) => {
      if (!v.file) throw Object.assign(new Error("请选择照片文件。"), { field: "file" });
      const pos = await locate();
      const data = new FormData();
      data.append("file", v.file);
      if (v.checklist_code) data.append("checklist_code", v.checklist_code);
      for (const k of ["lon", "lat", "accuracy_m"]) if (pos[k] !== null && pos[k] !== undefined) data.append(k, String(pos[k]));
      await api(`/api/st/${kind}/${id}/photos`, { method: "POST", form: data });
      f.el.reset();
      await done();
      toast("照片已上传。");
    },
  });
  return h("div", {}, form.el, h("p", { class: "note" },
    "照片须带拍摄位置并在工地电子围栏内：电脑上传时将使用本机定位（须允许浏览器定位）。不在工地现场时请用手机端 ",
    h("a", { href: "/m" }, "/m"), " 拍照上传。"));
}

function canAddPhotos(rec, ctx) {
  return (ctx.can("site.report.submit") && EDITABLE.includes(rec.status))
    || (ctx.can("site.report.review") && rec.status === "submitted");
}

async function createDialog(title, extraFields, post, opened) {
  formDialog(title, [await siteField(), ...extraFields], async (v) => {
    if (!v.site_id) throw Object.assign(new Error("请选择工地。"), { field: "site_id" });
    opened((await post(v)).id);
  }, { submit: "创建" });
}

// The photo checklist with the required items still missing first (the upload form preselects the first).
function missingFirst(r) {
  const missing = new Set((r.missing_photos || []).map((m) => m.code));
  return [...r.checklist.filter((c) => missing.has(c.code)), ...r.checklist.filter((c) => !missing.has(c.code))];
}

const siteOf = (r) => (r.site ? `${r.site.code} ${r.site.name}` : r.site_id);

// -- 月度申报 ------------------------------------------------------------------------------------------------

const REPORT = caseLabels("st_report");
const REPORT_STATES = REPORT.states;

export const reports = recordTab({
  key: "reports",
  kind: "st_report",
  states: REPORT_STATES,
  actionTitles: REPORT.actions,
  list: {
    path: "/api/st/reports",
    items: "reports",
    filters: (ctx) => [{ name: "month", label: "月份", type: "month" }, statusField(REPORT_STATES), districtField(ctx)],
    columns: (ctx, names) => [
      { label: "编号", render: (r) => r.id },
      { label: "工地", render: (r) => names[r.site_id] || `工地 ${r.site_id}` },
      { label: "区县", render: (r) => r.district },
      { label: "月份", render: (r) => r.month },
      { label: "状态", render: status(REPORT_STATES) },
      { label: "提交时间", className: "nowrap", render: (r) => [fmtTime(r.submitted_at), r.late ? h("span", { class: "red" }, " 逾期") : null] },
      { label: "截止日期", render: (r) => r.due_date },
      { label: "操作", render: (r) => buttons(["查看", () => { location.hash = `reports/${r.id}`; }]) },
    ],
  },
  create: {
    permission: "site.report.submit",
    label: "新建月度申报",
    open: (ctx, opened) => createDialog("新建月度申报", [{ name: "month", label: "申报月份", type: "month", required: true,
      value: thisMonth() }], (v) => api(`/api/st/sites/${v.site_id}/reports`, { method: "POST", body: { month: v.month, form: {} } }), opened),
  },
  detail: {
    path: (id) => `/api/st/reports/${id}`,
    title: (r) => `${siteOf(r)} · ${r.month} 月度申报`,
    fields: (r) => [["工地", siteOf(r)], ["区县", r.district], ["申报月份", r.month], ["截止日期", r.due_date],
      ["提交", who(r.submitted_by, r.submitted_at)], ["逾期提交", r.late ? h("span", { class: "red" }, "是") : "否"],
      ["监理审核", who(r.reviewed_by, r.reviewed_at)], ["退回理由", r.return_reason ? h("span", { class: "red" }, r.return_reason) : null],
      ["主管部门接收", fmtTime(r.received_at)], ["版本", r.version]],
    sections: (r, ctx, refresh) => {
      const editable = ctx.can("site.report.submit") && EDITABLE.includes(r.status);
      let content;
      if (editable) {
        content = new Form(r.fields.map((f) => ({ name: f.code, label: f.name, required: f.required,
          type: f.field_type === "int" ? "number" : (f.code === "remarks" || f.code === "progress" ? "textarea" : "text"),
          rows: 2, min: f.field_type === "int" ? 0 : null, value: r.form?.[f.code] })), {
          submit: "保存申报内容",
          className: "inline",
          onSubmit: async (v) => {
            const form = Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null && x !== ""));
            await api(`/api/st/reports/${r.id}`, { method: "PUT", body: { version: r.version, form } });
            await refresh();
            toast("申报内容已保存。");
          },
        }).el;
      } else {
        content = kv(r.fields.map((f) => [f.name, r.form?.[f.code]]));
      }
      const missing = r.missing_photos?.length
        ? h("p", { class: "note warn" }, `还缺少必拍照片：${r.missing_photos.map((m) => `${m.code} ${m.name}`).join("、")}`) : null;
      return [
        ...section("申报内容", content),
        ...section(`现场照片（${r.photos.length} 张）`, missing, photoGrid(r.photos, r.checklist),
          canAddPhotos(r, ctx) ? photoUpload("report", r.id, missingFirst(r), refresh) : null),
      ];
    },
  },
  action: (id, a) => `/api/st/reports/${id}/actions/${a}`,
});

// -- 加分项 ------------------------------------------------------------------------------------------------

const BONUS = caseLabels("st_bonus");
const BONUS_STATES = BONUS.states;

const bonusItems = async () => (await api("/api/st/config/catalog", { query: { kind: "bonus" } })).items
  .map((i) => [i.code, `${i.name}（${i.points ?? 0} 分）`]);

export const bonus = recordTab({
  key: "bonus",
  kind: "st_bonus",
  states: BONUS_STATES,
  actionTitles: BONUS.actions,
  list: {
    path: "/api/st/bonus",
    items: "claims",
    filters: (ctx) => [statusField(BONUS_STATES), districtField(ctx)],
    columns: (ctx, names) => [
      { label: "编号", render: (r) => r.id },
      { label: "工地", render: (r) => names[r.site_id] || `工地 ${r.site_id}` },
      { label: "区县", render: (r) => r.district },
      { label: "加分项", render: (r) => r.item_name },
      { label: "分值", render: (r) => r.item_points },
      { label: "状态", render: status(BONUS_STATES) },
      { label: "提交时间", className: "nowrap", render: (r) => fmtTime(r.submitted_at) },
      { label: "确认分值", render: (r) => dash(r.points) },
    ],
  },
  create: {
    permission: "site.report.submit",
    label: "申报加分项",
    open: async (ctx, opened) => createDialog("申报加分项", [
      { name: "item_code", label: "加分项", type: "select", required: true, choices: await bonusItems() },
      { name: "description", label: "说明", type: "textarea", rows: 3 },
    ], (v) => api(`/api/st/sites/${v.site_id}/bonus`, { method: "POST", body: { item_code: v.item_code, description: v.description || null } }), opened),
  },
  detail: {
    path: (id) => `/api/st/bonus/${id}`,
    title: (r) => `${siteOf(r)} · 加分项「${r.item_name}」`,
    fields: (r) => [["工地", siteOf(r)], ["区县", r.district], ["加分项", `${r.item_code} ${r.item_name}`],
      ["分值", r.item_points], ["提交时间", fmtTime(r.submitted_at)], ["监理审核", who(r.reviewed_by, r.reviewed_at)],
      ["退回理由", r.return_reason ? h("span", { class: "red" }, r.return_reason) : null],
      ["主管部门", who(r.confirmed_by, r.confirmed_at)], ["确认分值", r.points]],
    sections: (r, ctx, refresh) => {
      const editable = ctx.can("site.report.submit") && EDITABLE.includes(r.status);
      let content = h("p", { class: "prewrap" }, r.description || "（无说明）");
      if (editable) {
        content = h("div", {});
        bonusItems().then((items) => content.append(new Form([
          { name: "item_code", label: "加分项", type: "select", choices: items, value: r.item_code },
          { name: "description", label: "说明", type: "textarea", rows: 3, value: r.description },
        ], {
          submit: "保存",
          onSubmit: async (v) => {
            await api(`/api/st/bonus/${r.id}`, { method: "PUT", body: { version: r.version, item_code: v.item_code, description: v.description || null } });
            await refresh();
            toast("已保存。");
          },
        }).el)).catch((e) => toast(e.message, "error"));
      }
      return [
        ...section("申报说明", content),
        ...section(`佐证材料（${r.attachments.length} 份）`,
          r.attachments.length || r.photos.length ? null : h("p", { class: "note warn" }, "提交前须上传佐证材料（证书、文件的扫描件、PDF 或图片）。"),
          ...attachments(r, ctx, refresh, `/api/st/bonus/${r.id}`, "佐证材料")),
        ...section(`现场照片（${r.photos.length} 张）`, photoGrid(r.photos),
          canAddPhotos(r, ctx) ? photoUpload("bonus", r.id, null, refresh) : null),
      ];
    },
  },
  action: (id, a) => `/api/st/bonus/${id}/actions/${a}`,
});

// -- 考评申报 ----------------------------------------------------------------------------------------------

const EVALUATION = caseLabels("st_evaluation");
const EVALUATION_STATES = EVALUATION.states;
const code = (id) => `KP-${String(id).padStart(6, "0")}`;
const months = (list) => (list?.length ? list.join("、") : "无");

function prefill(p) {
  if (!p) return h("p", { class: "muted" }, "暂无。");
  return kv([["已申报月数", p.months_reported], ["监理审核通过", p.approved], ["主管部门已接收", p.received],
    ["逾期申报月份", months(p.late_months)], ["未申报月份", months(p.missing_months)], ["月报现场照片", `${p.photos ?? 0} 张`],
    ["已确认加分项", p.bonus_items?.length ? p.bonus_items.map((b) => `${b.name}（${b.points ?? 0} 分）`).join("；") : "无"],
    ["加分合计", p.bonus_points]]);
}

// Documents attached to a record (`base`: /api/st/evaluations/12, /api/st/bonus/3): scans, PDFs, images, uploaded
// from anywhere (documents, not site photos: no position, no fence).
function attachments(r, ctx, refresh, base, label = "附件") {
  const editable = ctx.can("site.report.submit") && EDITABLE.includes(r.status);
  const list = table([
    { label: "名称", render: (a) => h("a", { href: a.url, target: "_blank", rel: "noopener" }, a.name) },
    { label: "文件", render: (a) => a.filename },
    { label: "大小", render: (a) => `${Math.ceil((a.size || 0) / 1024)} KB` },
    { label: "上传", render: (a) => who(a.uploaded_by, a.uploaded_at) },
    { label: "操作", render: (a) => (editable ? buttons(["删除", () => formDialog("删除附件", [], async () => {
      await api(`${base}/attachments/${a.id}`, { method: "DELETE" });
      await refresh();
      toast(`${label}已删除。`);
    }, { submit: "删除", note: `确定删除${label}「${a.name}」？` }), "danger"]) : "") },
  ], r.attachments, `暂无${label}。`);
  if (!editable) return [list];
  const form = new Form([
    { name: "name", label: `${label}名称`, placeholder: label === "附件" ? "如 竣工验收报告" : "如 省级示范工地证书扫描件" },
    { name: "file", label: "文件（PDF 或图片）", type: "file", accept: ".pdf,image/*", required: true },
  ], {
    submit: `上传${label}`,
    className: "inline-upload",
    onSubmit: async (v, f) => {
      if (!v.file) throw Object.assign(new Error("请选择文件。"), { field: "file" });
      const data = new FormData();
      data.append("file", v.file);
      if (v.name) data.append("name", v.name);
      await api(`${base}/attachments`, { method: "POST", form: data });
      f.el.reset();
      await refresh();
      toast(`${label}已上传。`);
    },
  });
  return [list, form.el];
}

function expertReviews(r, ctx) {
  if (!ctx.can("site.experts") || !["in_review", "reviewed", "awarded", "rejected"].includes(r.status)) return [];
  const holder = h("div", {}, h("p", { class: "muted" }, "加载中…"));
  api(`/api/st/evaluations/${r.id}/reviews`).then((data) => {
    const names = Object.fromEntries(data.form.map((i) => [i.code, i.name]));
    holder.replaceChildren(table([
      { label: "专家", render: (a) => a.expert_name },
      { label: "工作单位", render: (a) => a.enterprise_name },
      { label: "评审时间", className: "nowrap", render: (a) => `${fmtTime(a.window_from)} 至 ${fmtTime(a.window_to)}` },
      { label: "状态", render: (a) => (a.status === "reviewed" ? "已评审" : "待评审") },
      { label: "得分", render: (a) => (a.scores ? Object.entries(a.scores).map(([k, v]) => `${names[k] || k} ${v}`).join("；") : "") },
      { label: "总分", render: (a) => dash(a.total) },
      { label: "意见", className: "content", render: (a) => a.comments || "" },
    ], data.assignments, "尚未抽取专家。"), h("p", {}, `专家平均分：${dash(data.average_total)}`));
  }).catch((e) => holder.replaceChildren(h("p", { class: "form-error" }, e.message)));
  return section("专家评审", holder);
}

export const evaluations = recordTab({
  key: "evaluations",
  kind: "st_evaluation",
  states: EVALUATION_STATES,
  actionTitles: EVALUATION.actions,
  notes: { recommend: "推荐意见（选填）", award: "评定意见（选填）" },
  list: {
    path: "/api/st/evaluations",
    items: "evaluations",
    filters: (ctx) => [statusField(EVALUATION_STATES), districtField(ctx)],
    columns: () => [
      { label: "申报编号", render: (r) => code(r.id) },
      { label: "工地", render: (r) => `${r.site_code} ${r.site_name}` },
      { label: "区县", render: (r) => r.district },
      { label: "申报奖项", render: (r) => r.form?.award || "" },
      { label: "状态", render: status(EVALUATION_STATES) },
      { label: "竣工验收", render: (r) => r.completion_date },
      { label: "提交时间", className: "nowrap", render: (r) => fmtTime(r.submitted_at) },
      { label: "最终得分", render: (r) => dash(r.final_score) },
    ],
  },
  create: {
    permission: "site.report.submit",
    label: "申报考评",
    open: (ctx, opened) => createDialog("申报考评（竣工验收后）", [],
      (v) => api(`/api/st/sites/${v.site_id}/evaluation`, { method: "POST", body: { form: {} } }), opened),
  },
  detail: {
    path: (id) => `/api/st/evaluations/${id}`,
    title: (r) => `${code(r.id)} · ${r.site_code} ${r.site_name}`,
    fields: (r) => [["工地", `${r.site_code} ${r.site_name}`], ["区县", r.district], ["竣工验收日期", r.completion_date],
      ["提交", who(r.submitted_by, r.submitted_at)], ["监理审核", who(r.reviewed_by, r.reviewed_at)],
      ["退回理由", r.return_reason ? h("span", { class: "red" }, r.return_reason) : null],
      ["推荐", who(r.recommended_by, r.recommended_at)], ["推荐意见", r.recommendation],
      ["评定", who(r.decided_by, r.decided_at)], ["评定意见", r.decision_note], ["最终得分", r.final_score],
      ["打印时间", fmtTime(r.printed_at)]],
    tools: (r) => (EDITABLE.includes(r.status) ? [] : [h("a", { class: "btn", href: `/api/st/evaluations/${r.id}/print`,
      target: "_blank", rel: "noopener", "data-print": r.id }, "打印申报表")]),
    sections: (r, ctx, refresh) => {
      const editable = ctx.can("site.report.submit") && EDITABLE.includes(r.status);
      const form = editable
        ? new Form(r.fields.map((f) => ({ name: f.code, label: f.name, required: f.required,
          type: f.choices?.length ? "select" : (f.code === "highlights" || f.code === "remarks" ? "textarea" : "text"),
          choices: f.choices?.length ? [["", "请选择"], ...f.choices.map((c) => [c, c])] : null, rows: 3,
          value: r.form?.[f.code] })), {
          submit: "保存申报表",
          onSubmit: async (v) => {
            await api(`/api/st/evaluations/${r.id}`, { method: "PUT", body: { version: r.version, form: v } });
            await refresh();
            toast("申报表已保存。");
          },
        }).el
        : kv(r.fields.map((f) => [f.name, r.form?.[f.code]]));
      return [
        ...section("月度申报及加分项情况（系统汇总）", prefill(r.prefill)),
        ...section("申报表", form),
        ...section(`附件（${r.attachments.length} 个）`, ...attachments(r, ctx, refresh, `/api/st/evaluations/${r.id}`)),
        ...section(`现场照片（${r.photos.length} 张）`, photoGrid(r.photos),
          canAddPhotos(r, ctx) ? photoUpload("evaluation", r.id, null, refresh) : null),
        ...expertReviews(r, ctx),
      ];
    },
  },
  action: (id, a) => `/api/st/evaluations/${id}/actions/${a}`,
});
