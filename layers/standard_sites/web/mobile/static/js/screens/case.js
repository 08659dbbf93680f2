// One case on the phone — a monthly report (月度申报) or an evaluation application (考评申报): its state and return
// reason, the form as the server describes it (`fields`), the site photos taken with the camera (capture.js), the
// actions the server allows (`actions`: 提交 once nothing is missing; the supervision unit's 审核通过/退回 …) and
// the case history. What differs between the kinds is in `kind` (see report.js and evaluation.js).
//
// The last opened cases are kept on the phone (by this screen, not by the service worker, a few of them) so that
// an app started without a network can still take the photos of the case being worked on; the screen then says
// that it shows the last copy, and the server has the last word when the photos go up.
import { api, ApiError } from "/static/js/api.js";
import { Capture } from "../capture.js";
import { $, ask, html, timeText, toast } from "../ui.js";

const EDITABLE = ["draft", "returned"];
const KEPT = "cj-mobile-cases";
const KEEP = 6;

function keep(name, r, user) {
  try {
    const kept = JSON.parse(localStorage.getItem(KEPT) || "[]").filter((x) => !(x.kind === name && x.id === r.id));
    const copy = { ...r, kind: name, kept_for: user, kept_at: Date.now() };
    localStorage.setItem(KEPT, JSON.stringify([copy, ...kept].slice(0, KEEP)));
  } catch { /* storage full: nothing kept */ }
}

function kept(name, id, user) {
  try {
    return JSON.parse(localStorage.getItem(KEPT) || "[]")
      .find((x) => x.kind === name && x.id === id && x.kept_for === user) || null;
  } catch {
    return null;
  }
}

async function load(kind, id, user) {
  try {
    const { data } = await api(kind.url(id));
    keep(kind.name, data, user);
    return data;
  } catch (e) {
    const copy = e instanceof ApiError && e.status === 0 ? kept(kind.name, id, user) : null;
    if (!copy) throw e;
    return { ...copy, offline_copy: true };
  }
}

function fieldInput(f, value, disabled) {
  const id = `f-${f.code}`;
  const common = html`id="${id}" name="${f.code}" ${disabled ? "disabled" : ""} ${f.required ? "required" : ""}`;
  let input;
  if (f.choices?.length) {
    input = html`<select ${common}><option value="">请选择</option>${f.choices.map((c) => html`
      <option value="${c}" ${c === value ? "selected" : ""}>${c}</option>`)}</select>`;
  } else if (f.field_type === "int") {
    input = html`<input ${common} type="number" inputmode="numeric" min="0" step="1" value="${value ?? ""}">`;
  } else {
    input = html`<textarea ${common} rows="2" maxlength="2000">${value ?? ""}</textarea>`;
  }
  return html`<div class="field" data-field="${f.code}">
    <label for="${id}">${f.name}${f.required ? html`<span class="req">*</span>` : ""}</label>
    ${input}
    <p class="field-error" hidden></p>
  </div>`;
}

const HISTORY_TITLES = {
  draft: "新建草稿", submitted: "提交", supervision_approved: "监理审核通过", returned: "退回", received: "主管部门接收",
  recommended: "推荐", not_recommended: "不予推荐", in_review: "专家评审", reviewed: "评审完成", awarded: "评定通过",
  rejected: "评定不通过",
};

// kind: {name, title(r), url(id), back(r), head(r) (extra header lines), items(r) (the photo checklist),
//        blockers(r, capture) (what the server would refuse at submit besides the form), note (photos' hint)}
export async function showCase(app, kind, caseId) {
  const id = Number(caseId);
  const user = app.user();
  let r = await load(kind, id, user);
  const canSubmit = app.can("site.report.submit");
  const canReview = app.can("site.report.review");
  const formOpen = () => canSubmit && EDITABLE.includes(r.status);
  const photosOpen = () => (canSubmit && EDITABLE.includes(r.status)) || (canReview && r.status === "submitted");
  let dirty = false;
  let busy = false;

  app.frame(kind.title(r), kind.back(r));
  $("view").innerHTML = String(html`
    ${r.offline_copy ? html`<p class="notice warn" id="offline-copy">离线：显示的是 ${timeText(new Date(r.kept_at).toISOString())} 联网时的内容。可以继续拍照，照片保存在手机上，联网后自动上传；保存和提交需要联网。</p>` : ""}
    <section class="card" id="c-head"></section>
    <section class="card">
      <h2>申报内容</h2>
      <form id="c-form" novalidate>
        ${r.fields.map((f) => fieldInput(f, (r.form || {})[f.code], !formOpen()))}
        <p class="form-error" id="c-form-error" role="alert" hidden></p>
        <button type="submit" class="btn block" id="c-save" ${formOpen() ? "" : "hidden"}>保存</button>
      </form>
    </section>
    <section class="card">
      <h2>现场照片</h2>
      <p class="hint small">${kind.note}</p>
      <div id="c-photos"></div>
    </section>
    <section class="card" id="c-actions"></section>
    <section class="card" id="c-history"></section>`);

  const form = $("c-form");
  const capture = new Capture($("c-photos"), {
    kind: kind.name, id, siteId: r.site_id, items: kind.items(r), onUploaded: () => refresh(),
    onPending: () => renderActions(),
  });
  capture.mount();
  capture.set(r.photos, photosOpen());

  function values() {
    const out = {};
    for (const f of r.fields) {
      const v = form.elements[f.code].value.trim();
      if (v !== "") out[f.code] = f.field_type === "int" ? Number(v) : v;
    }
    return out;
  }

  function showFormError(e) {
    const field = e.field?.startsWith("form.") ? e.field.slice(5) : null;
    const box = field && form.querySelector(`[data-field="${field}"]`);
    if (box) {
      box.classList.add("invalid");
      const p = box.querySelector(".field-error");
      p.textContent = e.message;
      p.hidden = false;
      box.querySelector("input, textarea, select").focus();
    } else {
      $("c-form-error").textContent = e.message;
      $("c-form-error").hidden = false;
    }
  }

  function clearFormErrors() {
    $("c-form-error").hidden = true;
    for (const box of form.querySelectorAll(".field.invalid")) {
      box.classList.remove("invalid");
      box.querySelector(".field-error").hidden = true;
    }
  }

  async function save() {
    clearFormErrors();
    try {
      const { data } = await api(kind.url(id), { method: "PUT", body: { version: r.version, form: values() } });
      r = { ...r, ...data };
      dirty = false;
      renderActions();
      return true;
    } catch (e) {
      if (e.code === "stale_version") {
        toast("申报已在别处修改，已刷新为最新内容。", "error");
        app.route();
        return false;
      }
      showFormError(e);
      return false;
    }
  }

  function renderHead() {
    $("c-head").innerHTML = String(html`
      <h2>${r.site?.name || r.site_name || ""}</h2>
      ${kind.head(r)}
      <p class="status-line">状态：<span class="status s-${r.status}" id="case-status">${r.status_title}</span>
        ${r.late ? html`<span class="tag warn">逾期提交</span>` : ""}</p>
      ${r.return_reason ? html`<p class="notice warn" id="return-reason">退回原因：${r.return_reason}</p>` : ""}
      ${r.submitted_at ? html`<p class="meta">提交：${timeText(r.submitted_at)}（${r.submitted_by}）</p>` : ""}
      ${r.reviewed_at ? html`<p class="meta">审核：${timeText(r.reviewed_at)}（${r.reviewed_by}）</p>` : ""}`);
  }

  // What still stands between the case and 「提交」 (empty: it may be submitted).
  function blockers() {
    const out = [];
    const filled = values();
    const empty = r.fields.filter((f) => f.required && (filled[f.code] === undefined || filled[f.code] === ""));
    if (empty.length) out.push(`请填写：${empty.map((f) => f.name).join("、")}`);
    out.push(...kind.blockers(r, capture));
    if (capture.pendingCount) out.push(`还有 ${capture.pendingCount} 张照片正在上传`);
    return out;
  }

  function renderActions() {
    const box = $("c-actions");
    if (!box) return; // the screen was left
    const actions = r.actions || [];
    if (!actions.length) {
      box.innerHTML = String(html`<p class="hint">${r.status === "submitted" ? "已提交，等待监理单位审核。" : "当前没有可办理的操作。"}</p>`);
      return;
    }
    const submit = actions.find((a) => a.action === "submit");
    const blocked = submit ? blockers() : [];
    box.innerHTML = String(html`
      ${submit ? html`<ul class="blockers" id="blockers">${blocked.map((b) => html`<li>${b}</li>`)}</ul>` : ""}
      <div class="actions">
        ${actions.map((a) => html`<button type="button" class="btn ${["return", "decline", "reject"].includes(a.action) ? "danger" : "primary"} block"
            data-action="${a.action}" ${a.action === "submit" && blocked.length ? "disabled" : ""}>${a.action === "submit" ? "提交" : a.title}</button>`)}
      </div>`);
    for (const button of box.querySelectorAll("button[data-action]")) {
      button.addEventListener("click", () => act(actions.find((a) => a.action === button.dataset.action)));
    }
  }

  function renderHistory() {
    const h = r.history || [];
    $("c-history").innerHTML = String(html`<h2>办理记录</h2>${h.length ? html`<ol class="history">${h.map((x) => html`
      <li><span>${timeText(x.at)}</span> <span>${x.actor}</span>
      <strong>${x.action === "create" ? "新建草稿" : (HISTORY_TITLES[x.to_state] || x.action)}</strong>
      ${x.reason ? html`<span class="meta">：${x.reason}</span>` : ""}</li>`)}</ol>` : html`<p class="hint">暂无。</p>`}`);
  }

  async function act(action) {
    if (busy) return;
    let reason = null;
    if (action.action === "submit") {
      if (dirty && !(await save())) return;
      if (blockers().length) { renderActions(); return; }
      const ok = await ask({ title: `提交${kind.label}`, text: "提交后由监理单位审核，审核完成前不能再修改。", ok: "提交" });
      if (!ok) return;
    } else if (action.reason_required) {
      reason = await ask({
        title: action.title, input: "原因（必填）", ok: action.title, danger: true,
        check: (v) => (v ? null : "请填写原因。"),
      });
      if (reason === null) return;
    } else {
      const ok = await ask({ title: action.title, text: `确定「${action.title}」此${kind.label}？`, ok: action.title });
      if (!ok) return;
    }
    busy = true;
    try {
      await api(`${kind.url(id)}/actions/${action.action}`, { method: "POST", body: reason ? { reason } : {} });
      toast(action.action === "submit" ? "已提交，待监理审核。" : `已${action.title}。`, "ok");
      await refresh(true);
    } catch (e) {
      toast(e.message, "error");
      if (e.field?.startsWith("form.")) showFormError(e);
      await refresh();
    } finally {
      busy = false;
    }
  }

  // The server's view again (after an upload or an action); the form is left alone while being edited.
  async function refresh(all = false) {
    let data;
    try {
      ({ data } = await api(kind.url(id)));
    } catch {
      return; // offline: the screen stays as it is
    }
    if (!capture.mounted) return; // the screen was left meanwhile
    r = data;
    keep(kind.name, data, user);
    $("offline-copy")?.remove();
    renderHead();
    capture.set(r.photos, photosOpen());
    if (all || !dirty) {
      for (const f of r.fields) {
        const el = form.elements[f.code];
        if (!dirty) el.value = (r.form || {})[f.code] ?? "";
        el.disabled = !formOpen();
      }
      $("c-save").hidden = !formOpen();
    }
    renderActions();
    renderHistory();
  }

  form.addEventListener("input", (e) => {
    dirty = true;
    const box = e.target.closest(".field");
    if (box?.classList.contains("invalid")) {
      box.classList.remove("invalid");
      box.querySelector(".field-error").hidden = true;
    }
    renderActions();
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    $("c-save").disabled = true;
    try {
      if (await save()) toast("已保存。", "ok");
    } finally {
      $("c-save").disabled = false;
    }
  });

  renderHead();
  renderActions();
  renderHistory();
  app.ready(kind.name);
  return () => capture.unmount();
}
