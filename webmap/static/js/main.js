// The one map: MapLibre with the registry's style, layer panel, popups, search, district filter, drawing.
import * as maplibregl from "maplibre-gl";
import { api, whoAmI } from "./api.js";
import { Account } from "./account.js";
import { Panel } from "./panel.js";
import { setupPopups } from "./popup.js";
import { setupSearch } from "./search.js";
import { DistrictFilter } from "./district.js";
import { Editor } from "./draw.js";
import { Tasks } from "./tasks.js";
import { buildMenu } from "./menu.js";

// CJK labels are drawn by the browser with a local font (no internet glyph server on the intranet).
const LOCAL_CJK_FONT = "'Microsoft YaHei', 'PingFang SC', 'Noto Sans CJK SC', 'Source Han Sans SC', sans-serif";
const PHONE = window.matchMedia("(max-width: 720px)");

// Shared page state: the layers the user may see (from /map/layers.json), tile revisions after edits.
const state = {
  layers: [],
  byId: {},
  rev: {},
  cityBounds: null,
  toast,
};

function toast(message, kind = "info") {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 4000);
}

// Tiles and glyphs come from this server: with the session cookie (what a user sees depends on who they are),
// and after an edit the layer's tiles with a new revision so no HTTP cache can serve the old ones.
function transformRequest(url, resourceType) {
  if (!url.startsWith(location.origin)) return { url };
  if (resourceType === "Tile") {
    const m = url.match(/\/tiles\/([^/?]+)\/\d+\/\d+\/\d+\.mvt/);
    const rev = m && state.rev[m[1]];
    if (rev) url += `${url.includes("?") ? "&" : "?"}rev=${rev}`;
  }
  return { url, credentials: "same-origin" };
}

async function loadConfig() {
  const [style, layers] = await Promise.all([api("/map/style.json"), api("/map/layers.json")]);
  state.layers = layers.data.layers;
  state.byId = Object.fromEntries(state.layers.map((l) => [l.id, l]));
  return style.data;
}

function setupPanelToggle(map) {
  const button = document.getElementById("panel-toggle");
  const set = (open) => {
    document.body.classList.toggle("panel-open", open);
    document.body.classList.toggle("panel-closed", !open);
    button.setAttribute("aria-expanded", String(open));
    setTimeout(() => map.resize(), 220);
  };
  set(!PHONE.matches);
  button.addEventListener("click", () => set(!document.body.classList.contains("panel-open")));
  PHONE.addEventListener("change", (e) => set(!e.matches));
  return set;
}

// After signing in or out: the user's layers (style, panel, popups, forms) and the data they may see.
async function reloadLayers({ map, panel, districtFilter, editor, popups, tasks }) {
  const before = state.layers.map((l) => l.id).join(",");
  const newStyle = await loadConfig();
  popups.popup.remove();
  if (state.layers.map((l) => l.id).join(",") !== before) {
    // Other layers: a new style (the drawing layers are added again after it).
    editor.detach();
    state.baseFilters = null;
    map.setStyle(newStyle, { diff: false });
    await map.once("style.load");
    editor.attach();
  } else {
    // The same layers, perhaps another data scope: every tile again, with the new session.
    for (const [id, source] of Object.entries(map.getStyle().sources)) {
      if (source.type === "vector") map.refreshTiles(id);
      else if (source.type === "geojson" && typeof source.data === "string") map.getSource(id).setData(source.data);
    }
  }
  panel.build();
  districtFilter.apply();
  editor.build();
  tasks.build();
  await buildMenu(document.getElementById("apps"));
}

async function main() {
  const [style, districts] = await Promise.all([loadConfig(), api("/api/districts"), whoAmI()]);
  const boxes = districts.data.districts.map((d) => d.bbox);
  state.cityBounds = boxes.length
    ? [Math.min(...boxes.map((b) => b[0])), Math.min(...boxes.map((b) => b[1])),
       Math.max(...boxes.map((b) => b[2])), Math.max(...boxes.map((b) => b[3]))]
    : null;

  const map = new maplibregl.Map({
    container: "map",
    style,
    bounds: state.cityBounds || undefined,
    fitBoundsOptions: { padding: 20 },
    localIdeographFontFamily: LOCAL_CJK_FONT,
    transformRequest,
    attributionControl: { compact: true },
    maxZoom: 20,
  });
  window.chengjianMap = map; // for tests and debugging from the console
  window.chengjian = { map, state };
  map.addControl(new maplibregl.NavigationControl({ visualizePitch: false }), "bottom-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
  const setPanel = setupPanelToggle(map);
  // On a phone the open panel covers the map: a tap on the map closes it.
  map.on("click", () => { if (PHONE.matches && document.body.classList.contains("panel-open")) setPanel(false); });
  await map.once("load");

  const panel = new Panel(map, state, document.getElementById("layer-groups"));
  const districtFilter = new DistrictFilter(map, state, panel, districts.data.districts,
    document.getElementById("district-select"));
  const editor = new Editor(map, state, { onSaved: () => panel.refreshCounts() });
  window.chengjian.editor = editor;
  const popups = setupPopups(map, state, { onEdit: (cfg, id) => editor.editFeature(cfg, id), editor });
  setupSearch(map, state, panel, popups, () => { if (PHONE.matches) setPanel(false); });
  const tasks = new Tasks(state);
  panel.build();
  districtFilter.build();
  editor.build();
  tasks.build();

  // Sign-ins and sign-outs reload the layers one after another (a quick sign-out waits for the sign-in's reload).
  let reloading = Promise.resolve();
  const account = new Account({
    toast,
    onChange: () => {
      reloading = reloading.then(() => reloadLayers({ map, panel, districtFilter, editor, popups, tasks }))
        .catch((e) => { console.error(e); toast(`图层加载失败：${e.message}`, "error"); });
      return reloading;
    },
  });
  account.build();
  await buildMenu(document.getElementById("apps"));

  document.body.dataset.ready = "true";
}

main().catch((e) => {
  console.error(e);
  toast(`地图加载失败：${e.message}`, "error");
});
