"""The lottery of review agencies (DR-02, DR-03's ratio tables): ratio tables that must sum to 100 % with a
history of every edit; avoidance with each exclusion's reason in the draw record; 200 draws on the demo's ratios
keep every agency within ±3 percentage points of its target; every draw recomputed from its public record — by the
module's verify function and by an independent recomputation written here — and a tampered seed or input fails;
no eligible agency is a 422 that assigns nothing; windows draw only for their jurisdiction; the accepted list.
Against the real PostGIS."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter

import pytest
from sqlalchemy import text

from layers.drawing_review import demo_lottery, ratios
from layers.drawing_review.lottery import SCHEME, verify
from layers.drawing_review.process import JURISDICTIONS
from tests.conftest import chromium, make_user
from tests.test_dr_agencies import agency, application, code, enterprise, forget

API = "/api/review"
CITY_NAMES = ("甲审图中心", "乙审图中心", "丙审图中心", "丁审图中心", "戊审图中心", "己审图中心")


@pytest.fixture(scope="module")
def world(engine):
    people = {
        "config": make_user("dr_lt_supervisor", ["city_supervisor"]),
        "window": make_user("dr_lt_window", ["review_window"]),
        "jd_window": make_user("dr_lt_jd_window", ["review_window"], district="建德市"),
        "jd_staff": make_user("dr_lt_jd_staff", ["district_staff"], district="建德市"),
    }
    city = [agency(engine, 8100 + i, f"摇号{n}") for i, n in enumerate(CITY_NAMES)]
    jiande = [agency(engine, 8200 + i, f"建德摇号审图{i}") for i in range(3)]
    expired = agency(engine, 8300, "淳安过期资质审图", quals=[{"valid_from": "2020-01-01", "valid_to": "2021-12-31"}])
    builder = enterprise(engine, 8400, "摇号测试建设单位", ("real_estate",))
    designer = enterprise(engine, 8401, "摇号测试设计院", ("survey_design",))
    return {
        **people,
        "city": city,
        "jiande": jiande,
        "expired": expired,
        "builder": builder,
        "designer": designer,
    }


def put_table(client, who, jurisdiction: str, targets: dict[int, float], reason: str = "测试设置", version=None):
    body = {"ratios": [{"agency_id": a, "target_pct": p} for a, p in targets.items()], "reason": reason}
    if version is not None:
        body["version"] = version
    return client.put(f"{API}/ratios/{jurisdiction}", json=body, headers=who)


@pytest.fixture(scope="module")
def tables(client_module, engine, world):
    """The demo's ratios (demo_lottery's presets): six city agencies, three in 建德市, one in 淳安县. Afterwards the
    tables are as before (restored, or removed when there was none) and everything made here is removed."""
    with engine.connect() as conn:
        before = {j: ratios.current(conn, j) for j in JURISDICTIONS}
    yield dict(_tables(client_module, world))
    with engine.begin() as conn:
        for j, table in before.items():
            if table is not None:
                targets = {r["agency_id"]: r["target_bp"] for r in table["ratios"]}
                ratios.store(conn, "test", j, targets, "测试结束，恢复原比例")
            else:
                for t in ("dr_ratios", "dr_ratio_history", "dr_ratio_tables"):
                    conn.execute(text(f"DELETE FROM {t} WHERE jurisdiction = :j"), {"j": j})
    forget(engine, 8000, 8999)


def _tables(c, world):
    city = dict(zip(world["city"], (bp / 100 for bp in demo_lottery.CITY_TARGETS)))
    jiande = dict(zip(world["jiande"], (bp / 100 for bp in demo_lottery.COUNTY_TARGETS)))
    out = {}
    for j, targets in (("市本级", city), ("建德市", jiande), ("淳安县", {world["expired"]: 100})):
        r = put_table(c, world["config"], j, targets, "年度比例设置")
        assert r.status_code == 200, r.text
        out[j] = r.json()
    return out.items()


@pytest.fixture(scope="module")
def client_module(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


def count(engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


# -- ratio tables ------------------------------------------------------------------------------------------------


def test_ratios_must_sum_to_100_and_need_a_reason(client_module, engine, world, tables):
    c = client_module
    before = count(engine, "SELECT count(*) FROM dr_ratio_history WHERE jurisdiction = '市本级'")
    version = tables["市本级"]["version"]
    bad = dict(zip(world["city"], (30, 20, 20, 15, 10, 10)))  # 105 %
    r = put_table(c, world["config"], "市本级", bad, version=version)
    assert r.status_code == 422 and r.json()["code"] == "ratio_sum" and "100%" in r.json()["message"]
    assert "105%" in r.json()["message"]
    r = c.put(
        f"{API}/ratios/市本级",
        json={"ratios": [{"agency_id": world["city"][0], "target_pct": 100}], "reason": "  "},
        headers=world["config"],
    )
    assert r.status_code == 422 and r.json()["field"] == "reason"
    r = put_table(c, world["config"], "市本级", {world["city"][0]: 33.333, world["city"][1]: 66.667})
    assert r.status_code == 422 and r.json()["code"] == "too_precise"
    r = put_table(c, world["window"], "市本级", {world["city"][0]: 100})
    assert r.status_code == 403
    after = c.get(f"{API}/ratios/市本级", headers=world["window"]).json()
    assert after["version"] == version and len(after["ratios"]) == 6  # nothing stored
    assert count(engine, "SELECT count(*) FROM dr_ratio_history WHERE jurisdiction = '市本级'") == before
    assert after["next_commitment"]["commitment"]  # the next draw's seed is committed, never shown
    assert "seed" not in json.dumps(after)


def test_edits_keep_a_history_that_holders_of_the_right_query(client_module, world, tables):
    c = client_module
    jd = tables["建德市"]
    changed = dict(zip(world["jiande"], (50, 30, 20)))
    r = put_table(c, world["config"], "建德市", changed, "考核结果调整", version=jd["version"])
    assert r.status_code == 200, r.text
    back = dict(zip(world["jiande"], (bp / 100 for bp in demo_lottery.COUNTY_TARGETS)))
    r = put_table(c, world["config"], "建德市", back, "恢复年度比例", version=jd["version"] + 1)
    assert r.status_code == 200, r.text
    hist = c.get(f"{API}/ratios/建德市/history", headers=world["jd_staff"]).json()["items"]
    assert [h["reason"] for h in hist[:3]] == ["恢复年度比例", "考核结果调整", "年度比例设置"]
    latest = hist[1]
    assert latest["changed_by"] == "dr_lt_supervisor" and latest["changed_at"]
    assert [x["target_pct"] for x in latest["before"]] == [40, 35, 25]
    assert [x["target_pct"] for x in latest["after"]] == [50, 30, 20]
    # A county's staff sees only its county; the city's table is not theirs.
    assert c.get(f"{API}/ratios/市本级/history", headers=world["jd_staff"]).status_code == 403
    assert c.get(f"{API}/ratios", headers=world["jd_staff"]).json()["jurisdictions"] == ["建德市"]


# -- the draw ----------------------------------------------------------------------------------------------------


def independent_recompute(record: dict) -> int | None:
    """A second implementation of the published method (hashlib/hmac only, nothing of the module): the digest,
    the commitment, the HMAC stream and the deficit-weighted pick among the agencies the record says are eligible."""
    inputs = record["inputs"]
    assert hashlib.sha256(inputs.encode()).hexdigest() == record["inputs_sha256"]
    seed = bytes.fromhex(record["seed"])
    assert hashlib.sha256(seed).hexdigest() == record["commitment"]
    data = json.loads(inputs)
    label = SCHEME.encode() + hashlib.sha256(inputs.encode()).digest()
    blocks = b"".join(hmac.new(seed, label + i.to_bytes(8, "big"), hashlib.sha256).digest() for i in range(8))
    eligible = sorted(record["result"]["eligible"])
    weight = {a["id"]: a["target_bp"] * (data["drawn"] + 1) - data["total"] * a["count"] for a in data["agencies"]}
    positive = [i for i in eligible if weight[i] > 0]
    if not positive:
        return None  # (the largest-deficit branch is not used by these draws)
    total = sum(weight[i] for i in positive)
    bits = (total - 1).bit_length()
    size = (bits + 7) // 8
    pos = 0
    while True:
        x = int.from_bytes(blocks[pos : pos + size], "big") & ((1 << bits) - 1)
        pos += size
        if x < total:
            break
    for i in positive:
        x -= weight[i]
        if x < 0:
            return i
    raise AssertionError("unreachable")


def test_200_draws_keep_every_agency_within_3_points_and_each_draw_verifies(client_module, engine, world, tables):
    c = client_module
    version = c.get(f"{API}/ratios/市本级", headers=world["window"]).json()["version"]
    targets = dict(zip(world["city"], (bp / 100 for bp in demo_lottery.CITY_TARGETS)))
    apps = [application(engine, world["builder"], world["designer"]) for _ in range(200)]
    drawn, records = Counter(), []
    for app_id in apps:
        r = c.post(f"{API}/applications/{app_id}/draw", headers=world["window"])
        assert r.status_code == 200, r.text
        rec = r.json()
        assert rec["ratio_version"] == version and rec["exclusions"] == []
        drawn[rec["agency_id"]] += 1
        records.append(rec)
    for aid, target in targets.items():
        share = 100 * drawn[aid] / 200
        assert abs(share - target) <= 3, (aid, share, target)
    assert len({r["agency_id"] for r in records[:12]}) > 1  # random, not a fixed rotation
    with engine.connect() as conn:
        states = conn.execute(
            text("SELECT status, agency_id, drawn_at IS NOT NULL FROM dr_applications WHERE id = ANY(:a)"), {"a": apps}
        ).all()
    assert {s[0] for s in states} == {"drawn"} and all(s[2] for s in states)
    assert Counter(s[1] for s in states) == drawn

    shares = c.get(f"{API}/ratios/市本级/shares", headers=world["window"]).json()
    mine = {row["agency_id"]: row for row in shares["rows"]}
    assert shares["version_draws"] == 200
    for aid, target in targets.items():
        assert mine[aid]["target_pct"] == target and mine[aid]["version_count"] == drawn[aid]

    # Every draw recomputed from its public record (no sign-in) by the verify function and independently.
    for rec in records:
        public = c.get(f"{API}/draws/{rec['id']}").json()
        assert verify(public)["verified"] is True
        assert independent_recompute(public) == public["agency_id"]
        assert public["committed_at"] <= public["drawn_at"]
    # Each draw's seed was committed before it: the commitment of draw k+1 existed when draw k was made.
    seeds = {r["seed"] for r in records}
    assert len(seeds) == 200
    # The application's record page lists its draw record.
    page = c.get(f"/api/records/dr_application/{apps[0]}", headers=world["config"])
    assert page.status_code == 200, page.text
    groups = [g for m in page.json()["linked"] for g in m["groups"] if g["title"] == "摇号记录"]
    assert groups and groups[0]["total"] == 1
    answer = c.get(f"{API}/draws/{records[-1]['id']}/verify").json()
    assert answer["verified"] is True and answer["message"] == "一致"

    # Tampering: another seed does not open the commitment; a changed count changes the inputs' digest.
    rec = c.get(f"{API}/draws/{records[0]['id']}").json()
    forged = {**rec, "seed": hashlib.sha256(b"another seed").hexdigest()}
    checked = verify(forged)
    assert checked["verified"] is False
    assert {x["name"]: x["ok"] for x in checked["checks"]}["commitment"] is False
    data = json.loads(rec["inputs"])
    data["agencies"][0]["count"] += 5
    moved = {**rec, "inputs": json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))}
    assert verify(moved)["verified"] is False
    other = next(a for a in world["city"] if a != rec["agency_id"])
    assert verify({**rec, "agency_id": other})["verified"] is False


def test_avoidance_excludes_with_reasons_and_never_draws_them(client_module, engine, world, tables):
    c = client_module
    a0, a1, a2, a3, a4, a5 = world["city"]
    with engine.begin() as conn:
        # a1: only 房屋建筑 一类/二类 up to 50,000 ㎡ without 消防; a2: expired; a3: the builder itself is
        # a declared affiliate; a4 is the design unit's own enterprise (same credit code).
        conn.execute(text("DELETE FROM dr_qualifications WHERE agency_id = ANY(:a)"), {"a": [a1, a2]})
        conn.execute(
            text(
                "INSERT INTO dr_qualifications (agency_id, certificate_no, categories, grades, max_floor_area_m2, "
                "contents, valid_from, valid_to) VALUES "
                "(:a1, 'N-1', '{房屋建筑}', '{一类,二类}', 50000, '{general}', '2024-01-01', '2030-12-31'), "
                "(:a2, 'N-2', '{房屋建筑,市政基础设施}', '{一类,二类,三类}', NULL, "
                "'{general,fire,civil_defence,meteorology}', '2020-01-01', '2022-12-31')"
            ),
            {"a1": a1, "a2": a2},
        )
        conn.execute(
            text("INSERT INTO dr_affiliations (agency_id, uscc, relation) VALUES (:a, :b, '同一控股股东')"),
            {"a": a3, "b": world["builder"]},
        )
        a4_uscc = conn.execute(text("SELECT uscc FROM dr_agencies WHERE id = :a"), {"a": a4}).scalar()
    try:
        seen = set()
        for area in (30_000.0, 80_000.0):
            app_id = application(engine, world["builder"], a4_uscc, area=area, contents=("general", "fire"))
            r = c.post(f"{API}/applications/{app_id}/draw", headers=world["window"])
            assert r.status_code == 200, r.text
            rec = r.json()
            reasons = {x["agency_id"]: (x["code"], x["reason"]) for x in rec["exclusions"]}
            assert reasons[a1][0] == "contents" if area < 50_000 else reasons[a1][0] == "scale"
            assert reasons[a2] == ("expired", "资质不在有效期内（有效期 2020-01-01 至 2022-12-31）")
            assert reasons[a3] == ("affiliated_builder", "与建设单位存在关联关系（同一控股股东）")
            assert reasons[a4] == ("same_designer", "与设计单位为同一单位")
            assert rec["agency_id"] in (a0, a5)
            seen.add(rec["agency_id"])
            assert verify(c.get(f"{API}/draws/{rec['id']}").json())["verified"] is True
        # Grade and category too (a 三类 project for a1; a 市政 project).
        app_id = application(engine, world["builder"], world["designer"], grade="三类", contents=("general",))
        rec = c.post(f"{API}/applications/{app_id}/draw", headers=world["window"]).json()
        assert {x["agency_id"]: x["code"] for x in rec["exclusions"]}[a1] == "grade"
        app_id = application(
            engine, world["builder"], world["designer"], category="市政基础设施", contents=("general",)
        )
        rec = c.post(f"{API}/applications/{app_id}/draw", headers=world["window"]).json()
        assert {x["agency_id"]: x["reason"] for x in rec["exclusions"]}[a1] == "资质不含审查类别「市政基础设施」"
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM dr_affiliations WHERE agency_id = :a"), {"a": a3})


def test_no_eligible_agency_is_a_422_and_nothing_is_assigned(client_module, engine, world, tables):
    c = client_module
    app_id = application(engine, world["builder"], world["designer"], district="淳安县")
    open_before = c.get(f"{API}/ratios/淳安县", headers=world["config"]).json()["next_commitment"]
    draws_before = count(engine, "SELECT count(*) FROM dr_draws")
    r = c.post(f"{API}/applications/{app_id}/draw", headers=make_user("dr_lt_ca_window", ["review_window"], "淳安县"))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "no_eligible_agency" and "淳安过期资质审图" in body["message"]
    assert body["detail"]["exclusions"][0]["code"] == "expired"
    with engine.connect() as conn:
        status, agency_id = conn.execute(
            text("SELECT status, agency_id FROM dr_applications WHERE id = :i"), {"i": app_id}
        ).one()
    assert (status, agency_id) == ("submitted", None)
    assert count(engine, "SELECT count(*) FROM dr_draws") == draws_before
    assert c.get(f"{API}/ratios/淳安县", headers=world["config"]).json()["next_commitment"] == open_before


def test_windows_draw_only_for_their_jurisdiction(client_module, engine, world, tables):
    c = client_module
    jd_app = application(engine, world["builder"], world["designer"], district="建德市")
    city_app = application(engine, world["builder"], world["designer"], district="上城区")
    r = c.post(f"{API}/applications/{jd_app}/draw", headers=world["window"])
    assert r.status_code == 403 and r.json()["code"] == "other_jurisdiction"
    r = c.post(f"{API}/applications/{city_app}/draw", headers=world["jd_window"])
    assert r.status_code == 403
    awaiting = c.get(f"{API}/draws/awaiting", headers=world["jd_window"]).json()
    assert awaiting["jurisdiction"] == "建德市" and jd_app in [a["id"] for a in awaiting["items"]]
    r = c.post(f"{API}/applications/{jd_app}/draw", headers=world["jd_window"])
    assert r.status_code == 200, r.text
    assert r.json()["agency_id"] in world["jiande"] and r.json()["jurisdiction"] == "建德市"
    again = c.post(f"{API}/applications/{jd_app}/draw", headers=world["jd_window"])
    assert again.status_code == 409  # already drawn
    assert c.post(f"{API}/applications/{city_app}/draw", headers=world["jd_staff"]).status_code == 403


def test_accepted_projects_list_with_agency_date_and_draw(client_module, engine, world, tables):
    c = client_module
    app_id = application(engine, world["builder"], world["designer"])
    rec = c.post(f"{API}/applications/{app_id}/draw", headers=world["window"]).json()
    jd_app = application(engine, world["builder"], world["designer"], district="建德市")
    c.post(f"{API}/applications/{jd_app}/draw", headers=world["jd_window"])
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE dr_applications SET status = 'reviewing', accepted_at = now() WHERE id = ANY(:i)"),
            {"i": [app_id, jd_app]},
        )
        name = conn.execute(text("SELECT name FROM dr_applications WHERE id = :i"), {"i": app_id}).scalar()
    listed = c.get(f"{API}/accepted", params={"q": name}, headers=world["window"]).json()
    assert listed["total"] == 1
    row = listed["items"][0]
    assert (row["id"], row["agency_id"], row["draw_id"]) == (app_id, rec["agency_id"], rec["id"])
    assert row["agency_name"] == rec["agency_name"] and row["accepted_at"]
    by_agency = c.get(f"{API}/accepted", params={"agency_id": rec["agency_id"], "limit": 200}, headers=world["window"])
    assert app_id in [x["id"] for x in by_agency.json()["items"]]
    county = c.get(f"{API}/accepted", params={"limit": 200}, headers=world["jd_window"]).json()["items"]
    assert {x["jurisdiction"] for x in county} == {"建德市"} and jd_app in [x["id"] for x in county]
    bad = c.get(f"{API}/accepted", params={"from": "2026-02-01", "to": "2026-01-01"}, headers=world["window"])
    assert bad.status_code == 422


def test_the_demo_seeder_qualifies_the_agencies_and_sets_ratio_tables(engine, world, tables):
    """The seeder (run in a transaction that is rolled back, beside six more agencies of the counties): every
    agency qualified, one table per jurisdiction summing to 100 % (a county's agencies in its own table), a
    history of a few edits with their reasons."""
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            for i, district in enumerate(("建德市",) * 3 + ("淳安县",) * 3):
                c = code(8500 + i)
                conn.execute(
                    text(
                        "INSERT INTO enterprises (uscc, name, types, district) VALUES (:c, :n, '{review_agency}', :d)"
                    ),
                    {"c": c, "n": f"演示县审图{i}", "d": district},
                )
                conn.execute(text("INSERT INTO dr_agencies (uscc) VALUES (:c)"), {"c": c})
            history_before = conn.execute(text("SELECT count(*) FROM dr_ratio_history")).scalar()
            out = demo_lottery.seed_lottery(conn, None)
            agencies_n = conn.execute(text("SELECT count(*) FROM dr_agencies")).scalar()
            assert out["dr_qualifications"] == agencies_n + 1  # one expired certificate beside a valid one
            sums = dict(
                conn.execute(text("SELECT jurisdiction, sum(target_bp) FROM dr_ratios GROUP BY jurisdiction")).all()
            )
            assert sums == {"市本级": 10_000, "建德市": 10_000, "淳安县": 10_000}
            county = conn.execute(
                text(
                    "SELECT r.jurisdiction, e.district FROM dr_ratios r JOIN dr_agencies a ON a.id = r.agency_id "
                    "JOIN enterprises e ON e.uscc = a.uscc WHERE r.jurisdiction <> '市本级'"
                )
            ).all()
            in_counties = conn.execute(
                text(
                    "SELECT count(*) FROM dr_agencies a JOIN enterprises e ON e.uscc = a.uscc "
                    "WHERE e.district IN ('建德市', '淳安县')"
                )
            ).scalar()
            assert all(j == d for j, d in county) and len(county) == in_counties >= 6
            reasons = (
                conn.execute(text("SELECT reason FROM dr_ratio_history ORDER BY id OFFSET :n"), {"n": history_before})
                .scalars()
                .all()
            )
            assert len(reasons) == out["dr_ratio_history"] == 7
            assert "根据上半年审查质量考核结果调整" in reasons
        finally:
            trans.rollback()


# -- the pages in Chromium ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(app, tables):
    from tests.conftest import running_server

    with running_server(app) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with chromium(expect_timeout_ms=15_000) as b:
        yield b


def sign_in(page, user: str) -> None:
    from tests.conftest import TEST_PASSWORD

    page.locator("#login input[name=username]").fill(user)
    page.locator("#login input[name=password]").fill(TEST_PASSWORD)
    page.locator("#login button[type=submit]").click()


def test_lottery_and_verify_pages_in_chromium(browser, server, engine, world):
    """The lottery page: the city's ratio table, an edit refused for its sum then saved with its reason into the
    history, realized shares with the chart, a draw for an awaiting application; the draw's public verification
    page says 一致 without signing in; the accepted list and the agencies page open."""
    from playwright.sync_api import expect

    app_id = application(engine, world["builder"], world["designer"])
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/review/lottery")
    sign_in(page, "dr_lt_supervisor")
    panel = page.locator("#ratios")
    expect(panel).to_contain_text("市本级 · 审查机构摇号比例")
    expect(panel.locator("tbody tr")).to_have_count(6)
    expect(panel.locator("#next-commitment")).to_contain_text("生成")
    expect(page.locator("#shares tbody tr").first).to_be_visible()
    expect(page.locator("#shares-chart canvas")).to_have_count(1)  # ECharts drew the chart

    page.locator("#edit-ratios").click()
    dlg = page.locator("dialog[open]")
    first = dlg.locator(f"input[data-agency='{world['city'][0]}']")
    first.fill("30")
    expect(dlg.locator(".sum")).to_have_text("合计 105.00%")
    dlg.locator("textarea[name=reason]").fill("浏览器测试：调整比例")
    dlg.locator("button[type=submit]").click()
    expect(dlg.locator("[data-field=ratios] .field-error")).to_contain_text("100%")
    first.fill("25")
    dlg.locator(f"input[data-agency='{world['city'][1]}']").fill("20")
    expect(dlg.locator(".sum")).to_have_text("合计 100.00%")
    dlg.locator("button[type=submit]").click()
    expect(page.locator("dialog[open]")).to_have_count(0)
    expect(page.locator("#history tbody tr").first).to_contain_text("浏览器测试：调整比例")
    expect(page.locator("#history tbody tr").first).to_contain_text("dr_lt_supervisor")

    page.locator(f"button[data-draw='{app_id}']").click()
    result = page.locator("#draw-result")
    expect(result).to_contain_text("摇中审查机构")
    with engine.connect() as conn:
        draw_id, agency_name = conn.execute(
            text(
                "SELECT d.id, e.name FROM dr_draws d JOIN dr_agencies a ON a.id = d.agency_id "
                "JOIN enterprises e ON e.uscc = a.uscc WHERE d.application_id = :i"
            ),
            {"i": app_id},
        ).one()
    expect(result).to_contain_text(agency_name)
    expect(result.locator("a")).to_have_attribute("href", f"/review/verify/{draw_id}")
    expect(page.locator(f"button[data-draw='{app_id}']")).to_have_count(0)

    page.goto(server + "/review/accepted")
    expect(page.locator(".list")).to_be_visible()
    page.goto(server + "/review/agencies")
    page.locator(".filters input[name=q]").fill("摇号甲审图中心")
    page.locator(".filters button[type=submit]").click()
    expect(page.locator(".list tbody tr")).to_have_count(1)
    page.locator(".list tbody tr td").first.click()
    expect(page.locator("dialog[open]")).to_contain_text("资质范围")
    context.close()

    # The public verification page: no sign-in.
    anonymous = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = anonymous.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server}/review/verify/{draw_id}")
    expect(page.locator("#verdict")).to_have_text("一致")
    expect(page.locator("#browser-verdict")).to_have_text("一致")  # recomputed by the page itself (WebCrypto)
    expect(page.locator("#browser-check tbody tr")).to_have_count(4)
    expect(page.locator("#app")).to_contain_text(agency_name)
    expect(page.locator("#login")).to_be_hidden()
    expect(page.locator("#logout")).to_be_hidden()

    # A published record altered on its way (another seed): the page's own recomputation says 不一致.
    def tamper(route):
        body = json.loads(route.fetch().text())
        body["seed"] = hashlib.sha256(b"forged").hexdigest()
        route.fulfill(json=body)

    page.route(f"{server}/api/review/draws/{draw_id}", tamper)
    page.reload()
    expect(page.locator("#browser-verdict")).to_have_text("不一致")
    expect(page.locator("#browser-check tbody tr", has_text="种子与承诺值")).to_contain_text("不一致")
    anonymous.close()
    assert errors == []


def test_draw_records_and_ratio_history_are_append_only_for_the_app_role():
    from sqlalchemy.exc import ProgrammingError

    from geo.db import transaction

    for sql in (
        "UPDATE dr_draws SET seed = 'x'",
        "DELETE FROM dr_draws",
        "UPDATE dr_ratio_history SET reason = 'x'",
        "DELETE FROM dr_ratio_history",
        "UPDATE audit_log SET actor = 'x'",
    ):
        with pytest.raises(ProgrammingError, match="permission denied"):
            with transaction() as conn:
                conn.execute(text(sql))


def test_a_county_account_keeps_its_own_ratio_table_only(client_module, engine, world, tables):
    """DR-03: a county's configuring account (scope: its district) edits its county's table — row-level security
    lets it — and neither the city's table nor the city-wide agencies."""
    c = client_module
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO roles (name, title, scope) VALUES ('dr_county_config', '区县摇号配置', 'district') "
                "ON CONFLICT DO NOTHING"
            )
        )
        for perm in ("review.config", "review.view"):
            conn.execute(
                text("INSERT INTO role_permissions VALUES ('dr_county_config', :p) ON CONFLICT DO NOTHING"), {"p": perm}
            )
    county = make_user("dr_lt_jd_config", ["dr_county_config"], district="建德市")
    jd = c.get(f"{API}/ratios/建德市", headers=county).json()
    targets = {r["agency_id"]: r["target_pct"] for r in jd["ratios"]}
    r = put_table(c, county, "建德市", targets, "县级复核，比例不变", version=jd["version"])
    assert r.status_code == 200, r.text
    assert r.json()["version"] == jd["version"] + 1
    r = put_table(c, county, "市本级", {world["city"][0]: 100})
    assert r.status_code == 403 and r.json()["code"] == "out_of_scope"
    r = c.post(f"{API}/agencies", json={"uscc": code(8990), "name": "县级越权登记"}, headers=county)
    assert r.status_code == 403 and r.json()["code"] == "out_of_scope"
    assert count(engine, "SELECT count(*) FROM enterprises WHERE uscc = :c", c=code(8990)) == 0
