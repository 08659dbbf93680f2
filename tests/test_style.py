"""The map's server side: the MapLibre style from the registry, the page's layer config, label glyphs and
points, static files, search, counts and districts."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from geo.layer.registry import registry
from tests.conftest import ADMIN, LEADER, PUBLIC

ROOT = Path(__file__).resolve().parent.parent
VALIDATOR = ROOT / "webmap" / "tools" / "maplibre-gl-style-spec" / "gl-style-validate.mjs"
PUBLIC_LAYERS = {"districts", "townships", "greenways"}
ROLES = {"main", "outline", "cluster", "cluster-count", "label"}


def style_for(client, headers=None) -> dict:
    r = client.get("/map/style.json", headers=headers or {})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-cache"
    return r.json()


def chinese(s: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in s)


def check_structure(style: dict) -> None:
    assert style["version"] == 8
    assert "{fontstack}" in style["glyphs"] and "{range}" in style["glyphs"]
    assert style["glyphs"].startswith("http://testserver/map/glyphs/")
    ids = [lyr["id"] for lyr in style["layers"]]
    assert len(ids) == len(set(ids)), "layer ids are unique"
    assert style["layers"][0]["type"] == "background"
    for lyr in style["layers"][1:]:
        assert lyr["source"] in style["sources"], lyr["id"]
        source = style["sources"][lyr["source"]]
        if source["type"] == "vector":
            assert lyr["source-layer"] == lyr["source"], "the MVT layer is named after the registry layer"
        meta = lyr["metadata"]
        layer = registry.get(meta["chengjian:layer"])
        assert layer is not None and meta["chengjian:role"] in ROLES, lyr["id"]
        assert meta["chengjian:group"] == layer.group and meta["chengjian:title"] == layer.title
        assert chinese(meta["chengjian:title"]) and chinese(meta["chengjian:group"])
    for sid, source in style["sources"].items():
        if source["type"] == "vector":
            assert source["tiles"] == [f"http://testserver/tiles/{sid}/{{z}}/{{x}}/{{y}}.mvt"]
            layer = registry.get(sid)
            assert source["minzoom"] == layer.minzoom and source["maxzoom"] <= layer.maxzoom
        else:
            assert source["type"] == "geojson" and sid.endswith("-labels")
            assert source["data"] == f"http://testserver/map/labels/{sid.removesuffix('-labels')}.geojson"


def test_public_style_has_only_public_layers(client):
    style = style_for(client)
    check_structure(style)
    vector = {sid for sid, s in style["sources"].items() if s["type"] == "vector"}
    assert vector == PUBLIC_LAYERS
    assert {lyr["metadata"]["chengjian:layer"] for lyr in style["layers"][1:]} == PUBLIC_LAYERS


def test_style_follows_the_registry(client):
    style = style_for(client, LEADER)
    check_structure(style)
    layers = registry.all()
    assert {sid for sid, s in style["sources"].items() if s["type"] == "vector"} == {lyr.id for lyr in layers}
    mains = [lyr for lyr in style["layers"] if lyr.get("metadata", {}).get("chengjian:role") == "main"]
    # Legend and drawing order follow `order`; every layer is drawn as its geometry says.
    assert [m["id"] for m in mains] == [lyr.id for lyr in layers]
    assert [m["metadata"]["chengjian:order"] for m in mains] == sorted(lyr.order for lyr in layers)
    kinds = {m["id"]: m["type"] for m in mains}
    assert kinds["sites"] == "circle" and kinds["greenways"] == "line" and kinds["site_fences"] == "fill"
    ids = [lyr["id"] for lyr in style["layers"]]
    assert "site_fences-outline" in ids and "districts-outline" in ids
    # Labels lie above every shape; district and township names on top.
    roles = [lyr.get("metadata", {}).get("chengjian:role") for lyr in style["layers"]]
    first_label = roles.index("label")
    assert all(r == "label" for r in roles[first_label:])
    assert ids[-2:] == ["districts-label", "townships-label"]
    by_id = {lyr["id"]: lyr for lyr in style["layers"]}
    assert by_id["farmhouses-label"]["layout"]["text-field"] == ["to-string", ["coalesce", ["get", "code"], ""]]
    assert "farmhouse_footprints-label" not in by_id  # no label attribute
    assert by_id["districts-label"]["source"] == "districts-labels"


def test_style_colours_and_legend(client):
    style = style_for(client, LEADER)
    by_id = {lyr["id"]: lyr for lyr in style["layers"]}
    sites = registry.get("sites")
    assert by_id["sites"]["paint"]["circle-color"] == sites.style.color_expression()
    assert [row["value"] for row in by_id["sites"]["metadata"]["chengjian:legend"]] == list(sites.style.colors)
    # Farmhouses: B/C/D coloured, the rest (A, not appraised) in the default colour, listed as 其他.
    legend = by_id["farmhouses"]["metadata"]["chengjian:legend"]
    assert [(r["label"], r["color"]) for r in legend] == [
        ("B", "#f59e0b"),
        ("C", "#f97316"),
        ("D", "#dc2626"),
        ("其他", "#16a34a"),
    ]
    assert by_id["greenways"]["paint"]["line-color"] == [
        "match",
        ["get", "status"],
        "规划",
        "#a3a3a3",
        "在建",
        "#f59e0b",
        "已建成",
        "#16a34a",
        "#3b82f6",
    ]
    fences = by_id["site_fences"]["paint"]
    assert fences["fill-color"] == "#2563eb" and fences["fill-opacity"] == 0.15
    assert by_id["site_fences-outline"]["paint"]["line-color"] == "#1d4ed8"


def test_dense_points_draw_server_clusters(client):
    by_id = {lyr["id"]: lyr for lyr in style_for(client, LEADER)["layers"]}
    z = registry.get("farmhouses").cluster_maxzoom
    assert z is not None
    cluster, count = by_id["farmhouses-cluster"], by_id["farmhouses-cluster-count"]
    assert cluster["filter"] == count["filter"] == ["has", "cluster"]
    # Drawn wherever the server sends cells, also above cluster_maxzoom (the tile size guard).
    assert cluster.get("maxzoom", 24) > z and count.get("maxzoom", 24) > z
    assert by_id["farmhouses"]["filter"] == ["!", ["has", "cluster"]]
    # The cluster colour is its majority category, read from the counts the tiles carry.
    colour = json.dumps(cluster["paint"]["circle-color"])
    for key in ("count_B", "count_C", "count_D", "count_other"):
        assert key in colour
    assert "sites-cluster" not in by_id  # ~600 sites: always single points


def test_style_passes_maplibre_validator(client, tmp_path):
    # `make test` installs node (Makefile `system-deps`): without it this fails rather than skipping.
    assert shutil.which("node"), "node is needed to run MapLibre's style validator: run `make test`"
    for headers in ({}, LEADER):
        path = tmp_path / "style.json"
        path.write_text(json.dumps(style_for(client, headers), ensure_ascii=False))
        r = subprocess.run(["node", str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr
    # The validator does catch mistakes.
    bad = style_for(client, LEADER)
    bad["layers"][1]["paint"]["fill-colour"] = "#000000"
    path.write_text(json.dumps(bad))
    r = subprocess.run(["node", str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "fill-colour" in r.stdout


# -- the page's layer config ----------------------------------------------------------------------


def test_layer_config_for_panel_popups_and_forms(client):
    cfg = {lyr["id"]: lyr for lyr in client.get("/map/layers.json", headers=LEADER).json()["layers"]}
    assert list(cfg) == [lyr.id for lyr in registry.all()]
    fences = cfg["site_fences"]
    fields = {f["name"]: f for f in fences["fields"]}
    assert fields["site_id"]["ref"] == "sites" and fields["site_id"]["required"]
    assert fields["area_m2"]["writable"] is False
    assert fences["draw"] == "polygon" and cfg["greenways"]["draw"] == "linestring"
    assert cfg["districts"]["draw"] is None and cfg["sites"]["draw"] is None
    assert fences["editable"] is False  # leaders read only
    assert cfg["farmhouses"]["color_by_label"] == "危险等级"
    admin = {lyr["id"]: lyr for lyr in client.get("/map/layers.json", headers=ADMIN).json()["layers"]}
    assert admin["site_fences"]["editable"] and admin["greenways"]["editable"]
    public = client.get("/map/layers.json").json()["layers"]
    assert {lyr["id"] for lyr in public} == PUBLIC_LAYERS


# -- label glyphs and points ------------------------------------------------------------------------


def read_varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        value |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return value, i
        shift += 7


def fields_of(buf: bytes) -> list[tuple[int, object]]:
    """(field number, int or bytes) of a protobuf message."""
    out, i = [], 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = read_varint(buf, i)
        elif wire == 2:
            n, i = read_varint(buf, i)
            value, i = buf[i : i + n], i + n
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        out.append((number, value))
    return out


def glyphs_of(pbf: bytes) -> tuple[str, dict[int, dict]]:
    ((number, stack),) = fields_of(pbf)
    assert number == 1
    parts = fields_of(stack)
    rng = next(v for n, v in parts if n == 2).decode()
    glyphs = {}
    for n, v in parts:
        if n == 3:
            g = dict(fields_of(v))
            glyphs[g[1]] = g
    return rng, glyphs


def test_glyph_ranges(client):
    url = "/map/glyphs/Noto%20Sans%20CJK%20SC%20Regular/0-255.pbf"
    r = client.get(url)
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf"
    rng, glyphs = glyphs_of(r.content)
    assert rng == "0-255"
    for ch in "0123456789ABCabc-()":
        g = glyphs[ord(ch)]
        width, height = g[3], g[4]
        assert width > 0 and height > 0 and g[7] > 0, ch
        assert len(g[2]) == (width + 6) * (height + 6), ch  # SDF bitmap with the 3 px buffer
    assert 2 not in glyphs[ord(" ")] and glyphs[ord(" ")][7] > 0  # a space advances, draws nothing
    r2 = client.get(url, headers={"If-None-Match": r.headers["etag"]})
    assert r2.status_code == 304
    # Ranges without vendored glyphs (CJK is drawn by the browser): a valid empty range, never a 404.
    r = client.get("/map/glyphs/Noto%20Sans%20CJK%20SC%20Regular/19968-20223.pbf")
    assert r.status_code == 200
    assert glyphs_of(r.content) == ("19968-20223", {})
    for bad in ("5-260", "0-511", "65536-65791", "a-b"):
        r = client.get(f"/map/glyphs/x/{bad}.pbf")
        assert r.status_code == 404 and r.json()["code"] == "glyph_range_not_found", bad


def test_label_points_inside_their_districts(client, engine):
    from sqlalchemy import text

    doc = client.get("/map/labels/districts.geojson").json()
    assert len(doc["features"]) == 13
    names = {f["properties"]["name"] for f in doc["features"]}
    assert "西湖区" in names and "临平区" in names
    with engine.connect() as conn:
        for f in doc["features"]:
            lon, lat = f["geometry"]["coordinates"]
            inside = conn.execute(
                text("SELECT ST_Contains(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) FROM districts WHERE id = :id"),
                {"x": lon, "y": lat, "id": f["properties"]["id"]},
            ).scalar()
            assert inside, f["properties"]["name"]
    assert client.get("/map/labels/townships.geojson").json() == {"type": "FeatureCollection", "features": []}
    r = client.get("/map/labels/greenways.geojson")
    assert r.status_code == 404 and r.json()["code"] == "labels_not_found"
    assert client.get("/map/labels/sites.geojson").status_code == 401
    assert client.get("/map/labels/sites.geojson", headers=PUBLIC).status_code == 403


# -- the page and its static files ---------------------------------------------------------------------


def test_page_and_static_files(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "杭州城建一张图" in r.text and '"maplibre-gl": "/static/vendor/maplibre-gl/maplibre-gl.mjs"' in r.text
    assert r.headers["cache-control"] == "no-cache"
    r = client.get("/static/vendor/maplibre-gl/maplibre-gl.mjs", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert r.headers["content-encoding"] == "gzip" and r.headers["cache-control"] == "public, max-age=86400"
    assert "maplibre" in r.text[:400].lower()  # httpx has undone the gzip
    raw = client.get("/static/vendor/maplibre-gl/maplibre-gl.mjs", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers and len(raw.content) > 500_000
    assert gzip.decompress(gzip.compress(raw.content)) == r.content
    worker = client.get("/static/vendor/maplibre-gl/maplibre-gl-worker.mjs")
    assert worker.status_code == 200 and worker.headers["content-type"].startswith("text/javascript")
    etag = client.get("/static/js/main.js").headers["etag"]
    assert client.get("/static/js/main.js", headers={"If-None-Match": etag}).status_code == 304
    plain = client.get("/static/js/main.js", headers={"Accept-Encoding": "identity"}).headers["etag"]
    assert plain != etag  # each encoding its own strong validator
    assert (
        client.get("/static/js/main.js", headers={"If-None-Match": etag, "Accept-Encoding": "identity"}).status_code
        == 200
    )
    for bad in ("/static/../api/web.py", "/static/%2e%2e/api/web.py", "/static/nope.js", "/static/js"):
        r = client.get(bad)
        assert r.status_code == 404, bad


# -- search, counts, districts ----------------------------------------------------------------------


def add(client, layer: str, geometry: dict, **props) -> dict:
    r = client.post(
        f"/api/layers/{layer}/features",
        json={"type": "Feature", "geometry": geometry, "properties": props},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture()
def some(client, clean):
    point = lambda x, y: {"type": "Point", "coordinates": [x, y]}  # noqa: E731
    out = {
        "site": add(client, "sites", point(120.2101, 30.2552), code="330102-2026-0007", name="望江门人才公寓项目"),
        "site2": add(client, "sites", point(120.0301, 30.2902), code="330106-2026-0070", name="紫金港科创园项目"),
        "review": add(client, "review_projects", point(120.2121, 30.2562), code="SC-2026-0007", name="望江门小学"),
        "green": add(
            client,
            "greenways",
            {"type": "LineString", "coordinates": [[120.10, 30.20], [120.12, 30.21]]},
            code="GW-330106-001",
            name="之江绿道望江段",
            status="在建",
        ),
    }
    client.delete(f"/api/layers/sites/features/{out['site2']['id']}?version=1", headers=ADMIN)
    return out


def test_search_across_layers(client, some):
    r = client.get("/api/search", params={"q": "望江"}, headers=LEADER)
    assert r.status_code == 200
    hits = r.json()["results"]
    assert {(h["layer"], h["id"]) for h in hits} == {
        ("sites", some["site"]["id"]),
        ("review_projects", some["review"]["id"]),
        ("greenways", some["green"]["id"]),
    }
    site = next(h for h in hits if h["layer"] == "sites")
    assert site["layer_title"] == "建设工地" and site["label"] == "望江门人才公寓项目" and site["district"] == "上城区"
    assert site["center"] == [120.2101, 30.2552] and site["bbox"] == [120.2101, 30.2552, 120.2101, 30.2552]
    green = next(h for h in hits if h["layer"] == "greenways")
    assert green["bbox"] == [120.10, 30.20, 120.12, 30.21]
    # An exact code comes first; deleted features are not found.
    hits = client.get("/api/search", params={"q": "SC-2026-0007"}, headers=LEADER).json()["results"]
    assert hits[0]["layer"] == "review_projects" and hits[0]["code"] == "SC-2026-0007"
    assert client.get("/api/search", params={"q": "紫金港"}, headers=LEADER).json()["results"] == []
    # Only the layers asked for, and only layers the caller may see.
    hits = client.get("/api/search", params={"q": "望江", "layers": "sites"}, headers=LEADER).json()["results"]
    assert [h["layer"] for h in hits] == ["sites"]
    public = client.get("/api/search", params={"q": "望江"}).json()["results"]
    assert [h["layer"] for h in public] == ["greenways"]
    r = client.get("/api/search", params={"q": "望江", "layers": "sites"}, headers=PUBLIC)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = client.get("/api/search", params={"q": "望江", "layers": "nope"}, headers=LEADER)
    assert r.status_code == 404 and r.json()["field"] == "layers"
    r = client.get("/api/search", params={"q": "  "}, headers=LEADER)
    assert r.status_code == 422 and r.json()["code"] == "query_required"
    r = client.get("/api/search", params={"q": "望江", "limit": 0}, headers=LEADER)
    assert r.status_code == 422 and r.json()["field"] == "limit"
    assert len(client.get("/api/search", params={"q": "望江", "limit": 2}, headers=LEADER).json()["results"]) == 2


def test_counts_per_layer_and_district(client, some, engine):
    from sqlalchemy import text

    doc = client.get("/api/counts", headers=LEADER).json()
    counts = {entry["id"]: entry for entry in doc["layers"]}
    assert list(counts) == [lyr.id for lyr in registry.all()]
    assert counts["sites"]["count"] == 1 and counts["sites"]["by_district"] == {"上城区": 1}  # the deleted one is gone
    assert counts["greenways"]["count"] == 1 and counts["farmhouses"]["count"] == 0
    with engine.connect() as conn:
        assert counts["districts"]["count"] == conn.execute(text("SELECT count(*) FROM districts")).scalar() == 13
    assert "by_district" not in counts["districts"]
    public = client.get("/api/counts").json()["layers"]
    assert {entry["id"] for entry in public} == PUBLIC_LAYERS


def test_districts_for_the_filter(client):
    doc = client.get("/api/districts").json()["districts"]
    assert len(doc) == 13
    xihu = next(d for d in doc if d["name"] == "西湖区")
    assert xihu["code"] == "330106" and xihu["kind"] == "区"
    x0, y0, x1, y1 = xihu["bbox"]
    assert x0 < xihu["center"][0] < x1 and y0 < xihu["center"][1] < y1
    assert 119.9 < x0 < x1 < 120.3 and 29.9 < y0 < y1 < 30.5
