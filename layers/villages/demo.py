"""Demo data of the farmhouses: houses clustered into the shared villages, about 4 % of them dangerous (B/C/D).

Existing and completed houses carry an appraisal grade, ``A`` for safe and ``B``/``C``/``D`` for the few percent of
dangerous houses (older, brick-wood or earth houses are likelier); houses still under approval or under construction
have none (NULL). ``governance`` is set only for dangerous houses; ``difficult_family`` is true or false for every
house.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from etl import names
from etl.demo import District, Villages, World, numbers, pick, scatter_around, seq_codes, write_layer
from geo.modules import seeder

CHUNK = 200_000  # farmhouses per COPY batch
HOUSES_PER_VILLAGE = 30  # at least, on average


@seeder(order=30)
def seed_farmhouses(conn, world: World) -> dict:
    return build_farmhouses(
        conn, world.rng("farmhouses"), world.districts, world.villages, world.farmhouses, world.source
    )


def _farmhouse_columns(rng, d: District, v: Villages, vi: np.ndarray, seq: np.ndarray) -> dict[str, Any]:
    n = len(vi)
    status = pick(rng, ("存量", "审批中", "在建", "已竣工"), (93, 2.5, 2.5, 2), n)
    standing = np.isin(status, ("存量", "已竣工"))
    structure = pick(rng, ("砖混", "框架", "砖木", "木结构", "土木", "石结构", "其他"), (55, 20, 12, 3, 5, 3, 2), n)
    structure = np.where(standing, structure, pick(rng, ("框架", "砖混"), (70, 30), n))
    old = np.isin(structure, ("砖木", "木结构", "土木", "石结构"))
    year = np.where(
        old, rng.normal(1975, 12, n), np.where(structure == "框架", rng.normal(2010, 7, n), rng.normal(1998, 10, n))
    )
    year = np.round(year).clip(1950, 2024).astype(int)
    year = np.where(status == "已竣工", rng.integers(2023, 2027, n), year)
    floors = pick(rng, (1, 2, 3, 4, 5), (12, 35, 40, 11, 2), n).astype(int)
    floors = np.where(old, np.minimum(floors, 2), floors)
    area = floors * rng.normal(120, 30, n).clip(50, 250)
    # Dangerous houses: about 4 % of all, likelier for old and weak structures.
    weight = np.exp((1990 - year) / 15.0) * np.where(old, 3.0, 1.0) * (status == "存量")
    p = (0.04 * n / weight.sum()) * weight if weight.sum() else weight
    dangerous = rng.random(n) < np.minimum(p, 0.9)
    grade = np.where(dangerous, pick(rng, ("B", "C", "D"), (55, 33, 12), n), np.where(standing, "A", None))
    gov_b = pick(rng, ("维修加固", "已治理", "未治理", "拆除重建"), (45, 25, 25, 5), n)
    gov_c = pick(rng, ("维修加固", "拆除重建", "已治理", "未治理", "搬迁"), (35, 20, 20, 20, 5), n)
    gov_d = pick(rng, ("拆除重建", "拆除", "搬迁", "已治理", "未治理"), (35, 20, 15, 15, 15), n)
    governance = np.where(grade == "B", gov_b, np.where(grade == "C", gov_c, np.where(grade == "D", gov_d, None)))
    difficult = rng.random(n) < np.where(dangerous, 0.15, 0.015)
    group = rng.integers(1, 13, n)
    number = rng.integers(1, 200, n)
    town, vill = v.township[vi], v.village[vi]
    return {
        "code": seq_codes(f"NF{d.code}", seq, 7),
        "owner_name": names.person_names(rng, n),
        "district": [d.name] * n,
        "township": town,
        "village": vill,
        "address": [f"{d.name}{t}{vv}{g}组{k}号" for t, vv, g, k in zip(town, vill, group, number)],
        "floors": floors,
        "structure": structure,
        "built_year": np.where(standing, year, None).astype(object),
        "floor_area_m2": numbers(area),
        "status": status,
        "danger_grade": grade,
        "governance": governance,
        "difficult_family": difficult,
    }


def build_farmhouses(conn, rng, districts: list[District], v: Villages, n: int, source: str) -> dict:
    """``n`` farmhouses spread over the villages (sizes vary), written in chunks of CHUNK.

    Villages hold about HOUSES_PER_VILLAGE houses or more: a small ``n`` fills only some of them.
    """
    w = v.weight / v.weight.sum()
    used = min(len(w), max(1, n // HOUSES_PER_VILLAGE))
    active = np.sort(rng.choice(len(w), size=used, replace=False, p=w))
    counts = rng.multinomial(n, w[active] / w[active].sum())
    village_of = np.repeat(active, counts)  # sorted: villages are ordered by district
    dist_of = v.district[village_of]
    block_start = np.searchsorted(dist_of, dist_of, side="left")
    seq = np.arange(n) - block_start + 1  # per-district running number
    rows = dangerous = 0
    chunk_rngs = rng.spawn(max(1, -(-n // CHUNK)))
    for c, start in enumerate(range(0, n, CHUNK)):
        crng = chunk_rngs[c]
        sl = slice(start, min(n, start + CHUNK))
        geoms = np.empty(sl.stop - sl.start, dtype=object)
        cols: dict[str, list] = {}
        for di in np.unique(dist_of[sl]):  # rows are sorted by district: blocks append in order
            d = districts[di]
            local = np.flatnonzero(dist_of[sl] == di)
            vi = village_of[sl][local]
            x, y = scatter_around(crng, d, v.x[vi], v.y[vi], v.sigma_m[vi])
            geoms[local] = shapely.points(x, y)
            part = _farmhouse_columns(crng, d, v, vi, seq[sl][local])
            for k, vals in part.items():
                cols.setdefault(k, []).extend(vals.tolist() if isinstance(vals, np.ndarray) else vals)
        res = write_layer(conn, "farmhouses", geoms, cols, source)
        rows += res["rows"]
        dangerous += sum(g in ("B", "C", "D") for g in cols["danger_grade"])
    return {"farmhouses": rows, "dangerous_farmhouses": dangerous}
