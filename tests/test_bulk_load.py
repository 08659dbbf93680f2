"""A large load into a layer keeps its readers answering with the old data until it commits (issue #11 §1).

The load runs on one connection and stays uncommitted while other connections read the same layer: a count, the
features list over a bounding box, a full-text search and a tile. Every reader sets ``lock_timeout``: a load that
took a stronger lock than an INSERT's (a DROP INDEX to rebuild the indexes afterwards) makes the read fail with
``LockNotAvailable`` instead of waiting. Real PostGIS, both load paths: the schema owner's direct COPY and the app
role's staged INSERT under row-level security.
"""

from __future__ import annotations

import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from sqlalchemy import text

from geo import scope as scopes
from geo.db import get_engine
from geo.layer import bulk, store
from geo.layer.attributes import coerce_column
from geo.layer.registry import registry
from tests.test_tiles import tile_centre, tile_of
from tiles import service

FARM = registry.get("farmhouses")
CENTRE = tile_centre(120.15, 30.28, 14)  # the middle of a z14 tile in 西湖区 / 拱墅区


def rows(prefix: str, n: int, seed: int) -> tuple[np.ndarray, dict[str, list]]:
    """``n`` farmhouses within ~300 m of CENTRE (all in its z14 tile), codes ``<prefix>-<i>``, checked like an import."""
    rng = np.random.default_rng(seed)
    geoms = shapely.points(CENTRE[0] + rng.uniform(-0.003, 0.003, n), CENTRE[1] + rng.uniform(-0.003, 0.003, n))
    raw = {"code": [f"{prefix}-{i:05d}" for i in range(n)], "owner_name": [f"{prefix}户主{i}" for i in range(n)]}
    columns = {}
    for name, values in raw.items():
        typed, errors = coerce_column(FARM.attr(name), values)
        assert not errors
        columns[name] = typed
    return np.asarray(geoms, dtype=object), columns


def read_everything(conn) -> dict:
    """What a reader of the layer sees, each read refused after 2 s of waiting for a lock."""
    conn.execute(text("SET lock_timeout = '2s'"))
    x0, y0 = CENTRE[0] - 0.02, CENTRE[1] - 0.02
    bbox = store.Query(bbox=(x0, y0, x0 + 0.04, y0 + 0.04), limit=None)
    listed = store.list_features(conn, FARM, bbox)
    searched = store.list_features(conn, FARM, store.Query(q="OLD", limit=None))
    z, x, y = 14, *tile_of(*CENTRE, 14)[1:]
    cur = conn.connection.driver_connection.cursor()
    blob, _ = service.render(cur, [FARM], z, x, y)
    tile = mapbox_vector_tile.decode(blob).get(FARM.id, {"features": []})["features"]
    return {
        "count": conn.execute(text("SELECT count(*) FROM farmhouses WHERE deleted_at IS NULL")).scalar(),
        "listed": sorted(f["properties"]["code"] for f in listed),
        "searched": len(searched),
        "tile": sorted(f["properties"]["code"] for f in tile),
    }


@pytest.fixture
def old_data(engine, clean, monkeypatch):
    """Three committed farmhouses; loads of two rows or more count as large."""
    geoms, columns = rows("OLD", 3, seed=1)
    with engine.begin() as conn:
        bulk.copy_features(conn, FARM, geoms, columns, "test-admin", action="load")
    monkeypatch.setattr(bulk, "BULK_MIN_ROWS", 2)
    return ["OLD-00000", "OLD-00001", "OLD-00002"]


def check_readers_during(engine, load_conn, old: list[str], scoped: bool = False) -> None:
    geoms, columns = rows("NEW", 200, seed=2)
    with load_conn.begin() as tx:
        if scoped:
            scopes.apply(load_conn, scopes.SYSTEM)
        done = bulk.copy_features(load_conn, FARM, geoms, columns, "test-admin", action="load")
        assert done["rows"] == 200
        with engine.connect() as reader:
            seen = read_everything(reader)
        tx.rollback()
    assert seen == {"count": 3, "listed": old, "searched": 3, "tile": old}


def test_owner_load_does_not_block_readers(engine, old_data):
    """The CLI's path (schema owner, direct COPY): readers are not blocked and see only the committed rows."""
    with engine.connect() as conn:
        check_readers_during(engine, conn, old_data)
    with engine.connect() as conn:  # the rolled-back load left nothing
        assert read_everything(conn)["count"] == 3


def test_app_role_load_does_not_block_readers(engine, old_data):
    """The HTTP import's path (app role under row-level security, staged INSERT): the same."""
    with get_engine().connect() as conn:
        check_readers_during(engine, conn, old_data, scoped=True)


def test_large_load_commits_every_row_in_file_order(engine, old_data):
    """Both paths store every row with ids in file order, the district from the geometry and one audit entry."""
    geoms, columns = rows("NEW", 50, seed=3)
    with engine.begin() as conn:
        owner = bulk.copy_features(conn, FARM, geoms, columns, "test-admin", action="load")
    geoms2, columns2 = rows("APP", 50, seed=4)
    with get_engine().begin() as conn:
        scopes.apply(conn, scopes.SYSTEM)
        app = bulk.copy_features(conn, FARM, geoms2, columns2, "test-admin", action="load")
    with engine.connect() as conn:
        for done, prefix, g in ((owner, "NEW", geoms), (app, "APP", geoms2)):
            assert done["rows"] == 50 and done["last_id"] - done["first_id"] == 49
            got = conn.execute(
                text(
                    "SELECT code, ST_X(geom), ST_Y(geom), district, created_by FROM farmhouses "
                    "WHERE id BETWEEN :a AND :b ORDER BY id"
                ),
                {"a": done["first_id"], "b": done["last_id"]},
            ).all()
            assert [r[0] for r in got] == [f"{prefix}-{i:05d}" for i in range(50)]
            assert np.allclose([(r[1], r[2]) for r in got], shapely.get_coordinates(g))
            assert {r[3] for r in got} <= {"西湖区", "拱墅区"} and None not in {r[3] for r in got}
            assert {r[4] for r in got} == {"test-admin"}
        audits = conn.execute(
            text("SELECT after FROM audit_log WHERE layer = 'farmhouses' AND action = 'load' ORDER BY id")
        ).scalars()
        assert [a["rows"] for a in audits][-2:] == [50, 50]


def test_a_failing_row_leaves_nothing(engine, old_data):
    """A duplicate code in a large direct load fails the whole load: nothing of it is stored."""
    geoms, columns = rows("NEW", 20, seed=5)
    columns["code"][7] = "OLD-00001"
    with pytest.raises(Exception, match="farmhouses_code_live_idx"), engine.begin() as conn:
        bulk.copy_features(conn, FARM, geoms, columns, "test-admin", action="load")
    with engine.connect() as conn:
        assert read_everything(conn)["count"] == 3


def test_csv_fast_reader_reads_what_gdal_reads(tmp_path):
    """Plain UTF-8 CSV is read by Arrow (several times faster than GDAL's CSV driver on a million rows), cell for cell
    as GDAL reads it: a BOM, Chinese headers, quoted commas and line breaks, empty cells; other files go to GDAL."""
    import pyogrio

    from geo.layer.importer import _read_csv_fast, read_file

    text_ = (
        "农房编号,户主姓名,经度,纬度,地址,层数\n"
        'FH-1,张三,120.15,30.28,"龙坞村, 12 号",2\n'
        'FH-2,,120.16,30.29,"上城埭\n东 3 号",\n'
        'FH-3,"李""四""",120.17,30.27,,3\n'
    )
    path = tmp_path / "农房.csv"
    path.write_bytes(text_.encode("utf-8-sig"))
    fast = _read_csv_fast(str(path))
    assert fast is not None
    gdal = pyogrio.read_dataframe(str(path), use_arrow=True)
    assert list(fast.columns) == list(gdal.columns)
    assert fast.astype(object).values.tolist() == gdal.astype(object).values.tolist()
    assert fast["地址"].tolist()[1] == "上城埭\n东 3 号" and fast["户主姓名"].tolist()[1] == ""
    src = read_file(str(path), None, FARM)
    assert list(src.columns["code"]) == ["FH-1", "FH-2", "FH-3"] and src.geometry_columns == {
        "lon": "经度",
        "lat": "纬度",
    }

    semi = tmp_path / "semi.csv"
    semi.write_text("code;lon;lat\nFH-1;120.15;30.28\n", encoding="utf-8")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("code,lon,lat\nFH-1,120.15,30.28,extra\n", encoding="utf-8")
    assert _read_csv_fast(str(semi)) is None and _read_csv_fast(str(ragged)) is None
    assert list(read_file(str(semi), None, FARM).columns["code"]) == ["FH-1"]  # GDAL finds the separator
