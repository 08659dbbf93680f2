"""The rules every geometry write goes through (API, import, demo loader alike).

Geometries arrive as GeoJSON (or already parsed shapely objects from a file), in
one of the accepted CRSs. They leave in WGS84, of the layer's type, valid, or
with a :class:`GeometryError` naming the problem in Chinese for the clerk and by
code and field for the machine. Checks are vectorised so a million-row import
runs them in one pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape

from geo import crs as crsmod
from geo.errors import Invalid

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


def parse_geojson(obj: Any, field_name: str = "geometry", max_vertices: int | None = None):
    """GeoJSON geometry (dict or text) -> shapely geometry, or GeometryError('geometry_malformed')."""
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


def _keep_dimension(geom, wanted: str):
    """After ST_MakeValid: keep only the parts with the layer's dimension."""
    dim = {"Point": 0, "LineString": 1, "MultiLineString": 1, "Polygon": 2, "MultiPolygon": 2}[wanted]
    parts = [g for g in shapely.get_parts(geom) if shapely.get_dimensions(g) == dim]
    if not parts:
        return None
    if len(parts) == 1:
        return _coerce_type(parts[0], wanted)
    merged = shapely.union_all(parts) if dim == 2 else shapely.line_merge(shapely.multilinestrings(parts))
    return _coerce_type(merged, wanted)


def check_many(
    geoms,
    geometry_type: str,
    crs: str = crsmod.WGS84,
    repair: bool = False,
    margin: float = 0.1,
    field_name: str = "geometry",
) -> Checked:
    """Validate and convert an array of shapely geometries for a layer of ``geometry_type``.

    Rules, in order: not empty; coordinates finite and in range for the CRS; the
    layer's geometry type (single promoted to multi); inside Hangzhou (with a
    swapped-axes hint); valid per GEOS (the library PostGIS uses, so the same
    reason text as ST_IsValidReason), or repaired with make_valid when asked.
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

    # Coordinate ranges in the input CRS.
    bounds = shapely.bounds(safe)
    finite = np.isfinite(bounds).all(axis=1) | empty
    coords_ok = (
        np.array([np.isfinite(shapely.get_coordinates(g)).all() for g in safe], dtype=bool) if n < 50_000 else finite
    )
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
                    f"几何图形无效：{explain(reason)}。可自动修复（参数 repair=true）。",
                    reason=reason,
                    location=reason_location(reason),
                )
                continue
            fixed = _keep_dimension(shapely.make_valid(out[i]), wanted)
            if fixed is None or fixed.is_empty:
                fail(
                    i,
                    "geometry_invalid",
                    f"几何图形无效且无法修复：{explain(reason)}。",
                    reason=reason,
                    location=reason_location(reason),
                )
                continue
            repairs[i] = {
                "reason": reason,
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
