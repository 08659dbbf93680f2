"""Demo data of the drawing reviews: 300 review projects in the urban cores.

Where the project register is installed (its seeder runs first), each review is of a register project of its district
that has reached drawing review: the review carries the project's code (项目代码), name, builder and site point, so a
project's page lists its reviews and the same enterprises build the sites and own the review projects."""

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
        registered = _register_projects(conn, d.name)
        picked = [registered[i] for i in rng.permutation(len(registered))[:k]] if len(registered) >= k else []
        if picked:
            x = np.array([p.x for p in picked])
            y = np.array([p.y for p in picked])
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
        codes = [f"SC{d.code}{yr}{s:04d}" for yr, s in zip(years, range(1, k + 1))]
        titles = [project_name(rng, c, d, p, names.roads(rng, 3)) for c, p in zip(cat, places)]
        owners = [builders[i] for i in rng.integers(len(builders), size=k)]
        if picked:
            codes, titles, owners = [p.code for p in picked], [p.name for p in picked], [p.builder for p in picked]
        cols["code"] += codes
        cols["name"] += titles
        cols["district"] += [d.name] * k
        cols["builder"] += owners
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


def _register_projects(conn, district: str) -> list:
    """The register's projects of ``district`` past planning, with a builder and a point (none without the register)."""
    if not conn.execute(sa.text("SELECT to_regclass('projects') IS NOT NULL")).scalar():
        return []
    columns = set(
        conn.execute(
            sa.text("SELECT column_name FROM information_schema.columns WHERE table_name = 'projects'")
        ).scalars()
    )
    if not {"project_code", "geom", "planning_permit_on"} <= columns:
        return []
    return conn.execute(
        sa.text(
            "SELECT project_code AS code, name, builder_name AS builder, ST_X(geom) AS x, ST_Y(geom) AS y FROM projects "
            "WHERE district = :d AND project_code IS NOT NULL AND geom IS NOT NULL AND builder_name IS NOT NULL "
            "AND planning_permit_on IS NOT NULL ORDER BY id"
        ),
        {"d": district},
    ).all()
