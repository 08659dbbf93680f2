"""The rules every geometry write goes through (API, import, demo loader alike).

Geometries arrive as GeoJSON (or already parsed shapely objects from a file), in
one of the accepted CRSs. They leave in WGS84, of the layer's type, valid, or
with a :class:`GeometryError` naming the problem in Chinese for the clerk and by
code and field for the machine. Checks are vectorised so a million-row import
runs them in one pass.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape

from geo import crs as crsmod
from geo.errors import Invalid, excerpt

# Hangzhou's extent (WGS84) from the district boundaries, rounded outwards.
HANGZHOU_BBOX = (118.33, 29.18, 120.73, 30.57)

MULTI = {"Polygon": "MultiPolygon", "LineString": "MultiLineString", "Point": "MultiPoint"}
SINGLE = {v: k for k, v in MULTI.items()}


class GeometryError(Invalid):
    """A geometry refused as it is (``message`` in Chinese, for the clerk)."""

    def __init__(self, code: str, message: str, field: str | None = "geometry", detail: Any = None) -> None:
        super().__init__(code, message, field, detail)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def as_dict(self) -> dict:
        return self.body()


# GEOS validity reasons (the same text PostGIS' ST_IsValidReason gives), in Chinese for the clerk.
REASONS = {
    "Ring Self-intersection": "环自相交",
    "Self-intersection": "边线自相交",
    "Too few points in geometry component": "组成部分的点数太少",
    "Hole lies outside shell": "内环（洞）位于外环之外",
    "Nested holes": "内环相互嵌套",
    "Interior is disconnected": "面的内部不连通",
    "Nested shells": "多面中的外环相互嵌套",
    "Duplicate Rings": "存在重复的环",
    "Invalid Coordinate": "坐标无效",
    "Ring is not closed": "环未闭合",
}


def explain(reason: str) -> str:
    """``Self-intersection[120.15 30.15]`` -> ``边线自相交（位置 120.15, 30.15）``."""
    head = reason.split("[", 1)[0].strip()
    text = REASONS.get(head, head)
    loc = reason_location(reason)
    return f"{text}（位置 {loc[0]:.6f}, {loc[1]:.6f}）" if loc else text


def reason_location(reason: str) -> list[float] | None:
    if "[" not in reason:
        return None
    try:
        x, y = reason.split("[", 1)[1].rstrip("]").split()[:2]
        return [float(x), float(y)]
    except ValueError:
        return None


# How deep each GeoJSON type nests its positions (0: ``coordinates`` is one position).
DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}
_GEOS_READ_ERRORS = {
    "do not form a closed linestring": ("ring_not_closed", "面的环未闭合（末点与起点不同），不会自动闭合"),
    "must be 0 or >= 4": ("ring_too_short", "面的环少于 4 个坐标位置（含与起点相同的末点）"),
    "must contain 0 or >1 elements": ("geometry_malformed", "线只有 1 个点（至少需要 2 个）"),
}


def explain_read_error(message: str) -> tuple[str, str]:
    """(code, Chinese reason) for GEOS' refusal to read a structurally broken geometry (WKB, WKT)."""
    return next(
        (hit for en, hit in _GEOS_READ_ERRORS.items() if en in message),
        ("geometry_malformed", "几何图形的坐标结构不正确"),
    )


def _path(path: tuple) -> str:
    return "coordinates" + "".join(f"[{i}]" for i in path)


def _malformed(code: str, message: str, field_name: str, path: tuple, **detail) -> GeometryError:
    return GeometryError(code, message, field_name, {"path": _path(path), **detail})


def _check_position(p: Any, path: tuple, field_name: str) -> None:
    numbers = isinstance(p, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)
    if not numbers or not 2 <= len(p) <= 3:
        raise _malformed(
            "geometry_malformed",
            f"坐标位置 {_path(path)} 应为 2 个数值（经度、纬度）或 3 个数值（另加高程），"
            f"收到「{excerpt(json.dumps(p, ensure_ascii=False, default=str))}」。",
            field_name,
            path,
        )
    try:
        finite = all(math.isfinite(v) for v in p)
    except OverflowError:  # an integer beyond any float (JSON allows 10**400)
        raise _malformed("coordinates_out_of_range", f"坐标位置 {_path(path)} 的数值过大。", field_name, path)
    if not finite:
        raise _malformed(
            "coordinates_invalid", f"坐标位置 {_path(path)} 含有非数值（NaN 或无穷大）。", field_name, path
        )


def _check_coordinates(kind: str, coords: Any, field_name: str) -> None:
    """RFC 7946 §3.1 for one geometry's ``coordinates``: nothing is closed, padded or converted to make it fit."""
    depth = DEPTH[kind]

    def walk(c: Any, level: int, path: tuple) -> None:
        if level == 0:
            _check_position(c, path, field_name)
            return
        if not isinstance(c, list) or (path and not c):
            raise _malformed(
                "geometry_malformed",
                f"{kind} 的坐标结构不正确：{_path(path)} 应为非空的坐标数组。",
                field_name,
                path,
            )
        for i, x in enumerate(c):
            walk(x, level - 1, (*path, i))
        ring = kind in ("Polygon", "MultiPolygon") and level == 1
        line = kind in ("LineString", "MultiLineString") and level == 1
        if line and len(c) < 2:
            raise _malformed("geometry_malformed", f"线 {_path(path)} 只有 1 个点（至少需要 2 个）。", field_name, path)
        if ring and c[0] != c[-1]:
            raise _malformed(
                "ring_not_closed",
                f"面的环 {_path(path)} 未闭合：末点应与起点相同（不会自动闭合）。",
                field_name,
                path,
                first=c[0],
                last=c[-1],
            )
        if ring and len(c) < 4:
            raise _malformed(
                "ring_too_short",
                f"面的环 {_path(path)} 只有 {len(c)} 个坐标位置，至少需要 4 个（末点与起点相同）。",
                field_name,
                path,
                positions=len(c),
            )

    walk(coords, depth, ())


def check_rfc7946(obj: dict, field_name: str = "geometry") -> None:
    """Refuse what RFC 7946 does not allow in a geometry object, with the place: an unknown type, positions that are not
    2 or 3 numbers (text, booleans, NaN, a fourth value), lines of one point, rings that are not closed or have fewer
    than 4 positions. Winding order is only a SHOULD in the RFC: accepted either way, and stored as given."""
    kind = obj.get("type")
    if kind == "GeometryCollection":
        parts = obj.get("geometries")
        if not isinstance(parts, list) or not all(isinstance(g, dict) for g in parts):
            raise GeometryError("geometry_malformed", "GeometryCollection 应有 geometries 数组。", field_name)
        for g in parts:
            check_rfc7946(g, field_name)
        return
    if kind not in DEPTH:
        raise GeometryError(
            "geometry_malformed",
            f"不支持的几何类型「{excerpt(kind)}」，应为 Point、LineString、Polygon 或其 Multi 类型。",
            field_name,
            {"type": excerpt(kind)},
        )
    if "coordinates" not in obj:
        raise GeometryError("geometry_malformed", f"{kind} 缺少 coordinates。", field_name)
    coords = obj["coordinates"]
    if isinstance(coords, list) and not coords:
        return  # an empty geometry: refused as such by check_many
    _check_coordinates(kind, coords, field_name)


def parse_geojson(obj: Any, field_name: str = "geometry", max_vertices: int | None = None):
    """GeoJSON geometry (dict or text) -> shapely geometry, or GeometryError('geometry_malformed' and the RFC 7946
    codes of :func:`check_rfc7946`)."""
    if isinstance(obj, (str, bytes)):
        try:
            obj = json.loads(obj)
        except ValueError as e:
            raise GeometryError("geometry_malformed", "几何图形不是有效的 GeoJSON。", field_name, {"reason": str(e)})
    if not isinstance(obj, dict) or "type" not in obj:
        raise GeometryError("geometry_malformed", "几何图形不是有效的 GeoJSON 几何对象（缺少 type）。", field_name)
    if obj.get("type") in ("Feature", "FeatureCollection"):
        raise GeometryError(
            "geometry_malformed",
            "此处需要 GeoJSON 几何对象，而不是要素或要素集合。",
            field_name,
            {"type": obj.get("type")},
        )
    check_rfc7946(obj, field_name)
    try:
        geom = shape(obj)
        n = shapely.get_num_coordinates(geom)
    except Exception as e:  # shapely raises several types for bad coordinate nesting
        raise GeometryError(
            "geometry_malformed", "几何图形的坐标结构不正确。", field_name, {"reason": str(e) or type(e).__name__}
        )
    if max_vertices is not None and n > max_vertices:
        raise GeometryError(
            "geometry_too_large",
            f"几何图形节点过多（{n} 个，上限 {max_vertices} 个）。",
            field_name,
            {"vertices": int(n), "max": max_vertices},
        )
    return geom


@dataclass
class Checked:
    """Result of :func:`check_many`: geometries in WGS84 and, per row, an error or None."""

    geoms: np.ndarray
    errors: list[GeometryError | None]
    repairs: list[dict | None]

    @property
    def ok(self) -> np.ndarray:
        return np.array([e is None for e in self.errors], dtype=bool)


def _bbox_inside(bounds: np.ndarray, box=HANGZHOU_BBOX, margin: float = 0.1) -> np.ndarray:
    x0, y0, x1, y1 = box
    return (
        (bounds[:, 0] >= x0 - margin)
        & (bounds[:, 2] <= x1 + margin)
        & (bounds[:, 1] >= y0 - margin)
        & (bounds[:, 3] <= y1 + margin)
    )


def _coerce_type(geom, wanted: str):
    """Promote single to multi when the layer stores multi; None when the type does not fit."""
    have = geom.geom_type
    if have == wanted:
        return geom
    if MULTI.get(have) == wanted:
        return {
            "MultiPolygon": shapely.multipolygons,
            "MultiLineString": shapely.multilinestrings,
            "MultiPoint": shapely.multipoints,
        }[wanted]([geom])
    return None


def _make_valid(geom, wanted: str):
    """``make_valid`` keeping the layer's type: polygons by the "structure" method (area kept, collapsed parts dropped,
    always polygonal), lines by "linework"; None when the result is not of the layer's type."""
    polygonal = wanted in ("Polygon", "MultiPolygon")
    fixed = shapely.make_valid(geom, method="structure" if polygonal else "linework")
    if fixed is None or fixed.is_empty:
        return None, "空"
    return _coerce_type(fixed, wanted), fixed.geom_type


def check_many(
    geoms,
    geometry_type: str,
    crs: str = crsmod.WGS84,
    repair: bool = False,
    margin: float = 0.1,
    field_name: str = "geometry",
) -> Checked:
    """Validate and convert an array of shapely geometries for a layer of ``geometry_type``.

    Rules, in order: not empty; no height (Z) or measure (M); coordinates finite
    and in range for the CRS; the layer's geometry type (a single part accepted
    by a Multi layer as a one-part collection, ``registry.ACCEPTS``; nothing
    else converted); inside Hangzhou (with a swapped-axes hint); valid per GEOS
    (the library PostGIS uses, so the same reason text as ST_IsValidReason), or,
    when ``repair`` is asked, made valid keeping the layer's type (refused when
    the repair would change it) and reported in ``repairs``.
    """
    src = crsmod.normalize(crs)
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    errors: list[GeometryError | None] = [None] * n
    repairs: list[dict | None] = [None] * n

    def fail(i, code, msg, **detail):
        if errors[i] is None:
            errors[i] = GeometryError(code, msg, field_name, detail)

    missing = np.array([g is None for g in geoms], dtype=bool)
    for i in np.flatnonzero(missing).tolist():
        fail(i, "geometry_missing", "缺少几何图形。")
    safe = np.where(missing, shapely.Point(), geoms)
    empty = shapely.is_empty(safe)
    for i in np.flatnonzero(empty & ~missing).tolist():
        fail(i, "geometry_empty", "几何图形为空。")

    # Heights and measures: the layers store plane positions; a height is refused, never dropped.
    for i in np.flatnonzero(shapely.has_z(safe) & ~empty).tolist():
        fail(
            i,
            "geometry_has_z",
            "几何图形带有高程（Z，第三个坐标值）；该图层只存储平面位置（经度、纬度），不会自动去掉高程，请去掉后再提交。",
        )
    for i in np.flatnonzero(shapely.has_m(safe) & ~empty).tolist():
        fail(i, "geometry_has_m", "几何图形带有测量值（M）；该图层只存储平面位置（经度、纬度），请去掉后再提交。")

    # Coordinate ranges in the input CRS; NaN and infinities (bounds skip NaN, so every coordinate is looked at).
    bounds = shapely.bounds(safe)
    xy, owner = shapely.get_coordinates(safe, return_index=True)
    coords_ok = np.ones(n, dtype=bool)
    coords_ok[owner[~np.isfinite(xy).all(axis=1)]] = False
    for i in np.flatnonzero(~coords_ok).tolist():
        fail(i, "coordinates_invalid", "坐标含有非数值（NaN 或无穷大）。")
    if src in crsmod.GEOGRAPHIC:
        in_range = (bounds[:, 0] >= -180) & (bounds[:, 2] <= 180) & (bounds[:, 1] >= -90) & (bounds[:, 3] <= 90)
    else:  # CGCS2000 GK CM120E: easting 500 km false easting, northing in metres
        in_range = (
            (bounds[:, 0] >= 0) & (bounds[:, 2] <= 1_000_000) & (bounds[:, 1] >= 0) & (bounds[:, 3] <= 10_000_000)
        )
    swapped = _bbox_inside(bounds[:, [1, 0, 3, 2]], margin=margin) if src in crsmod.GEOGRAPHIC else np.zeros(n, bool)
    for i in np.flatnonzero(~(in_range & coords_ok) & ~empty).tolist():
        msg = (
            "坐标超出有效范围（经度 -180~180，纬度 -90~90）"
            if src in crsmod.GEOGRAPHIC
            else "平面坐标超出 CGCS2000 高斯-克吕格 3 度带（中央经线 120°）的有效范围"
        )
        fail(
            i,
            "coordinates_out_of_range",
            msg + ("，经纬度是否填反了？" if swapped[i] else "。"),
            bounds=[None if not np.isfinite(v) else float(v) for v in bounds[i]],
            crs=src,
            swapped_hint=bool(swapped[i]),
        )

    # Type.
    wanted = geometry_type
    out = np.empty(n, dtype=object)
    for i in range(n):
        if errors[i] is not None:
            continue
        g = _coerce_type(geoms[i], wanted)
        if g is None:
            fail(
                i,
                "geometry_type_mismatch",
                f"几何类型不符：该图层需要 {wanted}，收到 {geoms[i].geom_type}。",
                expected=wanted,
                got=geoms[i].geom_type,
            )
        out[i] = g

    todo = np.array([e is None for e in errors], dtype=bool)
    if todo.any():
        idx = np.flatnonzero(todo)
        out[idx] = crsmod.transform(out[idx].astype(object), src, crsmod.WGS84)
        b = shapely.bounds(out[idx].astype(object))
        inside = _bbox_inside(b, margin=margin)
        swapped_inside = _bbox_inside(b[:, [1, 0, 3, 2]], margin=margin)
        for j in np.flatnonzero(~inside):
            i = idx[j]
            hint = bool(swapped_inside[j])
            fail(
                i,
                "outside_hangzhou",
                "坐标不在杭州市范围内" + ("，经纬度是否填反了？" if hint else "。"),
                bounds=[round(float(v), 6) for v in b[j]],
                swapped_hint=hint,
                hangzhou_bbox=list(HANGZHOU_BBOX),
            )

    todo = np.array([e is None for e in errors], dtype=bool)
    if todo.any():
        idx = np.flatnonzero(todo)
        valid = shapely.is_valid(out[idx].astype(object))
        for j in np.flatnonzero(~valid):
            i = idx[j]
            reason = shapely.is_valid_reason(out[i])
            if not repair:
                fail(
                    i,
                    "geometry_invalid",
                    f"几何图形无效：{explain(reason)}。可使用自动修复选项（make_valid=true，命令行 --make-valid）。",
                    reason=reason,
                    location=reason_location(reason),
                )
                continue
            fixed, got = _make_valid(out[i], wanted)
            if fixed is None:
                fail(
                    i,
                    "geometry_invalid",
                    f"几何图形无效：{explain(reason)}；修复后为 {got}，与图层要求的 {wanted} 不符，未修复。",
                    reason=reason,
                    location=reason_location(reason),
                    expected=wanted,
                    repaired_type=got,
                )
                continue
            repairs[i] = {
                "reason": reason,
                "location": reason_location(reason),
                "vertices_before": int(shapely.get_num_coordinates(out[i])),
                "vertices_after": int(shapely.get_num_coordinates(fixed)),
                "parts_after": int(shapely.get_num_geometries(fixed)),
                "message": f"已自动修复：{explain(reason)}",
            }
            out[i] = fixed
    return Checked(out, errors, repairs)


def check_one(
    geojson: Any,
    geometry_type: str,
    crs: str | None = None,
    repair: bool = False,
    max_vertices: int | None = None,
    margin: float = 0.1,
):
    """Validate one GeoJSON geometry; returns (shapely geometry in WGS84, repair report or None)."""
    try:
        src = crsmod.normalize(crs)
    except crsmod.UnknownCRS:
        raise GeometryError(
            "crs_unsupported",
            "不支持的坐标系，可选：EPSG:4326、EPSG:4490、EPSG:4549、GCJ02。",
            "crs",
            {"crs": crs, "supported": list(crsmod.SUPPORTED)},
        )
    geom = parse_geojson(geojson, max_vertices=max_vertices)
    res = check_many([geom], geometry_type, src, repair=repair, margin=margin)
    if res.errors[0] is not None:
        raise res.errors[0]
    return res.geoms[0], res.repairs[0]
