// 单位: organisations — list with filters, create, edit (with the version read).
import { api } from "/static/console/http.js";
import { Form, ListView, dialog, h, options, buttons, toast } from "/static/console/ui.js";

function fields(meta, o = {}) {
  return [
    { name: "name", label: "单位名称", required: true, value: o.name },
    { name: "kind", label: "单位类型", type: "select", choices: options(meta.org_kinds, "（请选择）"), value: o.kind },
    { name: "uscc", label: "统一社会信用代码", value: o.uscc, hint: "18 位；企业和审查机构必填" },
    { name: "district", label: "所在区县", type: "select", choices: options(meta.districts, "（无）"), value: o.district },
  ];
}

export async function mount(root, meta) {
  const list = new ListView({
    filters: [
      { name: "q", label: "关键字", placeholder: "名称或信用代码" },
      { name: "kind", label: "类型", type: "select", choices: options(meta.org_kinds, "全部") },
    ],
    buttons: [h("button", { type: "button", class: "btn primary", onclick: () => create() }, "新增单位")],
    load: (q, limit, offset) => api("/api/admin/organisations", { query: { ...q, limit, offset } }),
    columns: [
      { label: "单位名称", render: (o) => o.name },
      { label: "类型", render: (o) => meta.org_kinds[o.kind] || o.kind },
      { label: "统一社会信用代码", render: (o) => o.uscc },
      { label: "区县", render: (o) => o.district },
      { label: "用户数", render: (o) => o.users },
      { label: "操作", className: "actions", render: (o) => buttons(["编辑", () => edit(o)]) },
    ],
  });
  root.append(list.el);
  await list.go(0);

  function create() {
    const d = dialog("新增单位", new Form(fields(meta), {
      cancel: () => d.close(),
      onSubmit: async (v) => {
        const o = await api("/api/admin/organisations", { method: "POST", body: v });
        d.close();
        toast(`已新增单位「${o.name}」。`);
        await list.go(0);
      },
    }).el);
  }

  function edit(o) {
    const d = dialog(`修改单位「${o.name}」`, new Form(fields(meta, o), {
      cancel: () => d.close(),
      onSubmit: async (v) => {
        await api(`/api/admin/organisations/${o.id}`, { method: "PATCH", body: { ...v, version: o.version } });
        d.close();
        toast("已保存。");
        await list.reload();
      },
    }).el);
  }
}
