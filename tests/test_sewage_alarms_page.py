"""The sewage alarm page in Debian's Chromium against the live app: a district clerk signed in sees her district's
open alarm (and the facility page shows it), filters the list, acknowledges it (an empty note is refused on the
screen, nothing changes), then closes it with a note; the list and the database follow."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from tests.conftest import TEST_PASSWORD, chromium, make_user, running_server
from tests.test_sewage_alarms import evaluate, feed, make_plant, minutes_ago

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
DISTRICT = "富阳区"


@pytest.fixture(scope="module")
def server(app):
    with running_server(app) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with chromium(ARGS) as b:
        yield b


def state(engine, alarm_id: int) -> tuple:
    with engine.begin() as conn:
        return conn.execute(
            text("SELECT state, ack_note, close_note, closed_by FROM sewage_alarms WHERE id = :i"), {"i": alarm_id}
        ).one()


def test_clerk_acknowledges_and_closes_an_alarm(browser, server, engine):
    from playwright.sync_api import expect

    user = "sap-" + uuid.uuid4().hex[:6]
    make_user(user, ["district_staff"], district=DISTRICT)
    p = make_plant(engine, district=DISTRICT)
    feed(p, minutes_ago(1), {"w01018": 88.0, "w01001": 7.0})
    evaluate()
    with engine.begin() as conn:
        alarm_id = conn.execute(
            text("SELECT id FROM sewage_alarms WHERE plant_id = :p AND active"), {"p": p["id"]}
        ).scalar_one()

    context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
    errors: list[str] = []
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and "status of 422" not in m.text and errors.append(m.text))
    r = context.request.post(f"{server}/api/auth/login", data={"username": user, "password": TEST_PASSWORD})
    assert r.ok, r.text()

    page.goto(f"{server}/sewage/{p['id']}")
    expect(page.locator("#alarms")).to_have_attribute("data-count", "1")
    expect(page.locator("#alarms")).to_contain_text("超标")
    expect(page.locator("#alarms")).to_contain_text("88")
    page.click("#alarms-link")
    expect(page).to_have_url(f"{server}/sewage/alarms?plant_id={p['id']}")

    page.goto(f"{server}/sewage/alarms")
    page.select_option("#filters select[name=district]", DISTRICT)
    page.select_option("#filters select[name=kind]", "超标")
    page.click("#filters button[type=submit]")
    row = page.locator(f"#alarms tr[data-id='{alarm_id}']")
    expect(row).to_contain_text(p["code"][-4:])
    expect(row.locator("td.state")).to_have_text("待处理")
    expect(page.locator("#counts")).to_contain_text("未关闭")

    row.locator("button.acknowledge").click()
    dialog = page.locator("#act")
    expect(dialog).to_be_visible()
    page.click("#act-ok")  # no note
    expect(page.locator("#act-error")).to_be_visible()
    expect(page.locator("#act-error")).not_to_be_empty()
    assert state(engine, alarm_id)[0] == "待处理"
    page.fill("#act-form textarea[name=note]", "已电话通知运维单位排查")
    page.click("#act-ok")
    expect(dialog).to_be_hidden()
    expect(row.locator("td.state")).to_have_text("已确认")
    expect(row).to_contain_text("已电话通知运维单位排查")
    assert row.locator("button.acknowledge").count() == 0

    row.locator("button.close").click()
    page.fill("#act-form textarea[name=note]", "进水冲击已消除，出水恢复")
    page.click("#act-ok")
    expect(row).to_have_count(0)  # the list shows the alarms not closed
    page.select_option("#filters select[name=state]", "已关闭")
    page.click("#filters button[type=submit]")
    expect(row.locator("td.state")).to_have_text("已关闭")
    assert state(engine, alarm_id)[0] == "已关闭"
    s, ack, note, by = state(engine, alarm_id)
    assert (ack, note, by) == ("已电话通知运维单位排查", "进水冲击已消除，出水恢复", user)
    context.close()
    assert errors == []


def test_administrator_sets_a_facility_limit_on_its_page(browser, server, engine):
    from playwright.sync_api import expect

    admin = "sap-admin-" + uuid.uuid4().hex[:6]
    make_user(admin, ["admin"])
    reader = "sap-reader-" + uuid.uuid4().hex[:6]
    make_user(reader, ["leader"])
    p = make_plant(engine, district=DISTRICT, standard="一级B")

    def session(username):
        context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
        r = context.request.post(f"{server}/api/auth/login", data={"username": username, "password": TEST_PASSWORD})
        assert r.ok, r.text()
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server}/sewage/{p['id']}")
        return context, page, errors

    # A reader sees the limits and their citations, without the means to change them.
    context, page, errors = session(reader)
    cod = page.locator("#limits tr[data-code=w01018]")
    expect(cod).to_contain_text("60")
    expect(cod).to_contain_text("GB 18918-2002 表1 一级标准B标准")
    expect(cod).to_contain_text("已核实")
    expect(page.locator("#limit-set")).to_have_text("（一级B）")
    expect(page.locator("#limits tr[data-code=w21003]")).to_contain_text("15")  # ≤12 ℃ ammonia nitrogen
    assert page.locator("#limits button.edit").count() == 0
    context.close()
    assert errors == []

    context, page, errors = session(admin)
    cod = page.locator("#limits tr[data-code=w01018]")
    cod.locator("button.edit").click()
    page.fill("#limit-form input[name=max]", "80")
    page.click("#limit-ok")  # no reason
    expect(page.locator("#limit-error")).to_be_visible()
    page.fill("#limit-form textarea[name=reason]", "环评批复特许限值（测试）")
    page.click("#limit-ok")
    expect(cod).to_contain_text("是（标准值 60）：环评批复特许限值（测试）")
    with engine.begin() as conn:
        assert conn.execute(
            text("SELECT max, updated_by FROM sewage_limit_overrides WHERE plant_id = :p AND code = 'w01018'"),
            {"p": p["id"]},
        ).one() == (80, admin)
    cod.locator("button.reset").click()
    expect(cod).not_to_contain_text("环评批复")
    with engine.begin() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM sewage_limit_overrides WHERE plant_id = :p"), {"p": p["id"]}
            ).scalar_one()
            == 0
        )
    context.close()
    assert errors == []
