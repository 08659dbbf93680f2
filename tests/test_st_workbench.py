"""The standardized-site workbench for PC browsers at ``/st`` (SPEC X-04): the page and its modules as served, and
the page in Debian's Chromium (driven by Playwright). The construction unit files this month's report through the
API with its photos. The supervision unit signs in on the page with the password texted at registration, replaces
it first (the page insists), opens the report, sees the photos, returns it with a reason (first without one: the
server's error is shown at the reason field) and sees it 已退回. The 西湖区 clerk then sees the numbers in the
statistics tab, and the Excel export of the same query."""

from __future__ import annotations

import io
import os
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from tests import st_world
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, TEST_PASSWORD, make_user, running_server, set_environment

XH = "XH-2026-0001"
SUPERVISION = f"jl-{XH}"
CLERK = "st-workbench-clerk"
FORM = {"progress": "主体结构施工至 12 层", "workers": 86, "safety_checks": 4, "hazards_found": 3, "hazards_fixed": 3}
REQUIRED_PHOTOS = ("P01", "P02", "P03", "P05", "P06")
NEW_PASSWORD = "Jianli-2026-workbench"
REASON = "扬尘治理照片不清晰，请重新拍摄后提交"
# The one error the test provokes on purpose: 退回 without a reason (422, shown at the reason field).
EXPECTED_CONSOLE = ("status of 422",)


def _month() -> str:
    return datetime.now(timezone(timedelta(hours=8))).strftime("%Y-%m")


# -- the server side --------------------------------------------------------------------------------------------


def test_page_is_served(client):
    r = client.get("/st")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'lang="zh-CN"' in r.text and "标化工地" in r.text and '<script type="module" src="/st/js/main.js">' in r.text
    assert r.headers["cache-control"] == "no-cache" and r.headers["etag"]
    assert client.get("/st", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    # Every module the page imports is served as JavaScript.
    main = client.get("/st/js/main.js")
    assert main.status_code == 200 and main.headers["content-type"].startswith("text/javascript")
    seen, todo = set(), ["/st/js/main.js"]
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        got = client.get(url)
        assert got.status_code == 200 and "javascript" in got.headers["content-type"], url
        base = url.rsplit("/", 1)[0]
        todo += [f"{base}/{m}" for m in re.findall(r'from "\./([\w.]+\.js)"', got.text)]
        todo += re.findall(r'from "(/static/[\w/.]+\.js)"', got.text)
    names = {u.rsplit("/", 1)[1] for u in seen}
    assert {"http.js", "ui.js", "records.js", "cases.js", "stats.js"} <= names
    assert "/static/console/http.js" in seen  # shared with the back office
    assert client.get("/st/st.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/console/console.css").headers["content-type"].startswith("text/css")
    for bad in ("/st/nope.js", "/st/%2e%2e/%2e%2e/pyproject.toml", "/st/js/../../../api/app.py"):
        assert client.get(bad).status_code == 404, bad


# -- the page in a browser --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(engine, app, tmp_path_factory):
    """The small ST world with the 西湖区 project registered; this month's report filed by the construction unit
    (form, every required photo inside the fence) and submitted; the initial password of the supervision unit."""
    from fastapi.testclient import TestClient

    restore = set_environment(CHENGJIAN_FILES_DIR=str(tmp_path_factory.mktemp("files")))
    info = st_world.build(engine)
    site = info[XH]
    with TestClient(app) as c:
        r = c.post(
            "/api/st/registrations", json=st_world.registration(XH, site, st_world.PROJECTS["西湖区"]["permit"], "01")
        )
        assert r.status_code == 201, r.text
        passwords = {}
        with engine.connect() as conn:
            for acc in r.json()["accounts"]:
                body = conn.execute(
                    text("SELECT body FROM sms_outbox WHERE body LIKE :u ORDER BY id DESC LIMIT 1"),
                    {"u": f"%{acc['username']}%"},
                ).scalar()
                passwords[acc["username"]] = re.search(r"初始密码：(\w+)", body).group(1)
        r = c.post("/api/auth/token", json={"username": f"sg-{XH}", "password": passwords[f"sg-{XH}"]})
        assert r.status_code == 200, r.text
        sg = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = c.post(f"/api/st/sites/{site['site_id']}/reports", headers=sg, json={"month": _month(), "form": FORM})
        assert r.status_code == 201, r.text
        report = r.json()
        for i, code in enumerate(REQUIRED_PHOTOS):
            lon, lat = site["lon"] + 0.0003 * i, site["lat"]
            now = datetime.now(UTC)
            r = c.post(
                f"/api/st/report/{report['id']}/photos",
                headers=sg,
                files={"file": (f"IMG_{i}.jpg", io.BytesIO(st_world.jpeg(lon, lat, now)), "image/jpeg")},
                data={
                    "checklist_code": code,
                    "lon": str(lon),
                    "lat": str(lat),
                    "accuracy_m": "8",
                    "taken_at": now.isoformat(),
                },
            )
            assert r.status_code == 201, r.text
        r = c.post(f"/api/st/reports/{report['id']}/actions/submit", headers=sg)
        assert r.status_code == 200 and r.json()["status"] == "submitted", r.text
    make_user(CLERK, ["district_staff"], district="西湖区")
    yield {**info, "report_id": report["id"], "supervision_password": passwords[SUPERVISION]}
    restore()


@pytest.fixture(scope="module")
def server(app):
    with running_server(app) as base:
        yield base


def _sign_in(page, username, password):
    login = page.locator("#login")
    login.locator("input[name=username]").fill(username)
    login.locator("input[name=password]").fill(password)
    login.locator("button[type=submit]").click()


def test_review_and_statistics_in_browser(world, server, engine):
    from playwright.sync_api import expect, sync_playwright

    assert os.path.exists(CHROMIUM), "Debian's chromium is needed (make system-deps installs it)"
    month, rid = _month(), world["report_id"]
    expect.set_options(timeout=15_000)  # a loaded CI machine; restored below
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN").new_page()
            page.set_default_timeout(15_000)
            errors: list[str] = []
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            page.goto(server + "/st")

            # The supervision unit: the tabs its permissions allow, the submitted report in the list.
            _sign_in(page, SUPERVISION, world["supervision_password"])
            expect(page.locator("#whoami")).to_contain_text(SUPERVISION)
            # The password texted at registration is an initial one: a new one first (the dialog cannot be closed).
            forced = page.locator("dialog:has(#password-form)")
            expect(forced.locator("header .close")).to_be_hidden()
            forced.locator("input[name=old_password]").fill(world["supervision_password"])
            forced.locator("input[name=new_password]").fill(NEW_PASSWORD)
            forced.locator("input[name=again]").fill(NEW_PASSWORD)
            forced.locator("button[type=submit]").click()
            expect(page.locator("dialog")).to_have_count(0)
            expect(page.locator(".tab")).to_have_text(
                ["月度申报", "加分项", "考评申报", "减分项", "阶段考评", "通知公告", "项目信息"]
            )
            row = page.locator(".pane[data-tab=reports] tbody tr", has_text=month)
            expect(row).to_have_count(1)
            expect(row).to_contain_text("待监理审核")
            expect(row).to_contain_text(XH)
            row.click()

            # The detail: form values, the photos (thumbnails loaded, each linking to its original), the actions.
            detail = page.locator(f"article.detail[data-id='{rid}']")
            expect(detail.locator(".status")).to_have_text("待监理审核")
            expect(detail).to_contain_text("主体结构施工至 12 层")
            photos = detail.locator(".photo")
            expect(photos).to_have_count(len(REQUIRED_PHOTOS))
            expect(photos.first).to_contain_text("围栏内")
            page.wait_for_function(
                "[...document.querySelectorAll('.photo img')].every((i) => i.complete && i.naturalWidth > 0)"
            )
            assert photos.first.locator("a").get_attribute("href").endswith("/file")
            expect(detail.locator(".actionbar button[data-action]")).to_have_text(["审核通过", "退回"])

            # 退回: without a reason the server's error is shown at the reason field; with one, the report is returned.
            detail.locator("button[data-action=return]").click()
            dlg = page.locator("dialog")
            dlg.locator("button[type=submit]").click()
            expect(dlg.locator(".field[data-field=reason] .field-error")).to_contain_text("理由")
            dlg.locator("textarea[name=reason]").fill(REASON)
            dlg.locator("button[type=submit]").click()
            expect(page.locator("dialog")).to_have_count(0)
            expect(detail.locator(".status")).to_have_text("已退回")
            expect(detail).to_contain_text(REASON)
            expect(detail.locator(".actionbar button[data-action]")).to_have_count(0)
            with engine.connect() as conn:
                assert conn.execute(
                    text("SELECT status, return_reason FROM st_reports WHERE id = :r"), {"r": rid}
                ).one() == ("returned", REASON)

            page.locator("#logout").click()
            expect(page.locator("#login")).to_be_visible()

            # The 西湖区 clerk: the statistics of this year up to this month, and the export of the same query.
            _sign_in(page, CLERK, TEST_PASSWORD)
            expect(page.locator("#whoami")).to_contain_text(CLERK)
            expect(page.locator(".tab[data-tab=stats]")).to_have_text("统计")
            page.locator(".tab[data-tab=stats]").click()
            stats = page.locator(".pane[data-tab=stats]")
            # The district choices follow the account's scope (/api/divisions/districts, none in the JS): a 西湖区
            # account is offered 西湖区 only, chosen already.
            expect(stats.locator("select[name=district] option")).to_have_text(["全部", "西湖区"])
            expect(stats.locator("select[name=district]")).to_have_value("西湖区")
            expect(stats.locator("[data-total=reports] b")).to_have_text("1")
            monthly = stats.locator("[data-table=monthly] tbody tr", has_text=month)
            expect(monthly).to_have_count(1)
            # 区县, 月份, 已注册工地, 月报数, 已提交, 逾期提交, 未按期申报 (not yet due: —)
            expect(monthly.locator("td")).to_have_text(["西湖区", month, "1", "1", "1", "0", "—"])
            expect(stats.locator("[data-table=reports] tbody tr", has_text="已退回")).to_contain_text("1")
            href = stats.locator("#stats-export").get_attribute("href")
            assert href.startswith("/api/st/stats.xlsx?") and f"to={month}" in href and "district=" in href
            xlsx = page.request.get(server + href)
            assert xlsx.status == 200 and xlsx.body()[:2] == b"PK"

            unexpected = [e for e in errors if not any(x in e for x in EXPECTED_CONSOLE)]
            assert not unexpected, unexpected
            assert len(errors) <= 1, errors
        finally:
            browser.close()
            expect.set_options(timeout=5_000)
