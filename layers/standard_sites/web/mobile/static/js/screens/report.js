// 月度申报 of one site and month (ST-03/ST-26): opened from the project (created as a draft when missing), the
// form as the server configures it, the configured photo checklist, 提交 once nothing is missing (case.js).
import { api, ApiError } from "/static/js/api.js";
import { $, html, monthTitle, uuid } from "../ui.js";
import { showCase } from "./case.js";

const REPORT = {
  name: "report",
  label: "月度申报",
  url: (id) => `/api/st/reports/${id}`,
  title: (r) => `${monthTitle(r.month)}月度申报`,
  back: (r) => `/site/${r.site_id}`,
  head: (r) => html`<p class="meta">${r.site?.code || ""} · ${monthTitle(r.month)} · 截止 ${r.due_date}</p>`,
  items: (r) => r.checklist,
  blockers: (r, capture) => {
    const missing = r.missing_photos.filter((m) => !capture.pending.some((q) => q.code === m.code));
    return missing.length ? [`还缺必拍照片：${missing.map((m) => m.name).join("、")}`] : [];
  },
  note: "请在工地现场用相机拍摄；照片自动记录拍摄位置和时间，并校验是否在工地电子围栏内。",
};

// POST with an Idempotency-Key kept until the answer arrives: a retry after a lost answer gets the same record.
export async function createOnce(slot, path, body) {
  const key = localStorage.getItem(slot) || uuid();
  localStorage.setItem(slot, key);
  try {
    const { data } = await api(path, { method: "POST", body, headers: { "Idempotency-Key": key } });
    localStorage.removeItem(slot);
    return data;
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 0)) localStorage.removeItem(slot);
    throw e;
  }
}

// #/site/{id}/month/{YYYY-MM}: that month's report, created when there is none yet.
export async function openMonth(app, siteId, month) {
  app.frame(`${monthTitle(month)}月度申报`, `/site/${siteId}`);
  const { data } = await api(`/api/st/reports?site_id=${siteId}&month=${month}`);
  if (data.reports.length) {
    app.go(`/report/${data.reports[0].id}`, { replace: true });
    return;
  }
  if (!app.can("site.report.submit")) {
    $("view").innerHTML = String(html`<div class="card"><p class="hint">${monthTitle(month)}的月度申报尚未由施工单位填报。</p></div>`);
    app.ready("report-none");
    return;
  }
  let id;
  try {
    id = (await createOnce(`cj-mobile-create:report:${siteId}:${month}`, `/api/st/sites/${siteId}/reports`,
      { month, form: {} })).id;
  } catch (e) {
    if (!(e instanceof ApiError && e.code === "duplicate_report" && e.detail.report_id)) throw e;
    id = e.detail.report_id;
  }
  app.go(`/report/${id}`, { replace: true });
}

export function show(app, id) {
  return showCase(app, REPORT, id);
}
