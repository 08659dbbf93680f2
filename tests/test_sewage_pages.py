"""The sewage pages in Debian's Chromium with the real listener: a facility's page shows its last readings and a
new reading sent over HJ 212 appears within 2 s (NOTIFY → server-sent events); the list shows the online status."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import running_server, set_environment
from tests.test_sewage_hj212 import connect, listener, make_plant, now_bj, packet, plant, read_answer  # noqa: F401


@pytest.fixture(scope="module")
def server(app):
    restore = set_environment(CHENGJIAN_ANONYMOUS_ROLES="leader")  # a read-only visitor, as in `make run`
    try:
        with running_server(app) as base:
            yield base
    finally:
        restore()


def test_live_reading_within_two_seconds(browser, server, listener, engine):
    from playwright.sync_api import expect

    from geo.db import transaction
    from layers.sewage.status import refresh

    p = make_plant(engine, "一级A")
    with connect(listener) as s:
        s.sendall(packet(p, now_bj() - timedelta(minutes=10), {"w01018": {"value": 70.0, "flag": "N"}}))
        read_answer(s)
    with transaction() as conn:
        refresh(conn, datetime.now(UTC))
    errors: list[str] = []
    page = browser.new_page(locale="zh-CN")
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server}/sewage/{p['id']}")
    expect(page.locator("#title")).to_contain_text(p["code"])
    expect(page.locator("#status")).to_have_text("超标")
    cod = page.locator(".chart[data-code=w01018]")
    expect(cod).to_have_attribute("data-points", "1")
    expect(page.locator("#live")).to_have_text("已连接")
    with connect(listener) as s:
        t0 = time.monotonic()
        s.sendall(packet(p, now_bj(), {"w01018": {"value": 31.5, "flag": "N"}}))
        expect(cod).to_have_attribute("data-points", "2", timeout=5_000)
        shown_after = time.monotonic() - t0
        read_answer(s)
    assert shown_after < 2.0, f"the new reading took {shown_after:.2f} s to show"
    page.goto(f"{server}/sewage")
    row = page.locator("#facilities tr", has_text=p["code"])
    expect(row).to_contain_text("超标")
    assert errors == []


def test_open_alarms_in_the_popup_of_the_one_map(browser, server, engine):
    """A facility with an open exceedance, clicked on the one map: its popup names the count and the worst kind."""
    import random

    from playwright.sync_api import expect

    from tests.test_sewage_alarms import evaluate, feed, make_plant, minutes_ago

    lon, lat = 119.2 + random.uniform(0, 0.1), 29.7 + random.uniform(0, 0.1)  # a place of its own in 淳安县
    p = make_plant(engine, district="淳安县", at=(lon, lat))  # 一级A: COD 50 mg/L
    feed(p, minutes_ago(1), {"w01018": 70.0, "w01001": 7.1})
    evaluate()
    errors: list[str] = []
    page = browser.new_page(locale="zh-CN", viewport={"width": 1024, "height": 640})
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server}/")
    page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
    idle = """new Promise(r => { const m = window.chengjianMap;
        m.once('idle', () => r(true)); m.triggerRepaint(); setTimeout(() => r(false), 15000); })"""
    page.evaluate(f"window.chengjianMap.jumpTo({{center: [{lon}, {lat}], zoom: 17}})")
    assert page.evaluate(idle), "the map did not settle within 15 s"
    x, y = page.evaluate(f"""(() => {{
        const m = window.chengjianMap, q = m.project([{lon}, {lat}]), r = m.getCanvas().getBoundingClientRect();
        return [r.left + q.x, r.top + q.y]; }})()""")
    page.mouse.click(x, y)
    popup = page.locator(".maplibregl-popup .popup")
    expect(popup.locator("h4")).to_have_text(f"告警测试厂{p['code'][-4:]}")
    expect(popup.locator("tr", has_text="未关闭告警").locator("td")).to_have_text("1")
    expect(popup.locator("tr", has_text="最重告警").locator("td")).to_have_text("超标")
    assert errors == []
    page.close()
