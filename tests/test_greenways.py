"""Greenway construction (VT-16): segments drawn through the features API get their length in metres on CGCS2000
Gauss-Krüger (checked against pyproj on EPSG:4549) and their endpoints snapped to the existing segments; the
districts' reports go to the city and are accepted or returned with a reason; late and missing reports are flagged;
another district neither sees nor writes them; bad input is refused in Chinese and stores nothing; the summaries'
figures are recomputed here from the reports. Real accounts, the real PostGIS; years 2019–2023 (the demo's reports
are of 2025 and 2026)."""

from __future__ import annotations

import io
import math
import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import shapely
from openpyxl import load_workbook
from pyproj import Transformer
from sqlalchemy import text

from tests import st_world
from tests.conftest import ADMIN, make_user, set_environment

XH, YH = "西湖区", "余杭区"
GK = Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True)
TO_WGS = Transformer.from_crs("EPSG:4549", "EPSG:4326", always_xy=True)
BEIJING = timezone(timedelta(hours=8))


def today() -> date:
    return datetime.now(UTC).astimezone(BEIJING).date()


@pytest.fixture(scope="module")
def world(engine, app, tmp_path_factory):
    restore = set_environment(CHENGJIAN_FILES_DIR=str(tmp_path_factory.mktemp("gw-files")))
    tag = uuid.uuid4().hex[:6]
    info = {
        "xh": make_user(f"gw-xh-{tag}", ["district_staff"], district=XH),
        "yh": make_user(f"gw-yh-{tag}", ["district_staff"], district=YH),
        "city": make_user(f"gw-city-{tag}", ["city_supervisor"]),
    }
    with engine.connect() as conn:
        for d in (XH, YH):
            # A point well inside the district, as an origin on EPSG:4549 for the test's lines.
            x, y = conn.execute(
                text(
                    "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_PointOnSurface("
                    "ST_Buffer(ST_Transform(geom, 4549), -3000)), 4549) AS p FROM districts WHERE name = :d) s"
                ),
                {"d": d},
            ).one()
            info[d] = (x, y)
    yield info
    restore()


def line_at(world, district: str, dx: float, dy: float, *legs: tuple[float, float]) -> list[list[float]]:
    """WGS84 coordinates of a line starting (dx, dy) metres from the district's origin, by legs in metres."""
    x, y = world[district][0] + dx, world[district][1] + dy
    pts = [(x, y)]
    for ex, ey in legs:
        x, y = x + ex, y + ey
        pts.append((x, y))
    return [list(TO_WGS.transform(px, py)) for px, py in pts]


def draw(client, headers, coords, name="测试绿道", status="在建", year=2021, expect=201) -> dict:
    body = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": coords},
        "properties": {"code": f"LDT{uuid.uuid4().hex[:8].upper()}", "name": name, "status": status,
                       "level": "市级", "plan_year": year},
    }  # fmt: skip
    r = client.post("/api/layers/greenways/features", json=body, headers=headers)
    assert r.status_code == expect, r.text
    return r.json()


def stored(engine, fid: int) -> tuple[list[tuple[float, float]], float, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT ST_X(d.geom), ST_Y(d.geom) FROM greenways g, ST_DumpPoints(g.geom) d "
                "WHERE g.id = :id ORDER BY d.path"
            ),
            {"id": fid},
        ).all()
        length, district = conn.execute(
            text("SELECT length_m, district FROM greenways WHERE id = :id"), {"id": fid}
        ).one()
    return [(r[0], r[1]) for r in rows], length, district


def gk_length(coords) -> float:
    xs, ys = GK.transform([c[0] for c in coords], [c[1] for c in coords])
    return shapely.LineString(list(zip(xs, ys))).length


def gk_distance(a, b) -> float:
    (ax, bx), (ay, by) = GK.transform([a[0], b[0]], [a[1], b[1]])
    return math.hypot(ax - bx, ay - by)


# -- segments on the map ---------------------------------------------------------------------------------------------
def test_length_in_metres_on_gauss_kruger(client, world, engine):
    coords = line_at(world, XH, 0, 0, (400, 0), (300, 250), (0, 500))
    f = draw(client, world["xh"], coords)
    pts, length, district = stored(engine, f["id"])
    assert district == XH
    assert length == pytest.approx(gk_length(pts), abs=1e-6)
    assert length == pytest.approx(400 + math.hypot(300, 250) + 500, rel=2e-3)  # built on the same plane
    assert f["properties"]["length_m"] == pytest.approx(length, abs=0.01)
    # Editing the geometry recomputes it; a length given by the client is not what is stored.
    longer = line_at(world, XH, 0, 0, (400, 0), (300, 250), (0, 900))
    tag = client.get(f"/api/layers/greenways/features/{f['id']}", headers=world["xh"]).headers["ETag"]
    r = client.patch(
        f"/api/layers/greenways/features/{f['id']}",
        json={"type": "Feature", "geometry": {"type": "LineString", "coordinates": longer}},
        headers={**world["xh"], "If-Match": tag},
    )
    assert r.status_code == 200, r.text
    pts, length, _ = stored(engine, f["id"])
    assert length == pytest.approx(gk_length(pts), abs=1e-6)
    r = client.post(
        "/api/layers/greenways/features",
        json={"type": "Feature", "geometry": {"type": "LineString", "coordinates": coords},
              "properties": {"code": "LDTX0001", "name": "x", "length_m": 5}},
        headers=world["xh"],
    )  # fmt: skip
    if r.status_code == 201:  # the features API leaves read-only attributes out of what it writes
        pts, length, _ = stored(engine, r.json()["id"])
        assert length != 5 and length == pytest.approx(gk_length(pts), abs=1e-6)
    else:
        assert r.status_code == 422


def test_endpoints_snap_to_existing_segments(client, world, engine):
    base = draw(client, world["xh"], line_at(world, XH, 2000, 0, (300, 0), (300, 0)))
    base_pts, _, _ = stored(engine, base["id"])
    # 3 m from the middle vertex: snapped onto that vertex exactly.
    near_vertex = draw(client, world["xh"], line_at(world, XH, 2300 + 2, 3 - 2, (0, 400)))
    pts, length, _ = stored(engine, near_vertex["id"])
    assert pts[0] == base_pts[1]
    assert length == pytest.approx(gk_length(pts), abs=1e-6)
    # 4 m beside an edge, 150 m from any vertex: onto the closest point of the line (on it, within a millimetre).
    near_edge = draw(client, world["xh"], line_at(world, XH, 2150, -4, (0, -400)))
    pts, _, _ = stored(engine, near_edge["id"])
    with engine.connect() as conn:
        gap = conn.execute(
            text(
                "SELECT ST_Distance(ST_Transform(g.geom, 4549), ST_Transform(ST_StartPoint(n.geom), 4549)) "
                "FROM greenways g, greenways n WHERE g.id = :a AND n.id = :b"
            ),
            {"a": base["id"], "b": near_edge["id"]},
        ).scalar_one()
    assert gap < 1e-3
    assert all(gk_distance(p, q) > 100 for p in (pts[0],) for q in base_pts)
    # The far end (400 m away) and a line 8 m away stay exactly as drawn.
    far = line_at(world, XH, 2600 + 8, 0, (300, 0))
    f = draw(client, world["xh"], far)
    pts, _, _ = stored(engine, f["id"])
    assert [c for p in pts for c in p] == pytest.approx([c for p in far for c in p], abs=1e-9)
    drawn = line_at(world, XH, 2150, -4, (0, -400))
    assert stored(engine, near_edge["id"])[0][-1] == pytest.approx(tuple(drawn[-1]), abs=1e-9)


def test_bad_geometry_is_refused_and_nothing_stored(client, world, engine):
    def count() -> int:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM greenways")).scalar_one()

    before = count()
    beijing = [[116.39, 39.90], [116.40, 39.91]]
    r = client.post(
        "/api/layers/greenways/features",
        json={"type": "Feature", "geometry": {"type": "LineString", "coordinates": beijing},
              "properties": {"code": "LDTBAD01", "name": "北京"}},
        headers=world["xh"],
    )  # fmt: skip
    assert r.status_code == 422 and "杭州" in r.json()["message"]
    swapped = [[lat, lon] for lon, lat in line_at(world, XH, 0, 0, (300, 0))]
    r = client.post(
        "/api/layers/greenways/features",
        json={"type": "Feature", "geometry": {"type": "LineString", "coordinates": swapped},
              "properties": {"code": "LDTBAD02", "name": "填反"}},
        headers=world["xh"],
    )  # fmt: skip
    assert r.status_code == 422 and "填反" in r.json()["message"]
    # A district clerk draws in another district: refused by the data scope.
    r = client.post(
        "/api/layers/greenways/features",
        json={"type": "Feature", "geometry": {"type": "LineString", "coordinates": line_at(world, YH, 0, 0, (300, 0))},
              "properties": {"code": "LDTBAD03", "name": "越界"}},
        headers=world["xh"],
    )  # fmt: skip
    assert r.status_code in (403, 422) and r.json()["message"]
    assert count() == before


# -- reports ---------------------------------------------------------------------------------------------------------
def new_report(client, headers, kind, year, month=None, key=None, expect=201, **lines):
    body = {"kind": kind, "year": year, "month": month, **lines}
    h = {**headers, **({"Idempotency-Key": key} if key else {})}
    r = client.post("/api/greenways/reports", json=body, headers=h)
    assert r.status_code == expect, r.text
    return r.json()


def act(client, headers, rid, action, version=None, reason=None, expect=200):
    r = client.post(
        f"/api/greenways/reports/{rid}/actions/{action}", json={"version": version, "reason": reason}, headers=headers
    )
    assert r.status_code == expect, r.text
    return r.json()


def plan_line(seg, length, budget=100.0, year=2021):
    return {"segment_id": seg, "planned_length_m": length, "grade": "市级", "budget_wan": budget,
            "start_on": f"{year}-03-01", "end_on": f"{year}-11-30"}  # fmt: skip


@pytest.fixture(scope="module")
def segments(client_module, world):
    xh = [draw(client_module, world["xh"], line_at(world, XH, 0, 1500 + 300 * i, (500, 0)))["id"] for i in range(3)]
    yh = [draw(client_module, world["yh"], line_at(world, YH, 0, 1500, (500, 0)))["id"]]
    return {"xh": xh, "yh": yh}


@pytest.fixture(scope="module")
def client_module(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


def test_report_goes_to_the_city_and_is_accepted(client, world, segments, engine):
    seg = segments["xh"]
    key = str(uuid.uuid4())
    lines = {"plan": [plan_line(seg[0], 480.5), plan_line(seg[1], 300, 55.5)]}
    first = new_report(client, world["xh"], "plan", 2021, key=key, **lines)
    again = client.post(
        "/api/greenways/reports",
        json={"kind": "plan", "year": 2021, "month": None, **lines},
        headers={**world["xh"], "Idempotency-Key": key},
    )
    assert again.status_code == 201 and again.json()["id"] == first["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    dup = client.post("/api/greenways/reports", json={"kind": "plan", "year": 2021, **lines}, headers=world["xh"])
    assert dup.status_code == 409 and dup.json()["code"] == "duplicate_report"
    assert first["district"] == XH and first["status"] == "draft"
    assert first["totals"] == {"planned_km": 0.7805, "budget_wan": 155.5}
    # The city cannot submit; the district cannot accept.
    act(client, world["city"], first["id"], "submit", expect=403)
    done = act(client, world["xh"], first["id"], "submit", version=first["version"])
    assert done["status"] == "submitted" and done["late"] is True  # a 2021 plan submitted today
    act(client, world["xh"], first["id"], "accept", expect=403)
    inbox = client.get("/api/greenways/reports", params={"status": "submitted", "year": 2021}, headers=world["city"])
    assert first["id"] in [x["id"] for x in inbox.json()["reports"]]
    ok = act(client, world["city"], first["id"], "accept", version=done["version"])
    assert ok["status"] == "accepted" and ok["reviewed_by"]
    detail = client.get(f"/api/greenways/reports/{first['id']}", headers=world["xh"]).json()
    assert [h["action"] for h in detail["history"]] == ["create", "submit", "accept"]
    assert detail["segments"][str(seg[0])]["length_m"] > 0
    with engine.connect() as conn:
        logged = (
            conn.execute(
                text("SELECT action FROM audit_log WHERE layer = 'gw_reports' AND feature_id = :id ORDER BY id"),
                {"id": first["id"]},
            )
            .scalars()
            .all()
        )
        n = conn.execute(text("SELECT count(*) FROM gw_reports WHERE year = 2021 AND kind = 'plan'")).scalar_one()
    assert logged == ["create", "submit", "accept"] and n == 1
    # Accepted: no more edits.
    r = client.put(
        f"/api/greenways/reports/{first['id']}", json={"version": ok["version"], **lines}, headers=world["xh"]
    )
    assert r.status_code == 409


def test_return_with_reason_then_resubmit(client, world, segments):
    seg = segments["xh"]
    plan = new_report(client, world["xh"], "plan", 2022, plan=[plan_line(seg[0], 500, year=2022)])
    act(client, world["xh"], plan["id"], "submit")
    prog = new_report(client, world["xh"], "progress", 2022, 5, progress=[{"segment_id": seg[0], "completed_m": 120}])
    sub = act(client, world["xh"], prog["id"], "submit")
    r = client.post(f"/api/greenways/reports/{prog['id']}/actions/return", json={"reason": "  "}, headers=world["city"])
    assert r.status_code == 422 and r.json()["code"] == "reason_required" and "理由" in r.json()["message"]
    back = act(client, world["city"], prog["id"], "return", version=sub["version"], reason="缺少现场照片")
    assert back["status"] == "returned" and back["return_reason"] == "缺少现场照片"
    fixed = client.put(
        f"/api/greenways/reports/{prog['id']}",
        json={"version": back["version"], "progress": [{"segment_id": seg[0], "completed_m": 150}]},
        headers=world["xh"],
    )
    assert fixed.status_code == 200 and fixed.json()["totals"] == {"completed_km": 0.15}
    again = act(client, world["xh"], prog["id"], "submit", version=fixed.json()["version"])
    assert again["status"] == "submitted" and again["return_reason"] is None
    hist = client.get(f"/api/greenways/reports/{prog['id']}", headers=world["city"]).json()["history"]
    assert [h["action"] for h in hist] == ["create", "submit", "return", "submit"]
    assert hist[2]["reason"] == "缺少现场照片"


def test_late_flags_follow_the_configured_due_dates(client, world, env):
    t = today()
    year = t.year
    # A fund report of January 2020, due on 10 February 2020 (the default day): overdue until submitted, then late.
    r = client.post(
        "/api/greenways/reports",
        json={"kind": "funds", "year": 2020, "month": 1, "funds": [{"source": "市级资金", "allocated_wan": 10, "spent_wan": 8}]},
        headers=world["yh"],
    )  # fmt: skip
    assert r.status_code == 201 and r.json()["due_on"] == "2020-02-10" and r.json()["overdue"] is True
    assert r.json()["late_text"] == "逾期未报"
    late = act(client, world["yh"], r.json()["id"], "submit")
    assert late["late"] is True and late["overdue"] is False and late["late_text"] == "逾期提交"
    # The monthly due day is configurable: last month's report due on the 28th of this month is on time today
    # (when today is before the 28th), due on the 1st is late.
    last = date(year, t.month, 1) - timedelta(days=1)
    env(CHENGJIAN_GREENWAY_MONTHLY_DUE_DAY="28")
    a = new_report(client, world["yh"], "funds", last.year, last.month,
                   funds=[{"source": "区县资金", "allocated_wan": 1, "spent_wan": 1}])  # fmt: skip
    assert a["due_on"] == date(year, t.month, 28).isoformat()
    a = act(client, world["yh"], a["id"], "submit")
    assert a["late"] is (t.day > 28)
    env(CHENGJIAN_GREENWAY_MONTHLY_DUE_DAY="1")
    prev = date(last.year, last.month, 1) - timedelta(days=1)
    b = new_report(client, world["yh"], "funds", prev.year, prev.month,
                   funds=[{"source": "区县资金", "allocated_wan": 1, "spent_wan": 1}])  # fmt: skip
    b = act(client, world["yh"], b["id"], "submit")
    assert b["late"] is True


def test_another_district_neither_sees_nor_writes(client, world, segments):
    seg = segments["xh"]
    rep = new_report(client, world["xh"], "plan", 2019, plan=[plan_line(seg[2], 200, year=2019)])
    assert client.get(f"/api/greenways/reports/{rep['id']}", headers=world["yh"]).status_code == 404
    listed = client.get("/api/greenways/reports", params={"year": 2019}, headers=world["yh"]).json()
    assert rep["id"] not in [x["id"] for x in listed["reports"]]
    r = client.put(
        f"/api/greenways/reports/{rep['id']}",
        json={"version": rep["version"], "plan": [plan_line(seg[2], 1, year=2019)]},
        headers=world["yh"],
    )
    assert r.status_code == 404
    assert (
        client.post(f"/api/greenways/reports/{rep['id']}/actions/submit", json={}, headers=world["yh"]).status_code
        == 404
    )
    # Nor reports for the other district, nor the other district's segments in its own report.
    r = client.post(
        "/api/greenways/reports",
        json={"kind": "plan", "year": 2019, "district": XH, "plan": [plan_line(seg[2], 1, year=2019)]},
        headers=world["yh"],
    )
    assert r.status_code == 403 and r.json()["code"] == "other_district"
    r = client.post(
        "/api/greenways/reports", json={"kind": "plan", "year": 2019, "plan": [plan_line(seg[2], 1, year=2019)]},
        headers=world["yh"],
    )  # fmt: skip
    assert r.status_code == 422 and r.json()["code"] == "segment_other_district" and XH in r.json()["message"]
    mine = client.get(f"/api/greenways/reports/{rep['id']}", headers=world["xh"]).json()
    assert mine["items"] == rep["items"] and mine["version"] == rep["version"]
    # The city sees it.
    assert client.get(f"/api/greenways/reports/{rep['id']}", headers=world["city"]).status_code == 200


def test_bad_report_input_is_refused_and_nothing_stored(client, world, segments, engine):
    seg = segments["xh"]

    def count() -> int:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM gw_reports WHERE year = 2023")).scalar_one()

    def refused(body, code, field=None, status=422):
        r = client.post("/api/greenways/reports", json={"year": 2023, **body}, headers=world["xh"])
        assert r.status_code == status, r.text
        e = r.json()
        assert (code is None or e["code"] == code) and any("\u4e00" <= ch <= "\u9fff" for ch in e["message"])
        if field:
            assert e["field"] == field
        return e

    refused({"kind": "plan", "plan": [plan_line(seg[0], -5, year=2023)]}, None, "plan.0.planned_length_m")
    refused({"kind": "plan", "plan": [{**plan_line(seg[0], 5, year=2023), "budget_wan": -1}]}, None,
            "plan.0.budget_wan")  # fmt: skip
    refused({"kind": "plan", "plan": [{**plan_line(seg[0], 5, year=2023), "end_on": "2023-01-01"}]}, "end_before_start")
    refused({"kind": "plan", "plan": [plan_line(seg[0], 5, year=2023), plan_line(seg[0], 5, year=2023)]},
            "duplicate_segment")  # fmt: skip
    refused({"kind": "plan", "plan": [plan_line(999_999_999, 5, year=2023)]}, "unknown_segment")
    refused({"kind": "plan", "month": 3, "plan": []}, "month_not_allowed")
    refused({"kind": "progress", "month": 4, "progress": [{"segment_id": seg[0], "completed_m": 1}]}, "no_plan")
    refused({"kind": "funds", "month": 4, "plan": []}, "wrong_lines")
    assert count() == 0
    plan = new_report(client, world["xh"], "plan", 2023, plan=[plan_line(seg[0], 400, year=2023)])
    refused({"kind": "progress", "month": 4, "progress": [{"segment_id": seg[0], "completed_m": -1}]}, None,
            "progress.0.completed_m")  # fmt: skip
    refused({"kind": "progress", "month": 4, "progress": [{"segment_id": seg[1], "completed_m": 1}]}, "not_in_plan")
    p4 = new_report(client, world["xh"], "progress", 2023, 4, progress=[{"segment_id": seg[0], "completed_m": 300}])
    e = refused({"kind": "progress", "month": 5, "progress": [{"segment_id": seg[0], "completed_m": 100.5}]},
                "completed_exceeds_plan", "progress.0.completed_m")  # fmt: skip
    assert "400.5" in e["message"] and "400.0" in e["message"]
    assert count() == 2
    # Stale version: the edit and the action are refused, nothing changes.
    ok = client.put(
        f"/api/greenways/reports/{plan['id']}",
        json={"version": plan["version"], "plan": [plan_line(seg[0], 450, year=2023)]},
        headers=world["xh"],
    )
    assert ok.status_code == 200
    stale = client.put(
        f"/api/greenways/reports/{plan['id']}",
        json={"version": plan["version"], "plan": [plan_line(seg[0], 999, year=2023)]},
        headers=world["xh"],
    )
    assert stale.status_code == 409 and stale.json()["code"] == "stale_version" and "刷新" in stale.json()["message"]
    r = client.post(
        f"/api/greenways/reports/{plan['id']}/actions/submit", json={"version": plan["version"]}, headers=world["xh"]
    )
    assert r.status_code == 409
    now = client.get(f"/api/greenways/reports/{plan['id']}", headers=world["xh"]).json()
    assert now["items"][0]["planned_length_m"] == 450 and now["status"] == "draft"
    # An edit that takes the year beyond the plan is refused too.
    r = client.put(
        f"/api/greenways/reports/{p4['id']}",
        json={"version": p4["version"], "progress": [{"segment_id": seg[0], "completed_m": 451}]},
        headers=world["xh"],
    )
    assert r.status_code == 422 and r.json()["code"] == "completed_exceeds_plan"


def test_progress_photos_carry_their_position(client, world, segments):
    seg = segments["xh"]
    plan = new_report(client, world["xh"], "plan", 2020, plan=[plan_line(seg[1], 500, year=2020)])
    act(client, world["xh"], plan["id"], "submit")
    prog = new_report(client, world["xh"], "progress", 2020, 6, progress=[{"segment_id": seg[1], "completed_m": 50}])
    lon, lat = line_at(world, XH, 250, 1800 + 20)[0]  # 20 m beside the segment

    def upload(lon, lat, segment=seg[1], data=None):
        return client.post(
            f"/api/greenways/reports/{prog['id']}/photos",
            data={"segment_id": str(segment), "lon": str(lon), "lat": str(lat)},
            files={"file": ("IMG.jpg", io.BytesIO(data or st_world.jpeg(lon, lat, datetime.now(UTC))), "image/jpeg")},
            headers=world["xh"],
        )

    r = upload(lon, lat)
    assert r.status_code == 201, r.text
    assert r.json()["distance_m"] == pytest.approx(20, abs=0.5)
    far = line_at(world, XH, 250, 1800 + 900)[0]
    r = upload(*far)
    assert r.status_code == 422 and r.json()["code"] == "photo_too_far" and "米" in r.json()["message"]
    r = upload(lon, lat, segment=seg[0])
    assert r.status_code == 422 and r.json()["code"] == "segment_not_in_report"
    r = upload(lon, lat, data=b"not a photo at all")
    assert r.status_code in (415, 422)
    detail = client.get(f"/api/greenways/reports/{prog['id']}", headers=world["city"]).json()
    assert len(detail["photos"]) == 1
    assert client.get(detail["photos"][0]["thumbnail"], headers=world["city"]).status_code == 200
    assert client.get(detail["photos"][0]["url"], headers=world["yh"]).status_code == 404


def test_summary_recomputed_from_the_reports(client, world, segments, engine):
    # Everything of 2021 for the district (the plan accepted by the first test, if it ran, stays in the sums).
    seg = segments["xh"]
    reports = client.get("/api/greenways/reports", params={"year": 2021, "limit": 500}, headers=world["city"]).json()
    plan = next((x for x in reports["reports"] if x["kind"] == "plan" and x["district"] == XH), None)
    if plan is None:
        plan = new_report(client, world["xh"], "plan", 2021, plan=[plan_line(seg[0], 480.5), plan_line(seg[1], 300)])
        plan = act(client, world["city"], act(client, world["xh"], plan["id"], "submit")["id"], "accept")
    m1 = new_report(client, world["xh"], "progress", 2021, 7, progress=[{"segment_id": seg[0], "completed_m": 200.25}])
    act(client, world["city"], act(client, world["xh"], m1["id"], "submit")["id"], "accept")
    m2 = new_report(client, world["xh"], "progress", 2021, 8, progress=[{"segment_id": seg[1], "completed_m": 99}])
    act(client, world["xh"], m2["id"], "submit")  # submitted, not accepted: not in the sums
    f = new_report(client, world["xh"], "funds", 2021, 7,
                   funds=[{"source": "中央资金", "allocated_wan": 30, "spent_wan": 12.5},
                          {"source": "社会资金", "allocated_wan": 7.25, "spent_wan": 7}])  # fmt: skip
    act(client, world["city"], act(client, world["xh"], f["id"], "submit")["id"], "accept")

    rows = client.get("/api/greenways/reports", params={"year": 2021, "district": XH, "limit": 500},
                      headers=world["city"]).json()["reports"]  # fmt: skip
    accepted = [x for x in rows if x["status"] == "accepted"]
    planned = sum(i["planned_length_m"] for x in accepted if x["kind"] == "plan" for i in x["items"]) / 1000
    completed = sum(i["completed_m"] for x in accepted if x["kind"] == "progress" for i in x["items"]) / 1000
    allocated = sum(i["allocated_wan"] for x in accepted if x["kind"] == "funds" for i in x["items"])
    spent = sum(i["spent_wan"] for x in accepted if x["kind"] == "funds" for i in x["items"])
    submitted = [x for x in rows if x["status"] in ("submitted", "accepted")]
    expected = 25  # 2021 is over: the plan and 12 months of progress and of funds
    s = client.get("/api/greenways/summary", params={"year": 2021}, headers=world["city"]).json()
    row = next(r for r in s["rows"] if r["district"] == XH)
    assert row["planned_km"] == pytest.approx(planned, abs=1e-3) and planned > 0
    assert row["completed_km"] == pytest.approx(completed, abs=1e-3)
    assert row["completion"] == pytest.approx(100 * completed / planned, abs=0.05)
    assert row["allocated_wan"] == pytest.approx(allocated) and row["spent_wan"] == pytest.approx(spent)
    assert row["expected"] == expected
    assert row["on_time"] + row["late"] == len(submitted) and row["late"] == sum(1 for x in submitted if x["late"])
    assert row["missing"] == expected - len({(x["kind"], x["month"]) for x in submitted})
    assert row["pending"] == sum(1 for x in rows if x["status"] == "submitted")
    gaps = client.get("/api/greenways/missing", params={"year": 2021}, headers=world["city"]).json()["items"]
    assert sum(1 for g in gaps if g["district"] == XH) == row["missing"]
    assert {"district": XH, "kind": "progress", "period": "2021年1月", "due_on": "2021-02-10"}.items() <= next(
        g for g in gaps if g["district"] == XH and g["period"] == "2021年1月" and g["kind"] == "progress"
    ).items()
    # A district clerk sees only the own district's row.
    mine = client.get("/api/greenways/summary", params={"year": 2021}, headers=world["yh"]).json()
    assert [r["district"] for r in mine["rows"]] == [YH] and mine["rows"][0]["planned_km"] == 0
    # The Excel export has the same numbers and is logged.
    with engine.connect() as conn:
        last = conn.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar_one()
    x = client.get("/api/greenways/summary.xlsx", params={"year": 2021}, headers=world["city"])
    assert x.status_code == 200
    ws = load_workbook(io.BytesIO(x.content)).active
    header = [c.value for c in ws[1]]
    sheet = {r[0]: dict(zip(header, r)) for r in ws.iter_rows(min_row=2, values_only=True)}
    assert sheet[XH]["完成长度(公里)"] == pytest.approx(completed, abs=1e-3)
    assert sheet[XH]["到位资金(万元)"] == pytest.approx(allocated)
    with engine.connect() as conn:
        logged = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE id > :id AND action = 'export' AND layer = 'gw_summary'"),
            {"id": last},
        ).scalar_one()
    assert logged == 1
    assert client.get("/api/greenways/summary.xlsx", headers=ADMIN).status_code == 200


def test_demo_reports_pass_the_checks_of_the_api(client, world, segments, engine):
    """The demo's reports (built here as of 15 June 2022 over the segments planned for 2021 and 2022, then rolled
    back) hold what the API would accept: lines of the report's district, progress within the plan, late flags that
    match the dates; reports that already exist are left alone."""
    from layers.greenways.demo_reports import build_reports
    from layers.greenways.reports import Lines, check_lines

    for i, status in enumerate(("已建成", "在建", "规划")):
        draw(client, world["yh"], line_at(world, YH, 1000, 2000 + 300 * i, (700, 0)), status=status, year=2022)
    with engine.connect() as conn:
        tx = conn.begin()
        try:
            before = conn.execute(text("SELECT id, items, version FROM gw_reports WHERE created_by <> 'demo'")).all()
            out = build_reports(conn, date(2022, 6, 15))
            rows = conn.execute(text("SELECT * FROM gw_reports WHERE created_by = 'demo' ORDER BY id")).mappings().all()
            assert out["greenway_reports"] == len(rows) > 0
            assert {r["year"] for r in rows} <= {2021, 2022}
            assert max(r["month"] or 0 for r in rows if r["year"] == 2022) == 5  # May's reports were due 10 June
            for r in rows:
                check_lines(conn, r["kind"], r["district"], r["year"], Lines.model_validate({r["kind"]: r["items"]}),
                            r["id"])  # fmt: skip
                if r["submitted_at"] is not None:
                    assert r["late"] is (r["submitted_at"].astimezone(BEIJING).date() > r["due_on"])
            lengths = dict(conn.execute(text("SELECT id, length_m FROM greenways")).all())
            for r in rows:
                if r["kind"] == "plan":
                    assert all(0 <= lengths[x["segment_id"]] - x["planned_length_m"] < 0.1 for x in r["items"])
            after = conn.execute(text("SELECT id, items, version FROM gw_reports WHERE created_by <> 'demo'")).all()
            assert after == before
        finally:
            tx.rollback()


def test_thematic_maps_pass_the_thematic_checks(engine):
    """The completion maps the module offers the thematic module are declarations its checks accept."""
    from layers.greenways.thematic_maps import THEMATIC_DEMO_MAPS
    from layers.thematic.declaration import check

    with engine.connect() as conn:
        for spec in THEMATIC_DEMO_MAPS:
            decl, source = check(conn, spec)
            assert decl["slug"] == spec["slug"] and source.id == "greenways"


def test_accepted_progress_moves_the_segment_status(client, world, engine):
    """Accepted progress makes a planned segment 在建, then 已建成 once the plan's length is reached (through the
    layer's store: version and audit record); a submitted report changes nothing."""
    segs = [draw(client, world["yh"], line_at(world, YH, -1500, 1000 + 300 * i, (400, 0)), status="规划", year=2019)
            for i in range(2)]  # fmt: skip
    a, b = (s["id"] for s in segs)

    def status(fid):
        with engine.connect() as conn:
            return conn.execute(text("SELECT status, version FROM greenways WHERE id = :id"), {"id": fid}).one()

    plan = new_report(
        client, world["yh"], "plan", 2019, plan=[plan_line(a, 400, year=2019), plan_line(b, 300, year=2019)]
    )
    act(client, world["city"], act(client, world["yh"], plan["id"], "submit")["id"], "accept")
    m1 = new_report(client, world["yh"], "progress", 2019, 4,
                    progress=[{"segment_id": a, "completed_m": 100}, {"segment_id": b, "completed_m": 300}])  # fmt: skip
    act(client, world["yh"], m1["id"], "submit")
    assert status(a).status == "规划" and status(b).status == "规划"
    act(client, world["city"], m1["id"], "accept")
    assert status(a).status == "在建" and status(b).status == "已建成"
    version_a = status(a).version
    m2 = new_report(client, world["yh"], "progress", 2019, 5, progress=[{"segment_id": a, "completed_m": 300}])
    act(client, world["city"], act(client, world["yh"], m2["id"], "submit")["id"], "accept")
    assert status(a).status == "已建成" and status(a).version == version_a + 1
    with engine.connect() as conn:
        logged = conn.execute(
            text("SELECT after->'properties'->>'status' FROM audit_log WHERE layer = 'greenways' AND feature_id = :id "
                 "AND action = 'update' ORDER BY id"),
            {"id": a},
        ).scalars().all()  # fmt: skip
    assert logged == ["在建", "已建成"]
