// 登录 (user name, phone number or ID number, and password) and 修改密码 (required when the account still has
// its initial password: the SMS-sent one of a newly registered unit).
import { api, session, signIn } from "/static/js/api.js";
import { $, html, toast } from "../ui.js";

export async function login(app) {
  app.frame("杭州标化工地");
  if (session.user && !app.offline) {
    app.go("/projects", { replace: true });
    return;
  }
  $("view").innerHTML = String(html`
    <form id="login" class="card login" novalidate>
      <img class="login-logo" src="/m/static/icons/icon-192.png" alt="" width="72" height="72">
      <h2>标化工地手机端</h2>
      <p class="hint">月度申报 · 现场拍照 · 电子围栏校验</p>
      <p class="form-error" id="login-error" role="alert" hidden></p>
      <div class="field">
        <label for="login-username">用户名/手机号/身份证号</label>
        <input id="login-username" name="username" type="text" autocomplete="username" autocapitalize="off"
               spellcheck="false" maxlength="64" value="${session.user?.user || ""}">
      </div>
      <div class="field">
        <label for="login-password">密码</label>
        <input id="login-password" name="password" type="password" autocomplete="current-password" maxlength="200">
      </div>
      <button type="submit" class="btn primary block" id="login-submit">登录</button>
      <p class="hint small">新注册项目的账号和初始密码已通过短信发送给登记的联系人。</p>
    </form>`);
  const form = $("login");
  const error = $("login-error");
  const show = (message) => { error.textContent = message; error.hidden = !message; };
  form.addEventListener("input", () => show(""));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const username = $("login-username").value.trim();
    const password = $("login-password").value;
    if (!username) { show("请输入用户名、手机号或身份证号。"); $("login-username").focus(); return; }
    if (!password) { show("请输入密码。"); $("login-password").focus(); return; }
    const button = $("login-submit");
    button.disabled = true;
    let user;
    try {
      user = await signIn(username, password);
    } catch (err) {
      show(err.message); // the server's words: wrong password, locked until …
      $("login-password").select();
      return;
    } finally {
      button.disabled = false;
    }
    app.signedIn(user);
    toast(`已登录：${user.display_name || user.user}`, "ok");
    const after = sessionStorage.getItem("cj-mobile-after-login");
    sessionStorage.removeItem("cj-mobile-after-login");
    app.go(user.must_change_password ? "/password" : (after && after !== "/login" ? after : "/projects"), { replace: true });
  });
  (session.user?.user ? $("login-password") : $("login-username")).focus();
  app.ready("login");
}

export async function password(app) {
  const forced = Boolean(session.user?.must_change_password);
  app.frame("修改密码", forced ? null : "/projects");
  $("view").innerHTML = String(html`
    <form id="password" class="card" novalidate>
      ${forced ? html`<p class="notice">您正在使用短信发送的初始密码，请先修改密码再继续使用。</p>` : ""}
      <p class="form-error" id="password-error" role="alert" hidden></p>
      <div class="field">
        <label for="old-password">原密码</label>
        <input id="old-password" type="password" autocomplete="current-password" maxlength="200">
      </div>
      <div class="field">
        <label for="new-password">新密码</label>
        <input id="new-password" type="password" autocomplete="new-password" maxlength="200">
        <p class="hint small">至少 10 位，同时包含字母和数字，不能包含用户名。</p>
      </div>
      <div class="field">
        <label for="new-password-2">再次输入新密码</label>
        <input id="new-password-2" type="password" autocomplete="new-password" maxlength="200">
      </div>
      <button type="submit" class="btn primary block" id="password-submit">修改密码</button>
    </form>`);
  const error = $("password-error");
  const show = (message) => { error.textContent = message; error.hidden = !message; };
  $("password").addEventListener("input", () => show(""));
  $("password").addEventListener("submit", async (e) => {
    e.preventDefault();
    const oldPassword = $("old-password").value;
    const newPassword = $("new-password").value;
    if (!oldPassword) { show("请输入原密码。"); return; }
    if (!newPassword) { show("请输入新密码。"); return; }
    if (newPassword !== $("new-password-2").value) { show("两次输入的新密码不一致。"); return; }
    const button = $("password-submit");
    button.disabled = true;
    try {
      const { data } = await api("/api/auth/password", {
        method: "POST", body: { old_password: oldPassword, new_password: newPassword },
      });
      if (session.user) session.user.must_change_password = false;
      app.remember(session.user);
      toast(data?.message || "密码已修改。", "ok");
      app.go("/projects", { replace: true });
    } catch (err) {
      show(err.message); // the server's words: wrong old password, too weak …
    } finally {
      button.disabled = false;
    }
  });
  $("old-password").focus();
  app.ready("password");
}
