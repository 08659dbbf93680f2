"""Electronic fence checks per second: single and batch, against 600 construction-site fences.

A scratch database gets 600 sites and their fences (rotated rectangles 80–400 m across, spread over urban
Hangzhou, loaded through the bulk loader); points fall around their fences (about half inside). Measured in
one run on the same points:
  service   geo.geofence.check / locate (Python, what the API calls), single and batch
  http      POST /api/geofence/check and /check-batch, uvicorn in a subprocess, one keep-alive client
  postgis   the baseline: the same checks as raw SQL, ST_Contains + ST_Distance(geography) on the fence
            boundary — one query per point for single checks, one query for the whole batch
and prints each throughput with its ratio to the PostGIS baseline, and how far the two disagree.

    .venv/bin/python bench/geofence.py [--fences 600] [--points 100000] [--singles 2000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench.common import Timer, scratch_database  # noqa: E402

URBAN = (120.05, 30.15, 120.35, 30.40)  # 西湖、上城、拱墅、滨江、萧山北、余杭南
# The server runs with CHENGJIAN_ANONYMOUS_ROLES=leader: the checks need no credentials.
ADMIN: dict[str, str] = {}

BATCH_SQL = """
    WITH p AS (SELECT * FROM unnest(CAST(:fid AS bigint[]), CAST(:lon AS float8[]), CAST(:lat AS float8[]))
               WITH ORDINALITY AS p(fid, lon, lat, k))
    SELECT p.k, ST_Contains(f.geom, g.pt) AS inside,
           ST_Distance(ST_Boundary(f.geom)::geography, g.pt::geography) AS dist
    FROM p CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326) AS pt) g
    JOIN site_fences f ON f.id = p.fid AND f.deleted_at IS NULL
    ORDER BY p.k"""
SINGLE_SQL = """
    SELECT ST_Contains(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)),
           ST_Distance(ST_Boundary(geom)::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography)
    FROM site_fences WHERE id = :fid AND deleted_at IS NULL"""
NEAREST_SQL = """
    WITH p AS (SELECT * FROM unnest(CAST(:lon AS float8[]), CAST(:lat AS float8[])) WITH ORDINALITY AS p(lon, lat, k))
    SELECT p.k, n.id, ST_Contains(n.geom, g.pt), ST_Distance(ST_Boundary(n.geom)::geography, g.pt::geography)
    FROM p CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326) AS pt) g
    CROSS JOIN LATERAL (SELECT id, geom FROM site_fences f WHERE f.deleted_at IS NULL
                        ORDER BY f.geom_3857 <-> ST_Transform(g.pt, 3857) LIMIT 1) n
    ORDER BY p.k"""


def make_fences(n: int, rng: np.random.Generator):
    """Rotated rectangles 80–400 m across (WGS84 polygons) and their centres (metres, EPSG:4549)."""
    from geo import crs as crsmod

    x0, y0 = crsmod.transform_xy([URBAN[0]], [URBAN[1]], crsmod.WGS84, crsmod.CGCS2000_GK120)
    x1, y1 = crsmod.transform_xy([URBAN[2]], [URBAN[3]], crsmod.WGS84, crsmod.CGCS2000_GK120)
    cx, cy = rng.uniform(x0[0], x1[0], n), rng.uniform(y0[0], y1[0], n)
    w, h = rng.uniform(80, 400, n), rng.uniform(80, 400, n)
    a = rng.uniform(0, np.pi, n)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=float) / 2
    dx, dy = corners[None, :, 0] * w[:, None], corners[None, :, 1] * h[:, None]
    xs = cx[:, None] + dx * np.cos(a)[:, None] - dy * np.sin(a)[:, None]
    ys = cy[:, None] + dx * np.sin(a)[:, None] + dy * np.cos(a)[:, None]
    polys = shapely.polygons(np.stack([xs, ys], axis=-1))
    return crsmod.transform(polys, crsmod.CGCS2000_GK120, crsmod.WGS84), cx, cy, np.maximum(w, h)


def load(conn, n: int, rng: np.random.Generator):
    from geo.layer.bulk import copy_features
    from geo.layer.registry import registry
    from geo.validate import check_many

    polys, cx, cy, size = make_fences(n, rng)
    centres = shapely.centroid(polys)
    copy_features(
        conn,
        registry.get("sites"),
        centres,
        {"code": [f"BENCH-{i:04d}" for i in range(n)], "name": [f"基准工地{i}" for i in range(n)]},
        "bench",
        source="bench/geofence.py",
    )
    site_ids = [r[0] for r in conn.execute(text("SELECT id FROM sites ORDER BY code"))]
    checked = check_many(polys, "MultiPolygon")
    assert all(e is None for e in checked.errors), next(e for e in checked.errors if e)
    copy_features(
        conn,
        registry.get("site_fences"),
        checked.geoms,
        {"site_id": site_ids, "name": [f"基准围栏{i}" for i in range(n)]},
        "bench",
        source="bench/geofence.py",
    )
    fence_ids = np.array([r[0] for r in conn.execute(text("SELECT id FROM site_fences ORDER BY site_id"))])
    return fence_ids, cx, cy, size


def make_points(m: int, fence_ids, cx, cy, size, rng: np.random.Generator):
    """Points around their fences: offset up to 0.6 × the fence's longer side (about half fall inside)."""
    from geo import crs as crsmod

    k = rng.integers(0, len(fence_ids), m)
    px = cx[k] + rng.uniform(-0.6, 0.6, m) * size[k]
    py = cy[k] + rng.uniform(-0.6, 0.6, m) * size[k]
    lon, lat = crsmod.transform_xy(px, py, crsmod.CGCS2000_GK120, crsmod.WGS84)
    return fence_ids[k], lon, lat, rng.choice([0.0, 5.0, 12.0, 30.0, 80.0], m)


@contextlib.contextmanager
def api_server(url: str):
    """``uvicorn api.app:create_app`` on a free port, against the scratch database; stopped afterwards."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": url, "CHENGJIAN_ANONYMOUS_ROLES": "leader"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("uvicorn did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(30)


def geodesic_to_edge(wkb: bytes, lon: float, lat: float) -> float:
    """The shortest ellipsoidal distance from the point to the fence outline, by sampling the edges densely."""
    import pyproj

    geod = pyproj.Geod(ellps="GRS80")
    best = np.inf
    for ring in shapely.get_rings(shapely.get_parts(shapely.from_wkb(wkb))):
        xy = shapely.get_coordinates(ring)
        for a, b in zip(xy[:-1], xy[1:]):
            t = np.linspace(0, 1, 200_001)
            xs, ys = a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t
            best = min(best, geod.inv(np.full_like(xs, lon), np.full_like(ys, lat), xs, ys)[2].min())
    return float(best)


def best_of(runs: int, fn):
    best, out = None, None
    for _ in range(runs):
        with Timer() as t:
            out = fn()
        best = t.seconds if best is None else min(best, t.seconds)
    return best, out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--fences", type=int, default=600)
    p.add_argument("--points", type=int, default=100_000)
    p.add_argument("--singles", type=int, default=2_000)
    p.add_argument("--seed", type=int, default=26)
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)

    with scratch_database("bench_geofence") as url:
        os.environ["DATABASE_URL"] = url
        from geo.db import get_engine, reset_engine
        from geo.settings import get_settings

        get_settings.cache_clear()
        reset_engine()
        from geo import geofence
        from geo.layer.registry import registry

        layer = registry.get("site_fences")
        engine = get_engine()
        with engine.begin() as conn:
            fence_ids, cx, cy, size = load(conn, args.fences, rng)
            conn.execute(text("ANALYZE sites; ANALYZE site_fences"))
        fid, lon, lat, acc = make_points(args.points, fence_ids, cx, cy, size, rng)
        with engine.connect() as conn:
            fence_wkb = {r[0]: bytes(r[1]) for r in conn.execute(text("SELECT id, ST_AsBinary(geom) FROM site_fences"))}
        s = min(args.singles, args.points)
        res: dict[str, float] = {}
        with engine.connect() as conn:
            # -- single checks, one call per point -------------------------------------------------------
            for i in range(50):  # warm up (connection, statement cache, PROJ)
                geofence.check(conn, layer, lon[i], lat[i], int(fid[i]), accuracy_m=acc[i])
                conn.execute(text(SINGLE_SQL), {"fid": int(fid[i]), "lon": lon[i], "lat": lat[i]}).one()
            t, _ = best_of(
                2,
                lambda: [geofence.check(conn, layer, lon[i], lat[i], int(fid[i]), accuracy_m=acc[i]) for i in range(s)],
            )
            res["single_service"] = s / t
            t, _ = best_of(
                2,
                lambda: [
                    conn.execute(text(SINGLE_SQL), {"fid": int(fid[i]), "lon": lon[i], "lat": lat[i]}).one()
                    for i in range(s)
                ],
            )
            res["single_postgis"] = s / t

            # -- batches: every point against the fence it names -----------------------------------------
            t, out = best_of(3, lambda: geofence.check(conn, layer, lon, lat, fid, accuracy_m=acc))
            res["batch_service"] = args.points / t
            params = {"fid": fid.tolist(), "lon": lon.tolist(), "lat": lat.tolist()}
            t, rows = best_of(2, lambda: conn.execute(text(BATCH_SQL), params).all())
            res["batch_postgis"] = args.points / t

            # -- points against every fence of the layer (STRtree / PostGIS KNN) -------------------------
            geofence.forget_cached()
            with Timer() as cold:
                geofence.locate(conn, layer, lon[:1], lat[:1])
            t, loc = best_of(3, lambda: geofence.locate(conn, layer, lon, lat, accuracy_m=acc))
            res["locate_service"] = args.points / t
            t, near = best_of(
                2, lambda: conn.execute(text(NEAREST_SQL), {"lon": params["lon"], "lat": params["lat"]}).all()
            )
            res["locate_postgis"] = args.points / t

        # -- the HTTP endpoints (uvicorn in a subprocess, one keep-alive client) ----------------------------
        with api_server(url) as base, httpx.Client(base_url=base, headers=ADMIN, timeout=600) as client:
            body = [
                {
                    "layer": "site_fences",
                    "feature_id": int(fid[i]),
                    "lon": float(lon[i]),
                    "lat": float(lat[i]),
                    "accuracy_m": float(acc[i]),
                }
                for i in range(s)
            ]
            for b in body[:50]:
                assert client.post("/api/geofence/check", json=b).status_code == 200
            t, _ = best_of(2, lambda: [client.post("/api/geofence/check", json=b) for b in body])
            res["single_http"] = s / t
            payload = json.dumps(
                {
                    "layer": "site_fences",
                    "checks": [
                        {"feature_id": int(f), "lon": float(x), "lat": float(y), "accuracy_m": float(a)}
                        for f, x, y, a in zip(fid, lon, lat, acc)
                    ],
                }
            ).encode()

            def post(payload=payload):
                return client.post(
                    "/api/geofence/check-batch", content=payload, headers={"Content-Type": "application/json"}
                )

            t, r = best_of(2, post)
            assert r.status_code == 200, r.text[:300]
            res["batch_http"] = args.points / t
            http_d = np.array([x["distance_m"] for x in r.json()["results"]])
        reset_engine()

    # -- agreement with PostGIS geography ------------------------------------------------------------------
    pg_d = np.array([(-1 if r.inside else 1) * r.dist for r in rows])
    diff = np.abs(out.distance_m - pg_d)
    clear = np.abs(out.distance_m) > 0.001  # on the edge (to the millimetre) either answer is right
    sign_ok = np.mean((out.distance_m < 0)[clear] == np.array([r.inside for r in rows])[clear])
    worst = np.argsort(-diff)[:3]
    truth = [geodesic_to_edge(fence_wkb[int(fid[w])], lon[w], lat[w]) for w in worst]
    near_id = np.array([r[1] for r in near])
    differ = loc.fence_id != near_id
    both_inside = differ & loc.strictly_inside & np.array([bool(r[2]) for r in near])  # overlapping fences

    print(
        f"{args.fences} fences, {args.points:,} points ({int(out.inside.sum()):,} inside within tolerance, "
        f"{int(out.strictly_inside.sum()):,} strictly), {s:,} single checks; {os.cpu_count()} CPUs"
    )
    print(f"{'measure':<44}{'checks/s':>12}{'PostGIS/s':>12}{'ratio':>8}")
    rows_out = [
        ("single, service (geo.geofence.check)", "single_service", "single_postgis"),
        ("single, HTTP POST /api/geofence/check", "single_http", "single_postgis"),
        ("batch, service (named fences)", "batch_service", "batch_postgis"),
        ("batch, HTTP POST /check-batch (checks)", "batch_http", "batch_postgis"),
        ("all fences of the layer, service (STRtree)", "locate_service", "locate_postgis"),
    ]
    for label, mine, base in rows_out:
        print(f"{label:<44}{res[mine]:>12,.0f}{res[base]:>12,.0f}{res[mine] / res[base]:>8.2f}")
    print(f"first call of 'all fences' (loads and indexes {args.fences} fences): {cold.seconds * 1000:.1f} ms")
    p50, p99, p999 = np.percentile(diff, [50, 99, 99.9]) * 100
    print(
        f"|distance - PostGIS geography|: median {p50:.2f} cm, 99% {p99:.2f} cm, 99.9% {p999:.2f} cm, "
        f"max {diff.max() * 100:.1f} cm; inside/outside agree {sign_ok:.4%}; "
        f"HTTP = service: {bool(np.array_equal(http_d, out.distance_m))}"
    )
    for w, g in zip(worst, truth):
        print(
            f"  largest differences: ours {abs(out.distance_m[w]):.3f} m, PostGIS {abs(pg_d[w]):.3f} m, "
            f"geodesic by brute force (pyproj.Geod, edge sampled every ~2 mm) {g:.3f} m"
        )
    print(
        f"'all fences' best fence = PostGIS KNN nearest fence for {1 - differ.mean():.2%} of points; of the "
        f"{int(differ.sum())} others, {int(both_inside.sum())} lie inside both (overlapping fences: KNN sees a tie "
        "at distance 0, we take the deeper one)"
    )
    print(
        json.dumps(
            {
                "fences": args.fences,
                "points": args.points,
                **{k: round(v) for k, v in res.items()},
                "max_diff_cm": round(float(diff.max()) * 100, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
