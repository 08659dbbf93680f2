"""The craftsmen workbench (/villages/craftsmen) in Debian's Chromium against the live app: a 建德市 clerk registers a
craftsman by ID number (a wrong ID number is refused next to the field, nothing stored), sees him masked, adds a
training and a bad credit event (which reaches the credit register), merges a list in which the same ID number has
another name (dry run, then import: one conflict, no second craftsman) and takes the list's name in the conflicts
tab; the administrator shows the ID number in the clear — checked on the screen and in the database."""

from __future__ import annotations

import io
import uuid
from datetime import date

import pytest
from sqlalchemy import text
from stdnum.cn import ric

from tests.conftest import SignedIn, make_user, running_server
from tests.test_vil_craftsmen import xlsx


def idn(n: int) -> str:
    """Valid ID numbers of this test only (born 2006; the API test uses 2005, the demo 1960–1995)."""
    body = f"3301002006{n:02d}15001"  # the 15th of month n
    return body + ric.calc_check_digit(body + "0")


@pytest.fixture(scope="module")
def accounts():
    tag = uuid.uuid4().hex[:6]
    names = {"jd": f"vcp-jd-{tag}", "admin": f"vcp-admin-{tag}"}
    make_user(names["jd"], ["district_staff"], district="建德市")
    make_user(names["admin"], ["admin"])
    return names


@pytest.fixture(scope="module")
def server(app, accounts):
    with running_server(app) as base:
        yield base


class Session(SignedIn):
    def __init__(self, browser, base: str, username: str) -> None:
        super().__init__(browser, base, username, "/villages/craftsmen", expected=("status of 422", "status of 409"))


def one(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def test_register_train_record_merge_and_resolve(browser, server, accounts, engine):
    from playwright.sync_api import expect

    number = idn(1)
    s = Session(browser, server, accounts["jd"])
    page = s.page
    expect(page.locator("#tabs")).to_contain_text("名单合并导入")
    # Register: a wrong ID number first.
    page.click("#new-craftsman")
    dlg = page.locator("dialog.dialog")
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    dlg.locator("[data-field=id_number] input").fill(wrong)
    dlg.locator("[data-field=name] input").fill("严建华")
    dlg.locator("button[type=submit]").click()
    expect(dlg.locator("[data-field=id_number] .field-error")).to_contain_text("身份证号")
    assert one(engine, "SELECT count(*) FROM persons WHERE id_number = :n", n=wrong) == 0
    dlg.locator("[data-field=id_number] input").fill(number)
    dlg.locator("[data-field=phone] input").fill("13588886601")
    dlg.locator("[data-field=township] input").fill("寿昌镇")
    dlg.locator("[data-field=trades] label:has-text('泥瓦工') input").check()
    dlg.locator("[data-field=trades] label:has-text('木工') input").check()
    dlg.locator("[data-field=team] input").fill("寿昌严氏建筑队")
    dlg.locator("button[type=submit]").click()
    card = page.locator("#craftsman")
    expect(card).to_contain_text("严建华")
    expect(card).to_contain_text(number[:4] + "*" * 10 + number[-4:])
    expect(card).not_to_contain_text(number)
    cid = int(card.get_attribute("data-id"))
    assert one(engine, "SELECT c.team FROM vil_craftsmen c JOIN persons p ON p.id = c.person_id WHERE p.id_number = :n", n=number) == "寿昌严氏建筑队"  # fmt: skip
    # A training and a bad credit event.
    page.click("#add-training")
    dlg = page.locator("dialog.dialog")
    dlg.locator("[data-field=course] input").fill("农房抗震设防技术")
    dlg.locator("[data-field=hours] input").fill("16")
    dlg.locator("[data-field=trained_on] input").fill("2025-04-10")
    dlg.locator("[data-field=certificate_no] input").fill("HZGJ-P-0001")
    dlg.locator("[data-field=expires_on] input").fill("2028-04-10")
    dlg.locator("button[type=submit]").click()
    expect(card).to_contain_text("HZGJ-P-0001")
    page.click("#add-event")
    dlg = page.locator("dialog.dialog")
    dlg.locator("[data-field=event_type] select").select_option("vil_complaint")
    dlg.locator("[data-field=occurred_on] input").fill(date.today().isoformat())
    dlg.locator("[data-field=reason] textarea").fill("农户投诉工期延误")
    dlg.locator("button[type=submit]").click()
    expect(card).to_contain_text("农户投诉工期延误")
    assert one(engine, "SELECT count(*) FROM credit_events WHERE subject_code = :n AND source = 'vil_craftsman_event'", n=number) == 1  # fmt: skip
    # The merge: the same ID number under another name, and a new craftsman.
    page.click("[data-tab=merge]")
    content = xlsx([
        ["严建铧", number, "13588886601", "建德市", "寿昌镇", "钢筋工", None, None, None, None, None, None],
        ["柏立", idn(2), None, "建德市", "大同镇", "石工", None, None, None, None, None, None],
    ])  # fmt: skip
    xl = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    page.set_input_files("#merge-file", files=[{"name": "名单.xlsx", "mimeType": xl, "buffer": content}])
    page.click("#dry-run")
    rep = page.locator("#merge-report")
    expect(rep).to_contain_text("试导入")
    expect(rep).to_contain_text("冲突 1")
    assert one(engine, "SELECT count(*) FROM persons WHERE id_number = :n", n=idn(2)) == 0
    page.click("#commit")
    expect(rep).to_contain_text("正式导入")
    expect(rep).to_contain_text("新增 1")
    assert one(engine, "SELECT count(*) FROM vil_craftsmen c JOIN persons p ON p.id = c.person_id WHERE p.id_number = :n", n=number) == 1  # fmt: skip
    assert one(engine, "SELECT trades::text FROM vil_craftsmen WHERE id = :i", i=cid) == "{泥瓦工,木工,钢筋工}"
    # The conflict: take the list's name.
    page.click("[data-tab=conflicts]")
    row = page.locator("tr", has_text="严*")
    expect(row.first).to_be_visible()
    row.first.locator("button", has_text="采用导入信息").click()
    expect(page.locator("#toast")).to_contain_text("已采用导入信息")
    assert one(engine, "SELECT name FROM persons WHERE id_number = :n", n=number) == "严建铧"
    # The list, filtered, exported to Excel (masked for this clerk).
    page.click("[data-tab=list]")
    page.locator("input[name=q]").fill("严建铧")
    page.locator(".filters button[type=submit]").click()
    expect(page.locator(".page-info")).to_contain_text("共 1 条")
    with page.expect_download() as download:
        page.click("#export")
    from openpyxl import load_workbook

    assert download.value.suggested_filename == "农村建房工匠.xlsx"
    with open(download.value.path(), "rb") as f:
        rows = list(load_workbook(io.BytesIO(f.read())).active.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][0] == "严建铧" and rows[1][1] == number[:4] + "*" * 10 + number[-4:]
    s.close()
    # The administrator shows the ID number in the clear (logged).
    a = Session(browser, server, accounts["admin"])
    before = one(engine, "SELECT count(*) FROM audit_log WHERE action = 'unmask' AND layer = 'persons'")
    a.page.goto(f"{server}/villages/craftsmen#craftsman/{cid}")
    expect(a.page.locator("#craftsman")).to_contain_text("严建铧")
    a.page.click("#unmask")
    expect(a.page.locator("#craftsman")).to_contain_text(number)
    assert one(engine, "SELECT count(*) FROM audit_log WHERE action = 'unmask' AND layer = 'persons'") == before + 1
    a.close()


def test_the_administrator_configures_the_trades_and_the_registration_offers_them(browser, server, accounts, engine):
    from playwright.sync_api import expect

    clerk = Session(browser, server, accounts["jd"])
    expect(clerk.page.locator("#tabs")).not_to_contain_text("工种配置")  # a district clerk does not edit the list
    clerk.close()
    a = Session(browser, server, accounts["admin"])
    page = a.page
    try:
        page.click("[data-tab=trades]")
        expect(page.locator("#trades")).to_contain_text("泥瓦工")
        page.click("#add-trade")
        dlg = page.locator("dialog.dialog")
        dlg.locator("[data-field=code] input").fill("thatcher")
        dlg.locator("[data-field=name] input").fill("木工")  # taken: said next to the field, nothing stored
        dlg.locator("button[type=submit]").click()
        expect(dlg.locator("[data-field=name] .field-error")).to_contain_text("同名")
        dlg.locator("[data-field=name] input").fill("草顶匠")
        dlg.locator("button[type=submit]").click()
        expect(page.locator("#trades")).to_contain_text("草顶匠")
        assert one(engine, "SELECT active FROM vil_trades WHERE code = 'thatcher'") is True
        page.reload()  # the options are read when the page starts
        page.click("[data-tab=list]")
        page.click("#new-craftsman")
        expect(page.locator("dialog.dialog [data-field=trades]")).to_contain_text("草顶匠")
        page.keyboard.press("Escape")
        page.click("[data-tab=trades]")
        page.locator("#trades tr", has_text="草顶匠").locator("button", has_text="修改").click()
        dlg = page.locator("dialog.dialog")
        dlg.locator("[data-field=active] input").uncheck()
        dlg.locator("button[type=submit]").click()
        expect(page.locator("#trades tr", has_text="草顶匠")).to_contain_text("已停用")
        assert one(engine, "SELECT active FROM vil_trades WHERE code = 'thatcher'") is False
    finally:
        a.close()
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM vil_trades WHERE code = 'thatcher'"))
