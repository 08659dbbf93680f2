// Click a feature: a popup with the layer's Chinese field labels and values, and a link to its record page.
// A click on a cluster zooms into it. Lines and polygons of layers the user may edit offer 「编辑图形」.
import * as maplibregl from "maplibre-gl";
import { api, escapeHtml } from "./api.js";

const CLICK_ROLES = new Set(["main", "cluster"]);

export function formatValue(field, value) {
  if (value === null || value === undefined || value === "") return "—";
  if (field?.type === "bool" || typeof value === "boolean") return value === true || value === "true" ? "是" : "否";
  if (field && (field.type === "float" || field.type === "int") && !Number.isNaN(Number(value))) {
    return Number(value).toLocaleString("zh-CN", { maximumFractionDigits: 2 });
  }
  return String(value);
}

export function popupHtml(cfg, id, props) {
  const fields = Object.fromEntries(cfg.fields.map((f) => [f.name, f]));
  const title = (cfg.label && props[cfg.label]) || `${cfg.title} ${id}`;
  const rows = cfg.popup
    .filter((name) => name !== cfg.label)
    .map((name) => `<tr><th>${escapeHtml(fields[name]?.label || name)}</th><td>${escapeHtml(formatValue(fields[name], props[name]))}</td></tr>`)
    .join("");
  const edit = cfg.editable && cfg.draw
    ? `<button type="button" class="btn small" data-edit="${escapeHtml(cfg.id)}" data-id="${escapeHtml(id)}">编辑图形</button>` : "";
  return `<div class="popup" data-layer="${escapeHtml(cfg.id)}" data-id="${escapeHtml(id)}">
    <div class="popup-layer">${escapeHtml(cfg.title)}</div>
    <h4>${escapeHtml(title)}</h4>
    <table>${rows}</table>
    <div class="popup-actions"><a href="/records/${encodeURIComponent(cfg.id)}/${encodeURIComponent(id)}" target="_blank" rel="noopener">查看记录</a>${edit}</div>
  </div>`;
}

export function setupPopups(map, state, { onEdit, editor }) {
  const popup = new maplibregl.Popup({ maxWidth: "320px", closeButton: true, focusAfterOpen: false });
  popup.on("open", () => {
    const button = popup.getElement()?.querySelector("[data-edit]");
    button?.addEventListener("click", () => {
      popup.remove();
      onEdit(state.byId[button.dataset.edit], Number(button.dataset.id));
    });
  });

  const clickable = () => map.getStyle().layers
    .filter((l) => CLICK_ROLES.has(l.metadata?.["chengjian:role"]) && l.layout?.visibility !== "none")
    .map((l) => l.id);

  const pick = (point) => {
    const box = [[point.x - 4, point.y - 4], [point.x + 4, point.y + 4]];
    const hits = map.queryRenderedFeatures(box, { layers: clickable() });
    // Business features before the base map (a click on open land still names its district).
    return hits.find((f) => state.byId[f.layer.metadata["chengjian:layer"]]?.group !== "基础地理") || hits[0];
  };

  function show(cfg, id, props, lngLat) {
    popup.setLngLat(lngLat).setHTML(popupHtml(cfg, id, props)).addTo(map);
  }

  map.on("click", (e) => {
    if (editor.busy()) return;
    const f = pick(e.point);
    if (!f) { popup.remove(); return; }
    const layerId = f.layer.metadata["chengjian:layer"];
    if (f.layer.metadata["chengjian:role"] === "cluster") {
      map.easeTo({ center: f.geometry.coordinates, zoom: Math.min(map.getZoom() + 2, 20) });
      return;
    }
    show(state.byId[layerId], f.properties.id ?? f.id, f.properties, e.lngLat);
  });

  map.on("mousemove", (e) => {
    if (editor.busy()) return;
    map.getCanvas().style.cursor = pick(e.point) ? "pointer" : "";
  });

  // Open the popup of a record fetched from the API (search results).
  async function showRecord(cfg, id, lngLat) {
    try {
      const { data } = await api(`/api/layers/${encodeURIComponent(cfg.id)}/features/${id}`);
      show(cfg, id, data.properties, lngLat);
    } catch (e) {
      state.toast(e.message, "error");
    }
  }

  return { popup, show, showRecord };
}
