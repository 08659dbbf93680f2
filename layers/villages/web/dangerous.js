// The dangerous-house workbench (/villages/dangerous): the overview of the stock and of this year's governance (all
// houses, or the families in difficulty alone), the archive (search, entry by form and Excel for the account's own
// county, the Excel export, a house's record with its governance reports and the report of a new stage), the
// statistics by any field, and the governance dynamics (the counties' reports per month, stalled houses, and the
// monthly analysis briefs). The address keeps the tab (#overview, #archive, #stats, #dynamics).
import { api } from "/static/console/http.js";
import { workbench } from "/static/console/workbench.js";
import { Form, ListView, dash, dialog, fmtTime, formDialog, h, options, table, toast } from "/static/console/ui.js";

const API = "/api/villages/dangerous";
const $ = (id) => document.getElementById(id);
const DISTRICTS = ["上城区", "拱墅区", "西湖区", "滨江区", "萧山区", "余杭区", "临平区", "钱塘区", "富阳区", "临安区",
  "桐庐县", "淳安县", "建德市"];
const GRADES = ["A", "B", "C", "D"];
const STRUCTURES = ["砖混", "砖木", "框架", "木结构", "土木", "石结构", "其他"];
const thisYear = new Date().getFullYear();
const BY = { district: "区县", township: "乡镇街道", grade: "危险等级", structure: "结构类型", floors: "层数",
  method: "治理方式", stage: "治理阶段", year: "治理年度", family: "困难家庭类别" };

const TABS = [
  ["overview", "总览", "farmhouse.view", overview],
  ["archive", "危房档案", "farmhouse.view", archive],
  ["stats", "统计分析", "farmhouse.view", stats],
  ["dynamics", "治理动态", "farmhouse.view", dynamics],
  ["options", "选项配置", "danger.options", optionsTab],
];

const num = (v) => (v === null || v === undefined ? "—" : Number(v).toLocaleString("zh-CN"));
const gradeTag = (g) => h("span", { class: `grade g-${g}` }, g);
const kv = (pairs) => h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, dash(v))]));
const pairs = (list) => list.map((o) => [o.code, o.name]);

function chart(el, option) {
  const c = window.echarts?.init(el);
  c?.setOption(option);
  if (c) el.dataset.ready = "1";
  return c;
}

// -- overview -----------------------------------------------------------------------------------------------------

async function overview(pane) {
  const holder = h("div");
  const form = new Form([
    { name: "year", label: "治理年度", type: "number", value: thisYear, min: 2000, max: 2100 },
    { name: "difficult", label: "仅困难家庭", type: "checkbox" },
  ], { submit: "查看", className: "filters", onSubmit: (v) => load(v) });
  pane.append(form.el, holder);
  async function load(v) {
    const query = { year: v.year || thisYear };
    if (v.difficult) query.difficult = true;
    const d = await api(`${API}/overview`, { query });
    const s = d.stock;
    const t = d.this_year;
    const fig = (value, label, id) => h("div", { class: "figure", id },
      h("b", {}, typeof value === "string" ? value : num(value)), h("span", {}, label));
    const charts = [h("div", { class: "chart", id: "chart-districts" }), h("div", { class: "chart", id: "chart-stages" })];
    const mapQuery = new URLSearchParams(v.difficult ? { difficult: "true" } : {}).toString();
    holder.replaceChildren(
      h("h3", {}, v.difficult ? "困难家庭危房存量" : "危房存量"),
      h("div", { class: "figures" },
        fig(s.total, "危房总数", "fig-total"), fig(s.b, "B 级"), fig(s.c, "C 级"), fig(s.d, "D 级"),
        fig(s.governed, "已完成治理", "fig-governed"), fig(s.difficult, "其中困难家庭", "fig-difficult")),
      h("h3", {}, `${d.year}年度治理`),
      h("div", { class: "figures" },
        fig(t.total, "本年度治理任务", "fig-year"), fig(t.done, "已完成"), fig(t.done_pct === null ? "—" : `${t.done_pct}%`, "完成率", "fig-pct")),
      h("div", { class: "charts" }, charts),
      h("h3", {}, "危房分布"),
      h("img", { class: "mapimg", id: "map", alt: "危房分布图", src: `${API}/map.svg${mapQuery ? `?${mapQuery}` : ""}` }));
    chart(charts[0], {
      title: { text: "各区县危房（按治理情况）", left: "center", textStyle: { fontSize: 14 } }, tooltip: { trigger: "axis" },
      legend: { bottom: 0 }, grid: { left: 50, right: 20, top: 40, bottom: 70 },
      xAxis: { type: "category", data: d.districts.map((x) => x.district), axisLabel: { rotate: 40 } }, yAxis: { type: "value" },
      series: [
        { name: "已治理", type: "bar", stack: "a", data: d.districts.map((x) => x.governed) },
        { name: "未完成治理", type: "bar", stack: "a", data: d.districts.map((x) => x.total - x.governed) },
      ],
    });
    chart(charts[1], {
      title: { text: `${d.year}年度治理阶段`, left: "center", textStyle: { fontSize: 14 } }, tooltip: { trigger: "item" },
      series: [{ type: "pie", radius: ["35%", "65%"], data: t.by_stage.map((x) => ({ name: x.name, value: x.n })) }],
    });
  }
  await load({ year: thisYear, difficult: false });
}

// -- archive ------------------------------------------------------------------------------------------------------

function filterFields(opts, ctx) {
  return [
    ...(ctx.me.district ? [] : [{ name: "district", label: "区县", type: "select", choices: options(DISTRICTS, "全部") }]),
    { name: "township", label: "乡镇街道" },
    { name: "village", label: "行政村" },
    { name: "owner", label: "户主姓名" },
    { name: "grade", label: "危险等级", type: "select", choices: options(GRADES, "全部") },
    { name: "structure", label: "结构类型", type: "select", choices: options(STRUCTURES, "全部") },
    { name: "floors", label: "层数", type: "number", min: 1, max: 10 },
    { name: "method", label: "治理方式", type: "select", choices: options(pairs(opts.method), "全部") },
    { name: "stage", label: "治理阶段", type: "select", choices: options(pairs(opts.stage), "全部") },
    { name: "year", label: "治理年度", type: "number", min: 2000, max: 2100 },
    { name: "family", label: "困难家庭", type: "select", choices: options([["*", "全部困难家庭"], ...pairs(opts.family)], "不限") },
  ];
}

function toQuery(v) {
  const q = { ...v };
  if (q.family === "*") { q.difficult = true; delete q.family; }
  return q;
}

const COLUMNS = [
  { label: "危房编号", render: (r) => r.code },
  { label: "区县", render: (r) => r.district },
  { label: "乡镇街道", render: (r) => dash(r.township) },
  { label: "行政村", render: (r) => dash(r.village) },
  { label: "户主", render: (r) => r.owner_name },
  { label: "等级", render: (r) => gradeTag(r.grade) },
  { label: "结构", render: (r) => dash(r.structure) },
  { label: "层数", render: (r) => dash(r.floors) },
  { label: "治理方式", render: (r) => dash(r.method_name) },
  { label: "治理阶段", render: (r) => r.stage_name },
  { label: "年度", render: (r) => r.year },
  { label: "困难家庭", render: (r) => dash(r.family_name) },
];

async function archive(pane, ctx) {
  const opts = ctx.options;
  const exportLink = h("a", { class: "btn", id: "export", href: `${API}/export.xlsx` }, "导出 Excel");
  const buttons = [];
  if (ctx.can("farmhouse.edit")) buttons.push(h("button", { type: "button", class: "btn", id: "new-house", onclick: () => entry(ctx, list) }, "录入危房"));
  if (ctx.can("farmhouse.import")) buttons.push(h("button", { type: "button", class: "btn", id: "import", onclick: () => importDialog(list) }, "导入 Excel"));
  if (ctx.can("farmhouse.export")) buttons.push(exportLink);
  const list = new ListView({
    filters: filterFields(opts, ctx),
    columns: COLUMNS,
    buttons,
    empty: "没有符合条件的危房。",
    onRow: (r) => record(ctx, r.id, list),
    load: async (v, limit, offset) => {
      const query = { ...toQuery(v), size: limit, page: Math.floor(offset / limit) + 1 };
      exportLink.href = `${API}/export.xlsx?${new URLSearchParams(Object.entries(toQuery(v)).filter(([, x]) => x !== "" && x !== null)).toString()}`;
      return api(API, { query });
    },
  });
  pane.append(list.el);
  await list.go(0);
}

function houseFields(ctx, r = {}) {
  const opts = ctx.options;
  return [
    ...(r.id ? [] : [{ name: "code", label: "危房编号", required: true }]),
    ...(r.id ? [] : [{ name: "district", label: "区县", type: "select", choices: options(ctx.me.district ? [ctx.me.district] : DISTRICTS), value: ctx.me.district, required: true }]),
    { name: "farmhouse_code", label: "农房编号（关联农房，可不填）", value: r.farmhouse_code },
    { name: "township", label: "乡镇街道", value: r.township },
    { name: "village", label: "行政村", value: r.village },
    { name: "address", label: "地址", value: r.address },
    { name: "lon", label: "经度", type: "number", step: "any", value: r.lon },
    { name: "lat", label: "纬度", type: "number", step: "any", value: r.lat },
    ...(r.id ? [] : [
      { name: "owner_name", label: "户主姓名", required: true },
      { name: "owner_id_number", label: "身份证号" },
      { name: "owner_phone", label: "联系电话" },
    ]),
    { name: "grade", label: "危险等级", type: "select", choices: options(GRADES), value: r.grade || "C", required: true },
    { name: "appraised_on", label: "鉴定日期", type: "date", value: r.appraised_on },
    { name: "structure", label: "结构类型", type: "select", choices: options(STRUCTURES, "未填写"), value: r.structure },
    { name: "floors", label: "层数", type: "number", min: 1, max: 10, value: r.floors },
    { name: "built_year", label: "建成年份", type: "number", min: 1900, max: 2100, value: r.built_year },
    { name: "method", label: "治理方式", type: "select", choices: options(pairs(opts.method.filter((o) => o.active)), "未定"), value: r.method },
    ...(r.id ? [] : [{ name: "stage", label: "治理阶段", type: "select", choices: options(pairs(opts.stage.filter((o) => o.active))), required: true }]),
    { name: "year", label: "治理年度", type: "number", min: 2000, max: 2100, value: r.year || thisYear, required: true },
    { name: "family", label: "困难家庭类别", type: "select", choices: options(pairs(opts.family.filter((o) => o.active)), "非困难家庭"), value: r.family },
  ];
}

function cleaned(v) {
  const out = {};
  for (const [k, x] of Object.entries(v)) out[k] = x === "" ? null : x;
  return out;
}

function entry(ctx, list) {
  formDialog("录入危房", houseFields(ctx), async (v) => {
    const r = await api(API, { method: "POST", body: cleaned(v) });
    toast(`已录入危房 ${r.code}。`);
    await list.go(0);
  }, { submit: "保存", wide: true });
}

function importDialog(list) {
  const out = h("div", { class: "report", id: "import-report" });
  const form = new Form([
    { name: "file", label: "Excel 文件（.xlsx，第 1 行为表头）", type: "file", accept: ".xlsx", required: true },
    { name: "mode", label: "方式", type: "select", choices: [["dry_run", "试导入（只检查）"], ["commit", "正式导入"]] },
  ], {
    submit: "上传",
    onSubmit: async (v) => {
      const data = new FormData();
      if (v.file) data.append("file", v.file);
      try {
        const r = await api(`${API}/import`, { method: "POST", form: data, query: { mode: v.mode } });
        out.textContent = `${r.mode === "commit" ? "已导入" : "检查通过"}：共 ${r.rows} 行，新增 ${r.created} 条，更新 ${r.updated} 条。`;
        if (r.mode === "commit") await list.go(0);
      } catch (e) {
        const errors = e.detail?.errors || [];
        out.textContent = [e.message, ...errors.map((x) => x.message)].join("\n");
      }
    },
  });
  dialog("导入危房档案", h("div", {}, h("p", { class: "note" },
    h("a", { href: `${API}/template.xlsx` }, "下载导入模板"), "（治理方式、治理阶段、困难家庭类别填中文名称；任一行有误则整批不导入）"), form.el, out), { wide: true });
}

async function record(ctx, id, list) {
  const r = await api(`${API}/${id}`);
  const owner = h("span", { id: "owner" }, `${r.owner_name}　${dash(r.owner_id_number)}　${dash(r.owner_phone)}`);
  const body = h("div", { class: "detail", id: "house" });
  const reveal = r.can_unmask ? h("button", { type: "button", class: "btn small", id: "unmask", onclick: async () => {
    const x = await api(`${API}/${id}/unmask`, { method: "POST" });
    owner.textContent = `${x.owner_name}　${dash(x.owner_id_number)}　${dash(x.owner_phone)}`;
  } }, "查看明文") : null;
  body.append(
    kv([["危房编号", r.code], ["农房编号", r.farmhouse_code], ["区县", r.district], ["乡镇街道", r.township],
      ["行政村", r.village], ["地址", r.address], ["危险等级", gradeTag(r.grade)], ["鉴定日期", r.appraised_on],
      ["结构类型", r.structure], ["层数", r.floors], ["建成年份", r.built_year], ["治理方式", r.method_name],
      ["治理阶段", r.stage_name], ["阶段日期", r.stage_on], ["治理年度", r.year], ["困难家庭", r.family_name]]),
    h("p", {}, "户主：", owner, " ", reveal),
    h("h3", {}, "治理进度上报"),
    table([
      { label: "阶段", render: (x) => x.stage_name },
      { label: "日期", render: (x) => x.reported_on },
      { label: "治理方式", render: (x) => dash(x.method_name) },
      { label: "说明", render: (x) => dash(x.note) },
      { label: "上报人", render: (x) => x.created_by },
      { label: "上报时间", render: (x) => fmtTime(x.created_at) },
    ], r.reports, "尚无上报。"));
  const d = dialog(`危房 ${r.code}`, body, { wide: true });
  if (!ctx.can("farmhouse.edit")) return;
  const later = ctx.options.stage.filter((o) => o.active);
  const form = new Form([
    { name: "stage", label: "到达阶段", type: "select", choices: pairs(later), required: true },
    { name: "reported_on", label: "日期", type: "date", value: new Date().toISOString().slice(0, 10), required: true },
    { name: "method", label: "治理方式", type: "select", choices: options(pairs(ctx.options.method.filter((o) => o.active)), "不变"), value: r.method },
    { name: "note", label: "说明", type: "textarea", rows: 2 },
  ], {
    submit: "上报进度",
    onSubmit: async (v) => {
      await api(`${API}/${id}/reports`, { method: "POST", body: cleaned(v) });
      toast("治理进度已上报。");
      d.close();
      await list.go(list.offset);
      await record(ctx, id, list);
    },
  });
  const edit = h("button", { type: "button", class: "btn small", id: "edit", onclick: () => {
    d.close();
    formDialog(`修改危房 ${r.code}`, houseFields(ctx, r), async (v) => {
      await api(`${API}/${id}`, { method: "PATCH", body: { ...cleaned(v), version: r.version } });
      toast("已保存。");
      await list.go(list.offset);
    }, { submit: "保存", wide: true });
  } }, "修改档案");
  body.append(h("h3", {}, "上报治理进度"), form.el, h("div", { class: "toolbar" }, edit));
}

// -- statistics ---------------------------------------------------------------------------------------------------

async function stats(pane, ctx) {
  const holder = h("div");
  const form = new Form([
    { name: "by", label: "统计维度", type: "select", choices: options(BY), value: ctx.me.district ? "township" : "district" },
    ...filterFields(ctx.options, ctx),
  ], { submit: "统计", className: "filters", onSubmit: (v) => load(v) });
  pane.append(form.el, holder);
  async function load(v) {
    const d = await api(`${API}/statistics`, { query: toQuery(v) });
    const el = h("div", { class: "chart", id: "chart-stats" });
    holder.replaceChildren(table([
      { label: d.title, render: (x) => x.label },
      { label: "危房数", render: (x) => num(x.total) },
      { label: "A级", render: (x) => num(x.a) },
      { label: "B级", render: (x) => num(x.b) },
      { label: "C级", render: (x) => num(x.c) },
      { label: "D级", render: (x) => num(x.d) },
      { label: "已治理", render: (x) => num(x.governed) },
      { label: "困难家庭", render: (x) => num(x.difficult) },
    ], [...d.items, { ...d.total, label: "合计" }]), el);
    chart(el, {
      tooltip: { trigger: "axis" }, legend: { bottom: 0 }, grid: { left: 50, right: 20, top: 20, bottom: 70 },
      xAxis: { type: "category", data: d.items.map((x) => String(x.label)), axisLabel: { rotate: 40 } }, yAxis: { type: "value" },
      series: [["B级", "b"], ["C级", "c"], ["D级", "d"]].map(([name, k]) => ({ name, type: "bar", stack: "g", data: d.items.map((x) => x[k]) })),
    });
  }
  await load(form.values());
}

// -- dynamics -----------------------------------------------------------------------------------------------------

async function dynamics(pane, ctx) {
  const holder = h("div");
  const form = new Form([
    { name: "year", label: "年度", type: "number", value: thisYear, min: 2000, max: 2100 },
    { name: "difficult", label: "仅困难家庭", type: "checkbox" },
  ], { submit: "查询", className: "filters", onSubmit: (v) => load(v.year || thisYear, v.difficult) });
  pane.append(form.el, holder);
  async function load(year, difficult = false) {
    const d = await api(`${API}/reports/statistics`, { query: { year, difficult: difficult ? true : null } });
    const el = h("div", { class: "chart", id: "chart-months" });
    holder.replaceChildren(
      h("p", { class: "note" }, `统计截至 ${d.as_of}；停滞：本年度治理任务中未完成且 ${d.stall_days} 天未推进的危房。`),
      table([
        { label: "区县", render: (x) => x.district },
        ...Array.from({ length: 12 }, (_, i) => ({ label: `${i + 1}月`, render: (x) => x.months[i] })),
        { label: "上报合计", render: (x) => x.reports },
        { label: "本年度任务", render: (x) => x.planned },
        { label: "停滞", render: (x) => (x.stalled ? h("span", { class: "late" }, x.stalled) : 0) },
        { label: "从未上报", render: (x) => x.unreported },
      ], d.rows, "本年度没有上报。"), el);
    chart(el, {
      title: { text: `${year}年 各月治理进度上报数`, left: "center", textStyle: { fontSize: 14 } }, tooltip: { trigger: "axis" },
      legend: { bottom: 0, type: "scroll" }, grid: { left: 50, right: 20, top: 40, bottom: 60 },
      xAxis: { type: "category", data: Array.from({ length: 12 }, (_, i) => `${i + 1}月`) }, yAxis: { type: "value" },
      series: d.rows.map((x) => ({ name: x.district, type: "line", data: x.months })),
    });
    await briefs(holder, ctx);
  }
  await load(thisYear);
}

async function briefs(holder, ctx) {
  const box = h("div", { id: "briefs" });
  holder.append(h("h3", {}, "分析简报"), box);
  const render = async () => {
    const d = await api(`${API}/briefs`);
    box.replaceChildren(table([
      { label: "月份", render: (b) => b.month },
      { label: "范围", render: (b) => b.district || "全市" },
      { label: "生成时间", render: (b) => fmtTime(b.created_at) },
      { label: "生成人", render: (b) => b.created_by },
      { label: "下载", render: (b) => h("a", { href: `${API}/briefs/${b.id}.pdf`, class: "brief-link" }, "PDF") },
    ], d.items, "尚未生成简报。"));
    if (ctx.can("danger.brief")) {
      const last = new Date(new Date().getFullYear(), new Date().getMonth() - 1, 1);
      const month = `${last.getFullYear()}-${String(last.getMonth() + 1).padStart(2, "0")}`;
      const form = new Form([
        { name: "month", label: "月份", type: "month", value: month, required: true },
        ...(ctx.me.district ? [] : [{ name: "district", label: "范围", type: "select", choices: options(DISTRICTS, "全市") }]),
      ], {
        submit: "生成简报",
        onSubmit: async (v) => {
          await api(`${API}/briefs`, { method: "POST", body: { month: v.month, district: v.district || ctx.me.district || null } });
          toast("简报已生成。");
          await render();
        },
      });
      box.append(form.el);
    }
  };
  await render();
}

// -- the configurable lists (administrators) ------------------------------------------------------------------

async function optionsTab(pane, ctx) {
  const opts = await api(`${API}/options`);
  ctx.options = opts;
  const edit = (kind, o) => {
    const fields = [
      ...(o ? [] : [{ name: "code", label: "编码（小写字母开头，字母、数字、下划线）", required: true }]),
      { name: "name", label: "名称", value: o?.name, required: true },
      { name: "seq", label: "顺序", type: "number", min: 1, max: 999, value: o?.seq ?? 10, required: true },
      ...(kind === "stage" ? [{ name: "done", label: "到此阶段即治理完成", type: "checkbox", value: o?.done }] : []),
      { name: "active", label: "启用", type: "checkbox", value: o ? o.active : true },
    ];
    formDialog(`${o ? "修改" : "新增"}${opts.kinds[kind]}`, fields, async (v) => {
      const code = o ? o.code : v.code;
      const body = { name: v.name, seq: v.seq, done: Boolean(v.done), active: v.active, version: o ? o.version : null };
      await api(`${API}/options/${kind}/${encodeURIComponent(code)}`, { method: "PUT", body });
      toast("已保存。");
      pane.replaceChildren();
      await optionsTab(pane, ctx);
    });
  };
  for (const kind of Object.keys(opts.kinds)) {
    pane.append(h("h3", {}, opts.kinds[kind]), table([
      { label: "编码", render: (o) => o.code },
      { label: "名称", render: (o) => o.name },
      { label: "顺序", render: (o) => o.seq },
      ...(kind === "stage" ? [{ label: "治理完成", render: (o) => (o.done ? "是" : "") }] : []),
      { label: "状态", render: (o) => (o.active ? "启用" : "停用") },
      { label: "", render: (o) => h("button", { type: "button", class: "btn small", onclick: () => edit(kind, o) }, "修改") },
    ], opts[kind]), h("div", { class: "toolbar" },
      h("button", { type: "button", class: "btn small", id: `add-${kind}`, onclick: () => edit(kind, null) }, `新增${opts.kinds[kind]}`)));
  }
}

// -- routing ------------------------------------------------------------------------------------------------------

async function openRoute(ctx) {
  const name = location.hash.slice(1) || ctx.tabs[0][0];
  const pane = h("div", { class: "pane" });
  $("view").replaceChildren(pane);
  for (const b of $("tabs").children) b.classList.toggle("active", b.dataset.tab === name);
  try {
    const tab = ctx.tabs.find(([id]) => id === name) || ctx.tabs[0];
    await tab[3](pane, ctx);
  } catch (e) {
    pane.append(h("p", { class: "form-error" }, e.message || String(e)));
  }
}

workbench({ tabs: TABS, route: openRoute, prepare: async () => ({ options: await api(`${API}/options`) }) });
