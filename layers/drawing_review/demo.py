"""Demo data of the drawing reviews: 300 review projects in the urban cores."""

from __future__ import annotations

import math

import numpy as np
import shapely

from etl import names
from etl.demo import (
    REF_DATE,
    District,
    World,
    allocate,
    dates,
    days,
    numbers,
    pick,
    project_name,
    sample_points,
    write_layer,
)
from geo.modules import seeder

REVIEWS = 300


@seeder(order=20)
def seed_reviews(conn, world: World) -> dict:
    return build_reviews(conn, world.rng("review_projects"), world.districts, world.source)


def build_reviews(conn, rng, districts: list[District], source: str) -> dict:
    per = allocate(REVIEWS, [d.profile.sites for d in districts])
    builders = names.companies(rng, 60, names.BUILDER_PATTERNS)
    designers = names.companies(rng, 25, names.DESIGNER_PATTERNS)
    geoms, cols = (
        [],
        {
            k: []
            for k in (
                "code",
                "name",
                "district",
                "builder",
                "designer",
                "agency",
                "review_category",
                "grade",
                "floor_area_m2",
                "investment_wan",
                "submitted_at",
                "concluded_at",
                "status",
            )
        },
    )
    for d, k in zip(districts, per):
        x, y = sample_points(rng, d, k, centre_share=0.85, sigma_km=5.0 if d.profile.urban else 3.0)
        geoms.append(shapely.points(x, y))
        cat = pick(rng, ("房屋建筑", "市政基础设施", "人防", "消防", "防雷"), (60, 20, 8, 8, 4), k)
        status = pick(rng, ("已受理", "审查中", "待回复", "审查合格", "已发证"), (10, 25, 15, 25, 25), k)
        area = rng.lognormal(math.log(40_000), 0.9, k).clip(500, 800_000)
        grade = np.where(area > 100_000, "一类", np.where(area > 20_000, "二类", "三类"))
        grade = np.where(rng.random(k) < 0.1, pick(rng, ("一类", "二类", "三类"), (1, 1, 1), k), grade)
        invest = area * rng.uniform(0.3, 0.7, k)
        back = np.where(status == "已受理", rng.integers(1, 15, k), rng.integers(10, 400, k))
        submitted = REF_DATE - back.astype("timedelta64[D]")
        concluded = np.minimum(submitted + days(rng, 7, 45, k), REF_DATE)
        years = submitted.astype("datetime64[Y]").astype(int) + 1970
        places = names.places(rng, k, unique=False)
        cols["code"] += [f"SC{d.code}{yr}{s:04d}" for yr, s in zip(years, range(1, k + 1))]
        cols["name"] += [project_name(rng, c, d, p, names.roads(rng, 3)) for c, p in zip(cat, places)]
        cols["district"] += [d.name] * k
        cols["builder"] += [builders[i] for i in rng.integers(len(builders), size=k)]
        cols["designer"] += [designers[i] for i in rng.integers(len(designers), size=k)]
        cols["agency"] += pick(rng, names.REVIEW_AGENCIES, (30, 20, 15, 15, 10, 10), k).tolist()
        cols["review_category"] += cat.tolist()
        cols["grade"] += grade.tolist()
        cols["floor_area_m2"] += numbers(area, cat != "市政基础设施")
        cols["investment_wan"] += numbers(invest)
        cols["submitted_at"] += dates(submitted)
        cols["concluded_at"] += dates(concluded, np.isin(status, ("审查合格", "已发证")))
        cols["status"] += status.tolist()
    res = write_layer(conn, "review_projects", np.concatenate(geoms), cols, source)
    return {"review_projects": res["rows"]}
