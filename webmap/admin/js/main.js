// The back office page: sign in (the cookie session), then the tabs the signed-in user may open.
// The tab is kept in the address (#users, #log …) so a reload stays on it.
import { ApiError, api } from "/static/console/http.js";
import { Form, h, toast } from "/static/console/ui.js";
import * as users from "./users.js";
import * as orgs from "./orgs.js";
import * as roles from "./roles.js";
import * as keys from "./keys.js";
import * as log from "./log.js";
import * as sms from "./sms.js";
import * as calendar from "./calendar.js";

const TABS = {
  users: ["用户", users],
  orgs: ["单位", orgs],
  roles: ["角色与权限", roles],
  keys: ["API 密钥", keys],
  log: ["操作日志", log],
  sms: ["短信发件箱", sms],
  calendar: ["工作日历", calendar],
};

const $ = (id) => document.getElementById(id);

function show(section) {
  for (const id of ["login", "denied", "app"]) $(id).hidden = id !== section;
  $("logout").hidden = section === "login";
  document.body.dataset.state = section;
}

function showLogin(message) {
  show("login");
  $("whoami").textContent = "";
  const form = new Form([
    { name: "username", label: "用户名", required: true, autocomplete: "username", placeholder: "用户名、手机号或身份证号" },
    { name: "password", label: "密码", type: "password", required: true, autocomplete: "current-password" },
  ], {
    submit: "登录",
    onSubmit: async (v) => {
      await api("/api/auth/login", { method: "POST", body: v });
      await start();
    },
  });
  $("login-form").replaceChildren(form.el);
  if (message) form.showError({ message });
  form.el.querySelector("input").focus();
}

async function openTab(name, meta) {
  for (const b of $("tabs").children) b.setAttribute("aria-selected", String(b.dataset.tab === name));
  const pane = h("div", { class: "pane", "data-tab": name });
  $("view").replaceChildren(pane);
  document.body.dataset.tab = name;
  try {
    await TABS[name][1].mount(pane, meta);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return showLogin("登录已失效，请重新登录。");
    pane.append(h("p", { class: "form-error" }, e.message || String(e)));
  }
}

function showApp(meta) {
  show("app");
  $("whoami").textContent = meta.display_name ? `${meta.display_name}（${meta.user}）` : meta.user;
  const tabs = Object.keys(TABS).filter((t) => meta.tabs.includes(t));
  $("tabs").replaceChildren(...tabs.map((t) => h("button", {
    type: "button", role: "tab", class: "tab", "data-tab": t,
    onclick: () => { location.hash = t; },
  }, TABS[t][0])));
  const pick = () => openTab(tabs.includes(location.hash.slice(1)) ? location.hash.slice(1) : tabs[0], meta);
  window.onhashchange = pick;
  pick();
}

async function start() {
  const me = await api("/api/auth/me");
  if (!me.authenticated) return showLogin();
  let meta;
  try {
    meta = await api("/api/admin/meta");
  } catch (e) {
    if (e.status === 401) return showLogin();
    if (e.status !== 403) throw e;
    $("whoami").textContent = me.display_name || me.user;
    return show("denied");
  }
  showApp(meta);
}

$("logout").addEventListener("click", async () => {
  try {
    await api("/api/auth/logout", { method: "POST" });
  } catch (e) {
    toast(e.message, "error");
  }
  window.onhashchange = null;
  showLogin();
});

start().catch((e) => toast(e.message || String(e), "error"));
