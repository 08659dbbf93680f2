// 项目注册 (ST-01), open to anyone at /st#register: a construction unit finds its project in the project register
// (项目库) by the project code and its own credit code (GET /api/st/projects/{code}?uscc=), checks what the register
// holds, and registers it with the permit number and the two units' contacts (POST /api/st/registrations). The
// server creates the construction-unit and supervision-unit accounts and texts each its initial password; the page
// shows the accounts and what to do next.
import { api } from "/static/console/http.js";
import { Form, h, kv, uuid } from "./ui.js";

const ROLE = { construction_unit: "施工单位", supervision_unit: "监理单位" };

export function mount(holder) {
  const found = h("div", { id: "register-project" });
  const lookup = new Form([
    { name: "project_code", label: "项目代码", required: true, placeholder: "项目库中的项目代码，如 XH-2026-0001",
      hint: "项目须已在项目库登记并取得施工许可证。" },
    { name: "construction_uscc", label: "施工单位统一社会信用代码", required: true, placeholder: "18 位" },
  ], {
    submit: "查询项目",
    onSubmit: async (v) => {
      found.replaceChildren();
      if (!v.project_code.trim()) throw Object.assign(new Error("请输入项目代码。"), { field: "project_code" });
      if (!v.construction_uscc.trim()) {
        throw Object.assign(new Error("请输入施工单位的统一社会信用代码。"), { field: "construction_uscc" });
      }
      let p;
      try {
        p = await api(`/api/st/projects/${encodeURIComponent(v.project_code.trim())}`,
          { query: { uscc: v.construction_uscc.trim() } });
      } catch (e) {
        if (e.field === "uscc") e.field = "construction_uscc";
        throw e;
      }
      found.replaceChildren(projectCard(p, v.construction_uscc.trim(), holder));
    },
  });
  holder.replaceChildren(h("section", { class: "card register", id: "register" },
    h("h2", {}, "项目注册（施工单位）"),
    h("p", { class: "note" }, "取得施工许可证的项目，由施工单位在此注册标化工地账号，无需事先登录。注册后系统自动开通施工单位和监理单位账号，",
      "绑定本项目，并把账号和初始密码以短信发送给下面登记的联系人。"),
    lookup.el, found,
    h("p", {}, h("a", { href: "#", id: "register-back" }, "已有账号？返回登录"))));
  lookup.el.querySelector("input").focus();
}

// The project as the register holds it, then the registration form (or why it cannot be registered).
function projectCard(p, uscc, holder) {
  const facts = kv([["项目名称", p.name], ["项目代码", p.code], ["区县", p.district], ["项目地址", p.address],
    ["建设单位", p.builder_name], ["施工单位", p.construction_name], ["监理单位", p.supervision_name],
    ["施工许可证", p.has_permit ? "已取得" : "未取得"], ["开工日期", p.start_date]]);
  if (p.registered) {
    return h("div", { class: "detail", "data-registered": "true" }, facts,
      h("p", { class: "note warn" }, "该项目已经注册，请使用已有的施工单位或监理单位账号登录（忘记密码请联系属地主管部门重置）。"));
  }
  if (!p.has_permit) {
    return h("div", { class: "detail" }, facts,
      h("p", { class: "note warn" }, "该项目尚未取得施工许可证，取得施工许可证后才能注册标化工地账号。"));
  }
  const key = uuid(); // one registration however often the button is pressed
  const form = new Form([
    { name: "permit_no", label: "施工许可证号", required: true, hint: "与项目库登记的施工许可证号一致" },
    { name: "construction_name", label: "施工单位联系人", required: true },
    { name: "construction_phone", label: "施工单位联系人手机号", type: "tel", required: true,
      hint: "施工单位账号和初始密码发送到此手机" },
    { name: "supervision_name", label: "监理单位联系人", required: true },
    { name: "supervision_phone", label: "监理单位联系人手机号", type: "tel", required: true,
      hint: "监理单位账号和初始密码发送到此手机" },
  ], {
    submit: "注册",
    onSubmit: async (v) => {
      const out = await api("/api/st/registrations", {
        method: "POST",
        headers: { "Idempotency-Key": key },
        body: {
          project_code: p.code,
          permit_no: v.permit_no,
          construction_uscc: uscc,
          construction_contact: { name: v.construction_name, phone: v.construction_phone },
          supervision_contact: { name: v.supervision_name, phone: v.supervision_phone },
        },
      });
      done(holder, out);
    },
  });
  return h("div", { class: "detail" }, facts, h("h3", {}, "注册信息"), form.el);
}

// What was created and what to do next.
function done(holder, out) {
  holder.replaceChildren(h("section", { class: "card register", id: "register-done" },
    h("h2", {}, "注册成功"),
    h("p", {}, `项目「${out.project.name}」（${out.project.code}，${out.project.district}）已注册，已开通以下账号并绑定本项目：`),
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "单位"), h("th", {}, "账号"), h("th", {}, "短信发送至"))),
      h("tbody", {}, out.accounts.map((a) => h("tr", { "data-account": a.role },
        h("td", {}, ROLE[a.role] || a.role), h("td", { class: "mono" }, a.username), h("td", {}, a.phone)))))),
    h("p", {}, out.message),
    h("ol", { class: "steps" },
      h("li", {}, "联系人收到短信后，用短信中的账号和初始密码登录本工作台或手机端（/m）。"),
      h("li", {}, "首次登录须修改初始密码。"),
      h("li", {}, "施工单位在「项目信息」中核对、补充项目信息，按月在「月度申报」中申报；监理单位审核。")),
    h("p", {}, h("a", { class: "btn primary", href: "#", id: "register-login" }, "去登录"))));
}
