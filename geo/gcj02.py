"""GCJ-02 ("Mars coordinates") <-> WGS84, vectorised with numpy.

GCJ-02 is the obfuscated datum that AMap (Gaode), Tencent maps and most
Chinese phone SDKs use. It is WGS84 plus a smooth, nonlinear offset of a few
hundred metres, computed with the widely published formula on the Krasovsky
ellipsoid (a = 6378245.0, ee = 0.00669342162296594323). Points outside the
usual rough China box (lon 72.004..137.8347, lat 0.8293..55.8271) are left
unchanged, as every published implementation does.

We hand-wrote this (about 40 lines) instead of depending on a PyPI package:
eviltransform, coord-convert and coordtransform are scalar-only (pure
``math`` calls in a Python loop) and/or unmaintained, and we need numpy
vectorisation to convert 1,000,000-point imports in one call.

The inverse has no closed form. ``gcj02_to_wgs84`` refines the estimate by
fixed-point iteration (w <- w - (forward(w) - gcj)) until the round trip is
below 1e-7 degrees (about 1 cm), at most 10 iterations; it lands well within
1 m of the original point, unlike the common one-step approximation.

Both functions take scalars or numpy arrays (broadcast together) and return
floats for scalars, float64 arrays for arrays.
"""

import numpy as np

A = 6378245.0
EE = 0.00669342162296594323
TOL_DEG = 1e-7
MAX_ITER = 10


def _in_china(lon, lat):
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _delta(lon, lat):
    """Offset (dlon, dlat) in degrees that GCJ-02 adds to a WGS84 point."""
    x, y = lon - 105.0, lat - 35.0
    s = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x)) + s
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x)) + s
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = np.radians(lat)
    magic = 1.0 - EE * np.sin(radlat) ** 2
    dlat = dlat * 180.0 / ((A * (1.0 - EE)) / (magic * np.sqrt(magic)) * np.pi)
    dlon = dlon * 180.0 / (A / np.sqrt(magic) * np.cos(radlat) * np.pi)
    inside = _in_china(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def _out(lon, lat, scalar):
    return (float(lon), float(lat)) if scalar else (lon, lat)


def wgs84_to_gcj02(lon, lat):
    """WGS84 -> GCJ-02. Scalars in, floats out; arrays in, arrays out."""
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    lon, lat = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    dlon, dlat = _delta(lon, lat)
    return _out(lon + dlon, lat + dlat, scalar)


def gcj02_to_wgs84(lon, lat):
    """GCJ-02 -> WGS84 by iterative refinement (round trip < 1e-7 degrees)."""
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    glon, glat = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    inside = _in_china(glon, glat)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(MAX_ITER):
        dlon, dlat = _delta(wlon, wlat)
        elon, elat = wlon + dlon - glon, wlat + dlat - glat
        elon, elat = np.where(inside, elon, 0.0), np.where(inside, elat, 0.0)
        wlon, wlat = wlon - elon, wlat - elat
        if max(np.max(np.abs(elon), initial=0.0), np.max(np.abs(elat), initial=0.0)) < TOL_DEG:
            break
    return _out(wlon, wlat, scalar)
