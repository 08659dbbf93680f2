// 角色与权限: roles with their data scope and permissions (named actions or patterns such as *.view);
// create a custom role, edit a role's permissions, delete a custom role.
import { api } from "/static/console/http.js";
import { Form, ListView, act, dialog, h, options, buttons, toast } from "/static/console/ui.js";

const patternsIn = (textarea) => textarea.value.split(/[\n,，\s]+/).map((s) => s.trim()).filter(Boolean);

// Does a permission pattern (`*` any run of characters, as the server's fnmatch) cover `name`?
const covers = (pattern, name) =>
  new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\?]/g, "\\$&").replace(/\*/g, ".*")}$`).test(name);

// The permission picker: the known actions as checkboxes by group, other patterns one per line. An action a
// pattern already covers is marked.
function permissionField(catalogue, value = []) {
  const known = new Set(catalogue.map((p) => p.name));
  const groups = {};
  for (const p of catalogue) (groups[p.group] ||= []).push(p);
  return {
    name: "permissions",
    label: "权限",
    type: "custom",
    render: () => {
      const other = h("textarea", { rows: 3, name: "patterns" });
      other.value = value.filter((p) => !known.has(p)).join("\n");
      const labels = [];
      const mark = () => {
        const patterns = patternsIn(other);
        for (const l of labels) l.classList.toggle("covered", patterns.some((p) => covers(p, l.dataset.name)));
      };
      other.addEventListener("input", mark);
      const el = h("div", { class: "perm-picker" },
        Object.entries(groups).map(([group, perms]) => h("fieldset", {}, h("legend", {}, group),
          perms.map((p) => {
            const box = h("input", { type: "checkbox", value: p.name });
            box.checked = value.includes(p.name);
            const label = h("label", { class: "check", "data-name": p.name }, box, p.title || p.name, h("code", {}, p.name));
            labels.push(label);
            return label;
          }))),
        h("label", { class: "other" }, "其他权限（通配符等，每行一个，如 *.view、*）", other));
      mark();
      return el;
    },
    read: (el) => [
      ...[...el.querySelectorAll("fieldset input:checked")].map((i) => i.value),
      ...patternsIn(el.querySelector("textarea")),
    ],
  };
}

export async function mount(root, meta) {
  const catalogue = (await api("/api/admin/permissions")).items;
  const title = Object.fromEntries(catalogue.map((p) => [p.name, p.title]));

  const list = new ListView({
    search: "刷新",
    buttons: [h("button", { type: "button", class: "btn primary", onclick: () => create() }, "新增角色")],
    load: async (_q, limit, offset) => {
      const { items } = await api("/api/admin/roles");
      return { items: items.slice(offset, offset + limit), total: items.length };
    },
    columns: [
      { label: "角色", render: (r) => h("span", {}, r.title, h("br"), h("code", {}, r.name)) },
      { label: "数据范围", render: (r) => meta.scopes[r.scope] || r.scope },
      { label: "权限", className: "perms", render: (r) => (r.permissions.length
        ? h("div", { class: "chips" }, r.permissions.map((p) => h("span", { class: "chip", title: title[p] || p }, p)))
        : h("span", { class: "muted" }, "（无）")) },
      { label: "用户数", render: (r) => r.users },
      { label: "类型", render: (r) => (r.builtin ? "内置" : "自定义") },
      { label: "操作", className: "actions", render: (r) => buttons(
        ["权限", () => editPermissions(r)],
        ["修改", () => edit(r)],
        !r.builtin && ["删除", () => confirm(`删除角色「${r.title}」？`) && act(async () => {
          await api(`/api/admin/roles/${encodeURIComponent(r.name)}`, { method: "DELETE" });
          await list.go(0);
        }, "角色已删除。"), "danger"],
      ) },
    ],
  });
  root.append(list.el);
  await list.go(0);

  function create() {
    const d = dialog("新增角色", new Form([
      { name: "name", label: "角色代码", required: true, placeholder: "如 data_exporter", hint: "小写字母开头，可含数字和下划线" },
      { name: "title", label: "角色名称", required: true },
      { name: "scope", label: "数据范围", type: "select", choices: options(meta.scopes, "（请选择）") },
      permissionField(catalogue),
    ], {
      cancel: () => d.close(),
      onSubmit: async (v) => {
        const r = await api("/api/admin/roles", { method: "POST", body: v });
        d.close();
        toast(`已新增角色「${r.title}」。`);
        await list.go(0);
      },
    }).el, { wide: true });
  }

  function edit(r) {
    const d = dialog(`修改角色「${r.title}」`, new Form([
      { name: "title", label: "角色名称", required: true, value: r.title },
      { name: "scope", label: "数据范围", type: "select", choices: options(meta.scopes), value: r.scope,
        hint: r.builtin ? "内置角色的数据范围不能修改" : null },
    ], {
      cancel: () => d.close(),
      onSubmit: async (v) => {
        await api(`/api/admin/roles/${encodeURIComponent(r.name)}`, { method: "PATCH", body: v });
        d.close();
        toast("已保存。");
        await list.reload();
      },
    }).el);
  }

  function editPermissions(r) {
    const d = dialog(`「${r.title}」的权限`, new Form([permissionField(catalogue, r.permissions)], {
      cancel: () => d.close(),
      onSubmit: async (v) => {
        await api(`/api/admin/roles/${encodeURIComponent(r.name)}/permissions`, { method: "PUT", body: v });
        d.close();
        toast("权限已保存，该角色的用户下次操作起生效。");
        await list.reload();
      },
    }).el, { wide: true });
  }
}
