"""Benchmark: readers of a layer while a large import loads into it (issue #11 §1).

A scratch database gets ``--old`` farmhouses (codes ``OLD…``, through the CLI's import function), then
``chengjian import`` loads ``--n`` more (the file bench/import_points.py generates, codes ``NF…``) in a
subprocess, as a clerk would run it. Meanwhile this process reads the same layer from other connections, as
the app role with scope ``all``, in two loops until the import exits: tiles (cache misses: the tile statement
itself, random z10–z15 tiles over Hangzhou, tiles/service.render) and feature lists (a random ~2 km bounding
box, 100 features, geo.layer.store.list_features, plus the layer's live count every tenth read). Each read sets
``lock_timeout`` = 10 s, so a blocked read shows as an error rather than hanging the bench.

Prints, for the reads before the import (baseline), during it and after its commit: p50, p95, max and errors;
and whether any read during the import saw a new row (a code not ``OLD…`` in a tile or list, or a count other
than ``--old``) — it must not: the load's rows appear only at its commit.

    .venv/bin/python bench/load_readers.py                      # 1,000,000 points into a layer of 100,000
    .venv/bin/python bench/load_readers.py --n 100000 --old 20000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import HANGZHOU, random_tiles, scratch_database  # noqa: E402
from bench.import_points import OUT, files, generate  # noqa: E402


class Reads:
    """Latencies (s) and findings of one reader loop, by phase."""

    def __init__(self) -> None:
        self.phase = "before"
        self.times: dict[str, list[float]] = {"before": [], "during": [], "after": []}
        self.errors: dict[str, list[str]] = {"before": [], "during": [], "after": []}
        self.new_seen: dict[str, int] = {"before": 0, "during": 0, "after": 0}


def tile_loop(reads: Reads, stop: threading.Event, old: int) -> None:
    import mapbox_vector_tile

    from geo import scope as scopes
    from geo.layer.registry import registry
    from tiles import service
    from tiles.pool import with_cursor

    layer = registry.get("farmhouses")
    tiles = [t for z in (10, 11, 12, 13, 14, 15) for t in random_tiles(z, 200, seed=z)]
    np.random.default_rng(3).shuffle(tiles)
    i = 0
    while not stop.is_set():
        z, x, y = tiles[i % len(tiles)]
        i += 1
        phase = reads.phase

        def render(cur, z=z, x=x, y=y):
            cur.execute("SET lock_timeout = '10s'")
            return service.render(cur, [layer], z, x, y)

        t = time.perf_counter()
        try:
            blob, _ = with_cursor(render, scopes.SYSTEM)
        except Exception as e:  # a blocked or failed read: counted, the loop goes on
            reads.errors[phase].append(f"{type(e).__name__}: {str(e)[:100]}")
            continue
        reads.times[phase].append(time.perf_counter() - t)
        feats = mapbox_vector_tile.decode(blob).get(layer.id, {"features": []})["features"]
        codes = [f["properties"].get("code") for f in feats if "code" in f["properties"]]
        if any(not str(c).startswith("OLD") for c in codes) and reads.phase == phase:
            reads.new_seen[phase] += 1


def feature_loop(reads: Reads, stop: threading.Event, old: int) -> None:
    from sqlalchemy import text

    from geo import scope as scopes
    from geo.db import get_engine
    from geo.layer import store
    from geo.layer.registry import registry

    layer = registry.get("farmhouses")
    rng = np.random.default_rng(7)
    i = 0
    while not stop.is_set():
        lon = rng.uniform(HANGZHOU[0] + 0.3, HANGZHOU[2] - 0.3)
        lat = rng.uniform(HANGZHOU[1] + 0.3, HANGZHOU[3] - 0.3)
        query = store.Query(bbox=(lon, lat, lon + 0.02, lat + 0.02), limit=100)
        phase = reads.phase
        t = time.perf_counter()
        try:
            with get_engine().connect() as conn:
                scopes.apply(conn, scopes.SYSTEM)
                conn.execute(text("SET LOCAL lock_timeout = '10s'"))
                got = store.list_features(conn, layer, query)
                took = time.perf_counter() - t
                live = store.count(conn, layer, store.Query(limit=None)) if i % 10 == 0 else old  # not timed
        except Exception as e:  # a blocked or failed read: counted, the loop goes on
            reads.errors[phase].append(f"{type(e).__name__}: {str(e)[:100]}")
            continue
        finally:
            i += 1
        reads.times[phase].append(took)
        new = live != old or any(not f["properties"]["code"].startswith("OLD") for f in got)
        if new and reads.phase == phase:  # a read that straddled the commit may see either
            reads.new_seen[phase] += 1


def old_file(n_old: int, seed: int) -> Path:
    """``n_old`` farmhouses with codes ``OLD…`` (another seed than the import's), as CSV."""
    path = OUT / f"farmhouses_old_{n_old}_{seed}.csv"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        df = generate(n_old, seed)
        df["code"] = "OLD" + df["code"].str[2:]
        df.to_csv(path, index=False, encoding="utf-8")
    return path


def stats(values: list[float]) -> str:
    if not values:
        return "no reads"
    ms = np.array(values) * 1000
    return (
        f"{len(ms):5d} reads  p50 {np.percentile(ms, 50):7.1f} ms  p95 {np.percentile(ms, 95):7.1f} ms  "
        f"max {ms.max():7.1f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000, help="rows the import loads")
    p.add_argument("--old", type=int, default=100_000, help="rows the layer holds before")
    p.add_argument("--seed", type=int, default=20261125)
    p.add_argument("--before", type=float, default=10.0, help="seconds of reads before the import")
    p.add_argument("--after", type=float, default=10.0, help="seconds of reads after it")
    args = p.parse_args(argv)

    path = files(args.n, args.seed, ["csv"])["csv"]
    old = old_file(args.old, args.seed + 1)
    from geo.db import reset_engine
    from geo.settings import get_settings

    with scratch_database("chengjian_readers") as url:
        os.environ["DATABASE_URL"] = url
        get_settings.cache_clear()
        reset_engine()
        try:
            from contextlib import redirect_stderr, redirect_stdout
            from io import StringIO

            from etl import transfer_cli

            with redirect_stdout(StringIO()), redirect_stderr(StringIO()):
                assert transfer_cli.import_file_cli(str(old), "farmhouses", actor="bench") == 0
            print(f"scratch database {url.rsplit('/', 1)[1]}: {args.old:,} old farmhouses; {os.cpu_count()} CPUs")

            loops = {"tiles": Reads(), "features": Reads()}
            stop = threading.Event()
            threads = [
                threading.Thread(target=tile_loop, args=(loops["tiles"], stop, args.old), daemon=True),
                threading.Thread(target=feature_loop, args=(loops["features"], stop, args.old), daemon=True),
            ]
            for t in threads:
                t.start()
            time.sleep(args.before)
            for r in loops.values():
                r.phase = "during"
            print(f"chengjian import of {args.n:,} points (subprocess) … load average {os.getloadavg()[0]:.1f}")
            t0 = time.perf_counter()
            run = subprocess.Popen(
                [sys.executable, "-m", "etl.cli", "import", str(path), "--layer", "farmhouses", "--user", "bench"],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            out = []
            assert run.stdout is not None
            for line in run.stdout:  # the CLI prints 已导入 … right after its commit
                out.append(line)
                if line.startswith("已导入"):
                    for r in loops.values():
                        r.phase = "after"
                    load_s = time.perf_counter() - t0
            if run.wait() != 0 or loops["tiles"].phase != "after":
                raise SystemExit(f"chengjian import failed: {''.join(out)[-2000:]}")
            print("    " + out[-1].strip() + f" in {load_s:.1f} s")
            time.sleep(args.after)
            stop.set()
            for t in threads:
                t.join()
        finally:
            reset_engine()

    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    result = {"n": args.n, "old": args.old, "load_s": round(load_s, 2)}
    for name, r in loops.items():
        for phase in ("before", "during", "after"):
            print(
                f"{name:<9} {phase:<7} {stats(r.times[phase])}  errors {len(r.errors[phase])}"
                f"  reads that saw new rows {r.new_seen[phase]}"
            )
            if r.errors[phase]:
                print(f"          first error: {r.errors[phase][0]}")
            ms = np.array(r.times[phase] or [np.nan]) * 1000
            result[f"{name}_{phase}"] = {
                "reads": len(r.times[phase]),
                "p95_ms": round(float(np.percentile(ms, 95)), 1),
                "errors": len(r.errors[phase]),
                "saw_new": r.new_seen[phase],
            }
    during_ok = all(r.new_seen["during"] == 0 and not r.errors["during"] for r in loops.values())
    p95 = max(result[f"{name}_during"]["p95_ms"] for name in loops)
    print(f"during the load: only old data seen, no read failed: {during_ok}; worst p95 {p95:.1f} ms (target 200)")
    after_new = all(r.new_seen["after"] > 0 for r in loops.values())
    print(f"after the commit the new rows show: {after_new}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
