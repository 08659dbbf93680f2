"""Farmhouse construction dynamics (VT-02, VT-14 server side): a house gets its approval result, then its
post-approval stages are inspected in order with photos and position — checked like the sites' photos (position near
the house, GCJ02 converted, photo content, EXIF flags), idempotent on the client's key — until 竣工验收 makes it
已竣工; late inspections and overdue houses are flagged and counted per county and month; another district neither
sees nor writes them; administrators edit the stages; the demo seeder leaves houses, stages and inspections
consistent. Real accounts, the real PostGIS; houses made through the features API."""

from __future__ import annotations

import io
import uuid
from datetime import date, timedelta

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import text

from geo.bounds import today
from geo.gcj02 import wgs84_to_gcj02
from tests.conftest import ADMIN, make_user, set_environment

YH, JD = "余杭区", "建德市"
API = "/api/villages/construction"


@pytest.fixture(scope="module")
def world(engine, app, tmp_path_factory):
    restore = set_environment(CHENGJIAN_FILES_DIR=str(tmp_path_factory.mktemp("vil-files")))
    tag = uuid.uuid4().hex[:6]
    info = {
        "yh": make_user(f"vil-yh-{tag}", ["district_staff"], district=YH),
        "jd": make_user(f"vil-jd-{tag}", ["district_staff"], district=JD),
        "city": make_user(f"vil-city-{tag}", ["city_supervisor"]),
        "tag": tag,
    }
    with engine.connect() as conn:
        for d in (YH, JD):
            info[d] = conn.execute(
                text(
                    "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts WHERE name = :d) s"
                ),
                {"d": d},
            ).one()
    yield info
    restore()


def jpeg(seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    im = Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    buf = io.BytesIO()
    im.save(buf, "JPEG")
    return buf.getvalue()


def new_house(client, world, district=YH, status="审批中", dx=0.0) -> dict:
    lon, lat = world[district]
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon + dx, lat]},
        "properties": {"code": f"NFT{uuid.uuid4().hex[:8].upper()}", "owner_name": "王建国", "status": status,
                       "township": "测试镇", "village": "测试村", "floors": 3, "structure": "框架"},
    }  # fmt: skip
    r = client.post("/api/layers/farmhouses/features", json=body, headers=world["yh" if district == YH else "jd"])
    assert r.status_code == 201, r.text
    return {"id": r.json()["id"], "lon": lon + dx, "lat": lat, "district": district}


def approve(client, world, h, days_ago=100, who="yh") -> dict:
    r = client.put(
        f"{API}/houses/{h['id']}/approval",
        json={"approval_no": f"NJ-{h['id']}", "approved_on": (today() - timedelta(days=days_ago)).isoformat()},
        headers=world[who],
    )
    assert r.status_code == 200, r.text
    return r.json()


def inspect(client, world, h, stage, day, result="pass", who="yh", key=None, photos=1, **over):
    data = {"farmhouse_id": str(h["id"]), "stage": stage, "inspected_on": day.isoformat(), "result": result,
            "lon": str(h["lon"] + 0.0002), "lat": str(h["lat"]), "accuracy_m": "8", "note": "现场核查"}  # fmt: skip
    data.update({k: v for k, v in over.items() if v is not None})
    for k in [k for k, v in over.items() if v is None]:
        data.pop(k, None)
    files = [("files", (f"p{i}.jpg", jpeg(i + h["id"]), "image/jpeg")) for i in range(photos)]
    headers = {**world[who]}
    if key is not False:
        headers["Idempotency-Key"] = key or uuid.uuid4().hex
    return client.post(f"{API}/inspections", data=data, files=files or None, headers=headers)


def rows(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).mappings().all()


def test_stages_in_order_from_approval_to_completion(client, world, engine):
    h = new_house(client, world)
    t0 = today()
    r = inspect(client, world, h, "layout", t0)
    assert r.status_code == 409 and r.json()["code"] == "not_approved"
    a = approve(client, world, h, days_ago=200)
    assert a["status"] == "在建" and a["approval_no"] == f"NJ-{h['id']}"
    r = inspect(client, world, h, "trench", t0 - timedelta(days=150))
    assert r.status_code == 409 and r.json()["code"] == "stage_out_of_order" and "开工放样" in r.json()["message"]
    r = inspect(client, world, h, "layout", t0 - timedelta(days=190), result="fail")
    assert r.status_code == 201, r.text
    assert r.json()["result_name"] == "不合格" and r.json()["house"]["stage"] is None
    key = uuid.uuid4().hex
    first = inspect(client, world, h, "layout", t0 - timedelta(days=185), key=key)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["house"]["stage"] == "layout" and not body["late"] and len(body["photos"]) == 1
    assert body["due_on"] == (t0 - timedelta(days=200) + timedelta(days=30)).isoformat()
    # The phone sends the queued inspection again: the same answer, stored once.
    again = inspect(client, world, h, "layout", t0 - timedelta(days=185), key=key)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == body["id"]
    n = rows(engine, "SELECT count(*) n FROM vil_inspections WHERE farmhouse_id = :h", h=h["id"])[0]["n"]
    assert n == 2
    reused = inspect(client, world, h, "layout", t0 - timedelta(days=180), key=key)
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    r = inspect(client, world, h, "layout", t0 - timedelta(days=100))
    assert r.status_code == 409 and r.json()["code"] == "stage_passed"  # layout passed already
    # trench 50 days after layout (due 20): late
    r = inspect(client, world, h, "trench", t0 - timedelta(days=135))
    assert r.status_code == 201 and r.json()["late"] is True
    assert inspect(client, world, h, "structure", t0 - timedelta(days=60)).status_code == 201
    r = inspect(client, world, h, "completion", t0 - timedelta(days=10))
    assert r.status_code == 201, r.text
    assert r.json()["house"] == {"id": h["id"], "code": r.json()["house"]["code"], "stage": "completion",
                                 "status": "已竣工"}  # fmt: skip
    stored = rows(engine, "SELECT status, stage, built_year FROM farmhouses WHERE id = :h", h=h["id"])[0]
    assert dict(stored) == {"status": "已竣工", "stage": "completion", "built_year": (t0 - timedelta(days=10)).year}
    r = inspect(client, world, h, "completion", t0)
    assert r.status_code == 409 and r.json()["code"] == "not_under_construction"
    audit = rows(
        engine,
        "SELECT action, layer FROM audit_log WHERE (layer = 'farmhouses' AND feature_id = :h) OR "
        "(layer = 'vil_inspections' AND after->>'farmhouse_id' = :s) ORDER BY id",
        h=h["id"],
        s=str(h["id"]),
    )
    assert [a["action"] for a in audit if a["layer"] == "vil_inspections"] == ["inspect"] * 5
    assert sum(a["action"] == "approve" for a in audit) == 1 and sum(a["action"] == "update" for a in audit) >= 4
    record = client.get(f"{API}/houses/{h['id']}", headers=world["yh"]).json()
    assert [s["state"] for s in record["timeline"]] == ["passed"] * 4
    assert record["owner_name"] == "王**"  # personal data masked without the permission
    assert len(record["inspections"]) == 5
    photo = record["inspections"][0]["photos"][0]
    assert client.get(photo["thumbnail_url"], headers=world["yh"]).status_code == 200
    assert client.get(photo["url"], headers=world["jd"]).status_code == 404


def builder_id(n: int) -> str:
    """Valid ID numbers of this file's craftsmen only (born 2007-03-20)."""
    from stdnum.cn import ric

    body = f"33010020070320{n:03d}"
    return body + ric.calc_check_digit(body + "0")


def test_inspections_give_the_builder_credit_events_once(client, world, engine):
    yh_no, jd_no, other_no = builder_id(1), builder_id(2), builder_id(3)
    for number, name, district, who in (
        (yh_no, "余建工", YH, "yh"), (jd_no, "建德工", JD, "jd"), (other_no, "别的工", YH, "yh")
    ):  # fmt: skip
        body = {"id_number": number, "name": name, "district": district, "trades": ["泥瓦工"]}
        r = client.post("/api/villages/craftsmen", json=body, headers=world[who])
        assert r.status_code == 201, r.text

    def events(number):
        return rows(
            engine,
            "SELECT e.event_type, e.points, e.inspection_id, e.farmhouse_code, e.reason FROM vil_craftsman_events e "
            "JOIN vil_craftsmen c ON c.id = e.craftsman_id JOIN persons p ON p.id = c.person_id "
            "WHERE p.id_number = :n ORDER BY e.id",
            n=number,
        )

    def credited(number):
        return rows(
            engine, "SELECT count(*) n FROM credit_events WHERE subject_code = :n AND source = 'vil_craftsman_event'",
            n=number,
        )[0]["n"]  # fmt: skip

    h = new_house(client, world, dx=0.03)
    t0 = today()
    # An unknown builder is refused in words with the field; nothing changes.
    r = client.put(
        f"{API}/houses/{h['id']}/approval", headers=world["yh"],
        json={"approval_no": "NJ-B1", "approved_on": (t0 - timedelta(days=100)).isoformat(),
              "craftsman_id_number": builder_id(9)},
    )  # fmt: skip
    assert r.status_code == 422 and (r.json()["code"], r.json()["field"]) == (
        "unknown_craftsman",
        "craftsman_id_number",
    )
    assert "建房工匠" in r.json()["message"] and builder_id(9) not in r.json()["message"]
    assert rows(engine, "SELECT status FROM farmhouses WHERE id = :h", h=h["id"])[0]["status"] == "审批中"
    r = client.put(
        f"{API}/houses/{h['id']}/approval", headers=world["yh"],
        json={"approval_no": "NJ-B1", "approved_on": (t0 - timedelta(days=100)).isoformat(),
              "craftsman_id_number": yh_no},
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["craftsman"]["name"] == "余建工", r.text
    # A failed inspection: a bad event; sent again with its key: the same answer, no second event.
    key = uuid.uuid4().hex
    first = inspect(client, world, h, "layout", t0 - timedelta(days=90), result="fail", key=key, note="放线偏差")
    assert first.status_code == 201, first.text
    assert first.json()["credit_event"]["event_type"] == "vil_inspection_fail"
    again = inspect(client, world, h, "layout", t0 - timedelta(days=90), result="fail", key=key, note="放线偏差")
    assert again.status_code == 201 and again.json()["credit_event"] == first.json()["credit_event"]
    assert inspect(client, world, h, "layout", t0 - timedelta(days=85)).status_code == 201
    got = events(yh_no)
    assert [(e["event_type"], float(e["points"])) for e in got] == [("vil_inspection_fail", 5.0),
                                                                   ("vil_inspection_pass", 2.0)]  # fmt: skip
    assert got[0]["inspection_id"] == first.json()["id"] and "开工放样" in got[0]["reason"]
    assert "放线偏差" in got[0]["reason"] and got[0]["farmhouse_code"] == rows(
        engine, "SELECT code FROM farmhouses WHERE id = :h", h=h["id"])[0]["code"]  # fmt: skip
    assert credited(yh_no) == 2
    # The builder's record lists them.
    cid = rows(engine, "SELECT craftsman_id FROM farmhouses WHERE id = :h", h=h["id"])[0]["craftsman_id"]
    listed = client.get(f"/api/villages/craftsmen/{cid}", headers=world["yh"]).json()["events"]
    assert {e["title"] for e in listed} == {"农房建设检查合格", "农房建设检查不合格"}
    # Another builder once the inspections counted: refused.
    house_now = client.get(f"{API}/houses/{h['id']}", headers=world["yh"]).json()
    assert house_now["craftsman"] == {"id": cid, "name": "余建工"}
    r = client.put(f"{API}/houses/{h['id']}/craftsman", headers=world["yh"],
                   json={"craftsman_id_number": other_no, "version": house_now["version"]})  # fmt: skip
    assert r.status_code == 409 and r.json()["code"] == "builder_scored"

    # A house approved without a builder: its inspections give nothing until he is given, then theirs (once).
    h2 = new_house(client, world, dx=0.031)
    approve(client, world, h2, days_ago=100)
    assert inspect(client, world, h2, "layout", t0 - timedelta(days=80)).json()["credit_event"] is None
    version = client.get(f"{API}/houses/{h2['id']}", headers=world["yh"]).json()["version"]
    r = client.put(f"{API}/houses/{h2['id']}/craftsman", headers=world["yh"],
                   json={"craftsman_id_number": jd_no, "version": version})  # fmt: skip
    assert r.status_code == 422 and r.json()["code"] == "unknown_craftsman"  # 建德's craftsman: out of 余杭's scope
    r = client.put(f"{API}/houses/{h2['id']}/craftsman", headers=ADMIN,
                   json={"craftsman_id_number": jd_no, "version": version - 1})  # fmt: skip
    assert r.status_code == 409 and r.json()["code"] == "stale"
    r = client.put(f"{API}/houses/{h2['id']}/craftsman", headers=ADMIN,
                   json={"craftsman_id_number": jd_no, "version": version})  # fmt: skip
    assert r.status_code == 200 and len(r.json()["credit_events"]) == 1, r.text
    r = client.put(f"{API}/houses/{h2['id']}/craftsman", headers=ADMIN,
                   json={"craftsman_id_number": jd_no, "version": r.json()["version"]})  # fmt: skip
    assert r.status_code == 200 and r.json()["credit_events"] == []  # the same builder again: nothing new
    # 余杭's inspector does not see 建德's craftsman, yet the inspection counts for him.
    r = inspect(client, world, h2, "trench", t0 - timedelta(days=60), result="fail")
    assert r.status_code == 201 and r.json()["credit_event"]["event_type"] == "vil_inspection_fail", r.text
    assert client.get(f"{API}/houses/{h2['id']}", headers=world["yh"]).json()["craftsman"]["name"] is None
    assert [e["event_type"] for e in events(jd_no)] == ["vil_inspection_pass", "vil_inspection_fail"]
    assert credited(jd_no) == 2
    # ... and 余杭's account still does not see 建德's craftsmen afterwards (its scope was stated again).
    assert client.get("/api/villages/craftsmen", headers=world["yh"], params={"district": JD}).json()["total"] == 0


def test_position_photos_and_key_are_checked(client, world, engine):
    h = new_house(client, world, dx=0.01)
    approve(client, world, h, days_ago=20)
    before = rows(engine, "SELECT count(*) n FROM vil_inspections")[0]["n"]
    far = inspect(client, world, h, "layout", today(), lon=str(h["lon"] + 0.012))
    assert far.status_code == 422 and far.json()["code"] == "too_far_from_house"
    assert far.json()["field"] == "lon" and 1000 < far.json()["detail"]["distance_m"] < 1400
    assert "米" in far.json()["message"]
    r = inspect(client, world, h, "layout", today(), lon=None, lat=None)
    assert r.status_code == 422 and r.json()["code"] == "location_required"
    r = inspect(client, world, h, "layout", today(), photos=0)
    assert r.status_code == 422 and r.json()["code"] == "photos_required"
    r = client.post(
        f"{API}/inspections",
        data={"farmhouse_id": str(h["id"]), "stage": "layout", "inspected_on": today().isoformat(), "result": "pass",
              "lon": str(h["lon"]), "lat": str(h["lat"])},
        files=[("files", ("x.jpg", b"not a picture at all", "image/jpeg"))],
        headers={**world["yh"], "Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert 400 <= r.status_code < 500 and r.json()["field"] == "files"
    r = inspect(client, world, h, "layout", today(), key=False)
    assert r.status_code == 428 and r.json()["code"] == "idempotency_key_required"
    r = inspect(client, world, h, "layout", today() + timedelta(days=3))
    assert r.status_code == 422
    r = inspect(client, world, h, "layout", today() - timedelta(days=30))
    assert r.status_code == 422 and r.json()["code"] == "before_approval"
    r = inspect(client, world, h, "layout", today(), result="ok")
    assert r.status_code == 422 and r.json()["code"] == "invalid_result"
    r = inspect(client, world, h, "nosuch", today())
    assert r.status_code == 422 and r.json()["code"] == "unknown_stage"
    assert rows(engine, "SELECT count(*) n FROM vil_inspections")[0]["n"] == before  # nothing stored
    # A phone reporting GCJ02 (a Chinese map SDK) 30 m east of the house: converted, accepted, stored in WGS84.
    glon, glat = wgs84_to_gcj02(h["lon"] + 0.0003, h["lat"])
    r = inspect(client, world, h, "layout", today(), lon=str(glon), lat=str(glat), crs="GCJ02")
    assert r.status_code == 201, r.text
    assert r.json()["lon"] == pytest.approx(h["lon"] + 0.0003, abs=1e-5) and 20 < r.json()["distance_m"] < 40
    # The test photos carry no EXIF: flagged for the reviewer, not refused.
    assert "照片没有拍摄时间信息" in r.json()["photos"][0]["flags"]


def test_another_district_neither_sees_nor_writes(client, world, engine):
    h = new_house(client, world)
    r = client.put(
        f"{API}/houses/{h['id']}/approval", json={"approval_no": "X", "approved_on": "2026-01-05"}, headers=world["jd"]
    )
    assert r.status_code == 404
    approve(client, world, h, days_ago=10)
    assert inspect(client, world, h, "layout", today(), who="jd").status_code == 404
    assert client.get(f"{API}/houses/{h['id']}", headers=world["jd"]).status_code == 404
    codes = {i["district"] for i in client.get(f"{API}/houses?limit=500", headers=world["jd"]).json()["items"]}
    assert codes <= {JD}
    stats = client.get(f"{API}/stats", headers=world["jd"]).json()
    assert {d["district"] for d in stats["items"]} <= {JD}
    feats = client.get(f"{API}/map", headers=world["jd"]).json()["features"]
    assert all(f["properties"]["district"] == JD for f in feats)
    assert client.get(f"{API}/houses/{h['id']}", headers=world["city"]).status_code == 200
    r = client.put(
        f"{API}/houses/{h['id']}/approval", json={"approval_no": "X", "approved_on": "2026-01-05"}, headers=ADMIN
    )
    assert r.status_code == 200 and r.json()["approval_no"] == "X"  # the administrator may (no stage passed yet)
    anonymous = client.get(f"{API}/houses")
    assert anonymous.status_code == 401


def test_late_overdue_and_statistics_per_county_and_month(client, world, engine):
    late_house = new_house(client, world, district=JD)
    approve(client, world, late_house, days_ago=60, who="jd")
    stale = new_house(client, world, district=JD, dx=0.001)
    approve(client, world, stale, days_ago=45, who="jd")  # layout due 15 days ago, nothing reported: overdue
    fresh = new_house(client, world, district=JD, dx=0.002)
    approve(client, world, fresh, days_ago=3, who="jd")
    day = today() - timedelta(days=10)  # layout 50 days after the approval (due after 30): late
    r = inspect(client, world, late_house, "layout", day, who="jd")
    assert r.status_code == 201 and r.json()["late"] is True
    listed = client.get(f"{API}/houses?overdue=true&limit=500&district={JD}", headers=world["jd"]).json()
    ids = {i["id"] for i in listed["items"]}
    assert stale["id"] in ids and fresh["id"] not in ids and late_house["id"] not in ids
    one = next(i for i in listed["items"] if i["id"] == stale["id"])
    assert one["next_stage"] == "layout" and one["next_due_on"] == (today() - timedelta(days=15)).isoformat()
    stats = client.get(f"{API}/stats?year={day.year}", headers=world["city"]).json()
    jd = next(d for d in stats["items"] if d["district"] == JD)
    expect = rows(
        engine,
        "SELECT count(*) reports, count(*) FILTER (WHERE late) late FROM vil_inspections "
        "WHERE district = :d AND extract(year FROM inspected_on) = :y AND extract(month FROM inspected_on) = :m",
        d=JD,
        y=day.year,
        m=day.month,
    )[0]
    month = jd["months"][day.month - 1]
    assert month["reports"] == expect["reports"] >= 1 and month["late"] == expect["late"] >= 1
    assert jd["has_system"] is False
    assert len(stats["items"]) == 13  # the city sees every county, those with nothing as zeros
    houses = client.get(f"{API}/houses?limit=1&district={JD}", headers=world["city"]).json()["total"]
    overdue = client.get(f"{API}/houses?limit=1&overdue=true&district={JD}", headers=world["city"]).json()["total"]
    assert jd["under_construction"] == houses and jd["overdue"] == overdue >= 1
    counts = client.get(f"{API}/stage-counts", headers=world["city"]).json()["items"]
    from layers.villages import stage_counts

    with engine.connect() as conn:
        assert counts == [dict(c) for c in stage_counts(conn)]
    assert any(c["district"] == JD and c["stage"] == "layout" for c in counts)
    recent = client.get(f"{API}/inspections?district={JD}&month={day:%Y-%m}&late=true", headers=world["city"]).json()
    assert recent["total"] == expect["late"] and all(i["late"] and i["district"] == JD for i in recent["items"])
    assert late_house["id"] in {i["farmhouse_id"] for i in recent["items"]}
    seen_by_yh = client.get(f"{API}/inspections?district={JD}", headers=world["yh"]).json()
    assert seen_by_yh["total"] == 0  # another district's reports are out of scope
    r = client.get(f"{API}/inspections?month=2026-13", headers=world["city"])
    assert r.status_code == 422
    r = client.get(f"{API}/stats?year=1800", headers=world["city"])
    assert r.status_code == 422


def test_administrators_edit_the_stages(client, world, engine):
    code = f"t{world['tag']}"
    try:
        r = client.post("/api/villages/stages", json={"code": code, "name": f"测{world['tag']}", "seq": 900,
                                                      "due_days": 15}, headers=world["yh"])  # fmt: skip
        assert r.status_code == 403
        r = client.post("/api/villages/stages", json={"code": code, "name": f"测{world['tag']}", "seq": 900,
                                                      "due_days": 15}, headers=ADMIN)  # fmt: skip
        assert r.status_code == 201, r.text
        r = client.post("/api/villages/stages", json={"code": code + "x", "name": "另一个", "seq": 900}, headers=ADMIN)
        assert r.status_code == 409 and r.json()["code"] == "seq_taken"
        r = client.post(
            "/api/villages/stages", json={"code": code + "x", "name": "开工放样", "seq": 901}, headers=ADMIN
        )
        assert r.status_code == 409 and r.json()["code"] == "name_taken"
        r = client.post("/api/villages/stages", json={"code": code, "name": "x", "seq": 902, "due_days": 0},
                        headers=ADMIN)  # fmt: skip
        assert r.status_code == 422
        r = client.patch(f"/api/villages/stages/{code}", json={"version": 7, "due_days": 20}, headers=ADMIN)
        assert r.status_code == 409 and r.json()["code"] == "stale"
        r = client.patch(f"/api/villages/stages/{code}", json={"version": 1, "active": False}, headers=ADMIN)
        assert r.status_code == 200 and r.json()["active"] is False and r.json()["version"] == 2
        listed = client.get(f"{API}/stages", headers=world["yh"]).json()["items"]
        assert code not in [s["code"] for s in listed]
        assert [s["code"] for s in listed][:4] == ["layout", "trench", "structure", "completion"]
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM vil_stages WHERE code LIKE :c"), {"c": f"{code}%"})


def test_demo_seeder_leaves_houses_stages_and_inspections_consistent(engine, world):
    from layers.villages.demo_construction import COMPLETED_SHARE, build_construction

    with engine.connect() as conn:
        tx = conn.begin()
        try:
            conn.execute(
                text(
                    "INSERT INTO farmhouses (code, district, status, danger_grade, difficult_family, geom) "
                    "SELECT 'NFDEMO' || g, :d, '存量', 'A', false, "
                    "ST_SetSRID(ST_MakePoint(119.3 + g * 0.0001, 29.5), 4326) FROM generate_series(1, 400) g"
                ),
                {"d": JD},
            )
            under = conn.execute(text("SELECT count(*) FROM farmhouses WHERE status IN ('审批中','在建')")).scalar()
            # Other tests' houses (county pushes, imports) may be 在建 without an approval: only the seeder's count.
            inconsistent = text(
                "SELECT count(*) FROM farmhouses WHERE status = '在建' AND (approval_no IS NULL OR approved_on "
                "IS NULL) OR status = '审批中' AND (approval_no IS NOT NULL OR stage IS NOT NULL)"
            )
            bad_before = conn.execute(inconsistent).scalar()
            stage_mismatch = text(
                "SELECT count(*) FROM farmhouses f LEFT JOIN LATERAL (SELECT i.stage FROM vil_inspections i "
                "JOIN vil_stages s ON s.code = i.stage WHERE i.farmhouse_id = f.id AND i.result = 'pass' "
                "ORDER BY s.seq DESC LIMIT 1) l ON true WHERE f.status IN ('审批中','在建') "
                "AND f.stage IS DISTINCT FROM l.stage"
            )
            mismatch_before = conn.execute(stage_mismatch).scalar()
            pool = conn.execute(
                text(
                    "SELECT count(*) FROM farmhouses f WHERE deleted_at IS NULL AND status = '存量' AND danger_grade "
                    "= 'A' AND NOT difficult_family AND NOT EXISTS (SELECT 1 FROM vil_inspections i "
                    "WHERE i.farmhouse_id = f.id)"
                )
            ).scalar()
            out = build_construction(conn, np.random.default_rng(7), under + 300)
            assert out["farmhouses_under_construction"] == under + 300
            assert conn.execute(text("SELECT count(*) FROM farmhouses WHERE status IN ('审批中','在建')")).scalar() == (
                under + 300
            )
            assert conn.execute(inconsistent).scalar() == bad_before
            # Some houses finished the flow: every active stage passed in order, 竣工验收 last, 已竣工 in its year.
            done = conn.execute(
                text(
                    "SELECT f.id, f.status, f.stage, f.built_year, f.danger_grade, f.approval_no, f.approved_on, "
                    "count(i.id) FILTER (WHERE i.result = 'pass') AS passed, max(i.inspected_on) AS last_on, "
                    "(SELECT i2.stage FROM vil_inspections i2 JOIN vil_stages s ON s.code = i2.stage "
                    " WHERE i2.farmhouse_id = f.id AND i2.result = 'pass' ORDER BY s.seq DESC LIMIT 1) AS top "
                    "FROM farmhouses f JOIN vil_inspections i ON i.farmhouse_id = f.id AND i.source = 'demo' "
                    "WHERE f.status = '已竣工' GROUP BY f.id"
                )
            ).mappings().all()  # fmt: skip
            stages = conn.execute(text("SELECT count(*) FROM vil_stages WHERE active")).scalar()
            assert out["farmhouses_completed"] == len(done) > 0
            # 12 % of the houses through the flow, as far as the stock graded A lasts (the 300 new ones come first)
            assert len(done) == min(round((under + 300) * COMPLETED_SHARE / (1 - COMPLETED_SHARE)), pool - 300)
            for d in done:
                assert (d["stage"], d["top"], d["passed"]) == ("completion", "completion", stages), d
                assert d["built_year"] == d["last_on"].year and d["danger_grade"] == "A" and d["approval_no"]
                assert d["approved_on"] < d["last_on"] <= date(2026, 11, 1)
            # farmhouses.stage is the last stage passed, in order, with no gap (imported houses may carry a
            # stage without inspections: only the seeder's change counts)
            mismatch = conn.execute(stage_mismatch).scalar()
            assert mismatch == mismatch_before
            gaps = conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT farmhouse_id, count(*) n, max(s.seq) top FROM vil_inspections i "
                    "JOIN vil_stages s ON s.code = i.stage WHERE i.result = 'pass' AND i.source = 'demo' "
                    "GROUP BY 1) x WHERE n <> top"
                )
            ).scalar()
            assert gaps == 0
            late, fails, total = conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE late), count(*) FILTER (WHERE result = 'fail'), count(*) "
                    "FROM vil_inspections WHERE source = 'demo'"
                )
            ).one()
            assert total > 200 and 0 < late < total and 0 < fails < total * 0.2
            photos = conn.execute(
                text(
                    "SELECT count(*), count(*) FILTER (WHERE p.flags = '[]'::jsonb), count(DISTINCT p.inspection_id) "
                    "FROM vil_inspection_photos p JOIN vil_inspections i ON i.id = p.inspection_id "
                    "WHERE i.source = 'demo'"
                )
            ).one()
            assert out["vil_inspection_photos"] == photos[0] == photos[1] == photos[2] == min(300, total)
            assert (
                conn.execute(
                    text("SELECT count(*) FROM vil_inspections WHERE source = 'demo' AND inspected_on > :t"),
                    {"t": date(2026, 11, 1)},
                ).scalar()
                == 0
            )
        finally:
            tx.rollback()


def test_the_house_record_lists_its_inspections_and_the_thematic_maps_pass_the_checks(client, world, engine):
    from layers.thematic.declaration import check
    from layers.villages.construction_maps import THEMATIC_DEMO_MAPS

    h = new_house(client, world, dx=0.02)
    approve(client, world, h, days_ago=15)
    assert inspect(client, world, h, "layout", today()).status_code == 201
    r = client.get(f"/records/farmhouses/{h['id']}", headers=world["yh"])
    assert r.status_code == 200 and "审批后阶段巡查" in r.text and "layout" in r.text
    with engine.connect() as conn:
        for spec in THEMATIC_DEMO_MAPS:
            decl, source = check(conn, spec)
            assert decl["slug"] == spec["slug"] and source.id == "farmhouses"


def test_a_county_system_reports_with_its_api_key(client, world, engine):
    """A county system (API key of the ``county_system`` role of 建德市) enters the approval and an inspection of its
    county's house: stored as the county's report; a house of another county is out of its reach."""
    from api.accounts import keys
    from geo.db import transaction

    name = f"vil-county-{world['tag']}"
    make_user(name, ["county_system"], district=JD)
    with transaction() as conn:
        uid = conn.execute(text("SELECT id FROM users WHERE username = :u"), {"u": name}).scalar()
        _, key = keys.create(conn, uid, "建德农房系统", actor="test")
    world["county"] = {"X-API-Key": key}
    h = new_house(client, world, district=JD, dx=0.03)
    approve(client, world, h, days_ago=20, who="county")
    r = inspect(client, world, h, "layout", today(), who="county")
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "county" and r.json()["reported_by"] == name
    other = new_house(client, world, district=YH, dx=0.03)
    r = client.put(
        f"{API}/houses/{other['id']}/approval", json={"approval_no": "X", "approved_on": "2026-01-05"},
        headers=world["county"],
    )  # fmt: skip
    assert r.status_code == 404


@pytest.mark.parametrize("query", ["limit=-1", "limit=0", "limit=501", "offset=-1", "limit=2.5", "near_lon=200"])
def test_paging_out_of_bounds_is_a_422(client, world, query):
    """The house list refuses a page size or offset out of bounds (a negative LIMIT reached the database once)."""
    r = client.get(f"{API}/houses?{query}", headers=world["city"])
    assert r.status_code == 422, (query, r.status_code, r.text[:200])
    if not query.startswith("near"):  # the inspections list has no position
        r = client.get(f"{API}/inspections?{query}", headers=world["city"])
        assert r.status_code == 422, (query, r.status_code, r.text[:200])
