// Drawing a thematic map's answer (/api/thematic/{slug}/data or /preview) on a MapLibre map, with its legend and
// headline figures: choropleth (group polygons by class colour), graduated symbols (circles at the groups' centres
// sized by value), heatmap (the source layer's own vector tiles, weighted by the tiles' counts) and category map
// (points by category value where the source has tiles; groups by their commonest value).
import * as maplibregl from "maplibre-gl";

const IDS = ["o-fill", "o-line", "g-fill", "g-line", "g-circle", "g-heat", "g-points"];

export function fmt(value, statistic) {
  if (value === null || value === undefined) return "—";
  if (statistic === "ratio") return `${(value * 100).toFixed(1)}%`;
  if (statistic === "avg") return value.toLocaleString("zh-CN", { maximumFractionDigits: 2 });
  return value.toLocaleString("zh-CN", { maximumFractionDigits: 2 });
}

export function today() {
  const d = new Date();
  return `${d.getFullYear()}年${d.getMonth() + 1}月${d.getDate()}日`;
}

function transformRequest(url) {
  return url.startsWith(location.origin) ? { url, credentials: "same-origin" } : { url };
}

export function createMap(container, { dark = false, print = false, controls = true, scale = 1 } = {}) {
  const map = new maplibregl.Map({
    container,
    style: {
      version: 8,
      sources: {},
      layers: [{ id: "bg", type: "background", paint: { "background-color": dark ? "#0b1526" : "#eef2f6" } }],
    },
    center: [119.9, 29.95],
    zoom: 7.5,
    attributionControl: false,
    preserveDrawingBuffer: print,
    fadeDuration: 0,
    transformRequest,
  });
  map.addControl(new maplibregl.ScaleControl({ unit: "metric", maxWidth: 160 * scale }), "bottom-right");
  if (!print && controls) map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  return map;
}

function bbox(fc) {
  let b = [180, 90, -180, -90];
  const walk = (c) => {
    if (typeof c[0] === "number") {
      b = [Math.min(b[0], c[0]), Math.min(b[1], c[1]), Math.max(b[2], c[0]), Math.max(b[3], c[1])];
    } else c.forEach(walk);
  };
  fc.features.forEach((f) => f.geometry && walk(f.geometry.coordinates));
  return b[0] <= b[2] ? b : null;
}

// Replace whatever thematic layers the map shows by those of `data` (an answer); `scale` enlarges symbols.
export function draw(map, data, { dark = false, scale = 1 } = {}) {
  for (const id of IDS) if (map.getLayer(id)) map.removeLayer(id);
  for (const id of ["outlines", "groups", "centers", "points"]) if (map.getSource(id)) map.removeSource(id);
  const m = data.map;
  const fc = data.geojson;
  const outline = dark ? "#7dd3fc" : "#334155";
  map.addSource("outlines", { type: "geojson", data: data.outlines || { type: "FeatureCollection", features: [] } });
  map.addLayer({ id: "o-fill", type: "fill", source: "outlines", paint: { "fill-color": dark ? "#0f2744" : "#ffffff", "fill-opacity": 0.9 } });
  map.addLayer({ id: "o-line", type: "line", source: "outlines", paint: { "line-color": dark ? "#1e4e8c" : "#94a3b8", "line-width": 0.8 * scale } });
  map.addSource("groups", { type: "geojson", data: fc });
  const rendering = m.rendering;
  const filled = rendering === "choropleth" || rendering === "category";
  map.addLayer({
    id: "g-fill", type: "fill", source: "groups",
    paint: { "fill-color": ["coalesce", ["get", "color"], "#94a3b8"], "fill-opacity": rendering === "choropleth" ? 0.8 : filled ? 0.35 : rendering === "heatmap" ? 0 : 0.06 },
  });
  map.addLayer({ id: "g-line", type: "line", source: "groups", paint: { "line-color": outline, "line-width": 1 * scale, "line-opacity": 0.7 } });
  const tiles = data.source.points ? [`${location.origin}/tiles/${data.source.id}/{z}/{x}/{y}.mvt`] : null;
  if (rendering === "graduated") {
    const centers = { type: "FeatureCollection", features: fc.features.map((f) => ({ type: "Feature", properties: f.properties, geometry: { type: "Point", coordinates: f.properties.center } })) };
    map.addSource("centers", { type: "geojson", data: centers });
    const values = fc.features.map((f) => f.properties.value);
    const lo = Math.min(...values), hi = Math.max(...values);
    const radius = hi > lo ? ["interpolate", ["linear"], ["get", "value"], lo, 6 * scale, hi, 34 * scale] : 18 * scale;
    map.addLayer({
      id: "g-circle", type: "circle", source: "centers",
      paint: { "circle-radius": radius, "circle-color": ["coalesce", ["get", "color"], "#3b82f6"], "circle-opacity": 0.85, "circle-stroke-color": dark ? "#e2e8f0" : "#1e293b", "circle-stroke-width": 1 },
    });
  }
  if (rendering === "heatmap" && tiles) {
    map.addSource("points", { type: "vector", tiles, minzoom: 0, maxzoom: 16 });
    const f = m.filter;
    // Below the layer's cluster zoom a tile point is a grid cell counting its points (count_<value> per value of
    // the layer's colour attribute): weighted by the square root of the count, so dense cells stand out without
    // drowning the rest; above it, each matching feature weighs 1.
    const count = f ? ["coalesce", ["get", `count_${f.value}`], 0] : ["coalesce", ["get", "count"], 1];
    const single = f ? ["case", ["==", ["get", f.attribute], f.value], 1, 0] : 1;
    map.addLayer({
      id: "g-heat", type: "heatmap", source: "points", "source-layer": data.source.id,
      paint: {
        "heatmap-weight": ["case", ["has", "cluster"], ["sqrt", count], single],
        "heatmap-intensity": ["interpolate", ["linear"], ["zoom"], 6, 0.6, 10, 1, 15, 2],
        "heatmap-radius": ["interpolate", ["linear"], ["zoom"], 6, 22 * scale, 9, 32 * scale, 13, 22 * scale, 16, 28 * scale],
        "heatmap-color": ["interpolate", ["linear"], ["heatmap-density"], 0, "rgba(0,0,0,0)", 0.1, "rgba(255,255,178,0.6)", 0.3, "#fecc5c", 0.55, "#fd8d3c", 0.8, "#f03b20", 1, "#bd0026"],
        "heatmap-opacity": 0.85,
      },
    });
  }
  if (rendering === "category" && tiles) {
    map.addSource("points", { type: "vector", tiles, minzoom: 0, maxzoom: 16 });
    const match = ["match", ["to-string", ["get", m.category]]];
    for (const item of data.legend) match.push(item.value, item.color);
    match.push("#94a3b8");
    map.addLayer({
      id: "g-points", type: "circle", source: "points", "source-layer": data.source.id,
      filter: ["!", ["has", "cluster"]],
      paint: { "circle-radius": 4 * scale, "circle-color": match, "circle-stroke-color": dark ? "#0f172a" : "#ffffff", "circle-stroke-width": 1 },
    });
  }
  // a heatmap is read at city level: the whole city in view; the others fit their groups
  const city = data.outlines && data.outlines.features.length ? bbox(data.outlines) : null;
  const b = (rendering === "heatmap" && city) || bbox(fc) || city;
  if (b) map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 30 * scale, duration: 0 });
}

export function legendHtml(data) {
  const m = data.map;
  if (m.rendering === "heatmap") {
    const attr = m.filter && data.source.attributes.find((a) => a.name === m.filter.attribute);
    const what = m.filter ? `${attr ? attr.label : m.filter.attribute}为 ${m.filter.value} 的${data.source.title}` : data.source.title;
    return `<h3>热力：${esc(what)}密度</h3><div class="heat-ramp"></div><div class="heat-ends"><span>低</span><span>高</span></div>`;
  }
  const rows = data.legend.map((item) => {
    const label = "value" in item ? item.label : `${fmt(item.lower, m.statistic)} – ${fmt(item.upper, m.statistic)}`;
    const count = "value" in item ? `${item.count.toLocaleString("zh-CN")}` : `${item.count} 个`;
    return `<li><i style="background:${item.color}"></i><span class="lab">${esc(label)}</span><span class="cnt">${count}</span></li>`;
  });
  const title = m.rendering === "category" ? (data.legend[0]?.attribute || "分类") : `${data.statistic_title}（${data.grouping_title}）`;
  return `<h3>${esc(title)}</h3><ul class="legend">${rows.join("") || "<li class='muted'>暂无分级</li>"}</ul>`;
}

export function headlineHtml(data) {
  const h = data.headline, s = data.map.statistic;
  const totalLabel = { count: "合计", sum: "合计", avg: "总体平均", ratio: "总体占比" }[s];
  const cells = [
    [totalLabel, fmt(h.total, s)],
    ["最高", h.max ? `${esc(h.max.name)} ${fmt(h.max.value, s)}` : "—"],
    ["分组数", `${h.groups}`],
    ["记录数", h.records.toLocaleString("zh-CN")],
  ];
  return cells.map(([k, v]) => `<div class="fig"><b>${v}</b><span>${k}</span></div>`).join("");
}

export function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export function idle(map) {
  return new Promise((resolve) => {
    let done = false;
    const finish = () => { if (!done) { done = true; resolve(); } };
    map.once("idle", finish);
    map.triggerRepaint();
    setTimeout(finish, 20000);
  });
}
