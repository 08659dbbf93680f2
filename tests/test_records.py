"""Record pages (X-03): ``/api/records/{kind}/{key}`` and ``/records/{kind}/{key}`` for a layer feature (a site, a
farmhouse), a case (a monthly report) and a register entry (a throwaway ``RecordKind`` over a table this module
creates, with a link to it and links to the site) — attributes, the small map, linked records scoped by row-level
security, the operation-log history for administrators only, masked personal data and logged unmasking, 404s in
Chinese; and in Chromium: a click on the map, the popup's link, the record page with its map and linked records,
no horizontal scrollbar on a phone."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from geo import records
from geo.layer.registry import Attr
from geo.records import Link, RecordKind
from tests import st_world
from tests.conftest import ADMIN, make_user, running_server

XH, YH = "XH-2026-0001", "YH-2026-0002"
ID_NUMBER = "330106199001011234"
PHONE = "13812345678"
OWNERS = "rectest_owners"
ITEMS = "rectest_items"

OWNER_KIND = RecordKind(
    kind="rectest_owners",
    title="测试主体",
    table=OWNERS,
    key="code",
    attrs=(
        Attr("code", "主体编码"),
        Attr("name", "主体名称"),
        Attr("district", "所在区县"),
        Attr("id_number", "身份证号"),
        Attr("phone", "联系电话"),
        Attr("grade", "资质等级"),
        Attr("registered_on", "登记日期", "date"),
        Attr("capital", "注册资本(万元)", "float"),
        Attr("site_id", "所属工地", "int"),
    ),
    module="rectest",
    label="name",
    view="rectest.view",
    masked=(("id_number", "id_number"), ("phone", "phone")),
    unmask="rectest.unmask",
    value_labels={"grade": {"A": "甲级", "B": "乙级"}},
)
LINKS = (
    Link(target="rectest_owners", module="rectest", title="测试事项", table=ITEMS, column="owner_code",
         target_column="code", columns=(("title", "事项"), ("district", "区县"), ("happened_on", "日期"))),
    Link(target="sites", module="rectest", title="测试主体", kind="rectest_owners", key="code", table=OWNERS,
         column="site_id", columns=(("name", "名称"), ("phone", "联系电话"))),
    Link(target="sites", module="standard_sites", title="月度申报", kind="st_report", table="st_reports",
         column="site_id", columns=(("month", "月份"), ("status", "状态"))),
)  # fmt: skip


def _tables(engine) -> None:
    """The throwaway register: owners and their items, each row in a district, scoped like every business table."""
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {ITEMS}, {OWNERS}"))
        conn.execute(
            sa.text(
                f"CREATE TABLE {OWNERS} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text UNIQUE NOT NULL, "
                "name text, district text, id_number text, phone text, grade text, registered_on date, "
                "capital numeric, site_id bigint)"
            )
        )
        conn.execute(
            sa.text(
                f"CREATE TABLE {ITEMS} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, owner_code text, "
                "title text, district text, happened_on date)"
            )
        )
        for t in (OWNERS, ITEMS):
            conn.execute(sa.text(f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY"))
            conn.execute(
                sa.text(
                    f"CREATE POLICY scope_read ON {t} FOR SELECT "
                    "USING (chengjian_scope_ok(district, NULL::text, NULL::bigint))"
                )
            )
            conn.execute(sa.text(f"GRANT SELECT ON {t} TO chengjian_app"))


@pytest.fixture(scope="module")
def world(engine, app):
    records.kinds()  # discover the modules first: what they declare stays, the test's declarations go afterwards
    saved_kinds, saved_links = dict(records._kinds), list(records._links)
    records.register_kind(OWNER_KIND)
    records.register_link(*LINKS)
    _tables(engine)
    info = st_world.build(engine)
    with TestClient(app) as c:
        accounts = st_world.register_both(c, engine, info, ("07", "08"))
        sg = accounts[(XH, "construction_unit")]
        r = c.post(f"/api/st/sites/{info[XH]['site_id']}/reports", headers=sg, json={"month": "2026-10"})
        assert r.status_code == 201, r.text
        info["report"] = r.json()["id"]
    with engine.begin() as conn:
        for code, district, site in (("OWN-XH", "西湖区", info[XH]["site_id"]), ("OWN-YH", "余杭区", None)):
            conn.execute(
                sa.text(
                    f"INSERT INTO {OWNERS} (code, name, district, id_number, phone, grade, registered_on, capital, "
                    "site_id) VALUES (:c, :n, :d, :i, :p, 'A', '2025-03-08', 1234.5, :s)"
                ),
                {"c": code, "n": f"{district}测试主体", "d": district, "i": ID_NUMBER, "p": PHONE, "s": site},
            )
        conn.execute(
            sa.text(
                f"INSERT INTO {ITEMS} (owner_code, title, district, happened_on) VALUES "
                "('OWN-XH', '西湖区的事项', '西湖区', '2026-02-01'), ('OWN-XH', '余杭区的事项', '余杭区', '2026-03-01')"
            )
        )
        info["owner_id"] = conn.execute(sa.text(f"SELECT id FROM {OWNERS} WHERE code = 'OWN-XH'")).scalar()
        from geo import audit

        before = {"code": "OWN-XH", "grade": "A", "phone": "13900000000"}
        after = {"code": "OWN-XH", "grade": "B", "phone": PHONE}
        audit.record(conn, "rectest-clerk", "update", OWNERS, info["owner_id"], before, after)
    info["clerk_xh"] = make_user("rec-clerk-xihu", ["district_staff"], district="西湖区")
    info["leader"] = make_user("rec-leader", ["leader"])
    info["public"] = make_user("rec-public", ["public"])
    yield info
    records._kinds.clear()
    records._kinds.update(saved_kinds)
    records._links[:] = saved_links
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {ITEMS}, {OWNERS}"))


def _attr(rec: dict, name: str) -> dict:
    return next(a for a in rec["attributes"] if a["name"] == name)


def _group(rec: dict, module: str, title: str) -> dict | None:
    for m in rec["linked"]:
        if m["module"] == module:
            return next((g for g in m["groups"] if g["title"] == title), None)
    return None


# -- a layer feature ----------------------------------------------------------------------------------------------


def test_site_record_json_and_page(client, world):
    site = world[XH]["site_id"]
    r = client.get(f"/api/records/sites/{site}", headers=ADMIN)
    assert r.status_code == 200, r.text
    rec = r.json()
    assert rec["title"] == st_world.PROJECTS["西湖区"]["name"] and rec["kind_title"] == "建设工地"
    from geo.layer.registry import registry

    assert [a["label"] for a in rec["attributes"]] == [a.label for a in registry.get("sites").attrs]
    assert _attr(rec, "status")["text"] == "在建" and _attr(rec, "district")["text"] == "西湖区"
    assert rec["geometry"]["type"] == "Point" and rec["geometry_of"] is None
    assert rec["geometry"]["coordinates"] == pytest.approx([world[XH]["lon"], world[XH]["lat"]])
    # Linked records by module: the monthly report (its own page) and the throwaway register's entry, phone masked.
    reports = _group(rec, "standard_sites", "月度申报")
    assert [row["url"] for row in reports["rows"]] == [f"/records/st_report/{world['report']}"]
    assert reports["rows"][0]["cells"] == ["2026年10月1日", "草稿"]
    owners = _group(rec, "rectest", "测试主体")
    assert owners["total"] == 1 and owners["rows"][0]["url"] == "/records/rectest_owners/OWN-XH"
    assert owners["rows"][0]["cells"] == ["西湖区测试主体", "138****5678"] and PHONE not in r.text
    m = next(m for m in rec["linked"] if m["module"] == "standard_sites")
    assert m["module_title"] == "标化工地综合监管系统"
    # The page: the same, in Chinese, with the map's data and links to the linked records.
    page = client.get(f"/records/sites/{site}", headers=ADMIN)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert f"<h2>{st_world.PROJECTS['西湖区']['name']}" in html and "<th>施工许可证号</th>" in html
    assert f'href="/records/st_report/{world["report"]}"' in html and 'href="/records/rectest_owners/OWN-XH"' in html
    assert 'id="record-map"' in html and "/static/vendor/maplibre-gl/maplibre-gl.mjs" in html
    assert "https://" not in html and "cdn" not in html.lower()  # everything from this server
    assert "关联记录" in html and "标化工地综合监管系统" in html


def test_farmhouse_record_with_history_for_administrators_only(client, world, engine):
    x, y = st_world.centre(engine.connect(), "西湖区")
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [x + 0.003, y]},
        "properties": {"code": "FH-REC-0001", "owner_name": "记录页户主", "floors": 3, "built_year": 1998,
                       "floor_area_m2": 1234.5, "difficult_family": True, "danger_grade": "C"},
    }  # fmt: skip
    created = client.post("/api/layers/farmhouses/features", headers=ADMIN, json=feature)
    assert created.status_code == 201, created.text
    fid = created.json()["id"]
    r = client.patch(
        f"/api/layers/farmhouses/features/{fid}",
        headers=ADMIN,
        json={"properties": {"floors": 4}, "version": created.json()["meta"]["version"]},
    )
    assert r.status_code == 200, r.text
    rec = client.get(f"/api/records/farmhouses/{fid}", headers=ADMIN).json()
    assert rec["title"] == "FH-REC-0001" and _attr(rec, "owner_name")["text"] == "记录页户主"
    assert _attr(rec, "floor_area_m2")["text"] == "1234.5" and _attr(rec, "difficult_family")["text"] == "是"
    assert _attr(rec, "built_year")["text"] == "1998" and _attr(rec, "floors")["text"] == "4"
    assert _attr(rec, "status")["text"] == "—" and rec["color"] == "#f97316"  # grade C's colour on the map
    assert rec["history_visible"] is True
    assert [h["action_title"] for h in rec["history"]] == ["修改", "新增"]
    assert rec["history"][0]["changes"] == [{"name": "floors", "label": "层数", "before": "3", "after": "4"}]
    assert rec["history"][0]["actor"] == "test-admin"
    html = client.get(f"/records/farmhouses/{fid}", headers=ADMIN).text
    assert "修改记录" in html and "层数" in html and "3 → 4" in html
    # A plain account (the leader reads everything, without the operation-log permission) sees no history.
    rec = client.get(f"/api/records/farmhouses/{fid}", headers=world["leader"]).json()
    assert rec["history_visible"] is False and rec["history"] is None
    html = client.get(f"/records/farmhouses/{fid}", headers=world["leader"]).text
    assert "修改记录" not in html and "3 → 4" not in html
    client.delete(f"/api/layers/farmhouses/features/{fid}", headers={**ADMIN, "If-Match": f'"{fid}-2"'})
    assert client.get(f"/api/records/farmhouses/{fid}", headers=ADMIN).status_code == 404  # deleted: gone


# -- a case -------------------------------------------------------------------------------------------------------


def test_report_record_json_and_page(client, world):
    rid = world["report"]
    rec = client.get(f"/api/records/st_report/{rid}", headers=ADMIN).json()
    assert rec["kind_title"] == "月度申报" and rec["origin"] == "case" and rec["title"] == f"月度申报 {rid}"
    assert rec["status_title"] == "草稿" and _attr(rec, "status")["text"] == "草稿"
    assert _attr(rec, "month")["text"] == "2026年10月1日"
    site = _attr(rec, "site_id")
    assert (
        site["text"] == st_world.PROJECTS["西湖区"]["name"] and site["url"] == f"/records/sites/{world[XH]['site_id']}"
    )
    # No geometry of its own: the site's, said so.
    assert rec["geometry"]["type"] == "Point" and rec["geometry_of"]["kind"] == "sites"
    assert [h["action"] for h in rec["case_history"]] == ["create"] and rec["case_history"][0]["to_state"] == "草稿"
    assert rec["case_history"][0]["action_title"] == "新增"
    assert [h["action_title"] for h in rec["history"]] == ["新增"]
    html = client.get(f"/records/st_report/{rid}", headers=ADMIN).text
    assert "办理记录" in html and f'href="/records/sites/{world[XH]["site_id"]}"' in html and "显示的是" in html
    # The case's restrict rule holds on its page and among the site's linked records: the 西湖区 clerk (an authority)
    # sees no draft.
    clerk = world["clerk_xh"]
    r = client.get(f"/api/records/st_report/{rid}", headers=clerk)
    assert r.status_code == 404 and r.json()["code"] == "record_not_found"
    site_rec = client.get(f"/api/records/sites/{world[XH]['site_id']}", headers=clerk).json()
    assert _group(site_rec, "standard_sites", "月度申报")["total"] == 0


# -- a register entry ---------------------------------------------------------------------------------------------


def test_register_entry_json_and_page(client, world):
    r = client.get("/api/records/rectest_owners/OWN-XH", headers=ADMIN)
    assert r.status_code == 200, r.text
    rec = r.json()
    assert rec["title"] == "西湖区测试主体" and rec["origin"] == "register" and rec["module_title"] == "rectest"
    assert [a["label"] for a in rec["attributes"]] == [a.label for a in OWNER_KIND.attrs]
    assert _attr(rec, "grade")["text"] == "甲级" and _attr(rec, "registered_on")["text"] == "2025年3月8日"
    assert _attr(rec, "capital")["text"] == "1234.5"
    assert _attr(rec, "id_number")["text"] == "3301**********1234" and _attr(rec, "phone")["text"] == "138****5678"
    assert ID_NUMBER not in r.text and PHONE not in r.text and rec["masked"] == ["id_number", "phone"]
    assert rec["geometry_of"]["url"] == f"/records/sites/{world[XH]['site_id']}"  # the site's position
    items = _group(rec, "rectest", "测试事项")
    assert items["total"] == 2 and {row["cells"][0] for row in items["rows"]} == {"西湖区的事项", "余杭区的事项"}
    assert all(row["url"] is None for row in items["rows"])  # a link without a kind: rows without pages
    html = client.get("/records/rectest_owners/OWN-XH", headers=ADMIN).text
    assert "<th>资质等级</th><td>甲级</td>" in html and "3301**********1234" in html and ID_NUMBER not in html
    assert "余杭区的事项" in html and 'id="unmask"' in html


def test_district_account_sees_its_district_only(client, world):
    clerk = world["clerk_xh"]
    rec = client.get("/api/records/rectest_owners/OWN-XH", headers=clerk).json()
    items = _group(rec, "rectest", "测试事项")
    assert items["total"] == 1 and [row["cells"][0] for row in items["rows"]] == ["西湖区的事项"]
    assert "余杭区的事项" not in client.get("/records/rectest_owners/OWN-XH", headers=clerk).text
    # Another district's record: the same 404 as a record that does not exist.
    other = client.get("/api/records/rectest_owners/OWN-YH", headers=clerk)
    missing = client.get("/api/records/rectest_owners/OWN-NONE", headers=clerk)
    assert other.status_code == missing.status_code == 404
    assert other.json()["code"] == missing.json()["code"] == "record_not_found"
    assert "不存在，或不在您的数据范围内" in other.json()["message"]
    r = client.get(f"/api/records/sites/{world[YH]['site_id']}", headers=clerk)
    assert r.status_code == 404 and r.json()["message"].startswith("建设工地「")
    page = client.get("/records/rectest_owners/OWN-YH", headers=clerk)
    assert page.status_code == 404 and "不在您的数据范围内" in page.text and "余杭区测试主体" not in page.text
    # The administrator sees it.
    assert client.get("/api/records/rectest_owners/OWN-YH", headers=ADMIN).status_code == 200


def test_history_shown_to_administrators_only(client, world):
    rec = client.get("/api/records/rectest_owners/OWN-XH", headers=ADMIN).json()
    update = next(h for h in rec["history"] if h["action"] == "update")
    assert update["action_title"] == "修改" and update["actor"] == "rectest-clerk"
    assert {c["label"]: (c["before"], c["after"]) for c in update["changes"]} == {
        "联系电话": ("139****0000", "138****5678"),
        "资质等级": ("甲级", "乙级"),
    }
    for who in ("leader", "clerk_xh"):
        rec = client.get("/api/records/rectest_owners/OWN-XH", headers=world[who]).json()
        assert rec["history_visible"] is False and rec["history"] is None
        assert "修改记录" not in client.get("/records/rectest_owners/OWN-XH", headers=world[who]).text


def test_unmasking_needs_the_permission_and_is_logged(client, world, engine):
    def unmasks() -> int:
        with engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT count(*) FROM audit_log WHERE action = 'unmask' AND layer = :t AND feature_id = :i"),
                {"t": OWNERS, "i": world["owner_id"]},
            ).scalar()

    before = unmasks()
    r = client.get("/api/records/rectest_owners/OWN-XH", params={"unmask": 1}, headers=world["leader"])
    assert r.status_code == 403 and r.json()["field"] == "unmask" and "个人信息" in r.json()["message"]
    assert client.get("/records/rectest_owners/OWN-XH?unmask=1", headers=world["leader"]).status_code == 403
    leader_page = client.get("/api/records/rectest_owners/OWN-XH", headers=world["leader"]).json()
    assert leader_page["can_unmask"] is False and unmasks() == before
    r = client.get("/api/records/rectest_owners/OWN-XH", params={"unmask": 1}, headers=ADMIN)
    assert r.status_code == 200
    rec = r.json()
    assert _attr(rec, "id_number")["text"] == ID_NUMBER and _attr(rec, "phone")["text"] == PHONE
    assert rec["unmasked"] is True and rec["masked"] == []
    assert unmasks() == before + 1
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT actor, detail FROM audit_log WHERE action = 'unmask' AND layer = :t ORDER BY id DESC"),
            {"t": OWNERS},
        ).first()
    assert row.actor == "test-admin" and row.detail == {"columns": ["id_number", "phone"]}
    html = client.get("/records/rectest_owners/OWN-XH?unmask=1", headers=ADMIN).text
    assert ID_NUMBER in html and "已显示完整的个人信息" in html and unmasks() == before + 2
    # The history names the reading in Chinese; the linked rows elsewhere stay masked.
    rec = client.get("/api/records/rectest_owners/OWN-XH", headers=ADMIN).json()
    assert rec["history"][0]["action_title"] == "查看个人信息"
    site = client.get(f"/api/records/sites/{world[XH]['site_id']}", params={"unmask": 1}, headers=ADMIN).text
    assert PHONE not in site


def test_unknown_and_forbidden(client, world):
    r = client.get("/api/records/nope/1", headers=ADMIN)
    assert (
        r.status_code == 404
        and r.json()["code"] == "record_kind_not_found"
        and r.json()["message"] == "没有「nope」这类记录。"
    )
    for url in ("/api/records/sites/999999999", "/api/records/sites/abc", "/api/records/st_report/99999999",
                f"/api/records/sites/{'9' * 30}", "/api/records/rectest_owners/NOPE"):  # fmt: skip
        r = client.get(url, headers=ADMIN)
        assert r.status_code == 404 and r.json()["code"] == "record_not_found", url
        assert re.search("[\u4e00-\u9fff]", r.json()["message"])
    page = client.get("/records/nope/1", headers=ADMIN)
    assert page.status_code == 404 and "没有「nope」这类记录。" in page.text and page.text.startswith("<!doctype html>")
    # A kind the principal may not view: 401 anonymous, 403 signed in — as the features API answers.
    site = world[XH]["site_id"]
    assert client.get(f"/api/layers/sites/features/{site}").status_code == 401
    assert client.get(f"/api/records/sites/{site}").status_code == 401
    assert client.get(f"/api/layers/sites/features/{site}", headers=world["public"]).status_code == 403
    assert client.get(f"/api/records/sites/{site}", headers=world["public"]).status_code == 403
    assert client.get("/api/records/rectest_owners/OWN-XH", headers=world["public"]).status_code == 403
    page = client.get(f"/records/sites/{site}")
    assert page.status_code == 401 and "请先登录" in page.text


def test_search_results_link_to_record_pages(client, world):
    r = client.get("/api/search", params={"q": XH}, headers=ADMIN)
    hit = next(h for h in r.json()["results"] if h["layer"] == "sites")
    assert hit["url"] == f"/records/sites/{world[XH]['site_id']}"
    assert client.get(hit["url"], headers=ADMIN).status_code == 200


# -- in the browser -----------------------------------------------------------------------------------------------


def test_popup_link_opens_the_record_page_in_chromium(app, world, browser):
    from tests.test_browser import MapPage

    make_user("rec-browser", ["admin"])
    with running_server(app) as base:
        m = MapPage(browser, base, {"width": 1024, "height": 640}).open()
        m.sign_in("rec-browser")
        site = world[XH]
        m.jump(site["lon"], site["lat"], 15)
        assert any(f["id"] == site["site_id"] for f in m.rendered("sites")), "the site is drawn"
        # Other modules' pins may sit on the same point (a review of the site's project): only the sites are clicked.
        m.js("""const map = window.chengjianMap;
                for (const l of map.getStyle().layers)
                  if (l.source && l.source !== 'sites' && l.type !== 'raster' && l.type !== 'background')
                    map.setLayoutProperty(l.id, 'visibility', 'none');""")
        m.idle()
        m.page.mouse.click(*m.map_point(site["lon"], site["lat"]))
        link = m.page.locator(".maplibregl-popup a", has_text="查看记录")
        link.wait_for(timeout=10_000)
        assert link.get_attribute("href") == f"/records/sites/{site['site_id']}"
        # The search dropdown offers the same page beside each hit.
        m.page.fill("#search-input", XH)
        detail = m.page.locator("#search-results .search-group[data-layer='sites'] a.result-record").first
        detail.wait_for(timeout=10_000)
        assert detail.get_attribute("href") == f"/records/sites/{site['site_id']}"
        m.page.press("#search-input", "Escape")
        with m.context.expect_page() as opened:
            link.click()
        page = opened.value
        errors: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.wait_for_function("document.body.dataset.mapReady === 'true'", timeout=30_000)
        assert page.locator("main.record h2").inner_text().startswith(st_world.PROJECTS["西湖区"]["name"])
        drawn = page.evaluate("window.recordMap.queryRenderedFeatures({layers: ['record-point']}).length")
        assert drawn == 1
        assert page.evaluate("window.recordMap.getCanvas().width") > 0
        rows = page.locator(".link-group[data-kind='st_report'] tbody tr")
        assert rows.count() == 1
        page.locator(".link-group[data-kind='st_report'] tbody a").click()
        page.wait_for_url(f"**/records/st_report/{world['report']}")
        page.wait_for_function("document.body.dataset.mapReady === 'true'", timeout=30_000)
        assert "办理记录" in page.locator("main.record").inner_text()
        # The workbench's case detail links back to the record page.
        page.goto(f"{base}/st#reports/{world['report']}")
        back = page.locator("a[data-record='st_report']")
        back.wait_for(timeout=15_000)
        assert back.get_attribute("href") == f"/records/st_report/{world['report']}"
        assert errors == [] and m.errors == []
        # A phone: everything fits the width, the map too.
        phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
        phone.add_cookies(m.context.cookies())  # signed in as on the map
        p = phone.new_page()
        p.goto(f"{base}/records/rectest_owners/OWN-XH")
        assert p.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        p.goto(f"{base}/records/sites/{site['site_id']}")
        p.wait_for_function("document.body.dataset.mapReady === 'true'", timeout=30_000)
        assert p.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        assert p.evaluate("document.getElementById('record-map').getBoundingClientRect().right") <= 390
        phone.close()
        m.context.close()
