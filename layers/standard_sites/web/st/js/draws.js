// 抽取: review rounds (window, reminder, rules) and the two-step auditable expert draw — record the commitment
// first, then run it (the seed is revealed, the experts are notified), show who was drawn and who was excluded
// and why, and verify a draw from its record.
import { api } from "/static/console/http.js";
import { buttons, fmtTime, formDialog, h, kv, table, toast, withZone } from "./ui.js";

const ROUND_STATES = { open: "进行中", closed: "已关闭" };

// An ISO time as a datetime-local value in Beijing time.
const local = (iso) => (iso ? new Date(new Date(iso).getTime() + 8 * 3600 * 1000).toISOString().slice(0, 16) : "");

function roundFields(r = {}) {
  return [
    { name: "name", label: "轮次名称", required: true, value: r.name, placeholder: "如 2026 年下半年标化工地考评" },
    { name: "review_from", label: "评审开始时间（北京时间）", type: "datetime-local", required: true, value: local(r.review_from) },
    { name: "review_to", label: "评审截止时间（北京时间）", type: "datetime-local", required: true, value: local(r.review_to) },
    { name: "reminder_hours", label: "截止前提醒（小时）", type: "number", min: 1, max: 720, step: 1, value: r.reminder_hours ?? 24 },
    { name: "per_project", label: "每个项目抽取专家数", type: "number", min: 1, max: 9, value: r.per_project ?? 2 },
    { name: "max_per_expert", label: "每位专家本轮最多评审项目数", type: "number", min: 1, max: 100, value: r.max_per_expert ?? 3 },
  ];
}

const roundBody = (v) => ({ ...v, review_from: withZone(v.review_from), review_to: withZone(v.review_to) });

export async function mount(pane, ctx, sub) {
  if (sub) return round(pane, ctx, Number(sub));
  const holder = h("div");
  pane.append(h("div", { class: "filters" }, h("div", { class: "form-actions" },
    h("button", { type: "button", class: "btn primary", onclick: () => formDialog("新建评审轮次", roundFields(), async (v) => {
      await api("/api/st/rounds", { method: "POST", body: roundBody(v) });
      await load();
      toast("评审轮次已新建。");
    }, { wide: true, submit: "保存" }) }, "新建评审轮次"))), holder);

  async function load() {
    const { rounds } = await api("/api/st/rounds");
    holder.replaceChildren(table([
      { label: "轮次", render: (r) => r.name },
      { label: "评审时间", className: "nowrap", render: (r) => `${fmtTime(r.review_from)} 至 ${fmtTime(r.review_to)}` },
      { label: "每项目专家数", render: (r) => r.per_project },
      { label: "每人上限", render: (r) => r.max_per_expert },
      { label: "截止前提醒", render: (r) => `${r.reminder_hours} 小时` },
      { label: "状态", render: (r) => ROUND_STATES[r.status] || r.status },
      { label: "操作", className: "actions", render: (r) => buttons(
        ["抽取专家", () => { location.hash = `draws/${r.id}`; }, "primary"],
        ["修改", () => formDialog(`修改「${r.name}」`, roundFields(r), async (v) => {
          await api(`/api/st/rounds/${r.id}`, { method: "PATCH", body: { ...roundBody(v), version: r.version } });
          await load();
          toast("已保存。");
        }, { wide: true, submit: "保存", note: "已抽取专家后只能修改名称和提醒时间。" })],
        ["删除", () => formDialog("删除评审轮次", [], async () => {
          await api(`/api/st/rounds/${r.id}`, { method: "DELETE" });
          await load();
          toast("已删除。");
        }, { note: `确定删除「${r.name}」？已有抽取记录的轮次不能删除。`, submit: "删除" }), "danger"]) },
    ], rounds, "还没有评审轮次。"));
  }
  await load();
}

async function round(pane, ctx, id) {
  const holder = h("div", { class: "detail" });
  pane.append(holder);

  async function load() {
    const r = await api(`/api/st/rounds/${id}`);
    const { draws } = await api(`/api/st/rounds/${id}/draws`);
    holder.replaceChildren(
      h("div", { class: "detail-head" },
        h("button", { type: "button", class: "btn", onclick: () => { location.hash = "draws"; } }, "← 返回轮次"),
        h("h2", {}, `${r.name} · 专家抽取`),
        h("div", { class: "actionbar" }, h("button", { type: "button", class: "btn primary", id: "draw-commit",
          onclick: () => formDialog("记录抽取承诺（第一步）", [
            { name: "specialty", label: "要求的专业（选填）", placeholder: "不填则不限专业" },
          ], async (v) => {
            await api(`/api/st/rounds/${id}/draws`, { method: "POST", body: { specialty: v.specialty || null } });
            await load();
            toast("已记录抽取承诺值，可向监督人员公示后执行抽取。");
          }, { submit: "记录承诺", note: "将本轮全部“已推荐”的考评申报、专家库和抽取规则固定下来，并记录承诺值（种子在执行抽取前不公开）。" }) },
        "记录抽取承诺（第一步）"))),
      kv([["评审时间", `${fmtTime(r.review_from)} 至 ${fmtTime(r.review_to)}`], ["每项目专家数", r.per_project],
        ["每人上限", r.max_per_expert], ["状态", ROUND_STATES[r.status] || r.status]]),
      h("h3", {}, `抽取记录（${draws.length}）`),
      ...(draws.length ? draws.slice().reverse().map((d) => drawCard(d, load)) : [h("p", { class: "muted" }, "尚未抽取。")]));
  }
  await load();
}

function drawCard(d, reload) {
  const verify = h("div");
  const tools = [];
  if (d.status === "committed") {
    tools.push(["执行抽取（第二步）", () => formDialog("执行抽取", [], async () => {
      await api(`/api/st/draws/${d.id}/run`, { method: "POST" });
      await reload();
      toast("抽取完成，已短信通知抽中的专家。");
    }, { submit: "执行抽取", note: "执行后公布种子，按承诺时的输入抽取专家，授权其在评审时间内查看项目并发送短信动态密码。" }), "primary"]);
  }
  if (d.status === "drawn") {
    tools.push(["验证", async () => {
      try {
        const v = await api(`/api/st/draws/${d.id}/verify`);
        verify.replaceChildren(h("p", { class: v.verified ? "note" : "note warn", "data-verified": String(v.verified) },
          v.verified ? "验证通过：由记录的输入和种子重算，承诺值、抽取结果和分配记录一致。" : `验证不通过：${v.reason}`));
      } catch (e) {
        toast(e.message, "error");
      }
    }]);
  }
  return h("section", { class: "card", "data-draw": d.id, style: "margin-bottom:10px" },
    h("div", { class: "detail-head" }, h("b", {}, `抽取 #${d.id}`), h("span", { class: "status" }, d.status_title),
      h("span", { class: "muted" }, `${d.created_by} ${fmtTime(d.created_at)}${d.drawn_at ? `，抽取于 ${fmtTime(d.drawn_at)}` : ""}`),
      h("div", { class: "actionbar" }, buttons(...tools))),
    kv([["承诺值", h("span", { class: "mono" }, d.commitment)], ["输入摘要", h("span", { class: "mono" }, d.inputs_sha256)],
      ["种子", d.seed ? h("span", { class: "mono" }, d.seed) : "（执行抽取后公布）"],
      ["项目数", d.inputs?.projects?.length], ["专家库人数", d.inputs?.experts?.length]]),
    verify,
    d.projects ? table([
      { label: "考评申报", render: (p) => `KP-${String(p.evaluation_id).padStart(6, "0")} ${p.name || ""}` },
      { label: "抽中专家", render: (p) => (p.shortfall ? h("span", { class: "red" }, p.shortfall.message) : p.experts.map((e) => e.name).join("、")) },
      { label: "回避/排除", className: "content", render: (p) => (p.excluded.length
        ? h("details", {}, h("summary", {}, `${p.excluded.length} 人`), h("ul", {}, p.excluded.map((x) => h("li", {}, `${x.name}：${x.reason}`))))
        : "无") },
    ], d.projects, "没有项目。") : null,
    d.assignments?.length ? h("p", { class: "note" }, `已分配 ${d.assignments.length} 个评审任务，评审时间 ${fmtTime(d.assignments[0].window_from)} 至 ${fmtTime(d.assignments[0].window_to)}。`) : null,
    d.shortfalls && Object.keys(d.shortfalls).length ? h("p", { class: "note warn" }, "专家不足的项目未分配，仍为“已推荐”，可在专家库调整后重新抽取。") : null);
}
