"""The personnel register (DC-03): ID numbers checked with python-stdnum (a wrong check character is refused and
nothing is stored), personal data masked by default, unmasking only with ``person.unmask`` and in the operation
log, Excel import all-or-nothing with a row-numbered report (the ID number masked in it), export masked unless the
exporter may unmask, name search by Chinese substring under row-level security, optimistic versions, and the
standardized-site expert pool as a view of the register (adding an expert creates the person; the same ID number
twice is one person). The page is walked in Debian's Chromium."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import text
from stdnum.cn import ric

from tests.conftest import ADMIN, TEST_PASSWORD, chromium, make_user, running_server

API = "/api/registers/persons"


def idn(n: int, year: int = 2003) -> str:
    """A valid ID number no demo person has (the demo's are born 1960–2000): Hangzhou, 03-03 of ``year``."""
    body = f"330100{year}0303{n:03d}"
    return body + ric.calc_check_digit(body + "0")


def wrong_check(number: str) -> str:
    return number[:17] + next(c for c in "0123456789X" if c != number[17])


def masked(number: str) -> str:
    return number[:4] + "*" * 10 + number[-4:]


def xlsx(headers: list[str], rows: list[list]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(headers)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def count(engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


@pytest.fixture(scope="module")
def people():
    """A city editor (registers.* through *.view/*.edit/…, no person.unmask), a 西湖区 clerk (view only), the
    administrator (every permission, person.unmask included)."""
    return {
        "editor": make_user("persons-editor", ["city_supervisor"]),
        "clerk": make_user("persons-clerk-xh", ["district_staff"], district="西湖区"),
        "public": make_user("persons-public", ["public"]),
    }


def create(client, headers, **fields) -> dict:
    body = {"name": "测试", "categories": ["site_manager"], "district": "西湖区", **fields}
    r = client.post(API, headers=headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_invalid_id_number_refused_and_nothing_stored(client, people, engine):
    bad = wrong_check(idn(1))
    before = count(engine, "SELECT count(*) FROM persons")
    r = client.post(API, headers=people["editor"], json={"name": "错号", "id_number": bad})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "invalid_id_number" and body["field"] == "id_number"
    assert "身份证" in body["message"]
    assert count(engine, "SELECT count(*) FROM persons") == before
    # The table refuses it too, whoever writes (the check character, GB 11643's MOD 11-2).
    with pytest.raises(Exception, match="persons_id_number_valid"):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO persons (id_number, name) VALUES (:i, '直写')"), {"i": bad})
    # Other bad input: an unknown district, an unknown category; nothing stored either.
    for field, value, code in (
        ("district", "火星区", "unknown_district"),
        ("categories", ["boss"], "invalid_categories"),
    ):
        r = client.post(API, headers=people["editor"], json={"name": "甲", "id_number": idn(2), field: value})
        assert r.status_code == 422 and r.json()["code"] == code and r.json()["field"] == field, r.text
    assert count(engine, "SELECT count(*) FROM persons WHERE id_number = :i", i=idn(2)) == 0
    assert client.post(API, headers=people["clerk"], json={"name": "乙", "id_number": idn(3)}).status_code == 403


def test_masked_by_default_unmask_needs_permission_and_is_logged(client, people, engine):
    from geo import modules

    number, phone = idn(10), "13912345678"
    p = create(client, people["editor"], name="周建工", id_number=number, phone=phone)
    assert p["id_number"] == masked(number) and p["phone"] == "139****5678" and p["masked"] is True
    assert p["gender"] == "female"  # the 17th digit (0) is even
    for who in (people["editor"], ADMIN):  # the detail and the list are masked for everyone, admin included
        d = client.get(f"{API}/{p['id']}", headers=who).json()
        assert d["id_number"] == masked(number) and d["phone"] == "139****5678"
        listed = client.get(API, headers=who, params={"q": "周建工"}).json()["persons"]
        assert [x["id_number"] for x in listed] == [masked(number)]
        assert number not in client.get(API, headers=who, params={"q": "周建工"}).text
    base = count(engine, "SELECT coalesce(max(id), 0) FROM audit_log")
    r = client.post(f"{API}/{p['id']}/unmask", headers=people["editor"])
    assert r.status_code == 403 and r.json()["detail"]["permission"] == "person.unmask"
    assert client.get(f"{API}/{p['id']}", headers=people["public"]).status_code == 403
    r = client.post(f"{API}/{p['id']}/unmask", headers=ADMIN)
    assert r.status_code == 200 and r.json()["id_number"] == number and r.json()["phone"] == phone
    with engine.connect() as conn:
        logged = conn.execute(
            text("SELECT actor, layer, feature_id, detail FROM audit_log WHERE id > :b AND action = 'unmask'"),
            {"b": base},
        ).all()
    assert [(a, lyr, f) for a, lyr, f, _ in logged] == [("test-admin", "persons", p["id"])]
    assert set(logged[0].detail["columns"]) == {"id_number", "phone"}
    assert modules.log_labels()["actions"]["unmask"] == "查看个人信息"
    # The operation log keeps the changes masked: the number is in the register, not copied into the log.
    with engine.connect() as conn:
        after = conn.execute(
            text("SELECT after FROM audit_log WHERE action = 'create' AND layer = 'persons' AND feature_id = :p"),
            {"p": p["id"]},
        ).scalar_one()
    assert after["id_number"] == masked(number)


def test_update_is_version_checked_and_audited(client, people, engine):
    p = create(client, people["editor"], name="吴一", id_number=idn(20))
    r = client.patch(f"{API}/{p['id']}", headers=people["editor"], json={"version": p["version"] + 3, "name": "吴二"})
    assert r.status_code == 409 and r.json()["code"] == "stale_version"
    job = {"enterprise_uscc": "91330100MA2CXXXX0X", "started_on": "2020-01-01"}
    r = client.patch(f"{API}/{p['id']}", headers=people["editor"], json={"version": p["version"], "employment": [job]})
    assert r.status_code == 422 and r.json()["code"] == "invalid_uscc", r.text
    from layers.standard_sites.demo import uscc_for

    firm = uscc_for("人员库测试建工集团")
    # A well-formed code of an enterprise the register does not hold is refused, and nothing changes.
    unknown = client.patch(
        f"{API}/{p['id']}",
        headers=people["editor"],
        json={"version": p["version"], "employment": [job | {"enterprise_uscc": firm}]},
    )
    assert unknown.status_code == 422 and unknown.json()["field"].endswith("enterprise_uscc"), unknown.text
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO enterprises (uscc, name, types) VALUES (:u, '人员库测试建工集团', '{construction}') ON CONFLICT DO NOTHING"
            ),
            {"u": firm},
        )
    r = client.patch(
        f"{API}/{p['id']}",
        headers=people["editor"],
        json={
            "version": p["version"],
            "name": "吴二",
            "categories": ["项目经理", "registered"],
            "registrations": [{"reg_type": "一级建造师", "reg_no": "浙133TEST0001", "valid_to": "2028-06-30"}],
            "employment": [{"enterprise_uscc": firm, "role": "项目经理", "started_on": "2020-01-01"}],
        },
    )
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["name"] == "吴二" and d["version"] == p["version"] + 1
    assert d["categories"] == ["project_manager", "registered"]
    assert [x["reg_no"] for x in d["registrations"]] == ["浙133TEST0001"]
    assert d["employment"][0]["enterprise_uscc"] == firm and d["employment"][0]["ended_on"] is None
    listed = client.get(API, headers=people["editor"], params={"enterprise": firm}).json()
    assert [x["id"] for x in listed["persons"]] == [p["id"]]
    assert count(engine, "SELECT count(*) FROM audit_log WHERE layer = 'persons' AND feature_id = :p", p=p["id"]) == 2


def test_search_by_chinese_substring_filters_and_scope(client, people):
    a = create(client, people["editor"], name="欧阳建工", id_number=idn(30), district="西湖区")
    b = create(client, people["editor"], name="建工明", id_number=idn(31), district="余杭区", categories=["expert"])
    c = create(client, people["editor"], name="李四海", id_number=idn(32), district="西湖区")
    found = lambda who, **q: {x["id"] for x in client.get(API, headers=who, params=q).json()["persons"]}  # noqa: E731
    assert found(people["editor"], q="建工") >= {a["id"], b["id"]}
    assert c["id"] not in found(people["editor"], q="建工")
    assert a["id"] in found(people["editor"], q="阳建") and b["id"] not in found(people["editor"], q="阳建")
    assert b["id"] in found(people["editor"], q="建工", category="expert")
    assert a["id"] not in found(people["editor"], q="建工", category="expert")
    assert b["id"] in found(people["editor"], q="建工", district="余杭区")
    assert a["id"] not in found(people["editor"], q="建工", district="余杭区")
    # Row-level security: the 西湖区 clerk finds the 西湖区 person, not the 余杭区 one, nor can open it.
    assert a["id"] in found(people["clerk"], q="建工") and b["id"] not in found(people["clerk"], q="建工")
    assert client.get(f"{API}/{b['id']}", headers=people["clerk"]).status_code == 404
    r = client.get(API, headers=people["editor"], params={"category": "boss"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_category"


def test_search_total_and_pages_in_one_pass_match_the_register(client, people, engine):
    """A name search answers the page with its total from one statement: the total is what the register holds for
    the term (within the account's scope), pages walk id order, and a page past the end still tells the total."""
    made = [create(client, people["editor"], name=f"卫{n}页翻", id_number=idn(140 + i), district=d)
            for i, (n, d) in enumerate(zip("甲乙丙丁戊", ("西湖区", "西湖区", "余杭区", "西湖区", "余杭区")))]  # fmt: skip
    ids = sorted(p["id"] for p in made)
    with engine.connect() as conn:
        truth = conn.execute(text("SELECT id FROM persons WHERE name LIKE '%页翻%' ORDER BY id")).scalars().all()
    assert truth == ids
    for offset, page in ((0, ids[:2]), (2, ids[2:4]), (4, ids[4:]), (6, [])):
        r = client.get(API, headers=people["editor"], params={"q": "页翻", "limit": 2, "offset": offset}).json()
        assert (r["total"], [x["id"] for x in r["persons"]]) == (5, page), offset
    west = sorted(p["id"] for p in made if p["district"] == "西湖区")
    r = client.get(API, headers=people["clerk"], params={"q": "页翻", "limit": 2, "offset": 2}).json()
    assert (r["total"], [x["id"] for x in r["persons"]]) == (3, west[2:])
    r = client.get(API, headers=people["clerk"], params={"q": "页翻", "limit": 2, "offset": 4}).json()
    assert (r["total"], r["persons"]) == (3, [])


HEADERS = ["姓名", "身份证号", "手机号", "人员类别", "所属区县", "注册类别", "注册证书编号", "注册有效期至"]


def test_import_reports_bad_rows_by_number_masked_and_stores_nothing(client, people, engine):
    good = [
        "钱一",
        idn(40),
        "13800000040",
        "项目经理、注册执业人员",
        "西湖区",
        "一级建造师",
        "浙133IMP0040",
        "2029-01-01",
    ]
    bad = ["钱二", wrong_check(idn(41)), "13800000041", "现场管理人员", "西湖区", None, None, None]
    dup = ["钱三", idn(40), "13800000042", "现场管理人员", "西湖区", None, None, None]
    unknown = ["钱四", idn(43), "13800000043", "老板", "西湖区", None, None, None]
    data = xlsx(HEADERS, [good, bad, dup, unknown])
    files = lambda d: {"file": ("人员.xlsx", io.BytesIO(d), "application/octet-stream")}  # noqa: E731
    r = client.post(f"{API}/import", headers=people["editor"], params={"mode": "dry_run"}, files=files(data))
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["valid"] is False and report["rows"] == 4
    assert [(e["row"], e["code"]) for e in report["errors"]] == [
        (3, "invalid_id_number"),
        (4, "duplicate_row"),
        (5, "invalid_categories"),
    ]
    assert report["errors"][0]["column"] == "身份证号" and report["errors"][0]["message"].startswith("第 3 行")
    assert report["errors"][0]["id_number"] == masked(bad[1])
    assert bad[1] not in r.text and idn(40) not in r.text  # the report never shows a whole ID number
    r = client.post(f"{API}/import", headers=people["editor"], params={"mode": "commit"}, files=files(data))
    assert r.status_code == 422 and r.json()["code"] == "import_rejected"
    assert r.json()["detail"]["errors"][0]["row"] == 3
    assert count(engine, "SELECT count(*) FROM persons WHERE id_number = ANY(:i)", i=[idn(40), idn(43)]) == 0
    assert count(engine, "SELECT count(*) FROM person_registrations WHERE reg_no = '浙133IMP0040'") == 0
    # The good row alone goes in, with its registration; a wrong header is refused as a whole.
    r = client.post(
        f"{API}/import", headers=people["editor"], params={"mode": "commit"}, files=files(xlsx(HEADERS, [good]))
    )
    assert r.status_code == 201 and r.json()["created"] == 1, r.text
    assert count(engine, "SELECT count(*) FROM person_registrations WHERE reg_no = '浙133IMP0040'") == 1
    r = client.post(f"{API}/import", headers=people["editor"], files=files(xlsx(["姓名", "手机号"], [["x", "1"]])))
    assert r.status_code == 422 and r.json()["code"] == "missing_columns"
    assert client.post(f"{API}/import", headers=people["public"], files=files(data)).status_code == 403


def test_export_is_masked_unless_the_exporter_may_unmask(client, people, engine):
    number = idn(50)
    create(client, people["editor"], name="孙导出", id_number=number, phone="13900000050")

    def sheet(headers) -> dict:
        r = client.get(f"{API}/export", headers=headers, params={"q": "孙导出"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
        rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
        assert rows[0][1:4] == ("姓名", "身份证号", "性别")
        return {row[1]: row for row in rows[1:]}

    base = count(engine, "SELECT coalesce(max(id), 0) FROM audit_log")
    row = sheet(people["editor"])["孙导出"]
    assert row[2] == masked(number) and row[4] == "139****0050"
    assert count(engine, "SELECT count(*) FROM audit_log WHERE id > :b AND action = 'unmask'", b=base) == 0
    row = sheet(ADMIN)["孙导出"]
    assert row[2] == number and row[4] == "13900000050"
    assert count(engine, "SELECT count(*) FROM audit_log WHERE id > :b AND action = 'unmask'", b=base) == 1
    assert client.get(f"{API}/export", headers=people["public"]).status_code == 403
    # A district account exports its district's persons only (row-level security), masked.
    create(client, people["editor"], name="孙导出", id_number=idn(51), district="余杭区")
    assert [r[2] for r in sheet(people["clerk"]).values()] == [masked(number)]


def test_st_expert_pool_is_a_view_of_the_register(client, people, engine):
    """Adding an expert to the standardized-site pool creates the person; a person already in the register is the
    same person (one row per ID number); the person's record shows the pool entry."""
    number = idn(60)
    expert = {
        "name": "郑专家",
        "id_number": number,
        "phone": "13900000060",
        "group_name": "房屋建筑",
        "specialties": ["安全"],
    }
    r = client.post("/api/st/experts", headers=people["editor"], json=expert)
    assert r.status_code == 201, r.text
    e = r.json()
    with engine.connect() as conn:
        person = conn.execute(text("SELECT * FROM persons WHERE id_number = :i"), {"i": number}).mappings().one()
        pooled = conn.execute(text("SELECT person_id FROM st_experts WHERE id = :e"), {"e": e["id"]}).scalar_one()
    assert person["id"] == e["person_id"] == pooled and person["name"] == "郑专家"
    assert "expert" in person["categories"] and "st_review" in person["expert_kinds"]
    assert person["expert_groups"] == ["房屋建筑"] and person["specialties"] == ["安全"]
    d = client.get(f"{API}/{person['id']}", headers=people["editor"]).json()
    entry = d["linked"]["standard_sites"]["标化工地专家"]
    assert entry["total"] == 1 and entry["rows"][0]["group_name"] == "房屋建筑"
    # Renaming in the pool renames the person (the fields live in the register).
    r = client.patch(
        f"/api/st/experts/{e['id']}", headers=people["editor"], json={"version": e["version"], "name": "郑二"}
    )
    assert r.status_code == 200, r.text
    assert client.get(f"{API}/{person['id']}", headers=people["editor"]).json()["name"] == "郑二"

    # A person already in the register, then added to the pool: one person.
    number2 = idn(61)
    p = create(client, people["editor"], name="冯已在库", id_number=number2, categories=["registered"])
    r = client.post(
        "/api/st/experts", headers=people["editor"], json={**expert, "id_number": number2, "phone": "13900000061"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["person_id"] == p["id"]
    second = r.json()["id"]
    assert count(engine, "SELECT count(*) FROM persons WHERE id_number = :i", i=number2) == 1
    with engine.connect() as conn:
        cats = conn.execute(text("SELECT categories FROM persons WHERE id = :p"), {"p": p["id"]}).scalar_one()
    assert cats == ["expert", "registered"]
    # The same ID number twice in the pool is refused (one pool entry per person).
    r = client.post("/api/st/experts", headers=people["editor"], json={**expert, "phone": "13900000062"})
    assert r.status_code == 409 and r.json()["code"] == "duplicate_expert"
    assert count(engine, "SELECT count(*) FROM persons WHERE id_number = :i", i=number) == 1
    # Out of the pool again (later modules draw from it); the persons stay in the register.
    for x in (e["id"], second):
        assert client.delete(f"/api/st/experts/{x}", headers=people["editor"]).status_code == 204
    assert count(engine, "SELECT count(*) FROM persons WHERE id_number = ANY(:i)", i=[number, number2]) == 2


# -- the page --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(app):
    with running_server(app) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with chromium(expect_timeout_ms=15_000) as b:
        yield b


def test_page_search_detail_and_unmask_in_browser(browser, server, client, people, engine):
    from playwright.sync_api import expect

    make_user("persons-page-admin", ["admin"])
    number = idn(70)
    create(client, people["editor"], name="褚页面", id_number=number, phone="13900000070")
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/registers/persons")
    login = page.locator("#login")
    expect(login).to_be_visible()
    login.locator("input[name=username]").fill("persons-page-admin")
    login.locator("input[name=password]").fill(TEST_PASSWORD)
    login.locator("button[type=submit]").click()
    expect(page.locator("#app")).to_be_visible()
    page.locator("form.filters input[name=q]").fill("褚页面")
    page.locator("form.filters button[type=submit]").click()
    row = page.locator("tbody tr", has_text="褚页面")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(masked(number))
    expect(page.locator("body")).not_to_contain_text(number)
    row.locator("button", has_text="详情").click()
    expect(page.locator("#p-id-number")).to_have_text(masked(number))
    page.locator("#unmask").click()
    expect(page.locator("#p-id-number")).to_have_text(number)
    expect(page.locator("#p-phone")).to_have_text("13900000070")
    assert count(engine, "SELECT count(*) FROM audit_log WHERE action = 'unmask' AND actor = 'persons-page-admin'") == 1
    # The workbench's expert pool names each expert with a link to the person's record.
    expert = {"name": "褚专家", "id_number": idn(71), "phone": "13900000071", "group_name": "房屋建筑"}
    e = client.post("/api/st/experts", headers=people["editor"], json=expert).json()
    try:
        page.goto(server + "/st#experts")
        link = page.locator("tbody tr", has_text="褚专家").locator("a")
        expect(link).to_have_attribute("href", f"/records/persons/{e['person_id']}")
    finally:
        assert client.delete(f"/api/st/experts/{e['id']}", headers=people["editor"]).status_code == 204
    assert not errors, errors
    context.close()


def test_an_export_beyond_the_limit_asks_for_a_narrower_filter(client, people, engine, monkeypatch):
    """A sheet is written within the request: more persons than the limit is a 422 telling how to narrow it, and
    nothing is logged as exported."""
    from layers.persons import api

    create(client, people["editor"], name="导出上限一", id_number=idn(161))
    create(client, people["editor"], name="导出上限二", id_number=idn(162))
    monkeypatch.setattr(api, "EXPORT_LIMIT", 1)
    before = count(engine, "SELECT coalesce(max(id), 0) FROM audit_log")
    r = client.get(f"{API}/export", headers=people["editor"], params={"q": "导出上限"})
    assert r.status_code == 422 and r.json()["code"] == "too_many_rows" and "缩小范围" in r.json()["message"], r.text
    assert count(engine, "SELECT count(*) FROM audit_log WHERE id > :b AND action = 'export'", b=before) == 0
    monkeypatch.setattr(api, "EXPORT_LIMIT", 2)
    assert client.get(f"{API}/export", headers=people["editor"], params={"q": "导出上限"}).status_code == 200
