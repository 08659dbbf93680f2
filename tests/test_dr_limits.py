"""Time limits of the drawing review (DR-05) against the real database: the configuration (only ``review.config``,
versioned, all or nothing, in the operation log), due dates counted in official working days from the day a stage
begins, the overdue and nearly-due flags and lists (scoped like every read), and the stage timeline of the progress
view (DR-04)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from geo import calendar
from geo.db import transaction
from layers.drawing_review import limits, progress
from tests import dr_world
from tests.dr_world import application, draw, free_code, principal, register_project

API = "/api/review"


@pytest.fixture(scope="module")
def world(engine, app):
    return dr_world.build(engine)


@pytest.fixture
def restore_limits(engine):
    """The time limits as they were before the test (other tests count with the defaults)."""
    with engine.connect() as conn:
        saved = conn.execute(text("SELECT review_category, grade, stage, working_days FROM dr_time_limits")).all()
    yield
    with engine.begin() as conn:
        for c, g, s, d in saved:
            conn.execute(
                text(
                    "UPDATE dr_time_limits SET working_days = :d WHERE review_category = :c AND grade = :g AND stage = :s"
                ),
                {"c": c, "g": g, "s": s, "d": d},
            )


def h(world, user):
    return world["headers"][user]


def limit_row(client, world, category="房屋建筑", grade="二类", stage="accept") -> dict:
    items = client.get(f"{API}/time-limits", headers=h(world, "dr-builder")).json()["items"]
    (row,) = [i for i in items if (i["review_category"], i["grade"], i["stage"]) == (category, grade, stage)]
    return row


def drawn(client, world, engine, county=False) -> dict:
    """A submitted and drawn application of the city (or of 建德市)."""
    prefix = "jd-" if county else ""
    code = free_code("建德市") if county else register_project(engine, world)["code"]
    a = client.post(f"{API}/applications", json=application(world, code, county=county),
                    headers=h(world, f"dr-{prefix}builder")).json()  # fmt: skip
    r = client.post(f"{API}/applications/{a['id']}/actions/submit", json={"version": a["version"]},
                    headers=h(world, f"dr-{prefix}builder"))  # fmt: skip
    assert r.status_code == 200, r.text
    draw(a["id"], world["agency_id"]["jd_agency" if county else "agency"], "dr-jd-window" if county else "dr-window")
    return client.get(f"{API}/applications/{a['id']}", headers=h(world, f"dr-{prefix}agency")).json()


def test_the_configuration_is_versioned_audited_and_all_or_nothing(client, world, engine, restore_limits):
    data = client.get(f"{API}/time-limits", headers=h(world, "dr-builder")).json()
    assert len(data["items"]) == 2 * 3 * 4 and data["stages"]["reply"] == "设计回复"
    row = limit_row(client, world)
    item = {k: row[k] for k in ("review_category", "grade", "stage", "version")}
    review = limit_row(client, world, stage="review")
    # Only review.config may change them.
    r = client.put(f"{API}/time-limits", json={"items": [{**item, "working_days": 3}]}, headers=h(world, "dr-builder"))
    assert r.status_code == 403
    # One bad item: nothing changes (the good one before it neither).
    good = {**{k: review[k] for k in ("review_category", "grade", "stage", "version")}, "working_days": 12}
    for bad, status, code, field in (
        ({**item, "stage": "lunch", "working_days": 3}, 422, "invalid_choice", "items.1.stage"),
        ({**item, "working_days": 0}, 422, "out_of_range", "items.1.working_days"),
        ({**item, "version": item["version"] + 1, "working_days": 3}, 409, "stale_version", "version"),
    ):
        r = client.put(f"{API}/time-limits", json={"items": [good, bad]}, headers=h(world, "dr-city"))
        assert r.status_code == status, r.text
        assert (r.json()["code"], r.json()["field"]) == (code, field), r.json()
    assert limit_row(client, world) == row and limit_row(client, world, stage="review") == review
    r = client.put(f"{API}/time-limits", json={"items": [{**item, "working_days": 3}]}, headers=h(world, "dr-city"))
    assert r.status_code == 200, r.text
    after = limit_row(client, world)
    assert (after["working_days"], after["version"], after["updated_by"]) == (3, row["version"] + 1, "dr-city")
    with engine.connect() as conn:
        logged = conn.execute(
            text("SELECT actor, before, after FROM audit_log WHERE layer = 'dr_time_limits' ORDER BY id DESC LIMIT 1")
        ).one()
    assert logged[0] == "dr-city" and (logged[1]["working_days"], logged[2]["working_days"]) == (row["working_days"], 3)


def test_due_dates_count_working_days_from_the_stage_start(client, world, engine, restore_limits):
    a = drawn(client, world, engine)
    with engine.connect() as conn:
        day = conn.execute(
            text("SELECT (drawn_at AT TIME ZONE 'Asia/Shanghai')::date FROM dr_applications WHERE id = :i"),
            {"i": a["id"]},
        ).scalar()
        assert a["due_on"] == calendar.add_working_days(conn, day, 2).isoformat()  # 受理: 2 working days
    # A changed limit applies to the stages that begin after the change.
    row = limit_row(client, world)
    item = {k: row[k] for k in ("review_category", "grade", "stage", "version")}
    assert client.put(f"{API}/time-limits", json={"items": [{**item, "working_days": 7}]},
                      headers=h(world, "dr-city")).status_code == 200  # fmt: skip
    assert client.get(f"{API}/applications/{a['id']}", headers=h(world, "dr-agency")).json()["due_on"] == a["due_on"]
    b = drawn(client, world, engine)
    with engine.connect() as conn:
        day = conn.execute(
            text("SELECT (drawn_at AT TIME ZONE 'Asia/Shanghai')::date FROM dr_applications WHERE id = :i"),
            {"i": b["id"]},
        ).scalar()
        assert b["due_on"] == calendar.add_working_days(conn, day, 7).isoformat()
        # Over a holiday the clock stops: ten working days from 2026-09-30 end after the National Day week.
        assert calendar.add_working_days(conn, dt.date(2026, 9, 30), 10) > dt.date(2026, 10, 14)


def test_overdue_and_nearly_due_are_flagged_and_listed(client, world, engine):
    a = drawn(client, world, engine)
    a = client.post(f"{API}/applications/{a['id']}/actions/accept", json={"version": a["version"]},
                    headers=h(world, "dr-agency")).json()  # fmt: skip
    due = dt.date.fromisoformat(a["due_on"])
    who = principal("dr-agency")
    with transaction(who.scope) as conn:
        today = limits.today()
        ids = lambda which, day: {i["id"] for i in limits.due_list(conn, who, which, day)["items"]}  # noqa: E731
        assert a["id"] not in ids("all", today)  # ten working days ahead
        before = due - dt.timedelta(days=1)
        while not calendar.is_working(conn, before)["working"]:
            before -= dt.timedelta(days=1)
        assert a["id"] in ids("nearly_due", before) and a["id"] not in ids("overdue", before)
        late = due + dt.timedelta(days=3)
        listed = {i["id"]: i for i in limits.due_list(conn, who, "overdue", late)["items"]}
        assert listed[a["id"]]["flag"] == "overdue" and listed[a["id"]]["flag_title"] == "已逾期"
        assert listed[a["id"]]["overdue_working_days"] == calendar.working_days(conn, due, late)
        assert listed[a["id"]]["stage_title"] == "审查"
        # A day whose next working days the calendar does not know: said so, or (for a list) nothing nearly due.
        assert limits.flags(conn, dt.date(2040, 6, 1), strict=False)["soon_until"] is None
        with pytest.raises(calendar.CalendarMissing) as missing, conn.begin_nested():
            limits.flags(conn, dt.date(2040, 6, 1))
        assert missing.value.code == "calendar_missing" and missing.value.field == "due_on"
        # The timeline shows the open stage overdue on that day.
        row = dict(conn.execute(text("SELECT * FROM dr_applications WHERE id = :i"), {"i": a["id"]}).mappings().one())
        (open_stage,) = [s for s in progress.timeline(conn, row, late) if s["open"]]
        assert (open_stage["stage"], open_stage["overdue"], open_stage["due_on"]) == ("review", True, a["due_on"])
    # Over HTTP: an application whose due day has passed (its clock set back) is listed for whoever sees it.
    with engine.begin() as conn:
        conn.execute(text("UPDATE dr_applications SET due_on = current_date - 5 WHERE id = :i"), {"i": a["id"]})
    r = client.get(f"{API}/overdue", params={"which": "overdue"}, headers=h(world, "dr-agency"))
    assert r.status_code == 200, r.text
    (item,) = [i for i in r.json()["items"] if i["id"] == a["id"]]
    assert item["flag"] == "overdue" and item["overdue_working_days"] >= 1
    # The application's own list and detail carry the flag too.
    d = client.get(f"{API}/applications/{a['id']}", headers=h(world, "dr-agency")).json()
    assert (d["flag"], d["flag_title"]) == ("overdue", "已逾期")
    assert a["id"] in {i["id"] for i in client.get(f"{API}/overdue", headers=h(world, "dr-city")).json()["items"]}
    for user in ("dr-jd-agency", "dr-jd-window", "dr-other-builder"):
        r = client.get(f"{API}/overdue", params={"limit": 500}, headers=h(world, user))
        assert a["id"] not in {i["id"] for i in r.json()["items"]}, user
    r = client.get(f"{API}/overdue", params={"which": "soon"}, headers=h(world, "dr-agency"))
    assert r.status_code == 422 and (r.json()["code"], r.json()["field"]) == ("invalid_choice", "which")


def test_progress_lists_the_fields_and_the_stages(client, world, engine):
    a = drawn(client, world, engine, county=True)
    r = client.get(f"{API}/applications/{a['id']}/progress", headers=h(world, "dr-jd-staff"))
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["fields"]["verified"] is False and p["fields"]["designer_name"] == "建德联审测试设计院有限公司"
    assert p["fields"]["agency_name"] == "建德联审测试图审有限公司" and p["fields"]["investment_wan"] == 8_600.0
    assert p["fields"]["attachments"] == []
    (stage,) = p["timeline"]
    assert (stage["stage"], stage["open"], stage["limit_days"], stage["due_on"]) == ("accept", True, 2, a["due_on"])
    assert [x["action"] for x in p["history"]] == ["create", "submit", "draw"]
    assert client.get(f"{API}/applications/{a['id']}/progress", headers=h(world, "dr-ca-staff")).status_code == 404
