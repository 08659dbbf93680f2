"""Demo data of the personnel register: 100,000 persons at city volume, with registrations and employment.

Deterministic for a world seed (its own random stream). Each person has a resident ID number that python-stdnum
accepts: a Hangzhou region code that existed in the birth year (stdnum's own table decides: 西湖区 330106 only
from 1983, 桐庐县 330122 always …), the birth date, a sequence number whose parity is the gender of the generated
name, and the check character computed by ``stdnum.cn.ric``. Categories, phones, registrations (注册类别 and a
unique certificate number) follow; employment at enterprises of the enterprise register (order 3) when that
register is installed, else none. The standardized-site demo (order 15) adds its 200 experts through the expert
pool, which makes each of them a person here (matched on the ID number).

Loaded with COPY into staging tables and one ``INSERT … SELECT`` per table (100,000 persons in a few seconds). A
second run with the same seed finds the same ID numbers and keeps those persons (``ON CONFLICT DO NOTHING``); the
registrations and employment it made before are replaced.
"""

from __future__ import annotations

import io
from datetime import date, timedelta

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Connection
from stdnum.cn import ric

from etl import names
from geo.modules import seeder

PERSONS = 100_000
ACTOR = "demo"

# Hangzhou region codes of ID numbers and the district each belongs to today (stdnum checks the code was in use in
# the birth year; 330100 杭州市 always was).
REGIONS = {
    "330100": None,
    "330102": "上城区",
    "330103": "拱墅区",
    "330104": "上城区",
    "330105": "拱墅区",
    "330106": "西湖区",
    "330108": "滨江区",
    "330109": "萧山区",
    "330110": "余杭区",
    "330111": "富阳区",
    "330112": "临安区",
    "330121": "萧山区",
    "330122": "桐庐县",
    "330123": "富阳区",
    "330124": "临安区",
    "330125": "余杭区",
    "330127": "淳安县",
    "330181": "萧山区",
    "330182": "建德市",
    "330183": "富阳区",
    "330184": "余杭区",
    "330185": "临安区",
}
# (category mix, share): most people are site staff; a few are several things at once.
MIXES = (
    (("site_manager",), 0.30),
    (("safety_manager",), 0.18),
    (("project_manager", "registered"), 0.16),
    (("registered",), 0.17),
    (("principal",), 0.06),
    (("principal", "registered"), 0.03),
    (("site_manager", "safety_manager"), 0.05),
    (("expert", "registered"), 0.05),
)
REG_TYPES = ("一级建造师", "二级建造师", "注册监理工程师", "一级造价工程师", "注册安全工程师", "一级注册结构工程师")
ROLES = {
    "site_manager": "施工员",
    "safety_manager": "专职安全员",
    "project_manager": "项目经理",
    "registered": "技术负责人",
    "principal": "法定代表人",
    "expert": "总工程师",
}
SPECIALTIES = ("房屋建筑", "市政公用", "机电", "安全", "造价", "节能", "给排水", "电气", "结构", "岩土")
EXPERT_KINDS = ("bid_evaluation", "energy_review", "drawing_review")


def _regions_by_year(years: range) -> dict[int, list[str]]:
    """The region codes stdnum accepts for a birth in each year (probed with a number of that year)."""
    out: dict[int, list[str]] = {}
    for y in years:
        ok = []
        for code in REGIONS:
            body = f"{code}{y}0615001"
            if ric.is_valid(body + ric.calc_check_digit(body + "0")):
                ok.append(code)
        out[y] = ok
    return out


def _arr(values) -> str:
    return "{" + ",".join(values) + "}"


def make_persons(rng: np.random.Generator, n: int) -> list[dict]:
    male = rng.random(n) < 0.78
    full = np.where(male, names.person_names(rng, n, male_share=1.0), names.person_names(rng, n, male_share=0.0))
    regions = _regions_by_year(range(1960, 2001))
    first = date(1960, 1, 1)
    days = [first + timedelta(days=d) for d in range(14976)]  # 1960-01-01 … 2000-12-31
    stamps = [d.strftime("%Y%m%d") for d in days]
    born = rng.integers(0, len(days), n).tolist()
    pick = rng.integers(0, 10**6, n).tolist()
    seqs = (rng.integers(0, 500, n) * 2 + male).tolist()  # odd: a man
    mix_p = np.array([s for _, s in MIXES])
    mixes = rng.choice(len(MIXES), n, p=mix_p / mix_p.sum()).tolist()
    phones = rng.integers(0, 10**9, n).tolist()
    prefixes = rng.choice([3, 5, 7, 8, 9], n).tolist()
    spec = rng.integers(0, len(SPECIALTIES), (n, 2)).tolist()
    full = full.tolist()
    seen: set[str] = set()
    out = []
    for i in range(n):
        d = days[born[i]]
        codes = regions[d.year]
        code = codes[pick[i] % len(codes)]
        seq = seqs[i]
        body = f"{code}{stamps[born[i]]}{seq:03d}"
        while body in seen:  # the same region, day and number drawn twice: the next number of the same gender
            seq = (seq + 2) % 1000
            body = f"{code}{stamps[born[i]]}{seq:03d}"
        seen.add(body)
        cats = MIXES[mixes[i]][0]
        expert = "expert" in cats
        out.append(
            {
                "id_number": body + ric.calc_check_digit(body + "0"),
                "name": full[i],
                "phone": f"1{prefixes[i]}{phones[i]:09d}",
                "categories": sorted(cats),
                "district": REGIONS[code] or ("上城区", "拱墅区", "西湖区", "滨江区")[i % 4],
                "expert_kinds": [EXPERT_KINDS[i % len(EXPERT_KINDS)]] if expert else [],
                "specialties": sorted({SPECIALTIES[k] for k in spec[i]}) if expert else [],
                "born": d,
            }
        )
    return out


def _copy_text(value: str | None) -> str:
    """A value for COPY's text format (\\N for none; backslash, tab and newline escaped)."""
    if value is None:
        return "\\N"
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _copy(conn: Connection, table: str, columns: tuple[str, ...], lines: list[str]) -> None:
    cur = conn.connection.driver_connection.cursor()
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        buf = io.StringIO()
        for k, line in enumerate(lines):
            buf.write(line)
            if k % 20_000 == 19_999:
                cp.write(buf.getvalue())
                buf = io.StringIO()
        cp.write(buf.getvalue())


@seeder(order=4)
def seed_persons(conn: Connection, world) -> dict:
    rng = world.rng("persons")
    people = make_persons(rng, world.count(PERSONS))
    conn.execute(sa.text("DELETE FROM person_registrations WHERE created_by = :a"), {"a": ACTOR})
    conn.execute(sa.text("DELETE FROM person_employment WHERE created_by = :a"), {"a": ACTOR})
    conn.execute(
        sa.text("""
        CREATE TEMP TABLE demo_persons (
            id_number text, name text, phone text, categories text[], district text, expert_kinds text[],
            specialties text[]
        ) ON COMMIT DROP
    """)
    )
    _copy(
        conn,
        "demo_persons",
        ("id_number", "name", "phone", "categories", "district", "expert_kinds", "specialties"),
        [
            "\t".join(
                (
                    p["id_number"],
                    p["name"],
                    p["phone"],
                    _arr(p["categories"]),
                    p["district"],
                    _arr(p["expert_kinds"]),
                    _arr(p["specialties"]),
                )
            )
            + "\n"
            for p in people
        ],
    )
    created = conn.execute(
        sa.text("""
        INSERT INTO persons (id_number, name, phone, categories, district, expert_kinds, specialties,
                             created_by, updated_by)
        SELECT id_number, name, phone, categories, district, expert_kinds, specialties, :a, :a FROM demo_persons
        ON CONFLICT (id_number) DO NOTHING
    """),
        {"a": ACTOR},
    ).rowcount
    # Registrations: every registered practitioner and project manager holds one certificate.
    regs = []
    for i, p in enumerate(people):
        if "registered" in p["categories"] or "project_manager" in p["categories"]:
            kind = REG_TYPES[0] if "project_manager" in p["categories"] else REG_TYPES[i % len(REG_TYPES)]
            valid = date(2025, 1, 1) + timedelta(days=int(rng.integers(0, 365 * 5)))
            regs.append(f"{p['id_number']}\t{kind}\t浙{133 + i % 7}{i:08d}\t{valid.isoformat()}\n")
    conn.execute(
        sa.text(
            "CREATE TEMP TABLE demo_regs (id_number text, reg_type text, reg_no text, valid_to date) ON COMMIT DROP"
        )
    )
    _copy(conn, "demo_regs", ("id_number", "reg_type", "reg_no", "valid_to"), regs)
    n_regs = conn.execute(
        sa.text("""
        INSERT INTO person_registrations (person_id, reg_type, reg_no, valid_to, created_by, updated_by)
        SELECT p.id, r.reg_type, r.reg_no, r.valid_to, :a, :a FROM demo_regs r JOIN persons p USING (id_number)
        ON CONFLICT (reg_type, reg_no) DO NOTHING
    """),
        {"a": ACTOR},
    ).rowcount
    n_jobs = _employment(conn, rng, people)
    return {"persons": created, "person_registrations": n_regs, "person_employment": n_jobs}


def _employment(conn: Connection, rng: np.random.Generator, people: list[dict]) -> int:
    """One or two jobs each (the last one current) at enterprises of the enterprise register, if installed."""
    if not conn.execute(sa.text("SELECT to_regclass('enterprises') IS NOT NULL")).scalar():
        return 0
    firms = [(u, _copy_text(nm)) for u, nm in conn.execute(sa.text("SELECT uscc, name FROM enterprises ORDER BY id"))]
    if not firms:
        return 0
    n = len(people)
    two = (rng.random(n) < 0.4).tolist()  # changed employer once
    share = rng.random(n).tolist()  # where in the career the change happened
    firm = rng.integers(0, len(firms), (n, 2)).tolist()
    career_end = date(2026, 12, 1)
    lines = []
    for i, p in enumerate(people):
        start = date(max(p["born"].year + 22, 1985), 7, 1)
        role = ROLES[p["categories"][0]]
        uscc, name = firms[firm[i][0]]
        if two[i]:
            change = start + timedelta(days=1 + int(share[i] * ((career_end - start).days - 1)))
            lines.append(f"{p['id_number']}\t{uscc}\t{name}\t{role}\t{start}\t{change - timedelta(days=1)}\n")
            uscc, name = firms[firm[i][1]]
            start = change
        lines.append(f"{p['id_number']}\t{uscc}\t{name}\t{role}\t{start}\t\\N\n")
    conn.execute(
        sa.text("""
        CREATE TEMP TABLE demo_jobs (id_number text, enterprise_uscc text, enterprise_name text, role text,
                                     started_on date, ended_on date) ON COMMIT DROP
    """)
    )
    _copy(
        conn, "demo_jobs", ("id_number", "enterprise_uscc", "enterprise_name", "role", "started_on", "ended_on"), lines
    )
    return conn.execute(
        sa.text("""
        INSERT INTO person_employment (person_id, enterprise_uscc, enterprise_name, role, started_on, ended_on,
                                       created_by, updated_by)
        SELECT p.id, j.enterprise_uscc, j.enterprise_name, j.role, j.started_on, j.ended_on, :a, :a
        FROM demo_jobs j JOIN persons p USING (id_number)
    """),
        {"a": ACTOR},
    ).rowcount
