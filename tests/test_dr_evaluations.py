"""Drawing review evaluations (DR-08, DR-09): the builder's rating of its agency (only the builder, a reason when
unsatisfied, once per stage), the agency's scores of the design and survey units against the scoring standard
(deductions within the item's maximum and explained, the grades, an explanation under 60), the configurable
standard (versioned, audited), the summaries by agency and by unit computed again here, their Excel export, and the
credit events both kinds of evaluation write. Applications are inserted as rows (with their pins), the enterprises
go through the register, the accounts are real."""

from __future__ import annotations

import io
import re
import secrets
from collections import defaultdict
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from stdnum.cn import uscc as uscc_mod

from tests.conftest import chromium, make_user

API = "/api/review/evaluations"
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
GRADES = ("优", "良", "合格", "不合格")


def new_uscc() -> str:
    body = "91330106" + "".join(secrets.choice(ALPHABET) for _ in range(9))
    return body + uscc_mod.calc_check_digit(body)


def q(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params)


def scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def new_application(engine, tag: str, district: str, ent: dict, agency_id: int, status: str, rounds: int,
                    opened: int = 0, surveyor: bool = True, designer: str = "D1") -> dict:  # fmt: skip
    """A pin and an application in ``status`` with ``rounds`` concluded rounds (and ``opened`` more started)."""
    no = f"SGT-EV-{tag}-{secrets.token_hex(3)}"
    with engine.begin() as conn:
        pin = conn.execute(
            sa.text(
                "INSERT INTO review_projects (geom, code, name, district, status) VALUES "
                "(ST_SetSRID(ST_MakePoint(120.15, 30.27), 4326), :code, :name, :d, '审查中') RETURNING id"
            ),
            {"code": no, "name": f"评价测试项目{tag}", "d": district},
        ).scalar_one()
        concluded = status in ("passed", "failed", "certified")
        app_id = conn.execute(
            sa.text(
                "INSERT INTO dr_applications (application_no, review_project_id, project_code, name, submission_name, "
                "builder_uscc, designer_uscc, surveyor_uscc, agency_id, review_category, grade, contents, district, "
                "status, round_no, submitted_at, accepted_at, concluded_at, conclusion, certified_at, certificate_no) "
                "VALUES (:no, :pin, :code, :name, :name, :b, :d, :s, :ag, '房屋建筑', '二类', ARRAY['general'], "
                ":district, :status, :rounds, now() - interval '60 days', now() - interval '50 days', "
                ":concluded_at, :conclusion, :certified_at, :cert) RETURNING id"
            ),
            {
                "no": no,
                "pin": pin,
                "code": f"2026-330106-47-01-{secrets.randbelow(10**6):06d}",
                "name": f"评价测试项目{tag}",
                "b": ent["B1"],
                "d": ent[designer],
                "s": ent["S1"] if surveyor else None,
                "ag": agency_id,
                "district": district,
                "status": status,
                "rounds": rounds + opened,
                "concluded_at": datetime.now(UTC) if concluded else None,
                "conclusion": ("不合格" if status == "failed" else "合格") if concluded else None,
                "certified_at": datetime.now(UTC) if status == "certified" else None,
                "cert": f"HG-{no}" if status == "certified" else None,
            },
        ).scalar_one()
        for n in range(1, rounds + opened + 1):
            done = n <= rounds
            conn.execute(
                sa.text(
                    "INSERT INTO dr_rounds (application_id, review_project_id, round_no, started_at, opinion_at, "
                    "result, district) VALUES (:a, :pin, :n, now() - interval '40 days' + (:n * interval '5 days'), "
                    "CASE WHEN :done THEN now() - interval '38 days' + (:n * interval '5 days') END, "
                    "CASE WHEN :done THEN :result END, :d)"
                ),
                {"a": app_id, "pin": pin, "n": n, "done": done, "d": district,
                 "result": "modify" if n < rounds or status not in ("passed", "certified", "failed") else
                 {"failed": "failed"}.get(status, "passed")},
            )  # fmt: skip
    return {"id": app_id, "pin": pin, "no": no, "district": district}


@pytest.fixture(scope="module")
def world(engine, app):
    from fastapi.testclient import TestClient

    from tests.conftest import ADMIN

    names = {
        "B1": "杭州评测建设开发有限公司",
        "B2": "杭州另一建设开发有限公司",
        "D1": "杭州评测建筑设计研究院有限公司",
        "D2": "建德评测设计有限公司",
        "S1": "杭州评测勘察有限公司",
        "A1": "杭州评测施工图审查中心有限公司",
        "A2": "建德评测施工图审查有限公司",
    }
    ent: dict[str, str] = {}
    with TestClient(app) as c:
        for key, name in names.items():
            code = new_uscc()
            r = c.post("/api/registers/enterprises", headers=ADMIN, json={"uscc": code, "name": f"{name}{code[-4:]}"})
            assert r.status_code == 201, r.text
            ent[key] = code
    orgs, agencies = {}, {}
    with engine.begin() as conn:
        for key in ("B1", "B2", "D1", "A1", "A2"):
            kind = "review_agency" if key.startswith("A") else "enterprise"
            orgs[key] = conn.execute(
                sa.text("INSERT INTO organisations (name, kind, uscc) VALUES (:n, :k, :u) RETURNING id"),
                {"n": names[key], "k": kind, "u": ent[key]},
            ).scalar_one()
        for key in ("A1", "A2"):
            agencies[key] = conn.execute(
                sa.text("INSERT INTO dr_agencies (uscc, district) VALUES (:u, NULL) RETURNING id"), {"u": ent[key]}
            ).scalar_one()
    apps = {
        "cert": new_application(engine, "cert", "西湖区", ent, agencies["A1"], "certified", 2),
        "open": new_application(engine, "open", "西湖区", ent, agencies["A1"], "reviewing", 0, opened=1),
        "j1": new_application(engine, "j1", "建德市", ent, agencies["A2"], "certified", 1, surveyor=False,
                              designer="D2"),
        "j2": new_application(engine, "j2", "建德市", ent, agencies["A2"], "failed", 1),
        "x1": new_application(engine, "x1", "拱墅区", ent, agencies["A1"], "passed", 3),
    }  # fmt: skip
    pins = [a["pin"] for a in apps.values()]
    tag = secrets.token_hex(3)
    users = {
        "builder": make_user(f"dr-ev-builder-{tag}", ["builder"], grants={"review_projects": pins},
                             org_id=orgs["B1"]),
        "other_builder": make_user(f"dr-ev-builder2-{tag}", ["builder"], grants={"review_projects": pins},
                                   org_id=orgs["B2"]),
        "designer": make_user(f"dr-ev-designer-{tag}", ["design_unit"], grants={"review_projects": pins},
                              org_id=orgs["D1"]),
        "agency": make_user(f"dr-ev-agency-{tag}", ["review_agency"], grants={"review_projects": pins},
                            org_id=orgs["A1"]),
        "agency2": make_user(f"dr-ev-agency2-{tag}", ["review_agency"], grants={"review_projects": pins},
                             org_id=orgs["A2"]),
        "city": make_user(f"dr-ev-city-{tag}", ["city_supervisor"]),
        "jiande": make_user(f"dr-ev-jiande-{tag}", ["district_staff"], district="建德市"),
    }  # fmt: skip
    return {"ent": ent, "names": names, "agencies": agencies, "apps": apps, "users": users}


def rate(client, world, who: str, app: str, stage: str = "round", round_no: int | None = 1, **body):
    payload = {"application_id": world["apps"][app]["id"], "stage": stage, "satisfied": True, **body}
    if round_no is not None:
        payload["round_no"] = round_no
    return client.post(f"{API}/ratings", headers=world["users"][who], json=payload)


def items_by_code(client, world) -> dict:
    r = client.get(f"{API}/items", headers=world["users"]["agency"])
    assert r.status_code == 200, r.text
    return {i["code"]: i for i in r.json()["items"]}


def score(client, world, who: str, app: str, unit_role: str = "design", deductions=(), **body):
    payload = {"application_id": world["apps"][app]["id"], "unit_role": unit_role, "deductions": list(deductions),
               **body}  # fmt: skip
    return client.post(f"{API}/scores", headers=world["users"][who], json=payload)


def ratings_of(engine, app_id: int) -> int:
    return scalar(engine, "SELECT count(*) FROM dr_ratings WHERE application_id = :a", a=app_id)


def scores_of(engine, app_id: int) -> int:
    return scalar(engine, "SELECT count(*) FROM dr_scores WHERE application_id = :a", a=app_id)


def events(engine, source: str, source_id: int) -> list[dict]:
    rows = q(engine, "SELECT * FROM credit_events WHERE source = :s AND source_id = :i", s=source, i=source_id)
    return [dict(r) for r in rows.mappings()]


# -- DR-08 rating ------------------------------------------------------------------------------------------------


def test_rating_rules(client, world, engine):
    cert = world["apps"]["cert"]
    before = ratings_of(engine, cert["id"])
    r = rate(client, world, "builder", "cert", satisfied=False)
    assert r.status_code == 422 and r.json()["code"] == "reason_required" and r.json()["field"] == "reason", r.text
    assert "原因" in r.json()["message"]
    r = rate(client, world, "builder", "cert", satisfied=False, reason="   ")
    assert r.status_code == 422 and r.json()["code"] == "reason_required"
    r = rate(client, world, "other_builder", "cert")
    assert r.status_code == 403 and r.json()["code"] == "not_the_builder", r.text
    assert "建设单位" in r.json()["message"]
    for who in ("designer", "agency", "city"):  # no review.rate (or not the builder)
        r = rate(client, world, who, "cert")
        assert r.status_code == 403, (who, r.text)
    r = rate(client, world, "builder", "cert", round_no=3)
    assert r.status_code == 409 and r.json()["code"] == "stage_not_reached", r.text
    r = rate(client, world, "builder", "open", round_no=1)
    assert r.status_code == 409 and r.json()["code"] == "stage_not_reached"
    r = rate(client, world, "builder", "open", stage="certificate", round_no=None)
    assert r.status_code == 409 and r.json()["code"] == "stage_not_reached"
    r = rate(client, world, "builder", "cert", round_no=None)
    assert r.status_code == 422 and r.json()["field"] == "round_no"
    r = rate(client, world, "builder", "cert", agency_id=world["agencies"]["A2"])  # the agency is not chosen
    assert r.status_code == 422 and r.json()["field"] == "agency_id", r.text
    assert ratings_of(engine, cert["id"]) == before  # nothing stored by any refusal

    r = rate(client, world, "builder", "cert", round_no=1)
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["result"] == "满意" and first["agency_id"] == world["agencies"]["A1"]
    assert first["agency_name"].startswith(world["names"]["A1"])
    r = rate(client, world, "builder", "cert", round_no=1, satisfied=False, reason="再评一次")
    assert r.status_code == 409 and r.json()["code"] == "already_rated", r.text
    assert ratings_of(engine, cert["id"]) == before + 1
    assert events(engine, "dr_rating", first["id"]) == []  # a satisfied rating is no credit event
    audit = q(engine, "SELECT actor, after FROM audit_log WHERE action = 'rate' AND layer = 'dr_ratings' "
                      "AND feature_id = :i", i=first["id"]).mappings().one()  # fmt: skip
    assert audit["actor"].startswith("dr-ev-builder-") and audit["after"]["satisfied"] is True

    r = rate(client, world, "builder", "cert", stage="certificate", round_no=None)
    assert r.status_code == 201, r.text
    r = rate(client, world, "builder", "cert", stage="certificate", round_no=None)
    assert r.status_code == 409

    # An unsatisfied rating: the agency's bad credit event, with its points and the builder's reason.
    r = rate(client, world, "builder", "cert", round_no=2, satisfied=False, reason="审查意见反复变更，沟通不及时")
    assert r.status_code == 201, r.text
    bad = r.json()
    (event,) = events(engine, "dr_rating", bad["id"])
    assert event["subject_code"] == world["ent"]["A1"] and event["polarity"] == "bad"
    assert event["event_type"] == "dr_service_unsatisfied" and event["points"] == 2.0
    assert "沟通不及时" in event["reason"] and event["natural_key"] == f"dr_rating:{bad['id']}:created"
    assert event["source_module"] == "drawing_review"
    subject = q(engine, "SELECT score, events FROM credit_subjects WHERE subject_code = :c",
                c=world["ent"]["A1"]).mappings().one()  # fmt: skip
    assert subject["events"] >= 1 and subject["score"] < 100

    # The page's view of the application: the stages with their ratings; the builder may rate, not score.
    r = client.get(f"{API}/applications/{cert['id']}", headers=world["users"]["builder"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(s["stage"], s["round_no"]) for s in body["stages"]] == [("round", 1), ("round", 2), ("certificate", 0)]
    assert all(s["rating"] for s in body["stages"]) and body["can_rate"] and not body["can_score"]
    r = client.get(f"{API}/applications/{cert['id']}", headers=world["users"]["other_builder"])
    assert r.status_code == 200 and not r.json()["can_rate"]

    # The list (a case without workflow), filtered; and the handled-matter register shows the ratings.
    r = client.get(f"{API}/ratings", headers=world["users"]["city"],
                   params={"application_id": cert["id"], "satisfied": "false"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert [x["id"] for x in r.json()["ratings"]] == [bad["id"]]
    r = client.get(f"{API}/ratings", headers=world["users"]["city"], params={"satisfied": "maybe"})
    assert r.status_code == 422
    r = client.get("/api/registers/matters", headers=world["users"]["city"], params={"type": "dr_rating"})
    assert r.status_code == 200, r.text
    assert {first["id"], bad["id"]} <= {m["id"] for m in r.json()["items"]}


# -- DR-09 scoring -----------------------------------------------------------------------------------------------


def test_scoring_rules(client, world, engine):
    items = items_by_code(client, world)
    cert = world["apps"]["cert"]
    before = scores_of(engine, cert["id"])
    d02, d04 = items["D02"], items["D04"]
    assert d02["max_deduction"] == 20

    r = score(client, world, "agency", "cert", unit_uscc=world["ent"]["D2"])  # the unit is not chosen either
    assert r.status_code == 422 and r.json()["field"] == "unit_uscc", r.text
    r = score(client, world, "agency", "open")
    assert r.status_code == 409 and r.json()["code"] == "not_concluded", r.text
    r = score(client, world, "agency2", "cert")
    assert r.status_code == 403 and r.json()["code"] == "not_the_agency", r.text
    assert "审查机构" in r.json()["message"]
    r = score(client, world, "builder", "cert")
    assert r.status_code == 403
    r = score(client, world, "agency", "cert", deductions=[{"item_id": d02["id"], "points": 25, "reason": "违反强条"}])
    assert r.status_code == 422 and r.json()["code"] == "over_max_deduction", r.text
    assert r.json()["field"] == "deductions.0.points" and "20" in r.json()["message"]
    r = score(
        client,
        world,
        "agency",
        "cert",
        deductions=[{"item_id": d02["id"], "points": 10, "reason": "违反强条"}, {"item_id": d04["id"], "points": 3}],
    )
    assert r.status_code == 422 and r.json()["code"] == "reason_required" and r.json()["field"] == "deductions.1.reason"
    r = score(client, world, "agency", "cert", deductions=[{"item_id": d04["id"], "points": 2.25, "reason": "x"}])
    assert r.status_code == 422 and r.json()["code"] == "invalid_points"
    r = score(
        client,
        world,
        "agency",
        "cert",
        deductions=[
            {"item_id": d04["id"], "points": 2, "reason": "a"},
            {"item_id": d04["id"], "points": 1, "reason": "b"},
        ],
    )
    assert r.status_code == 422 and r.json()["code"] == "duplicate_item"
    r = score(client, world, "agency", "cert", deductions=[{"item_id": 987654321, "points": 1, "reason": "x"}])
    assert r.status_code == 422 and r.json()["code"] == "unknown_item"
    # 45 points deducted: 55, 不合格 — not without an explanation.
    heavy = [
        {"item_id": items["D01"]["id"], "points": 15, "reason": "结构计算深度不足"},
        {"item_id": d02["id"], "points": 20, "reason": "违反强制性条文 3 处"},
        {"item_id": items["D03"]["id"], "points": 10, "reason": "缺少地基计算书"},
    ]
    r = score(client, world, "agency", "cert", deductions=heavy)
    assert r.status_code == 422 and r.json()["code"] == "explanation_required", r.text
    assert r.json()["field"] == "explanation" and "60" in r.json()["message"]
    assert scores_of(engine, cert["id"]) == before  # nothing stored by any refusal

    r = score(client, world, "agency", "cert", deductions=heavy, explanation="多处违反强制性条文，计算书缺失")
    assert r.status_code == 201, r.text
    failed = r.json()
    assert failed["total"] == 55 and failed["grade"] == "不合格" and failed["deducted"] == 45
    assert [d["item_code"] for d in failed["deductions"]] == ["D01", "D02", "D03"]
    assert failed["unit_uscc"] == world["ent"]["D1"]
    (event,) = events(engine, "dr_score", failed["id"])
    assert event["subject_code"] == world["ent"]["D1"] and event["polarity"] == "bad" and event["points"] == 3.0
    assert event["event_type"] == "dr_design_failed" and "计算书缺失" in event["reason"]
    r = score(client, world, "agency", "cert", deductions=[])
    assert r.status_code == 409 and r.json()["code"] == "already_scored"

    # The survey unit: 5 points off, 95, 优 — the unit's good credit event.
    r = score(client, world, "agency", "cert", unit_role="survey",
              deductions=[{"item_id": items["D09"]["id"], "points": 5, "reason": "地勘报告孔位不足"}])  # fmt: skip
    assert r.status_code == 201, r.text
    good = r.json()
    assert (good["total"], good["grade"], good["unit_uscc"]) == (95, "优", world["ent"]["S1"])
    (event,) = events(engine, "dr_score", good["id"])
    assert event["polarity"] == "good" and event["event_type"] == "dr_design_excellent" and event["points"] == 2.0
    assert event["subject_code"] == world["ent"]["S1"]

    # No survey unit on this application.
    r = score(client, world, "agency2", "j1", unit_role="survey")
    assert r.status_code == 422 and r.json()["code"] == "no_unit"

    # The score's record page, and the unit's page listing the scores it received.
    r = client.get(f"/api/records/dr_score/{failed['id']}", headers=world["users"]["city"])
    assert r.status_code == 200, r.text
    r = client.get(f"/api/records/enterprises/{world['ent']['D1']}", headers=world["users"]["city"])
    assert r.status_code == 200, r.text
    assert str(failed["id"]) in r.text and "施工图勘察设计质量评分" in r.text
    detail = client.get(f"{API}/scores/{failed['id']}", headers=world["users"]["city"])
    assert detail.status_code == 200 and len(detail.json()["deductions"]) == 3
    after = q(engine, "SELECT after FROM audit_log WHERE action = 'score' AND layer = 'dr_scores' AND feature_id = :i",
              i=failed["id"]).scalar_one()  # fmt: skip
    assert after["grade"] == "不合格" and after["total"] == 55 and len(after["deductions"]) == 3


def test_grades_at_their_thresholds(client, world, engine):
    from layers.drawing_review.evaluations import grade_of

    assert [grade_of(x) for x in (100, 90, 89.9, 75, 74.9, 60, 59.9, 0)] == [
        "优", "优", "良", "良", "合格", "合格", "不合格", "不合格"]  # fmt: skip
    items = items_by_code(client, world)
    # Exactly 60 is 合格: no explanation needed.
    forty = [
        {"item_id": items["D02"]["id"], "points": 20, "reason": "违反强制性条文"},
        {"item_id": items["D01"]["id"], "points": 15, "reason": "深度不足"},
        {"item_id": items["D06"]["id"], "points": 5, "reason": "说明不全"},
    ]
    r = score(client, world, "agency2", "j2", deductions=forty)
    assert r.status_code == 201, r.text
    assert (r.json()["total"], r.json()["grade"]) == (60, "合格")
    assert events(engine, "dr_score", r.json()["id"]) == []  # 合格: no credit event
    # 10.5 off: 89.5, 良.
    r = score(client, world, "agency2", "j2", unit_role="survey",
              deductions=[{"item_id": items["D09"]["id"], "points": 4.5, "reason": "勘察深度"},
                          {"item_id": items["D10"]["id"], "points": 5, "reason": "资料不齐"},
                          {"item_id": items["D04"]["id"], "points": 1, "reason": "图面错误"}])  # fmt: skip
    assert r.status_code == 201, r.text
    assert (r.json()["total"], r.json()["grade"]) == (89.5, "良")


def test_the_scoring_standard_is_configurable_versioned_and_audited(client, world, engine):
    city, agency = world["users"]["city"], world["users"]["agency"]
    code = f"T{secrets.token_hex(3).upper()}"
    r = client.post(f"{API}/items", headers=agency, json={"code": code, "name": "测试项", "max_deduction": 5})
    assert r.status_code == 403
    r = client.post(f"{API}/items", headers=city, json={"code": code, "name": f"测试评分项{code}",
                                                        "max_deduction": 8, "sort": 200})  # fmt: skip
    assert r.status_code == 201, r.text
    item = r.json()
    assert item["version"] == 1 and item["active"]
    r = client.post(f"{API}/items", headers=city, json={"code": code, "name": "另一个", "max_deduction": 8})
    assert r.status_code == 409
    r = client.post(f"{API}/items", headers=city, json={"code": f"{code}X", "name": "x", "max_deduction": 0})
    assert r.status_code == 422
    r = client.patch(f"{API}/items/{item['id']}", headers=city, json={"version": 1, "max_deduction": 6})
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["max_deduction"] == 6
    r = client.patch(f"{API}/items/{item['id']}", headers=city, json={"version": 1, "active": False})
    assert r.status_code == 409 and r.json()["code"] == "stale_version"
    r = client.patch(f"{API}/items/{item['id']}", headers=city, json={"version": 2, "active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    logged = q(engine, "SELECT action FROM audit_log WHERE layer = 'dr_score_items' AND feature_id = :i ORDER BY id",
               i=item["id"]).scalars().all()  # fmt: skip
    assert logged == ["create", "update", "update"]
    # An item out of use is refused in a score.
    r = score(client, world, "agency", "x1", deductions=[{"item_id": item["id"], "points": 1, "reason": "x"}])
    assert r.status_code == 422 and r.json()["code"] == "unknown_item"


# -- summaries and export ----------------------------------------------------------------------------------------


def expected(engine, world, jurisdiction: str | None = None, since: str | None = None, until: str | None = None):
    """The summaries recomputed in Python from the stored rows of this test's agencies and units."""
    ours = list(world["agencies"].values())
    units = set(world["ent"].values())
    cond, params = "", {"ours": ours}
    if jurisdiction:
        cond += " AND jurisdiction = :j"
        params["j"] = jurisdiction
    rated = q(engine, f"SELECT agency_id, satisfied, (rated_at AT TIME ZONE 'Asia/Shanghai')::date AS day "
                      f"FROM dr_ratings WHERE agency_id = ANY(:ours){cond}", **params).mappings().all()  # fmt: skip
    scored = q(engine, f"SELECT agency_id, unit_uscc, unit_role, total, grade, "
                       f"(scored_at AT TIME ZONE 'Asia/Shanghai')::date AS day FROM dr_scores "
                       f"WHERE agency_id = ANY(:ours){cond}", **params).mappings().all()  # fmt: skip

    def inside(row) -> bool:
        return (not since or str(row["day"]) >= since) and (not until or str(row["day"]) <= until)

    agencies: dict[int, dict] = defaultdict(lambda: {"ratings": 0, "satisfied": 0, "totals": [], "grades": {}})
    for r in filter(inside, rated):
        a = agencies[r["agency_id"]]
        a["ratings"] += 1
        a["satisfied"] += r["satisfied"]
    by_unit: dict[tuple, dict] = defaultdict(lambda: {"totals": [], "grades": {}})
    for r in filter(inside, scored):
        for bucket in (agencies[r["agency_id"]], by_unit[(r["unit_uscc"], r["unit_role"])]):
            bucket["totals"].append(float(r["total"]))
            bucket["grades"][r["grade"]] = bucket["grades"].get(r["grade"], 0) + 1
    out_a = {}
    for agency_id, a in agencies.items():
        n, t = a["ratings"], a["totals"]
        out_a[agency_id] = {
            "ratings": n, "satisfied": a["satisfied"], "unsatisfied": n - a["satisfied"],
            "satisfaction_rate": round(100 * a["satisfied"] / n, 1) if n else None,
            "scores": len(t), "average": round(sum(t) / len(t), 2) if t else None,
            "grades": {g: a["grades"].get(g, 0) for g in GRADES},
        }  # fmt: skip
    out_u = {
        key: {"scores": len(u["totals"]), "average": round(sum(u["totals"]) / len(u["totals"]), 2),
              "grades": {g: u["grades"].get(g, 0) for g in GRADES}}
        for key, u in by_unit.items() if key[0] in units
    }  # fmt: skip
    return out_a, out_u


def actual(body: dict, world) -> tuple[dict, dict]:
    ours = set(world["agencies"].values())
    keys = ("ratings", "satisfied", "unsatisfied", "satisfaction_rate", "scores", "average", "grades")
    agencies = {a["agency_id"]: {k: a[k] for k in keys} for a in body["agencies"] if a["agency_id"] in ours}
    units = {(u["uscc"], u["unit_role"]): {k: u[k] for k in ("scores", "average", "grades")}
             for u in body["units"] if u["uscc"] in set(world["ent"].values())}  # fmt: skip
    return agencies, units


@pytest.fixture(scope="module")
def evaluated(client_module, world, engine):
    """Ratings and scores on the other applications (besides what the rule tests store), one backdated."""
    c = client_module
    items = items_by_code(c, world)
    for app, rounds in (("x1", 3), ("j1", 1)):
        who = "builder"
        for n in range(1, rounds + 1):
            ok = n != 2
            r = rate(c, world, who, app, round_no=n, satisfied=ok, reason=None if ok else "审查周期过长")
            assert r.status_code in (201, 409), r.text
    r = rate(c, world, "builder", "j1", stage="certificate", round_no=None, satisfied=False, reason="发证拖延")
    assert r.status_code in (201, 409), r.text
    for app, who, points in (("x1", "agency", 12.5), ("j1", "agency2", 3)):
        r = score(
            c, world, who, app, deductions=[{"item_id": items["D01"]["id"], "points": points, "reason": "深度不足"}]
        )
        assert r.status_code in (201, 409), r.text
    with engine.begin() as conn:  # one rating of 建德 lies in January 2025
        conn.execute(
            sa.text("UPDATE dr_ratings SET rated_at = '2025-01-15 10:00+08' WHERE application_id = :a "
                    "AND stage = 'certificate'"), {"a": world["apps"]["j1"]["id"]})  # fmt: skip
    return True


@pytest.fixture(scope="module")
def client_module(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize(
    "params",
    [{}, {"jurisdiction": "建德市"}, {"jurisdiction": "市本级"}, {"from": "2025-01-01", "to": "2025-01-31"},
     {"from": "2026-01-01"}],
)  # fmt: skip
def test_summaries_match_a_recount(client, world, engine, evaluated, params):
    r = client.get(f"{API}/summary", headers=world["users"]["city"], params=params)
    assert r.status_code == 200, r.text
    want_a, want_u = expected(engine, world, params.get("jurisdiction"), params.get("from"), params.get("to"))
    got_a, got_u = actual(r.json(), world)
    if not params:  # the recount is of something: both agencies rated and scored, units of both roles
        assert set(want_a) == set(world["agencies"].values()) and {role for _, role in want_u} == {"design", "survey"}
        assert all(a["ratings"] and a["scores"] and a["unsatisfied"] for a in want_a.values())
    assert got_a == want_a
    assert got_u == want_u
    if params.get("to") == "2025-01-31":  # only the backdated rating
        assert got_a == {world["agencies"]["A2"]: {**want_a[world["agencies"]["A2"]], "ratings": 1}}
        assert got_u == {}


def test_summaries_follow_the_scope_and_refuse_bad_filters(client, world, engine, evaluated):
    county = client.get(f"{API}/summary", headers=world["users"]["jiande"])
    city = client.get(f"{API}/summary", headers=world["users"]["city"], params={"jurisdiction": "建德市"})
    assert county.status_code == 200 and city.status_code == 200
    assert actual(county.json(), world) == actual(city.json(), world)
    assert world["agencies"]["A1"] not in {a["agency_id"] for a in county.json()["agencies"]}
    for bad in ({"jurisdiction": "上海市"}, {"from": "2026-13-01"}, {"from": "2026-02-01", "to": "2026-01-01"}):
        r = client.get(f"{API}/summary", headers=world["users"]["city"], params=bad)
        assert r.status_code == 422, (bad, r.text)


def test_summary_export_holds_the_summary_and_is_logged(client, world, engine, evaluated):
    params = {"jurisdiction": "建德市"}
    before = scalar(engine, "SELECT coalesce(max(id), 0) FROM audit_log")
    r = client.get(f"{API}/summary.xlsx", headers=world["users"]["city"], params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    body = client.get(f"{API}/summary", headers=world["users"]["city"], params=params).json()
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["按审查机构", "按勘察设计单位"]
    agencies = list(wb["按审查机构"].iter_rows(values_only=True))
    assert "管辖：建德市" in agencies[0][0]
    assert agencies[1][:6] == ("审查机构", "统一社会信用代码", "服务评价数", "满意", "不满意", "满意率(%)")
    rows = {row[1]: row for row in agencies[2:]}
    for a in body["agencies"]:
        row = rows[a["uscc"]]
        assert row[2:8] == (a["ratings"], a["satisfied"], a["unsatisfied"], a["satisfaction_rate"], a["scores"],
                            a["average"])  # fmt: skip
        assert row[8:] == tuple(a["grades"][g] for g in GRADES)
    units = list(wb["按勘察设计单位"].iter_rows(values_only=True))
    assert len(units) - 2 == len(body["units"])
    a2 = rows[world["ent"]["A2"]]
    assert a2[2] >= 2 and a2[4] >= 1  # the 建德 agency's ratings (one unsatisfied at least) are in
    logged = q(engine, "SELECT actor, detail FROM audit_log WHERE id > :b AND action = 'export' "
                       "AND layer = 'dr_scores'", b=before).mappings().all()  # fmt: skip
    assert len(logged) == 1 and logged[0]["actor"].startswith("dr-ev-city-")
    r = client.get(f"{API}/summary.xlsx", headers=world["users"]["builder"])
    assert r.status_code == 403


# -- the page in Chromium ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    with chromium(expect_timeout_ms=15_000) as b:
        yield b


def signed_in(browser, base: str, username: str, errors: list):
    from tests.conftest import TEST_PASSWORD

    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.goto(f"{base}/review/evaluations")
    page.locator("#login input[name=username]").fill(username)
    page.locator("#login input[name=password]").fill(TEST_PASSWORD)
    page.locator("#login button[type=submit]").click()
    page.locator("#app").wait_for()
    return page


def test_rate_and_score_on_the_page(browser, app, world, engine):
    from playwright.sync_api import expect

    from tests.conftest import running_server

    web = new_application(engine, "web", "西湖区", world["ent"], world["agencies"]["A1"], "certified", 1)
    names = {k: q(engine, "SELECT username FROM users WHERE org_id = (SELECT id FROM organisations WHERE uscc = :u) "
                          "ORDER BY id DESC LIMIT 1", u=world["ent"][k]).scalar_one() for k in ("B1", "A1")}  # fmt: skip
    for key in ("B1", "A1"):  # the new pin granted to both accounts
        make_user(names[key], [], grants={"review_projects": [web["pin"]]})
    errors: list[str] = []
    with running_server(app) as base:
        # The builder: 不满意 needs a reason; then the stage shows the rating.
        page = signed_in(browser, base, names["B1"], errors)
        page.locator("#pane-evaluate input[name=q]").fill(web["no"])
        page.locator("#pane-evaluate button[type=submit]").click()
        page.locator(f"tr[data-application='{web['id']}']").click()
        expect(page.locator("#ev-agency")).to_contain_text(world["names"]["A1"])
        expect(page.locator("#ev-detail")).not_to_contain_text("null")
        page.locator("[data-rate='round-1']").click()
        dlg = page.locator("dialog[open]")
        dlg.locator("select[name=satisfied]").select_option("false")
        dlg.locator("button[type=submit]").click()
        expect(dlg.locator(".field-error:visible, .form-error:visible").first).to_contain_text("不满意的原因")
        dlg.locator("textarea[name=reason]").fill("审查意见出具超时")
        dlg.locator("button[type=submit]").click()
        expect(page.locator("#ev-detail")).to_contain_text("审查意见出具超时")
        assert scalar(engine, "SELECT count(*) FROM dr_ratings WHERE application_id = :a AND NOT satisfied",
                      a=web["id"]) == 1  # fmt: skip
        page.context.close()

        # The agency: over the item's maximum is refused; under 60 needs the explanation; then the score shows.
        page = signed_in(browser, base, names["A1"], errors)
        page.locator("#pane-evaluate input[name=q]").fill(web["no"])
        page.locator("#pane-evaluate button[type=submit]").click()
        page.locator(f"tr[data-application='{web['id']}']").click()
        page.locator("[data-score='design']").click()
        dlg = page.locator("dialog[open]")
        ids = dict(q(engine, "SELECT code, id FROM dr_score_items").all())
        dlg.locator(f"input[name=points-{ids['D01']}]").fill("16")
        dlg.locator(f"input[name=reason-{ids['D01']}]").fill("设计深度明显不足")
        dlg.locator("button[type=submit]").click()
        expect(dlg).to_contain_text("最多扣 15 分")
        dlg.locator(f"input[name=points-{ids['D01']}]").fill("15")
        dlg.locator(f"input[name=points-{ids['D02']}]").fill("20")
        dlg.locator(f"input[name=reason-{ids['D02']}]").fill("违反强制性条文")
        dlg.locator(f"input[name=points-{ids['D03']}]").fill("10")
        dlg.locator(f"input[name=reason-{ids['D03']}]").fill("计算书缺失")
        expect(dlg.locator("#live-total")).to_contain_text("55 分")
        dlg.locator("button[type=submit]").click()
        expect(dlg).to_contain_text("不合格说明")
        dlg.locator("textarea[name=explanation]").fill("多处违反强制性条文")
        dlg.locator("button[type=submit]").click()
        expect(page.locator("#ev-detail")).to_contain_text("55 分")
        page.context.close()

        # The supervisor: the summary by agency, filtered, with the export link following the filters.
        page = signed_in(browser, base, q(engine, "SELECT username FROM users WHERE username LIKE 'dr-ev-city-%' "
                                                  "ORDER BY id DESC LIMIT 1").scalar_one(), errors)  # fmt: skip
        page.locator("[data-tab=summary]").click()
        page.locator("#pane-summary select[name=jurisdiction]").select_option("市本级")
        page.locator("#pane-summary button[type=submit]").click()
        expect(page.locator("#summary")).to_contain_text(world["names"]["A1"])
        expect(page.locator("#summary-export")).to_have_attribute("href", re.compile("jurisdiction=%E5%B8%82"))
        page.context.close()
    assert errors == []


# -- the demo seeder ---------------------------------------------------------------------------------------------


def test_demo_seeder_evaluates_every_concluded_application_once(engine, world):
    """Run over this database's concluded applications in a transaction that is rolled back: every reached stage
    rated once, every unit scored once, totals and grades consistent with the deductions, and the credit events of
    exactly the rows that make one; a second run adds nothing."""
    from etl.demo import World
    from layers.drawing_review.demo_evaluations import seed_evaluations
    from layers.drawing_review.evaluations import grade_of

    new_application(engine, "demo", "淳安县", world["ent"], world["agencies"]["A2"], "certified", 2)  # unevaluated
    with engine.connect() as conn:
        tx = conn.begin()
        try:
            first = seed_evaluations(conn, World(7, [], 0, "test"))
            assert first["dr_ratings"] > 0 and first["dr_scores"] > 0
            run = lambda sql: conn.execute(sa.text(sql)).all()  # noqa: E731
            missing = run(
                "SELECT a.id, r.round_no FROM dr_applications a JOIN dr_rounds r ON r.application_id = a.id "
                "WHERE a.status IN ('passed', 'failed', 'certified') AND a.agency_id IS NOT NULL "
                "AND r.opinion_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM dr_ratings x WHERE x.application_id = a.id "
                "AND x.stage = 'round' AND x.round_no = r.round_no)"
            )
            assert missing == []
            unscored = run(
                "SELECT a.id FROM dr_applications a WHERE a.status IN ('passed', 'failed', 'certified') "
                "AND a.agency_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM dr_scores s WHERE s.application_id = a.id "
                "AND s.unit_role = 'design')"
            )
            assert unscored == []
            for total, grade, explanation, deducted, lines, over in run(
                "SELECT s.total, s.grade, s.explanation, s.deducted, coalesce(sum(d.points), 0), "
                "count(*) FILTER (WHERE d.points > d.max_deduction) FROM dr_scores s "
                "LEFT JOIN dr_score_deductions d ON d.score_id = s.id GROUP BY s.id"
            ):
                assert grade == grade_of(total) and deducted == lines and total == 100 - deducted and over == 0
                assert grade != "不合格" or explanation
            eventless = run(
                "SELECT s.id FROM dr_scores s WHERE s.grade IN ('优', '不合格') AND NOT EXISTS "
                "(SELECT 1 FROM credit_events e WHERE e.source = 'dr_score' AND e.source_id = s.id) UNION ALL "
                "SELECT r.id FROM dr_ratings r WHERE NOT r.satisfied AND NOT EXISTS "
                "(SELECT 1 FROM credit_events e WHERE e.source = 'dr_rating' AND e.source_id = r.id)"
            )
            assert eventless == []
            stray = run(
                "SELECT e.id FROM credit_events e JOIN dr_scores s ON e.source = 'dr_score' AND e.source_id = s.id "
                "WHERE s.grade NOT IN ('优', '不合格')"
            )
            assert stray == []
            again = seed_evaluations(conn, World(7, [], 0, "test"))
            assert again["dr_ratings"] == 0 and again["dr_scores"] == 0
        finally:
            tx.rollback()


# -- with the flow: an application taken from draft to certificate by the real routes, then evaluated ------------


def test_an_application_of_the_flow_is_rated_by_its_builder_and_scored_by_its_agency(client, engine):
    """The flow grants the pin to the builder's, design unit's and agency's accounts; those accounts evaluate."""
    from tests import dr_world
    from tests.test_dr_flow import ALL_PASS, opinions

    w = dr_world.build(engine)
    hd = w["headers"]
    flow = "/api/review/applications"
    a = client.post(flow, json=dr_world.application(w, dr_world.register_project(engine, w)["code"]),
                    headers=hd["dr-builder"]).json()  # fmt: skip
    a = client.post(f"{flow}/{a['id']}/submit", json={"version": a["version"]}, headers=hd["dr-builder"]).json()
    dr_world.draw(a["id"], w["agency_id"]["agency"])
    d = client.get(f"{flow}/{a['id']}", headers=hd["dr-agency"]).json()
    d = client.post(f"{flow}/{a['id']}/actions/accept", json={"version": d["version"]}, headers=hd["dr-agency"]).json()
    changes = opinions(("architecture", "合格", None), ("structure", "需修改", "配筋不足。"), ("fire", "合格", None),
                       ("civil_defence", "合格", None))  # fmt: skip
    d = client.post(f"{flow}/{a['id']}/opinions", json={"version": d["version"], "opinions": changes},
                    headers=hd["dr-agency"]).json()  # fmt: skip
    # Round 1's opinion is out: the builder may rate it, the agency may not score yet.
    r = client.post(f"{API}/ratings", headers=hd["dr-builder"],
                    json={"application_id": a["id"], "stage": "round", "round_no": 1, "satisfied": False,
                          "reason": "意见出具较慢"})  # fmt: skip
    assert r.status_code == 201, r.text
    r = client.post(f"{API}/scores", headers=hd["dr-agency"], json={"application_id": a["id"], "unit_role": "design"})
    assert r.status_code == 409 and r.json()["code"] == "not_concluded"
    d = client.post(f"{flow}/{a['id']}/reply", json={"version": d["version"], "note": "已修改。"},
                    headers=hd["dr-designer"]).json()  # fmt: skip
    d = client.post(f"{flow}/{a['id']}/opinions", json={"version": d["version"], "opinions": ALL_PASS},
                    headers=hd["dr-agency"]).json()  # fmt: skip
    d = client.post(f"{flow}/{a['id']}/certificate", json={"version": d["version"]}, headers=hd["dr-agency"]).json()
    assert d["status"] == "certified", d

    ctx = client.get(f"{API}/applications/{a['id']}", headers=hd["dr-builder"]).json()
    assert ctx["can_rate"] and not ctx["can_score"]
    assert [(s["stage"], s["round_no"], bool(s["rating"])) for s in ctx["stages"]] == [
        ("round", 1, True), ("round", 2, False), ("certificate", 0, False)]  # fmt: skip
    for stage, n in (("round", 2), ("certificate", None)):
        body = {"application_id": a["id"], "stage": stage, "satisfied": True, **({"round_no": n} if n else {})}
        r = client.post(f"{API}/ratings", headers=hd["dr-builder"], json=body)
        assert r.status_code == 201, r.text
        assert r.json()["agency_id"] == w["agency_id"]["agency"]
    # Another builder (no grant of this pin) and another agency do not even see it; the design unit may not rate.
    for user, path, body in (
        ("dr-other-builder", "ratings", {"stage": "round", "round_no": 2, "satisfied": True}),
        ("dr-jd-agency", "scores", {"unit_role": "design"}),
        ("dr-designer", "ratings", {"stage": "round", "round_no": 2, "satisfied": True}),
    ):
        r = client.post(f"{API}/{path}", headers=hd[user], json={"application_id": a["id"], **body})
        assert r.status_code in (403, 404), (user, r.text)
    ctx = client.get(f"{API}/applications/{a['id']}", headers=hd["dr-agency"]).json()
    assert ctx["can_score"] and ctx["concluded"] and [u["unit_role"] for u in ctx["units"]] == ["design"]
    item = ctx["items"][0]
    r = client.post(f"{API}/scores", headers=hd["dr-agency"], json={
        "application_id": a["id"], "unit_role": "design",
        "deductions": [{"item_id": item["id"], "points": 2, "reason": "节点大样缺失"}]})  # fmt: skip
    assert r.status_code == 201, r.text
    assert (r.json()["total"], r.json()["grade"], r.json()["unit_uscc"]) == (98, "优", w["uscc"]["designer"])
    assert len(events(engine, "dr_score", r.json()["id"])) == 1
    listed = client.get(f"{API}/applications", headers=hd["dr-builder"], params={"q": a["application_no"]}).json()
    assert [x["id"] for x in listed["applications"]] == [a["id"]]
