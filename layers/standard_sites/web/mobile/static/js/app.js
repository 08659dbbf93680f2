// The phone app of the standardized construction sites (杭州标化工地, SPEC ST-26): a hash router over a few
// screens — 登录, 修改密码, 我的项目, a project, its 月度申报, 加分项 and 考评申报, 阶段考评登记 (the authority's officers),
// 上传队列.
//
// The session is the platform's cookie session (POST /api/auth/login); writes echo the cj_csrf cookie. The
// service worker (/m/sw.js) keeps the app shell for an offline start; data always comes from the server, and the
// photos taken offline wait in the upload queue (queue.js). The page tells the tests where it is:
// body[data-screen] is the screen shown once it has loaded, body[data-user] the signed-in user.
import { ApiError, session, signOut, whoAmI } from "/static/js/api.js";
import { queue } from "./queue.js";
import { $, ask, toast } from "./ui.js";
import * as account from "./screens/account.js";
import * as bonus from "./screens/bonus.js";
import * as projects from "./screens/projects.js";
import * as sites from "./screens/sites.js";
import * as evaluation from "./screens/evaluation.js";
import * as report from "./screens/report.js";
import * as stage from "./screens/stage.js";
import * as uploads from "./screens/uploads.js";

const USER_KEY = "cj-mobile-user";

// route pattern -> [screen module function, needs a signed-in user]
const ROUTES = [
  [/^\/login$/, account.login, false],
  [/^\/password$/, account.password, true],
  [/^\/projects$/, projects.list, true],
  [/^\/sites$/, sites.list, true],
  [/^\/site\/(\d+)$/, projects.site, true],
  [/^\/site\/(\d+)\/month\/(\d{4}-\d{2})$/, report.openMonth, true],
  [/^\/report\/(\d+)$/, report.show, true],
  [/^\/site\/(\d+)\/evaluation$/, evaluation.open, true],
  [/^\/evaluation\/(\d+)$/, evaluation.show, true],
  [/^\/site\/(\d+)\/bonus$/, bonus.list, true],
  [/^\/bonus\/(\d+)$/, bonus.show, true],
  [/^\/site\/(\d+)\/stage\/new\/(foundation|main_structure|decoration)$/, stage.create, true],
  [/^\/stage\/(\d+)$/, stage.show, true],
  [/^\/queue$/, uploads.show, true],
];

const app = {
  offline: false, // started without the server (the user is the one remembered)
  cleanup: null,
  serial: 0,

  go(path, { replace = false } = {}) {
    const hash = `#${path}`;
    if (location.hash === hash) {
      this.route();
    } else if (replace) {
      history.replaceState(null, "", hash);
      this.route();
    } else {
      location.hash = hash;
    }
  },

  // The header: title and where 「‹」 goes (null: no back button).
  frame(title, back = null) {
    $("title").textContent = title;
    document.title = title === "杭州标化工地" ? title : `${title} - 杭州标化工地`;
    const button = $("back");
    button.hidden = !back;
    button.onclick = back ? () => this.go(back) : null;
  },

  // A screen finished loading (tests and screen readers look at this).
  ready(screen) {
    document.body.dataset.screen = screen;
  },

  // A screen failed to load: the reason, and a retry.
  failed(error, screen) {
    const offline = error instanceof ApiError && error.status === 0;
    $("view").innerHTML = `<div class="card error-card"><p class="form-error"></p>
      ${offline ? '<p class="hint">联网后点「重试」。已拍的照片保存在手机上，在「上传队列」中等待联网后自动上传。</p>' : ""}
      <div class="actions"><button type="button" class="btn primary" id="retry">重试</button>
      <a class="btn" href="#/queue">上传队列</a></div></div>`;
    $("view").querySelector(".form-error").textContent = error.message || String(error);
    $("retry").onclick = () => this.route();
    this.ready(`${screen}-error`);
  },

  async route() {
    const path = location.hash.replace(/^#/, "") || "/";
    const serial = ++this.serial;
    this.closeMenu();
    if (this.cleanup) {
      try { this.cleanup(); } catch { /* a screen's own affair */ }
      this.cleanup = null;
    }
    document.body.dataset.screen = "loading";
    if (path === "/") {
      this.go(session.user ? "/projects" : "/login", { replace: true });
      return;
    }
    const match = ROUTES.map(([re, fn, auth]) => [path.match(re), fn, auth]).find(([m]) => m);
    if (!match) {
      this.go("/", { replace: true });
      return;
    }
    const [m, fn, auth] = match;
    if (auth && !session.user) {
      sessionStorage.setItem("cj-mobile-after-login", path);
      this.go("/login", { replace: true });
      return;
    }
    if (auth && session.user?.must_change_password && path !== "/password") {
      this.go("/password", { replace: true });
      return;
    }
    $("view").innerHTML = '<p class="hint center">正在加载…</p>';
    try {
      const cleanup = await fn(this, ...m.slice(1));
      if (serial !== this.serial) {
        if (typeof cleanup === "function") cleanup();
        return;
      }
      this.cleanup = typeof cleanup === "function" ? cleanup : null;
    } catch (e) {
      if (serial !== this.serial) return;
      console.warn(e);
      this.failed(e, path.split("/")[1] || "home");
    }
    $("view").focus({ preventScroll: true });
    window.scrollTo(0, 0);
  },

  // -- the session ------------------------------------------------------------------------------------------------

  signedIn(user) {
    this.offline = false;
    this.remember(user);
    this.renderAccount();
    queue.wake();
  },

  remember(user) {
    if (!user) {
      localStorage.removeItem(USER_KEY);
      return;
    }
    const { csrf_token: _omit, ...keep } = user;
    localStorage.setItem(USER_KEY, JSON.stringify(keep));
  },

  renderAccount() {
    const user = session.user;
    document.body.dataset.user = user?.user || "";
    $("menu-button").hidden = !user;
    $("menu-sites").hidden = !this.can("site.stage"); // the local authority's officers: every site in scope
    $("menu-user").textContent = user ? `${user.display_name || user.user}（${user.user}）` : "";
  },

  user() {
    return session.user?.user || null;
  },

  can(permission) {
    const perms = session.user?.permissions || [];
    return perms.some((p) => p === permission || (p.includes("*") && new RegExp(`^${p.replace(/[.]/g, "\\.").replace(/\*/g, ".*")}$`).test(permission)));
  },

  async logout() {
    const pending = await queue.count();
    if (pending) {
      const ok = await ask({
        title: "退出登录", ok: "仍要退出", danger: true,
        text: `还有 ${pending} 张照片未上传。退出后它们留在手机上，您下次登录时继续上传。`,
      });
      if (!ok) return;
    }
    try {
      await signOut();
    } catch (e) {
      toast(e.message, "error");
      return;
    }
    this.remember(null);
    this.renderAccount();
    toast("已退出登录。");
    this.go("/login");
  },

  // -- chrome -----------------------------------------------------------------------------------------------------

  closeMenu() {
    $("menu").hidden = true;
    $("menu-button").setAttribute("aria-expanded", "false");
  },

  async renderQueueBadge() {
    let n = 0;
    try {
      n = session.user ? await queue.count() : 0;
    } catch { /* no IndexedDB (private mode): nothing queued */ }
    const badge = $("queue-badge");
    badge.hidden = n === 0;
    badge.textContent = `待上传 ${n}`;
    document.body.dataset.queued = String(n);
  },

  renderNetwork() {
    $("net").hidden = navigator.onLine;
  },
};

async function boot() {
  $("menu-button").addEventListener("click", () => {
    const menu = $("menu");
    menu.hidden = !menu.hidden;
    $("menu-button").setAttribute("aria-expanded", String(!menu.hidden));
  });
  $("menu").addEventListener("click", (e) => { if (e.target.closest("a")) app.closeMenu(); });
  $("logout").addEventListener("click", () => { app.closeMenu(); app.logout(); });
  window.addEventListener("hashchange", () => app.route());
  window.addEventListener("online", () => app.renderNetwork());
  window.addEventListener("offline", () => app.renderNetwork());
  app.renderNetwork();

  session.onExpired = () => {
    app.remember(null);
    app.renderAccount();
    toast("登录已失效，请重新登录。已拍的照片会在登录后继续上传。", "error");
    sessionStorage.setItem("cj-mobile-after-login", location.hash.replace(/^#/, ""));
    app.go("/login");
  };
  queue.addEventListener("change", () => app.renderQueueBadge());
  queue.addEventListener("refused", (e) => toast(`${e.detail.label}：${e.detail.message}`, "error"));
  queue.addEventListener("auth", () => {
    if (session.user) {
      session.user = null;
      session.onExpired();
    }
  });

  try {
    const user = await whoAmI();
    if (user) app.signedIn(user);
    else app.remember(null);
  } catch (e) {
    // No server: start with the user remembered from last time (the cookie may well still be good).
    const remembered = localStorage.getItem(USER_KEY);
    if (remembered) session.user = JSON.parse(remembered);
    app.offline = true;
    toast("无法连接服务器：已拍的照片会在联网后自动上传。", "error");
  }
  app.renderAccount();
  app.renderQueueBadge();
  queue.start();
  const reconnect = async () => {
    // Back online after an offline start: check the session for real.
    if (!app.offline || app.reconnecting) return;
    app.reconnecting = true;
    try {
      const user = await whoAmI();
      if (user) {
        app.signedIn(user);
        app.route(); // the screen again, from the server
      } else {
        session.onExpired();
      }
    } catch { /* still unreachable */ } finally {
      app.reconnecting = false;
    }
  };
  window.addEventListener("online", reconnect);
  queue.addEventListener("uploaded", reconnect); // the server answers again (whatever the browser thinks)
  await app.route();
  registerServiceWorker();
}

function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("/m/sw.js", { scope: "/m" }).then(() => navigator.serviceWorker.ready)
    .then(() => { document.body.dataset.sw = "ready"; })
    .catch((e) => console.warn("service worker:", e.message));
}

window.cjMobile = app;
boot();
