"""Electronic fences: is a point inside a fence polygon, and how far (in metres) from its edge.

Any layer whose geometry is Polygon or MultiPolygon is a fence layer: ``site_fences`` (a construction
site's boundary; one site may have several fence polygons), ``districts``, ``townships``,
``farmhouse_footprints``. A check names its fence by feature id, or, on layers with a ``site_id``
attribute, by site (then every live fence of that site counts: inside any is inside, and the fence with
the smallest signed distance is the one reported).

Signed distance
    ``distance_m`` is the distance from the point to the fence's edge (outer and inner rings), negative
    when the point is inside. Points and fences are projected to CGCS2000 3-degree Gauss-Krüger CM 120E
    (EPSG:4549, which covers all of Hangzhou); the grid distance is divided by the projection's scale
    factor at the point (the projection is conformal, so one factor holds in every direction; it runs
    from 1.0000 on 120°E to 1.0003 at Hangzhou's western edge). Against PostGIS geography (the spheroid)
    that is within a centimetre at fence scale (hundreds of metres; bench/geofence.py measures it) and
    within about 1/20,000 at district scale (tens of kilometres, where the factor varies along the way).

Tolerance
    ``tolerance_m = geofence_tolerance_m + min(accuracy_m, geofence_accuracy_cap_m)`` (10 m and 50 m by
    default) and ``inside = distance_m <= tolerance_m``. The base covers how precisely fences are drawn and
    the error of a good fix, so even a phone claiming 3 m gets it. The phone's reported accuracy (its 68 %
    radius) adds to it, so a worker is not turned away for a poor fix that is not his fault — but only up
    to the cap: a reading claiming 300 m (indoors, cold start) cannot stretch a 100 m fence over the whole
    block, and no check is ever accepted more than base + cap (60 m) outside. ``strictly_inside`` is
    ``distance_m <= 0``: the mobile flow marks "accepted with tolerance" when inside but not strictly.
    Distances are rounded to the millimetre before the comparison, so the response never contradicts itself.

One way to compute
    A single check is a batch of one, and every form — checks naming fences (:func:`check`), points
    against all fences of a layer (:func:`locate`, from an STRtree over the layer) — goes through
    :func:`signed_distance`, so a batch answers exactly as the same checks made one by one.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
import pyproj
import shapely
import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import ARRAY

from geo import crs as crsmod
from geo import scope as scopes
from geo import validate
from geo.errors import DomainError, Invalid, NotFound
from geo.layer.registry import Layer
from geo.settings import get_settings

METRIC = crsmod.CGCS2000_GK120
FENCE_GEOMETRIES = ("Polygon", "MultiPolygon")
MAX_LISTED = 20  # errors and missing ids listed in one error's detail
NONE = np.array(
    None
)  # np.equal(values, NONE): which items are None (as np.equal(values, None), which numpy types refuse)


class GeofenceError(DomainError):
    """A refused check (code, Chinese message, request field, detail); its kind is ``FenceInvalid`` or
    ``FenceNotFound``."""


class FenceInvalid(GeofenceError, Invalid):
    """The request cannot be checked as given (layer, coordinates, CRS, sizes)."""


class FenceNotFound(GeofenceError, NotFound):
    """A named fence (or a site's fences) does not exist for the principal."""


def is_fence_layer(layer: Layer) -> bool:
    return layer.geometry in FENCE_GEOMETRIES


def require_fence_layer(layer: Layer) -> None:
    if not is_fence_layer(layer):
        raise FenceInvalid(
            "not_a_fence_layer",
            f"图层「{layer.title}」不是面图层，不能作为电子围栏。",
            "layer",
            {"layer": layer.id, "geometry_type": layer.geometry},
        )


def has_sites(layer: Layer) -> bool:
    return "site_id" in layer.attr_names


# -- fences ------------------------------------------------------------------------------------------


@dataclass
class Fences:
    """Fence polygons of one layer, in metres (EPSG:4549), sorted by id."""

    ids: np.ndarray  # int64
    site_ids: np.ndarray | None  # int64, on layers with site_id
    names: list[Any]
    polys: np.ndarray  # prepared shapely polygons
    edges: np.ndarray  # their boundaries (outer and inner rings)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_rows(cls, rows: Sequence[Any], with_sites: bool) -> Fences:
        wgs84 = shapely.from_wkb([bytes(r.wkb) for r in rows]) if rows else np.empty(0, dtype=object)
        polys = crsmod.transform(np.asarray(wgs84, dtype=object), crsmod.WGS84, METRIC)
        shapely.prepare(polys)
        return cls(
            ids=np.array([r.id for r in rows], dtype=np.int64),
            site_ids=np.array([r.site_id for r in rows], dtype=np.int64) if with_sites else None,
            names=[r.name for r in rows],
            polys=polys,
            edges=shapely.boundary(polys),
        )

    @cached_property
    def tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.polys)


def _select(layer: Layer, where: sa.ColumnElement) -> sa.Select:
    t = layer.sa_table
    name = t.c[layer.label] if layer.label in layer.attr_names else sa.null()
    site = t.c.site_id if has_sites(layer) else sa.null()
    return (
        sa.select(t.c.id, site.label("site_id"), name.label("name"), sa.func.ST_AsBinary(t.c.geom).label("wkb"))
        .where(t.c.deleted_at.is_(None), where)
        .order_by(t.c.id)
    )


_named: dict[tuple[str, bool, bool], sa.Select] = {}


def _named_query(layer: Layer, by_fence: bool, by_site: bool) -> sa.Select:
    """Built once per layer and form (the statement cache then skips compiling it again)."""
    key = (layer.id, by_fence, by_site)
    if key not in _named:
        t = layer.sa_table
        ids = ARRAY(sa.BigInteger)
        conds = ([t.c.id == sa.any_(sa.bindparam("ids", type_=ids))] if by_fence else []) + (
            [t.c.site_id == sa.any_(sa.bindparam("sids", type_=ids))] if by_site else []
        )
        _named[key] = _select(layer, sa.or_(*conds))
    return _named[key]


def load_named(conn: Connection, layer: Layer, fence_ids: np.ndarray, site_ids: np.ndarray) -> Fences:
    """The live fences with these ids, and every live fence of these sites (primary key / site index)."""
    if not len(fence_ids) and not len(site_ids):
        return Fences.from_rows([], has_sites(layer))
    params = {"ids": np.unique(fence_ids).tolist(), "sids": np.unique(site_ids).tolist()}
    rows = conn.execute(_named_query(layer, bool(len(fence_ids)), bool(len(site_ids))), params).all()
    return Fences.from_rows(rows, has_sites(layer))


_cache: dict[tuple[str, str, str], tuple[tuple, Fences]] = {}
_cache_lock = threading.Lock()


def layer_fences(conn: Connection, layer: Layer) -> Fences:
    """All live fences of the layer, kept in memory between calls.

    The copy is keyed by (live rows, largest id, sum of versions, latest updated_at), read on every call:
    a create raises the largest id, an update its version and updated_at, a (soft) delete lowers the
    count, and a table emptied and refilled has new timestamps — so any write made through the store or
    the bulk loader is seen by the next call.
    """
    t = layer.sa_table
    stamp = tuple(
        conn.execute(
            sa.select(
                sa.func.count(), sa.func.max(t.c.id), sa.func.sum(t.c.version), sa.func.max(t.c.updated_at)
            ).where(t.c.deleted_at.is_(None))
        ).one()
    )
    limit = get_settings().geofence_max_layer_fences
    if stamp[0] > limit:
        raise FenceInvalid(
            "fence_layer_too_large",
            f"图层「{layer.title}」有 {stamp[0]} 个面要素，超过整层检索上限 {limit} 个；请逐点指定围栏（feature_id）。",
            "layer",
            {"fences": stamp[0], "max": limit},
        )
    # Row-level security shows each principal its own fences: the copy is per stated scope.
    key = (conn.engine.url.render_as_string(hide_password=True), layer.id, scopes.current_key(conn))
    with _cache_lock:
        hit = _cache.get(key)
    if hit and hit[0] == stamp:
        return hit[1]
    fences = Fences.from_rows(conn.execute(_select(layer, sa.true())).all(), has_sites(layer))
    with _cache_lock:
        _cache[key] = (stamp, fences)
    return fences


def forget_cached(layer_id: str | None = None) -> None:
    """Drop the in-memory fence copies (all, or one layer's); the next call reloads them."""
    with _cache_lock:
        for key in [k for k in _cache if layer_id is None or k[1] == layer_id]:
            del _cache[key]


# -- points ------------------------------------------------------------------------------------------


@dataclass
class Points:
    lon: np.ndarray  # WGS84
    lat: np.ndarray
    geoms: np.ndarray  # shapely points in metres (EPSG:4549)
    x: np.ndarray
    y: np.ndarray
    scale: np.ndarray  # projection scale factor at each point (grid metres per metre)
    tolerance_m: np.ndarray


@lru_cache
def _metric_proj() -> pyproj.Proj:
    return pyproj.Proj(METRIC)


def _problem(i: int, code: str, message: str, field: str | None, detail: dict | None = None) -> dict:
    return {"index": i, "code": code, "message": message, "field": field, "detail": detail or {}}


def _refuse(problems: list[dict], total: int) -> None:
    if not problems:
        return
    first = problems[0]
    raise FenceInvalid(
        first["code"],
        first["message"],
        first["field"],
        {**first["detail"], "index": first["index"], "error_count": total, "errors": problems[:MAX_LISTED]},
    )


def tolerance_for(accuracy_m: np.ndarray) -> np.ndarray:
    """tolerance_m = base + min(accuracy_m, cap); see the module docstring for why."""
    s = get_settings()
    return s.geofence_tolerance_m + np.minimum(accuracy_m, s.geofence_accuracy_cap_m)


def prepare_points(lon: Any, lat: Any, crs: str | None = None, accuracy_m: Any = None) -> Points:
    """Validate coordinates (the rules of every write) and accuracies; project to metres."""
    try:
        src = crsmod.normalize(crs)
    except crsmod.UnknownCRS:
        raise FenceInvalid(
            "crs_unsupported",
            "不支持的坐标系，可选：EPSG:4326、EPSG:4490、EPSG:4549、GCJ02。",
            "crs",
            {"crs": crs, "supported": list(crsmod.SUPPORTED)},
        )
    x = np.atleast_1d(np.asarray(lon, dtype=float))
    y = np.atleast_1d(np.asarray(lat, dtype=float))
    n = len(x)
    acc = (
        np.zeros(n)
        if accuracy_m is None
        else np.broadcast_to(np.asarray(np.where(np.equal(accuracy_m, NONE), 0.0, accuracy_m), dtype=np.float64), (n,))
    )
    problems: list[dict] = []
    for i in np.flatnonzero(~(np.isfinite(acc) & (acc >= 0))):
        problems.append(
            _problem(
                int(i),
                "invalid_accuracy",
                "定位精度 accuracy_m 应为不小于 0 的数值（米）。",
                "accuracy_m",
                {"accuracy_m": None if not np.isfinite(acc[i]) else float(acc[i])},
            )
        )
    if not n:  # (check_many and get_factors do not take empty arrays)
        nothing = np.empty(0)
        return Points(nothing, nothing, np.empty(0, dtype=object), nothing, nothing, nothing, nothing)
    checked = validate.check_many(
        shapely.points(x, y), "Point", src, margin=get_settings().hangzhou_margin_deg, field_name="lon,lat"
    )
    problems += [_problem(i, e.code, e.message, e.field, e.detail) for i, e in enumerate(checked.errors) if e]
    problems.sort(key=lambda p: p["index"])
    _refuse(problems, len(problems))
    wgs = checked.geoms.astype(object)
    lon84, lat84 = shapely.get_x(wgs), shapely.get_y(wgs)
    mx, my = _metric_proj()(lon84, lat84)
    mx, my = np.asarray(mx, dtype=float), np.asarray(my, dtype=float)
    scale = np.asarray(_metric_proj().get_factors(lon84, lat84).meridional_scale, dtype=float)
    return Points(lon84, lat84, shapely.points(mx, my), mx, my, scale, tolerance_for(acc))


# -- the computation -----------------------------------------------------------------------------------


def signed_distance(fences: Fences, j: np.ndarray, pts: Points, i: np.ndarray) -> np.ndarray:
    """Metres from point ``i[k]`` to the edge of fence ``j[k]``, negative inside; rounded to the millimetre."""
    grid = shapely.distance(fences.edges[j], pts.geoms[i])
    inside = shapely.contains_xy(fences.polys[j], pts.x[i], pts.y[i])
    return np.round(np.where(inside, -grid, grid) / pts.scale[i], 3) + 0.0  # + 0.0: no -0.0


def _best(n: int, i: np.ndarray, j: np.ndarray, d: np.ndarray, fences: Fences) -> tuple[np.ndarray, np.ndarray]:
    """Per point, the pair with the smallest signed distance (ties: the lowest fence id); -1 / nan if none."""
    order = np.lexsort((fences.ids[j], d, i))
    first = order[np.r_[True, i[order][1:] != i[order][:-1]]] if len(order) else order
    best_j = np.full(n, -1, dtype=np.int64)
    best_d = np.full(n, np.nan)
    best_j[i[first]] = j[first]
    best_d[i[first]] = d[first]
    return best_j, best_d


@dataclass
class Outcome:
    """Answers, one per point (arrays); ``rows()`` turns them into response objects."""

    layer: Layer
    fences: Fences
    fence_index: np.ndarray  # into fences; -1: no fence (locate on an empty layer)
    distance_m: np.ndarray
    points: Points
    checked_at: datetime
    within: list[list[int]] | None = None  # locate: fences within tolerance, nearest first

    @property
    def tolerance_m(self) -> np.ndarray:
        return self.points.tolerance_m

    @property
    def inside(self) -> np.ndarray:
        return self.distance_m <= self.tolerance_m  # nan (no fence) compares False

    @property
    def strictly_inside(self) -> np.ndarray:
        return self.distance_m <= 0

    @property
    def fence_id(self) -> np.ndarray:
        ids = np.append(self.fences.ids, -1)  # index -1 -> -1
        return ids[self.fence_index]

    def rows(self) -> list[dict]:
        found = self.fence_index >= 0
        fence_id = np.where(found, self.fence_id, 0).tolist()
        dist = np.where(found, self.distance_m, 0).tolist()
        sites = (
            self.fences.site_ids[np.where(found, self.fence_index, 0)].tolist()
            if (self.fences.site_ids is not None and len(self.fences))
            else None
        )
        tol = np.round(self.tolerance_m, 3).tolist()
        inside, strict = self.inside.tolist(), self.strictly_inside.tolist()
        names = self.fences.names
        out = []
        for k, ok in enumerate(found.tolist()):
            fi = int(self.fence_index[k])
            row = {
                "fence_id": fence_id[k] if ok else None,
                "fence_name": names[fi] if ok else None,
                "inside": inside[k],
                "strictly_inside": strict[k],
                "distance_m": dist[k] if ok else None,
                "tolerance_m": tol[k],
            }
            if sites is not None:
                row["site_id"] = sites[k] if ok else None
            if self.within is not None:
                row["fences"] = self.within[k]
            out.append(row)
        return out


def _targets(values: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids as int64 with 0 where not given, given mask) from a scalar, a sequence with None, or an array."""
    if values is None:
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    arr = np.asarray(values)
    if arr.dtype != object:
        arr = np.broadcast_to(arr, (n,)).astype(np.int64)
        return arr, np.ones(n, dtype=bool)
    arr = np.broadcast_to(arr, (n,))
    given = np.not_equal(arr, NONE)
    return np.where(given, arr, 0).astype(np.int64), given


def _pairs(lo: np.ndarray, counts: np.ndarray, rows: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expand (check ``rows[k]``: ``counts[k]`` fences starting at ``order[lo[k]]``) into index pairs."""
    total = int(counts.sum())
    start = np.repeat(lo, counts)
    step = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(rows, counts), order[start + step]


def check(
    conn: Connection,
    layer: Layer,
    lon: Any,
    lat: Any,
    feature_id: Any = None,
    site_id: Any = None,
    crs: str | None = None,
    accuracy_m: Any = None,
) -> Outcome:
    """Check points against the fences they name (vectorised; scalars are a batch of one).

    Each point names exactly one of ``feature_id`` (a fence of the layer) or ``site_id`` (all fences of
    that site, on layers with ``site_id``); arrays may hold None where the other is given.
    """
    require_fence_layer(layer)
    n = len(np.atleast_1d(np.asarray(lon, dtype=float)))
    fid, by_fence = _targets(feature_id, n)
    sid, by_site = _targets(site_id, n)
    problems = []
    if by_site.any() and not has_sites(layer):
        problems += [
            _problem(
                int(i),
                "site_id_not_supported",
                f"图层「{layer.title}」的围栏不属于工地，请用 feature_id 指定。",
                "site_id",
            )
            for i in np.flatnonzero(by_site)
        ]
    problems += [
        _problem(int(i), "fence_ambiguous", "feature_id 与 site_id 只能给出一个。", "feature_id")
        for i in np.flatnonzero(by_fence & by_site)
    ]
    problems += [
        _problem(int(i), "fence_missing", "请用 feature_id（或 site_id）指定要检查的围栏。", "feature_id")
        for i in np.flatnonzero(~by_fence & ~by_site)
    ]
    problems.sort(key=lambda p: p["index"])
    _refuse(problems, len(problems))
    pts = prepare_points(lon, lat, crs, accuracy_m)
    fences = load_named(conn, layer, fid[by_fence], sid[by_site])

    # Checks by feature id: one fence each.
    rows_f = np.flatnonzero(by_fence)
    pos = np.searchsorted(fences.ids, fid[rows_f]).clip(0, max(len(fences) - 1, 0))
    hit = (fences.ids[pos] == fid[rows_f]) if len(fences) else np.zeros(len(rows_f), bool)
    i_f, j_f = _pairs(pos, hit.astype(np.int64), rows_f, np.arange(len(fences)))
    # Checks by site: every fence of the site.
    rows_s = np.flatnonzero(by_site)
    if len(rows_s):
        assert fences.site_ids is not None  # site_id on a layer without sites was refused above
        order = np.lexsort((fences.ids, fences.site_ids))
        sorted_sites = fences.site_ids[order]
        lo = np.searchsorted(sorted_sites, sid[rows_s], "left")
        counts = np.searchsorted(sorted_sites, sid[rows_s], "right") - lo
        i_s, j_s = _pairs(lo, counts, rows_s, order)
    else:
        counts, i_s, j_s = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    missing_f, missing_s = fid[rows_f][~hit], sid[rows_s][counts == 0]
    if len(missing_f) or len(missing_s):
        what = f"{layer.title}要素 {missing_f[0]} " if len(missing_f) else f"工地 {missing_s[0]} 的围栏"
        raise FenceNotFound(
            "fence_not_found",
            f"{what}不存在或已删除。",
            "feature_id" if len(missing_f) else "site_id",
            {
                "missing_feature_ids": np.unique(missing_f)[:MAX_LISTED].tolist(),
                "missing_site_ids": np.unique(missing_s)[:MAX_LISTED].tolist(),
                "missing_count": int(len(missing_f) + len(missing_s)),
            },
        )
    i, j = np.concatenate([i_f, i_s]), np.concatenate([j_f, j_s])
    best_j, best_d = _best(n, i, j, signed_distance(fences, j, pts, i), fences)
    return Outcome(layer, fences, best_j, best_d, pts, datetime.now(UTC))


def locate(
    conn: Connection, layer: Layer, lon: Any, lat: Any, crs: str | None = None, accuracy_m: Any = None
) -> Outcome:
    """Points against every fence of the layer: for each, the fences within tolerance (nearest first) and the
    best fence — the one with the smallest signed distance, or the nearest one when none is within tolerance."""
    require_fence_layer(layer)
    pts = prepare_points(lon, lat, crs, accuracy_m)
    fences = layer_fences(conn, layer)
    n = len(pts.x)
    if not len(fences):
        return Outcome(
            layer, fences, np.full(n, -1, np.int64), np.full(n, np.nan), pts, datetime.now(UTC), [[] for _ in range(n)]
        )
    # Candidates within tolerance (in grid metres, with 1 cm to spare); the exact test follows.
    i, j = fences.tree.query(pts.geoms, predicate="dwithin", distance=pts.tolerance_m * pts.scale + 0.01)
    d = signed_distance(fences, j, pts, i)
    keep = d <= pts.tolerance_m[i]
    i, j, d = i[keep], j[keep], d[keep]
    best_j, best_d = _best(n, i, j, d, fences)
    rest = np.flatnonzero(best_j < 0)
    if len(rest):
        k, jn = fences.tree.query_nearest(pts.geoms[rest], all_matches=False)
        rest_i = rest[k]
        best_j[rest_i], best_d[rest_i] = jn, signed_distance(fences, jn, pts, rest_i)
    order = np.lexsort((fences.ids[j], d, i))
    within: list[list[int]] = [[] for _ in range(n)]
    for a, b in zip(i[order].tolist(), fences.ids[j[order]].tolist()):
        within[a].append(b)
    return Outcome(layer, fences, best_j, best_d, pts, datetime.now(UTC), within)
