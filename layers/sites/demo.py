"""Demo data of the construction sites: 600 pins crowding the urban cores, each with its electronic fence."""

from __future__ import annotations

import math

import numpy as np
import shapely
import sqlalchemy as sa

from etl import names
from etl.demo import (
    REF_DATE,
    District,
    World,
    addresses,
    allocate,
    dates,
    days,
    fence_polygons,
    numbers,
    pick,
    project_name,
    sample_points,
    shapes_inside,
    write_layer,
)
from geo.layer.registry import registry
from geo.modules import seeder

SITES = 600


@seeder(order=10)
def seed_sites(conn, world: World) -> dict:
    return build_sites(conn, world.rng("sites"), world.districts, world.source)


def build_sites(conn, rng, districts: list[District], source: str) -> dict:
    per = allocate(SITES, [d.profile.sites for d in districts])
    geoms, fences, cols = (
        [],
        [],
        {
            k: []
            for k in (
                "code",
                "name",
                "district",
                "address",
                "permit_no",
                "builder",
                "construction_unit",
                "supervision_unit",
                "project_type",
                "floor_area_m2",
                "investment_wan",
                "start_date",
                "planned_end_date",
                "status",
            )
        },
    )
    builders = names.companies(rng, 80, names.BUILDER_PATTERNS)
    contractors = names.companies(rng, 60, names.CONSTRUCTION_PATTERNS)
    supervisors = names.companies(rng, 30, names.SUPERVISION_PATTERNS)
    for d, k in zip(districts, per):
        sigma = 5.0 if d.profile.urban else 3.0
        xs, ys, fs, have = [], [], [], 0
        while have < k:  # pins whose fence also fits inside the district
            x, y = sample_points(rng, d, 2 * (k - have) + 4, centre_share=0.8, sigma_km=sigma)
            f = fence_polygons(rng, x, y)
            ok = np.flatnonzero(shapes_inside(d, f))[: k - have]
            xs.append(x[ok])
            ys.append(y[ok])
            fs.append(f[ok])
            have += len(ok)
        x, y, f = np.concatenate(xs), np.concatenate(ys), np.concatenate(fs)
        geoms.append(shapely.points(x, y))
        fences.append(f)
        ptype = pick(rng, ("房屋建筑", "市政基础设施", "轨道交通", "水利", "其他"), (62, 20, 6, 5, 7), k)
        status = pick(rng, ("在建", "逾期未报", "停工", "竣工验收", "考评中", "已获评"), (50, 10, 5, 15, 12, 8), k)
        back = {
            "在建": (30, 900),
            "逾期未报": (60, 900),
            "停工": (200, 1100),
            "竣工验收": (600, 1500),
            "考评中": (90, 700),
            "已获评": (400, 1400),
        }
        start = np.array([REF_DATE - int(rng.integers(*back[s])) for s in status], dtype="datetime64[D]")
        end = start + days(rng, 360, 1100, k)
        places = names.places(rng, k, unique=False)
        area = np.where(
            ptype == "房屋建筑",
            rng.lognormal(math.log(60_000), 0.8, k).clip(3_000, 600_000),
            np.where(
                ptype == "轨道交通", rng.lognormal(math.log(20_000), 0.4, k), rng.lognormal(math.log(5_000), 0.8, k)
            ),
        )
        per_m2 = rng.uniform(0.3, 0.7, k)  # 万元 per m²
        other = rng.lognormal(math.log(20_000), 0.9, k).clip(500, 500_000)
        invest = np.where(ptype == "房屋建筑", area * per_m2, np.where(ptype == "轨道交通", other * 4, other))
        has_area = np.isin(ptype, ("房屋建筑", "轨道交通", "其他"))
        seq = np.arange(1, k + 1)
        years = start.astype("datetime64[Y]").astype(int) + 1970
        cols["code"] += [f"{d.code}-{yr}-{s:04d}" for yr, s in zip(years, seq)]
        cols["permit_no"] += [f"{d.code}{str(st).replace('-', '')}{s % 100:02d}01" for st, s in zip(start, seq)]
        cols["name"] += [project_name(rng, t, d, p, names.roads(rng, 3)) for t, p in zip(ptype, places)]
        cols["district"] += [d.name] * k
        cols["address"] += addresses(rng, d, k)
        cols["builder"] += [builders[i] for i in rng.integers(len(builders), size=k)]
        cols["construction_unit"] += [contractors[i] for i in rng.integers(len(contractors), size=k)]
        cols["supervision_unit"] += [supervisors[i] for i in rng.integers(len(supervisors), size=k)]
        cols["project_type"] += ptype.tolist()
        cols["floor_area_m2"] += numbers(area, has_area)
        cols["investment_wan"] += numbers(invest)
        cols["start_date"] += dates(start)
        cols["planned_end_date"] += dates(end)
        cols["status"] += status.tolist()
    res = write_layer(conn, "sites", np.concatenate(geoms), cols, source)
    t = registry.get("sites").sa_table
    ids = dict(conn.execute(sa.select(t.c.code, t.c.id).where(t.c.id.between(res["first_id"], res["last_id"]))).all())
    fence_cols = {
        "site_id": [ids[c] for c in cols["code"]],
        "name": [f"{n}电子围栏" for n in cols["name"]],
        "district": cols["district"],
    }
    fres = write_layer(conn, "site_fences", np.concatenate(fences), fence_cols, source)
    return {"sites": res["rows"], "site_fences": fres["rows"]}
