"""Row-level security's cost on the tile statement: the schema owner (no RLS) against ``chengjian_app``.

The same statement ``tiles.service`` runs (``tiles.sql.statement``: generation + ``ST_AsMVT`` of the farmhouses'
features) for the same tiles, in the same run, on three connections to the same database:

- ``owner``: the connecting user, owner of the tables: row-level security does not apply (the baseline);
- ``app, all``: ``SET ROLE chengjian_app`` with ``chengjian.scope = all`` (admin, city supervisor, leader);
- ``app, districts``: ``chengjian_app`` limited to a list of every district, so it sees the same farmhouses as
  ``all`` (the tiles must hold the same features, checked) through the other arm of ``chengjian_scope_ok``.

Each tile is run on the three connections back to back, in an order that rotates from tile to tile, so that the
machine's other load falls on all three alike; every connection is warmed first (prepared plans: psycopg
prepares a statement from its 5th execution, as the app's pool does). Prints per-tile latency (p50/p95), the
total, and each row's ratio to ``owner``, and whether each connection's plan uses the GiST index on
``geom_3857``.

    .venv/bin/python bench/rls.py                              # scratch database with 1,000,000 demo farmhouses
    .venv/bin/python bench/rls.py --url postgresql+psycopg://…/db   # reuse a loaded database
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import psycopg  # noqa: E402

from bench.common import libpq, random_tiles, scratch_database, tile_of  # noqa: E402


def data_tiles(conn, z: int, count: int, seed: int = 7) -> list[tuple[int, int, int]]:
    """Distinct tiles holding farmhouses: the tiles of randomly drawn farmhouses."""
    rng = np.random.default_rng(seed)
    lo, hi = conn.execute("SELECT min(id), max(id) FROM farmhouses").fetchone()
    ids = [int(i) for i in rng.integers(lo, hi + 1, count * 4)]
    pts = conn.execute(
        "SELECT ST_X(geom), ST_Y(geom) FROM farmhouses WHERE deleted_at IS NULL AND id = ANY(%s)", (ids,)
    ).fetchall()
    tiles = sorted({(z, *tile_of(lon, lat, z)) for lon, lat in pts})
    return [tiles[i] for i in sorted(rng.choice(len(tiles), size=min(count, len(tiles)), replace=False))]


def features(blob: bytes) -> frozenset:
    """The tile's features as (id, attributes) — the bytes depend on the order the rows came in."""
    import mapbox_vector_tile

    layer = mapbox_vector_tile.decode(blob).get("farmhouses", {"features": []})
    return frozenset((f["id"], tuple(sorted(f["properties"].items()))) for f in layer["features"])


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(math.ceil(p / 100 * len(v))) - 1)] * 1000


def connections(url: str) -> dict[str, psycopg.Connection]:
    from geo import scope as scopes
    from geo.db import APP_ROLE

    out = {"owner": psycopg.connect(libpq(url), autocommit=True)}
    for name, scope in (("app, all", scopes.SYSTEM), ("app, districts", None)):
        conn = psycopg.connect(libpq(url), autocommit=True)
        conn.execute(f"SET ROLE {APP_ROLE}")
        if scope is None:
            names = [
                r[0]
                for r in out["owner"].execute("SELECT DISTINCT district FROM farmhouses WHERE district IS NOT NULL")
            ]
            scope = scopes.Scope.of(districts=names)
        with conn.cursor() as cur:
            scopes.apply_session(cur, {}, scope)
        out[name] = conn
    return out


def uses_index(conn, stmt: str, params: dict) -> str:
    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + stmt, params))
    if "farmhouses_geom_3857_idx" in plan:
        return "GiST index"
    return "seq scan" if "Seq Scan on farmhouses" in plan else "other"


def run(url: str, args) -> dict:
    from geo.layer.registry import registry
    from tiles import sql

    layer = registry.get("farmhouses")
    conns = connections(url)
    names = list(conns)
    owner = conns["owner"]
    n = owner.execute("SELECT count(*) FROM farmhouses WHERE deleted_at IS NULL").fetchone()[0]
    from tiles.service import LEAKPROOF_SQL

    leakproof = owner.execute(LEAKPROOF_SQL).fetchone()[0]
    print(
        f"farmhouses: {n:,}   geometry && geometry LEAKPROOF (migration 0009): {'yes' if leakproof else 'NO'}   "
        f"cores: {os.cpu_count()}   load average: {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    sets = {"random": random_tiles(args.zoom, args.tiles), "with data": data_tiles(owner, args.zoom, args.tiles)}
    part = sql.plan(layer, args.zoom, True)
    stmt = sql.statement((part,))
    results = {}
    for label, tiles in sets.items():
        z, x, y = tiles[0]
        probe = sql.params((part,), z, x, y)
        for conn in conns.values():  # warm: connections, plans (prepared from the 5th execution)
            for _ in range(6):
                conn.execute(stmt, probe, binary=True)
        lat: dict[str, list[float]] = {k: [] for k in names}
        sizes: dict[str, int] = {k: 0 for k in names}
        for i, (z, x, y) in enumerate(tiles):
            p = sql.params((part,), z, x, y)
            blobs = {}
            for k in names[i % len(names) :] + names[: i % len(names)]:
                t0 = time.perf_counter()
                row = conns[k].execute(stmt, p, binary=True).fetchone()
                lat[k].append(time.perf_counter() - t0)
                blobs[k] = bytes(row[1] or b"")
                sizes[k] += len(blobs[k])
            if len({features(b) for b in blobs.values()}) != 1:
                raise SystemExit(
                    f"tile {z}/{x}/{y} differs between the connections: { {k: len(b) for k, b in blobs.items()} }"
                )
        plans = {k: uses_index(conns[k], stmt, probe) for k in names}
        base = sum(lat["owner"])
        print(
            f"\n== z{args.zoom}, {len(tiles)} {label} tiles ({sizes['owner'] / len(tiles) / 1000:.1f} KB a tile "
            f"on average), one at a time, rotating order =="
        )
        print(f"{'':<16} {'p50 ms':>8} {'p95 ms':>8} {'total s':>8} {'/owner':>7}  plan")
        for k in names:
            print(
                f"{k:<16} {pct(lat[k], 50):>8.2f} {pct(lat[k], 95):>8.2f} {sum(lat[k]):>8.2f} "
                f"{sum(lat[k]) / base:>7.2f}  {plans[k]}",
                flush=True,
            )
        results[label] = {k: sum(lat[k]) / base for k in names}
    for conn in conns.values():
        conn.close()
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", help="use this already loaded database instead of a fresh scratch one")
    p.add_argument("--farmhouses", type=int, default=1_000_000)
    p.add_argument("--zoom", type=int, default=14)
    p.add_argument("--tiles", type=int, default=1000)
    args = p.parse_args()
    if args.url:
        run(args.url, args)
        return
    from sqlalchemy import create_engine

    from etl.demo import build_demo

    with scratch_database("bench_rls") as url:
        print(f"loading the demo data set with {args.farmhouses:,} farmhouses …", flush=True)
        engine = create_engine(url)
        build_demo(farmhouses=args.farmhouses, engine=engine)
        engine.dispose()
        run(url, args)


if __name__ == "__main__":
    main()
