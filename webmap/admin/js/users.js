// 用户: the accounts — list with filters, create, edit (with the version read), reset password, unlock,
// disable/enable, and the records granted to a user.
import { api } from "/static/console/http.js";
import { Form, ListView, act, dialog, fmtTime, h, options, buttons, toast } from "/static/console/ui.js";

const locked = (u) => u.locked_until && new Date(u.locked_until) > new Date();

function status(u) {
  if (!u.active) return h("span", { class: "tag off" }, "停用");
  if (locked(u)) return h("span", { class: "tag warn" }, "已锁定");
  return h("span", { class: "tag on" }, "启用");
}

// The fields both the create and the edit form have.
function profileFields(meta, orgs, u = {}) {
  return [
    { name: "display_name", label: "姓名", required: true, value: u.display_name },
    { name: "roles", label: "角色", type: "checkboxes", choices: meta.roles.map((r) => [r.name, r.title]), value: u.roles },
    { name: "district", label: "所属区县", type: "select", choices: options(meta.districts, "（无）"), value: u.district,
      hint: "区县工作人员必填" },
    { name: "org_id", label: "所属单位", type: "select", choices: options(orgs.map((o) => [String(o.id), o.name]), "（无）"),
      value: u.org_id ? String(u.org_id) : "" },
    { name: "phone", label: "手机号码", type: "tel", value: u.phone },
    { name: "id_number", label: "身份证号码", value: u.id_number },
    { name: "email", label: "电子邮箱", type: "email", value: u.email },
  ];
}

const withOrg = (v) => ({ ...v, org_id: v.org_id ? Number(v.org_id) : null });

export async function mount(root, meta) {
  const orgs = (await api("/api/admin/organisations", { query: { limit: 200 } })).items;
  const roleTitle = Object.fromEntries(meta.roles.map((r) => [r.name, r.title]));

  const list = new ListView({
    filters: [
      { name: "q", label: "关键字", placeholder: "用户名、姓名或手机号" },
      { name: "role", label: "角色", type: "select", choices: options(meta.roles.map((r) => [r.name, r.title]), "全部") },
      { name: "district", label: "区县", type: "select", choices: options(meta.districts, "全部") },
      { name: "org_id", label: "单位", type: "select", choices: options(orgs.map((o) => [String(o.id), o.name]), "全部") },
      { name: "active", label: "状态", type: "select", choices: [["", "全部"], ["true", "启用"], ["false", "停用"]] },
    ],
    buttons: [h("button", { type: "button", class: "btn primary", id: "user-new", onclick: () => create() }, "新增用户")],
    load: (q, limit, offset) => api("/api/admin/users", { query: { ...q, limit, offset } }),
    columns: [
      { label: "用户名", render: (u) => u.username },
      { label: "姓名", render: (u) => u.display_name },
      { label: "单位", render: (u) => u.org_name },
      { label: "区县", render: (u) => u.district },
      { label: "手机", render: (u) => u.phone },
      { label: "角色", render: (u) => u.roles.map((r) => roleTitle[r] || r).join("、") },
      { label: "状态", render: status },
      { label: "最后登录", render: (u) => fmtTime(u.last_login_at, true) },
      { label: "操作", className: "actions", render: (u) => buttons(
        ["编辑", () => edit(u)],
        ["重置密码", () => resetPassword(u)],
        locked(u) && ["解锁", () => act(async () => { await api(`/api/admin/users/${u.id}/unlock`, { method: "POST" }); await list.reload(); }, "已解除锁定。")],
        u.active
          ? ["停用", () => confirm(`停用账号「${u.username}」？其登录将立即失效。`)
            && act(async () => { await api(`/api/admin/users/${u.id}/disable`, { method: "POST" }); await list.reload(); }, "账号已停用。"), "danger"]
          : ["启用", () => act(async () => { await api(`/api/admin/users/${u.id}/enable`, { method: "POST" }); await list.reload(); }, "账号已启用。")],
        ["数据授权", () => grants(u)],
      ) },
    ],
  });
  root.append(list.el);
  await list.go(0);

  function create() {
    const [name, ...profile] = profileFields(meta, orgs);
    const d = dialog("新增用户", new Form([
      { name: "username", label: "用户名", required: true },
      name,
      { name: "password", label: "初始密码", type: "password", autocomplete: "new-password",
        hint: "至少 10 位，须含字母和数字；留空则该账号不能用密码登录（如评审专家用短信动态密码）" },
      { name: "must_change_password", label: "首次登录须修改密码", type: "checkbox", value: true },
      ...profile,
    ], {
      submit: "保存",
      cancel: () => d.close(),
      onSubmit: async (v) => {
        const u = await api("/api/admin/users", { method: "POST", body: withOrg(v) });
        d.close();
        toast(`已新增用户「${u.username}」。`);
        await list.go(0);
      },
    }).el, { wide: true });
  }

  async function edit(row) {
    const u = await api(`/api/admin/users/${row.id}`);
    const d = dialog(`修改用户「${u.username}」`, new Form([
      ...profileFields(meta, orgs, u),
      { name: "must_change_password", label: "下次登录须修改密码", type: "checkbox", value: u.must_change_password },
      { name: "active", label: "启用", type: "checkbox", value: u.active },
    ], {
      cancel: () => d.close(),
      onSubmit: async (v) => {
        await api(`/api/admin/users/${u.id}`, { method: "PATCH", body: { ...withOrg(v), version: u.version } });
        d.close();
        toast("已保存。");
        await list.reload();
      },
    }).el, { wide: true });
  }

  function resetPassword(u) {
    const d = dialog(`重置「${u.username}」的密码`, new Form([
      { name: "new_password", label: "新密码", type: "password", required: true, autocomplete: "new-password",
        hint: "至少 10 位，须含字母和数字；该用户已有的登录将失效" },
      { name: "must_change_password", label: "下次登录须修改密码", type: "checkbox", value: true },
    ], {
      cancel: () => d.close(),
      onSubmit: async (v) => {
        await api(`/api/admin/users/${u.id}/password`, { method: "POST", body: v });
        d.close();
        toast("密码已重置。");
        await list.reload();
      },
    }).el);
  }

  function grants(u) {
    const layerTitle = Object.fromEntries(meta.grant_layers.map((l) => [l.id, l.title]));
    const body = h("tbody");
    const load = async () => {
      const { items } = await api(`/api/admin/users/${u.id}/grants`);
      body.replaceChildren(...(items.length ? items.map((g) => h("tr", {},
        h("td", {}, layerTitle[g.layer] || g.layer), h("td", {}, g.feature_id), h("td", {}, g.relation),
        h("td", {}, fmtTime(g.valid_from, true) || "—"), h("td", {}, fmtTime(g.valid_to, true) || "—"),
        h("td", {}, buttons(["撤销", () => act(async () => {
          await api(`/api/admin/users/${u.id}/grants/${g.id}`, { method: "DELETE" });
          await load();
        }, "授权已撤销。"), "danger"]))))
        : [h("tr", {}, h("td", { colspan: 6, class: "empty" }, "没有授权记录。"))]));
    };
    const form = new Form([
      { name: "layer", label: "图层", type: "select", choices: meta.grant_layers.map((l) => [l.id, l.title]) },
      { name: "feature_id", label: "记录编号", type: "number", required: true },
      { name: "relation", label: "关系", required: true, placeholder: "如 施工单位、评审专家" },
      { name: "valid_from", label: "起始时间", type: "datetime-local" },
      { name: "valid_to", label: "截止时间", type: "datetime-local" },
    ], {
      submit: "新增授权",
      className: "inline",
      onSubmit: async (v) => {
        await api(`/api/admin/users/${u.id}/grants`, { method: "POST", body: v });
        toast("已授权。");
        await load();
      },
    });
    dialog(`「${u.username}」的数据授权`, h("div", {},
      h("p", { class: "note" }, "数据范围为“授权的记录”的角色，只能看到这里授权的工地或审查项目。"),
      h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {},
        ["图层", "记录编号", "关系", "起始", "截止", "操作"].map((t) => h("th", {}, t)))), body)),
      h("h3", {}, "新增授权"), form.el), { wide: true });
    load().catch((e) => toast(e.message, "error"));
  }
}
