"""The custom-report page in Debian's Chromium: a 西湖区 clerk signs in, picks a flow report of a facility whose
readings were stored through the real storing path, previews it (table and chart show the hand-worked volume),
exports it to Excel, saves it as a monthly template, generates last month's file and downloads it."""

from __future__ import annotations

import io
import uuid
from datetime import datetime

import pytest
from openpyxl import load_workbook

from layers.sewage.hj212 import BEIJING
from tests.conftest import TEST_PASSWORD, chromium, make_user, running_server
from tests.test_sewage_hj212 import make_plant
from tests.test_sewage_reports import D1, D, store

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


@pytest.fixture(scope="module")
def server(app):
    with running_server(app) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with chromium(ARGS) as b:
        yield b


def test_preview_export_save_and_monthly_file(browser, server, engine):
    from playwright.sync_api import expect

    plant = make_plant(engine)  # 西湖区
    store(engine, plant)
    user = f"rep-page-{uuid.uuid4().hex[:6]}"
    make_user(user, ["district_staff"], district="西湖区")
    errors: list[str] = []
    context = browser.new_context(locale="zh-CN", accept_downloads=True, viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server}/sewage/reports")
    login = page.locator("#login")
    expect(login).to_be_visible()
    login.locator("input[name=username]").fill(user)
    login.locator("input[name=password]").fill(TEST_PASSWORD)
    login.locator("button[type=submit]").click()
    expect(page.locator("body")).to_have_attribute("data-ready", "1")
    expect(page.locator("#whoami")).to_contain_text("西湖区")

    page.select_option("#kind", "flow")
    expect(page.locator("#codes-row")).to_be_hidden()
    page.select_option("#plants", str(plant["id"]))
    page.check("input[name=agg][value=sum]")
    page.fill("#start", D.isoformat())
    page.fill("#end", D1.isoformat())
    # A bad period first: the server's reason is shown, nothing else.
    page.fill("#end", "2000-01-01")
    page.click("#preview")
    expect(page.locator("#error")).to_contain_text("结束日期不能早于开始日期")
    page.fill("#end", D1.isoformat())
    page.click("#preview")
    expect(page.locator("#error")).to_be_hidden()
    row = page.locator(f"#table tr[data-plant='{plant['id']}'][data-bucket='{D.isoformat()}']")
    expect(row.locator("td[data-key='w00000.sum']")).to_have_text("10,080")
    expect(row.locator("td[data-key='w00000.avg']")).to_have_text("116.6667")
    expect(page.locator("#chart")).to_have_attribute("data-points", "2")  # the two days' averages
    page.select_option("#chart-column", "w00000.sum")
    expect(page.locator("#chart")).to_have_attribute("data-column", "w00000.sum")

    with page.expect_download() as dl:
        page.click("#export")
    ws = load_workbook(io.BytesIO(open(dl.value.path(), "rb").read())).active
    rows = list(ws.iter_rows(values_only=True))
    line = next(x for x in rows[5:] if x[3] == D.isoformat())
    assert line[rows[4].index("污水流量累计量(m³)")] == pytest.approx(10080)

    name = f"西湖水量月报{uuid.uuid4().hex[:4]}"
    page.click("#save")
    page.fill("#tpl-name", name)
    page.check("#tpl-monthly")
    page.click("#tpl-save")
    tpl = page.locator(f"#templates tr[data-name='{name}']")
    expect(tpl).to_contain_text("每月生成")
    tpl.locator("button[data-act=generate]").click()
    now = datetime.now(BEIJING)
    last = f"{now.year - (now.month == 1)}-{(now.month - 2) % 12 + 1:02d}"
    link = page.locator(f"#files-table tr[data-month='{last}'] a")
    expect(link).to_have_count(1)
    expect(tpl.locator("td").nth(5)).to_have_text("1")
    with page.expect_download() as dl:
        link.click()
    assert dl.value.suggested_filename == f"{name}-{last.replace('-', '')}.xlsx"
    ws = load_workbook(io.BytesIO(open(dl.value.path(), "rb").read())).active
    assert ws["A1"].value.startswith(name)
    # Loading the template puts its choice back into the form and previews it again.
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "1")
    page.locator(f"#templates tr[data-name='{name}'] button[data-act=load]").click()
    expect(page.locator("#kind")).to_have_value("flow")
    expect(row.locator("td[data-key='w00000.sum']")).to_have_text("10,080")
    # The owner updates the loaded template: no longer generated every month.
    page.click("#save")
    expect(page.locator("#tpl-update")).to_have_text(f"更新模板「{name}」")
    page.uncheck("#tpl-monthly")
    page.click("#tpl-update")
    expect(page.locator(f"#templates tr[data-name='{name}'] td").nth(4)).to_have_text("—")
    # A total row over the chosen facilities (one here: the same volume).
    page.check("#total")
    page.click("#preview")
    total = page.locator(f"#table tr[data-bucket='{D.isoformat()}']", has_text="所选设施合计")
    expect(total.locator("td[data-key='w00000.sum']")).to_have_text("10,080")
    assert errors == []
    context.close()
