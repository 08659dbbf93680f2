// The boot of a module's workbench page: sign in with the cookie session, then the tabs the account's permissions
// allow, routed by the address's hash (#tab, #tab/arg…) so that a reload stays where the user was.
//
// The page holds three sections — #login (with #login-form), #denied and #app (with #tabs and the route's pane) — and
// a #whoami line and a #logout button. `workbench({ tabs, route, prepare })`:
//   tabs    [[id, title, permission, mount(pane, ctx)], …] — a tab without a permission is everyone's; a permission
//           may be a function (ctx) => boolean, asked after prepare (e.g. rights the module's own API reports);
//   route   async (ctx) => …, called once signed in and on every hash change; ctx = { me, can, tabs } (allowed tabs);
//   prepare async (me) => …, optional, once signed in with at least one tab, before the first route (e.g. load a
//           vocabulary); what it returns (an object) joins ctx.
// It returns { showLogin(message) } for a route that meets an expired session (401).
import { api } from "./http.js";
import { Form, h, toast } from "./ui.js";

const $ = (id) => document.getElementById(id);

/** A test of a permission against the account's patterns (``review.*``, ``*``). */
export function matcher(patterns) {
  const res = patterns.map((p) => new RegExp(`^${p.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`));
  return (perm) => !perm || res.some((r) => r.test(perm));
}

/** An idempotency key (crypto.randomUUID is missing on plain http outside localhost). */
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return [...crypto.getRandomValues(new Uint8Array(16))].map((v) => v.toString(16).padStart(2, "0")).join("");
}

export function workbench({ tabs, route, prepare }) {
  function show(section) {
    for (const id of ["login", "denied", "app"]) $(id).hidden = id !== section;
    $("logout").hidden = section === "login";
    document.body.dataset.state = section;
  }

  function showLogin(message) {
    show("login");
    $("whoami").textContent = "";
    const form = new Form([
      { name: "username", label: "用户名", required: true, autocomplete: "username" },
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
  }

  async function start() {
    const me = await api("/api/auth/me");
    if (!me.authenticated) return showLogin();
    const can = matcher(me.permissions);
    const asked = (perm) => typeof perm === "function";
    let allowed = tabs.filter(([, , perm]) => asked(perm) || can(perm));
    $("whoami").textContent = me.display_name ? `${me.display_name}（${me.user}）` : me.user;
    if (!allowed.some(([, , perm]) => !asked(perm))) return show("denied");
    const ctx = { me, can, ...(prepare ? await prepare(me) : {}) };
    allowed = allowed.filter(([, , perm]) => !asked(perm) || perm(ctx));
    ctx.tabs = allowed;
    show("app");
    $("tabs").replaceChildren(...allowed.map(([id, title]) => h("button", {
      type: "button", role: "tab", class: "tab", "data-tab": id, onclick: () => { location.hash = id; },
    }, title)));
    window.onhashchange = () => route(ctx);
    await route(ctx);
  }

  $("logout").addEventListener("click", async () => {
    try {
      await api("/api/auth/logout", { method: "POST" });
    } catch (e) {
      toast(e.message, "error");
    }
    history.replaceState(null, "", location.pathname);
    showLogin();
  });

  start().catch((e) => toast(e.message || String(e), "error"));
  return { showLogin };
}
