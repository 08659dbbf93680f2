"""Standardized sites, authority side: bonus items with the supervision review and the authority's confirmation
(ST-05/06/12), notices (ST-10), deductions written to the credit record (ST-20), stage evaluations registered on
site (ST-14/26), configuration (ST-23), statistics with the Excel export (ST-24) and the sites on the map (ST-19) —
two registered projects in two districts, real accounts."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import mapbox_vector_tile
import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from stdnum.cn import ric

from layers.standard_sites import common, stats
from tests import st_world
from tests.conftest import make_user, set_environment

XH, YH = "XH-2026-0001", "YH-2026-0002"


@pytest.fixture(scope="module")
def world(engine, app, tmp_path_factory):
    restore = set_environment(CHENGJIAN_FILES_DIR=str(tmp_path_factory.mktemp("files")))
    info = st_world.build(engine)
    registered = datetime.now(UTC) - timedelta(days=400)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE credit_events, st_notices, st_stage_evals, st_deductions RESTART IDENTITY"))
        for code in (XH, YH):
            conn.execute(
                text(
                    "INSERT INTO st_registrations (project_id, site_id, district, created_at, created_by) "
                    "SELECT id, site_id, district, :at, 'test' FROM projects WHERE code = :c"
                ),
                {"c": code, "at": registered},
            )
    for code, tag in ((XH, "xh"), (YH, "yh")):
        sid = info[code]["site_id"]
        info[code]["sg"] = make_user(f"sta-sg-{tag}", ["construction_unit"], grants={"sites": [sid]})
        info[code]["jl"] = make_user(f"sta-jl-{tag}", ["supervision_unit"], grants={"sites": [sid]})
    info["clerk_xh"] = make_user("sta-clerk-xihu", ["district_staff"], district="西湖区")
    info["clerk_yh"] = make_user("sta-clerk-yuhang", ["district_staff"], district="余杭区")
    info["city"] = make_user("sta-city", ["city_supervisor"])
    yield info
    restore()


def _photo(client, headers, kind, owner_id, site, dlon=0.0):
    taken = datetime.now(UTC)
    files = {"file": ("scan.jpg", io.BytesIO(st_world.jpeg(site["lon"] + dlon, site["lat"], taken)), "image/jpeg")}
    form = {"lon": str(site["lon"] + dlon), "lat": str(site["lat"]), "accuracy_m": "10", "taken_at": taken.isoformat()}
    return client.post(f"/api/st/{kind}/{owner_id}/photos", headers=headers, files=files, data=form)


def _act(client, headers, claim_id, action, **body):
    return client.post(f"/api/st/bonus/{claim_id}/actions/{action}", headers=headers, json=body)


def test_bonus_declaration_review_and_confirmation(client, world, engine):
    site = world[XH]
    sg, jl, clerk, other = site["sg"], site["jl"], world["clerk_xh"], world["clerk_yh"]
    r = client.post(
        f"/api/st/sites/{site['site_id']}/bonus",
        headers=sg,
        json={"item_code": "B01", "description": "2026 年获评省级标准化示范工地"},
    )
    assert r.status_code == 201, r.text
    claim = r.json()
    assert claim["status"] == "draft" and claim["item_name"] == "获评省级标准化示范工地" and claim["points"] is None
    r = client.post(f"/api/st/sites/{site['site_id']}/bonus", headers=sg, json={"item_code": "B01"})
    assert r.status_code == 409 and r.json()["code"] == "duplicate_claim"
    r = client.post(f"/api/st/sites/{site['site_id']}/bonus", headers=sg, json={"item_code": "NOPE"})
    assert r.status_code == 422 and r.json()["field"] == "item_code"
    # Evidence first.
    r = _act(client, sg, claim["id"], "submit")
    assert r.status_code == 422 and r.json()["code"] == "evidence_required"
    assert _photo(client, sg, "bonus", claim["id"], site).status_code == 201
    assert _act(client, sg, claim["id"], "submit").json()["status"] == "submitted"
    # Before the supervision unit approves, the authority does not see it at all.
    assert client.get(f"/api/st/bonus/{claim['id']}", headers=clerk).status_code == 404
    assert client.get("/api/st/bonus", headers=clerk).json()["total"] == 0
    assert _act(client, clerk, claim["id"], "confirm").status_code == 404
    # Supervision returns it with a reason; the unit corrects and resubmits.
    r = _act(client, jl, claim["id"], "return")
    assert r.status_code == 422 and r.json()["code"] == "reason_required"
    r = _act(client, jl, claim["id"], "return", reason="佐证材料缺少获奖文件扫描件")
    assert r.status_code == 200 and r.json()["status"] == "returned"
    r = client.put(
        f"/api/st/bonus/{claim['id']}",
        headers=sg,
        json={"version": r.json()["version"], "description": "附省住建厅文件扫描件"},
    )
    assert r.status_code == 200 and r.json()["description"] == "附省住建厅文件扫描件"
    assert _act(client, sg, claim["id"], "submit").json()["status"] == "submitted"
    # Supervision adds a photo of its own and approves; the unit cannot approve.
    r = _photo(client, jl, "bonus", claim["id"], site, 0.0005)
    assert r.status_code == 201 and r.json()["uploader_role"] == "supervision"
    assert _act(client, sg, claim["id"], "approve").status_code == 403
    assert _act(client, jl, claim["id"], "approve").json()["status"] == "supervision_approved"
    # The other district's authority neither sees nor confirms it; the unit cannot confirm.
    assert client.get(f"/api/st/bonus/{claim['id']}", headers=other).status_code == 404
    assert _act(client, other, claim["id"], "confirm").status_code == 404
    assert _act(client, sg, claim["id"], "confirm").status_code == 403
    assert [c["id"] for c in client.get("/api/st/bonus", headers=clerk).json()["claims"]] == [claim["id"]]
    r = _act(client, clerk, claim["id"], "confirm")
    assert r.status_code == 200 and r.json()["status"] == "confirmed" and r.json()["points"] == 3
    assert _act(client, clerk, claim["id"], "confirm").status_code == 409
    detail = client.get(f"/api/st/bonus/{claim['id']}", headers=sg).json()
    assert [h["action"] for h in detail["history"]] == ["create", "submit", "return", "submit", "approve", "confirm"]
    assert len(detail["photos"]) == 2 and detail["actions"] == []
    with engine.connect() as conn:
        ev = conn.execute(text("SELECT * FROM credit_events WHERE source = 'st_bonus'")).mappings().one()
    assert ev["polarity"] == "good" and ev["points"] == 3 and ev["subject_code"] == site["uscc"]
    # A second claim: the authority declines it (reason required).
    c2 = client.post(f"/api/st/sites/{site['site_id']}/bonus", headers=sg, json={"item_code": "B03"}).json()
    assert _photo(client, sg, "bonus", c2["id"], site).status_code == 201
    _act(client, sg, c2["id"], "submit")
    _act(client, jl, c2["id"], "approve")
    assert _act(client, clerk, c2["id"], "reject").status_code == 422
    r = _act(client, clerk, c2["id"], "reject", reason="智慧工地系统未接入市平台")
    assert r.status_code == 200 and r.json()["status"] == "rejected" and r.json()["points"] is None


def _notice(client, headers, **body):
    return client.post(
        "/api/st/notices", headers=headers, json={"kind": "notice", "title": "标题", "body": "正文", **body}
    )


def test_notices_scoping(client, world):
    clerk, city = world["clerk_xh"], world["city"]
    r = _notice(client, clerk, district="余杭区", publish=True)
    assert r.status_code == 403 and r.json()["field"] == "district" and r.json()["code"] == "district_not_allowed"
    r = _notice(client, clerk, district=None, publish=True)
    assert r.status_code == 403 and r.json()["field"] == "district"
    assert _notice(client, world[XH]["sg"], district="西湖区").status_code == 403
    xh = _notice(
        client, clerk, title="西湖区扬尘治理公告", kind="announcement", district="西湖区", public=True, publish=True
    )
    assert xh.status_code == 201 and xh.json()["published"] and xh.json()["scope_title"] == "西湖区"
    xh = xh.json()
    city_internal = _notice(client, city, title="全市月报填报通知", publish=True).json()
    yh_draft = _notice(client, city, title="余杭区公示草稿", kind="disclosure", district="余杭区", public=True).json()
    yh_public = _notice(
        client, city, title="余杭区公告", kind="announcement", district="余杭区", public=True, publish=True
    ).json()
    assert not yh_draft["published"]
    # Without signing in: only the public and published ones.
    anon = client.get("/api/st/notices", params={"public": 1})
    assert anon.status_code == 200
    assert {n["id"] for n in anon.json()["notices"]} == {xh["id"], yh_public["id"]}
    assert client.get(f"/api/st/notices/{city_internal['id']}").status_code == 404
    assert client.get(f"/api/st/notices/{xh['id']}").json()["title"] == "西湖区扬尘治理公告"
    # Signed in: the whole city's and one's own district's.
    seen = {n["id"] for n in client.get("/api/st/notices", headers=world["clerk_yh"]).json()["notices"]}
    assert {city_internal["id"], yh_public["id"]} <= seen and xh["id"] not in seen
    seen = {n["id"] for n in client.get("/api/st/notices", headers=world[XH]["sg"]).json()["notices"]}
    assert seen == {city_internal["id"], xh["id"]}
    # Editing: own district only, optimistic concurrency; unpublishing hides it from the public.
    r = client.put(f"/api/st/notices/{yh_public['id']}", headers=clerk, json={"version": 1, "title": "改"})
    assert r.status_code == 403
    r = client.put(f"/api/st/notices/{xh['id']}", headers=clerk, json={"version": 1, "district": "余杭区"})
    assert r.status_code == 403
    r = client.put(f"/api/st/notices/{xh['id']}", headers=clerk, json={"version": 1, "title": "西湖区扬尘治理通报"})
    assert r.status_code == 200 and r.json()["version"] == 2
    r = client.put(f"/api/st/notices/{xh['id']}", headers=clerk, json={"version": 1, "title": "旧版本"})
    assert r.status_code == 409 and r.json()["code"] == "stale_version"
    assert client.post(f"/api/st/notices/{xh['id']}/unpublish", headers=clerk).json()["published"] is False
    assert {n["id"] for n in client.get("/api/st/notices?public=1").json()["notices"]} == {yh_public["id"]}
    assert client.delete(f"/api/st/notices/{yh_draft['id']}", headers=clerk).status_code == 403
    assert client.delete(f"/api/st/notices/{yh_draft['id']}", headers=city).status_code == 204


def test_publishing_a_notice_is_a_case_transition(client, world, engine):
    """Publish and withdraw go through the case declaration: states, history, the district rule, the version."""
    clerk, other = world["clerk_xh"], world["clerk_yh"]
    n = _notice(client, clerk, title="西湖区质量月通知", district="西湖区").json()
    assert (n["status"], n["status_title"]) == ("draft", "草稿")
    r = client.post(f"/api/st/notices/{n['id']}/actions/publish", headers=other, json={})
    assert r.status_code == 404  # another district's draft is not even visible
    r = client.post(f"/api/st/notices/{n['id']}/actions/publish", headers=clerk, json={"version": n["version"] + 5})
    assert r.status_code == 409 and r.json()["code"] == "stale_version"
    r = client.post(f"/api/st/notices/{n['id']}/actions/publish", headers=clerk, json={"version": n["version"]})
    assert r.status_code == 200 and r.json()["status"] == "published" and r.json()["published_at"]
    r = client.post(f"/api/st/notices/{n['id']}/actions/publish", headers=clerk, json={})
    assert r.status_code == 409 and r.json()["code"] == "illegal_transition" and "已发布" in r.json()["message"]
    assert client.get("/api/st/notices", params={"status": "published"}, headers=clerk).json()["total"] >= 1
    detail = client.get(f"/api/st/notices/{n['id']}", headers=clerk).json()
    assert [h["action"] for h in detail["history"]] == ["publish"]
    with engine.connect() as conn:
        heads = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
        status = conn.execute(text("SELECT status FROM st_notices WHERE id = :i"), {"i": n["id"]}).scalar()
    # The module's own migration branch is applied to its head (st_0001 and every later revision of the branch).
    from alembic.script import ScriptDirectory

    from geo.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    branch_head = script.get_revision("standard_sites@head").revision
    # Applied: a recorded head or an ancestor of one (a later module's branch that depends on it records only itself).
    applied = {r.revision for h in heads for r in script.iterate_revisions(h, "base")}
    assert branch_head in applied and status == "published"


def valid_id_number() -> str:
    body = "33010619850312123"
    return body + ric.calc_check_digit(body + "0")  # (stdnum wants a placeholder check digit)


def test_deductions_reach_the_credit_record(client, world, engine):
    site, clerk = world[XH], world["clerk_xh"]
    url = f"/api/st/sites/{site['site_id']}/deductions"
    today = common.today_beijing().isoformat()
    body = {
        "item_code": "D02",
        "subject_kind": "enterprise",
        "subject_code": site["uscc"],
        "subject_name": "西湖区建工集团",
        "reason": "11 月扬尘治理专项检查被通报",
        "occurred_on": today,
    }
    r = client.post(url, headers=clerk, json=body)
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["points"] == 3 and d["item_name"] == "扬尘治理不到位被通报" and d["district"] == "西湖区"
    person = {
        **body,
        "item_code": "D03",
        "subject_kind": "person",
        "subject_code": valid_id_number(),
        "subject_name": "张三",
        "reason": "项目经理拒不整改安全隐患",
    }
    p = client.post(url, headers=clerk, json=person)
    assert p.status_code == 201 and p.json()["subject_code"].count("*") == 8
    with engine.connect() as conn:
        rows = (
            conn.execute(text("SELECT * FROM credit_events WHERE source = 'st_deduction' ORDER BY id")).mappings().all()
        )
    assert [(r["subject_kind"], r["subject_code"], r["polarity"], r["points"], r["source_id"]) for r in rows] == [
        ("enterprise", site["uscc"], "bad", 3, d["id"]),
        ("person", valid_id_number(), "bad", 5, p.json()["id"]),
    ]
    assert rows[0]["district"] == "西湖区" and rows[0]["site_id"] == site["site_id"] and "扬尘" in rows[0]["reason"]
    # Invalid identifiers are refused with the field; nothing is written.
    bad = client.post(
        url,
        headers=clerk,
        json={**body, "subject_code": site["uscc"][:-1] + "0" if site["uscc"][-1] != "0" else site["uscc"][:-1] + "1"},
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_uscc" and bad.json()["field"] == "subject_code"
    bad = client.post(
        url,
        headers=clerk,
        json={
            **person,
            "subject_code": "330106198503121230" if not valid_id_number().endswith("0") else "330106198503121231",
        },
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_id_number"
    assert bad.json()["field"] == "subject_code"
    # Out of scope and without the permission.
    assert client.post(url, headers=world["clerk_yh"], json=body).status_code == 404
    assert client.post(url, headers=site["sg"], json=body).status_code == 403
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM st_deductions")).scalar() == 2
        assert conn.execute(text("SELECT count(*) FROM credit_events WHERE source = 'st_deduction'")).scalar() == 2
    listed = client.get("/api/st/deductions", headers=clerk, params={"subject_code": site["uscc"]}).json()
    assert listed["total"] == 1 and listed["deductions"][0]["id"] == d["id"]
    assert client.get("/api/st/deductions", headers=world["clerk_yh"]).json()["total"] == 0
    assert client.get("/api/st/deductions", headers=site["sg"]).json()["total"] == 2  # the unit sees its own


def test_stage_registration_on_site(client, world, engine):
    site, clerk = world[XH], world["clerk_xh"]
    url = f"/api/st/sites/{site['site_id']}/stages"
    body = {
        "stage": "foundation",
        "evaluated_on": common.today_beijing().isoformat(),
        "result": "合格",
        "score": 86.5,
        "remarks": "基坑支护规范",
        "lon": site["lon"] + 0.0004,
        "lat": site["lat"],
        "accuracy_m": 12,
        "crs": "EPSG:4326",
    }
    h = {**clerk, "Idempotency-Key": "stage-xh-foundation-1"}
    r1 = client.post(url, headers=h, json=body)
    assert r1.status_code == 201, r1.text
    assert r1.json()["inside_fence"] is True and r1.json()["stage_title"] == "地基基础"
    r2 = client.post(url, headers=h, json=body)
    assert r2.status_code == 201 and r2.json()["id"] == r1.json()["id"]
    assert r2.headers.get("Idempotent-Replayed") == "true"
    r = client.post(url, headers={**clerk, "Idempotency-Key": "stage-xh-foundation-2"}, json=body)
    assert r.status_code == 409 and r.json()["code"] == "duplicate_stage"
    r = client.post(url, headers=clerk, json={**body, "stage": "main_structure", "lon": site["lon"] + 0.02})
    assert r.status_code == 422 and r.json()["code"] == "outside_fence"
    assert "米" in r.json()["message"] and r.json()["detail"]["distance_m"] > 1000
    r = client.post(url, headers=clerk, json={**body, "stage": "main_structure", "lon": None, "lat": None})
    assert r.status_code == 422 and r.json()["code"] == "location_required"
    assert client.post(url, headers=site["sg"], json={**body, "stage": "decoration"}).status_code == 403
    assert client.post(url, headers=world["clerk_yh"], json={**body, "stage": "decoration"}).status_code == 404
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM st_stage_evals")).scalar() == 1
    # The scan of the signed evaluation form.
    sid = r1.json()["id"]
    assert _photo(client, clerk, "stage", sid, site).status_code == 201
    detail = client.get(f"/api/st/stages/{sid}", headers=clerk).json()
    assert len(detail["photos"]) == 1 and detail["score"] == 86.5
    pending = client.get(url, headers=site["sg"]).json()["pending"]
    assert [p["stage"] for p in pending] == ["main_structure", "decoration"]


def test_configuration(client, world, engine):
    city, clerk = world["city"], world["clerk_xh"]
    r = client.post(
        "/api/st/config/catalog",
        headers=city,
        json={"kind": "deduction", "code": "TD1", "name": "测试减分项", "points": 1.5},
    )
    assert r.status_code == 201, r.text
    item = r.json()
    assert item["version"] == 1 and item["active"] is True
    r = client.post(
        "/api/st/config/catalog", headers=city, json={"kind": "deduction", "code": "TD1", "name": "重复", "points": 1}
    )
    assert r.status_code == 409 and r.json()["code"] == "duplicate_code"
    r = client.post("/api/st/config/catalog", headers=city, json={"kind": "bonus", "code": "TB1", "name": "无分值"})
    assert r.status_code == 422 and r.json()["field"] == "points"
    assert (
        client.post(
            "/api/st/config/catalog", headers=clerk, json={"kind": "bonus", "code": "TB2", "name": "无权", "points": 1}
        ).status_code
        == 403
    )
    r = client.put(
        f"/api/st/config/catalog/{item['id']}", headers=city, json={"version": 1, "name": "测试减分项（修订）"}
    )
    assert r.status_code == 200 and r.json()["version"] == 2
    r = client.put(f"/api/st/config/catalog/{item['id']}", headers=city, json={"version": 1, "points": 9})
    assert r.status_code == 409 and r.json()["code"] == "stale_version" and r.json()["detail"]["current"] == 2
    # Used once: deleting deactivates it, and it is no longer offered.
    site = world[XH]
    r = client.post(
        f"/api/st/sites/{site['site_id']}/deductions",
        headers=clerk,
        json={
            "item_code": "TD1",
            "subject_kind": "enterprise",
            "subject_code": site["uscc"],
            "subject_name": "西湖区建工集团",
            "reason": "测试",
            "occurred_on": common.today_beijing().isoformat(),
        },
    )
    assert r.status_code == 201 and r.json()["points"] == 1.5
    r = client.delete(f"/api/st/config/catalog/{item['id']}", headers=city, params={"version": 1})
    assert r.status_code == 409
    r = client.delete(f"/api/st/config/catalog/{item['id']}", headers=city, params={"version": 2})
    assert r.status_code == 200 and r.json()["deactivated"] and r.json()["item"]["active"] is False
    codes = {
        i["code"]
        for i in client.get("/api/st/config/catalog", headers=clerk, params={"kind": "deduction"}).json()["items"]
    }
    assert "TD1" not in codes and "D01" in codes
    everything = client.get("/api/st/config/catalog", headers=city, params={"include_inactive": 1}).json()["items"]
    assert {"photo", "bonus", "deduction", "form_field", "score_item"} == {i["kind"] for i in everything}
    assert any(i["code"] == "TD1" and not i["active"] for i in everything)
    r = client.post(
        f"/api/st/sites/{site['site_id']}/deductions",
        headers=clerk,
        json={
            "item_code": "TD1",
            "subject_kind": "enterprise",
            "subject_code": site["uscc"],
            "subject_name": "西湖区建工集团",
            "reason": "测试",
            "occurred_on": common.today_beijing().isoformat(),
        },
    )
    assert r.status_code == 422 and r.json()["code"] == "unknown_item"
    # Never used: deleted.
    tmp = client.post(
        "/api/st/config/catalog",
        headers=city,
        json={"kind": "photo", "code": "TP1", "name": "测试照片", "part": "文明施工"},
    ).json()
    r = client.delete(f"/api/st/config/catalog/{tmp['id']}", headers=city, params={"version": 1})
    assert r.status_code == 200 and r.json()["deleted"] is True
    # Review rounds (configured with the draws): dates, optimistic concurrency.
    r = client.post(
        "/api/st/rounds",
        headers=city,
        json={
            "name": "2026 年度第二批",
            "review_from": "2026-12-01T09:00:00+08:00",
            "review_to": "2026-12-10T18:00:00+08:00",
        },
    )
    assert r.status_code == 201, r.text
    rnd = r.json()
    r = client.patch(
        f"/api/st/rounds/{rnd['id']}", headers=city, json={"version": 1, "review_to": "2026-11-30T18:00:00+08:00"}
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_window"
    r = client.patch(
        f"/api/st/rounds/{rnd['id']}", headers=city, json={"version": 1, "review_to": "2026-12-15T18:00:00+08:00"}
    )
    assert r.status_code == 200 and r.json()["version"] == 2
    r = client.patch(f"/api/st/rounds/{rnd['id']}", headers=city, json={"version": 1, "name": "旧"})
    assert r.status_code == 409 and r.json()["code"] == "stale_version"
    assert client.delete(f"/api/st/rounds/{rnd['id']}", headers=city).status_code == 204


def _months():
    today = common.today_beijing()
    m3 = stats.previous_month(today)
    m2 = stats.previous_month(m3)
    m1 = stats.previous_month(m2)
    return today, m1, m2, m3


def test_statistics_and_excel(client, world, engine):
    today, m1, m2, m3 = _months()
    xh, yh = world[XH]["site_id"], world[YH]["site_id"]
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for site, month, status, late, submitted in (
            (xh, m1, "received", False, True),
            (xh, m2, "received", True, True),
            (yh, m1, "supervision_approved", False, True),
            (yh, m2, "draft", False, False),
            (yh, m3, "submitted", False, True),
        ):
            conn.execute(
                text(
                    "INSERT INTO st_reports (site_id, month, status, late, submitted_at, district) "
                    "SELECT :s, :m, :st, :late, :at, district FROM sites WHERE id = :s"
                ),
                {"s": site, "m": month, "st": status, "late": late, "at": now if submitted else None},
            )
        conn.execute(
            text(
                "INSERT INTO st_evaluations (site_id, status, district) SELECT id, 'in_review', district "
                "FROM sites WHERE id = :s"
            ),
            {"s": yh},
        )
    params = {"from": f"{m1:%Y-%m}", "to": f"{today:%Y-%m}"}
    r = client.get("/api/st/stats", headers=world["city"], params=params)
    assert r.status_code == 200, r.text
    s = r.json()
    rows = {(x["district"], x["month"], x["status"]): (x["count"], x["late"]) for x in s["reports"]}
    assert rows == {
        ("西湖区", f"{m1:%Y-%m}", "received"): (1, 0),
        ("西湖区", f"{m2:%Y-%m}", "received"): (1, 1),
        ("余杭区", f"{m1:%Y-%m}", "supervision_approved"): (1, 0),
        ("余杭区", f"{m2:%Y-%m}", "draft"): (1, 0),
        ("余杭区", f"{m3:%Y-%m}", "submitted"): (1, 0),
    }
    monthly = {(x["district"], x["month"]): x for x in s["monthly"]}
    assert len(monthly) == 2 * 4 and all(x["registered"] == 1 for x in monthly.values())
    assert monthly[("余杭区", f"{m2:%Y-%m}")]["missing"] == 1 and monthly[("西湖区", f"{m2:%Y-%m}")]["missing"] == 0
    last_due_passed = today > common.due_date(m3)
    assert monthly[("西湖区", f"{m3:%Y-%m}")]["missing"] == (1 if last_due_passed else None)
    assert monthly[("西湖区", f"{today:%Y-%m}")]["missing"] is None  # not due yet
    bonus = {(x["district"], x["status"]): (x["count"], x["points"]) for x in s["bonus"]}
    assert bonus == {("西湖区", "confirmed"): (1, 3), ("西湖区", "rejected"): (1, 0)}
    assert s["deductions"] == [{"district": "西湖区", "count": 3, "points": 9.5}]
    assert s["evaluations"] == [{"district": "余杭区", "status": "in_review", "status_title": "专家评审中", "count": 1}]
    assert [(x["district"], x["stage"], x["result"], x["count"]) for x in s["stages"]] == [
        ("西湖区", "foundation", "合格", 1)
    ]
    assert s["totals"]["reports"] == 5 and s["totals"]["late"] == 1 and s["totals"]["bonus_points"] == 3
    # Scoped: the 余杭区 clerk counts only 余杭区; a district filter narrows the city's view.
    mine = client.get("/api/st/stats", headers=world["clerk_yh"], params=params).json()
    assert {x["district"] for x in mine["reports"] + mine["monthly"]} == {"余杭区"}
    assert mine["bonus"] == [] and mine["deductions"] == []
    only = client.get("/api/st/stats", headers=world["city"], params={**params, "district": "余杭区"}).json()
    assert only["reports"] == mine["reports"]
    assert client.get("/api/st/stats", headers=world[XH]["sg"]).status_code == 403
    r = client.get("/api/st/stats", headers=world["city"], params={"from": "2026-10", "to": "2026-09"})
    assert r.status_code == 422 and r.json()["field"] == "to"
    # Excel, with Chinese headers.
    r = client.get("/api/st/stats.xlsx", headers=world["clerk_xh"], params=params)
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["按月汇总", "月度申报", "加分项", "减分项", "考评申报", "阶段考评"]
    ws = wb["月度申报"]
    assert [c.value for c in ws[1]] == ["区县", "月份", "状态", "数量", "其中逾期提交"]
    assert [tuple(c.value for c in row) for row in ws.iter_rows(min_row=2)] == [
        ("西湖区", f"{m1:%Y-%m}", "主管部门已接收", 1, 0),
        ("西湖区", f"{m2:%Y-%m}", "主管部门已接收", 1, 1),
    ]
    assert [c.value for c in wb["按月汇总"][1]][:3] == ["区县", "月份", "已注册工地数"]
    assert wb["减分项"]["B2"].value == 3
    assert client.get("/api/st/stats.xlsx", headers=world[XH]["sg"]).status_code == 403
    with engine.connect() as conn:
        assert (
            conn.execute(
                text(
                    "SELECT count(*) FROM audit_log WHERE action = 'export' AND layer = 'st_stats' "
                    "AND actor = 'sta-clerk-xihu'"
                )
            ).scalar()
            == 1
        )


def _tile_props(client, headers, site) -> dict | None:
    from tests.test_tiles import tile_of

    z, x, y = tile_of(site["lon"], site["lat"], 14)
    r = client.get(f"/tiles/sites/{z}/{x}/{y}.mvt", headers=headers)
    assert r.status_code == 200
    feats = mapbox_vector_tile.decode(r.content).get("sites", {}).get("features", [])
    return next((f["properties"] for f in feats if f["properties"]["id"] == site["site_id"]), None)


def test_site_status_on_the_map(client, world, engine):
    """ST-19: 逾期未报 when last month's report is missing after the due day, 考评中 / 已获评 from the evaluation."""
    today, m1, m2, m3 = _months()
    after_due = common.due_date(m3) + timedelta(days=1)  # "today" in the month after m3, past its due day
    xh, yh, clerk = world[XH], world[YH], world["clerk_xh"]
    with engine.begin() as conn:
        out = stats.refresh_all(conn, after_due)
    assert out == {"checked": 2, "changed": 2, "late": 1}
    f = client.get(f"/api/layers/sites/features/{xh['site_id']}", headers=clerk).json()
    assert f["properties"]["status"] == "逾期未报"
    assert f["properties"]["latest_report"] == f"{m2:%Y-%m} 已接收（逾期）"
    props = _tile_props(client, clerk, xh)
    assert props["status"] == "逾期未报" and props["latest_report"] == f"{m2:%Y-%m} 已接收（逾期）"
    assert props["construction_unit"] == "西湖区建工集团" and props["supervision_unit"] == "西湖区监理公司"
    assert _tile_props(client, world["clerk_yh"], xh) is None  # scope rules apply on the map too
    f = client.get(f"/api/layers/sites/features/{yh['site_id']}", headers=world["clerk_yh"]).json()
    assert f["properties"]["status"] == "考评中" and f["properties"]["latest_report"] == f"{m3:%Y-%m} 待监理审核"
    # On the due day itself it is not late yet; the unrelated, unregistered site is left alone.
    with engine.begin() as conn:
        assert stats.refresh_site_status(conn, xh["site_id"], common.due_date(m3))["status"] == "在建"
        assert stats.refresh_site_status(conn, xh["site_id"], after_due)["status"] == "逾期未报"
        other = world[st_world.NO_PERMIT["code"]]["site_id"]
        assert stats.refresh_site_status(conn, other, after_due) == {
            "site_id": other,
            "status": "在建",
            "latest_report": None,
            "changed": False,
        }
    # The unit submits last month's report: back to 在建 on the next refresh, on the tile as well.
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO st_reports (site_id, month, status, submitted_at, district) "
                "VALUES (:s, :m, 'submitted', now(), '西湖区')"
            ),
            {"s": xh["site_id"], "m": m3},
        )
        assert stats.refresh_site_status(conn, xh["site_id"], after_due)["changed"] is True
        conn.execute(text("UPDATE st_evaluations SET status = 'awarded' WHERE site_id = :s"), {"s": yh["site_id"]})
        stats.refresh_all(conn, after_due)
    props = _tile_props(client, clerk, xh)
    assert props["status"] == "在建" and props["latest_report"] == f"{m3:%Y-%m} 待监理审核"
    assert _tile_props(client, world["clerk_yh"], yh)["status"] == "已获评"
    # The legend has the four statuses of the standardized-site map.
    layers = {lyr["id"]: lyr for lyr in client.get("/api/layers", headers=clerk).json()["layers"]}
    legend = [x["value"] for x in layers["sites"]["style"]["legend"]]
    assert legend[:4] == ["在建", "逾期未报", "考评中", "已获评"]
    assert "latest_report" in layers["sites"]["popup"]
    # The endpoint (for an operator or a scheduler): city configuration permission only.
    assert client.post("/api/st/site-status/refresh", headers=clerk).status_code == 403
    r = client.post("/api/st/site-status/refresh", headers=world["city"])
    assert r.status_code == 200 and r.json()["checked"] == 2


# -- the case declaration's routes (geo/cases.py, api/cases.py), on the bonus claims ------------------------------


def test_case_labels_are_served(client):
    types = {t["kind"]: t for t in client.get("/api/cases").json()["types"]}
    assert {"st_report", "st_bonus", "st_evaluation"} <= set(types)
    bonus = types["st_bonus"]
    assert bonus["title"] == "加分项申报" and bonus["states"]["supervision_approved"] == "监理已审核"
    assert bonus["actions"]["confirm"] == "确认" and set(bonus["reason_required"]) == {"return", "reject"}
    assert bonus["filters"] == ["site_id", "district", "status"] and bonus["scope"] == "district"
    assert types["st_report"]["filters"] == ["site_id", "district", "status", "month"]


def test_case_list_refuses_bad_filters(client, world):
    city = world["city"]
    for query, code, field in (
        ("status=nope", "invalid_status", "status"),
        ("site_id=abc", "invalid_integer", "site_id"),
        ("district=北京市", "invalid_choice", "district"),
        ("sort=secret", "invalid_sort", "sort"),
    ):
        r = client.get(f"/api/st/bonus?{query}", headers=city)
        assert r.status_code == 422 and (r.json()["code"], r.json()["field"]) == (code, field), query
    r = client.get("/api/st/reports?month=2026-13", headers=city)
    assert r.status_code == 422 and r.json()["field"] == "month"


def test_case_action_with_a_stale_version_changes_nothing(client, world, engine):
    site = world[YH]
    r = client.post(f"/api/st/sites/{site['site_id']}/bonus", headers=site["sg"], json={"item_code": "B02"})
    assert r.status_code == 201, r.text
    claim = r.json()
    assert _photo(client, site["sg"], "bonus", claim["id"], site).status_code == 201

    def state():
        with engine.connect() as conn:
            row = conn.execute(text("SELECT status, version FROM st_bonus_claims WHERE id = :i"), {"i": claim["id"]})
            hist = conn.execute(
                text("SELECT count(*) FROM case_history WHERE case_kind = 'st_bonus' AND case_id = :i"),
                {"i": claim["id"]},
            )
            return tuple(row.one()), hist.scalar_one()

    before = state()
    r = _act(client, site["sg"], claim["id"], "submit", version=claim["version"] - 1)
    assert r.status_code == 409 and r.json()["code"] == "stale_version" and r.json()["field"] == "version"
    assert state() == before
    r = _act(client, site["sg"], claim["id"], "submit", version=claim["version"])
    assert r.status_code == 200 and r.json()["status"] == "submitted" and r.json()["version"] == claim["version"] + 1
    assert state()[1] == before[1] + 1
    r = client.get(f"/api/st/bonus/{claim['id']}", headers=site["sg"]).json()
    assert [h["action"] for h in r["history"]][-1] == "submit" and r["site"]["id"] == site["site_id"]


def test_case_list_exports_to_excel(client, world, engine):
    city = world["city"]
    listed = client.get("/api/st/bonus", headers=city).json()
    r = client.get("/api/st/bonus.xlsx", headers=city)
    assert r.status_code == 200 and "spreadsheetml" in r.headers["content-type"]
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.values)
    assert rows[0][:5] == ("编号", "工地", "区县", "加分项编码", "加分项")
    assert sorted(row[0] for row in rows[1:]) == sorted(c["id"] for c in listed["claims"])
    with engine.connect() as conn:
        logged = conn.execute(
            text("SELECT after FROM audit_log WHERE action = 'export' AND layer = 'st_bonus_claims' ORDER BY id DESC")
        ).first()
    assert logged is not None and logged[0]["rows"] == listed["total"]
    # A unit may read its claims but not export the list.
    assert client.get("/api/st/bonus.xlsx", headers=world[XH]["sg"]).status_code == 403
