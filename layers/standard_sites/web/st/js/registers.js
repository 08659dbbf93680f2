// The registers around the cases: 减分项 (deductions), 阶段考评 (stage evaluations), 通知公告 (notices), 专家库
// (the expert pool) and 配置 (the catalog: photo checklist, form fields, bonus/deduction/score items).
import { api, queryString } from "/static/console/http.js";
import { DISTRICTS, districtField, recordTab, section, siteField } from "./records.js";
import { Form, buttons, dash, dialog, fmtTime, formDialog, h, options, photoGrid, table, toast, yesNo } from "./ui.js";

const today = () => new Date(Date.now() + 8 * 3600 * 1000).toISOString().slice(0, 10);
const blankToNull = (v) => Object.fromEntries(Object.entries(v).map(([k, x]) => [k, x === "" ? null : x]));

// -- 减分项 ------------------------------------------------------------------------------------------------

const SUBJECTS = { enterprise: "企业", person: "个人" };

export const deductions = recordTab({
  key: "deductions",
  list: {
    path: "/api/st/deductions",
    items: "deductions",
    filters: (ctx) => [districtField(ctx),
      { name: "subject_kind", label: "对象类型", type: "select", choices: options(SUBJECTS, "全部") },
      { name: "subject_code", label: "信用代码/身份证号", placeholder: "精确匹配" },
      { name: "from", label: "发生日期从", type: "date" }, { name: "to", label: "至", type: "date" }],
    columns: (ctx, names) => [
      { label: "发生日期", className: "nowrap", render: (r) => r.occurred_on },
      { label: "工地", render: (r) => names[r.site_id] || `工地 ${r.site_id}` },
      { label: "区县", render: (r) => r.district },
      { label: "减分项", render: (r) => r.item_name },
      { label: "对象", render: (r) => `${r.subject_kind_title}：${r.subject_name}` },
      { label: "代码", className: "nowrap", render: (r) => r.subject_code },
      { label: "扣分", render: (r) => h("span", { class: "red" }, `-${r.points}`) },
      { label: "原因", className: "content", render: (r) => r.reason },
      { label: "登记人", render: (r) => r.created_by },
    ],
  },
  create: {
    permission: "site.deduct",
    label: "登记减分项",
    open: async (ctx, opened) => {
      const items = (await api("/api/st/config/catalog", { query: { kind: "deduction" } })).items;
      formDialog("登记减分项（同时记入信用档案）", [await siteField(),
        { name: "item_code", label: "减分项", type: "select", required: true, choices: items.map((i) => [i.code, `${i.name}（扣 ${i.points ?? 0} 分）`]) },
        { name: "subject_kind", label: "对象类型", type: "select", required: true, choices: options(SUBJECTS) },
        { name: "subject_code", label: "统一社会信用代码或身份证号", required: true },
        { name: "subject_name", label: "企业或个人名称", required: true },
        { name: "occurred_on", label: "发生日期", type: "date", required: true, value: today() },
        { name: "reason", label: "事由", type: "textarea", required: true, rows: 3 },
      ], async (v) => {
        const r = await api(`/api/st/sites/${v.site_id}/deductions`, { method: "POST", body: { ...v, site_id: undefined } });
        toast("减分项已登记。");
        opened(r.id);
      }, { submit: "登记", wide: true });
    },
  },
  detail: {
    path: (id) => `/api/st/deductions/${id}`,
    title: (r) => `减分记录 ${r.id} · ${r.item_name}`,
    fields: (r) => [["项目", `${r.site_code} ${r.site_name}`], ["区县", r.district], ["减分项", `${r.item_code} ${r.item_name}`], ["扣分", r.points],
      ["对象类型", r.subject_kind_title], ["对象", r.subject_name], ["代码", r.subject_code], ["发生日期", r.occurred_on],
      ["登记", `${r.created_by} ${fmtTime(r.created_at)}`]],
    sections: (r) => section("事由", h("p", { class: "prewrap" }, r.reason)),
  },
});

// -- 阶段考评 ----------------------------------------------------------------------------------------------

const STAGES = { foundation: "地基基础", main_structure: "主体结构", decoration: "装饰装修" };
const fence = (r) => (r.inside_fence === null || r.inside_fence === undefined ? "—"
  : r.inside_fence ? "围栏内" : h("span", { class: "red" }, `围栏外 ${Math.round(r.distance_m ?? 0)} 米`));

export const stages = recordTab({
  key: "stages",
  list: {
    path: "/api/st/stages",
    items: "stages",
    note: () => "阶段考评须在工地现场用手机端（/m）登记（定位须在电子围栏内）；这里查看登记结果和扫描件。",
    filters: (ctx) => [districtField(ctx), { name: "stage", label: "阶段", type: "select", choices: options(STAGES, "全部") }],
    columns: (ctx, names) => [
      { label: "工地", render: (r) => names[r.site_id] || `工地 ${r.site_id}` },
      { label: "区县", render: (r) => r.district },
      { label: "阶段", render: (r) => r.stage_title },
      { label: "考评日期", render: (r) => r.evaluated_on },
      { label: "结果", render: (r) => r.result },
      { label: "得分", render: (r) => dash(r.score) },
      { label: "登记位置", render: fence },
      { label: "登记人", render: (r) => r.created_by },
    ],
  },
  detail: {
    path: (id) => `/api/st/stages/${id}`,
    title: (r) => `阶段考评 · ${r.stage_title}`,
    fields: (r) => [["项目", `${r.site_code} ${r.site_name}`], ["区县", r.district], ["阶段", r.stage_title], ["考评日期", r.evaluated_on],
      ["结果", r.result], ["得分", r.score], ["登记位置", fence(r)], ["登记", `${r.created_by} ${fmtTime(r.created_at)}`]],
    sections: (r) => [...section("备注", h("p", { class: "prewrap" }, r.remarks || "无")),
      ...section(`扫描件（${r.photos.length}）`, photoGrid(r.photos))],
  },
});

// -- 通知公告 ----------------------------------------------------------------------------------------------

const KINDS = { notice: "通知", announcement: "公告", disclosure: "公示" };

function noticeFields(ctx, n = {}) {
  const mine = ctx.cityWide ? DISTRICTS : DISTRICTS.filter((d) => d === ctx.me.district);
  return [
    { name: "kind", label: "类别", type: "select", choices: options(KINDS), value: n.kind || "notice" },
    { name: "title", label: "标题", required: true, value: n.title },
    { name: "body", label: "正文", type: "textarea", required: true, rows: 8, value: n.body },
    { name: "district", label: "范围", type: "select", value: n.id ? (n.district || "") : (ctx.cityWide ? "" : ctx.me.district || ""),
      choices: ctx.cityWide ? options(mine, "全市") : options(mine) },
    { name: "public", label: "对外公开（公示页面可见）", type: "checkbox", value: n.public },
  ];
}

export const notices = recordTab({
  key: "notices",
  states: { draft: "草稿", published: "已发布" }, // the detail's history names them (publish, withdraw)
  actionTitles: { publish: "发布", unpublish: "撤回" },
  list: {
    path: "/api/st/notices",
    items: "notices",
    filters: (ctx) => [{ name: "kind", label: "类别", type: "select", choices: options(KINDS, "全部") }, districtField(ctx, "区县", "全部")],
    columns: () => [
      { label: "标题", render: (r) => r.title },
      { label: "类别", render: (r) => r.kind_title },
      { label: "范围", render: (r) => r.scope_title },
      { label: "公开", render: (r) => yesNo(r.public) },
      { label: "状态", render: (r) => (r.published ? "已发布" : h("span", { class: "tag warn" }, "草稿")) },
      { label: "发布时间", className: "nowrap", render: (r) => fmtTime(r.published_at) },
      { label: "发布人", render: (r) => r.created_by },
    ],
  },
  create: {
    permission: "site.notice",
    label: "新建通知公告",
    open: (ctx, opened) => formDialog("新建通知公告", [...noticeFields(ctx),
      { name: "publish", label: "立即发布", type: "checkbox", value: false }], async (v) => {
      const n = await api("/api/st/notices", { method: "POST", body: { ...v, district: v.district || null } });
      toast(v.publish ? "已发布。" : "已保存为草稿。");
      opened(n.id);
    }, { wide: true, submit: "保存" }),
  },
  detail: {
    path: (id) => `/api/st/notices/${id}`,
    title: (r) => r.title,
    fields: (r) => [["类别", r.kind_title], ["范围", r.scope_title], ["对外公开", yesNo(r.public)],
      ["状态", r.published ? "已发布" : "草稿"], ["发布时间", fmtTime(r.published_at)], ["发布人", r.created_by]],
    sections: (r) => section("正文", h("div", { class: "prewrap" }, r.body)),
    tools: (r, ctx, refresh) => {
      if (!ctx.can("site.notice")) return [];
      const post = (action) => async () => {
        await api(`/api/st/notices/${r.id}/${action}${queryString({ version: r.version })}`, { method: "POST" });
        await refresh();
        toast(action === "publish" ? "已发布。" : "已撤回。");
      };
      return [
        h("button", { type: "button", class: "btn primary", onclick: () => formDialog(r.published ? "撤回" : "发布", [],
          post(r.published ? "unpublish" : "publish"), { note: r.published ? "撤回后读者将看不到这条通知公告。" : "发布后读者即可看到。" }) },
        r.published ? "撤回" : "发布"),
        h("button", { type: "button", class: "btn", onclick: () => formDialog("修改通知公告", noticeFields(ctx, r), async (v) => {
          await api(`/api/st/notices/${r.id}`, { method: "PUT", body: { ...v, district: v.district || null, version: r.version } });
          await refresh();
          toast("已保存。");
        }, { wide: true, submit: "保存" }) }, "修改"),
        h("button", { type: "button", class: "btn danger", onclick: () => formDialog("删除通知公告", [], async () => {
          await api(`/api/st/notices/${r.id}${queryString({ version: r.version })}`, { method: "DELETE" });
          toast("已删除。");
          location.hash = "notices";
        }, { note: `确定删除「${r.title}」？`, submit: "删除" }) }, "删除"),
      ];
    },
  },
});

// -- 专家库 ------------------------------------------------------------------------------------------------

const GROUPS = ["房屋建筑", "市政基础设施", "轨道交通", "水利", "其他"];

// An existing expert's ID number and phone come masked: the edit form shows the mask as a placeholder and sends a
// number only when one is typed (blank keeps the stored one).
function expertFields(e = {}) {
  const keep = e.id ? "不修改请留空" : undefined;
  return [
    { name: "name", label: "姓名", required: true, value: e.name },
    { name: "id_number", label: "身份证号", required: !e.id, placeholder: e.id_number, hint: keep },
    { name: "phone", label: "手机号", type: "tel", required: !e.id, placeholder: e.phone, hint: keep },
    { name: "group_name", label: "分组", type: "select", required: true, choices: options(GROUPS), value: e.group_name },
    { name: "specialties", label: "专业", value: (e.specialties || []).join("、"), hint: "多个专业用顿号或逗号分隔" },
    { name: "title", label: "职称", value: e.title },
    { name: "enterprise_name", label: "工作单位", value: e.enterprise_name },
    { name: "enterprise_uscc", label: "单位统一社会信用代码", value: e.enterprise_uscc, hint: "抽取时回避本单位参建的项目" },
    { name: "available", label: "可参加评审", type: "checkbox", value: e.available ?? true },
    { name: "unavailable_reason", label: "不可用原因", value: e.unavailable_reason },
  ];
}

const expertBody = (v) => blankToNull({ ...v, specialties: String(v.specialties || "").split(/[,，、;；/\s]+/).filter(Boolean) });
const expertChanges = (v) => {
  const out = expertBody(v);
  for (const k of ["id_number", "phone"]) if (out[k] == null) delete out[k];
  return out;
};

async function showUnmasked(e) {
  const clear = await api(`/api/st/experts/${e.id}/unmask`, { method: "POST" });
  dialog(`专家「${e.name}」个人信息`, h("div", { class: "detail", "data-expert": e.id },
    h("p", {}, "身份证号：", h("span", { class: "mono", id: "x-id-number" }, clear.id_number)),
    h("p", {}, "手机号：", h("span", { class: "mono", id: "x-phone" }, clear.phone)),
    h("p", { class: "hint" }, "本次查看已记入操作日志。")));
}

function importDialog(list) {
  const report = h("div");
  const form = new Form([
    { name: "file", label: "Excel 文件（.xlsx，第 1 行为表头：姓名、身份证号、手机号、分组、专业……）", type: "file", accept: ".xlsx", required: true },
    { name: "mode", label: "方式", type: "select", choices: [["dry_run", "试导入（只检查，不保存）"], ["commit", "正式导入（全部通过才保存）"]] },
  ], {
    submit: "上传",
    onSubmit: async (v) => {
      if (!v.file) throw Object.assign(new Error("请选择文件。"), { field: "file" });
      const data = new FormData();
      data.append("file", v.file);
      let out;
      try {
        out = await api(`/api/st/experts/import${queryString({ mode: v.mode })}`, { method: "POST", form: data });
      } catch (e) {
        if (e.code === "import_rejected") show(e.detail);
        throw e;
      }
      show(out);
      if (v.mode === "commit") {
        await list.reload();
        toast(`已导入：新增 ${out.created}，更新 ${out.updated}。`);
      }
    },
  });
  function show(r) {
    report.replaceChildren(h("div", {}, h("p", {}, `${r.mode === "commit" ? "正式导入" : "试导入"}：共 ${r.rows} 行，新增 ${r.created}，更新 ${r.updated}，`,
      r.errors.length ? h("span", { class: "red" }, `${r.errors.length} 行未通过`) : "全部通过"),
    r.errors.length ? table([{ label: "行", render: (e) => e.row }, { label: "列", render: (e) => e.column || "" },
      { label: "问题", render: (e) => e.message }], r.errors) : null));
  }
  dialog("导入专家", h("div", {}, form.el, report), { wide: true });
}

export const experts = recordTab({
  key: "experts",
  list: {
    path: "/api/st/experts",
    items: "experts",
    filters: () => [{ name: "q", label: "关键字", placeholder: "姓名、单位、职称，或完整手机号、身份证号" },
      { name: "group", label: "分组", type: "select", choices: options(GROUPS, "全部") },
      { name: "specialty", label: "专业" },
      { name: "available", label: "是否可用", type: "select", choices: [["", "全部"], ["true", "可用"], ["false", "不可用"]] }],
    columns: (ctx) => [
      { label: "姓名", render: (e) => (e.person_id ? h("a", { href: `/records/persons/${e.person_id}`, title: "人员库记录" }, e.name) : e.name) },
      { label: "分组", render: (e) => e.group_name },
      { label: "专业", render: (e) => e.specialties.join("、") },
      { label: "工作单位", render: (e) => e.enterprise_name },
      { label: "职称", render: (e) => e.title },
      { label: "手机", render: (e) => e.phone },
      { label: "可用", render: (e) => (e.available ? "是" : h("span", { class: "red" }, `否${e.unavailable_reason ? `（${e.unavailable_reason}）` : ""}`)) },
      { label: "账号", render: (e) => e.username },
      { label: "操作", className: "actions", render: (e) => buttons(
        ...(ctx.can("person.unmask") ? [["明文", () => showUnmasked(e).catch((err) => toast(err.message, "error"))]] : []),
        ["修改", () => formDialog(`修改专家「${e.name}」`, expertFields(e), async (v) => {
          await api(`/api/st/experts/${e.id}`, { method: "PATCH", body: { ...expertChanges(v), version: e.version } });
          await ctx.lists.experts.reload();
          toast("已保存。");
        }, { wide: true, submit: "保存" })],
        ["删除", () => formDialog("删除专家", [], async () => {
          await api(`/api/st/experts/${e.id}`, { method: "DELETE" });
          await ctx.lists.experts.reload();
          toast("已删除。");
        }, { note: `确定把「${e.name}」移出专家库？历史评审记录保留。`, submit: "删除" }), "danger"]) },
    ],
    buttons: (ctx, list) => {
      ctx.lists.experts = list;
      return [
        h("button", { type: "button", class: "btn primary", onclick: () => formDialog("新增专家", expertFields(), async (v) => {
          await api("/api/st/experts", { method: "POST", body: expertBody(v) });
          list.offset = 0;
          await list.reload();
          toast("已新增专家。");
        }, { wide: true, submit: "保存" }) }, "新增专家"),
        h("button", { type: "button", class: "btn", onclick: () => importDialog(list) }, "导入 Excel"),
        h("button", { type: "button", class: "btn", onclick: () => {
          window.location.href = `/api/st/experts/export${queryString(list.filters.values())}`;
        } }, "导出 Excel"),
      ];
    },
  },
});

// -- 配置 --------------------------------------------------------------------------------------------------

const CATALOG_KINDS = { photo: "拍照清单", form_field: "月报表单字段", bonus: "加分项", deduction: "减分项", score_item: "专家评分项" };

function itemFields(kind, i = {}) {
  return [
    { name: "name", label: "名称", required: true, value: i.name },
    kind === "photo" ? { name: "part", label: "工地部位", value: i.part } : null,
    ["bonus", "deduction", "score_item"].includes(kind) ? { name: "points", label: kind === "score_item" ? "满分" : "分值", type: "number", min: 0, max: 100, step: "any", value: i.points } : null,
    kind === "form_field" ? { name: "field_type", label: "字段类型", type: "select", choices: [["text", "文本"], ["int", "整数"]], value: i.field_type || "text" } : null,
    { name: "sort", label: "排序", type: "number", value: i.sort },
    { name: "required", label: kind === "photo" ? "必拍" : "必填", type: "checkbox", value: i.required },
  ].filter(Boolean);
}

export const config = recordTab({
  key: "config",
  list: {
    filters: () => [{ name: "kind", label: "配置类别", type: "select", choices: options(CATALOG_KINDS), value: "photo" },
      { name: "include_inactive", label: "含已停用", type: "checkbox", value: true }],
    note: () => "修改保存时会核对您读取时的版本，他人已改过则提示刷新。已被使用的配置项删除时改为停用，历史记录保留。评审轮次在「抽取」栏目中配置。",
    load: (ctx) => async (q, limit, offset) => {
      const data = await api("/api/st/config/catalog", { query: { kind: q.kind, include_inactive: q.include_inactive } });
      return { items: data.items.slice(offset, offset + limit), total: data.items.length };
    },
    columns: (ctx) => [
      { label: "编码", render: (i) => i.code },
      { label: "名称", render: (i) => i.name },
      { label: "部位", render: (i) => i.part || "" },
      { label: "分值", render: (i) => dash(i.points) },
      { label: "必填/必拍", render: (i) => yesNo(i.required) },
      { label: "字段类型", render: (i) => ({ text: "文本", int: "整数" }[i.field_type] || "") },
      { label: "排序", render: (i) => i.sort },
      { label: "状态", render: (i) => (i.active ? "启用" : h("span", { class: "tag off" }, "停用")) },
      { label: "版本", render: (i) => i.version },
      { label: "操作", className: "actions", render: (i) => buttons(
        ["修改", () => formDialog(`修改「${i.name}」（${i.code}）`, [...itemFields(i.kind, i),
          { name: "active", label: "启用", type: "checkbox", value: i.active }], async (v) => {
          await api(`/api/st/config/catalog/${i.id}`, { method: "PUT", body: { ...blankToNull(v), version: i.version } });
          await ctx.lists.config.reload();
          toast("已保存。");
        }, { submit: "保存" })],
        ["删除", () => formDialog("删除配置项", [], async () => {
          const out = await api(`/api/st/config/catalog/${i.id}${queryString({ version: i.version })}`, { method: "DELETE" });
          await ctx.lists.config.reload();
          toast(out.message);
        }, { note: `确定删除「${i.name}」？已被使用的将改为停用。`, submit: "删除" }), "danger"]) },
    ],
    buttons: (ctx, list) => {
      ctx.lists.config = list;
      return [h("button", { type: "button", class: "btn primary", onclick: () => {
        const kind = list.filters.values().kind;
        formDialog(`新增${CATALOG_KINDS[kind]}`, [{ name: "code", label: "编码", required: true, hint: "字母、数字、下划线或短横线" },
          ...itemFields(kind)], async (v) => {
          await api("/api/st/config/catalog", { method: "POST", body: { ...blankToNull(v), kind } });
          await list.reload();
          toast("已新增。");
        }, { submit: "保存" });
      } }, "新增配置项")];
    },
  },
});
