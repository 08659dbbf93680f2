"""The farmhouse overview (/villages/overview, VT-01) and archives (/villages/archives, VT-03) in Debian's Chromium against the live app: the city sees the
figures, the two charts, the map and the table agree with the API (and the table with the database); a click on
西湖区 drills down to its townships; a district clerk sees only his district; an administrator uploads a 杭派民居
image with its caption through the page and the clerk sees it in the gallery, while the clerk is offered no upload;
on the archives page the clerk tries a file with a bad row (named by its number, nothing stored), imports the
corrected file, finds the houses (owner names masked) and counts them; the city asks the district to report and the
clerk reports."""

from __future__ import annotations

import io
import uuid
from datetime import date, timedelta

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import text

from tests.conftest import SignedIn, make_user, running_server, set_environment
from tests.test_vil_archives import API, XH, YH, row, upload, xlsx


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


class Session(SignedIn):
    def __init__(self, browser, base: str, username: str, path: str = "/villages/overview") -> None:
        super().__init__(browser, base, username, path, timeout_ms=20_000)


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


# -- the kept counts (vil_0008): equal to the houses after every kind of write ------------------------------------

BUILDING = ("审批中", "在建")
KEY_SQL = (
    "coalesce(district, '') AS district, coalesce(township, '') AS township, coalesce(status, '') AS status, "
    "CASE WHEN status IN ('审批中', '在建') THEN coalesce(stage, '') ELSE '' END AS stage, "
    "coalesce(danger_grade IN ('B', 'C', 'D'), false) AS dangerous"
)


def kept_and_truth(engine) -> tuple[dict, dict]:
    """``vil_overview_counts`` summed per key, and the same figures counted from the live farmhouses."""
    with engine.connect() as conn:
        kept = conn.execute(
            text(
                "SELECT district, township, status, stage, dangerous, sum(n)::bigint, sum(sx), sum(sy) "
                "FROM vil_overview_counts GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) <> 0"
            )
        ).all()
        truth = conn.execute(
            text(
                f"SELECT {KEY_SQL}, count(*), sum(ST_X(geom)), sum(ST_Y(geom)) FROM farmhouses "
                "WHERE deleted_at IS NULL GROUP BY 1, 2, 3, 4, 5"
            )
        ).all()
    return {tuple(r[:5]): tuple(r[5:]) for r in kept}, {tuple(r[:5]): tuple(r[5:]) for r in truth}


def assert_kept(engine, step: str) -> None:
    kept, truth = kept_and_truth(engine)
    assert {k: v[0] for k, v in kept.items()} == {k: v[0] for k, v in truth.items()}, step
    for k, (_, sx, sy) in truth.items():
        assert kept[k][1] == pytest.approx(sx, rel=1e-12, abs=1e-7), (step, k)
        assert kept[k][2] == pytest.approx(sy, rel=1e-12, abs=1e-7), (step, k)


@pytest.fixture(scope="module")
def spot(engine):
    """A point inside 西湖区 and one inside 余杭区, and a tag for this module's own houses."""
    with engine.connect() as conn:
        at = {
            d: conn.execute(
                text(
                    "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts WHERE name = :d) s"
                ),
                {"d": d},
            ).one()
            for d in (XH, YH)
        }
    return {"tag": uuid.uuid4().hex[:6].upper(), **at}


def test_the_kept_counts_follow_every_kind_of_write(engine, spot):
    """``vil_overview_counts`` equals a ``GROUP BY`` of the live farmhouses after inserts (one, many, COPY), updates
    of status, stage, district, township and grade, a soft delete and its undoing, a move, deletes, and a rolled-back
    write; an update that changes nothing counted writes nothing to it."""
    tag = spot["tag"]
    (x, y), (yx, yy) = spot[XH], spot[YH]
    p = f"OVK{tag}-"
    town, town2 = f"测{tag}镇", f"测{tag}乡"
    mine = f"code LIKE '{p}%'"
    steps = [
        (
            "one house",
            f"INSERT INTO farmhouses (geom, code, district, township, status) "
            f"VALUES (ST_SetSRID(ST_MakePoint({x}, {y}), 4326), '{p}0', '{XH}', '{town}', '存量')",
        ),
        (
            "many houses",
            "INSERT INTO farmhouses (geom, code, district, township, status, stage, danger_grade) "
            f"SELECT ST_SetSRID(ST_MakePoint({x} + i * 1e-4, {y} - i * 1e-4), 4326), '{p}' || i, '{XH}', "
            f"CASE WHEN i % 3 = 0 THEN '{town2}' WHEN i % 11 = 0 THEN NULL ELSE '{town}' END, "
            "(ARRAY['存量', '审批中', '在建', '已竣工', NULL])[1 + i % 5], "
            "CASE WHEN i % 4 = 0 THEN 'structure' WHEN i % 4 = 1 THEN 'layout' END, "
            "(ARRAY['A', 'B', 'C', 'D', NULL])[1 + (i / 2) % 5] "
            "FROM generate_series(1, 300) i",
        ),
        ("status", f"UPDATE farmhouses SET status = '在建' WHERE {mine} AND status = '存量' AND id % 2 = 0"),
        ("stage", f"UPDATE farmhouses SET stage = 'trench' WHERE {mine} AND stage = 'layout'"),
        ("no stage", f"UPDATE farmhouses SET stage = NULL WHERE {mine} AND stage = 'structure' AND id % 3 = 0"),
        ("district", f"UPDATE farmhouses SET district = '{YH}' WHERE {mine} AND id % 7 = 0"),
        ("township", f"UPDATE farmhouses SET township = '{town2}' WHERE {mine} AND id % 5 = 1"),
        ("grade", f"UPDATE farmhouses SET danger_grade = 'C' WHERE {mine} AND id % 6 = 2"),
        ("soft delete", f"UPDATE farmhouses SET deleted_at = now() WHERE {mine} AND id % 9 = 0"),
        ("undelete", f"UPDATE farmhouses SET deleted_at = NULL WHERE {mine} AND id % 18 = 0"),
        (
            "move",
            f"UPDATE farmhouses SET geom = ST_SetSRID(ST_MakePoint({yx}, {yy}), 4326) WHERE {mine} AND id % 4 = 3",
        ),
        ("delete", f"DELETE FROM farmhouses WHERE {mine} AND id % 10 = 1"),
        # The provincial importer's upsert on the provincial code, first inserting, then updating.
        *[
            (
                f"upsert {status}",
                "INSERT INTO farmhouses (geom, code, district, township, status, provincial_code) "
                f"SELECT ST_SetSRID(ST_MakePoint({x} - i * 1e-4, {y}), 4326), '{p}P' || i, '{XH}', "
                f"CASE WHEN i % 2 = 0 THEN '{town}' ELSE '{town2}' END, '{status}', '{p}P' || i "
                f"FROM generate_series(1, {n}) i "
                "ON CONFLICT (provincial_code) WHERE provincial_code IS NOT NULL "
                "DO UPDATE SET status = excluded.status, township = excluded.township",
            )
            for status, n in (("存量", 20), ("已竣工", 30))
        ],
        # The county push's one statement: an update and an insert.
        (
            "update and insert",
            f"WITH u AS (UPDATE farmhouses SET status = '审批中' WHERE {mine} AND status = '已竣工' RETURNING id) "
            "INSERT INTO farmhouses (geom, code, district, township, status) "
            f"SELECT ST_SetSRID(ST_MakePoint({yx}, {yy} + id * 1e-7), 4326), '{p}U' || id, '{YH}', '{town}', '在建' "
            "FROM u",
        ),
    ]
    try:
        for step, sql in steps:
            with engine.begin() as conn:
                conn.execute(text(sql))
            assert_kept(engine, step)
        with engine.begin() as conn:  # COPY, as the demo and bulk loads write
            cursor = conn.connection.driver_connection.cursor()
            with cursor.copy(
                "COPY farmhouses (geom, code, district, township, status, stage, danger_grade) FROM STDIN"
            ) as copy:
                for i in range(200):
                    copy.write_row(
                        (f"SRID=4326;POINT({yx + i * 1e-4} {yy})", f"{p}C{i}", YH, town, ("在建", "审批中")[i % 2],
                         ("layout", None)[i % 2], (None, "D")[i % 3 == 0])
                    )  # fmt: skip
        assert_kept(engine, "copy")
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT count(*) FROM vil_overview_counts")).scalar()
        with engine.begin() as conn:  # nothing counted changes: nothing written
            conn.execute(text(f"UPDATE farmhouses SET floors = floors, owner_name = 'x' WHERE {mine}"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM vil_overview_counts")).scalar() == rows
        assert_kept(engine, "nothing counted")
        before = kept_and_truth(engine)[0]
        with engine.begin() as conn:  # a rolled-back write leaves the counts as they were
            conn.execute(text(f"DELETE FROM farmhouses WHERE {mine}"))
            conn.rollback()
        assert kept_and_truth(engine)[0] == before
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DELETE FROM farmhouses WHERE {mine}"))
    assert_kept(engine, "cleaned up")


def test_a_write_does_not_wait_for_counts_another_transaction_holds(engine, spot):
    """A write whose keys' rows another transaction holds (as a concurrent writer folding them does) goes through at
    once (a lock wait fails here), adding its own rows; the counts are exact, and the next write folds the key's
    rows into one again."""
    tag = spot["tag"]
    x, y = spot[XH]
    p = f"OVW{tag}-"
    town = f"测{tag}村"
    add = text(
        "INSERT INTO farmhouses (geom, code, district, township, status) "
        "SELECT ST_SetSRID(ST_MakePoint(:x + i * 1e-4, :y), 4326), :p || i, :d, :t, '存量' "
        "FROM generate_series(CAST(:a AS int), CAST(:b AS int)) i"
    )
    rows = text("SELECT count(*), sum(n)::int FROM vil_overview_counts WHERE township = :t")
    args = {"x": x, "y": y, "p": p, "d": XH, "t": town}
    try:
        with engine.begin() as conn:
            conn.execute(add, {**args, "a": 1, "b": 3})
        holder, writer = engine.connect(), engine.connect()
        try:
            held = holder.execute(
                text("SELECT count(*) FROM (SELECT 1 FROM vil_overview_counts WHERE township = :t FOR UPDATE) s"),
                {"t": town},
            ).scalar()
            assert held == 1
            writer.execute(text("SET LOCAL lock_timeout = '1s'"))
            writer.execute(add, {**args, "a": 4, "b": 5})
            writer.execute(text("UPDATE farmhouses SET status = '在建' WHERE code = :c"), {"c": f"{p}1"})
            writer.commit()
        finally:
            holder.rollback()
            holder.close()
            writer.close()
        assert_kept(engine, "held rows")
        with engine.connect() as conn:
            assert tuple(conn.execute(rows, {"t": town}).one()) == (3, 5)  # 存量: the held row and one more; 在建
        with engine.begin() as conn:
            conn.execute(add, {**args, "a": 6, "b": 6})
        with engine.connect() as conn:
            assert tuple(conn.execute(rows, {"t": town}).one()) == (2, 6)  # folded: one row per key
        assert_kept(engine, "folded")
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM farmhouses WHERE code LIKE :p"), {"p": p + "%"})


def old_overview(conn, district: str | None) -> dict:
    """What the overview counted from the farmhouses before the kept counts (one aggregate under the caller's
    row-level security): per area the figures, per area and stage the houses under construction, and for townships
    the centroid of their houses."""
    area = "township" if district else "district"
    where = "deleted_at IS NULL" + (" AND district = :d" if district else "")
    figures = conn.execute(
        text(
            f"SELECT {area}, count(*), count(*) FILTER (WHERE status = '存量'), "
            "count(*) FILTER (WHERE status = '审批中'), count(*) FILTER (WHERE status = '在建'), "
            "count(*) FILTER (WHERE status = '已竣工'), count(*) FILTER (WHERE danger_grade IN ('B', 'C', 'D')) "
            f"FROM farmhouses WHERE {where} GROUP BY 1"
        ),
        {"d": district},
    ).all()
    stages = conn.execute(
        text(
            f"SELECT {area}, coalesce(stage, ''), count(*) FROM farmhouses "
            f"WHERE {where} AND status IN ('审批中', '在建') GROUP BY 1, 2"
        ),
        {"d": district},
    ).all()
    out = {
        r[0]: {"houses": r[1], "stock": r[2], "approving": r[3], "building": r[4], "completed": r[5],
               "dangerous": r[6], "stages": {}}
        for r in figures
    }  # fmt: skip
    for name, stage, n in stages:
        out[name]["stages"][stage or "none"] = n
    if district:
        for name, cx, cy in conn.execute(
            text(
                "SELECT township, ST_X(c), ST_Y(c) FROM (SELECT township, ST_Centroid(ST_Collect(geom)) c "
                f"FROM farmhouses WHERE {where} GROUP BY 1) s"
            ),
            {"d": district},
        ):
            out[name]["position"] = (cx, cy)
    return out


def assert_same(answer: dict, old: dict) -> None:
    got = {r["name"]: r for r in answer["rows"]}
    assert set(got) == set(old)
    for name, want in old.items():
        for k in ("houses", "stock", "approving", "building", "completed", "dangerous", "stages"):
            assert got[name][k] == want[k], (name, k)
        if "position" in want:
            assert got[name]["position"][0] == pytest.approx(want["position"][0], abs=1e-6), name
            assert got[name]["position"][1] == pytest.approx(want["position"][1], abs=1e-6), name
    for k in ("houses", "stock", "approving", "building", "completed", "dangerous"):
        assert answer["totals"][k] == sum(v[k] for v in old.values()), k


def test_the_overview_reads_the_kept_counts_right_after_writes(engine, spot, app):
    """Right after writes the overview (city, one district by township, a district account) equals what the old
    aggregate counts from the farmhouses under the same row-level security, township positions included (the
    centroid of the houses, to 1e-6); the district account's own read of the counts holds its district only."""
    from fastapi.testclient import TestClient

    from geo import scope as scopes
    from geo.db import transaction
    from layers.villages.overview import overview

    tag = spot["tag"]
    (x, y), (yx, yy) = spot[XH], spot[YH]
    p = f"OVR{tag}-"
    town = f"测{tag}街道"
    clerk = make_user(f"vov-read-{tag}", ["district_staff"], district=XH)
    city = make_user(f"vov-rcity-{tag}", ["city_supervisor"])
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO farmhouses (geom, code, district, township, status, stage, danger_grade) "
                "SELECT ST_SetSRID(ST_MakePoint(:x + i * 3e-4, :y + (i % 7) * 2e-4), 4326), :p || i, "
                "CASE WHEN i % 4 = 0 THEN :yh ELSE :xh END, :t, (ARRAY['存量', '审批中', '在建', '已竣工'])[1 + i % 4], "
                "CASE WHEN i % 3 = 0 THEN 'structure' END, CASE WHEN i % 5 = 0 THEN 'D' END "
                "FROM generate_series(1, 60) i"
            ),
            {"x": x, "y": y, "p": p, "xh": XH, "yh": YH, "t": town},
        )
    try:
        for write in (
            None,
            f"UPDATE farmhouses SET status = '在建', stage = 'layout' WHERE code LIKE '{p}%' AND id % 3 = 1",
            f"UPDATE farmhouses SET geom = ST_SetSRID(ST_MakePoint({yx}, {yy}), 4326), district = '{YH}' "
            f"WHERE code LIKE '{p}%' AND id % 4 = 2",
            f"UPDATE farmhouses SET deleted_at = now() WHERE code LIKE '{p}%' AND id % 5 = 3",
        ):
            if write:
                with engine.begin() as conn:
                    conn.execute(text(write))
            for scope, district in (
                (scopes.Scope.of(all=True), None),
                (scopes.Scope.of(all=True), XH),
                (scopes.Scope.of(all=True), YH),
                (scopes.Scope.of(districts=[XH]), None),
                (scopes.Scope.of(districts=[XH]), XH),
            ):
                with transaction(scope) as conn:
                    assert_same(overview(conn, district), old_overview(conn, district))
            with transaction(scopes.Scope.of(districts=[XH])) as conn:
                seen = conn.execute(text("SELECT DISTINCT district FROM vil_overview_counts")).scalars().all()
                assert seen == [XH]
                assert {r["name"] for r in overview(conn, None)["rows"]} == {XH}
                assert overview(conn, YH)["rows"] == []
        with TestClient(app) as c:  # over HTTP, as the page asks
            mine = c.get(f"{API}/overview", headers=clerk).json()
            assert [r["name"] for r in mine["rows"]] == [XH]
            whole = c.get(f"{API}/overview", params={"district": XH}, headers=city).json()
        row = next(r for r in whole["rows"] if r["name"] == town)
        assert set(row) == {"name", "houses", "stock", "approving", "building", "completed", "dangerous", "stages",
                            "craftsmen", "position"}  # fmt: skip
        with engine.connect() as conn:
            assert_same(whole, old_overview(conn, XH))
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DELETE FROM farmhouses WHERE code LIKE '{p}%'"))


def test_the_kept_counts_read_policy_is_the_farmhouses_one(engine):
    """Row-level security on ``vil_overview_counts`` is the farmhouses' read policy ('' for their NULL district),
    read-only for the app role, which cannot call the rebuild either."""
    with engine.connect() as conn:
        policies = dict(
            conn.execute(
                text(
                    "SELECT tablename, string_agg(cmd || ':' || qual, ';' ORDER BY policyname) FROM pg_policies "
                    "WHERE tablename IN ('farmhouses', 'vil_overview_counts') AND cmd IN ('SELECT', 'ALL') "
                    "GROUP BY 1"
                )
            ).all()
        )
        grants = conn.execute(
            text(
                "SELECT privilege_type FROM information_schema.role_table_grants "
                "WHERE table_name = 'vil_overview_counts' AND grantee = 'chengjian_app'"
            )
        ).scalars().all()  # fmt: skip
        rebuild = conn.execute(
            text("SELECT has_function_privilege('chengjian_app', 'vil_overview_rebuild()', 'EXECUTE')")
        ).scalar()
    assert policies["farmhouses"] == "SELECT:chengjian_scope_ok(district, NULL::text, NULL::bigint)"
    assert (
        policies["vil_overview_counts"]
        == "SELECT:chengjian_scope_ok(NULLIF(district, ''::text), NULL::text, NULL::bigint)"
    )
    assert grants == ["SELECT"] and rebuild is False
