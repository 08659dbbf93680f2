"""Tests for geo.gcj02 (pure Python, no database)."""

import numpy as np
import pytest
from pyproj import Geod

from geo.gcj02 import gcj02_to_wgs84, wgs84_to_gcj02

GEOD = Geod(ellps="WGS84")


def metres(lon1, lat1, lon2, lat2):
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


@pytest.fixture(scope="module")
def hangzhou_points():
    rng = np.random.default_rng(20240601)
    lon = rng.uniform(118.3, 120.8, 10_000)
    lat = rng.uniform(29.2, 30.6, 10_000)
    return lon, lat


def test_round_trip_under_one_metre(hangzhou_points):
    lon, lat = hangzhou_points
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert np.max(metres(lon, lat, back_lon, back_lat)) < 1.0


def test_inverse_then_forward_returns_input(hangzhou_points):
    lon, lat = hangzhou_points
    again_lon, again_lat = wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat))
    assert np.max(np.abs(again_lon - lon)) < 1e-7
    assert np.max(np.abs(again_lat - lat)) < 1e-7


def test_offset_in_hangzhou_is_a_few_hundred_metres(hangzhou_points):
    lon, lat = hangzhou_points
    glon, glat = wgs84_to_gcj02(lon, lat)
    offset = metres(lon, lat, glon, glat)
    assert np.all(offset > 100.0)
    assert np.all(offset < 700.0)


def test_published_reference_values():
    # Values used by widely used implementations (e.g. the gcoord test suite).
    assert wgs84_to_gcj02(123.0, 45.0) == pytest.approx((123.00607541, 45.00197815), abs=1e-6)
    assert gcj02_to_wgs84(123.0, 45.0) == pytest.approx((122.99395597, 44.99804071), abs=1e-6)


def test_scalars_return_floats():
    lon, lat = wgs84_to_gcj02(120.155, 30.274)
    assert type(lon) is float and type(lat) is float
    back = gcj02_to_wgs84(lon, lat)
    assert all(type(v) is float for v in back)
    assert metres(120.155, 30.274, *back) < 1.0


def test_arrays_return_arrays_matching_scalars():
    lon = np.array([120.155, 119.95, 118.9])
    lat = np.array([30.274, 30.05, 29.6])
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert isinstance(glon, np.ndarray) and glon.shape == lon.shape
    for i in range(3):
        assert wgs84_to_gcj02(lon[i], lat[i]) == pytest.approx((glon[i], glat[i]), abs=1e-12)
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    assert isinstance(wlon, np.ndarray) and wlat.shape == lat.shape


def test_points_outside_china_unchanged():
    lon = np.array([-0.1276, 139.6917, 2.3522, 150.0, 100.0])
    lat = np.array([51.5072, 35.6895, 48.8566, -33.9, 60.0])
    for fn in (wgs84_to_gcj02, gcj02_to_wgs84):
        out_lon, out_lat = fn(lon, lat)
        np.testing.assert_array_equal(out_lon, lon)
        np.testing.assert_array_equal(out_lat, lat)
        assert fn(-74.006, 40.7128) == (-74.006, 40.7128)


def test_mixed_inside_and_outside():
    lon = np.array([120.155, -74.006])
    lat = np.array([30.274, 40.7128])
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert glon[0] != lon[0] and glon[1] == lon[1] and glat[1] == lat[1]
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    assert metres(lon[0], lat[0], wlon[0], wlat[0]) < 1.0
    assert wlon[1] == lon[1] and wlat[1] == lat[1]
