"""Vector tiles with 1,000,000 farmhouses: size, latency and throughput against raw ST_AsMVT and tipg.

Loads the demo data set with 1,000,000 farmhouses into a scratch database (``etl.demo.build_demo``), then, all
on 127.0.0.1 and in the same run:

1. the densest tiles of every zoom 0–18 (the three tiles holding most farmhouses, found from the data), fetched
   from our server: their size against the 500 KB bound;
2. per zoom 6–16, up to ``--per-zoom`` distinct tiles where the farmhouses are (the tiles of randomly drawn
   farmhouses), fetched one at a time: tile size and p50/p95 latency of our server (cache off), of the raw
   single-layer ``ST_AsMVT`` query on one psycopg connection, and of tipg;
3. throughput on ``--tiles`` random z14 tiles over Hangzhou (uniform over the bounding box, as
   bench/storage.py) with ``--concurrency`` clients: raw ``ST_AsMVT`` on as many psycopg connections, our
   server with the cache off (uncached) and with it warm (cached), tipg (on the first ``--tipg-tiles`` of the
   same tiles: it needs about a second per tile here) — servers with 1 and 2 uvicorn workers, loaded by
   httpx.AsyncClient tasks, and again by wrk (Debian package, if installed) because httpx itself tops out at
   a few hundred requests a second on this machine; plus cache hits measured in-process (no HTTP), and the
   app's floor (a 404 from the tile route, no database) under wrk.

Our servers connect as ``chengjian_app`` under row-level security and serve anonymous leaders (scope ``all``); raw
SQL and tipg connect as the owner (no row-level security). ``bench/rls.py`` measures that difference alone.

Every figure is also printed as a ratio to raw SQL (and to tipg) measured in this run. The raw query selects the
same attributes as our single-feature tiles; tipg is asked for the same properties on ``geom_3857`` with the same
buffer, and has its default cap of 10,000 features per tile (so its low-zoom tiles are truncated: lighter work).

tipg runs from its own virtualenv under bench/out/tipg-venv (created on first use; it is not a dependency).

    .venv/bin/python bench/tiles.py                   # full run: ~10-15 minutes on 2 cores
    .venv/bin/python bench/tiles.py --url postgresql+psycopg://…/db   # reuse a loaded database, skip loading
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import psycopg  # noqa: E402

from bench.common import libpq, random_tiles, scratch_database, tile_of  # noqa: E402

# The servers run with CHENGJIAN_ANONYMOUS_ROLES=leader: reads need no credentials (as on `make run`).
ADMIN = {"Accept-Encoding": "identity"}
TIPG_VENV = ROOT / "bench" / "out" / "tipg-venv"
HALF = 20037508.342789244


def raw_sql(attrs: list[str]) -> str:
    cols = ", ".join(f'"{a}"' for a in attrs)
    return (
        f"SELECT ST_AsMVT(q, 'farmhouses', 4096, 'geom') FROM (SELECT id, {cols}, "
        "ST_AsMVTGeom(geom_3857, ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64, true) AS geom "
        "FROM farmhouses WHERE deleted_at IS NULL AND geom_3857 && ST_TileEnvelope(%(z)s, %(x)s, %(y)s)) q"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(cmd: list[str], env: dict, port: int, ready: str):
    """Run a uvicorn server (its own process group, ended by its id) until ``ready`` answers."""
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, **env},
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {' '.join(cmd)}\n{proc.stderr.read().decode()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}{ready}", headers=ADMIN, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"server did not start: {' '.join(cmd)}")
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def ours(url: str, workers: int, cache_mb: float):
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "api.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    env = {"DATABASE_URL": url, "CHENGJIAN_ANONYMOUS_ROLES": "leader", "CHENGJIAN_TILE_CACHE_MB": str(cache_mb)}
    return server(cmd, env, port, "/tiles/farmhouses.json")


def ensure_tipg() -> Path:
    uvicorn = TIPG_VENV / "bin" / "uvicorn"
    if not uvicorn.exists():
        print("creating bench/out/tipg-venv (pip install tipg uvicorn) …", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
        subprocess.run([str(TIPG_VENV / "bin" / "pip"), "install", "-q", "tipg", "uvicorn"], check=True)
    return uvicorn


def tipg(url: str, workers: int):
    port = free_port()
    cmd = [
        str(ensure_tipg()),
        "tipg.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    env = {
        "DATABASE_URL": libpq(url),
        "TIPG_DB_SCHEMAS": '["public"]',
        "TIPG_DB_TABLES": '["public.farmhouses"]',
        "TIPG_DB_SPATIAL_EXTENT": "false",
        "TIPG_DB_DATETIME_EXTENT": "false",
        "TIPG_TILE_BUFFER": "64",
        "TIPG_MAX_FEATURES_PER_TILE": "10000",
    }
    return server(cmd, env, port, "/collections/public.farmhouses")


def our_url(base: str, z: int, x: int, y: int) -> str:
    return f"{base}/tiles/farmhouses/{z}/{x}/{y}.mvt"


def tipg_url(attrs: list[str]):
    props = ",".join(["id", *attrs])

    def url(base: str, z: int, x: int, y: int) -> str:
        return (
            f"{base}/collections/public.farmhouses/tiles/WebMercatorQuad/{z}/{x}/{y}"
            f"?geom-column=geom_3857&properties={props}"
        )

    return url


# -- load generators -------------------------------------------------------------------------------------------


async def _http(base: str, url_of, tiles, concurrency: int) -> dict:
    queue: asyncio.Queue = asyncio.Queue()
    for t in tiles:
        queue.put_nowait(t)
    lat: list[float] = []
    sizes: list[int] = []
    hits = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=ADMIN, limits=limits, timeout=600) as client:

        async def worker():
            nonlocal hits
            while not queue.empty():
                z, x, y = queue.get_nowait()
                t0 = time.perf_counter()
                r = await client.get(url_of(base, z, x, y))
                lat.append(time.perf_counter() - t0)
                if r.status_code not in (200, 204):
                    raise RuntimeError(f"{r.status_code} {r.text[:300]}")
                sizes.append(len(r.content))
                hits += r.headers.get("x-tile-cache") == "hit"

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {"rate": len(tiles) / wall, "lat": lat, "sizes": sizes, "hits": hits, "n": len(tiles)}


def http_load(base: str, url_of, tiles, concurrency: int) -> dict:
    return asyncio.run(_http(base, url_of, tiles, concurrency))


def sql_load(url: str, query: str, tiles, concurrency: int) -> dict:
    todo = list(tiles)
    lock = threading.Lock()
    lat: list[float] = []
    sizes: list[int] = []
    conns = [psycopg.connect(libpq(url), autocommit=True) for _ in range(concurrency)]

    def worker(conn):
        while True:
            with lock:
                if not todo:
                    return
                z, x, y = todo.pop()
            t0 = time.perf_counter()
            data = conn.execute(query, {"z": z, "x": x, "y": y}).fetchone()[0]
            dt = time.perf_counter() - t0
            with lock:
                lat.append(dt)
                sizes.append(len(data or b""))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    for c in conns:
        c.close()
    return {"rate": len(tiles) / wall, "lat": lat, "sizes": sizes, "n": len(tiles)}


def inprocess_hits(url: str, tiles, concurrency: int) -> tuple[float, float]:
    """Cache hits through tiles.service.fetch (shared generation reads + LRU) with ``concurrency`` asyncio tasks,
    no HTTP: the server side of a hit. Returns (tiles/s, tiles per generation read)."""
    os.environ["DATABASE_URL"] = url
    from geo.layer.registry import registry
    from geo.settings import get_settings
    from tiles import service
    from tiles.generations import shared_reads

    get_settings.cache_clear()
    layer = registry.get("farmhouses")
    for z, x, y in tiles:
        service.get_tile([layer], z, x, y)
    todo = list(tiles) * 5

    async def worker():
        while todo:
            z, x, y = todo.pop()
            _, hit = await service.fetch([layer], z, x, y)
            assert hit

    async def main():
        reads = shared_reads.reads
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0, shared_reads.reads - reads

    seconds, reads = asyncio.run(main())
    return 5 * len(tiles) / seconds, 5 * len(tiles) / max(reads, 1)


WRK_SCRIPT = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def wrk_load(
    base: str, tiles, concurrency: int, seconds: int = 10, layer: str = "farmhouses", ok: int = 200
) -> dict | None:
    """The same tiles with wrk (C, Debian package ``wrk``), a load generator far lighter than httpx."""
    if not shutil.which("wrk"):
        return None
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "tiles_paths.txt").write_text("".join(f"/tiles/{layer}/{z}/{x}/{y}.mvt\n" for z, x, y in tiles))
    (out / "tiles_wrk.lua").write_text(WRK_SCRIPT % (out / "tiles_paths.txt"))
    cmd = [
        "wrk",
        "-t2",
        f"-c{concurrency}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(out / "tiles_wrk.lua"),
        *(a for k, v in ADMIN.items() for a in ("-H", f"{k}: {v}")),
        base,
    ]
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    if ("Non-2xx" in text) != (ok != 200):
        raise RuntimeError(text)

    def ms(label: str) -> float:
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", text)
        return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)] if m else float("nan")

    return {"rate": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)), "p50": ms("50%"), "p90": ms("90%")}


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(math.ceil(p / 100 * len(v))) - 1)] * 1000


# -- tile sets -------------------------------------------------------------------------------------------------


def densest_tiles(conn, z: int, top: int = 3) -> list[tuple[int, int, int, int]]:
    cell = 2 * HALF / 2**z
    rows = conn.execute(f"""
        SELECT floor((ST_X(geom_3857) + {HALF}) / {cell})::int AS x, floor(({HALF} - ST_Y(geom_3857)) / {cell})::int AS y,
               count(*) FROM farmhouses WHERE deleted_at IS NULL GROUP BY 1, 2 ORDER BY 3 DESC LIMIT {top}""").fetchall()
    return [(z, x, y, n) for x, y, n in rows]


def data_tiles(conn, zooms, per_zoom: int, seed: int = 7) -> dict[int, list[tuple[int, int, int]]]:
    conn.execute("SELECT setseed(0.7)")
    pts = conn.execute(
        "SELECT ST_X(geom), ST_Y(geom) FROM farmhouses WHERE deleted_at IS NULL ORDER BY random() LIMIT 5000"
    ).fetchall()
    rng = np.random.default_rng(seed)
    out = {}
    for z in zooms:
        tiles = sorted({(z, *tile_of(lon, lat, z)) for lon, lat in pts})
        pick = rng.choice(len(tiles), size=min(per_zoom, len(tiles)), replace=False)
        out[z] = [tiles[i] for i in sorted(pick)]
    return out


# -- main ------------------------------------------------------------------------------------------------------


def run(url: str, args) -> None:
    from geo.layer.registry import registry
    from tiles.sql import tile_attrs

    attrs = tile_attrs(registry.get("farmhouses"))
    raw = raw_sql(attrs)
    tipg_of = tipg_url(attrs)
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        n = conn.execute("SELECT count(*) FROM farmhouses WHERE deleted_at IS NULL").fetchone()[0]
        print(
            f"farmhouses: {n:,}   cluster_maxzoom: {registry.get('farmhouses').cluster_maxzoom}   "
            f"cores: {os.cpu_count()}   load average: {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        dense = [t for z in range(19) for t in densest_tiles(conn, z)]
        per_zoom = data_tiles(conn, range(6, 17), args.per_zoom)

    print("\n== densest tiles, z0–18 (our server, cache off) ==", flush=True)
    with ours(url, 1, 0) as base, httpx.Client(headers=ADMIN, timeout=600) as client:
        worst = 0
        print(f"{'z':>3} {'farmhouses in tile':>19} {'max tile KB':>12} {'form':>10}")
        for z in range(19):
            tiles = [t for t in dense if t[0] == z]
            sizes, forms = [], set()
            for _, x, y, _n in tiles:
                r = client.get(our_url(base, z, x, y))
                sizes.append(len(r.content))
                forms.add("clusters" if b"cluster" in r.content else "features")
            worst = max(worst, *sizes)
            print(
                f"{z:>3} {max(t[3] for t in tiles):>19,} {max(sizes) / 1000:>12.1f} {'/'.join(sorted(forms)):>10}",
                flush=True,
            )
        print(f"largest tile: {worst / 1000:.1f} KB (bound 500 KB: {'kept' if worst <= 500_000 else 'EXCEEDED'})")

    print("\n== per zoom: tiles where the farmhouses are, one request at a time ==", flush=True)
    per = {}
    # Each server is warmed with one tile of the zoom (connections, prepared plans) before it is timed.
    with ours(url, 1, 0) as base:
        for z, tiles in per_zoom.items():
            http_load(base, our_url, tiles[:1], 1)
            per.setdefault(z, {})["ours"] = http_load(base, our_url, tiles, 1)
    for z, tiles in per_zoom.items():
        per[z]["raw"] = sql_load(url, raw, tiles, 1)
    if not args.no_tipg:
        with tipg(url, 1) as base:
            for z, tiles in per_zoom.items():
                http_load(base, tipg_of, tiles[:1], 1)
                per[z]["tipg"] = http_load(base, tipg_of, tiles, 1)
    print(
        f"{'z':>3} {'tiles':>5} | {'ours KB avg/max':>16} {'p50':>7} {'p95':>7} | {'raw KB max':>10} {'p50':>7} "
        f"{'p95':>7} | {'tipg p50':>8} {'p95':>7} | {'p50 raw/ours':>12} {'p95 raw/ours':>12} {'p50 tipg/ours':>13}"
    )
    for z, r in per.items():
        o, s = r["ours"], r["raw"]
        t = r.get("tipg")
        line = (
            f"{z:>3} {o['n']:>5} | {statistics.mean(o['sizes']) / 1000:>7.1f}/{max(o['sizes']) / 1000:>7.1f} "
            f"{pct(o['lat'], 50):>7.1f} {pct(o['lat'], 95):>7.1f} | {max(s['sizes']) / 1000:>10.1f} "
            f"{pct(s['lat'], 50):>7.1f} {pct(s['lat'], 95):>7.1f} | "
        )
        line += f"{pct(t['lat'], 50):>8.1f} {pct(t['lat'], 95):>7.1f} | " if t else f"{'-':>8} {'-':>7} | "
        line += f"{pct(s['lat'], 50) / pct(o['lat'], 50):>12.2f} {pct(s['lat'], 95) / pct(o['lat'], 95):>12.2f} "
        line += f"{pct(t['lat'], 50) / pct(o['lat'], 50):>13.2f}" if t else f"{'-':>13}"
        print(line, flush=True)

    tiles = random_tiles(14, args.tiles)
    c = args.concurrency
    print(
        f"\n== throughput: {len(tiles)} random z14 tiles over Hangzhou "
        f"({len(set(tiles))} distinct), {c} concurrent clients ==",
        flush=True,
    )
    res: dict[str, dict] = {}
    res["raw ST_AsMVT (psycopg)"] = sql_load(url, raw, tiles, c)
    wrk: dict[str, dict] = {}
    floor = None
    for w in args.workers:
        with ours(url, w, 0) as base:
            res[f"ours uncached, {w} worker(s)"] = http_load(base, our_url, tiles, c)
            if (r := wrk_load(base, tiles, c)) is not None:
                wrk[f"ours uncached, {w} worker(s), wrk"] = r
        if not args.no_tipg:  # tipg takes ~1 s a tile here: the first --tipg-tiles of the same list
            with tipg(url, w) as base:
                res[f"tipg, {w} worker(s)"] = http_load(base, tipg_of, tiles[: args.tipg_tiles], c)
        with ours(url, w, 512) as base:
            for _ in range(4 if w > 1 else 1):  # every worker has its own cache: warm them all
                http_load(base, our_url, tiles, c)
            res[f"ours cached, {w} worker(s)"] = http_load(base, our_url, tiles, c)
            if (r := wrk_load(base, tiles, c)) is not None:
                wrk[f"ours cached, {w} worker(s), wrk"] = r
            if w == args.workers[-1]:
                floor = wrk_load(base, tiles, c, layer="no_such_layer", ok=404)
    rate_raw = res["raw ST_AsMVT (psycopg)"]["rate"]
    rate_tipg = {w: res.get(f"tipg, {w} worker(s)", {}).get("rate") for w in args.workers}
    print(f"{'':<32} {'tiles/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'hits':>6} {'/raw':>6} {'/tipg':>6}")
    for name, r in res.items():
        w = next((w for w in args.workers if f"{w} worker" in name), None)
        vs_tipg = f"{r['rate'] / rate_tipg[w]:>6.2f}" if w and rate_tipg.get(w) else f"{'-':>6}"
        hits = f"{r['hits'] / r['n']:>6.0%}" if "hits" in r else f"{'-':>6}"
        print(
            f"{name:<32} {r['rate']:>9.0f} {pct(r['lat'], 50):>8.1f} {pct(r['lat'], 95):>8.1f} {hits} "
            f"{r['rate'] / rate_raw:>6.2f} {vs_tipg}",
            flush=True,
        )
    for name, r in wrk.items():
        print(
            f"{name:<32} {r['rate']:>9.0f} {r['p50']:>8.1f} {r['p90']:>8.1f} {'':>6} {r['rate'] / rate_raw:>6.2f}"
            "   (wrk; its 3rd column is p90)",
            flush=True,
        )
    rate, per_read = inprocess_hits(url, tiles, c)
    print(
        f"{'cache hits in-process (no HTTP)':<32} {rate:>9.0f} {'':>8} {'':>8} {'':>6} {rate / rate_raw:>6.2f}"
        f"   ({per_read:.1f} tiles per generation read)"
    )
    if floor:
        print(
            f"{'app floor: 404 on /tiles (wrk)':<32} {floor['rate']:>9.0f} {floor['p50']:>8.1f} {floor['p90']:>8.1f}"
            "   (no database: routing, error handler, HTTP — the most any route of the app can do here)"
        )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--farmhouses", type=int, default=1_000_000)
    p.add_argument("--url", help="use this already loaded database instead of a fresh scratch one")
    p.add_argument("--tiles", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--per-zoom", type=int, default=20)
    p.add_argument("--tipg-tiles", type=int, default=200, help="tipg's throughput on the first N tiles only")
    p.add_argument("--workers", type=lambda s: [int(v) for v in s.split(",")], default=[1, 2])
    p.add_argument("--no-tipg", action="store_true")
    args = p.parse_args()
    if args.url:
        run(args.url, args)
        return
    from sqlalchemy import create_engine

    from etl.demo import build_demo

    with scratch_database("bench_tiles") as url:
        print(f"loading the demo data set with {args.farmhouses:,} farmhouses …", flush=True)
        engine = create_engine(url)
        t0 = time.perf_counter()
        build_demo(farmhouses=args.farmhouses, engine=engine)
        engine.dispose()
        print(f"loaded in {time.perf_counter() - t0:.0f} s", flush=True)
        run(url, args)


if __name__ == "__main__":
    main()
