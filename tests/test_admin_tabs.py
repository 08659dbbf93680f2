"""The back office's tabs 单位, 角色与权限, API 密钥 and 短信发件箱 in a real browser (Debian's Chromium driven by
Playwright) against the live app: what an administrator does on each — create with a mistake first (shown at its
field, nothing stored), create, filter, edit, delete or revoke — checked on the screen and in the database."""

from __future__ import annotations

import os
import re

import pytest
from sqlalchemy import text

from tests.conftest import ADMIN, TEST_PASSWORD, make_user, running_server
from tests.test_admin import CHROMIUM, CHROMIUM_ARGS, phone, uniq, uscc_code

EXPECTED_CONSOLE = ("status of 422", "status of 409")  # the mistakes made on purpose


@pytest.fixture(scope="module")
def server(app):
    with running_server(app) as base:
        yield base


@pytest.fixture(scope="module")
def admin_page(server):
    """An administrator signed in on /admin; the console errors the page logged (checked by each test)."""
    from playwright.sync_api import expect, sync_playwright

    assert os.path.exists(CHROMIUM), "Debian's chromium is needed (make system-deps installs it)"
    admin = uniq("tabs-admin")
    make_user(admin, ["admin"])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN").new_page()
            page.set_default_timeout(15_000)
            page.errors = []
            page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
            page.on("pageerror", lambda e: page.errors.append(f"pageerror: {e}"))
            page.goto(server + "/admin")
            login = page.locator("#login")
            login.locator("input[name=username]").fill(admin)
            login.locator("input[name=password]").fill(TEST_PASSWORD)
            login.locator("button[type=submit]").click()
            expect(page.locator("#whoami")).to_contain_text(admin)
            yield page
        finally:
            browser.close()


def open_tab(page, tab: str, title: str):
    from playwright.sync_api import expect

    page.locator(f".tab[data-tab={tab}]").click()
    expect(page.locator(f".tab[data-tab={tab}]")).to_have_text(title)
    pane = page.locator(f".pane[data-tab={tab}]")
    expect(pane.locator(".page-info")).to_contain_text("共")
    return pane


def check_console(page) -> None:
    unexpected = [e for e in page.errors if not any(a in e for a in EXPECTED_CONSOLE)]
    page.errors.clear()
    assert not unexpected, unexpected


def one(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).mappings().all()


def test_organisations_tab(admin_page, engine):
    from playwright.sync_api import expect

    page = admin_page
    pane = open_tab(page, "orgs", "单位")
    name = uniq("界面测试建设有限公司")
    code = uscc_code()
    pane.locator("button", has_text="新增单位").click()
    form = page.locator("dialog form")
    form.locator("input[name=name]").fill(name)
    form.locator("select[name=kind]").select_option(label="企业")
    form.locator("input[name=uscc]").fill("91330106123")  # too short
    form.locator("select[name=district]").select_option(label="西湖区")
    form.locator("button[type=submit]").click()
    expect(form.locator(".field[data-field=uscc] .field-error")).to_be_visible()
    expect(form.locator(".field[data-field=uscc] .field-error")).to_contain_text("信用代码")
    assert one(engine, "SELECT id FROM organisations WHERE name = :n", n=name) == []
    form.locator("input[name=uscc]").fill(code)
    form.locator("button[type=submit]").click()
    expect(page.locator("dialog")).to_have_count(0)
    row = pane.locator("tbody tr", has_text=name)
    expect(row).to_have_count(1)
    expect(row.locator("td")).to_have_text([name, "企业", code, "西湖区", "0", re.compile("编辑")])
    (org,) = one(engine, "SELECT id, kind, uscc, district, version FROM organisations WHERE name = :n", n=name)
    assert (org["kind"], org["uscc"], org["district"], org["version"]) == ("enterprise", code, "西湖区", 1)

    # Filters: the keyword and the kind find it; another kind does not.
    filters = pane.locator("form.filters")
    filters.locator("input[name=q]").fill(code[-10:])
    filters.locator("select[name=kind]").select_option(label="企业")
    filters.locator("button[type=submit]").click()
    expect(pane.locator("tbody tr")).to_have_count(1)
    expect(pane.locator("tbody tr")).to_contain_text(name)
    expect(pane.locator(".page-info")).to_have_text("共 1 条，第 1–1 条")
    filters.locator("select[name=kind]").select_option(label="联审部门")
    filters.locator("button[type=submit]").click()
    expect(pane.locator("tbody tr td.empty")).to_have_text("没有记录。")
    filters.locator("select[name=kind]").select_option(label="全部")
    filters.locator("button[type=submit]").click()

    # Edit: renamed and moved to 余杭区, the version read is sent along.
    pane.locator("tbody tr", has_text=name).locator("button", has_text="编辑").click()
    form = page.locator("dialog form")
    expect(form.locator("input[name=name]")).to_have_value(name)
    form.locator("input[name=name]").fill(name + "（更名）")
    form.locator("select[name=district]").select_option(label="余杭区")
    form.locator("button[type=submit]").click()
    expect(page.locator("dialog")).to_have_count(0)
    expect(pane.locator("tbody tr", has_text=name + "（更名）").locator("td").nth(3)).to_have_text("余杭区")
    (after,) = one(engine, "SELECT name, district, version, uscc FROM organisations WHERE id = :i", i=org["id"])
    assert dict(after) == {"name": name + "（更名）", "district": "余杭区", "version": 2, "uscc": code}
    actions = one(
        engine,
        "SELECT action FROM audit_log WHERE layer = 'organisations' AND feature_id = :i ORDER BY id",
        i=org["id"],
    )
    assert [a["action"] for a in actions] == ["create", "update"]
    check_console(page)


def test_roles_tab(admin_page, engine, client):
    from playwright.sync_api import expect

    page = admin_page
    pane = open_tab(page, "roles", "角色与权限")
    name = "r_" + uniq("ui").split("-")[1]
    catalogue = client.get("/api/admin/permissions", headers=ADMIN).json()["items"]
    known = [p["name"] for p in catalogue]
    first, second = "admin.log", next(n for n in known if n.endswith(".view") and "*" not in n)

    pane.locator("button", has_text="新增角色").click()
    form = page.locator("dialog form")
    form.locator("input[name=name]").fill("Bad Name")
    form.locator("input[name=title]").fill("界面测试角色")
    form.locator("select[name=scope]").select_option(label="本区县数据")
    form.locator(f'label.check[data-name="{first}"] input').check()
    form.locator("textarea[name=patterns]").fill("*.export")
    form.locator("button[type=submit]").click()
    expect(form.locator(".field[data-field=name] .field-error")).to_be_visible()
    assert one(engine, "SELECT name FROM roles WHERE title = '界面测试角色'") == []
    form.locator("input[name=name]").fill(name)
    form.locator("button[type=submit]").click()
    expect(page.locator("dialog")).to_have_count(0)
    row = pane.locator("tbody tr", has_text=name)
    expect(row).to_contain_text("界面测试角色")
    expect(row).to_contain_text("本区县数据")
    expect(row).to_contain_text("自定义")
    expect(row.locator(".chip")).to_have_text(sorted([first, "*.export"]))  # as the server lists them

    def stored() -> tuple:
        (r,) = one(engine, "SELECT title, scope, builtin FROM roles WHERE name = :n", n=name)
        perms = sorted(
            p["permission"] for p in one(engine, "SELECT permission FROM role_permissions WHERE role = :n", n=name)
        )
        return (r["title"], r["scope"], r["builtin"], perms)

    assert stored() == ("界面测试角色", "district", False, sorted([first, "*.export"]))

    # 权限: one action off, another on, the pattern kept.
    row.locator("button", has_text="权限").click()
    form = page.locator("dialog form")
    expect(form.locator(f'label.check[data-name="{first}"] input')).to_be_checked()
    form.locator(f'label.check[data-name="{first}"] input').uncheck()
    form.locator(f'label.check[data-name="{second}"] input').check()
    form.locator("button[type=submit]").click()
    expect(page.locator("dialog")).to_have_count(0)
    expect(pane.locator("tbody tr", has_text=name).locator(".chip")).to_have_count(2)
    assert stored() == ("界面测试角色", "district", False, sorted([second, "*.export"]))

    # 修改: the title and the scope.
    pane.locator("tbody tr", has_text=name).locator("button", has_text="修改").click()
    form = page.locator("dialog form")
    form.locator("input[name=title]").fill("界面测试角色（改）")
    form.locator("select[name=scope]").select_option(label="全部数据")
    form.locator("button[type=submit]").click()
    expect(page.locator("dialog")).to_have_count(0)
    expect(pane.locator("tbody tr", has_text=name)).to_contain_text("界面测试角色（改）")
    assert stored() == ("界面测试角色（改）", "all", False, sorted([second, "*.export"]))

    # 删除, confirmed in the browser's dialog; built-in roles offer no 删除.
    expect(pane.locator("tbody tr", has_text="系统管理员").locator("button", has_text="删除")).to_have_count(0)
    page.once("dialog", lambda d: d.accept())
    pane.locator("tbody tr", has_text=name).locator("button", has_text="删除").click()
    expect(pane.locator("tbody tr", has_text=name)).to_have_count(0)
    assert one(engine, "SELECT name FROM roles WHERE name = :n", n=name) == []
    assert one(engine, "SELECT role FROM role_permissions WHERE role = :n", n=name) == []
    check_console(page)


def test_keys_tab(admin_page, engine, client):
    from playwright.sync_api import expect

    page = admin_page
    pane = open_tab(page, "keys", "API 密钥")
    system = uniq("ui-county")
    make_user(system, ["county_system"], district="西湖区")
    key_name = uniq("西湖区农房系统")

    def keys() -> list:
        return one(
            engine,
            "SELECT k.id, k.name, k.prefix, k.revoked_at FROM api_keys k JOIN users u ON u.id = k.user_id "
            "WHERE u.username = :u ORDER BY k.id",
            u=system,
        )

    pane.locator("button", has_text="新建密钥").click()
    form = page.locator("dialog form")
    form.locator("input[name=username]").fill("nobody-" + system)
    form.locator("input[name=name]").fill(key_name)
    form.locator("button[type=submit]").click()
    expect(form.locator(".field[data-field=username] .field-error")).to_be_visible()
    assert one(engine, "SELECT id FROM api_keys WHERE name = :n", n=key_name) == []
    form.locator("input[name=username]").fill(system)
    form.locator("button[type=submit]").click()
    # The new key is shown once, in its own dialog.
    shown = page.locator("dialog code.secret")
    expect(shown).to_have_text(re.compile(r"^cjk_\w+_\S+$"))
    key = shown.text_content()
    expect(page.locator("dialog")).to_contain_text(f"账号：{system}")
    page.locator("dialog button.close").click()
    expect(page.locator("dialog")).to_have_count(0)
    (stored,) = keys()
    assert stored["name"] == key_name and stored["revoked_at"] is None and key.startswith(f"cjk_{stored['prefix']}_")
    assert client.get("/api/auth/me", headers={"X-API-Key": key}).json()["user"] == system
    row = pane.locator("tbody tr", has_text=key_name)
    expect(row).to_contain_text(f"cjk_{stored['prefix']}_…")
    expect(row).to_contain_text("有效")
    expect(row).not_to_contain_text(key)  # the secret is never listed

    # Filter by status, then 吊销 (confirmed): the key stops working at once.
    filters = pane.locator("form.filters")
    filters.locator("input[name=q]").fill(system)
    filters.locator("select[name=status]").select_option(label="已吊销或过期")
    filters.locator("button[type=submit]").click()
    expect(pane.locator("tbody tr td.empty")).to_have_text("没有记录。")
    filters.locator("select[name=status]").select_option(label="有效")
    filters.locator("button[type=submit]").click()
    expect(pane.locator("tbody tr")).to_have_count(1)
    page.once("dialog", lambda d: d.accept())
    pane.locator("tbody tr", has_text=key_name).locator("button", has_text="吊销").click()
    expect(pane.locator("tbody tr td.empty")).to_have_text("没有记录。")  # no longer 有效
    filters.locator("select[name=status]").select_option(label="全部")
    filters.locator("button[type=submit]").click()
    expect(pane.locator("tbody tr", has_text=key_name)).to_contain_text("已吊销")
    (stored,) = keys()
    assert stored["revoked_at"] is not None
    assert client.get("/api/auth/me", headers={"X-API-Key": key}).status_code == 401
    check_console(page)


def test_sms_tab(admin_page, engine):
    from playwright.sync_api import expect

    from api.accounts import sms
    from api.admin.common import sms_purposes
    from geo.db import transaction

    page = admin_page
    tel = phone()
    with transaction() as conn:
        sms.gateway().send(conn, tel, "【杭州城建】您的动态密码为 246810。", "expert_review")
        sms.gateway().send(conn, tel, "【杭州城建】界面测试通知。", "notice")
    stored = one(engine, "SELECT phone, purpose, body, status FROM sms_outbox WHERE phone = :p ORDER BY id DESC", p=tel)
    assert [s["purpose"] for s in stored] == ["notice", "expert_review"]
    pane = open_tab(page, "sms", "短信发件箱")
    filters = pane.locator("form.filters")
    filters.locator("input[name=phone]").fill(tel[-6:])
    filters.locator("button[type=submit]").click()
    rows = pane.locator("tbody tr", has_text=tel)
    expect(rows).to_have_count(2)
    # Newest first, as stored: the body, the purpose's Chinese name (where it has one), 待发送, the channel.
    for i, s in enumerate(stored):
        cells = rows.nth(i).locator("td")
        expect(cells.nth(1)).to_have_text(s["phone"])
        expect(cells.nth(3)).to_have_text(sms_purposes().get(s["purpose"], s["purpose"]))  # the declared name
        expect(cells.nth(4)).to_have_text(s["body"])
        expect(cells.nth(5)).to_have_text("待发送")
    filters.locator("select[name=purpose]").select_option("expert_review")  # offered by its Chinese name
    filters.locator("button[type=submit]").click()
    expect(pane.locator("tbody tr", has_text=tel)).to_have_count(1)
    expect(pane.locator("tbody tr", has_text=tel)).to_contain_text("246810")
    check_console(page)
