"""The drawing-review application end to end against the real database (DR-03…06): the draft with its pin and
grants, idempotent creation and submission, the draw, acceptance (round 1 with its due date), opinions asking for
changes, the design unit's reply (round 2), the pass, the certificate; a county application with the county's
accounts and a return for correction; what every role sees (row-level security and the window's jurisdiction); and
bad input refused with a Chinese 4xx naming the field, nothing changed."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from tests import dr_world
from tests.dr_world import application, draw, free_code, register_project

API = "/api/review/applications"


@pytest.fixture(scope="module")
def world(engine, app):
    return dr_world.build(engine)


def h(world, user: str) -> dict:
    return world["headers"][user]


def one(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).mappings().first()


def scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def grants(engine, pin: int) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        return {
            (u, r)
            for u, r in conn.execute(
                text(
                    "SELECT u.username, g.relation FROM user_grants g JOIN users u ON u.id = g.user_id "
                    "WHERE g.layer = 'review_projects' AND g.feature_id = :f"
                ),
                {"f": pin},
            ).all()
        }


def opinions(*pairs) -> list[dict]:
    return [{"discipline": d, "conclusion": c, "opinion": o} for d, c, o in pairs]


ALL_PASS = opinions(
    ("architecture", "合格", None),
    ("structure", "合格", None),
    ("fire", "合格", None),
    ("civil_defence", "合格", None),
)


def test_city_application_from_draft_to_certificate(client, world, engine):
    project = register_project(engine, world)
    body = application(world, project["code"])
    key = {"Idempotency-Key": f"dr-create-{project['code']}"}

    # The draft: verified against the register, its pin at the register's point, granted to the units' accounts.
    r = client.post(API, json=body, headers={**h(world, "dr-builder"), **key})
    assert r.status_code == 201, r.text
    a = r.json()
    assert (a["status"], a["verified"], a["project_id"]) == ("draft", True, project["id"])
    assert (a["builder_name"], a["designer_name"]) == ("联审测试建设集团有限公司", "联审测试建筑设计研究院有限公司")
    assert a["jurisdiction"] == "市本级" and a["district"] == "西湖区"
    assert re.fullmatch(r"SC\d{4}\d{7}", a["application_no"])
    assert [b["name"] for b in a["buildings"]] == ["1#楼", "地下室"]
    assert a["disciplines"] == ["architecture", "structure", "fire", "civil_defence"]
    pin = one(engine, "SELECT status, code, ST_X(geom) x, ST_Y(geom) y FROM review_projects WHERE id = :i",
              i=a["review_project_id"])  # fmt: skip
    assert (pin["status"], pin["code"]) == ("草稿", project["code"])
    assert abs(pin["x"] - project["lon"]) < 1e-6 and abs(pin["y"] - project["lat"]) < 1e-6  # the register's point
    # The fire department's viewer (the contents include fire) holds it; civil defence's does not (not included).
    assert grants(engine, a["review_project_id"]) == {
        ("dr-builder", "builder"),
        ("dr-designer", "design_unit"),
        ("dr-fire", "co_reviewer"),
    }
    # A retried creation (same key) answers the same application and writes nothing again.
    again = client.post(API, json=body, headers={**h(world, "dr-builder"), **key})
    assert again.status_code == 201 and again.json()["id"] == a["id"]
    assert scalar(engine, "SELECT count(*) FROM dr_applications WHERE project_code = :c", c=project["code"]) == 1

    # Submission, retried with its key: one transition.
    skey = {"Idempotency-Key": f"dr-submit-{a['id']}"}
    for _ in range(2):
        r = client.post(
            f"{API}/{a['id']}/submit", json={"version": a["version"]}, headers={**h(world, "dr-designer"), **skey}
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "submitted"
    history = [x["action"] for x in client.get(f"{API}/{a['id']}", headers=h(world, "dr-builder")).json()["history"]]
    assert history == ["create", "submit"]
    assert (
        one(engine, "SELECT status FROM review_projects WHERE id = :i", i=a["review_project_id"])["status"] == "待摇号"
    )

    # Before the draw the agency sees nothing of it; the draw grants it to the agency's accounts.
    assert client.get(f"{API}/{a['id']}", headers=h(world, "dr-agency")).status_code == 404
    draw(a["id"], world["agency_id"]["agency"])
    assert ("dr-agency", "review_agency") in grants(engine, a["review_project_id"])
    pin = one(engine, "SELECT status, agency FROM review_projects WHERE id = :i", i=a["review_project_id"])
    assert (pin["status"], pin["agency"]) == ("待受理", "联审测试施工图审查中心有限公司")
    d = client.get(f"{API}/{a['id']}", headers=h(world, "dr-agency")).json()
    assert (d["status"], d["agency_name"]) == ("drawn", "联审测试施工图审查中心有限公司")
    assert d["due_on"] is not None and d["stage"] == "accept"
    assert [x["action"] for x in d["actions"]] == ["accept", "return"]

    # Accepted: round 1 begins, due in the review limit's working days (二类 房屋建筑: 10).
    r = client.post(f"{API}/{a['id']}/actions/accept", json={"version": d["version"]}, headers=h(world, "dr-agency"))
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["status"], d["round_no"], len(d["rounds"])) == ("reviewing", 1, 1)
    with engine.connect() as conn:
        from geo import calendar

        accepted = one(engine, "SELECT (accepted_at AT TIME ZONE 'Asia/Shanghai')::date AS d FROM dr_applications "
                       "WHERE id = :i", i=a["id"])["d"]  # fmt: skip
        assert d["due_on"] == calendar.add_working_days(conn, accepted, 10).isoformat()
    assert (
        one(engine, "SELECT status FROM review_projects WHERE id = :i", i=a["review_project_id"])["status"] == "审查中"
    )

    # Opinions: one discipline needs changes → the design unit replies.
    changes = opinions(
        ("architecture", "合格", None),
        ("structure", "需修改", "剪力墙配筋不足，请复核。"),
        ("fire", "合格", None),
        ("civil_defence", "合格", None),
    )
    r = client.post(f"{API}/{a['id']}/opinions", json={"version": d["version"], "opinions": changes},
                    headers=h(world, "dr-agency"))  # fmt: skip
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["status"], d["stage"], d["rounds"][0]["result"]) == ("replying", "reply", "modify")
    assert {o["discipline"]: o["conclusion"] for o in d["rounds"][0]["opinions"]}["structure"] == "需修改"
    assert (
        one(engine, "SELECT status FROM review_projects WHERE id = :i", i=a["review_project_id"])["status"] == "待回复"
    )
    # The builder may not reply (the design unit does).
    r = client.post(
        f"{API}/{a['id']}/reply", json={"version": d["version"], "note": "已修改"}, headers=h(world, "dr-builder")
    )
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = client.post(f"{API}/{a['id']}/reply", json={"version": d["version"], "note": "已按意见修改结构配筋。"},
                    headers=h(world, "dr-designer"))  # fmt: skip
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["status"], d["round_no"], [x["round_no"] for x in d["rounds"]]) == ("reviewing", 2, [1, 2])
    assert d["rounds"][0]["reply_note"] == "已按意见修改结构配筋。"

    # Round 2 passes: the project conclusion 合格; a reply now is refused, nothing changes.
    r = client.post(f"{API}/{a['id']}/opinions", json={"version": d["version"], "opinions": ALL_PASS},
                    headers=h(world, "dr-agency"))  # fmt: skip
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["status"], d["conclusion"], d["stage"]) == ("passed", "合格", "certify")
    before = one(engine, "SELECT version, status FROM dr_applications WHERE id = :i", i=a["id"])
    r = client.post(
        f"{API}/{a['id']}/reply", json={"version": d["version"], "note": "再回复"}, headers=h(world, "dr-designer")
    )
    assert r.status_code == 409, r.text
    assert (r.json()["code"], r.json()["field"]) == ("already_concluded", "status") and "审查结论" in r.json()[
        "message"
    ]
    assert one(engine, "SELECT version, status FROM dr_applications WHERE id = :i", i=a["id"]) == before
    pin = one(engine, "SELECT status, concluded_at FROM review_projects WHERE id = :i", i=a["review_project_id"])
    assert pin["status"] == "审查合格" and pin["concluded_at"] is not None

    # The certificate.
    r = client.post(f"{API}/{a['id']}/certificate", json={"version": d["version"]}, headers=h(world, "dr-agency"))
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["status"] == "certified" and re.fullmatch(r"HZ-SCHG-\d{4}-\d{6}", d["certificate_no"])
    assert d["due_on"] is None and d["certified_at"]
    assert (
        one(engine, "SELECT status FROM review_projects WHERE id = :i", i=a["review_project_id"])["status"] == "已发证"
    )
    assert [x["action"] for x in d["history"]] == ["create", "submit", "draw", "accept", "modify", "reply", "pass",
                                                   "certify"]  # fmt: skip
    assert [s["stage"] for s in d["timeline"]] == ["accept", "review", "reply", "review", "certify"]
    assert all(s["completed_at"] for s in d["timeline"])
    # The progress (DR-04): the listed fields; the fire department's viewer sees it (its content is included).
    r = client.get(f"{API}/{a['id']}/progress", headers=h(world, "dr-fire"))
    assert r.status_code == 200, r.text
    f = r.json()["fields"]
    assert (f["project_code"], f["verified"], f["builder_name"], f["agency_name"]) == (
        project["code"], True, "联审测试建设集团有限公司", "联审测试施工图审查中心有限公司")  # fmt: skip
    assert (
        f["submission_name"] == "一期施工图" and f["floor_area_m2"] == 12_500.0 and f["review_category"] == "房屋建筑"
    )
    assert client.get(f"{API}/{a['id']}/progress", headers=h(world, "dr-civil")).status_code == 404
    # Audit: every write left a record.
    assert scalar(engine, "SELECT count(*) FROM audit_log WHERE layer = 'dr_applications' AND feature_id = :i",
                  i=a["id"]) >= 9  # fmt: skip


def test_county_application_with_the_countys_accounts_and_a_return(client, world, engine):
    body = application(world, free_code("建德市"), county=True)
    r = client.post(API, json=body, headers=h(world, "dr-jd-builder"))
    assert r.status_code == 201, r.text
    a = r.json()
    assert (a["verified"], a["district"], a["jurisdiction"]) == (False, "建德市", "建德市")
    r = client.post(
        f"{API}/{a['id']}/actions/submit", json={"version": a["version"]}, headers=h(world, "dr-jd-builder")
    )
    assert r.status_code == 200, r.text
    draw(a["id"], world["agency_id"]["jd_agency"], window="dr-jd-window")
    d = client.get(f"{API}/{a['id']}", headers=h(world, "dr-jd-agency")).json()
    # A return needs a reason; with one, the builder corrects and submits again.
    r = client.post(f"{API}/{a['id']}/actions/return", json={"version": d["version"]}, headers=h(world, "dr-jd-agency"))
    assert r.status_code == 422 and (r.json()["code"], r.json()["field"]) == ("reason_required", "reason")
    r = client.post(f"{API}/{a['id']}/actions/return", json={"version": d["version"], "reason": "缺少消防设计专篇。"},
                    headers=h(world, "dr-jd-agency"))  # fmt: skip
    assert (
        r.status_code == 200 and r.json()["status"] == "returned" and r.json()["return_reason"] == "缺少消防设计专篇。"
    )
    edited = {**body, "submission_name": "住宅小区施工图（补正）", "version": r.json()["version"]}
    r = client.put(f"{API}/{a['id']}", json=edited, headers=h(world, "dr-jd-designer"))
    assert r.status_code == 200, r.text
    assert r.json()["submission_name"] == "住宅小区施工图（补正）"
    r = client.post(
        f"{API}/{a['id']}/actions/submit", json={"version": r.json()["version"]}, headers=h(world, "dr-jd-builder")
    )
    assert r.status_code == 200 and r.json()["status"] == "submitted"
    draw(a["id"], world["agency_id"]["jd_agency"], window="dr-jd-window")
    d = client.get(f"{API}/{a['id']}", headers=h(world, "dr-jd-agency")).json()
    d = client.post(
        f"{API}/{a['id']}/actions/accept", json={"version": d["version"]}, headers=h(world, "dr-jd-agency")
    ).json()
    # A discipline 不合格 fails the review; the reason is required.
    bad = opinions(("architecture", "合格", None), ("structure", "不合格", "结构体系不满足抗震要求。"),
                   ("fire", "合格", None), ("civil_defence", "合格", None))  # fmt: skip
    r = client.post(f"{API}/{a['id']}/opinions", json={"version": d["version"], "opinions": bad},
                    headers=h(world, "dr-jd-agency"))  # fmt: skip
    assert r.status_code == 422 and (r.json()["code"], r.json()["field"]) == ("reason_required", "reason")
    assert scalar(engine, "SELECT count(*) FROM dr_opinions WHERE application_id = :i", i=a["id"]) == 0
    r = client.post(f"{API}/{a['id']}/opinions", json={"version": d["version"], "opinions": bad, "reason": "抗震不满足。"},
                    headers=h(world, "dr-jd-agency"))  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["conclusion"]) == ("failed", "不合格")
    assert [s["result"] for s in r.json()["timeline"] if s["stage"] == "accept"] == ["退回补正", "受理"]
    assert (
        one(engine, "SELECT status FROM review_projects WHERE id = :i", i=a["review_project_id"])["status"]
        == "审查不合格"
    )


def _ids(client, headers) -> set[int]:
    r = client.get(API, headers=headers, params={"limit": 500})
    assert r.status_code == 200, r.text
    return {x["id"] for x in r.json()["items"]}


def test_every_role_sees_only_its_own(client, world, engine):
    city = client.post(API, json=application(world, register_project(engine, world)["code"]),
                       headers=h(world, "dr-builder")).json()  # fmt: skip
    county = client.post(API, json=application(world, free_code("建德市"), county=True, contents=["general"]),
                         headers=h(world, "dr-jd-builder")).json()  # fmt: skip
    mine = {city["id"], county["id"]}
    seen = {u: _ids(client, h(world, u)) & mine for u in dr_world.ACCOUNTS}
    assert seen["dr-builder"] == {city["id"]} and seen["dr-designer"] == {city["id"]}
    assert seen["dr-jd-builder"] == {county["id"]} and seen["dr-jd-designer"] == {county["id"]}
    assert seen["dr-other-builder"] == set()
    assert seen["dr-agency"] == set() and seen["dr-jd-agency"] == set()  # nothing drawn yet
    assert seen["dr-fire"] == {city["id"]}  # the county's application does not include fire
    assert seen["dr-civil"] == set() and seen["dr-jd-fire"] == set()
    assert seen["dr-city"] == mine
    assert seen["dr-window"] == {city["id"]} and seen["dr-jd-window"] == {county["id"]}
    assert seen["dr-jd-staff"] == {county["id"]} and seen["dr-ca-staff"] == set()
    # The window's Excel export holds its jurisdiction's applications only.
    r = client.get(f"{API}.xlsx", headers=h(world, "dr-window"))
    assert r.status_code == 200, r.text
    sheet = load_workbook(io.BytesIO(r.content)).active
    numbers = {row[0] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert city["application_no"] in numbers and county["application_no"] not in numbers
    assert [c.value for c in sheet[1]][:3] == ["申请编号", "项目代码", "项目名称"]
    # A county fire department sees its county's applications with fire.
    fire = client.post(API, json=application(world, free_code("建德市"), county=True),
                       headers=h(world, "dr-jd-builder")).json()  # fmt: skip
    assert fire["id"] in _ids(client, h(world, "dr-jd-fire")) and fire["id"] in _ids(client, h(world, "dr-fire"))
    # Out of scope is not found, for reading and for acting.
    for user in ("dr-other-builder", "dr-ca-staff", "dr-window"):
        assert client.get(f"{API}/{county['id']}", headers=h(world, user)).status_code == 404
    r = client.post(
        f"{API}/{city['id']}/actions/submit", json={"version": city["version"]}, headers=h(world, "dr-other-builder")
    )
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert one(engine, "SELECT status FROM dr_applications WHERE id = :i", i=city["id"])["status"] == "draft"


def test_bad_input_is_refused_and_changes_nothing(client, world, engine):
    counts = "SELECT (SELECT count(*) FROM dr_applications) a, (SELECT count(*) FROM review_projects) p, " \
             "(SELECT count(*) FROM user_grants) g"  # fmt: skip
    before = one(engine, counts)
    project = register_project(engine, world)

    def refused(body, status, code, field, user="dr-builder"):
        r = client.post(API, json=body, headers=h(world, user))
        assert r.status_code == status, r.text
        assert (r.json()["code"], r.json()["field"]) == (code, field), r.json()
        assert re.search(r"[\u4e00-\u9fff]", r.json()["message"])
        return r.json()

    unknown = dr_world.uscc("nobody-in-the-register")
    refused(application(world, project["code"], designer_uscc=unknown), 422, "unknown_enterprise", "designer_uscc")
    refused(application(world, "2025-330106-47-01"), 422, "invalid_project_code", "project_code")
    refused(application(world, "2025-999999-47-01-000123"), 422, "invalid_project_code", "project_code")
    refused(application(world, project["code"], grade="四类"), 422, "invalid_choice", "grade")
    refused(application(world, project["code"], contents=["fire"]), 422, "general_required", "contents")
    bad_building = [{"name": "1#楼", "disciplines": ["architecture", "landscape"]}]
    refused(
        application(world, project["code"], buildings=bad_building), 422, "invalid_choice", "buildings.0.disciplines.1"
    )
    # Another unit's project (the register names another builder), and applying in another unit's name.
    refused(application(world, project["code"], builder_uscc=world["uscc"]["other_builder"]), 403, "not_own_unit",
            "builder_uscc")  # fmt: skip
    other = application(world, project["code"], builder_uscc=world["uscc"]["other_builder"])
    refused(other, 422, "builder_mismatch", "builder_uscc", user="dr-other-builder")
    # Outside the register without a position.
    refused(application(world, free_code("西湖区")), 422, "location_required", "lon")
    assert one(engine, counts) == before

    # A stale version: 409, nothing changed.
    a = client.post(API, json=application(world, project["code"]), headers=h(world, "dr-builder")).json()
    r = client.put(f"{API}/{a['id']}", json={**application(world, project["code"], name="改名"), "version": a["version"] + 5},
                   headers=h(world, "dr-builder"))  # fmt: skip
    assert r.status_code == 409 and (r.json()["code"], r.json()["field"]) == ("stale_version", "version")
    r = client.post(
        f"{API}/{a['id']}/actions/submit", json={"version": a["version"] - 1}, headers=h(world, "dr-builder")
    )
    assert r.status_code == 409 and r.json()["code"] == "stale_version"
    row = one(engine, "SELECT name, status, version FROM dr_applications WHERE id = :i", i=a["id"])
    assert (row["name"], row["status"], row["version"]) == ("西湖区文二路综合楼", "draft", a["version"])
    # The agency's own routes are not the generic action route's; opinions before acceptance are refused.
    r = client.post(f"{API}/{a['id']}/actions/pass", json={"version": a["version"]}, headers=h(world, "dr-builder"))
    assert r.status_code == 409 and r.json()["code"] == "handled_elsewhere"
    r = client.post(f"{API}/{a['id']}/opinions", json={"version": a["version"], "opinions": ALL_PASS},
                    headers=h(world, "dr-builder"))  # fmt: skip
    assert r.status_code == 403
    # Incomplete opinions are refused by discipline.
    client.post(f"{API}/{a['id']}/actions/submit", json={"version": a["version"]}, headers=h(world, "dr-builder"))
    draw(a["id"], world["agency_id"]["agency"])
    v = client.get(f"{API}/{a['id']}", headers=h(world, "dr-agency")).json()["version"]
    v = client.post(f"{API}/{a['id']}/actions/accept", json={"version": v}, headers=h(world, "dr-agency")).json()[
        "version"
    ]
    r = client.post(
        f"{API}/{a['id']}/opinions", json={"version": v, "opinions": ALL_PASS[:2]}, headers=h(world, "dr-agency")
    )
    assert r.status_code == 422 and (r.json()["code"], r.json()["field"]) == ("missing_disciplines", "opinions")
    assert "消防" in r.json()["message"] and "人防" in r.json()["message"]
    extra = [*ALL_PASS, {"discipline": "hvac", "conclusion": "合格"}]
    r = client.post(f"{API}/{a['id']}/opinions", json={"version": v, "opinions": extra}, headers=h(world, "dr-agency"))
    assert r.status_code == 422 and (r.json()["code"], r.json()["field"]) == ("discipline_not_in_application",
                                                                             "opinions.4.discipline")  # fmt: skip
    no_text = opinions(("architecture", "需修改", None), ("structure", "合格", None), ("fire", "合格", None),
                       ("civil_defence", "合格", None))  # fmt: skip
    r = client.post(
        f"{API}/{a['id']}/opinions", json={"version": v, "opinions": no_text}, headers=h(world, "dr-agency")
    )
    assert r.status_code == 422 and (r.json()["code"], r.json()["field"]) == ("opinion_required", "opinions.0.opinion")
    # Another agency is out of scope.
    r = client.post(
        f"{API}/{a['id']}/opinions", json={"version": v, "opinions": ALL_PASS}, headers=h(world, "dr-jd-agency")
    )
    assert r.status_code == 404
    assert scalar(engine, "SELECT count(*) FROM dr_opinions WHERE application_id = :i", i=a["id"]) == 0
    assert one(engine, "SELECT status FROM dr_applications WHERE id = :i", i=a["id"])["status"] == "reviewing"
    # Certificates only for a passed review.
    r = client.post(f"{API}/{a['id']}/certificate", json={"version": v}, headers=h(world, "dr-agency"))
    assert r.status_code == 409 and r.json()["code"] == "not_passed"


def test_grants_in_bulk_follow_the_same_rules(client, world, engine):
    """``grant_all`` (for applications written in bulk, as the demo does) gives exactly the grants the flow gives."""
    from geo.db import transaction
    from layers.drawing_review.flow import grant_all

    a = client.post(
        API, json=application(world, free_code("建德市"), county=True), headers=h(world, "dr-jd-builder")
    ).json()
    r = client.post(
        f"{API}/{a['id']}/actions/submit", json={"version": a["version"]}, headers=h(world, "dr-jd-builder")
    )
    assert r.status_code == 200, r.text
    draw(a["id"], world["agency_id"]["jd_agency"], window="dr-jd-window")
    given = grants(engine, a["review_project_id"])
    assert given == {("dr-jd-builder", "builder"), ("dr-jd-designer", "design_unit"),
                     ("dr-jd-agency", "review_agency"), ("dr-fire", "co_reviewer"), ("dr-jd-fire", "co_reviewer")}  # fmt: skip
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM user_grants WHERE layer = 'review_projects' AND feature_id = :f"),
                     {"f": a["review_project_id"]})  # fmt: skip
    with transaction() as conn:
        assert grant_all(conn, "test") >= len(given)
    assert grants(engine, a["review_project_id"]) == given
    with transaction() as conn:
        assert grant_all(conn, "test") == 0  # nothing twice
