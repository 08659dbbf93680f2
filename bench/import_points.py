"""Benchmark: import N farmhouse points (default 1,000,000) with ``chengjian import``, side by side with ogr2ogr.

Generates N random points inside Hangzhou's districts with realistic farmhouse
attributes, as GeoJSON and CSV under ``bench/out/`` (kept for the next run),
creates a scratch database on the same PostGIS server, then for each file
times the import function of the CLI (read, check every row, COPY into
``farmhouses`` with its indexes maintained — never dropped, so readers are not
blocked: geo/layer/bulk.py —, triggers, district fill and audit) and ``ogr2ogr``
(Debian's GDAL, COPY into a new table with a GiST index, no checks) into the
same database. Prints rows/s for both and the ratio. The scratch database is
dropped at the end.

    .venv/bin/python bench/import_points.py            # 1,000,000 points
    .venv/bin/python bench/import_points.py --n 100000 --formats csv
    .venv/bin/python bench/import_points.py --formats csv --app-role   # also the HTTP import's path
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = list("国建华明伟芳秀英军平林强丽敏杰磊静娟涛超勇艳军洪福根土水金法荣春海美兰仙娣宝珍凤")
TOWN_SUFFIX = ("镇", "街道", "乡")
VILLAGE_WORDS = list("东西南北上下新高塘桥山湾溪岭坞口前后大小石竹梅桃柳")
STRUCTURES = (
    ("砖混", 0.45),
    ("砖木", 0.2),
    ("框架", 0.2),
    ("木结构", 0.05),
    ("土木", 0.05),
    ("石结构", 0.03),
    ("其他", 0.02),
)
GRADES = (("A", 0.7), ("B", 0.2), ("C", 0.08), ("D", 0.02))


def pick(rng, options, n):
    values, weights = zip(*options)
    return np.asarray(values, dtype=object)[rng.choice(len(values), n, p=np.array(weights) / sum(weights))]


def generate(n: int, seed: int) -> pd.DataFrame:
    """N farmhouses: points inside the 13 districts (area-weighted), attributes as a survey records them."""
    import geopandas as gpd

    rng = np.random.default_rng(seed)
    districts = gpd.read_file(ROOT / "etl" / "data" / "hangzhou_districts.geojson")
    union = shapely.union_all(districts.geometry.values)
    shapely.prepare(union)
    x0, y0, x1, y1 = union.bounds
    xs, ys = [], []
    got = 0
    while got < n:
        x, y = rng.uniform(x0, x1, 2 * n), rng.uniform(y0, y1, 2 * n)
        keep = shapely.contains_xy(union, x, y)
        xs.append(x[keep]), ys.append(y[keep])
        got += int(keep.sum())
    x, y = np.concatenate(xs)[:n].round(7), np.concatenate(ys)[:n].round(7)
    district = np.full(n, None, dtype=object)
    for name, g in zip(districts["name"], districts.geometry.values):
        shapely.prepare(g)
        todo = np.flatnonzero(district == None)  # noqa: E711
        district[todo[shapely.contains_xy(g, x[todo], y[todo])]] = name

    towns = np.array(
        [
            f"{a}{b}{c}"
            for a, b, c in zip(
                rng.choice(VILLAGE_WORDS, 300), rng.choice(VILLAGE_WORDS, 300), rng.choice(TOWN_SUFFIX, 300)
            )
        ],
        dtype=object,
    )
    villages = np.array(
        [f"{a}{b}村" for a, b in zip(rng.choice(VILLAGE_WORDS, 3000), rng.choice(VILLAGE_WORDS, 3000))], dtype=object
    )
    township, village = towns[rng.integers(0, len(towns), n)], villages[rng.integers(0, len(villages), n)]
    names = (
        np.asarray(SURNAMES, dtype=object)[rng.integers(0, len(SURNAMES), n)]
        + np.asarray(GIVEN, dtype=object)[rng.integers(0, len(GIVEN), n)]
        + np.where(rng.random(n) < 0.6, np.asarray(GIVEN, dtype=object)[rng.integers(0, len(GIVEN), n)], "")
    )
    grade = pick(rng, GRADES, n)
    governance = np.where(
        np.isin(grade, ["C", "D"]),
        pick(rng, (("未治理", 0.4), ("维修加固", 0.3), ("拆除重建", 0.2), ("搬迁", 0.1)), n),
        None,
    )
    floors = rng.choice([1, 2, 3, 4], n, p=[0.2, 0.45, 0.3, 0.05])
    return pd.DataFrame(
        {
            "code": [f"NF{i:09d}" for i in range(n)],
            "owner_name": names,
            "district": district,
            "township": township,
            "village": village,
            "address": village + pd.Series(rng.integers(1, 300, n)).astype(str).to_numpy(dtype=object) + "号",
            "floors": floors,
            "structure": pick(rng, STRUCTURES, n),
            "built_year": rng.integers(1965, 2024, n),
            "floor_area_m2": (floors * rng.uniform(60, 140, n)).round(1),
            "status": pick(rng, (("存量", 0.9), ("审批中", 0.03), ("在建", 0.04), ("已竣工", 0.03)), n),
            "danger_grade": grade,
            "governance": governance,
            "difficult_family": rng.random(n) < 0.03,
            "lon": x,
            "lat": y,
        }
    )


def files(n: int, seed: int, formats: list[str]) -> dict[str, Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    paths = {fmt: OUT / f"farmhouses_{n}_{seed}.{fmt}" for fmt in formats}
    if all(p.exists() for p in paths.values()):
        return paths
    t = time.perf_counter()
    df = generate(n, seed)
    if "csv" in paths:
        df.to_csv(paths["csv"], index=False, encoding="utf-8")
    if "geojson" in paths:
        import geopandas as gpd
        import pyogrio

        gdf = gpd.GeoDataFrame(
            df.drop(columns=["lon", "lat"]), geometry=shapely.points(df["lon"], df["lat"]), crs="EPSG:4326"
        )
        pyogrio.write_dataframe(gdf, paths["geojson"], driver="GeoJSON", layer_options={"RFC7946": "YES"})
    print(
        f"generated {n:,} farmhouses in {time.perf_counter() - t:.1f} s: "
        + ", ".join(f"{p.name} ({p.stat().st_size / 1e6:.0f} MB)" for p in paths.values())
    )
    return paths


def timed(stages: dict[str, float], name: str, fn):
    """``fn`` as it is, adding its run time to ``stages[name]`` (to see where the import spends it)."""

    def run(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            stages[name] = stages.get(name, 0.0) + time.perf_counter() - t

    return run


def run_ours(path: Path) -> tuple[float, int]:
    from sqlalchemy import text

    from etl import transfer_cli
    from geo.db import admin_engine
    from geo.layer import importer

    # The schema owner, as the CLI: the app role may not restart the identity, and sees no rows without a scope.
    with admin_engine().begin() as conn:
        conn.execute(text("TRUNCATE farmhouses RESTART IDENTITY CASCADE"))
    stages: dict[str, float] = {}
    # The stages, timed where the CLI calls them (read and check in the CLI, the COPY inside the importer).
    places = {"read_file": transfer_cli, "check": transfer_cli, "copy_features": importer}
    originals = {name: getattr(module, name) for name, module in places.items()}
    for name, fn in originals.items():
        setattr(places[name], name, timed(stages, name, fn))
    out = io.StringIO()
    t = time.perf_counter()
    try:
        with redirect_stdout(out):
            rc = transfer_cli.import_file_cli(str(path), "farmhouses", commit=True, actor="bench")
    finally:
        for name, fn in originals.items():
            setattr(places[name], name, fn)
    elapsed = time.perf_counter() - t
    print("    " + out.getvalue().strip().replace("\n", "\n    "))
    print(
        f"    {elapsed:.1f} s: read {stages.get('read_file', 0):.1f} s, check {stages.get('check', 0):.1f} s, "
        f"copy_features {stages.get('copy_features', 0):.1f} s, commit and the rest "
        f"{elapsed - sum(stages.values()):.1f} s"
    )
    if rc != 0:
        raise SystemExit(f"chengjian import failed (exit {rc})")
    with admin_engine().connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM farmhouses WHERE deleted_at IS NULL")).scalar()
    return elapsed, rows


def run_app_role(path: Path) -> tuple[float, int]:
    """The path of an HTTP import (``POST …/import?mode=commit``, less the upload): ``run_import`` as the app role
    with scope ``all``, under row-level security: COPY into a staging table and one INSERT … SELECT that the
    policies check, where the CLI copies straight into the table (geo/layer/bulk.py)."""
    from sqlalchemy import text

    from geo import scope as scopes
    from geo.db import admin_engine, get_engine
    from geo.layer import importer
    from geo.layer.registry import registry

    with admin_engine().begin() as conn:
        conn.execute(text("TRUNCATE farmhouses RESTART IDENTITY CASCADE"))
    t = time.perf_counter()
    with get_engine().begin() as conn:
        scopes.apply(conn, scopes.SYSTEM)
        report = importer.run_import(conn, registry.get("farmhouses"), str(path), path.name, commit=True, actor="bench")
    elapsed = time.perf_counter() - t
    print(f"    {elapsed:.1f} s, {report['committed']['rows']:,} rows")
    with admin_engine().connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM farmhouses WHERE deleted_at IS NULL")).scalar()
    return elapsed, rows


def run_ogr2ogr(path: Path, url: str) -> tuple[float, int]:
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    pg = f"PG:host={u.host} port={u.port} dbname={u.database} user={u.username}" + (
        f" password={u.password}" if u.password else ""
    )
    libpq = u.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS ogr_farmhouses")
    cmd = [
        "ogr2ogr",
        "-f",
        "PostgreSQL",
        pg,
        str(path),
        "-nln",
        "ogr_farmhouses",
        "-lco",
        "GEOMETRY_NAME=geom",
        "-lco",
        "SPATIAL_INDEX=GIST",
    ]
    if path.suffix == ".csv":
        cmd += ["-oo", "X_POSSIBLE_NAMES=lon", "-oo", "Y_POSSIBLE_NAMES=lat", "-a_srs", "EPSG:4326"]
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    elapsed = time.perf_counter() - t
    with psycopg.connect(libpq) as conn:
        rows = conn.execute("SELECT count(*) FROM ogr_farmhouses").fetchone()[0]
    return elapsed, rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=20261125)
    p.add_argument("--formats", nargs="+", choices=["geojson", "csv"], default=["geojson", "csv"])
    p.add_argument(
        "--app-role",
        action="store_true",
        help="also import as the app role under row-level security (an HTTP import's path)",
    )
    args = p.parse_args(argv)

    paths = files(args.n, args.seed, args.formats)
    from bench.common import scratch_database
    from geo.db import reset_engine
    from geo.settings import get_settings

    results = []
    with scratch_database("chengjian_bench") as url:
        os.environ["DATABASE_URL"] = url  # the CLI's engine goes to the scratch database
        get_settings.cache_clear()
        reset_engine()
        try:
            print(
                f"scratch database {url.rsplit('/', 1)[1]}; {os.cpu_count()} CPUs; "
                f"load average {os.getloadavg()[0]:.1f}"
            )
            for fmt in args.formats:
                path = paths[fmt]
                print(f"{fmt}: chengjian import …")
                ours, n_ours = run_ours(path)
                print(f"{fmt}: ogr2ogr …")
                ogr, n_ogr = run_ogr2ogr(path, url)
                assert n_ours == n_ogr == args.n, (n_ours, n_ogr)
                results.append((fmt, ours, ogr))
                if args.app_role:
                    print(f"{fmt}: as the app role (an HTTP import's path) …")
                    app, n_app = run_app_role(path)
                    assert n_app == args.n, n_app
                    results.append((f"{fmt}, app role", app, ogr))
        finally:
            reset_engine()  # close our connections before the scratch database is dropped

    print(f"load average at the end {os.getloadavg()[0]:.1f} (other work on the machine slows both sides)")
    print(
        "chengjian import: read, check every row, COPY into farmhouses (GiST on geom_3857, unique code, district "
        "and trigram search indexes, all maintained during the load —, tile_cells and change triggers), district "
        "fill, audit.\nogr2ogr: COPY into a new table with "
        "one GiST index, no checks."
    )
    print(f"\n{args.n:,} points       {'chengjian import':>24}   {'ogr2ogr':>24}   ours/ogr2ogr (time)")
    for fmt, ours, ogr in results:
        print(
            f"{fmt:<16} {ours:8.1f} s {args.n / ours:9,.0f} rows/s   {ogr:8.1f} s {args.n / ogr:9,.0f} rows/s"
            f"   {ours / ogr:6.2f}"
        )
    print(
        json.dumps(
            {
                "n": args.n,
                "results": [
                    {"format": f, "chengjian_s": round(o, 2), "ogr2ogr_s": round(g, 2), "ratio": round(o / g, 3)}
                    for f, o, g in results
                ],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
