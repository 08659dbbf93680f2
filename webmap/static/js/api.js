// Talking to the server: JSON requests and our error shape {code, message, field, detail}.
//
// The browser session is the `cj_session` cookie (HttpOnly, set by POST /api/auth/login): same-origin requests —
// fetch() here and MapLibre's tile requests — carry it by themselves. Cookie-authenticated writes must echo the
// session's CSRF token (the `cj_csrf` cookie, readable by this page) in `X-CSRF-Token`. Signed out, requests
// go out anonymous (`make run` gives anonymous visitors the read-only `leader` role).

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

// Who is signed in: GET /api/auth/me's answer when authenticated, else null.
export const session = { user: null, onExpired: null };

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return null;
}

export function csrfToken() {
  return cookie("cj_csrf") || session.user?.csrf_token || null;
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `请求失败（${status}）`);
    this.status = status;
    this.code = body?.code || "http_error";
    this.field = body?.field || null;
    this.detail = body?.detail || {};
  }
}

export async function api(path, { method = "GET", body, headers: extra = {} } = {}) {
  const init = { method, headers: { ...extra }, credentials: "same-origin" };
  if (!SAFE_METHODS.has(method.toUpperCase())) {
    const csrf = csrfToken();
    if (csrf) init.headers["X-CSRF-Token"] = csrf;
  }
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, { code: "network", message: "无法连接服务器，请检查网络。" });
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const error = new ApiError(res.status, data);
    // The session ended on the server (expired, signed out elsewhere, account disabled): tell the page.
    if (res.status === 401 && session.user && !path.startsWith("/api/auth/")) {
      session.user = null;
      session.onExpired?.(error);
    }
    throw error;
  }
  return { data, etag: res.headers.get("ETag"), status: res.status };
}

// -- the session ------------------------------------------------------------------------------------------------

export async function whoAmI() {
  const { data } = await api("/api/auth/me");
  session.user = data.authenticated ? data : null;
  return session.user;
}

export async function signIn(username, password) {
  await api("/api/auth/login", { method: "POST", body: { username, password } });
  const user = await whoAmI();
  // Signed in, yet the next request went out without the cookie: a Secure cookie over plain HTTP.
  if (!user) throw new ApiError(0, { code: "cookie_refused", message: "登录成功，但浏览器未保存登录状态，请通过 HTTPS 访问本页面。" });
  return user;
}

export async function signOut() {
  try {
    await api("/api/auth/logout", { method: "POST" });
  } catch (e) {
    // An already ended session (401) is signed out all the same.
    if (e.status !== 401) throw e;
  }
  session.user = null;
}

export function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
