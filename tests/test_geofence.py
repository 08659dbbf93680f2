"""Electronic fences: signed distance, tolerance, GCJ-02 input, batch = single, districts, errors, permissions.

Fences are drawn in CGCS2000 GK CM120E metres (EPSG:4549) so distances are known by construction; PostGIS
geography (ST_Distance on the spheroid) is the independent reference for the exact values.
"""

import numpy as np
import pytest
from sqlalchemy import text

from geo import crs as crsmod
from geo.settings import get_settings
from tests.conftest import ADMIN, LEADER, PUBLIC

CHECK = "/api/geofence/check"
BATCH = "/api/geofence/check-batch"
E0, N0 = crsmod.transform_xy([120.10], [30.27], crsmod.WGS84, crsmod.CGCS2000_GK120)  # 西湖区, near 黄龙
E0, N0 = float(E0[0]), float(N0[0])


def wgs(de, dn):
    """WGS84 lon/lat of the point (E0 + de, N0 + dn) metres."""
    lon, lat = crsmod.transform_xy([E0 + de], [N0 + dn], crsmod.CGCS2000_GK120, crsmod.WGS84)
    return float(lon[0]), float(lat[0])


def square(cx, cy, half):
    x0, x1, y0, y1 = E0 + cx - half, E0 + cx + half, N0 + cy - half, N0 + cy + half
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def make_site(client, code):
    r = client.post(
        "/api/layers/sites/features",
        headers=ADMIN,
        json={
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": list(wgs(0, 0))},
            "properties": {"code": code, "name": f"围栏测试{code}"},
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def make_fence(client, site_id, geometry, name="围栏"):
    r = client.post(
        "/api/layers/site_fences/features",
        params={"crs": "EPSG:4549"},
        headers=ADMIN,
        json={"type": "Feature", "geometry": geometry, "properties": {"site_id": site_id, "name": name}},
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.fixture()
def fence(client, clean):
    """A site with one fence: the 200 m square centred on (E0, N0)."""
    site = make_site(client, "GF-1")
    return site, make_fence(client, site, square(0, 0, 100), "主围栏")


def check(client, fid, de, dn, accuracy=0.0, headers=ADMIN, **extra):
    lon, lat = wgs(de, dn)
    body = {"layer": "site_fences", "feature_id": fid, "lon": lon, "lat": lat, "accuracy_m": accuracy, **extra}
    return client.post(CHECK, headers=headers, json=body)


def geography_distance(engine, fid, lon, lat):
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT ST_Distance(ST_Boundary(geom)::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography) "
                "* CASE WHEN ST_Contains(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) THEN -1 ELSE 1 END "
                "FROM site_fences WHERE id = :i"
            ),
            {"x": lon, "y": lat, "i": fid},
        ).scalar_one()


def test_inside_outside_boundary(client, engine, fence):
    site, fid = fence
    r = check(client, fid, 70, 10)  # 30 m from the east edge
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["inside"] and b["strictly_inside"]
    assert b["distance_m"] == pytest.approx(-30, abs=0.5)
    assert b["distance_m"] == pytest.approx(geography_distance(engine, fid, *wgs(70, 10)), abs=0.02)
    assert b["fence_id"] == fid and b["site_id"] == site and b["fence_name"] == "主围栏"
    assert b["tolerance_m"] == 10 and b["layer"] == "site_fences"
    assert b["checked_at"].endswith("+00:00")
    assert (b["lon"], b["lat"]) == pytest.approx(wgs(70, 10), abs=1e-6)

    b = check(client, fid, 130, 140).json()  # off the north-east corner: 30 m east, 40 m north
    assert not b["inside"] and not b["strictly_inside"]
    assert b["distance_m"] == pytest.approx(50, abs=0.5)
    assert b["distance_m"] == pytest.approx(geography_distance(engine, fid, *wgs(130, 140)), abs=0.02)

    b = check(client, fid, 100, 20).json()  # on the east edge
    assert abs(b["distance_m"]) < 0.01 and b["inside"]
    b = check(client, fid, 0, -100).json()  # on the south edge, no tolerance at all
    get_settings_base = get_settings().geofence_tolerance_m
    assert abs(b["distance_m"]) < 0.01 and b["tolerance_m"] == get_settings_base and b["inside"]


def test_on_boundary_without_base_tolerance(client, fence, monkeypatch):
    monkeypatch.setattr(get_settings(), "geofence_tolerance_m", 0.0)
    site, fid = fence
    on_edge = check(client, fid, -100, 35).json()
    assert on_edge["tolerance_m"] == 0 and on_edge["inside"] and abs(on_edge["distance_m"]) < 0.01
    outside = check(client, fid, -100.5, 35).json()
    assert not outside["inside"] and outside["distance_m"] == pytest.approx(0.5, abs=0.05)


def test_tolerance_widens_with_accuracy_up_to_cap(client, fence):
    site, fid = fence
    s = get_settings()
    assert (s.geofence_tolerance_m, s.geofence_accuracy_cap_m) == (10, 50)
    b = check(client, fid, 115, 0).json()  # 15 m outside
    assert b["distance_m"] == pytest.approx(15, abs=0.5)
    assert not b["inside"] and b["tolerance_m"] == 10
    b = check(client, fid, 115, 0, accuracy=20).json()  # 10 + 20
    assert b["inside"] and not b["strictly_inside"] and b["tolerance_m"] == 30
    b = check(client, fid, 155, 0, accuracy=200).json()  # 55 m outside: 10 + min(200, 50) = 60
    assert b["inside"] and b["tolerance_m"] == 60
    b = check(client, fid, 165, 0, accuracy=1000).json()  # 65 m: beyond any tolerance
    assert not b["inside"] and b["tolerance_m"] == 60 and b["distance_m"] == pytest.approx(65, abs=0.5)
    assert b["tolerance_rule"] == "tolerance_m = tolerance_base_m + min(accuracy_m, accuracy_cap_m)"


def test_gcj02_input(client, fence):
    site, fid = fence
    lon, lat = wgs(60, -20)
    glon, glat = crsmod.transform_xy([lon], [lat], crsmod.WGS84, crsmod.GCJ02)
    glon, glat = float(glon[0]), float(glat[0])
    plain = check(client, fid, 60, -20).json()
    body = {"layer": "site_fences", "feature_id": fid, "lon": glon, "lat": glat}
    converted = client.post(CHECK, headers=ADMIN, json={**body, "crs": "GCJ-02"}).json()
    assert converted["inside"] and converted["distance_m"] == pytest.approx(plain["distance_m"], abs=1.0)
    assert (converted["lon"], converted["lat"]) == pytest.approx((lon, lat), abs=1e-5)
    # The same numbers taken as WGS84 land hundreds of metres away (the GCJ-02 offset): outside.
    raw = client.post(CHECK, headers=ADMIN, json=body).json()
    assert not raw["inside"] and raw["distance_m"] > 200


def test_site_with_several_fences(client, clean):
    site = make_site(client, "GF-2")
    west = make_fence(client, site, square(-300, 0, 100), "西区")
    east = make_fence(client, site, square(300, 0, 100), "东区")
    other = make_site(client, "GF-3")
    make_fence(client, other, square(0, 0, 50), "别的工地")
    lon, lat = wgs(350, 0)  # inside the east fence, 50 m from its edge
    b = client.post(CHECK, headers=ADMIN, json={"layer": "site_fences", "site_id": site, "lon": lon, "lat": lat}).json()
    assert b["inside"] and b["fence_id"] == east and b["fence_name"] == "东区"
    assert b["distance_m"] == pytest.approx(-50, abs=0.5)
    lon, lat = wgs(-170, 0)  # between them (inside the other site's fence): 30 m from the west fence
    b = client.post(CHECK, headers=ADMIN, json={"layer": "site_fences", "site_id": site, "lon": lon, "lat": lat}).json()
    assert not b["inside"] and b["fence_id"] == west and b["distance_m"] == pytest.approx(30, abs=0.5)


def test_batch_equals_single(client, clean):
    site_a = make_site(client, "GF-4")
    site_b = make_site(client, "GF-5")
    fences = [
        make_fence(client, site_a, square(-150, 0, 120), "A1"),
        make_fence(client, site_a, square(150, 60, 80), "A2"),
        make_fence(client, site_b, square(0, -250, 60), "B1"),
        make_fence(
            client,
            site_b,
            {
                "type": "Polygon",
                "coordinates": [  # a ring with a hole
                    [
                        [E0 + 250, N0 - 400],
                        [E0 + 450, N0 - 400],
                        [E0 + 450, N0 - 200],
                        [E0 + 250, N0 - 200],
                        [E0 + 250, N0 - 400],
                    ],
                    [
                        [E0 + 320, N0 - 330],
                        [E0 + 380, N0 - 330],
                        [E0 + 380, N0 - 270],
                        [E0 + 320, N0 - 270],
                        [E0 + 320, N0 - 330],
                    ],
                ],
            },
            "B2",
        ),
    ]
    centres = [(-150, 0), (150, 60), (0, -250), (350, -300)]
    rng = np.random.default_rng(7)
    checks = []
    for k in range(200):  # around the fence checked (a third of them by site)
        cx, cy = centres[k % 4]
        lon, lat = wgs(*(np.array([cx, cy]) + rng.uniform(-220, 220, 2)))
        target = {"feature_id": fences[k % 4]} if k % 3 else {"site_id": (site_a, site_a, site_b, site_b)[k % 4]}
        checks.append(
            {**target, "lon": lon, "lat": lat, "accuracy_m": float(rng.choice([0, 5, 25, 80])), "ref": f"p{k}"}
        )
    r = client.post(BATCH, headers=ADMIN, json={"layer": "site_fences", "checks": checks})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["count"] == 200 and out["mode"] == "checks"
    results = out["results"]
    assert out["inside_count"] == sum(x["inside"] for x in results)
    assert 20 < out["inside_count"] < 180  # the points fall on both sides
    keys = ("fence_id", "site_id", "fence_name", "inside", "strictly_inside", "distance_m", "tolerance_m")
    for c, got in zip(checks, results):
        single = client.post(
            CHECK, headers=ADMIN, json={"layer": "site_fences", **{k: v for k, v in c.items() if k != "ref"}}
        )
        assert got["ref"] == c["ref"]
        assert {k: got[k] for k in keys} == {k: single.json()[k] for k in keys}
    # Points against every fence of the layer (STRtree): the best fence is the one with the smallest signed
    # distance among checks of the point against each fence (a batch of checks answers as single ones, above),
    # and the point's fence list is exactly the fences that check as inside.
    points = [{"lon": c["lon"], "lat": c["lat"], "accuracy_m": c["accuracy_m"], "ref": c["ref"]} for c in checks]
    loc = client.post(BATCH, headers=ADMIN, json={"layer": "site_fences", "points": points}).json()["results"]
    every = [{"feature_id": f, **p} for p in points for f in fences]
    each = client.post(BATCH, headers=ADMIN, json={"layer": "site_fences", "checks": every}).json()["results"]
    assert any(len(got["fences"]) > 1 for got in loc) and any(not got["fences"] for got in loc)
    for k, (p, got) in enumerate(zip(points, loc)):
        mine = sorted(each[4 * k : 4 * k + 4], key=lambda e: (e["distance_m"], e["fence_id"]))
        assert got["ref"] == p["ref"]
        assert {x: got[x] for x in keys} == {x: mine[0][x] for x in keys}
        assert got["fences"] == [e["fence_id"] for e in mine if e["inside"]]
    # The hole is outside: its centre is 30 m from the hole's edge.
    lon, lat = wgs(350, -300)
    b = client.post(
        CHECK, headers=ADMIN, json={"layer": "site_fences", "feature_id": fences[3], "lon": lon, "lat": lat}
    ).json()
    assert b["distance_m"] == pytest.approx(30, abs=0.5) and not b["inside"]


def test_locate_sees_new_and_deleted_fences(client, fence):
    site, fid = fence
    lon, lat = wgs(500, 0)
    body = {"layer": "site_fences", "points": [{"lon": lon, "lat": lat}]}
    first = client.post(BATCH, headers=ADMIN, json=body).json()["results"][0]
    assert first["fence_id"] == fid and not first["inside"] and first["distance_m"] == pytest.approx(400, abs=0.5)
    near = make_fence(client, site, square(500, 0, 40), "新围栏")
    second = client.post(BATCH, headers=ADMIN, json=body).json()["results"][0]
    assert second["fence_id"] == near and second["inside"] and second["fences"] == [near]
    assert (
        client.delete(f"/api/layers/site_fences/features/{near}", params={"version": 1}, headers=ADMIN).status_code
        == 204
    )
    third = client.post(BATCH, headers=ADMIN, json=body).json()["results"][0]
    assert third["fence_id"] == fid and third["fences"] == []
    assert check(client, near, 500, 0).status_code == 404  # deleted: gone for single checks too


def test_districts_as_fence_layer(client, engine):
    with engine.connect() as conn:
        ids = dict(conn.execute(text("SELECT name, id FROM districts WHERE name IN ('西湖区', '滨江区')")).all())
    body = {"layer": "districts", "lon": 120.10, "lat": 30.25}
    xihu = client.post(CHECK, json={**body, "feature_id": ids["西湖区"]})  # anonymous: districts are public
    assert xihu.status_code == 200, xihu.text
    assert xihu.json()["inside"] and xihu.json()["distance_m"] < 0 and xihu.json()["fence_name"] == "西湖区"
    binjiang = client.post(CHECK, json={**body, "feature_id": ids["滨江区"]}).json()
    assert not binjiang["inside"] and binjiang["distance_m"] > 1000
    with engine.connect() as conn:
        ref = conn.execute(
            text(
                "SELECT ST_Distance(ST_Boundary(geom)::geography, ST_SetSRID(ST_MakePoint(120.10, 30.25), 4326)::geography) "
                "FROM districts WHERE id = :i"
            ),
            {"i": ids["滨江区"]},
        ).scalar_one()
    assert binjiang["distance_m"] == pytest.approx(ref, rel=1e-4)
    # Far from the projection's central meridian (120°E) the scale factor matters: 淳安 at 119°E, ~20 km
    # from its boundary, is 2.3 m off uncorrected; corrected it agrees with the spheroid to 1/20,000.
    with engine.connect() as conn:
        chunan, ref = conn.execute(
            text(
                "SELECT id, ST_Distance(ST_Boundary(geom)::geography, ST_SetSRID(ST_MakePoint(119.0, 29.6), 4326)::geography) "
                "FROM districts WHERE name = '淳安县'"
            )
        ).one()
    b = client.post(CHECK, json={"layer": "districts", "feature_id": chunan, "lon": 119.0, "lat": 29.6}).json()
    assert b["inside"] and b["distance_m"] == pytest.approx(-ref, rel=5e-5)
    located = client.post(
        BATCH, json={"layer": "districts", "points": [{"lon": 120.10, "lat": 30.25}, {"lon": 120.20, "lat": 30.20}]}
    ).json()
    assert [r["fence_name"] for r in located["results"]] == ["西湖区", "滨江区"]
    assert "site_id" not in located["results"][0]


def test_errors(client, fence, engine):
    site, fid = fence
    lon, lat = wgs(0, 0)
    base = {"layer": "site_fences", "feature_id": fid, "lon": lon, "lat": lat}

    def post(**changes):
        return client.post(CHECK, headers=ADMIN, json={k: v for k, v in {**base, **changes}.items() if v is not None})

    r = post(layer="sites")
    assert r.status_code == 422 and r.json()["code"] == "not_a_fence_layer" and r.json()["field"] == "layer"
    assert "site_fences" in r.json()["detail"]["fence_layers"]
    r = post(layer="nope")
    assert r.status_code == 404 and r.json()["code"] == "layer_not_found"
    r = post(feature_id=fid + 1000)
    assert r.status_code == 404 and r.json()["code"] == "fence_not_found" and r.json()["message"]
    assert r.json()["detail"]["missing_feature_ids"] == [fid + 1000]
    r = post(feature_id=None, site_id=site + 1000)
    assert r.status_code == 404 and r.json()["field"] == "site_id"
    r = post(lon=lat, lat=lon)  # swapped
    assert r.status_code == 422 and r.json()["code"] == "coordinates_out_of_range"
    assert r.json()["detail"]["swapped_hint"] is True and "填反" in r.json()["message"]
    r = post(lon=121.9, lat=29.9)  # Ningbo
    assert r.status_code == 422 and r.json()["code"] == "outside_hangzhou"
    r = post(accuracy_m=-1)
    assert r.status_code == 422 and r.json()["code"] == "invalid_accuracy" and r.json()["field"] == "accuracy_m"
    r = post(feature_id=None)
    assert r.status_code == 422 and r.json()["code"] == "fence_missing"
    r = post(site_id=site)
    assert r.status_code == 422 and r.json()["code"] == "fence_ambiguous"
    r = client.post(CHECK, json={"layer": "districts", "site_id": 1, "lon": lon, "lat": lat})
    assert r.status_code == 422 and r.json()["code"] == "site_id_not_supported"
    r = post(crs="EPSG:3857")
    assert r.status_code == 422 and r.json()["code"] == "crs_unsupported"
    r = post(lon="东经120度")
    assert r.status_code == 422 and r.json()["code"] == "request_invalid" and r.json()["field"] == "lon"

    # In a batch the error names the item; nothing is answered for the rest.
    good = {"feature_id": fid, "lon": lon, "lat": lat}
    checks = [good, good, {**good, "lon": lat, "lat": lon}, {**good, "accuracy_m": -5}]
    r = client.post(BATCH, headers=ADMIN, json={"layer": "site_fences", "checks": checks})
    assert r.status_code == 422 and r.json()["field"] == "checks[2].lon,lat"
    assert r.json()["message"].startswith("第 3 项：") and r.json()["detail"]["error_count"] == 2
    assert [e["index"] for e in r.json()["detail"]["errors"]] == [2, 3]
    r = client.post(BATCH, headers=ADMIN, json={"layer": "site_fences", "checks": [good, {**good, "feature_id": "x"}]})
    assert r.status_code == 422 and r.json()["field"] == "checks[1].feature_id"
    r = client.post(BATCH, headers=ADMIN, json={"layer": "site_fences", "checks": [good], "points": []})
    assert r.status_code == 422
    r = client.post(BATCH, headers=ADMIN, json={"layer": "sites", "points": [good]})
    assert r.status_code == 422 and r.json()["code"] == "not_a_fence_layer"


def test_batch_limit(client, fence, monkeypatch):
    site, fid = fence
    lon, lat = wgs(0, 0)
    monkeypatch.setattr(get_settings(), "geofence_max_batch", 3)
    pts = [{"lon": lon, "lat": lat}] * 4
    r = client.post(BATCH, headers=ADMIN, json={"layer": "site_fences", "points": pts})
    assert r.status_code == 413 and r.json()["code"] == "batch_too_large" and r.json()["detail"]["max"] == 3
    assert client.post(BATCH, headers=ADMIN, json={"layer": "site_fences", "points": pts[:3]}).status_code == 200
    empty = client.post(BATCH, headers=ADMIN, json={"layer": "site_fences", "checks": []})
    assert empty.status_code == 200 and empty.json()["count"] == 0 and empty.json()["results"] == []


def test_permissions(client, fence):
    site, fid = fence
    r = check(client, fid, 0, 0, headers=PUBLIC)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = check(client, fid, 0, 0, headers={})
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    lon, lat = wgs(0, 0)
    r = client.post(BATCH, json={"layer": "site_fences", "points": [{"lon": lon, "lat": lat}]}, headers=PUBLIC)
    assert r.status_code == 403
    assert check(client, fid, 0, 0, headers=LEADER).status_code == 200  # leaders view every layer
