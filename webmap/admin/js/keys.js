// API 密钥: keys of machine clients (county systems). A new or rotated key is shown once.
import { api } from "/static/console/http.js";
import { Form, ListView, act, dialog, fmtTime, h, buttons, toast } from "/static/console/ui.js";

function showKey(k) {
  const code = h("code", { class: "secret" }, k.key);
  dialog("新密钥", h("div", {},
    h("p", { class: "note warn" }, k.message),
    h("p", {}, `账号：${k.username}　名称：${k.name}`),
    code,
    h("div", { class: "form-actions" }, h("button", { type: "button", class: "btn", onclick: async () => {
      try {
        await navigator.clipboard.writeText(k.key);
        toast("已复制。");
      } catch {
        getSelection().selectAllChildren(code);
        toast("请按 Ctrl+C 复制。", "info");
      }
    } }, "复制"))));
}

export async function mount(root) {
  const list = new ListView({
    filters: [
      { name: "q", label: "关键字", placeholder: "名称、前缀或账号" },
      { name: "status", label: "状态", type: "select", choices: [["", "全部"], ["active", "有效"], ["revoked", "已吊销或过期"]] },
    ],
    buttons: [h("button", { type: "button", class: "btn primary", onclick: () => create() }, "新建密钥")],
    load: (q, limit, offset) => api("/api/admin/keys", { query: { ...q, limit, offset } }),
    columns: [
      { label: "名称", render: (k) => k.name },
      { label: "密钥", render: (k) => h("code", {}, `cjk_${k.prefix}_…`) },
      { label: "账号", render: (k) => k.username },
      { label: "创建", render: (k) => `${fmtTime(k.created_at, true)} ${k.created_by || ""}` },
      { label: "到期", render: (k) => fmtTime(k.expires_at, true) || "长期" },
      { label: "最后使用", render: (k) => fmtTime(k.last_used_at, true) },
      { label: "状态", render: (k) => (k.active ? h("span", { class: "tag on" }, "有效")
        : h("span", { class: "tag off" }, k.revoked_at ? "已吊销" : "已过期")) },
      { label: "操作", className: "actions", render: (k) => (k.revoked_at ? "" : buttons(
        ["轮换", () => confirm(`轮换密钥「${k.name}」？旧密钥将立即失效。`) && act(async () => {
          showKey(await api(`/api/admin/keys/${k.id}/rotate`, { method: "POST" }));
          await list.reload();
        })],
        ["吊销", () => confirm(`吊销密钥「${k.name}」？`) && act(async () => {
          await api(`/api/admin/keys/${k.id}/revoke`, { method: "POST" });
          await list.reload();
        }, "密钥已吊销。"), "danger"],
      )) },
    ],
  });
  root.append(list.el);
  await list.go(0);

  function create() {
    const d = dialog("新建 API 密钥", new Form([
      { name: "username", label: "所属账号（用户名）", required: true, hint: "接口调用以该账号的角色和数据范围执行" },
      { name: "name", label: "密钥名称", required: true, placeholder: "如 西湖区农房系统" },
      { name: "expires_at", label: "有效期至", type: "date", hint: "留空为长期有效" },
    ], {
      cancel: () => d.close(),
      onSubmit: async (v) => {
        const k = await api("/api/admin/keys", { method: "POST", body: v });
        d.close();
        showKey(k);
        await list.go(0);
      },
    }).el);
  }
}
