// 加分项 on the phone (ST-05/ST-06): a site's bonus claims, a new claim (a configured bonus item and what it is
// for), its evidence (佐证材料: a certificate or a document, photographed or picked as an image or a PDF — documents,
// not site photos, so no position and no fence check) and the actions the server allows (提交; the supervision
// unit's 审核通过 / 退回). Evidence goes up at once (it needs the network); site photos of the monthly reports keep
// their offline queue.
import { api, ApiError, csrfToken } from "/static/js/api.js";
import { $, ask, html, timeText, toast, uuid } from "../ui.js";

const EDITABLE = ["draft", "returned"];

// #/site/{id}/bonus: the site's claims and, for the construction unit, a new one.
export async function list(app, siteId) {
  app.frame("加分项", `/site/${siteId}`);
  const canClaim = app.can("site.report.submit");
  const [{ data }, items] = await Promise.all([
    api(`/api/st/bonus?site_id=${siteId}&limit=100`),
    canClaim ? api("/api/st/config/catalog?kind=bonus").then((r) => r.data.items) : Promise.resolve([]),
  ]);
  $("view").innerHTML = String(html`
    <section class="card">
      <h2>加分项申报</h2>
      ${data.claims.length ? html`<ul class="records">${data.claims.map((c) => html`
        <li><a href="#/bonus/${c.id}" data-claim="${c.id}">
          <span>${c.item_name}（${c.item_points ?? 0} 分）</span>
          <span class="status s-${c.status}">${c.status_title}</span>
        </a></li>`)}</ul>` : html`<p class="hint">还没有加分项申报。</p>`}
    </section>
    ${canClaim ? html`<form class="card" id="bonus-new" novalidate>
      <h2>申报加分项</h2>
      <div class="field">
        <label for="bonus-item">加分项<span class="req">*</span></label>
        <select id="bonus-item"><option value="">请选择</option>${items.map((i) => html`
          <option value="${i.code}">${i.name}（${i.points ?? 0} 分）</option>`)}</select>
      </div>
      <div class="field">
        <label for="bonus-description">说明</label>
        <textarea id="bonus-description" rows="2" maxlength="2000" placeholder="如 2026 年获评省级标准化示范工地"></textarea>
      </div>
      <p class="form-error" id="bonus-error" role="alert" hidden></p>
      <button type="submit" class="btn primary block" id="bonus-create">新建申报</button>
    </form>` : ""}`);
  const form = $("bonus-new");
  if (form) {
    const key = uuid();
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const error = $("bonus-error");
      error.hidden = true;
      const code = $("bonus-item").value;
      if (!code) { error.textContent = "请选择加分项。"; error.hidden = false; return; }
      $("bonus-create").disabled = true;
      try {
        const { data: claim } = await api(`/api/st/sites/${siteId}/bonus`, {
          method: "POST", headers: { "Idempotency-Key": key },
          body: { item_code: code, description: $("bonus-description").value.trim() || null },
        });
        app.go(`/bonus/${claim.id}`);
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
      } finally {
        $("bonus-create").disabled = false;
      }
    });
  }
  app.ready("bonus-list");
}

// A file to /api/st/bonus/{id}/attachments (multipart; the phone's api() speaks JSON only).
async function upload(claimId, file, name) {
  const body = new FormData();
  body.append("file", file);
  if (name) body.append("name", name);
  let res;
  try {
    res = await fetch(`/api/st/bonus/${claimId}/attachments`, {
      method: "POST", body, credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken() || "", "Idempotency-Key": uuid() },
    });
  } catch {
    throw new ApiError(0, { code: "network", message: "无法连接服务器：佐证材料须联网上传，请联网后再试。" });
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// #/bonus/{id}: one claim.
export async function show(app, claimId) {
  const id = Number(claimId);
  let r = (await api(`/api/st/bonus/${id}`)).data;
  const canClaim = app.can("site.report.submit");
  app.frame("加分项", `/site/${r.site_id}/bonus`);
  $("view").innerHTML = String(html`
    <section class="card" id="b-head"></section>
    <section class="card">
      <h2>佐证材料</h2>
      <p class="hint small">证书、文件的照片或扫描件（图片或 PDF），可在任何地方上传，不校验拍摄位置。</p>
      <ul class="records" id="b-files"></ul>
      <form id="b-upload" novalidate hidden>
        <div class="field">
          <label for="b-name">材料名称</label>
          <input id="b-name" type="text" maxlength="200" placeholder="如 省级示范工地证书">
        </div>
        <div class="field">
          <label for="b-file">文件（拍照或选择图片、PDF）</label>
          <input id="b-file" type="file" accept="image/*,application/pdf">
        </div>
        <p class="form-error" id="b-upload-error" role="alert" hidden></p>
        <button type="submit" class="btn block" id="b-upload-submit">上传佐证材料</button>
      </form>
    </section>
    <section class="card" id="b-actions"></section>`);

  function render() {
    $("b-head").innerHTML = String(html`
      <h2>${r.item_name}（${r.item_points ?? 0} 分）</h2>
      <p class="meta">${r.site?.code || ""} ${r.site?.name || ""}</p>
      <p class="status-line">状态：<span class="status s-${r.status}" id="case-status">${r.status_title}</span></p>
      ${r.description ? html`<p>${r.description}</p>` : ""}
      ${r.return_reason ? html`<p class="notice warn" id="return-reason">退回原因：${r.return_reason}</p>` : ""}
      ${r.submitted_at ? html`<p class="meta">提交：${timeText(r.submitted_at)}</p>` : ""}
      ${r.points !== null && r.points !== undefined ? html`<p class="meta">确认加分：${r.points}</p>` : ""}`);
    const evidence = [...r.attachments.map((a) => ({ url: a.url, name: a.name })),
      ...r.photos.map((p) => ({ url: p.url, name: `现场照片 ${timeText(p.taken_at)}` }))];
    $("b-files").innerHTML = String(evidence.length ? html`${evidence.map((a) => html`
      <li><a href="${a.url}" target="_blank" rel="noopener" data-evidence>${a.name}</a></li>`)}`
      : html`<li class="hint">还没有佐证材料。</li>`);
    $("b-upload").hidden = !(canClaim && EDITABLE.includes(r.status));
    const actions = r.actions || [];
    const missing = !evidence.length;
    $("b-actions").innerHTML = String(actions.length ? html`
      ${actions.some((a) => a.action === "submit") && missing ? html`<ul class="blockers"><li>请先上传佐证材料</li></ul>` : ""}
      <div class="actions">${actions.map((a) => html`<button type="button" data-action="${a.action}"
        class="btn block ${["return", "reject"].includes(a.action) ? "danger" : "primary"}"
        ${a.action === "submit" && missing ? "disabled" : ""}>${a.action === "submit" ? "提交" : a.title}</button>`)}</div>`
      : html`<p class="hint">${r.status === "submitted" ? "已提交，等待监理单位审核。" : "当前没有可办理的操作。"}</p>`);
    for (const b of $("b-actions").querySelectorAll("button[data-action]")) {
      b.addEventListener("click", () => act(actions.find((a) => a.action === b.dataset.action)));
    }
  }

  async function refresh() {
    r = (await api(`/api/st/bonus/${id}`)).data;
    render();
  }

  async function act(action) {
    let reason = null;
    if (action.reason_required) {
      reason = await ask({ title: action.title, input: "原因（必填）", ok: action.title, danger: true,
        check: (v) => (v ? null : "请填写原因。") });
      if (reason === null) return;
    } else {
      const text = action.action === "submit" ? "提交后由监理单位审核，审核完成前不能再修改。" : `确定「${action.title}」此加分项？`;
      if (!(await ask({ title: action.action === "submit" ? "提交加分项" : action.title, text, ok: action.title }))) return;
    }
    try {
      await api(`/api/st/bonus/${id}/actions/${action.action}`, { method: "POST", body: reason ? { reason } : {} });
      toast(action.action === "submit" ? "已提交，待监理审核。" : `已${action.title}。`, "ok");
    } catch (e) {
      toast(e.message, "error");
    }
    await refresh();
  }

  $("b-upload").addEventListener("submit", async (e) => {
    e.preventDefault();
    const error = $("b-upload-error");
    error.hidden = true;
    const file = $("b-file").files[0];
    if (!file) { error.textContent = "请拍照或选择文件。"; error.hidden = false; return; }
    $("b-upload-submit").disabled = true;
    try {
      await upload(id, file, $("b-name").value.trim());
      $("b-upload").reset();
      toast("佐证材料已上传。", "ok");
      await refresh();
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    } finally {
      $("b-upload-submit").disabled = false;
    }
  });
  render();
  app.ready("bonus");
}
