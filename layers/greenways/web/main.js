// The greenway workbench (/greenways): sign in (the cookie session), then what the account's permissions allow —
// the district's reports (annual plan, monthly progress, fund use: create, edit the lines, submit), the city's inbox
// (accept, or return with a reason), all reports, and the summaries by district and year with charts and the Excel
// export. The address keeps the tab and the open report (#reports, #report/12) so that a reload stays there.
import { api } from "/static/console/http.js";
import { uuid, workbench } from "/static/console/workbench.js";
import { Form, ListView, dash, fmtTime, formDialog, h, options, table, toast } from "/static/console/ui.js";

const API = "/api/greenways";
const $ = (id) => document.getElementById(id);
const KINDS = { plan: "年度建设计划", progress: "月度建设进度", funds: "资金使用情况" };
const STATES = { draft: "草稿", submitted: "待市级审核", accepted: "市级已接收", returned: "已退回" };
const GRADES = ["省级", "市级", "区县级"];
const SOURCES = ["中央资金", "省级资金", "市级资金", "区县资金", "社会资金"];
const thisYear = new Date().getFullYear();
const YEARS = Array.from({ length: 10 }, (_, i) => thisYear + 1 - i).map((y) => [String(y), `${y}年`]);

// [id, title, permission, mount(pane, ctx)]
const TABS = [
  ["reports", "本区县报表", "greenway.report.submit", (pane, ctx) => reports(pane, ctx, {}, true)],
  ["inbox", "待审核报表", "greenway.report.review", (pane, ctx) => reports(pane, ctx, { status: "submitted" })],
  ["all", "全部报表", "greenway.view", (pane, ctx) => reports(pane, ctx, {}, false, true)],
  ["summary", "汇总统计", "greenway.view", summary],
];

const statusTag = (r) => h("span", { class: `status s-${r.status}`, "data-status": r.status }, r.status_title);
const kv = (pairs) => h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, dash(v))]));
const num = (v, d = 2) => (v === null || v === undefined ? "" : Number(v).toLocaleString("zh-CN", { maximumFractionDigits: d }));

// -- lists --------------------------------------------------------------------------------------------------------

const COLUMNS = [
  { label: "编号", render: (r) => r.id },
  { label: "报表类型", render: (r) => r.kind_title },
  { label: "区县", render: (r) => r.district },
  { label: "期间", render: (r) => r.period },
  { label: "状态", render: (r) => statusTag(r) },
  { label: "截止日期", className: "nowrap", render: (r) => r.due_on },
  { label: "逾期", render: (r) => (r.late_text ? h("span", { class: "late" }, r.late_text) : "") },
  { label: "提交时间", render: (r) => fmtTime(r.submitted_at) },
];

function reports(pane, ctx, fixed, mine = false, filters = true) {
  const list = new ListView({
    filters: filters ? [
      { name: "kind", label: "报表类型", type: "select", choices: options(KINDS, "全部") },
      { name: "year", label: "年度", type: "select", choices: options(YEARS, "全部") },
      ...(fixed.status ? [] : [{ name: "status", label: "状态", type: "select", choices: options(STATES, "全部") }]),
    ] : [],
    columns: COLUMNS,
    empty: fixed.status ? "没有待审核的报表。" : "没有报表。",
    search: "查询",
    buttons: mine ? [h("button", { type: "button", class: "btn", id: "new-report", onclick: () => newReport(ctx) }, "新建报表")] : [],
    onRow: (r) => { location.hash = `report/${r.id}`; },
    load: async (v, limit, offset) => {
      const query = { ...v, ...fixed, limit, offset };
      const data = await api(`${API}/reports`, { query });
      return { items: data.reports, total: data.total };
    },
  });
  pane.append(list.el);
  return list.go(0);
}

function newReport(ctx) {
  const fields = [
    { name: "kind", label: "报表类型", type: "select", choices: options(KINDS), required: true },
    { name: "year", label: "年度", type: "number", value: thisYear, required: true, min: 2000, max: 2100 },
    { name: "month", label: "月份（年度计划不填）", type: "number", min: 1, max: 12 },
  ];
  if (!ctx.me.district) fields.unshift({ name: "district", label: "区县", required: true });
  formDialog("新建绿道建设报表", fields, async (v) => {
    const body = { kind: v.kind, year: v.year, month: v.kind === "plan" ? null : v.month, [v.kind]: [] };
    if (v.district) body.district = v.district;
    const r = await api(`${API}/reports`, { method: "POST", body, headers: { "Idempotency-Key": uuid() } });
    toast("报表已创建，请填写明细。");
    location.hash = `report/${r.id}`;
  }, { submit: "创建" });
}

// -- one report ---------------------------------------------------------------------------------------------------

async function segmentsOf(district) {
  const data = await api("/api/layers/greenways/features", { query: { district, limit: 1000 } });
  return (data.features || []).map((f) => ({ id: f.id, ...f.properties }));
}

const LINE_FIELDS = {
  plan: [["segment_id", "绿道", "segment"], ["planned_length_m", "计划长度(米)", "number"], ["grade", "级别", GRADES],
    ["budget_wan", "预算(万元)", "number"], ["start_on", "计划开工", "date"], ["end_on", "计划完工", "date"]],
  progress: [["segment_id", "绿道", "segment"], ["completed_m", "本月完成(米)", "number"], ["note", "进展说明", "text"]],
  funds: [["source", "资金来源", SOURCES], ["allocated_wan", "到位资金(万元)", "number"], ["spent_wan", "使用资金(万元)", "number"]],
};

function lineEditor(kind, items, segments) {
  const spec = LINE_FIELDS[kind];
  const body = h("tbody");
  const cell = ([name, , type], value) => {
    let input;
    if (type === "segment") {
      input = h("select", { name }, segments.map((s) => h("option", { value: s.id }, `${s.code} ${s.name}（${num(s.length_m, 0)} 米）`)));
    } else if (Array.isArray(type)) {
      input = h("select", { name }, type.map((c) => h("option", { value: c }, c)));
    } else {
      input = h("input", { name, type, step: type === "number" ? "any" : null });
    }
    if (value !== undefined && value !== null) input.value = value;
    return h("td", {}, input);
  };
  const add = (item = {}) => {
    const row = h("tr", { class: "line" }, spec.map((f) => cell(f, item[f[0]])),
      h("td", {}, h("button", { type: "button", class: "btn small danger", onclick: () => row.remove() }, "删除")));
    body.append(row);
  };
  items.forEach(add);
  const el = h("div", { class: "lines" },
    h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, spec.map((f) => h("th", {}, f[1])), h("th"))), body)),
    h("button", { type: "button", class: "btn small", id: "add-line", onclick: () => add() }, "添加一行"));
  el.read = () => [...body.querySelectorAll("tr.line")].map((row) => Object.fromEntries(spec.map(([name, , type]) => {
    const raw = row.querySelector(`[name=${name}]`).value;
    if (type === "segment") return [name, Number(raw)];
    if (type === "number") return [name, raw === "" ? null : Number(raw)];
    return [name, raw === "" ? null : raw];
  })));
  return el;
}

function linesTable(r, segs) {
  const seg = (id) => { const s = segs[String(id)]; return s ? `${s.code} ${s.name}` : id; };
  const spec = LINE_FIELDS[r.kind];
  return table(spec.map(([name, label, type]) => ({
    label, render: (x) => (type === "segment" ? seg(x[name]) : type === "number" ? num(x[name]) : dash(x[name])),
  })), r.items, "没有明细。");
}

async function detail(pane, ctx, id) {
  const r = await api(`${API}/reports/${id}`);
  const box = h("div", { class: "detail", id: "report", "data-status": r.status });
  const bar = h("div", { class: "actionbar" }, r.actions.map((a) => h("button", {
    type: "button", class: `btn ${a.action === "return" ? "danger" : "primary"}`, "data-action": a.action,
    onclick: () => takeAction(ctx, r, a),
  }, a.title)));
  const t = r.totals;
  box.append(
    h("div", { class: "detail-head" }, h("h2", {}, `${r.district} ${r.period} ${r.kind_title}`), statusTag(r),
      r.late_text ? h("span", { class: "late" }, r.late_text) : null, bar),
    kv([["编号", r.id], ["截止日期", r.due_on], ["提交时间", fmtTime(r.submitted_at)], ["提交人", r.submitted_by],
      ["审核时间", fmtTime(r.reviewed_at)], ["审核人", r.reviewed_by], ["退回理由", r.return_reason], ["说明", r.note],
      ...Object.entries(t).map(([k, v]) => [{ planned_km: "计划长度(公里)", budget_wan: "预算(万元)",
        completed_km: "本月完成(公里)", allocated_wan: "到位资金(万元)", spent_wan: "使用资金(万元)" }[k], num(v, 3)])]));
  const editable = ctx.can("greenway.report.submit") && (r.status === "draft" || r.status === "returned");
  box.append(h("h3", {}, "明细"));
  if (editable) {
    const editor = lineEditor(r.kind, r.items, await segmentsOf(r.district));
    const form = new Form([{ name: "note", label: "说明", type: "textarea", rows: 2, value: r.note }], {
      submit: "保存明细",
      onSubmit: async (v) => {
        await api(`${API}/reports/${r.id}`, { method: "PUT", body: { version: r.version, note: v.note || null, [r.kind]: editor.read() } });
        toast("已保存。");
        await openRoute(ctx);
      },
    });
    form.el.prepend(editor);
    box.append(form.el);
  } else {
    box.append(linesTable(r, r.segments));
  }
  if (editable && r.kind === "progress" && r.items.length) photoForm(box, ctx, r);
  if (r.photos && r.photos.length) {
    box.append(h("h3", {}, "现场照片"), h("div", { class: "photos" }, r.photos.map((p) =>
      h("a", { href: p.url, target: "_blank" }, h("img", { src: p.thumbnail, alt: `照片 ${p.id}`, height: 90 })))));
  }
  box.append(h("h3", {}, "办理记录"), table([
    { label: "时间", render: (x) => fmtTime(x.at) },
    { label: "操作", render: (x) => x.action },
    { label: "状态", render: (x) => STATES[x.to_state] || x.to_state },
    { label: "办理人", render: (x) => x.actor_name },
    { label: "理由", render: (x) => dash(x.reason) },
  ], r.history || []));
  pane.append(h("div", { class: "toolbar" }, h("button", { type: "button", class: "btn small", onclick: () => history.back() }, "返回")), box);
}

// A progress photo: the segment, the file and where it was taken (the browser's position when it gives one).
function photoForm(box, ctx, r) {
  const segs = r.items.map((x) => [String(x.segment_id), (r.segments[String(x.segment_id)] || {}).name || x.segment_id]);
  const form = new Form([
    { name: "segment_id", label: "绿道", type: "select", choices: segs, required: true },
    { name: "file", label: "照片", type: "file", accept: "image/jpeg,image/png,image/webp", required: true },
    { name: "lon", label: "拍摄经度", type: "number", step: "any", required: true },
    { name: "lat", label: "拍摄纬度", type: "number", step: "any", required: true },
  ], {
    submit: "上传照片",
    onSubmit: async (v) => {
      const data = new FormData();
      for (const k of ["segment_id", "lon", "lat"]) data.append(k, v[k] ?? "");
      if (v.file) data.append("file", v.file);
      await api(`${API}/reports/${r.id}/photos`, { method: "POST", form: data, headers: { "Idempotency-Key": uuid() } });
      toast("照片已上传。");
      await openRoute(ctx);
    },
  });
  navigator.geolocation?.getCurrentPosition((p) => {
    form.inputs.lon.input.value = p.coords.longitude.toFixed(6);
    form.inputs.lat.input.value = p.coords.latitude.toFixed(6);
  }, () => {});
  box.append(h("h3", {}, "上传现场照片（须在绿道 500 米范围内拍摄）"), form.el);
}

async function takeAction(ctx, r, a) {
  const run = async (reason) => {
    await api(`${API}/reports/${r.id}/actions/${a.action}`, { method: "POST", body: { version: r.version, reason } });
    toast(`已${a.title}。`);
    await openRoute(ctx);
  };
  if (a.reason_required) {
    formDialog(`${a.title}报表`, [{ name: "reason", label: "理由", type: "textarea", required: true }],
      (v) => run(v.reason), { submit: a.title });
  } else {
    try { await run(null); } catch (e) { toast(e.message, "error"); }
  }
}

// -- summaries ----------------------------------------------------------------------------------------------------

async function summary(pane, ctx) {
  const holder = h("div");
  const form = new Form([{ name: "year", label: "年度", type: "number", value: thisYear, min: 2000, max: 2100 }],
    { submit: "查询", className: "filters", onSubmit: async (v) => load(v.year) });
  const link = h("a", { class: "btn", id: "export", href: "#" }, "导出 Excel");
  if (ctx.can("greenway.export")) form.el.querySelector(".form-actions").append(link);
  pane.append(form.el, holder);
  async function load(year) {
    const data = await api(`${API}/summary`, { query: { year } });
    link.href = `${API}/summary.xlsx?year=${year}`;
    const cols = data.columns.map(([k, label]) => ({ label, render: (row) => (k === "district" ? row[k] : num(row[k], 3)) }));
    const charts = [h("div", { class: "chart", id: "chart-km" }), h("div", { class: "chart", id: "chart-funds" })];
    holder.replaceChildren(
      h("p", { class: "note" }, `统计截至 ${data.as_of}；公里数与资金仅计市级已接收的报表；逾期未报为已过截止日期仍未提交的报表。`),
      table(cols, [...data.rows, { ...data.total, district: "合计" }]), h("div", { class: "charts" }, charts));
    const names = data.rows.map((x) => x.district);
    const bar = (el, title, series) => window.echarts?.init(el).setOption({
      title: { text: title, left: "center", textStyle: { fontSize: 14 } }, tooltip: { trigger: "axis" },
      legend: { bottom: 0 }, grid: { left: 50, right: 20, top: 40, bottom: 70 },
      xAxis: { type: "category", data: names, axisLabel: { rotate: 40 } }, yAxis: { type: "value" },
      series: series.map(([name, key]) => ({ name, type: "bar", data: data.rows.map((x) => x[key]) })),
    });
    const gaps = await api(`${API}/missing`, { query: { year } });
    holder.append(h("h3", {}, `逾期未报（${gaps.total}）`), table([
      { label: "区县", render: (g) => g.district },
      { label: "报表类型", render: (g) => g.kind_title },
      { label: "期间", render: (g) => g.period },
      { label: "截止日期", render: (g) => g.due_on },
      { label: "当前状态", render: (g) => h("span", { class: "late" }, g.status_title) },
    ], gaps.items, "没有逾期未报的报表。", (g) => { if (g.report_id) location.hash = `report/${g.report_id}`; }));
    bar(charts[0], `${year}年 计划与完成（公里）`, [["计划", "planned_km"], ["完成", "completed_km"]]);
    bar(charts[1], `${year}年 资金到位与使用（万元）`, [["到位", "allocated_wan"], ["使用", "spent_wan"]]);
  }
  await load(String(thisYear));
}

// -- routing ------------------------------------------------------------------------------------------------------

async function openRoute(ctx) {
  const route = location.hash.slice(1) || ctx.tabs[0][0];
  const [name, arg] = route.split("/");
  const pane = h("div", { class: "pane" });
  $("view").replaceChildren(pane);
  for (const b of $("tabs").children) b.classList.toggle("active", b.dataset.tab === name);
  try {
    if (name === "report" && arg) return await detail(pane, ctx, arg);
    const tab = ctx.tabs.find(([id]) => id === name) || ctx.tabs[0];
    await tab[3](pane, ctx);
  } catch (e) {
    pane.append(h("p", { class: "form-error" }, e.message || String(e)));
  }
}

workbench({ tabs: TABS, route: openRoute });
