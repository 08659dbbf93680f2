// 统计: monthly reports, bonus items, deductions, evaluations and stage evaluations per district and month for a
// range of months (the signed-in user's scope only), and the same as an Excel workbook.
import { api, queryString } from "/static/console/http.js";
import { districtField } from "./records.js";
import { Form, dash, h, table, thisMonth } from "./ui.js";

const col = (label, key, render) => ({ label, render: render || ((r) => dash(r[key])) });

export async function mount(pane, ctx) {
  const month = thisMonth();
  const out = h("div", { class: "stats" });
  const exportLink = ctx.can("site.stats.export")
    ? h("a", { class: "btn", id: "stats-export", href: "/api/st/stats.xlsx" }, "导出 Excel") : null;
  const form = new Form([
    { name: "from", label: "开始月份", type: "month", required: true, value: `${month.slice(0, 4)}-01` },
    { name: "to", label: "结束月份", type: "month", required: true, value: month },
    districtField(ctx),
  ], {
    submit: "统计",
    className: "filters",
    extra: exportLink ? [exportLink] : [],
    onSubmit: async (v) => {
      const data = await api("/api/st/stats", { query: v });
      if (exportLink) exportLink.href = `/api/st/stats.xlsx${queryString(v)}`;
      render(data);
    },
  });
  pane.append(form.el, out);

  function render(d) {
    const t = d.totals;
    const card = (label, value, key) => h("div", { class: "stat", "data-total": key }, h("b", {}, dash(value)), h("span", {}, label));
    out.replaceChildren(
      h("p", { class: "note" }, `统计期间 ${d.from} 至 ${d.to}${d.district ? `，${d.district}` : ""}（仅统计您数据范围内的记录）。`),
      h("div", { class: "cards" }, card("月度申报", t.reports, "reports"), card("逾期提交", t.late, "late"),
        card("未按期申报", t.missing, "missing"), card("加分项申报", t.bonus_claims, "bonus_claims"),
        card("确认加分", t.bonus_points, "bonus_points"), card("减分次数", t.deductions, "deductions"),
        card("扣分合计", t.deduction_points, "deduction_points"), card("考评申报", t.evaluations, "evaluations"),
        card("阶段考评", t.stages, "stages")),
      h("h3", { class: "section-title" }, "按月汇总"),
      h("div", { "data-table": "monthly" }, table([col("区县", "district"), col("月份", "month"), col("已注册工地", "registered"),
        col("月报数", "reports"), col("已提交", "submitted"), col("逾期提交", "late"),
        col("未按期申报", "missing")], d.monthly, "统计期间没有已注册的工地。")),
      h("h3", { class: "section-title" }, "月度申报（按状态）"),
      h("div", { "data-table": "reports" }, table([col("区县", "district"), col("月份", "month"), col("状态", "status_title"),
        col("数量", "count"), col("其中逾期提交", "late")], d.reports)),
      h("h3", { class: "section-title" }, "加分项"),
      table([col("区县", "district"), col("状态", "status_title"), col("申报数", "count"), col("分值合计", "points")], d.bonus),
      h("h3", { class: "section-title" }, "减分项"),
      table([col("区县", "district"), col("减分次数", "count"), col("扣分合计", "points")], d.deductions),
      h("h3", { class: "section-title" }, "考评申报"),
      table([col("区县", "district"), col("状态", "status_title"), col("数量", "count")], d.evaluations),
      h("h3", { class: "section-title" }, "阶段考评"),
      table([col("区县", "district"), col("阶段", "stage_title"), col("结果", "result"), col("数量", "count")], d.stages));
  }

  await form.submit();
}
