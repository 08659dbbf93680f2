"""OGC API - Features at /ogc: structure, paging, filters, permissions, and GDAL's OAPIF driver reading it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import ADMIN, LEADER, PUBLIC, running_server

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
GEOJSON = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson"
PART2 = "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
PUBLIC_LAYERS = {"districts", "townships", "greenways"}


def line(i: int, lon0: float = 120.10, lat0: float = 30.25) -> list[list[float]]:
    x, y = lon0 + i * 0.001, lat0 + i * 0.0005
    return [[round(x, 6), round(y, 6)], [round(x + 0.002, 6), round(y + 0.001, 6)]]


def add_greenways(
    client, n: int, lon0: float = 120.10, lat0: float = 30.25, status: str = "在建", prefix: str = "GW"
) -> list[dict]:
    out = []
    for i in range(n):
        body = {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": line(i, lon0, lat0)},
            "properties": {"code": f"{prefix}-{i:03d}", "name": f"西湖绿道{i}号", "status": status},
        }
        r = client.post("/api/layers/greenways/features", json=body, headers=ADMIN)
        assert r.status_code == 201, r.text
        out.append(r.json())
    return out


def links(doc: dict) -> dict[str, dict]:
    return {link["rel"]: link for link in doc["links"]}


def local(url: str) -> str:
    """An absolute link as a path + query for the TestClient (and a check that it is absolute)."""
    parts = urlsplit(url)
    assert parts.scheme == "http" and parts.netloc, url
    return parts.path + ("?" + parts.query if parts.query else "")


# -- landing, conformance, collections ------------------------------------------------------------


def test_landing_page(client):
    r = client.get("/ogc")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["title"] == "城建 GIS 平台"
    rels = links(doc)
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    assert rels["self"]["href"] == "http://testserver/ogc"
    assert rels["conformance"]["href"] == "http://testserver/ogc/conformance"
    assert rels["data"]["href"] == "http://testserver/ogc/collections"
    assert rels["service-desc"]["href"] == "http://testserver/api/openapi.json"
    assert rels["service-desc"]["type"].startswith("application/vnd.oai.openapi+json")
    api = client.get(local(rels["service-desc"]["href"])).json()
    params = {p["name"]: p for p in api["paths"]["/ogc/collections/{layer_id}/items"]["get"]["parameters"]}
    assert {"limit", "offset", "bbox", "bbox-crs", "crs", "datetime"} <= set(params)
    # GDAL 3.9+ takes its page size from the advertised default (before: 10 a page, 100 requests per 1,000 rows).
    assert params["limit"]["schema"]["maximum"] == 10_000 and params["limit"]["schema"]["default"] == 1000
    assert EPSG + "4549" in params["crs"]["schema"]["enum"] and EPSG + "4490" in params["bbox-crs"]["schema"]["enum"]
    assert client.get("/ogc?f=json").status_code == 200


def test_unsupported_format_is_refused(client):
    r = client.get("/ogc/collections?f=html")
    assert r.status_code == 406
    assert r.json()["code"] == "not_acceptable" and r.json()["field"] == "f"


def test_conformance_claims_only_what_is_implemented(client):
    doc = client.get("/ogc/conformance").json()
    assert set(doc["conformsTo"]) == {CORE, GEOJSON, PART2}


def test_collections_list_only_visible_layers(client):
    anon = client.get("/ogc/collections").json()
    assert {c["id"] for c in anon["collections"]} == PUBLIC_LAYERS
    assert links(anon)["self"]["href"] == "http://testserver/ogc/collections"
    leader = client.get("/ogc/collections", headers=LEADER).json()
    assert {"farmhouses", "sites", "sewage_plants"} <= {c["id"] for c in leader["collections"]}


def test_hidden_and_unknown_layers(client):
    for path in (
        "/ogc/collections/farmhouses",
        "/ogc/collections/farmhouses/items",
        "/ogc/collections/farmhouses/items/1",
        "/ogc/collections/farmhouses/schema",
    ):
        assert client.get(path).status_code == 401, path  # anonymous: sign in first
        r = client.get(path, headers=PUBLIC)
        assert r.status_code == 403, path
        assert r.json()["code"] == "forbidden"
    assert client.get("/ogc/collections/farmhouses", headers=LEADER).status_code == 200
    r = client.get("/ogc/collections/nosuch/items")
    assert r.status_code == 404 and r.json()["code"] == "layer_not_found"


def test_collection_description(client, clean):
    doc = client.get("/ogc/collections/districts").json()
    assert doc["id"] == "districts" and doc["title"] == "区县边界"
    assert doc["itemType"] == "feature" and doc["storageCrs"] == CRS84
    assert doc["crs"] == [CRS84, EPSG + "4326", EPSG + "4490", EPSG + "4549"]
    assert doc["extent"]["spatial"]["crs"] == CRS84
    (box,) = doc["extent"]["spatial"]["bbox"]
    # The 13 districts of the migration: Hangzhou spans about 118.3–120.7 E, 29.2–30.6 N.
    assert 118.2 < box[0] < 118.5 and 29.1 < box[1] < 29.3 and 120.6 < box[2] < 120.8 and 30.4 < box[3] < 30.6
    rels = links(doc)
    assert rels["self"]["href"] == "http://testserver/ogc/collections/districts"
    assert rels["items"]["href"] == "http://testserver/ogc/collections/districts/items"
    assert rels["items"]["type"] == "application/geo+json"
    assert rels["describedby"]["type"] == "application/schema+json"

    r = client.get(local(rels["describedby"]["href"]))
    assert r.status_code == 200 and r.headers["content-type"] == "application/schema+json"
    schema = r.json()
    assert schema["title"] == "区县边界"
    assert schema["properties"]["geometry"]["properties"]["type"]["enum"] == ["MultiPolygon"]
    props = schema["properties"]["properties"]
    assert props["required"] == ["code", "name"]
    assert props["properties"]["kind"] == {"type": "string", "title": "类型", "enum": ["区", "县", "县级市"]}

    empty = client.get("/ogc/collections/greenways").json()  # no features: Hangzhou's box
    assert empty["extent"]["spatial"]["bbox"] == [[118.33, 29.18, 120.73, 30.57]]
    add_greenways(client, 2)
    box = client.get("/ogc/collections/greenways").json()["extent"]["spatial"]["bbox"][0]
    assert box == pytest.approx([120.10, 30.25, 120.103, 30.2515])


def test_extent_is_exact_and_scoped(client, clean, engine):
    """TileJSON bounds and the OGC extent hold every live feature the principal may see, at once after a write —
    not the planner's sampled estimate — and never another district's positions."""
    from sqlalchemy import text

    from tests.conftest import make_user

    with engine.begin() as conn:  # 2,000 plants in 西湖区, then statistics as autovacuum would gather them
        conn.execute(
            text(
                "INSERT INTO sewage_plants (geom, code, name, district, kind) "
                "SELECT ST_SetSRID(ST_MakePoint(120.10 + (i % 50) * 0.001, 30.22 + (i / 50) * 0.001), 4326), "
                "'WS-' || i, '污水终端' || i, '西湖区', '农村污水处理终端' FROM generate_series(0, 1999) AS i"
            )
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE sewage_plants"))
    xihu = make_user("extent-xihu", ["district_staff"], district="西湖区")

    def boxes(headers):
        tj = client.get("/tiles/sewage_plants.json", headers=headers)
        ogc = client.get("/ogc/collections/sewage_plants", headers=headers)
        assert tj.status_code == 200 and ogc.status_code == 200
        return tj.json()["bounds"], ogc.json()["extent"]["spatial"]["bbox"][0]

    inner = [120.10, 30.22, 120.149, 30.259]
    for box in boxes(LEADER):
        assert box == pytest.approx(inner, abs=1e-6)

    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [119.0412345, 29.6054321]},
        "properties": {"code": "CA-001", "name": "千岛湖污水处理厂", "kind": "城镇污水处理厂"},
    }
    r = client.post("/api/layers/sewage_plants/features", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    assert r.json()["properties"]["district"] == "淳安县"
    tj, ogc = boxes(LEADER)
    assert ogc == pytest.approx([119.0412345, 29.6054321, 120.149, 30.259], abs=1e-9)
    # Rounded outwards to 6 decimals: the point itself stays inside the advertised bounds.
    assert tj == pytest.approx([119.041234, 29.605432, 120.149, 30.259], abs=1e-9)
    assert tj[0] <= 119.0412345 and tj[1] <= 29.6054321
    # A 西湖区 clerk's extent is that of the rows it may see: the plant in 淳安县 does not show in it.
    for box in boxes(xihu):
        assert box == pytest.approx(inner, abs=1e-6)

    fid, version = r.json()["id"], r.json()["meta"]["version"]
    r = client.delete(f"/api/layers/sewage_plants/features/{fid}", headers={**ADMIN, "If-Match": f'"{fid}-{version}"'})
    assert r.status_code in (200, 204), r.text
    for box in boxes(LEADER):  # deleted: the box shrinks back
        assert box == pytest.approx(inner, abs=1e-6)


# -- items ----------------------------------------------------------------------------------------


def test_items_paging_follows_next_links(client, clean):
    created = add_greenways(client, 25)
    r = client.get("/ogc/collections/greenways/items?limit=10")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/geo+json"
    page = r.json()
    assert page["type"] == "FeatureCollection"
    assert page["numberMatched"] == 25 and page["numberReturned"] == 10
    assert page["timeStamp"].endswith("Z")
    rels = links(page)
    assert "prev" not in rels and rels["collection"]["href"] == "http://testserver/ogc/collections/greenways"
    assert rels["self"]["href"] == "http://testserver/ogc/collections/greenways/items?limit=10"

    seen, pages = [f["id"] for f in page["features"]], 1
    while "next" in links(page):
        assert links(page)["next"]["type"] == "application/geo+json"
        page = client.get(local(links(page)["next"]["href"])).json()
        assert page["numberMatched"] == 25
        seen += [f["id"] for f in page["features"]]
        pages += 1
    assert pages == 3 and page["numberReturned"] == 5
    assert seen == [f["id"] for f in created]
    prev = parse_qs(urlsplit(links(page)["prev"]["href"]).query)
    assert prev == {"limit": ["10"], "offset": ["10"]}

    default = client.get("/ogc/collections/greenways/items").json()
    assert default["numberReturned"] == 25 and "next" not in links(default)  # 1,000 a page unless asked

    beyond = client.get("/ogc/collections/greenways/items?offset=30").json()
    assert beyond["features"] == [] and beyond["numberMatched"] == 25 and "next" not in links(beyond)


def test_limit_above_maximum_is_served_with_the_maximum(client, clean):
    add_greenways(client, 3)
    r = client.get("/ogc/collections/greenways/items?limit=99999999999999999999&offset=1")
    assert r.status_code == 200
    page = r.json()
    assert page["numberReturned"] == 2
    assert parse_qs(urlsplit(links(page)["prev"]["href"]).query)["limit"] == ["10000"]


@pytest.mark.parametrize(
    "query,field",
    [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("offset=-1", "offset"),
        ("offset=99999999999999999999", "offset"),
        ("bbox=1,2,3", "bbox"),
        ("bbox=120,30,119,31", "bbox"),
        ("bbox=a,b,c,d", "bbox"),
        ("bbox=-inf,29,inf,31", "bbox"),
        ("bbox=120,30,121,31&bbox-crs=EPSG:3857", "bbox-crs"),
        ("bbox=120,30,121,31&bbox-crs=GCJ02", "bbox-crs"),
        ("crs=EPSG:3857", "crs"),
        ("crs=GCJ02", "crs"),
        ("crs=http://www.opengis.net/def/crs/EPSG/0/4547", "crs"),
        ("nosuch=1", "nosuch"),
        ("name=x", "name"),
        ("plan_year=abc", "plan_year"),
    ],
)
def test_bad_parameters_give_400(client, query, field):
    r = client.get(f"/ogc/collections/greenways/items?{query}")
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["field"] == field
    assert body["message"] and any("\u4e00" <= ch <= "\u9fff" for ch in body["message"])


def test_bbox_and_attribute_filters(client, clean):
    west = add_greenways(client, 4, lon0=119.90, lat0=30.10, status="规划", prefix="W")
    east = add_greenways(client, 6, lon0=120.30, lat0=30.30, status="已建成", prefix="E")
    base = "/ogc/collections/greenways/items"

    page = client.get(f"{base}?bbox=119.8,30.0,120.0,30.2&limit=100").json()
    assert page["numberMatched"] == 4
    assert {f["id"] for f in page["features"]} == {f["id"] for f in west}

    page = client.get(f"{base}?bbox=120.2,30.2,0,120.5,30.5,100&limit=2").json()  # 6 numbers: heights ignored
    assert page["numberMatched"] == 6 and page["numberReturned"] == 2
    nxt = links(page)["next"]["href"]
    assert parse_qs(urlsplit(nxt).query)["bbox"] == ["120.2,30.2,0,120.5,30.5,100"]  # filters survive paging
    assert client.get(local(nxt)).json()["numberMatched"] == 6

    page = client.get(f"{base}?bbox=120.2,30.2,120.5,30.5&bbox-crs={CRS84}").json()
    assert page["numberMatched"] == 6

    page = client.get(f"{base}?status=已建成&limit=100").json()
    assert {f["id"] for f in page["features"]} == {f["id"] for f in east}
    assert client.get(f"{base}?status=规划,已建成").json()["numberMatched"] == 10
    assert client.get(f"{base}?status=规划&bbox=120.2,30.2,120.5,30.5").json()["numberMatched"] == 0
    # datetime cannot filter these layers: refused with 400 naming it, never silently ignored.
    for value in ("2024-01-01T00:00:00Z/..", "2024-01-01T00:00:00Z", "x/y", "..", "../..", "2025-01-01/2024-01-01"):
        r = client.get(base, params={"datetime": value})
        assert r.status_code == 400, (value, r.text)
        assert r.json()["field"] == "datetime" and "datetime" in r.json()["message"], r.text
    assert "没有时间属性" in client.get(base, params={"datetime": "2024-01-01T00:00:00Z/.."}).json()["message"]
    assert "格式不正确" in client.get(base, params={"datetime": "x/y"}).json()["message"]


def test_items_in_cgcs2000(client, clean):
    """Part 2: items and bbox in CGCS2000 (geographic and Gauss-Krüger), in each CRS's own axis order."""
    from pyproj import Transformer

    west = add_greenways(client, 3, lon0=119.90, lat0=30.10, prefix="W")
    east = add_greenways(client, 2, lon0=120.30, lat0=30.30, prefix="E")
    base = "/ogc/collections/greenways/items"
    gk = Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True)

    r = client.get(f"{base}?crs={EPSG}4549&limit=100")
    assert r.status_code == 200 and r.headers["content-crs"] == f"<{EPSG}4549>"
    got = {f["id"]: f["geometry"]["coordinates"] for f in r.json()["features"]}
    for f in west + east:
        want = [v for lon, lat in f["geometry"]["coordinates"] for v in gk.transform(lon, lat)[::-1]]  # northing first
        assert [v for xy in got[f["id"]] for v in xy] == pytest.approx(want, abs=0.002)
        assert 3.3e6 < got[f["id"]][0][0] < 3.4e6 and 4.8e5 < got[f["id"]][0][1] < 5.3e5
    assert parse_qs(urlsplit(links(r.json())["self"]["href"]).query)["crs"] == [f"{EPSG}4549"]

    for spelling in (f"{EPSG}4490", "EPSG:4490", "[EPSG:4490]"):
        r = client.get(f"{base}/{west[0]['id']}", params={"crs": spelling})
        assert r.status_code == 200 and r.headers["content-crs"] == f"<{EPSG}4490>"
        lon, lat = west[0]["geometry"]["coordinates"][0]
        assert r.json()["geometry"]["coordinates"][0] == pytest.approx([lat, lon], abs=1e-6)  # latitude first
    r = client.get(base)
    assert r.headers["content-crs"] == f"<{CRS84}>" and r.json()["features"][0]["geometry"] == west[0]["geometry"]

    # A bbox drawn in EPSG:4549 (northing, easting) selects the western greenways only, and exactly.
    (x0, y0), (x1, y1) = gk.transform(119.85, 30.05), gk.transform(120.00, 30.20)
    page = client.get(base, params={"bbox": f"{y0},{x0},{y1},{x1}", "bbox-crs": f"{EPSG}4549"}).json()
    assert {f["id"] for f in page["features"]} == {f["id"] for f in west} and page["numberMatched"] == 3
    page = client.get(base, params={"bbox": "30.05,119.85,30.2,120.0", "bbox-crs": "EPSG:4490"}).json()
    assert {f["id"] for f in page["features"]} == {f["id"] for f in west}
    # Hangzhou's 4549 box of the east group, with both in the output CRS too.
    (x0, y0), (x1, y1) = gk.transform(120.25, 30.25), gk.transform(120.40, 30.40)
    page = client.get(base, params={"bbox": f"{y0},{x0},{y1},{x1}", "bbox-crs": f"{EPSG}4549", "crs": f"{EPSG}4549"})
    assert {f["id"] for f in page.json()["features"]} == {f["id"] for f in east}

    r = client.get(base, params={"crs": "GCJ02"})
    assert r.status_code == 400 and r.json()["field"] == "crs" and "GCJ-02" in r.json()["message"]
    assert "没有字段" not in r.json()["message"]


def test_single_item(client, clean):
    (created,) = add_greenways(client, 1)
    fid = created["id"]
    r = client.get(f"/ogc/collections/greenways/items/{fid}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/geo+json"
    doc = r.json()
    assert doc["type"] == "Feature" and doc["id"] == fid
    assert "meta" not in doc
    assert doc["geometry"] == {"type": "LineString", "coordinates": line(0)}
    assert doc["properties"]["name"] == "西湖绿道0号" and doc["properties"]["code"] == "GW-000"
    assert set(doc["properties"]) == set(created["properties"])
    rels = links(doc)
    assert rels["self"]["href"] == f"http://testserver/ogc/collections/greenways/items/{fid}"
    assert rels["collection"]["href"] == "http://testserver/ogc/collections/greenways"

    listed = client.get("/ogc/collections/greenways/items").json()["features"][0]
    assert listed["id"] == fid and "meta" not in listed and listed["properties"] == doc["properties"]

    for missing in (fid + 1000, "abc", "-1", "99999999999999999999"):
        r = client.get(f"/ogc/collections/greenways/items/{missing}")
        assert r.status_code == 404, missing
        assert r.json()["code"] == "not_found" and "不存在" in r.json()["message"]

    r = client.delete(f"/api/layers/greenways/features/{fid}?version=1", headers=ADMIN)
    assert r.status_code == 204
    assert client.get(f"/ogc/collections/greenways/items/{fid}").status_code == 404
    assert client.get("/ogc/collections/greenways/items").json()["numberMatched"] == 0


# -- GDAL's OAPIF driver against the real server -----------------------------------------------------


@pytest.fixture()
def live_server(app):
    with running_server(app) as base:
        yield base


def gdal(*args: str) -> str:
    env = {
        **os.environ,
        "GDAL_HTTP_UNSAFESSL": "YES",
        "CPL_DEBUG": "OFF",
        "NO_PROXY": "127.0.0.1,localhost",
        "GDAL_HTTP_TIMEOUT": "30",
    }
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL (gdal-bin) is not installed")
def test_gdal_reads_a_layer(client, clean, live_server):
    created = add_greenways(client, 25)
    url = f"OAPIF:{live_server}/ogc"

    listing = gdal("ogrinfo", "-ro", url)
    names = {ln.split(":", 1)[1].split("(")[0].strip() for ln in listing.splitlines() if ln[:1].isdigit()}
    assert names == PUBLIC_LAYERS

    summary = gdal("ogrinfo", "-ro", "-so", url, "greenways")
    assert "Feature Count: 25" in summary
    assert "Line String" in summary
    assert "name: String" in summary
    # Types from the collection's JSON Schema: these attributes are null in every feature.
    assert "plan_year: Integer" in summary and "fund_wan: Real" in summary

    # Read every feature, 10 a page: GDAL follows the next links twice.
    fc = json.loads(gdal("ogr2ogr", "-f", "GeoJSON", "-oo", "PAGE_SIZE=10", "/vsistdout/", url, "greenways"))
    features = fc["features"]
    assert len(features) == 25
    by_code = {f["properties"]["code"]: f for f in features}
    assert len(by_code) == 25
    for i, want in enumerate(created):
        got = by_code[f"GW-{i:03d}"]
        assert got["properties"]["name"] == f"西湖绿道{i}号"
        assert got["properties"]["status"] == "在建"
        assert got["geometry"]["type"] == "LineString"
        flat = [v for xy in got["geometry"]["coordinates"] for v in xy]
        assert flat == pytest.approx([v for xy in want["geometry"]["coordinates"] for v in xy], abs=1e-7)


def test_gdal_reads_in_cgcs2000(client, clean, live_server):
    """GDAL's own OAPIF driver (the one pyogrio bundles, in a process of its own) asks for EPSG:4549 by reference
    and gets the same places."""
    import sys

    from pyproj import Transformer

    from geo.settings import ROOT

    created = add_greenways(client, 12)
    script = (
        "import json, sys, pyogrio\n"
        "gdf = pyogrio.read_dataframe(sys.argv[1], layer='greenways', CRS='EPSG:4549')\n"
        "print(json.dumps({'epsg': gdf.crs.to_epsg(), "
        "'rows': {c: list(g.coords) for c, g in zip(gdf['code'], gdf.geometry)}}))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", script, f"OAPIF:{live_server}/ogc"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "NO_PROXY": "127.0.0.1,localhost",
            "GDAL_HTTP_TIMEOUT": "30",
            "CPL_DEBUG": "ON",
        },
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    # By reference: the server converted (GDAL did not reproject CRS84 itself), a page of 1,000 (GDAL 3.9+).
    fetched = [ln for ln in r.stderr.splitlines() if "/items?" in ln]
    assert any("limit=1000&crs=http://www.opengis.net/def/crs/EPSG/0/4549" in ln for ln in fetched), fetched
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["epsg"] == 4549 and len(out["rows"]) == 12
    gk = Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True)
    for i, want in enumerate(created):
        got = out["rows"][f"GW-{i:03d}"]  # GDAL hands them back easting first
        expected = [gk.transform(lon, lat) for lon, lat in want["geometry"]["coordinates"]]
        assert [v for xy in got for v in xy] == pytest.approx([v for xy in expected for v in xy], abs=0.002)
