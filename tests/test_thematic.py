"""Thematic maps (X-03): declarations refused with a Chinese 422 at their field, the statistic equal to hand-written
SQL, class breaks as mapclassify defines them, the cache invalidated by a write to the source layer, row-level
security (a district account counts its district only), the viewer, the editor and the big screen in Chromium
(the screen at 1920×1080 and 3840×2160 without scrollbars), and the PNG/PDF export."""

from __future__ import annotations

import io
import re
import subprocess
import uuid

import numpy as np
import pytest
from sqlalchemy import text

from layers.thematic import classify
from tests.conftest import ADMIN, TEST_PASSWORD, make_user, running_server

A = "/api/thematic"
DISTRICTS = ("西湖区", "余杭区")
STATUSES = ("在建", "逾期未报", "逾期未报", "停工")
TAG = uuid.uuid4().hex[:6]


def slug(name: str) -> str:
    return f"t-{name}-{TAG}"


def decl(**over) -> dict:
    base = {
        "slug": slug("base"),
        "title": "测试专题图",
        "source": "sites",
        "statistic": "count",
        "attribute": None,
        "filter": None,
        "grouping": "district",
        "classification": "quantiles",
        "classes": 3,
        "colors": "reds",
        "rendering": "choropleth",
        "published": True,
    }
    return base | over


@pytest.fixture(scope="module")
def sites(engine):
    """Sites of this module in two districts (other modules' sites stay: every check counts the whole table)."""
    rows = []
    with engine.begin() as conn:
        for d in DISTRICTS:
            x, y = conn.execute(
                text(
                    "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts WHERE name = :n) s"
                ),
                {"n": d},
            ).one()
            for i, status in enumerate(STATUSES):
                rows.append(
                    conn.execute(
                        text(
                            "INSERT INTO sites (geom, code, name, district, status, floor_area_m2) VALUES "
                            "(ST_SetSRID(ST_MakePoint(:x, :y), 4326), :c, :n, :d, :s, :a) RETURNING id"
                        ),
                        {
                            "x": x + i * 0.003,
                            "y": y,
                            "c": f"TH-{TAG}-{d[:1]}{i}".upper(),
                            "n": f"专题图测试工地{i}",
                            "d": d,
                            "s": status,
                            "a": 1000.0 * (i + 1),
                        },
                    ).scalar_one()
                )
    yield rows
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM sites WHERE id = ANY(:ids)"), {"ids": rows})
        conn.execute(text("DELETE FROM thematic_maps WHERE slug LIKE :p"), {"p": f"t-%-{TAG}"})


def create(client, **over) -> dict:
    r = client.post(A, json=decl(**over), headers=ADMIN)
    assert r.status_code == 201, r.text
    return r.json()


def by_district(answer: dict) -> dict:
    return {g["name"]: g["value"] for g in answer["groups"]}


def map_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM thematic_maps")).scalar_one()


# -- declarations ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "over, field, code",
    [
        ({"source": "no_such_layer"}, "source", "unknown_source"),
        ({"source": "districts"}, "source", "unknown_source"),  # reference data, not a source
        ({"statistic": "sum", "attribute": "name"}, "attribute", "attribute_not_numeric"),
        ({"statistic": "avg", "attribute": "nope"}, "attribute", "unknown_attribute"),
        ({"filter": {"attribute": "nope", "value": "x"}}, "filter.attribute", "unknown_attribute"),
        ({"filter": {"attribute": "status", "value": "不存在的状态"}}, "filter.value", "invalid_filter_value"),
        ({"filter": {"attribute": "floor_area_m2", "value": "大"}}, "filter.value", "invalid_filter_value"),
        ({"statistic": "ratio"}, "filter", "ratio_needs_filter"),
        ({"classes": 12}, "classes", "invalid_classes"),
        ({"classes": 1}, "classes", "invalid_classes"),
        ({"grouping": "grid", "cell_size_m": 50}, "cell_size_m", "invalid_cell_size"),
        ({"rendering": "heatmap", "source": "site_fences"}, "rendering", "heatmap_needs_points"),
        (
            {"rendering": "heatmap", "source": "farmhouses", "filter": {"attribute": "floors", "value": 2}},
            "filter",
            "heatmap_filter",
        ),
        ({"rendering": "category", "category": "name"}, "category", "invalid_category"),
        ({"colors": "rainbow"}, "colors", "invalid_colors"),
        ({"colors": ["#ff0000"]}, "colors", "invalid_colors"),
        ({"slug": "Bad Slug"}, "slug", "invalid_slug"),
        ({"slug": "edit"}, "slug", "invalid_slug"),
    ],
)
def test_bad_declarations_are_refused_at_their_field(client, engine, over, field, code):
    before = map_count(engine)
    r = client.post(A, json=decl(**({"slug": slug("bad")} | over)), headers=ADMIN)
    assert r.status_code == 422, r.text
    body = r.json()
    assert (body["code"], body["field"]) == (code, field)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"])  # a Chinese sentence
    assert map_count(engine) == before  # nothing stored
    assert client.post(f"{A}/preview", json=decl(**over), headers=ADMIN).status_code == 422


def test_writes_need_the_permission_and_are_audited(client, engine, sites):
    viewer = make_user(f"th-viewer-{TAG}", ["leader"])
    assert client.post(A, json=decl(slug=slug("denied")), headers=viewer).status_code == 403
    made = create(client, slug=slug("crud"))
    assert made["version"] == 1 and made["url"] == f"/thematic/{slug('crud')}"
    assert client.post(A, json=decl(slug=slug("crud")), headers=ADMIN).status_code == 409
    stale = client.put(f"{A}/{slug('crud')}", json=decl(slug=slug("crud"), title="改", version=7), headers=ADMIN)
    assert stale.status_code == 409 and stale.json()["code"] == "stale_version"
    ok = client.put(f"{A}/{slug('crud')}", json=decl(slug=slug("crud"), title="改过的标题", version=1), headers=ADMIN)
    assert ok.status_code == 200 and ok.json()["version"] == 2
    assert client.delete(f"{A}/{slug('crud')}", headers=viewer).status_code == 403
    assert client.delete(f"{A}/{slug('crud')}", headers=ADMIN).status_code == 204
    assert client.get(f"{A}/{slug('crud')}", headers=ADMIN).status_code == 404
    with engine.connect() as conn:
        actions = (
            conn.execute(
                text("SELECT action FROM audit_log WHERE layer = 'thematic_maps' AND feature_id = :i ORDER BY id"),
                {"i": made["id"]},
            )
            .scalars()
            .all()
        )
    assert actions == ["create", "update", "delete"]


def test_unpublished_maps_are_for_editors_only(client, sites):
    create(client, slug=slug("draft"), published=False)
    leader = make_user(f"th-leader-{TAG}", ["leader"])
    assert client.get(f"{A}/{slug('draft')}/data", headers=leader).status_code == 404
    assert slug("draft") not in [m["slug"] for m in client.get(A, headers=leader).json()["data"]]
    assert client.get(f"{A}/{slug('draft')}/data", headers=ADMIN).status_code == 200
    anonymous = client.get(f"{A}/{slug('draft')}/data")  # the sites layer needs site.view
    assert anonymous.status_code == 404


# -- the statistic -----------------------------------------------------------------------------------------------


def test_count_by_district_equals_sql(client, engine, sites):
    create(client, slug=slug("overdue"), filter={"attribute": "status", "value": "逾期未报"})
    answer = client.get(f"{A}/{slug('overdue')}/data", headers=ADMIN).json()
    with engine.connect() as conn:
        expected = dict(
            conn.execute(
                text(
                    "SELECT district, count(*)::float FROM sites WHERE deleted_at IS NULL AND status = '逾期未报' "
                    "GROUP BY district"
                )
            ).all()
        )
    assert by_district(answer) == expected
    assert answer["headline"]["total"] == sum(expected.values())
    assert answer["headline"]["max"]["value"] == max(expected.values())
    # the group geometries are the districts' polygons, coloured by class
    features = {f["properties"]["name"]: f for f in answer["geojson"]["features"]}
    assert set(DISTRICTS) <= set(features)
    assert features[DISTRICTS[0]]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert all(f["properties"]["color"].startswith("#") for f in features.values())
    assert answer["breaks"] == pytest.approx(
        classify.breaks([v for k, v in expected.items() if k in features], "quantiles", 3)
    )
    assert sum(item["count"] for item in answer["legend"]) == len(features)


def test_average_and_ratio_equal_sql(client, engine, sites):
    create(client, slug=slug("avg"), statistic="avg", attribute="floor_area_m2", rendering="graduated")
    create(client, slug=slug("ratio"), statistic="ratio", filter={"attribute": "status", "value": "停工"})
    avg = by_district(client.get(f"{A}/{slug('avg')}/data", headers=ADMIN).json())
    ratio = by_district(client.get(f"{A}/{slug('ratio')}/data", headers=ADMIN).json())
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT district, avg(floor_area_m2), (count(*) FILTER (WHERE status = '停工'))::float / count(*) "
                "FROM sites WHERE deleted_at IS NULL GROUP BY district"
            )
        ).all()
    for district, a, r in rows:
        if a is None:
            assert avg[district] is None
        else:
            assert avg[district] == pytest.approx(float(a), rel=1e-6)
        assert ratio[district] == pytest.approx(r, abs=5e-7)  # the answer keeps six decimals (engine._round)


def test_square_grid_cells_are_those_of_st_squaregrid(client, engine, sites):
    create(client, slug=slug("grid"), grouping="grid", cell_shape="square", cell_size_m=5000)
    answer = client.get(f"{A}/{slug('grid')}/data", headers=ADMIN).json()
    with engine.connect() as conn:
        expected = dict(
            conn.execute(
                text(
                    "SELECT g.i || ':' || g.j, count(*)::float FROM sites s "
                    "JOIN ST_SquareGrid(5000, (SELECT ST_Transform(ST_SetSRID(ST_Extent(geom), 4326), 3857) FROM sites)) g "
                    "ON ST_Intersects(g.geom, s.geom_3857) AND NOT ST_Touches(g.geom, s.geom_3857) "
                    "WHERE s.deleted_at IS NULL GROUP BY 1"
                )
            ).all()
        )
    assert {g["key"]: g["value"] for g in answer["groups"]} == expected
    assert len(answer["geojson"]["features"]) == len(expected)


def test_hexagon_grid_counts_every_site(client, engine, sites):
    create(client, slug=slug("hex"), grouping="grid", cell_shape="hexagon", cell_size_m=3000, rendering="graduated")
    answer = client.get(f"{A}/{slug('hex')}/data", headers=ADMIN).json()
    with engine.connect() as conn:
        inside = conn.execute(
            text(
                "SELECT count(*) FROM sites s WHERE deleted_at IS NULL AND ST_Intersects(s.geom, "
                "(SELECT ST_SetSRID(ST_Extent(geom), 4326) FROM districts))"
            )
        ).scalar_one()
    # a point on the edge of two hexagons counts in both: at least every site, and all of ours
    assert answer["headline"]["records"] >= inside >= len(sites)
    assert all(
        f["geometry"]["type"] == "Polygon" and len(f["geometry"]["coordinates"][0]) == 7
        for f in answer["geojson"]["features"]
    )


def test_township_grouping_answers_with_a_hint_while_townships_are_empty(client, engine, sites):
    with engine.connect() as conn:
        townships = conn.execute(text("SELECT count(*) FROM townships WHERE deleted_at IS NULL")).scalar_one()
    create(client, slug=slug("township"), grouping="township")
    r = client.get(f"{A}/{slug('township')}/data", headers=ADMIN)
    assert r.status_code == 200
    if townships == 0:
        assert r.json()["groups"] == [] and "乡镇街道边界尚未导入" in r.json()["hint"]
    else:
        assert r.json()["hint"] is None or r.json()["groups"] == []


def test_township_grouping_joins_the_positions_to_the_townships(client, engine, sites):
    """A township drawn around this module's first sites: its group counts exactly the sites inside it."""
    with engine.begin() as conn:
        tid = conn.execute(
            text(
                "INSERT INTO townships (geom, code, name, district) "
                "SELECT ST_Multi(ST_Expand(geom, 0.005)), '330106999', '专题图测试街道', :d FROM sites WHERE id = :s "
                "RETURNING id"
            ),
            {"d": DISTRICTS[0], "s": sites[0]},
        ).scalar_one()
    try:
        create(client, slug=slug("township-real"), grouping="township", rendering="graduated")
        answer = client.get(f"{A}/{slug('township-real')}/data", headers=ADMIN).json()
        with engine.connect() as conn:
            expected = dict(
                conn.execute(
                    text(
                        "SELECT t.name, count(*)::float FROM sites s JOIN townships t ON ST_Intersects(t.geom, s.geom) "
                        "WHERE s.deleted_at IS NULL AND t.deleted_at IS NULL GROUP BY t.id, t.name"
                    )
                ).all()
            )
        assert by_district(answer) == expected and expected["专题图测试街道"] >= 2
        assert answer["hint"] is None
        feature = next(f for f in answer["geojson"]["features"] if f["properties"]["name"] == "专题图测试街道")
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM townships WHERE id = :i"), {"i": tid})


def test_category_map_counts_each_status(client, engine, sites):
    create(client, slug=slug("status"), rendering="category", category="status")
    answer = client.get(f"{A}/{slug('status')}/data", headers=ADMIN).json()
    with engine.connect() as conn:
        expected = dict(
            conn.execute(text("SELECT status, count(*) FROM sites WHERE deleted_at IS NULL GROUP BY 1")).all()
        )
    legend = {i["value"]: i for i in answer["legend"]}
    for status, n in expected.items():
        if status in legend:
            assert legend[status]["count"] == n
    assert legend["逾期未报"]["color"] == "#dc2626"  # the layer's own colour for it
    ours = next(g for g in answer["groups"] if g["name"] == DISTRICTS[0])
    assert ours["categories"]["逾期未报"] >= 2 and ours["dominant"] in legend


@pytest.fixture()
def register_kind(engine):
    """A register-like record kind (as the enterprise register declares one): a table with a district column."""
    from geo import records
    from geo.layer.registry import Attr

    kind = f"thm_reg_{TAG}"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {kind} (id bigint PRIMARY KEY, name text, district text, score numeric)"))
        conn.execute(text(f"GRANT SELECT ON {kind} TO chengjian_app"))
        conn.execute(
            text(
                f"INSERT INTO {kind} VALUES (1, '甲', :a, 80), (2, '乙', :a, 91.5), (3, '丙', :b, 60), (4, '丁', :b, NULL)"
            ),
            {"a": DISTRICTS[0], "b": DISTRICTS[1]},
        )
    records.register_kind(
        records.RecordKind(
            kind=kind,
            title="测试登记",
            table=kind,
            key="id",
            attrs=(Attr("name", "名称"), Attr("district", "区县"), Attr("score", "信用分", "float")),
            module="thematic",
        )
    )
    yield kind
    records._kinds.pop(kind, None)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {kind}"))


def test_a_register_is_a_source_by_district_and_never_cached(client, register_kind):
    body = decl(source=register_kind, statistic="avg", attribute="score", classification="equal_interval")
    first = client.post(f"{A}/preview", json=body, headers=ADMIN).json()
    assert by_district(first) == {DISTRICTS[0]: pytest.approx(85.75), DISTRICTS[1]: pytest.approx(60.0)}
    assert first["headline"]["total"] == pytest.approx((80 + 91.5 + 60) / 3)
    assert client.post(f"{A}/preview", json=body, headers=ADMIN).json()["cached"] is False  # no change trigger
    bad = client.post(f"{A}/preview", json=body | {"statistic": "sum", "attribute": "name"}, headers=ADMIN)
    assert (bad.status_code, bad.json()["field"]) == (422, "attribute")
    grid = client.post(f"{A}/preview", json=body | {"grouping": "grid", "cell_size_m": 1000}, headers=ADMIN)
    assert (grid.status_code, grid.json()["code"]) == (422, "source_not_spatial")


# -- classification ------------------------------------------------------------------------------------------------


def test_class_breaks_follow_mapclassify():
    y = np.array([1, 2, 3, 10, 11, 12, 30, 31, 32], dtype=float)
    assert classify.breaks(y, "natural_breaks", 3) == [3, 12, 32]
    assert classify.breaks(np.arange(1, 10), "quantiles", 3) == pytest.approx([11 / 3, 19 / 3, 9])
    assert classify.breaks(np.arange(0, 11), "equal_interval", 5) == pytest.approx([2, 4, 6, 8, 10])
    assert classify.breaks([5, 5, 5], "quantiles", 4) == [5]  # fewer distinct values than classes
    assert classify.class_of(12, [3, 12, 32]) == 1 and classify.class_of(12.5, [3, 12, 32]) == 2
    sample = np.random.default_rng(7).lognormal(3, 1, 60)
    # natural breaks are optimal: no other split into 4 classes has a smaller within-class sum of squares
    fj = classify.breaks(sample, "natural_breaks", 4)
    assert _ssd(sample, fj) <= min(
        _ssd(sample, classify.breaks(sample, "quantiles", 4)),
        _ssd(sample, classify.breaks(sample, "equal_interval", 4)),
    )


def _ssd(y, bounds) -> float:
    idx = np.searchsorted(bounds, y, side="left")
    return float(sum(((y[idx == c] - y[idx == c].mean()) ** 2).sum() for c in np.unique(idx)))


# -- the cache and row-level security ------------------------------------------------------------------------------


def test_cache_is_invalidated_by_a_write_to_the_source(client, engine, sites):
    create(client, slug=slug("cache"), filter={"attribute": "status", "value": "停工"})
    first = client.get(f"{A}/{slug('cache')}/data", headers=ADMIN).json()
    again = client.get(f"{A}/{slug('cache')}/data", headers=ADMIN).json()
    assert (first["cached"], again["cached"]) == (False, True)
    assert again["ms"] < 300  # the cached path: a generation lookup, no aggregate
    assert again["groups"] == first["groups"]
    with engine.begin() as conn:
        conn.execute(text("UPDATE sites SET status = '停工' WHERE id = :i"), {"i": sites[0]})
    after = client.get(f"{A}/{slug('cache')}/data", headers=ADMIN).json()
    assert after["cached"] is False
    assert by_district(after)[DISTRICTS[0]] == by_district(first)[DISTRICTS[0]] + 1
    with engine.begin() as conn:
        conn.execute(text("UPDATE sites SET status = :s WHERE id = :i"), {"s": STATUSES[0], "i": sites[0]})


def test_a_district_account_counts_its_district_only(client, engine, sites):
    create(client, slug=slug("rls"))
    staff = make_user(f"th-staff-{TAG}", ["district_staff"], district=DISTRICTS[1])
    answer = client.get(f"{A}/{slug('rls')}/data", headers=staff).json()
    with engine.connect() as conn:
        n = conn.execute(
            text("SELECT count(*) FROM sites WHERE deleted_at IS NULL AND district = :d"), {"d": DISTRICTS[1]}
        ).scalar_one()
    assert [g["name"] for g in answer["groups"]] == [DISTRICTS[1]]
    assert answer["headline"]["total"] == n
    city = client.get(f"{A}/{slug('rls')}/data", headers=ADMIN).json()
    assert len(city["groups"]) >= 2 and city["headline"]["total"] > n  # the city's answer is not the district's


def _counts(engine, table: str) -> dict:
    with engine.connect() as conn:
        kept = dict(
            conn.execute(
                text("SELECT district, n FROM thematic_district_counts WHERE layer_table = :t AND n <> 0"), {"t": table}
            ).all()
        )
        truth = dict(
            conn.execute(
                text(f"SELECT coalesce(district, ''), count(*) FROM {table} WHERE deleted_at IS NULL GROUP BY 1")
            ).all()
        )
    return {"kept": kept, "truth": truth}


def test_district_counts_follow_every_kind_of_write(engine):
    """``thematic_district_counts`` (thm_0002) stays equal to ``GROUP BY district`` of the live rows through
    inserts (one and many), updates that move a row, soft-delete and restore it, deletes, rows without a district,
    and TRUNCATE — on a table of its own with the triggers installed, and on the layers installed by the migration."""
    table = f"thematic_counts_{TAG}"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (id bigint PRIMARY KEY, district text, deleted_at timestamptz)"))
        conn.execute(text("SELECT thematic_counts_install(:t)"), {"t": table})
    steps = [
        f"INSERT INTO {table} VALUES (1, '西湖区', NULL)",
        f"INSERT INTO {table} SELECT i, CASE WHEN i % 3 = 0 THEN '余杭区' WHEN i % 3 = 1 THEN '西湖区' END, NULL "
        "FROM generate_series(2, 500) i",
        f"UPDATE {table} SET district = '滨江区' WHERE id BETWEEN 2 AND 40",
        f"UPDATE {table} SET deleted_at = now() WHERE id % 7 = 0",
        f"UPDATE {table} SET deleted_at = NULL WHERE id % 14 = 0",
        f"UPDATE {table} SET district = district WHERE id < 100",
        f"DELETE FROM {table} WHERE id % 5 = 0",
        f"UPDATE {table} SET district = NULL WHERE id BETWEEN 41 AND 50",
    ]
    try:
        for sql in steps:
            with engine.begin() as conn:
                conn.execute(text(sql))
            c = _counts(engine, table)
            assert c["kept"] == c["truth"], sql
        with engine.begin() as conn:  # a rolled-back write leaves the counts as they were
            before = _counts(engine, table)["kept"]
            conn.execute(text(f"DELETE FROM {table}"))
            conn.rollback()
        assert _counts(engine, table)["kept"] == before
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {table}"))
        assert _counts(engine, table) == {"kept": {}, "truth": {}}
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
            conn.execute(text("DELETE FROM thematic_district_counts WHERE layer_table = :t"), {"t": table})
    for layer in ("sites", "farmhouses"):
        c = _counts(engine, layer)
        assert c["kept"] == c["truth"], layer


def test_city_count_by_district_is_read_from_the_kept_counts_right_after_a_write(client, engine, sites):
    """The city's count by district comes from the kept counts (``precomputed``), equal to the rows right after a
    write that the cache has not seen; a district account's, a filtered one's are computed from the rows."""
    create(client, slug=slug("kept"))
    first = client.get(f"{A}/{slug('kept')}/data", headers=ADMIN).json()
    assert first["precomputed"] is True
    with engine.begin() as conn:
        conn.execute(text("UPDATE sites SET deleted_at = now() WHERE id = :i"), {"i": sites[1]})
    try:
        after = client.get(f"{A}/{slug('kept')}/data", headers=ADMIN).json()
        with engine.connect() as conn:
            truth = dict(
                conn.execute(
                    text("SELECT district, count(*)::float FROM sites WHERE deleted_at IS NULL GROUP BY district")
                ).all()
            )
        assert (after["cached"], after["precomputed"]) == (False, True)
        assert by_district(after) == truth and by_district(after)[DISTRICTS[0]] == by_district(first)[DISTRICTS[0]] - 1
        assert after["headline"]["total"] == sum(truth.values())
        assert {f["properties"]["name"] for f in after["geojson"]["features"]} >= set(DISTRICTS)
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE sites SET deleted_at = NULL WHERE id = :i"), {"i": sites[1]})
    staff = make_user(f"th-staff-{TAG}", ["district_staff"], district=DISTRICTS[1])
    assert client.get(f"{A}/{slug('kept')}/data", headers=staff).json()["precomputed"] is False
    create(client, slug=slug("kept-filter"), filter={"attribute": "status", "value": "停工"})
    assert client.get(f"{A}/{slug('kept-filter')}/data", headers=ADMIN).json()["precomputed"] is False


def test_district_account_count_by_district_is_read_from_its_kept_counts(client, engine):
    """A district account's count of farmhouses by district (read policy: the district check alone) comes from the
    kept counts of its own district (thm_0003), equal to the rows it sees right after a write; it never sees
    another district's count. Sites (per-record grants) are still counted from the rows (see the test above)."""
    district = DISTRICTS[1]
    create(client, slug=slug("kept-fh"), source="farmhouses")
    staff = make_user(f"th-fh-{TAG}", ["district_staff"], district=district)
    with engine.begin() as conn:
        x, y = conn.execute(
            text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts WHERE name = :n) s"),
            {"n": district},
        ).one()
        new = (
            conn.execute(
                text(
                    "INSERT INTO farmhouses (geom, code, district) SELECT ST_SetSRID(ST_MakePoint(:x, :y), 4326), "
                    "'THFH' || :t || i, :d FROM generate_series(1, 3) i RETURNING id"
                ),
                {"x": x, "y": y, "t": TAG.upper(), "d": district},
            )
            .scalars()
            .all()
        )
    try:
        answer = client.get(f"{A}/{slug('kept-fh')}/data", headers=staff).json()
        with engine.connect() as conn:
            truth = conn.execute(
                text("SELECT count(*)::float FROM farmhouses WHERE deleted_at IS NULL AND district = :d"),
                {"d": district},
            ).scalar_one()
        assert answer["precomputed"] is True
        assert by_district(answer) == {district: truth} and answer["headline"]["total"] == truth
        with engine.begin() as conn:
            conn.execute(text("UPDATE farmhouses SET deleted_at = now() WHERE id = :i"), {"i": new[0]})
        after = client.get(f"{A}/{slug('kept-fh')}/data", headers=staff).json()
        assert (after["cached"], after["precomputed"]) == (False, True)
        assert by_district(after) == {district: truth - 1}
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM farmhouses WHERE id = ANY(:ids)"), {"ids": new})


# -- pages in Chromium ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(app, sites):
    with running_server(app) as base:
        yield base


@pytest.fixture(scope="module")
def farmhouses(engine):
    """D-grade farmhouses of this module around the centre of the first district (the heatmap's points)."""
    with engine.begin() as conn:
        ids = (
            conn.execute(
                text(
                    "INSERT INTO farmhouses (geom, code, district, danger_grade) "
                    "SELECT ST_SetSRID(ST_MakePoint(ST_X(c) + (i % 6) * 0.004, ST_Y(c) + (i / 6) * 0.004), 4326), "
                    "       'THF-' || :tag || '-' || i, :d, CASE WHEN i % 5 = 0 THEN 'C' ELSE 'D' END "
                    "FROM (SELECT ST_PointOnSurface(geom) c FROM districts WHERE name = :d) s, generate_series(1, 30) i "
                    "RETURNING id"
                ),
                {"tag": TAG.upper(), "d": DISTRICTS[0]},
            )
            .scalars()
            .all()
        )
    yield ids
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM farmhouses WHERE id = ANY(:ids)"), {"ids": ids})


@pytest.fixture(scope="module")
def screen_maps(app, sites, farmhouses):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        create(c, slug=slug("screen-a"), title="大屏测试一", filter={"attribute": "status", "value": "逾期未报"})
        create(c, slug=slug("screen-b"), title="大屏测试二", rendering="category", category="status")
        create(
            c,
            slug=slug("heat"),
            title="危房热力测试",
            source="farmhouses",
            rendering="heatmap",
            filter={"attribute": "danger_grade", "value": "D"},
        )
    return [slug("screen-a"), slug("screen-b"), slug("heat")]


def signed_in(browser, server, width, height):
    user = f"th-boss-{TAG}"
    make_user(user, ["admin"])
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    r = context.request.post(f"{server}/api/auth/login", data={"username": user, "password": TEST_PASSWORD})
    assert r.ok, r.text()
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("pageerror", lambda e: page.errors.append(f"pageerror: {e}"))
    return context, page


def test_viewer_shows_title_legend_and_figures(browser, server, screen_maps, tmp_path):
    context, page = signed_in(browser, server, 1366, 800)
    try:
        for s in screen_maps:
            page.goto(f"{server}/thematic/{s}")
            page.wait_for_function("document.body.dataset.ready === 'true'", timeout=60_000)
            assert not page.evaluate("document.body.dataset.error || ''")
            assert page.locator("#legend li, #legend .heat-ramp").count() >= 1
            assert "合计" in page.locator("#headline").inner_text()
            assert page.locator("canvas.maplibregl-canvas").count() == 1
            page.screenshot(path=str(tmp_path / f"{s}.png"))
        assert page.locator("#title").inner_text() == "危房热力测试"
        assert page.evaluate("window.thematicMap.getLayer('g-heat') !== undefined")
        # the heatmap draws the layer's own vector tiles: D-grade points (or cells counting them) are loaded
        loaded = page.evaluate(
            "window.thematicMap.querySourceFeatures('points', {sourceLayer: 'farmhouses'})"
            ".map(f => f.properties.cluster ? (f.properties.count_D || 0) : (f.properties.danger_grade === 'D' ? 1 : 0))"
            ".reduce((a, b) => a + b, 0)"
        )
        assert loaded >= 24
        assert page.errors == []
    finally:
        context.close()


@pytest.mark.parametrize("width, height", [(1920, 1080), (3840, 2160)])
def test_big_screen_fills_the_screen_and_cycles(browser, server, screen_maps, width, height, tmp_path):
    context, page = signed_in(browser, server, width, height)
    try:
        page.goto(f"{server}/screen/map?interval=5&maps={screen_maps[0]},{screen_maps[1]}")
        page.wait_for_function("document.body.dataset.ready === 'true'", timeout=60_000)
        assert page.evaluate("document.body.dataset.current") == screen_maps[0]
        dims = page.evaluate(
            "({sw: document.documentElement.scrollWidth, sh: document.documentElement.scrollHeight,"
            " bw: document.body.scrollWidth, bh: document.body.scrollHeight, w: innerWidth, h: innerHeight})"
        )
        assert dims["sw"] == dims["bw"] == dims["w"] == width
        assert dims["sh"] == dims["bh"] == dims["h"] == height
        assert "杭州市城乡建设委员会" in page.inner_text(".head")
        assert page.inner_text("#title") == "大屏测试一"
        assert "年" in page.inner_text("#date")
        assert page.locator("#legend li").count() >= 1 and page.locator("#headline .fig").count() == 4
        page.wait_for_function(f"document.body.dataset.current === '{screen_maps[1]}'", timeout=30_000)
        assert page.inner_text("#title") == "大屏测试二"
        page.screenshot(path=str(tmp_path / f"screen-{width}.png"))
        # the panel's text scales with the screen: 4K is twice as large as full HD
        assert page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)") == pytest.approx(
            height / 54, abs=0.5
        )
        assert page.errors == []
    finally:
        context.close()


def test_editor_shows_mistakes_at_their_field_and_saves(browser, server, engine, sites, tmp_path):
    from playwright.sync_api import expect

    context, page = signed_in(browser, server, 1500, 900)
    try:
        page.goto(f"{server}/thematic/edit")
        page.wait_for_function("document.body.dataset.ready === 'true'", timeout=60_000)
        expect(page.locator("#login")).to_be_hidden()  # signed in: the form, not the sign-in box
        expect(page.locator("[data-field=category]")).to_be_hidden()  # only a category map asks for it
        page.select_option("#f-rendering", "category")
        expect(page.locator("[data-field=category]")).to_be_visible()
        page.select_option("#f-rendering", "choropleth")
        page.fill("#f-title", "编辑器测试")
        page.fill("#f-slug", slug("editor"))
        page.select_option("#f-source", "sites")
        page.fill("#f-classes", "12")
        expect(page.locator("[data-field=classes] .msg")).to_contain_text("分级数须为 2–9", timeout=15_000)
        page.click("#save")
        expect(page.locator("#form-error")).to_contain_text("分级数")
        assert map_count_slug(engine, slug("editor")) == 0
        page.fill("#f-classes", "4")
        page.wait_for_function("Number(document.body.dataset.previewGroups) >= 2", timeout=30_000)
        page.screenshot(path=str(tmp_path / "editor.png"))
        page.click("#save")
        page.wait_for_function(f"document.body.dataset.saved === '{slug('editor')}'", timeout=15_000)
        assert map_count_slug(engine, slug("editor")) == 1
        assert [e for e in page.errors if "status of 422" not in e] == []
    finally:
        context.close()


def map_count_slug(engine, s: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM thematic_maps WHERE slug = :s"), {"s": s}).scalar_one()


# -- the demo ------------------------------------------------------------------------------------------------------


def test_demo_declares_its_maps_and_skips_missing_sources(engine, caplog):
    from geo import modules
    from layers.thematic.declaration import find_source
    from layers.thematic.demo import MAPS, seed_thematic_maps

    others = [m for declared in modules.collect("THEMATIC_DEMO_MAPS") for m in declared]  # other modules' maps
    maps = [*MAPS, *others]
    slugs = [m["slug"] for m in maps]
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(text("DELETE FROM thematic_maps WHERE slug = ANY(:s)"), {"s": slugs})
            with caplog.at_level("WARNING", logger="layers.thematic.demo"):
                out = seed_thematic_maps(conn, None)
            made = set(
                conn.execute(text("SELECT slug FROM thematic_maps WHERE slug = ANY(:s)"), {"s": slugs}).scalars()
            )
            sources = {m["source"]: find_source(conn, m["source"]) for m in maps}
        finally:
            trans.rollback()
    assert {"sites-by-status", "sites-overdue", "farmhouse-danger-heat"} <= made
    assert {m["slug"] for m in others if sources[m["source"]] is not None} <= made
    assert out["thematic_maps"] == len(made)
    for m in maps:
        if sources[m["source"]] is None:
            assert m["slug"] not in made
        if m["slug"] not in made:
            assert any(m["slug"] in r.getMessage() for r in caplog.records), m["slug"]


# -- export --------------------------------------------------------------------------------------------------------


def test_export_png_and_pdf(server, screen_maps, tmp_path):
    import httpx
    from PIL import Image

    r = httpx.get(f"{server}{A}/{screen_maps[0]}/export.png", headers=ADMIN, timeout=120)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    (tmp_path / "map.png").write_bytes(r.content)
    img = Image.open(io.BytesIO(r.content)).convert("RGB")
    assert img.size == (1600, 1000)
    colours = img.getcolors(maxcolors=1_000_000)
    assert len(colours) > 50  # a map, a legend and text, not a blank page
    assert max(n for n, _ in colours) < 0.9 * 1600 * 1000
    r = httpx.get(f"{server}{A}/{screen_maps[0]}/export.pdf", headers=ADMIN, timeout=120)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    pdf = tmp_path / "map.pdf"
    pdf.write_bytes(r.content)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Pages:\s+1$", info, re.M), info
    subprocess.run(["pdftoppm", "-png", "-r", "48", "-singlefile", str(pdf), str(tmp_path / "page")], check=True)
    page = Image.open(tmp_path / "page.png").convert("RGB")
    w, h = page.size
    drawn = page.crop((0, int(h * 0.1), int(w * 0.7), h))  # the map's part of the sheet, below the title bar
    pixels = drawn.getcolors(maxcolors=1_000_000)
    white = sum(n for n, c in pixels if min(c) > 245)
    assert white < 0.8 * drawn.size[0] * drawn.size[1], "the map is missing from the PDF"
    words = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "大屏测试一" in words and "制图日期" in words
    assert httpx.get(f"{server}{A}/{screen_maps[0]}/export.gif", headers=ADMIN).status_code == 404


def test_the_app_role_only_reads_the_kept_district_counts(engine):
    """Only the trigger function (SECURITY DEFINER) writes ``thematic_district_counts``: the app role may read it,
    and neither write it nor empty it (TRUNCATE would ignore row-level security)."""
    from geo.db import APP_ROLE as role

    with engine.connect() as conn:
        rights = {
            right: conn.execute(
                text("SELECT has_table_privilege(:r, 'thematic_district_counts', :p)"), {"r": role, "p": right}
            ).scalar()
            for right in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
        }
    assert rights == {"SELECT": True, "INSERT": False, "UPDATE": False, "DELETE": False, "TRUNCATE": False}
