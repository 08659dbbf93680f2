// 阶段考评登记 on site (ST-14/ST-26), for the local authority's officers (permission site.stage): foundation, main
// structure, decoration — once per site and stage — registered where the phone is. The position goes with the
// registration and is checked against the site's fence (refused outside, with the distance, or flagged, per
// configuration); a registration retried after a lost answer carries the same Idempotency-Key and is stored once.
// Then the scans of the signed evaluation forms, taken with the camera (kind "stage" photos, fence-checked too).
import { api, ApiError } from "/static/js/api.js";
import { Capture, LocationBar } from "../capture.js";
import { locator } from "../location.js";
import { $, html, timeText, toast, today, uuid } from "../ui.js";

const STAGES = { foundation: "地基基础", main_structure: "主体结构", decoration: "装饰装修" };
const RESULTS = ["优良", "合格", "不合格"];

// #/site/{id}/stage/new/{stage}
export async function create(app, siteId, stage) {
  siteId = Number(siteId);
  app.frame(`登记${STAGES[stage]}阶段考评`, `/site/${siteId}`);
  if (!app.can("site.stage")) {
    $("view").innerHTML = String(html`<div class="card"><p class="hint">阶段考评由属地主管部门登记。</p></div>`);
    app.ready("stage-none");
    return;
  }
  const slot = `cj-mobile-create:stage:${siteId}:${stage}`;
  $("view").innerHTML = String(html`
    <form id="stage-form" class="card" novalidate>
      <h2>${STAGES[stage]}阶段考评</h2>
      <div class="locbar" id="locbar" role="status" data-state="wait">正在定位…</div>
      <p class="form-error" id="stage-error" role="alert" hidden></p>
      <div class="field">
        <label for="s-date">考评日期<span class="req">*</span></label>
        <input id="s-date" type="date" value="${today()}" max="${today()}">
      </div>
      <div class="field">
        <label for="s-result">考评结果<span class="req">*</span></label>
        <select id="s-result"><option value="">请选择</option>${RESULTS.map((r) => html`<option>${r}</option>`)}</select>
      </div>
      <div class="field">
        <label for="s-score">得分（0–100）</label>
        <input id="s-score" type="number" inputmode="decimal" min="0" max="100" step="0.5">
      </div>
      <div class="field">
        <label for="s-remarks">考评意见</label>
        <textarea id="s-remarks" rows="3" maxlength="2000"></textarea>
      </div>
      <p class="hint small">登记时记录您所在的位置，须在工地电子围栏内。登记后拍摄签字考评表。</p>
      <button type="submit" class="btn primary block" id="stage-submit">现场登记</button>
    </form>`);
  const bar = new LocationBar($("locbar"), siteId);
  bar.mount();
  const error = $("stage-error");
  const show = (message) => { error.textContent = message; error.hidden = !message; };
  $("stage-form").addEventListener("input", () => show(""));
  // A registration sent without an answer (lost on the way): its key and body, sent again exactly as they were.
  const unanswered = () => JSON.parse(sessionStorage.getItem(slot) || "null");
  const lock = (pending) => {
    for (const el of $("stage-form").querySelectorAll("input, select, textarea")) el.disabled = Boolean(pending);
    $("stage-submit").textContent = pending ? "重新发送" : "现场登记";
  };
  lock(unanswered());
  $("stage-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    let sent = unanswered();
    const button = $("stage-submit");
    button.disabled = true;
    try {
      if (!sent) {
        const body = {
          stage, evaluated_on: $("s-date").value, result: $("s-result").value,
          score: $("s-score").value === "" ? null : Number($("s-score").value), remarks: $("s-remarks").value.trim() || null,
        };
        if (!body.evaluated_on) { show("请选择考评日期。"); return; }
        if (!body.result) { show("请选择考评结果。"); return; }
        let fix;
        try {
          fix = await locator.current();
        } catch (err) {
          show(`未登记：${err.message}`);
          return;
        }
        sent = { key: uuid(), body: { ...body, lon: fix.lon, lat: fix.lat, accuracy_m: fix.accuracy_m, crs: fix.crs } };
      }
      let data;
      try {
        ({ data } = await api(`/api/st/sites/${siteId}/stages`, {
          method: "POST", body: sent.body, headers: { "Idempotency-Key": sent.key },
        }));
      } catch (err) {
        if (err instanceof ApiError && err.status === 0) {
          sessionStorage.setItem(slot, JSON.stringify(sent));
          lock(sent);
          show("网络不稳定，未收到服务器答复：请稍后点「重新发送」（同一登记，不会重复）。");
          return;
        }
        sessionStorage.removeItem(slot);
        lock(null);
        if (err.code === "duplicate_stage" && err.detail.stage_eval_id) {
          toast(err.message, "error");
          app.go(`/stage/${err.detail.stage_eval_id}`, { replace: true });
          return;
        }
        show(err.message); // outside the fence: the distance; a future date …
        return;
      }
      sessionStorage.removeItem(slot);
      toast(data.inside_fence ? "已登记。请拍摄签字考评表。" : `已登记（在围栏外 ${Math.round(data.distance_m)} 米，已标记）。`, "ok");
      app.go(`/stage/${data.id}`, { replace: true });
    } finally {
      button.disabled = false;
    }
  });
  app.ready("stage-new");
  return () => bar.unmount();
}

// #/stage/{id}: the registration and its scans.
export async function show(app, stageId) {
  const id = Number(stageId);
  let { data: s } = await api(`/api/st/stages/${id}`);
  app.frame(`${s.stage_title}阶段考评`, `/site/${s.site_id}`);
  const where = s.inside_fence ? "在工地电子围栏内" : `在工地电子围栏外 ${Math.round(s.distance_m)} 米（已标记）`;
  $("view").innerHTML = String(html`
    <section class="card" id="stage-head">
      <h2>${s.stage_title}阶段考评</h2>
      <p class="status-line">考评结果：<strong id="stage-result">${s.result}</strong>${s.score !== null ? html`，得分 ${s.score}` : ""}</p>
      <p class="meta">考评日期：${s.evaluated_on}</p>
      ${s.remarks ? html`<p class="meta">考评意见：${s.remarks}</p>` : ""}
      <p class="meta">登记：${timeText(s.created_at)}（${s.created_by}），${where}</p>
    </section>
    <section class="card">
      <h2>签字考评表（扫描件）</h2>
      <p class="hint small">用相机拍摄签字后的考评表和现场照片；照片记录拍摄位置和时间，并校验电子围栏。</p>
      <div id="stage-photos"></div>
    </section>`);
  const capture = new Capture($("stage-photos"), {
    kind: "stage", id, siteId: s.site_id,
    items: [{ code: "scan", name: "考评表及现场照片", required: false, free: true }],
    onUploaded: async () => {
      try {
        ({ data: s } = await api(`/api/st/stages/${id}`));
        capture.set(s.photos, app.can("site.stage"));
      } catch { /* offline: shown at the next visit */ }
    },
  });
  capture.mount();
  capture.set(s.photos, app.can("site.stage"));
  app.ready("stage");
  return () => capture.unmount();
}
