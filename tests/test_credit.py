"""The credit register (DC-04): events fed by the standardized-site module through the case hooks (with their source
record), the score from the versioned rule (weights, decay; history kept), the import of licences and penalties
(row-numbered report, nothing stored on error, idempotent re-import), the subject's credit page, the pages in
Chromium."""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import text
from stdnum.cn import ric, uscc

from etl.demo import World
from layers.credit import score
from layers.standard_sites import common
from tests import st_world
from tests.conftest import TEST_PASSWORD, chromium, make_user, running_server, set_environment

XH = "XH-2026-0001"
API = "/api/registers/credit"


def a_uscc(tail: str) -> str:
    body = "91330106" + tail.rjust(9, "0")
    return body + uscc.calc_check_digit(body)


def an_id_number(tail: str) -> str:
    body = "33010619900101" + tail.rjust(3, "0")
    return body + ric.calc_check_digit(body + "0")


@pytest.fixture(scope="module")
def world(engine, app, tmp_path_factory):
    restore = set_environment(CHENGJIAN_FILES_DIR=str(tmp_path_factory.mktemp("files")))
    info = st_world.build(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO st_registrations (project_id, site_id, district, created_at, created_by) "
                "SELECT id, site_id, district, now() - interval '400 days', 'test' FROM projects WHERE code = :c"
            ),
            {"c": XH},
        )
    sid = info[XH]["site_id"]
    info["sg"] = make_user("cre-sg", ["construction_unit"], grants={"sites": [sid]})
    info["jl"] = make_user("cre-jl", ["supervision_unit"], grants={"sites": [sid]})
    info["clerk"] = make_user("cre-clerk-xihu", ["district_staff"], district="西湖区")
    info["city"] = make_user("cre-city", ["city_supervisor"])
    info["unit"] = info["sg"]
    yield info
    restore()


def _photo(client, headers, owner_id, site):
    taken = datetime.now(UTC)
    files = {"file": ("scan.jpg", io.BytesIO(st_world.jpeg(site["lon"], site["lat"], taken)), "image/jpeg")}
    form = {"lon": str(site["lon"]), "lat": str(site["lat"]), "accuracy_m": "10", "taken_at": taken.isoformat()}
    return client.post(f"/api/st/bonus/{owner_id}/photos", headers=headers, files=files, data=form)


def _events(engine, where: str, **params) -> list[dict]:
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(text(f"SELECT * FROM credit_events WHERE {where} ORDER BY id"), params).mappings()
        ]


def _subject_id(engine, kind: str, code: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT id FROM credit_subjects WHERE subject_kind = :k AND subject_code = :c"), {"k": kind, "c": code}
        ).scalar_one()


def test_confirmed_bonus_and_registered_deduction_feed_events_through_the_hook(client, world, engine):
    site = world[XH]
    sg, jl, clerk = world["sg"], world["jl"], world["clerk"]
    r = client.post(f"/api/st/sites/{site['site_id']}/bonus", headers=sg, json={"item_code": "B02"})
    assert r.status_code == 201, r.text
    claim = r.json()
    assert _photo(client, sg, claim["id"], site).status_code == 201
    for who, action in ((sg, "submit"), (jl, "approve")):
        r = client.post(f"/api/st/bonus/{claim['id']}/actions/{action}", headers=who, json={})
        assert r.status_code == 200, r.text
    # Not yet confirmed: no event.
    assert _events(engine, "source = 'st_bonus' AND source_id = :i", i=claim["id"]) == []
    r = client.post(f"/api/st/bonus/{claim['id']}/actions/confirm", headers=clerk, json={})
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    (ev,) = _events(engine, "source = 'st_bonus' AND source_id = :i", i=claim["id"])
    assert (ev["event_type"], ev["polarity"], ev["subject_kind"], ev["subject_code"]) == (
        "st_bonus", "good", "enterprise", site["uscc"])  # fmt: skip
    assert ev["points"] == r.json()["points"] and ev["source_module"] == "standard_sites"
    assert ev["site_id"] == site["site_id"] and ev["natural_key"] == f"st_bonus:{claim['id']}:confirmed"
    # A deduction of a person, recorded without a workflow: its event comes from the same hook.
    person = an_id_number("551")
    body = {"item_code": "D03", "subject_kind": "person", "subject_code": person, "subject_name": "李四",
            "reason": "拒不整改", "occurred_on": common.today_beijing().isoformat()}  # fmt: skip
    d = client.post(f"/api/st/sites/{site['site_id']}/deductions", headers=clerk, json=body)
    assert d.status_code == 201, d.text
    (bad,) = _events(engine, "source = 'st_deduction' AND source_id = :i", i=d.json()["id"])
    assert (bad["event_type"], bad["polarity"], bad["subject_code"], bad["natural_key"]) == (
        "st_deduction", "bad", person, f"st_deduction:{d.json()['id']}:created")  # fmt: skip
    # The subject's credit page lists the event with a link to its source record; the score was computed.
    sid = _subject_id(engine, "enterprise", site["uscc"])
    page = client.get(f"{API}/subjects/{sid}", headers=world["city"]).json()
    mine = [e for e in page["items"] if e["source"] == "st_bonus" and e["source_id"] == claim["id"]]
    assert len(mine) == 1 and mine[0]["source_url"] == f"/records/st_bonus/{claim['id']}"
    assert page["score"] is not None and page["history"] and page["events"] == len(page["items"])
    pid = _subject_id(engine, "person", person)
    ppage = client.get(f"{API}/subjects/{pid}", headers=world["city"]).json()
    assert ppage["subject_code"] == person[:4] + "*" * 10 + person[-4:]  # an ID number is masked
    assert ppage["items"][0]["source_url"] == f"/records/st_deduction/{d.json()['id']}"
    # The events list filters by type, polarity, source and date range.
    listed = client.get(f"{API}/events", headers=world["city"],
                        params={"event_type": "st_deduction", "polarity": "bad", "source": "st_deduction",
                                "from": body["occurred_on"], "to": body["occurred_on"]}).json()  # fmt: skip
    assert d.json()["id"] in [e["source_id"] for e in listed["items"]]
    assert all(e["polarity"] == "bad" for e in listed["items"])
    r = client.get(f"{API}/events", headers=world["city"], params={"polarity": "neutral"})
    assert r.status_code == 422 and r.json()["field"] == "polarity"
    assert client.get(f"{API}/events", headers=world["sg"]).status_code == 403  # a unit has no register access
    # The sources offered by the page: the import and every fed case kind, with their titles.
    sources = {s["code"]: s["title"] for s in client.get(f"{API}/rules", headers=world["city"]).json()["sources"]}
    assert sources["st_bonus"] == "加分项申报" and sources["st_deduction"] == "减分记录" and "credit_import" in sources


def _rule(client, headers) -> dict:
    return client.get(f"{API}/rules", headers=headers).json()["current"]


def test_score_follows_the_rule_and_keeps_its_history(client, world, engine):
    code = a_uscc("77001")
    today = score.today()
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM credit_events WHERE subject_code = :c"), {"c": code})
        conn.execute(text("DELETE FROM credit_subjects WHERE subject_code = :c"), {"c": code})
        for n, (etype, pol, pts, age) in enumerate((("licence", "good", 4, 0), ("penalty", "bad", 6, 365))):
            conn.execute(
                text(
                    "INSERT INTO credit_events (subject_kind, subject_code, subject_name, event_type, polarity, points, "
                    "reason, source, natural_key, occurred_on) VALUES ('enterprise', :c, '测试评分企业', :t, :p, :pts, "
                    "'测试', 'credit_import', :k, :d)"
                ),
                {
                    "c": code,
                    "t": etype,
                    "p": pol,
                    "pts": pts,
                    "k": f"test-score:{code}:{n}",
                    "d": today - timedelta(days=age),
                },
            )
        score.rescore(conn, [("enterprise", code)])
    city = world["city"]
    rule = _rule(client, city)
    w = rule["weights"]

    def expected(base, half, weights):
        return round(
            base + weights.get("licence", 1) * 4 - weights.get("penalty", 1) * 6 * math.pow(0.5, 365 / half), 2
        )

    sid = _subject_id(engine, "enterprise", code)
    page = client.get(f"{API}/subjects/{sid}", headers=city).json()
    assert page["score"] == pytest.approx(expected(rule["base_score"], rule["half_life_days"], w), abs=0.01)
    assert len(page["history"]) == 1 and page["history"][0]["rule_version"] == rule["version"]
    # A unit may not change the rule; a stale version is refused; an unknown type is refused.
    new = {"version": rule["version"], "base_score": 80, "half_life_days": 180,
           "weights": {**w, "penalty": 5}, "note": "加重处罚"}  # fmt: skip
    assert client.put(f"{API}/rules", headers=world["clerk"], json=new).status_code == 403
    r = client.put(f"{API}/rules", headers=city, json={**new, "version": rule["version"] - 1 or 99})
    assert r.status_code == 409 and r.json()["code"] == "stale_version"
    r = client.put(f"{API}/rules", headers=city, json={**new, "weights": {"nope": 1}})
    assert r.status_code == 422 and r.json()["code"] == "unknown_event_type"
    assert _rule(client, city)["version"] == rule["version"]
    r = client.put(f"{API}/rules", headers=city, json=new)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == rule["version"] + 1
    page = client.get(f"{API}/subjects/{sid}", headers=city).json()
    assert page["score"] == pytest.approx(expected(80, 180, new["weights"]), abs=0.01)
    assert [h["rule_version"] for h in page["history"]] == [rule["version"] + 1, rule["version"]]
    with engine.connect() as conn:
        logged = conn.execute(
            text("SELECT after FROM audit_log WHERE action = 'credit_rules' AND feature_id = :v"),
            {"v": rule["version"] + 1},
        ).scalar_one()
    assert logged["weights"]["penalty"] == 5
    # Back to the first values (a new version again): other tests see the usual rule.
    back = {"version": rule["version"] + 1, "base_score": rule["base_score"], "half_life_days": rule["half_life_days"],
            "weights": w, "note": "恢复"}  # fmt: skip
    assert client.put(f"{API}/rules", headers=city, json=back).status_code == 200


HEADER = [
    "数据类别",
    "相对人类别",
    "相对人名称",
    "证件号码",
    "决定文书号",
    "事项",
    "决定日期",
    "分值",
    "决定机关",
    "区县",
]


def _xlsx(rows: list[list], header: list[str] = HEADER) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _csv(rows: list[list]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADER)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")


def _import(client, headers, data: bytes, name: str):
    return client.post(
        f"{API}/import", headers=headers, files={"file": (name, io.BytesIO(data), "application/octet-stream")}
    )


def test_import_reports_bad_rows_stores_nothing_and_is_idempotent(client, world, engine):
    city = world["city"]
    ent, person = a_uscc("88001"), an_id_number("882")
    tag = datetime.now(UTC).strftime("%H%M%S%f")
    good = [
        ["行政处罚", "企业", "测试导入建设有限公司", ent, f"杭建罚〔测{tag}〕1号", "未设置扬尘防治设施", date(2026, 3, 1), 5, "杭州市城乡建设委员会", "西湖区"],
        ["行政许可", "个人", "王五", person, f"杭建许〔测{tag}〕2号", "注册建造师执业许可", "2026-02-01", 2, "", ""],
    ]  # fmt: skip
    bad = [
        *good,
        ["行政处罚", "企业", "错误代码公司", ent[:-1] + ("0" if ent[-1] != "0" else "1"), f"罚{tag}3", "事项", "2026-01-01", 3, "", ""],
        ["行政表扬", "个人", "赵六", person, f"罚{tag}4", "事项", "2026-13-01", "三", "", "火星区"],
        good[0],
    ]  # fmt: skip
    like = f"%{tag}%"
    r = _import(client, city, _xlsx(bad), "credit.xlsx")
    assert r.status_code == 422 and r.json()["code"] == "import_rejected", r.text
    errors = r.json()["detail"]["errors"]
    assert {(e["row"], e["column"]) for e in errors} == {
        (4, "证件号码"), (5, "数据类别"), (5, "决定日期"), (5, "分值"), (5, "区县"), (6, "决定文书号")}  # fmt: skip
    assert "校验位" in next(e["message"] for e in errors if e["row"] == 4) and "第 2 行" in errors[-1]["message"]
    assert _events(engine, "document_no LIKE :t", t=like) == []
    # A wrong header: the file is refused at row 1.
    r = _import(client, city, _xlsx(good, [*HEADER[:-1], "所属区"]), "credit.xlsx")
    assert r.status_code == 422 and r.json()["code"] == "invalid_header" and "区县" not in r.json()["detail"]["missing"]
    assert r.json()["detail"]["unknown"] == ["所属区"]
    r = _import(client, city, _xlsx(good[:1], HEADER[:3]), "credit.xlsx")
    assert r.status_code == 422 and "证件号码" in r.json()["detail"]["missing"]
    assert _import(client, city, b"x", "credit.txt").json()["code"] == "invalid_file_type"
    assert _import(client, world["sg"], _xlsx(good), "credit.xlsx").status_code == 403
    # The good rows: stored, the subjects scored; again (Excel or the same rows as CSV): nothing new.
    r = _import(client, city, _xlsx(good), "credit.xlsx")
    assert r.status_code == 200 and r.json() == {"rows": 2, "imported": 2, "existing": 0}, r.text
    r = _import(client, city, _xlsx(good), "credit.xlsx")
    assert r.json() == {"rows": 2, "imported": 0, "existing": 2}
    r = _import(client, city, _csv([[*row[:6], str(row[6])[:10], *row[7:]] for row in good]), "credit.csv")
    assert r.json() == {"rows": 2, "imported": 0, "existing": 2}, r.text
    rows = _events(engine, "document_no LIKE :t", t=like)
    assert [(e["event_type"], e["polarity"], e["subject_code"], e["points"], e["occurred_on"]) for e in rows] == [
        ("penalty", "bad", ent, 5, date(2026, 3, 1)), ("licence", "good", person, 2, date(2026, 2, 1))]  # fmt: skip
    assert rows[0]["district"] == "西湖区" and rows[0]["authority"] == "杭州市城乡建设委员会"
    assert _subject_id(engine, "enterprise", ent)
    with engine.connect() as conn:
        n = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'credit_import' AND detail->>'file' = 'credit.xlsx'")
        ).scalar()
    assert n >= 2
    # The template and the documented columns.
    cols = client.get(f"{API}/import/columns").json()["columns"]
    assert [c["name"] for c in cols] == HEADER
    t = client.get(f"{API}/import/template.xlsx", headers=city)
    ws = load_workbook(io.BytesIO(t.content)).active
    assert [c.value for c in ws[1]] == HEADER
    r = _import(client, city, t.content, "template.xlsx")  # the template's example row is a valid row
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def server(app, world):
    with running_server(app) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with chromium(expect_timeout_ms=15_000) as b:
        yield b


def test_credit_page_in_chromium(browser, server, world, engine, tmp_path):
    from playwright.sync_api import expect

    make_user("cre-page-city", ["city_supervisor"])
    code = a_uscc("99001")
    with engine.begin() as conn:
        for n, (etype, pol) in enumerate((("licence", "good"), ("penalty", "bad"))):
            conn.execute(
                text(
                    "INSERT INTO credit_events (subject_kind, subject_code, subject_name, event_type, polarity, points, "
                    "reason, source, natural_key, document_no, occurred_on) VALUES ('enterprise', :c, '页面测试建工', :t, "
                    ":p, 2, '页面测试', 'credit_import', :k, :k, current_date) ON CONFLICT DO NOTHING"
                ),
                {"c": code, "t": etype, "p": pol, "k": f"page-test:{code}:{n}"},
            )
        score.rescore(conn, [("enterprise", code)])
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/registers/credit")
    page.locator("#login input[name=username]").fill("cre-page-city")
    page.locator("#login input[name=password]").fill(TEST_PASSWORD)
    page.locator("#login button[type=submit]").click()
    expect(page.locator("#events tbody tr a.subject").first).to_be_visible()
    # Filter by name and polarity: only the bad event.
    page.locator("#filters input[name=q]").fill("页面测试建工")
    page.locator("#filters select[name=polarity]").select_option("bad")
    page.locator("#filters button[type=submit]").click()
    expect(page.locator("#events tbody tr")).to_have_count(1)
    expect(page.locator("#events tbody tr").first).to_contain_text("不良行为")
    # A subject's credit section: score, history and events with their source links.
    page.locator("#events tbody tr a.subject").first.click()
    expect(page.locator("#subject h2")).to_be_visible()
    expect(page.locator("#subject .score")).to_contain_text("信用分")
    expect(page.locator("#subject h2")).to_contain_text("页面测试建工")
    expect(page.locator("#subject table.events tbody tr")).to_have_count(2)
    expect(page.locator("#subject table.history tbody tr").first).to_be_visible()
    # The import: a bad file shows the row-numbered report.
    page.locator("#tabs button[data-tab=import]").click()
    expect(page.locator("#columns tbody tr")).to_have_count(10)
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(_xlsx([["行政处罚", "企业", "错公司", "123", "文号", "事项", "2026-01-01", 1, "", ""]]))
    page.locator("#import input[type=file]").set_input_files(str(bad))
    page.locator("#import button[type=submit]").click()
    expect(page.locator("#import-report tbody tr").first).to_contain_text("第 2 行")
    expect(page.locator("#import-report")).to_contain_text("证件号码")
    # The rule tab shows the weights and the formula.
    page.locator("#tabs button[data-tab=rules]").click()
    expect(page.locator("#rules input[name=base_score]")).to_be_visible()
    expect(page.locator("#rules")).to_contain_text("半衰期")
    assert errors == []
    context.close()


def test_demo_seeder_and_daily_job_write_scores_to_the_registers(engine, world):
    """The seeder's 50,000 events and bulk scores, over registers with a ``credit_score`` column (made here, in a
    transaction that is rolled back, when the register modules are not installed), and the daily rescoring job."""
    from layers.credit import demo, jobs

    with engine.connect() as conn:
        tx = conn.begin()
        try:
            made = conn.execute(text("SELECT to_regclass('enterprises') IS NULL")).scalar()
            if made:
                conn.execute(text("CREATE TABLE enterprises (uscc text UNIQUE, name text, district text, "
                                  "credit_score numeric)"))  # fmt: skip
                conn.execute(text("CREATE TABLE persons (id_number text UNIQUE, name text, district text, "
                                  "credit_score numeric)"))  # fmt: skip
                conn.execute(
                    text("INSERT INTO enterprises SELECT :u || lpad(g::text, 4, '0'), '演示企业' || g, '西湖区' "
                         "FROM generate_series(1, 300) g"), {"u": "91330106MA2"})  # fmt: skip
                conn.execute(
                    text("INSERT INTO persons SELECT '33010619800101' || lpad(g::text, 4, '0'), '演示人员' || g, "
                         "'余杭区' FROM generate_series(1, 200) g"))  # fmt: skip
            else:  # registers without the demo (this file run alone): a few subjects of each kind, rolled back
                from stdnum.cn import ric, uscc

                if conn.execute(text("SELECT count(*) < 50 FROM persons")).scalar():
                    ids = [(b := f"33010619800101{g:03d}") + ric.calc_check_digit(b + "0") for g in range(1, 201)]
                    conn.execute(text("INSERT INTO persons (id_number, name, district) VALUES (:i, '演示人员', '余杭区') "
                                      "ON CONFLICT DO NOTHING"), [{"i": i} for i in ids])  # fmt: skip
                if conn.execute(text("SELECT count(*) < 100 FROM enterprises")).scalar():
                    codes = [(b := f"91330106MA2{g:06d}") + uscc.calc_check_digit(b) for g in range(1, 301)]
                    conn.execute(text("INSERT INTO enterprises (uscc, name, district) VALUES (:u, '演示企业', '西湖区') "
                                      "ON CONFLICT DO NOTHING"), [{"u": u} for u in codes])  # fmt: skip
            out = demo.seed(conn, World(1, [], 0, "test"))
            assert out["credit_events"] == demo.EVENTS
            n = conn.execute(
                text("SELECT count(*) FROM credit_events WHERE created_by = 'demo' AND source = 'credit_import'")
            ).scalar()
            assert n == demo.EVENTS
            kinds = dict(conn.execute(text("SELECT subject_kind, count(*) FROM credit_events WHERE created_by = 'demo' "
                                           "GROUP BY 1")).all())  # fmt: skip
            assert kinds["enterprise"] > kinds["person"] > 0
            # Every subject with events has a score, and the registers carry it.
            unscored = conn.execute(text("SELECT count(*) FROM credit_subjects WHERE score IS NULL")).scalar()
            assert unscored == 0
            mismatch = conn.execute(
                text("SELECT count(*) FROM enterprises x JOIN credit_subjects s ON s.subject_kind = 'enterprise' "
                     "AND s.subject_code = x.uscc WHERE x.credit_score IS DISTINCT FROM s.score::numeric")
            ).scalar()  # fmt: skip
            assert mismatch == 0
            scored = conn.execute(text("SELECT count(*) FROM persons WHERE credit_score IS NOT NULL")).scalar()
            assert scored > 0
            # Again: the previous demo events are replaced, not doubled.
            demo.seed(conn, World(1, [], 0, "test"))
            assert (
                conn.execute(
                    text("SELECT count(*) FROM credit_events WHERE created_by = 'demo' AND source = 'credit_import'")
                ).scalar()
                == n
            )
            # The daily job a year later: the decay changes the scores, appended to the history.
            before = conn.execute(text("SELECT count(*) FROM credit_scores")).scalar()
            changed = jobs.rescore_daily(conn, datetime.now(UTC) + timedelta(days=365))["changed"]
            assert changed > 0
            assert conn.execute(text("SELECT count(*) FROM credit_scores")).scalar() == before + changed
        finally:
            tx.rollback()
