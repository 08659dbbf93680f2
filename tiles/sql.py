"""The SQL of a vector tile: one statement per tile, every source layer of a composite tile in it.

Each source layer becomes one scalar subquery returning its ``ST_AsMVT`` bytes (an MVT tile is a sequence of
layers, so the parts concatenate into one tile); the statement also returns each layer's generation
(``layer_changes``) read in the same snapshot, which keys the cache. Everything filters and clips on the stored
``geom_3857`` (its GiST index is partial on live rows) against ``ST_TileEnvelope`` of the bound z/x/y.

A layer's part takes one of these forms:

- ``features``: the live features in the tile with ``id`` (also the MVT feature id), the popup, label and
  colour attributes; lines and polygons simplified first (``SIMPLIFY_UNITS``).
- ``cells``: for a point layer below its ``cluster_maxzoom``, one point per grid cell (``GRID`` per tile side)
  with ``cluster`` = 1, ``count``, ``count_<value>`` per legend value of ``style.color_by`` and ``count_other``,
  at the mean position of its points. Read from ``tile_cells`` (migration 0004), which triggers keep exact.
- ``grid``: the same aggregation computed from the points themselves: for a zoom finer than the finest
  ``tile_cells`` level, for a layer without ``tile_cells``, and as the size guard (``GUARD_GRID`` per side).
- ``coarse``: the size guard for lines and polygons: ``features`` simplified 16 times harder.
- ``empty``: below the layer's minzoom.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from geo.layer.registry import Layer
from tiles.generations import TOKEN

EXTENT = 4096
BUFFER = 64
GRID = 16  # aggregation cells per tile side below cluster_maxzoom (32 px cells on a 512 px tile)
GUARD_GRID = 64  # cells per side when a tile of single points would exceed the size bound
MAX_ZOOM = 22
CELL_LEVELS = (12, 14, 16, 18)  # grid levels kept in tile_cells: the same list as migration 0004
HALF = 20037508.342789244  # half the Web Mercator world width (metres)
GRID_SHIFT = GRID.bit_length() - 1  # GRID = 2 ** GRID_SHIFT
# Lines and polygons are simplified (Douglas-Peucker, keeping collapsed rings) to this many tile units before
# ST_AsMVTGeom snaps them to the 4096 grid: a quarter of a screen pixel on a 512 px tile, half a pixel at the
# most a tile is magnified (z + 0.99) — invisible, and far fewer vertices (a 4 m zigzag goes at z11).
SIMPLIFY_UNITS = 2
COARSE = 16  # the size guard's simplification factor for lines and polygons


def tile_attrs(layer: Layer) -> list[str]:
    """The attributes every single feature carries: popup, label, colour and ring attribute (in that order)."""
    names = [*layer.popup, layer.label, layer.style.color_by, layer.style.ring_by]
    out: list[str] = []
    for n in names:
        if n and n != "id" and n in layer.attr_names and n not in out:
            out.append(n)
    return out


def categories(layer: Layer) -> list[str]:
    """The legend values counted separately in aggregated points (empty: the layer is not coloured by value)."""
    return list(layer.style.colors) if layer.style.color_by else []


def cluster_fields(layer: Layer) -> list[str]:
    if not layer.style.color_by:
        return ["cluster", "count"]
    return ["cluster", "count", *(f"count_{v}" for v in categories(layer)), "count_other"]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _column(layer: Layer, name: str) -> str:
    kind = layer.attr(name).type
    col = f"t.{_ident(name)}"
    if kind == "date":
        return f"to_char({col}, 'YYYY-MM-DD')"
    if kind == "datetime":
        return f"""to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""
    return col


def _envelope(margin: bool = False) -> str:
    m = f", margin => {BUFFER / EXTENT}" if margin else ""
    return f"ST_TileEnvelope(%(z)s::int, %(x)s::int, %(y)s::int{m})"


def resolution(z: int) -> float:
    """Web Mercator metres per tile unit at zoom z."""
    return 2 * HALF / (2**z) / EXTENT


@dataclass(frozen=True)
class Part:
    """How one layer is drawn in one tile (hashable: it keys the statement cache)."""

    layer: Layer = field(compare=False)
    mode: str  # features | cells | grid | coarse | empty
    level: int = 0  # cells: the tile_cells level read
    grid: int = GRID  # cells, grid: cells per tile side
    layer_id: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "layer_id", self.layer.id)


def plan(layer: Layer, z: int, has_cells: bool) -> Part:
    if z < layer.minzoom:
        return Part(layer, "empty")
    if layer.cluster_maxzoom is not None and z < layer.cluster_maxzoom:
        level = next((lv for lv in CELL_LEVELS if lv >= z + GRID_SHIFT), None)
        if has_cells and level is not None:
            return Part(layer, "cells", level)
        return Part(layer, "grid")
    return Part(layer, "features")


def guard(part: Part) -> Part:
    """The smaller form of a part that came out too large."""
    if part.layer.geometry == "Point":
        return Part(part.layer, "grid", grid=GUARD_GRID)
    return Part(part.layer, "coarse")


def _counts(layer: Layer, i: int, count: str, cat: str) -> list[str]:
    """Aggregate columns: ``count`` is the counting aggregate, ``cat`` the category expression."""
    cols = ["1 AS cluster", f"{count}::bigint AS count"]
    if layer.style.color_by:
        for j, value in enumerate(categories(layer)):
            name = _ident(f"count_{value}")
            cols.append(f"coalesce({count} FILTER (WHERE {cat} = %(cat_{i}_{j})s), 0)::bigint AS {name}")
        cols.append(f"coalesce({count} FILTER (WHERE {cat} <> ALL(%(cats_{i})s::text[])), 0)::bigint AS count_other")
    return cols


def _fragment(part: Part, i: int) -> str:
    layer = part.layer
    if part.mode == "empty":
        return "NULL::bytea"
    env = _envelope()
    mvt = f"ST_AsMVTGeom(%(g)s, {env}, {EXTENT}, {BUFFER}, true) AS geom"
    if part.mode == "cells":
        sums = _counts(layer, i, "sum(c.n)", "c.cat")
        point = "ST_SetSRID(ST_MakePoint(sum(c.sx) / sum(c.n), sum(c.sy) / sum(c.n)), 3857)"
        return f"""(SELECT ST_AsMVT(q, %(name_{i})s, {EXTENT}, 'geom') FROM (
            SELECT {", ".join(sums)}, {mvt.replace("%(g)s", point)}
            FROM tile_cells c
            WHERE c.layer = %(name_{i})s AND c.level = {part.level}
              AND c.cx BETWEEN %(c0x_{i})s AND %(c1x_{i})s AND c.cy BETWEEN %(c0y_{i})s AND %(c1y_{i})s
            GROUP BY c.cx >> %(shift_{i})s::int, c.cy >> %(shift_{i})s::int) q)"""
    if part.mode == "grid":
        cat = f"coalesce(t.{_ident(layer.style.color_by)}::text, '')" if layer.style.color_by else "''"
        point = "ST_SetSRID(ST_MakePoint(avg(p.px), avg(p.py)), 3857)"
        gx = f"floor((p.px + {HALF}) / %(cell_{i})s)"
        gy = f"floor(({HALF} - p.py) / %(cell_{i})s)"
        return f"""(SELECT ST_AsMVT(q, %(name_{i})s, {EXTENT}, 'geom') FROM (
            SELECT {", ".join(_counts(layer, i, "count(*)", "p.cat"))}, {mvt.replace("%(g)s", point)}
            FROM (SELECT ST_X(t.geom_3857) AS px, ST_Y(t.geom_3857) AS py, {cat} AS cat
                  FROM {_ident(layer.table)} t
                  WHERE t.deleted_at IS NULL AND t.geom_3857 && {env} OFFSET 0) p
            WHERE {gx} BETWEEN %(g0x_{i})s AND %(g1x_{i})s AND {gy} BETWEEN %(g0y_{i})s AND %(g1y_{i})s
            GROUP BY {gx}, {gy}) q)"""
    cols = ", ".join(f"{_column(layer, n)} AS {_ident(n)}" for n in tile_attrs(layer))
    point_layer = layer.geometry == "Point"
    geom = "t.geom_3857" if point_layer else f"ST_Simplify(t.geom_3857, %(tol_{i})s, true)"
    # Points: the tile's own envelope (a point in the buffer would be drawn twice); lines and polygons: the
    # buffered one, so strokes continue across tile edges.
    return f"""(SELECT ST_AsMVT(q, %(name_{i})s, {EXTENT}, 'geom', 'fid') FROM (
        SELECT t.id AS fid, t.id AS id{", " + cols if cols else ""}, {mvt.replace("%(g)s", geom)}
        FROM {_ident(layer.table)} t
        WHERE t.deleted_at IS NULL AND t.geom_3857 && {_envelope(margin=not point_layer)}) q)"""


@lru_cache(maxsize=512)
def statement(parts: tuple[Part, ...]) -> str:
    """``SELECT gen_0, tile_0, gen_1, tile_1, …`` for the parts (cached: the text depends on the modes only)."""
    cols = []
    for i, part in enumerate(parts):
        cols.append(f"(SELECT {TOKEN} FROM layer_changes WHERE layer = %(name_{i})s)")
        cols.append(_fragment(part, i))
    return "SELECT " + ",\n       ".join(cols)


def params(parts: tuple[Part, ...], z: int, x: int, y: int) -> dict:
    out: dict = {"z": z, "x": x, "y": y}
    for i, part in enumerate(parts):
        layer = part.layer
        out[f"name_{i}"] = layer.id
        for j, value in enumerate(categories(layer)):
            out[f"cat_{i}_{j}"] = value
        out[f"cats_{i}"] = categories(layer)
        if part.mode == "features" or part.mode == "coarse":
            if layer.geometry != "Point":
                out[f"tol_{i}"] = resolution(z) * SIMPLIFY_UNITS * (COARSE if part.mode == "coarse" else 1)
        elif part.mode == "cells":
            span = 1 << (part.level - z)  # level cells per tile side
            out |= {
                f"c0x_{i}": x * span,
                f"c1x_{i}": (x + 1) * span - 1,
                f"c0y_{i}": y * span,
                f"c1y_{i}": (y + 1) * span - 1,
                f"shift_{i}": part.level - z - GRID_SHIFT,
            }
        elif part.mode == "grid":
            out |= {
                f"cell_{i}": 2 * HALF / (2**z) / part.grid,
                f"g0x_{i}": x * part.grid,
                f"g1x_{i}": (x + 1) * part.grid - 1,
                f"g0y_{i}": y * part.grid,
                f"g1y_{i}": (y + 1) * part.grid - 1,
            }
    return out
