"""Demo data of the enterprise register: 20,000 enterprises (order 3, before the persons who work for them), and every
unit the demo's site pins name (order 11: after the sites, order 10, before the projects and the standardized-site
flow, which record them as their units).

The 20,000 are drawn from a fixed random stream (the same enterprises whatever the demo's seed, so a second demo
load adds nothing): plausible names by type (杭州XX建工集团有限公司, 浙江XX工程监理有限公司 …), valid unified social
credit codes (python-stdnum computes the check character), principals, districts, addresses and one to three
qualifications each, about one in eight expired. The site units get the codes the standardized-site demo gives them
(``site_unit_uscc``: the same as ``layers.standard_sites.demo.uscc_for``). Loaded with COPY into a staging table and
one ``INSERT … SELECT … ON CONFLICT DO NOTHING``: a few seconds.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Connection
from stdnum.cn import uscc as uscc_mod

from etl import names
from geo.divisions import DISTRICTS
from geo.modules import seeder

ENTERPRISES = 20_000
ACTOR = "demo"
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100 characters
REF_DATE = date(2026, 11, 1)  # the demo world's "today" (etl.demo.REF_DATE)
STREAM = 20_261_207  # the fixed random stream of the 20,000

# type code: (share, name patterns ({r}: 杭州/浙江 or a district, {b}: trade name), qualifications (category, grades))
KINDS: dict[str, tuple[float, tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]]] = {
    "construction": (
        0.34,
        (
            "{r}{b}建工集团有限公司",
            "{r}{b}建设集团有限公司",
            "{r}{b}建筑工程有限公司",
            "{r}{b}建设有限公司",
            "{r}{b}市政工程有限公司",
            "{r}{b}装饰工程有限公司",
        ),
        (
            ("建筑工程施工总承包", ("特级", "一级", "二级", "三级")),
            ("市政公用工程施工总承包", ("一级", "二级", "三级")),
            ("建筑装修装饰工程专业承包", ("一级", "二级")),
            ("地基基础工程专业承包", ("一级", "二级", "三级")),
        ),
    ),
    "supervision": (
        0.1,
        ("{r}{b}工程监理有限公司", "{r}{b}建设监理有限公司", "{r}{b}工程管理有限公司", "{r}{b}项目管理有限公司"),
        (
            ("工程监理综合资质", ("综合",)),
            ("房屋建筑工程监理", ("甲级", "乙级")),
            ("市政公用工程监理", ("甲级", "乙级")),
        ),
    ),
    "real_estate": (
        0.16,
        ("{r}{b}房地产开发有限公司", "{r}{b}置业有限公司", "{r}{b}投资发展有限公司", "{r}{b}实业有限公司"),
        (("房地产开发企业资质", ("一级", "二级")),),
    ),
    "cost_consulting": (
        0.08,
        ("{r}{b}工程造价咨询有限公司", "{r}{b}造价师事务所有限公司"),
        (("工程造价咨询企业", ("甲级", "乙级")),),
    ),
    "bidding_agency": (
        0.07,
        ("{r}{b}招标代理有限公司", "{r}{b}工程咨询有限公司"),
        (("工程招标代理机构", ("甲级", "乙级", "暂定级")),),
    ),
    "testing": (
        0.06,
        ("{r}{b}建设工程检测有限公司", "{r}{b}工程质量检测有限公司"),
        (("建设工程质量检测机构", ("综合类", "专项类")),),
    ),
    "survey_design": (
        0.12,
        (
            "{r}{b}建筑设计研究院有限公司",
            "{r}{b}建筑设计有限公司",
            "{r}{b}勘察设计有限公司",
            "{r}{b}市政设计院有限公司",
        ),
        (("工程设计建筑行业", ("甲级", "乙级")), ("工程勘察专业类", ("甲级", "乙级"))),
    ),
    "building_energy": (
        0.05,
        ("{r}{b}节能科技有限公司", "{r}{b}建筑节能工程有限公司"),
        (("建筑节能工程专业承包", ("一级", "二级")),),
    ),
    "review_agency": (
        0.02,
        ("{r}{b}施工图审查有限公司", "{r}{b}工程技术审查有限公司"),
        (("施工图审查机构", ("一类", "二类")),),
    ),
}
# The site pins' units: (sites column, enterprise type).
SITE_UNITS = (("builder", "real_estate"), ("construction_unit", "construction"), ("supervision_unit", "supervision"))


def site_unit_uscc(name: str) -> str:
    """The credit code the standardized-site demo gives a unit it names (``standard_sites.demo.uscc_for``): 91
    (enterprise) + 330100 (Hangzhou) + nine characters from the name's SHA-256 + the check character."""
    digest = hashlib.sha256(name.encode()).digest()
    body = "91330100" + "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:9])
    return body + uscc_mod.calc_check_digit(body)


def _codes(rng: np.random.Generator, regions: list[str], n: int) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        body = "91" + regions[len(out)] + "".join(ALPHABET[i] for i in rng.integers(len(ALPHABET), size=9))
        code = body + uscc_mod.calc_check_digit(body)
        if code not in seen:
            seen.add(code)
            out.append(code)
    return out


def _names(rng: np.random.Generator, kinds: list[str], districts: list[str]) -> list[str]:
    brands = [a + b for a in names.BRAND_FIRST for b in names.BRAND_SECOND if a != b]
    out: list[str] = []
    seen: set[str] = set()
    for kind, district in zip(kinds, districts):
        patterns = KINDS[kind][1]
        while True:
            r = rng.random()
            region = "杭州" if r < 0.5 else "浙江" if r < 0.8 else "杭州" + district.rstrip("区县市")
            name = patterns[int(rng.integers(len(patterns)))].format(r=region, b=brands[int(rng.integers(len(brands)))])
            if name not in seen:
                seen.add(name)
                out.append(name)
                break
    return out


def _principals(rng: np.random.Generator, n: int) -> tuple[list[str], list[str]]:
    people = names.person_names(rng, 2 * n, male_share=0.8)
    return [str(p) for p in people[:n]], [str(p) for p in people[n:]]


def _addresses(rng: np.random.Generator, districts: list[str]) -> list[str]:
    roads = names.roads(rng, len(districts))
    numbers = rng.integers(1, 999, size=len(districts))
    return [f"杭州市{d}{r}{int(k)}号" for d, r, k in zip(districts, roads, numbers)]


def _qualifications(rng: np.random.Generator, codes: list[str], kinds: list[str]) -> list[tuple]:
    """(uscc, category, grade, scope, number, valid_from, valid_to): one to three per enterprise, 1 in 8 expired."""
    rows = []
    for code, kind in zip(codes, kinds):
        quals = KINDS[kind][2]
        k = min(len(quals), int(rng.integers(1, 4)))
        for j in rng.choice(len(quals), size=k, replace=False):
            category, grades = quals[int(j)]
            grade = grades[int(rng.integers(len(grades)))]
            expired = rng.random() < 0.125
            start = REF_DATE - timedelta(days=int(rng.integers(1900, 3000) if expired else rng.integers(30, 1800)))
            end = start + timedelta(days=5 * 365)
            number = f"D{int(rng.integers(130000000, 139999999))}"
            rows.append((code, category, grade, f"可承担{category}{grade}资质许可范围内的业务", number, start, end))
    return rows


def _load(conn: Connection, rows: list[tuple], quals: list[tuple]) -> int:
    """COPY into staging tables, then insert what the register does not hold yet; returns the new enterprises."""
    conn.execute(
        sa.text(
            "CREATE TEMP TABLE _stage_enterprises (uscc text, name text, types text[], legal_rep text, "
            "tech_lead text, address text, district text) ON COMMIT DROP"
        )
    )
    conn.execute(
        sa.text(
            "CREATE TEMP TABLE _stage_qualifications (uscc text, category text, grade text, scope text, number text, "
            "valid_from date, valid_to date) ON COMMIT DROP"
        )
    )
    raw = conn.connection.driver_connection
    assert raw is not None  # the caller's transaction runs on it
    with raw.cursor() as cur:
        with cur.copy("COPY _stage_enterprises FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)
        with cur.copy("COPY _stage_qualifications FROM STDIN") as cp:
            for q in quals:
                cp.write_row(q)
    added = conn.execute(
        sa.text(
            "WITH new AS (INSERT INTO enterprises (uscc, name, types, legal_rep, tech_lead, address, district, "
            "created_by, updated_by) SELECT s.*, :a, :a FROM _stage_enterprises s "
            "ON CONFLICT (uscc) DO NOTHING RETURNING id, uscc), "
            "q AS (INSERT INTO enterprise_qualifications (enterprise_id, category, grade, scope, number, valid_from, "
            "valid_to, created_by, updated_by) SELECT new.id, q.category, q.grade, q.scope, q.number, q.valid_from, "
            "q.valid_to, :a, :a FROM _stage_qualifications q JOIN new USING (uscc) "
            "ON CONFLICT (enterprise_id, number) DO NOTHING) SELECT count(*) FROM new"
        ),
        {"a": ACTOR},
    ).scalar_one()
    conn.execute(sa.text("DROP TABLE _stage_enterprises, _stage_qualifications"))
    return int(added)


def demo_enterprises(n: int = ENTERPRISES) -> tuple[list[tuple], list[tuple]]:
    """The 20,000 (rows of ``_stage_enterprises``; ``n`` at another scale) and their qualifications, from the fixed
    stream."""
    rng = np.random.default_rng(STREAM)
    codes_by_district = list(DISTRICTS.items())
    weights = np.array([3, 3, 3, 2.5, 2.5, 3, 1, 1, 1.5, 1.5, 0.5, 0.5, 0.5])
    picked = rng.choice(len(codes_by_district), size=n, p=weights / weights.sum())
    districts = [codes_by_district[i][1] for i in picked]
    regions = [codes_by_district[i][0] for i in picked]
    kinds_list = list(KINDS)
    shares = np.array([KINDS[k][0] for k in kinds_list])
    kinds = [kinds_list[i] for i in rng.choice(len(kinds_list), size=n, p=shares / shares.sum())]
    codes = _codes(rng, regions, n)
    enterprise_names = _names(rng, kinds, districts)
    legal, tech = _principals(rng, n)
    addresses = _addresses(rng, districts)
    extra = rng.random(n)
    rows = []
    for i in range(n):
        types = [kinds[i]]
        if kinds[i] == "construction" and extra[i] < 0.15:
            types.append("building_energy")
        elif kinds[i] == "supervision" and extra[i] < 0.3:
            types.append("cost_consulting")
        elif kinds[i] == "cost_consulting" and extra[i] < 0.4:
            types.append("bidding_agency")
        tech_lead = tech[i] if kinds[i] != "real_estate" else None
        rows.append((codes[i], enterprise_names[i], types, legal[i], tech_lead, addresses[i], districts[i]))
    return rows, _qualifications(rng, codes, kinds)


@seeder(order=3)
def seed_enterprises(conn: Connection, world: Any) -> dict:
    """The register's 20,000 enterprises (the same ones on every load: a second load adds none)."""
    held = conn.execute(sa.text("SELECT count(*) FROM enterprises WHERE created_by = :a"), {"a": ACTOR}).scalar_one()
    n = world.count(ENTERPRISES)
    if held >= n:
        return {"enterprises": 0}
    rows, quals = demo_enterprises(n)
    return {"enterprises": _load(conn, rows, quals)}


@seeder(order=11)
def seed_site_units(conn: Connection, world: Any) -> dict:
    """Every unit the site pins name (builder, construction unit, supervision unit) as an enterprise of the register,
    in the district where it has most sites, with the code the standardized-site demo records for it."""
    found = conn.execute(
        sa.text(
            "SELECT name, array_agg(DISTINCT kind ORDER BY kind), mode() WITHIN GROUP (ORDER BY district) FROM ("
            + " UNION ALL ".join(
                f"SELECT {column} AS name, '{kind}' AS kind, district FROM sites WHERE deleted_at IS NULL"
                for column, kind in SITE_UNITS
            )
            + ") u WHERE name IS NOT NULL GROUP BY name ORDER BY name"
        )
    ).all()
    if not found:
        return {"site_unit_enterprises": 0}
    rng = np.random.default_rng(STREAM + 1)
    legal, tech = _principals(rng, len(found))
    addresses = _addresses(rng, [d or "上城区" for _, _, d in found])
    codes = [site_unit_uscc(name) for name, _, _ in found]
    kinds = [sorted(kinds, key=list(KINDS).index)[0] for _, kinds, _ in found]
    rows = [
        (code, name, sorted(kinds_, key=list(KINDS).index), legal[i], tech[i], addresses[i], district)
        for i, (code, (name, kinds_, district)) in enumerate(zip(codes, found))
    ]
    return {"site_unit_enterprises": _load(conn, rows, _qualifications(rng, codes, kinds))}
