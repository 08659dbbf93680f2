// The drawing viewer (/review/viewer/{sheet}): one sheet's deep-zoom pyramid in OpenSeadragon with our own Chinese
// toolbar (放大、缩小、适应窗口、全屏), the review comments as pins and rectangles on the sheet and in the side list
// (click one: the view zooms to it), adding a comment by clicking (a pin) or dragging (a rectangle) for the review
// agency, and the same sheet of another round side by side in a second viewer that follows the first.
// Comments are stored in sheet-normalised coordinates: 0…1 of the sheet's width and of its height.
import { api, ApiError } from "/static/console/http.js";
import { h, toast } from "/static/console/ui.js";

const OSD = window.OpenSeadragon;
const $ = (id) => document.getElementById(id);
const sheetId = Number(location.pathname.split("/").filter(Boolean).pop());
const state = { sheet: null, a: null, b: null, other: null, adding: false, draft: null, active: null, leader: "a" };
// When the first view of the sheet was complete (ms since the page was requested): the browser test records it.
window.dvTimings = { script: performance.now(), firstView: null };
window.dvState = state; // for the browser test: the viewers and what is shown

function tileSource(s) {
  return {
    width: s.width,
    height: s.height,
    tileSize: s.tile_size,
    tileOverlap: s.overlap,
    minLevel: 0,
    maxLevel: s.levels - 1,
    getTileUrl: (level, x, y) => `${s.tiles}${level}/${x}_${y}.jpg`,
  };
}

function makeViewer(element, sheet) {
  return OSD({
    element,
    tileSources: tileSource(sheet),
    drawer: "canvas", // plain 2D canvas: WebGL without a GPU (many intranet PCs, headless browsers) crawls
    showNavigationControl: false, // the vendored library has no button images: our toolbar instead
    showNavigator: false,
    gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true },
    visibilityRatio: 0.5,
    minZoomImageRatio: 0.5,
    maxZoomPixelRatio: 2,
    animationTime: 0.6,
    imageLoaderLimit: 8,
    preserveImageSizeOnResize: true,
  });
}

// Sheet-normalised (0…1 of width and height) <-> OpenSeadragon viewport units (width = 1, height = H/W).
const aspect = (s) => s.height / s.width;
function toViewport(s, c) {
  const k = aspect(s);
  return new OSD.Rect(c.x, c.y * k, c.w, c.h * k);
}
function clamp01(v) {
  return Math.min(1, Math.max(0, v));
}
function fromViewport(s, p) {
  return { x: clamp01(p.x), y: clamp01(p.y / aspect(s)) };
}

// -- comments ------------------------------------------------------------------------------------------------------

function overlay(viewer, sheet, c, n) {
  const el = h("div", { class: c.shape === "pin" ? "dv-pin" : "dv-rect", "data-comment": c.id, title: c.body }, h("span", {}, String(n)));
  if (c.shape === "pin") {
    viewer.addOverlay({ element: el, location: new OSD.Point(c.x, c.y * aspect(sheet)), placement: OSD.Placement.TOP_LEFT, checkResize: false });
  } else {
    viewer.addOverlay({ element: el, location: toViewport(sheet, c) });
  }
  new OSD.MouseTracker({ element: el, clickHandler: () => focusComment(c.id) });
  return el;
}

function drawComments(viewer, sheet) {
  viewer.clearOverlays();
  sheet.comments.forEach((c, i) => overlay(viewer, sheet, c, i + 1));
}

function listComments() {
  const s = state.sheet;
  $("count").textContent = `（${s.comments.length} 条）`;
  const items = s.comments.map((c, i) =>
    h(
      "li",
      { "data-comment": c.id, onclick: () => focusComment(c.id) },
      h("div", { class: "body" }, h("span", { class: "n" }, String(i + 1)), c.body),
      h("div", { class: "meta" }, `第 ${c.round_no} 轮 · ${c.discipline_title} · ${c.shape === "pin" ? "点注" : "框选"} · ${c.author}`),
    ),
  );
  $("comments").replaceChildren(...(items.length ? items : [h("li", { class: "meta" }, "这张图纸还没有审查意见。")]));
}

function focusComment(id) {
  const s = state.sheet;
  const c = s.comments.find((x) => x.id === id);
  if (!c) return;
  state.active = id;
  state.leader = "a";
  for (const el of document.querySelectorAll("[data-comment]")) {
    const on = Number(el.dataset.comment) === id;
    el.classList.toggle(el.tagName === "LI" ? "active" : "dv-active", on);
  }
  const r = toViewport(s, c);
  const pad = c.shape === "pin" ? 0.06 : Math.max(r.width, r.height) * 0.4 + 0.01;
  state.a.viewport.fitBoundsWithConstraints(new OSD.Rect(r.x - pad, r.y - pad, r.width + 2 * pad, r.height + 2 * pad));
  document.querySelector(`li[data-comment="${id}"]`)?.scrollIntoView({ block: "nearest" });
}

// -- adding a comment (the review agency) ----------------------------------------------------------------------------

function setAdding(on) {
  state.adding = on;
  $("add").setAttribute("aria-pressed", on ? "true" : "false");
  $("view-a").classList.toggle("adding", on);
  $("hint").textContent = on ? "在图纸上单击添加点注，或按住拖动框选一个区域。" : "";
}

function watchAdding(viewer, sheet) {
  let start = null;
  let startPixel = null;
  let box = null;
  viewer.addHandler("canvas-press", (e) => {
    if (!state.adding) return;
    start = viewer.viewport.pointFromPixel(e.position);
    startPixel = e.position;
    box = h("div", { class: "dv-draft" });
    viewer.addOverlay({ element: box, location: new OSD.Rect(start.x, start.y, 0, 0) });
  });
  viewer.addHandler("canvas-drag", (e) => {
    if (!state.adding || !start) return;
    e.preventDefaultAction = true; // no panning while drawing
    const p = viewer.viewport.pointFromPixel(e.position);
    viewer.updateOverlay(box, new OSD.Rect(Math.min(start.x, p.x), Math.min(start.y, p.y), Math.abs(p.x - start.x), Math.abs(p.y - start.y)));
  });
  viewer.addHandler("canvas-release", (e) => {
    if (!state.adding || !start) return;
    const end = viewer.viewport.pointFromPixel(e.position);
    const moved = Math.hypot(e.position.x - startPixel.x, e.position.y - startPixel.y);
    const a = fromViewport(sheet, start);
    const b = fromViewport(sheet, end);
    viewer.removeOverlay(box);
    start = null;
    if (moved < 6) {
      state.draft = { x: a.x, y: a.y, w: 0, h: 0 };
    } else {
      const x = Math.min(a.x, b.x);
      const y = Math.min(a.y, b.y);
      state.draft = { x, y, w: Math.abs(b.x - a.x), h: Math.abs(b.y - a.y) };
    }
    const d = state.draft;
    const draft = h("div", { class: d.w ? "dv-draft" : "dv-pin" }, d.w ? "" : h("span", {}, "+"));
    state.draftEl = draft;
    if (d.w) viewer.addOverlay({ element: draft, location: toViewport(sheet, d) });
    else viewer.addOverlay({ element: draft, location: new OSD.Point(d.x, d.y * aspect(sheet)), placement: OSD.Placement.TOP_LEFT });
    setAdding(false);
    openForm();
  });
  viewer.addHandler("canvas-click", (e) => {
    if (state.adding) e.preventDefaultAction = true;
  });
}

function openForm() {
  const d = state.draft;
  $("comment-where").textContent = d.w
    ? `框选区域：左 ${(d.x * 100).toFixed(1)}%、上 ${(d.y * 100).toFixed(1)}%，宽 ${(d.w * 100).toFixed(1)}%、高 ${(d.h * 100).toFixed(1)}%`
    : `点注位置：左 ${(d.x * 100).toFixed(1)}%、上 ${(d.y * 100).toFixed(1)}%`;
  $("comment-error").hidden = true;
  $("comment-form").hidden = false;
  $("comment-body").value = "";
  $("comment-body").focus();
}

function closeForm() {
  $("comment-form").hidden = true;
  if (state.draftEl) state.a.removeOverlay(state.draftEl);
  state.draft = state.draftEl = null;
}

async function saveComment(ev) {
  ev.preventDefault();
  const s = state.sheet;
  try {
    const made = await api(`/api/review/sheets/${s.id}/comments`, {
      method: "POST",
      body: { ...state.draft, body: $("comment-body").value, discipline: $("comment-discipline").value || null },
    });
    s.comments.push(made);
    closeForm();
    drawComments(state.a, s);
    listComments();
    toast("意见已保存。");
  } catch (e) {
    $("comment-error").textContent = e.message;
    $("comment-error").hidden = false;
  }
}

// -- comparing two rounds --------------------------------------------------------------------------------------------

// The viewer the user works in leads; the other one shows the same part of the sheet, frame by frame.
function lead(name, viewer) {
  for (const ev of ["canvas-press", "canvas-scroll", "canvas-enter"]) viewer.addHandler(ev, () => { state.leader = name; });
  viewer.addHandler("viewport-change", () => {
    const other = name === "a" ? state.b : state.a;
    if (state.leader !== name || !other) return;
    other.viewport.fitBounds(viewer.viewport.getBounds(true), true);
  });
}

async function compareWith(otherId) {
  if (state.b) {
    state.b.destroy();
    state.b = null;
  }
  $("pane-b").hidden = !otherId;
  if (!otherId) {
    state.a.viewport.goHome(true);
    return;
  }
  const other = await api(`/api/review/sheets/${otherId}`);
  state.other = other;
  $("label-b").textContent = `${other.set.round_title} · ${other.title}`;
  const b = makeViewer($("view-b"), other);
  state.b = b;
  b.addHandler("open", () => {
    drawComments(b, other);
    b.viewport.fitBounds(state.a.viewport.getBounds(true), true);
  });
  lead("b", b);
  window.dvTimings.compared = true;
}

// -- the page ------------------------------------------------------------------------------------------------------

function fill(select, entries, chosen) {
  select.replaceChildren(...entries.map(([value, text]) => h("option", { value, selected: String(value) === String(chosen) }, text)));
}

async function show() {
  const s = await api(`/api/review/sheets/${sheetId}`);
  window.dvTimings.sheet = performance.now();
  state.sheet = s;
  document.title = `${s.title} · 图纸查看`;
  $("title").textContent = `${s.application.name} · ${s.set.round_title} · ${s.set.building} · ${s.set.discipline_title}`;
  $("back").href = `/review/drawings/${s.application.id}`;
  $("label-a").textContent = `${s.set.round_title} · ${s.title}`;
  fill($("sheet-select"), s.siblings.map((x) => [x.id, `${x.page_no}. ${x.title}${x.ready ? "" : "（处理中）"}`]), s.id);
  fill($("compare"), [["", "不对比"], ...s.rounds.filter((r) => r.ready).map((r) => [r.sheet_id, `${r.round_title}`])], "");
  fill($("comment-discipline"), s.disciplines.map((d) => [d.value, d.title]), s.set.discipline);
  $("add").hidden = !s.can.comment;
  $("app").hidden = false;
  listComments();
  if (s.status !== "ready") {
    $("hint").textContent = `这张图纸${s.status_title}，处理完成后才能查看。`;
    return;
  }
  const a = makeViewer($("view-a"), s);
  state.a = a;
  a.addHandler("open", () => {
    window.dvTimings.opened = performance.now();
    drawComments(a, s);
    const image = a.world.getItemAt(0);
    image.addHandler("fully-loaded-change", (e) => {
      if (e.fullyLoaded && window.dvTimings.firstView === null) {
        window.dvTimings.firstView = performance.now();
        window.dvTimings.tiles = performance.getEntriesByType("resource").filter((r) => r.name.includes("/tiles/")).length;
      }
    });
  });
  state.leader = "a";
  lead("a", a);
  watchAdding(a, s);
  const byToolbar = (fn) => () => { state.leader = "a"; fn(); };
  $("zoom-in").onclick = byToolbar(() => a.viewport.zoomBy(1.6).applyConstraints());
  $("zoom-out").onclick = byToolbar(() => a.viewport.zoomBy(1 / 1.6).applyConstraints());
  $("home").onclick = byToolbar(() => a.viewport.goHome());
  $("full").onclick = () => a.setFullScreen(!a.isFullPage());
  $("add").onclick = () => setAdding(!state.adding);
  $("compare").onchange = (e) => compareWith(e.target.value).catch((err) => toast(err.message, "error"));
  $("sheet-select").onchange = (e) => { location.href = `/review/viewer/${e.target.value}`; };
  $("comment-form").onsubmit = saveComment;
  $("comment-cancel").onclick = closeForm;
}

async function signIn(ev) {
  ev.preventDefault();
  const form = new FormData(ev.target);
  try {
    await api("/api/auth/login", { method: "POST", body: { username: form.get("username"), password: form.get("password") } });
    location.reload();
  } catch (e) {
    $("login-error").textContent = e.message;
    $("login-error").hidden = false;
  }
}

async function main() {
  const me = await api("/api/auth/me");
  if (!me.authenticated) {
    $("login").hidden = false;
    $("login-form").onsubmit = signIn;
    return;
  }
  $("whoami").textContent = me.display_name || me.user;
  try {
    await show();
  } catch (e) {
    $("problem").replaceChildren(h("h2", {}, "无法打开图纸"), h("p", {}, e instanceof ApiError ? e.message : String(e)));
    $("problem").hidden = false;
  }
}

main();
