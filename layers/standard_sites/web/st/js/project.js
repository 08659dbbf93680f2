// 项目信息 (ST-02): the registered projects in the user's scope (GET /api/st/my/projects; a unit sees its own, a
// clerk the district's) and one project's information. Who may edit sites (the construction unit, the district's
// staff) keeps the address, floor area, investment, planned completion and the completion-acceptance date up to date
// (PATCH /api/st/projects/{id} with the version seen: a stale one is refused); the evaluation application (考评申报)
// opens once the completion-acceptance date is entered.
import { api } from "/static/console/http.js";
import { Form, dash, h, kv, table, toast } from "./ui.js";

const EDITABLE = [
  { name: "address", label: "项目地址", type: "text" },
  { name: "floor_area_m2", label: "建筑面积（平方米）", type: "number", min: 0, step: "any" },
  { name: "investment_wan", label: "总投资（万元）", type: "number", min: 0, step: "any" },
  { name: "planned_end_date", label: "计划竣工日期", type: "date" },
  { name: "completion_date", label: "竣工验收日期", type: "date", hint: "竣工验收通过的日期；填写后才能申报考评" },
];

export async function mount(pane, ctx, sub) {
  const { projects } = await api("/api/st/my/projects");
  if (sub) {
    const p = projects.find((x) => String(x.id) === sub);
    if (!p) throw new Error("项目不存在，或不在您的数据范围内。");
    return detail(pane, ctx, p);
  }
  pane.append(h("p", { class: "note" }, ctx.can("site.edit")
    ? "点击项目查看和维护项目信息（竣工验收后请填写竣工验收日期，才能申报考评）。" : "点击项目查看项目信息。"),
  table([
    { label: "项目代码", render: (p) => p.code },
    { label: "项目名称", render: (p) => p.name },
    { label: "区县", render: (p) => p.district },
    { label: "施工许可证", render: (p) => p.permit_no },
    { label: "计划竣工", render: (p) => dash(p.planned_end_date) },
    { label: "竣工验收", render: (p) => dash(p.completion_date) },
  ], projects, "没有已注册的项目。", (p) => { location.hash = `project/${p.id}`; }));
}

function detail(pane, ctx, p) {
  const facts = kv([["项目代码", p.code], ["项目名称", p.name], ["区县", p.district], ["项目类型", p.project_type],
    ["建设单位", p.builder_name], ["施工单位", p.construction_name], ["监理单位", p.supervision_name],
    ["施工许可证号", p.permit_no], ["发证日期", p.permit_date], ["开工日期", p.start_date]]);
  const head = h("div", { class: "detail-head" }, h("h2", {}, `${p.code} ${p.name}`),
    h("div", { class: "actionbar" }, h("a", { class: "btn", href: "#project" }, "返回列表")));
  const body = h("article", { class: "detail", "data-project": p.id }, head, facts,
    h("h3", {}, "项目信息维护"));
  if (!ctx.can("site.edit")) {
    body.append(kv(EDITABLE.map((f) => [f.label, p[f.name]])));
    pane.replaceChildren(body);
    return;
  }
  let version = p.version;
  const form = new Form(EDITABLE.map((f) => ({ ...f, value: p[f.name] ?? "" })), {
    submit: "保存项目信息",
    onSubmit: async (v) => {
      const changes = { version };
      for (const f of EDITABLE) changes[f.name] = v[f.name] === "" ? null : v[f.name];
      const out = await api(`/api/st/projects/${p.id}`, { method: "PATCH", body: changes });
      version = out.version;
      Object.assign(p, out);
      toast(out.completion_date ? "项目信息已保存，可以申报考评了。" : "项目信息已保存。");
    },
  });
  body.append(h("p", { class: "note" }, "项目代码、名称、参建单位和施工许可证以项目库为准，如有错误请联系属地主管部门。"), form.el);
  pane.replaceChildren(body);
}
