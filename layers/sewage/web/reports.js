// Custom sewage reports (/sewage/reports): pick the report's kind, facilities or a district, parameters,
// aggregations, grain and period; preview the table and a chart; export Excel; save the choice as a template (own or
// shared, generated every month or not) and download the files generated from a template.
import { api, ApiError, cookie } from "/static/console/http.js";
import { act, fmtTime, h, toast } from "/static/console/ui.js";

const API = "/api/sewage/reports";
const $ = (id) => document.getElementById(id);
let opts = null;
let chart = null;
let report = null;
let loaded = null; // the own template last loaded into the form: "保存" can update it

const num = (v) => (v === null || v === undefined ? "" : Number(v).toLocaleString("zh-CN", { maximumFractionDigits: 4 }));
const pad = (n) => String(n).padStart(2, "0");
const dayText = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

function fail(e) {
  $("error").hidden = false;
  $("error").textContent = e.message || String(e);
  if (e.field) $("error").dataset.field = e.field;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
  delete $("error").dataset.field;
}

function fillSelect(select, entries, selected = null) {
  select.replaceChildren(...entries.map(([v, label]) => h("option", { value: v, selected: v === selected }, label)));
}

function checkboxes(target, name, entries) {
  target.replaceChildren(
    ...entries.map(([v, label]) => h("label", {}, h("input", { type: "checkbox", name, value: v }), ` ${label}`)),
  );
}

function by() {
  return document.querySelector("input[name=by]:checked").value;
}

function showKind() {
  const kind = $("kind").value;
  $("codes-row").hidden = kind !== "quality";
  $("aggs-row").hidden = kind === "operation";
}

function showBy() {
  $("plants").hidden = by() !== "plants";
  $("district").hidden = by() !== "district";
}

function spec() {
  const kind = $("kind").value;
  const checked = (name) => [...document.querySelectorAll(`input[name=${name}]:checked`)].map((i) => i.value);
  return {
    kind,
    plant_ids: by() === "plants" ? [...$("plants").selectedOptions].map((o) => Number(o.value)) : [],
    district: by() === "district" ? $("district").value || null : null,
    codes: kind === "quality" ? checked("code") : [],
    aggregations: kind === "operation" ? [] : checked("agg"),
    grain: $("grain").value,
    start: $("start").value,
    end: $("end").value,
    total: $("total").checked,
  };
}

function load(s) {
  $("kind").value = s.kind;
  $("grain").value = s.grain;
  $("start").value = s.start;
  $("end").value = s.end;
  $("total").checked = Boolean(s.total);
  document.querySelector(`input[name=by][value=${s.district ? "district" : "plants"}]`).checked = true;
  for (const o of $("plants").options) o.selected = s.plant_ids.includes(Number(o.value));
  if (s.district) $("district").value = s.district;
  for (const i of document.querySelectorAll("input[name=code]")) i.checked = s.codes.includes(i.value);
  for (const i of document.querySelectorAll("input[name=agg]")) i.checked = s.aggregations.includes(i.value);
  showKind();
  showBy();
}

// -- the result --------------------------------------------------------------------------------------------------

function columnTitle(c) {
  return c.unit ? `${c.title}(${c.unit})` : c.title;
}

function drawChart() {
  const key = $("chart-column").value;
  const labels = [...new Set(report.rows.map((r) => r.label))];
  const lines = report.facilities.map((f) => [f.name, f.id]);
  if (report.rows.some((r) => r.plant_id === null)) lines.push(["合计", null]);
  const series = lines.map(([name, id]) => ({
    name,
    type: report.kind === "operation" ? "bar" : "line",
    connectNulls: false,
    data: report.rows.filter((r) => r.plant_id === id).map((r) => r.values[key]),
  }));
  chart.setOption({
    animation: false,
    tooltip: { trigger: "axis" },
    legend: { type: "scroll", top: 0 },
    grid: { left: 60, right: 20, top: 40, bottom: 40 },
    xAxis: { type: "category", data: labels },
    yAxis: { type: "value", scale: true },
    series,
  }, true);
  $("chart").dataset.column = key;
  $("chart").dataset.points = String(series.reduce((n, s) => n + s.data.filter((v) => v !== null).length, 0));
}

function show(r) {
  report = r;
  $("result").hidden = false;
  $("result-title").textContent = `${r.title}（${r.start} 至 ${r.end}，按${r.grain_title}）`;
  fillSelect($("chart-column"), r.columns.map((c) => [c.key, columnTitle(c)]));
  const head = h("tr", {}, ["设施编号", "设施名称", "所属区县", "时间", ...r.columns.map(columnTitle)].map((t) => h("th", {}, t)));
  const body = r.rows.map((row) =>
    h("tr", { "data-plant": row.plant_id, "data-bucket": row.label },
      h("td", {}, row.plant_code), h("td", {}, row.plant_name), h("td", {}, row.district), h("td", {}, row.label),
      ...r.columns.map((c) => h("td", { class: "num", "data-key": c.key }, num(row.values[c.key])))));
  $("table").replaceChildren(h("thead", {}, head), h("tbody", {}, body));
  $("notes").replaceChildren(...(r.notes || []).map((n) => h("li", {}, n)));
  if (!chart) chart = echarts.init($("chart"));
  drawChart();
}

async function preview() {
  clearError();
  try {
    show(await api(`${API}/preview`, { method: "POST", body: spec() }));
  } catch (e) {
    fail(e);
  }
}

async function exportExcel() {
  clearError();
  const res = await fetch(`${API}/export`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": cookie("cj_csrf") },
    body: JSON.stringify(spec()),
  });
  if (!res.ok) return fail(new ApiError(res.status, await res.json().catch(() => null)));
  const name = decodeURIComponent((res.headers.get("Content-Disposition") || "").split("''")[1] || "报表.xlsx");
  const a = h("a", { href: URL.createObjectURL(await res.blob()), download: name });
  document.body.append(a);
  a.click();
  a.remove();
}

// -- templates ---------------------------------------------------------------------------------------------------

async function saveTemplate(update = false) {
  clearError();
  const body = { name: $("tpl-name").value, shared: $("tpl-shared").checked, monthly: $("tpl-monthly").checked, spec: spec() };
  try {
    const t = update
      ? await api(`${API}/templates/${loaded.id}`, { method: "PUT", body: { ...body, version: loaded.version } })
      : await api(`${API}/templates`, { method: "POST", body });
    loaded = t;
    $("save-row").hidden = true;
    toast(update ? `已更新模板「${t.name}」` : `已保存模板「${t.name}」`);
    await templates();
  } catch (e) {
    fail(e);
  }
}

function openSave() {
  $("save-row").hidden = !$("save-row").hidden;
  const mine = loaded && loaded.mine !== false;
  $("tpl-update").hidden = !mine;
  if (mine) {
    $("tpl-update").textContent = `更新模板「${loaded.name}」`;
    $("tpl-name").value = loaded.name;
    $("tpl-shared").checked = loaded.shared;
    $("tpl-monthly").checked = loaded.monthly;
  }
}

function lastMonth() {
  const d = new Date();
  d.setDate(1);
  d.setMonth(d.getMonth() - 1);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}`;
}

async function files(t) {
  const r = await api(`${API}/templates/${t.id}/files`);
  $("files").hidden = false;
  $("files").dataset.template = t.id;
  $("files-title").textContent = `「${t.name}」已生成的报表`;
  const rows = r.items.map((f) => h("tr", { "data-month": f.month },
    h("td", {}, f.month), h("td", {}, h("a", { href: `${API}/files/${f.id}`, download: f.filename }, f.filename)),
    h("td", {}, String(f.rows)), h("td", {}, fmtTime(f.created_at)), h("td", {}, f.created_by)));
  $("files-table").replaceChildren(
    h("thead", {}, h("tr", {}, ["月份", "文件", "行数", "生成时间", "生成者"].map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.length ? rows : [h("tr", {}, h("td", { colspan: 5 }, "尚未生成。"))]),
  );
}

async function templates() {
  const r = await api(`${API}/templates`);
  const rows = r.items.map((t) => h("tr", { "data-id": t.id, "data-name": t.name },
    h("td", {}, t.name), h("td", {}, t.kind_title), h("td", {}, t.owner), h("td", {}, t.shared ? "共享" : "仅自己"),
    h("td", {}, t.monthly ? "每月生成" : "—"), h("td", {}, String(t.files)),
    h("td", {},
      h("button", { type: "button", class: "btn small", "data-act": "load", onclick: () => { load(t.spec); loaded = t.mine ? t : null; preview(); } }, "载入"),
      h("button", { type: "button", class: "btn small", "data-act": "files", onclick: () => act(() => files(t)) }, "已生成文件"),
      t.mine ? h("button", {
        type: "button", class: "btn small", "data-act": "generate",
        onclick: () => act(async () => {
          await api(`${API}/templates/${t.id}/files`, { method: "POST", query: { month: lastMonth() } });
          await templates();
          await files(t);
        }, "已生成上月报表"),
      }, "生成上月报表") : null,
      t.mine ? h("button", {
        type: "button", class: "btn small danger", "data-act": "delete",
        onclick: () => act(async () => {
          if (!confirm(`删除模板「${t.name}」及其已生成的报表？`)) return;
          await api(`${API}/templates/${t.id}`, { method: "DELETE", query: { version: t.version } });
          $("files").hidden = true;
          await templates();
        }),
      }, "删除") : null)));
  $("templates").replaceChildren(
    h("thead", {}, h("tr", {}, ["名称", "类型", "所有者", "共享", "定期生成", "文件数", ""].map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.length ? rows : [h("tr", {}, h("td", { colspan: 7 }, "还没有报表模板。"))]),
  );
}

// -- start -------------------------------------------------------------------------------------------------------

async function start() {
  try {
    opts = await api(`${API}/options`);
  } catch (e) {
    if (e.status === 401 || e.status === 403) {
      $("login").hidden = false;
      $("app").hidden = true;
      if (e.status === 403) {
        $("login-error").hidden = false;
        $("login-error").textContent = e.message;
      }
      return;
    }
    throw e;
  }
  $("login").hidden = true;
  $("app").hidden = false;
  const me = await api("/api/auth/me");
  if (me.authenticated) {
    $("whoami").textContent = `${me.display_name || me.user}（${me.scope}）`;
  } else {
    // A visitor who may read (make run's anonymous role): sign in to save templates.
    $("whoami").replaceChildren(h("button", {
      type: "button", class: "btn small", id: "show-login",
      onclick: () => { $("login").hidden = !$("login").hidden; },
    }, "登录以保存模板"));
  }
  fillSelect($("kind"), Object.entries(opts.kinds));
  fillSelect($("grain"), Object.entries(opts.grains), "day");
  const groups = {};
  for (const f of opts.facilities) (groups[f.district] ||= []).push(f);
  $("plants").replaceChildren(...Object.entries(groups).map(([d, list]) =>
    h("optgroup", { label: d }, list.map((f) => h("option", { value: f.id }, `${f.name}（${f.code}）`)))));
  fillSelect($("district"), opts.districts.map((d) => [d, d]));
  checkboxes($("codes"), "code", opts.codes.filter((c) => c.code !== "w00000").map((c) => [c.code, `${c.name}(${c.unit})`]));
  checkboxes($("aggs"), "agg", Object.entries(opts.aggregations));
  for (const i of document.querySelectorAll("input[name=agg]")) i.checked = i.value === "avg";
  const today = new Date();
  $("end").value = dayText(new Date(today.getTime() - 86400000));
  $("start").value = dayText(new Date(today.getTime() - 7 * 86400000));
  $("save").hidden = !opts.can_save;
  $("export").hidden = !opts.can_export;
  showKind();
  showBy();
  await templates();
  document.body.dataset.ready = "1";
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  try {
    await api("/api/auth/login", { method: "POST", body: { username: form.get("username"), password: form.get("password") } });
    $("login-error").hidden = true;
    await start();
  } catch (e) {
    $("login-error").hidden = false;
    $("login-error").textContent = e.message;
  }
});
$("kind").addEventListener("change", showKind);
for (const r of document.querySelectorAll("input[name=by]")) r.addEventListener("change", showBy);
$("choice").addEventListener("submit", (ev) => { ev.preventDefault(); preview(); });
$("export").addEventListener("click", () => exportExcel().catch(fail));
$("save").addEventListener("click", openSave);
$("tpl-save").addEventListener("click", () => saveTemplate(false));
$("tpl-update").addEventListener("click", () => saveTemplate(true));
$("chart-column").addEventListener("change", drawChart);
start().catch(fail);
