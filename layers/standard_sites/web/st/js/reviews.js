// 我的评审 (drawn experts): the assignments whose review window is open, each with the application's summary, its
// attachments and photos and the scoring form of the configured score items; and the history of past reviews.
import { api } from "/static/console/http.js";
import { Form, buttons, dash, fmtTime, h, kv, photoGrid, table, toast } from "./ui.js";

const windowOf = (a) => `${fmtTime(a.window_from)} 至 ${fmtTime(a.window_to)}`;

export async function mount(pane, ctx, sub) {
  if (sub) return assignment(pane, Number(sub));
  const [open, past] = await Promise.all([api("/api/st/my/assignments"), api("/api/st/my/reviews")]);
  pane.append(
    h("h3", { class: "section-title" }, "当前评审任务（评审时间内）"),
    table([
      { label: "项目", render: (a) => `${a.site_code} ${a.site_name}` },
      { label: "区县", render: (a) => a.district },
      { label: "评审时间", className: "nowrap", render: windowOf },
      { label: "状态", render: (a) => a.status_title },
      { label: "操作", render: (a) => buttons([a.read_only ? "查看" : "评审", () => { location.hash = `reviews/${a.id}`; }, a.read_only ? "" : "primary"]) },
    ], open.assignments, "当前没有评审任务（评审任务只在评审时间内显示）。"),
    h("h3", { class: "section-title" }, "评审记录"),
    table([
      { label: "项目", render: (a) => `${a.site_code} ${a.site_name}` },
      { label: "评审时间", className: "nowrap", render: windowOf },
      { label: "状态", render: (a) => a.status_title },
      { label: "总分", render: (a) => dash(a.review?.total) },
      { label: "提交时间", className: "nowrap", render: (a) => fmtTime(a.review?.submitted_at) },
      { label: "意见", className: "content", render: (a) => a.review?.comments || "" },
    ], past.reviews, "暂无评审记录。"));
}

async function assignment(pane, id) {
  const holder = h("article", { class: "detail" });
  pane.append(holder);
  const a = await api(`/api/st/assignments/${id}`);
  const ev = a.evaluation;
  const p = ev.prefill || {};
  const form = ev.form || {};
  const names = Object.fromEntries(a.form.map((i) => [i.code, i.name]));
  let scoring;
  if (a.review) {
    scoring = kv([...Object.entries(a.review.scores || {}).map(([k, v]) => [names[k] || k, v]), ["总分", a.review.total],
      ["评审意见", a.review.comments], ["提交时间", fmtTime(a.review.submitted_at)]]);
  } else {
    const total = h("b", {}, "0");
    const f = new Form([
      ...a.form.map((i) => ({ name: i.code, label: `${i.name}（满分 ${i.max_points}）`, type: "number", min: 0,
        max: i.max_points, step: "any", required: i.required })),
      { name: "comments", label: "评审意见", type: "textarea", rows: 4, hint: `总分低于 ${a.comments_below} 分时必须填写` },
    ], {
      submit: "提交评审",
      onSubmit: async (v) => {
        const scores = Object.fromEntries(a.form.filter((i) => v[i.code] !== null).map((i) => [i.code, v[i.code]]));
        const out = await api(`/api/st/assignments/${id}/review`, { method: "POST", body: { scores, comments: v.comments || null } });
        toast(out.message || "评审意见已提交。");
        location.hash = "reviews";
      },
    });
    f.el.addEventListener("input", () => {
      const v = f.values();
      total.textContent = String(a.form.reduce((s, i) => s + (Number(v[i.code]) || 0), 0));
    });
    scoring = h("div", {}, h("p", {}, "合计：", total, " 分（提交后不能修改）"), f.el);
  }
  holder.append(
    h("div", { class: "detail-head" },
      h("button", { type: "button", class: "btn", onclick: () => { location.hash = "reviews"; } }, "← 返回"),
      h("h2", {}, `${a.site.code} ${a.site.name} · 专家评审`), h("span", { class: "status" }, a.status_title)),
    kv([["评审时间", windowOf(a)], ["区县", a.site.district], ["施工单位", a.site.construction_unit],
      ["监理单位", a.site.supervision_unit], ["竣工验收日期", ev.completion_date], ["申报奖项", form.award],
      ["项目经理", form.project_manager], ["专职安全员", form.safety_officer]]),
    h("h3", {}, "标准化工作亮点"), h("p", { class: "prewrap" }, form.highlights || "—"),
    h("h3", {}, "月度申报情况"),
    kv([["已申报月数", p.months_reported], ["监理审核通过", p.approved], ["逾期申报月份", (p.late_months || []).join("、") || "无"],
      ["未申报月份", (p.missing_months || []).join("、") || "无"], ["加分合计", p.bonus_points]]),
    h("h3", {}, "附件"),
    ev.attachments.length ? h("ul", {}, ev.attachments.map((f) => h("li", {}, h("a", { href: f.url, target: "_blank", rel: "noopener" }, f.name))))
      : h("p", { class: "muted" }, "无附件。"),
    h("h3", {}, "现场照片"), photoGrid(ev.photos),
    h("h3", {}, a.review ? "我的评审" : "评分"), scoring);
}
