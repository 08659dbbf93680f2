"""Data scope: a district clerk, a construction unit and an expert each see and change only their records —
in lists, single reads, tiles, exports, statistics, search, OGC API and writes — and the route table is walked so
that no record-returning endpoint leaks another district's farmhouse."""

from __future__ import annotations

import io
import json
import math
import re
from datetime import UTC, datetime, timedelta

import mapbox_vector_tile
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import text
from starlette.routing import Route

from tests.conftest import ADMIN, make_user

FH = "/api/layers/farmhouses/features"
SECRET = "FH-YUHANG-SECRET"  # the code of the farmhouse only 余杭区 may see
OWN = "FH-XIHU-OWN"


def point_in(engine, district: str, dx: float = 0.0) -> tuple[float, float]:
    with engine.connect() as conn:
        x, y = conn.execute(
            text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts WHERE name = :n) s"),
            {"n": district},
        ).one()
    return x + dx, y


def farmhouse(code: str, lon: float, lat: float, **props) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {"code": code, "owner_name": "测试户主", **props},
    }


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


@pytest.fixture(scope="module")
def world(engine, app):
    from fastapi.testclient import TestClient

    with engine.begin() as conn:
        conn.execute(
            text(
                "TRUNCATE greenways, sewage_plants, farmhouse_footprints, farmhouses, review_projects, "
                "site_fences, sites RESTART IDENTITY CASCADE"
            )
        )
    with TestClient(app) as c:
        yh, xh = point_in(engine, "余杭区"), point_in(engine, "西湖区")
        secret = c.post(FH, headers=ADMIN, json=farmhouse(SECRET, *yh)).json()
        own = c.post(FH, headers=ADMIN, json=farmhouse(OWN, *xh)).json()
        sites = []
        for code, where in (("SITE-A", xh), ("SITE-B", yh)):
            s = c.post(
                "/api/layers/sites/features",
                headers=ADMIN,
                json={
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": list(where)},
                    "properties": {"code": code, "name": f"工地{code}"},
                },
            ).json()
            sites.append(s)
            lon, lat = where
            ring = [
                [lon - 0.001, lat - 0.001],
                [lon + 0.001, lat - 0.001],
                [lon + 0.001, lat + 0.001],
                [lon - 0.001, lat + 0.001],
                [lon - 0.001, lat - 0.001],
            ]
            r = c.post(
                "/api/layers/site_fences/features",
                headers=ADMIN,
                json={
                    "type": "Feature",
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                    "properties": {"site_id": s["id"], "name": f"{code}围栏"},
                },
            )
            assert r.status_code == 201, r.text
    now = datetime.now(UTC)
    return {
        "secret": secret,
        "own": own,
        "yh": yh,
        "xh": xh,
        "site_a": sites[0],
        "site_b": sites[1],
        "clerk": make_user("clerk-xihu", ["district_staff"], district="西湖区"),
        "clerk_yh": make_user("clerk-yuhang", ["district_staff"], district="余杭区"),
        "unit": make_user("unit-a", ["construction_unit"], grants={"sites": [sites[0]["id"]]}),
        "leader": make_user("leader-scope", ["leader"]),
        "expert_now": _expert(engine, "expert-now", sites[0]["id"], now - timedelta(hours=1), now + timedelta(hours=1)),
        "expert_past": _expert(engine, "expert-past", sites[0]["id"], now - timedelta(days=3), now - timedelta(days=2)),
    }


def _expert(engine, name: str, site_id: int, start, end) -> dict:
    from api.accounts import users
    from geo.db import transaction

    headers = make_user(name, ["expert"])
    with transaction() as conn:
        uid = conn.execute(text("SELECT id FROM users WHERE username = :u"), {"u": name}).scalar()
        users.grant(conn, uid, "sites", site_id, "expert", start, end, actor="test")
    return headers


def codes(resp) -> set[str]:
    return {f["properties"]["code"] for f in resp.json()["features"]}


def test_district_clerk_reads_only_own_district(client, world):
    clerk = world["clerk"]
    assert codes(client.get(FH, headers=clerk)) == {OWN}
    assert codes(client.get(FH, headers=world["clerk_yh"])) == {SECRET}
    assert codes(client.get(FH, headers=world["leader"])) == {OWN, SECRET}
    r = client.get(f"{FH}/{world['secret']['id']}", headers=clerk)
    assert r.status_code == 404
    assert client.get(f"{FH}/{world['own']['id']}", headers=clerk).status_code == 200
    counts = client.get("/api/counts", headers=clerk).json()
    assert json.dumps(counts).count("farmhouses") >= 1
    found = client.get("/api/search", params={"q": "FH-"}, headers=clerk).json()["results"]
    assert {h.get("label") or h.get("name") for h in found} <= {OWN} and found
    items = client.get("/ogc/collections/farmhouses/items", headers=clerk).json()
    assert {f["properties"]["code"] for f in items["features"]} == {OWN}
    assert client.get(f"/ogc/collections/farmhouses/items/{world['secret']['id']}", headers=clerk).status_code == 404


def test_district_clerk_exports_only_own_district(client, world):
    r = client.get("/api/layers/farmhouses/export", params={"format": "geojson"}, headers=world["clerk"])
    assert r.status_code == 200
    assert {f["properties"]["code"] for f in json.loads(r.content)["features"]} == {OWN}


def test_district_clerk_cannot_change_other_district(client, world, engine):
    clerk, secret = world["clerk"], world["secret"]
    r = client.patch(
        f"{FH}/{secret['id']}",
        headers={**clerk, "If-Match": f'"{secret["id"]}-1"'},
        json={"properties": {"owner_name": "改名"}},
    )
    assert r.status_code == 404
    r = client.delete(f"{FH}/{secret['id']}", headers={**clerk, "If-Match": f'"{secret["id"]}-1"'})
    assert r.status_code == 404
    # Creating a record in another district: refused by the database, nothing stored.
    before = _count(engine, "farmhouses")
    r = client.post(FH, headers=clerk, json=farmhouse("FH-INTRUDER", *world["yh"]))
    assert r.status_code == 403 and r.json()["code"] == "out_of_scope", r.text
    assert "本辖区" in r.json()["message"]
    # Moving an own record into another district is refused too.
    own = world["own"]
    r = client.patch(
        f"{FH}/{own['id']}",
        headers={**clerk, "If-Match": f'"{own["id"]}-{own["meta"]["version"]}"'},
        json={"geometry": {"type": "Point", "coordinates": list(world["yh"])}},
    )
    assert r.status_code == 403 and r.json()["code"] == "out_of_scope"
    r = client.post(FH, headers=clerk, json=farmhouse("FH-XIHU-2", *point_in(engine, "西湖区", 0.001)))
    assert r.status_code == 201, r.text
    assert _count(engine, "farmhouses") == before + 1
    client.delete(f"{FH}/{r.json()['id']}", headers={**ADMIN, "If-Match": f'"{r.json()["id"]}-1"'})


def test_district_clerk_import_outside_district_changes_nothing(client, world, engine):
    lon, lat = world["yh"]
    data = json.dumps({"type": "FeatureCollection", "features": [farmhouse("FH-IMP-1", lon, lat)]}).encode()
    before = _count(engine, "farmhouses")
    r = client.post(
        "/api/layers/farmhouses/import",
        params={"mode": "commit"},
        headers=world["clerk"],
        files={"file": ("x.geojson", io.BytesIO(data), "application/geo+json")},
    )
    assert r.status_code == 403 and r.json()["code"] == "out_of_scope"
    assert _count(engine, "farmhouses") == before


def _count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table} WHERE deleted_at IS NULL")).scalar()


def _tile_features(client, headers, layer: str, lon: float, lat: float, z: int) -> list[dict]:
    z, x, y = tile_of(lon, lat, z)
    r = client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt", headers=headers)
    assert r.status_code == 200, r.text
    decoded = mapbox_vector_tile.decode(r.content)
    return decoded.get(layer, {}).get("features", [])


def test_tiles_follow_the_scope(client, world):
    lon, lat = world["yh"]
    assert [f["properties"]["code"] for f in _tile_features(client, world["leader"], "farmhouses", lon, lat, 16)] == [
        SECRET
    ]
    assert _tile_features(client, world["clerk"], "farmhouses", lon, lat, 16) == []
    assert [f["properties"]["code"] for f in _tile_features(client, world["clerk_yh"], "farmhouses", lon, lat, 16)] == [
        SECRET
    ]
    # Low zoom: aggregated counts only of what the principal may see (one tile covers all of Hangzhou).
    for who, expected in (("leader", 2), ("clerk", 1), ("clerk_yh", 1)):
        feats = _tile_features(client, world[who], "farmhouses", 120.0, 30.2, 6)
        assert sum(f["properties"]["count"] for f in feats) == expected, who


def test_construction_unit_sees_only_bound_project(client, world):
    unit, a, b = world["unit"], world["site_a"], world["site_b"]
    sites = client.get("/api/layers/sites/features", headers=unit).json()["features"]
    assert [s["properties"]["code"] for s in sites] == ["SITE-A"]
    assert client.get(f"/api/layers/sites/features/{b['id']}", headers=unit).status_code == 404
    fences = client.get("/api/layers/site_fences/features", headers=unit).json()["features"]
    assert [f["properties"]["site_id"] for f in fences] == [a["id"]]
    lon, lat = world["yh"]
    assert _tile_features(client, unit, "sites", lon, lat, 16) == []
    assert client.get(FH, headers=unit).status_code == 403  # no farmhouse permission at all
    # The unit maintains its own project (ST-02) but not another's.
    r = client.patch(
        f"/api/layers/sites/features/{a['id']}",
        headers={**unit, "If-Match": f'"{a["id"]}-{a["meta"]["version"]}"'},
        json={"properties": {"address": "西湖区某路 1 号"}},
    )
    assert r.status_code == 200, r.text
    world["site_a"] = r.json()
    r = client.patch(
        f"/api/layers/sites/features/{b['id']}",
        headers={**unit, "If-Match": f'"{b["id"]}-1"'},
        json={"properties": {"address": "x"}},
    )
    assert r.status_code == 404


def test_expert_sees_assigned_site_only_inside_the_window(client, world):
    now_sites = client.get("/api/layers/sites/features", headers=world["expert_now"]).json()["features"]
    assert [s["properties"]["code"] for s in now_sites] == ["SITE-A"]
    assert client.get("/api/layers/sites/features", headers=world["expert_past"]).json()["features"] == []


def test_geofence_check_respects_scope(client, world):
    lon, lat = world["yh"]
    body = {"layer": "site_fences", "site_id": world["site_b"]["id"], "lon": lon, "lat": lat}
    assert client.post("/api/geofence/check", json=body, headers=world["leader"]).json()["inside"] is True
    r = client.post("/api/geofence/check", json=body, headers=world["unit"])
    assert r.status_code in (404, 422), r.text  # the unit cannot check against another project's fence


def test_operation_log_is_append_only_for_the_app_role():
    from sqlalchemy.exc import ProgrammingError

    from geo.db import transaction

    for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(ProgrammingError, match="permission denied"):
            with transaction() as conn:
                conn.execute(text(sql))
    with transaction() as conn:
        conn.execute(text("INSERT INTO audit_log (actor, action) VALUES ('test', 'probe')"))


def test_a_connection_that_states_no_scope_sees_nothing(world):
    from geo.db import get_engine

    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM farmhouses")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM districts")).scalar() == 13  # reference data is public


def test_policies_match_the_registry(engine):
    """Every layer with a district or a granted record is under row-level security; reference layers are not."""
    from geo.layer.registry import registry

    with engine.connect() as conn:
        rls = dict(conn.execute(text("SELECT relname, relrowsecurity FROM pg_class WHERE relkind = 'r'")).all())
        reads = dict(
            conn.execute(text("SELECT tablename, qual FROM pg_policies WHERE policyname = 'scope_read'")).all()
        )
    for layer in registry.all():
        reference = layer.id in ("districts", "townships")
        assert rls[layer.table] is (not reference), layer.id
        if not reference:
            assert (reads[layer.table] == "true") is (layer.view is None), layer.id


# -- the route walk ---------------------------------------------------------------------------------------------

SKIP = {"/api/auth/sso/login", "/api/auth/sso/callback", "/api/auth/logout"}


def _fill(path: str, world) -> str | None:
    lon, lat = world["yh"]
    z, x, y = tile_of(lon, lat, 16)
    values = {
        "layer_id": "farmhouses",
        "layer_ids": "farmhouses",
        "collection_id": "farmhouses",
        "fid": str(world["secret"]["id"]),
        "feature_id": str(world["secret"]["id"]),
        "kind": "farmhouses",  # the record pages
        "key": str(world["secret"]["id"]),
        "z": str(z),
        "x": str(x),
        "y": str(y),
    }
    out = path
    for name in re.findall(r"{(\w+)(?::\w+)?}", path):
        if name not in values:
            return None
        out = re.sub(r"{" + name + r"(:\w+)?}", values[name], out)
    return out


def all_routes(routes, prefix: str = ""):
    """(path, methods) of every route, also inside included routers (FastAPI keeps those lazily)."""
    for route in routes:
        if isinstance(route, (APIRoute, Route)):
            yield prefix + route.path, route.methods or set()
        elif hasattr(route, "original_router"):
            yield from all_routes(route.original_router.routes, prefix + route.include_context.prefix)


def test_no_get_route_leaks_another_districts_record(app, client, world):
    """Walk every GET route that can be filled in; as the 西湖区 clerk, none may return the 余杭区 farmhouse."""
    walked = []
    for path, methods in all_routes(app.routes):
        if "GET" not in methods or path in SKIP or path.startswith(("/static", "/map/glyphs", "/admin/static")):
            continue
        url = _fill(path, world)
        if url is None:
            continue
        params = {"format": "geojson"} if url.endswith("/export") else {}
        r = client.get(url, params=params, headers=world["clerk"])
        walked.append((url, r.status_code))
        assert SECRET.encode() not in r.content, url
        # Sanity: the same route as a leader does show it where the route returns records at all.
    assert len(walked) >= 10, walked
    leaked_for_leader = [
        u
        for u, _ in walked
        if SECRET.encode()
        in client.get(u, params={"format": "geojson"} if u.endswith("/export") else {}, headers=world["leader"]).content
    ]
    assert len(leaked_for_leader) >= 4, leaked_for_leader  # the walk did reach record-returning routes
