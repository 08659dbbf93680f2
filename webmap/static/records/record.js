// The record page's small map: the record's geometry (or that of the feature it belongs to) over the districts,
// drawn with the vendored MapLibre from the GeoJSON and style the server embedded in the page.
import * as maplibregl from "maplibre-gl";

const holder = document.getElementById("record-map");
const data = holder && JSON.parse(document.getElementById("record-geometry").textContent);

function bounds(geometry) {
  const b = new maplibregl.LngLatBounds();
  const walk = (c) => (typeof c[0] === "number" ? b.extend(c) : c.forEach(walk));
  if (geometry.type === "GeometryCollection") geometry.geometries.forEach((g) => walk(g.coordinates));
  else walk(geometry.coordinates);
  return b;
}

if (data) {
  const style = data.style || { version: 8, sources: {}, layers: [] };
  const map = new maplibregl.Map({
    container: holder,
    style,
    bounds: bounds(data.geometry),
    fitBoundsOptions: { padding: 40, maxZoom: 16 },
    attributionControl: false,
    cooperativeGestures: true,
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
  map.on("load", () => {
    map.addSource("record", { type: "geojson", data: { type: "Feature", properties: {}, geometry: data.geometry } });
    const polygon = ["match", ["geometry-type"], ["Polygon", "MultiPolygon"], true, false];
    const line = ["match", ["geometry-type"], ["LineString", "MultiLineString"], true, false];
    map.addLayer({ id: "record-fill", type: "fill", source: "record", filter: polygon,
      paint: { "fill-color": data.color, "fill-opacity": 0.25 } });
    map.addLayer({ id: "record-line", type: "line", source: "record", filter: ["any", polygon, line],
      paint: { "line-color": data.color, "line-width": 3 } });
    map.addLayer({ id: "record-point", type: "circle", source: "record", filter: ["==", ["geometry-type"], "Point"],
      paint: { "circle-color": data.color, "circle-radius": 8, "circle-stroke-color": "#fff", "circle-stroke-width": 2 } });
    map.once("idle", () => { document.body.dataset.mapReady = "true"; });
  });
  window.recordMap = map;
}
