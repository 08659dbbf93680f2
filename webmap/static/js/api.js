// Talking to the server: JSON requests and our error shape {code, message, field, detail}.
//
// Interim authentication (until the accounts issue): read requests go out anonymous (`make run` gives
// anonymous visitors the read-only `leader` role); with 「编辑模式」 on, every request — tiles included —
// carries the development headers below. Browsers only send ISO-8859-1 header values, so the user name
// is ASCII. The accounts issue replaces this module's headers() with the real session.

const EDIT_USER = "webmap-editor";
const EDIT_ROLES = "admin";

export const session = { editing: false };

export function headers(extra = {}) {
  const h = { ...extra };
  if (session.editing) {
    h["X-Chengjian-User"] = EDIT_USER;
    h["X-Chengjian-Roles"] = EDIT_ROLES;
  }
  return h;
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
  const init = { method, headers: headers(extra) };
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
  if (!res.ok) throw new ApiError(res.status, data);
  return { data, etag: res.headers.get("ETag"), status: res.status };
}

export function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
