"""The standardized-site screens a new user found missing (issue #11 §2), walked in Debian's Chromium as the user
would: a construction unit registers its project on the workbench (/st#register, also reached from the phone's
"not bound yet" message), signs in with the texted password, enters the completion-acceptance date in 项目信息 and
can then apply for the evaluation; a district account's district choices follow its scope."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from sqlalchemy import text

from layers.standard_sites.common import today_beijing
from tests import st_world
from tests.conftest import TEST_PASSWORD, make_user, running_server, set_environment

XH = "XH-2026-0001"
YH = "YH-2026-0002"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NEW_PASSWORD = "Shigong-2026-screens"


@pytest.fixture(scope="module")
def world(engine, tmp_path_factory):
    restore = set_environment(CHENGJIAN_FILES_DIR=str(tmp_path_factory.mktemp("files")))
    info = st_world.build(engine)
    yield info
    restore()


@pytest.fixture(scope="module")
def server(app, world):
    with running_server(app) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import expect, sync_playwright

    assert os.path.exists(CHROMIUM), "Debian's chromium is needed (make system-deps installs it)"
    expect.set_options(timeout=15_000)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
            expect.set_options(timeout=5_000)


def _page(browser, errors, mobile=False):
    context = browser.new_context(
        viewport={"width": 390, "height": 780} if mobile else {"width": 1366, "height": 900}, locale="zh-CN"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    return page


def _sign_in(page, username, password):
    login = page.locator("#login")
    login.locator("input[name=username]").fill(username)
    login.locator("input[name=password]").fill(password)
    login.locator("button[type=submit]").click()


def _texted_password(engine, username):
    with engine.connect() as conn:
        body = conn.execute(
            text("SELECT body FROM sms_outbox WHERE body LIKE :u ORDER BY id DESC LIMIT 1"), {"u": f"%{username}%"}
        ).scalar()
    return re.search(r"初始密码：(\w+)", body).group(1)


def test_register_then_complete_then_apply_in_browser(browser, server, world, engine):
    """ST-01 and ST-02 on the workbench: from the phone's "not bound yet" message to the registration, the accounts
    and the next steps; then the construction unit enters the completion-acceptance date and the evaluation
    application, refused before with 409 not_completed, is created."""
    from playwright.sync_api import expect

    make_user("st-screens-unbound", ["construction_unit"])
    errors: list[str] = []

    # The phone: an account bound to no project is told to register the project, with a link to do so.
    phone = _page(browser, errors, mobile=True)
    phone.goto(server + "/m#/login")
    phone.locator("#login-username").fill("st-screens-unbound")
    phone.locator("#login-password").fill(TEST_PASSWORD)
    phone.locator("#login-submit").click()
    expect(phone.locator("body")).to_have_attribute("data-screen", "projects")
    phone.locator("#register-link").click()
    expect(phone).to_have_url(re.compile(r"/st#register$"))
    expect(phone.locator("#register h2")).to_have_text("项目注册（施工单位）")
    phone.context.close()

    page = _page(browser, errors)
    page.goto(server + "/st")
    expect(page.locator("#login")).to_be_visible()
    page.locator("#register-link").click()
    reg = page.locator("#register")
    expect(reg).to_be_visible()

    # The lookup: another unit's credit code is refused at that field; the right one shows the register's data.
    reg.locator("input[name=project_code]").fill(YH)
    reg.locator("input[name=construction_uscc]").fill(world[XH]["uscc"])
    reg.locator("button[type=submit]", has_text="查询项目").click()
    expect(reg.locator(".field[data-field=construction_uscc] .field-error")).to_contain_text("施工单位不符")
    reg.locator("input[name=construction_uscc]").fill(world[YH]["uscc"])
    reg.locator("button[type=submit]", has_text="查询项目").click()
    card = page.locator("#register-project")
    expect(card).to_contain_text(st_world.PROJECTS["余杭区"]["name"])
    expect(card).to_contain_text("余杭区建工集团")

    # A wrong permit number: the server's words at the permit field, nothing created.
    card.locator("input[name=permit_no]").fill("330110209999999999")
    card.locator("input[name=construction_name]").fill("张工")
    card.locator("input[name=construction_phone]").fill("13911000077")
    card.locator("input[name=supervision_name]").fill("李工")
    card.locator("input[name=supervision_phone]").fill("13922000077")
    card.locator("button[type=submit]", has_text="注册").click()
    expect(card.locator(".field[data-field=permit_no] .field-error")).to_contain_text("施工许可证号")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM st_registrations")).scalar() == 0
    card.locator("input[name=permit_no]").fill(st_world.PROJECTS["余杭区"]["permit"])
    card.locator("button[type=submit]", has_text="注册").click()

    # What was created and what to do next.
    done = page.locator("#register-done")
    expect(done).to_contain_text("注册成功")
    expect(done.locator("tr[data-account=construction_unit]")).to_contain_text(f"sg-{YH}")
    expect(done.locator("tr[data-account=construction_unit]")).to_contain_text("139****0077")
    expect(done.locator("tr[data-account=supervision_unit]")).to_contain_text(f"jl-{YH}")
    expect(done).to_contain_text("首次登录须修改初始密码")
    with engine.connect() as conn:
        site_id = conn.execute(
            text(
                "SELECT r.site_id FROM st_registrations r JOIN projects p ON p.id = r.project_id "
                "WHERE p.code = :c AND r.contact_phone = '13911000077'"
            ),
            {"c": YH},
        ).scalar()
        assert site_id == world[YH]["site_id"]
        grants = conn.execute(
            text(
                "SELECT u.username FROM user_grants g JOIN users u ON u.id = g.user_id "
                "WHERE g.layer = 'sites' AND g.feature_id = :s ORDER BY 1"
            ),
            {"s": site_id},
        ).scalars()
        assert list(grants) == [f"jl-{YH}", f"sg-{YH}"]
        assert (
            conn.execute(text("SELECT count(*) FROM sms_outbox WHERE phone IN ('13911000077', '13922000077')")).scalar()
            == 2
        )

    # 去登录 with the texted password; the initial password is replaced first.
    done.locator("#register-login").click()
    password = _texted_password(engine, f"sg-{YH}")
    _sign_in(page, f"sg-{YH}", password)
    forced = page.locator("dialog:has(#password-form)")
    forced.locator("input[name=old_password]").fill(password)
    forced.locator("input[name=new_password]").fill(NEW_PASSWORD)
    forced.locator("input[name=again]").fill(NEW_PASSWORD)
    forced.locator("button[type=submit]").click()
    expect(page.locator("dialog")).to_have_count(0)

    # Before the completion-acceptance date, the evaluation application is refused with the server's words.
    page.locator(".tab[data-tab=evaluations]").click()
    page.locator(".pane[data-tab=evaluations] button", has_text="申报考评").click()
    dlg = page.locator("dialog")
    dlg.locator("button[type=submit]").click()
    expect(dlg.locator(".form-error, .field-error").filter(has_text="竣工验收")).to_have_count(1)
    dlg.locator("button", has_text="取消").click()

    # 项目信息: a date after today is refused at its field; today's is saved (version, audit).
    page.locator(".tab[data-tab=project]").click()
    pane = page.locator(".pane[data-tab=project]")
    pane.locator("tbody tr", has_text=YH).click()
    form = pane.locator("article.detail[data-project]")
    expect(form).to_contain_text("余杭区建工集团")
    today = today_beijing()
    form.locator("input[name=completion_date]").fill((today + timedelta(days=3)).isoformat())
    form.locator("button[type=submit]").click()
    expect(form.locator(".field[data-field=completion_date] .field-error")).to_contain_text("不能晚于今天")
    form.locator("input[name=completion_date]").fill(today.isoformat())
    form.locator("input[name=address]").fill("余杭区良渚街道安置房地块")
    form.locator("button[type=submit]").click()
    expect(page.locator("#toast")).to_contain_text("可以申报考评")
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT id, completion_date, address, version FROM projects WHERE code = :c"), {"c": YH}
        ).one()
        assert (row.completion_date, row.address, row.version) == (today, "余杭区良渚街道安置房地块", 2)
        after = conn.execute(
            text(
                "SELECT actor, after->>'completion_date' FROM audit_log WHERE layer = 'projects' AND feature_id = :i "
                "AND action = 'update'"
            ),
            {"i": row.id},
        ).all()
        assert after == [(f"sg-{YH}", today.isoformat())]

    # Now the evaluation application is created and opens.
    page.locator(".tab[data-tab=evaluations]").click()
    page.locator(".pane[data-tab=evaluations] button", has_text="申报考评").click()
    page.locator("dialog button[type=submit]").click()
    expect(page.locator("article.detail")).to_contain_text(str(today))
    with engine.connect() as conn:
        assert conn.execute(
            text("SELECT status FROM st_evaluations WHERE site_id = :s"), {"s": world[YH]["site_id"]}
        ).scalars().all() == ["draft"]
    page.context.close()
    assert not errors, errors


def test_project_update_checks_version_and_scope(client, world, engine):
    """PATCH /api/st/projects/{id}: a stale version is a 409 and changes nothing; another unit's project is not
    found; a completion date after today is a 422 at that field."""
    accounts = {}
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM st_evaluations"))
        conn.execute(text("DELETE FROM st_registrations"))
        conn.execute(text("DELETE FROM users WHERE username LIKE 'sg-%' OR username LIKE 'jl-%'"))
        conn.execute(text("UPDATE projects SET completion_date = NULL, address = NULL, version = 1"))
    accounts = st_world.register_both(client, engine, world, tails=("31", "32"))
    sg = accounts[(XH, "construction_unit")]
    mine = client.get("/api/st/my/projects", headers=sg).json()["projects"]
    assert [p["code"] for p in mine] == [XH]
    pid, version = mine[0]["id"], mine[0]["version"]
    with engine.connect() as conn:
        other = conn.execute(text("SELECT id FROM projects WHERE code = :c"), {"c": YH}).scalar()
    r = client.patch(f"/api/st/projects/{other}", headers=sg, json={"version": 1, "address": "别人的项目"})
    assert r.status_code == 404, r.text
    r = client.patch(
        f"/api/st/projects/{pid}",
        headers=sg,
        json={"version": version, "completion_date": (today_beijing() + timedelta(days=1)).isoformat()},
    )
    assert r.status_code == 422 and r.json()["code"] == "future_date" and r.json()["field"] == "completion_date"
    r = client.patch(f"/api/st/projects/{pid}", headers=sg, json={"version": version, "address": "文三路 1 号"})
    assert r.status_code == 200 and r.json()["version"] == version + 1, r.text
    r = client.patch(f"/api/st/projects/{pid}", headers=sg, json={"version": version, "completion_date": "2026-01-05"})
    assert r.status_code == 409 and r.json()["code"] == "stale_version", r.text
    # The supervision unit may look, not edit.
    jl = accounts[(XH, "supervision_unit")]
    r = client.patch(f"/api/st/projects/{pid}", headers=jl, json={"version": version + 1, "address": "x"})
    assert r.status_code == 403, r.text
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT address, completion_date, version FROM projects WHERE id = :i"), {"i": pid}
        ).one()
        assert tuple(row) == ("文三路 1 号", None, version + 1)
        assert conn.execute(text("SELECT address FROM projects WHERE id = :i"), {"i": other}).scalar() is None
