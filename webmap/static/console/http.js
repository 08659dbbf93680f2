// Talking to /api from the back office (/admin) and the site workbench (/st): JSON (or multipart for files) in, JSON
// out, the session cookie, and the error shape {code, message, field, detail}. Every write echoes the cj_csrf cookie
// in X-CSRF-Token.

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `请求失败（${status}）`);
    this.status = status;
    this.code = body?.code || "http_error";
    this.field = body?.field || null;
    this.detail = body?.detail || {};
  }
}

export function cookie(name) {
  const hit = document.cookie.split("; ").find((c) => c.startsWith(`${name}=`));
  return hit ? decodeURIComponent(hit.slice(name.length + 1)) : "";
}

// A query string of the non-empty values of `query`.
export function queryString(query = {}) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== "" && v !== null && v !== undefined) p.set(k, v);
  }
  const s = p.toString();
  return s ? `?${s}` : "";
}

// `body` is sent as JSON, `form` (a FormData) as multipart; `headers` are added (an Idempotency-Key).
export async function api(path, { method = "GET", body, form, query, headers: extra = {} } = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (method !== "GET") headers["X-CSRF-Token"] = cookie("cj_csrf");
  const init = { method, headers, credentials: "same-origin" };
  if (form !== undefined) {
    init.body = form;
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  let res;
  try {
    res = await fetch(path + queryString(query), init);
  } catch {
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
  return data;
}
