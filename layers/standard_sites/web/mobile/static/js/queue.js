// The upload queue: every photo is kept on the phone (IndexedDB) until the server has it.
//
// An item gets its Idempotency-Key (a UUID) once, when the photo comes back from the camera, and keeps it through
// every retry — after a timeout, a lost answer, a closed app — so the server stores it once however often it is
// sent. Network errors, timeouts, 408/425/429 and 5xx are retried with backoff (and at once when the phone comes
// back online or the app back to the front); the item leaves the queue on 201 or on a 4xx that is final (outside
// the fence, report closed, not a photo …), whose message the user is shown. A 401 (or a CSRF refusal after the
// session changed) pauses the queue until the user signs in again. Only the signed-in user's items are sent.
//
// An item leaves the queue when its 201 arrives; a screen that read the server's copy of its case before the photo
// was stored, and shows that copy after the item left, would show the photo as missing (to be taken again). So the
// queue remembers the photos it sent (`recent`, in this page) until a server's list of their case contains them:
// `unlisted(owner, photos)` says which the list lacks, and capture.js shows them as uploaded and reads the case again.
import { csrfToken, session } from "/static/js/api.js";
import { uuid } from "./ui.js";

const DB_NAME = "cj-mobile";
const STORE = "uploads";
const TIMEOUT_MS = 90000;
const MAX_DELAY_S = 300;
const OFFLINE_RECHECK_MS = 5000; // navigator.onLine looked at again (no request) in case an "online" was missed
const REFUSALS_KEY = "cj-mobile-refusals";
const RECENT_MS = 15 * 60 * 1000; // how long a sent photo is remembered while no list of its case shows it

let dbPromise = null;

function db() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "key" });
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    dbPromise.catch(() => { dbPromise = null; });
  }
  return dbPromise;
}

async function tx(mode, fn) {
  const d = await db();
  return new Promise((resolve, reject) => {
    const t = d.transaction(STORE, mode);
    const req = fn(t.objectStore(STORE));
    t.oncomplete = () => resolve(req ? req.result : undefined);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error("IndexedDB transaction aborted"));
  });
}

const getAll = () => tx("readonly", (s) => s.getAll());
const put = (item) => tx("readwrite", (s) => s.put(item));
const remove = (key) => tx("readwrite", (s) => s.delete(key));

function retryAfter(res) {
  const s = Number(res.headers.get("Retry-After"));
  return Number.isFinite(s) && s > 0 ? Math.min(s, MAX_DELAY_S) : null;
}

export class UploadQueue extends EventTarget {
  constructor() {
    super();
    this.running = false;
    this.again = false;
    this.timer = null;
    this.paused = false; // true: the session ended; waits for a sign-in
    this.channel = "BroadcastChannel" in window ? new BroadcastChannel("cj-mobile-uploads") : null;
    this.refusals = this.loadRefusals();
    this.thumbs = new Map(); // key -> object URL of a queued photo
    this.recent = []; // sent from this page, not yet in a list of their case: {owner, code, key, user, photo, at}
  }

  start() {
    window.addEventListener("online", () => this.wake());
    window.addEventListener("offline", () => this.changed());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.wake();
    });
    if (this.channel) this.channel.onmessage = () => this.changed(false);
    // Ask the browser not to evict the queue under storage pressure (best effort).
    navigator.storage?.persist?.().catch(() => {});
    this.pump();
  }

  // -- items ------------------------------------------------------------------------------------------------------

  // Queue a photo. `fields` are the form fields of the upload (checklist_code, lon, lat, accuracy_m, crs, taken_at).
  async add({ owner, url, code, label, data, type, filename, fields }) {
    const item = {
      key: uuid(), user: session.user?.user || null, owner, url, code, label, data, type, filename, fields,
      created_at: Date.now(), attempts: 0, next_at: 0, state: "waiting", error: null,
    };
    await put(item);
    this.clearRefusal(owner, code);
    this.changed();
    this.pump();
    return item;
  }

  // The signed-in user's queued items (optionally of one owner, e.g. "report:12"), oldest first.
  async items(owner = null) {
    const user = session.user?.user || null;
    const all = await getAll();
    return all.filter((i) => (!owner || i.owner === owner) && (i.user === user || !user))
      .sort((a, b) => a.created_at - b.created_at);
  }

  async count() {
    return (await this.items()).length;
  }

  thumbnail(item) {
    let url = this.thumbs.get(item.key);
    if (!url) {
      url = URL.createObjectURL(new Blob([item.data], { type: item.type }));
      this.thumbs.set(item.key, url);
    }
    return url;
  }

  // -- running ----------------------------------------------------------------------------------------------------

  // Retry now: back online, back in front, signed in again, or the user asked.
  // The items are changed in one transaction: a copy read before and written back after a send finished would put
  // a photo the server has back into the queue (and send it again).
  async wake() {
    this.paused = false;
    await tx("readwrite", (s) => {
      const cursor = s.openCursor();
      cursor.onsuccess = () => {
        const c = cursor.result;
        if (!c) return;
        const item = c.value;
        if (item.next_at > 0 || item.state === "auth") {
          item.next_at = 0;
          if (item.state === "auth") item.state = "waiting";
          c.update(item);
        }
        c.continue();
      };
      return null;
    });
    this.changed();
    this.pump();
  }

  schedule(ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.pump(), Math.max(0, ms));
  }

  async pump() {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      // One tab sends at a time (the others see the changes through the broadcast channel).
      if (navigator.locks) {
        await navigator.locks.request("cj-mobile-uploads", { ifAvailable: true }, async (lock) => {
          if (lock) await this.run();
          else this.schedule(5000);
        });
      } else {
        await this.run();
      }
    } catch (e) {
      console.warn("upload queue:", e);
      this.schedule(10000);
    } finally {
      this.running = false;
    }
    if (this.again) {
      this.again = false;
      this.pump();
    }
  }

  async run() {
    for (;;) {
      this.again = false;
      const user = session.user?.user;
      if (this.paused || !user) return;
      const mine = (await getAll()).filter((i) => i.user === user).sort((a, b) => a.created_at - b.created_at);
      if (!mine.length) return;
      const now = Date.now();
      const due = mine.find((i) => i.next_at <= now && i.state !== "auth");
      if (!due) {
        const next = Math.min(...mine.filter((i) => i.state !== "auth").map((i) => i.next_at));
        if (Number.isFinite(next)) this.schedule(next - now);
        return;
      }
      if (!navigator.onLine) {
        // No network at all: wait for the browser's "online" (and look again now and then: it may be wrong).
        for (const i of mine.filter((x) => x.state !== "offline")) {
          i.state = "offline";
          i.error = "当前离线，联网后自动上传";
          await put(i);
        }
        this.changed();
        this.schedule(OFFLINE_RECHECK_MS);
        return;
      }
      await this.send(due);
    }
  }

  async send(item) {
    item.state = "sending";
    item.attempts += 1;
    item.error = null;
    await put(item);
    this.changed();
    const form = new FormData();
    form.append("file", new Blob([item.data], { type: item.type }), item.filename);
    for (const [k, v] of Object.entries(item.fields)) {
      if (v !== null && v !== undefined && v !== "") form.append(k, String(v));
    }
    const headers = { "Idempotency-Key": item.key };
    const csrf = csrfToken();
    if (csrf) headers["X-CSRF-Token"] = csrf;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
    let res;
    let body = null;
    try {
      res = await fetch(item.url, { method: "POST", body: form, headers, credentials: "same-origin", signal: abort.signal });
      const text = await res.text();
      try { body = text ? JSON.parse(text) : null; } catch { body = null; }
    } catch {
      // No answer (offline, dropped, timed out): the server may or may not have it — the same key again is safe.
      await this.retry(item, navigator.onLine ? "网络不稳定，稍后自动重试" : "当前离线，联网后自动上传");
      return;
    } finally {
      clearTimeout(timer);
    }
    if (res.ok) {
      if (body?.id) {
        const now = Date.now();
        this.recent = [{ owner: item.owner, code: item.code, key: item.key, user: item.user, photo: body, at: now },
          ...this.recent.filter((r) => now - r.at < RECENT_MS)].slice(0, 50);
      }
      await remove(item.key);
      this.dropThumb(item.key);
      this.emit("uploaded", { item, photo: body });
      return;
    }
    if (res.status === 401 || (res.status === 403 && body?.code === "csrf_failed")) {
      item.state = "auth";
      item.error = "登录已失效：请重新登录，照片会继续上传。";
      await put(item);
      this.paused = true;
      this.emit("auth", { item });
      return;
    }
    if ([408, 425, 429].includes(res.status) || res.status >= 500) {
      await this.retry(item, `服务器暂时无法处理（${res.status}），稍后自动重试`, retryAfter(res));
      return;
    }
    // A final answer: this photo will never be accepted as it is. Tell the user, drop it.
    await remove(item.key);
    this.dropThumb(item.key);
    const refusal = {
      key: item.key, owner: item.owner, code: item.code, label: item.label, user: item.user, status: res.status,
      error: body?.code || "http_error", message: body?.message || `上传被拒绝（${res.status}）`,
      detail: body?.detail || {}, at: Date.now(),
    };
    this.refusals = [refusal, ...this.refusals].slice(0, 20);
    this.saveRefusals();
    this.emit("refused", refusal);
  }

  async retry(item, message, afterS = null) {
    const base = Math.min(MAX_DELAY_S, 2 ** Math.min(item.attempts, 9));
    const delayS = afterS ?? base * (0.75 + Math.random() * 0.5);
    item.state = navigator.onLine ? "retry" : "offline";
    item.error = message;
    item.next_at = Date.now() + delayS * 1000;
    await put(item);
    this.changed();
  }

  dropThumb(key) {
    const url = this.thumbs.get(key);
    if (url) URL.revokeObjectURL(url);
    this.thumbs.delete(key);
  }

  // -- what was sent ----------------------------------------------------------------------------------------------

  // The photos of `owner` this page sent (201) that the server's list `photos` of that owner does not show yet: it
  // was read before they were stored. Those it shows are forgotten (the server's list has the last word from now).
  unlisted(owner, photos) {
    const listed = new Set(photos.map((p) => p.id));
    const now = Date.now();
    this.recent = this.recent.filter((r) => !(r.owner === owner && listed.has(r.photo.id)) && now - r.at < RECENT_MS);
    return this.recent.filter((r) => r.owner === owner && r.user === (session.user?.user || null));
  }

  // -- what was refused -------------------------------------------------------------------------------------------

  loadRefusals() {
    try {
      return JSON.parse(localStorage.getItem(REFUSALS_KEY) || "[]");
    } catch {
      return [];
    }
  }

  saveRefusals() {
    try {
      localStorage.setItem(REFUSALS_KEY, JSON.stringify(this.refusals));
    } catch { /* storage full: the toast said it */ }
  }

  refusalFor(owner, code) {
    return this.refusals.find((r) => r.owner === owner && r.code === code && r.user === session.user?.user) || null;
  }

  clearRefusal(owner, code) {
    const before = this.refusals.length;
    this.refusals = this.refusals.filter((r) => !(r.owner === owner && r.code === code));
    if (this.refusals.length !== before) this.saveRefusals();
  }

  // -- events -----------------------------------------------------------------------------------------------------

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
    this.changed();
  }

  changed(broadcast = true) {
    this.dispatchEvent(new Event("change"));
    if (broadcast && this.channel) this.channel.postMessage("change");
  }
}

export const queue = new UploadQueue();
