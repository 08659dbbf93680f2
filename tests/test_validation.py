"""Every validation rule: a 422 naming the problem, in the error shape, and nothing stored."""

import numpy as np
import pytest
import shapely
from pyproj import Geod
from sqlalchemy import text

from geo import crs as crsmod
from geo.validate import check_many
from tests.conftest import ADMIN

WEST_LAKE = [120.1445, 30.2450]
BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[120.10, 30.10], [120.20, 30.20], [120.20, 30.10], [120.10, 30.20], [120.10, 30.10]]],
}


def fence(geometry, **props):
    return {"type": "Feature", "geometry": geometry, "properties": {"site_id": props.pop("site_id"), **props}}


@pytest.fixture()
def site_id(client, clean):
    r = client.post(
        "/api/layers/sites/features",
        headers=ADMIN,
        json={
            "geometry": {"type": "Point", "coordinates": [120.15, 30.15]},
            "properties": {"code": "V-1", "name": "验证工地"},
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def stored(engine, table):
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()


def post_point(client, coords, crs=None, layer="greenways", geom_type="Point", **props):
    params = {"crs": crs} if crs else {}
    return client.post(
        f"/api/layers/{layer}/features",
        params=params,
        headers=ADMIN,
        json={
            "type": "Feature",
            "geometry": {"type": geom_type, "coordinates": coords},
            "properties": {"code": "C1", "name": "测试", **props},
        },
    )


def assert_error(r, status, code, field=None):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"code", "message", "field", "detail"}
    assert body["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"]), body["message"]
    if field is not None:
        assert body["field"] == field
    return body


CASES = [
    # (name, layer, geometry, crs, status, code)
    (
        "wrong type",
        "sewage_plants",
        {"type": "LineString", "coordinates": [[120.1, 30.2], [120.2, 30.3]]},
        None,
        422,
        "geometry_type_mismatch",
    ),
    ("empty", "sewage_plants", {"type": "Point", "coordinates": []}, None, 422, "geometry_empty"),
    (
        "out of range",
        "sewage_plants",
        {"type": "Point", "coordinates": [190.0, 30.0]},
        None,
        422,
        "coordinates_out_of_range",
    ),
    ("beijing", "sewage_plants", {"type": "Point", "coordinates": [116.40, 39.90]}, None, 422, "outside_hangzhou"),
    ("malformed", "sewage_plants", {"type": "Point", "coordinates": "120,30"}, None, 422, "geometry_malformed"),
    ("no type", "sewage_plants", {"coordinates": [120.1, 30.2]}, None, 422, "geometry_malformed"),
    (
        "unknown crs",
        "sewage_plants",
        {"type": "Point", "coordinates": [120.1, 30.2]},
        "EPSG:3857",
        422,
        "crs_unsupported",
    ),
    ("missing", "sewage_plants", None, None, 422, "geometry_malformed"),
]


@pytest.mark.parametrize("name,layer,geometry,crs,status,code", CASES, ids=[c[0] for c in CASES])
def test_geometry_rules(client, engine, clean, name, layer, geometry, crs, status, code):
    params = {"crs": crs} if crs else {}
    r = client.post(
        f"/api/layers/{layer}/features",
        params=params,
        headers=ADMIN,
        json={
            "type": "Feature",
            "geometry": geometry,
            "properties": {"code": "P1", "name": "测试厂", "kind": "城镇污水处理厂"},
        },
    )
    assert_error(r, status, code)
    assert stored(engine, layer) == 0


def test_swapped_coordinates_hint(client, engine, clean):
    body = assert_error(
        post_point(client, [30.25, 120.15], layer="sewage_plants", kind="城镇污水处理厂"),
        422,
        "coordinates_out_of_range",
    )
    assert "填反" in body["message"] and body["detail"]["swapped_hint"] is True
    # Swapped in a projected sense too: a latitude-first pair that still lies in range.
    body = assert_error(
        post_point(client, [30.25, 80.15], layer="sewage_plants", kind="城镇污水处理厂"), 422, "outside_hangzhou"
    )
    assert body["detail"]["swapped_hint"] is False
    assert stored(engine, "sewage_plants") == 0


def test_invalid_polygon_reason_and_repair(client, engine, site_id):
    body = assert_error(
        client.post("/api/layers/site_fences/features", headers=ADMIN, json=fence(BOWTIE, site_id=site_id)),
        422,
        "geometry_invalid",
    )
    assert "Self-intersection" in body["detail"]["reason"]
    with engine.connect() as conn:  # the same reason PostGIS gives
        pg = conn.execute(
            text("SELECT ST_IsValidReason(ST_GeomFromGeoJSON(:g))"), {"g": __import__("json").dumps(BOWTIE)}
        ).scalar()
    assert pg.split("[")[0] == body["detail"]["reason"].split("[")[0]
    assert stored(engine, "site_fences") == 0

    r = client.post(
        "/api/layers/site_fences/features",
        params={"repair": "true"},
        headers=ADMIN,
        json=fence(BOWTIE, site_id=site_id),
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["geometry"]["type"] == "MultiPolygon" and len(out["geometry"]["coordinates"]) == 2
    assert out["repair"]["reason"].startswith("Self-intersection") and out["repair"]["parts_after"] == 2
    with engine.connect() as conn:
        assert conn.execute(text("SELECT bool_and(ST_IsValid(geom)) FROM site_fences")).scalar() is True


def test_polygon_promoted_to_multipolygon(client, site_id):
    square = {
        "type": "Polygon",
        "coordinates": [[[120.15, 30.15], [120.152, 30.15], [120.152, 30.152], [120.15, 30.152], [120.15, 30.15]]],
    }
    r = client.post("/api/layers/site_fences/features", headers=ADMIN, json=fence(square, site_id=site_id))
    assert r.status_code == 201
    f = r.json()
    assert f["geometry"]["type"] == "MultiPolygon"
    assert 40_000 < f["properties"]["area_m2"] < 50_000  # ~ 193 m x 222 m


def test_attribute_rules(client, engine, clean):
    pt = {"type": "Point", "coordinates": WEST_LAKE}
    cases = [
        ({"name": "无编号"}, "required", "code"),
        ({"code": "X", "name": "厂", "kind": "不存在的类型"}, "invalid_choice", "kind"),
        ({"code": "X", "name": "厂", "kind": "城镇污水处理厂", "capacity_t_d": "很多"}, "invalid_type", "capacity_t_d"),
        ({"code": "X", "name": "厂", "kind": "城镇污水处理厂", "capacity_t_d": -5}, "out_of_range", "capacity_t_d"),
        (
            {"code": "X", "name": "厂", "kind": "城镇污水处理厂", "commissioned_on": "2026-13-45"},
            "invalid_type",
            "commissioned_on",
        ),
        ({"code": "X", "name": "厂", "kind": "城镇污水处理厂", "colour": "red"}, "unknown_field", "colour"),
        ({"code": "X" * 41, "name": "厂", "kind": "城镇污水处理厂"}, "too_long", "code"),
    ]
    for props, code, field in cases:
        r = client.post(
            "/api/layers/sewage_plants/features",
            headers=ADMIN,
            json={"type": "Feature", "geometry": pt, "properties": props},
        )
        assert_error(r, 422, code, field)
    assert stored(engine, "sewage_plants") == 0


def test_errors_echo_only_a_short_prefix_of_a_long_value(client, engine, clean):
    """A 100 kB value refused as too long (or as a bad phone number) is not sent back whole."""
    big = "X" * 100_000
    pt = {"type": "Point", "coordinates": WEST_LAKE}
    r = client.post(
        "/api/layers/sites/features",
        headers=ADMIN,
        json={"type": "Feature", "geometry": pt, "properties": {"code": big, "name": "工地"}},
    )
    assert_error(r, 422, "too_long", "code")
    assert len(r.content) < 1000
    assert r.json()["detail"]["value"] == "X" * 50 + "…"
    r = client.get("/api/layers/sites/features", params={"code": "Y" * 3000}, headers=ADMIN)
    assert_error(r, 422, "too_long", "code")
    assert len(r.content) < 1000
    r = client.post(
        "/api/admin/users",
        headers=ADMIN,
        json={"username": "echo-test", "display_name": "回显", "roles": ["leader"], "phone": big},
    )
    assert_error(r, 422, "invalid_phone", "phone")
    assert len(r.content) < 1000
    assert "X" * 50 + "…" in r.json()["message"]
    assert stored(engine, "sites") == 0


def test_malformed_bodies(client, engine, clean):
    r = client.post(
        "/api/layers/greenways/features", headers={**ADMIN, "content-type": "application/json"}, content=b"{not json"
    )
    assert_error(r, 422, "request_invalid")
    r = client.post("/api/layers/greenways/features", headers=ADMIN, json=[1, 2])
    assert_error(r, 422, "feature_malformed")
    r = client.post("/api/layers/greenways/features", headers=ADMIN, json={"type": "FeatureCollection", "features": []})
    assert_error(r, 422, "feature_malformed")
    assert stored(engine, "greenways") == 0


def test_oversized_geometry_and_payload(client, engine, clean, monkeypatch):
    from geo.settings import get_settings

    monkeypatch.setattr(get_settings(), "max_vertices", 1000)
    line = [[120.0 + i * 1e-5, 30.0] for i in range(1500)]
    r = client.post(
        "/api/layers/greenways/features",
        headers=ADMIN,
        json={"geometry": {"type": "LineString", "coordinates": line}, "properties": {"code": "L", "name": "长"}},
    )
    assert_error(r, 422, "geometry_too_large")
    assert stored(engine, "greenways") == 0


def test_body_limit_refuses_large_uploads():
    """The ASGI guard answers 413 in the error shape before the body is read."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from api.limits import BodyLimit

    inner = FastAPI()

    @inner.post("/echo")
    async def echo(payload: dict):
        return {"n": len(payload)}

    inner.add_middleware(BodyLimit, max_bytes=1024)
    with TestClient(inner) as c:
        assert c.post("/echo", json={"a": "x" * 100}).status_code == 200
        r = c.post("/echo", json={"a": "x" * 5000})
        assert r.status_code == 413
        assert r.json()["code"] == "payload_too_large"

        def chunks():  # no Content-Length: counted while streaming
            for _ in range(10):
                yield b"x" * 500

        r = c.post("/echo", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413


def test_crs_inputs_convert_to_wgs84(client, clean):
    geod = Geod(ellps="WGS84")
    # GCJ-02 from a phone: stored ~ a few hundred metres away, at the WGS84 position.
    wgs = np.array([120.1445, 30.2450])
    gx, gy = crsmod.transform_xy([wgs[0]], [wgs[1]], crsmod.WGS84, crsmod.GCJ02)
    r = post_point(client, [float(gx[0]), float(gy[0])], crs="GCJ02", layer="sewage_plants", kind="城镇污水处理厂")
    assert r.status_code == 201, r.text
    lon, lat = r.json()["geometry"]["coordinates"]
    assert geod.inv(lon, lat, *wgs)[2] < 1.0
    # CGCS2000 Gauss-Krüger CM 120E, easting first (metres).
    ex, ny = crsmod.transform_xy([120.1445], [30.2450], crsmod.WGS84, crsmod.CGCS2000_GK120)
    r = client.post(
        "/api/layers/sewage_plants/features",
        params={"crs": "EPSG:4549"},
        headers=ADMIN,
        json={
            "geometry": {"type": "Point", "coordinates": [float(ex[0]), float(ny[0])]},
            "properties": {"code": "C2", "name": "平面坐标", "kind": "城镇污水处理厂"},
        },
    )
    assert r.status_code == 201, r.text
    lon, lat = r.json()["geometry"]["coordinates"]
    assert geod.inv(lon, lat, *wgs)[2] < 0.01
    assert 400_000 < ex[0] < 600_000 and 3_300_000 < ny[0] < 3_400_000
    # CGCS2000 geographic: centimetres from WGS84.
    r = post_point(
        client, [120.1445, 30.2450], crs="EPSG:4490", layer="sewage_plants", kind="城镇污水处理厂", code="C3"
    )
    assert r.status_code == 201
    lon, lat = r.json()["geometry"]["coordinates"]
    assert geod.inv(lon, lat, *wgs)[2] < 1.0


def test_check_many_is_row_by_row():
    geoms = np.array(
        [shapely.Point(120.1, 30.2), shapely.Point(116.4, 39.9), None, shapely.Point(120.2, 30.3)], dtype=object
    )
    res = check_many(geoms, "Point")
    assert [e.code if e else None for e in res.errors] == [None, "outside_hangzhou", "geometry_missing", None]
    assert list(res.ok) == [True, False, False, True]
