"""The sewage facilities' limits and alarms against the real database: the limits table shipped with its cited
clauses, a facility's override by an administrator (audited), the online status judged on the table, and the
alarm job — exceedance, no data, stuck values, out of range, zero flow — opening once, acknowledged with a note,
closed by the job when the condition clears or by hand, SMS to the district's accounts (rate-limited), counts per
district and facility. Readings are fed through ``store.py`` (the listener's writing path)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from layers.sewage.settings import SewageAlarmSettings
from layers.sewage.store import Reject, add_monitor, store_sync
from tests.conftest import ADMIN, LEADER, make_user

SETTINGS = SewageAlarmSettings()


def make_plant(
    engine, district="淳安县", standard="一级A", kind="城镇污水处理厂", commissioned=None, at=(119.05, 29.6)
) -> dict:
    code = "WA" + uuid.uuid4().hex[:8].upper()
    with engine.begin() as conn:
        pid = conn.execute(
            text(
                "INSERT INTO sewage_plants (code, name, district, kind, capacity_t_d, discharge_standard, "
                "commissioned_on, geom) VALUES (:c, :n, :d, :k, 5000, :s, :co, "
                "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) RETURNING id"
            ),
            {
                "c": code,
                "n": f"告警测试厂{code[-4:]}",
                "d": district,
                "k": kind,
                "s": standard,
                "co": commissioned,
                "lon": at[0],
                "lat": at[1],
            },
        ).scalar_one()
        mn = "A" + uuid.uuid4().hex[:12].upper()
        add_monitor(conn, mn, "pw1234", pid, "test")
        monitor = conn.execute(text("SELECT id FROM sewage_monitors WHERE mn = :m"), {"m": mn}).scalar_one()
    return {"id": pid, "code": code, "monitor": monitor, "district": district}


def feed(plant, at: datetime, values: dict[str, float], cn: int = 2011) -> int:
    """Store readings through the store's writing path; returns how many were new."""
    from geo.db import transaction

    with transaction() as conn:
        ids = dict(conn.execute(text("SELECT code, id FROM sewage_codes")).all())
        rows = [(plant["monitor"], at, cn, ids[c], v, None, None, None, "N") for c, v in values.items()]
        return store_sync(conn, rows, [], 10_000)


def evaluate(now: datetime | None = None) -> dict:
    from geo.db import transaction
    from layers.sewage.alarms import evaluate as run

    with transaction() as conn:  # the app role, system scope: as the job runs
        return run(conn, now or datetime.now(UTC), SETTINGS)


def alarms(engine, plant) -> list[dict]:
    with engine.begin() as conn:
        return [
            dict(r)
            for r in conn.execute(
                text("SELECT * FROM sewage_alarms WHERE plant_id = :p ORDER BY id"), {"p": plant["id"]}
            ).mappings()
        ]


def open_alarms(engine, plant) -> dict[tuple[str, str], dict]:
    return {(a["kind"], a["code"]): a for a in alarms(engine, plant) if a["state"] != "已关闭"}


def open_count(client, plant) -> int:
    """The facility's count of alarms not closed, as the summary (the counts per facility and district) gives it."""
    facilities = client.get("/api/sewage/alarms/summary", headers=LEADER).json()["facilities"]
    return next((f["open"] for f in facilities if f["plant_id"] == plant["id"]), 0)


def sms_to(engine, phone: str) -> list[dict]:
    with engine.begin() as conn:
        return [
            dict(r)
            for r in conn.execute(
                text("SELECT body, purpose, user_id FROM sms_outbox WHERE phone = :p ORDER BY id"), {"p": phone}
            ).mappings()
        ]


def minutes_ago(n: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=n)


# ------------------------------------------------------------------------------------------------ the limits


def test_limits_table_shipped_with_citations(engine):
    from layers.sewage.limits import shipped

    rows = shipped()
    assert len(rows) >= 30
    for r in rows:
        assert r["clause"].startswith(("GB 18918-2002 表1", "DB33/2169-2018 表", "DB33/973-2021 表1")), r
        assert r["verified"] in ("verified", "unverified"), r
        assert (r["verified"] == "verified") == bool(r["source"]), r  # a verified value says where
        assert float(r["max"]) > 0
    sets = {r["set"] for r in rows}
    assert sets == {"GB18918-1A", "GB18918-1B", "GB18918-2", "DB33/2169-T1", "DB33/2169-T2", "DB33/973-1", "DB33/973-2"}
    by = {(r["set"], r["code"]): r for r in rows}
    # GB 18918-2002 表1: ammonia nitrogen 5 (8) for 一级A, 8 (15) for 一级B — two values by water temperature.
    assert (by["GB18918-1A", "w21003"]["max"], by["GB18918-1A", "w21003"]["max_cold"]) == ("5", "8")
    assert (by["GB18918-1B", "w21003"]["max"], by["GB18918-1B", "w21003"]["max_cold"]) == ("8", "15")
    assert by["GB18918-1A", "w01018"]["max"] == "50" and by["GB18918-1A", "w01001"]["min"] == "6"
    with engine.begin() as conn:
        stored = conn.execute(
            text("SELECT set_id, code, max, max_cold, min, clause, verified FROM sewage_limits")
        ).all()
    assert {(s, c): (m, mc, mi, cl, v) for s, c, m, mc, mi, cl, v in stored} == {
        (r["set"], r["code"]): (
            float(r["max"]),
            float(r["max_cold"]) if r["max_cold"] else None,
            float(r["min"]) if r["min"] else None,
            r["clause"],
            r["verified"] == "verified",
        )
        for r in rows
    }


def test_each_facility_gets_its_standard(client, engine):
    urban = make_plant(engine, standard="一级A")
    b = make_plant(engine, standard="一级B")
    quasi_old = make_plant(engine, standard="准IV类", commissioned="2010-05-01")
    quasi_new = make_plant(engine, standard="准IV类", commissioned="2020-05-01")
    rural = make_plant(engine, standard="一级A", kind="农村污水处理终端")
    rural2 = make_plant(engine, standard="二级", kind="农村污水处理终端")

    def limits(p):
        r = client.get(f"/api/sewage/facilities/{p['id']}/limits", headers=LEADER)
        assert r.status_code == 200, r.text
        return r.json()["set_id"], {i["code"]: i for i in r.json()["items"]}

    s, items = limits(urban)
    assert s == "GB18918-1A" and items["w01018"]["max"] == 50 and items["w21003"]["max_cold"] == 8
    assert "GB 18918-2002 表1" in items["w01018"]["clause"] and items["w01018"]["verified"] is True
    assert limits(b)[1]["w01018"]["max"] == 60
    s, items = limits(quasi_old)
    assert s == "DB33/2169-T1" and items["w01018"]["set_id"] == "DB33/2169-T1" and items["w01018"]["max"] == 40
    assert items["w01017"]["set_id"] == "GB18918-1A"  # BOD5: DB33/2169-2018 does not name it, GB 18918 一级A does
    assert limits(quasi_new)[0] == "DB33/2169-T2"
    s, items = limits(rural)
    assert s == "DB33/973-1" and "DB33/973-2021" in items["w01018"]["clause"] and items["w01018"]["verified"] is False
    assert limits(rural2)[0] == "DB33/973-2"
    table = client.get("/api/sewage/limits", headers=LEADER).json()["items"]
    assert {"GB18918-1A", "DB33/973-1"} <= {t["set_id"] for t in table}
    assert client.get("/api/sewage/facilities/999999999/limits", headers=LEADER).status_code == 404


def test_override_by_an_administrator_audited_and_judged(client, engine):
    from geo.db import transaction
    from layers.sewage.status import refresh

    p = make_plant(engine, district="西湖区")
    url = f"/api/sewage/facilities/{p['id']}/limits/w01018"
    body = {"max": 80, "reason": "环评批复的特许排放限值"}
    assert client.put(url, json=body, headers=LEADER).status_code == 403
    r = client.put(url, json={"max": 80, "min": 90, "reason": "错误示例"}, headers=ADMIN)
    assert r.status_code == 422 and r.json()["field"] == "min"
    r = client.put(url, json={"max": 80, "reason": ""}, headers=ADMIN)
    assert r.status_code == 422
    r = client.put(f"/api/sewage/facilities/{p['id']}/limits/w99999", json=body, headers=ADMIN)
    assert r.status_code == 404 and r.json()["code"] == "unknown_code"
    r = client.put(url, json=body, headers=ADMIN)
    assert r.status_code == 200, r.text
    cod = {i["code"]: i for i in r.json()["items"]}["w01018"]
    assert (cod["max"], cod["overridden"], cod["standard_max"], cod["override_reason"]) == (
        80,
        True,
        50,
        body["reason"],
    )
    with engine.begin() as conn:
        before, after = conn.execute(
            text(
                "SELECT before, after FROM audit_log WHERE action = 'sewage_limit_set' AND feature_id = :p "
                "ORDER BY id DESC LIMIT 1"
            ),
            {"p": p["id"]},
        ).one()
    assert before is None and after["max"] == 80

    feed(p, minutes_ago(1), {"w01018": 70.0, "w01001": 7.2})
    with transaction() as conn:
        refresh(conn, datetime.now(UTC))
    with engine.begin() as conn:
        status = conn.execute(text("SELECT online_status FROM sewage_plants WHERE id = :i"), {"i": p["id"]}).scalar()
    assert status == "正常"  # 70 is within the facility's own 80 (the standard's 50 would make it 超标)

    r = client.delete(url, headers=ADMIN)
    assert r.status_code == 200 and {i["code"]: i for i in r.json()["items"]}["w01018"]["max"] == 50
    assert client.delete(url, headers=ADMIN).status_code == 404
    with transaction() as conn:
        refresh(conn, datetime.now(UTC))
    with engine.begin() as conn:
        status = conn.execute(text("SELECT online_status FROM sewage_plants WHERE id = :i"), {"i": p["id"]}).scalar()
    assert status == "超标"


# ------------------------------------------------------------------------------------------------ the alarms


def test_exceedance_opens_once_is_acknowledged_and_closes_with_sms(client, engine):
    evaluate()  # what other tests left is judged and told first
    phone = "139" + str(uuid.uuid4().int)[:8]
    staff = make_user("sa-staff-" + uuid.uuid4().hex[:6], ["district_staff"], district="淳安县", phone=phone)
    other = make_user("sa-other-" + uuid.uuid4().hex[:6], ["district_staff"], district="西湖区")
    reader_phone = "138" + str(uuid.uuid4().int)[:8]  # a read-only account of the district: not texted
    make_user("sa-reader-" + uuid.uuid4().hex[:6], ["leader"], district="淳安县", phone=reader_phone)
    p = make_plant(engine)  # 淳安县, 一级A: COD 50 mg/L
    at = minutes_ago(1)
    feed(p, at, {"w01018": 70.0, "w01001": 7.1})
    out = evaluate()
    assert out["opened"] >= 1
    (alarm,) = open_alarms(engine, p).values()
    with engine.begin() as conn:
        logged = conn.execute(
            text("SELECT detail FROM audit_log WHERE action = 'sewage_alarm_evaluate' ORDER BY id DESC LIMIT 1")
        ).scalar_one()
    assert alarm["id"] in logged["opened"] and logged["sms"] >= 1
    assert (alarm["kind"], alarm["code"], alarm["state"], alarm["district"]) == ("超标", "w01018", "待处理", "淳安县")
    assert alarm["value"] == 70 and alarm["limit_value"] == 50 and "GB 18918-2002 表1" in alarm["message"]
    (msg,) = sms_to(engine, phone)
    assert msg["purpose"] == "sewage_alarm" and "淳安县" in msg["body"] and "超标" in msg["body"]
    assert sms_to(engine, reader_phone) == []

    evaluate()  # the condition holds: no second alarm, no second message
    assert len(alarms(engine, p)) == 1 and len(sms_to(engine, phone)) == 1

    # A second alarm soon after (pH 13: the hour averages 10.05) waits for the interval; an hour later it is told.
    feed(p, minutes_ago(0.5), {"w01001": 13.0})
    evaluate()
    assert ("超标", "w01001") in open_alarms(engine, p) and len(sms_to(engine, phone)) == 1
    evaluate(datetime.now(UTC) + timedelta(minutes=61))
    later = sms_to(engine, phone)
    assert len(later) == 2 and "数据中断" in later[1]["body"]  # the pH alarm and the no-data one of that hour

    # The district's staff acknowledges; another district's staff does not see it; a reader may not act.
    url = f"/api/sewage/alarms/{alarm['id']}"
    assert client.get(url, headers=other).status_code == 404
    assert client.post(url + "/acknowledge", json={"note": "已通知运维"}, headers=LEADER).status_code == 403
    r = client.post(url + "/acknowledge", json={"note": "x"}, headers=staff)
    assert r.status_code == 422 and r.json()["field"] == "note"
    r = client.post(url + "/acknowledge", json={"note": "已通知运维单位排查进水"}, headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "已确认" and r.json()["ack_note"] == "已通知运维单位排查进水"
    assert client.post(url + "/acknowledge", json={"note": "再次确认"}, headers=staff).status_code == 409

    # Lower values bring the hour's average under 50: the job closes it.
    for k in range(3):
        feed(p, at + timedelta(seconds=10 + k), {"w01018": 10.0, "w01001": 7.0})
    evaluate()
    (closed,) = [a for a in alarms(engine, p) if a["code"] == "w01018"]
    assert (closed["state"], closed["closed_by"]) == ("已关闭", "system")
    # The facility's record page lists its alarms; the alarm has a record page of its own.
    record = client.get(f"/api/records/sewage_plants/{p['id']}", headers=staff)
    assert record.status_code == 200, record.text
    assert record.text.count("超标") >= 2 and str(alarm["id"]) in record.text
    assert client.get(f"/api/records/sewage_alarms/{alarm['id']}", headers=staff).status_code == 200
    detail = client.get(url, headers=staff).json()
    assert [e["action"] for e in detail["events"]] == ["opened", "notified", "acknowledged", "closed"]
    with engine.begin() as conn:
        actor = conn.execute(
            text("SELECT actor FROM audit_log WHERE action = 'sewage_alarm_ack' AND feature_id = :i"),
            {"i": alarm["id"]},
        ).scalar()
    assert actor.startswith("sa-staff-")


def test_data_alarms_open_and_close(client, engine):
    evaluate()
    p = make_plant(engine, district="建德市")
    # no data: the last reading 40 minutes old
    feed(p, minutes_ago(40), {"w01001": 7.3})
    evaluate()
    assert ("数据中断", "") in open_alarms(engine, p)
    # stuck: ten pH readings of 7.0 in a row (and a flow of zero for the last minutes)
    for k in range(10):
        feed(p, minutes_ago(10 - k), {"w01001": 7.0, "w00000": 0.0})
    # out of range: a reading refused by the store
    from geo.db import transaction

    with transaction() as conn:
        store_sync(
            conn,
            [],
            [Reject("hj212", None, None, p["id"], "out_of_range", "pH值（w01001）的值 15 超出物理量程")],
            10_000,
        )
    evaluate()
    now_open = open_alarms(engine, p)
    assert ("数据中断", "") not in now_open  # data came back
    assert ("数据恒值", "w01001") in now_open and ("数据恒值", "w00000") not in now_open
    assert ("零流量", "w00000") in now_open and ("超出量程", "") in now_open
    assert "15 超出物理量程" in now_open[("超出量程", "")]["message"]

    # Closing by hand while the condition holds: it opens again at the next run, as a new alarm.
    stuck = now_open[("数据恒值", "w01001")]
    r = client.post(f"/api/sewage/alarms/{stuck['id']}/close", json={"note": "仪表校准中"}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["state"] == "已关闭" and r.json()["close_note"] == "仪表校准中"
    assert (
        client.post(f"/api/sewage/alarms/{stuck['id']}/close", json={"note": "再关"}, headers=ADMIN).status_code == 409
    )
    assert open_count(client, p) == len(now_open) - 1  # the hand-closed one no longer counts
    evaluate()
    again = open_alarms(engine, p)[("数据恒值", "w01001")]
    assert again["id"] != stuck["id"] and open_count(client, p) == len(now_open)

    # Varying values and a flowing plant clear them.
    for k, v in enumerate((7.1, 7.2, 7.15)):
        feed(p, minutes_ago(0.5) + timedelta(seconds=k), {"w01001": v, "w00000": 120.0 + k})
    evaluate()
    left = open_alarms(engine, p)
    assert ("数据恒值", "w01001") not in left and ("零流量", "w00000") not in left

    # Listing: filters, counts, refusals.
    r = client.get("/api/sewage/alarms", params={"plant_id": p["id"], "state": "未关闭"}, headers=LEADER)
    assert r.status_code == 200
    body = r.json()
    assert {i["kind"] for i in body["items"]} == {k for k, _ in left}
    assert body["open_by_kind"]["超出量程"] == 1 and body["by_state"]["已关闭"] >= 3
    r = client.get("/api/sewage/alarms", params={"kind": "火警"}, headers=LEADER)
    assert r.status_code == 422 and r.json()["field"] == "kind"
    r = client.get("/api/sewage/alarms", params={"district": "江干区"}, headers=LEADER)  # gone since 2021
    assert r.status_code == 422 and r.json()["field"] == "district"
    summary = client.get("/api/sewage/alarms/summary", headers=LEADER).json()
    mine = [f for f in summary["facilities"] if f["plant_id"] == p["id"]]
    assert mine[0]["open"] == len(left) and summary["districts"]["建德市"] >= len(left)


def test_the_job_is_declared_and_runs_as_the_app_role():
    from geo import modules
    from geo.jobs import run

    (j,) = [j for j in modules.jobs() if j.id == "sewage.evaluate_alarms"]
    assert j.cron == "* * * * *"
    out = run(j)
    assert set(out) == {"opened", "closed", "still_open", "sms"}


def test_alarm_counts_on_the_thematic_map(engine):
    from geo.db import transaction
    from layers.sewage.alarms import THEMATIC_DEMO_MAPS
    from layers.thematic.declaration import check
    from layers.thematic.engine import compute

    p = make_plant(engine, district="桐庐县")
    q = make_plant(engine, district="桐庐县")
    feed(p, minutes_ago(1), {"w01018": 99.0, "w01001": 13.5})  # COD and pH: two alarms
    feed(q, minutes_ago(1), {"w21011": 4.0})  # total phosphorus: one
    evaluate()
    with engine.begin() as conn:
        expected = conn.execute(
            text("SELECT count(*) FROM sewage_alarms WHERE active AND district = '桐庐县'")
        ).scalar_one()
        mine = conn.execute(
            text("SELECT count(*) FROM sewage_alarms WHERE active AND plant_id IN (:p, :q)"),
            {"p": p["id"], "q": q["id"]},
        ).scalar_one()
    assert mine == 3
    with transaction() as conn:
        decl, source = check(conn, dict(THEMATIC_DEMO_MAPS[0]))
        assert source.id == "sewage_alarms" and decl["filter"]["value"] is True
        answer = compute(conn, decl, source)
    (tonglu,) = [g for g in answer["groups"] if g["name"] == "桐庐县"]
    assert tonglu["value"] == tonglu["n"] == expected >= 3


def test_open_alarms_in_the_facility_popup(client, engine):
    """The one map's popup: the facility's count of open alarms and the worst one's kind follow the alarms opening
    and closing — in the feature's properties (the API) and in the map's vector tiles (what the popup reads)."""
    import math
    import runpy
    from pathlib import Path

    import mapbox_vector_tile

    from layers.sewage import ALARM_SEVERITY
    from layers.sewage.alarms import KINDS

    migration = Path(__file__).resolve().parent.parent / "layers/sewage/migrations/sew_0006_alarm_popup.py"
    assert sorted(ALARM_SEVERITY) == sorted(KINDS) and runpy.run_path(str(migration))["SEVERITY"] == ALARM_SEVERITY
    evaluate()
    p = make_plant(engine, district="临安区")  # 一级A: COD 50 mg/L

    def feature() -> tuple[int, str]:
        r = client.get(f"/api/layers/sewage_plants/features/{p['id']}", headers=LEADER)
        assert r.status_code == 200, r.text
        return r.json()["properties"]["open_alarms"], r.json()["properties"]["alarm_kind"]

    def tile() -> tuple[int, str]:
        z, lon, lat = 14, 119.05, 29.6  # where make_plant puts its facilities
        x, y = int((lon + 180) / 360 * 2**z), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2**z)
        r = client.get(f"/tiles/sewage_plants/{z}/{x}/{y}.mvt", headers=LEADER)
        assert r.status_code == 200, r.text
        (f,) = [f for f in mapbox_vector_tile.decode(r.content)["sewage_plants"]["features"] if f["id"] == p["id"]]
        return f["properties"]["open_alarms"], f["properties"]["alarm_kind"]

    assert feature() == tile() == (0, "无")
    at = minutes_ago(2)
    feed(p, at, {"w01018": 70.0, "w01001": 7.1, "w00000": 0.0})
    feed(p, at + timedelta(seconds=30), {"w00000": 0.0})
    evaluate()
    assert set(open_alarms(engine, p)) == {("超标", "w01018"), ("零流量", "w00000")}
    assert feature() == tile() == (2, "超标")  # an exceedance is worse than a plant that stopped flowing

    # Lower values bring the hour's COD average under 50: the job closes the exceedance; the zero flow stays.
    for k in range(3):
        feed(p, at + timedelta(seconds=40 + k), {"w01018": 10.0, "w00000": 0.0})
    evaluate()
    assert set(open_alarms(engine, p)) == {("零流量", "w00000")}
    assert feature() == tile() == (1, "零流量")

    # Closed by hand: the popup shows it at once (not at the job's next run).
    (flow,) = open_alarms(engine, p).values()
    r = client.post(f"/api/sewage/alarms/{flow['id']}/close", json={"note": "停产检修，已报备"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert feature() == tile() == (0, "无")
    assert open_count(client, p) == 0
