"""The layer registry: declarations, and that the schema the migrations built matches them."""

import pytest
from sqlalchemy import text

from geo.layer.registry import ATTR_TYPES, Attr, Layer, Registry, registry
from geo.migrations.layer_table import search_document
from tests.conftest import PUBLIC

EXPECTED = {
    "districts",
    "townships",
    "sites",
    "site_fences",
    "review_projects",
    "farmhouses",
    "farmhouse_footprints",
    "sewage_plants",
    "greenways",
}

PG_TYPE = {
    "text": "text",
    "int": "bigint",
    "float": "double precision",
    "date": "date",
    "datetime": "timestamp with time zone",
    "bool": "boolean",
}


def test_layers_declared():
    assert {layer.id for layer in registry.all()} == EXPECTED
    for layer in registry.all():
        assert layer.title and layer.group, layer.id
        for a in layer.attrs:
            assert a.type in ATTR_TYPES
            assert any("\u4e00" <= ch <= "\u9fff" for ch in a.label), f"{layer.id}.{a.name} needs a Chinese label"


def test_schema_matches_declarations(engine):
    """Every declared attribute is a column of the declared type; geometry has its SRID and a GiST index."""
    with engine.connect() as conn:
        for layer in registry.all():
            cols = dict(
                conn.execute(
                    text("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = :t"),
                    {"t": layer.table},
                ).all()
            )
            for a in layer.attrs:
                assert cols.get(a.name) == PG_TYPE[a.type], f"{layer.id}.{a.name}"
            geo = conn.execute(
                text("SELECT f_geometry_column, srid, type FROM geometry_columns WHERE f_table_name = :t ORDER BY 1"),
                {"t": layer.table},
            ).all()
            assert [(g[0], g[1], g[2].lower()) for g in geo] == [
                ("geom", 4326, layer.geometry.lower()),
                ("geom_3857", 3857, layer.geometry.lower()),
            ]
            idx = (
                conn.execute(text("SELECT indexdef FROM pg_indexes WHERE tablename = :t"), {"t": layer.table})
                .scalars()
                .all()
            )
            assert any("USING gist (geom_3857)" in d for d in idx), layer.id
            if layer.searchable:
                # The trigram index is on the very expression full-text search uses: the planner can pick it.
                conn.execute(text("SET enable_seqscan = off"))
                plan = (
                    conn.execute(
                        text(
                            f"EXPLAIN SELECT id FROM {layer.table} WHERE ({search_document([a.name for a in layer.searchable])}) "
                            "ILIKE '%杭州市测试%'"
                        )
                    )
                    .scalars()
                    .all()
                )
                conn.execute(text("RESET enable_seqscan"))
                assert any(f"{layer.table}_search_idx" in line for line in plan), (layer.id, plan)


def test_api_lists_layers_with_schema_and_style(client):
    from tests.conftest import LEADER

    r = client.get("/api/layers", headers=LEADER)
    assert r.status_code == 200
    layers = {lyr["id"]: lyr for lyr in r.json()["layers"]}
    assert set(layers) == EXPECTED
    sites = layers["sites"]
    assert sites["geometry_type"] == "Point"
    assert sites["properties"]["properties"]["name"]["title"] == "项目名称"
    assert "name" in sites["properties"]["required"]
    assert sites["style"]["type"] == "circle" and sites["style"]["color"][0] == "match"
    assert {"value": "在建", "color": "#2563eb"} in sites["style"]["legend"]
    assert layers["greenways"]["style"]["type"] == "line"
    assert layers["districts"]["style"]["type"] == "fill"


def test_public_sees_only_public_layers(client):
    r = client.get("/api/layers")
    ids = {lyr["id"] for lyr in r.json()["layers"]}
    assert ids == {layer.id for layer in registry.all() if layer.view is None}
    assert "farmhouses" not in ids
    assert client.get("/api/layers/farmhouses/features").status_code == 401
    r = client.get("/api/layers/farmhouses/features", headers=PUBLIC)
    assert r.status_code == 403
    assert r.json()["code"] == "forbidden"


def test_declaration_rules():
    with pytest.raises(ValueError):
        Layer(id="x", title="测试", module="m", group="g", geometry="Blob", attrs=())
    with pytest.raises(ValueError):
        Layer(id="x", title="测试", module="m", group="g", geometry="Point", attrs=(Attr("a", "甲"), Attr("a", "乙")))
    with pytest.raises(ValueError):
        Layer(id="x", title="测试", module="m", group="g", geometry="Point", attrs=(Attr("a", "甲"),), popup=("b",))
    with pytest.raises(ValueError):
        Attr("a", "甲", type="money")
    reg = Registry()
    reg._loaded = True
    layer = Layer(id="x", title="测试", module="m", group="g", geometry="Point", attrs=(Attr("a", "甲"),))
    reg.register(layer)
    with pytest.raises(ValueError):
        reg.register(layer)
