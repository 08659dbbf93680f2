// The phone page of the farmhouse construction inspections (/m/villages, VT-14).
//
// A township inspector finds the house (search, or nearest to where he stands), reads its approval and stages, and
// records the inspection of its next stage on site: result, note, camera photos and the phone's position. The
// inspection is first saved on the phone (IndexedDB, with its idempotency key) and then sent; offline it waits and
// goes up when the network is back — sent again after a lost answer it is stored once (the server keeps the key).
// A refusal (too far from the house, stage already passed …) stays in the queue with the server's message.
// County staff read their county's houses and report statistics. Everything comes from /api/villages/construction.

import { ApiError, api, csrfToken, escapeHtml as esc, signIn, whoAmI } from "/static/js/api.js";

const API = "/api/villages/construction";
const $ = (id) => document.getElementById(id);
const state = { user: null, stages: [], position: null, watch: null, flushing: false };

// -- the offline queue (IndexedDB) ----------------------------------------------------------------------------------

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open("cj-villages", 1);
    req.onupgradeneeded = () => req.result.createObjectStore("queue", { keyPath: "key" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function store(mode, work) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const tx = db.transaction("queue", mode);
    const result = work(tx.objectStore("queue"));
    tx.oncomplete = () => resolve(result.result);
    tx.onerror = () => reject(tx.error);
  });
}

const queued = () => store("readonly", (s) => s.getAll());
const enqueue = (item) => store("readwrite", (s) => s.put(item));
const dequeue = (key) => store("readwrite", (s) => s.delete(key));

async function showBadge() {
  const items = await queued();
  const badge = $("queue-badge");
  badge.hidden = items.length === 0;
  badge.textContent = `待上传 ${items.length}`;
}

async function send(item) {
  const form = new FormData();
  for (const [k, v] of Object.entries(item.fields)) if (v !== null && v !== "") form.append(k, v);
  item.photos.forEach((blob, i) => form.append("files", blob, `photo-${i + 1}.jpg`));
  const headers = { "Idempotency-Key": item.key };
  const csrf = csrfToken();
  if (csrf) headers["X-CSRF-Token"] = csrf;
  const res = await fetch(`${API}/inspections`, { method: "POST", body: form, headers, credentials: "same-origin" });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

// Send what waits, oldest first; stop at the first network failure (the rest waits for the next chance).
async function flush() {
  if (state.flushing || !navigator.onLine) return;
  state.flushing = true;
  let changed = false;
  try {
    const items = (await queued()).sort((a, b) => a.created - b.created);
    for (const item of items) {
      if (item.error) continue; // refused: the inspector decides (send again or delete)
      try {
        const done = await send(item);
        await dequeue(item.key);
        changed = true;
        toast(`已上传：${item.code} ${done.stage_name}${done.result === "pass" ? "合格" : "不合格"}`);
      } catch (e) {
        if (e.status === 0 || e.status === undefined || e.status >= 500) break; // the network: later
        item.error = e.message;
        await enqueue(item);
        changed = true;
        toast(e.message, true);
      }
    }
  } finally {
    state.flushing = false;
    await showBadge();
    if (changed && location.hash.startsWith("#/queue")) route();
  }
}

// -- screens ---------------------------------------------------------------------------------------------------------

function toast(text, error = false) {
  const t = $("toast");
  t.textContent = text;
  t.className = error ? "toast error" : "toast";
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.hidden = true), 4000);
}

function screen(name, title, html, back = false) {
  document.body.dataset.screen = name;
  $("title").textContent = title;
  $("back").hidden = !back;
  $("view").innerHTML = html;
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("on", a.dataset.tab === name);
}

const fmtDay = (d) => d || "—";
const today = () => new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10); // Beijing

function loginScreen() {
  $("tabs").hidden = true;
  screen("login", "农房建设巡查", `
    <form id="login" class="card" novalidate>
      <h2>登录</h2>
      <p class="form-error" id="login-error" role="alert" hidden></p>
      <div class="field"><label for="login-username">用户名</label>
        <input id="login-username" autocomplete="username" autocapitalize="off" maxlength="100"></div>
      <div class="field"><label for="login-password">密码</label>
        <input id="login-password" type="password" autocomplete="current-password" maxlength="200"></div>
      <button class="btn primary block" id="login-submit" type="submit">登录</button>
    </form>`);
  $("login").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const error = $("login-error");
    try {
      state.user = await signIn($("login-username").value.trim(), $("login-password").value);
      localStorage.setItem("cj-vil-user", JSON.stringify(state.user));
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
      return;
    }
    start();
  });
}

async function housesScreen(params) {
  const q = params.get("q") || "";
  const overdue = params.get("overdue") === "1";
  const near = params.get("near") === "1" && state.position;
  screen("houses", "在建农房", `
    <form class="search" id="search"><input id="q" type="search" placeholder="农房编号、乡镇、村" value="${esc(q)}" maxlength="50">
      <button class="btn" type="submit">查询</button></form>
    <div class="row" style="margin-bottom:10px">
      <label class="muted"><input type="checkbox" id="only-overdue" ${overdue ? "checked" : ""} style="width:auto"> 仅逾期</label>
      <button class="btn" type="button" id="near">附近的农房</button>
    </div>
    <div id="list"><p class="hint">正在加载…</p></div>`);
  const go = (extra = {}) => {
    const p = new URLSearchParams({ q: $("q").value.trim(), overdue: $("only-overdue").checked ? "1" : "", ...extra });
    location.hash = `#/houses?${p}`;
  };
  $("search").addEventListener("submit", (ev) => { ev.preventDefault(); go(); });
  $("only-overdue").addEventListener("change", () => go());
  $("near").addEventListener("click", () => {
    if (!state.position) { toast("尚未取得定位，请开启定位后再试。", true); return; }
    go({ near: "1" });
  });
  const query = new URLSearchParams({ limit: "50" });
  if (q) query.set("q", q);
  if (overdue) query.set("overdue", "true");
  if (near) { query.set("near_lon", state.position.lon); query.set("near_lat", state.position.lat); }
  let data;
  try {
    ({ data } = await api(`${API}/houses?${query}`));
  } catch (e) {
    $("list").innerHTML = `<p class="form-error">${esc(e.message)}</p>`;
    return;
  }
  $("list").innerHTML = `<p class="muted" id="total">共 ${data.total} 户</p>` + (data.items.map((h) => `
    <a class="card house" href="#/house/${h.id}" data-house="${h.id}">
      <div class="row"><h2>${esc(h.code)}</h2>${h.overdue ? '<span class="tag overdue">逾期</span>' : ""}</div>
      <div class="muted">${esc(h.district)} ${esc(h.township || "")} ${esc(h.village || "")} · ${esc(h.owner_name || "")}</div>
      <div>${h.status === "审批中" ? "审批中" : `已完成：${esc(h.stage_name || "尚未开始")}`}
        ${h.next_stage_name ? ` · 下一阶段：${esc(h.next_stage_name)}（${fmtDay(h.next_due_on)} 前）` : ""}</div>
    </a>`).join("") || '<p class="hint">没有符合条件的在建农房。</p>');
}

// A house's record, from the server; offline, the copy kept when it was last read (so that a house opened before
// going on site can be inspected where there is no network).
async function loadHouse(id) {
  try {
    const { data } = await api(`${API}/houses/${id}`);
    localStorage.setItem(`cj-vil-house-${id}`, JSON.stringify(data));
    return data;
  } catch (e) {
    const kept = e.status === 0 ? localStorage.getItem(`cj-vil-house-${id}`) : null;
    if (kept) return { ...JSON.parse(kept), offline: true };
    $("view").innerHTML = `<p class="form-error">${esc(e.message)}</p>`;
    return null;
  }
}

async function houseScreen(id) {
  screen("house", "农房建设档案", '<p class="hint">正在加载…</p>', true);
  const h = await loadHouse(id);
  if (!h) return;
  const stateName = { passed: "已通过", next: "待巡查", pending: "未开始" };
  const canInspect = state.user.permissions.some((p) => p === "*" || p === "farmhouse.inspect");
  $("view").innerHTML = `${h.offline ? '<p class="muted">离线：显示上次打开时的档案。</p>' : ""}
    <div class="card"><h2>${esc(h.code)}</h2>
      <div class="muted">${esc(h.district)} ${esc(h.township || "")} ${esc(h.village || "")} · 户主 ${esc(h.owner_name || "")}</div>
      <div>建设状态：${esc(h.status)}</div>
      <div>审批文号：${esc(h.approval_no || "尚未审批")} · 审批日期：${fmtDay(h.approved_on)}</div>
      ${h.overdue ? `<div class="tag overdue">「${esc(h.next_stage_name)}」已逾期（应于 ${h.next_due_on} 前）</div>` : ""}
    </div>
    <div class="card"><h2>审批后阶段</h2><ul class="timeline">${h.timeline.map((s) => `
      <li data-stage="${s.code}"><span>${esc(s.name)}</span>
        <span><span class="tag ${s.state}">${stateName[s.state]}</span> ${s.passed_on || (s.due_on ? `${s.due_on} 前` : "")}</span></li>`).join("")}
    </ul></div>
    ${canInspect && h.status === "在建" && h.next_stage ? `<a class="btn primary block" id="inspect" href="#/inspect/${h.id}" style="text-align:center;text-decoration:none">登记「${esc(h.next_stage_name)}」巡查</a>` : ""}
    <h3>巡查记录</h3>
    ${h.inspections.map((i) => `
      <div class="card" data-inspection="${i.id}">
        <div class="row"><strong>${esc(i.stage_name)}</strong><span class="tag ${i.result}">${i.result_name}</span></div>
        <div class="muted">${i.inspected_on} · ${esc(i.inspector)}${i.late ? ' · <span class="tag late">迟于期限</span>' : ""}</div>
        ${i.note ? `<div>${esc(i.note)}</div>` : ""}
        <div class="thumbs">${i.photos.map((p) => `<img src="${p.thumbnail_url}" alt="现场照片">`).join("")}</div>
      </div>`).join("") || '<p class="hint">尚无巡查记录。</p>'}`;
}

function watchPosition() {
  if (state.watch !== null || !navigator.geolocation) return;
  state.watch = navigator.geolocation.watchPosition(
    (p) => {
      state.position = { lon: p.coords.longitude, lat: p.coords.latitude, accuracy: p.coords.accuracy };
      const el = $("position");
      if (el) el.textContent = `已定位（精度约 ${Math.round(p.coords.accuracy)} 米）`;
    },
    () => {
      const el = $("position");
      if (el) el.textContent = "无法取得定位：请在手机设置中允许本页面使用定位。";
    },
    { enableHighAccuracy: true, maximumAge: 10000 },
  );
}

async function inspectScreen(id) {
  screen("inspect", "登记巡查", '<p class="hint">正在加载…</p>', true);
  const h = await loadHouse(id);
  if (!h) return;
  const photos = [];
  $("view").innerHTML = `
    <form id="inspect-form" class="card" novalidate>
      <h2>${esc(h.code)} · ${esc(h.next_stage_name || "")}</h2>
      <p class="form-error" id="form-error" role="alert" hidden></p>
      <div class="field"><label for="inspected_on">巡查日期</label>
        <input id="inspected_on" type="date" value="${today()}" max="${today()}"></div>
      <div class="field"><label>巡查结果</label><div class="choices">
        <label><input type="radio" name="result" value="pass" checked>合格</label>
        <label><input type="radio" name="result" value="fail">不合格</label></div></div>
      <div class="field"><label for="note">巡查意见</label><textarea id="note" rows="3" maxlength="1000"></textarea></div>
      <div class="field"><label for="inspector">巡查人</label>
        <input id="inspector" maxlength="50" value="${esc(state.user.display_name || state.user.user)}"></div>
      <div class="field"><label for="photo">现场照片</label>
        <input id="photo" type="file" accept="image/*" capture="environment" multiple>
        <div class="thumbs" id="thumbs"></div></div>
      <p class="muted" id="position">${state.position ? `已定位（精度约 ${Math.round(state.position.accuracy)} 米）` : "正在定位…"}</p>
      <button class="btn primary block" id="submit" type="submit">保存并上传</button>
    </form>`;
  $("photo").addEventListener("change", () => {
    for (const f of $("photo").files) {
      photos.push(f);
      const img = document.createElement("img");
      img.src = URL.createObjectURL(f);
      img.alt = "待上传照片";
      $("thumbs").append(img);
    }
    $("photo").value = "";
  });
  $("inspect-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const error = $("form-error");
    const fail = (text) => { error.textContent = text; error.hidden = false; };
    if (!photos.length) return fail("请至少拍摄一张现场照片。");
    if (!state.position) return fail("尚未取得定位：巡查须带现场位置，请开启定位后再保存。");
    const item = {
      key: crypto.randomUUID(),
      created: Date.now(),
      house_id: h.id,
      code: h.code,
      stage_name: h.next_stage_name,
      fields: {
        farmhouse_id: String(h.id), stage: h.next_stage, inspected_on: $("inspected_on").value,
        result: document.querySelector('input[name="result"]:checked').value, note: $("note").value.trim(),
        inspector: $("inspector").value.trim(), lon: String(state.position.lon), lat: String(state.position.lat),
        accuracy_m: String(Math.round(state.position.accuracy * 10) / 10), taken_at: new Date().toISOString(),
        mobile: "true",
      },
      photos: photos.slice(),
      error: null,
    };
    await enqueue(item);
    await showBadge();
    toast(navigator.onLine ? "已保存，正在上传…" : "已保存在手机上，联网后自动上传。");
    location.hash = "#/queue";
    flush();
  });
}

async function queueScreen() {
  const items = (await queued()).sort((a, b) => a.created - b.created);
  screen("queue", "上传队列", items.map((i) => `
    <div class="card" data-key="${i.key}" data-state="${i.error ? "refused" : "waiting"}">
      <div class="row"><strong>${esc(i.code)} · ${esc(i.stage_name || "")}</strong>
        <span class="tag ${i.error ? "fail" : "next"}">${i.error ? "被退回" : "等待上传"}</span></div>
      <div class="muted">${i.fields.inspected_on} · ${i.fields.result === "pass" ? "合格" : "不合格"} · 照片 ${i.photos.length} 张</div>
      ${i.error ? `<p class="form-error">${esc(i.error)}</p>
        <div class="row"><button class="btn retry" type="button">重新上传</button>
        <button class="btn drop" type="button">删除</button></div>` : ""}
    </div>`).join("") || '<p class="hint" id="queue-empty">没有待上传的巡查记录。</p>');
  for (const card of document.querySelectorAll("[data-key]")) {
    const item = items.find((i) => i.key === card.dataset.key);
    card.querySelector(".retry")?.addEventListener("click", async () => {
      item.error = null;
      await enqueue(item);
      flush();
    });
    card.querySelector(".drop")?.addEventListener("click", async () => {
      await dequeue(item.key);
      await showBadge();
      route();
    });
  }
  flush();
}

async function statsScreen() {
  screen("stats", "上报统计", '<p class="hint">正在加载…</p>');
  let s;
  let recent;
  try {
    [{ data: s }, { data: recent }] = await Promise.all([api(`${API}/stats`), api(`${API}/inspections?limit=20`)]);
  } catch (e) {
    $("view").innerHTML = `<p class="form-error">${esc(e.message)}</p>`;
    return;
  }
  const month = new Date(Date.now() + 8 * 3600e3).getUTCMonth();
  $("view").innerHTML = `
    <p class="muted">${s.year} 年；逾期：下一阶段已过期限仍未上报巡查（缺报）。</p>
    <table id="stats-table"><thead><tr><th>区县</th><th>在建</th><th>逾期</th><th>本年上报</th><th>迟报</th><th>本月</th></tr></thead>
    <tbody>${s.items.map((d) => `<tr data-district="${esc(d.district)}"><td>${esc(d.district)}</td><td>${d.under_construction}</td>
      <td>${d.overdue}</td><td>${d.reports}</td><td>${d.late}</td><td>${d.months[month].reports}</td></tr>`).join("")}</tbody>
    <tfoot><tr><th>合计</th><th>${s.total.under_construction}</th><th>${s.total.overdue}</th><th>${s.total.reports}</th>
      <th>${s.total.late}</th><th></th></tr></tfoot></table>
    <h3>最近上报（共 ${recent.total} 条）</h3>
    <div id="recent">${recent.items.map((i) => `
      <a class="card house" href="#/house/${i.farmhouse_id}" data-report="${i.id}">
        <div class="row"><strong>${esc(i.code || "")} · ${esc(i.stage_name)}</strong><span class="tag ${i.result}">${i.result_name}</span></div>
        <div class="muted">${esc(i.district)} · ${i.inspected_on} · ${esc(i.inspector)}${i.late ? ' · <span class="tag late">迟报</span>' : ""}</div>
      </a>`).join("") || '<p class="hint">尚无巡查上报。</p>'}</div>`;
}

// -- routing ---------------------------------------------------------------------------------------------------------

function route() {
  if (!state.user) return loginScreen();
  const [path, query] = (location.hash.slice(1) || "/houses").split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "house" && parts[1]) return houseScreen(parts[1]);
  if (parts[0] === "inspect" && parts[1]) return inspectScreen(parts[1]);
  if (parts[0] === "queue") return queueScreen();
  if (parts[0] === "stats") return statsScreen();
  return housesScreen(params);
}

function start() {
  $("tabs").hidden = false;
  watchPosition();
  route();
  flush();
}

function network() {
  $("net").hidden = navigator.onLine;
  if (navigator.onLine) flush();
}

window.addEventListener("hashchange", route);
window.addEventListener("online", network);
window.addEventListener("offline", network);
$("back").addEventListener("click", () => history.back());

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/m/villages/mobile.sw.js", { scope: "/m/villages" }).then(() => {
    document.body.dataset.sw = "ready";
  }).catch(() => {
    // no offline start (an old browser, plain HTTP on another host): the page works online all the same
  });
}

(async () => {
  network();
  await showBadge();
  try {
    state.user = await whoAmI();
    if (state.user) localStorage.setItem("cj-vil-user", JSON.stringify(state.user));
    else localStorage.removeItem("cj-vil-user");
  } catch {
    // Offline at start: the last signed-in account, so that the queue and the houses read before still show (the
    // server checks the session when the queue goes up).
    state.user = JSON.parse(localStorage.getItem("cj-vil-user") || "null");
  }
  if (state.user) start();
  else loginScreen();
})();
