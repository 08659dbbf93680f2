"""The registers' speed targets (issue 12), each beside the same query's raw SQL in the same run.

On the demo data set at city volume (20,000 enterprises, 100,000 persons, 5,000 projects, 50,000 credit events) with
1,000,000 farmhouses (``--farmhouses``), through the app itself (``TestClient``: routing, authentication, row-level
security, serialisation — everything but the socket):

- name search (Chinese substring of two characters, e.g. 「建工」) on the enterprise and the personnel register:
  ``GET /api/registers/enterprises?q=`` and ``GET /api/registers/persons?q=`` — target p95 ≤ 50 ms; raw SQL: the
  same page and count by ``name LIKE '%q%'`` as the owner;
- a project's linked records (``GET /api/registers/projects/{code}``, every module's links, ``geo.records.linked``)
  — target p95 ≤ 100 ms; raw SQL: the project row and, per declared link, its count and first rows, as the owner;
- a thematic map's statistic over the farmhouses by district (``layers.thematic.engine``: ``answer`` is served from
  its cache, keyed on the layer's change counter, so a write invalidates it; ``compute`` is the statistic itself,
  what the first request after a write pays: it reads the per-district counts the writes keep,
  ``thematic_district_counts`` (migration thm_0002), the city all of them and a district account its own (thm_0003))
  — target ≤ 300 ms; raw SQL: ``SELECT district, count(*) … GROUP BY``.

Each side is run for an administrator (city scope) and a district account (row-level security on), alternately,
after a warm-up. Prints p50/p95 and the ratio to the raw SQL.

    .venv/bin/python -m bench.registers                                  # a scratch database, the demo loaded
    .venv/bin/python -m bench.registers --url postgresql+psycopg://…/db  # an already loaded database
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import sqlalchemy as sa

from bench.common import scratch_database


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(values), p)) if values else float("nan")


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def bigrams(names: list[str], rng: np.random.Generator, count: int, must: tuple[str, ...] = ()) -> list[str]:
    """Two-character substrings of real names (no Latin or digits), the ones named first."""
    out = list(must)
    while len(out) < count:
        name = names[int(rng.integers(len(names)))]
        if len(name) < 2:
            continue
        i = int(rng.integers(len(name) - 1))
        term = name[i : i + 2]
        if term.isascii() or any(ch.isdigit() for ch in term):
            continue
        out.append(term)
    return out


def accounts(district: str) -> dict[str, dict[str, str]]:
    from starlette.requests import Request

    from api.accounts import sessions, users
    from geo.db import transaction

    out = {}
    with transaction() as conn:
        for name, roles, d in (("bench-admin", ["admin"], None), ("bench-district", ["district_staff"], district)):
            uid = conn.execute(sa.text("SELECT id FROM users WHERE username = :u"), {"u": name}).scalar()
            if uid is None:
                uid = users.create_user(
                    conn, name, name, roles, password="Bench-registers-2026", district=d, actor="bench"
                )
            req = Request({"type": "http", "method": "POST", "path": "/", "headers": [], "client": ("127.0.0.1", 1)})
            token, _, _ = sessions.start(conn, uid, req, "bench", "bearer")
            out["admin" if d is None else "district"] = {"Authorization": f"Bearer {token}"}
    return out


def report(title: str, target: float, sides: dict[str, list[float]], raw: list[float]) -> None:
    print(f"\n{title}   (target p95 ≤ {target:.0f} ms)")
    print(f"  {'':<22}{'p50 ms':>9}{'p95 ms':>9}{'p95/raw p95':>13}{'meets':>7}")
    print(f"  {'raw SQL (owner)':<22}{pct(raw, 50):>9.1f}{pct(raw, 95):>9.1f}{'1.00':>13}")
    for name, values in sides.items():
        ok = "yes" if pct(values, 95) <= target else "no"
        print(
            f"  {name:<22}{pct(values, 50):>9.1f}{pct(values, 95):>9.1f}{pct(values, 95) / pct(raw, 95):>13.2f}{ok:>7}"
        )


def run(url: str, args) -> None:
    os.environ["DATABASE_URL"] = url
    from geo.settings import get_settings

    get_settings.cache_clear()
    from geo.db import reset_engine

    reset_engine()
    from fastapi.testclient import TestClient

    from api.app import create_app
    from geo.records import links_to

    rng = np.random.default_rng(args.seed)
    owner = sa.create_engine(url, pool_size=2)
    with owner.connect() as conn:
        counts = {
            t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("enterprises", "persons", "projects", "credit_events", "farmhouses")
        }
        firm_names = list(conn.execute(sa.text("SELECT name FROM enterprises ORDER BY random() LIMIT 2000")).scalars())
        person_names = list(conn.execute(sa.text("SELECT name FROM persons ORDER BY random() LIMIT 2000")).scalars())
        district = conn.execute(
            sa.text("SELECT district FROM projects WHERE site_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
        ).scalar_one()
        codes = list(
            conn.execute(
                sa.text(
                    "(SELECT project_code FROM projects WHERE site_id IS NOT NULL ORDER BY random() LIMIT :n) "
                    "UNION ALL (SELECT project_code FROM projects WHERE site_id IS NULL ORDER BY random() LIMIT :n)"
                ),
                {"n": args.queries // 2},
            ).scalars()
        )
    print(
        "  ".join(f"{t}: {n:,}" for t, n in counts.items())
        + f"   district account: {district}   cores: {os.cpu_count()}   load average: {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    heads = accounts(district)
    client = TestClient(create_app())
    raw_conn = owner.connect()

    def api(path: str, who: str) -> Callable[[], object]:
        def call() -> object:
            r = client.get(path, headers=heads[who])
            assert r.status_code in (200, 404), (path, r.status_code, r.text[:200])
            return r

        return call

    # -- name search -----------------------------------------------------------------------------------------------
    for title, path, table, names, must in (
        ("enterprise name search", "/api/registers/enterprises?q=", "enterprises", firm_names, ("建工", "监理")),
        ("person name search", "/api/registers/persons?q=", "persons", person_names, ()),
    ):
        terms = bigrams(names, rng, args.queries, must)
        raw_sql = sa.text(f"SELECT count(*) OVER () AS total, * FROM {table} WHERE name LIKE :p ORDER BY id LIMIT 20")
        sides: dict[str, list[float]] = {"API, administrator": [], "API, district account": []}
        raw: list[float] = []
        for term in terms[:5]:  # warm-up
            api(path + term, "admin")()
            raw_conn.execute(raw_sql, {"p": f"%{term}%"}).all()
        for term in terms:
            raw.append(timed(lambda t=term, s=raw_sql: raw_conn.execute(s, {"p": f"%{t}%"}).all()))
            sides["API, administrator"].append(timed(api(path + term, "admin")))
            sides["API, district account"].append(timed(api(path + term, "district")))
        report(f"{title} ({counts[table]:,} rows, {len(terms)} two-character terms)", 50, sides, raw)

    # -- a project's linked records ---------------------------------------------------------------------------------
    links = links_to("projects")
    meta = sa.MetaData()

    def raw_linked(code: str) -> None:
        row = raw_conn.execute(sa.text("SELECT * FROM projects WHERE project_code = :c"), {"c": code}).mappings().one()
        for link in links:
            value = row.get(link.target_column)
            if value is None:
                continue
            t = (
                sa.Table(link.table, meta, autoload_with=raw_conn)
                if link.table not in meta.tables
                else meta.tables[link.table]
            )
            cond = t.c[link.column] == value
            raw_conn.execute(sa.select(sa.func.count()).select_from(t).where(cond)).scalar_one()
            raw_conn.execute(sa.select(t).where(cond).limit(200)).all()

    sides = {"API, administrator": [], "API, district account": []}
    raw = []
    for code in codes[:5]:
        raw_linked(code)
        api(f"/api/registers/projects/{code}", "admin")()
    for code in codes:
        raw.append(timed(lambda c=code: raw_linked(c)))
        sides["API, administrator"].append(timed(api(f"/api/registers/projects/{code}", "admin")))
        sides["API, district account"].append(timed(api(f"/api/registers/projects/{code}", "district")))
    report(f"a project's linked records ({len(links)} declared links, {len(codes)} projects)", 100, sides, raw)

    # -- a thematic statistic over the farmhouses by district ---------------------------------------------------------
    from geo import scope as scopes
    from geo.db import use_app_role
    from layers.thematic import engine as thematic
    from layers.thematic.declaration import check

    body = {
        "slug": "bench-farmhouses",
        "title": "农房数",
        "source": "farmhouses",
        "statistic": "count",
        "filter": None,
        "attribute": None,
        "grouping": "district",
        "classification": "quantiles",
        "classes": 5,
        "colors": "reds",
        "rendering": "choropleth",
        "published": False,
    }
    app_engine = use_app_role(sa.create_engine(url, pool_size=2))
    raw_sql = sa.text("SELECT district, count(*) FROM farmhouses WHERE deleted_at IS NULL GROUP BY district")
    sides = {"cached answer, city": [], "compute, city": [], "compute, district account": []}
    raw = []
    with app_engine.connect() as conn:
        scopes.apply(conn, scopes.SYSTEM)
        decl, source = check(conn, body)
        thematic.answer(conn, decl, source)
    for _ in range(args.repeats):
        raw.append(timed(lambda: raw_conn.execute(raw_sql).all()))
        with app_engine.connect() as conn:
            scopes.apply(conn, scopes.SYSTEM)
            sides["cached answer, city"].append(timed(lambda c=conn: thematic.answer(c, decl, source)))
            sides["compute, city"].append(timed(lambda c=conn: thematic.compute(c, decl, source)))
        with app_engine.connect() as conn:
            scopes.apply(conn, scopes.Scope.of(districts=[district]))
            sides["compute, district account"].append(timed(lambda c=conn: thematic.compute(c, decl, source)))
    report(
        f"thematic statistic: farmhouses by district ({counts['farmhouses']:,} rows, {args.repeats} runs)",
        300,
        sides,
        raw,
    )
    print(f"\n(median raw SQL of the statistic: {statistics.median(raw):.0f} ms)")
    raw_conn.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", help="use this already loaded database instead of a fresh scratch one")
    p.add_argument("--farmhouses", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--seed", type=int, default=20261207)
    args = p.parse_args()
    if args.url:
        run(args.url, args)
        return
    from etl.demo import build_demo

    with scratch_database("bench_registers") as url:
        print(f"loading the demo data set with {args.farmhouses:,} farmhouses …", flush=True)
        engine = sa.create_engine(url)
        t0 = time.perf_counter()
        build_demo(farmhouses=args.farmhouses, engine=engine)
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
        engine.dispose()
        print(f"loaded in {time.perf_counter() - t0:.0f} s", flush=True)
        run(url, args)


if __name__ == "__main__":
    main()
