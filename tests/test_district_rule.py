"""A record's district follows from its geometry (issue #11 §3): a given district that does not fit the location is
refused (``district_mismatch``, naming both), a point on a boundary may carry either neighbour, an empty district is
filled; the same rule holds for the features API, imports and bulk loads, and a district account's write outside its
district is ``out_of_scope`` naming the field that put it there."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import shapely
from sqlalchemy import text

from geo.errors import Invalid
from geo.layer import districting
from tests.conftest import ADMIN, make_user

FH = "/api/layers/farmhouses/features"


def farmhouse(code: str, lon: float, lat: float, **props) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {"code": code, "owner_name": "测试户主", **props},
    }


def interior(engine, district: str) -> tuple[float, float]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(
                text(
                    "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts WHERE name = :n) s"
                ),
                {"n": district},
            ).one()
        )


def on_boundary(engine, a: str, b: str) -> tuple[float, float]:
    """A point of ``a``'s boundary where it meets ``b``."""
    with engine.connect() as conn:
        x, y, gap = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p), ST_Distance(ST_Transform(p, 4549), ST_Transform(bg, 4549)) FROM "
                "(SELECT ST_ClosestPoint(ST_Boundary(a.geom), b.geom) p, b.geom bg FROM districts a, districts b "
                "WHERE a.name = :a AND b.name = :b) s"
            ),
            {"a": a, "b": b},
        ).one()
    assert gap < 1, f"{a} and {b} do not touch ({gap} m)"
    return x, y


def metres_to(engine, lon: float, lat: float, district: str) -> float:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT ST_Distance(ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 4326), 4549), "
                "ST_Transform(geom, 4549)) FROM districts WHERE name = :n"
            ),
            {"x": lon, "y": lat, "n": district},
        ).scalar_one()


def count(engine, table: str = "farmhouses") -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table} WHERE deleted_at IS NULL")).scalar_one()


@pytest.fixture()
def clerk():
    return make_user("clerk-xihu-rule", ["district_staff"], district="西湖区")


def test_district_account_labelling_a_point_in_another_district_with_its_own_is_refused(client, engine, clean, clerk):
    """The probe of issue #11: a 西湖区 account creates a site inside 余杭区 labelled 西湖区."""
    lon, lat = interior(engine, "余杭区")
    r = client.post(FH, headers=clerk, json=farmhouse("FH-PROBE", lon, lat, district="西湖区"))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "district_mismatch" and body["field"] == "district"
    assert "西湖区" in body["message"] and "余杭区" in body["message"]
    assert body["detail"]["given"] == "西湖区" and body["detail"]["located"] == "余杭区"
    assert count(engine) == 0
    # The same for an administrator: the rule is about the record, not the account.
    r = client.post(FH, headers=ADMIN, json=farmhouse("FH-PROBE", lon, lat, district="西湖区"))
    assert r.status_code == 422 and r.json()["code"] == "district_mismatch"
    assert count(engine) == 0


def test_out_of_scope_names_the_field(client, engine, clean, clerk):
    yh = interior(engine, "余杭区")
    # The district follows the geometry, and that puts it out of scope.
    r = client.post(FH, headers=clerk, json=farmhouse("FH-OUT-1", *yh))
    assert r.status_code == 403 and r.json()["code"] == "out_of_scope", r.text
    assert r.json()["field"] == "geometry" and "余杭区" in r.json()["message"]
    # A district given (and true to the location) outside the account's own.
    r = client.post(FH, headers=clerk, json=farmhouse("FH-OUT-2", *yh, district="余杭区"))
    assert r.status_code == 403 and r.json()["code"] == "out_of_scope"
    assert r.json()["field"] == "district"
    assert count(engine) == 0
    # Moving its own record into another district.
    own = client.post(FH, headers=clerk, json=farmhouse("FH-OWN", *interior(engine, "西湖区")))
    assert own.status_code == 201 and own.json()["properties"]["district"] == "西湖区"
    fid = own.json()["id"]
    r = client.patch(
        f"{FH}/{fid}",
        headers={**clerk, "If-Match": f'"{fid}-1"'},
        json={"geometry": {"type": "Point", "coordinates": list(yh)}},
    )
    assert r.status_code == 403 and r.json()["code"] == "out_of_scope" and r.json()["field"] == "geometry"
    r = client.patch(
        f"{FH}/{fid}",
        headers={**clerk, "If-Match": f'"{fid}-1"'},
        json={"geometry": {"type": "Point", "coordinates": list(yh)}, "properties": {"district": "余杭区"}},
    )
    assert r.status_code == 403 and r.json()["field"] == "district"
    got = client.get(f"{FH}/{fid}", headers=clerk).json()
    assert got["meta"]["version"] == 1 and got["properties"]["district"] == "西湖区"


def test_a_point_on_a_boundary_may_carry_either_district(client, engine, clean):
    lon, lat = on_boundary(engine, "西湖区", "余杭区")
    for i, name in enumerate(("西湖区", "余杭区")):
        r = client.post(FH, headers=ADMIN, json=farmhouse(f"FH-EDGE-{i}", lon, lat, district=name))
        assert r.status_code == 201, r.text
        assert r.json()["properties"]["district"] == name
    # A third district far away is not a neighbour here.
    r = client.post(FH, headers=ADMIN, json=farmhouse("FH-EDGE-X", lon, lat, district="淳安县"))
    assert r.status_code == 422 and r.json()["code"] == "district_mismatch"
    assert count(engine) == 2


def test_the_tolerance_is_fifty_metres(engine):
    """Points walked from the 西湖区/余杭区 boundary into 余杭区: 西湖区 fits while PostGIS measures ≤ 50 m to it."""
    lon, lat = on_boundary(engine, "西湖区", "余杭区")
    ylon, ylat = interior(engine, "余杭区")
    seen = set()
    with engine.connect() as conn:
        for t in np.linspace(0.0, 0.05, 26):
            x, y = lon + (ylon - lon) * t, lat + (ylat - lat) * t
            gap = metres_to(engine, x, y, "西湖区")
            if abs(gap - districting.TOLERANCE_M) < 0.5:
                continue  # too close to the limit to call
            fits = districting.fits(conn, shapely.Point(x, y), "西湖区")
            assert fits == (gap <= districting.TOLERANCE_M), (t, gap)
            seen.add(fits)
    assert seen == {True, False}


def test_update_of_the_district_alone_is_checked_against_the_stored_geometry(client, engine, clean):
    r = client.post(FH, headers=ADMIN, json=farmhouse("FH-U", *interior(engine, "西湖区")))
    assert r.status_code == 201 and r.json()["properties"]["district"] == "西湖区"
    fid = r.json()["id"]
    r = client.patch(
        f"{FH}/{fid}", headers={**ADMIN, "If-Match": f'"{fid}-1"'}, json={"properties": {"district": "余杭区"}}
    )
    assert r.status_code == 422 and r.json()["code"] == "district_mismatch" and r.json()["field"] == "district"
    # Moving it: the district follows the geometry.
    r = client.patch(
        f"{FH}/{fid}",
        headers={**ADMIN, "If-Match": f'"{fid}-1"'},
        json={"geometry": {"type": "Point", "coordinates": list(interior(engine, "余杭区"))}},
    )
    assert r.status_code == 200 and r.json()["properties"]["district"] == "余杭区"


def _import(client, headers, features, mode="commit"):
    data = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    return client.post(
        "/api/layers/farmhouses/import",
        params={"mode": mode},
        headers=headers,
        files={"file": ("x.geojson", io.BytesIO(data), "application/geo+json")},
    )


def test_import_refuses_mismatched_districts_and_fills_empty_ones(client, engine, clean, clerk):
    xh, yh = interior(engine, "西湖区"), interior(engine, "余杭区")
    rows = [farmhouse("FH-I-1", *xh), farmhouse("FH-I-2", *yh, district="西湖区"), farmhouse("FH-I-3", *yh)]
    r = _import(client, ADMIN, rows, "dry_run")
    assert r.status_code == 200, r.text
    errors = r.json()["errors"]
    assert [(e["row"], e["code"], e["field"]) for e in errors] == [(2, "district_mismatch", "district")]
    assert "余杭区" in errors[0]["message"]
    r = _import(client, ADMIN, rows)
    assert r.status_code == 422 and r.json()["code"] == "import_rejected"
    assert count(engine) == 0
    r = _import(client, ADMIN, [rows[0], rows[2]])
    assert r.status_code == 201, r.text
    with engine.connect() as conn:
        got = dict(conn.execute(text("SELECT code, district FROM farmhouses")).all())
    assert got == {"FH-I-1": "西湖区", "FH-I-3": "余杭区"}
    # A district account: the row outside its district is out of scope, by the field that put it there.
    r = _import(client, clerk, [farmhouse("FH-I-4", *xh), farmhouse("FH-I-5", *yh)])
    assert r.status_code == 403 and r.json()["code"] == "out_of_scope" and r.json()["field"] == "geometry", r.text
    r = _import(client, clerk, [farmhouse("FH-I-6", *yh, district="余杭区")])
    assert r.status_code == 403 and r.json()["field"] == "district"
    r = _import(client, clerk, [farmhouse("FH-I-7", *xh)], "dry_run")
    assert r.status_code == 200 and r.json()["rejected"] == 0
    assert count(engine) == 2


def test_bulk_load_refuses_mismatched_districts(engine, clean):
    from geo.layer.bulk import copy_features
    from geo.layer.registry import registry

    layer = registry.get("farmhouses")
    xh, yh = interior(engine, "西湖区"), interior(engine, "余杭区")
    geoms = np.array([shapely.Point(*xh), shapely.Point(*yh)], dtype=object)
    with pytest.raises(Invalid) as e, engine.begin() as conn:
        copy_features(
            conn, layer, geoms, {"code": ["B-1", "B-2"], "owner_name": ["甲", "乙"], "district": [None, "西湖区"]}, "t"
        )
    assert e.value.code == "district_mismatch" and e.value.field == "district" and e.value.detail["rows"] == [1]
    assert count(engine) == 0
    with engine.begin() as conn:
        copy_features(conn, layer, geoms, {"code": ["B-1", "B-2"], "owner_name": ["甲", "乙"]}, "t")
    with engine.connect() as conn:
        assert dict(conn.execute(text("SELECT code, district FROM farmhouses")).all()) == {
            "B-1": "西湖区",
            "B-2": "余杭区",
        }
