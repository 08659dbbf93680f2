"""The official working-day calendar (geo/calendar.py, api/calendar.py, migration 0012): the facts of the State
Council's notices as chinesecalendar has them, the SQL functions against an independent count in Python, a year
nobody has declared refused instead of guessed, an administrator declaring a year and correcting a day (counted at
once, audited, kept against a sync), who may do that, and the back office's month grid in a real browser."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import random
import uuid

import chinese_calendar
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from geo import calendar
from tests.conftest import ADMIN, LEADER, PUBLIC

C = "/api/calendar"
UNDECLARED = 2031  # no notice exists for it: the tests declare it and remove it again
FIRST, LAST = dt.date(2004, 1, 1), dt.date(2026, 12, 31)  # what the installed chinesecalendar covers


def error(r, status: int, code: str, field: str | None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"code", "message", "field", "detail"}, body
    assert (body["code"], body["field"]) == (code, field), body
    assert body["message"]
    return body


def reference_count(start: dt.date, stop: dt.date) -> int:
    """The working days d with start < d <= stop, day by day from chinesecalendar itself."""
    return sum(chinese_calendar.is_workday(start + dt.timedelta(days=i)) for i in range(1, (stop - start).days + 1))


@pytest.fixture
def no_undeclared_year(engine):
    """The test may declare UNDECLARED; afterwards the calendar is as before (other tests see the year missing)."""

    def drop():
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM work_calendar WHERE extract(year FROM day) = :y"), {"y": UNDECLARED})
            conn.execute(sa.text("DELETE FROM work_calendar_years WHERE year = :y"), {"y": UNDECLARED})

    drop()
    yield
    drop()


# -- the facts ----------------------------------------------------------------------------------------------------


def test_the_migration_covers_every_year_of_the_package(engine):
    with engine.connect() as conn:
        covered = conn.execute(sa.text("SELECT year, source, complete FROM work_calendar_years ORDER BY year")).all()
        days = conn.execute(sa.text("SELECT count(*), min(day), max(day) FROM work_calendar")).one()
    assert [y for y, _, _ in covered if y <= LAST.year] == list(range(FIRST.year, LAST.year + 1))
    assert all(complete for _, _, complete in covered)
    assert days[1] == FIRST and days[2] >= LAST
    assert ordinals_are_running_counts(engine)


def ordinals_are_running_counts(engine) -> bool:
    """Every day's ordinal is the number of working days up to and including it."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text("""SELECT bool_and(ordinal = running) FROM (
                SELECT ordinal, (count(*) FILTER (WHERE working) OVER (ORDER BY day))::int AS running
                FROM work_calendar) r""")
        ).scalar()


def test_known_days(client):
    r = client.get(f"{C}/days/2026-10-01")  # public: no sign-in
    assert r.status_code == 200, r.text
    assert r.json() == {"date": "2026-10-01", "working": False, "kind": "holiday", "name": "国庆节"}
    # 2026-09-20 is a Sunday and 2026-10-10 a Saturday, both worked for the National Day holiday (调休).
    for makeup in ("2026-09-20", "2026-10-10"):
        assert dt.date.fromisoformat(makeup).isoweekday() >= 6
        body = client.get(f"{C}/days/{makeup}").json()
        assert body == {"date": makeup, "working": True, "kind": "makeup", "name": "国庆节调休"}, body
    assert client.get(f"{C}/days/2026-10-03").json()["kind"] == "holiday"  # a Saturday inside the holiday
    assert client.get(f"{C}/days/2026-11-07").json() == {
        "date": "2026-11-07",
        "working": False,
        "kind": "weekend",
        "name": None,
    }
    assert client.get(f"{C}/days/2026-11-06").json()["kind"] == "workday"
    assert client.get(f"{C}/days/2026-04-05").json()["name"] == "清明节"  # the notice's name, not the package's 清明
    assert client.get(f"{C}/days/2026-02-17").json()["name"] == "春节"


def test_working_day_counts(client):
    def count(start: str, end: str) -> int:
        r = client.get(f"{C}/working-days", params={"start": start, "end": end})
        assert r.status_code == 200, r.text
        return r.json()["working_days"]

    assert count("2026-11-06", "2026-11-09") == 1  # Friday to the next Monday
    assert count("2026-11-06", "2026-11-06") == 0
    assert count("2026-11-07", "2026-11-08") == 0  # a weekend
    assert count("2026-09-30", "2026-10-08") == 1  # Golden Week: 1–7 October off, the 8th is worked
    assert count("2026-09-30", "2026-10-10") == 3  # … the 9th and the make-up Saturday the 10th too
    assert count("2026-09-18", "2026-09-20") == 1  # the make-up Sunday counts, the Saturday before does not
    assert count("2025-12-31", "2026-01-05") == 2  # across a year: 1–3 January off, the make-up Sunday the 4th
    assert count("2004-01-01", "2026-12-31") == reference_count(FIRST, LAST)
    r = client.get(f"{C}/add-working-days", params={"start": "2026-09-30", "days": 3})
    assert r.json() == {"date": "2026-10-10"}
    assert client.get(f"{C}/add-working-days", params={"start": "2026-09-30", "days": 0}).json() == {
        "date": "2026-09-30"
    }


def test_the_sql_functions_agree_with_the_package(engine):
    """Many random ranges: chengjian_working_days equals the day-by-day count of chinesecalendar, and
    chengjian_add_working_days is its inverse."""
    rng = random.Random(20261001)
    span = (LAST - FIRST).days
    pairs = []
    for _ in range(400):
        a = FIRST + dt.timedelta(days=rng.randrange(span))
        b = min(LAST, a + dt.timedelta(days=rng.choice([0, 1, 3, 7, 30, 200, 2000])))
        pairs.append((a, b))
    # the prefix count of working days of the package, for every day
    prefix = dict(
        zip(
            (FIRST + dt.timedelta(days=i) for i in range(span + 1)),
            itertools.accumulate(chinese_calendar.is_workday(FIRST + dt.timedelta(days=i)) for i in range(span + 1)),
        )
    )
    with engine.connect() as conn:
        got = conn.execute(
            sa.text("""SELECT a, b, chengjian_working_days(a, b), chengjian_working_days(b, a)
                       FROM unnest(CAST(:a AS date[]), CAST(:b AS date[])) AS p (a, b)"""),
            {"a": [a for a, _ in pairs], "b": [b for _, b in pairs]},
        ).all()
        for a, b, n, back in got:
            assert n == prefix[b] - prefix[a], (a, b)
            assert back == -n
        assert reference_count(pairs[0][0], pairs[0][1]) == prefix[pairs[0][1]] - prefix[pairs[0][0]]
        # the n-th working day after a: a working day, and exactly n working days after a
        starts = [a for a, _ in pairs[:100]]
        ns = [rng.randrange(0, 60) for _ in starts]
        got = conn.execute(
            sa.text("""SELECT s, n, chengjian_add_working_days(s, n)
                       FROM unnest(CAST(:s AS date[]), CAST(:n AS integer[])) AS p (s, n)
                       WHERE s < '2026-09-01'"""),
            {"s": starts, "n": ns},
        ).all()
        for s, n, due in got:
            assert prefix[due] - prefix[s] == n, (s, n, due)
            assert n == 0 and due == s or chinese_calendar.is_workday(due)
        assert conn.execute(sa.text("SELECT chengjian_working_days(NULL, '2026-01-01')")).scalar() is None


# -- what is refused ----------------------------------------------------------------------------------------------


def test_bad_dates_are_refused(client):
    for bad in ("2026-13-01", "20261001", "2026-1-1", "2026-02-30", "yesterday"):
        error(client.get(f"{C}/days/{bad}"), 422, "invalid_date", "date")
        error(client.get(f"{C}/working-days", params={"start": bad, "end": "2026-10-01"}), 422, "invalid_date", "start")
        error(client.get(f"{C}/working-days", params={"start": "2026-10-01", "end": bad}), 422, "invalid_date", "end")
    error(client.get(f"{C}/working-days", params={"start": "2026-10-08"}), 422, "request_invalid", "end")
    body = error(
        client.get(f"{C}/working-days", params={"start": "2026-10-08", "end": "2026-10-01"}),
        422,
        "range_reversed",
        "end",
    )
    assert "早于" in body["message"]
    error(
        client.get(f"{C}/add-working-days", params={"start": "2026-10-08", "days": -1}),
        422,
        "request_invalid",
        "days",
    )


def test_an_undeclared_year_is_refused_then_counted_once_declared(client, engine, no_undeclared_year):
    year = UNDECLARED
    body = error(client.get(f"{C}/days/{year}-03-03"), 422, "calendar_missing", "date")
    assert f"{year} 年的节假日安排尚未发布，无法计算工作日" in body["message"]
    assert body["detail"] == {"year": year}
    error(
        client.get(f"{C}/working-days", params={"start": f"{year}-01-05", "end": f"{year}-03-03"}),
        422,
        "calendar_missing",
        "start",
    )
    # from a covered year into the undeclared years: the first year missing is named, at the end date
    body = error(
        client.get(f"{C}/working-days", params={"start": "2026-12-01", "end": f"{year}-01-05"}),
        422,
        "calendar_missing",
        "end",
    )
    assert body["detail"] == {"year": LAST.year + 1}
    error(
        client.get(f"{C}/add-working-days", params={"start": "2026-12-20", "days": 30}), 422, "calendar_missing", "days"
    )
    # in SQL, anywhere: the database's error is recognised as the calendar's
    with engine.connect() as conn, pytest.raises(calendar.CalendarMissing) as caught:
        with calendar.counting():
            conn.execute(sa.text("SELECT chengjian_working_days('2026-06-01', :d)"), {"d": dt.date(year, 1, 5)})
    assert caught.value.year == LAST.year + 1

    declaration = {
        "year": year,
        "holidays": [{"date": f"{year}-01-01", "name": "元旦"}]
        + [{"date": f"{year}-10-0{d}", "name": "国庆节"} for d in range(1, 8)],
        "makeups": [{"date": f"{year}-09-28", "name": "国庆节调休"}],  # a Sunday
    }
    assert dt.date(year, 9, 28).isoweekday() == 7
    error(client.post(f"{C}/years", json=declaration, headers=LEADER), 403, "forbidden", None)
    error(client.post(f"{C}/years", json=declaration), 401, "unauthenticated", None)
    # mistakes first: nothing is stored
    wrong = {**declaration, "makeups": [{"date": f"{year}-09-29", "name": "国庆节调休"}]}  # a Monday
    error(client.post(f"{C}/years", json=wrong, headers=ADMIN), 422, "kind_weekday", "makeups")
    wrong = {**declaration, "holidays": [{"date": "2030-12-31", "name": "元旦"}]}
    error(client.post(f"{C}/years", json=wrong, headers=ADMIN), 422, "date_outside_year", "holidays")
    wrong = {**declaration, "makeups": [{"date": f"{year}-10-04", "name": "国庆节调休"}]}  # already a holiday
    error(client.post(f"{C}/years", json=wrong, headers=ADMIN), 422, "date_twice", "makeups")
    error(
        client.post(f"{C}/years", json={**declaration, "year": 2026}, headers=ADMIN),
        422,
        "date_outside_year",
        "holidays",
    )
    error(client.get(f"{C}/days/{year}-03-03"), 422, "calendar_missing", "date")

    r = client.post(f"{C}/years", json=declaration, headers=ADMIN)
    assert r.status_code == 201, r.text
    assert r.json()["holidays"] == 8 and r.json()["makeups"] == 1 and r.json()["source"] == "admin"
    assert client.get(f"{C}/days/{year}-10-01").json() == {
        "date": f"{year}-10-01",
        "working": False,
        "kind": "holiday",
        "name": "国庆节",
    }
    assert client.get(f"{C}/days/{year}-09-28").json()["working"] is True
    assert client.get(f"{C}/days/{year}-03-03").json()["kind"] == "workday"
    count = client.get(f"{C}/working-days", params={"start": f"{year}-09-26", "end": f"{year}-10-09"}).json()
    # Saturday the 27th off, the make-up Sunday the 28th, the 29th and 30th worked, 1–7 October off, the 8th and 9th
    assert count == {"working_days": 5}
    r = client.get(f"{C}/add-working-days", params={"start": f"{year}-09-26", "days": 3})
    assert r.json() == {"date": f"{year}-09-30"}
    assert client.get(f"{C}/add-working-days", params={"start": f"{year}-09-26", "days": 4}).json() == {
        "date": f"{year}-10-08"
    }
    # the years between stay missing
    error(
        client.get(f"{C}/add-working-days", params={"start": "2026-12-20", "days": 30}), 422, "calendar_missing", "days"
    )
    error(
        client.get(f"{C}/working-days", params={"start": "2026-12-01", "end": f"{year}-01-05"}),
        422,
        "calendar_missing",
        "end",
    )
    error(client.post(f"{C}/years", json=declaration, headers=ADMIN), 409, "year_exists", "year")
    years = {y["year"]: y for y in client.get(f"{C}/years", headers=ADMIN).json()["items"]}
    assert years[year]["source"] == "admin" and years[2026]["source"] == "chinesecalendar"
    with engine.connect() as conn:
        logged = conn.execute(
            sa.text(
                "SELECT actor, after FROM audit_log WHERE action = 'create' AND layer = 'work_calendar_years' "
                "AND feature_id = :y ORDER BY id DESC LIMIT 1"
            ),
            {"y": year},
        ).one()
    assert logged.actor == "test-admin" and logged.after["makeups"] == {f"{year}-09-28": "国庆节调休"}


def test_an_edit_counts_at_once_is_audited_and_survives_a_sync(client, engine):
    day = dt.date(2005, 6, 1)  # a Wednesday nobody else's test counts on
    before = client.get(f"{C}/working-days", params={"start": "2005-05-31", "end": "2026-10-08"}).json()
    try:
        error(client.put(f"{C}/days/2005-06-01", json={"working": False, "kind": "holiday", "name": "测试"},
                         headers=LEADER), 403, "forbidden", None)  # fmt: skip
        error(client.put(f"{C}/days/2005-06-01", json={"working": False, "kind": "holiday", "name": "测试"}),
              401, "unauthenticated", None)  # fmt: skip
        error(client.get(f"{C}/years", headers=PUBLIC), 403, "forbidden", None)
        error(client.get(f"{C}/years/2005", headers=LEADER), 403, "forbidden", None)
        for body, code, field in (
            ({"working": False, "kind": "weekend"}, "kind_weekday", "kind"),
            ({"working": True, "kind": "holiday", "name": "端午"}, "kind_mismatch", "working"),
            ({"working": False, "kind": "holiday"}, "required", "name"),
            ({"working": True, "kind": "workday", "name": "随便"}, "name_not_allowed", "name"),
            ({"working": True, "kind": "makeup", "name": "调休"}, "kind_weekday", "kind"),
            ({"working": False, "kind": "vacation"}, "invalid_choice", "kind"),
        ):
            error(client.put(f"{C}/days/2005-06-01", json=body, headers=ADMIN), 422, code, field)
        error(
            client.put(f"{C}/days/{UNDECLARED}-06-02", json={"working": True, "kind": "workday"}, headers=ADMIN),
            422,
            "calendar_missing",
            "date",
        )
        assert client.get(f"{C}/days/2005-06-01").json()["kind"] == "workday"  # nothing stored

        edit = {"working": False, "kind": "holiday", "name": "临时放假"}
        r = client.put(f"{C}/days/2005-06-01", json=edit, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json() == {"date": "2005-06-01", "working": False, "kind": "holiday", "name": "临时放假"}
        after = client.get(f"{C}/working-days", params={"start": "2005-05-31", "end": "2026-10-08"}).json()
        assert after["working_days"] == before["working_days"] - 1
        assert ordinals_are_running_counts(engine)
        assert client.get(f"{C}/working-days", params={"start": "2005-05-31", "end": "2005-06-01"}).json() == {
            "working_days": 0
        }
        with engine.connect() as conn:
            logged = conn.execute(
                sa.text(
                    "SELECT actor, before, after, detail FROM audit_log WHERE action = 'update' "
                    "AND layer = 'work_calendar' ORDER BY id DESC LIMIT 1"
                )  # fmt: skip
            ).one()
        assert logged.actor == "test-admin" and logged.detail == {"date": "2005-06-01"}
        assert logged.before["kind"] == "workday" and logged.after["name"] == "临时放假"
        grid = client.get(f"{C}/years/2005", headers=ADMIN).json()
        edited = next(d for d in grid["days"] if d["date"] == "2005-06-01")
        assert edited["source"] == "admin" and len(grid["days"]) == 365

        # a sync with the package leaves the administrator's day as it is
        r = client.post(f"{C}/sync", headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json()["years"] == [FIRST.year, LAST.year]
        assert client.get(f"{C}/days/2005-06-01").json()["kind"] == "holiday"
    finally:
        with engine.begin() as conn:  # hand the day back to the package, which the sync then restores
            conn.execute(sa.text("UPDATE work_calendar SET source = 'chinesecalendar' WHERE day = :d"), {"d": day})
        with engine.begin() as conn:
            assert calendar.sync(conn, "test")["changed_days"] == 1
    assert client.get(f"{C}/working-days", params={"start": "2005-05-31", "end": "2026-10-08"}).json() == before
    assert ordinals_are_running_counts(engine)


def test_calendar_missing_raised_by_any_query_is_a_422():
    """A statistic's own SQL that reaches an undeclared year is answered as the calendar's error, not a 500."""
    from api import errors
    from geo.db import transaction

    app = FastAPI()
    errors.install(app)

    @app.get("/stat")
    def stat() -> dict:
        with transaction() as conn:
            conn.execute(sa.text("SELECT sum(chengjian_working_days('2026-01-01', CAST(d AS date))) "
                                 "FROM generate_series(date '2026-12-30', date '2027-01-04', interval '1 day') d"))  # fmt: skip
        return {}

    with TestClient(app) as c:
        body = error(c.get("/stat"), 422, "calendar_missing", None)
    assert body["detail"] == {"year": LAST.year + 1}


def test_statistics_count_in_the_query_itself(engine):
    """The functions are inlined into the calling query (array constants, no call and no lookup per row): what
    makes 100,000 review rounds countable in milliseconds."""
    with engine.connect() as conn:
        plan = "\n".join(
            conn.execute(
                sa.text("""EXPLAIN VERBOSE SELECT sum(chengjian_working_days(a, a + 30)),
                                                  max(chengjian_add_working_days(a, 15))
                           FROM generate_series(date '2010-01-01', date '2020-01-01', interval '1 day') g,
                                LATERAL (SELECT g::date AS a) x""")
            ).scalars()
        )
        assert "chengjian_working_days" not in plan and "chengjian_add_working_days" not in plan, plan
        assert "::integer[]" in plan


# -- the back office's month grid ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(app):
    from tests.conftest import running_server

    with running_server(app) as base:
        yield base


def test_the_month_grid_in_a_browser(server, engine, no_undeclared_year):
    """An administrator opens 工作日历: October 2026 shows the National Day holidays and the make-up Saturday; a
    day is changed (a missing name shown at its field first) and counted at once; a new year is declared from the
    notice's lines; everything is put back afterwards."""
    from playwright.sync_api import expect, sync_playwright

    from tests.conftest import TEST_PASSWORD, make_user
    from tests.test_admin import CHROMIUM, CHROMIUM_ARGS

    assert os.path.exists(CHROMIUM), "Debian's chromium is needed (make system-deps installs it)"
    admin = f"cal-admin-{uuid.uuid4().hex[:6]}"
    make_user(admin, ["admin"])
    day = dt.date(2005, 6, 1)
    errors: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN").new_page()
                page.set_default_timeout(15_000)
                page.on("console", lambda m: m.type == "error" and errors.append(m.text))
                page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
                page.goto(server + "/admin#calendar")
                login = page.locator("#login")
                login.locator("input[name=username]").fill(admin)
                login.locator("input[name=password]").fill(TEST_PASSWORD)
                login.locator("button[type=submit]").click()
                pane = page.locator(".pane[data-tab=calendar]")
                expect(page.locator(".tab[data-tab=calendar]")).to_have_text("工作日历")
                expect(pane.locator(".cal-info")).to_contain_text("chinesecalendar 覆盖至 2026 年")

                pane.locator("select[name=year]").select_option("2026")
                expect(pane.locator(".cal-info")).to_contain_text("2026 年：")
                pane.locator("select[name=month]").select_option("10")
                national = pane.locator(".cal-day[data-date='2026-10-01']")
                expect(national).to_have_class("cal-day kind-holiday")
                expect(national).to_contain_text("国庆节")
                expect(national.locator(".cal-mark")).to_have_text("休")
                makeup = pane.locator(".cal-day[data-date='2026-10-10']")
                expect(makeup).to_have_class("cal-day kind-makeup")
                expect(makeup.locator(".cal-mark")).to_have_text("班")
                expect(pane.locator(".cal-day[data-date='2026-10-11']")).to_have_class("cal-day kind-weekend")
                # Monday 2026-09-28 is the first cell of its row: the grid starts on Monday, 1 October is a Thursday
                assert pane.locator(".cal-blank").count() == 3

                # a correction: 2005-06-01 becomes a holiday (first without its name)
                pane.locator("select[name=year]").select_option("2005")
                expect(pane.locator(".cal-day[data-date='2005-10-01']")).to_be_visible()  # the year's October
                pane.locator("select[name=month]").select_option("6")
                pane.locator(f".cal-day[data-date='{day}']").click()
                dlg = page.locator("dialog")
                dlg.locator("select[name=kind]").select_option("holiday")
                dlg.locator("button[type=submit]").click()
                expect(dlg.locator(".field[data-field=name] .field-error")).to_contain_text("请填写节日名称")
                dlg.locator("input[name=name]").fill("界面测试假日")
                dlg.locator("button[type=submit]").click()
                expect(dlg).to_have_count(0)
                cell = pane.locator(f".cal-day[data-date='{day}']")
                expect(cell).to_have_class("cal-day kind-holiday admin")
                expect(cell).to_contain_text("界面测试假日")
                with engine.connect() as conn:
                    assert (
                        conn.execute(sa.text("SELECT chengjian_working_days('2005-05-31', '2005-06-01')")).scalar() == 0
                    )

                # a new year from the notice's lines: a bad line is shown at its field, then the year is stored
                pane.locator("button", has_text="录入新年度").click()
                dlg = page.locator("dialog")
                dlg.locator("input[name=year]").fill(str(UNDECLARED))
                dlg.locator("textarea[name=holidays]").fill(f"{UNDECLARED}-01-01 元旦\n十月一日 国庆节")
                dlg.locator("button[type=submit]").click()
                expect(dlg.locator(".field[data-field=holidays] .field-error")).to_contain_text("第 2 行")
                dlg.locator("textarea[name=holidays]").fill(
                    f"{UNDECLARED}-01-01 元旦\n{UNDECLARED}-10-01~{UNDECLARED}-10-07 国庆节"
                )
                dlg.locator("textarea[name=makeups]").fill(f"{UNDECLARED}-09-29 国庆节调休")  # a Monday
                dlg.locator("button[type=submit]").click()
                expect(dlg.locator(".field[data-field=makeups] .field-error")).to_contain_text("不是周末")
                dlg.locator("textarea[name=makeups]").fill(f"{UNDECLARED}-09-28 国庆节调休")
                dlg.locator("button[type=submit]").click()
                expect(dlg).to_have_count(0)
                expect(pane.locator(".cal-info")).to_contain_text(
                    f"{UNDECLARED} 年：管理员维护；节假日 8 天，调休上班 1 天"
                )
                pane.locator("select[name=month]").select_option("10")
                expect(pane.locator(f".cal-day[data-date='{UNDECLARED}-10-07']")).to_have_class(
                    "cal-day kind-holiday admin"
                )
            finally:
                browser.close()
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE work_calendar SET source = 'chinesecalendar' WHERE day = :d"), {"d": day})
        with engine.begin() as conn:
            calendar.sync(conn, "test")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT kind FROM work_calendar WHERE day = :d"), {"d": day}).scalar() == "workday"
    unexpected = [e for e in errors if "status of 422" not in e]
    assert not unexpected, unexpected
