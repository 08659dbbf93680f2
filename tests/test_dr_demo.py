"""The drawing review's demo (agencies, two years of applications), its place on the map and its record links.

The module loads the whole demo once at the tests' small scale (like ``test_demo``: on emptied layers, emptied again
after) and checks that the applications are consistent with the registers and with themselves; the full-scale run
(3,000 applications over the registers at their city volumes) goes in a transaction rolled back, timed.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from stdnum.cn import uscc as uscc_mod

from etl.demo import REF_DATE, World, build_demo, load_districts
from geo import records
from geo.layer.registry import registry
from tests import st_world
from tests.conftest import ADMIN, business_tables

SCALE = 0.02
TZ = ZoneInfo("Asia/Shanghai")
REF = REF_DATE.item()


def _truncate(engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {', '.join(business_tables())}, audit_log RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="module")
def demo(engine):
    _truncate(engine)
    out = build_demo(farmhouses=200, if_empty=True, scale=SCALE)
    yield out
    _truncate(engine)
    st_world.forget_demo(engine)


def rows(engine, sql: str, **params) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).mappings().all()


# -- the agencies ------------------------------------------------------------------------------------------------


def test_twelve_agencies_of_the_register_over_the_three_jurisdictions(demo, engine):
    from layers.drawing_review import jurisdiction_of
    from layers.drawing_review.demo import AGENCIES, agency_rows

    found = rows(
        engine,
        "SELECT e.uscc, e.name, e.types, e.district, g.business_licence_no, g.active, "
        "(SELECT array_agg(q.grade) FROM enterprise_qualifications q WHERE q.enterprise_id = e.id "
        " AND q.category = '施工图审查机构' AND q.valid_to > :ref) AS grades "
        "FROM dr_agencies g JOIN enterprises e ON e.uscc = g.uscc WHERE g.uscc = ANY(:mine) ORDER BY g.id",
        ref=REF,
        mine=[a["uscc"] for a in agency_rows()],
    )
    assert [r["name"] for r in found] == [a[0] for a in AGENCIES]
    for r in found:
        assert uscc_mod.is_valid(r["uscc"]) and "review_agency" in r["types"], r
        assert r["active"] and len(r["business_licence_no"]) == 15 and r["grades"], r
    per = defaultdict(list)
    for r in found:
        per[jurisdiction_of(r["district"])].append(r)
    assert {j: len(v) for j, v in per.items()} == {"市本级": 6, "建德市": 3, "淳安县": 3}
    assert all(any("一类" in r["grades"] for r in v) for v in per.values())  # someone may review every grade


# -- the applications --------------------------------------------------------------------------------------------


def test_applications_are_of_the_registers(demo, engine):
    apps = rows(
        engine,
        "SELECT a.*, p.project_code AS p_code, p.name AS p_name, p.district AS p_district, "
        "p.builder_uscc AS p_builder, p.drawing_review_on, p.planning_permit_on, "
        "'survey_design' = ANY(d.types) AS designer_ok, b.uscc IS NOT NULL AS builder_ok, "
        "s.uscc IS NOT NULL OR a.surveyor_uscc IS NULL AS surveyor_ok, ge.district AS agency_seat, "
        "ST_Equals(r.geom, p.geom) AS same_point, r.code AS pin_code "
        "FROM dr_applications a LEFT JOIN projects p ON p.id = a.project_id "
        "JOIN enterprises d ON d.uscc = a.designer_uscc LEFT JOIN enterprises b ON b.uscc = a.builder_uscc "
        "LEFT JOIN enterprises s ON s.uscc = a.surveyor_uscc LEFT JOIN dr_agencies g ON g.id = a.agency_id "
        "LEFT JOIN enterprises ge ON ge.uscc = g.uscc JOIN review_projects r ON r.id = a.review_project_id",
    )
    from layers.drawing_review import jurisdiction_of

    assert len(apps) == demo["dr_applications"] == World(1, [], 0, "", SCALE).count(3_000)
    assert {a["jurisdiction"] for a in apps} == {"市本级", "建德市", "淳安县"}  # the counties have theirs
    verified = [a for a in apps if a["project_id"] is not None]
    assert len(verified) >= 0.7 * len(apps)  # a small world's register has few projects still to be reviewed
    for a in apps:
        assert a["designer_ok"] and a["builder_ok"] and a["surveyor_ok"], a["application_no"]
        assert a["pin_code"] == a["project_code"]
        if a["agency_id"] is not None:  # drawn: an agency of the application's own jurisdiction
            assert jurisdiction_of(a["agency_seat"]) == a["jurisdiction"], a["application_no"]
        else:
            assert a["status"] in ("submitted", "withdrawn")
        assert a["submitted_at"].date() >= REF.replace(year=REF.year - 2) and a["submitted_at"].date() < REF
    for a in verified:  # the project register's code, name, district, builder and site point
        assert (a["p_code"], a["p_name"], a["p_district"], a["p_builder"]) == (
            a["project_code"],
            a["name"],
            a["district"],
            a["builder_uscc"],
        )
        assert a["same_point"]
        assert a["submitted_at"].date() > a["planning_permit_on"]
        if a["conclusion"] == "合格":  # the register's drawing-review date is the day it passed
            assert a["concluded_at"].astimezone(TZ).date() == a["drawing_review_on"], a["application_no"]
        else:
            assert a["drawing_review_on"] is None, a["application_no"]
    states = {a["status"] for a in apps}
    assert {"certified", "reviewing", "replying"} <= states
    assert sum(a["status"] == "certified" for a in apps) > 0.6 * len(apps)


def test_the_agencies_are_those_the_lottery_could_draw(demo, engine):
    """Each drawn application's agency passes the lottery's avoidance rules on the day it was drawn (the
    qualification scopes and validity the lottery's seeder gave, no tie to the builder or the design unit)."""
    from layers.drawing_review.agencies import affiliations_of, qualifications_of
    from layers.drawing_review.lottery import screen

    apps = rows(engine, "SELECT * FROM dr_applications WHERE agency_id IS NOT NULL")
    ids = sorted({a["agency_id"] for a in apps})
    with engine.connect() as conn:
        quals, ties = qualifications_of(conn, ids), affiliations_of(conn, ids)
        usccs = dict(conn.execute(sa.text("SELECT id, uscc FROM dr_agencies WHERE id = ANY(:i)"), {"i": ids}).all())
    assert all(quals.values())  # the lottery's seeder scoped every demo agency
    for a in apps:
        agency = {"active": True, "qualifications": quals[a["agency_id"]], "affiliations": ties[a["agency_id"]],
                  "uscc": usccs[a["agency_id"]]}  # fmt: skip
        assert screen(a, agency, a["drawn_at"].astimezone(TZ).date().isoformat()) is None, a["application_no"]


def test_rounds_opinions_and_certificates(demo, engine):
    apps = {a["id"]: a for a in rows(engine, "SELECT * FROM dr_applications")}
    rounds = defaultdict(list)
    for r in rows(engine, "SELECT * FROM dr_rounds ORDER BY application_id, round_no"):
        rounds[r["application_id"]].append(r)
    opinions = defaultdict(list)
    for o in rows(engine, "SELECT * FROM dr_opinions"):
        opinions[o["round_id"]].append(o)
    buildings = {r["application_id"]: r["n"] for r in rows(engine, "SELECT application_id, count(*) AS n FROM dr_buildings GROUP BY 1")}  # fmt: skip
    for aid, a in apps.items():
        mine = rounds.get(aid, [])
        assert [r["round_no"] for r in mine] == list(range(1, a["round_no"] + 1)), a["application_no"]
        assert 0 <= a["round_no"] <= 4 and buildings.get(aid, 0) >= 1
        previous = a["accepted_at"]
        for i, r in enumerate(mine):
            assert r["started_at"] >= previous  # each round starts at the acceptance or the design unit's reply
            if r["opinion_at"] is not None:
                assert r["opinion_at"] >= r["started_at"]
                verdicts = {o["conclusion"] for o in opinions[r["id"]]}
                expect = {"passed": {"合格"}, "modify": {"需修改"}, "failed": {"不合格"}}[r["result"]]
                assert expect <= verdicts and (r["result"] != "passed" or verdicts == {"合格"})
            if i < len(mine) - 1:
                assert r["result"] == "modify" and r["replied_at"] == mine[i + 1]["started_at"]
            previous = r["replied_at"] or r["opinion_at"] or r["started_at"]
        if a["status"] in ("certified", "passed"):
            assert mine[-1]["result"] == "passed" and a["conclusion"] == "合格"
            assert a["concluded_at"] == mine[-1]["opinion_at"]
        if a["status"] == "certified":
            assert a["certificate_no"] and a["certified_at"] > a["concluded_at"]
        else:
            assert a["certificate_no"] is None
        if a["status"] == "failed":
            assert mine[-1]["result"] == "failed" and a["conclusion"] == "不合格"
        if a["status"] == "reviewing":
            assert mine[-1]["opinion_at"] is None
        if a["status"] == "replying":
            assert mine[-1]["result"] == "modify" and mine[-1]["replied_at"] is None
    numbers = [a["certificate_no"] for a in apps.values() if a["certificate_no"]]
    assert len(numbers) == len(set(numbers))


def test_history_leads_to_each_state(demo, engine):
    apps = {a["id"]: a for a in rows(engine, "SELECT id, status, submitted_at, application_no FROM dr_applications")}
    steps = defaultdict(list)
    for h in rows(engine, "SELECT * FROM case_history WHERE case_kind = 'dr_application' ORDER BY case_id, at, id"):
        steps[h["case_id"]].append(h)
    assert set(steps) == set(apps)
    for aid, a in apps.items():
        h = steps[aid]
        assert h[0]["from_state"] == "draft" and h[0]["at"] == a["submitted_at"]
        assert all(x["to_state"] == y["from_state"] for x, y in zip(h, h[1:])), a["application_no"]
        assert all(x["at"] < y["at"] for x, y in zip(h, h[1:])) and h[-1]["at"].date() < REF
        assert h[-1]["to_state"] == a["status"]


def test_pins_match_the_applications(demo, engine):
    from layers.drawing_review.process import PIN_STATUS

    found = rows(
        engine,
        "SELECT a.status, a.due_on, r.status AS pin_status, r.overdue, r.agency, e.name AS agency_name, "
        "r.submitted_at AS pin_submitted, a.submitted_at FROM dr_applications a "
        "JOIN review_projects r ON r.id = a.review_project_id "
        "LEFT JOIN dr_agencies g ON g.id = a.agency_id LEFT JOIN enterprises e ON e.uscc = g.uscc",
    )
    assert len(found) == len(rows(engine, "SELECT id FROM review_projects WHERE deleted_at IS NULL"))
    for f in found:
        assert f["pin_status"] == PIN_STATUS[f["status"]] and f["agency"] == f["agency_name"]
        assert f["overdue"] == (f["due_on"] is not None and f["due_on"] < REF)
        assert (f["due_on"] is not None) == (f["status"] in ("drawn", "reviewing", "replying", "passed"))


def test_the_thematic_map_of_applications_per_district(demo, engine, client):
    found = rows(engine, "SELECT source, statistic, published FROM thematic_maps WHERE slug = 'review-applications'")
    assert [dict(r) for r in found] == [{"source": "review_projects", "statistic": "count", "published": True}]
    answer = client.get("/api/thematic/review-applications/data", headers=ADMIN).json()
    per = {
        r["district"]: r["n"] for r in rows(engine, "SELECT district, count(*) AS n FROM dr_applications GROUP BY 1")
    }
    assert {g["name"]: g["value"] for g in answer["groups"] if g["value"]} == per
    assert answer["headline"]["total"] == sum(per.values())


def test_due_dates_count_the_database_calendar(demo, engine):
    """The current stage's due date is its time limit in working days after the stage began (the database's
    calendar, as the review clocks count), and the steps fall on working days."""
    wrong = rows(
        engine,
        "SELECT a.application_no FROM dr_applications a JOIN dr_time_limits l ON l.review_category = a.review_category "
        "AND l.grade = a.grade AND l.stage = CASE a.status WHEN 'drawn' THEN 'accept' WHEN 'reviewing' THEN 'review' "
        "WHEN 'replying' THEN 'reply' WHEN 'passed' THEN 'certify' END "
        "WHERE a.due_on IS DISTINCT FROM chengjian_add_working_days("
        "  (a.updated_at AT TIME ZONE 'Asia/Shanghai')::date, l.working_days)",
    )
    assert wrong == []
    off = rows(
        engine,
        "SELECT h.action, count(*) AS n FROM case_history h JOIN work_calendar c "
        "ON c.day = (h.at AT TIME ZONE 'Asia/Shanghai')::date WHERE h.case_kind = 'dr_application' AND NOT c.working "
        "GROUP BY 1",
    )
    assert {r["action"] for r in off} <= {"pass"}  # only a conclusion may be dated on a rest day (the register's date)


def test_the_overdue_flag_follows_the_due_dates(demo, engine):
    """The demo's flags are the rule's as of its day; the hourly job flips a pin whose due date passed, the
    transition hook (after the flow's, which sets the due date) flips one application's pin."""
    from geo import workflow
    from layers.drawing_review import flow, overdue

    hooks = [h for kinds, h in workflow._hooks if "dr_application" in kinds]
    assert hooks.index(overdue.follow_due_date) > hooks.index(flow.follow)
    demo_day = datetime(2026, 10, 31, 16, 30, tzinfo=UTC)  # 2026-11-01 00:30 in Beijing
    with engine.connect() as conn, conn.begin() as tx:
        assert overdue.overdue_pins(conn, demo_day) == {"overdue_pins": 0}
        app, pin = conn.execute(
            sa.text(
                "SELECT a.id, r.id FROM dr_applications a JOIN review_projects r ON r.id = a.review_project_id "
                "WHERE a.due_on >= :d AND NOT r.overdue ORDER BY a.id LIMIT 1"
            ),
            {"d": REF},
        ).one()
        later = datetime.combine(conn.execute(sa.text("SELECT due_on FROM dr_applications WHERE id = :a"), {"a": app}).scalar_one(), datetime.min.time(), UTC) + timedelta(days=2)  # fmt: skip
        assert overdue.overdue_pins(conn, later)["overdue_pins"] >= 1
        flag = sa.text("SELECT overdue FROM review_projects WHERE id = :p")
        assert conn.execute(flag, {"p": pin}).scalar_one() is True
        assert overdue.overdue_pins(conn, demo_day)["overdue_pins"] >= 1  # back as of the demo's day
        conn.execute(sa.text("UPDATE dr_applications SET due_on = date '2020-01-01' WHERE id = :a"), {"a": app})
        overdue.follow_due_date(conn, None, {}, {"id": app}, None)
        assert conn.execute(flag, {"p": pin}).scalar_one() is True
        tx.rollback()


# -- the map and the record pages -------------------------------------------------------------------------------


def test_the_layer_colours_by_status_and_rings_overdue_pins(client):
    from layers.drawing_review.process import PIN_STATUS
    from tiles.style import build_style

    layer = registry.get("review_projects")
    assert layer.attr("status").choices == tuple(PIN_STATUS.values())
    assert set(layer.style.colors) == set(PIN_STATUS.values()) and layer.style.color_by == "status"
    assert layer.style.ring_by == "overdue" and layer.attr("overdue").type == "bool" and "overdue" in layer.popup
    style = build_style([layer], "http://x")
    main = next(s for s in style["layers"] if s["id"] == "review_projects")
    assert main["paint"]["circle-stroke-color"] == ["case", ["==", ["get", "overdue"], True], "#dc2626", "#ffffff"]
    assert main["metadata"]["chengjian:ring"] == {"attribute": "overdue", "label": "逾期", "color": "#dc2626"}
    # The layer panel's legend names the ring; the tiles carry the flag.
    panel = {lyr["id"]: lyr for lyr in client.get("/map/layers.json", headers=ADMIN).json()["layers"]}
    assert panel["review_projects"]["ring"] == main["metadata"]["chengjian:ring"]
    assert panel["sites"]["ring"] is None
    tilejson = client.get("/tiles/review_projects.json", headers=ADMIN).json()
    assert tilejson["vector_layers"][0]["fields"]["overdue"] == "逾期"


def test_record_pages_link_the_applications(demo, engine, client):
    app = rows(
        engine,
        "SELECT a.*, g.uscc AS agency_uscc FROM dr_applications a JOIN dr_agencies g ON g.id = a.agency_id "
        "WHERE a.project_id IS NOT NULL ORDER BY a.id LIMIT 1",
    )[0]
    with engine.connect() as conn:
        pin = {"id": app["review_project_id"]}
        on_pin = records.linked(conn, "review_projects", pin)["drawing_review"]["施工图审查申请"]
        assert on_pin["kind"] == "dr_application" and [r["id"] for r in on_pin["rows"]] == [app["id"]]
        on_project = records.linked(conn, "projects", {"id": app["project_id"]})["drawing_review"]
        assert [r["id"] for r in on_project["施工图审查申请"]["rows"]] == [app["id"]]
        for uscc, title in (
            (app["builder_uscc"], "施工图审查（建设单位）"),
            (app["designer_uscc"], "施工图审查（设计单位）"),
            (app["agency_uscc"], "施工图审查（审查机构）"),
        ):
            group = records.linked(conn, "enterprises", {"uscc": uscc})["drawing_review"][title]
            assert app["id"] in [r["id"] for r in group["rows"]] or group["total"] > len(group["rows"]), title

    # The pages, as the app's role reads them (row-level security; the agency's list is a security-invoker view).
    def group(kind: str, key, title: str) -> dict:
        page = client.get(f"/api/records/{kind}/{key}", headers=ADMIN).json()
        mine = next(m for m in page["linked"] if m["module"] == "drawing_review")
        return next(g for g in mine["groups"] if g["title"] == title)

    on_pin = group("review_projects", app["review_project_id"], "施工图审查申请")
    assert [r["url"] for r in on_pin["rows"]] == [f"/records/dr_application/{app['id']}"]
    assert group("enterprises", app["agency_uscc"], "施工图审查（审查机构）")["total"] >= 1
    page = client.get(f"/api/records/dr_application/{app['id']}", headers=ADMIN)
    assert page.status_code == 200 and page.json()["case_history"]  # the timeline


# -- full scale --------------------------------------------------------------------------------------------------


def test_full_scale_three_thousand_applications_in_seconds(engine):
    """The registers at their city volumes (enterprises, projects), then the agencies and 3,000 applications, in a
    transaction rolled back."""
    from layers.drawing_review.demo import APPLICATIONS, seed_agencies, seed_applications
    from layers.enterprises.demo import seed_enterprises
    from layers.projects.demo import seed_projects

    with engine.connect() as conn, conn.begin() as tx:
        conn.execute(sa.text(f"TRUNCATE {', '.join(business_tables())}, projects, dr_agencies CASCADE"))
        world = World(20261125, load_districts(conn), 0, "test")
        seed_enterprises(conn, world)
        seed_projects(conn, world)
        t0 = time.perf_counter()
        seed_agencies(conn, world)
        out = seed_applications(conn, world)
        seconds = time.perf_counter() - t0
        counts = conn.execute(
            sa.text(
                "SELECT count(*), count(project_id), count(*) FILTER (WHERE jurisdiction <> '市本级'), "
                "count(*) FILTER (WHERE r.overdue), count(*) FILTER (WHERE a.due_on IS NOT NULL) "
                "FROM dr_applications a JOIN review_projects r ON r.id = a.review_project_id"
            )
        ).one()
        tx.rollback()
    print(f"\n3,000 drawing-review applications: {seconds:.1f} s ({out})")
    assert out["dr_applications"] == counts[0] == APPLICATIONS
    assert counts[1] >= 0.9 * APPLICATIONS and counts[2] >= 100  # of the register; the counties' among them
    assert 0.03 < counts[3] / counts[4] < 0.3  # some current stages are overdue, most are not
    assert seconds < 45  # a few seconds on a quiet machine: COPY, never row by row
