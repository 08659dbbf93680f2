// Sign-in in the top bar: 「登录」 opens a small form (user name, phone number or ID card number, and password)
// posting to /api/auth/login; signed in, the bar shows the user's name and 「退出」. Every change of session
// calls onChange, which reloads the layers the user may see (and so the drawing tools).
import { session, signIn, signOut } from "./api.js";

const $ = (id) => document.getElementById(id);

export class Account {
  constructor({ onChange, toast }) {
    this.onChange = onChange;
    this.toast = toast;
    this.form = $("login-form");
    this.loginButton = $("login-button");
    this.logoutButton = $("logout-button");
    this.name = $("account-name");
    this.error = $("login-error");
    this.username = $("login-username");
    this.password = $("login-password");
    this.stale = false; // the layers shown are those of a session that has ended
  }

  build() {
    this.loginButton.addEventListener("click", () => (this.form.hidden ? this.open() : this.close()));
    $("login-cancel").addEventListener("click", () => this.close());
    this.form.addEventListener("submit", (e) => { e.preventDefault(); this.submit(); });
    this.form.addEventListener("keydown", (e) => { if (e.key === "Escape") this.close(); });
    this.form.addEventListener("input", () => { this.error.hidden = true; });
    this.logoutButton.addEventListener("click", () => this.logout());
    // A session that ended on the server (expired, idle, signed out elsewhere): sign in again in place. The
    // page keeps what is being drawn; the next save goes out with the new session.
    session.onExpired = (error) => {
      this.stale = true;
      this.render();
      this.open(error.message);
    };
    this.render();
    this.settled();
  }

  render() {
    const user = session.user;
    this.loginButton.hidden = Boolean(user);
    this.name.hidden = this.logoutButton.hidden = !user;
    this.name.textContent = user ? user.display_name || user.user : "";
    this.name.title = user ? `${user.user}${user.district ? ` · ${user.district}` : ""}` : "";
    if (user) this.close();
  }

  open(message = "") {
    this.showError(message);
    this.form.hidden = false;
    this.loginButton.setAttribute("aria-expanded", "true");
    (this.username.value ? this.password : this.username).focus();
  }

  close() {
    this.form.hidden = true;
    this.loginButton.setAttribute("aria-expanded", "false");
    this.password.value = "";
    if (this.stale && !session.user) {
      // Not signing in again after all: the page becomes what an anonymous visitor sees.
      this.stale = false;
      this.onChange().then(() => this.settled());
    }
  }

  // The page shows what this session may see (body[data-user]: the signed-in user name, empty when signed out).
  settled() {
    document.body.dataset.user = session.user?.user || "";
  }

  showError(message) {
    this.error.textContent = message;
    this.error.hidden = !message;
  }

  async submit() {
    const username = this.username.value.trim();
    const password = this.password.value;
    if (!username) { this.showError("请输入用户名、手机号或身份证号。"); this.username.focus(); return; }
    if (!password) { this.showError("请输入密码。"); this.password.focus(); return; }
    const button = $("login-submit");
    button.disabled = true;
    this.showError("");
    let user;
    try {
      user = await signIn(username, password);
    } catch (e) {
      // The server's own words (a wrong password, an unknown, disabled or locked account: all the same answer).
      this.showError(e.message);
      this.password.select();
      this.password.focus();
      return;
    } finally {
      button.disabled = false;
    }
    this.stale = false;
    this.render();
    await this.onChange();
    this.settled();
    this.toast(`已登录：${user.display_name || user.user}`, "ok");
  }

  async logout() {
    this.logoutButton.disabled = true;
    try {
      await signOut();
    } catch (e) {
      this.toast(e.message, "error");
      return;
    } finally {
      this.logoutButton.disabled = false;
    }
    this.username.value = "";
    this.render();
    await this.onChange();
    this.settled();
    this.toast("已退出登录。");
  }
}
