// 工作日历: the official working-day calendar (holidays and make-up working days, 调休) as a month grid. A click on a
// day changes it; a year not covered yet is declared from the State Council's notice (its holidays and make-up
// days; the weekends follow); a sync takes what the installed chinesecalendar package knows (administrators' days
// are kept). Every change is in the operation log.
import { api } from "/static/console/http.js";
import { Form, act, dialog, formDialog, h, options, toast } from "/static/console/ui.js";

const WEEK = ["一", "二", "三", "四", "五", "六", "日"];
const MARK = { holiday: "休", makeup: "班" };
const NAMED = ["holiday", "makeup"];

// "2027-10-01 国庆节" or "2027-10-01~2027-10-07 国庆节", one a line: [{date, name}] (a range gives every day).
export function parseLines(text) {
  const out = [];
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line) continue;
    const m = line.match(/^(\d{4}-\d{2}-\d{2})(?:\s*[~～至]\s*(\d{4}-\d{2}-\d{2}))?\s+(\S.*)$/);
    if (!m) throw Object.assign(new Error(`第 ${i + 1} 行「${line.slice(0, 30)}」应为「日期 名称」或「日期~日期 名称」。`), { line: i });
    const first = new Date(`${m[1]}T00:00:00Z`);
    const last = new Date(`${m[2] || m[1]}T00:00:00Z`);
    if (Number.isNaN(first.getTime()) || Number.isNaN(last.getTime()) || last < first || last - first > 40 * 86400000) {
      throw new Error(`第 ${i + 1} 行的日期不正确。`);
    }
    for (let d = first; d <= last; d = new Date(d.getTime() + 86400000)) {
      out.push({ date: d.toISOString().slice(0, 10), name: m[3].trim() });
    }
  }
  return out;
}

export async function mount(root) {
  const state = { years: [], kinds: {}, sources: {}, year: null, month: null, days: [] };
  const head = h("div", { class: "filters cal-bar" });
  const info = h("p", { class: "note cal-info" });
  const grid = h("div", { class: "cal-grid", role: "grid", "aria-label": "月历" });
  const legend = h("p", { class: "cal-legend note" },
    h("span", { class: "cal-key kind-workday" }, "工作日"), h("span", { class: "cal-key kind-weekend" }, "休息日"),
    h("span", { class: "cal-key kind-holiday" }, "节假日"), h("span", { class: "cal-key kind-makeup" }, "调休上班"),
    h("span", { class: "cal-key admin" }, "管理员修改"));
  root.append(head, info, grid, legend);

  async function loadYears() {
    const r = await api("/api/calendar/years");
    Object.assign(state, { years: r.items, kinds: r.kinds, sources: r.sources, library: r.library_years });
  }

  async function show(year, month) {
    if (state.year !== year) {
      state.days = (await api(`/api/calendar/years/${year}`)).days;
    }
    Object.assign(state, { year, month });
    drawBar();
    drawGrid();
  }

  function drawBar() {
    const yearSel = h("select", { name: "year", "aria-label": "年份" },
      state.years.map((y) => h("option", { value: y.year }, `${y.year} 年`)));
    yearSel.value = state.year;
    yearSel.onchange = () => act(() => show(Number(yearSel.value), state.month));
    const monthSel = h("select", { name: "month", "aria-label": "月份" },
      Array.from({ length: 12 }, (_, i) => h("option", { value: i + 1 }, `${i + 1} 月`)));
    monthSel.value = state.month;
    monthSel.onchange = () => act(() => show(state.year, Number(monthSel.value)));
    const step = (delta) => {
      let y = state.year;
      let m = state.month + delta;
      if (m < 1) { y -= 1; m = 12; }
      if (m > 12) { y += 1; m = 1; }
      if (!state.years.some((c) => c.year === y)) return toast(`${y} 年的日历尚未录入。`, "error");
      return act(() => show(y, m));
    };
    head.replaceChildren(
      h("button", { type: "button", class: "btn", "aria-label": "上个月", onclick: () => step(-1) }, "‹"),
      yearSel, monthSel,
      h("button", { type: "button", class: "btn", "aria-label": "下个月", onclick: () => step(1) }, "›"),
      h("span", { class: "spacer" }),
      h("button", { type: "button", class: "btn primary", onclick: declare }, "录入新年度"),
      h("button", { type: "button", class: "btn", onclick: sync }, "同步法定节假日"),
    );
    const y = state.years.find((c) => c.year === state.year);
    info.textContent = `${state.year} 年：${state.sources[y.source] || y.source}；节假日 ${y.holidays} 天，`
      + `调休上班 ${y.makeups} 天，全年工作日 ${y.working_days} 天`
      + (y.admin_days && y.source !== "admin" ? `，其中 ${y.admin_days} 天经管理员修改` : "")
      + `。chinesecalendar 覆盖至 ${state.library} 年。`;
  }

  function drawGrid() {
    const prefix = `${state.year}-${String(state.month).padStart(2, "0")}-`;
    const days = state.days.filter((d) => d.date.startsWith(prefix));
    const blank = (new Date(`${prefix}01T00:00:00Z`).getUTCDay() + 6) % 7;
    grid.replaceChildren(
      ...WEEK.map((w) => h("div", { class: "cal-head", role: "columnheader" }, `周${w}`)),
      ...Array.from({ length: blank }, () => h("div", { class: "cal-blank" })),
      ...days.map((d) => h("button", {
        type: "button",
        class: `cal-day kind-${d.kind}${d.source === "admin" ? " admin" : ""}`,
        "data-date": d.date,
        title: `${d.date} ${state.kinds[d.kind]}${d.name ? `（${d.name}）` : ""}`,
        onclick: () => edit(d),
      },
      h("span", { class: "cal-num" }, Number(d.date.slice(8))),
      MARK[d.kind] ? h("span", { class: "cal-mark" }, MARK[d.kind]) : null,
      h("span", { class: "cal-name" }, d.name || state.kinds[d.kind]))),
    );
  }

  function edit(day) {
    const weekday = WEEK[(new Date(`${day.date}T00:00:00Z`).getUTCDay() + 6) % 7];
    formDialog(`修改 ${day.date}（周${weekday}）`, [
      { name: "kind", label: "日期类型", type: "select", choices: options(state.kinds), value: day.kind, required: true },
      { name: "name", label: "节日名称", value: day.name || "", hint: "节假日、调休上班日填写，如 国庆节、国庆节调休" },
    ], async (v) => {
      const body = { kind: v.kind, working: v.kind === "workday" || v.kind === "makeup", name: NAMED.includes(v.kind) ? v.name : null };
      const saved = await api(`/api/calendar/days/${day.date}`, { method: "PUT", body });
      Object.assign(day, saved, { source: "admin" });
      await loadYears();
      drawBar();
      drawGrid();
      toast(`${day.date} 已改为「${state.kinds[saved.kind]}」。`);
    }, { note: "修改立即生效，所有工作日计算（审查时限、统计）随之改变；以后同步法定节假日不会覆盖此修改。" });
  }

  function declare() {
    const next = Math.max(...state.years.map((y) => y.year)) + 1;
    let d;
    const form = new Form([
      { name: "year", label: "年份", type: "number", value: next, required: true, min: 2000, max: 2100 },
      { name: "holidays", label: "放假日期", type: "textarea", rows: 8, required: true,
        placeholder: `${next}-01-01 元旦\n${next}-10-01~${next}-10-07 国庆节`,
        hint: "按国务院办公厅通知，每行「日期 节日名称」或「起~止 节日名称」（含放假期间的周末）" },
      { name: "makeups", label: "调休上班日期", type: "textarea", rows: 4,
        placeholder: `${next}-09-26 国庆节调休`, hint: "周六或周日上班的日期，每行「日期 名称」" },
    ], {
      submit: "录入",
      cancel: () => d.close(),
      onSubmit: async (v) => {
        const body = { year: v.year, holidays: [], makeups: [] };
        for (const name of ["holidays", "makeups"]) {
          try {
            body[name] = parseLines(v[name]);
          } catch (e) {
            throw Object.assign(new Error(e.message), { field: name });
          }
        }
        const y = await api("/api/calendar/years", { method: "POST", body });
        d.close();
        await loadYears();
        await show(y.year, 1);
        toast(`${y.year} 年已录入：节假日 ${y.holidays} 天，调休上班 ${y.makeups} 天。`);
      },
    });
    d = dialog("录入新年度的节假日安排", h("div", {},
      h("p", { class: "note" }, "用于 chinesecalendar 尚未覆盖的年份。未列出的周六、周日为休息日，其余为工作日。"), form.el), { wide: true });
  }

  function sync() {
    if (!confirm("按已安装的 chinesecalendar 更新其覆盖年份的节假日？管理员修改过的日期保持不变。")) return;
    act(async () => {
      const r = await api("/api/calendar/sync", { method: "POST" });
      await loadYears();
      state.year = null;
      await show(Number(head.querySelector("select[name=year]")?.value) || r.years[1], state.month);
      toast(`已同步 ${r.years[0]}–${r.years[1]} 年：更新 ${r.changed_days} 天${r.added_years.length ? `，新增 ${r.added_years.join("、")} 年` : ""}。`);
    });
  }

  await loadYears();
  const today = new Date(Date.now() + 8 * 3600 * 1000);
  const thisYear = today.getUTCFullYear();
  const covered = state.years.some((y) => y.year === thisYear);
  await show(covered ? thisYear : state.years[state.years.length - 1].year, covered ? today.getUTCMonth() + 1 : 1);
}
