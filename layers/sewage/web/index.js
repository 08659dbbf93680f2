const $ = (id) => document.getElementById(id);

async function load() {
  const r = await fetch("/api/sewage/status", { credentials: "same-origin" });
  const body = await r.json();
  if (!r.ok) {
    $("error").hidden = false;
    $("error").textContent = body.message || "加载失败";
    $("counts").textContent = "";
    return;
  }
  $("counts").innerHTML = "";
  for (const s of ["正常", "超标", "故障", "离线"]) {
    const span = document.createElement("span");
    span.innerHTML = `<span class="status s${s}">${s}</span> ${body.counts[s] || 0} 座`;
    $("counts").append(span);
  }
  const tbody = $("facilities").tBodies[0];
  tbody.innerHTML = "";
  for (const f of body.items) {
    const tr = tbody.insertRow();
    const cells = [f.online_status, f.code, f.name, f.district, f.kind, f.discharge_standard || "", f.status_at ? new Date(f.status_at).toLocaleString("zh-CN") : ""];
    cells.forEach((v, i) => {
      const td = tr.insertCell();
      if (i === 0) td.innerHTML = `<span class="status s${v}"></span>`, td.firstChild.textContent = v;
      else if (i === 2) { const a = document.createElement("a"); a.href = `/sewage/${f.id}`; a.textContent = v; td.append(a); }
      else td.textContent = v;
    });
  }
}

load();
setInterval(load, 60_000);
