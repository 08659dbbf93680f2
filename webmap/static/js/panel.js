// The layer panel: layers grouped by business module, each with its legend, feature count and a
// checkbox that shows or hides every map layer drawn from it (fill, outline, clusters, labels).
import { api, escapeHtml } from "./api.js";

export function styleLayersOf(map, layerId) {
  return map.getStyle().layers.filter((l) => l.metadata?.["chengjian:layer"] === layerId);
}

function swatch(kind, color) {
  return `<span class="swatch swatch-${kind}" style="--c:${escapeHtml(color)}"></span>`;
}

export class Panel {
  constructor(map, state, root) {
    this.map = map;
    this.state = state;
    this.root = root;
    this.hidden = new Set();
    this.counts = null;
  }

  build() {
    const groups = new Map();
    for (const cfg of this.state.layers) {
      if (!groups.has(cfg.group)) groups.set(cfg.group, []);
      groups.get(cfg.group).push(cfg);
    }
    this.root.innerHTML = [...groups].map(([group, layers]) => `
      <section class="group">
        <h3>${escapeHtml(group)}</h3>
        ${layers.map((cfg) => this.layerHtml(cfg)).join("")}
      </section>`).join("");
    this.root.querySelectorAll("input[data-layer]").forEach((box) => {
      box.addEventListener("change", () => this.setVisible(box.dataset.layer, box.checked));
    });
    for (const cfg of this.state.layers) this.setVisible(cfg.id, !this.hidden.has(cfg.id));
    this.refreshCounts();
  }

  layerHtml(cfg) {
    // A ringed point (overdue, say): the ring's colour around a white dot, named by its attribute.
    const ring = cfg.ring ? `<li class="legend-ring">${swatch("ring", cfg.ring.color)}${escapeHtml(cfg.ring.label)}</li>` : "";
    const legend = cfg.legend.length > 1 || cfg.color_by || ring
      ? `<div class="legend">${cfg.color_by_label ? `<span class="legend-title">${escapeHtml(cfg.color_by_label)}</span>` : ""}
          <ul>${cfg.legend.map((row) => `<li>${swatch(cfg.kind, row.color)}${escapeHtml(row.label)}</li>`).join("")}${ring}</ul></div>`
      : "";
    const single = cfg.legend.length === 1 && !cfg.color_by ? swatch(cfg.kind, cfg.legend[0].color) : "";
    return `
      <div class="layer" data-layer="${escapeHtml(cfg.id)}">
        <label class="layer-row">
          <input type="checkbox" data-layer="${escapeHtml(cfg.id)}" ${this.hidden.has(cfg.id) ? "" : "checked"}>
          ${single}<span class="layer-title">${escapeHtml(cfg.title)}</span>
          <span class="count" data-count="${escapeHtml(cfg.id)}">…</span>
        </label>
        ${legend}
        ${cfg.empty_hint ? `<p class="empty-hint" data-empty-hint="${escapeHtml(cfg.id)}" hidden>${escapeHtml(cfg.empty_hint)}</p>` : ""}
      </div>`;
  }

  setVisible(layerId, visible) {
    if (visible) this.hidden.delete(layerId); else this.hidden.add(layerId);
    for (const l of styleLayersOf(this.map, layerId)) {
      this.map.setLayoutProperty(l.id, "visibility", visible ? "visible" : "none");
    }
    const box = this.root.querySelector(`input[data-layer="${CSS.escape(layerId)}"]`);
    if (box) box.checked = visible;
  }

  async refreshCounts() {
    try {
      this.counts = (await api("/api/counts")).data.layers;
    } catch (e) {
      this.counts = null;
    }
    this.showCounts();
  }

  showCounts() {
    const district = this.state.district || "";
    for (const entry of this.counts || []) {
      const el = this.root.querySelector(`[data-count="${CSS.escape(entry.id)}"]`);
      if (!el) continue;
      const n = district && entry.by_district ? (entry.by_district[district] || 0) : entry.count;
      el.textContent = n.toLocaleString("zh-CN");
      el.title = district && entry.by_district ? `${district}：${n} 个` : `全市：${n} 个`;
      // A layer with nothing in it at all says where its data comes from and how to load it.
      const hint = this.root.querySelector(`[data-empty-hint="${CSS.escape(entry.id)}"]`);
      if (hint) hint.hidden = entry.count !== 0;
    }
  }
}
