"""The drawing review's statistics (DR-12): project indicators and stage details for year, location, period, grade and
agency, checked against an independent computation in Python (chinese_calendar for the working days) over the test
world's applications; the breakdown for the charts, the Excel export and its log entry, a county account's scope,
the 422s, and the page with its charts in Chromium."""

from __future__ import annotations

import io
import os
from datetime import date
from statistics import mean

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from tests import dr_stats_world as world
from tests.conftest import TEST_PASSWORD, make_user, running_server

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def w(engine):
    return world.build(engine)


@pytest.fixture(scope="module")
def city():
    return make_user("dr-s-city", ["city_supervisor"])


@pytest.fixture(scope="module")
def jiande():
    return make_user("dr-s-jiande", ["district_staff"], district="建德市")


def _avg(values):
    values = [v for v in values if v is not None]
    return mean(values) if values else None


def expected(apps: list[dict]) -> tuple[dict, list[dict]]:
    """The statistics of some of the world's applications, computed in Python: (totals, stages)."""
    counted = [a for a in apps if a["accepted"] is not None]
    wdays, ndays = world.python_working_days, world.natural_days
    totals = {
        "projects": len(counted),
        "reviews": sum(1 for a in counted for r in a["rounds"] if r["opinion"]),
        "concluded": sum(1 for a in counted if a["concluded"]),
        "passed": sum(1 for a in counted if a["conclusion"] == "合格"),
        "failed": sum(1 for a in counted if a["conclusion"] == "不合格"),
        "certified": sum(1 for a in counted if a["certified"]),
        "conclusion_natural_days": _avg([ndays(a["accepted"], a["concluded"]) for a in counted if a["concluded"]]),
        "conclusion_working_days": _avg([wdays(a["accepted"], a["concluded"]) for a in counted if a["concluded"]]),
        "certificate_natural_days": _avg([ndays(a["accepted"], a["certified"]) for a in counted if a["certified"]]),
        "certificate_working_days": _avg([wdays(a["accepted"], a["certified"]) for a in counted if a["certified"]]),
    }
    stages = []
    for stage in (1, 2, 3, 4):
        rounds = [(a["key"], r) for a in counted for n, r in enumerate(a["rounds"], start=1) if min(n, 4) == stage]
        if not rounds:
            continue
        projects = {k for k, _ in rounds}
        passed = {k for k, r in rounds if r["result"] == "passed"}
        decided = {k for k, r in rounds if r["result"]}
        stages.append(
            {
                "stage": stage,
                "projects": len(projects),
                "passed": len(passed),
                "modified": len({k for k, r in rounds if r["result"] == "modify"}),
                "failed": len({k for k, r in rounds if r["result"] == "failed"}),
                "decided": len(decided),
                "rounds": len(rounds),
                "pass_rate": 100.0 * len(passed) / len(decided) if decided else None,
                "working_days": _avg([wdays(r["started"], r["opinion"]) for _, r in rounds if r["opinion"]]),
                "natural_days": _avg([ndays(r["started"], r["opinion"]) for _, r in rounds if r["opinion"]]),
            }
        )
    return totals, stages


def close(got, want) -> bool:
    """Equal, or within the rounding to one decimal the statistics do."""
    if want is None or got is None:
        return got is want
    return abs(got - want) <= 0.051


def check(body: dict, apps: list[dict]) -> None:
    totals, stages = expected(apps)
    assert totals["projects"] > 0, "the case must count something"
    for key, want in totals.items():
        assert close(body["totals"][key], want), (key, body["totals"][key], want)
    assert [s["stage"] for s in body["stages"]] == [s["stage"] for s in stages]
    for got, want in zip(body["stages"], stages, strict=True):
        for key, value in want.items():
            assert close(got[key], value), (want["stage"], key, got[key], value)


def pick(w, keys):
    return [w["apps"][k] for k in keys]


@pytest.mark.parametrize(
    "params, keys",
    [
        ({}, ("R1", "R2", "R3", "I1", "I3")),
        ({"year": 2025}, ("R1", "R2")),
        ({"grade": "一类"}, ("R1", "R2")),
        ({"district": "西湖区"}, ("R1", "R3")),
        ({"start": "2025-09-01", "end": "2026-01-31"}, ("R1", "R3")),
        ({"year": 2026, "start": "2025-01-01", "end": "2026-06-30"}, ("R3",)),
    ],
)
def test_statistics_match_an_independent_count(client, w, city, params, keys):
    """Counts, averages and the stage details of the world's agency A1 (rounds across 国庆, 清明, 劳动节), each
    filter of the requirements narrowing them; the working days counted by chinese_calendar in Python."""
    res = client.get("/api/review/stats", params={"agency_id": w["agencies"]["A1"], **params}, headers=city)
    assert res.status_code == 200, res.text
    check(res.json(), pick(w, keys))


def test_known_figures(client, w, city):
    """A few figures by hand: 2025's two projects of A1 had 7 reviews; the second stage passed one of two (50 %);
    R1 took 16 working days from acceptance (9-26) to its conclusion (10-24) across 国庆."""
    body = client.get("/api/review/stats", params={"agency_id": w["agencies"]["A1"], "year": 2025}, headers=city).json()
    assert body["totals"]["projects"] == 2 and body["totals"]["reviews"] == 7
    assert body["totals"]["average_reviews"] == 3.5
    stage2 = next(s for s in body["stages"] if s["stage"] == 2)
    assert (stage2["projects"], stage2["passed"], stage2["modified"], stage2["pass_rate"]) == (2, 1, 1, 50.0)
    assert stage2["stage_title"] == "二审"
    r1 = w["apps"]["R1"]
    assert world.python_working_days(r1["accepted"], r1["concluded"]) == 16
    assert body["totals"]["certificate_working_days"] == world.python_working_days(r1["accepted"], r1["certified"])
    four = next(s for s in body["stages"] if s["stage"] == 4)
    assert (four["stage_title"], four["rounds"], four["failed"]) == ("四审及以上", 2, 1)


def test_breakdown_for_the_charts(client, w, city):
    """``by`` breaks the indicators down (grade, month, jurisdiction, agency); the groups add up to the total."""
    a1 = w["agencies"]["A1"]
    body = client.get("/api/review/stats", params={"agency_id": a1, "by": "grade"}, headers=city).json()
    groups = {g["key"]: g for g in body["groups"]}
    assert {k: g["projects"] for k, g in groups.items()} == {"一类": 2, "二类": 2, "三类": 1}
    assert sum(g["projects"] for g in body["groups"]) == body["totals"]["projects"]
    want, _ = expected(pick(w, ("R1", "R2")))
    for key, value in want.items():
        assert close(groups["一类"][key], value), key
    months = client.get("/api/review/stats", params={"agency_id": a1, "by": "month"}, headers=city).json()
    assert [g["key"] for g in months["groups"]] == ["2025-03", "2025-09", "2026-01", "2026-09", "2026-11"]
    agency = client.get("/api/review/stats", params={"agency_id": a1}, headers=city).json()
    assert [(g["title"], g["projects"]) for g in agency["groups"]] == [(world.UNITS["A1"][0], 5)]


def test_export(client, w, city, engine):
    a1 = w["agencies"]["A1"]
    with engine.connect() as conn:
        base = conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar()
    res = client.get("/api/review/stats.xlsx", params={"agency_id": a1, "year": 2025, "by": "grade"}, headers=city)
    assert res.status_code == 200, res.text
    wb = load_workbook(io.BytesIO(res.content))
    assert wb.sheetnames == ["项目指标统计", "阶段详情"]
    ind = list(wb["项目指标统计"].iter_rows(values_only=True))
    assert ind[0][0].startswith("统计条件：") and "year=2025" in ind[0][0]
    assert ind[1][:4] == ("分组（项目等级）", "项目基数", "审查次数", "平均审查次数")
    assert ind[2][:4] == ("合计", 2, 7, 3.5)
    assert ind[3][:2] == ("一类", 2)
    stages = list(wb["阶段详情"].iter_rows(values_only=True))
    assert stages[1] == (
        "审查阶段",
        "项目数",
        "通过项目数",
        "修改项目数",
        "不合格项目数",
        "合格率(%)",
        "审查时间平均值（工作日）",
        "审查时间平均值（自然日）",
    )
    assert [r[0] for r in stages[2:]] == ["一审", "二审", "三审", "四审及以上"]
    assert stages[3][1:6] == (2, 1, 1, 0, 50.0)
    with engine.connect() as conn:
        log = conn.execute(
            sa.text("SELECT actor, action, after FROM audit_log WHERE id > :b AND layer = 'dr_stats'"), {"b": base}
        ).all()
    assert len(log) == 1 and log[0].actor == "dr-s-city" and log[0].after["filters"]["year"] == 2025


def test_county_scope(client, w, jiande, engine):
    """A 建德市 account's statistics count 建德市's applications only (row-level security), whatever the filters."""
    body = client.get("/api/review/stats", params={"by": "jurisdiction"}, headers=jiande).json()
    with engine.connect() as conn:
        count = conn.execute(
            sa.text("SELECT count(*) FROM dr_applications WHERE accepted_at IS NOT NULL AND district = '建德市'")
        ).scalar()
    assert body["totals"]["projects"] == count >= 2
    assert [g["key"] for g in body["groups"]] == ["建德市"]
    mine = client.get("/api/review/stats", params={"agency_id": w["agencies"]["A2"]}, headers=jiande).json()
    check(mine, pick(w, ("C1", "C2")))
    assert (
        client.get("/api/review/stats", params={"agency_id": w["agencies"]["A1"]}, headers=jiande).json()["totals"][
            "projects"
        ]
        == 0
    )


@pytest.mark.parametrize(
    "params, field",
    [
        ({"grade": "四类"}, "grade"),
        ({"by": "colour"}, "by"),
        ({"start": "2026-05-01", "end": "2026-04-01"}, "end"),
        ({"district": "朝阳区"}, "district"),
        ({"year": 1990}, "year"),
        ({"start": "yesterday"}, "start"),
    ],
)
def test_bad_input(client, w, city, params, field):
    res = client.get("/api/review/stats", params=params, headers=city)
    assert res.status_code == 422, res.text
    assert res.json()["field"] == field and res.json()["message"]


def test_calendar_missing(client, w, city, engine):
    """Statistics that reach a year the calendar does not cover say so (422 calendar_missing), never guess."""
    with engine.begin() as conn:
        spec = (
            "F2",
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
        res = client.get("/api/review/stats", params={"agency_id": w["agencies"]["A3"]}, headers=city)
        assert res.status_code == 422, res.text
        assert res.json()["code"] == "calendar_missing" and res.json()["detail"]["year"] == 2030
        # A period before it is counted as usual.
        ok = client.get(
            "/api/review/stats", params={"agency_id": w["agencies"]["A3"], "end": "2029-12-31"}, headers=city
        )
        assert ok.status_code == 200 and ok.json()["totals"]["projects"] == 0
    finally:
        world.remove_application(engine, app["id"])


def test_forbidden(client, w):
    assert client.get("/api/review/stats").status_code == 401
    viewer = make_user("dr-s-coreviewer", ["co_reviewer"])
    assert client.get("/api/review/stats", headers=viewer).status_code == 200
    assert client.get("/api/review/stats.xlsx", headers=viewer).status_code == 403


def test_stats_page_in_browser(app, w):
    """The statistics page in Chromium: sign in, filter on the agency, the indicator cards, the stage table and both
    ECharts charts drawn (canvases), the export link carrying the filters."""
    from playwright.sync_api import expect, sync_playwright

    assert os.path.exists(CHROMIUM), "Debian's chromium is needed"
    make_user("dr-s-browser", ["city_supervisor"])
    a1 = str(w["agencies"]["A1"])
    errors: list[str] = []
    with running_server(app) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN")
            page.set_default_timeout(15_000)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(base + "/review/stats")
            page.locator("#login input[name=username]").fill("dr-s-browser")
            page.locator("#login input[name=password]").fill(TEST_PASSWORD)
            page.locator("#login button[type=submit]").click()
            expect(page.locator("body")).to_have_attribute("data-state", "app")
            page.locator("select[name=agency_id]").select_option(a1)
            page.locator("select[name=year]").select_option("2025")
            page.locator("#filters button[type=submit]").click()
            expect(page.locator("[data-total=projects] b")).to_have_text("2")
            expect(page.locator("[data-total=reviews] b")).to_have_text("7")
            expect(page.locator("#stage-table tbody tr")).to_have_count(4)
            expect(page.locator("#stage-table tbody tr").nth(1)).to_contain_text("50")
            for chart in ("#chart-stages", "#chart-groups"):
                expect(page.locator(f"{chart} canvas")).to_have_count(1)
                assert page.locator(chart).get_attribute("data-rendered") == "1"
            href = page.locator("#export").get_attribute("href")
            assert href.startswith("/api/review/stats.xlsx?") and f"agency_id={a1}" in href and "year=2025" in href
        finally:
            browser.close()
    assert not errors, errors


def test_period_reads_year_and_dates():
    from layers.drawing_review.stats import Filters

    assert Filters(year=2025, start=date(2025, 6, 1)).period() == (date(2025, 6, 1), date(2025, 12, 31))
    assert Filters(start=date(2024, 6, 1)).period() == (date(2024, 6, 1), None)


def test_counts_are_integers(client, w, city):
    body = client.get("/api/review/stats", params={"agency_id": w["agencies"]["A1"]}, headers=city).json()
    for row in (body["totals"], *body["groups"], *body["stages"]):
        for key in ("projects", "reviews", "passed", "failed", "rounds"):
            if key in row:
                assert isinstance(row[key], int), (key, row[key])
