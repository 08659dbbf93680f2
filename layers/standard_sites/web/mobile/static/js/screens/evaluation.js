// 考评申报 from the phone (ST-07/ST-26): applied for once per site after completion acceptance, pre-filled by the
// server from the monthly reports; the application form, site photos from the camera (fence-checked like the
// monthly ones), 提交 (case.js). Scanned documents (PDF) are uploaded from the PC; the phone lists them.
import { api, ApiError } from "/static/js/api.js";
import { html } from "../ui.js";
import { showCase } from "./case.js";
import { createOnce } from "./report.js";

function months(list) {
  return list?.length ? list.join("、") : "无";
}

const EVALUATION = {
  name: "evaluation",
  label: "考评申报",
  url: (id) => `/api/st/evaluations/${id}`,
  title: () => "考评申报",
  back: (r) => `/site/${r.site_id}`,
  head: (r) => {
    const pre = r.prefill || {};
    return html`
      <p class="meta">${r.site?.code || r.site_code || ""} · 竣工验收 ${r.completion_date || "—"}</p>
      <ul class="prefill">
        <li>月度申报：已申报 ${pre.months_reported ?? 0} 个月，监理审核通过 ${pre.approved ?? 0} 个，主管部门已接收 ${pre.received ?? 0} 个</li>
        <li>逾期申报月份：${months(pre.late_months)}</li>
        <li>未申报月份：${months(pre.missing_months)}</li>
        <li>已确认加分项：${pre.bonus_points ?? 0} 分</li>
      </ul>
      ${r.attachments?.length ? html`<p class="meta">附件：${r.attachments.map((a) => html`<a href="${a.url}" target="_blank" rel="noopener">${a.name}</a> `)}</p>`
        : html`<p class="meta">附件（竣工验收等证明材料扫描件）请在电脑端上传。</p>`}`;
  },
  items: () => [{ code: "site", name: "竣工现场照片", part: "工程全貌、标准化亮点等", required: false, free: true }],
  blockers: (r) => ((r.photos?.length || 0) + (r.attachments?.length || 0)
    ? [] : ["请至少拍摄一张现场照片（或在电脑端上传证明材料扫描件）"]),
  note: "请在工地现场用相机拍摄；照片自动记录拍摄位置和时间，并校验是否在工地电子围栏内。",
};

// #/site/{id}/evaluation: the site's application, created (pre-filled) when there is none yet.
export async function open(app, siteId) {
  app.frame("考评申报", `/site/${siteId}`);
  const { data } = await api(`/api/st/evaluations?site_id=${siteId}`);
  if (data.evaluations.length) {
    app.go(`/evaluation/${data.evaluations[0].id}`, { replace: true });
    return;
  }
  let id;
  try {
    id = (await createOnce(`cj-mobile-create:evaluation:${siteId}`, `/api/st/sites/${siteId}/evaluation`, { form: {} })).id;
  } catch (e) {
    if (!(e instanceof ApiError && e.code === "duplicate_evaluation" && e.detail.evaluation_id)) throw e;
    id = e.detail.evaluation_id;
  }
  app.go(`/evaluation/${id}`, { replace: true });
}

export function show(app, id) {
  return showCase(app, EVALUATION, id);
}
