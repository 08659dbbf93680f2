// The county interfaces (/villages/county): each county's state (has a system, archive API configured, circuit
// breaker, last push and fetch), the log of what the county systems pushed, and the on-demand fetch of a county's
// archive with the log of fetches. A failed fetch shows the server's message (timeout, county down, bad data,
// breaker open) next to the form.
import { api } from "/static/console/http.js";
import { workbench } from "/static/console/workbench.js";
import { Form, dash, fmtTime, h, table, toast } from "/static/console/ui.js";

const API = "/api/villages/county";
const $ = (id) => document.getElementById(id);
const OUTCOMES = {
  ok: "成功", timeout: "超时", unreachable: "无法连接", failed: "区县系统出错", bad_data: "数据有误", breaker_open: "已熔断",
};

// [id, title, permission, mount(pane, ctx)]
const TABS = [
  ["status", "接口状态", "farmhouse.view", status],
  ["pushes", "推送日志", "farmhouse.view", pushes],
  ["fetch", "档案调取", "farmhouse.county_fetch", fetchTab],
];

async function status(pane) {
  const data = await api(`${API}/status`);
  pane.append(h("h2", {}, "各区县接口状态"), table([
    { label: "区县", render: (c) => c.district },
    { label: "自建系统", render: (c) => (c.has_system ? "有" : "无（市级系统录入）") },
    { label: "档案接口", render: (c) => (c.archive_configured ? `已配置（时限 ${c.timeout_s} 秒）` : "未配置") },
    { label: "熔断", render: (c) => (c.breaker_open
      ? h("span", { class: "late", "data-breaker": "open" }, `已暂停调用至 ${fmtTime(c.open_until, true)}`)
      : (c.failures ? `连续失败 ${c.failures} 次` : "正常")) },
    { label: "最近推送", render: (c) => dash(fmtTime(c.last_push)) },
    { label: "最近调取", render: (c) => dash(fmtTime(c.last_fetch)) },
  ], data.items, "没有区县。"));
}

async function pushes(pane) {
  const data = await api(`${API}/pushes`, { query: { limit: 100 } });
  pane.append(h("h2", {}, "区县推送日志"), table([
    { label: "时间", className: "nowrap", render: (p) => fmtTime(p.received_at, true) },
    { label: "区县", render: (p) => p.district },
    { label: "批次", render: (p) => dash(p.batch_id) },
    { label: "收到", render: (p) => p.received },
    { label: "新增", render: (p) => p.created },
    { label: "更新", render: (p) => p.updated },
    { label: "未变", render: (p) => p.unchanged },
    { label: "旧版本", render: (p) => p.stale },
    { label: "错误", render: (p) => (p.rejected ? h("span", { class: "late" }, p.rejected) : 0) },
    { label: "首个错误", render: (p) => dash(p.errors[0] && `#${p.errors[0].index} ${p.errors[0].errors[0].message}`) },
  ], data.items, "还没有区县推送记录。"));
}

async function fetchTab(pane, ctx) {
  const counties = (await api(`${API}/status`)).items.filter((c) => c.has_system && c.archive_configured
    && (!ctx.me.district || c.district === ctx.me.district));
  const result = h("div", { id: "fetch-result" });
  const log = h("div", { id: "fetch-log" });
  const form = new Form([
    { name: "district", label: "区县", type: "select", required: true,
      choices: counties.map((c) => [c.district, c.district]) },
    { name: "township", label: "乡镇街道（可选）" },
    { name: "village", label: "行政村（可选）" },
    { name: "record_id", label: "区县系统记录编号（可选）" },
  ], {
    submit: "调取档案",
    onSubmit: async (v) => {
      const body = Object.fromEntries(Object.entries(v).filter(([, x]) => x !== "" && x !== null));
      result.replaceChildren();
      const r = await api(`${API}/fetch`, { method: "POST", body });
      result.replaceChildren(h("p", { class: "ok" },
        `已从${r.district}调取 ${r.received} 条：新增 ${r.created}，更新 ${r.updated}，未变 ${r.unchanged}，旧版本 ${r.stale}。`));
      toast("档案调取完成。");
      await showLog();
    },
  });
  async function showLog() {
    const data = await api(`${API}/fetches`, { query: { limit: 50 } });
    log.replaceChildren(h("h3", {}, "调取记录"), table([
      { label: "时间", className: "nowrap", render: (f) => fmtTime(f.requested_at, true) },
      { label: "区县", render: (f) => f.district },
      { label: "调取人", render: (f) => f.actor },
      { label: "结果", render: (f) => h("span", { "data-outcome": f.outcome }, OUTCOMES[f.outcome] || f.outcome) },
      { label: "尝试次数", render: (f) => f.attempts },
      { label: "收到", render: (f) => f.received },
      { label: "说明", render: (f) => dash(f.message) },
    ], data.items, "还没有调取记录。"));
  }
  pane.append(h("h2", {}, "调取区县农房档案"),
    counties.length ? form.el : h("p", { class: "note" }, "没有可调取档案的区县（未建系统或未配置档案接口地址）。"),
    result, log);
  form.el.addEventListener("submit", () => result.replaceChildren());
  await showLog();
}

async function route(ctx) {
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

workbench({ tabs: TABS, route });
