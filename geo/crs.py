"""Coordinate systems accepted on input, and conversion to the storage CRS (WGS84).

Accepted: WGS84 (EPSG:4326, the default), CGCS2000 geographic (EPSG:4490),
CGCS2000 3-degree Gauss-Krüger CM 120E (EPSG:4549, metres, easting first) and
GCJ-02 (AMap and most Chinese phone SDKs). Reads convert back with
:func:`to_crs_geojson` (the features API's and the OGC items' ``crs``).
"""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import shapely
from pyproj import Transformer

from geo import gcj02

WGS84 = "EPSG:4326"
CGCS2000 = "EPSG:4490"
CGCS2000_GK120 = "EPSG:4549"
GCJ02 = "GCJ02"
SUPPORTED = (WGS84, CGCS2000, CGCS2000_GK120, GCJ02)
GEOGRAPHIC = {WGS84, CGCS2000, GCJ02}

_ALIASES = {
    "4326": WGS84,
    "EPSG:4326": WGS84,
    "WGS84": WGS84,
    "WGS-84": WGS84,
    "CRS84": WGS84,
    "OGC:CRS84": WGS84,
    "4490": CGCS2000,
    "EPSG:4490": CGCS2000,
    "CGCS2000": CGCS2000,
    "4549": CGCS2000_GK120,
    "EPSG:4549": CGCS2000_GK120,
    "GCJ02": GCJ02,
    "GCJ-02": GCJ02,
    "GCJ": GCJ02,
}


class UnknownCRS(ValueError):
    pass


def normalize(crs: str | None) -> str:
    """Map the spellings clients use (``4326``, ``EPSG:4490``, OGC URIs, ``gcj-02``) to one name."""
    if not crs:
        return WGS84
    key = str(crs).strip().upper()
    if "/DEF/CRS/" in key:  # http://www.opengis.net/def/crs/EPSG/0/4326
        parts = key.rstrip("/").split("/")
        key = parts[-1] if parts[-3] == "EPSG" else f"{parts[-3]}:{parts[-1]}"
    if key not in _ALIASES:
        raise UnknownCRS(crs)
    return _ALIASES[key]


@lru_cache
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def _coords_fn(src: str, dst: str):
    if src == dst:
        return None
    if src == GCJ02 and dst == WGS84:
        return lambda xy: np.column_stack(gcj02.gcj02_to_wgs84(xy[:, 0], xy[:, 1]))
    if src == WGS84 and dst == GCJ02:
        return lambda xy: np.column_stack(gcj02.wgs84_to_gcj02(xy[:, 0], xy[:, 1]))
    t = _transformer(src, dst)
    return lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1]))


def transform(geoms, src: str, dst: str = WGS84):
    """Transform a shapely geometry or an array of them (vectorised over all vertices)."""
    src, dst = normalize(src), normalize(dst)
    if GCJ02 in (src, dst) and WGS84 not in (src, dst):
        return transform(transform(geoms, src, WGS84), WGS84, dst)
    fn = _coords_fn(src, dst)
    return geoms if fn is None else shapely.transform(geoms, fn)


def transform_xy(x, y, src: str, dst: str = WGS84) -> tuple[np.ndarray, np.ndarray]:
    pts = transform(shapely.points(np.asarray(x, float), np.asarray(y, float)), src, dst)
    return shapely.get_x(pts), shapely.get_y(pts)


# -- output: stored WGS84 geometries in another CRS --------------------------------------------------------------

# How many decimals an output coordinate keeps: ~1 mm either way.
_DECIMALS = {WGS84: 8, CGCS2000: 8, GCJ02: 8, CGCS2000_GK120: 3}


def to_crs_geojson(geometries: list[dict | None], dst: str, northing_first: bool = False) -> list[dict | None]:
    """GeoJSON geometries (WGS84, lon/lat) converted to ``dst``; ``northing_first`` swaps each coordinate pair into
    the CRS's own axis order (EPSG:4490 latitude first, EPSG:4549 northing first), as OGC API Features Part 2 asks.
    Vectorised over every vertex of every geometry."""
    dst = normalize(dst)
    present = [(i, g) for i, g in enumerate(geometries) if g is not None]
    if dst == WGS84 and not northing_first or not present:
        return geometries
    geoms = shapely.from_geojson([json.dumps(g) for _, g in present])
    geoms = transform(geoms, WGS84, dst)
    decimals = _DECIMALS[dst]
    order = (lambda xy: np.round(xy[:, ::-1], decimals)) if northing_first else (lambda xy: np.round(xy, decimals))
    geoms = shapely.transform(geoms, order)
    out = list(geometries)
    for (i, _), g in zip(present, geoms):
        out[i] = shapely.geometry.mapping(g)
    return out
