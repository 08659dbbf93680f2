"""Demo data of the greenways: about 500 km of segments, by district profile."""

from __future__ import annotations

import math

import numpy as np
import shapely
import sqlalchemy as sa
from pyproj import Geod

from etl import names
from etl.demo import (
    DemoError,
    District,
    World,
    deg_per_m,
    numbers,
    pick,
    sample_points,
    seq_codes,
    shapes_inside,
    write_layer,
)
from geo.layer.registry import registry
from geo.modules import seeder
from layers.greenways.demo_reports import build_reports

GREENWAY_KM = 500.0
GEOD = Geod(ellps="WGS84")


@seeder(order=50)
def seed_greenways(conn, world: World) -> dict:
    """The segments, then two years of the districts' reports on them (``demo_reports``)."""
    return {**build_greenways(conn, world.rng("greenways"), world.districts, world.source), **build_reports(conn)}


def random_walk(rng, d: District, length_km: float, step_m: float = 150.0, tries: int = 400):
    """A smooth random-walk line of about ``length_km`` inside ``d``; shorter if it will not fit."""
    for attempt in range(tries):
        if attempt and attempt % 100 == 0:
            length_km = max(0.5, length_km * 0.7)
        x0, y0 = sample_points(rng, d, 1, centre_share=0.4 if d.profile.urban else 0.2, sigma_km=6.0)
        steps = max(2, math.ceil(length_km * 1000 / step_m))
        heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.15, steps))
        seg = np.full(steps, length_km * 1000 / steps)
        kx, ky = deg_per_m(y0[0])
        x = np.round(x0[0] + np.concatenate([[0], np.cumsum(seg * np.cos(heading))]) * kx, 6)
        y = np.round(y0[0] + np.concatenate([[0], np.cumsum(seg * np.sin(heading))]) * ky, 6)
        line = shapely.linestrings(x, y)
        if line.is_valid and shapes_inside(d, np.array([line]))[0]:
            return line
    raise DemoError(f"no greenway of {length_km:.1f} km fits in {d.name}")


def build_greenways(conn, rng, districts: list[District], source: str) -> dict:
    budgets = (
        GREENWAY_KM * np.array([d.profile.greenway for d in districts]) / sum(d.profile.greenway for d in districts)
    )
    geoms, cols = [], {k: [] for k in ("code", "name", "district", "level", "kind", "status", "plan_year", "fund_wan")}
    for d, budget in zip(districts, budgets):
        left, seq, lengths = float(budget), 0, []
        while left > 1e-3:
            want = float(np.clip(rng.lognormal(math.log(3.0), 0.5), 0.5, 8.0))
            if left - want < 0.5:
                want = max(left, 0.5)
            line = random_walk(rng, d, want)
            km = GEOD.geometry_length(line) / 1000
            geoms.append(line)
            lengths.append(km)
            left -= km
            seq += 1
        k = seq
        km = np.array(lengths)
        status = pick(rng, ("已建成", "在建", "规划"), (65, 20, 15), k)
        year = np.where(
            status == "已建成",
            rng.integers(2012, 2026, k),
            np.where(status == "在建", rng.integers(2025, 2027, k), rng.integers(2026, 2029, k)),
        )
        kinds = (40, 35, 25) if d.profile.urban else (15, 45, 40)
        sections = names.places(rng, k, unique=False)
        base = pick(rng, d.profile.greenway_names, np.ones(len(d.profile.greenway_names)), k)
        cols["code"] += seq_codes(f"LD{d.code}", range(1, k + 1), 3)
        cols["name"] += [f"{b}绿道（{s}段）" for b, s in zip(base, sections)]
        cols["district"] += [d.name] * k
        cols["level"] += pick(rng, ("省级", "市级", "区县级"), (15, 35, 50), k).tolist()
        cols["kind"] += pick(rng, ("城镇型", "郊野型", "生态型"), kinds, k).tolist()
        cols["status"] += status.tolist()
        cols["plan_year"] += year.tolist()
        cols["fund_wan"] += numbers(km * rng.uniform(100, 400, k))
    res = write_layer(conn, "greenways", np.array(geoms, dtype=object), cols, source)
    t = registry.get("greenways").sa_table
    total = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(t.c.length_m), 0)).where(t.c.id.between(res["first_id"], res["last_id"]))
    ).scalar_one()
    return {"greenways": res["rows"], "greenway_km": round(float(total) / 1000, 1)}
