"""The HJ 212-2017 listener driven with real sockets against the real database: good packets stored and answered,
malformed, wrong-CRC, unknown-MN, wrong-password, split and coalesced packets, duplicates, roll-ups, partitions,
and the HTTP batch of forwarding platforms with and without an API key."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from layers.sewage import hj212
from layers.sewage.listener import Listener
from layers.sewage.store import add_monitor

# The standard's own example packet (HJ 212-2017 appendix A): its CRC is 1C80.
STANDARD_EXAMPLE = (
    b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;"
    b"CP=&&RtdInterval=30&&1C80\r\n"
)


def test_crc_of_the_standard_example():
    segment = STANDARD_EXAMPLE[6:-6]
    assert len(segment) == 101 and hj212.crc16(segment) == 0x1C80
    assert hj212.frame(segment.decode()) == STANDARD_EXAMPLE
    # Not CRC-16/MODBUS, which the same polynomial would give when the byte is XORed into the low byte.
    r = 0xFFFF
    for b in segment:
        r ^= b
        for _ in range(8):
            r = (r >> 1) ^ 0xA001 if r & 1 else r >> 1
    assert r != 0x1C80


def make_plant(engine, standard: str = "一级A") -> dict:
    """A facility of its own (西湖区) with one monitor."""
    code = "WS" + uuid.uuid4().hex[:8].upper()
    with engine.begin() as conn:
        pid = conn.execute(
            text(
                "INSERT INTO sewage_plants (code, name, district, kind, capacity_t_d, discharge_standard, geom) VALUES "
                "(:c, '测试污水处理厂', '西湖区', '城镇污水处理厂', 20000, :s, ST_SetSRID(ST_MakePoint(120.1, 30.25), 4326)) "
                "RETURNING id"
            ),
            {"c": code, "s": standard},
        ).scalar_one()
        mn = "T" + uuid.uuid4().hex[:12].upper()
        add_monitor(conn, mn, "pw1234", pid, "test")
    return {"id": pid, "mn": mn, "pw": "pw1234", "code": code}


@pytest.fixture(scope="module")
def plant(engine):
    return make_plant(engine)


@pytest.fixture(scope="module")
def listener(plant):
    """The real listener on a free loopback port, in its own event loop thread."""
    loop = asyncio.new_event_loop()
    lst = Listener("127.0.0.1", 0)
    lst.writer.flush_s = 0.05
    ready = threading.Event()

    def run():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(lst.start())
        ready.set()
        loop.run_forever()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(30)
    yield lst
    asyncio.run_coroutine_threadsafe(lst.stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    t.join(10)


def connect(listener) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", listener.port), timeout=5)
    return s


def now_bj() -> datetime:
    return datetime.now(hj212.BEIJING).replace(microsecond=0) - timedelta(minutes=1)


def packet(plant, at, values=None, pw=None, mn=None, reply=True, cn=2011) -> bytes:
    values = values or {"w01018": {"value": 23.5, "flag": "N"}, "w21003": {"value": 1.25, "flag": "N"}}
    return hj212.data_packet(mn or plant["mn"], pw or plant["pw"], cn, at, values, reply=reply)


def stored(engine, plant, at) -> list:
    with engine.begin() as conn:
        return conn.execute(
            text(
                "SELECT c.code, r.value, r.flag, r.cn FROM sewage_readings r JOIN sewage_monitors m ON m.id = r.monitor_id "
                "JOIN sewage_codes c ON c.id = r.code_id WHERE m.plant_id = :p AND r.data_time = :t ORDER BY c.code"
            ),
            {"p": plant["id"], "t": at},
        ).all()


def rejects_since(engine, rid) -> list:
    with engine.begin() as conn:
        return conn.execute(
            text("SELECT reason, mn, detail FROM sewage_rejects WHERE id > :i ORDER BY id"), {"i": rid}
        ).all()


def max_reject(engine) -> int:
    with engine.begin() as conn:
        return conn.execute(text("SELECT coalesce(max(id), 0) FROM sewage_rejects")).scalar_one()


def wait_for(fn, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.05)


def read_answer(s: socket.socket) -> bytes:
    buf = b""
    while not buf.endswith(b"\r\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf


def test_good_packet_stored_and_answered(listener, plant, engine):
    at = now_bj()
    p = packet(plant, at)
    with connect(listener) as s:
        s.sendall(p)
        answer = read_answer(s)
    segment = answer[6:-6].decode()
    assert hj212.crc16(answer[6:-6]) == int(answer[-6:-2], 16)
    qn = p.decode().split("QN=")[1].split(";")[0]
    assert f"QN={qn};ST=91;CN=9014;" in segment and f"MN={plant['mn']}" in segment
    rows = stored(engine, plant, at)
    assert [(r.code, r.value, r.flag, r.cn) for r in rows] == [("w01018", 23.5, "N", 2011), ("w21003", 1.25, "N", 2011)]


def test_no_answer_when_not_asked(listener, plant, engine):
    at = now_bj() - timedelta(minutes=1)
    with connect(listener) as s:
        s.sendall(packet(plant, at, reply=False))
        assert wait_for(lambda: stored(engine, plant, at))
        s.settimeout(0.5)
        with pytest.raises(TimeoutError):
            s.recv(100)


def test_malformed_packets_refused_connection_goes_on(listener, plant, engine):
    base = max_reject(engine)
    t0 = now_bj() - timedelta(minutes=2)
    good = packet(plant, t0)
    bad_crc = good[:-6] + (b"0000" if not good.endswith(b"0000\r\n") else b"1111") + b"\r\n"
    segment = good[6:-6]
    bad_len = b"##%04d" % (len(segment) + 3) + segment + b"%04X\r\n" % hj212.crc16(segment)
    bad_field = hj212.frame(segment.decode().replace("w01018-Rtd=23.5", "w01018-Rtd=abc"))
    no_cp = hj212.frame(f"QN=20261207000000000;ST=32;CN=2011;PW=x;MN={plant['mn']};Flag=4")
    t1 = now_bj() - timedelta(minutes=3)
    with connect(listener) as s:
        for piece in (bad_crc, bad_len, bad_field, no_cp, b"garbage\r\n"):
            s.sendall(piece)
            time.sleep(0.05)
        s.sendall(packet(plant, t1))  # the connection still works
        assert read_answer(s)
    assert stored(engine, plant, t0) == []
    assert len(stored(engine, plant, t1)) == 2
    reasons = [
        r.reason
        for r in wait_for(lambda: rejects_since(engine, base) if len(rejects_since(engine, base)) >= 5 else None)
    ]
    assert reasons.count("bad_crc") == 1 and "bad_length" in reasons and "bad_value" in reasons
    assert "bad_cp" in reasons and "no_header" in reasons


def test_unknown_mn_and_wrong_password_refused(listener, plant, engine):
    base = max_reject(engine)
    at = now_bj() - timedelta(minutes=4)
    with connect(listener) as s:
        s.sendall(packet(plant, at, pw="wrong!"))
        s.sendall(packet(plant, at, mn="NOSUCHMN0001"))
        s.settimeout(1.0)
        with pytest.raises(TimeoutError):
            s.recv(100)  # refused: no answer
    rows = wait_for(lambda: r if len(r := rejects_since(engine, base)) >= 2 else None)
    assert {(r.reason, r.mn) for r in rows} == {("bad_password", plant["mn"]), ("unknown_mn", "NOSUCHMN0001")}
    assert stored(engine, plant, at) == []


def test_split_and_coalesced_packets(listener, plant, engine):
    a, b, c = (now_bj() - timedelta(minutes=m) for m in (5, 6, 7))
    pa, pb, pc = packet(plant, a, reply=False), packet(plant, b, reply=False), packet(plant, c)
    with connect(listener) as s:
        s.sendall(pa[:3])
        time.sleep(0.1)
        s.sendall(pa[3:40])
        time.sleep(0.1)
        s.sendall(pa[40:] + pb + pc[:-1])  # the rest of one, a whole one and all but the LF of a third
        time.sleep(0.1)
        s.sendall(pc[-1:])
        assert read_answer(s)
    assert all(len(stored(engine, plant, t)) == 2 for t in (a, b, c))


def test_bad_readings_refused_others_stored_and_counted(listener, plant, engine):
    base = max_reject(engine)
    at = now_bj() - timedelta(minutes=8)
    values = {"w01001": {"value": 15.2}, "w01018": {"value": 30.0}, "x99999": {"value": 1.0}}
    future = now_bj() + timedelta(hours=2)
    old = now_bj() - timedelta(days=400)
    with connect(listener) as s:
        s.sendall(packet(plant, at, values))
        s.sendall(packet(plant, future))
        s.sendall(packet(plant, old))
        read_answer(s)
    assert [r.code for r in stored(engine, plant, at)] == ["w01018"]
    rows = wait_for(lambda: r if len(r := rejects_since(engine, base)) >= 6 else None)
    reasons = sorted(r.reason for r in rows)
    assert reasons == ["future_time", "future_time", "out_of_range", "too_old", "too_old", "unknown_code"]
    with engine.begin() as conn:
        counts = dict(
            conn.execute(
                text("SELECT reason, n FROM sewage_reject_counts WHERE plant_id = :p"), {"p": plant["id"]}
            ).all()
        )
    assert counts["out_of_range"] >= 1 and counts["future_time"] >= 2 and counts["too_old"] >= 2


def test_duplicates_stored_once_and_rollups(listener, plant, engine):
    hour = now_bj().replace(minute=0, second=0) - timedelta(hours=3)
    times = [hour + timedelta(minutes=m) for m in (1, 2, 3)]
    vals = [10.0, 20.0, 60.0]
    with connect(listener) as s:
        for t, v in zip(times, vals):
            p = packet(plant, t, {"w01018": {"value": v}})
            s.sendall(p)
            read_answer(s)
            s.sendall(p)  # the same reading again
            read_answer(s)
    with engine.begin() as conn:
        n = conn.execute(
            text(
                "SELECT count(*) FROM sewage_readings r JOIN sewage_monitors m ON m.id = r.monitor_id "
                "WHERE m.plant_id = :p AND r.data_time >= :a AND r.data_time < :b"
            ),
            {"p": plant["id"], "a": hour, "b": hour + timedelta(hours=1)},
        ).scalar_one()
        h = conn.execute(
            text(
                "SELECT h.n, h.total, h.low, h.high FROM sewage_hourly h JOIN sewage_monitors m ON m.id = h.monitor_id "
                "JOIN sewage_codes c ON c.id = h.code_id WHERE m.plant_id = :p AND c.code = 'w01018' AND h.bucket = :b"
            ),
            {"p": plant["id"], "b": hour},
        ).one()
    assert n == 3
    assert (h.n, h.total, h.low, h.high) == (3, 90.0, 10.0, 60.0)


def test_partitions_created_and_detached(engine):
    with engine.begin() as conn:
        made = conn.execute(text("SELECT sewage_ensure_partitions('2031-01-15', 2)")).scalars().all()
        assert made == ["sewage_readings_y2031m01", "sewage_readings_y2031m02"]
        assert conn.execute(text("SELECT sewage_ensure_partitions('2031-01-01', 2)")).scalars().all() == []
        bounds = conn.execute(
            text("SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'sewage_readings_y2031m01'")
        ).scalar_one()
        assert "2031-01-01 00:00:00+08" in bounds.replace("2030-12-31 16:00:00+00", "2031-01-01 00:00:00+08")
        conn.execute(text("DROP TABLE sewage_readings_y2031m01, sewage_readings_y2031m02"))
        # Detaching takes the partitions whose month ends by the day given (older than any live one here), and
        # keeps their tables.
        conn.execute(text("SELECT sewage_ensure_partitions('2001-01-01', 2)"))
        gone = conn.execute(text("SELECT sewage_detach_partitions('2001-02-01')")).scalars().all()
        assert gone == ["sewage_readings_y2001m01"]
        assert conn.execute(text("SELECT to_regclass('sewage_readings_y2001m01')")).scalar() is not None
        assert conn.execute(text("SELECT sewage_detach_partitions('2001-02-01')")).scalars().all() == []
        conn.execute(text("DROP TABLE sewage_readings_y2001m01"))
        gone = conn.execute(text("SELECT sewage_detach_partitions('2001-03-01')")).scalars().all()
        assert gone == ["sewage_readings_y2001m02"]
        conn.execute(text("DROP TABLE sewage_readings_y2001m02"))


def test_partition_job_as_app_role():
    from geo import modules
    from geo.jobs import run

    (job,) = [j for j in modules.jobs() if j.id == "sewage.ensure_partitions"]
    out = run(job, datetime.now(UTC) + timedelta(days=120))
    assert len(out["created"]) >= 1


def test_http_batch_with_and_without_key(client, plant, engine):
    from api.accounts import keys, users
    from geo.db import transaction

    with transaction() as conn:
        uname = "fwd-" + uuid.uuid4().hex[:6]
        uid = users.create_user(
            conn, uname, "转发平台", ["sewage_forwarder"], password="Fwd-2026-platform!", actor="test"
        )
        _, key = keys.create(conn, uid, "省平台转发", actor="test")
    at = now_bj() - timedelta(minutes=20)
    body = {
        "readings": [
            {
                "mn": plant["mn"],
                "cn": 2051,
                "data_time": hj212.format_time(at),
                "code": "w21011",
                "value": 0.31,
                "min": 0.2,
                "max": 0.4,
                "flag": "N",
                "unit": "mg/L",
            },
            {"mn": plant["mn"], "cn": 2051, "data_time": at.isoformat(), "code": "w00000", "value": 120.5, "cou": 7.2},
        ]
    }
    assert client.post("/api/sewage/readings", json=body).status_code == 401
    r = client.post("/api/sewage/readings", json=body, headers={"X-API-Key": key})
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 2, "stored": 2, "duplicates": 0}
    with engine.begin() as conn:
        actor, detail = conn.execute(
            text("SELECT actor, detail FROM audit_log WHERE action = 'sewage_readings_batch' ORDER BY id DESC LIMIT 1")
        ).one()
    assert actor == uname and detail["stored"] == 2 and detail["monitors"] == [plant["mn"]]
    assert client.post("/api/sewage/readings", json=body, headers={"X-API-Key": key}).json()["duplicates"] == 2
    assert [x.code for x in stored(engine, plant, at)] == ["w00000", "w21011"]
    bad = {"readings": [dict(body["readings"][0], data_time=hj212.format_time(at - timedelta(minutes=1)), unit="g/L")]}
    r = client.post("/api/sewage/readings", json=bad, headers={"X-API-Key": key})
    assert r.status_code == 422 and r.json()["code"] == "readings_refused"
    assert r.json()["detail"]["refused"][0]["reason"] == "bad_unit"
    assert stored(engine, plant, at - timedelta(minutes=1)) == []


def test_demo_monitors_follow_the_demo_password(engine, plant):
    from layers.sewage.demo import seed_monitors
    from layers.sewage.simulator import demo_password
    from layers.sewage.store import password_hash

    with engine.connect() as conn:
        with conn.begin():
            assert seed_monitors(conn)["sewage_monitors"] >= 1
            mn, salt, h = conn.execute(
                text("SELECT mn, pw_salt, pw_hash FROM sewage_monitors WHERE plant_id = :p AND mn LIKE '3301SW%'"),
                {"p": plant["id"]},
            ).one()
            assert mn == f"3301SW{plant['id']:08d}" and password_hash(salt, demo_password(mn)) == h
            conn.rollback()


def test_online_status_on_the_map(listener, engine):
    from geo.db import transaction
    from layers.sewage.status import refresh

    p = make_plant(engine, "一级A")

    def status_after(values=None, minutes_ago=1):
        if values is not None:
            with connect(listener) as s:
                s.sendall(packet(p, now_bj() - timedelta(seconds=minutes_ago * 60), values))
                read_answer(s)
        with transaction() as conn:
            refresh(conn, datetime.now(UTC))
        with engine.begin() as conn:
            return conn.execute(text("SELECT online_status FROM sewage_plants WHERE id = :i"), {"i": p["id"]}).scalar()

    assert status_after() == "离线"
    assert status_after({"w01018": {"value": 30.0, "flag": "N"}, "w01001": {"value": 7.1}}, 3) == "正常"
    assert status_after({"w01018": {"value": 55.0, "flag": "N"}}, 2) == "超标"  # 一级A: COD 50 mg/L
    assert status_after({"w01018": {"value": 20.0, "flag": "N"}, "w01001": {"value": 9.6}}, 1) == "超标"  # pH
    assert status_after({"w01018": {"value": 20.0, "flag": "D"}, "w01001": {"value": 7.0}}, 0) == "故障"


def test_daily_values_of_the_month(client, plant, listener, engine):
    from tests.conftest import LEADER

    day = now_bj().replace(hour=0, minute=0, second=0) - timedelta(days=2)
    if day.month != now_bj().month:
        day = now_bj().replace(hour=0, minute=30, second=0)
    with connect(listener) as s:
        for m, v in ((1, 4.0), (2, 6.0)):
            s.sendall(packet(plant, day + timedelta(minutes=m), {"w21011": {"value": v / 10}}))
            read_answer(s)
    from geo.db import transaction
    from layers.sewage.jobs import refresh_month

    with transaction() as conn:
        assert refresh_month(conn) >= 1
    r = client.get(f"/api/sewage/daily?month={day:%Y-%m}", headers=LEADER)
    assert r.status_code == 200, r.text
    (mine,) = [x for x in r.json()["series"] if x["plant_id"] == plant["id"] and x["code"] == "w21011"]
    i = day.day - 1
    assert mine["min"][i] <= 0.4 and mine["max"][i] >= 0.6 and mine["n"][i] >= 2
    with engine.begin() as conn:  # the month row agrees with the daily roll-up it sits beside
        n, total = conn.execute(
            text(
                "SELECT sum(d.n), sum(d.total) FROM sewage_daily d JOIN sewage_monitors m ON m.id = d.monitor_id "
                "JOIN sewage_codes c ON c.id = d.code_id WHERE m.plant_id = :p AND c.code = 'w21011' "
                "AND (d.bucket AT TIME ZONE 'Asia/Shanghai')::date = :d"
            ),
            {"p": plant["id"], "d": day.date()},
        ).one()
    assert mine["n"][i] == n and abs(mine["sum"][i] - total) < 1e-9
    assert client.get("/api/sewage/daily?month=2026-13", headers=LEADER).status_code == 422
    assert client.get(f"/api/sewage/daily?month={day:%Y-%m}").status_code in (401, 403)


def test_simulator_speaks_hj212_to_the_listener(listener, engine):
    import random

    from layers.sewage.simulator import Sim, run_monitor

    p = make_plant(engine)
    base = max_reject(engine)
    stats: dict = {}

    async def go():
        stop = asyncio.Event()
        sim = Sim(p["mn"], p["pw"], 30.0)
        start = now_bj() - timedelta(minutes=30)  # one packet a minute from there on, sent at once
        await run_monitor("127.0.0.1", listener.port, sim, 60, random.Random(3), stop, 0.0, 0.0, 0.0, 3, stats, start)
        await asyncio.sleep(0.3)  # the answers
        bad = Sim(p["mn"], p["pw"], 30.0)
        await run_monitor("127.0.0.1", listener.port, bad, 60, random.Random(4), stop, 1.0, 0.0, 0.0, 2, stats, start)

    asyncio.run(go())

    def count():
        with engine.begin() as conn:
            return conn.execute(
                text(
                    "SELECT count(*) FROM sewage_readings r JOIN sewage_monitors m ON m.id = r.monitor_id "
                    "WHERE m.plant_id = :p"
                ),
                {"p": p["id"]},
            ).scalar_one()

    assert wait_for(lambda: count() == 18)  # 3 packets of flow, pH, COD, NH3-N, TP, TN
    assert stats["sent"] == 5 and stats["bad"] == 2 and stats["answers"] >= 3
    rows = wait_for(lambda: r if len(r := rejects_since(engine, base)) >= 2 else None)
    assert [r.reason for r in rows] == ["bad_crc", "bad_crc"]


def test_module_command_and_services_are_declared(capsys):
    from etl.cli import main
    from geo import modules

    assert [(c.module, c.name) for c in modules.commands() if c.name == "sewage"] == [("sewage", "sewage")]
    assert {(s.module, s.name) for s in modules.services()} >= {
        ("sewage", "hj212_listener"),
        ("sewage", "demo_simulator"),
    }
    assert main(["sewage", "partitions", "create", "--months", "2"]) == 0
    assert "partitions" in capsys.readouterr().out
    assert main(["sewage", "partitions", "detach"]) == 2  # --before is needed
