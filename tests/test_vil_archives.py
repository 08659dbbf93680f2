"""Farmhouse archives (VT-03) and the overview's figures (VT-01): the import of Excel, CSV and GeoPackage files into
``farmhouses`` (checked first, refused rows named by their row number, nothing half-loaded, a district account held
to its district, every run in the import log), the search (owner names masked without ``person.unmask``), the
statistics and the Excel export recomputed here from the table, the city's report requests (要求上报) seen and
fulfilled by the county only and flagged when overdue, the 杭派民居 gallery managed by administrators only, and
the overview's figures against the table. Real accounts, the real PostGIS; each test counts only its own rows
(codes carry a per-run tag)."""

from __future__ import annotations

import io
import uuid
from datetime import date, timedelta

import geopandas as gpd
import pytest
import shapely
from openpyxl import Workbook, load_workbook
from PIL import Image
from sqlalchemy import text

from geo.bounds import today
from tests.conftest import ADMIN, make_user, set_environment

XH, YH = "西湖区", "余杭区"
API = "/api/villages"
HEADER = ["农房编号", "户主姓名", "所属区县", "乡镇街道", "行政村", "层数", "结构类型", "建成年份", "建设状态",
          "审批文号", "审批日期", "建设阶段", "经度", "纬度"]  # fmt: skip


@pytest.fixture(scope="module")
def world(engine, app, tmp_path_factory):
    restore = set_environment(CHENGJIAN_FILES_DIR=str(tmp_path_factory.mktemp("vil-files")))
    tag = uuid.uuid4().hex[:6].upper()
    info = {
        "tag": tag,
        "xh": make_user(f"va-xh-{tag}", ["district_staff"], district=XH),
        "yh": make_user(f"va-yh-{tag}", ["district_staff"], district=YH),
        "city": make_user(f"va-city-{tag}", ["city_supervisor"]),
    }
    with engine.connect() as conn:
        for d in (XH, YH):
            x, y = conn.execute(
                text(
                    "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts WHERE name = :d) s"
                ),
                {"d": d},
            ).one()
            info[d] = (round(x, 6), round(y, 6))
    yield info
    restore()


def row(world, code: str, district: str = XH, **over) -> list:
    values = {
        "农房编号": code, "户主姓名": "王建国", "所属区县": district, "乡镇街道": "转塘街道", "行政村": "龙坞村",
        "层数": 3, "结构类型": "砖混", "建成年份": 2001, "建设状态": "存量", "审批文号": None, "审批日期": None,
        "建设阶段": None, "经度": world[district][0], "纬度": world[district][1],
    }  # fmt: skip
    values.update(over)
    return [values[h] for h in HEADER]


def xlsx(rows: list[list]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def upload(client, who, content: bytes, name: str, mode: str = "commit"):
    return client.post(f"{API}/archives/import", params={"mode": mode}, headers=who, files={"file": (name, content)})


def stored(engine, prefix: str) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT code, owner_name, district, status, stage, approval_no, approved_on, source, floors "
                 "FROM farmhouses WHERE code LIKE :p ORDER BY code"),
            {"p": prefix + "%"},
        ).mappings()  # fmt: skip
        return [dict(r) for r in rows]


def test_an_excel_file_is_tried_then_imported_with_its_stages_and_logged(client, engine, world):
    p = f"XA{world['tag']}-"
    content = xlsx([
        row(world, p + "1"),
        row(world, p + "2", **{"建设状态": "在建", "审批文号": "西建农〔2026〕12号", "审批日期": "2026-03-02",
                               "建设阶段": "基槽验线"}),
        row(world, p + "3", **{"建设状态": "已竣工", "建设阶段": "completion"}),
    ])  # fmt: skip
    r = upload(client, world["xh"], content, "农房.xlsx", "dry_run")
    assert r.status_code == 200, r.text
    assert (r.json()["rows"], r.json()["accepted"], r.json()["rejected"]) == (3, 3, 0)
    assert stored(engine, p) == []
    r = upload(client, world["xh"], content, "农房.xlsx")
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["committed"]["rows"] == 3
    houses = stored(engine, p)
    assert [(h["stage"], h["source"], h["district"]) for h in houses] == [
        (None, "import", XH), ("trench", "import", XH), ("completion", "import", XH)
    ]  # fmt: skip
    assert houses[1]["approval_no"] == "西建农〔2026〕12号" and houses[1]["approved_on"] == date(2026, 3, 2)
    log = client.get(f"{API}/archives/imports/{report['import_id']}", headers=world["xh"]).json()
    assert (log["mode"], log["committed"], log["accepted"], log["district"]) == ("commit", True, 3, XH)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM audit_log WHERE action = 'import' AND layer = 'farmhouses' "
                              "AND (after->>'first_id')::bigint = :f"), {"f": report["committed"]["first_id"]}).scalar()  # fmt: skip
    assert n == 1
    # The same file again: every code exists now, each row refused by its number, nothing added.
    r = upload(client, world["xh"], content, "农房.xlsx")
    assert r.status_code == 422 and r.json()["code"] == "import_rejected"
    assert [e["row"] for e in r.json()["detail"]["errors"]] == [2, 3, 4]
    assert len(stored(engine, p)) == 3


def test_bad_rows_are_named_by_their_row_and_nothing_is_loaded(client, engine, world):
    p = f"XB{world['tag']}-"
    content = xlsx([
        row(world, p + "1"),
        row(world, p + "2", **{"层数": 40}),
        row(world, p + "3", **{"建设状态": "在建", "建设阶段": "封顶"}),
        row(world, p + "4", **{"建设阶段": "开工放样"}),
        row(world, p + "1"),
        row(world, p + "6"),
    ])  # fmt: skip
    r = upload(client, world["xh"], content, "坏.xlsx")
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "import_rejected" and "4 行" in body["message"]
    errors = {(e["row"], e["code"]) for e in body["detail"]["errors"]}
    assert {(4, "unknown_stage"), (5, "stage_without_construction"), (6, "duplicate_code")} <= errors
    assert {e[0] for e in errors} == {3, 4, 5, 6}
    assert "封顶" in next(e["message"] for e in body["detail"]["errors"] if e["code"] == "unknown_stage")
    assert stored(engine, p) == []
    with engine.connect() as conn:
        log = conn.execute(text("SELECT committed, rejected FROM vil_imports WHERE id = :i"),
                           {"i": body["detail"]["import_id"]}).one()  # fmt: skip
    assert tuple(log) == (False, 4)


def test_csv_and_geopackage_files_are_imported(client, engine, world, tmp_path):
    p = f"XC{world['tag']}-"
    lines = [",".join(HEADER)] + [",".join("" if v is None else str(v) for v in row(world, p + str(i))) for i in (1, 2)]
    r = upload(client, world["xh"], ("\n".join(lines) + "\n").encode(), "农房.csv")
    assert r.status_code == 201, r.text
    assert r.json()["format"] == "csv"
    x, y = world[XH]
    frame = gpd.GeoDataFrame(
        {"code": [p + "G1", p + "G2"], "owner_name": ["李四", "赵五"], "status": ["在建", "存量"],
         "stage": ["主体结构", None], "floors": [2, 1]},
        geometry=[shapely.Point(x, y), shapely.Point(x + 0.001, y)], crs="EPSG:4326",
    )  # fmt: skip
    path = tmp_path / "农房.gpkg"
    frame.to_file(path, driver="GPKG")
    r = upload(client, world["xh"], path.read_bytes(), "农房.gpkg")
    assert r.status_code == 201, r.text
    houses = {h["code"]: h for h in stored(engine, p)}
    assert set(houses) == {p + "1", p + "2", p + "G1", p + "G2"}
    assert houses[p + "G1"]["stage"] == "structure" and houses[p + "G1"]["district"] == XH
    # A GeoPackage row with a stage that does not exist is named by its feature number (1 = the first feature).
    frame.loc[0, "code"], frame.loc[1, "code"], frame.loc[0, "stage"] = p + "G3", p + "G4", "装修"
    frame.to_file(path, driver="GPKG")
    r = upload(client, world["xh"], path.read_bytes(), "农房.gpkg")
    assert r.status_code == 422 and [e["row"] for e in r.json()["detail"]["errors"]] == [1]
    assert len(stored(engine, p)) == 4


def test_a_district_account_imports_only_its_district(client, engine, world):
    p = f"XD{world['tag']}-"
    r = upload(client, world["xh"], xlsx([row(world, p + "1"), row(world, p + "2", YH)]), "两区.xlsx")
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "out_of_scope" and "第 3 行" in r.json()["message"]
    assert stored(engine, p) == []
    r = client.post(f"{API}/archives/import", headers=world["xh"], files={"file": ("a.doc", b"not a sheet")})
    assert r.status_code == 422 and r.json()["code"] == "file_format"


@pytest.fixture(scope="module")
def archive(client_module, world):
    """Six houses of 西湖区 and two of 余杭区 under the tag, imported by the city."""
    p = f"XS{world['tag']}-"
    rows = [row(world, f"{p}{i}", **{"户主姓名": f"钱{i}号", "乡镇街道": "转塘街道" if i < 4 else "留下街道",
                                      "建成年份": 1990 + i}) for i in range(6)]  # fmt: skip
    rows += [row(world, f"{p}Y{i}", YH, **{"户主姓名": f"孙{i}", "乡镇街道": "仓前街道"}) for i in range(2)]
    rows[1] = row(world, f"{p}1", **{"户主姓名": "钱1号", "建设状态": "在建", "建设阶段": "开工放样"})
    r = upload(client_module, world["city"], xlsx(rows), "市级.xlsx")
    assert r.status_code == 201, r.text
    return p


@pytest.fixture(scope="module")
def client_module(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


def test_search_masks_owner_names_and_keeps_to_the_district(client, engine, world, archive):
    p = archive
    r = client.get(f"{API}/archives", params={"code": p, "limit": 100}, headers=world["city"])
    assert r.status_code == 200 and r.json()["total"] == 8
    assert {x["owner_name"] for x in r.json()["rows"]} >= {"钱**", "孙*"}
    r = client.get(f"{API}/archives", params={"code": p}, headers=world["xh"])
    assert r.json()["total"] == 6 and {x["district"] for x in r.json()["rows"]} == {XH}
    r = client.get(f"{API}/archives", params={"owner": "钱1", "code": p}, headers=world["xh"])
    assert [x["code"] for x in r.json()["rows"]] == [f"{p}1"]
    assert r.json()["rows"][0]["stage_name"] == "开工放样"
    r = client.get(f"{API}/archives", params={"code": p, "stage": "开工放样"}, headers=world["city"])
    assert r.json()["total"] == 1
    r = client.get(f"{API}/archives", params={"code": p, "year": 1994, "township": "留下街道"}, headers=world["city"])
    assert [x["code"] for x in r.json()["rows"]] == [f"{p}4"]
    r = client.get(f"{API}/archives", params={"code": p, "unmask": "true"}, headers=world["xh"])
    assert r.status_code == 403
    r = client.get(f"{API}/archives", params={"owner": "钱1", "code": p, "unmask": "true"}, headers=ADMIN)
    assert r.json()["rows"][0]["owner_name"] == "钱1号"
    with engine.connect() as conn:
        ids = conn.execute(text("SELECT detail->'ids' FROM audit_log WHERE action = 'unmask' AND layer = 'farmhouses' "
                                "ORDER BY id DESC LIMIT 1")).scalar()  # fmt: skip
    assert ids == [r.json()["rows"][0]["id"]]
    r = client.get(f"{API}/archives", params={"stage": "封顶"}, headers=world["city"])
    assert r.status_code == 422 and r.json()["field"] == "stage"
    r = client.get(f"{API}/archives", params={"district": "火星区"}, headers=world["city"])
    assert r.status_code == 422 and r.json()["field"] == "district"


def test_statistics_and_export_match_the_table(client, engine, world, archive):
    p = archive
    r = client.get(f"{API}/archives/stats", params={"by": "township", "code": p}, headers=world["city"])
    assert r.status_code == 200, r.text
    got = {(x["district"], x["township"]): (x["houses"], x["在建"]) for x in r.json()["rows"]}
    with engine.connect() as conn:
        want = {
            (d, t): (n, b)
            for d, t, n, b in conn.execute(
                text(
                    "SELECT district, township, count(*), count(*) FILTER (WHERE status = '在建') FROM farmhouses "
                    "WHERE code LIKE :p AND deleted_at IS NULL GROUP BY 1, 2"
                ),
                {"p": p + "%"},
            )  # fmt: skip
        }
    assert got == want == {(XH, "转塘街道"): (4, 1), (XH, "留下街道"): (2, 0), (YH, "仓前街道"): (2, 0)}
    r = client.get(f"{API}/archives/stats", params={"by": "stage", "code": p}, headers=world["xh"])
    assert {x["stage_name"]: x["houses"] for x in r.json()["rows"]} == {"开工放样": 1, "未开工": 5}
    r = client.get(f"{API}/archives/export.xlsx", params={"code": p}, headers=world["xh"])
    assert r.status_code == 200, r.text
    ws = load_workbook(io.BytesIO(r.content)).active
    values = list(ws.values)
    assert values[0][0] == "农房编号" and len(values) == 7
    assert {v[1] for v in values[1:]} == {"钱**"}


def test_report_requests_are_seen_and_fulfilled_by_the_county_only(client, engine, world, archive):
    body = {"district": XH, "township": "转塘街道", "title": "上报转塘街道农房", "deadline": today().isoformat()}
    r = client.post(f"{API}/requests", json=body, headers=world["xh"])
    assert r.status_code == 403
    r = client.post(f"{API}/requests", json={**body, "deadline": (today() - timedelta(days=1)).isoformat()},
                    headers=world["city"])  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "deadline"
    r = client.post(f"{API}/requests", json={**body, "district": "火星区"}, headers=world["city"])
    assert r.status_code == 422 and r.json()["field"] == "district"
    r = client.post(f"{API}/requests", json=body, headers=world["city"])
    assert r.status_code == 201, r.text
    req = r.json()
    assert (req["state"], req["overdue"]) == ("待上报", False)
    assert client.get(f"{API}/requests/{req['id']}", headers=world["yh"]).status_code == 404
    assert req["id"] not in [x["id"] for x in client.get(f"{API}/requests", headers=world["yh"]).json()["rows"]]
    leader = make_user(f"va-leader-{world['tag']}", ["leader"])  # reads every request, reports none
    assert req["id"] in [x["id"] for x in client.get(f"{API}/requests", headers=leader).json()["rows"]]
    r = client.post(f"{API}/requests/{req['id']}/fulfil", json={"method": "entry", "note": "x", "version": 1},
                    headers=leader)  # fmt: skip
    assert r.status_code == 403
    mine = {x["id"]: x for x in client.get(f"{API}/requests", headers=world["xh"]).json()["rows"]}
    assert mine[req["id"]]["changed_so_far"] == 0
    # The county changes one house of the scope (转塘街道) and one outside it, then reports.
    p = archive
    with engine.begin() as conn:
        conn.execute(text("UPDATE farmhouses SET floors = 2, updated_at = now() WHERE code IN (:a, :b)"),
                     {"a": f"{p}0", "b": f"{p}5"})  # fmt: skip
    r = client.post(f"{API}/requests/{req['id']}/fulfil", json={"method": "entry", "note": "已补录", "version": 1},
                    headers=world["yh"])  # fmt: skip
    assert r.status_code == 404
    fulfil = {"method": "entry", "note": "已在市级系统补录", "version": 1}
    r = client.post(f"{API}/requests/{req['id']}/fulfil", json=fulfil, headers=world["xh"])
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["changed"], r.json()["method_title"]) == ("已上报", 1, "系统录入")
    r = client.post(f"{API}/requests/{req['id']}/fulfil", json={**fulfil, "version": 2}, headers=world["xh"])
    assert r.status_code == 409 and r.json()["code"] == "already_fulfilled"
    # A request whose deadline has passed unfulfilled is overdue.
    with engine.begin() as conn:
        old = conn.execute(text("INSERT INTO vil_report_requests (district, title, deadline, created_at) "
                                "VALUES (:d, '逾期测试', :dl, now() - interval '10 days') RETURNING id"),
                           {"d": XH, "dl": today() - timedelta(days=3)}).scalar()  # fmt: skip
    r = client.get(f"{API}/requests", params={"state": "overdue"}, headers=world["xh"])
    overdue = {x["id"]: x for x in r.json()["rows"]}
    assert old in overdue and overdue[old]["state"] == "已逾期" and req["id"] not in overdue
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM vil_report_requests WHERE id IN (:a, :b)"), {"a": old, "b": req["id"]})


def png(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buf, "PNG")
    return buf.getvalue()


def test_the_gallery_is_managed_by_administrators(client, engine, world):
    form = {"title": "白墙黛瓦", "caption": "桐庐县某村的杭派民居", "seq": "5"}
    data = png((uuid.uuid4().int % 255, 120, 80))
    r = client.post(f"{API}/gallery", data=form, files={"file": ("a.png", data)}, headers=world["city"])
    assert r.status_code == 403
    r = client.post(f"{API}/gallery", data=form, files={"file": ("a.png", data)}, headers=ADMIN)
    assert r.status_code == 201, r.text
    image = r.json()
    assert (image["width"], image["height"]) == (64, 48)
    r = client.post(f"{API}/gallery", data=form, files={"file": ("b.png", data)}, headers=ADMIN)
    assert r.status_code == 409
    r = client.post(f"{API}/gallery", data=form, files={"file": ("c.png", b"not an image")}, headers=ADMIN)
    assert r.status_code in (415, 422)
    listed = client.get(f"{API}/gallery", headers=world["xh"]).json()
    assert image["id"] in [x["id"] for x in listed["rows"]] and listed["can_manage"] is False
    r = client.get(image["image"], headers=world["xh"])
    assert r.status_code == 200 and r.content == data
    assert client.get(image["thumbnail"], headers=world["xh"]).headers["content-type"] == "image/jpeg"
    edit = {"title": "粉墙黛瓦", "caption": "改", "seq": 1, "version": 1}
    r = client.put(f"{API}/gallery/{image['id']}", json=edit, headers=ADMIN)
    assert r.status_code == 200 and r.json()["title"] == "粉墙黛瓦"
    assert client.put(f"{API}/gallery/{image['id']}", json=edit, headers=ADMIN).status_code == 409
    assert client.delete(f"{API}/gallery/{image['id']}", headers=world["xh"]).status_code == 403
    assert client.delete(f"{API}/gallery/{image['id']}", headers=ADMIN).status_code == 204
    assert client.get(image["image"], headers=world["xh"]).status_code == 404


def test_the_overview_counts_the_table(client, engine, world, archive):
    r = client.get(f"{API}/overview", headers=world["city"])
    assert r.status_code == 200, r.text
    data = r.json()
    with engine.connect() as conn:
        want = dict(
            conn.execute(text("SELECT status, count(*) FROM farmhouses WHERE deleted_at IS NULL GROUP BY 1")).all()
        )
        staged = conn.execute(text("SELECT count(*) FROM farmhouses WHERE deleted_at IS NULL AND stage = 'layout' "
                                   "AND status IN ('审批中', '在建')")).scalar()  # fmt: skip
    assert data["totals"]["stock"] == want.get("存量", 0)
    assert data["totals"]["building"] == want.get("在建", 0)
    assert data["totals"]["houses"] == sum(want.values())
    assert {s["name"]: s["houses"] for s in data["stages"]}["开工放样"] == staged
    assert all(r["position"] for r in data["rows"] if r["name"] in (XH, YH))
    with engine.connect() as conn:
        xh_layout = conn.execute(
            text("SELECT count(*) FROM farmhouses WHERE deleted_at IS NULL AND district = :d AND stage = 'layout' "
                 "AND status IN ('审批中', '在建')"), {"d": XH}).scalar()  # fmt: skip
    assert {r["name"]: r for r in data["rows"]}[XH]["stages"].get("layout", 0) == xh_layout >= 1
    r = client.get(f"{API}/overview", params={"district": XH}, headers=world["xh"])
    assert r.json()["level"] == "township"
    assert {"转塘街道", "留下街道"} <= {x["name"] for x in r.json()["rows"]}
    r = client.get(f"{API}/overview", headers=world["xh"])
    assert {x["name"] for x in r.json()["rows"]} <= {XH}


def test_the_overview_is_recomputed_after_a_write(client, engine, world):
    """The houses' figures are cached per farmhouse generation: a house added or removed shows in the next answer,
    for the city and for the district account, and each scope keeps its own answer."""

    def totals(who, **params):
        r = client.get(f"{API}/overview", params=params, headers=world[who])
        assert r.status_code == 200, r.text
        return r.json()["totals"]

    city, district = totals("city"), totals("xh")
    assert totals("city") == city and city["houses"] > district["houses"]
    with engine.begin() as conn:
        x, y = conn.execute(
            text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts WHERE name = :n) s"),
            {"n": XH},
        ).one()
        fid = conn.execute(
            text(
                "INSERT INTO farmhouses (geom, code, district, status) VALUES "
                "(ST_SetSRID(ST_MakePoint(:x, :y), 4326), 'NFCACHE' || :n, :d, '在建') RETURNING id"
            ),
            {"x": x, "y": y, "n": uuid.uuid4().hex[:8].upper(), "d": XH},
        ).scalar_one()
    try:
        assert totals("city")["building"] == city["building"] + 1
        assert totals("xh")["houses"] == district["houses"] + 1
        assert totals("xh", district=XH)["building"] == district["building"] + 1
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM farmhouses WHERE id = :i"), {"i": fid})
    assert totals("city")["houses"] == city["houses"] and totals("xh") == district


def test_the_demo_seeder_draws_the_gallery_and_files_requests(engine, world):
    from types import SimpleNamespace

    import numpy as np

    from layers.villages.demo_archives import IMAGES, REQUESTS, seed_archives

    demo = SimpleNamespace(rng=lambda name: np.random.default_rng(7))
    with engine.begin() as conn:
        before = conn.execute(text("SELECT coalesce(max(id), 0) FROM vil_report_requests")).scalar()
        counts = seed_archives(conn, demo)
        again = seed_archives(conn, demo)  # neither the images nor the requests are stored twice
        rows = conn.execute(
            text("SELECT district, fulfilled_at IS NOT NULL, fulfilled_at::date > deadline FROM vil_report_requests "
                 "WHERE id > :b ORDER BY id"), {"b": before}).all()  # fmt: skip
        images = conn.execute(text("SELECT count(*) FROM vil_gallery WHERE created_by = 'demo'")).scalar()
        conn.execute(text("DELETE FROM vil_report_requests WHERE id > :b"), {"b": before})
        conn.execute(text("DELETE FROM vil_gallery WHERE created_by = 'demo'"))
    assert counts["vil_report_requests"] == len(REQUESTS) and again["vil_gallery"] == 0
    assert len(rows) == len(REQUESTS)
    assert images == len(IMAGES)
    assert [tuple(r) for r in rows] == [
        ("萧山区", True, False), ("余杭区", True, True), ("西湖区", False, None), ("淳安县", False, None)
    ]  # fmt: skip


def test_a_county_system_fulfils_a_request_by_push_with_its_api_key(client, engine, world):
    from api.accounts import keys
    from geo.db import transaction

    name = f"va-county-{world['tag']}"
    make_user(name, ["county_system"], district="淳安县")
    with engine.connect() as conn:
        uid = conn.execute(text("SELECT id FROM users WHERE username = :u"), {"u": name}).scalar()
    with transaction() as conn:
        _, key = keys.create(conn, uid, "淳安农房系统", actor="test")
    county = {"X-API-Key": key}
    body = {"district": "淳安县", "status": "在建", "title": "报送在建农房", "deadline": today().isoformat()}
    req = client.post(f"{API}/requests", json=body, headers=world["city"]).json()
    other = client.post(f"{API}/requests", json={**body, "district": XH}, headers=world["city"]).json()
    seen = [x["id"] for x in client.get(f"{API}/requests", headers=county).json()["rows"]]
    assert req["id"] in seen and other["id"] not in seen
    assert client.post(f"{API}/requests", json=body, headers=county).status_code == 403
    r = client.post(f"{API}/requests/{req['id']}/fulfil", json={"method": "push", "note": "已推送", "version": 1},
                    headers=county)  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["method_title"], r.json()["fulfilled_by"], r.json()["late"]) == ("接口推送", name, False)
    with engine.begin() as conn:
        logged = conn.execute(text("SELECT after->>'method' FROM audit_log WHERE action = 'fulfil' "
                                   "AND layer = 'vil_report_requests' AND feature_id = :i"), {"i": req["id"]}).scalar()  # fmt: skip
        conn.execute(text("DELETE FROM vil_report_requests WHERE id IN (:a, :b)"), {"a": req["id"], "b": other["id"]})
    assert logged == "push"


def test_the_owner_and_code_search_use_their_indexes_under_row_level_security(app, engine, world):
    """As the app role with a district's scope, the owner-name and house-code prefixes are index ranges (LIKE, not
    LEAKPROOF, could only be checked after the policy on every row of the table)."""
    import sqlalchemy as sa

    from geo import scope
    from geo.db import get_engine
    from layers.villages.archives import Filter, houses

    t = houses()
    p = f"XI{world['tag']}-"
    with engine.begin() as conn:  # enough houses for the planner to prefer a range to a whole scan
        conn.execute(
            text("INSERT INTO farmhouses (geom, code, owner_name, district, status) "
                 "SELECT ST_SetSRID(ST_MakePoint(:x, :y), 4326), :p || n, '测' || n, :d, '存量' "
                 "FROM generate_series(1, 20000) n"),
            {"x": world[XH][0], "y": world[XH][1], "p": p, "d": XH},
        )  # fmt: skip
        conn.execute(text("ANALYZE farmhouses"))
    plans = []
    with get_engine().connect() as conn:
        scope.apply(conn, scope.Scope.of(districts=[XH]))
        assert conn.execute(text("SELECT current_user")).scalar() == "chengjian_app"
        for f in (Filter(owner="测123"), Filter(code=p + "77")):
            query = sa.select(t.c.id).where(*f.where(conn)).order_by(t.c.id).limit(50)
            sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
            plans.append("\n".join(conn.execute(text("EXPLAIN " + sql)).scalars()))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM farmhouses WHERE code LIKE :p"), {"p": p + "%"})
        conn.execute(text("ANALYZE farmhouses"))
    for plan, index, column in zip(
        plans, ("vil_farmhouses_owner_idx", "vil_farmhouses_code_idx"), ("owner_name", "code")
    ):
        assert index in plan and f"Index Cond: (({column} >=" in plan, plan
