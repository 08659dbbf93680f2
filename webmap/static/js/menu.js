// The top bar's menu of other pages: what the modules declare (GET /api/pages) and the caller may open.
import { api } from "./api.js";

export async function buildMenu(nav) {
  const { data } = await api("/api/pages");
  const links = data.pages.map((p) => {
    const a = document.createElement("a");
    a.href = p.path;
    a.textContent = p.title;
    a.title = `${p.group}：${p.title}`;
    return a;
  });
  const admin = document.createElement("a");
  admin.href = "/admin";
  admin.textContent = "后台管理";
  nav.replaceChildren(...links, admin);
}
