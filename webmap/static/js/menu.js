// The top bar's menu of other pages: what the modules declare (GET /api/pages) and the caller may open, one entry
// per group (数据中心, 施工图联审, …): a group of one page is its link, a larger group a drop-down of its pages.
import { api } from "./api.js";

function link(p) {
  const a = document.createElement("a");
  a.href = p.path;
  a.textContent = p.title;
  a.title = `${p.group}：${p.title}`;
  return a;
}

export async function buildMenu(nav) {
  const { data } = await api("/api/pages");
  const groups = new Map();
  for (const p of data.pages) {
    const key = p.group || p.title;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(p);
  }
  const entries = [...groups].map(([group, pages]) => {
    if (pages.length === 1) return link(pages[0]);
    const box = document.createElement("details");
    box.className = "apps-group";
    const summary = document.createElement("summary");
    summary.textContent = group;
    const drop = document.createElement("div");
    drop.className = "apps-drop";
    drop.append(...pages.map(link));
    box.append(summary, drop);
    box.addEventListener("toggle", () => {
      if (box.open) for (const other of nav.querySelectorAll("details[open]")) if (other !== box) other.open = false;
    });
    return box;
  });
  const admin = document.createElement("a");
  admin.href = "/admin";
  admin.textContent = "后台管理";
  nav.replaceChildren(...entries, admin);
  if (!nav.dataset.closer) {
    nav.dataset.closer = "1";
    document.addEventListener("click", (e) => {
      if (!nav.contains(e.target)) for (const d of nav.querySelectorAll("details[open]")) d.open = false;
    });
  }
}
