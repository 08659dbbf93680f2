// 操作日志: the operation log, newest first — sign-ins, failed sign-ins, permission changes, exports and every
// data write: who, when, from where, what (before/after/detail on demand).
import { api } from "/static/console/http.js";
import { ListView, fmtTime, h, options } from "/static/console/ui.js";

const METHODS = { password: "密码", otp: "短信动态密码", oidc: "统一身份认证", test: "测试" };

// A short description of what an entry is about.
function summary(e, meta) {
  const obj = e.after || e.before || {};
  const d = e.detail || {};
  const name = obj.username || obj.name || obj.title || d.role || d.user || obj.prefix || "";
  const parts = [name];
  if (d.method) parts.push(`方式：${METHODS[d.method] || d.method}`);
  if (d.reason) parts.push(`原因：${meta.log_reasons[d.reason] || d.reason}`);
  if (d.format) parts.push(`格式：${d.format}`);
  if (d.rows !== undefined) parts.push(`${d.rows} 条`);
  return parts.filter(Boolean).join("，");
}

function content(e, meta) {
  const parts = { 之前: e.before, 之后: e.after, 详情: e.detail };
  const shown = Object.entries(parts).filter(([, v]) => v !== null && v !== undefined);
  return h("div", {}, h("span", { class: "summary" }, summary(e, meta)),
    shown.length ? h("details", {}, h("summary", {}, "查看"),
      shown.map(([k, v]) => h("div", {}, h("b", {}, k), h("pre", {}, JSON.stringify(v, null, 2))))) : null);
}

export async function mount(root, meta) {
  const list = new ListView({
    pageSize: 30,
    filters: [
      { name: "actor", label: "操作人", placeholder: "用户名" },
      { name: "action", label: "操作", type: "select", choices: options(meta.log_actions, "全部") },
      { name: "layer", label: "对象", type: "select", choices: options(meta.log_objects, "全部") },
      { name: "from", label: "起始日期", type: "date" },
      { name: "to", label: "截止日期", type: "date" },
      { name: "q", label: "内容", placeholder: "地址或记录内容" },
    ],
    load: (q, limit, offset) => api("/api/admin/log", { query: { ...q, limit, offset } }),
    columns: [
      { label: "时间", className: "nowrap", render: (e) => fmtTime(e.at, true) },
      { label: "操作人", render: (e) => meta.actor_names[e.actor] || e.actor },
      { label: "来源地址", render: (e) => e.client },
      { label: "操作", render: (e) => h("span", { class: `tag act-${e.action}` }, meta.log_actions[e.action] || e.action) },
      { label: "对象", render: (e) => [meta.log_objects[e.layer] || e.layer, e.feature_id ? `#${e.feature_id}` : ""].join(" ") },
      { label: "内容", className: "content", render: (e) => content(e, meta) },
    ],
  });
  root.append(list.el);
  await list.go(0);
}
