// 短信发件箱: every SMS the platform sent (or queued), newest first.
import { api } from "/static/console/http.js";
import { ListView, fmtTime, options } from "/static/console/ui.js";

const STATUS = { queued: "待发送", sent: "已发送", failed: "发送失败" };

// The purposes' Chinese names come from the declarations (the back office's meta: the core's and every module's).
export async function mount(root, meta) {
  const purposes = meta.sms_purposes;
  const list = new ListView({
    filters: [
      { name: "phone", label: "手机号", placeholder: "号码或其一部分" },
      { name: "purpose", label: "用途", type: "select", choices: options(purposes, "全部") },
    ],
    load: (q, limit, offset) => api("/api/admin/sms", { query: { ...q, limit, offset } }),
    columns: [
      { label: "时间", className: "nowrap", render: (s) => fmtTime(s.created_at, true) },
      { label: "手机号", render: (s) => s.phone },
      { label: "账号", render: (s) => s.username },
      { label: "用途", render: (s) => purposes[s.purpose] || s.purpose },
      { label: "内容", className: "content", render: (s) => s.body },
      { label: "状态", render: (s) => [STATUS[s.status] || s.status, s.error].filter(Boolean).join("：") },
      { label: "通道", render: (s) => s.backend },
    ],
  });
  root.append(list.el);
  await list.go(0);
}
