// 我的任务 in the layer panel (signed-in users): start a layer export as a background task (the district chosen
// above narrows it), and follow one's own long jobs — exports, imports — with a progress bar, polling
// GET /api/tasks while any is queued or running; a finished export offers its file.
import { api, escapeHtml, session } from "./api.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 2000;

export class Tasks {
  constructor(state) {
    this.state = state;
    this.root = $("tasks");
    this.form = $("export-form");
    this.list = $("task-list");
    this.timer = null;
    this.form.addEventListener("submit", (e) => { e.preventDefault(); this.startExport(); });
  }

  // After every sign-in or sign-out (the layers and the user change).
  build() {
    clearTimeout(this.timer);
    this.root.hidden = !session.user;
    if (!session.user) { this.list.replaceChildren(); return; }
    const layers = this.state.layers.filter((l) => l.exportable);
    this.form.hidden = layers.length === 0;
    $("export-layer").innerHTML = layers.map((l) => `<option value="${escapeHtml(l.id)}">${escapeHtml(l.title)}</option>`).join("");
    this.refresh();
  }

  async startExport() {
    const cfg = this.state.byId[$("export-layer").value];
    if (!cfg) return;
    const query = new URLSearchParams({ format: $("export-format").value });
    if (this.state.district && cfg.has_district) query.set("district", this.state.district);
    const button = $("export-submit");
    button.disabled = true;
    try {
      await api(`/api/layers/${encodeURIComponent(cfg.id)}/export-jobs?${query}`, { method: "POST" });
      this.state.toast(`已开始导出「${cfg.title}」，完成后可在「我的任务」中下载。`, "ok");
    } catch (e) {
      this.state.toast(e.message, "error");
    } finally {
      button.disabled = false;
    }
    this.refresh();
  }

  async refresh() {
    clearTimeout(this.timer);
    if (!session.user) return;
    let runs;
    try {
      runs = (await api("/api/tasks?limit=10")).data.tasks;
    } catch (e) {
      return; // signed out meanwhile, or the server is away: the next build() tries again
    }
    this.list.innerHTML = runs.length ? runs.map((t) => this.itemHtml(t)).join("") : `<li class="panel-note">暂无任务。</li>`;
    if (runs.some((t) => t.status === "queued" || t.status === "running")) {
      this.timer = setTimeout(() => this.refresh(), POLL_MS);
    }
  }

  itemHtml(t) {
    const p = t.progress;
    const count = p.total ? `${p.done.toLocaleString("zh-CN")} / ${p.total.toLocaleString("zh-CN")}` : "";
    const bar = t.status === "running" || t.status === "queued"
      ? `<progress max="100" value="${p.percent}" aria-label="进度">${p.percent}%</progress>` : "";
    const notes = (t.result && t.result.notes) || [];
    const tail = t.status === "done" && t.download
      ? `<a href="${escapeHtml(t.download)}" download>下载${t.file_name ? `「${escapeHtml(t.file_name)}」` : ""}</a>`
        + (notes.length ? `<div class="task-note">${escapeHtml(notes.join("；"))}</div>` : "")
      : t.status === "failed" ? `<div class="task-error">${escapeHtml(t.error || "失败")}</div>` : "";
    return `<li class="task" data-task="${t.id}" data-status="${escapeHtml(t.status)}">
      <div class="task-head"><span class="task-title">${escapeHtml(t.title)}</span>
        <span class="task-status">${escapeHtml(t.status_text)}${count ? ` ${count}` : ""}</span></div>
      ${bar}${tail}</li>`;
  }
}
