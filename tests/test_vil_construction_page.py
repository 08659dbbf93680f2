"""The construction dynamics workbench (/villages/construction, VT-02) in Debian's Chromium against the live app: a
clerk of 建德市 (a county without a system of its own, entering in the city system) finds a house under approval,
enters its approval result (a date in the future refused next to the field, nothing stored; then stored), sees an
overdue house flagged; the thematic map shows the houses by stage, by overdue inspection and as a density heat map;
the statistics show what the API counts; the stage list is the administrators' tab only."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text

from geo.bounds import today
from tests.conftest import SignedIn, make_user, running_server

JD = "建德市"
API = "/api/villages/construction"


@pytest.fixture(scope="module")
def world(engine, app):
    from fastapi.testclient import TestClient

    tag = uuid.uuid4().hex[:6]
    names = {"jd": f"vcp-jd-{tag}", "admin": f"vcp-admin-{tag}"}
    headers = make_user(names["jd"], ["district_staff"], district=JD)
    make_user(names["admin"], ["admin"])
    with engine.connect() as conn:
        lon, lat = conn.execute(
            text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts WHERE name = :d) s"),
            {"d": JD},
        ).one()
    houses = {}
    with TestClient(app) as c:
        for i, key in enumerate(("pending", "stale")):
            r = c.post(
                "/api/layers/farmhouses/features",
                json={"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon + 0.02 + i * 0.001, lat]},
                      "properties": {"code": f"NFP{tag.upper()}{i}", "owner_name": "周大山", "status": "审批中",
                                     "township": "新安江街道", "village": "页面村"}},
                headers=headers,
            )  # fmt: skip
            assert r.status_code == 201, r.text
            houses[key] = {"id": r.json()["id"], "code": f"NFP{tag.upper()}{i}"}
        r = c.put(
            f"{API}/houses/{houses['stale']['id']}/approval",
            json={"approval_no": f"NJ-{tag}", "approved_on": (today() - timedelta(days=90)).isoformat()},
            headers=headers,
        )
        assert r.status_code == 200, r.text
    return {**names, "headers": headers, "houses": houses}


@pytest.fixture(scope="module")
def server(app, world):
    with running_server(app) as base:
        yield base


class Session(SignedIn):
    def __init__(self, browser, base: str, username: str) -> None:
        super().__init__(
            browser,
            base,
            username,
            "/villages/construction",
            timeout_ms=20_000,
            # 422, 409: the refusals provoked on purpose; the basemap's tiles are not served in the tests.
            expected=("status of 422", "status of 409", "404", "tiles"),
        )


def test_the_county_enters_the_approval_and_sees_overdue_houses(browser, server, world, engine):
    from playwright.sync_api import expect

    s = Session(browser, server, world["jd"])
    page = s.page
    try:
        expect(page.locator("#tabs")).not_to_contain_text("建设阶段")
        page.locator('#tabs [data-tab="houses"]').click()
        page.locator("input[name=q]").fill(world["houses"]["pending"]["code"])
        page.locator(".filters button[type=submit]").click()
        row = page.locator("tbody tr", has_text=world["houses"]["pending"]["code"])
        expect(row).to_contain_text("审批中")
        expect(row).to_contain_text("周**")
        row.click()
        page.locator("#approve").click()
        dlg = page.locator("dialog")
        dlg.locator("input[name=approval_no]").fill("建农审〔2026〕88号")
        dlg.locator("input[name=approved_on]").fill((today() + timedelta(days=5)).isoformat())
        dlg.locator("button[type=submit]").click()
        expect(dlg.locator('[data-field="approved_on"] .field-error')).to_contain_text("今天")
        with engine.connect() as conn:
            pid = world["houses"]["pending"]["id"]
            assert conn.execute(text("SELECT approval_no FROM farmhouses WHERE id = :i"), {"i": pid}).scalar() is None
        dlg.locator("input[name=approved_on]").fill((today() - timedelta(days=2)).isoformat())
        dlg.locator("button[type=submit]").click()
        expect(page.locator("#house")).to_contain_text("建农审〔2026〕88号")
        expect(page.locator("#house")).to_contain_text("在建")
        with engine.connect() as conn:
            got = conn.execute(text("SELECT status, approval_no FROM farmhouses WHERE id = :i"), {"i": pid}).one()
        assert tuple(got) == ("在建", "建农审〔2026〕88号")
        page.goto(f"{server}/villages/construction#house/{world['houses']['stale']['id']}")
        expect(page.locator("#house")).to_contain_text("已逾期")
        expect(page.locator("#house")).to_contain_text("开工放样")
    finally:
        s.close()


def test_thematic_views_and_statistics(browser, server, world, client):
    from playwright.sync_api import expect

    s = Session(browser, server, world["jd"])
    page = s.page
    try:
        page.wait_for_selector('body[data-map-ready="true"]')
        api_map = client.get(f"{API}/map", headers=world["headers"]).json()["features"]
        overdue = sum(f["properties"]["overdue"] for f in api_map)
        expect(page.locator("#map-count")).to_have_text(f"在建农房 {len(api_map)} 户，逾期 {overdue} 户")
        assert overdue >= 1
        assert page.evaluate("window.constructionMap.getSource('houses').serialize().data.features.length") == len(
            api_map
        )
        expect(page.locator("#legend")).to_contain_text("已完成开工放样")
        page.locator("input[name=view][value=overdue]").check()
        expect(page.locator("body")).to_have_attribute("data-view", "overdue")
        paint = page.evaluate("JSON.stringify(window.constructionMap.getPaintProperty('houses-point', 'circle-color'))")
        assert "overdue" in paint and "#dc2626" in paint
        page.locator("input[name=view][value=density]").check()
        assert page.evaluate("window.constructionMap.getLayoutProperty('houses-heat', 'visibility')") == "visible"
        assert page.evaluate("window.constructionMap.getLayoutProperty('houses-point', 'visibility')") == "none"
        page.locator('#tabs [data-tab="stats"]').click()
        stats = client.get(f"{API}/stats", headers=world["headers"]).json()
        jd = next(d for d in stats["items"] if d["district"] == JD)
        row = page.locator("#stats-table tbody tr", has_text=JD)
        expect(row).to_be_visible()
        cells = row.locator("td").all_inner_texts()
        assert cells == [JD, "否（市平台录入）", *(str(jd[k]) for k in ("under_construction", "approved", "overdue",
                                                                         "reports", "late", "failed"))]  # fmt: skip
        page.wait_for_function("document.querySelector('#chart-months canvas') !== null")
    finally:
        s.close()


def test_the_stage_list_is_the_administrators(browser, server, world):
    from playwright.sync_api import expect

    s = Session(browser, server, world["admin"])
    page = s.page
    try:
        page.locator('#tabs [data-tab="stages"]').click()
        for name in ("开工放样", "基槽验线", "主体结构", "竣工验收"):
            expect(page.locator("#view table")).to_contain_text(name)
        page.locator("#add-stage").click()
        dlg = page.locator("dialog")
        dlg.locator("input[name=code]").fill("layout2")
        dlg.locator("input[name=name]").fill("开工放样")  # taken
        dlg.locator("input[name=seq]").fill("950")
        dlg.locator("button[type=submit]").click()
        expect(dlg.locator('[data-field="name"] .field-error')).to_contain_text("同名")
    finally:
        s.close()


def test_the_county_gives_a_house_its_builder(browser, server, world, engine):
    import httpx
    from playwright.sync_api import expect
    from stdnum.cn import ric

    def number(n: int) -> str:  # this test's craftsmen only (born 2008-06-12)
        body = f"33010020080612{n:03d}"
        return body + ric.calc_check_digit(body + "0")

    body = {"id_number": number(1), "name": "方建成", "district": JD, "trades": ["木工"]}
    r = httpx.post(server + "/api/villages/craftsmen", json=body, headers=world["headers"])
    assert r.status_code == 201, r.text
    hid = world["houses"]["stale"]["id"]
    s = Session(browser, server, world["jd"])
    page = s.page
    try:
        page.goto(f"{server}/villages/construction#house/{hid}")
        expect(page.locator("#house")).to_contain_text("开工放样")
        page.locator("#builder").click()
        dlg = page.locator("dialog")
        dlg.locator("input[name=craftsman_id_number]").fill(number(2))  # not a registered craftsman
        dlg.locator("button[type=submit]").click()
        expect(dlg.locator('[data-field="craftsman_id_number"] .field-error')).to_contain_text("登记")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT craftsman_id FROM farmhouses WHERE id = :i"), {"i": hid}).scalar() is None
        dlg.locator("input[name=craftsman_id_number]").fill(number(1))
        dlg.locator("button[type=submit]").click()
        expect(page.locator("#house")).to_contain_text("方建成")
        expect(page.locator("#builder")).to_contain_text("更换建房工匠")
        with engine.connect() as conn:
            got = conn.execute(text("SELECT craftsman_id FROM farmhouses WHERE id = :i"), {"i": hid}).scalar()
        assert got == r.json()["id"]
    finally:
        s.close()
