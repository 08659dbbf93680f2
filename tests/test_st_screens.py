"""The standardized-site screens a new user found missing (issue #11 §2), walked in Debian's Chromium as the user
would: a construction unit registers its project on the workbench (/st#register, also reached from the phone's
"not bound yet" message), signs in with the texted password, enters the completion-acceptance date in 项目信息 and
can then apply for the evaluation; a district account's district choices follow its scope."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import text

from layers.standard_sites.common import today_beijing
from tests import st_world
from tests.conftest import TEST_PASSWORD, chromium, make_user, running_server, set_environment
from tests.test_st_mobile import CHROMIUM_ARGS as PHONE_ARGS
from tests.test_st_mobile import Phone

XH = "XH-2026-0001"
YH = "YH-2026-0002"
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
    with chromium(PHONE_ARGS, expect_timeout_ms=15_000) as b:
        yield b


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
    granted_before = _granted(engine, world[YH]["site_id"])  # earlier test modules' accounts on the same site
    with engine.connect() as conn:  # and their audit rows on the same project ids
        audit_base = conn.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar_one()

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
        assert sorted(_granted(engine, site_id) - granted_before) == [f"jl-{YH}", f"sg-{YH}"]
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
    expect(form.locator(".field[data-field=completion_date] .field-error")).to_contain_text("至 今天 之间")
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
                "AND action = 'update' AND id > :b"
            ),
            {"i": row.id, "b": audit_base},
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
    assert r.status_code == 422 and r.json()["code"] == "out_of_range" and r.json()["field"] == "completion_date"
    assert "竣工日期" in r.json()["message"], r.text
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


def _granted(engine, site_id: int) -> set[str]:
    """The accounts granted the site."""
    with engine.connect() as conn:
        return set(
            conn.execute(
                text(
                    "SELECT u.username FROM user_grants g JOIN users u ON u.id = g.user_id "
                    "WHERE g.layer = 'sites' AND g.feature_id = :s"
                ),
                {"s": site_id},
            ).scalars()
        )


def _fresh_accounts(client, engine, world, tails) -> tuple[dict, dict]:
    """Both projects registered afresh (nothing filed yet); returns the bearer headers and the texted passwords, the
    initial passwords accepted as they are (the password change has its own tests)."""
    with engine.begin() as conn:
        conn.execute(
            text("TRUNCATE st_registrations, st_bonus_claims, st_evaluations, st_photos, st_attachments CASCADE")
        )
        conn.execute(text("DELETE FROM users WHERE username LIKE 'sg-%' OR username LIKE 'jl-%'"))
    accounts = st_world.register_both(client, engine, world, tails=tails)
    passwords = {}
    with engine.begin() as conn:
        for code in (XH, YH):
            for prefix in ("sg", "jl"):
                passwords[f"{prefix}-{code}"] = _texted_password(engine, f"{prefix}-{code}")
        conn.execute(
            text("UPDATE users SET must_change_password = false WHERE username LIKE 'sg-%' OR username LIKE 'jl-%'")
        )
    return accounts, passwords


PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def test_bonus_evidence_is_a_document_not_a_site_photo(client, world, engine):
    """A certificate scan uploaded from an office far from the site is accepted as evidence (no position, no fence);
    a site photo of the same claim taken outside the fence is still refused; evidence closes with the claim and
    stays inside the scope."""
    with engine.connect() as conn:  # earlier test modules' audit rows may name the same attachment ids
        audit_base = conn.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar_one()
    accounts, _ = _fresh_accounts(client, engine, world, ("41", "42"))
    sg, jl = accounts[(XH, "construction_unit")], accounts[(XH, "supervision_unit")]
    other = accounts[(YH, "construction_unit")]
    site = world[XH]
    r = client.post(f"/api/st/sites/{site['site_id']}/bonus", headers=sg, json={"item_code": "B01"})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    r = client.post(
        f"/api/st/bonus/{cid}/photos",
        headers=sg,
        files={"file": ("cert.jpg", st_world.jpeg(), "image/jpeg")},
        data={"lon": str(site["lon"] + 0.07), "lat": str(site["lat"]), "accuracy_m": "10"},
    )
    assert r.status_code == 422 and r.json()["code"] == "outside_fence", r.text
    r = client.post(
        f"/api/st/bonus/{cid}/attachments",
        headers=sg,
        files={"file": ("省级示范工地证书.pdf", PDF, "application/pdf")},
        data={"name": "省级示范工地证书"},
    )
    assert r.status_code == 201, r.text
    att = r.json()
    assert att["name"] == "省级示范工地证书" and att["content_type"] == "application/pdf"
    assert client.get(att["url"], headers=sg).content == PDF
    assert client.get(att["url"], headers=other).status_code == 404
    assert (
        client.post(
            f"/api/st/bonus/{cid}/attachments", headers=other, files={"file": ("x.pdf", PDF, "application/pdf")}
        ).status_code
        == 404
    )
    # Not a document: refused by content, nothing stored.
    r = client.post(
        f"/api/st/bonus/{cid}/attachments", headers=sg, files={"file": ("x.pdf", b"hello", "application/pdf")}
    )
    assert 400 <= r.status_code < 500 and r.json()["field"], r.text
    detail = client.get(f"/api/st/bonus/{cid}", headers=jl).json()
    assert [a["id"] for a in detail["attachments"]] == [att["id"]] and detail["photos"] == []
    r = client.post(f"/api/st/bonus/{cid}/actions/submit", headers=sg, json={})
    assert r.status_code == 200 and r.json()["status"] == "submitted", r.text
    r = client.post(f"/api/st/bonus/{cid}/attachments", headers=sg, files={"file": ("y.pdf", PDF, "application/pdf")})
    assert r.status_code == 409 and r.json()["code"] == "attachments_closed"
    assert client.delete(f"/api/st/bonus/{cid}/attachments/{att['id']}", headers=sg).status_code == 409
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT bonus_claim_id, evaluation_id, site_id FROM st_attachments WHERE deleted_at IS NULL")
        ).all()
        assert rows == [(cid, None, site["site_id"])]
        assert conn.execute(
            text("SELECT actor FROM audit_log WHERE layer = 'st_attachments' AND feature_id = :a AND id > :b"),
            {"a": att["id"], "b": audit_base},
        ).scalars().all() == [f"sg-{XH}"]


def test_bonus_claim_from_the_phone_far_from_the_site(browser, server, client, world, engine, tmp_path):
    """The phone's 加分项 screen: a claim, a certificate photographed in the office 7 km from the site (accepted:
    evidence is not fence-checked), 提交; the database holds the claim submitted with its evidence."""
    from playwright.sync_api import expect

    _, passwords = _fresh_accounts(client, engine, world, ("51", "52"))
    site = world[XH]
    errors: list[str] = []
    context = browser.new_context(
        viewport={"width": 390, "height": 780},
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        permissions=["geolocation"],
        geolocation={"longitude": site["lon"] + 0.07, "latitude": site["lat"], "accuracy": 10},
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.goto(server + "/m#/login")
    page.fill("#login-username", f"sg-{XH}")
    page.fill("#login-password", passwords[f"sg-{XH}"])
    page.tap("#login-submit")
    expect(page.locator("body")).to_have_attribute("data-screen", "projects")
    page.tap(f'[data-project="{XH}"]')
    expect(page.locator("body")).to_have_attribute("data-screen", "site")
    page.tap("#bonus-link")
    expect(page.locator("body")).to_have_attribute("data-screen", "bonus-list")
    page.locator("#bonus-item").select_option("B01")
    page.fill("#bonus-description", "2026 年获评省级标准化示范工地")
    page.tap("#bonus-create")
    expect(page.locator("body")).to_have_attribute("data-screen", "bonus")
    expect(page.locator("#case-status")).to_have_text("草稿")
    expect(page.locator("#b-actions button[data-action=submit]")).to_be_disabled()
    scan = tmp_path / "证书.jpg"
    scan.write_bytes(st_world.jpeg())
    page.fill("#b-name", "省级示范工地证书")
    page.set_input_files("#b-file", str(scan))
    page.tap("#b-upload-submit")
    expect(page.locator("#b-files a[data-evidence]")).to_have_text(["省级示范工地证书"])
    page.tap("#b-actions button[data-action=submit]")
    page.tap("#sheet-ok")
    expect(page.locator("#case-status")).to_have_text("待监理审核")
    with engine.connect() as conn:
        claim = conn.execute(text("SELECT id, status, description FROM st_bonus_claims")).one()
        assert (claim.status, claim.description) == ("submitted", "2026 年获评省级标准化示范工地")
        assert conn.execute(
            text("SELECT name, content_type FROM st_attachments WHERE bonus_claim_id = :c"), {"c": claim.id}
        ).all() == [("省级示范工地证书", "image/jpeg")]
        assert conn.execute(text("SELECT count(*) FROM st_photos")).scalar() == 0
    context.close()
    assert not errors, errors


def _this_month() -> str:
    return today_beijing().strftime("%Y-%m")


def test_refusal_toast_leaves_the_next_photo_button_free(browser, server, client, world, engine, tmp_path):
    """A photo refused outside the fence shows its red toast; while it is on screen, the 拍照 button under it still
    takes the tap (the toast lets taps through), and the photo is taken right away."""
    _, passwords = _fresh_accounts(client, engine, world, ("61", "62"))
    phone = Phone(browser, (server, None), world[XH], tmp_path)
    page = phone.page
    try:
        phone.sign_in(f"sg-{XH}", passwords[f"sg-{XH}"])
        phone.screen("projects")
        page.tap(f'[data-project="{XH}"]')
        phone.screen("site")
        page.tap(f'[data-month="{_this_month()}"]')
        phone.screen("report")
        phone.move(dlon=0.012)  # about 1 km east
        page.wait_for_selector('#locbar[data-state="outside"]')
        phone.take_photo("P01", 1)
        phone.item("P01", "refused")
        assert "围栏外" in page.wait_for_selector(".toast.error").text_content()
        phone.move()  # back on site for the next photo
        page.wait_for_selector('#locbar[data-state="inside"]')
        # The toast as it stands right after the refusal (kept up for the check, however slow the machine), and the
        # next item's 拍照 button scrolled to exactly where the toast is.
        covered = page.evaluate(
            """(sel) => {
                const toast = document.getElementById("toast");
                toast.hidden = false;
                const button = document.querySelector(sel);
                const t = toast.getBoundingClientRect();
                window.scrollBy(0, button.getBoundingClientRect().top - t.top);
                const b = button.getBoundingClientRect();
                return b.top < t.bottom && b.bottom > t.top;
            }""",
            '[data-item="P05"] .shoot',
        )
        assert covered
        phone.take_photo("P05", 2)  # taps 「拍照」 under the toast: the in-app camera opens
        phone.item("P05", "uploaded")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT checklist_code FROM st_photos")).scalars().all() == ["P05"]
        phone.check_errors()
    finally:
        phone.context.close()


def test_officer_reaches_stage_registration_from_the_menu(browser, server, world, engine, tmp_path):
    """A district officer's phone: 辖区工地 in the menu lists the sites of the district (none of another), a search
    finds one, its screen offers the stage registration, which is stored for that site — no address typed by hand,
    and no registered project needed."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE st_registrations, st_stage_evals, st_photos CASCADE"))
    make_user("st-screens-officer", ["district_staff"], district="西湖区")
    officer = Phone(browser, (server, None), world[XH], tmp_path, camera=False)
    page = officer.page
    try:
        officer.sign_in("st-screens-officer", TEST_PASSWORD)
        officer.screen("projects")
        assert page.is_visible("#sites-link")  # no registered project in the district: pointed to 辖区工地
        page.tap("#menu-button")
        page.tap("#menu-sites")
        officer.screen("sites")
        codes = page.eval_on_selector_all("#sites-list [data-site]", "els => els.map((e) => e.dataset.site)")
        assert XH in codes and "XH-2026-0003" in codes and YH not in codes, codes
        page.fill("#sites-q", "文三路")
        page.tap("#sites-search button[type=submit]")
        page.wait_for_selector("#sites-count >> text=共 1 个工地")
        page.tap(f'[data-site="{XH}"]')
        officer.screen("site")
        assert "尚未注册标化工地账号" in page.text_content("#view")
        page.tap('[data-stage-new="foundation"]')
        officer.screen("stage-new")
        page.wait_for_selector('#locbar[data-state="inside"]')
        page.select_option("#s-result", "合格")
        page.fill("#s-score", "85")
        page.tap("#stage-submit")
        officer.screen("stage")
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT site_id, stage, result, created_by, inside_fence FROM st_stage_evals")
            ).all()
        assert [tuple(r) for r in rows] == [(world[XH]["site_id"], "foundation", "合格", "st-screens-officer", True)]
        officer.check_errors()
    finally:
        officer.context.close()


def test_district_choices_follow_the_scope(client, world, engine):
    """Both district lists (the workbench's /api/divisions/districts, the map's /api/districts) mark the districts in
    the account's scope: a district account its own, a unit its project's, city-wide and anonymous all 13."""
    with engine.connect() as conn:
        names = conn.execute(text("SELECT name FROM districts ORDER BY code")).scalars().all()
    assert len(names) == 13
    clerk = make_user("st-screens-yuhang", ["district_staff"], district="余杭区")
    city = make_user("st-screens-city", ["city_supervisor"])
    unit = make_user("st-screens-unit", ["construction_unit"], grants={"sites": [world[XH]["site_id"]]})
    for path in ("/api/divisions/districts", "/api/districts"):
        for headers, expected in ((clerk, ["余杭区"]), (unit, ["西湖区"]), (city, names), ({}, names)):
            got = client.get(path, headers=headers).json()["districts"]
            assert [d["name"] for d in got] == names, path  # every district is still listed (the map's extent)
            assert [d["name"] for d in got if d["in_scope"]] == expected, (path, expected)


def test_map_district_picker_follows_the_scope(browser, server):
    """The map page's district picker of a district account signed in (on the workbench: the same session) offers
    全市 and its own district only."""
    from playwright.sync_api import expect

    make_user("st-screens-binjiang", ["district_staff"], district="滨江区")
    errors: list[str] = []
    page = _page(browser, errors)
    page.goto(server + "/st")
    _sign_in(page, "st-screens-binjiang", TEST_PASSWORD)
    expect(page.locator("#whoami")).to_contain_text("st-screens-binjiang")
    page.goto(server + "/")
    expect(page.locator("#district-select option")).to_have_text(["全市", "滨江区"])
    page.context.close()
    assert not errors, errors


def test_expert_login_page_says_single_use_and_resends(browser, server, world, engine):
    """The expert's SMS says that the code signs in once and until when the review window is open; the login page
    says so too; the second sign-in with the used code is refused with the way out, and 「重新发送动态密码」 right
    there texts a new code that signs in."""
    from datetime import UTC, datetime

    from playwright.sync_api import expect

    from api.accounts import otp
    from api.accounts import users as accounts
    from geo.db import transaction

    phone = "13900000077"
    start, end = datetime.now(UTC) - timedelta(minutes=5), datetime.now(UTC) + timedelta(days=3)
    make_user("st-screens-expert", ["expert"], phone=phone)
    with transaction() as conn:
        uid = conn.execute(text("SELECT id FROM users WHERE username = 'st-screens-expert'")).scalar()
        accounts.grant(conn, uid, "sites", world[XH]["site_id"], "expert", start, end, actor="test")
        code = otp.issue(conn, uid, start, end, actor="draw", what="标化工地专家评审")
    with engine.begin() as conn:  # texted at the draw, a while ago
        conn.execute(
            text("UPDATE otp_codes SET created_at = now() - interval '2 hours' WHERE user_id = :u"), {"u": uid}
        )

    def texts() -> list[str]:
        with engine.connect() as conn:
            return (
                conn.execute(text("SELECT body FROM sms_outbox WHERE phone = :p ORDER BY id"), {"p": phone})
                .scalars()
                .all()
            )

    (sms,) = texts()
    closes = end.astimezone(otp.TZ).strftime("%m月%d日%H:%M")
    assert code in sms and "只能登录一次" in sms and f"至 {closes}" in sms and "重新发送动态密码" in sms

    errors: list[str] = []
    page = _page(browser, errors)
    page.goto(server + "/st")
    page.locator("#login-switch").click()
    expect(page.locator("#otp-rules")).to_contain_text("动态密码只能登录一次")
    login = page.locator("#login")
    login.locator("input[name=login]").fill(phone)
    login.locator("input[name=code]").fill(code)
    login.locator("button[type=submit]").click()
    expect(page.locator("#whoami")).to_contain_text("st-screens-expert")
    page.locator("#logout").click()

    # The same code again: refused, with the way out; the resend is right there.
    page.locator("#login-switch").click()
    login.locator("input[name=login]").fill(phone)
    login.locator("input[name=code]").fill(code)
    login.locator("button[type=submit]").click()
    expect(login.locator(".field[data-field=code] .field-error")).to_contain_text("重新发送动态密码")
    page.locator("#otp-resend").click()
    expect(page.locator("#otp-sent")).to_contain_text("只能登录一次")
    assert len(texts()) == 2
    fresh = re.search(r"动态密码：(\d+)", texts()[-1]).group(1)
    assert fresh != code and f"至 {closes}" in texts()[-1]
    login.locator("input[name=code]").fill(fresh)
    login.locator("button[type=submit]").click()
    expect(page.locator("#whoami")).to_contain_text("st-screens-expert")
    with engine.connect() as conn:
        used = conn.execute(
            text("SELECT count(*) FROM otp_codes WHERE user_id = :u AND used_at IS NOT NULL"), {"u": uid}
        ).scalar()
    assert used == 2
    page.context.close()
    assert not errors, errors


def test_bonus_evidence_scan_from_the_office_pc(browser, server, client, world, engine, tmp_path):
    """On the workbench, a PC in the office 7 km from the site: the construction unit declares a bonus item, uploads
    the certificate as a PDF (no position asked, no fence) and submits the claim."""
    from playwright.sync_api import expect

    _, passwords = _fresh_accounts(client, engine, world, ("71", "72"))
    site = world[XH]
    errors: list[str] = []
    context = browser.new_context(
        viewport={"width": 1366, "height": 900},
        locale="zh-CN",
        permissions=["geolocation"],
        geolocation={"longitude": site["lon"] + 0.07, "latitude": site["lat"], "accuracy": 20},
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.goto(server + "/st#bonus")
    _sign_in(page, f"sg-{XH}", passwords[f"sg-{XH}"])
    pane = page.locator(".pane[data-tab=bonus]")
    pane.locator("button", has_text="申报加分项").click()
    dlg = page.locator("dialog")
    dlg.locator("select[name=site_id]").select_option(str(site["site_id"]))
    dlg.locator("select[name=item_code]").select_option("B01")
    dlg.locator("button[type=submit]").click()
    detail = page.locator("article.detail")
    expect(detail.locator(".status")).to_have_text("草稿")
    pdf = tmp_path / "省级示范工地证书.pdf"
    pdf.write_bytes(PDF)
    detail.locator("input[name=name]").fill("省级示范工地证书")
    detail.locator("input[type=file][name=file]").first.set_input_files(str(pdf))
    detail.locator("button[type=submit]", has_text="上传佐证材料").click()
    expect(page.locator("#toast")).to_contain_text("佐证材料已上传")
    expect(detail.locator("a", has_text="省级示范工地证书")).to_have_count(1)
    detail.locator(".actionbar button[data-action=submit]").click()
    page.locator("dialog button[type=submit]").click()  # 确定要「提交」吗？
    expect(detail.locator(".status")).to_have_text("待监理审核")
    with engine.connect() as conn:
        claim = conn.execute(
            text("SELECT id, status FROM st_bonus_claims WHERE site_id = :s"), {"s": site["site_id"]}
        ).one()
        assert claim.status == "submitted"
        assert conn.execute(
            text("SELECT name, content_type FROM st_attachments WHERE bonus_claim_id = :c"), {"c": claim.id}
        ).all() == [("省级示范工地证书", "application/pdf")]
    context.close()
    assert not errors, errors
