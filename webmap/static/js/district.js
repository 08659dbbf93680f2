// District filter: fly to one of the 13 districts, show only its business features (a MapLibre filter on
// `district`), veil the rest of the city and count per district in the panel. Aggregated clusters of
// dense layers carry no district and stay as they are under the veil.
import { escapeHtml } from "./api.js";
import { styleLayersOf } from "./panel.js";

const FILTERED_ROLES = new Set(["main", "outline", "label"]);
const MASK = "district-mask";

// Every business layer's filter = its style filter ∧ the chosen district ∧ not the feature being edited
// (state.excluded: its old shape stays hidden while the new one is drawn).
export function refreshFilters(map, state) {
  state.baseFilters ??= new Map();
  const name = state.district;
  for (const cfg of state.layers) {
    const byDistrict = name && cfg.has_district && cfg.group !== "基础地理";
    const excluded = state.excluded?.layer === cfg.id ? state.excluded.id : null;
    for (const l of styleLayersOf(map, cfg.id)) {
      if (!FILTERED_ROLES.has(l.metadata["chengjian:role"])) continue;
      if (!state.baseFilters.has(l.id)) state.baseFilters.set(l.id, l.filter ?? null);
      const parts = [state.baseFilters.get(l.id)];
      if (byDistrict) parts.push(["==", ["get", "district"], name]);
      if (excluded !== null) parts.push(["!=", ["get", "id"], excluded]);
      const live = parts.filter(Boolean);
      map.setFilter(l.id, live.length === 0 ? null : live.length === 1 ? live[0] : ["all", ...live]);
    }
  }
}

export class DistrictFilter {
  constructor(map, state, panel, districts, select) {
    this.map = map;
    this.state = state;
    this.panel = panel;
    this.districts = districts;
    this.select = select;
    this.state.district = "";
  }

  build() {
    // The choices follow the account's scope (a district account: its own); every district still frames the map.
    this.select.innerHTML = `<option value="">全市</option>` +
      this.districts.filter((d) => d.in_scope !== false).map((d) => `<option value="${escapeHtml(d.name)}">${escapeHtml(d.name)}</option>`).join("");
    this.select.addEventListener("change", () => this.choose(this.select.value));
    this.apply();
  }

  choose(name) {
    this.state.district = name;
    this.select.value = name;
    this.apply();
    const d = this.districts.find((x) => x.name === name);
    if (d) this.map.fitBounds(d.bbox, { padding: 30 });
    else if (this.state.cityBounds) this.map.fitBounds(this.state.cityBounds, { padding: 20 });
    this.panel.showCounts();
  }

  // (Re)apply the filter to the current style: after a choice, or after the style was reloaded.
  apply() {
    refreshFilters(this.map, this.state);
    this.mask(this.state.district);
  }

  mask(name) {
    const map = this.map;
    if (!map.getSource("districts")) return;
    if (!map.getLayer(MASK)) {
      const firstLabel = map.getStyle().layers.find((l) => l.metadata?.["chengjian:role"] === "label");
      map.addLayer({
        id: MASK, type: "fill", source: "districts", "source-layer": "districts",
        paint: { "fill-color": "#f1f5f9", "fill-opacity": 0.6 },
        layout: { visibility: "none" },
      }, firstLabel?.id);
    }
    map.setFilter(MASK, ["!=", ["get", "name"], name || ""]);
    map.setLayoutProperty(MASK, "visibility", name ? "visible" : "none");
  }
}
