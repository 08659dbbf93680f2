"""Record pages (X-03): ``GET /api/records/{kind}/{key}`` (JSON) and ``GET /records/{kind}/{key}`` (the HTML page)
for every feature of every layer (kind: the layer id, key: the feature id), every case (kind: the case type, key: its
id) and every register entry (a ``geo.records.RecordKind``, key: its key column) — all from the declarations.

A record shows its attributes with their Chinese labels in declared order (coded values, dates and numbers
formatted), its geometry (or the geometry of the layer feature a ``site_id``-like column names), the records linked
to it across modules (``geo.records.linked``), the case's 办理记录 for a case, and — for holders of the operation-log
permission — its changes from the operation log. Everything is read on the principal's connection: an unknown and an
out-of-scope record get the same 404; a kind the principal may not view gets 401/403 as the features API does.
Personal data is masked unless the principal holds the kind's ``unmask`` permission and asks (``?unmask=1``); each
such reading is in the operation log (``geo.personal.reveal``).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Connection

from api import record_page
from api.admin.common import log_actions
from api.auth import Principal, principal
from api.deps import db_write
from api.errors import ApiError
from geo import audit, cases, personal, records, workflow
from geo.layer.registry import Attr, registry
from geo.records import Source
from tiles.style import build_style

router = APIRouter(tags=["记录页"])

TZ = timezone(timedelta(hours=8))  # times are shown in Beijing time
HISTORY_PERMISSION = "admin.log"  # the back office's operation log: who may see a record's changes


# -- values as a clerk reads them -------------------------------------------------------------------------------


def _typed(value: Any, type_: str | None) -> Any:
    """A value from the operation log's JSON (dates as text) back in its attribute's type."""
    if isinstance(value, str):
        try:
            if type_ == "date":
                return date.fromisoformat(value)
            if type_ == "datetime":
                return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def display(value: Any, type_: str | None = None, labels: dict[str, str] | None = None) -> str:
    """``value`` as text: coded values by their Chinese names, 是/否, dates as 2026年1月5日, times in Beijing time,
    numbers to two decimals (thousands separated from 10,000 on), lists joined by 、, nothing as —."""
    value = _typed(value, type_)
    if value is None or value == "":
        return "—"
    if isinstance(value, (list, tuple)):
        return "、".join(display(v, type_, labels) for v in value) or "—"
    if labels and str(value) in labels:
        return labels[str(value)]
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        t = value.astimezone(TZ) if value.tzinfo else value
        return f"{t.year}年{t.month}月{t.day}日 {t:%H:%M}"
    if isinstance(value, date):
        return f"{value.year}年{value.month}月{value.day}日"
    if isinstance(value, (int, float, Decimal)):  # grouped from five digits on (a year stays 1998)
        number = value if isinstance(value, int) else round(float(value), 2)
        return (f"{number:,}" if abs(number) >= 10_000 else str(number)).removesuffix(".0")
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _plain(value: Any) -> Any:
    """A JSON value of what the database returned."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


# -- the record ---------------------------------------------------------------------------------------------------


def not_found(kind: str, key: str, src: Source | None) -> ApiError:
    if src is None:
        return ApiError(404, "record_kind_not_found", f"没有「{kind}」这类记录。", "kind", {"kind": kind})
    return ApiError(
        404,
        "record_not_found",
        f"{src.title}「{key}」不存在，或不在您的数据范围内。",
        "key",
        {"kind": kind, "key": key},
    )


def _restrict(src: Source, who: Principal, conn: Connection, params: dict[str, str]) -> Any:
    """A case type's ``restrict`` rule as a condition on its table (None: no further restriction)."""
    case = cases.get(src.kind) if src.origin == "case" else None
    if case is None or case.restrict is None:
        return None
    rule = case.restrict
    return lambda table: rule(who, table, conn, params)


def _attributes(src: Source, row: dict, refs: dict[str, dict]) -> list[dict]:
    out = []
    for a in src.attrs:
        value = row.get(a.name)
        item = {"name": a.name, "label": a.label, "type": a.type, "value": _plain(value)}
        ref = refs.get(a.name)
        if ref:
            item["text"] = ref["label"]
            item["url"] = records.url(ref["kind"], ref["key"])
        else:
            item["text"] = display(value, a.type, src.value_labels.get(a.name))
        out.append(item)
    return out


def _linked(conn: Connection, src: Source, row: dict, who: Principal) -> list[dict]:
    """The linked records by module then link; groups of a kind the principal may not view are left out."""
    out = []
    for module, groups in records.linked(conn, src.kind, row, who=who).items():
        shown = []
        for title, g in groups.items():
            target = records.source(g["kind"]) if g["kind"] else None
            if target is not None and not who.can(target.view):
                continue
            attrs: dict[str, Attr] = {a.name: a for a in target.attrs} if target else {}
            labels = target.value_labels if target else {}
            rows = []
            for r in g["rows"]:
                cells = [
                    display(r.get(c["name"]), attrs[c["name"]].type if c["name"] in attrs else None,
                            labels.get(c["name"]))
                    for c in g["columns"]
                ]  # fmt: skip
                key = r.get(g["key"])
                rows.append(
                    {
                        "key": _plain(key),
                        "url": records.url(g["kind"], key) if g["kind"] and key is not None else None,
                        "values": {k: _plain(v) for k, v in r.items()},
                        "cells": cells,
                    }
                )
            shown.append(
                {"title": title, "kind": g["kind"], "total": g["total"], "columns": g["columns"], "rows": rows}
            )
        if shown:
            out.append({"module": module, "module_title": records.module_title(module), "groups": shown})
    return out


def _history(conn: Connection, src: Source, row: dict, reveal: bool) -> list[dict]:
    verbs = log_actions()
    types = {a.name: a.type for a in src.attrs}
    return [
        {
            "at": _plain(h["at"]),
            "time": display(h["at"]),
            "actor": h["actor"],
            "actor_name": audit.actor_name(h["actor"]),
            "action": h["action"],
            "action_title": verbs.get(h["action"], h["action"]),
            "detail": h["detail"],
            "changes": [
                {
                    **c,
                    "before": display(c["before"], types.get(c["name"]), src.value_labels.get(c["name"])),
                    "after": display(c["after"], types.get(c["name"]), src.value_labels.get(c["name"])),
                }
                for c in h["changes"]
            ],
        }
        for h in records.history(conn, src, row, reveal)
    ]


def _case_history(conn: Connection, src: Source, row: dict) -> list[dict] | None:
    case = cases.get(src.kind) if src.origin == "case" else None
    if case is None or not case.states:
        return None
    actions = {**log_actions(), **{a.name: a.title for a in case.actions}}  # and 新增 for ``create``
    return [
        {
            "time": display(h["at"]),
            "action": h["action"],
            "action_title": actions.get(h["action"], h["action"]),
            "from_state": case.states.get(h["from_state"], h["from_state"]) if h["from_state"] else None,
            "to_state": case.states.get(h["to_state"], h["to_state"]),
            "reason": h["reason"],
            "actor_name": h["actor_name"],
        }
        for h in workflow.history(conn, case.kind, row["id"])
    ]


def _color(src: Source, row: dict) -> str:
    """The record's colour on the small map: its layer's style colour for it (a register's: the accent)."""
    layer = registry.get(src.kind) if src.origin == "layer" else None
    if layer is None:
        return "#dc2626"
    s = layer.style
    return s.colors.get(str(row.get(s.color_by)), s.color) if s.color_by else s.color


def read_record(conn: Connection, who: Principal, kind: str, key: str, unmask: bool, params: dict[str, str]) -> dict:
    """Everything the record page shows, as ``who`` may see it (see the module's docstring)."""
    src = records.source(kind)
    if src is None:
        raise not_found(kind, key, None)
    who.require(src.view, f"查看{src.title}")
    if unmask and src.masked and (not src.unmask or not who.can(src.unmask)):
        if not who.authenticated:
            raise ApiError(401, "unauthenticated", "请先登录，再查看完整的个人信息。", "unmask")
        raise ApiError(403, "forbidden", "没有权限查看完整的个人信息。", "unmask", {"permission": src.unmask})
    found = records.fetch(conn, src, key, _restrict(src, who, conn, params))
    if found is None:
        raise not_found(kind, key, src)
    raw, geometry = found
    reveal = bool(unmask and src.masked)
    if reveal:
        columns = [c for c, _ in src.masked]
        personal.reveal(conn, who.user, src.audit_object, raw.get("id"), columns, user_id=who.user_id)
    row = records.masked(src, raw, reveal)
    refs = records.references(conn, src, raw)
    geometry_of = None
    if geometry is None:
        ref = next((r for r in refs.values() if r["geometry"]), None)
        if ref:
            geometry = ref["geometry"]
            geometry_of = {"kind": ref["kind"], "key": ref["key"], "label": ref["label"],
                           "url": records.url(ref["kind"], ref["key"])}  # fmt: skip
    may_history = who.can(HISTORY_PERMISSION)
    record_key = raw.get(src.key)
    return {
        "kind": src.kind,
        "kind_title": src.title,
        "origin": src.origin,
        "module": src.module,
        "module_title": records.module_title(src.module),
        "key": _plain(record_key),
        "id": raw.get("id"),
        "title": records.label_of(src, row),
        "url": records.url(src.kind, record_key),
        "status": row.get("status") if src.origin == "case" else None,
        "status_title": src.value_labels.get("status", {}).get(row.get("status") or "")
        if src.origin == "case"
        else None,
        "attributes": _attributes(src, row, refs),
        "meta": {
            k: {"value": _plain(row[k]), "text": display(row[k])}
            for k in ("version", "created_at", "created_by", "updated_at", "updated_by")
            if k in row
        },
        "geometry": geometry,
        "geometry_of": geometry_of,
        "color": _color(src, row),
        "linked": _linked(conn, src, raw, who),
        "masked": [c for c, _ in src.masked] if not reveal else [],
        "unmasked": reveal,
        "can_unmask": bool(src.masked and src.unmask and who.can(src.unmask)),
        "history_visible": may_history,
        "history": _history(conn, src, raw, reveal) if may_history else None,
        "case_history": _case_history(conn, src, raw),
    }


# -- routes -------------------------------------------------------------------------------------------------------


@router.get("/api/records/{kind}/{key}", summary="记录详情：属性、位置、关联记录、修改记录（按权限范围）")
def record_json(
    kind: str,
    key: str,
    request: Request,
    unmask: bool = Query(False, description="显示完整的个人信息（须有该类记录的查看个人信息权限，记入操作日志）"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    return read_record(conn, who, kind, key, unmask, dict(request.query_params))


@router.get("/records/{kind}/{key}", response_class=HTMLResponse, include_in_schema=False)
def record_html(
    kind: str,
    key: str,
    request: Request,
    unmask: bool = Query(False),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> HTMLResponse:
    """The record page (Simplified Chinese); an error is a page too, with the same status as the JSON answer."""
    try:
        rec = read_record(conn, who, kind, key, unmask, dict(request.query_params))
    except ApiError as e:
        return HTMLResponse(record_page.error(e.status, e.message, who), status_code=e.status)
    layers = [
        layer
        for layer in registry.all()
        if who.can_view(layer) and (layer.reference or layer.id in (kind, (rec["geometry_of"] or {}).get("kind")))
    ]
    style = build_style(layers, str(request.base_url)) if rec["geometry"] else None
    return HTMLResponse(record_page.render(rec, who, style), headers={"Cache-Control": "no-store"})
