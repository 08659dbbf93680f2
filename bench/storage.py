"""Why layer tables keep a stored Web Mercator copy with the only GiST index.

Compares, on the same points in the same run:
  A  layer layout: geom (4326) + geom_3857 GENERATED STORED, GiST on geom_3857 only
  B  plain layout: geom (4326), GiST on geom; tiles transform on the fly
for: bulk insert, z14 tile generation (ST_AsMVT), and bbox feature queries.
Prints each figure of A as a ratio to B.

    .venv/bin/python bench/storage.py [--n 500000] [--tiles 300]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from bench.common import HANGZHOU, Timer, libpq, random_tiles, scratch_database  # noqa: E402

DDL = {
    "a": """CREATE TABLE a (id bigserial PRIMARY KEY, geom geometry(Point,4326) NOT NULL,
              geom_3857 geometry(Point,3857) GENERATED ALWAYS AS (ST_Transform(geom,3857)) STORED, v int);
            CREATE INDEX ON a USING gist (geom_3857);""",
    "b": """CREATE TABLE b (id bigserial PRIMARY KEY, geom geometry(Point,4326) NOT NULL, v int);
            CREATE INDEX ON b USING gist (geom);""",
}
TILE = {
    "a": """SELECT length(ST_AsMVT(t)) FROM (SELECT id, v, ST_AsMVTGeom(geom_3857, ST_TileEnvelope(%(z)s,%(x)s,%(y)s)) g
            FROM a WHERE geom_3857 && ST_TileEnvelope(%(z)s,%(x)s,%(y)s)) t""",
    "b": """SELECT length(ST_AsMVT(t)) FROM (SELECT id, v, ST_AsMVTGeom(ST_Transform(geom,3857), ST_TileEnvelope(%(z)s,%(x)s,%(y)s)) g
            FROM b WHERE geom && ST_Transform(ST_TileEnvelope(%(z)s,%(x)s,%(y)s), 4326)) t""",
}
BBOX = {
    "a": """SELECT id, ST_AsGeoJSON(geom) FROM a WHERE geom_3857 && ST_Transform(ST_MakeEnvelope(%(x0)s,%(y0)s,%(x1)s,%(y1)s,4326),3857)
            AND ST_Intersects(geom, ST_MakeEnvelope(%(x0)s,%(y0)s,%(x1)s,%(y1)s,4326)) ORDER BY id LIMIT 100""",
    "b": """SELECT id, ST_AsGeoJSON(geom) FROM b WHERE geom && ST_MakeEnvelope(%(x0)s,%(y0)s,%(x1)s,%(y1)s,4326)
            AND ST_Intersects(geom, ST_MakeEnvelope(%(x0)s,%(y0)s,%(x1)s,%(y1)s,4326)) ORDER BY id LIMIT 100""",
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=500_000)
    p.add_argument("--tiles", type=int, default=300)
    p.add_argument("--zoom", type=int, default=14)
    args = p.parse_args()
    x0, y0, x1, y1 = HANGZHOU
    with scratch_database("bench_storage") as url, psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("SELECT setseed(0.42)")
        conn.execute(f"""CREATE TABLE src AS SELECT ST_SetSRID(ST_MakePoint({x0} + random()*{x1 - x0},
                         {y0} + random()*{y1 - y0}), 4326) geom, (random()*100)::int v FROM generate_series(1, {args.n})""")
        res: dict[str, dict[str, float]] = {"a": {}, "b": {}}
        for k in ("a", "b"):
            conn.execute(DDL[k])
            with Timer() as t:
                conn.execute(f"INSERT INTO {k} (geom, v) SELECT geom, v FROM src")
            res[k]["insert_s"] = t.seconds
            conn.execute(f"VACUUM ANALYZE {k}")
        tiles = random_tiles(args.zoom, args.tiles)
        boxes = [
            (lo, la, lo + 0.02, la + 0.02)
            for (_, lo, la) in [
                (0, x0 + (x1 - x0) * (i / args.tiles), y0 + (y1 - y0) * ((i * 7 % args.tiles) / args.tiles))
                for i in range(args.tiles)
            ]
        ]
        for k in ("a", "b"):  # warm once, then time
            for z, x, y in tiles[:20]:
                conn.execute(TILE[k], {"z": z, "x": x, "y": y}).fetchone()
            with Timer() as t:
                for z, x, y in tiles:
                    conn.execute(TILE[k], {"z": z, "x": x, "y": y}).fetchone()
            res[k]["tile_ms"] = t.seconds / len(tiles) * 1000
            with Timer() as t:
                for bx in boxes:
                    conn.execute(BBOX[k], dict(zip(("x0", "y0", "x1", "y1"), bx))).fetchall()
            res[k]["bbox_ms"] = t.seconds / len(boxes) * 1000
        size = {k: conn.execute(f"SELECT pg_total_relation_size('{k}')").fetchone()[0] / 2**20 for k in ("a", "b")}
    print(f"points: {args.n:,}  z{args.zoom} tiles: {len(tiles)}  bbox queries: {len(boxes)}")
    print(f"{'measure':<22}{'A stored 3857':>16}{'B transform':>14}{'A/B':>8}")
    for m, label in (
        ("insert_s", "bulk insert (s)"),
        ("tile_ms", f"z{args.zoom} tile (ms)"),
        ("bbox_ms", "bbox query (ms)"),
    ):
        print(f"{label:<22}{res['a'][m]:>16.3f}{res['b'][m]:>14.3f}{res['a'][m] / res['b'][m]:>8.2f}")
    print(f"{'table+index (MiB)':<22}{size['a']:>16.1f}{size['b']:>14.1f}{size['a'] / size['b']:>8.2f}")


if __name__ == "__main__":
    main()
