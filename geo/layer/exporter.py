"""Exporting a layer, or a filtered selection of it, as GeoJSON, GeoPackage, zipped Shapefile, CSV or Excel.

The selection is a ``geo.layer.store.Query``, so an export holds exactly the rows
the features API lists for the same filters. Files are written with pyogrio
(GDAL). Every export re-imports as it is (``geo.layer.importer`` maps the columns
back): GeoJSON and GeoPackage keep attribute names; the Shapefile uses
:func:`geo.layer.importer.shp_field_names` (10 characters at most) with a .prj and a
UTF-8 .cpg; CSV (UTF-8 with BOM, so Excel shows Chinese) and Excel carry the
Chinese labels as headers, and 经度/纬度 columns for points or a WKT column for
lines and polygons. Each export leaves an audit entry.
"""

from __future__ import annotations

import dataclasses
import io
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from sqlalchemy import Connection

from geo import audit
from geo.layer import store
from geo.layer.importer import shp_field_names
from geo.layer.registry import Layer
from geo.values import to_json

FORMATS: dict[str, tuple[str, str, str]] = {  # format -> (GDAL driver, file extension, media type)
    "geojson": ("GeoJSON", "geojson", "application/geo+json"),
    "gpkg": ("GPKG", "gpkg", "application/geopackage+sqlite3"),
    "shp": ("ESRI Shapefile", "zip", "application/zip"),
    "csv": ("CSV", "csv", "text/csv; charset=utf-8"),
    "xlsx": ("XLSX", "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}
ID_LABEL = "要素ID"
BATCH = 5000  # rows read at a time when progress is reported
LON_LABEL, LAT_LABEL, WKT_LABEL = "经度", "纬度", "WKT"


class Exported(NamedTuple):
    data: bytes
    filename: str
    media_type: str
    rows: int


def read_selection(
    conn: Connection, layer: Layer, query: store.Query, progress: Callable[[int, int], None] | None = None
) -> gpd.GeoDataFrame:
    """The selected features as a GeoDataFrame (id, the layer's attributes, WGS84 geometry). With ``progress``, the
    rows are counted first and read in batches, and ``progress(rows read, total)`` is called after each one."""
    if progress is None:
        rows = conn.execute(store.select_features(layer, query)).all()
    else:
        total = store.count(conn, layer, query)
        progress(0, total)
        rows = []
        for part in conn.execute(store.select_features(layer, query).execution_options(yield_per=BATCH)).partitions():
            rows.extend(part)
            progress(len(rows), total)
    geoms = shapely.from_geojson(np.array([r.geojson for r in rows], dtype=object)) if rows else []
    data: dict[str, Any] = {"id": np.array([r.id for r in rows], dtype=np.int64)}
    for a in layer.attrs:
        values = [r._mapping[a.name] for r in rows]
        if a.type == "int":
            data[a.name] = pd.array(values, dtype="Int64")
        elif a.type == "float":
            data[a.name] = np.array([np.nan if v is None else v for v in values], dtype=float)
        elif a.type == "bool":
            data[a.name] = pd.array(values, dtype="boolean")
        elif a.type in ("date", "datetime"):
            data[a.name] = np.array([to_json(v) for v in values], dtype=object)  # ISO 8601 text
        else:
            data[a.name] = np.array(values, dtype=object)
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"))


def _table(layer: Layer, gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    """CSV/Excel rows: Chinese headers, 是/否 for yes/no, 经度/纬度 for points, WKT otherwise."""
    df = pd.DataFrame(gdf.drop(columns="geometry"))
    for a in layer.attrs:
        if a.type == "bool":
            df[a.name] = np.array([None if pd.isna(v) else ("是" if v else "否") for v in df[a.name]], dtype=object)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    if layer.geometry == "Point":
        df[LON_LABEL], df[LAT_LABEL] = shapely.get_x(geoms), shapely.get_y(geoms)
    else:
        df[WKT_LABEL] = shapely.to_wkt(geoms, rounding_precision=7) if len(geoms) else []
    return df.rename(columns={"id": ID_LABEL, **{a.name: a.label for a in layer.attrs}})


def write(layer: Layer, gdf: gpd.GeoDataFrame, fmt: str) -> bytes:
    driver, ext, _ = FORMATS[fmt]
    with tempfile.TemporaryDirectory(prefix="chengjian-export-") as tmp:
        path = Path(tmp) / f"{layer.id}.{'shp' if fmt == 'shp' else ext}"
        if fmt in ("csv", "xlsx"):
            opts = {"WRITE_BOM": "YES"} if fmt == "csv" else {}
            pyogrio.write_dataframe(_table(layer, gdf), path, driver=driver, layer=layer.id, layer_options=opts)
        elif fmt == "shp":
            short = shp_field_names(layer)
            pyogrio.write_dataframe(
                gdf.rename(columns=short),
                path,
                driver=driver,
                geometry_type=layer.geometry,
                layer_options={"ENCODING": "UTF-8"},
            )
        else:
            pyogrio.write_dataframe(gdf, path, driver=driver, layer=layer.id, geometry_type=layer.geometry)
        if fmt != "shp":
            return path.read_bytes()
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for part in sorted(Path(tmp).iterdir()):
                z.write(part, part.name)
        return buf.getvalue()


def selection_summary(query: store.Query) -> dict:
    out: dict[str, Any] = {
        "bbox": list(query.bbox) if query.bbox else None,
        "q": query.q,
        "ids": query.ids,
        **(query.filters or {}),
    }
    return {k: v for k, v in out.items() if v is not None}


def export(
    conn: Connection,
    layer: Layer,
    query: store.Query,
    fmt: str,
    actor: str = "system",
    client: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Exported:
    """Export the selection as ``fmt``; writes an audit entry in ``conn``'s transaction. ``progress(rows read,
    total)`` follows the reading (a task queue export shows it to its owner)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt}")
    query = dataclasses.replace(query, limit=None, offset=0, after_id=None)
    gdf = read_selection(conn, layer, query, progress)
    data = write(layer, gdf, fmt)
    audit.record(
        conn,
        actor,
        "export",
        layer.id,
        None,
        None,
        {"format": fmt, "rows": len(gdf), "filters": selection_summary(query)},
        client,
    )
    return Exported(data, f"{layer.id}.{FORMATS[fmt][1]}", FORMATS[fmt][2], len(gdf))
