// Search by name or code across every layer the user may see; a result flies the map to the feature
// and opens its popup; its 「详情」 opens the feature's record page.
import * as maplibregl from "maplibre-gl";
import { api, escapeHtml } from "./api.js";

export function setupSearch(map, state, panel, popups, onPicked) {
  const input = document.getElementById("search-input");
  const list = document.getElementById("search-results");
  let results = [];
  let timer = null;
  let seq = 0;
  let marker = null;

  function close() {
    list.hidden = true;
  }

  // Hits grouped by layer under the layer's title, the layer of the best hit first (the API's ``groups``);
  // ``results`` is the same hits in the order shown, so Enter takes the first one.
  function render(message, groups = []) {
    if (message) {
      list.innerHTML = `<li class="search-empty">${escapeHtml(message)}</li>`;
    } else {
      let i = 0;
      list.innerHTML = groups.map((g) => `
        <li class="search-group" data-layer="${escapeHtml(g.layer)}">
          <div class="search-group-title"><span>${escapeHtml(g.layer_title)}</span><span class="search-group-count">${g.count}</span></div>
          <ul>${g.results.map((r) => `
            <li class="search-result"><button type="button" data-i="${i++}">
              <span class="result-label">${escapeHtml(r.label)}</span>
              <span class="result-meta">${escapeHtml([r.code !== r.label ? r.code : null, r.district].filter(Boolean).join(" · "))}</span>
            </button><a class="result-record" href="${escapeHtml(r.url)}" target="_blank" rel="noopener" title="打开记录页">详情</a></li>`).join("")}
          </ul>
        </li>`).join("");
    }
    list.hidden = false;
  }

  async function run(q) {
    const mine = ++seq;
    try {
      const { data } = await api(`/api/search?q=${encodeURIComponent(q)}&limit=20`);
      if (mine !== seq) return;
      results = data.groups.flatMap((g) => g.results);
      render(results.length ? null : "没有找到匹配的要素", data.groups);
    } catch (e) {
      if (mine === seq) render(e.message);
    }
  }

  function fly(r) {
    const cfg = state.byId[r.layer];
    panel.setVisible(r.layer, true);
    const [x0, y0, x1, y1] = r.bbox;
    const target = r.center;
    map.once("moveend", () => popups.showRecord(cfg, r.id, target));
    if (x1 - x0 < 1e-4 && y1 - y0 < 1e-4) {
      map.flyTo({ center: target, zoom: Math.max(map.getZoom(), 16) });
    } else {
      map.fitBounds(r.bbox, { padding: 60, maxZoom: 17 });
    }
    marker?.remove();
    marker = new maplibregl.Marker({ color: "#dc2626" }).setLngLat(target).addTo(map);
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    const q = input.value.trim();
    if (!q) { close(); return; }
    timer = setTimeout(() => run(q), 250);
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && results.length) { e.preventDefault(); pick(0); }
    if (e.key === "Escape") close();
  });
  list.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-i]");
    if (button) pick(Number(button.dataset.i));
  });
  document.addEventListener("click", (e) => {
    if (!e.target.closest(".search")) close();
  });

  function pick(i) {
    const r = results[i];
    if (!r) return;
    close();
    input.value = r.label;
    onPicked?.();
    fly(r);
  }
}
