// 上传队列: the photos waiting on the phone, what happens to each, 「立即重试」; and the latest refusals.
import { session } from "/static/js/api.js";
import { queue } from "../queue.js";
import { $, html, raw, timeText } from "../ui.js";

const STATE = {
  waiting: "排队等待上传", sending: "正在上传…", retry: "网络不稳定，稍后自动重试",
  offline: "当前离线，联网后自动上传", auth: "登录已失效，重新登录后继续上传",
};

const OWNERS = { report: "月度申报", evaluation: "考评申报", stage: "阶段考评" };

function ownerLink(owner) {
  const [kind, id] = owner.split(":");
  return OWNERS[kind] ? html`<a class="meta" href="#/${kind}/${id}">查看所属${OWNERS[kind]}</a>` : "";
}

export async function show(app) {
  app.frame("上传队列", "/projects");
  const render = async () => {
    const items = await queue.items();
    const refusals = queue.refusals.filter((r) => r.user === session.user?.user);
    $("view").innerHTML = String(html`
      <section class="card">
        <h2>待上传的照片（${items.length}）</h2>
        ${items.length ? html`<ul class="queue-list">${items.map((q) => html`
          <li data-key="${q.key}" data-queue-state="${q.state}">
            <img src="${queue.thumbnail(q)}" alt="">
            <div>
              <strong>${q.label}</strong>
              <span class="meta">${STATE[q.state] || q.state}${q.attempts ? `（已尝试 ${q.attempts} 次）` : ""}</span>
              ${q.next_at > Date.now() ? html`<span class="meta">下次重试：${timeText(new Date(q.next_at).toISOString())}</span>` : ""}
              <span class="meta">拍摄：${timeText(q.fields.taken_at)} · ±${Math.round(q.fields.accuracy_m)} 米</span>
              ${ownerLink(q.owner)}
            </div>
          </li>`)}</ul>
          <button type="button" class="btn primary block" id="retry-now">立即重试</button>`
        : html`<p class="hint">没有待上传的照片。</p>`}
        <p class="hint small">照片保存在本机，断网或关闭应用后也不会丢失；联网后自动上传，服务器按上传编号去重，不会重复提交。</p>
      </section>
      ${refusals.length ? html`<section class="card"><h2>被拒收的照片</h2><ul class="refusals">${refusals.map((r) => html`
        <li><strong>${r.label}</strong> <span class="meta">${timeText(new Date(r.at).toISOString())}</span>
        <p class="form-error">${r.message}</p></li>`)}</ul></section>` : raw("")}`);
    $("retry-now")?.addEventListener("click", () => queue.wake());
    app.ready("queue");
  };
  await render();
  const onChange = () => render();
  queue.addEventListener("change", onChange);
  return () => queue.removeEventListener("change", onChange);
}
