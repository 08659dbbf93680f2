// Small helpers of the phone app: elements, the toast, the confirm/reason sheet, dates in Beijing time.
import { escapeHtml } from "/static/js/api.js";

export { escapeHtml };
export const $ = (id) => document.getElementById(id);

// Template literal tag: interpolated values are escaped unless wrapped in raw().
export function html(strings, ...values) {
  let out = strings[0];
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1];
  });
  return new Raw(out);
}

class Raw {
  constructor(text) { this.text = text; }
  toString() { return this.text; }
}

export const raw = (text) => new Raw(String(text));

function render(v) {
  if (v instanceof Raw) return v.text;
  if (Array.isArray(v)) return v.map(render).join("");
  if (v === null || v === undefined || v === false) return "";
  return escapeHtml(v);
}

let toastTimer = null;

// A short message at the bottom of the screen; kind "error" stays longer.
export function toast(message, kind = "") {
  const el = $("toast");
  el.textContent = message;
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 8000 : 3500);
}

// The bottom sheet: a confirmation, or a text answer (a reason) when `input` is given. Resolves to
// true / the text when confirmed, null when cancelled. `check(text)` may return an error message.
export function ask({ title, text = "", input = null, ok = "确定", danger = false, check = null }) {
  const sheet = $("sheet");
  const form = $("sheet-form");
  const field = $("sheet-field");
  const area = $("sheet-input");
  const error = $("sheet-error");
  $("sheet-title").textContent = title;
  $("sheet-text").textContent = text;
  $("sheet-text").hidden = !text;
  $("sheet-ok").textContent = ok;
  $("sheet-ok").classList.toggle("danger", danger);
  field.hidden = !input;
  if (input) {
    $("sheet-label").textContent = input;
    area.value = "";
  }
  error.hidden = true;
  sheet.hidden = false;
  (input ? area : $("sheet-ok")).focus();
  return new Promise((resolve) => {
    const done = (value) => {
      sheet.hidden = true;
      form.onsubmit = null;
      $("sheet-cancel").onclick = null;
      resolve(value);
    };
    form.onsubmit = (e) => {
      e.preventDefault();
      const value = input ? area.value.trim() : true;
      const problem = check ? check(value) : null;
      if (problem) {
        error.textContent = problem;
        error.hidden = false;
        return;
      }
      done(value);
    };
    $("sheet-cancel").onclick = () => done(null);
  });
}

// -- dates: the business runs on Beijing time -------------------------------------------------------------------

const BEIJING_MS = 8 * 3600 * 1000;

// "YYYY-MM" of this month (offset 0) or an earlier one (offset -1 …), in Beijing time.
export function beijingMonth(offset = 0) {
  const d = new Date(Date.now() + BEIJING_MS);
  const total = d.getUTCFullYear() * 12 + d.getUTCMonth() + offset;
  return `${Math.floor(total / 12)}-${String((total % 12) + 1).padStart(2, "0")}`;
}

// "YYYY-MM-DD" of today in Beijing time.
export function today() {
  return new Date(Date.now() + BEIJING_MS).toISOString().slice(0, 10);
}

export function monthTitle(month) {
  const [y, m] = month.split("-");
  return `${y}年${m}月`;
}

export function timeText(iso) {
  if (!iso) return "";
  const d = new Date(new Date(iso).getTime() + BEIJING_MS);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`;
}

export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // Plain-HTTP pages have no randomUUID: a version-4 UUID from getRandomValues.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
