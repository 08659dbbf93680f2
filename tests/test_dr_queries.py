"""The in-review and reviewed project queries (DR-10, DR-11): exactly the filters and columns of section 3.3.5 (1)
and (2), paging and sorting, the working days of review rounds one to four and of the design unit's replies checked
against an independent count (chinese_calendar) over rounds that span 国庆, 清明 and 劳动节, the Excel export (content
and operation log), the scope of a county account, and the 422 of a year the calendar does not cover."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from tests import dr_stats_world as world
from tests.conftest import make_user

IN_REVIEW_HEADERS = [
    "项目名称",
    "审查类型",
    "建设单位",
    "勘察单位",
    "设计单位",
    "审查机构",
    "地上建筑面积(㎡)",
    "地下建筑面积(㎡)",
    "勘察设计单位上报时间",
    "审查机构受理时间",
    "主管部门受理窗口",
]
REVIEWED_HEADERS = [
    *IN_REVIEW_HEADERS[:-1],
    "一审审查工作日",
    "二审审查工作日",
    "三审审查工作日",
    "四审审查工作日",
    "勘察设计企业回复工作日",
]


@pytest.fixture(scope="module")
def w(engine):
    return world.build(engine)


@pytest.fixture(scope="module")
def city():
    return make_user("dr-q-city", ["city_supervisor"])


@pytest.fixture(scope="module")
def jiande():
    return make_user("dr-q-jiande", ["district_staff"], district="建德市")


def expected_rounds(app: dict) -> dict:
    """The working-day columns of one application, counted in Python."""
    rounds = app["rounds"]
    review = [world.python_working_days(r["started"], r["opinion"]) if r["opinion"] else None for r in rounds]
    replies = [world.python_working_days(r["opinion"], r["replied"]) for r in rounds if r["replied"]]
    later = [d for d in review[3:] if d is not None]
    return {
        "round_1_days": review[0] if len(review) > 0 else None,
        "round_2_days": review[1] if len(review) > 1 else None,
        "round_3_days": review[2] if len(review) > 2 else None,
        "round_4_days": sum(later) if later else None,
        "reply_days": sum(replies) if replies else None,
    }


def test_reviewed_columns_and_working_days(client, w, city):
    """DR-11: the reviewed projects of an agency, with exactly the listed columns, and each round's working days
    equal to an independent count with chinese_calendar (R1's first round spans 国庆 2025 and its make-up Saturday)."""
    a1 = w["agencies"]["A1"]
    res = client.get("/api/review/queries/reviewed", params={"agency_id": a1, "sort": "name"}, headers=city)
    assert res.status_code == 200, res.text
    body = res.json()
    assert [c["label"] for c in body["columns"]] == REVIEWED_HEADERS
    assert body["total"] == 3 and body["size"] == 50 and body["pages"] == 1
    rows = {r["name"]: r for r in body["rows"]}
    assert set(rows) == {f"{world.PREFIX}R1项目", f"{world.PREFIX}R2项目", f"{world.PREFIX}R3项目"}
    for key in ("R1", "R2", "R3"):
        app = w["apps"][key]
        row = rows[app["name"]]
        assert {k: row[k] for k in expected_rounds(app)} == expected_rounds(app), key
        assert row["builder_name"] == world.UNITS["B1"][0]
        assert row["surveyor_name"] == world.UNITS["S1"][0]
        assert row["designer_name"] == world.UNITS[app["designer"]][0]
        assert row["agency_name"] == world.UNITS["A1"][0]
        assert row["review_category"] == app["category"]
        assert row["above_ground_m2"] == app["above"] and row["below_ground_m2"] == app["below"]
    # The round across 国庆: 2025-09-26 → 2025-10-15: the holiday week is not counted, 9-28 and 10-11 are.
    assert rows[f"{world.PREFIX}R1项目"]["round_1_days"] == 9
    r2 = rows[f"{world.PREFIX}R2项目"]
    assert len(r2["rounds"]) == 5 and r2["round_4_days"] == sum(
        world.python_working_days(r["started"], r["opinion"]) for r in w["apps"]["R2"]["rounds"][3:]
    )
    assert r2["rounds"][4]["natural_days"] == 9  # 2025-04-30 → 2025-05-09
    # A page is sorted: by name ascending, and descending.
    assert [r["name"] for r in body["rows"]] == sorted(rows)
    down = client.get("/api/review/queries/reviewed", params={"agency_id": a1, "sort": "-name"}, headers=city).json()
    assert [r["name"] for r in down["rows"]] == sorted(rows, reverse=True)


def test_in_review_filters_and_columns(client, w, city):
    """DR-10: in review = submitted and not concluded; each filter of 3.3.5 (1) narrows the list."""
    a1 = w["agencies"]["A1"]
    get = lambda **p: client.get("/api/review/queries/in-review", params=p, headers=city)  # noqa: E731
    res = get(agency_id=a1)
    assert res.status_code == 200, res.text
    body = res.json()
    assert [c["label"] for c in body["columns"]] == IN_REVIEW_HEADERS
    names = {r["name"] for r in body["rows"]}
    assert names == {f"{world.PREFIX}I1项目", f"{world.PREFIX}I3项目"}
    i1 = next(r for r in body["rows"] if r["name"].endswith("I1项目"))
    assert i1["window"] == "市本级" and i1["accepted_at"].startswith("2026-11-02T01:00")
    # Design unit by a part of its name (the one not yet drawn, without an agency, is in review too).
    mine = {r["name"] for r in get(designer="统计测试市政设计").json()["rows"]}
    assert {f"{world.PREFIX}I2项目", f"{world.PREFIX}I3项目", f"{world.PREFIX}C2项目"} <= mine
    assert f"{world.PREFIX}I1项目" not in mine
    by_code = {r["name"] for r in get(designer_uscc=w["units"]["D2"]).json()["rows"]}
    assert by_code == mine
    # Review type (category), window, period of submission.
    assert {r["name"] for r in get(agency_id=a1, review_category="市政基础设施").json()["rows"]} == {
        f"{world.PREFIX}I3项目"
    }
    county = {r["name"] for r in get(window="建德市").json()["rows"]}
    assert f"{world.PREFIX}C2项目" in county and not any(n.endswith(("I1项目", "I3项目")) for n in county)
    period = {r["name"] for r in get(designer="统计测试", start="2026-10-01", end="2026-10-31").json()["rows"]}
    assert period == {f"{world.PREFIX}I1项目"}
    accepted = {
        r["name"]
        for r in get(designer="统计测试", date_by="accepted", start="2026-11-01", end="2026-11-30").json()["rows"]
    }
    assert accepted == {f"{world.PREFIX}I1项目", f"{world.PREFIX}C2项目"}


def test_reviewed_filters(client, w, city):
    """The reviewed query's period may be that of the conclusion; the window and the category narrow it too."""
    get = lambda **p: client.get("/api/review/queries/reviewed", params=p, headers=city)  # noqa: E731
    a1 = w["agencies"]["A1"]
    names = lambda res: {r["name"] for r in res.json()["rows"]}  # noqa: E731
    assert names(get(agency_id=a1, date_by="concluded", start="2025-10-01", end="2025-12-31")) == {
        f"{world.PREFIX}R1项目"
    }
    assert names(get(agency_id=a1, date_by="accepted", start="2025-03-03", end="2025-03-03")) == {
        f"{world.PREFIX}R2项目"
    }
    assert names(get(agency_id=a1, review_category="市政基础设施")) == {f"{world.PREFIX}R2项目"}
    assert names(get(designer="统计测试", window="建德市")) == {f"{world.PREFIX}C1项目"}
    assert get(agency_id=a1, window="淳安县").json()["total"] == 0


def test_paging(client, w, city):
    """Pages of ``size`` rows in a stable order; the total counts every row."""
    p = {"designer": "统计测试", "sort": "submitted_at", "size": 2}
    first = client.get("/api/review/queries/in-review", params={**p, "page": 1}, headers=city).json()
    second = client.get("/api/review/queries/in-review", params={**p, "page": 2}, headers=city).json()
    assert first["total"] == second["total"] == 4 and first["pages"] == 2
    names = [r["name"] for r in first["rows"] + second["rows"]]
    assert len(set(names)) == 4
    assert [r["submitted_at"] for r in first["rows"] + second["rows"]] == sorted(
        r["submitted_at"] for r in first["rows"] + second["rows"]
    )


@pytest.mark.parametrize(
    "params, field",
    [
        ({"review_category": "人防"}, "review_category"),
        ({"window": "余杭区"}, "window"),
        ({"start": "2026-05-01", "end": "2026-04-01"}, "end"),
        ({"start": "2026-13-01"}, "start"),
        ({"sort": "round_1_days"}, "sort"),
        ({"page": 0}, "page"),
        ({"size": 500}, "size"),
        ({"date_by": "concluded"}, "date_by"),
    ],
)
def test_bad_filters(client, w, city, params, field):
    res = client.get("/api/review/queries/in-review", params=params, headers=city)
    assert res.status_code == 422, res.text
    body = res.json()
    assert body["field"] == field and body["message"]


def test_export_reviewed(client, w, city, engine):
    """The export holds every row of the result with the Chinese headers, the same figures, and is logged."""
    a1 = w["agencies"]["A1"]
    with engine.connect() as conn:
        base = conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar()
    res = client.get("/api/review/queries/reviewed.xlsx", params={"agency_id": a1, "sort": "name"}, headers=city)
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("application/vnd.openxmlformats")
    ws = load_workbook(io.BytesIO(res.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == REVIEWED_HEADERS
    assert len(rows) == 4
    by_name = {r[0]: r for r in rows[1:]}
    r1 = by_name[f"{world.PREFIX}R1项目"]
    exp = expected_rounds(w["apps"]["R1"])
    assert list(r1[10:15]) == [
        exp[k] for k in ("round_1_days", "round_2_days", "round_3_days", "round_4_days", "reply_days")
    ]
    assert r1[8].strftime("%Y-%m-%d %H:%M") == "2025-09-20 10:00"  # Beijing time
    assert r1[5] == world.UNITS["A1"][0]
    with engine.connect() as conn:
        log = conn.execute(
            sa.text("SELECT actor, action, layer, after FROM audit_log WHERE id > :b AND layer = 'dr_queries'"),
            {"b": base},
        ).all()
    assert len(log) == 1 and log[0].actor == "dr-q-city" and log[0].action == "export"
    assert log[0].after["query"] == "reviewed" and log[0].after["rows"] == 3


def test_export_in_review(client, w, city):
    res = client.get(
        "/api/review/queries/in-review.xlsx", params={"window": "建德市", "designer": "统计测试"}, headers=city
    )
    assert res.status_code == 200, res.text
    rows = list(load_workbook(io.BytesIO(res.content)).active.iter_rows(values_only=True))
    assert list(rows[0]) == IN_REVIEW_HEADERS
    assert [r[0] for r in rows[1:]] == [f"{world.PREFIX}C2项目"] and rows[1][10] == "建德市"


def test_county_sees_its_county(client, w, jiande, engine):
    """A 建德市 account sees only 建德市's applications, in both queries."""
    for kind in ("in-review", "reviewed"):
        body = client.get(f"/api/review/queries/{kind}", params={"size": 200}, headers=jiande).json()
        with engine.connect() as conn:
            statuses = ("submitted", "drawn", "returned", "reviewing", "replying")
            if kind == "reviewed":
                statuses = ("passed", "failed", "certified")
            expected = conn.execute(
                sa.text("SELECT count(*) FROM dr_applications WHERE district = '建德市' AND status = ANY(:s)"),
                {"s": list(statuses)},
            ).scalar()
        assert body["total"] == expected >= 1
        assert {r["window"] for r in body["rows"]} == {"建德市"}
    reviewed = client.get("/api/review/queries/reviewed", headers=jiande).json()
    c1 = next(r for r in reviewed["rows"] if r["name"] == f"{world.PREFIX}C1项目")
    assert c1["round_1_days"] == expected_rounds(w["apps"]["C1"])["round_1_days"]


def test_forbidden_without_permission(client, w):
    public = make_user("dr-q-public", ["public"])
    assert client.get("/api/review/queries/reviewed", headers=public).status_code == 403
    assert client.get("/api/review/queries/reviewed").status_code == 401
    viewer = make_user("dr-q-coreviewer", ["co_reviewer"])  # review.view, not review.export
    assert client.get("/api/review/queries/reviewed.xlsx", headers=viewer).status_code == 403


def test_calendar_missing(client, w, city, engine):
    """A round in a year the calendar does not cover is never guessed: 422 calendar_missing naming the year."""
    with engine.begin() as conn:
        spec = (
            "F1",
            "西湖区",
            "A3",
            "passed",
            "二类",
            "房屋建筑",
            "D1",
            "2030-03-01 10:00",
            "2030-03-04 09:00",
            [("2030-03-04 09:00", "2030-03-20 17:00", "passed", None)],
            "2030-03-20 17:00",
            "合格",
            None,
        )
        app = world.insert_application(conn, spec, w["units"], w["agencies"])
    try:
        res = client.get("/api/review/queries/reviewed", params={"agency_id": w["agencies"]["A3"]}, headers=city)
        assert res.status_code == 422, res.text
        assert res.json()["code"] == "calendar_missing" and res.json()["detail"]["year"] == 2030
        # The in-review query counts no days: unaffected.
        assert (
            client.get(
                "/api/review/queries/in-review", params={"agency_id": w["agencies"]["A3"]}, headers=city
            ).status_code
            == 200
        )
    finally:
        world.remove_application(engine, app["id"])


def test_page_served(client):
    res = client.get("/review/queries")
    assert res.status_code == 200 and "施工图" in res.text


def test_queries_page_in_browser(app, w):
    """The query page in Chromium: sign in, filter the in-review list by agency, switch to the reviewed projects, read
    the first review's working days of the round across 国庆, sort by a column header; the export link follows."""
    import os

    from playwright.sync_api import expect, sync_playwright

    from tests.conftest import TEST_PASSWORD, running_server

    chromium = "/usr/bin/chromium"
    assert os.path.exists(chromium), "Debian's chromium is needed"
    make_user("dr-q-browser", ["city_supervisor"])
    a1 = str(w["agencies"]["A1"])
    errors: list[str] = []
    with running_server(app) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN")
            page.set_default_timeout(15_000)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(base + "/review/queries")
            page.locator("#login input[name=username]").fill("dr-q-browser")
            page.locator("#login input[name=password]").fill(TEST_PASSWORD)
            page.locator("#login button[type=submit]").click()
            expect(page.locator("body")).to_have_attribute("data-state", "app")
            expect(page.locator("#result-table thead th")).to_have_count(len(IN_REVIEW_HEADERS))
            page.locator("select[name=agency_id]").select_option(a1)
            page.locator("#filters button[type=submit]").click()
            expect(page.locator("#result-table tbody tr")).to_have_count(2)
            expect(page.locator("#page-info")).to_contain_text("共 2 条")

            page.locator(".tab[data-kind=reviewed]").click()
            expect(page.locator("#result-table")).to_have_attribute("data-kind", "reviewed")
            expect(page.locator("#result-table thead th")).to_have_text(REVIEWED_HEADERS)
            page.locator("select[name=agency_id]").select_option(a1)
            page.locator("#filters button[type=submit]").click()
            expect(page.locator("#result-table tbody tr")).to_have_count(3)
            r1 = page.locator("#result-table tbody tr", has_text=f"{world.PREFIX}R1项目")
            expect(r1.locator("td[data-col=round_1_days]")).to_have_text("9")
            page.locator("#result-table th[data-key=name]").click()
            expect(page.locator("#result-table th[data-key=name]")).to_have_attribute("data-dir", "asc")
            names = [f"{world.PREFIX}{k}项目" for k in ("R1", "R2", "R3")]
            expect(page.locator("#result-table tbody td[data-col=name]")).to_have_text(names)
            page.locator("#result-table th[data-key=name]").click()
            expect(page.locator("#result-table tbody td[data-col=name]")).to_have_text(names[::-1])
            href = page.locator("#export").get_attribute("href")
            assert href.startswith("/api/review/queries/reviewed.xlsx?") and f"agency_id={a1}" in href
            assert "sort=-name" in href
        finally:
            browser.close()
    assert not errors, errors
