"""Sewage readings: the shard key of a distributed PostgreSQL (Citus), measured where one PostgreSQL can measure it.

Citus is not installable here (Debian 12 ships no Citus package; only Debian, PyPI and npm are reachable), so native
hash partitioning stands in for the shards: ``PARTITION BY HASH (key)`` into ``--shards`` partitions, each one
partitioned by Beijing month as a Citus shard of the distributed, time-partitioned table would be. Three layouts of
the same ``--rows`` readings (``--monitors`` monitors, 6 codes, minute data over the last 29 days, generated with
generate_series as ``bench/sewage.py`` does), each with its daily roll-up:

  month     today's layout: ``sewage_readings`` partitioned by month, ``sewage_daily`` one table;
  monitor   hash of ``monitor_id`` → month (the readings and the daily roll-up hashed alike: co-located);
  plant     hash of ``plant_id`` → month (the facility copied onto every reading and roll-up row).

For each layout, the two target reads, as EXPLAIN (ANALYZE) plans with the partitions they touch, and their
median execution time in the server over 5 runs (the rows are produced, not sent to the client):

  recent    the last 24 h of one facility: its monitors looked up first (``sewage_monitors`` is a reference table
            under Citus, on every node), then ``monitor_id = ANY(ids)`` (or ``plant_id = p``) — what the Citus
            router needs to send the query to one shard;
  month     a month of daily values of all facilities, per facility, code and day, from the daily roll-up — under
            Citus, the aggregate pushed down to every shard (partition-wise here) and merged.

Also the time to load the same rows into each layout (INSERT … SELECT from the month layout).

    .venv/bin/python -m bench.sewage_shards [--rows 1000000] [--monitors 2000] [--shards 8] [--per-plant 1] [--plans]

At most 5 million rows (a few minutes). The database is a scratch one on the bench server, dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.common import Timer, libpq, server_url  # noqa: E402

CODES = 6  # flow, pH, COD, NH3-N, TP, TN: 6 codes per monitor, as bench/sewage.py
DAYS = 29
MAX_ROWS = 5_000_000
LAYOUTS = ("month", "monitor", "plant")
KEY = {"monitor": "monitor_id", "plant": "plant_id"}

READING_COLUMNS = """
    monitor_id integer NOT NULL,
    plant_id bigint NOT NULL,
    data_time timestamptz NOT NULL,
    cn smallint NOT NULL,
    code_id smallint NOT NULL,
    value double precision,
    flag text
"""
DAILY_COLUMNS = """
    monitor_id integer NOT NULL,
    plant_id bigint NOT NULL,
    code_id smallint NOT NULL,
    cn smallint NOT NULL,
    bucket timestamptz NOT NULL,
    n integer NOT NULL,
    total double precision NOT NULL,
    low double precision NOT NULL,
    high double precision NOT NULL
"""


def months(conn: psycopg.Connection) -> list[tuple[str, str, str]]:
    """(suffix, from, to) of the Beijing months the readings span (the last 29 days and today)."""
    rows = conn.execute(
        """
        SELECT to_char(m, 'YYYYMM'), (m::timestamp AT TIME ZONE 'Asia/Shanghai')::text,
               ((m + interval '1 month')::timestamp AT TIME ZONE 'Asia/Shanghai')::text
        FROM generate_series(date_trunc('month', (now() AT TIME ZONE 'Asia/Shanghai') - make_interval(days => %s)),
                             date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai'), interval '1 month') m
        """,
        (DAYS,),
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def create(conn: psycopg.Connection, shards: int) -> None:
    span = months(conn)
    conn.execute("CREATE TABLE monitors (id integer PRIMARY KEY, plant_id bigint NOT NULL)")
    conn.execute("CREATE INDEX ON monitors (plant_id)")
    conn.execute("CREATE TABLE codes (id smallint PRIMARY KEY, low double precision, high double precision)")
    # today's layout
    conn.execute(f"CREATE TABLE r_month ({READING_COLUMNS}) PARTITION BY RANGE (data_time)")
    for suffix, lo, hi in span:
        conn.execute(f"CREATE TABLE r_month_{suffix} PARTITION OF r_month FOR VALUES FROM ('{lo}') TO ('{hi}')")
    conn.execute(f"CREATE TABLE d_month ({DAILY_COLUMNS}, PRIMARY KEY (monitor_id, bucket, code_id, cn))")
    conn.execute("CREATE INDEX ON d_month (bucket)")
    # the shard stand-ins: hash of the key, then month
    for layout, key in KEY.items():
        conn.execute(f"CREATE TABLE r_{layout} ({READING_COLUMNS}) PARTITION BY HASH ({key})")
        conn.execute(f"CREATE TABLE d_{layout} ({DAILY_COLUMNS}) PARTITION BY HASH ({key})")
        for s in range(shards):
            conn.execute(
                f"CREATE TABLE r_{layout}_s{s} PARTITION OF r_{layout} "
                f"FOR VALUES WITH (MODULUS {shards}, REMAINDER {s}) PARTITION BY RANGE (data_time)"
            )
            for suffix, lo, hi in span:
                conn.execute(
                    f"CREATE TABLE r_{layout}_s{s}_{suffix} PARTITION OF r_{layout}_s{s} "
                    f"FOR VALUES FROM ('{lo}') TO ('{hi}')"
                )
            conn.execute(
                f"CREATE TABLE d_{layout}_s{s} PARTITION OF d_{layout} FOR VALUES WITH (MODULUS {shards}, REMAINDER {s})"
            )
    # the readings' key as in sewage_readings (the plant layout leads with its shard key, as Citus requires of a
    # unique index on a distributed table), BRIN on the time; the daily roll-up keyed as sewage_daily
    conn.execute("CREATE UNIQUE INDEX ON r_month (monitor_id, data_time, code_id, cn)")
    conn.execute("CREATE UNIQUE INDEX ON r_monitor (monitor_id, data_time, code_id, cn)")
    conn.execute("CREATE UNIQUE INDEX ON r_plant (plant_id, monitor_id, data_time, code_id, cn)")
    for layout in LAYOUTS:
        conn.execute(f"CREATE INDEX ON r_{layout} USING brin (data_time)")
    conn.execute("ALTER TABLE d_monitor ADD PRIMARY KEY (monitor_id, bucket, code_id, cn)")
    conn.execute("ALTER TABLE d_plant ADD PRIMARY KEY (plant_id, monitor_id, bucket, code_id, cn)")


def generate(conn: psycopg.Connection, rows: int, monitors: int, per_plant: int) -> dict[str, float]:
    """The readings in the month layout, copied into the others; the daily roll-ups. Returns the load times."""
    conn.execute(
        "INSERT INTO monitors (id, plant_id) SELECT i, (i - 1) / %s + 1 FROM generate_series(1, %s) i",
        (per_plant, monitors),
    )  # ``per_plant`` monitors per facility (1 in the demo and bench/sewage.py; an urban plant may have inlet/outlet)
    conn.execute(
        "INSERT INTO codes VALUES (1, 0, 100000), (2, 0, 14), (8, 0, 10000), (11, 0, 1000), (12, 0, 200), (10, 0, 1000)"
    )
    steps = max(1, rows // (monitors * CODES))
    loads: dict[str, float] = {}
    with Timer() as t:
        conn.execute(
            """
            INSERT INTO r_month (monitor_id, plant_id, data_time, cn, code_id, value, flag)
            SELECT m.id, m.plant_id, date_trunc('minute', now()) - make_interval(secs => s * %s), 2051, c.id,
                   c.low + (c.high - c.low) * 0.01 * (1 + sin(s / 50.0 + m.id)), 'N'
            FROM generate_series(0, %s - 1) s CROSS JOIN monitors m CROSS JOIN codes c
            """,
            (DAYS * 86400 / steps, steps),
        )
        conn.commit()
    loads["month"] = t.seconds
    for layout in KEY:
        with Timer() as t:
            conn.execute(f"INSERT INTO r_{layout} SELECT * FROM r_month")
            conn.commit()
        loads[layout] = t.seconds
    for layout in LAYOUTS:
        conn.execute(
            f"INSERT INTO d_{layout} (monitor_id, plant_id, code_id, cn, bucket, n, total, low, high) "
            "SELECT monitor_id, plant_id, code_id, cn, date_trunc('day', data_time, 'Asia/Shanghai'), count(*), "
            "sum(value), min(value), max(value) FROM r_month GROUP BY 1, 2, 3, 4, 5"
        )
    conn.commit()
    conn.autocommit = True
    for layout in LAYOUTS:
        conn.execute(f"VACUUM ANALYZE r_{layout}")
        conn.execute(f"VACUUM ANALYZE d_{layout}")
    conn.execute("VACUUM ANALYZE monitors")
    conn.autocommit = False
    return loads


def recent_sql(layout: str, conn: psycopg.Connection, plant: int) -> str:
    """The last 24 h of one facility, as the router would get it: its monitors (or itself) as constants."""
    if layout == "plant":
        cond = f"r.plant_id = {plant}"
    else:
        ids = [r[0] for r in conn.execute("SELECT id FROM monitors WHERE plant_id = %s", (plant,))]
        cond = f"r.monitor_id = ANY('{{{','.join(map(str, ids))}}}'::int[])"
    return (
        f"SELECT r.code_id, r.data_time, r.value, r.flag FROM r_{layout} r "
        f"WHERE {cond} AND r.data_time >= now() - interval '24 hours' AND r.cn IN (2011, 2051) "
        "ORDER BY r.code_id, r.data_time"
    )


def month_sql(layout: str) -> str:
    """A month of daily values of all facilities: per facility, code and Beijing day (the last 30 days: all of
    the generated readings)."""
    return (
        "SELECT d.plant_id, d.code_id, d.bucket, sum(d.n) AS n, sum(d.total) AS total, min(d.low) AS low, "
        f"max(d.high) AS high FROM d_{layout} d "
        "WHERE d.bucket >= now() - interval '30 days' AND d.cn IN (2011, 2051) "
        "GROUP BY d.plant_id, d.code_id, d.bucket"
    )


def scanned(plan: dict) -> list[str]:
    """The leaf tables a plan read (scans that ran at least once)."""
    out: list[str] = []

    def walk(node: dict) -> None:
        if "Relation Name" in node and node.get("Actual Loops", 1) > 0:
            out.append(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    return out


def shape(plan: dict) -> str:
    """How the aggregate ran: one over everything, per partition (partition-wise) or partial per partition."""
    kinds: list[str] = []

    def walk(node: dict, under_append: bool) -> None:
        if node["Node Type"] == "Aggregate" and under_append:
            kinds.append(node.get("Partial Mode", "Simple"))
        for child in node.get("Plans", []):
            walk(child, under_append or node["Node Type"] in ("Append", "Merge Append"))

    walk(plan["Plan"], False)
    if not kinds:
        return "one aggregate over all partitions"
    if all(k == "Simple" for k in kinds):
        return f"partition-wise: {len(kinds)} aggregates, one per partition"
    return f"partial aggregates per partition ({len(kinds)}), finalized once"


def measure(conn: psycopg.Connection, sql: str, runs: int = 5) -> tuple[float, dict, str]:
    """The median execution time in the server over ``runs`` (EXPLAIN ANALYZE without per-node timing: the rows
    are produced but not sent — a month of daily values is hundreds of thousands of rows, whose transfer to Python
    would swamp the difference), the first run's plan, and the plan as text."""
    plans = [conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON, TIMING OFF) {sql}").fetchone()[0][0] for _ in range(runs)]
    text = "\n".join(
        r[0] for r in conn.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {sql}").fetchall()
    )
    return statistics.median(p["Execution Time"] for p in plans) / 1000, plans[0], text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000, help=f"readings (at most {MAX_ROWS:,})")
    p.add_argument("--monitors", type=int, default=2000)
    p.add_argument("--shards", type=int, default=8, help="hash partitions standing in for Citus shards")
    p.add_argument("--per-plant", type=int, default=1, help="monitors per facility")
    p.add_argument("--plans", action="store_true", help="print the EXPLAIN (ANALYZE) plans in full")
    a = p.parse_args()
    if not 0 < a.rows <= MAX_ROWS:
        p.error(f"--rows must be between 1 and {MAX_ROWS:,}")
    url = make_url(server_url()).set(database=f"bench_shards_{uuid.uuid4().hex[:8]}")
    admin = libpq(url.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{url.database}"')
    try:
        with psycopg.connect(libpq(url.render_as_string(hide_password=False))) as conn:
            create(conn, a.shards)
            conn.commit()
            loads = generate(conn, a.rows, a.monitors, a.per_plant)
            held = conn.execute("SELECT count(*) FROM r_month").fetchone()[0]
            print(
                f"data:  {held:,} readings of {a.monitors:,} monitors ({a.per_plant} per facility) over {DAYS} days; "
                f"{a.shards} hash partitions"
            )
            print(
                "load:  "
                + ", ".join(f"{layout} {held / s:,.0f} rows/s" for layout, s in loads.items())
                + " (INSERT … SELECT; month: generated)"
            )
            conn.execute("SET enable_partitionwise_aggregate = on")
            conn.execute("SET enable_partitionwise_join = on")
            plant = a.monitors // a.per_plant // 2 + 17
            report = {}
            for layout in LAYOUTS:
                for name, sql in (("recent", recent_sql(layout, conn, plant)), ("month", month_sql(layout))):
                    seconds, plan, text = measure(conn, sql)
                    parts = scanned(plan)
                    rows = plan["Plan"].get("Actual Rows")
                    how = f"{len(parts)} partitions read" if name == "recent" else shape(plan)
                    print(f"{name:6} {layout:8} {seconds * 1000:8.1f} ms  {rows:>8,} rows  {how}")
                    if name == "recent" or a.plans:
                        print("       read: " + ", ".join(sorted(set(parts))))
                    if a.plans:
                        print("\n".join("         " + line for line in text.splitlines()))
                    report[f"{name}/{layout}"] = {"ms": round(seconds * 1000, 1), "rows": rows, "partitions": parts}
            print("json:  " + json.dumps({k: {"ms": v["ms"], "read": len(v["partitions"])} for k, v in report.items()}))
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
