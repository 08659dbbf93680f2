"""The drawing review's test world (tests/test_dr_*.py): enterprises of the register (builders, design units,
agencies of the city and of 建德市), their organisations and accounts, the departments' co-reviewers, district staff,
the acceptance windows, the city supervisor, and a project of the register. Written by the schema owner, idempotent
(every module builds it; rows are found again by their credit codes and user names)."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime

import sqlalchemy as sa

from layers.standard_sites.demo import uscc_for
from tests.conftest import make_user
from tests.st_world import centre

UNITS = {  # key: (name, enterprise type, organisation kind, district)
    "builder": ("联审测试建设集团有限公司", "real_estate", "enterprise", "西湖区"),
    "designer": ("联审测试建筑设计研究院有限公司", "survey_design", "enterprise", "西湖区"),
    "agency": ("联审测试施工图审查中心有限公司", "review_agency", "review_agency", "西湖区"),
    "jd_builder": ("建德联审测试置业有限公司", "real_estate", "enterprise", "建德市"),
    "jd_designer": ("建德联审测试设计院有限公司", "survey_design", "enterprise", "建德市"),
    "jd_agency": ("建德联审测试图审有限公司", "review_agency", "review_agency", "建德市"),
    "other_builder": ("联审测试无关开发有限公司", "real_estate", "enterprise", "滨江区"),
}
DEPARTMENTS = {  # key: (organisation name, district)
    "fire": ("杭州市消防救援支队（联审测试）", None),
    "civil_defence": ("杭州市人防办（联审测试）", None),
    "jd_fire": ("建德市消防救援大队（联审测试）", "建德市"),
}
# username: (roles, unit or department key, district)
ACCOUNTS = {
    "dr-builder": (["builder"], "builder", None),
    "dr-designer": (["design_unit"], "designer", None),
    "dr-agency": (["review_agency"], "agency", None),
    "dr-jd-builder": (["builder"], "jd_builder", None),
    "dr-jd-designer": (["design_unit"], "jd_designer", None),
    "dr-jd-agency": (["review_agency"], "jd_agency", None),
    "dr-other-builder": (["builder"], "other_builder", None),
    "dr-fire": (["co_reviewer"], "fire", None),
    "dr-civil": (["co_reviewer"], "civil_defence", None),
    "dr-jd-fire": (["co_reviewer"], "jd_fire", None),
    "dr-city": (["city_supervisor"], None, None),
    "dr-window": (["review_window"], None, None),
    "dr-jd-window": (["review_window"], None, "建德市"),
    "dr-jd-staff": (["district_staff"], None, "建德市"),
    "dr-ca-staff": (["district_staff"], None, "淳安县"),
}
_serial = itertools.count(int(time.time()) % 500_000 + 1)


def uscc(key: str) -> str:
    return uscc_for(f"dr-test-{key}")


def build(engine) -> dict:
    out: dict = {"uscc": {}, "org": {}, "agency_id": {}, "headers": {}, "user_id": {}}
    with engine.begin() as conn:
        for key, (name, etype, org_kind, district) in UNITS.items():
            code = uscc(key)
            out["uscc"][key] = code
            conn.execute(
                sa.text(
                    "INSERT INTO enterprises (uscc, name, types, district) VALUES (:u, :n, ARRAY[:t], :d) "
                    "ON CONFLICT (uscc) DO NOTHING"
                ),
                {"u": code, "n": name, "t": etype, "d": district},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO organisations (name, kind, uscc, district) VALUES (:n, :k, :u, :d) "
                    "ON CONFLICT (uscc) DO NOTHING"
                ),
                {"n": name, "k": org_kind, "u": code, "d": district},
            )
            out["org"][key] = conn.execute(
                sa.text("SELECT id FROM organisations WHERE uscc = :u"), {"u": code}
            ).scalar()
            if etype == "review_agency":
                conn.execute(
                    sa.text("INSERT INTO dr_agencies (uscc, district) VALUES (:u, :d) ON CONFLICT (uscc) DO NOTHING"),
                    {"u": code, "d": district},
                )
                out["agency_id"][key] = conn.execute(
                    sa.text("SELECT id FROM dr_agencies WHERE uscc = :u"), {"u": code}
                ).scalar()
        for key, (name, district) in DEPARTMENTS.items():
            found = conn.execute(sa.text("SELECT id FROM organisations WHERE name = :n"), {"n": name}).scalar()
            if found is None:
                found = conn.execute(
                    sa.text(
                        "INSERT INTO organisations (name, kind, district) VALUES (:n, 'department', :d) RETURNING id"
                    ),
                    {"n": name, "d": district},
                ).scalar()
            out["org"][key] = found
        out["centre"] = {d: centre(conn, d) for d in ("西湖区", "建德市", "淳安县")}
    for username, (roles, org, district) in ACCOUNTS.items():
        out["headers"][username] = make_user(
            username, roles, district=district, org_id=out["org"][org] if org else None
        )
    with engine.connect() as conn:
        out["user_id"] = dict(
            conn.execute(
                sa.text("SELECT username, id FROM users WHERE username = ANY(:u)"), {"u": list(ACCOUNTS)}
            ).all()
        )
    return out


def register_project(engine, world: dict, district: str = "西湖区", builder: str = "builder") -> dict:
    """A project of the register (its point: the district's centre) built by ``builder``."""
    division = {"西湖区": "330106", "建德市": "330182", "淳安县": "330127"}[district]
    code = f"2025-{division}-47-01-{next(_serial):06d}"
    lon, lat = world["centre"][district]
    with engine.begin() as conn:
        pid = conn.execute(
            sa.text(
                "INSERT INTO projects (code, project_code, name, district, builder_name, builder_uscc, geom) "
                "VALUES (:c, :c, :n, :d, :bn, :bu, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) RETURNING id"
            ),
            {"c": code, "n": f"联审测试项目{code[-6:]}", "d": district, "bn": UNITS[builder][0],
             "bu": world["uscc"][builder], "x": lon, "y": lat},
        ).scalar()  # fmt: skip
    return {"id": pid, "code": code, "lon": lon, "lat": lat}


def free_code(district: str = "建德市") -> str:
    """A project code of the right shape that the register does not hold."""
    division = {"西湖区": "330106", "建德市": "330182", "淳安县": "330127"}[district]
    return f"2025-{division}-48-02-{next(_serial):06d}"


def application(world: dict, code: str, county: bool = False, **over) -> dict:
    prefix = "jd_" if county else ""
    body = {
        "project_code": code,
        "name": "建德市新安江滨江住宅小区" if county else "西湖区文二路综合楼",
        "submission_name": "一期施工图" if not county else "住宅小区施工图（全套）",
        "builder_uscc": world["uscc"][f"{prefix}builder"],
        "designer_uscc": world["uscc"][f"{prefix}designer"],
        "review_category": "房屋建筑",
        "grade": "二类",
        "contents": ["general", "fire"],
        "floor_area_m2": 12_500.0,
        "investment_wan": 8_600.0,
        "buildings": [
            {"name": "1#楼", "floors": 18, "height_m": 54.0, "structure": "剪力墙",
             "disciplines": ["architecture", "structure", "fire"]},
            {"name": "地下室", "floors": -1, "disciplines": ["structure", "civil_defence"]},
        ],
    }  # fmt: skip
    if county:
        body["lon"], body["lat"] = world["centre"]["建德市"]
    return {**body, **over}


def principal(username: str):
    from api.auth import load_user
    from geo.db import transaction

    with transaction() as conn:
        uid = conn.execute(sa.text("SELECT id FROM users WHERE username = :u"), {"u": username}).scalar()
        return load_user(conn, uid)


def draw(app_id: int, agency_id: int, window: str = "dr-window") -> dict:
    """The lottery's step, as the contract says until it lands: the ``draw`` action with the agency."""
    from geo.db import transaction
    from layers.drawing_review.process import MACHINE

    who = principal(window)
    with transaction(who.scope) as conn:
        return MACHINE.apply(conn, app_id, "draw", who, None, {"agency_id": agency_id, "drawn_at": datetime.now(UTC)})
