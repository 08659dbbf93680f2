"""What the map page asks besides tiles: search across layers, feature counts for the layer panel,
and the districts for its district filter.

- ``GET /api/search?q=…[&layers=a,b][&limit=n]``: features of every layer the caller may view whose
  searchable fields contain ``q``, exact code/name matches first, then prefix, then contains; each with its
  layer, label, centre and bounding box (what the map needs to fly there) and its record page (``url``);
  ``groups`` holds the same hits by layer.
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
from geo import records
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


def _rank(q: str, *values: Any) -> int:
    """0: the label or code is ``q``; 1: it starts with ``q``; 2: it contains ``q``; 3: another searchable field does
    (an owner's name, a village, an address). Case-insensitive, like the search itself."""
    wanted = q.casefold()
    texts = [str(v).casefold() for v in values if v is not None]
    if wanted in texts:
        return 0
    if any(t.startswith(wanted) for t in texts):
        return 1
    return 2 if any(wanted in t for t in texts) else 3


def _hit(layer: Layer, row: Any, q: str) -> dict:
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
        "url": records.url(layer.id, m["id"]),  # the feature's record page
        "_rank": _rank(q, m["label"], m["code"]),
    }


def search_layer(conn: Connection, layer: Layer, q: str, limit: int) -> list[dict]:
    """At most ``limit`` features of ``layer`` matching ``q``, in three steps that each use an index under row-level
    security: the label or code equal to ``q`` (btree; ``=`` is LEAKPROOF), then starting with it
    (``store.search_clause(starts=…)``), then, only while fewer than ``limit`` were found, any searchable field
    containing it (``store.search_clause``: the trigram and bigram indexes), unless ``q`` is a record's code. The steps find the
    better ranks first, so a search that the first two fill never needs the third."""
    t = layer.sa_table
    live = t.c.deleted_at.is_(None)
    keys = [t.c[name] for name in dict.fromkeys(("code", layer.label)) if name and name in layer.attr_names]
    hits: dict[int, dict] = {}

    def collect(where: sa.ColumnElement) -> None:
        for row in conn.execute(sa.select(*_columns(layer)).where(where).limit(limit)):
            hits.setdefault(row.id, _hit(layer, row, q))

    if keys:
        collect(sa.and_(live, sa.or_(*(k == q for k in keys))))
        # Through chengjian_search_ids, which states the scope as constants: a district account's prefix search reads
        # its district's rows of the code range, not every row of the range (the policy checks each one).
        collect(store.search_clause(layer, q, limit, starts=[k.name for k in keys]))
    # A code names one record: when q is one, the layer's search is done (a digit string's bigrams and trigrams are
    # in most documents: looking them up costs more than everything else together).
    code_found = "code" in layer.attr_names and any(h["code"] == q for h in hits.values())
    if len(hits) < limit and not code_found:
        collect(store.search_clause(layer, q, limit))
    return list(hits.values())


def _public(hit: dict) -> dict:
    return {k: v for k, v in hit.items() if not k.startswith("_")}


@router.get("/search")
def search(
    q: str = Query("", max_length=100),
    layers: str | None = None,
    limit: int = 20,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    """``results``: the best ``limit`` hits over all layers (exact label/code, then prefix, then contains, then a
    match in another field; then by layer order). ``groups``: the same hits by layer, the layer of the best hit
    first, each with its title and count (what the map's search box shows under each layer's title)."""
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
    best = results[:limit]
    groups: dict[str, dict] = {}
    for h in best:
        group = groups.setdefault(
            h["layer"], {"layer": h["layer"], "layer_title": h["layer_title"], "count": 0, "results": []}
        )
        group["count"] += 1
        group["results"].append(_public(h))
    out = [_public(h) for h in best]
    return {"q": q, "count": len(out), "results": out, "groups": list(groups.values())}


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
