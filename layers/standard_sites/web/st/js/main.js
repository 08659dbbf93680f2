// The workbench page: sign in (the cookie session), then the tabs the signed-in user's permissions allow.
// The address keeps the tab and the open record (#reports, #reports/12) so that a reload stays there.
import { ApiError, api } from "/static/console/http.js";
import { Form, dialog, h, toast } from "./ui.js";
import { reset } from "./records.js";
import { loadLabels } from "./labels.js";
import * as cases from "./cases.js";
import * as registers from "./registers.js";
import * as stats from "./stats.js";
import * as draws from "./draws.js";
import * as reviews from "./reviews.js";
import * as register from "./register.js";
import * as project from "./project.js";

// [id, title, permission, mount(pane, ctx, sub)]
const TABS = [
  ["reports", "月度申报", "site.view", cases.reports],
  ["bonus", "加分项", "site.view", cases.bonus],
  ["evaluations", "考评申报", "site.view", cases.evaluations],
  ["deductions", "减分项", "site.view", registers.deductions],
  ["stages", "阶段考评", "site.view", registers.stages],
  ["notices", "通知公告", "site.view", registers.notices],
  ["project", "项目信息", "site.view", project.mount],
  ["stats", "统计", "site.stats.view", stats.mount],
  ["config", "配置", "site.config", registers.config],
  ["experts", "专家库", "site.experts", registers.experts],
  ["draws", "抽取", "site.experts", draws.mount],
  ["reviews", "我的评审", "site.expert_review", reviews.mount],
];

const $ = (id) => document.getElementById(id);

// Permissions are granted as patterns (`*.view`, `site.*`), matched like the server's fnmatch.
function matcher(patterns) {
  const res = patterns.map((p) => new RegExp(`^${p.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`));
  return (perm) => !perm || res.some((r) => r.test(perm));
}

function show(section) {
  for (const id of ["login", "denied", "app", "signup"]) $(id).hidden = id !== section;
  $("logout").hidden = section === "login" || section === "signup";
  $("password").hidden = section === "login" || section === "signup";
  document.body.dataset.state = section;
}

// 项目注册 (#register): open to anyone, signed in or not; leaving it goes back to the start.
function showRegister() {
  show("signup");
  register.mount($("signup"));
  window.onhashchange = () => start().catch((e) => toast(e.message || String(e), "error"));
  $("signup").onclick = (e) => {
    if (e.target.closest("#register-back, #register-login")) {
      e.preventDefault();
      history.replaceState(null, "", location.pathname);
      start().catch((err) => toast(err.message || String(err), "error"));
    }
  };
}

function showLogin(message, expert = false) {
  show("login");
  window.onhashchange = () => { if (location.hash === "#register") showRegister(); };
  $("whoami").textContent = "";
  const form = expert ? otpForm() : new Form([
    { name: "username", label: "用户名", required: true, autocomplete: "username", placeholder: "用户名、手机号或身份证号" },
    { name: "password", label: "密码", type: "password", required: true, autocomplete: "current-password" },
  ], {
    submit: "登录",
    onSubmit: async (v) => {
      await api("/api/auth/login", { method: "POST", body: v });
      await start();
    },
  });
  const other = h("button", { type: "button", class: "btn ghost-dark", id: "login-switch", onclick: () => showLogin(null, !expert) },
    expert ? "用户名和密码登录" : "评审专家：手机号 + 短信动态密码登录");
  $("login-form").replaceChildren(form.el, h("p", {}, other));
  if (message) form.showError({ message });
  form.el.querySelector("input").focus();
}

// Drawn experts sign in inside their review window with their phone (or ID number) and an SMS dynamic password.
// A code signs in once; for the next sign-in inside the window a new one is sent from here (「重新发送动态密码」).
function otpForm() {
  const ask = h("button", { type: "button", class: "btn", id: "otp-resend" }, "重新发送动态密码");
  const form = new Form([
    { name: "login", label: "手机号或身份证号", required: true, autocomplete: "username" },
    { name: "code", label: "短信动态密码", required: true, autocomplete: "one-time-code" },
  ], {
    submit: "登录",
    extra: [ask],
    onSubmit: async (v) => {
      await api("/api/auth/otp/login", { method: "POST", body: { login: v.login, code: v.code } });
      await start();
    },
  });
  const sent = h("p", { class: "note", id: "otp-sent", role: "status", hidden: true });
  ask.addEventListener("click", async () => {
    form.clearErrors();
    sent.hidden = true;
    if (!form.values().login.trim()) {
      form.showError({ message: "请先输入手机号或身份证号。", field: "login" });
      return;
    }
    ask.disabled = true;
    try {
      const out = await api("/api/auth/otp/request", { method: "POST", body: { login: form.values().login.trim() } });
      sent.textContent = out.message;
      sent.hidden = false;
      form.el.querySelector("input[name=code]").focus();
    } catch (e) {
      form.showError(e);
    } finally {
      ask.disabled = false;
    }
  });
  form.el.prepend(h("p", { class: "note", id: "otp-rules" },
    "评审专家被抽中后会收到短信动态密码。动态密码只能登录一次，在短信所写的评审时间内有效；",
    "评审时间内再次登录（如换了电脑或已退出），请输入手机号或身份证号后点「重新发送动态密码」。"), sent);
  return form;
}

async function openTab(ctx, tabs) {
  const [name, sub] = location.hash.slice(1).split("/");
  const tab = tabs.find((t) => t[0] === name) || tabs[0];
  for (const b of $("tabs").children) b.setAttribute("aria-selected", String(b.dataset.tab === tab[0]));
  const pane = h("div", { class: "pane", "data-tab": tab[0] });
  $("view").replaceChildren(pane);
  document.body.dataset.tab = tab[0];
  try {
    await tab[3](pane, ctx, tab[0] === name ? sub : undefined);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return showLogin("登录已失效，请重新登录。");
    pane.append(h("p", { class: "form-error" }, e.message || String(e)));
  }
}

async function showApp(me) {
  await loadLabels(); // the case types' labels and the districts, as the server declares them
  const can = matcher(me.permissions);
  const ctx = { me, can, lists: {}, cityWide: me.scope === "全市" }; // scope: "全市", or districts / 本单位参与的项目
  const tabs = TABS.filter(([, , perm]) => can(perm));
  $("whoami").textContent = me.display_name ? `${me.display_name}（${me.user}）` : me.user;
  if (!tabs.length) return show("denied");
  show("app");
  $("tabs").replaceChildren(...tabs.map(([id, title]) => h("button", {
    type: "button", role: "tab", class: "tab", "data-tab": id, onclick: () => { location.hash = id; },
  }, title)));
  // Experts land on their reviews; everybody else on the first tab.
  if (!location.hash && can("site.expert_review") && !can("site.report.submit") && !can("site.report.review")) {
    history.replaceState(null, "", "#reviews");
  }
  window.onhashchange = () => openTab(ctx, tabs);
  openTab(ctx, tabs);
}

async function start() {
  reset();
  if (location.hash === "#register") return showRegister();
  const me = await api("/api/auth/me");
  if (!me.authenticated) return showLogin();
  showApp(me);
  if (me.must_change_password) changePassword(true);
}

// The password change; `forced` (an initial or reset password): the dialog cannot be closed until it is done.
function changePassword(forced = false) {
  let d;
  const form = new Form([
    { name: "old_password", label: forced ? "原密码（短信发送的初始密码）" : "原密码", type: "password", required: true,
      autocomplete: "current-password" },
    { name: "new_password", label: "新密码", type: "password", required: true, autocomplete: "new-password",
      hint: "至少 10 位，须含字母和数字，不能包含用户名" },
    { name: "again", label: "再次输入新密码", type: "password", required: true, autocomplete: "new-password" },
  ], {
    submit: "修改密码",
    cancel: forced ? null : () => d.close(),
    onSubmit: async (v) => {
      if (v.new_password !== v.again) throw Object.assign(new Error("两次输入的新密码不一致。"), { field: "again" });
      const out = await api("/api/auth/password", { method: "POST", body: { old_password: v.old_password, new_password: v.new_password } });
      d.close();
      toast(out?.message || "密码已修改。");
    },
  });
  d = dialog("修改密码", h("div", { id: "password-form" },
    forced ? h("p", { class: "note warn" }, "您正在使用短信发送的初始密码（或管理员重置的密码），请先修改密码再继续使用。") : null, form.el));
  if (forced) {
    d.el.querySelector("header .close").hidden = true;
    d.el.addEventListener("cancel", (e) => e.preventDefault()); // Esc does not close it
  }
  form.el.querySelector("input").focus();
}

$("password").addEventListener("click", () => changePassword());
$("logout").addEventListener("click", async () => {
  try {
    await api("/api/auth/logout", { method: "POST" });
  } catch (e) {
    toast(e.message, "error");
  }
  reset();
  history.replaceState(null, "", location.pathname);
  showLogin();
});

start().catch((e) => toast(e.message || String(e), "error"));
