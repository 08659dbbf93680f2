"""Geometry input is strict (issue #11 §1): what RFC 7946 or the layer's declaration does not allow is refused with
the reason and the place — never closed, padded, converted, flattened or rounded silently — on every entry path
(features API, imports of GeoJSON/KML/CSV, the geofence API); repair is an explicit import option (``--make-valid``,
``make_valid=true``) that keeps the layer's type and reports each repaired row."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import shapely
from sqlalchemy import text

from etl.cli import main as cli
from geo.validate import check_many
from tests.conftest import ADMIN

SQUARE = [[120.15, 30.15], [120.152, 30.15], [120.152, 30.152], [120.15, 30.152], [120.15, 30.15]]
BOWTIE = [[120.10, 30.10], [120.20, 30.20], [120.20, 30.10], [120.10, 30.20], [120.10, 30.10]]


def stored(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


@pytest.fixture()
def site_id(client, clean):
    r = client.post(
        "/api/layers/sites/features",
        headers=ADMIN,
        json={
            "geometry": {"type": "Point", "coordinates": [120.15, 30.15]},
            "properties": {"code": "S-1", "name": "严格几何工地"},
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def post(client, layer: str, geometry, props: dict, **params):
    return client.post(
        f"/api/layers/{layer}/features",
        params=params,
        headers=ADMIN,
        json={"type": "Feature", "geometry": geometry, "properties": props},
    )


PLANT = {"code": "P-1", "name": "测试厂", "kind": "城镇污水处理厂"}
GREEN = {"code": "G-1", "name": "测试绿道"}

CASES = [
    # (name, layer, geometry, code, path)
    ("text coordinates", "sewage_plants", {"type": "Point", "coordinates": ["120.15", "30.15"]}, "geometry_malformed"),
    ("boolean coordinate", "sewage_plants", {"type": "Point", "coordinates": [True, 30.15]}, "geometry_malformed"),
    ("four numbers", "sewage_plants", {"type": "Point", "coordinates": [120.15, 30.15, 1, 2]}, "geometry_malformed"),
    ("one number", "sewage_plants", {"type": "Point", "coordinates": [120.15]}, "geometry_malformed"),
    ("huge integer", "sewage_plants", {"type": "Point", "coordinates": [10**400, 30.15]}, "coordinates_out_of_range"),
    ("height", "sewage_plants", {"type": "Point", "coordinates": [120.15, 30.15, 12.5]}, "geometry_has_z"),
    (
        "multipoint for a point layer",
        "sewage_plants",
        {"type": "MultiPoint", "coordinates": [[120.15, 30.15]]},
        "geometry_type_mismatch",
    ),
    ("one-point line", "greenways", {"type": "LineString", "coordinates": [[120.15, 30.15]]}, "geometry_malformed"),
    (
        "multiline for a line layer",
        "greenways",
        {"type": "MultiLineString", "coordinates": [[[120.15, 30.15], [120.16, 30.16]]]},
        "geometry_type_mismatch",
    ),
    ("unknown type", "sewage_plants", {"type": "Circle", "coordinates": [120.15, 30.15]}, "geometry_malformed"),
]


@pytest.mark.parametrize("name,layer,geometry,code", CASES, ids=[c[0] for c in CASES])
def test_features_api_refuses_what_rfc7946_or_the_layer_does_not_allow(
    client, engine, clean, name, layer, geometry, code
):
    r = post(client, layer, geometry, PLANT if layer == "sewage_plants" else GREEN)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == code and body["field"] == "geometry"
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"])
    if code == "geometry_type_mismatch":
        expected = "Point" if layer == "sewage_plants" else "LineString"
        assert body["detail"]["expected"] == expected and expected in body["message"]
    assert stored(engine, layer) == 0


def test_rings_are_never_closed_or_padded(client, engine, site_id):
    unclosed = SQUARE[:-1]
    r = post(client, "site_fences", {"type": "Polygon", "coordinates": [unclosed]}, {"site_id": site_id})
    assert r.status_code == 422 and r.json()["code"] == "ring_not_closed", r.text
    assert r.json()["detail"]["path"] == "coordinates[0]" and "闭合" in r.json()["message"]
    three = [SQUARE[0], SQUARE[1], SQUARE[0]]
    r = post(client, "site_fences", {"type": "Polygon", "coordinates": [three]}, {"site_id": site_id})
    assert r.status_code == 422 and r.json()["code"] == "ring_too_short"
    # In a MultiPolygon the path names the part and the ring.
    hole = [[120.1505, 30.1505], [120.151, 30.1505], [120.151, 30.151]]
    r = post(client, "site_fences", {"type": "MultiPolygon", "coordinates": [[SQUARE, hole]]}, {"site_id": site_id})
    assert r.status_code == 422 and r.json()["detail"]["path"] == "coordinates[0][1]"
    assert stored(engine, "site_fences") == 0


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(client, engine, clean, token):
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 30.15]}, "properties": PLANT}
    body = json.dumps(feature, ensure_ascii=False).replace("[0, 30.15]", f"[{token}, 30.15]")
    r = client.post(
        "/api/layers/sewage_plants/features",
        headers={**ADMIN, "Content-Type": "application/json"},
        content=body.encode(),
    )
    assert r.status_code == 422 and r.json()["code"] == "coordinates_invalid", r.text
    assert stored(engine, "sewage_plants") == 0


def test_winding_and_precision_are_stored_as_given(client, engine, site_id):
    """The right-hand rule is a SHOULD: a clockwise ring is accepted and kept clockwise; no coordinate is rounded."""
    clockwise = list(reversed(SQUARE))
    r = post(client, "site_fences", {"type": "Polygon", "coordinates": [clockwise]}, {"site_id": site_id})
    assert r.status_code == 201, r.text
    assert r.json()["geometry"]["coordinates"] == [[clockwise]]
    r = post(client, "sewage_plants", {"type": "Point", "coordinates": [120.123456789012, 30.2]}, PLANT)
    assert r.status_code == 201
    with engine.connect() as conn:
        assert conn.execute(text("SELECT ST_X(geom) FROM sewage_plants")).scalar_one() == 120.123456789012


def test_repair_keeps_the_declared_type(client, engine, site_id):
    r = post(
        client, "site_fences", {"type": "Polygon", "coordinates": [BOWTIE]}, {"site_id": site_id}, make_valid="true"
    )
    assert r.status_code == 201, r.text
    assert r.json()["repair"]["reason"].startswith("Self-intersection")
    # A repair that would change the type is refused: a degenerate line is not made a point.
    res = check_many(
        np.array([shapely.LineString([(120.15, 30.15), (120.15, 30.15)])], dtype=object), "LineString", repair=True
    )
    assert res.errors[0].code == "geometry_invalid" and res.errors[0].detail["repaired_type"] == "Point"


def test_nan_inside_a_large_batch_is_found():
    """Bounds skip NaN; every coordinate is looked at, however many rows."""
    pts = [shapely.Point(120.15, 30.15)] * 60_000
    bad = shapely.LineString([(120.15, 30.15), (np.nan, 30.16), (120.17, 30.17)])
    res = check_many(np.array([*pts, bad], dtype=object), "LineString")
    assert res.errors[-1] is not None and res.errors[-1].code == "coordinates_invalid"


def test_geofence_refuses_text_coordinates(client, site_id):
    r = client.post(
        "/api/geofence/check",
        headers=ADMIN,
        json={"layer": "site_fences", "site_id": site_id, "lon": "120.15", "lat": 30.15},
    )
    assert r.status_code == 422 and r.json()["field"] == "lon", r.text


# -- imports ---------------------------------------------------------------------------------------------------


def fc(*geometries, **props) -> bytes:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "geometry": g, "properties": {"code": f"FH-{i}", "owner_name": "户主", **props}}
                for i, g in enumerate(geometries)
            ],
        }
    ).encode()


def upload(client, layer: str, name: str, data: bytes, **params):
    return client.post(
        f"/api/layers/{layer}/import",
        params=params,
        headers=ADMIN,
        files={"file": (name, io.BytesIO(data), "application/octet-stream")},
    )


def test_geojson_import_names_each_broken_geometry(client, engine, clean):
    good = {"type": "Point", "coordinates": [120.15, 30.15]}
    data = fc(
        good,
        {"type": "Point", "coordinates": ["120.15", "30.15"]},
        {"type": "Point", "coordinates": [120.15, 30.15, 8.0]},
    )
    r = upload(client, "farmhouses", "f.geojson", data, mode="commit")
    assert r.status_code == 422 and r.json()["code"] == "import_rejected", r.text
    errors = {e["row"]: e for e in r.json()["detail"]["errors"]}
    assert set(errors) == {2, 3}
    assert errors[2]["code"] == "geometry_malformed" and "2 个数值" in errors[2]["message"]
    assert errors[3]["code"] == "geometry_has_z"
    assert stored(engine, "farmhouses") == 0


def test_unclosed_ring_in_an_import_is_a_row_error(client, engine, site_id):
    data = json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "Polygon", "coordinates": [SQUARE]},
                    "properties": {"site_id": site_id},
                },
                {
                    "type": "Feature",
                    "geometry": {"type": "Polygon", "coordinates": [SQUARE[:-1]]},
                    "properties": {"site_id": site_id},
                },
            ],
        }
    ).encode()
    r = upload(client, "site_fences", "fences.geojson", data)
    assert r.status_code == 200, r.text
    assert [(e["row"], e["code"]) for e in r.json()["errors"]] == [(2, "ring_not_closed")]
    csv = f'site_id,wkt\n{site_id},"POLYGON((120.15 30.15,120.152 30.15,120.152 30.152))"\n'.encode()
    r = upload(client, "site_fences", "fences.csv", csv)
    assert r.status_code == 200 and r.json()["rejected"] == 1
    assert "未闭合" in r.json()["errors"][0]["message"]
    assert stored(engine, "site_fences") == 0


KML = """<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>
<Placemark><name>a</name><ExtendedData><Data name="code"><value>K-1</value></Data>
<Data name="owner_name"><value>甲</value></Data></ExtendedData>
<Point>{mode}<coordinates>120.15,30.15,{z}</coordinates></Point></Placemark></Document></kml>"""


def test_kml_heights_are_dropped_only_where_kml_ignores_them(client, engine, clean):
    r = upload(client, "farmhouses", "a.kml", KML.format(mode="", z=0).encode())
    assert r.status_code == 200 and r.json()["rejected"] == 0, r.text
    assert r.json()["heights_ignored"] == 1
    absolute = KML.format(mode="<altitudeMode>absolute</altitudeMode>", z=35).encode()
    r = upload(client, "farmhouses", "b.kml", absolute)
    assert r.status_code == 200 and [e["code"] for e in r.json()["errors"]] == ["geometry_has_z"]


def test_make_valid_is_an_explicit_import_option_that_reports_each_row(client, engine, site_id, tmp_path, capsys):
    rows = [SQUARE, BOWTIE, BOWTIE]
    data = json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "Polygon", "coordinates": [r]},
                    "properties": {"site_id": site_id},
                }
                for r in rows
            ],
        }
    ).encode()
    r = upload(client, "site_fences", "f.geojson", data, mode="commit")
    assert r.status_code == 422 and [e["row"] for e in r.json()["detail"]["errors"]] == [2, 3]
    assert "make_valid" in r.json()["detail"]["errors"][0]["message"]
    assert stored(engine, "site_fences") == 0
    r = upload(client, "site_fences", "f.geojson", data, make_valid="true")
    assert r.status_code == 200, r.text
    rep = r.json()["repaired"]
    assert [x["row"] for x in rep] == [2, 3] and rep[0]["reason"].startswith("Self-intersection")
    assert r.json()["repaired_total"] == 2
    path = tmp_path / "f.geojson"
    path.write_bytes(data)
    capsys.readouterr()
    assert cli(["import", str(path), "--layer", "site_fences", "--make-valid"]) == 0
    out = capsys.readouterr().out
    assert "第 2 行" in out and "第 3 行" in out and "边线自相交" in out
    assert stored(engine, "site_fences") == 3


def unclosed_ring_shapefile(site_id: int) -> bytes:
    """A zipped polygon Shapefile whose only ring is not closed (written by hand: every writer closes rings)."""
    import struct
    import zipfile

    ring = SQUARE[:-1]
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    box = struct.pack("<4d", min(xs), min(ys), max(xs), max(ys))
    content = struct.pack("<i", 5) + box + struct.pack("<iii", 1, len(ring), 0)
    content += b"".join(struct.pack("<2d", x, y) for x, y in ring)

    def header(words: int) -> bytes:
        return struct.pack(">i20xi", 9994, words) + struct.pack("<ii", 1000, 5) + box + bytes(32)

    shp = header(50 + 4 + len(content) // 2) + struct.pack(">ii", 1, len(content) // 2) + content
    shx = header(50 + 4) + struct.pack(">ii", 50, len(content) // 2)
    field = b"site_id".ljust(11, b"\0") + b"N" + bytes(4) + bytes([10, 0]) + bytes(14)
    dbf = struct.pack("<BBBBIHH20x", 3, 126, 1, 1, 1, 32 + 32 + 1, 1 + 10) + field + b"\r"
    dbf += b" " + str(site_id).rjust(10).encode() + b"\x1a"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for ext, data in (("shp", shp), ("shx", shx), ("dbf", dbf)):
            z.writestr(f"fences.{ext}", data)
    return buf.getvalue()


def test_unclosed_ring_in_a_shapefile_is_named_not_closed(client, engine, site_id):
    r = upload(client, "site_fences", "fences.zip", unclosed_ring_shapefile(site_id), mode="commit")
    assert r.status_code == 422, r.text
    errors = r.json()["detail"]["errors"]
    assert [(e["row"], e["code"]) for e in errors] == [(1, "ring_not_closed")] and "未闭合" in errors[0]["message"]
    assert stored(engine, "site_fences") == 0
