"""The map's search under row-level security: a district account against the owner without it, on 1,000,000 farmhouses.

The function ``GET /api/search`` runs for each layer (``api.search.search_layer``: exact label/code, prefix, then
``chengjian_search_ids`` for contains) for the same queries, in the same run, on two connections to one database:

- ``district``: the app's engine (``SET ROLE chengjian_app``, row-level security) with a district account's scope
  stated per transaction (``geo.scope.apply``), as ``api.deps.db_read`` does;
- ``owner``: the connecting user, owner of the tables: row-level security does not apply (the baseline), scope
  ``all``;
- ``before`` (``--before N``, a sample of N queries): the district account through the search as it was before
  migration 0011 (``ILIKE`` on the document under row-level security: a scan of the table).

The queries are drawn from the data (seeded): two- and three-character owner names, full codes and code prefixes,
village and township names, a one-character surname, rare names; half from the account's district, half from the
others (which it must not find: checked). Each query runs on the connections back to back in rotating order; every
connection is warmed first. Prints p50/p95 per connection and kind, and the district's ratio to the owner.

    .venv/bin/python bench/search.py                              # scratch database with 1,000,000 demo farmhouses
    .venv/bin/python bench/search.py --url postgresql+psycopg://…/db   # reuse a loaded (and migrated) database
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench.common import scratch_database  # noqa: E402

LIMIT = 20


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(math.ceil(p / 100 * len(v))) - 1)] * 1000


def queries(conn: sa.Connection, district: str, count: int, seed: int = 11) -> list[tuple[str, str]]:
    """(kind, q): drawn from random farmhouses, half in ``district``."""
    rng = np.random.default_rng(seed)
    lo, hi = conn.execute(sa.text("SELECT min(id), max(id) FROM farmhouses")).one()
    inside = conn.execute(sa.text("SELECT min(id), max(id) FROM farmhouses WHERE district = :d"), {"d": district}).one()
    rows = []
    for i in range(count):
        a, b = inside if i % 2 == 0 else (lo, hi)
        fid = int(rng.integers(a, b + 1))
        row = conn.execute(
            sa.text(
                "SELECT code, owner_name, village, township FROM farmhouses WHERE id >= :i AND deleted_at IS NULL "
                "ORDER BY id LIMIT 1"
            ),
            {"i": fid},
        ).one()
        rows.append(row)
    rare = conn.execute(
        sa.text(
            "SELECT owner_name FROM farmhouses WHERE char_length(owner_name) = 3 GROUP BY owner_name "
            "HAVING count(*) = 1 LIMIT :n"
        ),
        {"n": max(1, count // 8)},
    ).scalars()
    out: list[tuple[str, str]] = []
    kinds = ("name 2", "name 3", "code", "code prefix", "village", "township", "surname", "name 2")
    for i, (code, owner, village, township) in enumerate(rows):
        kind = kinds[i % len(kinds)]
        q = {
            "name 2": owner[:2],
            "name 3": owner,
            "code": code,
            "code prefix": code[:-4],
            "village": village,
            "township": township,
            "surname": owner[:1],
        }[kind]
        out.append((kind, q))
    out += [("rare name", r) for r in rare]
    return out


def run(url: str, args) -> dict:
    from api.search import search_layer
    from geo import scope as scopes
    from geo.db import use_app_role
    from geo.layer import store
    from geo.layer.registry import registry
    from geo.modules import discover

    discover()
    layer = registry.get("farmhouses")
    owner_engine = sa.create_engine(url, pool_size=2)
    app_engine = use_app_role(sa.create_engine(url, pool_size=2))
    district = args.district
    account = scopes.Scope.of(districts=[district])
    with owner_engine.connect() as owner:
        n = owner.execute(sa.text("SELECT count(*) FROM farmhouses WHERE deleted_at IS NULL")).scalar_one()
        mine = owner.execute(
            sa.text("SELECT count(*) FROM farmhouses WHERE deleted_at IS NULL AND district = :d"), {"d": district}
        ).scalar_one()
        qs = queries(owner, district, args.queries)
    print(
        f"farmhouses: {n:,}, {mine:,} in {district} (the district account)   queries: {len(qs)}   "
        f"cores: {os.cpu_count()}   load average: {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    def old_search(conn: sa.Connection, q: str) -> list[dict]:
        # What search_layer's contains step was before migration 0011: the document's ILIKE under RLS.
        t = layer.sa_table
        stmt = sa.select(t.c.id).where(store.where_clause(layer, store.Query(q=q))).limit(LIMIT)
        return [{"id": r.id} for r in conn.execute(stmt)]

    sides = {
        "district": (app_engine, account, lambda c, q: search_layer(c, layer, q, LIMIT)),
        "owner": (owner_engine, scopes.SYSTEM, lambda c, q: search_layer(c, layer, q, LIMIT)),
    }
    before_every = max(1, len(qs) // args.before) if args.before else 0
    if args.before:
        sides["before"] = (app_engine, account, old_search)
    conns = {k: engine.connect() for k, (engine, _, _) in sides.items()}

    def once(name: str, q: str) -> tuple[float, list[dict]]:
        _, scope, fn = sides[name]
        conn = conns[name]
        t0 = time.perf_counter()
        scopes.apply(conn, scope)
        hits = fn(conn, q)
        conn.rollback()
        return time.perf_counter() - t0, hits

    for _, q in qs[:8]:  # warm: connections, catalogs, plans
        for name in conns:
            if name != "before":
                once(name, q)
    lat: dict[str, list[float]] = defaultdict(list)
    by_kind: dict[tuple[str, str], list[float]] = defaultdict(list)
    ids_of_district: set[int] = set()
    for i, (kind, q) in enumerate(qs):
        names = ["district", "owner"]
        if before_every and i % before_every == 0:
            names.append("before")
        names = names[i % len(names) :] + names[: i % len(names)]
        found = {}
        for name in names:
            seconds, hits = once(name, q)
            lat[name].append(seconds)
            by_kind[(name, kind)].append(seconds)
            found[name] = {h["id"] for h in hits}
        ids_of_district |= found["district"]
        if "before" in found and found["before"] - found["district"] and len(found["district"]) < LIMIT:
            raise SystemExit(f"{q!r}: the old search finds {found['before'] - found['district']} the new one does not")
    with owner_engine.connect() as owner:
        outside = owner.execute(
            sa.text("SELECT count(*) FROM farmhouses WHERE id = ANY(:ids) AND district IS DISTINCT FROM :d"),
            {"ids": sorted(ids_of_district), "d": district},
        ).scalar_one()
    if outside:
        raise SystemExit(f"the district account found {outside} farmhouses of other districts")
    for conn in conns.values():
        conn.close()

    print(f"\n== {len(qs)} searches (limit {LIMIT}), one at a time, rotating order ==")
    print(f"{'':<10} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'total s':>8}")
    for name in lat:
        v = lat[name]
        print(f"{name:<10} {len(v):>5} {pct(v, 50):>8.2f} {pct(v, 95):>8.2f} {max(v) * 1000:>8.1f} {sum(v):>8.2f}")
    d, o = lat["district"], lat["owner"]
    ratio = {"p50": pct(d, 50) / pct(o, 50), "p95": pct(d, 95) / pct(o, 95), "total": sum(d) / sum(o)}
    print(
        f"district / owner: p50 {ratio['p50']:.2f}   p95 {ratio['p95']:.2f}   total {ratio['total']:.2f}   "
        f"(targets: district p95 <= 50 ms, <= 1.5x owner); every district hit is in {district}: yes"
    )
    print(f"\n{'kind':<12} {'n':>4} {'district p50':>13} {'p95':>8} {'owner p50':>10} {'p95':>8}")
    for kind in dict.fromkeys(k for k, _ in qs):
        dv, ov = by_kind[("district", kind)], by_kind[("owner", kind)]
        print(
            f"{kind:<12} {len(dv):>4} {pct(dv, 50):>13.2f} {pct(dv, 95):>8.2f} {pct(ov, 50):>10.2f} {pct(ov, 95):>8.2f}"
        )
    owner_engine.dispose()
    app_engine.dispose()
    return {"district_p95_ms": pct(d, 95), "owner_p95_ms": pct(o, 95), **ratio}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", help="use this already loaded database instead of a fresh scratch one")
    p.add_argument("--farmhouses", type=int, default=1_000_000)
    p.add_argument("--district", default="余杭区", help="the district account's district")
    p.add_argument("--queries", type=int, default=400)
    p.add_argument("--before", type=int, default=10, help="also time this many queries the old way (0: none)")
    args = p.parse_args()
    if args.url:
        run(args.url, args)
        return
    from etl.demo import build_demo

    with scratch_database("bench_search") as url:
        print(f"loading the demo data set with {args.farmhouses:,} farmhouses …", flush=True)
        engine = sa.create_engine(url)
        build_demo(farmhouses=args.farmhouses, engine=engine)
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
        engine.dispose()
        run(url, args)


if __name__ == "__main__":
    main()
