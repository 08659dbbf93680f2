"""Import and export: round trips through every format, the dry-run report, all-or-nothing commits,
bad files, CRS handling, filters, the CLI and the upload size limit (real PostGIS, no mocks)."""

from __future__ import annotations

import io
import json
import os
import zipfile

import geopandas as gpd
import numpy as np
import pytest
import shapely
from sqlalchemy import text

from etl.cli import main as cli
from geo.gcj02 import wgs84_to_gcj02
from geo.layer import store
from geo.layer.bulk import copy_features
from geo.layer.importer import shp_field_names
from geo.layer.registry import registry
from geo.settings import ROOT
from tests.conftest import ADMIN, LEADER

FARM = registry.get("farmhouses")
GREEN = registry.get("greenways")
SEWAGE = registry.get("sewage_plants")

# Points inside 西湖区 / 上城区 / 拱墅区, so the district fill has something to find.
FARM_ROWS = [
    (
        (120.1234567, 30.2598765),
        {
            "code": "FH-001",
            "owner_name": "张三",
            "floors": 2,
            "structure": "砖混",
            "built_year": 1998,
            "floor_area_m2": 126.5,
            "status": "存量",
            "danger_grade": "C",
            "governance": "维修加固",
            "difficult_family": True,
            "township": "转塘街道",
            "village": "龙坞村",
            "address": "龙坞镇上城埭 12 号",
        },
    ),
    (
        (120.1701234, 30.2801111),
        {
            "code": "FH-002",
            "owner_name": "李四",
            "floors": 3,
            "structure": "框架",
            "built_year": 2010,
            "floor_area_m2": 240.0,
            "status": "在建",
            "danger_grade": "D",
            "difficult_family": False,
        },
    ),
    (
        (120.1550001, 30.3100002),
        {
            "code": "FH-003",
            "owner_name": None,
            "floors": None,
            "structure": None,
            "built_year": None,
            "floor_area_m2": None,
            "status": None,
            "danger_grade": "A",
            "difficult_family": None,
        },
    ),
]
GREEN_ROWS = [
    (
        shapely.LineString([(120.1012345, 30.2512345), (120.1100001, 30.2600002), (120.1200003, 30.2650004)]),
        {
            "code": "GW-01",
            "name": "西湖绿道一段",
            "level": "市级",
            "kind": "城镇型",
            "status": "已建成",
            "plan_year": 2021,
            "fund_wan": 350.5,
        },
    ),
    (
        shapely.LineString([(120.2000001, 30.2800001), (120.2100002, 30.2900002)]),
        {
            "code": "GW-02",
            "name": "运河绿道",
            "level": None,
            "kind": "生态型",
            "status": "在建",
            "plan_year": None,
            "fund_wan": None,
        },
    ),
]
SEWAGE_ROWS = [
    (
        (120.0512345, 30.2712345),
        {
            "code": "WS-01",
            "name": "七格污水处理厂",
            "kind": "城镇污水处理厂",
            "capacity_t_d": 1_500_000.0,
            "process": "AAO",
            "discharge_standard": "一级A",
            "status": "正常运行",
            "commissioned_on": "2006-09-28",
        },
    ),
    (
        (120.1612345, 30.2212345),
        {
            "code": "WS-02",
            "name": "龙坞终端",
            "kind": "农村污水处理终端",
            "capacity_t_d": None,
            "process": None,
            "discharge_standard": None,
            "status": None,
            "commissioned_on": None,
        },
    ),
]
LAYER_ROWS = {"farmhouses": FARM_ROWS, "greenways": GREEN_ROWS, "sewage_plants": SEWAGE_ROWS}


def load(engine, layer, rows):
    """Store rows (geometry, props) with the bulk loader, as the demo data would be."""
    from geo.layer.attributes import coerce_column

    geoms = np.array([g if isinstance(g, shapely.Geometry) else shapely.Point(g) for g, _ in rows], dtype=object)
    columns = {}
    for a in layer.writable:
        values, errors = coerce_column(a, [p.get(a.name) for _, p in rows])
        assert not errors
        columns[a.name] = values
    with engine.begin() as conn:
        copy_features(conn, layer, geoms, columns, "test-admin", action="load")


def features(engine, layer, **filters):
    with engine.connect() as conn:
        return store.list_features(conn, layer, store.Query(filters=filters or None, limit=None))


def count(engine, table, where="TRUE"):
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar()


def upload(client, layer_id, name, data, headers=ADMIN, **params):
    return client.post(
        f"/api/layers/{layer_id}/import",
        params=params,
        headers=headers,
        files={"file": (name, data, "application/octet-stream")},
    )


def csv_bytes(lines, encoding="utf-8-sig"):
    return ("\n".join(lines) + "\n").encode(encoding)


# -- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("layer_id", ["farmhouses", "greenways", "sewage_plants"])
@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shp", "kml", "csv", "xlsx"])
def test_round_trip(client, engine, clean, layer_id, fmt):
    layer = registry.get(layer_id)
    load(engine, layer, LAYER_ROWS[layer_id])
    before = features(engine, layer)
    r = client.get(f"/api/layers/{layer_id}/export", params={"format": fmt}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers["content-disposition"]

    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {layer.table} RESTART IDENTITY CASCADE"))
    name = r.headers["content-disposition"].split('filename="')[1].split('"')[0]
    r = upload(client, layer_id, name, r.content, mode="commit")
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["rejected"] == 0 and report["committed"]["rows"] == len(before)
    assert report["unknown_columns"] == []

    after = {f["properties"]["code"]: f for f in features(engine, layer)}
    assert len(after) == len(before)
    for old in before:
        new = after[old["properties"]["code"]]
        g0, g1 = shapely.geometry.shape(old["geometry"]), shapely.geometry.shape(new["geometry"])
        assert shapely.equals_exact(g0, g1, tolerance=1e-7), (g0, g1)
        props0, props1 = dict(old["properties"]), dict(new["properties"])
        for key in ("length_m",):  # computed by the database: equal within rounding
            if key in props0:
                assert props1.pop(key) == pytest.approx(props0.pop(key), rel=1e-6)
        assert props1 == props0


def test_export_file_details(client, engine, clean):
    load(engine, FARM, FARM_ROWS)
    r = client.get("/api/layers/farmhouses/export", params={"format": "csv"}, headers=LEADER)
    assert r.status_code == 200
    assert r.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the Chinese headers
    header = r.content[3:].decode().splitlines()[0].split(",")
    assert header[:2] == ["要素ID", "农房编号"] and header[-2:] == ["经度", "纬度"]
    assert "filename*=UTF-8''%E5%86%9C%E6%88%BF.csv" in r.headers["content-disposition"]  # 农房.csv

    r = client.get("/api/layers/farmhouses/export", params={"format": "shp"}, headers=ADMIN)
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert {"farmhouses.shp", "farmhouses.shx", "farmhouses.dbf", "farmhouses.prj", "farmhouses.cpg"} <= set(names)
    assert zipfile.ZipFile(io.BytesIO(r.content)).read("farmhouses.cpg").strip() == b"UTF-8"
    dbf = gpd.read_file(io.BytesIO(r.content))
    assert set(shp_field_names(FARM).values()) <= set(dbf.columns)
    assert all(len(c) <= 10 for c in dbf.columns)

    with engine.connect() as conn:
        row = conn.execute(text("SELECT actor, after FROM audit_log WHERE action = 'export' ORDER BY id")).all()
    assert [(a, e["format"], e["rows"]) for a, e in row] == [("test-leader", "csv", 3), ("test-admin", "shp", 3)]


def _read_back(content: bytes, suffix: str, tmp_path) -> tuple[dict, gpd.GeoDataFrame]:
    """An exported file read with GDAL (pyogrio): field name -> type, and the rows."""
    import pyogrio

    path = tmp_path / f"export.{suffix}"
    path.write_bytes(content)
    info = pyogrio.read_info(path)
    return dict(zip(info["fields"], info["dtypes"])), pyogrio.read_dataframe(path, use_arrow=True)


def test_export_keeps_date_and_number_types(client, engine, clean, tmp_path):
    import datetime as dt

    load(engine, SEWAGE, SEWAGE_ROWS)
    load(engine, FARM, FARM_ROWS)
    for fmt, suffix in (("gpkg", "gpkg"), ("shp", "zip")):
        r = client.get("/api/layers/sewage_plants/export", params={"format": fmt}, headers=ADMIN)
        assert r.status_code == 200, r.text
        types, rows = _read_back(r.content, suffix, tmp_path)
        date_field = "commissioned_on" if fmt == "gpkg" else shp_field_names(SEWAGE)["commissioned_on"]
        assert types[date_field] == "datetime64[D]", (fmt, types)  # an OGR Date field, not text
        capacity = "capacity_t_d" if fmt == "gpkg" else shp_field_names(SEWAGE)["capacity_t_d"]
        assert types[capacity] == "float64"
        by_code = {row["code"]: row for row in rows.to_dict("records")}
        assert by_code["WS-01"][date_field] == dt.date(2006, 9, 28) and by_code["WS-02"][date_field] is None

        r = client.get("/api/layers/farmhouses/export", params={"format": fmt}, headers=ADMIN)
        types, _ = _read_back(r.content, suffix, tmp_path)
        assert types["floors"] in ("int32", "int64") and types["built_year"] in ("int32", "int64")
        area = "floor_area_m2" if fmt == "gpkg" else shp_field_names(FARM)["floor_area_m2"]
        assert types[area] == "float64"

    # A selection without any date still declares a Date field.
    r = client.get(
        "/api/layers/sewage_plants/export", params={"format": "gpkg", "kind": "农村污水处理终端"}, headers=ADMIN
    )
    types, rows = _read_back(r.content, "gpkg", tmp_path)
    assert len(rows) == 1 and types["commissioned_on"] == "datetime64[D]"


def test_date_times_in_geopackage_and_shapefile(tmp_path):
    """No layer declares a date-time today: a declaration of our own, written straight by the exporter."""
    import datetime as dt

    import pandas as pd

    from geo.layer import exporter
    from geo.layer.registry import Attr, Layer

    layer = Layer(
        id="probe_visits",
        title="巡查",
        module="test",
        group="测试",
        geometry="Point",
        attrs=(Attr("code", "编号"), Attr("inspected_at", "巡查时间", "datetime")),
    )
    when = [dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), None]
    gdf = gpd.GeoDataFrame(
        {
            "id": np.array([1, 2]),
            "code": np.array(["a", "b"], dtype=object),
            "inspected_at": pd.to_datetime(pd.Series(when, dtype=object), utc=True)
            .dt.tz_convert("Asia/Shanghai")
            .array,
        },
        geometry=gpd.GeoSeries([shapely.Point(120.1, 30.2)] * 2, crs="EPSG:4326"),
    )
    data, notes = exporter.write(layer, gdf, "gpkg")
    types, rows = _read_back(data, "gpkg", tmp_path)
    assert notes == [] and types["inspected_at"] == "datetime64[ms]"
    assert rows["inspected_at"][0] == pd.Timestamp("2026-01-02T03:04:05Z")
    data, notes = exporter.write(layer, gdf, "shp")
    types, rows = _read_back(data, "zip", tmp_path)
    assert rows["inspected_"].tolist()[0] == "2026-01-02T11:04:05+08:00"  # ISO text, Beijing time
    assert "1 个日期时间字段以文本保存" in notes
    report = zipfile.ZipFile(io.BytesIO(data)).read("probe_visits_导出说明.txt").decode()
    assert "inspected_at（巡查时间）" in report


def test_shapefile_export_says_what_it_cut(client, engine, clean, tmp_path):
    from urllib.parse import unquote

    long_address = "浙江省杭州市西湖区转塘街道龙坞村" * 10  # 160 characters, 480 bytes in UTF-8
    rows = [(FARM_ROWS[0][0], {**FARM_ROWS[0][1], "address": long_address}), *FARM_ROWS[1:]]
    load(engine, FARM, rows)
    fid = features(engine, FARM, code=["FH-001"])[0]["id"]

    r = client.get("/api/layers/farmhouses/export", params={"format": "shp"}, headers=ADMIN)
    assert r.status_code == 200
    note = unquote(r.headers["x-export-notes"])
    assert "1 个文本值超过 254 字节，已被截断" in note and "GeoPackage" in note
    assert "字段名超过 10 个字符" in note  # difficult_family, floor_area_m2
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    report = archive.read("farmhouses_导出说明.txt").decode()
    assert f"要素 {fid} 的「地址」（原 480 字节）" in report
    assert "difficult_family（困难家庭）→ difficult_" in report and "GeoPackage" in report
    _, back = _read_back(r.content, "zip", tmp_path)
    cut = back.set_index("code").loc["FH-001", "address"]
    assert long_address.startswith(cut) and len(cut.encode()) <= 254  # GDAL cut it where the report says

    # The same rows as GeoPackage: nothing cut, no note, no report.
    r = client.get("/api/layers/farmhouses/export", params={"format": "gpkg"}, headers=ADMIN)
    assert "x-export-notes" not in r.headers
    _, back = _read_back(r.content, "gpkg", tmp_path)
    assert back.set_index("code").loc["FH-001", "address"] == long_address
    with engine.connect() as conn:
        audited = conn.execute(text("SELECT after FROM audit_log WHERE action = 'export' ORDER BY id")).scalars().all()
    assert any("截断" in n for n in audited[0]["notes"]) and "notes" not in audited[1]


def test_kml_export_is_read_by_gdal(client, engine, clean, tmp_path):
    load(engine, SEWAGE, SEWAGE_ROWS)
    r = client.get("/api/layers/sewage_plants/export", params={"format": "kml"}, headers=LEADER)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.google-earth.kml+xml")
    assert (
        "filename*=UTF-8''%E6%B1%A1%E6%B0%B4%E5%A4%84%E7%90%86%E8%AE%BE%E6%96%BD.kml"
        in r.headers["content-disposition"]
    )  # 污水处理设施.kml
    _, back = _read_back(r.content, "kml", tmp_path)
    assert len(back) == 2
    by_name = {row["Name"]: row for row in back.to_dict("records")}  # the name attribute names the placemark
    assert set(by_name) == {"七格污水处理厂", "龙坞终端"}
    plant = by_name["七格污水处理厂"]
    assert plant["code"] == "WS-01" and plant["commissioned_on"] == "2006-09-28" and plant["capacity_t_d"] == 1.5e6
    assert (plant["geometry"].x, plant["geometry"].y) == pytest.approx((120.0512345, 30.2712345), abs=1e-9)


def test_shapefile_names_short_unique_and_stable():
    for layer in registry.all():
        short = shp_field_names(layer)
        assert all(len(s) <= 10 for s in short.values())
        assert len({s.lower() for s in short.values()}) == len(short)
        assert short == shp_field_names(layer)
    assert shp_field_names(FARM)["difficult_family"] == "difficult_"


def test_export_with_filter_only_matching_rows(client, engine, clean):
    load(engine, FARM, FARM_ROWS)
    r = client.get("/api/layers/farmhouses/export", params={"format": "geojson", "danger_grade": "C,D"}, headers=ADMIN)
    assert r.status_code == 200
    codes = sorted(f["properties"]["code"] for f in r.json()["features"])
    assert codes == ["FH-001", "FH-002"]
    r = client.get(
        "/api/layers/farmhouses/export",
        params={"format": "geojson", "bbox": "120.16,30.27,120.18,30.29"},
        headers=ADMIN,
    )
    assert [f["properties"]["code"] for f in r.json()["features"]] == ["FH-002"]
    with engine.connect() as conn:
        after = conn.execute(text("SELECT after FROM audit_log WHERE action = 'export' ORDER BY id")).scalars().all()
    assert after[0]["filters"] == {"danger_grade": ["C", "D"]} and after[0]["rows"] == 2
    assert after[1]["filters"]["bbox"] == [120.16, 30.27, 120.18, 30.29]

    r = client.get("/api/layers/farmhouses/export", params={"format": "dxf"}, headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] == "invalid_format" and r.json()["field"] == "format"
    r = client.get("/api/layers/farmhouses/export", params={"format": "csv", "owner_name": "张三"}, headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] == "not_filterable"


# -- the dry run and all-or-nothing commits --------------------------------------------------

GOOD_CSV = [
    "农房编号,户主姓名,层数,结构类型,困难家庭,经度,纬度",
    "N-1,王五,2,砖混,是,120.1234567,30.2598765",
    "N-2,赵六,1,砖木,否,120.1701234,30.2801111",
]


def test_dry_run_reports_and_changes_nothing(client, engine, clean):
    r = upload(client, "farmhouses", "农房.csv", csv_bytes(GOOD_CSV + ["N-3,,,,,120.1550001,30.3100002"]))
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["format"], report["rows"], report["accepted"], report["rejected"]) == ("csv", 3, 3, 0)
    assert report["mapped_columns"]["农房编号"] == "code" and report["mapped_columns"]["困难家庭"] == "difficult_family"
    assert report["geometry_columns"] == {"lon": "经度", "lat": "纬度"}
    assert "committed" not in report
    assert count(engine, "farmhouses") == 0 and count(engine, "audit_log") == 0


def test_csv_with_chinese_headers_commits(client, engine, clean):
    r = upload(
        client,
        "farmhouses",
        "农房.csv",
        csv_bytes(GOOD_CSV + ["N-3,孙七,3,框架,,120.1550001,30.3100002"]),
        mode="commit",
    )
    assert r.status_code == 201, r.text
    assert r.json()["committed"]["rows"] == 3
    got = {f["properties"]["code"]: f for f in features(engine, FARM)}
    assert got["N-1"]["properties"]["owner_name"] == "王五" and got["N-1"]["properties"]["difficult_family"] is True
    assert got["N-2"]["properties"]["floors"] == 1 and got["N-2"]["properties"]["difficult_family"] is False
    assert got["N-1"]["properties"]["district"] == "西湖区"  # filled from the geometry
    assert got["N-1"]["geometry"]["coordinates"] == [120.1234567, 30.2598765]
    with engine.connect() as conn:
        actor, after = conn.execute(text("SELECT actor, after FROM audit_log WHERE action = 'import'")).one()
    assert actor == "test-admin" and after["rows"] == 3 and after["source"] == "农房.csv"


def test_commit_with_one_bad_row_stores_nothing(client, engine, clean):
    lines = GOOD_CSV + ["N-3,孙七,99,框架,,120.1550001,30.3100002"]  # spreadsheet row 4: 层数 out of range
    r = upload(client, "farmhouses", "农房.csv", csv_bytes(lines), mode="commit")
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "import_rejected" and "未导入任何数据" in body["message"]
    report = body["detail"]
    assert (report["accepted"], report["rejected"]) == (2, 1)
    [err] = report["errors"]
    assert (err["row"], err["code"], err["field"]) == (4, "out_of_range", "floors")
    assert "层数" in err["message"]
    assert count(engine, "farmhouses") == 0 and count(engine, "audit_log") == 0


def test_row_errors_numbered_and_explained(client, engine, clean):
    load(engine, FARM, FARM_ROWS)
    lines = [
        "code,floors,structure,lon,lat",
        "X-1,2,砖混,120.12,30.26",
        "X-2,2,砖混,30.26,120.12",  # row 3: lon/lat swapped
        "X-1,1,砖混,120.13,30.27",  # row 4: code repeats row 2
        "FH-001,1,砖混,120.14,30.28",  # row 5: code already in the layer
        "X-5,二,茅草,120.15,abc",  # row 6: bad number, bad choice, bad latitude
        ",1,砖混,,30.2",
    ]  # row 7: code and longitude missing
    r = upload(client, "farmhouses", "x.csv", csv_bytes(lines))
    assert r.status_code == 200
    report = r.json()
    assert (report["rows"], report["accepted"], report["rejected"]) == (6, 1, 5)
    by_row = {}
    for e in report["errors"]:
        by_row.setdefault(e["row"], []).append(e)
    assert sorted(by_row) == [3, 4, 5, 6, 7]
    assert by_row[3][0]["code"] == "coordinates_out_of_range" and "填反" in by_row[3][0]["message"]
    assert by_row[4][0]["code"] == "duplicate_code" and "第 2 行" in by_row[4][0]["message"]
    assert by_row[5][0]["code"] == "code_exists"
    assert {(e["code"], e["field"]) for e in by_row[6]} == {
        ("coordinates_invalid", "lat"),
        ("invalid_type", "floors"),
        ("invalid_choice", "structure"),
    }
    assert {(e["code"], e["field"]) for e in by_row[7]} == {("geometry_missing", "lon"), ("required", "code")}


def test_gcj02_csv_is_converted(client, engine, clean):
    lon, lat = 120.1234567, 30.2598765
    glon, glat = wgs84_to_gcj02(lon, lat)
    lines = ["code,lng,lat", f"G-1,{glon!r},{glat!r}"]
    r = upload(client, "farmhouses", "amap.csv", csv_bytes(lines), crs="GCJ02", mode="commit")
    assert r.status_code == 201, r.text
    assert r.json()["crs"] == "GCJ02"
    x, y = features(engine, FARM)[0]["geometry"]["coordinates"]
    assert abs(x - lon) < 1e-6 and abs(y - lat) < 1e-6
    assert abs(glon - lon) > 1e-3  # the offset was real


def test_shapefile_with_its_own_crs_is_reprojected(client, engine, clean, tmp_path):
    pts = gpd.GeoDataFrame(
        {"code": ["P-1", "P-2"]}, geometry=shapely.points([120.1234567, 120.17], [30.2598765, 30.28]), crs="EPSG:4326"
    )
    pts.to_crs("EPSG:4549").to_file(tmp_path / "gk.shp", engine="pyogrio")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for p in tmp_path.iterdir():
            z.write(p, f"data/{p.name}")
    r = upload(client, "farmhouses", "gk.zip", buf.getvalue(), crs="EPSG:4490", mode="commit")
    assert r.status_code == 201, r.text
    assert r.json()["crs"] == "EPSG:4549" and r.json()["crs_from_file"] is True
    got = {f["properties"]["code"]: f["geometry"]["coordinates"] for f in features(engine, FARM)}
    assert np.allclose(got["P-1"], [120.1234567, 30.2598765], atol=1e-7)


def test_kml_and_gbk_csv(client, engine, clean):
    kml = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Folder><name>农房</name>
<Placemark><name>甲</name><ExtendedData><Data name="code"><value>K-1</value></Data>
<Data name="层数"><value>2</value></Data></ExtendedData>
<Point><coordinates>120.1234567,30.2598765,0</coordinates></Point></Placemark>
</Folder></Document></kml>"""
    r = upload(client, "farmhouses", "标注.kml", kml.encode(), mode="commit")
    assert r.status_code == 201, r.text
    assert r.json()["format"] == "kml" and r.json()["unknown_columns"] == ["Name"]
    r = upload(
        client,
        "farmhouses",
        "gbk.csv",
        csv_bytes(["编号,户主姓名,经度,纬度", "K-2,钱八,120.17,30.28"], "gbk"),
        mode="commit",
    )
    assert r.status_code == 422 and r.json()["code"] == "column_missing"  # 编号 is not 农房编号
    r = upload(
        client,
        "farmhouses",
        "gbk.csv",
        csv_bytes(["农房编号,户主姓名,经度,纬度", "K-2,钱八,120.17,30.28"], "gbk"),
        mode="commit",
    )
    assert r.status_code == 201, r.text
    got = {f["properties"]["code"]: f["properties"] for f in features(engine, FARM)}
    assert got["K-1"]["floors"] == 2 and got["K-2"]["owner_name"] == "钱八"


# -- bad files and limits --------------------------------------------------------------------


def test_unknown_format_is_refused(client, engine, clean):
    r = upload(client, "farmhouses", "报告.docx", b"\x00\x01binary stuff that is no GIS file")
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "file_format" and body["field"] == "file" and "无法识别" in body["message"]
    r = upload(client, "farmhouses", "broken.geojson", b'{"type": "FeatureCollection", "features": [')
    assert r.status_code == 422 and r.json()["code"] == "file_format"
    docx = io.BytesIO()
    with zipfile.ZipFile(docx, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    r = upload(client, "farmhouses", "通知.docx", docx.getvalue())
    assert r.status_code == 422 and r.json()["code"] == "file_format" and ".docx" in r.json()["message"]
    r = upload(client, "farmhouses", "x.csv", csv_bytes(["code,owner_name", "A,B"]))
    assert r.status_code == 422 and r.json()["code"] == "geometry_columns_missing"
    r = upload(client, "farmhouses", "x.csv", csv_bytes(GOOD_CSV[:1]), mode="commit")
    assert r.status_code == 422 and r.json()["code"] == "file_empty"
    r = upload(client, "farmhouses", "x.csv", csv_bytes(GOOD_CSV), crs="EPSG:3857")
    assert r.status_code == 422 and r.json()["code"] == "crs_unsupported"
    r = upload(client, "farmhouses", "x.csv", csv_bytes(GOOD_CSV), mode="later")
    assert r.status_code == 422 and r.json()["code"] == "invalid_mode"
    assert count(engine, "farmhouses") == 0 and count(engine, "audit_log") == 0


def test_zip_without_shapefile(client):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("说明.txt", "没有图层")
        z.writestr("photo.jpg", b"\xff\xd8\xff")
    r = upload(client, "farmhouses", "农房.zip", buf.getvalue())
    assert r.status_code == 422
    assert r.json()["code"] == "file_format" and ".shp" in r.json()["message"]


@pytest.mark.parametrize(
    "member, content",
    [
        ("a.geojson", b'{"type": "FeatureCollection", "features": ['),
        ("b.geojson", b"no JSON at all"),
        ("a.csv", b"code,lon,lat\nA,120.1\n\xff\xfe,\x00"),
        ("a.kml", b"<kml><Document><Placemark>"),
        ("a.gpkg", b"SQLite format 3\x00 broken"),
        ("a.shp", b"\x00\x00\x27\x0a not a shapefile"),
    ],
)
def test_an_error_in_a_zipped_file_shows_no_server_path(client, engine, clean, member, content):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(member, content)
    r = upload(client, "farmhouses", "农房.zip", buf.getvalue())
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "file_format"
    for secret in ("/vsi", "/tmp", "chengjian-import-", "upload.zip", str(ROOT)):
        assert secret not in r.text, (secret, r.text)
    assert "农房.zip" in r.text
    assert count(engine, "farmhouses") == 0


def test_import_needs_edit_permission(client, engine, clean):
    r = upload(client, "farmhouses", "x.csv", csv_bytes(GOOD_CSV), headers=LEADER, mode="commit")
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert count(engine, "farmhouses") == 0


def test_oversized_upload_is_refused(engine, clean, monkeypatch):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from geo.settings import get_settings

    monkeypatch.setenv("CHENGJIAN_MAX_BODY_BYTES", "4096")
    get_settings.cache_clear()
    try:
        app = create_app()
    finally:
        monkeypatch.delenv("CHENGJIAN_MAX_BODY_BYTES")
        get_settings.cache_clear()
    big = csv_bytes(GOOD_CSV + [f"B-{i},某,1,砖混,否,120.12,30.26" for i in range(500)])
    with TestClient(app) as c:
        r = upload(c, "farmhouses", "big.csv", big, mode="commit")
        assert r.status_code == 413
        assert r.json() == {
            "code": "payload_too_large",
            "message": r.json()["message"],
            "field": None,
            "detail": {"max_bytes": 4096},
        }
        assert "上传内容过大" in r.json()["message"]
        assert upload(c, "farmhouses", "small.csv", csv_bytes(GOOD_CSV)).status_code == 200
    assert count(engine, "farmhouses") == 0


# -- command line ----------------------------------------------------------------------------


def test_cli_import_and_export(engine, clean, tmp_path, capsys):
    good = tmp_path / "农房.csv"
    good.write_bytes(csv_bytes(GOOD_CSV))
    assert cli(["import", str(good), "--layer", "farmhouses", "--dry-run"]) == 0
    assert count(engine, "farmhouses") == 0
    assert cli(["import", str(good), "--layer", "farmhouses", "--user", "clerk"]) == 0
    out = capsys.readouterr().out
    assert "通过 2 行" in out and "已导入 2 行" in out
    assert count(engine, "farmhouses") == 2

    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes(GOOD_CSV[:1] + ["N-9,某,2,砖混,是,120.12,"]))
    assert cli(["import", str(bad), "--layer", "farmhouses"]) == 1
    out = capsys.readouterr().out
    assert "第 2 行" in out and "缺少纬度" in out
    assert cli(["import", str(tmp_path / "missing.csv"), "--layer", "farmhouses"]) == 1
    assert count(engine, "farmhouses") == 2

    target = tmp_path / "out.geojson"
    assert (
        cli(["export", "--layer", "farmhouses", "--format", "geojson", "-o", str(target), "--filter", "structure=砖木"])
        == 0
    )
    assert [f["properties"]["code"] for f in json.loads(target.read_text())["features"]] == ["N-2"]
    assert (
        cli(
            [
                "export",
                "--layer",
                "farmhouses",
                "--format",
                "csv",
                "-o",
                str(tmp_path / "x.csv"),
                "--filter",
                "owner_name=王五",
            ]
        )
        == 1
    )
    with engine.connect() as conn:
        actions = conn.execute(text("SELECT actor, action FROM audit_log ORDER BY id")).all()
    assert [tuple(a) for a in actions] == [("clerk", "import"), ("cli", "export")]
    assert os.path.getsize(target) > 0


def test_cli_repair_flag(client, engine, clean, tmp_path, capsys):
    """An invalid fence is refused; with --repair it is made valid, stored and reported."""
    site = client.post(
        "/api/layers/sites/features",
        headers=ADMIN,
        json={
            "geometry": {"type": "Point", "coordinates": [120.15, 30.15]},
            "properties": {"code": "R-1", "name": "修复测试工地"},
        },
    ).json()["id"]
    bowtie = [[120.10, 30.10], [120.20, 30.20], [120.20, 30.10], [120.10, 30.20], [120.10, 30.10]]
    path = tmp_path / "fence.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Polygon", "coordinates": [bowtie]},
                        "properties": {"site_id": site, "name": "蝴蝶形围栏"},
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    assert cli(["import", str(path), "--layer", "site_fences"]) == 1
    assert count(engine, "site_fences") == 0
    capsys.readouterr()
    assert cli(["import", str(path), "--layer", "site_fences", "--repair"]) == 0
    assert count(engine, "site_fences", "ST_IsValid(geom) AND ST_NumGeometries(geom) = 2") == 1


# -- the column-wise fast path of coerce_column ----------------------------------------------


def test_coerce_column_fast_path_matches_row_rules():
    """Long columns take the vectorised path; values, errors and messages equal the row-by-row rules."""
    import datetime as dt

    import pandas as pd

    from geo.layer.attributes import FAST_MIN_ROWS, _coerce_rows, coerce_column

    pool = [
        None,
        "",
        "  ",
        "1",
        " 2 ",
        "3.0",
        "1e3",
        "1_000",
        "-5",
        "abc",
        "nan",
        "inf",
        "1,234.5",
        "是",
        "否",
        "TRUE",
        " yes ",
        "n",
        "砖混",
        " 框架 ",
        "A",
        "D",
        "x" * 60,
        "x" * 250,
        1,
        0,
        2,
        11,
        1999,
        -3,
        2.0,
        2.5,
        float("nan"),
        float("inf"),
        np.int64(3),
        np.float64(4.0),
        np.float32(1.1),
        np.bool_(True),
        True,
        False,
        10**30,
        dt.date(2020, 1, 2),
        pd.NaT,
        [1, 2],
        np.str_("框架"),
        2**60,
        "9007199254740993",
        120.5,
    ]
    rng = np.random.default_rng(7)
    for layer in registry.all():
        for attr in layer.attrs:
            plain = ["框架" if attr.type == "text" else "2"] * FAST_MIN_ROWS
            for values in ([pool[i] for i in rng.integers(0, len(pool), 2 * FAST_MIN_ROWS)], plain + pool):
                fast, fast_errors = coerce_column(attr, values)
                rows, row_errors = _coerce_rows(attr, values)
                assert [type(v) for v in fast] == [type(v) for v in rows] and fast == rows, (layer.id, attr.name)
                assert {i: e.as_dict() for i, e in fast_errors.items()} == {
                    i: e.as_dict() for i, e in row_errors.items()
                }, (layer.id, attr.name)
