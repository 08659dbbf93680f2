"""The handled-matter register (DC-05): a case of every declared kind, created here, appears with its type, applicant
and unit, project, status label, history and materials; the list searches by type, status, applicant, project and
date range; a district account sees only what the source tables' row-level security and the declarations show it;
the Excel export; the page in Chromium."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from geo import cases, files
from geo import scope as scopes
from geo.db import get_engine
from tests import st_world
from tests.conftest import TEST_PASSWORD, make_user, running_server

API = "/api/registers/matters"
CHROMIUM = "/usr/bin/chromium"
OLD = datetime(2025, 5, 5, 10, 0, tzinfo=UTC)  # one case per district is this old (the date-range filter)


def _insert(conn, sql: str, **params) -> int:
    return conn.execute(text(sql), params).scalar_one()


def _id_number(tag: str) -> str:
    """A valid resident ID number (the expert pool is a view of the personnel register, which checks them)."""
    from stdnum.cn import ric

    body = "33010619900101" + tag[-3:]
    return body + ric.calc_check_digit(body + "0")


def _cases_for(conn, site: dict, tag: str, applicant: str, created: datetime) -> dict[str, int]:
    """One case of each standardized-site kind on ``site`` (written by the schema owner), with history rows."""
    d, s = site["district"], site["site_id"]
    common = {"s": s, "d": d, "u": applicant, "at": created}
    ids = {
        "st_report": _insert(conn, "INSERT INTO st_reports (site_id, month, status, district, created_by, created_at) "
                             "VALUES (:s, '2025-04-01', 'received', :d, :u, :at) RETURNING id", **common),
        "st_bonus": _insert(conn, "INSERT INTO st_bonus_claims (site_id, item_id, status, district, created_by, created_at) "
                            "SELECT :s, id, 'confirmed', :d, :u, :at FROM st_catalog WHERE kind = 'bonus' ORDER BY id "
                            "LIMIT 1 RETURNING id", **common),
        "st_evaluation": _insert(conn, "INSERT INTO st_evaluations (site_id, status, district, created_by, created_at) "
                                 "VALUES (:s, 'recommended', :d, :u, :at) RETURNING id", **common),
        "st_stage": _insert(conn, "INSERT INTO st_stage_evals (site_id, stage, evaluated_on, result, district, created_by, "
                            "created_at) VALUES (:s, 'foundation', '2025-04-02', '合格', :d, :u, :at) RETURNING id", **common),
        "st_deduction": _insert(conn, "INSERT INTO st_deductions (site_id, item_id, subject_kind, subject_code, subject_name, "
                                "points, reason, occurred_on, district, created_by, created_at) SELECT :s, id, 'enterprise', "
                                "'91330106MA0000000X', '某公司', 1, '测试', '2025-04-03', :d, :u, :at FROM st_catalog "
                                "WHERE kind = 'deduction' ORDER BY id LIMIT 1 RETURNING id", **common),
        "st_notice": _insert(conn, "INSERT INTO st_notices (kind, title, body, district, status, published_at, created_by, "
                             "created_at) VALUES ('notice', :t, '正文', :d, 'published', :at, :u, :at) RETURNING id",
                             t=f"办件库测试通知{tag}", **common),
    }  # fmt: skip
    rnd = _insert(conn, "INSERT INTO st_rounds (name, review_from, review_to) VALUES (:n, now(), now() + interval '3 days') "
                  "RETURNING id", n=f"办件库测试批次{tag}")  # fmt: skip
    draw = _insert(conn, "INSERT INTO st_draws (round_id, inputs, inputs_sha256, commitment) VALUES (:r, '{}', 'x', 'x') "
                   "RETURNING id", r=rnd)  # fmt: skip
    id_number = _id_number(tag)
    conn.execute(text("DELETE FROM experts WHERE id_number = :i"), {"i": id_number})
    expert = _insert(conn, "INSERT INTO experts (name, id_number, phone, group_name) VALUES ('测试专家', :i, :p, '房屋建筑') "
                     "RETURNING id", i=id_number, p=f"1390000{tag[-4:]}")  # fmt: skip
    ids["st_assignment"] = _insert(
        conn, "INSERT INTO st_assignments (draw_id, evaluation_id, site_id, expert_id, window_from, window_to, district, "
        "created_by, created_at) VALUES (:dr, :e, :s, :x, now(), now() + interval '3 days', :d, :u, :at) RETURNING id",
        dr=draw, e=ids["st_evaluation"], x=expert, **common)  # fmt: skip
    for kind, cid in ids.items():
        conn.execute(
            text("INSERT INTO case_history (case_kind, case_id, site_id, district, action, from_state, to_state, actor, at) "
                 "VALUES (:k, :i, :s, :d, 'create', NULL, 'draft', :u, :at), (:k, :i, :s, :d, 'submit', 'draft', "
                 "'submitted', :u, :at2)"),
            {"k": kind, "i": cid, "at2": created + timedelta(hours=1), **common},
        )  # fmt: skip
    # Materials of the bonus claim: an evidence document and a site photo of a checklist item (stored for real:
    # the register links to the file), plus a withdrawn document (not a material any more).
    pdf = files.store(PDF, "证书.pdf", kind="document")
    photo = files.store(_jpeg(tag), "gate.jpg")
    ids["attachment"] = _insert(conn,
        "INSERT INTO st_attachments (bonus_claim_id, site_id, name, sha256, content_type, size, district, created_at) "
        "VALUES (:b, :s, '获奖证书', :h, 'application/pdf', :n, :d, :at) RETURNING id",
        b=ids["st_bonus"], h=pdf.sha256, n=pdf.size, **common)  # fmt: skip
    conn.execute(
        text("INSERT INTO st_attachments (bonus_claim_id, site_id, name, sha256, content_type, size, district, deleted_at) "
             "VALUES (:b, :s, '撤回的材料', :h, 'application/pdf', :n, :d, now())"),
        {"b": ids["st_bonus"], "h": pdf.sha256, "n": pdf.size, **common})  # fmt: skip
    ids["photo"] = _insert(conn,
        "INSERT INTO st_photos (site_id, owner_kind, owner_id, checklist_code, sha256, content_type, size, district, "
        "created_at) VALUES (:s, 'bonus', :b, 'P01', :h, 'image/jpeg', :n, :d, :at) RETURNING id",
        b=ids["st_bonus"], h=photo.sha256, n=photo.size, at=created + timedelta(minutes=5),
        **{k: v for k, v in common.items() if k != "at"})  # fmt: skip
    ids["photo_size"], ids["pdf_size"] = photo.size, pdf.size
    return ids


PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _jpeg(tag: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (int(tag[-2:]) % 256, 120, 40)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def world(engine, app):
    info = st_world.build(engine)
    tag = datetime.now(UTC).strftime("%H%M%S")
    with engine.begin() as conn:
        org = _insert(conn, "INSERT INTO organisations (name, kind, district) VALUES (:n, 'enterprise', '西湖区') RETURNING id",
                      n=f"办件库测试施工单位{tag}")  # fmt: skip
    make_user(f"mat-applicant-{tag}", ["construction_unit"], org_id=org)
    info["tag"], info["org_name"], info["applicant"] = tag, f"办件库测试施工单位{tag}", f"mat-applicant-{tag}"
    with engine.begin() as conn:
        xh, yh = info["XH-2026-0001"], info["YH-2026-0002"]
        for key, site, n, at in (("xh", xh, "1", OLD), ("yh", yh, "2", datetime.now(UTC))):
            made = _cases_for(conn, site, tag + n, info["applicant"], at)
            info[f"{key}_cases"] = {k: v for k, v in made.items() if k.startswith("st_")}
            info[f"{key}_files"] = {k: v for k, v in made.items() if not k.startswith("st_")}
    info["city"] = make_user("mat-city", ["city_supervisor"])
    info["clerk"] = make_user("mat-clerk-xihu", ["district_staff"], district="西湖区")
    info["unit"] = make_user("mat-unit", ["construction_unit"])
    yield info
    # The test's round, draw and assignments are stand-ins (no real draw inputs): later modules must not meet them.
    with engine.begin() as conn:
        rounds = "SELECT id FROM st_rounds WHERE name LIKE '办件库测试批次%'"
        conn.execute(
            text(f"DELETE FROM st_assignments WHERE draw_id IN (SELECT id FROM st_draws WHERE round_id IN ({rounds}))")
        )
        conn.execute(text(f"DELETE FROM st_draws WHERE round_id IN ({rounds})"))
        conn.execute(text(f"DELETE FROM st_rounds WHERE id IN ({rounds})"))
        conn.execute(text("DELETE FROM st_notices WHERE title LIKE '办件库测试通知%'"))


def _all(client, headers, **params) -> dict:
    r = client.get(API, headers=headers, params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return r.json()


def _keys(data: dict) -> set[tuple[str, int]]:
    return {(i["kind"], i["id"]) for i in data["items"]}


def test_every_declared_kind_appears_with_its_particulars(client, world):
    declared = {c.kind for c in cases.all_types()}
    created = set(world["xh_cases"])
    assert created >= {k for k in declared if k.startswith("st_")}, "a new case kind: add one to this test"
    types = client.get(f"{API}/types", headers=world["city"]).json()["types"]
    assert {t["kind"] for t in types} == declared
    for kind, cid in world["xh_cases"].items():
        data = _all(client, world["city"], type=kind, applicant=world["applicant"])
        (it,) = [i for i in data["items"] if i["id"] == cid]
        assert it["kind_title"] == cases.get(kind).title and it["url"] == f"/records/{kind}/{cid}"
        assert it["applicant"] == world["applicant"] and it["unit"] == world["org_name"]
        assert it["created_at"].startswith("2025-05-05")
        assert [h["action"] for h in it["history"]] == ["create", "submit"]
        assert it["history"][0]["action_title"] == "创建"
        if kind != "st_notice":  # a notice names no site
            assert (it["project_code"], it["project_name"]) == ("XH-2026-0001", "西湖区文三路综合楼工程")
        if cases.get(kind).states:
            assert it["status_title"] == cases.get(kind).states[it["status"]]
        else:
            assert it["status"] is None and it["status_title"] == "已登记"
        assert it["materials"] == (2 if kind == "st_bonus" else 0)


def test_search_by_type_status_applicant_project_and_dates(client, world):
    city, xh, yh = world["city"], world["xh_cases"], world["yh_cases"]
    bonus = _all(client, city, type="st_bonus", status="confirmed")
    assert {("st_bonus", xh["st_bonus"]), ("st_bonus", yh["st_bonus"])} <= _keys(bonus)
    assert all(i["kind"] == "st_bonus" and i["status"] == "confirmed" for i in bonus["items"])
    # The status of another kind, across kinds: only kinds that have it.
    received = _all(client, city, status="received")
    assert ("st_report", xh["st_report"]) in _keys(received) and {i["kind"] for i in received["items"]} == {"st_report"}
    # The date range (creation, Beijing days): the old cases only.
    old = _all(client, city, **{"from": "2025-05-05", "to": "2025-05-05"})
    assert _keys(old) >= {(k, i) for k, i in xh.items()}
    assert not _keys(old) & {(k, i) for k, i in yh.items()}
    assert not _keys(_all(client, city, **{"from": "2025-05-06", "to": "2025-05-06"})) & {(k, i) for k, i in xh.items()}
    # Applicant (account, name or unit) and project (code or part of the name).
    by_unit = _all(client, city, applicant=world["org_name"])
    assert _keys(by_unit) == {(k, i) for k, i in xh.items()} | {(k, i) for k, i in yh.items()}
    by_project = _all(client, city, project="良渚安置房", applicant=world["applicant"])
    assert _keys(by_project) == {(k, i) for k, i in yh.items() if k != "st_notice"}
    # Paging.
    page = client.get(API, headers=city, params={"applicant": world["org_name"], "limit": 5, "offset": 5}).json()
    assert page["total"] == len(by_unit["items"]) == 14 and len(page["items"]) == 5
    # Bad filters are refused with the field.
    for params, field in (({"type": "nope"}, "type"), ({"status": "nope"}, "status"), ({"from": "2025-13-01"}, "from"),
                          ({"type": "st_stage", "status": "received"}, "status")):  # fmt: skip
        r = client.get(API, headers=city, params=params)
        assert r.status_code == 422 and r.json()["field"] == field, (params, r.text)
    assert client.get(API, headers=world["unit"]).status_code == 403  # a unit has no register access


def test_a_district_account_sees_only_what_the_sources_show_it(client, world):
    clerk, xh, yh = world["clerk"], world["xh_cases"], world["yh_cases"]
    seen = _keys(_all(client, clerk, applicant=world["org_name"]))
    assert seen, "the clerk sees the cases of their district"
    assert not seen & {(k, i) for k, i in yh.items() if k != "st_notice"}  # another district's site cases: none
    # Exactly what the source tables, read with the clerk's scope, and the declarations' rules show.
    from api.auth import Principal

    who = Principal(user="mat-clerk-xihu", roles=("district_staff",), user_id=1,
                    permissions=frozenset(["*.view", "*.export", "site.report.receive"]),
                    scope=scopes.Scope.of(districts=["西湖区"]))  # fmt: skip
    expected = set()
    with get_engine().connect() as conn:
        scopes.apply(conn, who.scope)
        for ids in (xh, yh):
            for k, cid in ids.items():
                case = cases.get(k)
                t = case.sa_table
                cond = [t.c.id == cid]
                if case.restrict is not None and (more := case.restrict(who, t, conn, {})) is not None:
                    cond.append(more)
                if conn.execute(t.select().where(*cond)).first() is not None:
                    expected.add((k, cid))
    assert seen == expected
    assert {("st_report", xh["st_report"]), ("st_bonus", xh["st_bonus"])} <= seen


def test_excel_export(client, world):
    r = client.get(f"{API}.xlsx", headers=world["city"], params={"applicant": world["org_name"], "type": "st_bonus"})
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.values)
    assert rows[0][:3] == ("办件类型", "编号", "状态") and len(rows) == 3
    assert {row[1] for row in rows[1:]} == {world["xh_cases"]["st_bonus"], world["yh_cases"]["st_bonus"]}
    assert all(row[2] == "主管部门已确认" for row in rows[1:]) and "提交" in rows[1][-1]
    assert client.get(f"{API}.xlsx", headers=world["unit"]).status_code == 403


def test_matter_detail_lists_the_submitted_materials(client, world):
    """A matter's detail lists each file its declaration places with it — name (a photo by its checklist item),
    kind of material, type, size, upload time, the module's link to the file (which serves it) — and not a
    withdrawn one; what the source tables hide is not found."""
    city, xh, files_ = world["city"], world["xh_cases"], world["xh_files"]
    r = client.get(f"{API}/st_bonus/{xh['st_bonus']}", headers=city)
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["kind"], d["id"], d["materials"], d["status_title"]) == ("st_bonus", xh["st_bonus"], 2, "主管部门已确认")
    assert d["unit"] == world["org_name"] and [h["action"] for h in d["history"]] == ["create", "submit"]
    doc, photo = d["material_files"]  # oldest upload first
    assert {k: doc[k] for k in ("id", "title", "name", "content_type", "size", "thumbnail")} == {
        "id": files_["attachment"],
        "title": "佐证材料",
        "name": "获奖证书",
        "content_type": "application/pdf",
        "size": files_["pdf_size"],
        "thumbnail": None,
    }
    assert doc["url"] == f"/api/st/bonus/{xh['st_bonus']}/attachments/{files_['attachment']}/file"
    assert doc["uploaded_at"].startswith("2025-05-05T10:00")
    assert {k: photo[k] for k in ("id", "title", "name", "content_type", "size")} == {
        "id": files_["photo"],
        "title": "现场照片",
        "name": "工地大门及七牌一图",
        "content_type": "image/jpeg",
        "size": files_["photo_size"],
    }
    assert photo["url"] == f"/api/st/photos/{files_['photo']}/file"
    assert photo["thumbnail"] == f"/api/st/photos/{files_['photo']}/thumbnail"
    # The links serve the files themselves.
    got = client.get(photo["url"], headers=city)
    assert got.status_code == 200 and got.content == _jpeg(world["tag"] + "1")
    got = client.get(doc["url"], headers=city)
    assert got.status_code == 200 and got.content == PDF
    # A case without materials lists none.
    report = client.get(f"{API}/st_report/{xh['st_report']}", headers=city).json()
    assert report["materials"] == 0 and report["material_files"] == []
    # Not found: another district's case for a district account, an unknown kind or id; no register access: 403.
    yh = world["yh_cases"]
    assert client.get(f"{API}/st_bonus/{xh['st_bonus']}", headers=world["clerk"]).status_code == 200
    assert client.get(f"{API}/st_bonus/{yh['st_bonus']}", headers=world["clerk"]).status_code == 404
    assert client.get(f"{API}/nope/1", headers=city).status_code == 404
    assert client.get(f"{API}/st_bonus/999999999", headers=city).status_code == 404
    assert client.get(f"{API}/st_bonus/0", headers=city).status_code == 422
    assert client.get(f"{API}/st_bonus/{xh['st_bonus']}", headers=world["unit"]).status_code == 403


@pytest.fixture(scope="module")
def server(app, world):
    with running_server(app) as base:
        yield base


def test_matters_page_in_chromium(server, world):
    from playwright.sync_api import expect, sync_playwright

    assert os.path.exists(CHROMIUM)
    make_user("mat-page-city", ["city_supervisor"])
    errors: list[str] = []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        try:
            page = b.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN").new_page()
            page.set_default_timeout(15_000)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server + "/registers/matters")
            page.locator("#login input[name=username]").fill("mat-page-city")
            page.locator("#login input[name=password]").fill(TEST_PASSWORD)
            page.locator("#login button[type=submit]").click()
            expect(page.locator("#matters tbody tr").first).to_be_visible()
            form = page.locator("#filters")
            form.locator("select[name=type]").select_option("st_bonus")
            expect(form.locator("select[name=status] option[value=confirmed]")).to_have_count(1)
            form.locator("select[name=status]").select_option("confirmed")
            form.locator("input[name=applicant]").fill(world["org_name"])
            form.locator("button[type=submit]").click()
            expect(page.locator("#matters tbody tr")).to_have_count(2)
            row = page.locator("#matters tbody tr").first
            expect(row).to_contain_text("加分项申报")
            expect(row).to_contain_text(world["org_name"])
            expect(row.locator("a.record")).to_have_attribute(
                "href", f"/records/st_bonus/{world['yh_cases']['st_bonus']}"
            )
            # The detail of a matter lists its materials with links to the files.
            row.locator("button.materials").click()
            detail = page.locator("dialog[open] .matter")
            expect(detail.locator("h3").first).to_have_text("申报材料（2 份）")
            files_ = world["yh_files"]
            expect(detail.locator("tbody tr")).to_have_count(2)
            expect(detail.locator("tbody tr").nth(0)).to_contain_text("获奖证书")
            expect(detail.locator("tbody tr").nth(1)).to_contain_text("工地大门及七牌一图")
            expect(detail.locator("a.file").nth(1)).to_have_attribute("href", f"/api/st/photos/{files_['photo']}/file")
            expect(detail.locator("img.thumb")).to_have_count(1)
            page.wait_for_function("document.querySelector('dialog[open] img.thumb').naturalWidth > 0")
            page.locator("dialog[open] button.close").click()
            href = unquote(page.locator("#export").get_attribute("href") or "")
            assert href == f"/api/registers/matters.xlsx?type=st_bonus&status=confirmed&applicant={world['org_name']}"
            # A bad range is explained in Chinese.
            form.locator("input[name=from]").fill("2026-02-01")
            form.locator("input[name=to]").fill("2026-01-01")
            form.locator("button[type=submit]").click()
            expect(form.locator(".form-error")).to_contain_text("截止日期不能早于起始日期")
        finally:
            b.close()
    assert errors == []
