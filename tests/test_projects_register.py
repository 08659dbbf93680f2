"""The project register (DC-01): the project code's checks, the one query API (a project with its linked records
grouped by module), row-level security, the Excel import (all or nothing, row-numbered report) and export, and the
back-office page in Chromium — against the real PostGIS."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import text

from geo.errors import Invalid
from layers.projects import check_code
from tests.conftest import TEST_PASSWORD, chromium, make_user, running_server

XH_CODE = "2024-330106-47-01-900001"  # 西湖区
YH_CODE = "2023-330110-48-03-900002"  # 余杭区
NEW_CODE = "2025-330108-47-01-900003"  # 滨江区, made by the create test
IMPORTED = ("2024-330102-47-01-900101", "2024-330105-47-01-900102")
MINE = (XH_CODE, YH_CODE, NEW_CODE, *IMPORTED)


def centre(conn, district: str) -> tuple[float, float]:
    return tuple(
        conn.execute(
            text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts WHERE name = :n) s"),
            {"n": district},
        ).one()
    )


def _forget(conn) -> None:
    ids = [
        r[0] for r in conn.execute(text("SELECT site_id FROM projects WHERE project_code = ANY(:c)"), {"c": list(MINE)})
    ]
    conn.execute(text("DELETE FROM review_projects WHERE code = ANY(:c)"), {"c": list(MINE)})
    for table in ("st_reports", "st_deductions"):
        conn.execute(text(f"DELETE FROM {table} WHERE site_id = ANY(:s)"), {"s": [i for i in ids if i]})
    conn.execute(text("DELETE FROM projects WHERE project_code = ANY(:c)"), {"c": list(MINE)})
    conn.execute(text("DELETE FROM site_fences WHERE site_id = ANY(:s)"), {"s": [i for i in ids if i]})
    conn.execute(text("DELETE FROM sites WHERE id = ANY(:s)"), {"s": [i for i in ids if i]})


@pytest.fixture(scope="module")
def world(engine):
    """Two projects of the register: one in 西湖区 with a site, its fence, two monthly reports, a deduction and a
    drawing review filed under its code; one in 余杭区 without a site."""
    with engine.begin() as conn:
        _forget(conn)
        x, y = (round(v, 6) for v in centre(conn, "西湖区"))  # what GeoJSON and the export carry
        sid = conn.execute(
            text(
                "INSERT INTO sites (geom, code, name, district, status) VALUES "
                "(ST_SetSRID(ST_MakePoint(:x, :y), 4326), 'PRJ-T-0001', '西湖区项目库测试工程', '西湖区', '在建') RETURNING id"
            ),
            {"x": x, "y": y},
        ).scalar()
        conn.execute(
            text(
                "INSERT INTO site_fences (geom, site_id, name, district) VALUES (ST_Multi(ST_MakeEnvelope("
                ":x - 0.002, :y - 0.002, :x + 0.002, :y + 0.002, 4326)), :s, '测试围栏', '西湖区')"
            ),
            {"x": x, "y": y, "s": sid},
        )
        conn.execute(
            text(
                "INSERT INTO projects (code, project_code, name, site_id, permit_no, approved_on, permit_date, "
                "start_date) VALUES ('PRJ-T-0001', :c, '西湖区项目库测试工程', :s, '330106202401010199', "
                "'2024-01-10', '2024-05-01', '2024-06-01')"
            ),
            {"c": XH_CODE, "s": sid},
        )
        conn.execute(
            text(
                "INSERT INTO st_reports (site_id, month, status, district) VALUES "
                "(:s, '2024-07-01', 'received', '西湖区'), (:s, '2024-08-01', 'submitted', '西湖区')"
            ),
            {"s": sid},
        )
        item = conn.execute(text("SELECT id FROM st_catalog WHERE kind = 'deduction' ORDER BY id LIMIT 1")).scalar()
        conn.execute(
            text(
                "INSERT INTO st_deductions (site_id, item_id, subject_kind, subject_code, subject_name, points, reason, "
                "occurred_on, district) VALUES (:s, :i, 'enterprise', '91330100MA2XXXXXX0', '测试建工', 3, '扬尘', "
                "'2024-09-01', '西湖区')"
            ),
            {"s": sid, "i": item},
        )
        conn.execute(
            text(
                "INSERT INTO review_projects (geom, code, name, district, status) VALUES "
                "(ST_SetSRID(ST_MakePoint(:x, :y), 4326), :c, '西湖区项目库测试工程施工图审查', '西湖区', '审查合格')"
            ),
            {"x": x, "y": y, "c": XH_CODE},
        )
        conn.execute(
            text(
                "INSERT INTO projects (code, project_code, name, district, approved_on, planning_permit_on) VALUES "
                "(:c, :c, '余杭区项目库测试工程', '余杭区', '2023-03-01', '2023-08-01')"
            ),
            {"c": YH_CODE},
        )
    yield {"site_id": sid, "lon": x, "lat": y}
    with engine.begin() as conn:
        _forget(conn)


@pytest.fixture(scope="module")
def clerk_xh():
    return make_user("prj-clerk-xihu", ["district_staff"], district="西湖区")


@pytest.fixture(scope="module")
def city():
    return make_user("prj-city", ["city_supervisor"])


# -- the project code ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    ["2024-330106-47-01-123456", "2019-330103-47-01-000123", "2024-330100-47-02-123456", "2017-330182-10-03-654321"],
)
def test_valid_codes(code):
    assert check_code(code) == code


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("2024330106470112345", "年份-行政区划代码"),  # no dashes
        ("2024-330106-47-01-12345", "年份-行政区划代码"),  # a short serial
        (" 2024-330106-47-01-123456", "年份-行政区划代码"),  # never trimmed
        ("2024-330206-47-01-123456", "330206 不是杭州市"),  # 宁波市海曙区
        ("2024-110105-47-01-123456", "110105 不是杭州市"),  # 北京市朝阳区
        ("2023-330103-47-01-123456", "下城区的代码只用到 2021 年"),
        ("2009-330106-47-01-123456", "年份 2009"),
        ("2999-330106-47-01-123456", "年份 2999"),
        ("2024-330106-47-01-000000", "流水号"),
    ],
)
def test_invalid_codes(code, says):
    with pytest.raises(Invalid) as e:
        check_code(code)
    assert e.value.code == "invalid_project_code" and says in e.value.message


def test_database_refuses_a_malformed_code(engine, world):
    """The shape and division are also the table's check: no writer stores a malformed code."""
    import sqlalchemy as sa

    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(text("INSERT INTO projects (code, project_code, name) VALUES ('X-1', '2024-330206-47-01-1', 'x')"))


def test_stage_follows_the_dates_and_site_fills_the_rest(engine, world):
    with engine.begin() as conn:
        row = conn.execute(
            text(
                "SELECT stage, district, permit_nos, ST_X(geom), ST_Y(geom), boundary IS NOT NULL FROM projects "
                "WHERE project_code = :c"
            ),
            {"c": XH_CODE},
        ).one()
        assert row[0] == "开工" and row[1] == "西湖区" and row[2] == ["330106202401010199"]
        assert (round(row[3], 6), round(row[4], 6)) == (round(world["lon"], 6), round(world["lat"], 6))
        assert (
            conn.execute(text("SELECT stage FROM projects WHERE project_code = :c"), {"c": YH_CODE}).scalar()
            == "规划许可"
        )


# -- the one query API -----------------------------------------------------------------------------------------


def test_project_with_its_linked_records_grouped_by_module(client, world, city):
    r = client.get(f"/api/registers/projects/{XH_CODE}", headers=city)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["project"]["project_code"] == XH_CODE and body["project"]["stage"] == "开工"
    assert body["record_url"] == f"/records/projects/{XH_CODE}"
    st = body["linked"]["standard_sites"]
    assert st["title"] == "标化工地"
    groups = st["groups"]
    assert groups["月度申报"]["total"] == 2 and groups["月度申报"]["kind"] == "st_report"
    assert [row["month"] for row in groups["月度申报"]["rows"]] == ["2024-08-01", "2024-07-01"]
    assert groups["月度申报"]["states"]["received"] == "主管部门已接收"
    assert groups["减分记录"]["total"] == 1
    assert groups["标化工地"]["rows"][0]["id"] == world["site_id"]
    review = body["linked"]["drawing_review"]["groups"]["施工图审查"]
    assert review["total"] == 1 and review["rows"][0]["code"] == XH_CODE
    # A project without a site has nothing hanging off it yet.
    r = client.get(f"/api/registers/projects/{YH_CODE}", headers=city)
    assert r.status_code == 200
    assert all(g["total"] == 0 for m in r.json()["linked"].values() for g in m["groups"].values())


def test_malformed_and_unknown_codes(client, world, city):
    r = client.get("/api/registers/projects/2024-330206-47-01-123456", headers=city)
    assert r.status_code == 422 and r.json()["code"] == "invalid_project_code"
    assert "杭州" in r.json()["message"]
    r = client.get("/api/registers/projects/2024-330106-47-01-999999", headers=city)
    assert r.status_code == 404


def test_district_account_sees_only_its_district(client, world, clerk_xh):
    assert client.get(f"/api/registers/projects/{XH_CODE}", headers=clerk_xh).status_code == 200
    r = client.get(f"/api/registers/projects/{YH_CODE}", headers=clerk_xh)
    assert r.status_code == 404
    listed = client.get("/api/registers/projects", params={"q": "项目库测试工程"}, headers=clerk_xh).json()
    assert [p["project_code"] for p in listed["projects"]] == [XH_CODE]
    assert {
        p["district"]
        for p in client.get("/api/registers/projects", params={"limit": 200}, headers=clerk_xh).json()["projects"]
    } <= {"西湖区"}
    assert client.get("/api/registers/projects", params={"district": "余杭区"}, headers=clerk_xh).json()["total"] == 0


def test_list_search_filters_and_paging(client, world, city):
    r = client.get("/api/registers/projects", params={"q": "330106202401010199"}, headers=city).json()
    assert [p["project_code"] for p in r["projects"]] == [XH_CODE]
    r = client.get("/api/registers/projects", params={"q": "项目库测试", "stage": "规划许可"}, headers=city).json()
    assert [p["project_code"] for p in r["projects"]] == [YH_CODE]
    r = client.get(
        "/api/registers/projects", params={"q": "项目库测试", "limit": 1, "sort": "-project_code"}, headers=city
    )
    assert r.json()["total"] == 2 and [p["project_code"] for p in r.json()["projects"]] == [XH_CODE]
    assert client.get("/api/registers/projects", params={"stage": "不存在"}, headers=city).status_code == 422
    assert client.get("/api/registers/projects", headers=make_user("prj-nobody", ["public"])).status_code == 403


def test_create_and_update(client, engine, world, city, clerk_xh):
    with engine.connect() as conn:
        x, y = centre(conn, "滨江区")
    body = {
        "project_code": NEW_CODE,
        "name": "滨江区项目库新建工程",
        "district": "滨江区",
        "project_type": "房屋建筑",
        "approved_on": "2025-02-01",
        "planning_permit_on": "2025-05-01",
        "permit_nos": ["330108202506010101", "330108202506010102"],
        "permit_date": "2025-06-01",
        "lon": round(x, 6),
        "lat": round(y, 6),
    }
    r = client.post("/api/registers/projects", json={**body, "project_code": "2025-330108-47-01-12"}, headers=city)
    assert r.status_code == 422 and r.json()["code"] == "invalid_project_code"
    r = client.post("/api/registers/projects", json={**body, "lon": 120.0, "lat": 29.6}, headers=city)  # 淳安/建德
    assert r.status_code == 422 and r.json()["code"] == "outside_district"
    r = client.post("/api/registers/projects", json={**body, "permit_date": "2025-01-01"}, headers=city)
    assert r.status_code == 422 and r.json()["code"] == "stage_out_of_order"
    r = client.post("/api/registers/projects", json=body, headers=clerk_xh)  # not the clerk's to keep
    assert r.status_code == 403
    r = client.post("/api/registers/projects", json=body, headers=city)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["stage"] == "施工许可" and made["permit_no"] == "330108202506010101" and made["version"] == 1
    r = client.post("/api/registers/projects", json=body, headers=city)
    assert r.status_code == 422 and r.json()["code"] == "duplicate_project_code"
    r = client.patch(
        f"/api/registers/projects/{NEW_CODE}", json={"version": 1, "start_date": "2025-07-01"}, headers=city
    )
    assert r.status_code == 200 and r.json()["stage"] == "开工" and r.json()["version"] == 2
    r = client.patch(f"/api/registers/projects/{NEW_CODE}", json={"version": 1, "name": "x"}, headers=city)
    assert r.status_code == 409
    with engine.connect() as conn:
        actions = [
            a
            for (a,) in conn.execute(
                text("SELECT action FROM audit_log WHERE layer = 'projects' AND feature_id = :i ORDER BY id"),
                {"i": made["id"]},
            )
        ]
        assert actions == ["create", "update"]
        assert (
            conn.execute(text("SELECT name FROM projects WHERE id = :i"), {"i": made["id"]}).scalar()
            == "滨江区项目库新建工程"
        )


def test_registration_reads_the_register(client, engine, world):
    """ST-01: the standardized-site registration takes the project from the register — by its project code, with any
    of its permit numbers — and marks the day it came under supervision (the stage follows)."""
    from layers.standard_sites.demo import uscc_for

    unit = uscc_for("项目库测试建工集团")
    with engine.begin() as conn:
        for name in ("项目库测试建工集团", "项目库测试监理公司"):  # units are enterprises of the register
            conn.execute(
                text("INSERT INTO enterprises (uscc, name) VALUES (:u, :n) ON CONFLICT (uscc) DO NOTHING"),
                {"u": uscc_for(name), "n": name},
            )
        conn.execute(
            text(
                "UPDATE projects SET construction_name = '项目库测试建工集团', construction_uscc = :u, "
                "supervision_name = '项目库测试监理公司', supervision_uscc = :s, "
                "permit_nos = ARRAY['330106202401010199', '330106202403010299'] WHERE project_code = :c"
            ),
            {"u": unit, "s": uscc_for("项目库测试监理公司"), "c": XH_CODE},
        )
    body = {
        "project_code": XH_CODE,
        "permit_no": "330106202403010299",  # the project's second permit
        "construction_uscc": unit,
        "construction_contact": {"name": "施工联系人", "phone": "13911000091"},
        "supervision_contact": {"name": "监理联系人", "phone": "13922000091"},
    }
    r = client.post("/api/st/registrations", json={**body, "permit_no": "330106209901010101"})
    assert r.status_code == 422 and r.json()["code"] == "permit_mismatch"
    r = client.post("/api/st/registrations", json={**body, "project_code": "2024-330106-47-01-999999"})
    assert r.status_code == 404 and r.json()["code"] == "project_not_found"
    try:
        r = client.post("/api/st/registrations", json=body)
        assert r.status_code == 201, r.text
        with engine.connect() as conn:
            stage, day = conn.execute(
                text("SELECT stage, st_supervised_on FROM projects WHERE project_code = :c"), {"c": XH_CODE}
            ).one()
        assert stage == "标化监管" and day is not None
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM st_registrations WHERE site_id = :s"), {"s": world["site_id"]})
            conn.execute(text("DELETE FROM users WHERE username IN ('sg-PRJ-T-0001', 'jl-PRJ-T-0001')"))
            conn.execute(
                text(
                    "UPDATE projects SET st_supervised_on = NULL, permit_nos = ARRAY['330106202401010199'], "
                    "construction_name = NULL, construction_uscc = NULL, supervision_name = NULL, "
                    "supervision_uscc = NULL WHERE project_code = :c"
                ),
                {"c": XH_CODE},
            )


def test_import_outside_the_district_is_refused(client, engine, world, clerk_xh):
    """A district account imports its district's projects only: another district's row is reported, nothing stored."""
    header = ["项目代码", "项目名称", "所属区县"]
    rows = [[IMPORTED[0], "上城区导入测试工程（区县账号）", "上城区"]]
    r = _upload(client, clerk_xh, _workbook(header, rows))
    assert r.status_code == 422
    (e,) = r.json()["detail"]["errors"]
    assert (e["row"], e["code"]) == (2, "out_of_scope")
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM projects WHERE name = '上城区导入测试工程（区县账号）'")).scalar()
            == 0
        )


# -- Excel ------------------------------------------------------------------------------------------------------


def _workbook(header: list[str], rows: list[list]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "项目库"
    ws.append(header)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _upload(client, headers, content: bytes, mode: str = "commit"):
    return client.post(
        "/api/registers/projects/import",
        params={"mode": mode},
        files={"file": ("p.xlsx", content, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")},
        headers=headers,
    )


def _count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM projects WHERE project_code = ANY(:c)"), {"c": list(IMPORTED)}
        ).scalar()


def test_import_with_a_bad_row_stores_nothing(client, engine, world, city):
    header = ["项目代码", "项目名称", "所属区县", "开工日期", "施工许可证号"]
    good = [IMPORTED[0], "上城区导入测试工程", "上城区", "2024-06-01", "330102202405010101"]
    bad_district = [IMPORTED[1], "拱墅区导入测试工程", "下城区", None, None]
    bad_code = ["2024-320106-47-01-123456", "南京的项目", "拱墅区", None, None]
    r = _upload(client, city, _workbook(header, [good, bad_district, bad_code]))
    assert r.status_code == 422 and r.json()["code"] == "import_rejected"
    errors = r.json()["detail"]["errors"]
    assert [(e["row"], e["column"], e["code"]) for e in errors] == [
        (3, "所属区县", "unknown_district"),
        (4, "项目代码", "invalid_project_code"),
    ]
    assert errors[0]["message"].startswith("第 3 行：")
    assert _count(engine) == 0
    # A wrong header: reported as row 1, nothing stored.
    r = _upload(client, city, _workbook(["项目编号", "项目名称", "所属区县"], [good[:3]]))
    assert r.status_code == 422
    (e,) = r.json()["detail"]["errors"]
    assert e["row"] == 1 and e["code"] == "bad_header" and "项目代码" in e["message"] and "项目编号" in e["message"]
    assert _count(engine) == 0
    # The dry run checks and stores nothing; the commit stores both.
    fixed = [IMPORTED[1], "拱墅区导入测试工程", "拱墅区", None, None]
    r = _upload(client, city, _workbook(header, [good, fixed]), "dry_run")
    assert r.status_code == 200 and r.json()["valid"] and r.json()["created"] == 2 and _count(engine) == 0
    r = _upload(client, city, _workbook(header, [good, fixed]))
    assert r.status_code == 201 and r.json()["created"] == 2 and _count(engine) == 2


def test_export_round_trip(client, engine, world, city):
    r = client.get("/api/registers/projects/export", params={"q": "项目库测试"}, headers=city)
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    header = list(rows[0])
    assert header[:3] == ["项目代码", "项目名称", "所属区县"]
    by_code = {row[0]: dict(zip(header, row)) for row in rows[1:]}
    assert set(by_code) == {XH_CODE, YH_CODE}
    assert by_code[XH_CODE]["施工许可证号"] == "330106202401010199" and by_code[XH_CODE]["当前阶段"] == "开工"
    with engine.connect() as conn:
        before = conn.execute(
            text(
                "SELECT project_code, name, district, permit_nos, approved_on, start_date, ST_AsText(geom), version "
                "FROM projects WHERE project_code = ANY(:c) ORDER BY 1"
            ),
            {"c": [XH_CODE, YH_CODE]},
        ).all()
    r = _upload(client, city, r.content)
    assert r.status_code == 201, r.text
    assert r.json()["updated"] == 2 and r.json()["created"] == 0
    with engine.connect() as conn:
        after = conn.execute(
            text(
                "SELECT project_code, name, district, permit_nos, approved_on, start_date, ST_AsText(geom), version "
                "FROM projects WHERE project_code = ANY(:c) ORDER BY 1"
            ),
            {"c": [XH_CODE, YH_CODE]},
        ).all()
    assert [a[:-1] for a in after] == [b[:-1] for b in before]  # the same project, one version on
    assert [a[-1] for a in after] == [b[-1] + 1 for b in before]


# -- the demo ---------------------------------------------------------------------------------------------------


def test_demo_seeder(engine):
    """The seeder, on its own, in a transaction rolled back: 5,000 projects (the sites' among them), valid codes,
    every stage, units, points inside their districts."""
    from etl.demo import World, load_districts
    from layers.enterprises.demo import seed_site_units
    from layers.projects.demo import PROJECTS, seed_projects

    with engine.connect() as conn, conn.begin() as tx:
        x, y = centre(conn, "拱墅区")
        conn.execute(
            text(
                "INSERT INTO sites (geom, code, name, district, status, start_date, permit_no, builder, "
                "construction_unit, supervision_unit, project_type) VALUES (ST_SetSRID(ST_MakePoint(:x, :y), 4326), "
                "'PRJ-DEMO-1', '拱墅区演示工程', '拱墅区', '在建', '2025-03-01', '330105202503010101', '杭州测试置业有限公司', "
                "'浙江测试建设集团有限公司', '杭州测试工程监理有限公司', '房屋建筑')"
            ),
            {"x": x, "y": y},
        )
        sites = conn.execute(
            text(
                "SELECT count(*) FROM sites s WHERE deleted_at IS NULL AND NOT EXISTS "
                "(SELECT 1 FROM projects p WHERE p.site_id = s.id OR p.code = s.code)"
            )
        ).scalar()
        assert sites >= 1  # the one above at least; the world's site has its project already
        before = conn.execute(text("SELECT coalesce(max(id), 0) FROM projects")).scalar()
        world = World(7, load_districts(conn), 0, "test")
        seed_site_units(conn, world)  # the units the sites name are enterprises of the register (foreign keys)
        seed_projects(conn, world)
        rows = conn.execute(
            text(
                "SELECT p.project_code, p.stage, p.district, p.site_id, p.construction_uscc, p.supervision_uscc, "
                "p.builder_uscc, d.name AS inside, p.boundary IS NOT NULL FROM projects p "
                "LEFT JOIN districts d ON ST_Intersects(d.geom, p.geom) WHERE p.id > :b"
            ),
            {"b": before},
        ).all()
        tx.rollback()
    assert len(rows) == PROJECTS and sum(1 for r in rows if r.site_id) == sites
    assert len({r.project_code for r in rows}) == PROJECTS
    for r in rows:
        check_code(r.project_code)
    assert {r.stage for r in rows} >= {"立项", "规划许可", "施工图审查", "施工许可", "开工", "竣工验收"}
    outside = [(r.project_code, r.district, r.inside) for r in rows if r.inside != r.district]
    assert outside == []
    assert all(r.construction_uscc and r.supervision_uscc and r.builder_uscc for r in rows if r.site_id is None)
    assert sum(r[-1] for r in rows) > PROJECTS // 3  # boundaries where known


# -- the page ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(app, world):
    with running_server(app) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with chromium(expect_timeout_ms=15_000) as b:
        yield b


def test_page_in_chromium(browser, server, world, city):
    """Sign in, search, open a project: its stage timeline, its linked records with links to their record pages,
    the register's record page link; a district account sees only its district."""
    from playwright.sync_api import expect

    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/registers/projects")
    page.locator("#login input[name=username]").fill("prj-city")
    page.locator("#login input[name=password]").fill(TEST_PASSWORD)
    page.locator("#login button[type=submit]").click()
    expect(page.locator("body")).to_have_attribute("data-state", "app")
    for button in ("#export", "#import", "#create"):
        expect(page.locator(button)).to_be_visible()
    page.locator(".filters input[name=q]").fill("项目库测试工程")
    page.locator(".filters button[type=submit]").click()
    rows = page.locator(".list tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator(".page-info")).to_contain_text("共 2 条")
    row = rows.filter(has_text=XH_CODE)
    expect(row.locator(f"a[href='/records/projects/{XH_CODE}']")).to_be_visible()
    expect(row.locator(".stage")).to_have_text("开工")
    row.locator("td").nth(1).click()
    dlg = page.locator("dialog[open]")
    expect(dlg).to_contain_text("西湖区项目库测试工程")
    expect(page).to_have_url(f"{server}/registers/projects#{XH_CODE}")
    steps = dlg.locator(".timeline li")
    expect(steps).to_have_count(7)
    expect(dlg.locator(".timeline li.reached")).to_have_count(5)  # 立项 … 开工 (the earlier stages count as passed)
    expect(dlg.locator(".timeline li.current")).to_contain_text("开工")
    expect(dlg.locator(".timeline li").first).to_contain_text("2024-01-10")
    expect(dlg.locator("#record-link")).to_have_attribute("href", f"/records/projects/{XH_CODE}")
    expect(dlg.locator(".linked h3", has_text="标化工地")).to_be_visible()
    expect(dlg.locator(".group", has_text="月度申报")).to_contain_text("共 2 条")
    expect(dlg.locator(".group", has_text="月度申报")).to_contain_text("主管部门已接收")  # the state in Chinese
    expect(dlg.locator(".group", has_text="施工图审查").locator("a")).to_have_attribute(
        "href", re.compile(r"^/records/review_projects/\d+$")
    )
    # Editing from the detail: a stale or bad value shows its message next to the field.
    dlg.locator("#edit").click()
    form = page.locator("dialog[open]").last
    form.locator("input[name=completion_date]").fill("2024-03-01")
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-field=completion_date] .field-error")).to_contain_text("早于")
    form.locator("button", has_text="取消").click()
    context.close()

    # A district account: its district only.
    make_user("prj-clerk-xihu", ["district_staff"], district="西湖区")
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/registers/projects")
    page.locator("#login input[name=username]").fill("prj-clerk-xihu")
    page.locator("#login input[name=password]").fill(TEST_PASSWORD)
    page.locator("#login button[type=submit]").click()
    expect(page.locator("body")).to_have_attribute("data-state", "app")
    expect(page.locator("#import")).to_be_visible()  # its district's projects only (row-level security)
    expect(page.locator("#create")).to_have_count(0)  # keeping the register is the city's
    page.locator(".filters input[name=q]").fill("项目库测试工程")
    page.locator(".filters button[type=submit]").click()
    expect(page.locator(".list tbody tr")).to_have_count(1)
    expect(page.locator(".list tbody tr")).to_contain_text(XH_CODE)
    context.close()
    assert errors == []
