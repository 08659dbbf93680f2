"""A record's district follows from its geometry: the one rule every write path (features API, imports, bulk loads)
applies to the ``district`` attribute.

The reference point is the geometry's point on surface. The district containing it is the record's district; a point
within ``TOLERANCE_M`` metres of another district's boundary (a site on the line between two districts, a boundary
drawn a little off) may carry that neighbour instead. A given district that is neither is refused
(``district_mismatch``, naming both); an empty one is filled with the containing district (or, for a point just
outside every boundary, the nearest district within the tolerance).

Distances are measured in CGCS2000 GK CM 120E (EPSG:4549), as the geofences are. The districts' projected and
prepared polygons are cached per database and ``districts`` layer generation (``layer_changes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy import Connection

from geo import crs as crsmod
from geo.errors import Invalid
from geo.generations import MISSING, Kept, as_token, database_of, token_of

TOLERANCE_M = 50.0
_PROJECTED = crsmod.CGCS2000_GK120


@dataclass(frozen=True)
class Districts:
    names: tuple[str, ...]
    wgs84: tuple[Any, ...]  # prepared polygons, for containment
    projected: tuple[Any, ...]  # prepared polygons in EPSG:4549, for distances in metres


_kept = Kept(maxsize=4)  # per database and districts token: one generation per database is enough


def load(conn: Connection) -> Districts:
    """The live districts (cached until the ``districts`` layer changes)."""
    stamp = as_token(conn.execute(sa.select(token_of("districts"))).scalar())
    key = (database_of(conn), stamp)
    if stamp is not None:
        hit = _kept.get(key)
        if hit is not MISSING:
            return hit
    rows = conn.execute(
        sa.text("SELECT name, ST_AsBinary(geom) FROM districts WHERE deleted_at IS NULL ORDER BY code")
    ).all()
    names = tuple(r[0] for r in rows)
    polys = shapely.from_wkb([bytes(r[1]) for r in rows]) if rows else np.empty(0, dtype=object)
    projected = crsmod.transform(polys, crsmod.WGS84, _PROJECTED) if rows else polys
    shapely.prepare(polys)
    shapely.prepare(projected)
    for poly in polys:  # GEOS builds a prepared polygon's index at its first query: here, before threads share it
        shapely.contains_xy(poly, 0.0, 0.0)
    out = Districts(names, tuple(polys), tuple(projected))
    if stamp is not None:
        _kept.put(key, out)
    return out


def _points(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pts = shapely.point_on_surface(np.asarray(geoms, dtype=object))
    return shapely.get_x(pts), shapely.get_y(pts)


def containing(ds: Districts, geoms: np.ndarray) -> np.ndarray:
    """The name of the district containing each geometry's point on surface, None where none does."""
    x, y = _points(geoms)
    out = np.full(len(x), None, dtype=object)
    for name, poly in zip(ds.names, ds.wgs84):
        todo = np.flatnonzero(out == None)  # noqa: E711 - elementwise on an object array
        if not len(todo):
            break
        hit = shapely.contains_xy(poly, x[todo], y[todo])
        out[todo[hit]] = name
    return out


def _near(ds: Districts, x: np.ndarray, y: np.ndarray) -> list[list[tuple[float, str]]]:
    """Per point, (distance in metres, district) of every district within the tolerance, nearest first."""
    px, py = crsmod.transform_xy(x, y, crsmod.WGS84, _PROJECTED)
    pts = shapely.points(px, py)
    out: list[list[tuple[float, str]]] = [[] for _ in range(len(x))]
    for name, poly in zip(ds.names, ds.projected):
        d = shapely.distance(poly, pts)
        for i in np.flatnonzero(d <= TOLERANCE_M).tolist():
            out[i].append((float(d[i]), name))
    return [sorted(o) for o in out]


def _mismatch(given: str, actual: str | None, x: float, y: float, field_name: str = "district") -> Invalid:
    where = f"位置（{x:.6f}, {y:.6f}）"
    found = f"在「{actual}」内" if actual else "不在杭州市任何区县内"
    return Invalid(
        "district_mismatch",
        f"所属区县填写为「{given}」，但{where}{found}；所属区县应与位置一致"
        f"（边界两侧 {TOLERANCE_M:.0f} 米内可填相邻的区县），留空则按位置自动填写。",
        field_name,
        {"given": given, "located": actual, "point": [round(x, 6), round(y, 6)], "tolerance_m": TOLERANCE_M},
    )


def resolve(conn: Connection, geoms, given) -> tuple[np.ndarray, dict[int, Invalid]]:
    """The district of each geometry: the given one where it fits the location, the located one where none is
    given; ``errors`` maps the index of every given district that does not fit to its ``district_mismatch``."""
    geoms = np.asarray(geoms, dtype=object)
    given = np.asarray(given, dtype=object)
    n = len(geoms)
    out = given.copy()
    errors: dict[int, Invalid] = {}
    if n == 0:
        return out, errors
    ds = load(conn)
    inside = containing(ds, geoms)
    empty = np.array([g is None or g == "" for g in given], dtype=bool)
    out[empty & (inside != None)] = inside[empty & (inside != None)]  # noqa: E711
    # Only what the containment test did not settle is measured: empty ones outside every district, and given ones
    # that name another district than the containing one.
    unsettled = np.flatnonzero((empty & (inside == None)) | (~empty & (given != inside)))  # noqa: E711
    if len(unsettled):
        x, y = _points(geoms[unsettled])
        near = _near(ds, x, y)
        for j, i in enumerate(unsettled.tolist()):
            names = [name for _, name in near[j]]
            if empty[i]:
                out[i] = names[0] if names else None
            elif given[i] not in names:
                errors[i] = _mismatch(str(given[i]), inside[i] or (names[0] if names else None), x[j], y[j])
    return out, errors


def resolve_one(conn: Connection, geom, given: str | None) -> str | None:
    """:func:`resolve` for one geometry; raises the ``district_mismatch``."""
    out, errors = resolve(conn, [geom], [given])
    if errors:
        raise errors[0]
    return out[0]


def fits(conn: Connection, geom, district: str) -> bool:
    """Whether ``district`` may stay the district of ``geom`` (inside it, or within the tolerance of it)."""
    return not resolve(conn, [geom], [district])[1]
