"""Custom sewage reports (自定义报表) against readings stored through the real storing path (COPY, roll-ups): every
aggregation and grain checked against the values worked out by hand from those readings, the operation report
(hours with data, availability, running, fault, stopped and maintenance hours), templates (own, shared, district
scope), the Excel export and the monthly files."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from geo import jobs, modules
from geo.db import transaction
from layers.sewage.hj212 import BEIJING
from layers.sewage.store import store_sync
from tests.conftest import ADMIN, LEADER, make_user
from tests.test_sewage_hj212 import make_plant

API = "/api/sewage/reports"


def report_day() -> date:
    """A Beijing day 9 to 30 days ago whose next day is in the same ISO week and month (so the week and month
    buckets hold both days)."""
    d = datetime.now(BEIJING).date() - timedelta(days=9)
    while d.weekday() == 6 or (d + timedelta(days=1)).month != d.month:
        d -= timedelta(days=1)
    return d


D = report_day()
D1 = D + timedelta(days=1)


def at(day: date, hour: int, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BEIJING)


# (day, hour, minute, code, value, flag, cn): the facility's readings, worked out by hand below.
READINGS = [
    (D, 8, 0, "w00000", 100.0, "N", 2051),
    (D, 8, 30, "w00000", 200.0, "N", 2051),  # hour 8: average 150 L/s → 540 m³
    (D, 9, 10, "w00000", 50.0, "D", 2051),  # hour 9: 50 L/s → 180 m³; flagged fault. Day: 350 / 3 L/s → 10,080 m³
    (D, 8, 5, "w01018", 40.0, "N", 2051),
    (D, 8, 35, "w01018", 20.0, "N", 2051),  # hour 8: 30 mg/L × 540 m³ = 16.2 kg
    (D, 9, 15, "w01018", 60.0, "N", 2051),  # hour 9: 60 mg/L × 180 m³ = 10.8 kg. Day: 40 mg/L × 10,080 m³
    (D, 8, 0, "w01018", 999.0, "N", 2061),  # an hourly-data packet: not a real-time or minute value, not counted
    (D, 8, 0, "w01001", 7.0, "N", 2011),
    (D1, 10, 0, "w00000", 0.0, "F", 2011),  # stopped: no volume, not running
    (D1, 10, 20, "w01018", 10.0, "N", 2011),
    (D1, 10, 25, "w01001", 7.2, "M", 2011),
    (D1, 10, 40, "w01001", 7.4, "C", 2011),  # maintenance and calibration in the same hour: one hour
]


def store(engine, plant: dict, readings=READINGS) -> None:
    with engine.begin() as conn:
        mid = conn.execute(text("SELECT id FROM sewage_monitors WHERE mn = :mn"), {"mn": plant["mn"]}).scalar_one()
        codes = dict(conn.execute(text("SELECT code, id FROM sewage_codes")).all())
    rows = [(mid, at(d, h, m), cn, codes[c], v, None, None, None, f) for d, h, m, c, v, f, cn in readings]
    with transaction() as conn:
        assert store_sync(conn, rows, [], 1000) == len(rows)


@pytest.fixture(scope="module")
def world(engine):
    a = make_plant(engine)  # 西湖区
    store(engine, a)
    b = make_plant(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE sewage_plants SET district = '滨江区' WHERE id = :i"), {"i": b["id"]})
    store(engine, b, [(D, 8, 0, "w00000", 10.0, "N", 2051)])
    tag = uuid.uuid4().hex[:6]
    return {
        "a": a,
        "b": b,
        "xihu": make_user(f"rep-xh-{tag}", ["district_staff"], district="西湖区"),
        "xihu2": make_user(f"rep-xh2-{tag}", ["district_staff"], district="西湖区"),
        "binjiang": make_user(f"rep-bj-{tag}", ["district_staff"], district="滨江区"),
    }


def spec(plant, **changes) -> dict:
    return {
        "kind": "quality",
        "plant_ids": [plant["id"]],
        "codes": ["w01018"],
        "aggregations": ["avg", "max", "min", "sum"],
        "grain": "day",
        "start": D.isoformat(),
        "end": D1.isoformat(),
        **changes,
    }


def preview(client, headers, body) -> dict:
    r = client.post(f"{API}/preview", headers=headers, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def by_label(report: dict) -> dict[str, dict]:
    return {row["label"]: row["values"] for row in report["rows"]}


def approx(values: dict, expected: dict) -> None:
    for k, v in expected.items():
        assert values[k] == pytest.approx(v) if v is not None else values[k] is None, (k, values)


def test_water_quality_by_day_hour_week_and_month(client, world):
    a = world["a"]
    day = by_label(preview(client, ADMIN, spec(a)))
    assert list(day) == [D.isoformat(), D1.isoformat()]
    approx(day[D.isoformat()], {"w01018.avg": 40, "w01018.max": 60, "w01018.min": 20, "w01018.sum": 403.2})
    approx(day[D1.isoformat()], {"w01018.avg": 10, "w01018.max": 10, "w01018.min": 10, "w01018.sum": 0})

    hours = preview(client, ADMIN, spec(a, grain="hour", end=D.isoformat()))
    assert len(hours["rows"]) == 24
    h = by_label(hours)
    approx(h[f"{D} 08:00"], {"w01018.avg": 30, "w01018.max": 40, "w01018.min": 20, "w01018.sum": 16.2})
    approx(h[f"{D} 09:00"], {"w01018.avg": 60, "w01018.max": 60, "w01018.min": 60, "w01018.sum": 10.8})
    approx(h[f"{D} 10:00"], {"w01018.avg": None, "w01018.max": None, "w01018.sum": None})

    week = preview(client, ADMIN, spec(a, grain="week"))
    assert len(week["rows"]) == 1 and "周" in week["rows"][0]["label"]
    approx(week["rows"][0]["values"], {"w01018.avg": 32.5, "w01018.max": 60, "w01018.min": 10, "w01018.sum": 403.2})
    month = preview(client, ADMIN, spec(a, grain="month"))
    assert [r["label"] for r in month["rows"]] == [f"{D:%Y-%m}"]
    approx(month["rows"][0]["values"], {"w01018.avg": 32.5, "w01018.sum": 403.2})
    cols = {c["key"]: c for c in month["columns"]}
    assert cols["w01018.sum"]["unit"] == "kg" and cols["w01018.avg"]["unit"] == "mg/L"


def test_flow_volume_and_averages(client, world):
    a = world["a"]
    day = by_label(preview(client, ADMIN, spec(a, kind="flow", codes=[])))
    approx(day[D.isoformat()], {"w00000.avg": 350 / 3, "w00000.max": 200, "w00000.min": 50, "w00000.sum": 10080})
    approx(day[D1.isoformat()], {"w00000.avg": 0, "w00000.sum": 0})
    r = preview(client, ADMIN, spec(a, kind="flow", codes=[], aggregations=["sum"]))
    assert [(c["key"], c["unit"]) for c in r["columns"]] == [("w00000.sum", "m³")]
    assert any("86400 秒" in n for n in r["notes"])  # the report says how a day's volume is worked out
    hours = preview(
        client, ADMIN, spec(a, kind="flow", codes=[], aggregations=["sum"], grain="hour", end=D.isoformat())
    )
    assert any("3600 秒" in n for n in hours["notes"])
    approx(by_label(hours)[f"{D} 08:00"], {"w00000.sum": 540})
    approx(by_label(hours)[f"{D} 09:00"], {"w00000.sum": 180})
    # A district: its facilities, one row each per bucket.
    r = preview(
        client, world["binjiang"], spec(a, kind="flow", codes=[], plant_ids=[], district="滨江区", grain="month")
    )
    mine = [row for row in r["rows"] if row["plant_id"] == world["b"]["id"]]
    assert {row["district"] for row in r["rows"]} == {"滨江区"}
    approx(mine[0]["values"], {"w00000.avg": 10, "w00000.sum": 864})


def test_operation_report(client, world):
    a = world["a"]
    body = spec(a, kind="operation", codes=[], aggregations=[])
    day = by_label(preview(client, ADMIN, body))
    assert day[D.isoformat()] == {
        "readings": 7,  # 3 flow, 3 COD (not the hourly-data packet's), 1 pH
        "data_hours": 2,
        "expected_hours": 24,
        "availability": round(100 * 2 / 24, 2),
        "running_hours": 2,
        "fault_hours": 1,
        "stopped_hours": 0,
        "maintenance_hours": 0,
    }
    assert day[D1.isoformat()] == {
        "readings": 4,
        "data_hours": 1,
        "expected_hours": 24,
        "availability": round(100 / 24, 2),
        "running_hours": 0,
        "fault_hours": 0,
        "stopped_hours": 1,
        "maintenance_hours": 1,
    }
    month = preview(client, ADMIN, {**body, "grain": "month"})["rows"][0]["values"]
    assert (month["readings"], month["data_hours"], month["expected_hours"], month["fault_hours"]) == (11, 3, 48, 1)


def test_bad_choices_are_refused_with_the_reason(client, world):
    a = world["a"]
    cases = [
        (spec(a, end=(D - timedelta(days=1)).isoformat()), "bad_period", "end"),
        (spec(a, codes=["w01001"]), "no_sum", "aggregations"),
        (spec(a, grain="hour", end=(D + timedelta(days=40)).isoformat()), "period_too_long", "end"),
        (spec(a, plant_ids=[]), "required", "plant_ids"),
        (spec(a, district="西湖区"), "facilities_or_district", "district"),
        (spec(a, codes=["w00000"]), "not_for_quality", "codes"),
        (spec(a, kind="operation"), "not_for_operation", "codes"),
        (spec(a, aggregations=[]), "required", "aggregations"),
    ]
    for body, code, field in cases:
        r = client.post(f"{API}/preview", headers=ADMIN, json=body)
        assert r.status_code == 422, (code, r.text)
        assert (r.json()["code"], r.json()["field"]) == (code, field), r.json()
    r = client.post(f"{API}/preview", headers=ADMIN, json=spec(a, start="0280-01-01"))
    assert r.status_code == 422 and r.json()["field"] == "start"


def test_a_district_sees_only_its_facilities(client, world):
    a, b = world["a"], world["b"]
    r = client.post(f"{API}/preview", headers=world["binjiang"], json=spec(a))
    assert r.status_code == 422 and r.json()["code"] == "unknown_facility"
    assert preview(client, world["xihu"], spec(a))["rows"]
    opts = client.get(f"{API}/options", headers=world["binjiang"]).json()
    ids = {f["id"] for f in opts["facilities"]}
    assert b["id"] in ids and a["id"] not in ids and opts["districts"] == ["滨江区"]
    assert client.get(f"{API}/options").status_code in (401, 403)


def test_excel_export(client, world, engine):
    a = world["a"]
    r = client.post(f"{API}/export", headers=ADMIN, json=spec(a, kind="flow", codes=[]))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(values_only=True))
    header = rows[4]
    assert header[:4] == ("设施编号", "设施名称", "所属区县", "时间") and "污水流量累计量(m³)" in header
    line = next(x for x in rows[5:] if x[3] == D.isoformat())
    assert line[0] == a["code"] and line[header.index("污水流量累计量(m³)")] == pytest.approx(10080)
    assert line[header.index("污水流量平均值(L/s)")] == pytest.approx(116.6667)
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM audit_log WHERE action = 'export' AND layer = 'sewage_reports'")
            ).scalar()
            >= 1
        )


def count_templates(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM sewage_report_templates")).scalar_one()


def test_templates_own_shared_and_district(client, world, engine):
    a = world["a"]
    before = count_templates(engine)
    r = client.post(f"{API}/templates", headers=LEADER, json={"name": "只读", "spec": spec(a)})
    assert r.status_code == 403
    r = client.post(
        f"{API}/templates", headers=world["xihu"], json={"name": "坏模板", "spec": spec(a, codes=["w01001"])}
    )
    assert r.status_code == 422 and count_templates(engine) == before
    r = client.post(f"{API}/templates", headers=world["xihu"], json={"name": "西湖水质日报", "spec": spec(a)})
    assert r.status_code == 201, r.text
    t = r.json()
    assert (t["district"], t["shared"], t["owner"], t["mine"]) == ("西湖区", False, t["owner"], True)
    names = lambda h: [x["name"] for x in client.get(f"{API}/templates", headers=h).json()["items"]]  # noqa: E731
    assert "西湖水质日报" in names(world["xihu"]) and "西湖水质日报" not in names(world["xihu2"])
    assert client.get(f"{API}/templates/{t['id']}/files", headers=world["xihu2"]).status_code == 404
    r = client.put(
        f"{API}/templates/{t['id']}",
        headers=world["xihu"],
        json={"name": "西湖水质日报", "shared": True, "spec": spec(a), "version": t["version"]},
    )
    assert r.status_code == 200 and r.json()["version"] == t["version"] + 1
    assert "西湖水质日报" in names(world["xihu2"])  # shared within the district
    assert "西湖水质日报" not in names(world["binjiang"])  # never outside it
    assert "西湖水质日报" in names(ADMIN)
    # Only the owner changes it; a stale version is refused.
    r = client.put(
        f"{API}/templates/{t['id']}",
        headers=world["xihu2"],
        json={"name": "改名", "spec": spec(a), "version": t["version"] + 1},
    )
    assert r.status_code == 403
    r = client.delete(f"{API}/templates/{t['id']}", headers=world["xihu"], params={"version": t["version"]})
    assert r.status_code == 409
    r = client.delete(f"{API}/templates/{t['id']}", headers=world["xihu"], params={"version": t["version"] + 1})
    assert r.status_code == 204 and count_templates(engine) == before
    with engine.connect() as conn:
        actions = conn.execute(
            text(
                "SELECT action FROM audit_log WHERE layer = 'sewage_report_templates' AND feature_id = :i ORDER BY id"
            ),
            {"i": t["id"]},
        ).scalars()
        assert list(actions) == ["sewage_report_template_save"] * 2 + ["sewage_report_template_delete"]


def test_monthly_files_are_generated_kept_and_downloadable(client, world, engine):
    a = world["a"]
    r = client.post(
        f"{API}/templates",
        headers=world["xihu"],
        json={"name": f"月报{uuid.uuid4().hex[:4]}", "monthly": True, "spec": spec(a, kind="flow", codes=[])},
    )
    assert r.status_code == 201, r.text
    t = r.json()
    job = next(j for j in modules.jobs() if j.id == "sewage.generate_monthly_reports")
    first_next = (D.replace(day=28) + timedelta(days=4)).replace(day=1)
    now = datetime(first_next.year, first_next.month, 1, 1, 30, tzinfo=UTC)
    out = jobs.run(job, now)
    assert out["month"] == f"{D:%Y-%m}" and out["files"], out
    jobs.run(job, now)  # run again (a retry): the month's file is replaced, not doubled
    files = client.get(f"{API}/templates/{t['id']}/files", headers=world["xihu"]).json()["items"]
    assert [f["month"] for f in files] == [f"{D:%Y-%m}"]
    got = client.get(f"{API}/files/{files[0]['id']}", headers=world["xihu"])
    assert got.status_code == 200
    ws = load_workbook(io.BytesIO(got.content)).active
    rows = list(ws.iter_rows(values_only=True))
    header = rows[4]
    days = [x for x in rows[5:] if x[0] == a["code"]]
    assert len(days) == (first_next - D.replace(day=1)).days  # every day of the month
    line = next(x for x in days if x[3] == D.isoformat())
    assert line[header.index("污水流量累计量(m³)")] == pytest.approx(10080)
    # Another district never sees the template's files; on demand, the owner generates a month again.
    assert client.get(f"{API}/files/{files[0]['id']}", headers=world["binjiang"]).status_code == 404
    r = client.post(f"{API}/templates/{t['id']}/files", headers=world["xihu"], params={"month": f"{D:%Y-%m}"})
    assert r.status_code == 201, r.text
    r = client.post(f"{API}/templates/{t['id']}/files", headers=world["xihu"], params={"month": "2999-01"})
    assert r.status_code == 422
    r = client.post(f"{API}/templates/{t['id']}/files", headers=world["xihu2"], params={"month": f"{D:%Y-%m}"})
    assert r.status_code == 404  # not shared: not even visible


def test_the_monthly_job_uses_the_owners_current_scope(client, world, engine):
    """An owner moved to another district no longer gets files of the old district's facilities; a disabled owner
    gets none; the other templates are still generated."""
    a = world["a"]
    tag = uuid.uuid4().hex[:6]
    moved, gone = f"rep-moved-{tag}", f"rep-gone-{tag}"
    ids = {}
    for name in (moved, gone):
        headers = make_user(name, ["district_staff"], district="西湖区")
        r = client.post(
            f"{API}/templates", headers=headers, json={"name": f"月报-{name}", "monthly": True, "spec": spec(a)}
        )
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET district = '滨江区' WHERE username = :u"), {"u": moved})
        conn.execute(text("UPDATE users SET active = false WHERE username = :u"), {"u": gone})
    job = next(j for j in modules.jobs() if j.id == "sewage.generate_monthly_reports")
    first_next = (D.replace(day=28) + timedelta(days=4)).replace(day=1)
    out = jobs.run(job, datetime(first_next.year, first_next.month, 1, 1, 30, tzinfo=UTC))
    assert out["skipped"][ids[moved]] == "unknown_facility"
    assert out["skipped"][ids[gone]] == "owner_cannot_view"
    with engine.connect() as conn:
        n = conn.execute(
            text("SELECT count(*) FROM sewage_report_files WHERE template_id = ANY(:t)"), {"t": list(ids.values())}
        ).scalar_one()
    assert n == 0


def test_a_total_row_over_the_facilities(client, world):
    a, b = world["a"], world["b"]
    body = spec(a, kind="flow", codes=[], plant_ids=[a["id"], b["id"]], total=True)
    r = preview(client, ADMIN, body)
    totals = {row["label"]: row for row in r["rows"] if row["plant_id"] is None}
    assert list(totals) == [D.isoformat(), D1.isoformat()]
    assert totals[D.isoformat()]["plant_name"] == "所选设施合计"
    # Values weigh alike across facilities: (100 + 200 + 50 + 10) / 4; volumes add up: 10,080 + 10 × 86.4.
    approx(
        totals[D.isoformat()]["values"], {"w00000.avg": 90, "w00000.max": 200, "w00000.min": 10, "w00000.sum": 10944}
    )
    op = preview(client, ADMIN, {**body, "kind": "operation", "aggregations": []})
    total = next(row["values"] for row in op["rows"] if row["plant_id"] is None and row["label"] == D.isoformat())
    assert (total["readings"], total["data_hours"], total["expected_hours"], total["availability"]) == (
        8,
        3,
        48,
        6.25,
    )
    assert total["fault_hours"] == 1


def test_flagged_readings_are_found_through_their_partial_index(engine, world):
    """The operation report reads the readings only through ``sewage_readings_flagged`` (a partial index of the
    flagged ones): never a scan of the readings."""
    import json

    from layers.sewage.reports import FLAGGED_SQL

    with engine.begin() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        conn.execute(text("SET LOCAL enable_bitmapscan = off"))
        plan = conn.execute(
            text("EXPLAIN (FORMAT JSON) " + FLAGGED_SQL),
            {"plants": [world["a"]["id"]], "unit": "day", "lo": at(D, 0, 0), "hi": at(D1, 0, 0) + timedelta(days=1)},
        ).scalar_one()
        flagged = set(
            conn.execute(
                text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'sewage_readings_flagged'::regclass"
                )
            ).scalars()
        )
    plan = plan if isinstance(plan, list) else json.loads(plan)
    reads = []

    def walk(node):
        if node.get("Relation Name", "").startswith("sewage_readings"):
            reads.append((node["Node Type"], node.get("Index Name")))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    assert reads and all(kind.startswith("Index") and name in flagged for kind, name in reads), reads


def test_a_template_the_city_shares_is_read_by_every_district_but_not_its_files(client, world, engine):
    city = make_user(f"rep-city-{uuid.uuid4().hex[:6]}", ["city_supervisor"])
    a = world["a"]
    body = spec(a, kind="flow", codes=[], plant_ids=[], district="西湖区")
    r = client.post(f"{API}/templates", headers=city, json={"name": "全市共享水量表", "shared": True, "spec": body})
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["district"] is None
    r = client.post(f"{API}/templates/{t['id']}/files", headers=city, params={"month": f"{D:%Y-%m}"})
    assert r.status_code == 201, r.text
    for district in ("xihu", "binjiang"):
        items = client.get(f"{API}/templates", headers=world[district]).json()["items"]
        assert t["id"] in [x["id"] for x in items]
        files = client.get(f"{API}/templates/{t['id']}/files", headers=world[district]).json()["items"]
        assert files == []  # computed in the city's scope: the city's only
        assert client.get(f"{API}/files/{r.json()['id']}", headers=world[district]).status_code == 404
    # The district uses the shared choice in its own scope: 滨江区 gets no 西湖区 facility.
    r = client.post(f"{API}/preview", headers=world["binjiang"], json=body)
    assert r.status_code == 422 and r.json()["code"] == "no_facility"
    assert [x["month"] for x in client.get(f"{API}/templates/{t['id']}/files", headers=city).json()["items"]] == [
        f"{D:%Y-%m}"
    ]
