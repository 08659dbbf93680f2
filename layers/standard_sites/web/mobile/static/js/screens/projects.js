// 我的项目 (GET /api/st/my/projects: the unit's registered projects) and one project: its monthly reports, this
// month's and last month's first (a month is reported by the 10th of the next one).
import { api } from "/static/js/api.js";
import { $, beijingMonth, html, monthTitle, today } from "../ui.js";

let cached = null; // the last project list, for the project screen

async function loadProjects() {
  const { data } = await api("/api/st/my/projects");
  cached = data.projects;
  return cached;
}

export async function list(app) {
  app.frame("我的项目");
  const projects = await loadProjects();
  $("view").innerHTML = String(html`
    <section class="list" aria-label="我的项目">
      ${projects.length ? projects.map((p) => html`
        <a class="card link project" href="#/site/${p.site_id}" data-project="${p.code}">
          <strong>${p.name}</strong>
          <span class="meta">${p.code} · ${p.district || ""}</span>
          ${p.address ? html`<span class="meta">${p.address}</span>` : ""}
          <span class="meta">施工许可证 ${p.permit_no || "—"}</span>
        </a>`) : app.can("site.stage") ? html`<div class="card"><p class="hint">辖区内还没有已注册的项目。
          登记阶段考评请从「辖区工地」选择工地。</p><p><a class="btn block" href="#/sites" id="sites-link">辖区工地</a></p></div>`
        : html`<div class="card"><p class="hint">暂无项目：您的账号还没有绑定标化工地项目。项目注册后，施工单位和监理单位账号会自动绑定。</p>
          <p><a class="btn block" href="/st#register" id="register-link">去注册项目（施工单位，须持施工许可证）</a></p></div>`}
    </section>`);
  app.ready("projects");
}

export async function site(app, siteId) {
  siteId = Number(siteId);
  const project = (cached || await loadProjects()).find((p) => p.site_id === siteId)
    || (await loadProjects()).find((p) => p.site_id === siteId);
  // A site in scope that is no registered project of this account (an officer's 辖区工地): the pin's own data.
  const pin = project ? null : (await api(`/api/layers/sites/features/${siteId}`)).data.properties;
  app.frame(project ? project.name : pin.name || "工地", project ? "/projects" : "/sites");
  const { data } = await api(`/api/st/reports?site_id=${siteId}&limit=36`);
  const optional = async (path) => {
    try {
      return (await api(path)).data;
    } catch (e) {
      if (e.status === 0) throw e;
      return null; // not this user's business (403/404): the section is left out
    }
  };
  const [evaluations, stages] = await Promise.all([
    optional(`/api/st/evaluations?site_id=${siteId}`), optional(`/api/st/sites/${siteId}/stages`)]);
  const byMonth = new Map(data.reports.map((r) => [r.month, r]));
  const canReport = app.can("site.report.submit");
  const months = [[beijingMonth(0), "本月"], [beijingMonth(-1), "上月"]];
  $("view").innerHTML = String(html`
    ${project ? html`<section class="card">
      <h2>${project.name}</h2>
      <p class="meta">${project.code} · ${project.district || ""}</p>
      ${project.address ? html`<p class="meta">${project.address}</p>` : ""}
      <p class="meta">施工单位：${project.construction_name || "—"}</p>
      <p class="meta">监理单位：${project.supervision_name || "—"}</p>
    </section>` : html`<section class="card">
      <h2>${pin.name || "工地"}</h2>
      <p class="meta">${pin.code || ""} · ${pin.district || ""}${pin.status ? ` · ${pin.status}` : ""}</p>
      ${pin.address ? html`<p class="meta">${pin.address}</p>` : ""}
      <p class="meta">施工单位：${pin.construction_unit || "—"}</p>
      <p class="meta">尚未注册标化工地账号</p>
    </section>`}
    <section class="card">
      <h2>月度申报</h2>
      <div class="month-buttons">
        ${months.map(([month, label]) => {
          const r = byMonth.get(month);
          if (!r && !canReport) {
            const none = app.can("site.report.review") ? "尚未提交" : "暂无监理审核通过的申报";
            return html`<p class="meta">${label}（${monthTitle(month)}）：${none}</p>`;
          }
          const state = r ? r.status_title : "未申报";
          return html`<a class="btn block month ${label === "本月" ? "primary" : ""}" data-month="${month}"
            href="${r ? `#/report/${r.id}` : `#/site/${siteId}/month/${month}`}">
            ${label}申报（${monthTitle(month)}）<small>${state}</small></a>`;
        })}
      </div>
    </section>
    <section class="card">
      <h2>加分项</h2>
      <a class="btn block" href="#/site/${siteId}/bonus" id="bonus-link">加分项申报${app.can("site.report.submit") ? "（上传证书等佐证材料）" : ""}</a>
    </section>
    ${evaluations ? evaluationSection(app, siteId, project, evaluations.evaluations) : ""}
    ${stages ? stageSection(app, siteId, stages) : ""}
    <section class="card">
      <h2>申报记录</h2>
      ${data.reports.length ? html`<ul class="records">${data.reports.map((r) => html`
        <li><a href="#/report/${r.id}" data-report="${r.id}">
          <span>${monthTitle(r.month)}</span>
          <span class="status s-${r.status}">${r.status_title}</span>
          ${r.late ? html`<span class="tag warn">逾期</span>` : ""}
        </a></li>`)}</ul>` : html`<p class="hint">还没有月度申报。</p>`}
    </section>`);
  app.ready("site");
}

// 考评申报: once per site, after completion acceptance (the project's completion date).
function evaluationSection(app, siteId, project, list) {
  const e = list[0];
  let body;
  if (e) {
    body = html`<a class="btn block month" href="#/evaluation/${e.id}" data-evaluation="${e.id}">考评申报
      <small>${e.status_title}</small></a>`;
  } else if (!app.can("site.report.submit")) {
    body = html`<p class="hint">${app.can("site.report.review") ? "尚未申报考评。" : "暂无监理审核通过的考评申报。"}</p>`;
  } else if (project?.completion_date && project.completion_date <= today()) {
    body = html`<a class="btn primary block" href="#/site/${siteId}/evaluation" id="evaluation-new">申报考评
      <small>竣工验收 ${project.completion_date}</small></a>`;
  } else {
    body = html`<p class="hint">竣工验收后才能申报考评（项目信息中尚无竣工验收日期）。</p>`;
  }
  return html`<section class="card"><h2>考评申报</h2>${body}</section>`;
}

// 阶段考评: what is registered (everyone who sees the site), what is not yet (for the authority's officers).
function stageSection(app, siteId, stages) {
  const canRegister = app.can("site.stage");
  return html`<section class="card">
    <h2>阶段考评</h2>
    ${stages.stages.length ? html`<ul class="records">${stages.stages.map((x) => html`
      <li><a href="#/stage/${x.id}" data-stage="${x.stage}">
        <span>${x.stage_title}（${x.evaluated_on}）</span><span class="status">${x.result}</span>
      </a></li>`)}</ul>` : html`<p class="hint">尚未登记阶段考评。</p>`}
    ${canRegister ? stages.pending.map((x) => html`<a class="btn block" href="#/site/${siteId}/stage/new/${x.stage}"
        data-stage-new="${x.stage}">登记${x.stage_title}阶段考评</a>`) : ""}
  </section>`;
}
