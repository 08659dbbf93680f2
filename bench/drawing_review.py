"""The drawing review's speed targets (issue 13), each beside the same query's raw SQL in the same run.

A scratch database is loaded with ``generate_series`` (no demo): 12 agencies, ``--rounds`` review rounds (100,000) of
about 0.3 as many applications (30,000) accepted from 2024 to May 2026 across the districts, 85 % of them concluded
(passed, certified or failed) after one to five rounds with the design unit's replies between them, the rest in
review. Then, after a warm-up, for an administrator (city scope) and a district account (row-level security on):

- DR-12 statistics over every round (``GET /api/review/stats``, no filter: the indicators per agency and the stage
  details) — target ≤ 1 s; beside it the raw SQL written by hand (the same two statements, with the core's
  ``chengjian_working_days`` per date pair: the baseline), the module's statements run directly as the owner
  (``stats.compute``: no HTTP, no row-level security), and the raw SQL with the calendar joined once per date
  column instead of the function (``ordinal(stop) - ordinal(start)``);
- the reviewed-projects query, a page of 50 with the working days of each round (``GET /api/review/queries/reviewed``
  on random pages and sorts) — target ≤ 300 ms; beside it the raw SQL of the same page (the count, the page, then
  its rounds with the core's function);
- a drawing tile, when ``bench.drawing_tiles`` is there (``measure(url, conn)``: its own figures).

The bench first checks that the API's statistics equal the raw SQL's, and the calendar joins' equal the function's. Prints p50/p95
and each row's ratio to the raw SQL.

    .venv/bin/python -m bench.drawing_review                      # 100,000 rounds in a scratch database
    .venv/bin/python -m bench.drawing_review --rounds 2000        # a quick check that it works
    .venv/bin/python -m bench.drawing_review --url postgresql+psycopg://…/db   # an already loaded database
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable

import numpy as np
import sqlalchemy as sa

from bench.common import scratch_database

TARGET_STATS_MS = 1000
TARGET_PAGE_MS = 300

# Loading in raw SQL: generate_series and window sums build 100,000 chained rounds in a few statements.
LOAD = [
    """
    INSERT INTO enterprises (uscc, name, types, district, created_by)
    SELECT '91330100' || lpad(i::text, 9, '0') || '1',
           CASE WHEN i <= 12 THEN '测评图审中心' || i || '号有限公司'
                WHEN i <= 112 THEN '测评建设集团' || i || '号有限公司'
                WHEN i <= 172 THEN '测评设计研究院' || i || '号有限公司'
                ELSE '测评勘察院' || i || '号有限公司' END,
           '{}', '西湖区', 'bench'
    FROM generate_series(1, 200) AS i
    """,
    """
    INSERT INTO dr_agencies (uscc, district, created_by)
    SELECT uscc, '西湖区', 'bench' FROM enterprises WHERE name LIKE '测评图审中心%'
    """,
    # The applications' plan: district (weighted to the urban cores), agency, units, status, number of rounds.
    """
    CREATE TEMP TABLE bench_plan AS
    SELECT i,
           (ARRAY['上城区','拱墅区','西湖区','滨江区','萧山区','余杭区','临平区','钱塘区','富阳区','临安区',
                  '桐庐县','淳安县','建德市'])[1 + floor(power(random(), 1.6) * 13)::int] AS district,
           1 + floor(random() * 12)::int AS agency_no,
           13 + floor(random() * 100)::int AS builder_no,
           113 + floor(random() * 60)::int AS designer_no,
           173 + floor(random() * 28)::int AS surveyor_no,
           random() AS fate,
           1 + floor(random() * :spread)::int AS n_rounds,
           timestamptz '2024-01-02 09:00+08' + random() * interval '850 days' AS accepted_at
    FROM generate_series(1, :apps) AS i
    """,
    """
    INSERT INTO review_projects (geom, code, name, district, status, created_by)
    SELECT ST_SetSRID(ST_MakePoint(119.6 + random() * 0.9, 29.7 + random() * 0.7), 4326),
           '2024-330100-47-01-' || lpad(i::text, 6, '0'), '测评项目' || i, district, '审查中', 'bench'
    FROM bench_plan ORDER BY i
    """,
    """
    CREATE TEMP TABLE bench_rounds AS
    SELECT p.i, g.k AS round_no, p.n_rounds, p.fate, p.accepted_at,
           (3 + floor(random() * 18))::int AS review_days, (2 + floor(random() * 11))::int AS reply_days
    FROM bench_plan p, generate_series(1, p.n_rounds) AS g (k)
    """,
    """
    CREATE TEMP TABLE bench_timed AS
    SELECT *,
           accepted_at + make_interval(days => coalesce(sum(review_days + reply_days) OVER (
               PARTITION BY i ORDER BY round_no ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)::int) AS started_at
    FROM bench_rounds
    """,
    # Status: 85 % concluded — failed (5 %), certified (60 %), passed (20 %); the rest under review or replying.
    """
    INSERT INTO dr_applications (application_no, review_project_id, project_code, name, submission_name,
        builder_uscc, designer_uscc, surveyor_uscc, agency_id, review_category, grade, contents, floor_area_m2,
        above_ground_m2, below_ground_m2, district, status, round_no, submitted_at, drawn_at, accepted_at,
        concluded_at, conclusion, certificate_no, certified_at, created_by)
    SELECT 'CP' || lpad(p.i::text, 7, '0'), rp.id, rp.code, rp.name, rp.name || '施工图',
           (SELECT uscc FROM enterprises WHERE name = '测评建设集团' || p.builder_no || '号有限公司'),
           (SELECT uscc FROM enterprises WHERE name = '测评设计研究院' || p.designer_no || '号有限公司'),
           (SELECT uscc FROM enterprises WHERE name = '测评勘察院' || p.surveyor_no || '号有限公司'),
           ag.id,
           CASE WHEN p.i % 5 = 0 THEN '市政基础设施' ELSE '房屋建筑' END,
           (ARRAY['一类','二类','三类'])[1 + p.i % 3],
           ARRAY['general', 'fire'], 30000, 24000, 6000, p.district,
           CASE WHEN p.fate < 0.05 THEN 'failed' WHEN p.fate < 0.65 THEN 'certified' WHEN p.fate < 0.85 THEN 'passed'
                WHEN p.fate < 0.93 THEN 'reviewing' ELSE 'replying' END,
           p.n_rounds, p.accepted_at - interval '3 days', p.accepted_at - interval '1 day', p.accepted_at,
           CASE WHEN p.fate < 0.85 THEN last.opinion_at END,
           CASE WHEN p.fate < 0.05 THEN '不合格' WHEN p.fate < 0.85 THEN '合格' END,
           CASE WHEN p.fate >= 0.05 AND p.fate < 0.65 THEN 'HG' || lpad(p.i::text, 7, '0') END,
           CASE WHEN p.fate >= 0.05 AND p.fate < 0.65 THEN last.opinion_at + interval '3 days' END,
           'bench'
    FROM bench_plan p
    JOIN review_projects rp ON rp.code = '2024-330100-47-01-' || lpad(p.i::text, 6, '0')
    JOIN (SELECT row_number() OVER (ORDER BY id) AS no, id FROM dr_agencies) ag ON ag.no = p.agency_no
    JOIN (SELECT i, started_at + make_interval(days => review_days) AS opinion_at FROM bench_timed
          WHERE round_no = n_rounds) last ON last.i = p.i
    """,
    """
    INSERT INTO dr_rounds (application_id, review_project_id, round_no, started_at, opinion_at, result, replied_at,
                           district, created_by)
    SELECT a.id, a.review_project_id, t.round_no, t.started_at,
           CASE WHEN t.round_no < t.n_rounds OR a.status <> 'reviewing'
                THEN t.started_at + make_interval(days => t.review_days) END,
           CASE WHEN t.round_no < t.n_rounds OR a.status = 'replying' THEN 'modify'
                WHEN a.status = 'failed' THEN 'failed' WHEN a.status = 'reviewing' THEN NULL ELSE 'passed' END,
           CASE WHEN t.round_no < t.n_rounds
                THEN t.started_at + make_interval(days => t.review_days + t.reply_days) END,
           a.district, 'bench'
    FROM bench_timed t JOIN dr_applications a ON a.application_no = 'CP' || lpad(t.i::text, 7, '0')
    """,
    "ANALYZE",
]

# The statistics written by hand: the same figures as layers/drawing_review/stats.py with the core's function per date
# pair (the baseline), and with the calendar joined once per date column instead.
RAW_STATS = {
    "joins": [
        """
        WITH apps AS (
            SELECT id, agency_id AS key, (accepted_at AT TIME ZONE 'Asia/Shanghai')::date AS acc,
                   (concluded_at AT TIME ZONE 'Asia/Shanghai')::date AS con,
                   (certified_at AT TIME ZONE 'Asia/Shanghai')::date AS cer, conclusion
            FROM dr_applications WHERE accepted_at IS NOT NULL),
        rev AS (SELECT application_id, count(*) FILTER (WHERE opinion_at IS NOT NULL) AS n FROM dr_rounds
                GROUP BY application_id)
        SELECT a.key, count(*), sum(rev.n), count(a.con), count(*) FILTER (WHERE a.conclusion = '合格'),
               count(*) FILTER (WHERE a.conclusion = '不合格'), count(a.cer),
               round(avg(a.con - a.acc), 1), round(avg(c2.ordinal - c1.ordinal), 1),
               round(avg(a.cer - a.acc), 1), round(avg(c3.ordinal - c1.ordinal), 1)
        FROM apps a LEFT JOIN rev ON rev.application_id = a.id
        LEFT JOIN work_calendar c1 ON c1.day = a.acc LEFT JOIN work_calendar c2 ON c2.day = a.con
        LEFT JOIN work_calendar c3 ON c3.day = a.cer
        GROUP BY GROUPING SETS ((), (a.key)) ORDER BY grouping(a.key) DESC, a.key::text
        """,
        """
        WITH rr AS (
            SELECT r.application_id, least(r.round_no, 4) AS stage, r.result,
                   (r.started_at AT TIME ZONE 'Asia/Shanghai')::date AS s,
                   (r.opinion_at AT TIME ZONE 'Asia/Shanghai')::date AS o
            FROM dr_rounds r JOIN dr_applications a ON a.id = r.application_id WHERE a.accepted_at IS NOT NULL)
        , per_app AS (
            SELECT stage, bool_or(result = 'passed') AS passed, bool_or(result = 'modify') AS modified,
                   bool_or(result = 'failed') AS failed, bool_or(result IS NOT NULL) AS decided, count(*) AS n,
                   sum(c2.ordinal - c1.ordinal) AS wd, count(c2.ordinal - c1.ordinal) AS wn,
                   sum(o - s) AS nd, count(o - s) AS nn
            FROM rr LEFT JOIN work_calendar c1 ON c1.day = rr.s LEFT JOIN work_calendar c2 ON c2.day = rr.o
            GROUP BY application_id, stage)
        SELECT stage, count(*), count(*) FILTER (WHERE passed), count(*) FILTER (WHERE modified),
               count(*) FILTER (WHERE failed), count(*) FILTER (WHERE decided), sum(n)::integer,
               round(sum(wd)::numeric / nullif(sum(wn), 0), 1), round(sum(nd)::numeric / nullif(sum(nn), 0), 1)
        FROM per_app GROUP BY stage ORDER BY stage
        """,
    ],
    "function": [
        """
        WITH apps AS (
            SELECT id, agency_id AS key, (accepted_at AT TIME ZONE 'Asia/Shanghai')::date AS acc,
                   (concluded_at AT TIME ZONE 'Asia/Shanghai')::date AS con,
                   (certified_at AT TIME ZONE 'Asia/Shanghai')::date AS cer, conclusion
            FROM dr_applications WHERE accepted_at IS NOT NULL),
        rev AS (SELECT application_id, count(*) FILTER (WHERE opinion_at IS NOT NULL) AS n FROM dr_rounds
                GROUP BY application_id)
        SELECT a.key, count(*), sum(rev.n), count(a.con), count(*) FILTER (WHERE a.conclusion = '合格'),
               count(*) FILTER (WHERE a.conclusion = '不合格'), count(a.cer),
               round(avg(a.con - a.acc), 1), round(avg(chengjian_working_days(a.acc, a.con)), 1),
               round(avg(a.cer - a.acc), 1), round(avg(chengjian_working_days(a.acc, a.cer)), 1)
        FROM apps a LEFT JOIN rev ON rev.application_id = a.id
        GROUP BY GROUPING SETS ((), (a.key)) ORDER BY grouping(a.key) DESC, a.key::text
        """,
        """
        WITH rr AS (
            SELECT r.application_id, least(r.round_no, 4) AS stage, r.result,
                   (r.started_at AT TIME ZONE 'Asia/Shanghai')::date AS s,
                   (r.opinion_at AT TIME ZONE 'Asia/Shanghai')::date AS o
            FROM dr_rounds r JOIN dr_applications a ON a.id = r.application_id WHERE a.accepted_at IS NOT NULL)
        , per_app AS (
            SELECT stage, bool_or(result = 'passed') AS passed, bool_or(result = 'modify') AS modified,
                   bool_or(result = 'failed') AS failed, bool_or(result IS NOT NULL) AS decided, count(*) AS n,
                   sum(chengjian_working_days(s, o)) AS wd, count(chengjian_working_days(s, o)) AS wn,
                   sum(o - s) AS nd, count(o - s) AS nn
            FROM rr GROUP BY application_id, stage)
        SELECT stage, count(*), count(*) FILTER (WHERE passed), count(*) FILTER (WHERE modified),
               count(*) FILTER (WHERE failed), count(*) FILTER (WHERE decided), sum(n)::integer,
               round(sum(wd)::numeric / nullif(sum(wn), 0), 1), round(sum(nd)::numeric / nullif(sum(nn), 0), 1)
        FROM per_app GROUP BY stage ORDER BY stage
        """,
    ],
}

RAW_PAGE = """
    SELECT a.id, a.name, a.review_category, eb.name AS builder_name, es.name AS surveyor_name,
           ed.name AS designer_name, ea.name AS agency_name, a.above_ground_m2, a.below_ground_m2, a.submitted_at,
           a.accepted_at, a.jurisdiction
    FROM dr_applications a
    LEFT JOIN enterprises eb ON eb.uscc = a.builder_uscc LEFT JOIN enterprises ed ON ed.uscc = a.designer_uscc
    LEFT JOIN enterprises es ON es.uscc = a.surveyor_uscc LEFT JOIN dr_agencies ag ON ag.id = a.agency_id
    LEFT JOIN enterprises ea ON ea.uscc = ag.uscc
    WHERE a.status IN ('passed', 'failed', 'certified')
    ORDER BY {order} NULLS LAST, a.id LIMIT 50 OFFSET :offset
"""
RAW_PAGE_COUNT = "SELECT count(*) FROM dr_applications WHERE status IN ('passed', 'failed', 'certified')"
RAW_PAGE_ROUNDS = """
    SELECT r.application_id, r.round_no,
           chengjian_working_days((r.started_at AT TIME ZONE 'Asia/Shanghai')::date,
                                  (r.opinion_at AT TIME ZONE 'Asia/Shanghai')::date) AS working_days,
           chengjian_working_days((r.opinion_at AT TIME ZONE 'Asia/Shanghai')::date,
                                  (r.replied_at AT TIME ZONE 'Asia/Shanghai')::date) AS reply_working_days
    FROM dr_rounds r
    WHERE r.application_id = ANY(:ids) ORDER BY r.application_id, r.round_no
"""
SORTS = {  # the API's sort key -> the raw SQL's ORDER BY
    "-submitted_at": "a.submitted_at DESC",
    "accepted_at": "a.accepted_at",
    "name": "a.name",
    "-agency_name": "ea.name DESC",
}


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(values), p)) if values else float("nan")


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def report(title: str, target: float, rows: dict[str, list[float]], raw: list[float]) -> None:
    print(f"\n{title}   (target ≤ {target:.0f} ms)")
    print(f"  {'':<34}{'p50 ms':>9}{'p95 ms':>9}{'p95/raw p95':>13}{'meets':>7}")
    print(f"  {'raw SQL (owner)':<34}{pct(raw, 50):>9.1f}{pct(raw, 95):>9.1f}{'1.00':>13}")
    for name, values in rows.items():
        ok = "yes" if pct(values, 95) <= target else "no"
        print(
            f"  {name:<34}{pct(values, 50):>9.1f}{pct(values, 95):>9.1f}{pct(values, 95) / pct(raw, 95):>13.2f}{ok:>7}"
        )


def load(url: str, rounds: int) -> None:
    engine = sa.create_engine(url)
    apps = max(10, round(rounds * 0.3))
    spread = 2 * rounds / apps - 1  # 1 + floor(random() * spread) rounds: on average rounds / apps
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT setseed(0.2026)"))
        for stmt in LOAD:
            if stmt == "ANALYZE":
                continue
            conn.execute(sa.text(stmt), {"apps": apps, "spread": spread} if ":apps" in stmt else {})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))
        n = conn.execute(sa.text("SELECT count(*) FROM dr_rounds")).scalar_one()
        m = conn.execute(sa.text("SELECT count(*) FROM dr_applications")).scalar_one()
    engine.dispose()
    print(f"loaded {m:,} applications and {n:,} review rounds in {time.perf_counter() - t0:.1f} s", flush=True)


def accounts(district: str) -> dict[str, dict[str, str]]:
    from starlette.requests import Request

    from api.accounts import sessions, users
    from geo.db import transaction

    out = {}
    with transaction() as conn:
        for name, roles, d in (
            ("bench-dr-admin", ["admin"], None),
            ("bench-dr-district", ["district_staff"], district),
        ):
            uid = conn.execute(sa.text("SELECT id FROM users WHERE username = :u"), {"u": name}).scalar()
            if uid is None:
                uid = users.create_user(
                    conn, name, name, roles, password="Bench-drawing-2026", district=d, actor="bench"
                )
            req = Request({"type": "http", "method": "POST", "path": "/", "headers": [], "client": ("127.0.0.1", 1)})
            token, _, _ = sessions.start(conn, uid, req, "bench", "bearer")
            out["admin" if d is None else "district"] = {"Authorization": f"Bearer {token}"}
    return out


def check_against_raw(raw_conn, api_body: dict) -> None:
    """The API's totals and stages equal the raw SQL's; the calendar joins give the function's figures."""
    indicators = raw_conn.execute(sa.text(RAW_STATS["function"][0])).all()
    stages = raw_conn.execute(sa.text(RAW_STATS["function"][1])).all()
    assert indicators == raw_conn.execute(sa.text(RAW_STATS["joins"][0])).all()
    assert stages == raw_conn.execute(sa.text(RAW_STATS["joins"][1])).all()
    total = indicators[0]
    t = api_body["totals"]
    got = (t["projects"], t["reviews"], t["conclusion_working_days"], t["certificate_working_days"])
    want = (total[1], total[2], _f(total[8]), _f(total[10]))
    assert got == want, (got, want)
    for s, row in zip(api_body["stages"], stages, strict=True):
        assert (s["stage"], s["projects"], s["passed"], s["working_days"]) == (row[0], row[1], row[2], _f(row[7])), (
            s,
            row,
        )
    print("check: the API's statistics equal the raw SQL's, with the function and with the calendar joins", flush=True)


def _f(v):
    return None if v is None else float(v)


def run(url: str, args) -> None:
    os.environ["DATABASE_URL"] = url
    from geo.settings import get_settings

    get_settings.cache_clear()
    from geo.db import reset_engine

    reset_engine()
    from fastapi.testclient import TestClient

    from api.app import create_app
    from layers.drawing_review import stats as dr_stats

    rng = random.Random(args.seed)
    owner = sa.create_engine(url, pool_size=2)
    raw_conn = owner.connect()
    counts = {
        t: raw_conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in ("dr_applications", "dr_rounds")
    }
    district = raw_conn.execute(
        sa.text("SELECT district FROM dr_applications GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
    ).scalar_one()
    reviewed = raw_conn.execute(sa.text(RAW_PAGE_COUNT)).scalar_one()
    print(
        "  ".join(f"{t}: {n:,}" for t, n in counts.items())
        + f"   district account: {district}   cores: {os.cpu_count()}   load average: {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    heads = accounts(district)
    client = TestClient(create_app())

    def api(path: str, who: str) -> Callable[[], object]:
        def call() -> object:
            r = client.get(path, headers=heads[who])
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
            return r

        return call

    # -- DR-12 statistics over every round ---------------------------------------------------------------------------
    body = api("/api/review/stats", "admin")().json()  # warm-up, and the check
    check_against_raw(raw_conn, body)

    def raw_stats(kind: str) -> Callable[[], object]:
        return lambda: [raw_conn.execute(sa.text(s)).all() for s in RAW_STATS[kind]]

    def direct() -> object:
        return dr_stats.compute(raw_conn, dr_stats.Filters())

    for warm in (raw_stats("function"), raw_stats("joins"), direct, api("/api/review/stats", "district")):
        warm()
    rows: dict[str, list[float]] = {
        "raw SQL, calendar joins": [],
        "stats.compute (owner, no HTTP)": [],
        "API, administrator": [],
        "API, district account": [],
    }
    raw: list[float] = []
    for _ in range(args.repeats):
        raw.append(timed(raw_stats("function")))
        rows["raw SQL, calendar joins"].append(timed(raw_stats("joins")))
        rows["stats.compute (owner, no HTTP)"].append(timed(direct))
        rows["API, administrator"].append(timed(api("/api/review/stats", "admin")))
        rows["API, district account"].append(timed(api("/api/review/stats", "district")))
    report(
        f"DR-12 statistics, every round ({counts['dr_rounds']:,} rounds, {args.repeats} runs)",
        TARGET_STATS_MS,
        rows,
        raw,
    )

    # -- the reviewed-projects query, a page of 50 with working days per round -------------------------------------------
    pages = max(1, (reviewed + 49) // 50)
    probes = [(rng.randrange(pages), rng.choice(list(SORTS))) for _ in range(args.queries)]

    def raw_page(page: int, sort: str) -> Callable[[], object]:
        def call() -> object:
            raw_conn.execute(sa.text(RAW_PAGE_COUNT)).scalar_one()
            ids = [r[0] for r in raw_conn.execute(sa.text(RAW_PAGE.format(order=SORTS[sort])), {"offset": page * 50})]
            return raw_conn.execute(sa.text(RAW_PAGE_ROUNDS), {"ids": ids}).all()

        return call

    def api_page(page: int, sort: str, who: str) -> Callable[[], object]:
        return api(f"/api/review/queries/reviewed?page={page + 1}&sort={sort}", who)

    for page, sort in probes[:5]:
        raw_page(page, sort)()
        api_page(page, sort, "admin")()
    rows = {"API, administrator": [], "API, district account": []}
    raw = []
    for page, sort in probes:
        raw.append(timed(raw_page(page, sort)))
        rows["API, administrator"].append(timed(api_page(page, sort, "admin")))
        rows["API, district account"].append(timed(api_page(0, sort, "district")))
    report(
        f"reviewed projects, a page of 50 with working days per round ({reviewed:,} reviewed, {len(probes)} pages)",
        TARGET_PAGE_MS,
        rows,
        raw,
    )
    raw_conn.close()

    # -- drawing tiles (another slice's measure, when it is there) --------------------------------------------------------
    try:
        from bench import drawing_tiles  # type: ignore[attr-defined]
    except ImportError:
        print("\ndrawing tiles: bench/drawing_tiles.py is not there; not measured")
        return
    with owner.connect() as conn:
        figures = drawing_tiles.measure(url, conn)
    print("\ndrawing tiles:", figures)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", help="use this already loaded database instead of a fresh scratch one")
    p.add_argument("--rounds", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--seed", type=int, default=20261207)
    args = p.parse_args()
    if args.url:
        run(args.url, args)
        return
    with scratch_database("bench_dr") as url:
        print(f"loading {args.rounds:,} review rounds …", flush=True)
        load(url, args.rounds)
        run(url, args)


if __name__ == "__main__":
    main()
