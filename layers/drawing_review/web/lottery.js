// The lottery's pages of the drawing review (施工图联审): agencies (审查机构), the lottery (摇号: ratio tables with
// their history, realized shares, the draw), the accepted projects (已受理项目列表) and the public verification of a
// draw (/review/verify/{id}, no sign-in). Everything comes from /api/review/… with the browser session.
import { ApiError, api } from "/static/console/http.js";
import { Form, ListView, act, dash, dialog, fmtTime, formDialog, h, options, table, toast } from "/static/console/ui.js";

const API = "/api/review";
const $ = (id) => document.getElementById(id);
const JURISDICTIONS = ["市本级", "建德市", "淳安县"];
const PAGES = [
  ["/review/agencies", "审查机构"],
  ["/review/lottery", "摇号"],
  ["/review/accepted", "已受理项目列表"],
];
const pctText = (v) => (v === null || v === undefined ? "—" : `${Number(v).toFixed(2).replace(/\.?0+$/, "")}%`);
const day = (iso) => (iso ? fmtTime(iso).slice(0, 10) : "—");

function show(section) {
  for (const id of ["login", "denied", "app"]) $(id).hidden = id !== section;
  $("logout").hidden = section === "login";
}

function nav(page) {
  $("nav").replaceChildren(...PAGES.map(([href, title]) => h("a", {
    class: "tab", href, role: "tab", "aria-selected": location.pathname === href ? "true" : "false",
  }, title)));
  $("nav").hidden = page === "verify";
}

function showLogin(page) {
  show("login");
  $("whoami").textContent = "";
  const form = new Form([
    { name: "username", label: "用户名", required: true, autocomplete: "username" },
    { name: "password", label: "密码", type: "password", required: true, autocomplete: "current-password" },
  ], {
    submit: "登录",
    onSubmit: async (v) => {
      await api("/api/auth/login", { method: "POST", body: v });
      await start(page);
    },
  });
  $("login-form").replaceChildren(form.el);
  form.el.querySelector("input").focus();
}

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
}

// -- agencies (审查机构) ----------------------------------------------------------------------------------------------

async function agencies() {
  const meta = await api(`${API}/agencies/meta`);
  const contentTitle = (c) => meta.contents[c] || c;
  const agencyFields = (a = {}) => [
    { name: "name", label: "机构名称", required: true, value: a.name },
    { name: "address", label: "地址", value: a.address },
    { name: "legal_rep", label: "法定代表人", value: a.legal_rep },
    { name: "business_licence_no", label: "营业执照号", value: a.business_licence_no },
  ];
  const nulls = (v) => Object.fromEntries(Object.entries(v).map(([k, x]) => [k, x === "" ? null : x]));
  const qualFields = (q = {}) => [
    { name: "certificate_no", label: "资质证书编号", required: true, value: q.certificate_no },
    { name: "categories", label: "审查类别", type: "checkboxes", choices: options(meta.categories), value: q.categories || [] },
    { name: "grades", label: "项目等级", type: "checkboxes", choices: options(meta.grades), value: q.grades || [] },
    { name: "max_floor_area_m2", label: "最大规模（总建筑面积，㎡）", type: "number", value: q.max_floor_area_m2, hint: "空为不限" },
    { name: "contents", label: "审查内容", type: "checkboxes", choices: options(meta.contents), value: q.contents || [] },
    { name: "valid_from", label: "有效期起", type: "date", required: true, value: q.valid_from },
    { name: "valid_to", label: "有效期至", type: "date", required: true, value: q.valid_to },
  ];

  async function detail(id) {
    const a = await api(`${API}/agencies/${id}`);
    const reopen = async () => { d.close(); await list.reload(); await detail(id); };
    const body = h("div", {},
      kv([["统一社会信用代码", h("span", { class: "mono" }, a.uscc)], ["法定代表人", dash(a.legal_rep)],
        ["地址", dash(a.address)], ["营业执照号", dash(a.business_licence_no)],
        ["参加摇号", a.active ? "是" : "否（已暂停）"], ["资质状态", a.qualification_status]]),
      meta.can.edit ? h("div", { class: "form-actions" },
        h("button", { type: "button", class: "btn", id: "edit-agency", onclick: () => formDialog("修改审查机构",
          [...agencyFields(a), { name: "active", label: "参加摇号", type: "checkbox", value: a.active }],
          async (v) => { await api(`${API}/agencies/${id}`, { method: "PATCH", body: { ...nulls(v), version: a.version } }); toast("已保存。"); await reopen(); }) }, "修改"),
        h("button", { type: "button", class: "btn", id: "add-qualification", onclick: () => formDialog("登记资质", qualFields(),
          async (v) => { await api(`${API}/agencies/${id}/qualifications`, { method: "POST", body: nulls(v) }); toast("已登记资质。"); await reopen(); }, { wide: true }) }, "登记资质"),
        h("button", { type: "button", class: "btn", id: "add-affiliation", onclick: () => formDialog("声明关联企业",
          [{ name: "uscc", label: "关联企业统一社会信用代码", required: true }, { name: "relation", label: "关联关系", required: true, placeholder: "如：同一控股股东" }],
          async (v) => { await api(`${API}/agencies/${id}/affiliations`, { method: "POST", body: v }); toast("已声明。"); await reopen(); }) }, "声明关联企业"))
        : null,
      h("h3", {}, "资质范围"),
      table([
        { label: "证书编号", render: (q) => q.certificate_no },
        { label: "审查类别", render: (q) => q.categories.join("、") },
        { label: "等级", render: (q) => q.grades.join("、") },
        { label: "最大规模", render: (q) => (q.max_floor_area_m2 ? `${q.max_floor_area_m2.toLocaleString()} ㎡` : "不限") },
        { label: "审查内容", render: (q) => q.contents.map(contentTitle).join("、") },
        { label: "有效期", render: (q) => h("span", {}, `${q.valid_from} 至 ${q.valid_to} `, q.expired ? h("span", { class: "tag expired" }, "已过期") : null) },
        { label: "", render: (q) => (meta.can.edit ? h("div", { class: "row-actions" },
          h("button", { type: "button", class: "btn small", onclick: () => formDialog("修改资质", qualFields(q),
            async (v) => { await api(`${API}/qualifications/${q.id}`, { method: "PUT", body: { ...nulls(v), version: q.version } }); toast("已保存。"); await reopen(); }, { wide: true }) }, "修改"),
          h("button", { type: "button", class: "btn small danger", onclick: () => act(async () => {
            if (!confirm(`删除资质「${q.certificate_no}」？`)) return;
            await api(`${API}/qualifications/${q.id}`, { method: "DELETE" }); await reopen();
          }) }, "删除")) : null) },
      ], a.qualifications, "未登记资质（不会被摇中）。"),
      h("h3", {}, "关联企业（回避）"),
      table([
        { label: "企业", render: (t) => t.name },
        { label: "信用代码", render: (t) => t.uscc, className: "mono" },
        { label: "关联关系", render: (t) => t.relation },
        { label: "", render: (t) => (meta.can.edit ? h("button", { type: "button", class: "btn small danger", onclick: () => act(async () => {
          await api(`${API}/affiliations/${t.id}`, { method: "DELETE" }); await reopen();
        }) }, "删除") : null) },
      ], a.affiliations, "未声明关联企业。"),
      h("h3", {}, "变更记录"),
      table([
        { label: "时间", render: (c) => fmtTime(c.at, true) },
        { label: "操作人", render: (c) => c.actor },
        { label: "操作", render: (c) => `${c.action}${c.object}` },
      ], a.changes, "没有变更记录。"));
    const d = dialog(a.name, body, { wide: true });
  }

  const list = new ListView({
    filters: [{ name: "q", label: "机构名称或信用代码" }],
    columns: [
      { label: "机构名称", render: (a) => a.name },
      { label: "统一社会信用代码", render: (a) => a.uscc, className: "mono" },
      { label: "法定代表人", render: (a) => dash(a.legal_rep) },
      { label: "资质", render: (a) => h("span", { class: a.qualification_status === "有效" ? "tag on" : "tag expired" }, a.qualification_status) },
      { label: "参加摇号", render: (a) => (a.active ? "是" : "否") },
    ],
    load: async (v, limit, offset) => {
      const all = await api(`${API}/agencies`, { query: { q: v.q } });
      return { items: all.items.slice(offset, offset + limit), total: all.total };
    },
    buttons: meta.can.edit ? [h("button", { type: "button", class: "btn", id: "create", onclick: () => formDialog("新增审查机构",
      [{ name: "uscc", label: "统一社会信用代码（组织机构代码）", required: true, hint: "18 位，末位为校验码" }, ...agencyFields()],
      async (v) => { const a = await api(`${API}/agencies`, { method: "POST", body: nulls(v) }); toast("已新增。"); await list.reload(); await detail(a.id); }) }, "新增审查机构")] : [],
    onRow: (a) => act(() => detail(a.id)),
    empty: "没有审查机构。",
  });
  $("app").replaceChildren(list.el);
  await list.go(0);
}

// -- the lottery (摇号) ----------------------------------------------------------------------------------------------

async function lottery() {
  const overview = await api(`${API}/ratios`);
  let current = overview.jurisdictions[0];
  const buttons = h("div", { class: "jurisdictions", role: "group", "aria-label": "管辖范围" });
  const holder = h("div");
  $("app").replaceChildren(buttons, holder);

  async function render() {
    buttons.replaceChildren(...overview.jurisdictions.map((j) => h("button", {
      type: "button", class: "btn", "aria-pressed": j === current ? "true" : "false",
      onclick: () => { current = j; act(render); },
    }, j)));
    const [tbl, hist] = await Promise.all([
      api(`${API}/ratios/${encodeURIComponent(current)}`),
      api(`${API}/ratios/${encodeURIComponent(current)}/history`),
    ]);
    const ratiosPanel = h("section", { class: "panel", id: "ratios" },
      h("h2", {}, `${current} · 审查机构摇号比例`, h("span", { class: "muted" }, tbl.version ? `第 ${tbl.version} 版，${fmtTime(tbl.updated_at)} ${tbl.updated_by} 调整` : "尚未设置"),
        overview.can.edit ? h("span", { class: "actionbar" }, h("button", { type: "button", class: "btn", id: "edit-ratios", onclick: () => act(() => editRatios(tbl)) }, "调整比例")) : null),
      table([
        { label: "审查机构", render: (r) => r.name },
        { label: "目标比例", render: (r) => pctText(r.target_pct) },
        { label: "参加摇号", render: (r) => (r.active ? "是" : "否（已暂停）") },
      ], tbl.ratios, "尚未设置摇号比例。"),
      h("p", { class: "muted" }, "下一次摇号的种子承诺值（SHA-256，摇号前公布，摇号后公布种子）：",
        h("span", { class: "mono", id: "next-commitment" }, tbl.next_commitment ? `${tbl.next_commitment.commitment}（${fmtTime(tbl.next_commitment.created_at, true)} 生成）` : "—")));
    const histPanel = h("section", { class: "panel", id: "history" }, h("h2", {}, "比例调整记录"),
      table([
        { label: "时间", render: (x) => fmtTime(x.changed_at) },
        { label: "调整人", render: (x) => x.changed_by },
        { label: "调整前", render: (x) => x.before.map((r) => `${r.name} ${pctText(r.target_pct)}`).join("；") || "—" },
        { label: "调整后", render: (x) => x.after.map((r) => `${r.name} ${pctText(r.target_pct)}`).join("；") },
        { label: "理由", render: (x) => x.reason },
      ], hist.items, "没有调整记录。"));
    holder.replaceChildren(ratiosPanel, await sharesPanel(), histPanel, overview.can.draw ? await drawPanel() : "");
  }

  async function sharesPanel() {
    const out = h("div");
    const form = new Form([
      { name: "from", label: "起始日期", type: "date" },
      { name: "to", label: "截止日期", type: "date" },
    ], { submit: "统计", className: "filters", onSubmit: async (v) => fill(v) });
    const panel = h("section", { class: "panel", id: "shares" }, h("h2", {}, "实际摇中比例与目标比例"), form.el, out);
    async function fill(v = {}) {
      const s = await api(`${API}/ratios/${encodeURIComponent(current)}/shares`, { query: v });
      const chart = h("div", { class: "chart", id: "shares-chart" });
      out.replaceChildren(
        h("p", { class: "muted" }, `期间内摇号 ${s.draws} 次；当前比例（第 ${s.version} 版）以来 ${s.version_draws} 次。`),
        table([
          { label: "审查机构", render: (r) => r.name },
          { label: "目标比例", render: (r) => pctText(r.target_pct) },
          { label: "期间摇中次数", render: (r) => r.count },
          { label: "期间实际比例", render: (r) => pctText(r.share_pct) },
          { label: "偏差（百分点）", render: (r) => (r.diff_pp === null ? "—" : h("span", { class: Math.abs(r.diff_pp) > 3 ? "diff-bad" : "" }, r.diff_pp.toFixed(2))) },
          { label: "本版以来次数", render: (r) => r.version_count },
          { label: "本版以来比例", render: (r) => pctText(r.version_share_pct) },
        ], s.rows, "没有摇号记录。"),
        chart);
      // Drawn once the panel is on the page (ECharts measures its element).
      if (window.echarts && s.rows.length) requestAnimationFrame(() => {
        const c = window.echarts.init(chart);
        c.setOption({
          tooltip: { trigger: "axis" },
          legend: { data: ["目标比例", "期间实际比例"] },
          grid: { left: 40, right: 20, bottom: 60, top: 40 },
          xAxis: { type: "category", data: s.rows.map((r) => r.name), axisLabel: { interval: 0, rotate: 20 } },
          yAxis: { type: "value", axisLabel: { formatter: "{value}%" } },
          series: [
            { name: "目标比例", type: "bar", data: s.rows.map((r) => r.target_pct) },
            { name: "期间实际比例", type: "bar", data: s.rows.map((r) => r.share_pct ?? 0) },
          ],
        });
      });
    }
    await fill();
    return panel;
  }

  async function editRatios(tbl) {
    const all = (await api(`${API}/agencies`, { query: { active: true } })).items;
    const targets = Object.fromEntries(tbl.ratios.map((r) => [r.agency_id, r.target_pct]));
    const inputs = all.map((a) => [a, h("input", { type: "number", min: 0, max: 100, step: 0.01, value: targets[a.id] ?? "", "aria-label": `${a.name} 目标比例`, "data-agency": a.id })]);
    const sum = h("span", { class: "sum" });
    const refresh = () => {
      const total = inputs.reduce((s, [, i]) => s + (Number(i.value) || 0), 0);
      sum.textContent = `合计 ${total.toFixed(2)}%`;
      sum.className = Math.abs(total - 100) < 1e-9 ? "sum" : "sum bad";
    };
    inputs.forEach(([, i]) => i.addEventListener("input", refresh));
    refresh();
    const rows = h("div", { class: "ratio-rows" }, inputs.flatMap(([a, i]) => [h("label", {}, `${a.name}（${a.qualification_status}）`), i]));
    const form = new Form([
      { name: "ratios", label: "各机构目标比例（%）", type: "custom", render: () => h("div", {}, rows, sum),
        read: () => inputs.filter(([, i]) => i.value !== "" && Number(i.value) !== 0).map(([a, i]) => ({ agency_id: a.id, target_pct: Number(i.value) })) },
      { name: "reason", label: "调整理由", type: "textarea", required: true, rows: 2 },
    ], {
      submit: "保存",
      cancel: () => d.close(),
      onSubmit: async (v) => {
        await api(`${API}/ratios/${encodeURIComponent(current)}`, { method: "PUT", body: { ...v, version: tbl.version } });
        d.close();
        toast("已保存摇号比例。");
        await render();
      },
    });
    const d = dialog(`调整摇号比例 · ${current}`, h("div", {}, h("p", { class: "note" }, "各机构比例之和须为 100%；留空或填 0 的机构不参加本管辖范围的摇号。"), form.el), { wide: true });
  }

  async function drawPanel() {
    const w = await api(`${API}/draws/awaiting`);
    return h("section", { class: "panel", id: "awaiting" }, h("h2", {}, `待摇号的申请（${w.jurisdiction}）`),
      table([
        { label: "申请编号", render: (a) => a.application_no },
        { label: "项目名称", render: (a) => a.name },
        { label: "区县", render: (a) => a.district },
        { label: "审查类别", render: (a) => a.review_category },
        { label: "等级", render: (a) => a.grade },
        { label: "总建筑面积", render: (a) => (a.floor_area_m2 ? `${a.floor_area_m2.toLocaleString()} ㎡` : "—") },
        { label: "送审时间", render: (a) => fmtTime(a.submitted_at) },
        { label: "", render: (a) => h("button", { type: "button", class: "btn small primary", "data-draw": a.id, onclick: () => act(() => draw(a)) }, "摇号") },
      ], w.items, "没有待摇号的申请。"));
  }

  async function draw(a) {
    const rec = await api(`${API}/applications/${a.id}/draw`, { method: "POST" });
    dialog("摇号结果", h("div", { id: "draw-result" },
      kv([["项目", a.name], ["摇中审查机构", h("b", {}, rec.agency_name)], ["摇号时间", fmtTime(rec.drawn_at, true)],
        ["种子承诺值", h("span", { class: "mono" }, rec.commitment)], ["公布种子", h("span", { class: "mono" }, rec.seed)]]),
      rec.exclusions.length ? table([{ label: "回避机构", render: (x) => x.name }, { label: "原因", render: (x) => x.reason }], rec.exclusions) : h("p", {}, "无回避机构。"),
      h("p", {}, h("a", { href: rec.verify_url, target: "_blank" }, "查看摇号记录并验证"))), { wide: true });
    await render();
  }

  await render();
}

// -- accepted projects (已受理项目列表) ----------------------------------------------------------------------------------

async function accepted(me) {
  const agencies = (await api(`${API}/agencies`)).items;
  const county = JURISDICTIONS.includes(me.district) && me.district !== "市本级" ? me.district : null;
  const list = new ListView({
    filters: [
      { name: "q", label: "项目名称、申请编号或项目代码" },
      { name: "agency_id", label: "审查机构", type: "select", choices: options(agencies.map((a) => [String(a.id), a.name]), "全部") },
      { name: "jurisdiction", label: "管辖范围", type: "select", choices: options(county ? [county] : JURISDICTIONS, "全部") },
      { name: "from", label: "受理日期起", type: "date" },
      { name: "to", label: "受理日期止", type: "date" },
    ],
    columns: [
      { label: "申请编号", render: (r) => r.application_no, className: "mono" },
      { label: "项目代码", render: (r) => r.project_code, className: "mono" },
      { label: "项目名称", render: (r) => r.name },
      { label: "管辖", render: (r) => r.jurisdiction },
      { label: "审查机构", render: (r) => dash(r.agency_name) },
      { label: "摇号日期", render: (r) => day(r.drawn_at) },
      { label: "受理日期", render: (r) => day(r.accepted_at) },
      { label: "状态", render: (r) => r.status_title },
      { label: "摇号记录", render: (r) => (r.draw_id ? h("a", { href: `/review/verify/${r.draw_id}`, target: "_blank" }, `#${r.draw_id}`) : "—") },
    ],
    load: (v, limit, offset) => api(`${API}/accepted`, { query: { ...v, limit, offset } }),
    empty: "没有符合条件的已受理项目。",
  });
  $("app").replaceChildren(list.el);
  await list.go(0);
}

// -- public verification (/review/verify/{id}) -------------------------------------------------------------------------

// The draw recomputed here, in the browser, from the published record only (a second implementation of
// layers/drawing_review/lottery.py and geo/lottery.py): SHA-256 of the inputs and of the seed, the avoidance rules,
// the HMAC-SHA256 stream and the deficit-weighted pick. WebCrypto needs a secure context (https or this machine).
const enc = new TextEncoder();
const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (s) => new Uint8Array(s.match(/../g).map((x) => parseInt(x, 16)));

async function stream(seed, label) {
  const key = await crypto.subtle.importKey("raw", seed, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  let counter = 0n;
  let buf = [];
  const take = async (n) => {
    while (buf.length < n) {
      const msg = new Uint8Array(label.length + 8);
      msg.set(label);
      new DataView(msg.buffer).setBigUint64(label.length, counter);
      counter += 1n;
      buf = buf.concat([...new Uint8Array(await crypto.subtle.sign("HMAC", key, msg))]);
    }
    const out = buf.slice(0, n);
    buf = buf.slice(n);
    return out;
  };
  return {
    async below(n) {
      if (n <= 1) return 0;
      const bits = (BigInt(n) - 1n).toString(2).length;
      const mask = (1n << BigInt(bits)) - 1n;
      for (;;) {
        const bytes = await take(Math.ceil(bits / 8));
        const x = bytes.reduce((acc, b) => (acc << 8n) | BigInt(b), 0n) & mask;
        if (x < BigInt(n)) return Number(x);
      }
    },
  };
}

function screenCode(app, agency, on) {
  if (!agency.active) return "inactive";
  const quals = agency.qualifications;
  if (!quals.length) return "no_qualification";
  let fits = quals.filter((q) => q.valid_from <= on && on <= q.valid_to);
  if (!fits.length) return "expired";
  fits = fits.filter((q) => q.categories.includes(app.review_category));
  if (!fits.length) return "category";
  fits = fits.filter((q) => q.grades.includes(app.grade));
  if (!fits.length) return "grade";
  if (app.floor_area_m2 !== null) {
    fits = fits.filter((q) => q.max_floor_area_m2 === null || app.floor_area_m2 <= q.max_floor_area_m2);
    if (!fits.length) return "scale";
  }
  if (!fits.some((q) => app.contents.every((c) => q.contents.includes(c)))) return "contents";
  if (agency.uscc === app.builder_uscc) return "same_builder";
  if (agency.uscc === app.designer_uscc) return "same_designer";
  const ties = new Set(agency.affiliations.map((t) => t.uscc));
  if (ties.has(app.builder_uscc)) return "affiliated_builder";
  if (ties.has(app.designer_uscc)) return "affiliated_designer";
  return null;
}

async function recomputeInBrowser(rec) {
  const checks = [];
  const digest = hex(await crypto.subtle.digest("SHA-256", enc.encode(rec.inputs)));
  checks.push(["摇号输入摘要", digest === rec.inputs_sha256]);
  const seed = unhex(rec.seed);
  checks.push(["种子与承诺值", hex(await crypto.subtle.digest("SHA-256", seed)) === rec.commitment]);
  const data = JSON.parse(rec.inputs);
  const agencies = [...data.agencies].sort((a, b) => a.id - b.id);
  const eligible = [];
  const excluded = [];
  for (const a of agencies) {
    const code = screenCode(data.application, a, data.drawn_on);
    if (code === null) eligible.push(a.id);
    else excluded.push(`${a.id}:${code}`);
  }
  checks.push(["回避名单", excluded.join(",") === rec.exclusions.map((x) => `${x.agency_id}:${x.code}`).join(",")]);
  const label = new Uint8Array([...enc.encode(data.scheme), ...unhex(digest)]);
  const s = await stream(seed, label);
  const weight = Object.fromEntries(agencies.map((a) => [a.id, a.target_bp * (data.drawn + 1) - data.total * a.count]));
  const positive = eligible.filter((i) => weight[i] > 0);
  let chosen = null;
  if (positive.length) {
    let r = await s.below(positive.reduce((t, i) => t + weight[i], 0));
    for (const i of positive) {
      r -= weight[i];
      if (r < 0) { chosen = i; break; }
    }
  } else if (eligible.length) {
    const top = Math.max(...eligible.map((i) => weight[i]));
    const tied = eligible.filter((i) => weight[i] === top);
    chosen = tied[await s.below(tied.length)];
  }
  checks.push(["摇中机构", chosen === rec.agency_id]);
  return checks;
}


async function verify() {
  const id = location.pathname.split("/").pop();
  show("app");
  $("logout").hidden = true; // public: nobody needs to sign in
  let rec;
  let check;
  try {
    [rec, check] = await Promise.all([api(`${API}/draws/${id}`), api(`${API}/draws/${id}/verify`)]);
  } catch (e) {
    $("app").replaceChildren(h("section", { class: "card" }, h("h2", {}, "摇号记录"), h("p", {}, e.message)));
    return;
  }
  const app = rec.application;
  $("app").replaceChildren(
    h("section", { class: "panel" },
      h("h2", {}, `摇号记录 #${rec.id}`, h("span", { class: `verdict ${check.verified ? "ok" : "bad"}`, id: "verdict" }, check.verified ? "一致" : "不一致")),
      kv([["项目", `${app.name}（${app.application_no}）`], ["管辖范围", rec.jurisdiction],
        ["审查类别 / 等级", `${app.review_category} / ${app.grade}`], ["总建筑面积", app.floor_area_m2 ? `${app.floor_area_m2.toLocaleString()} ㎡` : "—"],
        ["建设单位", app.builder_name], ["设计单位", dash(app.designer_name)],
        ["摇中审查机构", h("b", {}, rec.agency_name)], ["摇号时间", fmtTime(rec.drawn_at, true)],
        ["承诺值生成时间", fmtTime(rec.committed_at, true)], ["比例表版本", `第 ${rec.ratio_version} 版`]])),
    h("section", { class: "panel" }, h("h2", {}, "验证结果（服务器由公布的输入和种子重算）"),
      table([
        { label: "检查项", className: "nowrap", render: (c) => ({ inputs: "摇号输入摘要", commitment: "种子与承诺值", result: "摇中机构", exclusions: "回避名单" }[c.name] || c.name) },
        { label: "结果", className: "nowrap", render: (c) => h("span", { class: c.ok ? "check-ok" : "check-bad" }, c.ok ? "一致" : "不一致") },
        { label: "说明", render: (c) => h("span", { class: "mono" }, c.detail) },
      ], check.checks)),
    h("section", { class: "panel", id: "browser-check" }, h("h2", {}, "浏览器重算（不依赖服务器的重算结果）",
      h("span", { class: "verdict", id: "browser-verdict" }, "…"))),
    h("section", { class: "panel" }, h("h2", {}, "参加摇号的机构"),
      table([
        { label: "审查机构", render: (a) => a.name },
        { label: "目标比例", render: (a) => pctText(a.target_pct) },
        { label: "本版已摇中次数", render: (a) => a.count },
        { label: "欠额权重", render: (a) => (a.deficit === null || a.deficit === undefined ? "（回避）" : a.deficit) },
      ], rec.agencies),
      h("h3", {}, "回避机构及原因"),
      table([{ label: "审查机构", render: (x) => x.name }, { label: "原因", render: (x) => x.reason }], rec.exclusions, "无回避机构。")),
    h("section", { class: "panel" }, h("h2", {}, "公开数据（可自行重算）"),
      kv([["方法", rec.scheme], ["种子承诺值", h("span", { class: "mono" }, rec.commitment)], ["公布种子", h("span", { class: "mono" }, rec.seed)],
        ["输入 SHA-256", h("span", { class: "mono" }, rec.inputs_sha256)]]),
      h("p", { class: "muted" }, "重算方法：SHA-256(种子) 应等于承诺值；SHA-256(输入) 应等于输入摘要；随机数流为 HMAC-SHA256(种子, 方法名 ‖ 输入摘要 ‖ 计数器)，"
        + "在符合条件的机构中按欠额（目标比例 ×(n+1) − 已摇中次数）加权抽取。"),
      h("details", {}, h("summary", {}, "摇号输入（规范 JSON）"), h("pre", { class: "mono", id: "inputs" }, rec.inputs))));
  const verdict = $("browser-verdict");
  if (!window.crypto?.subtle) {
    verdict.textContent = "本浏览器环境不支持（需 https）";
    return;
  }
  const checks = await recomputeInBrowser(rec);
  const ok = checks.every(([, good]) => good);
  verdict.textContent = ok ? "一致" : "不一致";
  verdict.className = `verdict ${ok ? "ok" : "bad"}`;
  $("browser-check").append(table([
    { label: "检查项", className: "nowrap", render: ([name]) => name },
    { label: "结果", render: ([, good]) => h("span", { class: good ? "check-ok" : "check-bad" }, good ? "一致" : "不一致") },
  ], checks));
}

// -- start -------------------------------------------------------------------------------------------------------------

const RENDER = { agencies, lottery, accepted };

export async function start(page) {
  nav(page);
  $("logout").onclick = async () => {
    try {
      await api("/api/auth/logout", { method: "POST" });
    } catch (e) {
      toast(e.message, "error");
    }
    showLogin(page);
  };
  try {
    if (page === "verify") {
      $("logout").hidden = true;
      return await verify();
    }
    const me = await api("/api/auth/me");
    if (!me.authenticated) return showLogin(page);
    $("whoami").textContent = me.display_name ? `${me.display_name}（${me.user}）` : me.user;
    show("app");
    await RENDER[page](me);
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) return show("denied");
    toast(e.message || String(e), "error");
  }
}
