// Building blocks of the consoles (back office /admin, site workbench /st): elements, forms that show the server's
// errors next to the field the error names, tables and paged tables with filters, dialogs and the toast.
import { ApiError } from "/static/console/http.js";

let seq = 0;

// An element: attributes (`class`, `on<event>` handlers, the rest as attributes) and children (text or nodes).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function toast(message, kind = "ok") {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 6000 : 3000);
}

// Run an action that is not a form (a button): errors go to the toast.
export async function act(fn, done) {
  try {
    await fn();
    if (done) toast(done);
  } catch (e) {
    toast(e.message || String(e), "error");
  }
}

const pad = (n) => String(n).padStart(2, "0");
const beijing = (iso) => new Date(new Date(iso).getTime() + 8 * 3600 * 1000);

// 2026-11-26 09:30 (with `seconds`: 09:30:05) in Beijing time (the server's times are ISO strings with a zone).
export function fmtTime(iso, seconds = false) {
  if (!iso) return "";
  const d = beijing(iso);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`
    + (seconds ? `:${pad(d.getUTCSeconds())}` : "");
}

// This month in Beijing time: 2026-11.
export function thisMonth() {
  const d = beijing(new Date().toISOString());
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}`;
}

// A datetime-local value (Beijing wall time) as an ISO string with the +08:00 zone the server asks for.
export function withZone(local) {
  if (!local) return null;
  return `${local.length === 16 ? `${local}:00` : local}+08:00`;
}

// Options for a select: [["", "全部"], [value, label], …] from a list, a list of pairs or an object.
export function options(entries, empty = null) {
  const list = Array.isArray(entries) ? entries.map((e) => (Array.isArray(e) ? e : [e, e])) : Object.entries(entries);
  return empty === null ? list : [["", empty], ...list];
}

export const yesNo = (v) => (v ? "是" : "否");
export const dash = (v) => (v === null || v === undefined || v === "" ? "—" : v);

// A form from field specs {name, label, type, choices, value, required, hint, placeholder, min, max, step,
// accept}. Types: text, password, number, date, month, datetime-local, email, tel, select, checkbox, checkboxes,
// textarea, file, custom ({render() → element, read(element) → value}). On submit it calls onSubmit(values); an ApiError it throws is shown next to the field named by the error's
// `field` ("form.workers" and "scores.S01" find the fields "workers" and "S01"), else above the form.
export class Form {
  constructor(fields, { submit = "保存", cancel = null, onSubmit, className = "", extra = [] } = {}) {
    this.inputs = {};
    this.onSubmit = onSubmit;
    this.error = h("p", { class: "form-error", role: "alert", hidden: true });
    this.el = h("form", { class: `form ${className}`, novalidate: true }, this.error);
    for (const f of fields) this.el.append(this.field(f));
    this.button = h("button", { type: "submit", class: "btn primary" }, submit);
    const actions = h("div", { class: "form-actions" }, this.button, ...extra);
    if (cancel) actions.append(h("button", { type: "button", class: "btn", onclick: cancel }, "取消"));
    this.el.append(actions);
    this.el.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
  }

  field(f) {
    const id = `f${++seq}`;
    const type = f.type || "text";
    let input;
    if (type === "select") {
      input = h("select", { id, name: f.name }, f.choices.map(([v, label]) => h("option", { value: v }, label)));
      input.value = f.value ?? "";
      if (input.selectedIndex < 0) input.selectedIndex = 0; // no such value: the first choice
    } else if (type === "checkbox") {
      input = h("input", { id, name: f.name, type: "checkbox" });
      input.checked = Boolean(f.value);
    } else if (type === "checkboxes") {
      const chosen = new Set(f.value || []);
      input = h("div", { class: "checks", id, role: "group" }, f.choices.map(([v, label]) => {
        const box = h("input", { type: "checkbox", name: f.name, value: v });
        box.checked = chosen.has(v);
        return h("label", { class: "check" }, box, label);
      }));
    } else if (type === "textarea") {
      input = h("textarea", { id, name: f.name, rows: f.rows || 4, placeholder: f.placeholder });
      input.value = f.value ?? "";
    } else if (type === "custom") {
      input = f.render();
    } else {
      input = h("input", { id, name: f.name, type, placeholder: f.placeholder, autocomplete: f.autocomplete || "off",
        min: f.min, max: f.max, step: f.step, accept: f.accept });
      if (type !== "file") input.value = f.value ?? "";
    }
    this.inputs[f.name] = { f, input };
    const label = h("label", { for: id }, f.label, f.required ? h("span", { class: "req" }, "*") : null);
    const parts = type === "checkbox" ? [h("label", { class: "check" }, input, f.label)] : [label, input];
    return h("div", { class: `field field-${type}`, "data-field": f.name },
      ...parts,
      f.hint ? h("small", { class: "hint" }, f.hint) : null,
      h("p", { class: "field-error", hidden: true }));
  }

  values() {
    const out = {};
    for (const [name, { f, input }] of Object.entries(this.inputs)) {
      const type = f.type || "text";
      if (type === "checkbox") out[name] = input.checked;
      else if (type === "checkboxes") out[name] = [...input.querySelectorAll("input:checked")].map((i) => i.value);
      else if (type === "custom") out[name] = f.read(input);
      else if (type === "file") out[name] = input.files[0] || null;
      else if (type === "number") out[name] = input.value === "" ? null : Number(input.value);
      else out[name] = input.value;
    }
    return out;
  }

  clearErrors() {
    this.error.hidden = true;
    for (const wrap of this.el.querySelectorAll(".field.invalid")) {
      wrap.classList.remove("invalid");
      wrap.querySelector(".field-error").hidden = true;
    }
  }

  showError(err) {
    this.clearErrors();
    const parts = err.field ? String(err.field).split(".") : [];
    const names = parts.length ? [parts.join("."), parts.slice(1).join("."), parts[0]] : [];
    const wraps = [...this.el.querySelectorAll(".field")];
    const wrap = names.map((n) => wraps.find((w) => w.dataset.field === n)).find(Boolean);
    if (wrap) {
      wrap.classList.add("invalid");
      const p = wrap.querySelector(".field-error");
      p.textContent = err.message;
      p.hidden = false;
      wrap.querySelector("input, select, textarea")?.focus();
    } else {
      this.error.textContent = err.message;
      this.error.hidden = false;
    }
  }

  async submit() {
    this.clearErrors();
    this.button.disabled = true;
    try {
      await this.onSubmit(this.values(), this);
    } catch (e) {
      this.showError(e instanceof ApiError ? e : { message: String(e.message || e), field: e.field || null });
    } finally {
      this.button.disabled = false;
    }
  }
}

// A modal dialog holding `body`; removed from the page when closed.
export function dialog(title, body, { wide = false } = {}) {
  const dlg = h("dialog", { class: wide ? "dialog wide" : "dialog", "aria-label": title });
  const close = () => {
    if (dlg.open) dlg.close();
    dlg.remove();
  };
  dlg.append(h("header", {}, h("h2", {}, title),
    h("button", { type: "button", class: "close", "aria-label": "关闭", onclick: close }, "×")), body);
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  return { el: dlg, close };
}

// A dialog with one form; `onSubmit(values)` runs, then the dialog closes (errors stay in the form).
export function formDialog(title, fields, onSubmit, { submit = "确定", wide = false, note = null } = {}) {
  let d;
  const form = new Form(fields, {
    submit,
    cancel: () => d.close(),
    onSubmit: async (v) => {
      await onSubmit(v);
      d.close();
    },
  });
  d = dialog(title, h("div", {}, note ? h("p", { class: "note" }, note) : null, form.el), { wide });
  form.el.querySelector("input:not([type=checkbox]), textarea, select")?.focus();
  return d;
}

// A plain table: columns are {label, render(row) → text or node, className}.
export function table(columns, rows, empty = "没有记录。", onRow = null) {
  const body = rows.length
    ? rows.map((row) => h("tr", { class: onRow ? "clickable" : null, onclick: onRow ? (e) => {
      if (!e.target.closest("button, a, input")) onRow(row);
    } : null }, columns.map((c) => h("td", { class: c.className || null }, c.render(row) ?? ""))))
    : [h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, empty))];
  return h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c.label)))), h("tbody", {}, body)));
}

// A table with a filter form, buttons, and 上一页/下一页. `load(filters, limit, offset)` answers {items, total}.
export class ListView {
  constructor({ filters = [], columns, load, buttons = [], pageSize = 20, empty = "没有记录。", search = "查询",
    onRow = null }) {
    Object.assign(this, { columns, load, pageSize, empty, onRow, offset: 0, total: 0 });
    this.filters = new Form(filters, { submit: search, className: "filters", onSubmit: () => this.go(0) });
    this.filters.el.querySelector(".form-actions").append(...buttons);
    this.holder = h("div");
    this.info = h("span", { class: "page-info" });
    this.prev = h("button", { type: "button", class: "btn small", onclick: () => this.go(this.offset - this.pageSize) },
      "上一页");
    this.next = h("button", { type: "button", class: "btn small", onclick: () => this.go(this.offset + this.pageSize) },
      "下一页");
    this.el = h("section", { class: "list" }, this.filters.el, this.holder,
      h("div", { class: "pager" }, this.info, this.prev, this.next));
  }

  async go(offset) {
    this.offset = Math.max(0, offset);
    try {
      await this.reload();
    } catch (e) {
      this.filters.showError(e);
    }
  }

  async reload() {
    this.filters.clearErrors();
    const data = await this.load(this.filters.values(), this.pageSize, this.offset);
    this.total = data.total;
    if (!data.items.length && this.offset > 0 && this.total > 0) return this.go(this.offset - this.pageSize);
    this.holder.replaceChildren(table(this.columns, data.items, this.empty, this.onRow));
    const last = Math.min(this.offset + data.items.length, this.total);
    this.info.textContent = this.total ? `共 ${this.total} 条，第 ${this.offset + 1}–${last} 条` : "共 0 条";
    this.prev.disabled = this.offset === 0;
    this.next.disabled = last >= this.total;
    return data;
  }
}

// Buttons: [label, fn, kind] (falsy entries are skipped).
export function buttons(...list) {
  return h("div", { class: "row-actions" }, list.filter(Boolean).map(([label, fn, kind]) =>
    h("button", { type: "button", class: `btn small ${kind || ""}`, onclick: fn }, label)));
}
