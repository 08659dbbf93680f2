"""A small drawing-review world for the query and statistics tests (DR-10…12): enterprises, three agencies of its own
(so that the tests count only their own rows by filtering on them), applications in review and reviewed, with review
rounds placed around official holidays (国庆 2025, 清明 and 劳动节 2025), written directly by the schema owner (the
flow's routes are another slice's). ``python_working_days`` is the independent count: ``chinese_calendar``."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import sqlalchemy as sa
from stdnum.cn import uscc as uscc_code

SHANGHAI = ZoneInfo("Asia/Shanghai")
PREFIX = "统计测试"


def at(text: str) -> datetime:
    """A Beijing time ``YYYY-MM-DD HH:MM``."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def python_working_days(start: datetime, stop: datetime) -> int:
    """Working days d with start < d <= stop (Beijing days), by chinese_calendar — independent of the database."""
    a, b = start.astimezone(SHANGHAI).date(), stop.astimezone(SHANGHAI).date()
    return sum(chinese_calendar.is_workday(a + timedelta(days=i)) for i in range(1, (b - a).days + 1))


def natural_days(start: datetime, stop: datetime) -> int:
    return (stop.astimezone(SHANGHAI).date() - start.astimezone(SHANGHAI).date()).days


def make_uscc(seed: int) -> str:
    body = f"91330100{seed:09d}"
    return body + uscc_code.calc_check_digit(body)


# Each application: (key, district, agency, status, grade, category, designer, submitted, accepted, rounds,
# concluded, conclusion, certified). A round: (started, opinion or None, result or None, replied or None).
APPLICATIONS = [
    (
        "R1",
        "西湖区",
        "A1",
        "certified",
        "一类",
        "房屋建筑",
        "D1",
        "2025-09-20 10:00",
        "2025-09-26 09:00",
        [
            ("2025-09-26 09:00", "2025-10-15 16:00", "modify", "2025-10-20 11:00"),  # across 国庆 and its 调休
            ("2025-10-20 11:00", "2025-10-24 15:00", "passed", None),
        ],
        "2025-10-24 15:00",
        "合格",
        "2025-10-28 10:00",
    ),
    (
        "R2",
        "上城区",
        "A1",
        "failed",
        "一类",
        "市政基础设施",
        "D2",
        "2025-02-25 10:00",
        "2025-03-03 09:30",
        [
            ("2025-03-03 09:30", "2025-03-14 17:00", "modify", "2025-03-21 09:00"),
            ("2025-03-21 09:00", "2025-03-28 17:00", "modify", "2025-04-03 09:00"),
            ("2025-04-03 09:00", "2025-04-10 17:00", "modify", "2025-04-15 09:00"),  # across 清明
            ("2025-04-15 09:00", "2025-04-25 17:00", "modify", "2025-04-30 09:00"),
            ("2025-04-30 09:00", "2025-05-09 17:00", "failed", None),  # across 劳动节
        ],
        "2025-05-09 17:00",
        "不合格",
        None,
    ),
    (
        "R3",
        "西湖区",
        "A1",
        "passed",
        "二类",
        "房屋建筑",
        "D1",
        "2026-01-02 10:00",
        "2026-01-05 09:00",
        [("2026-01-05 09:00", "2026-01-20 17:00", "passed", None)],
        "2026-01-20 17:00",
        "合格",
        None,
    ),
    (
        "I1",
        "滨江区",
        "A1",
        "reviewing",
        "二类",
        "房屋建筑",
        "D1",
        "2026-10-28 10:00",
        "2026-11-02 09:00",
        [("2026-11-02 09:00", None, None, None)],
        None,
        None,
        None,
    ),
    (
        "I2",
        "西湖区",
        None,
        "submitted",
        "三类",
        "房屋建筑",
        "D2",
        "2026-11-20 10:00",
        None,
        [],
        None,
        None,
        None,
    ),
    (
        "I3",
        "拱墅区",
        "A1",
        "replying",
        "三类",
        "市政基础设施",
        "D2",
        "2026-09-01 10:00",
        "2026-09-03 09:00",
        [("2026-09-03 09:00", "2026-09-30 17:00", "modify", None)],
        None,
        None,
        None,
    ),
    (
        "C1",
        "建德市",
        "A2",
        "certified",
        "三类",
        "房屋建筑",
        "D1",
        "2026-04-01 10:00",
        "2026-04-03 09:00",
        [
            ("2026-04-03 09:00", "2026-04-14 17:00", "modify", "2026-04-20 09:00"),
            ("2026-04-20 09:00", "2026-04-29 17:00", "passed", None),
        ],
        "2026-04-29 17:00",
        "合格",
        "2026-05-08 10:00",
    ),
    (
        "C2",
        "建德市",
        "A2",
        "reviewing",
        "二类",
        "房屋建筑",
        "D2",
        "2026-11-10 10:00",
        "2026-11-12 09:00",
        [("2026-11-12 09:00", None, None, None)],
        None,
        None,
        None,
    ),
]
UNITS = {
    "B1": ("统计测试建设集团有限公司", 1, ["builder"]),
    "D1": ("统计测试甲级建筑设计研究院有限公司", 2, ["designer"]),
    "D2": ("统计测试市政设计有限公司", 3, ["designer"]),
    "S1": ("统计测试勘察院有限公司", 4, ["surveyor"]),
    "A1": ("统计测试施工图审查中心有限公司", 5, ["review_agency"]),
    "A2": ("统计测试建德图审有限公司", 6, ["review_agency"]),
    "A3": ("统计测试远期图审有限公司", 7, ["review_agency"]),
}


def _types(conn) -> set[str]:
    text = conn.execute(
        sa.text("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'enterprises_types_known'")
    ).scalar()
    return {t for t in ("builder", "designer", "surveyor", "review_agency") if f"'{t}'" in (text or "")}


def build(engine) -> dict:
    """Writes the world (once per database: it is found again by its agencies' codes); returns the ids and data."""
    with engine.begin() as conn:
        known = _types(conn)
        units = {}
        for key, (name, seed, types) in UNITS.items():
            code = make_uscc(880_000 + seed)
            conn.execute(
                sa.text(
                    "INSERT INTO enterprises (uscc, name, types, district, created_by) "
                    "VALUES (:u, :n, CAST(:t AS text[]), '西湖区', 'test') ON CONFLICT (uscc) DO NOTHING"
                ),
                {"u": code, "n": name, "t": [t for t in types if t in known]},
            )
            units[key] = code
        agencies = {}
        for key in ("A1", "A2", "A3"):
            conn.execute(
                sa.text(
                    "INSERT INTO dr_agencies (uscc, district, created_by) VALUES (:u, '西湖区', 'test') "
                    "ON CONFLICT (uscc) DO NOTHING"
                ),
                {"u": units[key]},
            )
            agencies[key] = conn.execute(
                sa.text("SELECT id FROM dr_agencies WHERE uscc = :u"), {"u": units[key]}
            ).scalar()
        apps = {}
        for spec in APPLICATIONS:
            apps[spec[0]] = insert_application(conn, spec, units, agencies)
    return {"units": units, "agencies": agencies, "apps": apps}


def insert_application(conn, spec, units: dict, agencies: dict) -> dict:
    """One application with its pin and rounds; returns its id and the spec as data."""
    (
        key,
        district,
        agency,
        status,
        grade,
        category,
        designer,
        submitted,
        accepted,
        rounds,
        concluded,
        conclusion,
        cert,
    ) = spec
    number = f"TJCS-{key}-{agencies['A1']}"
    found = conn.execute(sa.text("SELECT id FROM dr_applications WHERE application_no = :n"), {"n": number}).scalar()
    data = {
        "key": key,
        "name": f"{PREFIX}{key}项目",
        "district": district,
        "agency": agency,
        "status": status,
        "grade": grade,
        "category": category,
        "designer": designer,
        "submitted": at(submitted),
        "accepted": at(accepted) if accepted else None,
        "rounds": [
            {
                "started": at(s),
                "opinion": at(o) if o else None,
                "result": r,
                "replied": at(p) if p else None,
            }
            for s, o, r, p in rounds
        ],
        "concluded": at(concluded) if concluded else None,
        "conclusion": conclusion,
        "certified": at(cert) if cert else None,
        "above": 1000.0 + len(key) * 10 + ord(key[-1]),
        "below": 200.0 + ord(key[-1]),
    }
    if found is not None:
        data["id"] = found
        return data
    pin = conn.execute(
        sa.text(
            "INSERT INTO review_projects (geom, code, name, district, status) "
            "VALUES (ST_SetSRID(ST_MakePoint(120.1, 30.2), 4326), :c, :n, :d, '审查中') RETURNING id"
        ),
        {"c": f"2025-330106-47-01-{abs(hash(number)) % 1_000_000:06d}", "n": data["name"], "d": district},
    ).scalar()
    app_id = conn.execute(
        sa.text("""
            INSERT INTO dr_applications (application_no, review_project_id, project_code, name, submission_name,
                builder_uscc, designer_uscc, surveyor_uscc, agency_id, review_category, grade, contents,
                floor_area_m2, above_ground_m2, below_ground_m2, district, status, round_no, submitted_at, drawn_at,
                accepted_at, concluded_at, conclusion, certificate_no, certified_at, created_by)
            VALUES (:no, :pin, :code, :name, :sub, :b, :d, :s, :ag, :cat, :grade, ARRAY['general', 'fire'],
                :area, :above, :below, :district, :status, :round_no, :submitted, :submitted, :accepted, :concluded,
                :conclusion, :cert_no, :cert, 'test')
            RETURNING id
        """),
        {
            "no": number,
            "pin": pin,
            "code": f"2025-330106-47-01-{pin:06d}",
            "name": data["name"],
            "sub": f"{data['name']}施工图",
            "b": units["B1"],
            "d": units[designer],
            "s": units["S1"],
            "ag": agencies[agency] if agency else None,
            "cat": category,
            "grade": grade,
            "area": data["above"] + data["below"],
            "above": data["above"],
            "below": data["below"],
            "district": district,
            "status": status,
            "round_no": len(rounds),
            "submitted": data["submitted"],
            "accepted": data["accepted"],
            "concluded": data["concluded"],
            "conclusion": conclusion,
            "cert_no": f"HG-{number}" if cert else None,
            "cert": data["certified"],
        },
    ).scalar()
    for n, r in enumerate(data["rounds"], start=1):
        conn.execute(
            sa.text("""
                INSERT INTO dr_rounds (application_id, review_project_id, round_no, started_at, opinion_at, result,
                    replied_at, district, created_by)
                VALUES (:a, :pin, :n, :s, :o, :r, :p, :d, 'test')
            """),
            {
                "a": app_id,
                "pin": pin,
                "n": n,
                "s": r["started"],
                "o": r["opinion"],
                "r": r["result"],
                "p": r["replied"],
                "d": district,
            },
        )
    data["id"] = app_id
    return data


def remove_application(engine, app_id: int) -> None:
    with engine.begin() as conn:
        pin = conn.execute(
            sa.text("SELECT review_project_id FROM dr_applications WHERE id = :i"), {"i": app_id}
        ).scalar()
        conn.execute(sa.text("DELETE FROM dr_applications WHERE id = :i"), {"i": app_id})
        conn.execute(sa.text("DELETE FROM review_projects WHERE id = :i"), {"i": pin})
