"""The county interfaces' page (/villages/county) in Debian's Chromium against the live app and a real county
server: the city fetches a county's archive (the counts shown), then a failing county's (the county's failure shown
as the server's message next to the form, nothing stored), whose breaker then shows as open on the status tab."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import TEST_PASSWORD, chromium, make_user, running_server
from tests.test_vil_county_fetch import FAILING, GOOD, records, stored
from tests.test_vil_county_fetch import county as county  # noqa: F401 - the county server and its configuration


@pytest.fixture(scope="module")
def server(app):
    with running_server(app) as base:
        yield base


@pytest.fixture(scope="module")
def browser(server):
    with chromium() as b:
        yield b


def test_the_city_fetches_an_archive_and_sees_a_failing_county(browser, server, engine, county, env):  # noqa: F811
    from playwright.sync_api import expect

    env(CHENGJIAN_COUNTY_FETCH_BACKOFF_S="0.05", CHENGJIAN_COUNTY_BREAKER_FAILURES="1")
    good = county(GOOD, "ok")
    good["records"] = records(engine, GOOD, 2)
    bad = county(FAILING, "error")
    bad["records"] = records(engine, FAILING, 1)
    user = f"vc-city-{uuid.uuid4().hex[:6]}"
    make_user(user, ["city_supervisor"])
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/villages/county#fetch")
    page.locator("#login input[name=username]").fill(user)
    page.locator("#login input[name=password]").fill(TEST_PASSWORD)
    page.locator("#login button[type=submit]").click()
    expect(page.locator("#whoami")).to_contain_text(user)
    page.locator("[data-tab=fetch]").click()
    form = page.locator("#view form")
    form.locator("select[name=district]").select_option(GOOD)
    form.locator("button[type=submit]").click()
    expect(page.locator("#fetch-result")).to_contain_text(f"已从{GOOD}调取 2 条：新增 2")
    assert len(stored(engine, GOOD, good["records"])) == 2
    expect(page.locator("#fetch-log [data-outcome=ok]").first).to_be_visible()
    form.locator("select[name=district]").select_option(FAILING)
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-field=district] .field-error")).to_contain_text(
        f"{FAILING}农房系统出错"
    )  # next to the 区县 field
    expect(page.locator("#fetch-result")).to_be_empty()
    assert stored(engine, FAILING, bad["records"]) == {}
    page.locator("[data-tab=status]").click()
    row = page.locator("#view tr", has_text=FAILING)
    expect(row.locator("[data-breaker=open]")).to_contain_text("已暂停调用至")
    context.close()
    assert not errors, errors
