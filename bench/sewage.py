"""Sewage readings: HJ 212 ingestion rate over TCP beside a direct COPY of the same rows, and the reads at scale.

A scratch database gets ``--monitors`` facilities with one monitor each. Measured in one run:
  tcp      the listener (``chengjian sewage listen`` in a subprocess, the real batching writer) takes packets from
           ``--monitors`` simulated monitors, all connected first (pre-built real-time packets of 6 readings, sent
           as fast as each connection takes them); the rate is stored readings per second, from the first packet
           sent to the last reading committed (counted in the database). Sender and listener share the machine.
  copy     the same rows through the same store path without TCP (COPY into staging, INSERT … ON CONFLICT with
           the roll-ups), then a plain COPY into the partitioned table (the floor): the baselines.
  reads    ``--rows`` minute readings (6 codes per monitor, spread over the last 29 days) generated with
           generate_series and rolled up; then the last 24 h of one facility and a month of daily values for all
           facilities, through the app's own functions (app role, row-level security on), median of 5 runs.

    .venv/bin/python -m bench.sewage [--monitors 2000] [--seconds 20] [--rows 2000000]
    full run of the targets (takes about an hour, ~15 GB):  --rows 100000000
    in two steps (generate while the machine is busy, time the reads when it is quiet):
      --keep bench_sewage_100m --rows 100000000 --no-tcp --no-reads   then   --keep bench_sewage_100m --no-tcp

``--keep NAME`` uses (and creates and migrates when missing) the database NAME and leaves it in place; readings are
generated only when it holds fewer than ``--rows``.

Targets (VT-15): tcp >= 20,000 readings/s with 2,000 monitors; last 24 h of one facility <= 50 ms and a month of
daily values <= 500 ms at 100 million readings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench.common import Timer, libpq, scratch_database, server_url  # noqa: E402


@contextlib.contextmanager
def kept_database(name: str):
    """The database ``name`` on the bench server, created and migrated when missing, and left in place."""
    from sqlalchemy.engine import make_url

    from geo.cluster import ensure_database
    from geo.migrate import upgrade

    url = make_url(server_url()).set(database=name).render_as_string(hide_password=False)
    ensure_database(url)
    upgrade(url)
    yield url


CODES = ("w00000", "w01001", "w01018", "w21003", "w21011", "w21001")
PW = "123456"


def setup(url: str, monitors: int) -> None:
    with psycopg.connect(libpq(url)) as conn:
        conn.execute(
            """
            INSERT INTO sewage_plants (code, name, district, kind, capacity_t_d, geom)
            SELECT 'BENCH' || lpad(i::text, 6, '0'), '测试设施' || i, '西湖区', '农村污水处理终端', 100,
                   ST_SetSRID(ST_MakePoint(119.9 + (i %% 100) * 0.004, 30.1 + (i / 100) * 0.004), 4326)
            FROM generate_series(1, %s) i
            """,
            (monitors,),
        )
        conn.execute(
            """
            INSERT INTO sewage_monitors (mn, pw_salt, pw_hash, plant_id, created_by)
            SELECT 'BM' || lpad(id::text, 10, '0'), 's', encode(sha256(convert_to('s:' || %s, 'UTF8')), 'hex'), id, 'bench'
            FROM sewage_plants WHERE code LIKE 'BENCH%%'
            """,
            (PW,),
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_packets(mns: list[str], per_monitor: int) -> list[list[bytes]]:
    import random

    from layers.sewage import hj212
    from layers.sewage.simulator import Sim, values

    rng = random.Random(1)
    now = datetime.now(hj212.BEIJING).replace(microsecond=0) - timedelta(minutes=5)
    out = []
    for mn in mns:
        sim = Sim(mn, PW, 40.0)
        out.append(
            [
                hj212.data_packet(
                    mn, PW, 2011, now - timedelta(seconds=20 * k), values(rng, sim, now, 0.0), reply=False
                )
                for k in range(per_monitor)
            ]
        )
    return out


async def send_all(port: int, packets: list[list[bytes]]) -> float:
    """Connect every monitor first (all connected at once), then send; returns when sending started."""
    conns = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in packets))
    await asyncio.sleep(0.5)  # the listener has taken every connection

    async def one(w: asyncio.StreamWriter, ps: list[bytes]) -> None:
        for p in ps:
            w.write(p)
            await w.drain()

    t0 = time.perf_counter()
    await asyncio.gather(*(one(w, ps) for (_, w), ps in zip(conns, packets)))
    for _, w in conns:
        w.close()
    return t0


def count(url: str) -> int:
    """Readings stored, from the hourly roll-up the same statement writes (a count(*) of the readings every poll
    would take a core from the listener being measured)."""
    with psycopg.connect(libpq(url)) as conn:
        return conn.execute("SELECT coalesce(sum(n), 0) FROM sewage_hourly").fetchone()[0]


def tcp(url: str, monitors: int, seconds: float) -> tuple[float, int]:
    with psycopg.connect(libpq(url)) as conn:
        mns = [r[0] for r in conn.execute("SELECT mn FROM sewage_monitors ORDER BY id LIMIT %s", (monitors,))]
    per = max(1, int(seconds * 20_000 / len(CODES) / len(mns)) + 1)
    packets = build_packets(mns, per)
    expected = len(mns) * per * len(CODES)
    port = free_port()
    env = dict(os.environ, DATABASE_URL=url, CHENGJIAN_HJ212_PORT=str(port))
    proc = subprocess.Popen(
        [sys.executable, "-m", "etl.cli", "sewage", "listen", "--host", "127.0.0.1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        t0 = asyncio.run(send_all(port, packets))
        while (n := count(url)) < expected and time.perf_counter() - t0 < seconds * 20 + 60:
            time.sleep(0.1)
        elapsed = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(30)
    return n / elapsed, n


def copy_baselines(url: str) -> tuple[float, float, int]:
    """The rows the TCP run stored, through the store path (staging + ON CONFLICT + roll-ups) and plain COPY."""
    from layers.sewage.store import COLUMNS, COPY, MOVE, STAGING

    with psycopg.connect(libpq(url)) as conn:
        rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM sewage_readings").fetchall()
        conn.execute("TRUNCATE sewage_readings, sewage_hourly, sewage_daily, sewage_month, sewage_month_dirty")
        conn.commit()
        conn.execute(STAGING)
        with Timer() as t:
            for i in range(0, len(rows), 5000):
                with conn.cursor() as cur:
                    with cur.copy(COPY) as cp:
                        for r in rows[i : i + 5000]:
                            cp.write_row(r)
                    cur.execute(MOVE)
                conn.commit()
        store_rate = len(rows) / t.seconds
        conn.execute("TRUNCATE sewage_readings, sewage_hourly, sewage_daily, sewage_month, sewage_month_dirty")
        conn.commit()
        with Timer() as t:
            with conn.cursor() as cur:
                with cur.copy(f"COPY sewage_readings ({', '.join(COLUMNS)}) FROM STDIN") as cp:
                    for r in rows:
                        cp.write_row(r)
            conn.commit()
        return store_rate, len(rows) / t.seconds, len(rows)


def generate(url: str, rows: int) -> float:
    """``rows`` minute readings over the last 29 days (6 codes per monitor), and their roll-ups."""
    with psycopg.connect(libpq(url)) as conn:
        monitors = conn.execute("SELECT count(*) FROM sewage_monitors").fetchone()[0]
        steps = max(1, rows // (monitors * len(CODES)))
        step_s = 29 * 86400 / steps
        conn.execute("TRUNCATE sewage_readings, sewage_hourly, sewage_daily, sewage_month, sewage_month_dirty")
        with Timer() as t:
            conn.execute(
                """
                INSERT INTO sewage_readings (monitor_id, data_time, cn, code_id, value, flag)
                SELECT m.id, date_trunc('minute', now()) - make_interval(secs => s * %s), 2051, c.id,
                       c.low + (c.high - c.low) * 0.01 * (1 + sin(s / 50.0 + m.id)), 'N'
                FROM generate_series(0, %s - 1) s CROSS JOIN sewage_monitors m
                CROSS JOIN (SELECT id, low, high FROM sewage_codes WHERE code = ANY(%s)) c
                """,
                (step_s, steps, list(CODES)),
            )
            for grain, bucket in (
                ("hourly", "date_trunc('hour', data_time)"),
                ("daily", "date_trunc('day', data_time, 'Asia/Shanghai')"),
            ):
                conn.execute(
                    f"INSERT INTO sewage_{grain} (monitor_id, code_id, cn, bucket, n, total, low, high) "
                    f"SELECT monitor_id, code_id, cn, {bucket}, count(*), sum(value), min(value), max(value) "
                    f"FROM sewage_readings GROUP BY 1, 2, 3, 4"
                )
            conn.execute(
                """
                INSERT INTO sewage_month (plant_id, code_id, month, n, total, low, high)
                SELECT plant_id, code_id, month, sewage_place(array_agg(day), array_agg(n)),
                       sewage_place(array_agg(day), array_agg(total)), sewage_place(array_agg(day), array_agg(low)),
                       sewage_place(array_agg(day), array_agg(high))
                FROM (SELECT m.plant_id, d.code_id, date_trunc('month', d.bucket AT TIME ZONE 'Asia/Shanghai')::date AS month,
                             extract(day FROM d.bucket AT TIME ZONE 'Asia/Shanghai')::int AS day,
                             sum(d.n)::float8 AS n, sum(d.total) AS total, min(d.low) AS low, max(d.high) AS high
                      FROM sewage_daily d JOIN sewage_monitors m ON m.id = d.monitor_id GROUP BY 1, 2, 3, 4) x
                GROUP BY plant_id, code_id, month
                """
            )
            conn.commit()
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE sewage_readings")
            conn.execute("VACUUM ANALYZE sewage_daily")
        return t.seconds


def reads(url: str) -> tuple[float, float, int, int]:
    os.environ["DATABASE_URL"] = url
    from geo.db import reset_engine, transaction
    from geo.settings import get_settings
    from layers.sewage.routes import daily_values, recent_readings

    get_settings.cache_clear()
    reset_engine()
    with psycopg.connect(libpq(url)) as conn:
        plant = conn.execute("SELECT plant_id FROM sewage_monitors ORDER BY id LIMIT 1 OFFSET 17").fetchone()[0]
    first = datetime.now().date().replace(day=1)
    recent_t, daily_t = [], []
    for _ in range(5):
        with transaction() as conn, Timer() as t:
            r = recent_readings(conn, plant, 24)
        recent_t.append(t.seconds)
        with transaction() as conn, Timer() as t:
            d = daily_values(conn, first)
        daily_t.append(t.seconds)
    values = sum(sum(v is not None for v in x["n"]) for x in json.loads(d)["series"])
    return statistics.median(recent_t), statistics.median(daily_t), sum(map(len, r["series"].values())), values


RAW_RECENT = """SELECT c.code, r.data_time, r.value, r.flag FROM sewage_monitors m
  JOIN sewage_readings r ON r.monitor_id = m.id AND r.data_time >= now() - interval '24 hours'
  JOIN sewage_codes c ON c.id = r.code_id WHERE m.plant_id = %s AND r.cn IN (2011, 2051) ORDER BY c.code, r.data_time"""
# The month's daily values straight from the daily roll-up (what the month rows spare the page).
RAW_DAILY = """SELECT m.plant_id, c.code, (d.bucket AT TIME ZONE 'Asia/Shanghai')::date AS day,
       sum(d.n), sum(d.total), min(d.low), max(d.high)
  FROM sewage_daily d JOIN sewage_monitors m ON m.id = d.monitor_id JOIN sewage_codes c ON c.id = d.code_id
 WHERE d.bucket >= (%s::date::timestamp AT TIME ZONE 'Asia/Shanghai')
   AND d.bucket < ((%s::date + interval '1 month')::timestamp AT TIME ZONE 'Asia/Shanghai')
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""


def raw_reads(url: str) -> tuple[float, float]:
    """The same two questions in plain SQL as the table owner (no row-level security): the baselines."""
    first = datetime.now().date().replace(day=1)
    recent_t, daily_t = [], []
    with psycopg.connect(libpq(url)) as conn:
        plant = conn.execute("SELECT plant_id FROM sewage_monitors ORDER BY id LIMIT 1 OFFSET 17").fetchone()[0]
        for _ in range(5):
            with Timer() as t:
                conn.execute(RAW_RECENT, (plant,)).fetchall()
            recent_t.append(t.seconds)
            with Timer() as t:
                conn.execute(RAW_DAILY, (first, first)).fetchall()
            daily_t.append(t.seconds)
    return statistics.median(recent_t), statistics.median(daily_t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--monitors", type=int, default=2000)
    p.add_argument("--seconds", type=float, default=20.0, help="readings sent over TCP: this many seconds at 20,000/s")
    p.add_argument("--rows", type=int, default=2_000_000, help="stored readings for the reads (full: 100000000)")
    p.add_argument("--keep", metavar="NAME", help="use and keep the database NAME (readings generated only once)")
    p.add_argument("--no-tcp", action="store_true", help="skip the TCP and COPY rates")
    p.add_argument("--no-reads", action="store_true", help="stop after generating the readings")
    a = p.parse_args()
    from layers.sewage.listener import raise_open_files

    raise_open_files()  # the bench holds one connection per monitor
    with kept_database(a.keep) if a.keep else scratch_database("bench_sewage") as url:
        with psycopg.connect(libpq(url)) as conn:
            monitors = conn.execute("SELECT count(*) FROM sewage_monitors").fetchone()[0]
        if not monitors:
            setup(url, a.monitors)
        if not a.no_tcp:
            rate, n = tcp(url, a.monitors, a.seconds)
            print(
                f"tcp:   {n:,} readings from {a.monitors:,} monitors connected at once: {rate:,.0f} readings/s "
                f"(target >= 20,000)"
            )
            store_rate, copy_rate, m = copy_baselines(url)
            print(
                f"copy:  same {m:,} rows, store path without TCP {store_rate:,.0f}/s, plain COPY {copy_rate:,.0f}/s; "
                f"tcp / store path = {rate / store_rate:.2f}, tcp / plain COPY = {rate / copy_rate:.2f}"
            )
        held = count(url)
        if held < a.rows * 0.99:
            g = generate(url, a.rows)
            print(f"data:  {count(url):,} readings generated and rolled up in {g:.0f} s")
        else:
            print(f"data:  {held:,} readings already held by {a.keep}")
        if a.no_reads:
            return
        recent_s, daily_s, points, days = reads(url)
        raw_recent, raw_daily = raw_reads(url)
        print(
            f"reads: last 24 h of one facility {recent_s * 1000:.1f} ms ({points} points, target <= 50 ms; "
            f"{recent_s / raw_recent:.2f}x raw SQL {raw_recent * 1000:.1f} ms); "
            f"month of daily values, all facilities {daily_s * 1000:.1f} ms ({days:,} facility-code-days, "
            f"target <= 500 ms; {daily_s / raw_daily:.2f}x a GROUP BY of the daily roll-up {raw_daily * 1000:.1f} ms)"
        )


if __name__ == "__main__":
    main()
