// The big screen /screen/map: the published thematic maps in turn (?interval=seconds, default 20; ?maps=a,b picks
// and orders them), each with its legend, headline figures and ranking, the commission's title and the date.
import { createMap, draw, esc, fmt, headlineHtml, idle, legendHtml, today } from "./render.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const interval = Math.min(600, Math.max(5, Number(params.get("interval")) || 20)) * 1000;
const chosen = (params.get("maps") || "").split(",").filter(Boolean);
const scale = window.innerHeight / 1080;

function clock() {
  const d = new Date();
  $("date").textContent = today();
  $("time").textContent = d.toLocaleTimeString("zh-CN", { hour12: false });
}

async function getJson(url) {
  const res = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const body = await res.json();
  if (!res.ok) throw new Error(body.message || `请求失败（${res.status}）`);
  return body;
}

async function show(map, list, i) {
  const m = list[i];
  const data = await getJson(`/api/thematic/${encodeURIComponent(m.slug)}/data`);
  $("title").textContent = data.map.title;
  $("subtitle").textContent = `${data.source.title} · ${data.statistic_title} · ${data.grouping_title}`;
  $("headline").innerHTML = headlineHtml(data);
  $("legend").innerHTML = legendHtml(data);
  $("ranking").innerHTML = data.groups.slice(0, 13).map((g, j) => `<li><span>${j + 1}. ${esc(g.name)}</span><b>${fmt(g.value, data.statistic)}</b></li>`).join("");
  $("dots").innerHTML = list.map((_, j) => `<i class="${j === i ? "on" : ""}"></i>`).join("");
  $("hint").textContent = data.hint || `${i + 1} / ${list.length} · 每 ${interval / 1000} 秒切换`;
  draw(map, data, { dark: true, scale });
  await idle(map);
  document.body.dataset.current = m.slug;
  document.body.dataset.ready = "true";
}

async function main() {
  clock();
  setInterval(clock, 1000);
  const all = (await getJson("/api/thematic?published=true")).data;
  const list = chosen.length ? chosen.map((s) => all.find((m) => m.slug === s)).filter(Boolean) : all;
  if (!list.length) {
    $("hint").textContent = "没有可展示的已发布专题图：请先在「一张图」首页（/）右上角登录有权限的账号，再打开大屏。";
    document.body.dataset.ready = "true";
    return;
  }
  const map = createMap("map", { dark: true, controls: false, scale });
  window.thematicMap = map;
  await new Promise((r) => map.once("load", r));
  let i = 0;
  const next = async () => {
    try {
      await show(map, list, i);
    } catch (e) {
      $("hint").textContent = `专题图「${list[i].title}」加载失败：${e.message}`;
    }
    i = (i + 1) % list.length;
    setTimeout(next, interval);
  };
  next();
}

main().catch((e) => {
  $("hint").textContent = `大屏加载失败：${e.message}`;
  document.body.dataset.ready = "true";
});
