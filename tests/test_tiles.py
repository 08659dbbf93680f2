"""Vector tiles: contents against PostGIS, aggregation, the size bound, simplification, caching, permissions."""

from __future__ import annotations

import asyncio
import math

import mapbox_vector_tile
from sqlalchemy import text

from geo.layer.registry import registry
from geo.settings import get_settings
from tests.conftest import ADMIN, LEADER, PUBLIC
from tiles import service, sql
from tiles.cache import tile_cache
from tiles.generations import shared_reads

MVT = "application/vnd.mapbox-vector-tile"


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def tile_centre(lon: float, lat: float, z: int) -> tuple[float, float]:
    """The lon/lat of the centre of the z tile holding (lon, lat): data placed there stays inside one tile."""
    _, x, y = tile_of(lon, lat, z)
    n = 2**z
    lat_c = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + 0.5) / n))))
    return (x + 0.5) / n * 360 - 180, lat_c


def fetch(client, layers: str, z: int, x: int, y: int, headers=ADMIN, **kw):
    return client.get(f"/tiles/{layers}/{z}/{x}/{y}.mvt", headers={**headers, **kw.pop("extra", {})}, **kw)


def decode(content: bytes) -> dict:
    return mapbox_vector_tile.decode(content)


def features(client, layer: str, z: int, x: int, y: int, headers=ADMIN) -> list[dict]:
    r = fetch(client, layer, z, x, y, headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == MVT
    return decode(r.content).get(layer, {}).get("features", [])


def sql_count(engine, table: str, z: int, x: int, y: int, where: str = "true", margin: bool = False) -> int:
    env = f"ST_TileEnvelope({z}, {x}, {y}{', margin => 0.015625' if margin else ''})"
    test = f"ST_Intersects(geom_3857, {env})" if margin else f"geom_3857 && {env}"
    with engine.connect() as conn:
        return conn.execute(
            text(f"SELECT count(*) FROM {table} WHERE deleted_at IS NULL AND {test} AND {where}")
        ).scalar()


def add_farmhouses(engine, n: int, lon: float, lat: float, size_deg: float, seed: float = 0.3) -> None:
    """``n`` farmhouses spread over a square (plain SQL: the bulk path the triggers must follow as well)."""
    with engine.begin() as conn:
        conn.execute(text("SELECT setseed(:s)"), {"s": seed})
        conn.execute(
            text("""
            INSERT INTO farmhouses (code, owner_name, district, township, village, floors, structure, status,
                                    danger_grade, geom, created_by, updated_by)
            SELECT 'NF-T' || i, '户主' || i, '余杭区', '良渚街道', '测试村', 1 + i % 3, '砖混', '存量',
                   (ARRAY['A', 'B', 'C', 'D', NULL])[1 + i % 5],
                   ST_SetSRID(ST_MakePoint(:lon - :d / 2 + random() * :d, :lat - :d / 2 + random() * :d), 4326),
                   'test', 'test'
            FROM generate_series(1, :n) i"""),
            {"n": n, "lon": lon, "lat": lat, "d": size_deg},
        )


def site(code: str, lon: float, lat: float, **props) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {"code": code, "name": f"瓦片测试项目{code}", **props},
    }


# -- contents -------------------------------------------------------------------------------------------------


def test_point_tile_matches_postgis_with_attributes(client, engine, clean):
    lon, lat = tile_centre(120.16, 30.29, 14)
    ids = []
    for i in range(5):
        r = client.post(
            "/api/layers/sites/features",
            headers=ADMIN,
            json=site(
                f"TS-{i}",
                lon + 0.001 * i,
                lat,
                status="在建",
                construction_unit="杭州市第一建筑工程有限公司",
                start_date=f"2026-03-0{i + 1}",
            ),
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    client.post("/api/layers/sites/features", headers=ADMIN, json=site("TS-far", 119.5, 29.8))  # elsewhere
    z, x, y = tile_of(lon, lat, 14)
    feats = features(client, "sites", z, x, y)
    assert len(feats) == sql_count(engine, "sites", z, x, y) == 5
    by_id = {f["properties"]["id"]: f for f in feats}
    assert set(by_id) == set(ids)
    props = by_id[ids[2]]["properties"]
    assert by_id[ids[2]]["id"] == ids[2]  # also the MVT feature id
    assert props["name"] == "瓦片测试项目TS-2" and props["code"] == "TS-2"
    assert props["construction_unit"] == "杭州市第一建筑工程有限公司"
    assert props["status"] == "在建" and props["district"] == "拱墅区"
    assert props["start_date"] == "2026-03-03"  # dates as ISO strings
    layer = registry.get("sites")
    assert set(props) <= {"id", *layer.popup, layer.label, layer.style.color_by}
    # Only the popup, label and colour attributes travel (no permit number, no investment).
    assert "permit_no" not in props and "investment_wan" not in props


def test_composite_tile_has_one_layer_per_source(client, engine, clean):
    lon, lat = 120.16, 30.29  # inside 拱墅区
    client.post("/api/layers/sites/features", headers=ADMIN, json=site("TC-1", lon, lat))
    client.post(
        "/api/layers/sewage_plants/features",
        headers=ADMIN,
        json={
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [lon + 0.002, lat]},
            "properties": {"code": "WS-1", "name": "测试污水厂", "kind": "城镇污水处理厂"},
        },
    )
    z, x, y = tile_of(lon, lat, 12)
    r = fetch(client, "districts,sites,sewage_plants", z, x, y)
    assert r.status_code == 200
    tile = decode(r.content)
    assert list(tile) == ["districts", "sites", "sewage_plants"]
    assert len(tile["districts"]["features"]) == sql_count(engine, "districts", z, x, y, margin=True)
    assert len(tile["sites"]["features"]) == sql_count(engine, "sites", z, x, y) == 1
    assert tile["sewage_plants"]["features"][0]["properties"]["kind"] == "城镇污水处理厂"
    # The composite is exactly the single tiles one after another.
    singles = b"".join(fetch(client, name, z, x, y).content for name in ("districts", "sites", "sewage_plants"))
    assert r.content == singles


def test_every_layer_serves_tiles_and_has_the_change_trigger(client, engine):
    z, x, y = tile_of(120.16, 30.29, 12)
    with engine.connect() as conn:
        for layer in registry.all():
            assert fetch(client, layer.id, z, x, y).status_code == 200, layer.id
            trig = conn.execute(
                text("SELECT count(*) FROM pg_trigger WHERE tgrelid = CAST(:t AS regclass) AND tgname = :n"),
                {"t": layer.table, "n": f"{layer.table}_layer_changed"},
            )
            assert trig.scalar() == 1, f"{layer.table}: install_change_trigger in its migration"
            if layer.cluster_maxzoom is not None:
                assert service.has_cells(conn.connection.cursor(), layer), f"{layer.id}: install_tile_cells"


# -- aggregation ----------------------------------------------------------------------------------------------


def cluster_totals(feats: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in feats:
        p = f["properties"]
        assert p["cluster"] == 1 and "id" not in p
        assert p["count"] == p["count_B"] + p["count_C"] + p["count_D"] + p["count_other"]
        for k in ("count", "count_B", "count_C", "count_D", "count_other"):
            out[k] = out.get(k, 0) + p[k]
    return out


def test_low_zoom_aggregates_points_with_counts_by_category(client, engine, clean):
    add_farmhouses(engine, 3000, 120.0, 30.33, 0.3)
    layer = registry.get("farmhouses")
    assert layer.cluster_maxzoom == 14
    for z in (0, 8, 11, 13):
        z, x, y = tile_of(120.0, 30.33, z)
        feats = features(client, "farmhouses", z, x, y)
        totals = cluster_totals(feats)
        assert totals["count"] == sql_count(engine, "farmhouses", z, x, y), z
        for g in "BCD":
            assert totals[f"count_{g}"] == sql_count(engine, "farmhouses", z, x, y, f"danger_grade = '{g}'"), (z, g)
        assert len(feats) <= sql.GRID**2
    # The summary the triggers keep gives what aggregating the points themselves gives (cells vs grid).
    z, x, y = tile_of(120.0, 30.33, 11)
    from_cells, _ = service.with_cursor(lambda cur: service.render(cur, [layer], z, x, y))
    grid = (sql.Part(layer, "grid"),)
    from_points = service.with_cursor(lambda cur: service._run(cur, grid, z, x, y))[1][0]

    def cells(data):
        return sorted(
            (f["properties"]["count"], f["properties"]["count_B"], tuple(f["geometry"]["coordinates"]))
            for f in decode(data)["farmhouses"]["features"]
        )

    assert cells(from_cells) == cells(from_points)
    # From cluster_maxzoom on, single houses with their popup.
    z, x, y = tile_of(120.0, 30.33, 14)
    feats = features(client, "farmhouses", z, x, y)
    assert len(feats) == sql_count(engine, "farmhouses", z, x, y) > 0
    assert all("cluster" not in f["properties"] and f["properties"]["village"] == "测试村" for f in feats)


def test_no_tile_exceeds_the_size_bound(client, engine, clean):
    """A dense village: 12,000 houses on 700 m x 700 m; the densest tile of every zoom stays under 500 KB."""
    lon, lat = tile_centre(120.05, 30.35, 14)
    add_farmhouses(engine, 12_000, lon, lat, 0.007)
    limit = get_settings().tile_max_bytes
    assert limit == 500_000
    for z in range(0, 19):
        z, x, y = tile_of(lon, lat, z)
        r = fetch(client, "farmhouses", z, x, y)
        assert r.status_code == 200
        assert len(r.content) <= limit, (z, len(r.content))
        if z == 14:  # 12,000 single houses would be ~1 MB: served aggregated on the finer guard grid instead
            feats = decode(r.content)["farmhouses"]["features"]
            assert all(f["properties"].get("cluster") == 1 for f in feats)
            assert len(feats) > sql.GRID**2
            assert cluster_totals(feats)["count"] == sql_count(engine, "farmhouses", z, x, y) == 12_000


# -- simplification -------------------------------------------------------------------------------------------


def vertices(feats: list[dict]) -> int:
    def count(coords):
        if coords and isinstance(coords[0], (int, float)):
            return 1
        return sum(count(c) for c in coords)

    return sum(count(f["geometry"]["coordinates"]) for f in feats)


def test_lines_and_polygons_are_simplified_per_zoom(client, engine, clean):
    # Districts (reference data, ~1,000 vertices each) at z6: all 13, each still a polygon, with far fewer vertices.
    z, x, y = tile_of(120.0, 30.0, 6)
    feats = features(client, "districts", z, x, y)
    assert len(feats) == 13
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in feats)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT sum(ST_NPoints(geom)) FROM districts")).scalar()
    assert vertices(feats) < stored / 2
    # A detailed fence (2,000 vertices zigzagging 4 m around a 200 m circle): few vertices at z11, all at z15.
    lon, lat = tile_centre(120.16, 30.29, 15)
    r = client.post("/api/layers/sites/features", headers=ADMIN, json=site("TF-1", lon, lat))
    ring = [
        [
            lon + (0.002 + 0.00004 * (k % 2)) * math.cos(2 * math.pi * k / 2000),
            lat + (0.0017 + 0.00004 * (k % 2)) * math.sin(2 * math.pi * k / 2000),
        ]
        for k in range(2000)
    ]
    r = client.post(
        "/api/layers/site_fences/features",
        headers=ADMIN,
        json={
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [ring + [ring[0]]]},
            "properties": {"site_id": r.json()["id"], "name": "测试围栏"},
        },
    )
    assert r.status_code == 201, r.text
    low = vertices(features(client, "site_fences", *tile_of(lon, lat, 11)))
    high = vertices(features(client, "site_fences", *tile_of(lon, lat, 15)))
    assert 4 <= low < 400 < 1900 < high


# -- caching and invalidation ---------------------------------------------------------------------------------


def test_strong_etag_and_304(client, clean):
    z, x, y = tile_of(120.16, 30.29, 10)
    r = fetch(client, "districts", z, x, y)
    etag = r.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert "no-cache" in r.headers["Cache-Control"]
    hits = tile_cache().hits
    r2 = fetch(client, "districts", z, x, y, extra={"If-None-Match": etag})
    assert r2.status_code == 304 and r2.content == b"" and r2.headers["ETag"] == etag
    assert tile_cache().hits == hits + 1
    r3 = fetch(client, "districts", z, x, y, extra={"If-None-Match": '"something-else"'})
    assert r3.status_code == 200 and r3.content == r.content


def test_writes_show_on_the_next_fetch(client, engine, clean):
    lon, lat = tile_centre(120.16, 30.29, 15)
    z, x, y = tile_of(lon, lat, 15)
    assert features(client, "sites", z, x, y) == []
    r = client.post("/api/layers/sites/features", headers=ADMIN, json=site("TI-1", lon, lat, status="在建"))
    fid = r.json()["id"]
    feats = features(client, "sites", z, x, y)
    assert [f["properties"]["status"] for f in feats] == ["在建"]
    etag = fetch(client, "sites", z, x, y).headers["ETag"]

    r = client.patch(
        f"/api/layers/sites/features/{fid}",
        headers={**ADMIN, "If-Match": f'"{fid}-1"'},
        json={"properties": {"status": "停工"}},
    )
    assert r.status_code == 200
    r = fetch(client, "sites", z, x, y, extra={"If-None-Match": etag})
    assert r.status_code == 200 and r.headers["ETag"] != etag
    assert decode(r.content)["sites"]["features"][0]["properties"]["status"] == "停工"

    with engine.begin() as conn:  # a direct SQL write, behind the API's back
        conn.execute(text("UPDATE sites SET name = '直接修改的名称' WHERE id = :i"), {"i": fid})
    assert features(client, "sites", z, x, y)[0]["properties"]["name"] == "直接修改的名称"

    assert client.delete(f"/api/layers/sites/features/{fid}?version=2", headers=ADMIN).status_code == 204
    assert features(client, "sites", z, x, y) == []


def test_generation_reads_are_exact_and_shared(engine):
    """A request sees every commit made before it asked; concurrent requests share one read."""

    async def scenario():
        in_flight = asyncio.ensure_future(shared_reads.current())
        await asyncio.sleep(0)
        with engine.begin() as conn:  # commits while that read may be in flight
            conn.execute(text("UPDATE districts SET name = name WHERE code = '330102'"))
            gen = conn.execute(text("SELECT gen FROM layer_changes WHERE layer = 'districts'")).scalar()
        await in_flight
        assert (await shared_reads.current())["districts"][0] == gen
        reads = shared_reads.reads
        many = await asyncio.gather(*(shared_reads.current() for _ in range(50)))
        assert shared_reads.reads - reads <= 2 and all(m["districts"][0] == gen for m in many)

    asyncio.run(scenario())


def test_aggregates_follow_writes(client, engine, clean):
    add_farmhouses(engine, 200, 120.0, 30.33, 0.05)
    z, x, y = tile_of(120.0, 30.33, 10)
    before = cluster_totals(features(client, "farmhouses", z, x, y))
    r = client.post(
        "/api/layers/farmhouses/features",
        headers=ADMIN,
        json={
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [120.0, 30.33]},
            "properties": {"code": "NF-NEW", "danger_grade": "D"},
        },
    )
    assert r.status_code == 201, r.text
    after = cluster_totals(features(client, "farmhouses", z, x, y))
    assert after["count"] == before["count"] + 1 and after["count_D"] == before["count_D"] + 1
    with engine.begin() as conn:
        conn.execute(text("UPDATE farmhouses SET danger_grade = 'B' WHERE danger_grade = 'D'"))
        conn.execute(text("UPDATE farmhouses SET deleted_at = now() WHERE code IN ('NF-T1', 'NF-T2')"))
    now = cluster_totals(features(client, "farmhouses", z, x, y))
    assert now["count"] == after["count"] - 2 and now["count_D"] == 0
    assert now["count_B"] == sql_count(engine, "farmhouses", z, x, y, "danger_grade = 'B'")
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE farmhouses CASCADE"))
    assert features(client, "farmhouses", z, x, y) == []


# -- permissions and errors -----------------------------------------------------------------------------------


def test_hidden_layers_are_forbidden_not_empty(client):
    z, x, y = tile_of(120.16, 30.29, 12)
    for path in ("sites", "districts,sites", "farmhouses"):
        r = fetch(client, path, z, x, y, PUBLIC)
        assert r.status_code == 403 and r.json()["code"] == "forbidden", path
        assert "图层" in r.json()["message"]
    assert fetch(client, "districts", z, x, y, PUBLIC).status_code == 200
    assert client.get(f"/tiles/sites/{z}/{x}/{y}.mvt").status_code == 401  # anonymous: sign in first
    assert fetch(client, "sites", z, x, y, LEADER).status_code == 200


def test_bad_requests(client):
    r = fetch(client, "nope", 1, 0, 0)
    assert r.status_code == 404 and r.json()["code"] == "layer_not_found"
    assert fetch(client, "districts,nope", 1, 0, 0).status_code == 404
    assert fetch(client, "districts,districts", 1, 0, 0).status_code == 400
    for z, x, y, field in ((23, 0, 0, "z"), (3, 8, 0, "x"), (3, 0, 8, "y"), ("a", 0, 0, "z"), (3, "-1", 0, "x")):
        r = fetch(client, "districts", z, x, y)
        assert r.status_code == 400, (z, x, y)
        body = r.json()
        assert body["field"] == field and body["code"] in ("tile_out_of_range", "invalid_tile")
        assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"])


# -- TileJSON -------------------------------------------------------------------------------------------------


def test_tilejson(client):
    r = client.get("/tiles/farmhouses.json", headers=LEADER)
    assert r.status_code == 200
    tj = r.json()
    assert tj["tilejson"] == "3.0.0" and tj["name"] == "农房"
    assert tj["tiles"] == ["http://testserver/tiles/farmhouses/{z}/{x}/{y}.mvt"]
    assert tj["minzoom"] == 0 and tj["maxzoom"] == 22
    w, s, e, n = tj["bounds"]
    assert 118 < w < e < 121 and 29 < s < n < 31
    assert w <= tj["center"][0] <= e and s <= tj["center"][1] <= n
    (vl,) = tj["vector_layers"]
    assert vl["id"] == "farmhouses" and vl["minzoom"] == 0 and vl["maxzoom"] == 22
    assert vl["fields"]["owner_name"] == "户主姓名" and vl["fields"]["danger_grade"] == "危险等级"
    assert {"id", "cluster", "count", "count_B", "count_C", "count_D", "count_other"} <= set(vl["fields"])

    tj = client.get("/tiles/townships.json").json()
    assert tj["minzoom"] == 9 and tj["vector_layers"][0]["minzoom"] == 9
    assert "cluster" not in tj["vector_layers"][0]["fields"]
    assert client.get("/tiles/farmhouses.json", headers=PUBLIC).status_code == 403
    assert client.get("/tiles/nope.json").status_code == 404
