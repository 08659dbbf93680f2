"""Demo data of the sewage facilities: 40 urban plants and 360 rural terminals beside the shared villages."""

from __future__ import annotations

import math

import numpy as np
import shapely

from etl import names
from etl.demo import (
    URBAN_PLANTS,
    District,
    Villages,
    World,
    dates,
    days,
    numbers,
    pick,
    sample_points,
    scatter_around,
    seq_codes,
    write_layer,
)
from geo.modules import seeder

RURAL_TERMINALS = 360


@seeder(order=40)
def seed_sewage(conn, world: World) -> dict:
    out = build_sewage(conn, world.rng("sewage_plants"), world.districts, world.villages, world.source)
    return {**out, **seed_monitors(conn)}


def build_sewage(conn, rng, districts: list[District], v: Villages, source: str) -> dict:
    geoms, cols = (
        [],
        {
            k: []
            for k in (
                "code",
                "name",
                "district",
                "kind",
                "capacity_t_d",
                "process",
                "discharge_standard",
                "operator",
                "status",
                "commissioned_on",
            )
        },
    )
    place_pool = iter(names.places(rng, URBAN_PLANTS))
    operators = names.companies(rng, 20, names.OPERATOR_PATTERNS)
    terminals = np.sort(rng.choice(len(v.x), RURAL_TERMINALS, replace=False, p=v.weight / v.weight.sum()))
    for di, d in enumerate(districts):
        k = d.profile.plants
        x, y = sample_points(rng, d, k, centre_share=1.0, sigma_km=4.0 if d.profile.urban else 2.5)
        cap = rng.lognormal(math.log(1.2e5 if d.profile.urban else 3e4), 0.7, k).clip(1e4, 6e5)
        kind_name = pick(rng, ("污水处理厂", "净水厂", "水质净化厂"), (60, 25, 15), k)
        t = terminals[v.district[terminals] == di]
        tx, ty = scatter_around(rng, d, v.x[t], v.y[t], 200.0)
        m = len(t)
        geoms += [shapely.points(x, y), shapely.points(tx, ty)]
        prefix = "杭州市" if d.name in ("上城区", "拱墅区", "西湖区", "滨江区") else d.short
        cols["code"] += seq_codes(f"WSC{d.code}", range(1, k + 1), 3) + seq_codes(f"WSN{d.code}", range(1, m + 1), 4)
        cols["name"] += [f"{prefix}{next(place_pool)}{s}" for s in kind_name] + [
            f"{tw}{vl}污水处理终端" for tw, vl in zip(v.township[t], v.village[t])
        ]
        cols["district"] += [d.name] * (k + m)
        cols["kind"] += ["城镇污水处理厂"] * k + ["农村污水处理终端"] * m
        cols["capacity_t_d"] += numbers(np.round(cap / 5000) * 5000) + numbers(
            np.round(rng.lognormal(math.log(50), 0.8, m).clip(10, 500) / 5) * 5
        )
        cols["process"] += pick(rng, ("AAO", "MBR", "氧化沟", "SBR", "生物滤池"), (50, 20, 15, 10, 5), k).tolist()
        cols["process"] += pick(
            rng, ("人工湿地", "生物滤池", "MBR", "AAO", "SBR", "其他"), (25, 25, 15, 25, 5, 5), m
        ).tolist()
        cols["discharge_standard"] += pick(rng, ("一级A", "准IV类"), (65, 35), k).tolist()
        cols["discharge_standard"] += pick(rng, ("一级A", "一级B", "二级"), (40, 40, 20), m).tolist()
        cols["operator"] += [f"杭州{d.short}水务有限公司"] * k + [operators[i] for i in rng.integers(20, size=m)]
        status = np.concatenate(
            [
                pick(rng, ("正常运行", "在建", "整改中"), (90, 5, 5), k),
                pick(rng, ("正常运行", "停运", "整改中", "在建"), (88, 4, 6, 2), m),
            ]
        )
        since = np.concatenate(
            [
                np.datetime64("1995-01-01") + days(rng, 0, 30 * 365, k),
                np.datetime64("2005-01-01") + days(rng, 0, 20 * 365, m),
            ]
        )
        cols["status"] += status.tolist()
        cols["commissioned_on"] += dates(since, status != "在建")  # not yet in service
    res = write_layer(conn, "sewage_plants", np.concatenate(geoms), cols, source)
    return {"sewage_plants": res["rows"]}


def seed_monitors(conn) -> dict:
    """One online monitor per facility, MN ``3301SW`` + the facility's id; the demo PW is the MN's last six
    characters (``layers.sewage.simulator.demo_password``), kept as a salted hash like any monitor's."""
    from sqlalchemy import text

    n = conn.execute(
        text("""
            INSERT INTO sewage_monitors (mn, pw_salt, pw_hash, plant_id, created_by)
            SELECT mn, salt, encode(sha256(convert_to(salt || ':' || right(mn, 6), 'UTF8')), 'hex'), id, 'demo'
            FROM (SELECT id, '3301SW' || lpad(id::text, 8, '0') AS mn, substr(md5(random()::text), 1, 16) AS salt
                  FROM sewage_plants) p
            ON CONFLICT (mn) DO NOTHING
        """)
    ).rowcount
    return {"sewage_monitors": n}
