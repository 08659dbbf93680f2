"""Demo data of the project register: 5,000 projects across Hangzhou, the demo's construction sites among them.

- Every site pin (the sites module's seeder, order 10) becomes a project with the site's own number as ``code`` (what
  the standardized-site registration takes), its units, permit, dates and fence as boundary — the same rows the
  standardized-site module's own demo would make (its seeder, order 15, finds them there and adds nothing) — plus a
  project code of its district and the earlier stages' dates (立项, 规划许可, 施工图审查).
- The rest are spread over the districts like construction activity, at every stage from approval to completion
  acceptance, with plausible names, codes, dates, points and (from the construction permit on, mostly) boundaries.
  Their builders, contractors and supervisors are enterprises of the enterprise register (``enterprises``, seeded at
  order 3) chosen by trade; where that register is not installed, the units the sites' projects name.

Deterministic for a seed (``world.rng("projects")``; the sites' rows follow from the sites alone). Rows go in with
one multi-row insert and the units with one update per role: about a second.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy import Connection
from stdnum.cn import uscc as uscc_mod

from etl import names
from etl.demo import REF_DATE, World, allocate, fence_polygons, pick, project_name, sample_points, shapes_inside
from geo import audit
from geo.modules import seeder
from layers.projects.register import PROJECT_TYPES
from layers.projects.tables import projects

PROJECTS = 5_000
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100 characters
FINISHED = ("竣工验收", "考评中", "已获评")  # site statuses after completion acceptance
# 国民经济行业代码 (two digits) and 项目类型 (01 审批, 02 核准, 03 备案) by 工程类别.
INDUSTRY = {
    "房屋建筑": ("47", "70"),
    "市政基础设施": ("48", "78"),
    "轨道交通": ("48",),
    "水利": ("76",),
    "其他": ("78", "47"),
}
KIND = {
    "房屋建筑": ("03", "01"),
    "市政基础设施": ("01",),
    "轨道交通": ("01", "02"),
    "水利": ("01",),
    "其他": ("01", "03"),
}
# How far the projects that are not sites have come (the stage reached), in shares.
REACHED = {"立项": 14, "规划许可": 13, "施工图审查": 13, "施工许可": 8, "开工": 27, "竣工验收": 25}
STEPS = ("approved_on", "planning_permit_on", "drawing_review_on", "permit_date", "start_date", "completion_date")
# Units by trade, found by name in the enterprise register (whatever its type codes).
TRADES = {
    "builder": "置业|房地产|投资|实业|城投|城建|开发",
    "construction": "建设集团|建工|建筑工程|建设有限|施工|路桥|市政工程",
    "supervision": "监理|工程管理|项目管理|工程咨询",
}


def credit_code(name: str) -> str:
    """The stable, valid credit code the demo gives a company name (the standardized-site module's demo gives the
    same: 91 + 330100 + nine characters of the name's hash + the GB 32100 check digit)."""
    digest = hashlib.sha256(name.encode()).digest()
    body = "91330100" + "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:9])
    return body + uscc_mod.calc_check_digit(body)


def without_permit(code: str) -> bool:
    """About one site project in twelve has no construction permit yet (the standardized-site demo's rule)."""
    return hashlib.sha256(code.encode()).digest()[0] % 12 == 0


def _code(year: int, division: str, ptype: str, serial: int, rng: np.random.Generator) -> str:
    industry = INDUSTRY[ptype][int(rng.integers(len(INDUSTRY[ptype])))]
    kind = KIND[ptype][int(rng.integers(len(KIND[ptype])))]
    return f"{year}-{division}-{industry}-{kind}-{serial:06d}"


def _division(rng: np.random.Generator, district_code: str) -> str:
    return "330100" if rng.random() < 0.05 else district_code  # a few approved by the city itself


def _ewkt(geom: Any) -> str | None:
    return None if geom is None else "SRID=4326;" + shapely.to_wkt(geom, rounding_precision=6)


def _day(value: np.datetime64 | None) -> Any:
    return None if value is None or np.isnat(value) else value.astype(object)


@seeder(order=12)
def seed_projects(conn: Connection, world: World) -> dict:
    rng = world.rng("projects")
    codes = {d.name: d.code for d in world.districts}
    total = world.count(PROJECTS)
    serials = iter(rng.choice(np.arange(100_000, 1_000_000), size=max(total, PROJECTS) + 1000, replace=False).tolist())
    site_rows = _site_projects(conn, rng, codes, serials)
    others = _other_projects(rng, world, max(total - len(site_rows), 0), serials)
    _units(conn, rng, others, site_rows)
    first = conn.execute(sa.select(sa.func.coalesce(sa.func.max(projects.c.id), 0))).scalar_one()
    _copy(conn, site_rows + others)
    conn.execute(
        sa.text(
            "UPDATE projects p SET boundary = f.geom FROM (SELECT DISTINCT ON (site_id) site_id, geom FROM site_fences "
            "WHERE deleted_at IS NULL ORDER BY site_id, id) f WHERE f.site_id = p.site_id AND p.id > :first"
        ),
        {"first": first},
    )
    made = conn.execute(sa.select(sa.func.count()).select_from(projects).where(projects.c.id > first)).scalar_one()
    audit.record(conn, "demo", "import", "projects", None, detail={"rows": made, "source": world.source})
    return {"projects": made}


def _copy(conn: Connection, rows: list[dict]) -> None:
    """COPY the rows in (geometries as EWKT; the table's trigger fills the sites' pins and districts)."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(f"COPY projects ({', '.join(keys)}) FROM STDIN") as cp:
        for r in rows:
            cp.write_row([r.get(k) for k in keys])


def _site_projects(conn: Connection, rng: np.random.Generator, codes: dict[str, str], serials) -> list[dict]:
    """One project per site pin (that has none yet), as the standardized-site demo makes it, with a project code and
    the earlier stages."""
    rows = conn.execute(
        sa.text(
            "SELECT id, code, name, district, address, permit_no, builder, construction_unit, supervision_unit, "
            "project_type, floor_area_m2, investment_wan, start_date, planned_end_date, status "
            "FROM sites s WHERE deleted_at IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM projects p WHERE p.site_id = s.id OR p.code = s.code) ORDER BY id"
        )
    ).mappings()
    out = []
    for r in rows:
        ptype = r["project_type"] or "其他"
        start = np.datetime64(r["start_date"], "D") if r["start_date"] else REF_DATE - 200
        review = start - int(rng.integers(10, 90))
        planning = review - int(rng.integers(20, 150))
        approved = planning - int(rng.integers(30, 240))
        permit = None if without_permit(r["code"]) else r["permit_no"]
        finished = r["status"] in FINISHED and permit is not None
        accepted = _day(min(np.datetime64(r["planned_end_date"], "D"), REF_DATE - int(rng.integers(10, 60)))) if finished and r["planned_end_date"] else None  # fmt: skip
        out.append(
            {
                "code": r["code"],
                "project_code": _code(
                    int(str(approved)[:4]), _division(rng, codes[r["district"]]), ptype, next(serials), rng
                ),
                "name": r["name"],
                "site_id": r["id"],
                "district": r["district"],
                "address": r["address"],
                "project_type": r["project_type"],
                "builder_name": r["builder"],
                "builder_uscc": credit_code(r["builder"] or r["code"]),
                "construction_name": r["construction_unit"],
                "construction_uscc": credit_code(r["construction_unit"] or r["code"]),
                "supervision_name": r["supervision_unit"],
                "supervision_uscc": credit_code(r["supervision_unit"] or r["code"]),
                "permit_nos": [permit] if permit else [],
                "permit_no": permit,
                "permit_date": r["start_date"] if permit else None,
                "approved_on": _day(approved),
                "planning_permit_on": _day(planning),
                "drawing_review_on": _day(review),
                "floor_area_m2": r["floor_area_m2"],
                "investment_wan": r["investment_wan"],
                "start_date": r["start_date"] if permit else None,  # no permit: not started (the pin keeps its plan)
                "planned_end_date": r["planned_end_date"],
                "completion_date": accepted,  # accepted by its plan, or lately (never in the future)
                "geom": None,  # the site's pin (the table's trigger)
                "boundary": None,  # the site's fence (after the insert)
                "created_by": "demo",
                "updated_by": "demo",
            }
        )
    return out


def _other_projects(rng: np.random.Generator, world: World, total: int, serials) -> list[dict]:
    districts = world.districts
    per = allocate(total, [d.profile.sites + 0.3 for d in districts])
    out: list[dict] = []
    for d, k in zip(districts, per):
        if not k:
            continue
        x, y = sample_points(rng, d, int(k), centre_share=0.6, sigma_km=6.0 if d.profile.urban else 4.0)
        fences = fence_polygons(rng, x, y)
        fits = shapes_inside(d, fences)
        ptype = pick(rng, PROJECT_TYPES, (60, 22, 3, 6, 9), k)
        reached = pick(rng, tuple(REACHED), tuple(REACHED.values()), k)
        steps = np.array([list(REACHED).index(s) for s in reached])  # index into STEPS of the last day known
        gaps = np.stack(
            [
                np.zeros(k, dtype=int),
                rng.integers(30, 240, k),  # 立项 → 规划许可
                rng.integers(20, 150, k),  # → 施工图审查
                rng.integers(10, 90, k),  # → 施工许可
                rng.integers(5, 60, k),  # → 开工
                rng.integers(360, 1100, k),  # → 竣工验收
            ],
            axis=1,
        )
        offsets = np.cumsum(gaps, axis=1)
        reach = offsets[np.arange(k), steps]
        approved = REF_DATE - (reach + rng.integers(5, 700, k)).astype("timedelta64[D]")
        places = names.places(rng, int(k), unique=False)
        roads = names.roads(rng, 3 * int(k))
        area = rng.lognormal(math.log(40_000), 0.9, k).clip(800, 600_000)
        invest = np.where(ptype == "房屋建筑", area * rng.uniform(0.3, 0.7, k), rng.lognormal(math.log(15_000), 0.9, k))
        for i in range(int(k)):
            days_known = {col: approved[i] + int(offsets[i, j]) for j, col in enumerate(STEPS) if j <= steps[i]}
            permitted = "permit_date" in days_known
            code = _code(int(str(approved[i])[:4]), _division(rng, d.code), str(ptype[i]), next(serials), rng)
            nos = [f"{d.code}{str(days_known['permit_date']).replace('-', '')}{n:02d}01" for n in range(1, 1 + int(rng.integers(1, 3)))] if permitted else []  # fmt: skip
            point = shapely.points(x[i], y[i])
            fence = shapely.MultiPolygon([fences[i]]) if fits[i] and (permitted or rng.random() < 0.3) else None
            out.append(
                {
                    "code": code,
                    "project_code": code,
                    "name": project_name(rng, str(ptype[i]), d, places[i], roads[3 * i : 3 * i + 3]),
                    "district": d.name,
                    "address": None,
                    "project_type": str(ptype[i]),
                    "permit_nos": nos,
                    "permit_no": nos[0] if nos else None,
                    **{col: _day(day) for col, day in days_known.items()},
                    "planned_end_date": _day(days_known["start_date"] + int(rng.integers(360, 1100)))
                    if "start_date" in days_known
                    else None,
                    "floor_area_m2": round(float(area[i]), 1) if ptype[i] in ("房屋建筑", "其他") else None,
                    "investment_wan": round(float(invest[i]), 1),
                    "geom": _ewkt(point),
                    "boundary": _ewkt(fence),
                    "created_by": "demo",
                    "updated_by": "demo",
                }
            )
    return out


def _units(conn: Connection, rng: np.random.Generator, rows: list[dict], site_rows: list[dict]) -> None:
    """Builders, contractors and supervisors of the projects that are not sites, by trade, from the enterprise
    register (else from the units the sites' projects name)."""
    register = conn.execute(sa.text("SELECT to_regclass('enterprises') IS NOT NULL")).scalar()
    for role, pattern in TRADES.items():
        if register:
            pool = conn.execute(
                sa.text("SELECT uscc, name FROM enterprises WHERE name ~ :p ORDER BY uscc"), {"p": pattern}
            ).all()
        else:
            pool = sorted({(r[f"{role}_uscc"], r[f"{role}_name"]) for r in site_rows if r[f"{role}_uscc"]})
        if not pool:
            continue
        for r, i in zip(rows, rng.integers(len(pool), size=len(rows))):
            r[f"{role}_uscc"], r[f"{role}_name"] = pool[int(i)]
