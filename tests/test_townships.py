"""The townships (乡镇街道) layer ships without data (no open dataset of Hangzhou's township boundaries is on PyPI or
npm; docs/architecture.md, "Reference data"): while it is empty, the API, the map's layer panel and the OGC collection
say how to load it, and the command they name does load it."""

from __future__ import annotations

import json

import pytest
import shapely
from sqlalchemy import text

from etl.cli import main


@pytest.fixture()
def no_townships(engine):
    """The layer as it ships (empty), and as it again is after the test (other tests count on it being empty)."""

    def empty() -> None:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM townships"))

    empty()
    yield
    empty()


def test_the_empty_layer_says_how_to_load_it(client, no_townships):
    layers = {layer["id"]: layer for layer in client.get("/api/layers").json()["layers"]}
    hint = layers["townships"]["empty_hint"]
    assert "chengjian import" in hint and "--layer townships" in hint
    assert layers["districts"]["empty_hint"] is None  # shipped with the code: nothing to say
    panel = {layer["id"]: layer for layer in client.get("/map/layers.json").json()["layers"]}
    assert panel["townships"]["empty_hint"] == hint
    assert hint in client.get("/ogc/collections/townships").json()["description"]
    assert hint not in client.get("/ogc/collections/districts").json()["description"]


def test_the_command_the_hint_names_loads_the_townships(client, engine, no_townships, tmp_path, capsys):
    """Run exactly what the hint says, with a surveying department's kind of file: one township inside 西湖区."""
    with engine.connect() as conn:
        wkb = conn.execute(text("SELECT ST_AsBinary(geom) FROM districts WHERE name = '西湖区'")).scalar_one()
    district = shapely.from_wkb(bytes(wkb))
    inner = shapely.Point(120.10, 30.25).buffer(0.01)  # about 1 km around a point well inside 西湖区
    assert district.contains(inner)
    path = tmp_path / "townships.geojson"
    feature = {
        "type": "Feature",
        "properties": {"code": "330106004", "name": "西溪街道"},
        "geometry": shapely.geometry.mapping(shapely.MultiPolygon([inner])),
    }
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8")

    assert main(["import", str(path), "--layer", "townships"]) == 0, capsys.readouterr()
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT code, name, district FROM townships WHERE deleted_at IS NULL")).all()
    assert [tuple(r) for r in rows] == [("330106004", "西溪街道", "西湖区")]  # the district follows the geometry

    layers = {layer["id"]: layer for layer in client.get("/api/layers").json()["layers"]}
    hint = layers["townships"]["empty_hint"]
    assert hint not in client.get("/ogc/collections/townships").json()["description"]  # no longer empty
    labels = client.get("/map/labels/townships.geojson").json()["features"]
    assert [f["properties"]["name"] for f in labels] == ["西溪街道"]
