// The photo checklist of a case (a monthly report; evaluation applications and stage registrations use the same
// upload API): one 「拍照」 per checklist item, opening the in-app camera (camera.js: the back camera's live picture,
// 拍摄 / 取消). Where the browser gives no camera (no getUserMedia, not HTTPS, refused, none found) 「拍照」 opens the
// phone's own camera app instead (<input type=file accept=image/* capture>), and the screen says why.
//
// A photo taken in the app is stamped with a fresh position (WGS84 from the browser, with its accuracy) and the
// time, encoded as a JPEG whose EXIF says the same (capture time, GPS), then queued (queue.js) with its own
// Idempotency-Key; a photo from the camera app is stamped and queued the same way and goes up as the camera made
// it, EXIF and all. No position, no upload: the user is told why. The server checks the position against
// the site's electronic fence; a refusal (outside the fence: "拍摄位置在工地电子围栏外 356 米…") is shown on the
// item. Above the list, where the phone is now and whether that is inside the fence (POST /api/geofence/check).
import { api } from "/static/js/api.js";
import { camera, CameraUnavailable, encodeJpeg } from "./camera.js";
import { locator } from "./location.js";
import { queue } from "./queue.js";
import { escapeHtml, html, timeText, toast } from "./ui.js";

const STALE_PHOTO_MS = 30 * 60 * 1000; // a "camera" file older than this came from the gallery
const PRECHECK_MOVE_M = 15;
const PRECHECK_EVERY_MS = 30000;

const QUEUE_TEXT = {
  waiting: "排队等待上传",
  sending: "正在上传…",
  retry: "网络不稳定，稍后自动重试",
  offline: "当前离线，已保存在手机上，联网后自动上传",
  auth: "登录已失效，重新登录后继续上传",
};

function metres(a, b) {
  const k = Math.PI / 180;
  const x = (b.lon - a.lon) * k * Math.cos(((a.lat + b.lat) / 2) * k);
  const y = (b.lat - a.lat) * k;
  return Math.sqrt(x * x + y * y) * 6371000;
}

// "20260512_143005" in Beijing time, as a phone names its photos.
function fileTime(date) {
  const b = new Date(date.getTime() + 8 * 3600 * 1000).toISOString();
  return `${b.slice(0, 10).replaceAll("-", "")}_${b.slice(11, 19).replaceAll(":", "")}`;
}

function stamp(lon, lat, accuracy, at) {
  const acc = accuracy !== null && accuracy !== undefined ? ` ±${Math.round(accuracy)} 米` : "";
  return `${Number(lon).toFixed(6)}, ${Number(lat).toFixed(6)}${acc} · ${timeText(at)}`;
}

export class Capture {
  // kind/id: the photos' owner (POST /api/st/{kind}/{id}/photos); siteId: whose fence; items: the checklist.
  // onUploaded(photo): a queued photo of this owner reached the server; onPending(): the queued ones changed.
  constructor(container, { kind, id, siteId, items, onUploaded = () => {}, onPending = () => {} }) {
    this.el = container;
    this.kind = kind;
    this.id = id;
    this.siteId = siteId;
    this.items = items;
    this.onUploaded = onUploaded;
    this.onPending = onPending;
    this.owner = `${kind}:${id}`;
    this.url = `/api/st/${kind}/${id}/photos`;
    this.photos = [];
    this.open = false;
    this.local = {}; // code -> a problem found on the phone (no position, not a fresh photo)
    this.pending = [];
    this.heard = new Set(); // keys of queued items whose answer this screen was told of (uploaded or refused)
    this.listeners = [];
  }

  // -- lifecycle --------------------------------------------------------------------------------------------------

  mount() {
    this.el.innerHTML = String(html`
      <div class="locbar" id="locbar" role="status" data-state="wait">正在定位…</div>
      <p class="camera-note" id="camera-note" role="status" hidden></p>
      <ul class="checklist">
        ${this.items.map((item) => html`
          <li class="item" data-item="${item.code}" data-state="empty">
            <div class="item-head">
              <span class="item-name">${item.name}</span>
              ${item.free ? "" : item.required ? html`<span class="tag req">必拍</span>` : html`<span class="tag">选拍</span>`}
            </div>
            ${item.part ? html`<p class="meta">${item.part}</p>` : ""}
            <div class="shots"></div>
            <p class="item-error" role="alert" hidden></p>
            <label class="btn shoot">
              <span>拍照</span>
              <input class="camera" type="file" accept="image/*" capture="environment" aria-label="拍照：${item.name}">
            </label>
          </li>`)}
      </ul>`);
    for (const input of this.el.querySelectorAll("input.camera")) {
      const code = input.closest(".item").dataset.item;
      input.addEventListener("change", () => this.taken(code, input));
      // 拍照 (the input covers the button) opens the in-app camera while it works, instead of the file input.
      input.addEventListener("click", (e) => {
        if (!camera.usable) return;
        e.preventDefault();
        this.shoot(code, input);
      });
    }
    const on = (target, type, fn) => {
      target.addEventListener(type, fn);
      this.listeners.push(() => target.removeEventListener(type, fn));
    };
    on(queue, "change", () => this.refreshQueue());
    on(queue, "uploaded", (e) => {
      this.heard.add(e.detail.item.key);
      if (e.detail.item.owner === this.owner) this.onUploaded(e.detail.photo);
    });
    on(queue, "refused", (e) => this.heard.add(e.detail.key));
    this.mounted = true;
    this.bar = new LocationBar(this.el.querySelector("#locbar"), this.siteId);
    this.bar.mount();
    this.cameraNote();
    this.refreshQueue();
  }

  unmount() {
    this.mounted = false;
    this.listeners.forEach((off) => off());
    this.listeners = [];
    this.bar.unmount();
  }

  // The server's view: the photos so far and whether photos may be added now (the case's state and the role).
  // A photo the queue sent after this view was read (its 201 came while the screen was loading, so it is neither
  // in the list nor in the queue) is shown from its upload's answer, and the case read again, once.
  set(photos, open) {
    const late = queue.unlisted(this.owner, photos);
    this.photos = [...photos, ...late.map((u) => u.photo)];
    this.open = open;
    this.render();
    const unasked = late.filter((u) => !u.reread);
    if (unasked.length) {
      unasked.forEach((u) => { u.reread = true; });
      this.onUploaded(unasked[0].photo);
    }
  }

  async refreshQueue() {
    let pending;
    try {
      pending = await queue.items(this.owner);
    } catch {
      pending = [];
    }
    if (!this.mounted) return; // the screen was left meanwhile
    // An item that left the queue without this screen hearing of it (sent from another tab, or its answer came
    // while the screen was busy): the server has it, or refused it — the case is read again.
    const gone = this.pending.some((q) => !this.heard.has(q.key) && !pending.some((p) => p.key === q.key));
    this.pending = pending;
    this.render();
    this.onPending();
    if (gone) this.onUploaded(null);
  }

  get pendingCount() {
    return this.pending.length;
  }

  // -- taking a photo ---------------------------------------------------------------------------------------------

  // The in-app camera. Refused or missing: the phone's camera app through the file input (tried at once — the
  // tap's user activation usually still holds — and 「拍照」 opens it from now on), and the screen says why.
  async shoot(code, input) {
    const item = this.items.find((i) => i.code === code);
    let shot;
    try {
      shot = await camera.open(`拍照：${item.name}`);
    } catch (e) {
      if (!(e instanceof CameraUnavailable)) throw e;
      this.cameraNote();
      toast(e.message, "error");
      input.click();
      return;
    }
    if (!shot || !this.mounted) return;
    queue.clearRefusal(this.owner, code);
    const fix = await this.position(code);
    if (!fix) return;
    let data;
    try {
      data = await encodeJpeg(shot.canvas, shot.takenAt, fix);
    } catch (e) {
      this.problem(code, `照片保存失败（${e.message || e}），请重新拍摄。`);
      return;
    }
    await this.enqueue(code, fix, data, "image/jpeg", `IMG_${fileTime(shot.takenAt)}.jpg`, shot.takenAt);
  }

  // The position for the photo of `code`; null (and the reason shown on the item) when there is none.
  async position(code) {
    this.local[code] = { busy: "正在获取拍摄位置…" };
    this.render();
    try {
      return await locator.current();
    } catch (e) {
      this.problem(code, `照片未上传：${e.message}`);
      return null;
    }
  }

  cameraNote() {
    const note = this.el.querySelector("#camera-note");
    if (!note) return;
    note.textContent = camera.usable ? "" : camera.reason;
    note.hidden = camera.usable;
  }

  async taken(code, input) {
    const file = input.files && input.files[0];
    input.value = "";
    if (!file) return;
    const takenAt = new Date();
    queue.clearRefusal(this.owner, code);
    this.local[code] = null;
    if (file.type && !file.type.startsWith("image/")) {
      this.problem(code, "请用相机拍摄照片（只接受图片）。");
      return;
    }
    if (file.lastModified && takenAt - file.lastModified > STALE_PHOTO_MS) {
      this.problem(code, `这张照片不是现场刚拍的（${timeText(new Date(file.lastModified).toISOString())}），请用相机现场拍摄。`);
      return;
    }
    const fix = await this.position(code);
    if (!fix) return;
    let data;
    try {
      data = await file.arrayBuffer();
    } catch {
      this.problem(code, "读取照片失败，请重新拍摄。");
      return;
    }
    await this.enqueue(code, fix, data, file.type || "image/jpeg", file.name || `IMG_${fileTime(takenAt)}.jpg`, takenAt);
  }

  // Into the upload queue, which gives it its Idempotency-Key now, once.
  async enqueue(code, fix, data, type, filename, takenAt) {
    const item = this.items.find((i) => i.code === code);
    this.local[code] = null;
    try {
      await queue.add({
        owner: this.owner, url: this.url, code, label: item.name, data, type, filename,
        fields: {
          checklist_code: item.free ? null : code, lon: fix.lon, lat: fix.lat, accuracy_m: fix.accuracy_m, crs: fix.crs,
          taken_at: takenAt.toISOString(),
        },
      });
    } catch (e) {
      this.problem(code, `照片无法保存到手机（${e.message || e}），请检查存储空间后重拍。`);
    }
  }

  problem(code, message) {
    this.local[code] = { error: message };
    toast(message, "error");
    this.render();
  }

  // -- showing ----------------------------------------------------------------------------------------------------

  render() {
    for (const row of this.el.querySelectorAll(".item")) this.renderItem(row);
  }

  renderItem(row) {
    const code = row.dataset.item;
    const item = this.items.find((i) => i.code === code);
    const shots = this.photos.filter((p) => (item.free ? !p.checklist_code : p.checklist_code === code));
    const waiting = this.pending.filter((q) => q.code === code);
    const refusal = queue.refusalFor(this.owner, code);
    const local = this.local[code];
    let state = item.required ? "missing" : "empty";
    if (shots.length) state = "uploaded";
    if (refusal || local?.error) state = shots.length ? "uploaded" : "refused";
    if (local?.busy) state = "locating";
    if (waiting.length) state = "queued";
    row.dataset.state = state;
    row.querySelector(".shots").innerHTML = [
      ...shots.map((p) => {
        const where = p.inside_fence
          ? '<span class="ok">✓ 已上传 · 围栏内</span>'
          : `<span class="warn">已上传 · 围栏外 ${Math.round(p.distance_m)} 米（已标记）</span>`;
        const flags = (p.flags || []).filter((f) => !f.includes("围栏外"))
          .map((f) => `<span class="warn">${escapeHtml(f)}</span>`).join("");
        return `<figure class="shot" data-photo="${p.id}">
          <a href="${p.url}" target="_blank" rel="noopener"><img src="${p.thumbnail_url}" alt="${escapeHtml(item.name)}" loading="lazy"></a>
          <figcaption>${where}<span>${escapeHtml(stamp(p.lon, p.lat, p.accuracy_m, p.taken_at))}</span>${flags}</figcaption>
        </figure>`;
      }),
      ...waiting.map((q) => {
        const tries = q.attempts > 1 && q.state !== "sending" ? `（已尝试 ${q.attempts} 次）` : "";
        return `<figure class="shot pending" data-key="${q.key}" data-queue-state="${q.state}">
          <img src="${queue.thumbnail(q)}" alt="${escapeHtml(item.name)}">
          <figcaption><span class="pending-state">${escapeHtml(QUEUE_TEXT[q.state] || q.state)}${tries}</span>
          <span>${escapeHtml(stamp(q.fields.lon, q.fields.lat, q.fields.accuracy_m, q.fields.taken_at))}</span></figcaption>
        </figure>`;
      }),
    ].join("");
    const error = row.querySelector(".item-error");
    const message = local?.error || local?.busy || refusal?.message || "";
    error.textContent = message;
    error.hidden = !message;
    error.classList.toggle("busy", Boolean(local?.busy));
    row.querySelector(".shoot").hidden = !this.open;
    row.querySelector(".shoot span").textContent = shots.length || waiting.length ? "再拍一张" : "拍照";
  }
}

// Where the phone is now, and whether that is inside the site's fence (asked again after moving or after a while).
// The upload's own check decides; this only tells the user before taking photos.
export class LocationBar {
  constructor(el, siteId) {
    this.el = el;
    this.siteId = siteId;
    this.fence = null; // the last pre-check's answer: {inside, distance_m, fix}
    this.lastCheck = null; // the last pre-check tried: {fix, at}
    this.checking = false;
    this.onChange = () => this.render();
  }

  mount() {
    locator.addEventListener("change", this.onChange);
    locator.start();
    this.render();
  }

  unmount() {
    locator.removeEventListener("change", this.onChange);
    locator.stop();
  }

  render() {
    const bar = this.el;
    if (!bar.isConnected) return;
    const fix = locator.fix;
    if (locator.error && !fix) {
      bar.dataset.state = "error";
      bar.textContent = locator.error;
      return;
    }
    if (!fix) {
      bar.dataset.state = "wait";
      bar.textContent = "正在定位…（必须带现场位置）";
      return;
    }
    this.precheck(fix);
    const acc = `定位精度 ±${Math.round(fix.accuracy_m)} 米`;
    if (!this.fence || metres(this.fence.fix, fix) > PRECHECK_MOVE_M) {
      bar.dataset.state = "ok";
      bar.textContent = `已定位：${acc}`;
    } else if (this.fence.inside) {
      bar.dataset.state = "inside";
      bar.textContent = `已定位：在工地电子围栏内（${acc}）`;
    } else {
      bar.dataset.state = "outside";
      bar.textContent = `您在工地电子围栏外约 ${Math.round(this.fence.distance_m)} 米（${acc}）：请到工地现场，围栏外拍照或登记会被拒收。`;
    }
  }

  async precheck(fix) {
    const last = this.lastCheck;
    if (this.checking || !navigator.onLine) return;
    if (last && metres(last.fix, fix) <= PRECHECK_MOVE_M && Date.now() - last.at < PRECHECK_EVERY_MS) return;
    this.checking = true;
    this.lastCheck = { fix, at: Date.now() };
    try {
      const { data } = await api("/api/geofence/check", {
        method: "POST",
        body: { layer: "site_fences", site_id: this.siteId, lon: fix.lon, lat: fix.lat, crs: fix.crs, accuracy_m: fix.accuracy_m },
      });
      this.fence = { inside: Boolean(data.inside), distance_m: Number(data.distance_m) || 0, fix };
    } catch {
      this.fence = null; // no fence, no permission, no network: the upload's own check decides
    } finally {
      this.checking = false;
    }
    this.render();
  }
}
