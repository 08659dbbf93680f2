// One list/detail renderer for every kind of record, driven by a small config per tab:
//
//   recordTab({
//     key: "reports",                       // the tab (and the address: #reports, #reports/12)
//     kind: "st_report",                    // the case type: the detail links to its record page /records/{kind}/{id}
//     states, actionTitles,                 // Chinese titles of the states and of the history's actions
//     list: { path, items, filters(ctx), columns(ctx, siteNames), buttons(ctx, list), note(ctx),
//             load(ctx) → (filters, limit, offset) → {items, total}  (instead of path/items) },
//     create: { permission, label, open(ctx, opened(id), list) },
//     detail: { path(id), title(rec), fields(rec, ctx), sections(rec, ctx, refresh), tools(rec, ctx, refresh) },
//     action: (id, action) => path,         // POST {reason, version}; the buttons come from the record's `actions`
//     notes: { recommend: "推荐意见" },      // actions that take an optional note
//   })
//
// The detail page shows the record's status, its fields, the config's sections, the action buttons the server
// allows (a reason is asked for when the action needs one) and the case history.
import { api } from "/static/console/http.js";
import { DISTRICTS } from "./labels.js";
import { ListView, formDialog, h, historyTable, kv, options, statusTag, toast } from "./ui.js";

export { DISTRICTS } from "./labels.js";

const lists = new Map(); // the list of each tab, kept (with its filters and page) while signed in

export function reset() {
  lists.clear();
  siteCache = null;
}

// -- sites: the ones the signed-in user may see, for names in lists and the site pickers --------------------------

let siteCache = null;

export async function sites() {
  if (!siteCache) {
    siteCache = api("/api/layers/sites/features", { query: { limit: 1000 } })
      .then((fc) => fc.features.map((f) => ({ id: f.id, ...f.properties })))
      .catch(() => []);
  }
  return siteCache;
}

export async function siteNames() {
  return Object.fromEntries((await sites()).map((s) => [s.id, `${s.code} ${s.name}`]));
}

// A select field of the sites in scope.
export async function siteField(label = "工地") {
  const list = await sites();
  return { name: "site_id", label, type: "select", required: true,
    choices: list.length ? list.map((s) => [String(s.id), `${s.code} ${s.name}（${s.district || ""}）`]) : [["", "（没有可选的工地）"]],
    hint: list.length > 1 ? `共 ${list.length} 个工地在您的数据范围内` : null };
}

export const districtField = (ctx, label = "区县", empty = "全部") => ({
  name: "district", label, type: "select", choices: options(DISTRICTS, empty),
  value: ctx.me.district && !ctx.cityWide ? ctx.me.district : "",
});

export const statusField = (states) => ({ name: "status", label: "状态", type: "select", choices: options(states, "全部") });

// -- the renderer ---------------------------------------------------------------------------------------------

export function recordTab(cfg) {
  return async function mount(pane, ctx, sub) {
    if (sub && cfg.detail) return detail(cfg, pane, ctx, sub);
    let list = lists.get(cfg.key);
    if (!list) {
      const names = await siteNames();
      const extra = [];
      list = new ListView({
        filters: cfg.list.filters ? cfg.list.filters(ctx) : [],
        columns: cfg.list.columns(ctx, names),
        buttons: extra,
        onRow: cfg.detail ? (row) => { location.hash = `${cfg.key}/${row.id}`; } : null,
        load: cfg.list.load ? cfg.list.load(ctx) : async (q, limit, offset) => {
          const data = await api(cfg.list.path, { query: { ...(cfg.list.query ? cfg.list.query(q) : q), limit, offset } });
          return { items: data[cfg.list.items], total: data.total };
        },
      });
      if (cfg.create && ctx.can(cfg.create.permission)) {
        extra.push(h("button", { type: "button", class: "btn primary", "data-create": cfg.key,
          onclick: () => cfg.create.open(ctx, (id) => { location.hash = `${cfg.key}/${id}`; }, list) }, cfg.create.label));
      }
      if (cfg.list.buttons) extra.push(...cfg.list.buttons(ctx, list));
      list.filters.el.querySelector(".form-actions").append(...extra);
      lists.set(cfg.key, list);
    }
    if (cfg.list.note) pane.append(h("p", { class: "note" }, cfg.list.note(ctx)));
    pane.append(list.el);
    await list.go(list.offset);
  };
}

async function detail(cfg, pane, ctx, id) {
  const holder = h("article", { class: "detail", "data-id": id });
  pane.append(holder);
  const back = h("button", { type: "button", class: "btn", onclick: () => { location.hash = cfg.key; } }, "← 返回列表");

  async function refresh() {
    const rec = await api(cfg.detail.path(id));
    const bar = h("div", { class: "actionbar" },
      (rec.actions || []).map((a) => h("button", { type: "button", class: `btn ${a.reason_required ? "danger" : "primary"}`,
        "data-action": a.action, onclick: () => run(rec, a) }, a.title)),
      cfg.detail.tools ? cfg.detail.tools(rec, ctx, refresh) : [],
      cfg.kind ? h("a", { class: "btn", href: `/records/${cfg.kind}/${id}`, target: "_blank", rel: "noopener",
        "data-record": cfg.kind }, "记录页") : null);
    holder.replaceChildren(
      h("div", { class: "detail-head" }, back, h("h2", {}, cfg.detail.title(rec)),
        rec.status && cfg.states ? statusTag(rec.status, rec.status_title || cfg.states[rec.status]) : null, bar),
      kv(cfg.detail.fields(rec, ctx)),
      ...(cfg.detail.sections ? cfg.detail.sections(rec, ctx, refresh) : []),
      ...(rec.history ? [h("h3", {}, "办理记录"), historyTable(rec.history, cfg.states, cfg.actionTitles || {})] : []));
    return rec;
  }

  function run(rec, a) {
    const post = async (reason) => {
      await api(cfg.action(id, a.action), { method: "POST", body: { reason: reason || null, version: rec.version } });
      await refresh();
      toast(`已${a.title}。`);
    };
    const note = cfg.notes?.[a.action];
    if (a.reason_required || note) {
      formDialog(a.title, [{ name: "reason", label: a.reason_required ? `${a.title}理由` : note, type: "textarea",
        required: a.reason_required, rows: 4 }], (v) => post(v.reason), { submit: a.title });
    } else {
      formDialog(a.title, [], () => post(null), { submit: a.title, note: `确定要「${a.title}」吗？` });
    }
  }

  await refresh();
}

// -- helpers for the configs ----------------------------------------------------------------------------------

// A titled part of a detail page (empty parts of `content` are left out).
export function section(title, ...content) {
  return [h("h3", {}, title), ...content.filter(Boolean)];
}

