// 辖区工地 (the menu's entry for the local authority's officers, permission site.stage): the construction sites in
// the account's scope (the sites layer, filtered by the database to the district), searchable by code or name; a
// site opens its screen, where the stage evaluations are registered on site (阶段考评登记).
import { api } from "/static/js/api.js";
import { $, html } from "../ui.js";

const PAGE = 50;

export async function list(app) {
  app.frame("辖区工地", "/projects");
  const q = sessionStorage.getItem("cj-mobile-sites-q") || "";
  $("view").innerHTML = String(html`
    <form class="card" id="sites-search" role="search" novalidate>
      <div class="field">
        <label for="sites-q">搜索工地（项目代码、名称、地址）</label>
        <input id="sites-q" type="search" maxlength="100" value="${q}" autocomplete="off">
      </div>
      <button type="submit" class="btn block">搜索</button>
    </form>
    <section class="list" id="sites-list" aria-label="辖区工地"></section>`);
  const render = async (text) => {
    const query = new URLSearchParams({ limit: String(PAGE), sort: "code" });
    if (text) query.set("q", text);
    const { data } = await api(`/api/layers/sites/features?${query}`);
    $("sites-list").innerHTML = String(html`
      <p class="hint small" id="sites-count">${text ? `“${text}”：` : ""}共 ${data.numberMatched} 个工地${data.numberMatched > PAGE ? `，显示前 ${PAGE} 个，请搜索` : ""}</p>
      ${data.features.map((f) => html`
        <a class="card link project" href="#/site/${f.id}" data-site="${f.properties.code || f.id}">
          <strong>${f.properties.name || "（未命名工地）"}</strong>
          <span class="meta">${f.properties.code || ""} · ${f.properties.district || ""} · ${f.properties.status || ""}</span>
          ${f.properties.address ? html`<span class="meta">${f.properties.address}</span>` : ""}
        </a>`)}`);
  };
  $("sites-search").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = $("sites-q").value.trim();
    sessionStorage.setItem("cj-mobile-sites-q", text);
    await render(text);
  });
  await render(q);
  app.ready("sites");
}
