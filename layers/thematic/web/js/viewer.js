// The viewer /thematic/{slug} (a shareable URL) and, with ?print=1, the export layout (export.py screenshots it).
import { createMap, draw, esc, headlineHtml, idle, legendHtml, today } from "./render.js";

const $ = (id) => document.getElementById(id);
const slug = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
const params = new URLSearchParams(location.search);
const print = params.get("print") === "1";

async function main() {
  if (print) document.body.classList.add("print");
  $("date").textContent = `制图日期：${today()}`;
  $("png").href = `/api/thematic/${encodeURIComponent(slug)}/export.png`;
  $("pdf").href = `/api/thematic/${encodeURIComponent(slug)}/export.pdf`;
  const res = await fetch(`/api/thematic/${encodeURIComponent(slug)}/data`, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const data = await res.json();
  if (!res.ok) {
    $("title").textContent = data.message || "专题图无法显示";
    document.body.dataset.error = data.message || "专题图无法显示";
    document.body.dataset.ready = "true";
    return;
  }
  document.title = `${data.map.title} - 专题图`;
  $("title").textContent = data.map.title;
  $("subtitle").textContent = `${data.source.title} · ${data.statistic_title} · ${data.grouping_title} · ${data.rendering_title}`;
  $("legend").innerHTML = legendHtml(data);
  $("headline").innerHTML = headlineHtml(data);
  if (data.hint) { $("hint").hidden = false; $("hint").textContent = data.hint; }
  const map = createMap("map", { print });
  window.thematicMap = map;
  await new Promise((r) => map.once("load", r));
  draw(map, data);
  await idle(map);
  if (print) freeze(map);
  document.body.dataset.groups = String(data.groups.length);
  document.body.dataset.ready = "true";
}

// Printing (the PDF export) does not carry a WebGL canvas over: the map is put on the page as a picture first.
function freeze(map) {
  const canvas = map.getCanvas();
  const img = document.createElement("img");
  img.id = "map-picture";
  img.alt = "专题图";
  img.src = canvas.toDataURL("image/png");
  img.style.cssText = `position:absolute;left:0;top:0;width:${canvas.clientWidth}px;height:${canvas.clientHeight}px;`;
  canvas.parentElement.appendChild(img);
}

main().catch((e) => {
  $("title").textContent = `专题图加载失败：${esc(e.message)}`;
  document.body.dataset.error = String(e.message);
  document.body.dataset.ready = "true";
});
