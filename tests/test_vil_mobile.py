"""The farmhouse inspection phone page (/m/villages, VT-14) in Debian's Chromium at a phone viewport against the live
app, with a fake GPS: a township inspector of 余杭区 signs in, finds the house, records the 开工放样 inspection with a
camera photo (a JPEG with EXIF, through the camera input) and his position — stored with its photo and the house's
stage moved; offline, the next inspection waits on the phone and goes up once when the network is back; an
inspection recorded 2 km from the house is refused with the distance and stays on the phone to be deleted; the
county's statistics show what the API counts. Checked on the screen and in the database."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from geo.bounds import today
from tests import st_world
from tests.conftest import TEST_PASSWORD, make_user, running_server, set_environment

YH = "余杭区"
API = "/api/villages/construction"
CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
# Refusals the tests provoke on purpose and requests made while offline.
EXPECTED_CONSOLE = ("status of 422", "ERR_INTERNET_DISCONNECTED", "Failed to fetch", "ERR_FAILED")


@pytest.fixture(scope="module")
def world(engine, app, tmp_path_factory):
    from fastapi.testclient import TestClient

    restore = set_environment(CHENGJIAN_FILES_DIR=str(tmp_path_factory.mktemp("vil-m-files")))
    tag = uuid.uuid4().hex[:6]
    user = f"vil-m-{tag}"
    headers = make_user(user, ["district_staff"], district=YH)
    with engine.connect() as conn:
        lon, lat = conn.execute(
            text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts WHERE name = :d) s"),
            {"d": YH},
        ).one()
    lon += 0.013  # clear of the other tests' houses
    code = f"NFM{tag.upper()}"
    with TestClient(app) as c:
        r = c.post(
            "/api/layers/farmhouses/features",
            json={"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                  "properties": {"code": code, "owner_name": "李春生", "status": "审批中", "township": "仁和街道",
                                 "village": "测试村"}},
            headers=headers,
        )  # fmt: skip
        assert r.status_code == 201, r.text
        house_id = r.json()["id"]
        r = c.put(
            f"{API}/houses/{house_id}/approval",
            json={"approval_no": f"NJ-{tag}", "approved_on": (today() - timedelta(days=60)).isoformat()},
            headers=headers,
        )
        assert r.status_code == 200, r.text
    yield {"user": user, "headers": headers, "lon": lon, "lat": lat, "code": code, "id": house_id}
    restore()


class Recorder:
    """The app, noting the path of every HTTP request that reaches the server."""

    def __init__(self, app) -> None:
        self.app, self.paths = app, []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def recorder(app):
    return Recorder(app)


@pytest.fixture(scope="module")
def server(recorder, world):
    with running_server(recorder) as base:
        yield base


@pytest.fixture(scope="module")
def phone(server, world, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "Debian's chromium is needed"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        context = browser.new_context(
            viewport=PHONE,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            permissions=["geolocation"],
            geolocation={"longitude": world["lon"] + 0.0003, "latitude": world["lat"], "accuracy": 8},
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        yield {"page": page, "context": context, "errors": errors, "base": server,
               "shots": tmp_path_factory.mktemp("shots")}  # fmt: skip
        context.close()
        browser.close()


def check_errors(phone) -> None:
    unexpected = [e for e in phone["errors"] if not any(a in e for a in EXPECTED_CONSOLE)]
    assert not unexpected, unexpected


def inspections(engine, house_id: int) -> list[dict]:
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                text(
                    "SELECT i.stage, i.result, i.source, i.distance_m, count(p.id) AS photos, "
                    "max(p.flags::text) AS flags FROM vil_inspections i "
                    "LEFT JOIN vil_inspection_photos p ON p.inspection_id = i.id "
                    "WHERE i.farmhouse_id = :h GROUP BY i.id ORDER BY i.id"
                ),
                {"h": house_id},
            ).mappings()
        ]


def open_house(phone, world) -> None:
    page = phone["page"]
    page.goto(f"{phone['base']}/m/villages#/houses")
    page.wait_for_selector('body[data-screen="houses"] #total')
    page.evaluate(f"location.hash = '#/house/{world['id']}'")
    page.wait_for_selector('body[data-screen="house"] #inspect')


def record(phone, world, stage_name: str, n: int, result: str = "pass") -> None:
    """On the house's page: 登记巡查, a photo from the camera input, the result, 保存并上传."""
    page = phone["page"]
    page.wait_for_selector('body[data-screen="house"] #inspect')
    assert stage_name in page.inner_text("#inspect")
    page.tap("#inspect")
    page.wait_for_selector('body[data-screen="inspect"] #inspect-form')
    assert page.get_attribute("#photo", "capture") == "environment"
    path = phone["shots"] / f"IMG_{n}.jpg"
    path.write_bytes(st_world.jpeg(world["lon"] + 0.0003, world["lat"], datetime.now(UTC), colour=(40 * n, 120, 90)))
    page.set_input_files("#photo", str(path))
    page.wait_for_selector("#thumbs img")
    page.check(f'input[name="result"][value="{result}"]')
    page.fill("#note", f"{stage_name}现场核查")
    page.wait_for_function("document.getElementById('position').textContent.includes('已定位')")
    page.tap("#submit")
    page.wait_for_selector('body[data-screen="queue"]')


def test_the_page_is_served(client):
    sw = client.get("/m/villages/mobile.sw.js")
    assert sw.status_code == 200 and sw.headers["service-worker-allowed"] == "/m/villages"
    assert sw.headers["content-type"].startswith("text/javascript")
    r = client.get("/m/villages")
    assert r.status_code == 200 and "农房建设巡查" in r.text and "width=device-width" in r.text
    assert client.get("/m/villages/mobile.js").status_code == 200
    assert client.get("/m/villages/../../pyproject.toml").status_code == 404
    assert client.get("/m/villages/construction.html").status_code == 404


def test_an_inspection_recorded_on_site_with_photo_and_position(phone, world, engine):
    page = phone["page"]
    page.goto(f"{phone['base']}/m/villages")
    page.wait_for_selector('body[data-screen="login"]')
    page.fill("#login-username", world["user"])
    page.fill("#login-password", TEST_PASSWORD)
    page.tap("#login-submit")
    page.wait_for_selector('body[data-screen="houses"] #total')
    page.fill("#q", world["code"])
    page.press("#q", "Enter")
    page.wait_for_selector(f'[data-house="{world["id"]}"]')
    assert "李**" in page.inner_text(f'[data-house="{world["id"]}"]')  # the owner's name masked
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    page.tap(f'[data-house="{world["id"]}"]')
    record(phone, world, "开工放样", 1)
    page.wait_for_selector("#queue-empty")
    stored = inspections(engine, world["id"])
    assert [(i["stage"], i["result"], i["source"], i["photos"]) for i in stored] == [("layout", "pass", "mobile", 1)]
    assert 20 < stored[0]["distance_m"] < 40 and stored[0]["flags"] == "[]"  # EXIF time and place agree
    with engine.connect() as conn:
        assert conn.execute(text("SELECT stage FROM farmhouses WHERE id = :h"), {"h": world["id"]}).scalar() == "layout"
    page.goto(f"{phone['base']}/m/villages#/house/{world['id']}")
    page.wait_for_selector('[data-stage="layout"] .tag.passed')
    page.wait_for_selector("[data-inspection] .thumbs img")
    assert "基槽验线" in page.inner_text("#inspect")
    check_errors(phone)


def test_offline_the_inspection_waits_and_goes_up_once(phone, world, engine):
    page, context = phone["page"], phone["context"]
    open_house(phone, world)  # read while online: kept on the phone for the site without network
    context.set_offline(True)
    try:
        record(phone, world, "基槽验线", 2)
        page.wait_for_selector('[data-state="waiting"]')
        assert page.is_visible("#net") and "待上传 1" in page.inner_text("#queue-badge")
        assert [i["stage"] for i in inspections(engine, world["id"])] == ["layout"]
    finally:
        context.set_offline(False)
    page.wait_for_selector("#queue-empty", timeout=20_000)
    assert [i["stage"] for i in inspections(engine, world["id"])] == ["layout", "trench"]
    assert page.is_hidden("#queue-badge")
    check_errors(phone)


def test_far_from_the_house_the_inspection_is_refused_and_kept(phone, world, engine):
    page, context = phone["page"], phone["context"]
    context.set_geolocation({"longitude": world["lon"] + 0.02, "latitude": world["lat"], "accuracy": 8})
    try:
        open_house(phone, world)
        record(phone, world, "主体结构", 3, result="fail")
        card = page.wait_for_selector('[data-state="refused"]')
        assert "米" in card.inner_text() and "农房现场" in card.inner_text()
        assert [i["stage"] for i in inspections(engine, world["id"])] == ["layout", "trench"]
        card.query_selector(".drop").tap()
        page.wait_for_selector("#queue-empty")
    finally:
        context.set_geolocation({"longitude": world["lon"] + 0.0003, "latitude": world["lat"], "accuracy": 8})
    check_errors(phone)


def test_the_countys_statistics(phone, world, client):
    page = phone["page"]
    page.goto(f"{phone['base']}/m/villages#/stats")
    row = page.wait_for_selector(f'#stats-table tr[data-district="{YH}"]')
    api = client.get(f"{API}/stats", headers=world["headers"]).json()
    yh = next(d for d in api["items"] if d["district"] == YH)
    cells = [c.inner_text() for c in row.query_selector_all("td")]
    assert cells[:5] == [YH, str(yh["under_construction"]), str(yh["overdue"]), str(yh["reports"]), str(yh["late"])]
    assert yh["reports"] >= 2
    districts = page.eval_on_selector_all("#stats-table tbody tr", "rows => rows.map(r => r.dataset.district)")
    assert districts == [YH]  # a district clerk sees his district only
    # The county's latest reports: this house's 基槽验线 first (the newest), then its 开工放样.
    recent = client.get(f"{API}/inspections?limit=20", headers=world["headers"]).json()
    shown = page.eval_on_selector_all("#recent [data-report]", "cards => cards.map(c => Number(c.dataset.report))")
    assert shown == [i["id"] for i in recent["items"]] and len(shown) >= 2
    mine = [i for i in recent["items"] if i["farmhouse_id"] == world["id"]]
    assert [i["stage"] for i in mine[:2]] == ["trench", "layout"] and mine[0]["code"] == world["code"]
    assert world["code"] in page.inner_text(f'#recent [data-report="{mine[0]["id"]}"]')
    check_errors(phone)


def test_the_page_starts_offline_and_the_inspection_waits(phone, world, engine, recorder):
    """The page closed and opened again on site without a network: the shell from the service worker's cache, the
    house from the copy kept when it was read, the account remembered; the inspection waits and goes up once."""
    page, context = phone["page"], phone["context"]
    open_house(phone, world)
    page.wait_for_selector('body[data-sw="ready"]')
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    cached = page.evaluate("""async () => {
        const urls = [];
        for (const name of await caches.keys()) {
            for (const req of await (await caches.open(name)).keys()) urls.push(new URL(req.url).pathname);
        }
        return urls; }""")
    assert "/m/villages" in cached and "/m/villages/mobile.js" in cached and "/static/js/api.js" in cached
    assert not [u for u in cached if u.startswith("/api/")], cached  # API answers are never cached
    context.set_offline(True)
    recorder.paths.clear()
    try:
        page.reload()
        page.wait_for_selector('body[data-screen="house"] #inspect')
        assert "离线" in page.inner_text("#view") and page.is_visible("#net")
        # Nothing the page asked for reached the server (the browser's own update check of the worker may:
        # Playwright's offline emulation does not cover it, microsoft/playwright#2311).
        assert [p for p in recorder.paths if p != "/m/villages/mobile.sw.js"] == [], recorder.paths
        record(phone, world, "主体结构", 4)
        page.wait_for_selector('[data-state="waiting"]')
        assert [i["stage"] for i in inspections(engine, world["id"])] == ["layout", "trench"]
    finally:
        context.set_offline(False)
    page.wait_for_selector("#queue-empty", timeout=20_000)
    assert [i["stage"] for i in inspections(engine, world["id"])] == ["layout", "trench", "structure"]
    check_errors(phone)
