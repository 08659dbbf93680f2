"""County push (VT-11): farmhouse records per second over HTTP, beside a direct COPY of the same records.

A scratch database gets a county-system account of 西湖区 with an API key and ``--records`` farmhouse records at
random positions inside 西湖区. Measured in one run on the same records:
  push-new     POST /api/villages/county/farmhouses in batches of ``--batch`` (≤ 1,000) from ``--clients``
               concurrent keep-alive clients, uvicorn in a subprocess (API key, validation, the one-statement write
               with its checks and audit rows, the per-county log): every record new;
  push-update  the same records again with version + 1 (every record updated);
  push-again   the same batches once more (every record unchanged: the idempotent no-op);
  copy         the floor: the same records COPY'd straight into ``farmhouses`` (no checks, no audit), after the
               pushed ones are removed.
Rates are records per second from the first request sent to the last answer received.

    .venv/bin/python bench/county_push.py [--records 50000] [--batch 1000] [--clients 2]

Target (VT-11): >= 2,000 records/s sustained over HTTP.

Where the time went (profiled 2026-12-07 on the shared 2-core machine: CPU seconds of uvicorn, of the PostgreSQL
backends and of this client per 1,000 new records read from /proc, ``perf`` of the backends, EXPLAIN ANALYZE and
auto_explain of the statement, samples of ``pg_stat_activity``). Before: PostgreSQL 620 ms of CPU per 1,000 new
records with 20,000–30,000 houses in the table against uvicorn's 115 ms, and growing with the table; a quarter of
the backends' time was text comparison over CTE scans (``memcmp``/``texteq``): the scratch database's ``farmhouses``
has no column statistics while the bench runs (autovacuum analyses it a minute later), so ``vil_codes_taken``
compared every live house with each of the batch's 1,000 codes (through the partial GiST index, believed to hold a
handful of rows) and the held houses were found by hashing every house of the district: 0.1 s a batch at 5,000
houses, about 1 s at 50,000 — push-new 1,108 records/s, 0.09 of the COPY (50,000 records, quiet moment). After
(vil_0006a and the statement: one index probe per code and per held record, whatever the statistics say; no join
back to the incoming records; the boundary projected only for a point outside it): PostgreSQL 160–200 ms per 1,000
whatever the table's size — of the statement, the insert into ``farmhouses`` with its 14 indexes, generated and
checked columns 65 % (what the COPY pays too), the checks 12 %, the audit rows (one multi-row insert) 7 %, the
statement triggers 14 % (tile cells), planning 2 % — and uvicorn 90–110 ms (a quarter of it Python's garbage
collector over the request's objects, validation by pydantic and the bounds 25 ms, JSON 7 ms); the backends ran the
statement 60 % of the sampled time and waited, idle in transaction, for Python 35 %, for locks under 1 %. Same
quiet moment, 50,000 records: push-new 5,215 records/s (0.42 of the COPY's 12,294), push-update 5,744 (0.47),
push-again 11,104. On the busy machine (10,000–20,000 records) push-new / COPY varied from 0.26 to 0.76 between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from bench.common import Timer, libpq, scratch_database  # noqa: E402
from bench.geofence import api_server  # noqa: E402

DISTRICT = "西湖区"
TOWNSHIPS = ("转塘街道", "留下街道", "双浦镇", "三墩镇")


def api_key(url: str) -> str:
    """A county-system account of 西湖区 and its API key, made by the app's own functions."""
    os.environ["DATABASE_URL"] = url
    from geo.settings import get_settings

    get_settings.cache_clear()
    from api.accounts import keys, users
    from geo.db import transaction

    with transaction() as conn:
        uid = users.create_user(
            conn, "bench-county-xihu", "西湖区农房系统", ["county_system"], district=DISTRICT, actor="bench"
        )
        _, key = keys.create(conn, uid, "西湖区农房系统", actor="bench")
    return key


def make_records(url: str, n: int) -> list[dict]:
    with psycopg.connect(libpq(url)) as conn:
        points = conn.execute(
            "SELECT ST_X(p.geom), ST_Y(p.geom) FROM districts d, ST_Dump(ST_GeneratePoints(d.geom, %s, 1)) p "
            "WHERE d.name = %s",
            (n, DISTRICT),
        ).fetchall()
    return [
        {
            "record_id": f"XH-{i:08d}",
            "version": 1,
            "code": f"NFB330106{i:08d}",
            "owner_name": "王建国",
            "township": TOWNSHIPS[i % len(TOWNSHIPS)],
            "village": f"第{i % 40 + 1}村",
            "address": f"{i % 40 + 1}组{i % 200 + 1}号",
            "floors": i % 4 + 1,
            "structure": "框架" if i % 3 else "砖混",
            "built_year": 2000 + i % 25,
            "floor_area_m2": 100.0 + i % 300,
            "status": "在建" if i % 5 == 0 else "存量",
            "approval_no": f"西农审〔2025〕{i}号" if i % 5 == 0 else None,
            "approved_on": "2025-03-01" if i % 5 == 0 else None,
            "stage": "layout" if i % 5 == 0 else None,
            "lon": round(x, 7),
            "lat": round(y, 7),
        }
        for i, (x, y) in enumerate(points)
    ]


def make_warmup(records: list[dict]) -> list[dict]:
    """Records of their own (ids and codes apart from the measured ones) for the server's first requests."""
    return [{**r, "record_id": "W" + r["record_id"], "code": "W" + r["code"]} for r in records[:200]]


def push(base: str, key: str, records: list[dict], batch: int, clients: int, expect: str) -> float:
    """Records per second of pushing ``records``; every result must be ``expect``."""
    bodies = [
        json.dumps({"records": records[i : i + batch]}, ensure_ascii=False).encode()
        for i in range(0, len(records), batch)
    ]
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    local = [httpx.Client(base_url=base, headers=headers, timeout=120) for _ in range(clients)]

    def send(k: int) -> dict:
        r = local[k % clients].post("/api/villages/county/farmhouses", content=bodies[k])
        r.raise_for_status()
        return r.json()

    with Timer() as t, ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(send, range(len(bodies))))
    for c in local:
        c.close()
    got = sum(a[expect] for a in answers)
    if got != len(records):
        bad = next(x for a in answers for x in a["results"] if x["status"] != expect)
        raise SystemExit(f"expected {len(records)} {expect}, got {got}: {bad}")
    return len(records) / t.seconds


def copy_floor(url: str, records: list[dict]) -> float:
    """The same records straight into farmhouses by COPY (after the pushed ones are removed)."""
    cols = ("geom", "district", "code", "owner_name", "township", "village", "address", "floors", "structure",
            "built_year", "floor_area_m2", "status", "approval_no", "approved_on", "stage", "source",
            "county_record_id", "county_version")  # fmt: skip
    with psycopg.connect(libpq(url)) as conn:
        conn.execute("DELETE FROM farmhouses WHERE source = 'county'")
        conn.commit()
        with Timer() as t:
            with conn.cursor() as cur, cur.copy(f"COPY farmhouses ({', '.join(cols)}) FROM STDIN") as cp:
                for r in records:
                    cp.write_row(
                        (f"SRID=4326;POINT({r['lon']} {r['lat']})", DISTRICT, r["code"], r["owner_name"],
                         r["township"], r["village"], r["address"], r["floors"], r["structure"], r["built_year"],
                         r["floor_area_m2"], r["status"], r["approval_no"], r["approved_on"], r["stage"], "county",
                         r["record_id"], r["version"])
                    )  # fmt: skip
            conn.commit()
    return len(records) / t.seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=50_000)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--clients", type=int, default=2)
    a = p.parse_args()
    if not 1 <= a.batch <= 1000:
        raise SystemExit("--batch: 1 to 1000")
    with scratch_database("bench_county") as url:
        key = api_key(url)
        records = make_records(url, a.records)
        with api_server(url) as base:
            warm = make_warmup(records)
            push(base, key, warm, a.batch, a.clients, "created")  # the server's first requests: imports, pool
            new = push(base, key, records, a.batch, a.clients, "created")
            newer = [{**r, "version": 2, "floors": r["floors"] % 4 + 1} for r in records]
            upd = push(base, key, newer, a.batch, a.clients, "updated")
            again = push(base, key, newer, a.batch, a.clients, "unchanged")
        floor = copy_floor(url, newer)
        n = len(records)
        print(
            f"push-new:    {n:,} records, batches of {a.batch}, {a.clients} clients: {new:,.0f} records/s (target >= 2,000)"
        )
        print(f"push-update: {upd:,.0f} records/s")
        print(f"push-again:  {again:,.0f} records/s (all unchanged)")
        print(
            f"copy:        {floor:,.0f} records/s; push-new / copy = {new / floor:.2f}, push-update / copy = {upd / floor:.2f}"
        )


if __name__ == "__main__":
    main()
