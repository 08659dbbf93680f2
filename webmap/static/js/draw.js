// Drawing and editing lines (greenways) and polygons (site fences) with terra-draw, saved through the
// features API: POST for a new feature, PATCH with If-Match for a changed one. The server validates
// (geometry rules, attributes); its error {code, message, field} is shown next to the field it names,
// or at the drawn shape when it is about the geometry.
import * as maplibregl from "maplibre-gl";
import { TerraDraw, TerraDrawLineStringMode, TerraDrawPolygonMode, TerraDrawSelectMode } from "terra-draw";
import { TerraDrawMapLibreGLAdapter } from "terra-draw-maplibre-gl-adapter";
import { api, escapeHtml } from "./api.js";
import { refreshFilters } from "./district.js";

const COLOR = "#dc2626";
const HINTS = {
  linestring: "单击地图逐个添加节点，再次单击最后一个节点（或按回车、点「完成」）结束。",
  polygon: "单击地图逐个添加节点，单击第一个节点（或按回车、点「完成」）闭合。",
};
const EDIT_FLAGS = {
  feature: { draggable: false, coordinates: { draggable: true, midpoints: true, deletable: true } },
};

function single(geometry) {
  // The store keeps Multi* types; a one-part shape is edited as its single part.
  if (geometry.type === "MultiPolygon" || geometry.type === "MultiLineString") {
    if (geometry.coordinates.length !== 1) return null;
    return { type: geometry.type.slice(5), coordinates: geometry.coordinates[0] };
  }
  return geometry;
}

export class Editor {
  constructor(map, state, { onSaved }) {
    this.map = map;
    this.state = state;
    this.onSaved = onSaved;
    this.job = null; // {cfg, mode, drawId, fid?, etag?, record?}
    this.nextId = 1;
    this.errorPopup = new maplibregl.Popup({ closeButton: false, closeOnClick: false, className: "error-popup" });
    this.form = document.getElementById("edit-form");
    this.bar = document.getElementById("draw-bar");
    this.form.addEventListener("submit", (e) => { e.preventDefault(); this.save(); });
    document.getElementById("edit-cancel").addEventListener("click", () => this.cancel());
    document.getElementById("draw-cancel").addEventListener("click", () => this.cancel());
    document.getElementById("draw-finish").addEventListener("click", () => {
      // terra-draw finishes a shape on the Enter key: the button sends one to the map.
      this.map.getCanvas().dispatchEvent(new KeyboardEvent("keyup", { key: "Enter", bubbles: true }));
    });
    this.attach();
  }

  attach() {
    const styles = {
      lineStringColor: COLOR, lineStringWidth: 3, closingPointColor: "#ffffff", closingPointOutlineColor: COLOR,
      closingPointWidth: 5, closingPointOutlineWidth: 2,
    };
    this.draw = new TerraDraw({
      adapter: new TerraDrawMapLibreGLAdapter({ map: this.map }),
      idStrategy: { isValidId: (id) => Number.isInteger(id), getId: () => this.nextId++ },
      modes: [
        new TerraDrawLineStringMode({ styles }),
        new TerraDrawPolygonMode({ styles: { ...styles, fillColor: COLOR, fillOpacity: 0.15, outlineColor: COLOR, outlineWidth: 2 } }),
        new TerraDrawSelectMode({
          flags: { linestring: EDIT_FLAGS, polygon: EDIT_FLAGS },
          styles: { selectedLineStringColor: COLOR, selectedPolygonColor: COLOR, selectedPolygonOutlineColor: COLOR,
                    selectionPointColor: "#ffffff", selectionPointOutlineColor: COLOR, midPointColor: COLOR },
        }),
      ],
    });
    this.draw.start();
    this.draw.on("finish", (id, context) => {
      if (this.job && this.job.drawId === null && context?.action === "draw") this.drawn(id);
    });
  }

  detach() {
    this.cancel();
    this.draw?.stop();
    this.draw = null;
  }

  busy() {
    return this.job !== null;
  }

  // The 「新增…」 buttons, for the layers the user may edit (after a sign-in or sign-out too: a shape being drawn
  // stays while its layer is still editable).
  build() {
    if (this.job && !this.state.byId[this.job.cfg.id]?.editable) this.cancel();
    if (this.job) this.job.cfg = this.state.byId[this.job.cfg.id];
    const start = document.getElementById("draw-start");
    const drawable = this.state.layers.filter((c) => c.draw && c.editable);
    start.innerHTML = drawable.map((c) =>
      `<button type="button" class="btn" data-draw="${escapeHtml(c.id)}">新增${escapeHtml(c.title)}</button>`).join("");
    start.querySelectorAll("[data-draw]").forEach((b) =>
      b.addEventListener("click", () => this.startNew(this.state.byId[b.dataset.draw])));
    this.bar.hidden = drawable.length === 0;
  }

  setActive(active, hint = "") {
    document.getElementById("draw-start").hidden = active;
    document.getElementById("draw-active").hidden = !active;
    document.getElementById("draw-hint").textContent = hint;
    if (active) this.map.doubleClickZoom.disable(); else this.map.doubleClickZoom.enable();
  }

  startNew(cfg) {
    this.cancel();
    this.job = { cfg, mode: cfg.draw, drawId: null };
    this.draw.setMode(cfg.draw);
    this.setActive(true, `${cfg.title}：${HINTS[cfg.draw]}`);
    this.map.getCanvas().focus();
  }

  // A new shape is complete: keep it editable and ask for its attributes.
  drawn(id) {
    this.job.drawId = id;
    this.draw.setMode("select");
    this.draw.selectFeature(id);
    this.setActive(true, "可拖动节点调整图形，填写属性后保存。");
    document.getElementById("draw-finish").hidden = true;
    this.openForm(this.job.cfg, {}, `新增${this.job.cfg.title}`);
  }

  async editFeature(cfg, fid) {
    this.cancel();
    let res;
    try {
      res = await api(`/api/layers/${encodeURIComponent(cfg.id)}/features/${fid}`);
    } catch (e) {
      this.state.toast(e.message, "error");
      return;
    }
    const geometry = single(res.data.geometry);
    if (!geometry) {
      this.state.toast("多部件图形暂不支持在地图上编辑。", "error");
      return;
    }
    const drawId = this.nextId++;
    const [check] = this.draw.addFeatures([{ type: "Feature", id: drawId, geometry, properties: { mode: cfg.draw } }]);
    if (check && check.valid === false) {
      this.state.toast(`该图形无法在地图上编辑：${check.reason || ""}`, "error");
      return;
    }
    this.job = { cfg, mode: cfg.draw, drawId, fid, etag: res.etag, record: res.data };
    this.state.excluded = { layer: cfg.id, id: fid };
    refreshFilters(this.map, this.state);
    this.draw.setMode("select");
    this.draw.selectFeature(drawId);
    this.setActive(true, "拖动节点修改图形（拖动边中点可加节点），然后保存。");
    document.getElementById("draw-finish").hidden = true;
    this.openForm(cfg, res.data.properties, `修改${cfg.title}`);
  }

  // The attribute form, built from the layer's fields (server-computed ones are not shown).
  openForm(cfg, values, title) {
    document.getElementById("edit-title").textContent = title;
    const box = document.getElementById("edit-fields");
    box.innerHTML = cfg.fields.filter((f) => f.writable).map((f) => this.fieldHtml(f, values[f.name])).join("");
    box.querySelectorAll("[data-ref-search]").forEach((input) => this.setupPicker(input));
    this.clearErrors();
    this.form.hidden = false;
    document.body.classList.add("editing");
  }

  fieldHtml(f, value) {
    const v = value === null || value === undefined ? "" : String(value);
    const name = escapeHtml(f.name);
    const label = `${escapeHtml(f.label)}${f.required ? '<span class="req">*</span>' : ""}`;
    let control;
    if (f.choices || f.type === "bool") {
      const choices = f.type === "bool" ? [["true", "是"], ["false", "否"]] : f.choices.map((c) => [c, c]);
      const blank = f.name === "district" ? "（按图形自动判断）" : "（未填）";
      control = `<select name="${name}" id="f-${name}"><option value="">${blank}</option>${choices.map(([k, t]) =>
        `<option value="${escapeHtml(k)}" ${k === v ? "selected" : ""}>${escapeHtml(t)}</option>`).join("")}</select>`;
    } else {
      const type = f.type === "int" || f.type === "float" ? "number" : f.type === "date" ? "date" : "text";
      const step = f.type === "float" ? ' step="any"' : f.type === "int" ? ' step="1"' : "";
      control = `<input name="${name}" id="f-${name}" type="${type}"${step} value="${escapeHtml(v)}"${f.max_length ? ` maxlength="${f.max_length}"` : ""}>`;
    }
    const ref = f.ref && this.state.byId[f.ref]
      ? `<input type="search" class="ref-search" data-ref-search="${escapeHtml(f.ref)}" data-target="${name}"
           placeholder="按名称或编号查找${escapeHtml(this.state.byId[f.ref].title)}" autocomplete="off">
         <ul class="ref-results" hidden></ul><div class="ref-chosen"></div>` : "";
    return `<div class="field" data-field="${name}"><label for="f-${name}">${label}</label>${control}${ref}
      <div class="field-error" hidden></div></div>`;
  }

  // 「所属工地」: pick the site by search instead of typing its id.
  setupPicker(input) {
    const list = input.nextElementSibling;
    const chosen = list.nextElementSibling;
    const target = this.form.querySelector(`[name="${CSS.escape(input.dataset.target)}"]`);
    let timer;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      const q = input.value.trim();
      if (!q) { list.hidden = true; return; }
      timer = setTimeout(async () => {
        try {
          const { data } = await api(`/api/search?q=${encodeURIComponent(q)}&layers=${input.dataset.refSearch}&limit=8`);
          list.innerHTML = data.results.map((r) => `<li><button type="button" data-id="${r.id}">${escapeHtml(r.label)}
            <small>${escapeHtml([r.code, r.district].filter(Boolean).join(" · "))}</small></button></li>`).join("")
            || `<li class="search-empty">没有找到</li>`;
        } catch (e) {
          list.innerHTML = `<li class="search-empty">${escapeHtml(e.message)}</li>`;
        }
        list.hidden = false;
      }, 250);
    });
    list.addEventListener("click", (e) => {
      const b = e.target.closest("button[data-id]");
      if (!b) return;
      target.value = b.dataset.id;
      chosen.textContent = `已选：${b.firstChild.textContent.trim()}（编号 ${b.dataset.id}）`;
      list.hidden = true;
    });
  }

  values() {
    const out = {};
    const before = this.job.record?.properties || {};
    for (const el of this.form.querySelectorAll("#edit-fields [name]")) {
      const v = el.value.trim();
      if (this.job.fid) {
        const old = before[el.name] === null || before[el.name] === undefined ? "" : String(before[el.name]);
        if (v !== old) out[el.name] = v === "" ? null : v;
      } else if (v !== "") {
        out[el.name] = v;
      }
    }
    return out;
  }

  geometry() {
    const f = this.draw.getSnapshotFeature(this.job.drawId);
    return f ? f.geometry : null;
  }

  async save() {
    const job = this.job;
    if (!job || job.drawId === null) return;
    this.clearErrors();
    const geometry = this.geometry();
    const properties = this.values();
    const saveButton = document.getElementById("edit-save");
    saveButton.disabled = true;
    try {
      let res;
      if (job.fid) {
        res = await api(`/api/layers/${encodeURIComponent(job.cfg.id)}/features/${job.fid}`, {
          method: "PATCH", body: { type: "Feature", geometry, properties }, headers: { "If-Match": job.etag } });
      } else {
        res = await api(`/api/layers/${encodeURIComponent(job.cfg.id)}/features`, {
          method: "POST", body: { type: "Feature", geometry, properties } });
      }
      const saved = res.data;
      const label = (job.cfg.label && saved.properties[job.cfg.label]) || `${job.cfg.title} ${saved.id}`;
      this.finish();
      this.state.rev[job.cfg.id] = (this.state.rev[job.cfg.id] || 0) + 1;
      this.map.refreshTiles(job.cfg.id);
      this.state.toast(`已保存：${label}`, "ok");
      document.body.dataset.lastSaved = `${job.cfg.id}/${saved.id}/${saved.meta.version}`;
      this.onSaved?.(saved);
    } catch (e) {
      this.showError(e);
    } finally {
      saveButton.disabled = false;
    }
  }

  // A server error in place: under the field it names, or at the drawn shape for geometry errors.
  showError(e) {
    const fieldBox = e.field && this.form.querySelector(`.field[data-field="${CSS.escape(e.field)}"]`);
    if (fieldBox) {
      const el = fieldBox.querySelector(".field-error");
      el.textContent = e.message;
      el.hidden = false;
      fieldBox.classList.add("invalid");
      fieldBox.querySelector("[name]")?.focus();
      return;
    }
    const top = document.getElementById("form-error");
    top.textContent = e.message;
    top.hidden = false;
    const geometry = this.geometry();
    if (geometry && (e.field === "geometry" || e.status === 422 || e.status === 409)) {
      // At the spot the server names (GEOS reasons end with "[lon lat]"), else at the shape's first vertex.
      const spot = /\[(-?[\d.]+) (-?[\d.]+)\]/.exec(e.detail?.reason || "");
      const at = spot ? [Number(spot[1]), Number(spot[2])]
        : geometry.type === "Polygon" ? geometry.coordinates[0][0] : geometry.coordinates[geometry.coordinates.length - 1];
      this.errorPopup.setLngLat(at).setHTML(`<div class="error-text">${escapeHtml(e.message)}</div>`).addTo(this.map);
    }
  }

  clearErrors() {
    this.errorPopup.remove();
    const top = document.getElementById("form-error");
    top.hidden = true;
    top.textContent = "";
    this.form.querySelectorAll(".field-error").forEach((el) => { el.hidden = true; el.textContent = ""; });
    this.form.querySelectorAll(".field.invalid").forEach((el) => el.classList.remove("invalid"));
  }

  // Leave drawing: drop the sketch, close the form, show the feature again.
  finish() {
    this.job = null;
    this.errorPopup.remove();
    if (this.draw) {
      this.draw.setMode("static");
      this.draw.clear();
    }
    this.form.hidden = true;
    document.body.classList.remove("editing");
    document.getElementById("draw-finish").hidden = false;
    this.setActive(false);
    if (this.state.excluded) {
      this.state.excluded = null;
      refreshFilters(this.map, this.state);
    }
  }

  cancel() {
    if (this.job || !this.form.hidden) this.finish();
  }
}
