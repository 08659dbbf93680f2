"""The Hangzhou demo data set: counts, places, distributions, validity, determinism, CLI.

The module builds the demo three times, the least that shows what it checks: once for every test (``demo``: with
``if_empty`` on the emptied layers), again with ``reset`` and the same seed (the same data), and through the CLI
with another seed (other data). The two rebuilds come last in this file: everything above them reads the first.
"""

from __future__ import annotations

import json
import re

import pytest
import shapely
import sqlalchemy as sa

from etl import names
from etl.demo import WEST_LAKE, DemoError, build_demo, write_layer
from geo.layer.attributes import coerce_column
from geo.layer.registry import registry
from tests import st_world
from tests.conftest import business_tables

N = 2000
SEED = 20261125
SCALE = 0.02  # of the registers' city volumes: their own tests check those seeders at full volume
REVIEWS = round(3_000 * SCALE)  # drawing-review applications, one pin each (tests/test_dr_demo.py checks them)
URBAN = ("上城区", "拱墅区", "西湖区", "滨江区", "萧山区", "余杭区", "临平区", "钱塘区")
CJK = re.compile(r"[\u4e00-\u9fff]")


def _truncate(engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {', '.join(business_tables())}, audit_log RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="module")
def loaded(engine):
    """The module's one demo load (on emptied layers, so ``if_empty`` loads) and its fingerprint right after."""
    _truncate(engine)
    counts = build_demo(farmhouses=N, seed=SEED, if_empty=True, scale=SCALE)
    yield counts, fingerprint(engine)
    _truncate(engine)


@pytest.fixture(scope="module")
def demo(loaded):
    return loaded[0]


@pytest.fixture(scope="module", autouse=True)
def _forget_demo(engine):
    """The last loads of this module leave nothing the ST test modules after it would trip over (operation log,
    case history and experts of reused ids, the demo's accounts)."""
    yield
    st_world.forget_demo(engine)


# The layers the demo fills: every business layer a module's seeder writes (the optional footprints are left empty).
BUSINESS_LAYERS = tuple(lyr.id for lyr in registry.business())
DEMO_LAYERS = tuple(t for t in BUSINESS_LAYERS if t != "farmhouse_footprints")


def test_the_seeders_fill_the_demo_layers(demo):
    assert "skipped" not in demo  # the layers were empty: ``if_empty`` loads
    assert [t for t in BUSINESS_LAYERS if demo.get(t)] == list(DEMO_LAYERS)


def scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


def fingerprint(engine) -> dict[str, str]:
    """md5 per layer of every stored column except the timestamps, rows in id order, geometry as WKB."""
    out = {}
    with engine.connect() as conn:
        for t in DEMO_LAYERS:
            cols = ", ".join(f"coalesce({a}::text, '∅')" for a in registry.get(t).attr_names)
            out[t] = conn.execute(
                sa.text(
                    f"SELECT md5(string_agg(concat_ws('|', id, version, created_by, {cols}, "
                    f"encode(ST_AsBinary(geom), 'hex')), E'\\n' ORDER BY id)) FROM {t}"
                )
            ).scalar_one()
    return out


# -- the module's data set ----------------------------------------------------------


def test_counts(demo, engine):
    db = {t: scalar(engine, f"SELECT count(*) FROM {t}") for t in DEMO_LAYERS}
    assert db == {t: demo[t] for t in DEMO_LAYERS}
    assert db["sites"] == 600 and db["site_fences"] == 600
    assert db["review_projects"] == REVIEWS and db["farmhouses"] == N and db["sewage_plants"] == 400
    assert scalar(engine, "SELECT count(DISTINCT site_id) FROM site_fences") == 600
    assert scalar(engine, "SELECT count(*) FROM site_fences f JOIN sites s ON s.id = f.site_id") == 600
    assert scalar(engine, "SELECT count(*) FROM sewage_plants WHERE kind = '城镇污水处理厂'") == 40
    km = scalar(engine, "SELECT sum(length_m) / 1000 FROM greenways")
    assert abs(km - 500) <= 25
    assert demo["greenway_km"] == pytest.approx(km, abs=0.1)
    with engine.connect() as conn:
        lengths = [r[0] for r in conn.execute(sa.text("SELECT length_m FROM greenways")).all()]
    assert min(lengths) >= 450 and max(lengths) <= 8100  # 0.5–8 km segments


@pytest.mark.parametrize(
    "table", ["sites", "review_projects", "farmhouses", "sewage_plants", "greenways", "site_fences"]
)
def test_inside_own_district_and_outside_west_lake(demo, engine, table):
    outside = scalar(
        engine,
        f"""
        SELECT count(*) FROM {table} t
        WHERE NOT EXISTS (SELECT 1 FROM districts d WHERE d.name = t.district AND ST_Within(t.geom, d.geom))""",
    )
    assert outside == 0
    in_lake = scalar(
        engine,
        f"SELECT count(*) FROM {table} WHERE ST_Intersects(geom, ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326))",
        x0=WEST_LAKE[0],
        y0=WEST_LAKE[1],
        x1=WEST_LAKE[2],
        y1=WEST_LAKE[3],
    )
    assert in_lake == 0


def test_fences_contain_their_site(demo, engine):
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("""
            SELECT count(*) FILTER (WHERE NOT ST_Contains(f.geom, s.geom)),
                   count(*) FILTER (WHERE f.district IS DISTINCT FROM s.district),
                   min(f.area_m2), max(f.area_m2),
                   max(ST_Distance(ST_PointN(ST_ExteriorRing(ST_GeometryN(f.geom, 1)), 1)::geography,
                                   s.geom::geography))
            FROM site_fences f JOIN sites s ON s.id = f.site_id""")
        ).one()
    assert row[0] == 0 and row[1] == 0
    assert 2_000 < row[2] and row[3] < 400 * 400  # roughly 80–400 m across
    assert row[4] < 400


def test_plausible_distributions(demo, engine):
    urban_sites = scalar(engine, "SELECT count(*) FROM sites WHERE district = ANY(:u)", u=list(URBAN))
    assert urban_sites >= 0.75 * 600
    assert (
        scalar(engine, "SELECT count(*) FROM review_projects WHERE district = ANY(:u)", u=list(URBAN)) >= 0.6 * REVIEWS
    )
    assert scalar(engine, "SELECT count(*) FROM farmhouses WHERE district IN ('上城区', '拱墅区', '滨江区')") == 0
    rural = scalar(
        engine,
        "SELECT count(*) FROM farmhouses WHERE district IN "
        "('富阳区', '临安区', '桐庐县', '淳安县', '建德市', '萧山区', '余杭区')",
    )
    assert rural >= 0.85 * N
    # Villages: houses cluster — the median distance to the nearest other house is well under 200 m.
    nearest = scalar(
        engine,
        """
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d) FROM (
            SELECT (SELECT ST_Distance(a.geom::geography, b.geom::geography) FROM farmhouses b
                    WHERE b.id <> a.id ORDER BY a.geom_3857 <-> b.geom_3857 LIMIT 1) AS d
            FROM farmhouses a WHERE a.id % 10 = 0) s""",
    )
    assert nearest < 200
    floors_2_3 = scalar(engine, "SELECT avg((floors IN (2, 3))::int) FROM farmhouses")
    assert floors_2_3 > 0.6
    assert scalar(engine, "SELECT avg((status = '存量')::int) FROM farmhouses") > 0.85
    assert scalar(engine, "SELECT count(DISTINCT status) FROM farmhouses") == 4
    assert scalar(engine, "SELECT avg((status = '在建')::int) FROM sites") > 0.4


def test_dangerous_houses(demo, engine):
    with engine.connect() as conn:
        grades = dict(
            conn.execute(sa.text("SELECT coalesce(danger_grade, '-'), count(*) FROM farmhouses GROUP BY 1")).all()
        )
        bad_gov = conn.execute(
            sa.text("""
            SELECT count(*) FROM farmhouses
            WHERE (danger_grade IN ('B', 'C', 'D')) <> (governance IS NOT NULL)""")
        ).scalar_one()
        null_grade_standing = conn.execute(
            sa.text("SELECT count(*) FROM farmhouses WHERE danger_grade IS NULL AND status IN ('存量', '已竣工')")
        ).scalar_one()
        difficult = conn.execute(sa.text("SELECT avg(difficult_family::int) FROM farmhouses")).scalar_one()
    dangerous = sum(grades.get(g, 0) for g in "BCD")
    assert 0.02 <= dangerous / N <= 0.06
    assert all(grades.get(g, 0) > 0 for g in "BCD")
    assert set(grades) <= {"A", "B", "C", "D", "-"}
    assert demo["dangerous_farmhouses"] == dangerous
    assert bad_gov == 0 and null_grade_standing == 0
    assert 0 < difficult < 0.1


def server_value(attr, v) -> bool:
    """A read-only value, computed by the server: a flag, one of its choices (a status), or a measure — above 0, or
    at least its declared minimum where it declares one (a count of open alarms may be 0)."""
    if v is None:
        return False
    if attr.type == "bool":
        return True
    if attr.choices:
        return v in attr.choices
    return v >= attr.minimum if attr.minimum is not None else v > 0


@pytest.mark.parametrize("table", DEMO_LAYERS)
def test_every_value_passes_the_registry(demo, engine, table):
    layer = registry.get(table)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT {', '.join(layer.attr_names)} FROM {table} ORDER BY id")).all()
        dup = (
            conn.execute(sa.text(f"SELECT count(*) - count(DISTINCT code) FROM {table}")).scalar_one()
            if "code" in layer.attr_names
            else 0
        )
    assert dup == 0
    for j, attr in enumerate(layer.attrs):
        values = [r[j] for r in rows]
        if attr.read_only:
            assert all(server_value(attr, v) for v in values), attr.name
            continue
        _, errors = coerce_column(attr, values)
        assert not errors, (attr.name, next(iter(errors.values())))
        if attr.choices and attr.name != "district":
            assert len({v for v in values if v is not None}) >= 2, f"{table}.{attr.name} never varies"
    assert all(r[layer.attr_names.index("district")] for r in rows)


def test_chinese_names(demo, engine):
    with engine.connect() as conn:
        sites = conn.execute(
            sa.text("SELECT name, construction_unit, supervision_unit, builder, code FROM sites")
        ).all()
        owners = [r[0] for r in conn.execute(sa.text("SELECT owner_name FROM farmhouses")).all()]
        villages = conn.execute(sa.text("SELECT township, village, address FROM farmhouses LIMIT 200")).all()
        greenways = [r[0] for r in conn.execute(sa.text("SELECT name FROM greenways")).all()]
        agencies = {r[0] for r in conn.execute(sa.text("SELECT agency FROM review_projects")).all()} - {None}
        registered = set(
            conn.execute(sa.text("SELECT e.name FROM dr_agencies g JOIN enterprises e USING (uscc)")).scalars()
        )
    for name, contractor, supervisor, builder, code in sites:
        assert CJK.search(name) and re.search(r"(工程|项目)$", name), name
        assert contractor.endswith("有限公司") and supervisor.endswith("有限公司") and builder.endswith("公司")
        assert re.fullmatch(r"33\d{4}-20\d\d-\d{4}", code), code
    assert any(n.endswith("地块商品住宅项目") for n, *_ in sites)
    assert all(2 <= len(o) <= 3 and o[0] in names.SURNAMES and CJK.fullmatch(o[1]) for o in owners)
    assert len(set(owners)) > N / 3
    for township, village, address in villages:
        assert re.search(r"(镇|乡|街道)$", township) and village.endswith("村")
        assert township + village in address
    assert all(re.fullmatch(r".+绿道（.+段）", g) for g in greenways)
    assert agencies <= registered and len(agencies) >= 4  # the review agencies of the enterprise register


def test_audit_entries(demo, engine):
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT layer, (after->>'rows')::int FROM audit_log WHERE actor = 'demo' AND action = 'demo'")
        ).all()
    per_layer = {}
    for layer, n in rows:
        per_layer[layer] = per_layer.get(layer, 0) + n
    assert per_layer == {t: demo[t] for t in DEMO_LAYERS}


def test_if_empty_skips_when_data_exists(demo, engine):
    before = fingerprint(engine)
    audits = scalar(engine, "SELECT count(*) FROM audit_log")
    out = build_demo(farmhouses=100, seed=1, if_empty=True, scale=SCALE)
    assert out["skipped"] is True and "跳过" in out["message"] and out["farmhouses"] == N
    with pytest.raises(DemoError, match="--reset"):
        build_demo(farmhouses=100, seed=1, scale=SCALE)
    assert fingerprint(engine) == before
    assert scalar(engine, "SELECT count(*) FROM audit_log") == audits


def test_rejected_values_stop_the_load(demo, engine):
    pin = [shapely.Point(120.2, 30.3)]
    with engine.connect() as conn:
        with pytest.raises(DemoError, match="invalid_choice"):
            write_layer(conn, "sites", pin, {"code": ["X-1"], "name": ["测试"], "status": ["坏状态"]}, "test")
        with pytest.raises(DemoError, match="outside_hangzhou"):
            write_layer(conn, "sites", [shapely.Point(116.4, 39.9)], {"code": ["X-2"], "name": ["测试"]}, "test")
        with pytest.raises(DemoError, match="code"):
            write_layer(conn, "sites", pin, {"name": ["测试"]}, "test")
        conn.rollback()
    assert scalar(engine, "SELECT count(*) FROM sites WHERE code LIKE 'X-%'") == 0


# -- the rebuilds (they replace the module's data set: last) ---------------------------------


def test_deterministic_per_seed_and_cli(loaded, engine, capsys):
    """``reset`` with the same seed gives the same data (every stored column but the timestamps); the CLI with another
    seed gives other data in every layer, and ``--if-empty`` then leaves it alone."""
    from etl.cli import main

    _, first = loaded
    again = build_demo(farmhouses=N, seed=SEED, reset=True, scale=SCALE)
    assert again["farmhouses"] == N and "skipped" not in again
    assert fingerprint(engine) == first
    assert scalar(engine, "SELECT count(*) FROM audit_log WHERE action = 'reset'") == len(DEMO_LAYERS)
    capsys.readouterr()
    assert main(["demo", "--farmhouses", str(N), "--seed", str(SEED + 1), "--reset", "--scale", str(SCALE)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["farmhouses"] == N and out["sites"] == 600 and out["sewage_plants"] == 400
    assert scalar(engine, "SELECT count(*) FROM farmhouses") == N
    other = fingerprint(engine)
    assert all(first[t] != other[t] for t in DEMO_LAYERS)
    assert main(["demo", "--if-empty"]) == 0
    assert json.loads(capsys.readouterr().out)["skipped"] is True
    assert fingerprint(engine) == other
