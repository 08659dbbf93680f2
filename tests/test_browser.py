"""The one map in a real browser: Playwright driving Debian's Chromium against the app on a free port,
with the demo data set loaded (2,000 farmhouses).

Every test fails on any console error or uncaught page error (except the 401 and 422 a test provokes on purpose).
Anonymous visitors read every layer (role leader, as with `make run`); editing signs in through the page's
「登录」 form as a real account.
"""

from __future__ import annotations

import base64
import csv
import math
import os

import httpx
import mapbox_vector_tile
import pytest
from sqlalchemy import text

from tests.conftest import LEADER, TEST_PASSWORD, business_tables, make_user, running_server
from tests.test_tasks import queue, worker  # noqa: F401 - a fixture and a helper

DESKTOP = {"width": 1024, "height": 640}
PHONE = {"width": 390, "height": 844}
EDITOR = "map-editor"  # the account the drawing tests sign in as (role admin)


# -- fixtures: data, server, browser ------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(engine):
    """The demo data set; anonymous visitors read every layer, as with `make run` (role leader)."""
    from etl.demo import build_demo
    from geo.settings import get_settings

    build_demo(farmhouses=2000, seed=1, reset=True, engine=engine, scale=0.02)
    before = os.environ.get("CHENGJIAN_ANONYMOUS_ROLES")
    os.environ["CHENGJIAN_ANONYMOUS_ROLES"] = "leader"
    get_settings.cache_clear()
    yield
    os.environ["CHENGJIAN_ANONYMOUS_ROLES"] = before or "public"
    get_settings.cache_clear()
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(business_tables())}, audit_log RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="module")
def server(app, demo):
    with running_server(app) as base:
        yield base


class MapPage:
    """A page showing the map, collecting console errors."""

    def __init__(self, browser, base: str, viewport: dict) -> None:
        self.base = base
        # Reduced motion: the map jumps instead of flying (as it does for users who ask for it).
        self.context = browser.new_context(viewport=viewport, locale="zh-CN", reduced_motion="reduce")
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def open(self) -> MapPage:
        self.page.goto(self.base + "/")
        self.page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
        self.idle()
        return self

    def js(self, expr: str, arg=None):
        return self.page.evaluate(expr, arg)

    IDLE = """new Promise(r => { const m = window.chengjianMap;
        m.once('idle', () => r(true)); m.triggerRepaint(); setTimeout(() => r(false), 15000); })"""

    def idle(self) -> None:
        """Wait until the map has loaded every tile it asked for and finished drawing (MapLibre's idle)."""
        assert self.js(self.IDLE), "the map did not settle within 15 s"

    def rendered(self, layer: str) -> list[dict]:
        return self.js(f"""window.chengjianMap.queryRenderedFeatures({{layers: ['{layer}']}})
                          .map(f => ({{id: f.properties.id, props: f.properties, geometry: f.geometry}}))""")

    def jump(self, lon: float, lat: float, zoom: float) -> None:
        self.js(f"window.chengjianMap.jumpTo({{center: [{lon}, {lat}], zoom: {zoom}}})")
        self.idle()

    def map_point(self, lon: float, lat: float) -> tuple[float, float]:
        """Page coordinates of a location on the map."""
        return tuple(
            self.js(f"""(() => {{
            const m = window.chengjianMap, p = m.project([{lon}, {lat}]), r = m.getCanvas().getBoundingClientRect();
            return [r.left + p.x, r.top + p.y]; }})()""")
        )

    def reset(self) -> None:
        """No popup, no errors seen yet (each test then moves the map where it needs it)."""
        self.errors.clear()
        self.js("document.querySelectorAll('.maplibregl-popup').forEach(p => p.remove())")

    def sign_in(self, username: str, password: str = TEST_PASSWORD) -> None:
        """Sign in through the top bar's form; returns once the page shows what the user may see."""
        page = self.page
        if page.locator("#login-form").is_hidden():
            page.click("#login-button")
        page.fill("#login-username", username)
        page.fill("#login-password", password)
        page.click("#login-submit")
        page.wait_for_function("(u) => document.body.dataset.user === u", arg=username, timeout=10_000)
        self.idle()

    def sign_out(self) -> None:
        self.page.click("#logout-button")
        self.page.wait_for_function("document.body.dataset.user === ''", timeout=10_000)
        self.idle()

    def check_errors(self, allowed: tuple[str, ...] = ()) -> None:
        unexpected = [e for e in self.errors if not any(a in e for a in allowed)]
        assert not unexpected, unexpected

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def desktop_page(browser, server):
    page = MapPage(browser, server, DESKTOP).open()
    yield page
    page.close()


@pytest.fixture()
def desktop(desktop_page):
    """One page for the desktop tests (the map loads once; the first test sees the whole city)."""
    desktop_page.reset()
    return desktop_page


def features(server: str, layer: str, **params) -> list[dict]:
    r = httpx.get(f"{server}/api/layers/{layer}/features", params=params, headers=LEADER)
    assert r.status_code == 200, r.text
    return r.json()["features"]


def pixel_stats(page: MapPage) -> dict:
    """Statistics of the map canvas as a person sees it (a screenshot decoded in the page)."""
    png = base64.b64encode(page.page.locator("#map canvas").screenshot()).decode()
    return page.js(
        """async (b64) => {
        const img = new Image(); img.src = 'data:image/png;base64,' + b64; await img.decode();
        const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
        const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
        const d = ctx.getImageData(0, 0, c.width, c.height).data;
        const colors = new Set(); let sum = 0, sq = 0; const n = d.length / 4;
        const bg = [d[0], d[1], d[2]]; let differ = 0;
        for (let i = 0; i < d.length; i += 4) {
          const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2]; sum += y; sq += y * y;
          colors.add((d[i] >> 3) << 10 | (d[i + 1] >> 3) << 5 | (d[i + 2] >> 3));
          if (Math.abs(d[i] - bg[0]) + Math.abs(d[i + 1] - bg[1]) + Math.abs(d[i + 2] - bg[2]) > 30) differ++;
        }
        const mean = sum / n;
        return {std: Math.sqrt(sq / n - mean * mean), colors: colors.size, drawn: differ / n};
    }""",
        png,
    )


# -- tests --------------------------------------------------------------------------------------------


def test_map_loads_and_draws_the_city(desktop):
    stats = pixel_stats(desktop)
    assert stats["std"] > 10 and stats["colors"] > 50, stats
    assert stats["drawn"] > 0.2, stats  # districts and features cover a good part of the canvas
    names = {f["props"]["name"] for f in desktop.rendered("districts-label")}
    assert len(names) >= 10 and "西湖区" in names, names  # the labels were placed: their glyphs loaded
    assert len(desktop.rendered("districts")) >= 13
    assert desktop.rendered("sites") and desktop.rendered("greenways")
    panel = desktop.page.locator("#panel")
    assert panel.is_visible()
    assert panel.locator(".group h3").all_inner_texts()[:2] == ["基础地理", "标化工地"]
    row = panel.locator('.layer[data-layer="sites"]')
    assert "建设工地" in row.inner_text() and "在建" in row.inner_text()
    desktop.page.wait_for_function(
        "document.querySelector('[data-count=\"sites\"]').textContent === '600'", timeout=10_000
    )
    # The townships ship without data: their row says how to load them; a layer with features says nothing.
    hint = panel.locator('[data-empty-hint="townships"]')
    hint.wait_for(state="visible", timeout=10_000)
    assert "chengjian import" in hint.inner_text() and "--layer townships" in hint.inner_text()
    assert panel.locator(".empty-hint:visible").count() == 1
    desktop.check_errors()


def test_layer_toggles(desktop):
    desktop.jump(120.17, 30.27, 12)
    assert desktop.js("window.chengjianMap.getLayoutProperty('sites', 'visibility')") == "visible"
    assert desktop.rendered("sites")
    box = desktop.page.locator('#panel input[data-layer="sites"]')
    box.uncheck()
    desktop.idle()
    assert desktop.js("window.chengjianMap.getLayoutProperty('sites', 'visibility')") == "none"
    assert desktop.js("window.chengjianMap.getLayoutProperty('sites-label', 'visibility')") == "none"
    assert desktop.rendered("sites") == []
    box.check()
    desktop.idle()
    assert desktop.js("window.chengjianMap.getLayoutProperty('sites', 'visibility')") == "visible"
    assert desktop.rendered("sites")
    desktop.check_errors()


def test_click_opens_the_popup_of_the_feature(desktop, server):
    site = features(server, "sites", district="上城区", limit=1)[0]
    lon, lat = site["geometry"]["coordinates"]
    desktop.jump(lon, lat, 16)
    shown = [f for f in desktop.rendered("sites") if f["id"] == site["id"]]
    assert shown, "the site is drawn"
    x, y = desktop.map_point(*shown[0]["geometry"]["coordinates"])
    desktop.page.mouse.click(x, y)
    popup = desktop.page.locator(".maplibregl-popup .popup")
    popup.wait_for(timeout=5_000)
    assert popup.locator("h4").inner_text() == site["properties"]["name"]
    text_ = popup.inner_text()
    assert "建设工地" in text_ and "施工单位" in text_ and site["properties"]["construction_unit"] in text_
    link = popup.locator("a").get_attribute("href")
    assert link == f"/records/sites/{site['id']}"  # the feature's record page
    desktop.check_errors()


def test_search_flies_to_the_feature(desktop, server):
    site = features(server, "sites", district="余杭区", limit=1)[0]
    code = site["properties"]["code"]
    lon, lat = site["geometry"]["coordinates"]
    desktop.page.fill("#search-input", code)
    result = desktop.page.locator("#search-results button", has_text=site["properties"]["name"]).first
    result.wait_for(timeout=5_000)
    # (void: evaluate would otherwise wait for the promise it returns)
    desktop.js(
        "void (window.__moved = new Promise(r => {  window.chengjianMap.once('moveend', r); setTimeout(r, 10000); }))"
    )
    result.click()
    desktop.js("window.__moved")
    centre = desktop.js("window.chengjianMap.getCenter().toArray()")
    assert math.dist(centre, [lon, lat]) < 1e-4, (centre, [lon, lat])
    assert desktop.js("window.chengjianMap.getZoom()") >= 15
    popup = desktop.page.locator(".maplibregl-popup .popup h4")
    popup.wait_for(timeout=5_000)
    assert popup.inner_text() == site["properties"]["name"]
    desktop.check_errors()


def test_search_dropdown_groups_hits_under_each_layer_title(desktop, server):
    """A project named like a village: the project first, under 「建设工地」, the village's farmhouses under 「农房」."""
    from tests.conftest import ADMIN

    house = features(server, "farmhouses", district="余杭区", limit=1)[0]
    village = house["properties"]["village"]
    r = httpx.post(
        f"{server}/api/layers/sites/features",
        headers=ADMIN,
        json={
            "type": "Feature",
            "geometry": house["geometry"],
            "properties": {"code": "330110-2026-9901", "name": village},
        },
    )
    assert r.status_code == 201, r.text
    site = r.json()
    try:
        desktop.page.fill("#search-input", village)
        groups = desktop.page.locator("#search-results .search-group")
        groups.nth(1).wait_for(timeout=5_000)
        titles = groups.locator(".search-group-title").all_inner_texts()
        assert titles[0].split()[0] == "建设工地", titles
        assert groups.nth(0).get_attribute("data-layer") == "sites"
        assert groups.nth(0).locator("button").first.locator(".result-label").inner_text() == village
        farm = desktop.page.locator('#search-results .search-group[data-layer="farmhouses"]')
        assert farm.locator(".search-group-title").inner_text().split()[0] == "农房"
        shown = farm.locator("button").count()
        assert shown >= 1 and farm.locator(".search-group-count").inner_text() == str(shown)
        # Enter takes the first hit shown: the project.
        desktop.page.press("#search-input", "Enter")
        popup = desktop.page.locator(".maplibregl-popup .popup h4")
        popup.wait_for(timeout=10_000)
        assert popup.inner_text() == village
    finally:
        httpx.delete(f"{server}/api/layers/sites/features/{site['id']}?version=1", headers=ADMIN)
    desktop.check_errors()


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def tile_features(server: str, layer: str, lon: float, lat: float, z: int = 15) -> dict[int, dict]:
    """The features of ``layer`` in the tile holding (lon, lat), freshly fetched, by id."""
    x, y = tile_of(lon, lat, z)
    r = httpx.get(f"{server}/tiles/{layer}/{z}/{x}/{y}.mvt", headers=LEADER)
    assert r.status_code == 200
    tile = mapbox_vector_tile.decode(r.content)
    return {f["properties"]["id"]: f for f in tile.get(layer, {}).get("features", [])}


def canvas_points(page, fractions) -> list[tuple[float, float]]:
    box = page.locator("#map canvas").bounding_box()
    return [(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy) for fx, fy in fractions]


@pytest.fixture(scope="module")
def editor_account(database):
    make_user(EDITOR, ["admin"])
    return EDITOR


def start_drawing(desktop: MapPage, layer: str, lon: float, lat: float) -> None:
    page = desktop.page
    if desktop.js("document.body.dataset.user") != EDITOR:
        assert page.locator("#draw-bar").is_hidden()  # anonymous (leader) visitors read, they do not draw
        desktop.sign_in(EDITOR)
    page.locator(f'[data-draw="{layer}"]').wait_for(timeout=5_000)
    desktop.jump(lon, lat, 15)
    page.locator(f'[data-draw="{layer}"]').click()


def saved(page, layer: str) -> tuple[int, int]:
    """Wait for the page to report a save; (id, version) of the feature."""
    page.wait_for_function(f"document.body.dataset.lastSaved?.startsWith('{layer}/')", timeout=5_000)
    _, fid, version = page.evaluate("document.body.dataset.lastSaved").split("/")
    page.evaluate("delete document.body.dataset.lastSaved")
    return int(fid), int(version)


def test_drawn_greenway_is_saved_and_in_the_next_tile(desktop, server, editor_account):
    page = desktop.page
    start_drawing(desktop, "greenways", 120.02, 30.12)
    assert page.locator("#account-name").inner_text() == EDITOR and page.locator("#logout-button").is_visible()
    # Left of the canvas: the attribute form opens over its right part.
    clicks = canvas_points(page, ((0.12, 0.55), (0.26, 0.4), (0.4, 0.5)))
    for x, y in clicks:
        page.mouse.click(x, y)
        page.wait_for_timeout(150)
    page.mouse.click(*clicks[-1])  # clicking the last vertex again ends the line
    form = page.locator("#edit-form")
    form.wait_for(timeout=5_000)
    assert page.locator("#edit-title").inner_text() == "新增绿道"
    assert page.locator('.field[data-field="length_m"]').count() == 0  # computed by the server

    # The server's validation error is shown next to the field it names; nothing is saved.
    page.fill("#f-code", "GW-MAP-001")
    page.select_option("#f-status", "在建")
    page.click("#edit-save")
    error = page.locator('.field[data-field="name"] .field-error')
    error.wait_for(timeout=5_000)
    assert error.inner_text() == "「绿道名称」为必填项。"
    assert features(server, "greenways", code="GW-MAP-001") == []

    page.fill("#f-name", "地图绘制测试绿道")
    page.click("#edit-save")
    fid, version = saved(page, "greenways")
    assert version == 1 and form.is_hidden()
    found = features(server, "greenways", code="GW-MAP-001")
    assert [f["id"] for f in found] == [fid]
    feature = found[0]
    assert feature["properties"]["name"] == "地图绘制测试绿道" and feature["properties"]["status"] == "在建"
    assert feature["meta"]["created_by"] == EDITOR  # the signed-in account, from its session cookie
    coords = feature["geometry"]["coordinates"]
    assert len(coords) == 3
    for (x, y), (lon, lat) in zip(clicks, coords, strict=True):
        px, py = desktop.map_point(lon, lat)
        assert abs(px - x) < 2 and abs(py - y) < 2  # the vertices are where the user clicked

    # The very next tile holds it, and the map shows it without a reload.
    assert fid in tile_features(server, "greenways", *coords[1])
    page.wait_for_function(
        f"window.chengjianMap.queryRenderedFeatures({{layers: ['greenways']}}).some(f => f.properties.id === {fid})",
        timeout=10_000,
    )

    # Edit it: its popup offers 「编辑图形」; a dragged vertex is saved with If-Match (version 2).
    page.mouse.click((clicks[0][0] + clicks[1][0]) / 2, (clicks[0][1] + clicks[1][1]) / 2)
    popup = page.locator(".maplibregl-popup .popup")
    popup.wait_for(timeout=5_000)
    assert popup.locator("h4").inner_text() == "地图绘制测试绿道"
    popup.locator("[data-edit]").click()
    page.locator("#edit-title", has_text="修改绿道").wait_for(timeout=5_000)
    assert page.input_value("#f-code") == "GW-MAP-001"
    end = clicks[-1]
    page.mouse.move(*end)
    page.mouse.down()
    page.mouse.move(end[0] + 40, end[1] + 40, steps=6)
    page.mouse.up()
    page.select_option("#f-status", "已建成")
    page.click("#edit-save")
    assert saved(page, "greenways") == (fid, 2)
    after = features(server, "greenways", code="GW-MAP-001")[0]
    assert after["properties"]["status"] == "已建成" and after["meta"]["version"] == 2
    moved = desktop.map_point(*after["geometry"]["coordinates"][-1])
    # (terra-draw drags from the first move past its threshold: the vertex may trail the pointer a step)
    assert 25 < moved[0] - end[0] < 43 and 25 < moved[1] - end[1] < 43, (moved, end)
    assert after["geometry"]["coordinates"][:2] == coords[:2]
    in_tile = tile_features(server, "greenways", *coords[1])[fid]
    assert in_tile["properties"]["status"] == "已建成"  # the next tile has the edit
    desktop.check_errors(allowed=("status of 422",))


def draw_fence(page, corners, site: dict) -> None:
    for x, y in corners:
        page.mouse.click(x, y)
        page.wait_for_timeout(150)
    page.mouse.click(*corners[0])  # back at the first vertex: the polygon closes
    page.locator("#edit-title", has_text="新增工地电子围栏").wait_for(timeout=5_000)
    # 所属工地 is picked by searching its code.
    page.fill('[data-ref-search="sites"]', site["properties"]["code"])
    page.locator(".ref-results button", has_text=site["properties"]["name"]).click()
    assert page.input_value("#f-site_id") == str(site["id"])
    page.fill("#f-name", "测试围栏")
    page.click("#edit-save")


def test_fence_geometry_error_is_shown_at_the_shape(desktop, server, editor_account):
    page = desktop.page
    site = features(server, "sites", district="西湖区", limit=1)[0]
    fences = len(features(server, "site_fences", site_id=site["id"]))
    start_drawing(desktop, "site_fences", 120.03, 30.14)
    # A bow tie: its edges cross.
    corners = canvas_points(page, ((0.1, 0.35), (0.4, 0.65), (0.4, 0.35), (0.1, 0.65)))
    draw_fence(page, corners, site)
    at_shape = page.locator(".error-popup .error-text")
    at_shape.wait_for(timeout=5_000)
    message = page.locator("#form-error").inner_text()
    assert message.startswith("几何图形无效") and at_shape.inner_text() == message
    # The message points at the crossing of the two edges, in the middle of the bow tie.
    tip = page.locator(".error-popup .maplibregl-popup-tip").bounding_box()
    crossing = ((corners[0][0] + corners[1][0]) / 2, (corners[0][1] + corners[1][1]) / 2)
    assert abs(tip["x"] + tip["width"] / 2 - crossing[0]) < 5, (tip, crossing)
    assert len(features(server, "site_fences", site_id=site["id"])) == fences
    page.click("#edit-cancel")
    assert page.locator("#edit-form").is_hidden() and page.locator(".error-popup").count() == 0

    # Drawn again without the crossing, it is saved for that site and is in the next tile.
    page.locator('[data-draw="site_fences"]').click()
    draw_fence(page, [corners[0], corners[2], corners[1], corners[3]], site)
    fid, _ = saved(page, "site_fences")
    fence = next(f for f in features(server, "site_fences", site_id=site["id"]) if f["id"] == fid)
    assert fence["properties"]["name"] == "测试围栏" and fence["properties"]["district"] == "西湖区"
    assert fence["geometry"]["type"] == "MultiPolygon" and fence["properties"]["area_m2"] > 0
    assert fid in tile_features(server, "site_fences", *fence["geometry"]["coordinates"][0][0][0])
    desktop.check_errors(allowed=("status of 422",))


def site_counts(server: str) -> dict:
    r = httpx.get(f"{server}/api/counts", headers=LEADER)
    assert r.status_code == 200, r.text
    return next(e for e in r.json()["layers"] if e["id"] == "sites")


def wait_count(page, layer: str, n: int) -> None:
    page.wait_for_function(
        '([l, n]) => document.querySelector(`[data-count="${l}"]`).textContent === n',
        arg=[layer, f"{n:,}"],
        timeout=10_000,
    )


def test_sign_in_errors_show_in_the_form_and_sign_out_removes_the_tools(browser, server, engine):
    make_user("map-xihu", ["district_staff"], district="西湖区")
    make_user("map-locked", ["admin"])
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE users SET locked_until = now() + interval '10 minutes' WHERE username = 'map-locked'")
        )
    sites = site_counts(server)
    visitor = MapPage(browser, server, DESKTOP).open()
    try:
        page = visitor.page
        form, error = page.locator("#login-form"), page.locator("#login-error")
        assert page.locator("#login-button").is_visible() and page.locator("#account-name").is_hidden()
        assert form.is_hidden() and page.locator("#draw-bar").is_hidden()
        assert len({f["props"]["district"] for f in visitor.rendered("sites")}) > 1

        # A wrong password: the server's message in the form; still signed out.
        page.click("#login-button")
        assert form.is_visible() and page.locator("#login-username").evaluate("e => e === document.activeElement")
        page.fill("#login-username", "map-xihu")
        page.fill("#login-password", "not-the-password")
        page.click("#login-submit")
        error.wait_for(timeout=5_000)
        assert error.inner_text() == "用户名或密码不正确。"
        assert form.is_visible() and page.locator("#login-button").is_visible()
        assert page.locator("#account-name").is_hidden() and visitor.js("document.body.dataset.user") == ""
        # A locked account, even with the right password: the same words as a wrong password (which accounts
        # exist or are locked stays secret; the lock shows in the back office).
        page.fill("#login-username", "map-locked")
        page.fill("#login-password", TEST_PASSWORD)
        with page.expect_response(lambda r: r.url.endswith("/api/auth/login")) as answer:
            page.click("#login-submit")
        assert answer.value.status == 401
        page.wait_for_function(
            "document.querySelector('#login-error').textContent === '用户名或密码不正确。'", timeout=5_000
        )
        assert visitor.js("document.body.dataset.user") == ""
        page.click("#login-cancel")
        assert form.is_hidden()

        # Signed in as district staff of 西湖区: its name, 「退出」, its drawing tools, and tiles of its district
        # only (the tile requests carry the session cookie).
        visitor.sign_in("map-xihu")
        assert form.is_hidden() and page.locator("#login-button").is_hidden()
        assert page.locator("#account-name").inner_text() == "map-xihu"
        assert page.locator("#logout-button").is_visible()
        assert page.locator("#draw-bar").is_visible() and page.locator('[data-draw="greenways"]').is_visible()
        assert {f["props"]["district"] for f in visitor.rendered("sites")} == {"西湖区"}
        wait_count(page, "sites", sites["by_district"]["西湖区"])
        # The session outlives a reload (the page asks GET /api/auth/me).
        page.reload()
        page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
        visitor.idle()
        assert page.locator("#account-name").inner_text() == "map-xihu" and visitor.js("document.body.dataset.user")
        assert page.locator('[data-draw="greenways"]').is_visible()
        assert {f["props"]["district"] for f in visitor.rendered("sites")} == {"西湖区"}

        # 「退出」: the tools are gone, the popup offers no editing, the whole city is back.
        visitor.sign_out()
        assert page.locator("#login-button").is_visible() and page.locator("#account-name").is_hidden()
        assert page.locator("#logout-button").is_hidden()
        assert page.locator("#draw-bar").is_hidden() and page.locator("[data-draw]").count() == 0
        assert len({f["props"]["district"] for f in visitor.rendered("sites")}) > 1
        wait_count(page, "sites", sites["count"])
        greenway = features(server, "greenways", limit=1)[0]
        line = greenway["geometry"]["coordinates"]
        line = line[0] if greenway["geometry"]["type"] == "MultiLineString" else line
        middle = ((line[0][0] + line[1][0]) / 2, (line[0][1] + line[1][1]) / 2)
        visitor.jump(*middle, 17)
        page.mouse.click(*visitor.map_point(*middle))
        popup = page.locator(".maplibregl-popup .popup")
        popup.wait_for(timeout=5_000)
        assert popup.get_attribute("data-layer") == "greenways" and popup.locator("[data-edit]").count() == 0
        visitor.check_errors(allowed=("status of 401", "status of 403"))
    finally:
        visitor.close()


def test_a_user_with_fewer_layers_gets_their_own_style(browser, server, engine):
    site = features(server, "sites", district="拱墅区", limit=1)[0]
    make_user("map-builder", ["construction_unit"], grants={"sites": [site["id"]]})
    visitor = MapPage(browser, server, DESKTOP).open()
    try:
        page = visitor.page
        titles = page.locator("#panel .layer-title")
        assert "农房" in titles.all_inner_texts()
        visitor.sign_in("map-builder")
        assert "农房" not in titles.all_inner_texts() and "建设工地" in titles.all_inner_texts()
        assert visitor.js("window.chengjianMap.getLayer('farmhouses')") is None
        # Fences of its sites it may draw; greenways (visible to everyone) it may not.
        assert [b.get_attribute("data-draw") for b in page.locator("[data-draw]").all()] == ["site_fences"]
        wait_count(page, "sites", 1)
        visitor.jump(*site["geometry"]["coordinates"], 12)
        assert [f["id"] for f in visitor.rendered("sites")] == [site["id"]]

        # The session ends on the server (here: revoked): the next write asks to sign in again, in the form.
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE sessions SET revoked_at = now() WHERE user_id = "
                    "(SELECT id FROM users WHERE username = 'map-builder')"
                )
            )
        status = visitor.js("""async () => { const { api } = await import('/static/js/api.js');
            try { await api('/api/layers/site_fences/features', {method: 'POST', body: {}}); }
            catch (e) { return e.status; } }""")
        assert status == 401
        assert page.locator("#login-form").is_visible() and page.locator("#login-button").is_visible()
        assert page.locator("#login-error").inner_text() == "登录已失效，请重新登录。"
        # Not signing in again: the page becomes the anonymous visitor's.
        page.click("#login-cancel")
        page.wait_for_function("document.body.dataset.user === ''", timeout=10_000)
        visitor.idle()
        assert "农房" in titles.all_inner_texts() and page.locator("[data-draw]").count() == 0
        assert visitor.js("window.chengjianMap.getLayer('farmhouses')") is not None
        assert len(visitor.rendered("sites")) > 1
        visitor.check_errors(allowed=("status of 401",))
    finally:
        visitor.close()


def test_phone_shows_the_map_with_the_panel_collapsed(browser, server):
    phone = MapPage(browser, server, PHONE).open()
    try:
        page = phone.page
        canvas = page.locator("#map canvas").bounding_box()
        assert canvas["width"] == PHONE["width"] and canvas["height"] > 0.8 * PHONE["height"]
        panel = page.locator("#panel")
        assert panel.is_hidden()
        box = panel.bounding_box()
        assert box is None or box["x"] + box["width"] <= 0  # off screen, behind the button
        toggle = page.locator("#panel-toggle")
        assert toggle.is_visible() and toggle.get_attribute("aria-expanded") == "false"
        toggle.click()
        page.wait_for_function("document.querySelector('#panel').getBoundingClientRect().left >= 0")
        assert panel.is_visible() and panel.bounding_box()["width"] < PHONE["width"]
        assert toggle.get_attribute("aria-expanded") == "true"
        assert "建设工地" in panel.inner_text()
        # A tap on the map closes it again.
        page.mouse.click(PHONE["width"] - 20, PHONE["height"] // 2)
        page.wait_for_function("document.querySelector('#panel-toggle').getAttribute('aria-expanded') === 'false'")
        phone.check_errors()
    finally:
        phone.close()


def test_my_tasks_export_in_the_background_with_progress_and_download(browser, server, engine, queue, tmp_path):
    """「我的任务」: a signed-in user starts an export of their district, sees it queued, a real worker runs it, the
    list (polling) shows it done, and the link downloads the file: only the district's farmhouses."""
    make_user("map-exporter", ["district_staff"], district="西湖区")
    with engine.connect() as conn:
        expected = conn.execute(text("SELECT count(*) FROM farmhouses WHERE district = '西湖区'")).scalar()
    visitor = MapPage(browser, server, DESKTOP).open()
    try:
        page = visitor.page
        assert page.locator("#tasks").is_hidden()  # anonymous visitors start no tasks
        visitor.sign_in("map-exporter")
        assert page.locator("#tasks").is_visible() and page.locator("#export-form").is_visible()
        assert "暂无任务" in page.locator("#task-list").inner_text()
        page.select_option("#export-layer", "farmhouses")
        page.select_option("#export-format", "csv")
        page.click("#export-submit")
        item = page.locator(".task").first
        item.wait_for(timeout=10_000)
        assert item.get_attribute("data-status") == "queued" and "排队中" in item.inner_text()
        assert "导出「农房」（CSV）" in item.inner_text()
        with worker(tmp_path, "w-browser"):
            page.wait_for_selector('.task[data-status="done"] a[download]', timeout=60_000)
        assert f"已完成 {expected:,} / {expected:,}" in item.inner_text()
        with page.expect_download() as download:
            page.click('.task[data-status="done"] a[download]')
        with open(download.value.path(), encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == expected > 0 and {r["所属区县"] for r in rows} == {"西湖区"}
        visitor.check_errors()
    finally:
        visitor.close()


def test_api_docs_render_offline(browser, server):
    """Swagger UI draws the API's operations with every request kept on this server (no CDN on the intranet)."""
    page = browser.new_page()
    elsewhere: list[str] = []
    page.on(
        "request", lambda r: None if r.url.startswith(server) or r.url.startswith("data:") else elsewhere.append(r.url)
    )
    try:
        page.goto(server + "/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
        assert "城建" in page.inner_text(".swagger-ui .info .title")
        page.wait_for_selector(".opblock-summary-path", timeout=20_000)
        paths = page.eval_on_selector_all(".opblock-summary-path", "els => els.map(e => e.textContent)")
        assert "/api/layers/{layer_id}/features" in paths
        assert elsewhere == []
    finally:
        page.close()
