"""Features API: CRUD, optimistic concurrency, soft delete, audit, lists (bbox, filters, search, paging, sort)."""

import pytest
from sqlalchemy import text

from tests.conftest import ADMIN, LEADER, PUBLIC

BASE = "/api/layers/sites/features"


def site(code, lon=120.15, lat=30.28, **props):
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {"code": code, "name": f"测试项目{code}", **props},
    }


def audit_rows(engine, fid=None):
    with engine.connect() as conn:
        return (
            conn.execute(
                text(
                    "SELECT actor, action, layer, feature_id, before, after FROM audit_log "
                    "WHERE (CAST(:fid AS bigint) IS NULL OR feature_id = CAST(:fid AS bigint)) ORDER BY id"
                ),
                {"fid": fid},
            )
            .mappings()
            .all()
        )


def test_crud_round_trip_with_audit(client, engine, clean):
    r = client.post(
        BASE, headers=ADMIN, json=site("S-1", status="在建", start_date="2026-03-01", floor_area_m2="12,500.5")
    )
    assert r.status_code == 201, r.text
    f = r.json()
    fid = f["id"]
    assert r.headers["Location"] == f"{BASE}/{fid}"
    assert r.headers["ETag"] == f'"{fid}-1"'
    assert f["properties"]["district"] == "拱墅区"  # filled from the geometry (120.15, 30.28)
    assert f["properties"]["floor_area_m2"] == 12500.5
    assert f["properties"]["start_date"] == "2026-03-01"
    assert f["meta"]["created_by"] == "test-admin"

    r = client.get(f"{BASE}/{fid}", headers=LEADER)
    assert r.status_code == 200 and r.headers["ETag"] == f'"{fid}-1"'
    etag = r.headers["ETag"]

    r = client.patch(f"{BASE}/{fid}", headers={**ADMIN, "If-Match": etag}, json={"properties": {"status": "停工"}})
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["status"] == "停工"
    assert r.json()["properties"]["name"] == "测试项目S-1"  # PATCH keeps the rest
    assert r.json()["meta"]["version"] == 2

    # Moving the pin to Xiaoshan: the district follows the geometry.
    r = client.put(f"{BASE}/{fid}", headers=ADMIN, json={**site("S-1", 120.27, 30.18), "version": 2})
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["district"] == "萧山区"
    assert r.json()["properties"]["status"] is None  # PUT replaces

    r = client.delete(f"{BASE}/{fid}", headers={**ADMIN, "If-Match": f'"{fid}-3"'})
    assert r.status_code == 204
    assert client.get(f"{BASE}/{fid}", headers=LEADER).status_code == 404
    with engine.connect() as conn:  # soft delete: the row stays for the audit trail
        row = conn.execute(text("SELECT deleted_by, deleted_at IS NOT NULL FROM sites WHERE id = :i"), {"i": fid}).one()
    assert row == ("test-admin", True)

    rows = audit_rows(engine, fid)
    assert [r["action"] for r in rows] == ["create", "update", "update", "delete"]
    assert all(r["actor"] == "test-admin" and r["layer"] == "sites" for r in rows)
    assert rows[0]["before"] is None and rows[0]["after"]["properties"]["code"] == "S-1"
    assert rows[1]["before"]["properties"]["status"] == "在建" and rows[1]["after"]["properties"]["status"] == "停工"
    assert rows[3]["after"] is None and rows[3]["before"]["meta"]["version"] == 3


def test_stale_version_conflicts(client, engine, clean):
    fid = client.post(BASE, headers=ADMIN, json=site("S-2")).json()["id"]
    a = client.patch(
        f"{BASE}/{fid}", headers={**ADMIN, "If-Match": f'"{fid}-1"'}, json={"properties": {"status": "在建"}}
    )
    assert a.status_code == 200
    b = client.patch(
        f"{BASE}/{fid}", headers={**ADMIN, "If-Match": f'"{fid}-1"'}, json={"properties": {"status": "停工"}}
    )
    assert b.status_code == 409
    assert b.json()["code"] == "version_conflict" and b.json()["detail"]["current_version"] == 2
    assert client.get(f"{BASE}/{fid}", headers=LEADER).json()["properties"]["status"] == "在建"
    d = client.delete(f"{BASE}/{fid}", params={"version": 1}, headers=ADMIN)
    assert d.status_code == 409
    # No version at all: refused, so nobody overwrites blindly.
    r = client.patch(f"{BASE}/{fid}", headers=ADMIN, json={"properties": {"status": "停工"}})
    assert r.status_code == 428 and r.json()["code"] == "version_required"
    # An ETag of another record.
    r = client.patch(f"{BASE}/{fid}", headers={**ADMIN, "If-Match": '"999-2"'}, json={"properties": {}})
    assert r.status_code == 412
    assert [r["action"] for r in audit_rows(engine, fid)] == ["create", "update"]


def test_failed_write_leaves_nothing(client, engine, clean):
    client.post(BASE, headers=ADMIN, json=site("DUP"))
    before = len(audit_rows(engine))
    r = client.post(BASE, headers=ADMIN, json=site("DUP"))  # the unique code index refuses a second live "DUP"
    assert r.status_code == 409 and r.json()["code"] == "duplicate" and r.json()["field"] == "code"
    r = client.post(
        "/api/layers/site_fences/features",
        headers=ADMIN,
        json={
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[120.15, 30.28], [120.151, 30.28], [120.151, 30.281], [120.15, 30.28]]],
            },
            "properties": {"site_id": 999999},
        },
    )
    assert r.status_code == 422 and r.json()["code"] == "reference_missing" and r.json()["field"] == "site_id"
    assert len(audit_rows(engine)) == before
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sites")).scalar() == 1


def test_permissions(client, clean):
    r = client.post(BASE, headers=LEADER, json=site("S-3"))
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert client.get(BASE).status_code == 401  # anonymous: sign in first
    assert client.get(BASE, headers=PUBLIC).status_code == 403  # signed in, but the public role cannot
    assert client.get("/api/layers/nope/features", headers=LEADER).status_code == 404
    assert client.get(f"{BASE}/123456", headers=LEADER).json()["code"] == "not_found"


@pytest.fixture()
def many(client, clean):
    ids = []
    for i in range(12):
        lon = 120.10 + i * 0.01
        r = client.post(
            BASE,
            headers=ADMIN,
            json=site(
                f"L-{i:02d}",
                lon,
                30.25,
                name=f"{'钱江' if i % 3 == 0 else '城西'}工程{i}",
                status="在建" if i % 2 else "停工",
                floor_area_m2=1000 * i,
            ),
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


def test_list_filters_search_bbox(client, many):
    r = client.get(BASE, headers=LEADER)
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and fc["numberMatched"] == 12 and fc["numberReturned"] == 12
    assert client.get(BASE, params={"status": "在建"}, headers=LEADER).json()["numberMatched"] == 6
    assert client.get(BASE, params={"status": "在建,停工"}, headers=LEADER).json()["numberMatched"] == 12
    assert client.get(BASE, params={"q": "钱江"}, headers=LEADER).json()["numberMatched"] == 4
    assert client.get(BASE, params={"q": "l-0"}, headers=LEADER).json()["numberMatched"] == 10  # case-insensitive
    assert client.get(BASE, params={"q": "100%"}, headers=LEADER).json()["numberMatched"] == 0  # % is literal
    r = client.get(BASE, params={"bbox": "120.095,30.2,120.135,30.3"}, headers=LEADER).json()
    assert sorted(f["properties"]["code"] for f in r["features"]) == ["L-00", "L-01", "L-02", "L-03"]
    bad = client.get(BASE, params={"bbox": "1,2,3"}, headers=LEADER)
    assert bad.status_code == 422 and bad.json()["field"] == "bbox"
    bad = client.get(BASE, params={"status": "不存在"}, headers=LEADER)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_choice"
    bad = client.get(BASE, params={"address": "x"}, headers=LEADER)
    assert bad.status_code == 422 and bad.json()["code"] == "not_filterable"


def test_paging_cursor_and_sort(client, many):
    first = client.get(BASE, params={"limit": 5}, headers=LEADER).json()
    assert first["numberReturned"] == 5 and first["numberMatched"] == 12
    seen = [f["id"] for f in first["features"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(BASE, params={"limit": 5, "cursor": cursor}, headers=LEADER).json()
        seen += [f["id"] for f in page["features"]]
        cursor = page.get("next_cursor")
    assert seen == sorted(many)
    page = client.get(BASE, params={"limit": 5, "offset": 10}, headers=LEADER).json()
    assert [f["id"] for f in page["features"]] == sorted(many)[10:]
    by_area = client.get(BASE, params={"sort": "-floor_area_m2", "limit": 3}, headers=LEADER).json()
    assert [f["properties"]["floor_area_m2"] for f in by_area["features"]] == [11000, 10000, 9000]
    assert client.get(BASE, params={"sort": "secret"}, headers=LEADER).status_code == 422
    assert client.get(BASE, params={"limit": 0}, headers=LEADER).status_code == 422
    assert client.get(BASE, params={"cursor": "garbage"}, headers=LEADER).json()["code"] == "invalid_cursor"


def test_every_route_commits_before_answering(app):
    """A write's transaction ends before the response is sent (function-scoped connection dependencies), so a
    client that reads right after a 2xx sees its write."""
    from api.deps import db_read, db_write

    def dependants(d):
        for sub in d.dependencies:
            yield sub
            yield from dependants(sub)

    from fastapi.routing import APIRoute

    def api_routes(routes):
        for r in routes:
            if isinstance(r, APIRoute):
                yield r
            elif hasattr(r, "original_router"):
                yield from api_routes(r.original_router.routes)

    checked = 0
    for route in api_routes(app.routes):
        for dep in dependants(route.dependant):
            if dep.call in (db_read, db_write):
                checked += 1
                assert dep.scope == "function", f"{route.path}: {dep.call.__name__} must be scope='function'"
    assert checked > 50


def test_reads_in_another_crs(client, clean):
    """``?crs=`` on reads: GCJ-02 and CGCS2000 served (easting first, as the input side takes them), unknown refused."""
    from geo.gcj02 import wgs84_to_gcj02

    f = client.post(BASE, headers=ADMIN, json=site("C-1", lon=120.1234567, lat=30.2598765)).json()
    gcj = wgs84_to_gcj02(120.1234567, 30.2598765)
    page = client.get(BASE, params={"crs": "GCJ02"}, headers=LEADER).json()
    assert page["crs"] == "GCJ02"
    assert page["features"][0]["geometry"]["coordinates"] == pytest.approx([float(gcj[0]), float(gcj[1])], abs=1e-8)
    one = client.get(f"{BASE}/{f['id']}", params={"crs": "EPSG:4549"}, headers=LEADER).json()
    x, y = one["geometry"]["coordinates"]
    assert one["crs"] == "EPSG:4549" and 4.8e5 < x < 5.3e5 and 3.3e6 < y < 3.4e6  # metres, easting first
    # What a read hands out in a CRS, a write in that CRS takes back to the same place.
    back = client.post(
        BASE, headers=ADMIN, params={"crs": "GCJ02"}, json=site("C-2", *page["features"][0]["geometry"]["coordinates"])
    )
    assert back.json()["geometry"]["coordinates"] == pytest.approx([120.1234567, 30.2598765], abs=1e-7)
    assert client.get(BASE, headers=LEADER).json()["features"][0]["geometry"] == f["geometry"]  # default: WGS84

    for path in (BASE, f"{BASE}/{f['id']}"):
        r = client.get(path, params={"crs": "EPSG:3857"}, headers=LEADER)
        assert r.status_code == 422 and r.json()["code"] == "crs_unsupported" and r.json()["field"] == "crs"
