"""The farmhouse overview (/villages/overview, VT-01) and archives (/villages/archives, VT-03) in Debian's Chromium against the live app: the city sees the
figures, the two charts, the map and the table agree with the API (and the table with the database); a click on
西湖区 drills down to its townships; a district clerk sees only his district; an administrator uploads a 杭派民居
image with its caption through the page and the clerk sees it in the gallery, while the clerk is offered no upload;
on the archives page the clerk tries a file with a bad row (named by its number, nothing stored), imports the
corrected file, finds the houses (owner names masked) and counts them; the city asks the district to report and the
clerk reports."""

from __future__ import annotations

import io
import os
import uuid
from datetime import date, timedelta

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import text

from tests.conftest import TEST_PASSWORD, make_user, running_server, set_environment
from tests.test_st_workbench import CHROMIUM, CHROMIUM_ARGS
from tests.test_vil_archives import XH, YH, row, upload, xlsx


@pytest.fixture(scope="module")
def accounts(engine, app, tmp_path_factory):
    from fastapi.testclient import TestClient

    restore = set_environment(CHENGJIAN_FILES_DIR=str(tmp_path_factory.mktemp("vil-ov-files")))
    tag = uuid.uuid4().hex[:6].upper()
    names = {"city": f"vov-city-{tag}", "xh": f"vov-xh-{tag}", "admin": f"vov-admin-{tag}"}
    city = make_user(names["city"], ["city_supervisor"])
    make_user(names["xh"], ["district_staff"], district=XH)
    make_user(names["admin"], ["admin"])
    where = {}
    with engine.connect() as conn:
        for d in (XH, YH):
            where[d] = conn.execute(
                text(
                    "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts WHERE name = :d) s"
                ),
                {"d": d},
            ).one()
    world = {XH: tuple(round(v, 6) for v in where[XH]), YH: tuple(round(v, 6) for v in where[YH])}
    p = f"OV{tag}-"
    rows = [row(world, f"{p}{i}", **{"乡镇街道": "转塘街道"}) for i in range(3)]
    rows += [row(world, f"{p}B", **{"建设状态": "在建", "建设阶段": "主体结构", "乡镇街道": "留下街道"})]
    rows += [row(world, f"{p}Y", YH, **{"乡镇街道": "仓前街道"})]
    with TestClient(app) as c:
        r = upload(c, city, xlsx(rows), "总览.xlsx")
        assert r.status_code == 201, r.text
    yield names
    restore()


@pytest.fixture(scope="module")
def server(app, accounts):
    with running_server(app) as base:
        yield base


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "Debian's chromium is needed (make system-deps installs it)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Session:
    def __init__(self, browser, base: str, username: str, path: str = "/villages/overview") -> None:
        from playwright.sync_api import expect

        self.base = base
        self.context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.goto(base + path)
        login = self.page.locator("#login")
        login.locator("input[name=username]").fill(username)
        login.locator("input[name=password]").fill(TEST_PASSWORD)
        login.locator("button[type=submit]").click()
        expect(self.page.locator("#whoami")).to_contain_text(username)

    def api(self, path: str) -> dict:
        return self.page.evaluate("(p) => fetch(p).then((r) => r.json())", path)

    def close(self) -> None:
        self.context.close()
        unexpected = [e for e in self.errors if "status of 422" not in e]
        assert not unexpected, unexpected


def figure(page, key: str) -> int:
    return int(page.locator(f"[data-figure={key}] .value").inner_text().replace(",", ""))


def test_the_city_sees_figures_charts_and_map_together_and_drills_down(browser, server, accounts, engine):
    from playwright.sync_api import expect

    s = Session(browser, server, accounts["city"])
    page = s.page
    expect(page.locator("body")).to_have_attribute("data-loaded", "city")
    data = s.api("/api/villages/overview")
    with engine.connect() as conn:
        houses = conn.execute(text("SELECT count(*) FROM farmhouses WHERE deleted_at IS NULL")).scalar()
        building = conn.execute(
            text("SELECT count(*) FROM farmhouses WHERE deleted_at IS NULL AND status = '在建'")
        ).scalar()
    assert figure(page, "houses") == data["totals"]["houses"] == houses
    assert figure(page, "building") == data["totals"]["building"] == building
    for chart in ("#chart-areas", "#chart-stages"):
        expect(page.locator(f"{chart} canvas")).to_have_count(1)
    names = page.evaluate("() => echarts.getInstanceByDom(document.getElementById('chart-stages'))"
                          ".getOption().xAxis[0].data")  # fmt: skip
    assert names[0] == "未开工" and "主体结构" in names
    expect(page.locator("body")).to_have_attribute("data-map-ready", "true")
    shown = page.evaluate("() => window.overviewAreas.features.map((f) => f.properties.name)")
    assert {XH, YH} <= set(shown)
    expect(page.locator("#table thead")).to_contain_text("在建·主体结构")
    # Drill down: the 西湖区 line of the table.
    page.locator("#table tr", has_text=XH).first.click()
    expect(page.locator("body")).to_have_attribute("data-loaded", XH)
    expect(page.locator("#table")).to_contain_text("转塘街道")
    expect(page.locator("#table")).to_contain_text("留下街道")
    assert figure(page, "houses") == s.api(f"/api/villages/overview?district={XH}")["totals"]["houses"]
    s.close()


def jpeg() -> bytes:
    im = Image.new("RGB", (320, 200), (236, 236, 230))
    d = ImageDraw.Draw(im)
    d.polygon([(40, 110), (160, 40), (280, 110)], fill=(40, 40, 48))  # a dark tiled roof
    d.rectangle([(60, 110), (260, 190)], fill=(250, 250, 248), outline=(90, 90, 90))  # a white wall
    d.rectangle([(145, 140), (175, 190)], fill=(110, 70, 40))  # a wooden door
    d.point([(uuid.uuid4().int % 300 + 10, 10)], fill=(0, 0, 0))  # one pixel of this run: a new image each time
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_an_administrator_adds_a_gallery_image_the_clerk_sees(browser, server, accounts, tmp_path):
    from playwright.sync_api import expect

    title = f"白墙黛瓦{uuid.uuid4().hex[:4]}"
    path = tmp_path / "民居.jpg"
    path.write_bytes(jpeg())
    s = Session(browser, server, accounts["admin"])
    page = s.page
    page.locator("#gallery-add").click()
    dlg = page.locator("dialog")
    dlg.locator("input[name=file]").set_input_files(str(path))
    dlg.locator("button[type=submit]").click()
    expect(dlg.locator(".field[data-field=title] .field-error")).to_be_visible()  # no title: refused in the form
    dlg.locator("input[name=title]").fill(title)
    dlg.locator("textarea[name=caption]").fill("桐庐县江南镇的杭派民居：白墙、黛瓦、马头墙")
    dlg.locator("button[type=submit]").click()
    expect(page.locator("#gallery figure", has_text=title)).to_be_visible()
    s.close()

    clerk = Session(browser, server, accounts["xh"])
    page = clerk.page
    expect(page.locator("body")).to_have_attribute("data-loaded", XH)
    assert page.locator("#district option").all_inner_texts() == [XH]
    fig = page.locator("#gallery figure", has_text=title)
    expect(fig).to_contain_text("马头墙")
    expect(fig.locator("img")).to_have_js_property("complete", True)
    assert fig.locator("img").evaluate("(i) => i.naturalWidth") > 0
    expect(page.locator("#gallery-add")).to_have_count(0)
    expect(fig.locator("button")).to_have_count(0)
    shown = clerk.api("/api/villages/overview")
    assert {r["name"] for r in shown["rows"]} == {XH}
    clerk.close()


def test_the_archives_page_imports_searches_counts_and_reports(browser, server, accounts, engine, tmp_path):
    from playwright.sync_api import expect

    from tests.test_vil_archives import HEADER

    p = f"AP{uuid.uuid4().hex[:6].upper()}-"
    with engine.connect() as conn:
        x, y = conn.execute(
            text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts WHERE name = :d) s"),
            {"d": XH},
        ).one()
    world = {XH: (round(x, 6), round(y, 6))}
    bad = tmp_path / "农房档案.xlsx"
    bad.write_bytes(xlsx([row(world, p + "1"), row(world, p + "2", **{"建设阶段": "封顶", "建设状态": "在建"})]))
    assert HEADER[0] == "农房编号"
    s = Session(browser, server, accounts["xh"], "/villages/archives#import")
    page = s.page
    page.locator("input[name=file]").set_input_files(str(bad))
    page.get_by_role("button", name="试导入（只检查）").click()
    report = page.locator("#import-report")
    expect(report).to_contain_text("未通过 1 行")
    expect(report.locator("tbody tr")).to_have_count(1)
    expect(report.locator("tbody tr td").first).to_have_text("3")
    expect(report).to_contain_text("封顶")
    page.locator("#commit").click()
    expect(report).to_contain_text("未导入任何农房")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM farmhouses WHERE code LIKE :p"), {"p": p + "%"}).scalar() == 0
    good = tmp_path / "农房档案2.xlsx"
    good.write_bytes(xlsx([row(world, p + "1"), row(world, p + "2", **{"建设阶段": "主体结构", "建设状态": "在建"})]))
    page.locator("input[name=file]").set_input_files(str(good))
    page.locator("#commit").click()
    expect(report).to_contain_text("通过 2 行")
    expect(page.locator("#import-log")).to_contain_text("已导入 2 行")
    with engine.connect() as conn:
        got = conn.execute(
            text("SELECT code, stage, source FROM farmhouses WHERE code LIKE :p ORDER BY code"), {"p": p + "%"}
        ).all()
    assert [tuple(r) for r in got] == [(p + "1", None, "import"), (p + "2", "structure", "import")]

    page.get_by_role("tab", name="档案检索").click()
    page.locator("form.filters input[name=code]").fill(p)
    page.get_by_role("button", name="查询").click()
    expect(page.locator(".list tbody tr")).to_have_count(2)
    expect(page.locator(".list tbody")).to_contain_text("王**")
    expect(page.locator(".list tbody")).not_to_contain_text("王建国")
    expect(page.locator(".list tbody")).to_contain_text("主体结构")

    page.get_by_role("tab", name="统计").click()
    expect(page.locator("body")).to_have_attribute("data-stats", "district")
    expect(page.locator("#stats-chart canvas")).to_have_count(1)
    expect(page.locator("#stats-table")).to_contain_text(XH)
    s.close()

    title = f"上报转塘农房{uuid.uuid4().hex[:4]}"
    city = Session(browser, server, accounts["city"], "/villages/archives#requests")
    page = city.page
    page.locator("#new-request").click()
    dlg = page.locator("dialog")
    dlg.locator("select[name=district]").select_option(XH)
    dlg.locator("input[name=title]").fill(title)
    dlg.locator("input[name=deadline]").fill((date.today() + timedelta(days=10)).isoformat())
    dlg.locator("button[type=submit]").click()
    expect(page.locator("#requests tr", has_text=title)).to_contain_text("待上报")
    city.close()

    clerk = Session(browser, server, accounts["xh"], "/villages/archives#requests")
    page = clerk.page
    line = page.locator("#requests tr", has_text=title)
    line.get_by_role("button", name="完成上报").click()
    dlg = page.locator("dialog")
    dlg.locator("textarea[name=note]").fill("已在市级系统补录两户")
    dlg.locator("button[type=submit]").click()
    expect(line).to_contain_text("已上报")
    expect(line).to_contain_text("已在市级系统补录两户")
    clerk.close()
