"""The greenway workbench (/greenways) in Debian's Chromium against the live app: a district clerk creates the
annual plan, makes a mistake (a negative length: refused, nothing stored), fills the line in and submits; the city
returns it with a reason; the clerk sees the reason and submits again; the city accepts it; the summary shows the
accepted kilometres and draws its charts — checked on the screen and in the database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from tests import st_world
from tests.conftest import SignedIn, make_user, running_server
from tests.test_greenways import XH, draw, line_at
from tests.test_greenways import world as world  # noqa: F401 - the module's accounts and district origins

YEAR = 2018  # the reports of this test (the other tests use 2019–2023, the demo 2025–2026)


@pytest.fixture(scope="module")
def accounts(world, app):  # noqa: F811
    from fastapi.testclient import TestClient

    tag = uuid.uuid4().hex[:6]
    names = {"xh": f"gwp-xh-{tag}", "city": f"gwp-city-{tag}"}
    make_user(names["xh"], ["district_staff"], district=XH)
    make_user(names["city"], ["city_supervisor"])
    with TestClient(app) as c:
        seg = draw(c, world["xh"], line_at(world, XH, -1500, -1500, (600, 0)), name="浏览器测试绿道")
    beside = line_at(world, XH, -1200, -1500 + 30)[0]  # 30 m from the segment
    return {**names, "segment": seg, "beside": beside}


@pytest.fixture(scope="module")
def server(app, accounts):
    with running_server(app) as base:
        yield base


class Session(SignedIn):
    def __init__(self, browser, base: str, username: str) -> None:
        super().__init__(browser, base, username, "/greenways")


def report_row(engine):
    with engine.connect() as conn:
        return (
            conn.execute(
                text("SELECT * FROM gw_reports WHERE kind = 'plan' AND district = :d AND year = :y"),
                {"d": XH, "y": YEAR},
            )
            .mappings()
            .first()
        )


def test_plan_from_the_district_to_the_city(browser, server, accounts, engine):
    from playwright.sync_api import expect

    clerk = Session(browser, server, accounts["xh"])
    page = clerk.page
    expect(page.locator("#tabs")).to_contain_text("本区县报表")
    expect(page.locator("#tabs")).not_to_contain_text("待审核报表")
    page.locator("#new-report").click()
    dlg = page.locator("dialog")
    dlg.locator("select[name=kind]").select_option("plan")
    dlg.locator("input[name=year]").fill(str(YEAR))
    dlg.locator("button[type=submit]").click()
    box = page.locator("#report")
    expect(box).to_contain_text(f"{XH} {YEAR}年 年度建设计划")
    rid = report_row(engine)["id"]
    page.locator("#add-line").click()
    line = page.locator("tr.line").first
    line.locator("select[name=segment_id]").select_option(str(accounts["segment"]["id"]))
    line.locator("input[name=planned_length_m]").fill("-600")
    line.locator("input[name=budget_wan]").fill("120")
    line.locator("input[name=start_on]").fill(f"{YEAR}-03-01")
    line.locator("input[name=end_on]").fill(f"{YEAR}-11-30")
    box.get_by_role("button", name="保存明细").click()
    expect(box.locator(".form-error")).to_be_visible()
    assert report_row(engine)["items"] == []  # nothing stored
    line.locator("input[name=planned_length_m]").fill("600")
    box.get_by_role("button", name="保存明细").click()
    expect(page.locator("#toast")).to_contain_text("已保存")
    page.locator("[data-action=submit]").click()
    expect(page.locator("#report[data-status=submitted]")).to_be_visible()
    row = report_row(engine)
    assert row["status"] == "submitted" and row["items"][0]["planned_length_m"] == 600 and row["late"] is True

    city = Session(browser, server, accounts["city"])
    cp = city.page
    cp.locator("[data-tab=inbox]").click()
    # The inbox may hold more than a page of other reports (the demo's, newer years first): filter on the year.
    cp.locator("form.filters select[name=year]").select_option(str(YEAR))
    cp.locator("form.filters button[type=submit]").click()
    cp.locator("tr.clickable", has_text=f"{YEAR}年").first.click()
    cp.locator("[data-action=return]").click()
    cp.locator("dialog textarea[name=reason]").fill("计划长度与设计图纸不符，请核实。")
    cp.locator("dialog button[type=submit]").click()
    expect(cp.locator("#report[data-status=returned]")).to_be_visible()
    assert report_row(engine)["return_reason"] == "计划长度与设计图纸不符，请核实。"

    page.reload()
    expect(page.locator("#report[data-status=returned]")).to_contain_text("计划长度与设计图纸不符")
    page.locator("[data-action=submit]").click()
    expect(page.locator("#report[data-status=submitted]")).to_be_visible()

    cp.reload()
    cp.locator("[data-action=accept]").click()
    expect(cp.locator("#report[data-status=accepted]")).to_be_visible()
    expect(cp.locator("#report")).to_contain_text("接收")
    assert report_row(engine)["status"] == "accepted" and report_row(engine)["id"] == rid

    cp.goto(server + "/greenways#summary")
    cp.locator("form.filters input[name=year]").fill(str(YEAR))
    cp.locator("form.filters button[type=submit]").click()
    xh_row = cp.locator("tr", has_text=XH).first
    expect(xh_row).to_contain_text("0.6")  # 600 m accepted
    expect(cp.locator("#chart-km canvas")).to_have_count(1)
    expect(cp.locator("h3", has_text="逾期未报")).to_be_visible()  # the months of 2018 nobody reported
    expect(cp.locator("#export")).to_have_attribute("href", f"/api/greenways/summary.xlsx?year={YEAR}")
    city.close()

    # The month's progress with a photo taken beside the segment.
    page.goto(server + "/greenways#reports")
    page.locator("#new-report").click()
    dlg = page.locator("dialog")
    dlg.locator("select[name=kind]").select_option("progress")
    dlg.locator("input[name=year]").fill(str(YEAR))
    dlg.locator("input[name=month]").fill("5")
    dlg.locator("button[type=submit]").click()
    expect(box).to_contain_text(f"{XH} {YEAR}年5月 月度建设进度")
    page.locator("#add-line").click()
    line = page.locator("tr.line").first
    line.locator("select[name=segment_id]").select_option(str(accounts["segment"]["id"]))
    line.locator("input[name=completed_m]").fill("250")
    box.get_by_role("button", name="保存明细").click()
    expect(page.locator("#toast")).to_contain_text("已保存")
    lon, lat = accounts["beside"]
    photo = box.locator("form", has=page.locator("input[type=file]"))
    photo.locator("input[type=file]").set_input_files(
        files=[{"name": "IMG_0001.jpg", "mimeType": "image/jpeg", "buffer": st_world.jpeg(lon, lat, datetime.now(UTC))}]
    )
    photo.locator("input[name=lon]").fill(f"{lon:.7f}")
    photo.locator("input[name=lat]").fill(f"{lat:.7f}")
    photo.get_by_role("button", name="上传照片").click()
    expect(box.locator(".photos img")).to_have_count(1)
    with engine.connect() as conn:
        n = conn.execute(
            text("SELECT count(*) FROM gw_photos p JOIN gw_reports r ON r.id = p.report_id "
                 "WHERE r.district = :d AND r.year = :y AND r.month = 5"),
            {"d": XH, "y": YEAR},
        ).scalar_one()  # fmt: skip
    assert n == 1
    clerk.close()
