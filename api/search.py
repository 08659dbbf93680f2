"""What the map page asks besides tiles: search across layers, feature counts for the layer panel,
and the districts for its district filter.

- ``GET /api/search?q=…[&layers=a,b][&limit=n]``: features of every layer the caller may view whose
  searchable fields contain ``q`` (the store's trigram-indexed search), exact code/name matches first,
  each with its layer, label, centre and bounding box (what the map needs to fly there).
- ``GET /api/counts``: live features per visible layer, in total and per district.
- ``GET /api/districts``: the 13 districts with code, name, kind, centre and bounding box.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, get_layer
from api.errors import ApiError
from geo.layer import store
from geo.layer.registry import Layer, registry
from geo.scope import districts_in_scope

router = APIRouter(prefix="/api", tags=["map"])

MAX_LIMIT = 50


def _visible(who: Principal, ids: str | None) -> list[Layer]:
    layers = [layer for layer in registry.all() if who.can_view(layer)]
    if not ids:
        return layers
    wanted = [i.strip() for i in ids.split(",") if i.strip()]
    known = {layer.id for layer in registry.all()}
    for i in wanted:
        if i not in known:
            raise ApiError(404, "layer_not_found", f"图层「{i}」不存在。", "layers", {"layers": sorted(known)})
    hidden = [i for i in wanted if i not in {layer.id for layer in layers}]
    if hidden:
        who.require_view(registry.get(hidden[0]))
    return [layer for layer in layers if layer.id in wanted]


def _columns(layer: Layer) -> list[sa.ColumnElement]:
    t = layer.sa_table
    g = t.c.geom
    point = sa.func.ST_PointOnSurface(g)
    cols = [
        t.c.id,
        (t.c[layer.label] if layer.label else sa.null()).label("label"),
        (t.c.code if "code" in layer.attr_names else sa.null()).label("code"),
        (t.c.district if "district" in layer.attr_names else sa.null()).label("district"),
        sa.func.ST_X(point).label("cx"),
        sa.func.ST_Y(point).label("cy"),
        sa.func.ST_XMin(g).label("xmin"),
        sa.func.ST_YMin(g).label("ymin"),
        sa.func.ST_XMax(g).label("xmax"),
        sa.func.ST_YMax(g).label("ymax"),
    ]
    return cols


def _hit(layer: Layer, row: Any, rank: int) -> dict:
    m = row._mapping
    label = m["label"] if m["label"] is not None else f"{layer.title} {m['id']}"
    return {
        "layer": layer.id,
        "layer_title": layer.title,
        "group": layer.group,
        "id": m["id"],
        "label": str(label),
        "code": m["code"],
        "district": m["district"],
        "center": [round(m["cx"], 7), round(m["cy"], 7)],
        "bbox": [round(m[k], 7) for k in ("xmin", "ymin", "xmax", "ymax")],
        "geometry_type": layer.geometry,
        "_rank": rank,
    }


def search_layer(conn: Connection, layer: Layer, q: str, limit: int) -> list[dict]:
    """Exact matches of code or label first (by their unique/btree lookups), then the trigram search."""
    t = layer.sa_table
    hits: dict[int, dict] = {}
    exact = [t.c[name] == q for name in ("code", layer.label) if name and name in layer.attr_names]
    if exact:
        stmt = sa.select(*_columns(layer)).where(t.c.deleted_at.is_(None), sa.or_(*exact)).limit(limit)
        for row in conn.execute(stmt):
            hits[row.id] = _hit(layer, row, 0)
    stmt = sa.select(*_columns(layer)).where(store.where_clause(layer, store.Query(q=q))).limit(limit)
    for row in conn.execute(stmt):
        if row.id not in hits:
            starts = any(str(v or "").lower().startswith(q.lower()) for v in (row.label, row.code))
            hits[row.id] = _hit(layer, row, 1 if starts else 2)
    return list(hits.values())


@router.get("/search")
def search(
    q: str = Query("", max_length=100),
    layers: str | None = None,
    limit: int = 20,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    q = q.strip()
    if not q:
        raise ApiError(422, "query_required", "请输入要搜索的名称或编号。", "q")
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(422, "invalid_limit", f"limit 应在 1 到 {MAX_LIMIT} 之间。", "limit")
    results: list[dict] = []
    for order, layer in enumerate(_visible(who, layers)):
        if layer.searchable:
            results += [{**h, "_order": order} for h in search_layer(conn, layer, q, limit)]
    results.sort(key=lambda h: (h["_rank"], h["_order"], len(h["label"]), h["id"]))
    out = [{k: v for k, v in h.items() if not k.startswith("_")} for h in results[:limit]]
    return {"q": q, "count": len(out), "results": out}


@router.get("/counts")
def counts(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    """Live features of every visible layer, in total and per district (layers with a district)."""
    out = []
    for layer in _visible(who, None):
        t = layer.sa_table
        live = t.c.deleted_at.is_(None)
        entry: dict[str, Any] = {"id": layer.id, "title": layer.title}
        if "district" in layer.attr_names:
            rows = conn.execute(sa.select(t.c.district, sa.func.count()).where(live).group_by(t.c.district)).all()
            entry["by_district"] = {d or "": n for d, n in rows}
            entry["count"] = sum(n for _, n in rows)
        else:
            entry["count"] = conn.execute(sa.select(sa.func.count()).select_from(t).where(live)).scalar_one()
        out.append(entry)
    return {"layers": out}


@router.get("/districts")
def districts(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    layer = get_layer("districts", who)
    t = layer.sa_table
    rows = conn.execute(sa.select(*_columns(layer), t.c.kind).where(t.c.deleted_at.is_(None)).order_by(t.c.code))
    mine = districts_in_scope(conn, who.scope)  # the picker offers these; the map's extent keeps them all
    return {
        "districts": [
            {
                "code": r.code,
                "name": r.label,
                "kind": r.kind,
                "in_scope": mine is None or r.label in mine,
                "center": [round(r.cx, 6), round(r.cy, 6)],
                "bbox": [round(v, 6) for v in (r.xmin, r.ymin, r.xmax, r.ymax)],
            }
            for r in rows
        ]
    }
