"""The record page's HTML (``/records/{kind}/{key}``), rendered on the server from what ``api.records.read_record``
returns: readable without a script, printable, and answered with the same status as the JSON. Only the small map
is drawn in the browser (webmap/static/records/record.js, with the vendored MapLibre), from the GeoJSON and the
map style embedded in the page."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from api.auth import Principal

HEAD = """<!doctype html>
<html lang="zh-CN">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} · 杭州城建一张图</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/static/console/console.css">
  <link rel="stylesheet" href="/static/vendor/maplibre-gl/maplibre-gl.css">
  <link rel="stylesheet" href="/static/records/record.css">
  <script type="importmap">{{"imports": {{"maplibre-gl": "/static/vendor/maplibre-gl/maplibre-gl.mjs"}}}}</script>
  <script type="module" src="/static/records/record.js"></script>
</head>
<body>
  <header class="topbar">
    <h1>杭州城建一张图 · 记录</h1>
    <a class="maplink" href="/">返回地图</a>
    <span class="spacer"></span>
    <span class="whoami">{whoami}</span>
  </header>
"""
TAIL = "</body>\n</html>\n"


def e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _script_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>`` can end it early)."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _whoami(who: Principal) -> str:
    return e(who.display_name or who.user) if who.authenticated else "未登录"


def error(status: int, message: str, who: Principal) -> str:
    """The page of a refused or unknown record."""
    title = {401: "请先登录", 403: "没有权限", 404: "记录不存在"}.get(status, "无法显示记录")
    hint = (
        '<p class="note">请在 <a href="/">地图页</a> 右上角登录后，再打开本页。</p>'
        if status == 401
        else '<p class="note"><a href="/">返回地图</a></p>'
    )
    body = f"""  <main class="record">
    <section class="card record-error" data-status="{status}">
      <h2>{e(title)}</h2>
      <p class="form-error" role="alert">{e(message)}</p>
      {hint}
    </section>
  </main>
"""
    return HEAD.format(title=e(title), whoami=_whoami(who)) + body + TAIL


def _link(text: str, url: str | None) -> str:
    return f'<a href="{e(url)}">{e(text)}</a>' if url else e(text)


def _attributes(rec: dict) -> str:
    rows = "".join(
        f'<tr data-name="{e(a["name"])}"><th>{e(a["label"])}</th><td>{_link(a["text"], a.get("url"))}</td></tr>'
        for a in rec["attributes"]
    )
    meta_labels = {"created_at": "创建时间", "created_by": "创建人", "updated_at": "更新时间", "updated_by": "更新人"}
    meta = "".join(
        f'<tr class="meta"><th>{label}</th><td>{e(rec["meta"][k]["text"])}</td></tr>'
        for k, label in meta_labels.items()
        if k in rec["meta"] and rec["meta"][k]["value"] is not None
    )
    return f"""    <section class="card record-attrs">
      <h3>基本信息</h3>
      <table class="kv">{rows}{meta}</table>
    </section>
"""


def _map(rec: dict, style: dict | None) -> str:
    if not rec["geometry"]:
        return """    <section class="card record-map-card">
      <h3>位置</h3>
      <p class="muted" id="no-geometry">该记录没有位置信息。</p>
    </section>
"""
    of = rec["geometry_of"]
    note = f'<p class="note">显示的是{_link(of["label"], of["url"])}的位置。</p>' if of else ""
    data = {"geometry": rec["geometry"], "color": rec["color"], "style": style}
    return f"""    <section class="card record-map-card">
      <h3>位置</h3>
      <div id="record-map" class="record-map" role="img" aria-label="{e(rec["title"])}的位置"></div>
      {note}
      <script type="application/json" id="record-geometry">{_script_json(data)}</script>
    </section>
"""


def _linked(rec: dict) -> str:
    if not rec["linked"]:
        return """    <section class="card record-linked">
      <h3>关联记录</h3>
      <p class="muted">没有关联的记录。</p>
    </section>
"""
    parts = []
    for m in rec["linked"]:
        groups = []
        for g in m["groups"]:
            head = "".join(f"<th>{e(c['title'])}</th>" for c in g["columns"])
            body = "".join(
                f'<tr data-key="{e(r["key"])}">'
                + "".join(f"<td>{_link(cell, r['url'] if i == 0 else None)}</td>" for i, cell in enumerate(r["cells"]))
                + "</tr>"
                for r in g["rows"]
            )
            more = f'<p class="note">仅显示前 {len(g["rows"])} 条。</p>' if g["total"] > len(g["rows"]) else ""
            groups.append(
                f'<div class="link-group" data-kind="{e(g["kind"])}"><h5>{e(g["title"])}'
                f'<span class="count">共 {g["total"]} 条</span></h5>'
                f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
                f"{more}</div>"
            )
        parts.append(
            f'<div class="link-module" data-module="{e(m["module"])}"><h4>{e(m["module_title"])}</h4>'
            + "".join(groups)
            + "</div>"
        )
    return f"""    <section class="card record-linked">
      <h3>关联记录</h3>
      {"".join(parts)}
    </section>
"""


def _case_history(rec: dict) -> str:
    if rec["case_history"] is None:
        return ""
    rows = "".join(
        f"<tr><td class=nowrap>{e(h['time'])}</td><td>{e(h['action_title'])}</td>"
        f"<td>{e(h['from_state'] or '—')} → {e(h['to_state'])}</td><td>{e(h['actor_name'])}</td>"
        f"<td>{e(h['reason'] or '')}</td></tr>"
        for h in rec["case_history"]
    )
    body = (
        f'<div class="table-wrap"><table><thead><tr><th>时间</th><th>办理</th><th>状态</th><th>办理人</th>'
        f"<th>理由</th></tr></thead><tbody>{rows}</tbody></table></div>"
        if rows
        else '<p class="muted">还没有办理记录。</p>'
    )
    return f"""    <section class="card record-case-history">
      <h3>办理记录</h3>
      {body}
    </section>
"""


def _history(rec: dict) -> str:
    if not rec["history_visible"]:
        return ""
    rows = []
    for h in rec["history"]:
        changes = "".join(
            f"<li><span class=field>{e(c['label'])}</span>：{e(c['before'])} → {e(c['after'])}</li>"
            for c in h["changes"]
        )
        columns = (h.get("detail") or {}).get("columns") if h["action"] == "unmask" else None
        if columns:
            changes += f"<li>查看的字段：{e('、'.join(columns))}</li>"
        rows.append(
            f'<tr data-action="{e(h["action"])}"><td class=nowrap>{e(h["time"])}</td>'
            f"<td>{e(h['action_title'])}</td><td>{e(h['actor_name'])}</td>"
            f'<td><ul class="changes">{changes}</ul></td></tr>'
        )
    body = (
        f'<div class="table-wrap"><table><thead><tr><th>时间</th><th>操作</th><th>操作人</th><th>内容</th></tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table></div>"
        if rows
        else '<p class="muted">操作日志中没有该记录的修改。</p>'
    )
    return f"""    <section class="card record-history">
      <h3>修改记录</h3>
      {body}
    </section>
"""


def _personal(rec: dict) -> str:
    if rec["unmasked"]:
        return '<p class="note personal">已显示完整的个人信息（本次查看已记入操作日志）。<a href="?">隐藏</a></p>'
    if rec["masked"] and rec["can_unmask"]:
        return (
            '<p class="note personal">个人信息已隐藏。<a id="unmask" href="?unmask=1">显示完整信息</a>'
            "（查看将记入操作日志）</p>"
        )
    return ""


def render(rec: dict, who: Principal, style: dict | None) -> str:
    status = f'<span class="tag">{e(rec["status_title"])}</span>' if rec.get("status_title") else ""  # a case's state
    head = f"""  <main class="record" data-kind="{e(rec["kind"])}" data-key="{e(rec["key"])}">
    <section class="card record-head">
      <div class="record-kind">{e(rec["module_title"])} · {e(rec["kind_title"])}</div>
      <h2>{e(rec["title"])} {status}</h2>
      {_personal(rec)}
    </section>
    <div class="record-grid">
"""
    body = (
        head
        + _attributes(rec)
        + _map(rec, style)
        + "    </div>\n"
        + _linked(rec)
        + _case_history(rec)
        + _history(rec)
        + "  </main>\n"
    )
    return HEAD.format(title=f"{e(rec['title'])} · {e(rec['kind_title'])}", whoami=_whoami(who)) + body + TAIL
