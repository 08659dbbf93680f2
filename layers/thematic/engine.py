"""The statistic of a thematic map: SQL generated from the declaration, classification, legend and headline figures.

Statements are built with SQLAlchemy Core on the source's table object; the only names they use are declared ones
(checked by ``declaration.check``), and values travel as bound parameters.

- **district**: ``GROUP BY district``; the group geometries are the polygons of the ``districts`` layer.
- **township**: a spatial join of the source's positions to the ``townships`` layer (``ST_Intersects``). That layer
  is empty until the surveying department's boundaries are imported: the answer then has no groups and a ``hint``
  saying so (never an error).
- **grid**: square cells are indexed arithmetically (``floor(x / size)``, ``floor(y / size)`` in Web Mercator) and
  drawn with ``ST_Square`` — exactly the cells of ``ST_SquareGrid`` with the same size — so a million points are
  one aggregate, no join; hexagons join the points to ``ST_HexagonGrid`` over the districts' extent. A line or
  polygon counts once, in the group holding its ``ST_PointOnSurface``.

**Row-level security.** Everything is read on the caller's connection, which states the principal's scope: a district
account's statistic holds only its district's rows (its answer has one district group, and its totals are its
district's), an account with granted records counts those, and the city sees everything.

**Speed (precomputed counts).** A count of a layer by district without a filter (「农房数」) is read from
``thematic_district_counts`` (migration thm_0002): live rows per layer table and district, kept exact by the writes'
own statement-level triggers, so it costs a few milliseconds however large the layer and right after any write
(``precomputed`` in the answer says so). The city reads every district's row; a district account reads its own
districts' rows (thm_0003) when the table's read policy is the district check alone — a table with per-record grants
(sites) or a public read would show it other rows too. Every other statistic — sums, averages, ratios, filters,
categories, townships, grids, a granted account's, a table without the triggers — is computed from the rows.

**Speed (cached, invalidated on write).** A statistic over 1,000,000 farmhouses by district is one aggregate that
takes far longer than the 300 ms target when it must be computed. Answers are kept in a per-process LRU cache (``geo.generations.Kept``) keyed
on the declaration, the principal's scope (``geo.scope.current_key``) and the *generation* of every layer read — the
``layer_changes`` row (counter and time of the last change) that a statement trigger bumps in every transaction
that writes the layer (migration 0004, the same token the tile cache keys on). Reading the generations is one
primary-key lookup, so a repeated request costs a millisecond or two, and the first request after any write to the
source (API, import, COPY, hand-written SQL, another process) recomputes. The generations are read *before* the
statistic, so a cached answer is never older than its key. Register tables (record kinds) have no change trigger:
their statistics are computed on every request (tens of thousands of rows: a few tens of ms) and never cached.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from geo import scope as scopes
from geo.generations import MISSING, Kept, as_token, database_of, token_of
from geo.generations import tokens as layer_tokens
from geo.layer.registry import registry
from layers.thematic import classify
from layers.thematic.declaration import (
    GROUPINGS,
    RENDERINGS,
    STATISTICS,
    Source,
    category_colors,
    filter_value,
)

SIMPLIFY_DEG = 0.0005  # district/township outlines for the map: about 50 m, plenty at city scale
NO_DISTRICT = "（未填写区县）"
TOWNSHIPS_EMPTY = (
    "乡镇街道边界尚未导入，暂不能按乡镇街道统计：请管理员导入乡镇街道边界（chengjian import 文件 --layer townships）"
    "后再查看，或改为按区县、按网格分组。"
)

_counts = sa.table("thematic_district_counts", sa.column("layer_table"), sa.column("district"), sa.column("n"))
_answers = Kept(maxsize=256)
_outlines_kept = Kept(maxsize=4)  # the districts' outlines, by the districts layer's token
_shapes = Kept(maxsize=8)  # a division layer's shapes, by its token
# Tables known to have the district-count triggers (thm_0002) -> whether their read policy is the plain district check.
_counted: dict[str, bool] = {}
DISTRICT_POLICY = "chengjian_scope_ok(district,NULL::text,NULL::bigint)"
_lock = threading.Lock()


def _precounted(conn: Connection, source: Source, decl: dict, extra: list[Any]) -> bool:
    """Whether ``thematic_district_counts`` answers this statistic: a count of a layer table with the triggers, by
    district, without a filter or categories — for the city, or for a limited scope when the table's read policy is
    the plain district check (an account then sees every row of its own districts and no other: migration
    thm_0003; a table with per-record grants or a public read is counted from its rows)."""
    if extra or decl["statistic"] != "count" or decl["filter"] or decl["grouping"] != "district":
        return False
    if source.kind != "layer" or "deleted_at" not in source.table.c:
        return False
    name = source.table.name
    if name not in _counted:
        row = conn.execute(
            sa.text(
                "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(:t) AND tgname = :g), "
                "(SELECT qual FROM pg_policies WHERE schemaname = current_schema() AND tablename = :t "
                "AND policyname = 'scope_read')"
            ),
            {"t": name, "g": f"{name}_counts_insert"},
        ).one()
        if not row[0]:
            return False
        with _lock:
            _counted[name] = (row[1] or "").replace(" ", "") == DISTRICT_POLICY
    if conn.execute(sa.text("SELECT current_setting('chengjian.scope', true)")).scalar() == "all":
        return True
    return _counted[name]


def _point(source: Source) -> Any:
    """The source's position in Web Mercator (a line or polygon: a point on its surface)."""
    t = source.table
    geom = t.c.geom_3857 if "geom_3857" in t.c else sa.func.ST_Transform(t.c[source.geometry], 3857)
    return geom if source.geometry_type == "Point" else sa.func.ST_PointOnSurface(geom)


def _condition(source: Source, flt: dict | None) -> Any:
    attr = source.attr(flt["attribute"]) if flt else None
    if attr is None:
        return None
    return source.table.c[attr.name] == filter_value(attr, flt["value"], "filter.value")


def _measures(source: Source, decl: dict) -> list[Any]:
    """n (rows counted), and the statistic's parts: sum and non-null count, or the filtered count."""
    t = source.table
    cols = [sa.func.count().label("n")]
    if decl["statistic"] in ("sum", "avg"):
        col = t.c[decl["attribute"]]
        cols += [sa.func.sum(col).label("s"), sa.func.count(col).label("nn")]
    if decl["statistic"] == "ratio":
        cols.append(sa.func.count().filter(_condition(source, decl["filter"])).label("hits"))
    return cols


def _where(source: Source, decl: dict) -> list[Any]:
    out = [source.live()]
    if decl["statistic"] != "ratio" and decl["filter"]:
        out.append(_condition(source, decl["filter"]))
    return out


def _value(decl: dict, row: dict) -> float | None:
    stat = decl["statistic"]
    if stat == "count":
        return float(row["n"])
    if stat == "sum":
        return float(row["s"]) if row["s"] is not None else 0.0
    if stat == "avg":
        return float(row["s"]) / row["nn"] if row["nn"] else None
    return row["hits"] / row["n"] if row["n"] else None


def _grouped(conn: Connection, source: Source, decl: dict, extra: list[Any] | None = None) -> tuple[list[dict], Any]:
    """Rows ``{key, name, n, …}`` per group (with ``extra`` columns in the GROUP BY), and the geometry lookup."""
    t, extra = source.table, extra or []
    grouping = decl["grouping"]
    if _precounted(conn, source, decl, extra):
        c = _counts.c
        # Row-level security leaves a limited scope its own districts' rows (thm_0003).
        q = sa.select(c.district, c.n).where(c.layer_table == t.name, c.n > 0)
        rows = [{"key": d or None, "name": d or None, "n": n} for d, n in conn.execute(q).all()]
        return rows, _division_shapes("districts", "name")
    if grouping == "district":
        key = t.c.district
        q = sa.select(key.label("key"), key.label("name"), *extra, *_measures(source, decl)).where(
            *_where(source, decl)
        )
        rows = conn.execute(q.group_by(key, *extra)).mappings().all()
        return [dict(r) for r in rows], _division_shapes("districts", "name")
    if grouping == "township":
        tw = registry.get("townships").sa_table
        q = (
            sa.select(tw.c.id.label("key"), tw.c.name.label("name"), *extra, *_measures(source, decl))
            .select_from(t.join(tw, sa.func.ST_Intersects(tw.c.geom_3857, _point(source))))
            .where(*_where(source, decl), tw.c.deleted_at.is_(None))
        )
        rows = conn.execute(q.group_by(tw.c.id, tw.c.name, *extra)).mappings().all()
        return [dict(r) for r in rows], _division_shapes("townships", "id")
    size = float(decl["cell_size_m"])
    pt = _point(source)
    if decl["cell_shape"] == "square":
        i = sa.cast(sa.func.floor(sa.func.ST_X(pt) / size), sa.Integer).label("i")
        j = sa.cast(sa.func.floor(sa.func.ST_Y(pt) / size), sa.Integer).label("j")
        inner = sa.select(i, j, *extra, *_measures(source, decl)).where(*_where(source, decl)).group_by(i, j, *extra)
        rows = conn.execute(inner).mappings().all()
        out = [dict(r, key=f"{r['i']}:{r['j']}", name=f"网格 {r['i']},{r['j']}") for r in rows]
        return out, _square_shapes(size)
    districts = registry.get("districts").sa_table
    extent = (
        sa.select(sa.func.ST_Transform(sa.func.ST_SetSRID(sa.func.ST_Extent(districts.c.geom), 4326), 3857))
        .where(districts.c.deleted_at.is_(None))
        .scalar_subquery()
    )
    cells = sa.func.ST_HexagonGrid(size, extent).table_valued("geom", "i", "j").alias("cells")
    q = (
        sa.select(cells.c.i, cells.c.j, *extra, *_measures(source, decl))
        .select_from(t.join(cells, sa.func.ST_Intersects(cells.c.geom, pt)))
        .where(*_where(source, decl))
        .group_by(cells.c.i, cells.c.j, *extra)
    )
    rows = conn.execute(q).mappings().all()
    out = [dict(r, key=f"{r['i']}:{r['j']}", name=f"网格 {r['i']},{r['j']}") for r in rows]
    return out, _hexagon_shapes(size)


def _division_shapes(layer_id: str, key: str):
    """The groups' outlines and label points from a division layer (districts, townships): every division's, read
    once per generation of that layer (simplifying the outlines is a good part of a statistic's time otherwise)."""

    def shapes(conn: Connection, keys: list) -> dict:
        t = registry.get(layer_id).sa_table
        token = as_token(conn.execute(sa.select(token_of(layer_id))).scalar())
        cache_key = (database_of(conn), layer_id, key, scopes.current_key(conn), token) if token else None
        every = _shapes.get(cache_key) if cache_key else MISSING
        if every is MISSING:
            rows = conn.execute(
                sa.select(
                    t.c[key],
                    sa.func.ST_AsGeoJSON(sa.func.ST_SimplifyPreserveTopology(t.c.geom, SIMPLIFY_DEG), 5),
                    sa.func.ST_AsGeoJSON(sa.func.ST_PointOnSurface(t.c.geom), 5),
                ).where(t.c.deleted_at.is_(None))
            ).all()
            every = {k: (json.loads(g), json.loads(p)["coordinates"]) for k, g, p in rows}
            if cache_key:
                _shapes.put(cache_key, every)
        return {k: every[k] for k in keys if k in every}

    return shapes


def _cell_shapes(conn: Connection, keys: list, cell: Any) -> dict:
    ij = [tuple(int(x) for x in k.split(":")) for k in keys]
    if not ij:
        return {}
    vals = sa.values(sa.column("i", sa.Integer), sa.column("j", sa.Integer), name="ij").data(ij)
    g = sa.func.ST_Transform(cell(vals.c.i, vals.c.j), 4326)
    rows = conn.execute(
        sa.select(vals.c.i, vals.c.j, sa.func.ST_AsGeoJSON(g, 6), sa.func.ST_AsGeoJSON(sa.func.ST_Centroid(g), 6))
    ).all()
    return {f"{i}:{j}": (json.loads(geo), json.loads(c)["coordinates"]) for i, j, geo, c in rows}


def _origin() -> Any:
    return sa.func.ST_SetSRID(sa.func.ST_MakePoint(0, 0), 3857)  # the grids' origin (ST_SquareGrid's, ST_HexagonGrid's)


def _square_shapes(size: float):
    return lambda conn, keys: _cell_shapes(conn, keys, lambda i, j: sa.func.ST_Square(size, i, j, _origin()))


def _hexagon_shapes(size: float):
    return lambda conn, keys: _cell_shapes(conn, keys, lambda i, j: sa.func.ST_Hexagon(size, i, j, _origin()))


def _outlines(conn: Connection) -> dict:
    """Every district's outline (reference data, public): the map's backdrop around the groups."""
    t = registry.get("districts").sa_table
    rows = conn.execute(
        sa.select(t.c.name, sa.func.ST_AsGeoJSON(sa.func.ST_SimplifyPreserveTopology(t.c.geom, SIMPLIFY_DEG), 5)).where(
            t.c.deleted_at.is_(None)
        )
    ).all()
    features = [{"type": "Feature", "geometry": json.loads(g), "properties": {"name": n}} for n, g in rows]
    return {"type": "FeatureCollection", "features": features}


def _townships_empty(conn: Connection) -> bool:
    tw = registry.get("townships").sa_table
    return conn.execute(sa.select(sa.exists().where(tw.c.deleted_at.is_(None)))).scalar_one() is False


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 6)


def compute(conn: Connection, decl: dict, source: Source) -> dict:
    """The answer for a checked declaration, computed now on ``conn`` (the principal's scope)."""
    hint = None
    if decl["grouping"] == "township" and _townships_empty(conn):
        rows, shapes, hint = [], (lambda conn, keys: {}), TOWNSHIPS_EMPTY
    else:
        rows, shapes = _grouped(conn, source, decl)
    precomputed = _precounted(conn, source, decl, [])
    groups = []
    for r in rows:
        groups.append(
            {
                "key": r["key"],
                "name": r["name"] if r["name"] is not None else NO_DISTRICT,
                "n": int(r["n"]),
                "value": _round(_value(decl, r)),
                "_parts": r,
            }
        )
    groups.sort(key=lambda g: (g["value"] is None, -(g["value"] or 0), str(g["name"])))

    # Headline figures, from the groups' parts (exact: sums of counts and sums).
    n = sum(g["n"] for g in groups)
    parts = [g.pop("_parts") for g in groups]
    total: float | None
    if decl["statistic"] == "count":
        total = float(n)
    elif decl["statistic"] == "sum":
        total = sum(float(p["s"] or 0) for p in parts)
    elif decl["statistic"] == "avg":
        nn = sum(p["nn"] for p in parts)
        total = sum(float(p["s"] or 0) for p in parts) / nn if nn else None
    else:
        total = sum(p["hits"] for p in parts) / n if n else None
    shapes_of = shapes(conn, [g["key"] for g in groups if g["key"] is not None]) if groups else {}
    mapped = [g for g in groups if g["key"] in shapes_of and g["value"] is not None]
    mapped_ids = {id(g) for g in mapped}

    legend: list[dict]
    bounds: list[float] = []
    if decl["rendering"] == "category":
        legend = _categories(conn, source, decl, groups)
    else:
        bounds = classify.breaks([g["value"] for g in mapped], decl["classification"], decl["classes"])
        colors = decl["colors"] if isinstance(decl["colors"], list) else classify.ramp(decl["colors"], len(bounds))
        if isinstance(decl["colors"], list) and len(bounds) < len(colors):
            colors = [colors[round(i * (len(colors) - 1) / max(len(bounds) - 1, 1))] for i in range(len(bounds))]
        lower = min((g["value"] for g in mapped), default=None)
        legend = []
        for i, upper in enumerate(bounds):
            legend.append(
                {
                    "lower": _round(lower if i == 0 else bounds[i - 1]),
                    "upper": _round(upper),
                    "color": colors[i],
                    "count": 0,
                }
            )
        for g in groups:
            c = classify.class_of(g["value"], bounds) if id(g) in mapped_ids else None
            g["class"] = c
            g["color"] = legend[c]["color"] if c is not None else None
            if c is not None:
                legend[c]["count"] += 1

    features = []
    for g in groups:
        shape = shapes_of.get(g["key"])
        if shape is None or g["value"] is None:
            continue
        g["center"] = shape[1]
        props = {k: g.get(k) for k in ("key", "name", "n", "value", "class", "color", "dominant")}
        props["center"] = shape[1]
        features.append({"type": "Feature", "geometry": shape[0], "properties": props})

    top = next((g for g in groups if g["value"] is not None), None)
    bottom = next((g for g in reversed(groups) if g["value"] is not None), None)
    headline = {
        "total": _round(total),
        "records": n,
        "groups": len(groups),
        "max": {"name": top["name"], "value": top["value"]} if top else None,
        "min": {"name": bottom["name"], "value": bottom["value"]} if bottom else None,
    }
    return {
        "statistic": decl["statistic"],
        "statistic_title": STATISTICS[decl["statistic"]],
        "grouping_title": GROUPINGS[decl["grouping"]],
        "rendering_title": RENDERINGS[decl["rendering"]],
        "groups": groups,
        "breaks": [_round(b) for b in bounds],
        "legend": legend,
        "headline": headline,
        "geojson": {"type": "FeatureCollection", "features": features},
        "hint": hint or (None if groups else "暂无符合条件的记录（或不在您的数据范围内）。"),
        "precomputed": precomputed,
        "computed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _categories(conn: Connection, source: Source, decl: dict, groups: list[dict]) -> list[dict]:
    """Per group the count of each value of the category attribute; the group's colour is its commonest value's."""
    col = source.table.c[decl["category"]]
    colors = category_colors(source, decl)
    if decl["grouping"] == "township" and not groups:
        rows: list[dict] = []
    else:
        rows, _ = _grouped(conn, source, decl, [col.label("cat")])
    by_key: dict[Any, dict[str, int]] = {}
    totals = dict.fromkeys(colors, 0)
    for r in rows:
        key = r.get("key")
        by_key.setdefault(key, {})[r["cat"]] = int(r["n"])
        if r["cat"] in totals:
            totals[r["cat"]] += int(r["n"])
    for g in groups:
        counts = by_key.get(g["key"], {})
        g["categories"] = counts
        dominant = max((c for c in counts if c in colors), key=lambda c: counts[c], default=None)
        g["dominant"] = dominant
        g["color"] = colors.get(dominant) if dominant else None
        g["class"] = None
    attr = source.attr(decl["category"])
    return [
        {"value": v, "label": v, "color": c, "count": totals[v], "attribute": attr.label if attr else v}
        for v, c in colors.items()
    ]


# -- the cache ----------------------------------------------------------------------------------------------------


def generations(conn: Connection, source: Source, decl: dict) -> tuple | None:
    """The change tokens of every layer the statistic reads (None: a register table, never cached)."""
    if source.kind != "layer":
        return None
    return layer_tokens(conn, [source.id, "districts"] + (["townships"] if decl["grouping"] == "township" else []))


def outlines(conn: Connection) -> dict:
    """The districts' outlines (kept apart from the answers: the same for every map, so cached once)."""
    token = as_token(conn.execute(sa.select(token_of("districts"))).scalar())
    key = (database_of(conn), token) if token else None
    hit = _outlines_kept.get(key) if key else MISSING
    if hit is MISSING:
        hit = _outlines(conn)
        if key:
            _outlines_kept.put(key, hit)
    return hit


def answer(conn: Connection, decl: dict, source: Source) -> dict:
    """The statistic of ``decl``: from the cache when nothing it reads changed since, else computed and kept; with
    the districts' outlines as the map's backdrop."""
    return _answer(conn, decl, source) | {"outlines": outlines(conn)}


def _answer(conn: Connection, decl: dict, source: Source) -> dict:
    t0 = time.perf_counter()
    tokens = generations(conn, source, decl)
    key = None
    if tokens is not None:
        fields = {k: decl.get(k) for k in sorted(decl) if k not in ("id", "version", "created_at", "updated_at")}
        key = (database_of(conn), json.dumps(fields, sort_keys=True, default=str), tokens, scopes.current_key(conn))
        hit = _answers.get(key)
        if hit is not MISSING:
            return dict(hit, cached=True, ms=round((time.perf_counter() - t0) * 1000, 1))
    out = compute(conn, decl, source)
    if key is not None:
        _answers.put(key, out)
    return dict(out, cached=False, ms=round((time.perf_counter() - t0) * 1000, 1))
