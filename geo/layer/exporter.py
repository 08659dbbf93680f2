"""Exporting a layer, or a filtered selection of it, as GeoJSON, GeoPackage, zipped Shapefile, KML, CSV or Excel.

The selection is a ``geo.layer.store.Query``, so an export holds exactly the rows
the features API lists for the same filters. Files are written with pyogrio
(GDAL). Every export re-imports as it is (``geo.layer.importer`` maps the columns
back): GeoJSON, GeoPackage and KML keep attribute names; the Shapefile uses
:func:`geo.layer.importer.shp_field_names` (10 characters at most) with a .prj and a
UTF-8 .cpg; CSV (UTF-8 with BOM, so Excel shows Chinese) and Excel carry the
Chinese labels as headers, and 经度/纬度 columns for points or a WKT column for
lines and polygons. Each export leaves an audit entry.

Types: GeoPackage keeps dates as Date and date-times as DateTime fields, numbers as
Integer/Real; the Shapefile keeps dates as DBF ``D`` fields and numbers as ``N``, but
DBF has no date-time type (ISO 8601 text), no field name above 10 characters and no
text above 254 bytes: what a Shapefile export had to cut or change is listed in a
report inside the zip (``<layer>_导出说明.txt``) and summed up in ``Exported.notes``
(the API sends them in ``X-Export-Notes``), pointing to GeoPackage. GeoJSON, KML,
CSV and Excel carry dates as ISO 8601 text.
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
import pyarrow as pa
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
    "kml": ("KML", "kml", "application/vnd.google-earth.kml+xml"),
    "csv": ("CSV", "csv", "text/csv; charset=utf-8"),
    "xlsx": ("XLSX", "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}
ID_LABEL = "要素ID"
BATCH = 5000  # rows read at a time when progress is reported
LON_LABEL, LAT_LABEL, WKT_LABEL = "经度", "纬度", "WKT"
DBF_TEXT_BYTES = 254  # the longest text a DBF field holds (GDAL cuts longer values at a character boundary)
REPORT_LISTED = 200  # cut values listed one by one in the Shapefile report
LOCAL_TZ = "Asia/Shanghai"


class Exported(NamedTuple):
    data: bytes
    filename: str
    media_type: str
    rows: int
    notes: list[str] = []  # what the format could not keep, in Chinese (Shapefile: names, long text, date-times)


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
        elif a.type == "date":
            data[a.name] = pd.array(values, dtype=pd.ArrowDtype(pa.date32()))  # a Date field, even when all empty
        elif a.type == "datetime":
            data[a.name] = pd.to_datetime(pd.Series(values, dtype=object), utc=True).dt.tz_convert(LOCAL_TZ).array
        else:
            data[a.name] = np.array(values, dtype=object)
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"))


def _dates_as_text(
    layer: Layer, gdf: gpd.GeoDataFrame, types: tuple[str, ...] = ("date", "datetime")
) -> gpd.GeoDataFrame:
    """A copy with the given date columns as ISO 8601 text (formats without date types)."""
    out = gdf.copy()
    for a in layer.attrs:
        if a.type in types:
            out[a.name] = np.array([None if pd.isna(v) else to_json(_plain(v)) for v in gdf[a.name]], dtype=object)
    return out


def _plain(value: Any) -> Any:
    return value.to_pydatetime() if isinstance(value, pd.Timestamp) else value


def _table(layer: Layer, gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    """CSV/Excel rows: Chinese headers, 是/否 for yes/no, 经度/纬度 for points, WKT otherwise."""
    df = pd.DataFrame(_dates_as_text(layer, gdf).drop(columns="geometry"))
    for a in layer.attrs:
        if a.type == "bool":
            df[a.name] = np.array([None if pd.isna(v) else ("是" if v else "否") for v in df[a.name]], dtype=object)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    if layer.geometry == "Point":
        df[LON_LABEL], df[LAT_LABEL] = shapely.get_x(geoms), shapely.get_y(geoms)
    else:
        df[WKT_LABEL] = shapely.to_wkt(geoms, rounding_precision=7) if len(geoms) else []
    return df.rename(columns={"id": ID_LABEL, **{a.name: a.label for a in layer.attrs}})


def shapefile_losses(layer: Layer, gdf: gpd.GeoDataFrame) -> tuple[list[str], str | None]:
    """What a Shapefile of ``gdf`` cuts or changes: (short notes, the report's text), or ([], None) if nothing."""
    short = shp_field_names(layer)
    renamed = [a for a in layer.attrs if short[a.name] != a.name]
    as_text = [a for a in layer.attrs if a.type == "datetime"]
    cut: list[tuple[int, str, int]] = []  # (feature id, attribute, bytes)
    for a in layer.attrs:
        if a.type != "text":
            continue
        for fid, v in zip(gdf["id"], gdf[a.name]):
            if isinstance(v, str) and len(v.encode()) > DBF_TEXT_BYTES:
                cut.append((int(fid), a.name, len(v.encode())))
    if not (renamed or as_text or cut):
        return [], None
    notes, lines = [], [f"图层「{layer.title}」Shapefile 导出说明", ""]
    lines.append(
        f"Shapefile（DBF）的字段名最长 10 个字符，文本最长 {DBF_TEXT_BYTES} 字节（约 84 个汉字），且没有日期时间类型。"
    )
    if renamed:
        notes.append(f"{len(renamed)} 个字段名超过 10 个字符，已截短")
        lines += ["", "字段名已截短（原字段名（中文名）→ Shapefile 字段名）："]
        lines += [f"  {a.name}（{a.label}）→ {short[a.name]}" for a in renamed]
    if cut:
        notes.append(f"{len(cut)} 个文本值超过 {DBF_TEXT_BYTES} 字节，已被截断")
        lines += ["", f"以下文本超过 {DBF_TEXT_BYTES} 字节，文件中只保留了前 {DBF_TEXT_BYTES} 字节："]
        labels = {a.name: a.label for a in layer.attrs}
        lines += [f"  要素 {fid} 的「{labels[name]}」（原 {n} 字节）" for fid, name, n in cut[:REPORT_LISTED]]
        if len(cut) > REPORT_LISTED:
            lines.append(f"  …… 另有 {len(cut) - REPORT_LISTED} 处")
    if as_text:
        notes.append(f"{len(as_text)} 个日期时间字段以文本保存")
        lines += ["", "日期时间字段以文本（ISO 8601，北京时间）保存："]
        lines += [f"  {a.name}（{a.label}）" for a in as_text]
    notes.append("如需完整保留，请改用 GeoPackage（.gpkg）格式导出")
    lines += ["", "如需完整保留字段名、文本和类型，请改用 GeoPackage（.gpkg）格式导出。", ""]
    return notes, "\n".join(lines)


def report_name(layer: Layer) -> str:
    return f"{layer.id}_导出说明.txt"


def write(layer: Layer, gdf: gpd.GeoDataFrame, fmt: str) -> tuple[bytes, list[str]]:
    """The file's bytes and the notes on what the format could not keep."""
    driver, ext, _ = FORMATS[fmt]
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="chengjian-export-") as tmp:
        path = Path(tmp) / f"{layer.id}.{'shp' if fmt == 'shp' else ext}"
        if fmt in ("csv", "xlsx"):
            opts = {"WRITE_BOM": "YES"} if fmt == "csv" else {}
            pyogrio.write_dataframe(_table(layer, gdf), path, driver=driver, layer=layer.id, layer_options=opts)
        elif fmt == "shp":
            notes, report = shapefile_losses(layer, gdf)
            pyogrio.write_dataframe(
                _dates_as_text(layer, gdf, ("datetime",)).rename(columns=shp_field_names(layer)),
                path,
                driver=driver,
                geometry_type=layer.geometry,
                layer_options={"ENCODING": "UTF-8"},
                use_arrow=True,  # dates as Arrow date32: DBF Date fields
            )
            if report:
                (Path(tmp) / report_name(layer)).write_text(report, encoding="utf-8")
        elif fmt == "gpkg":
            pyogrio.write_dataframe(
                gdf, path, driver=driver, layer=layer.id, geometry_type=layer.geometry, use_arrow=True
            )
        elif fmt == "kml":
            # The feature id under the label the importer skips (KML's own ``id`` is the placemark's); a ``name``
            # attribute becomes the placemark's name.
            kml = _dates_as_text(layer, gdf).rename(columns={"id": ID_LABEL})
            pyogrio.write_dataframe(kml, path, driver=driver, layer=layer.id, geometry_type=layer.geometry)
        else:
            pyogrio.write_dataframe(
                _dates_as_text(layer, gdf), path, driver=driver, layer=layer.id, geometry_type=layer.geometry
            )
        if fmt != "shp":
            return path.read_bytes(), notes
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for part in sorted(Path(tmp).iterdir()):
                z.write(part, part.name)
        return buf.getvalue(), notes


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
    data, notes = write(layer, gdf, fmt)
    audit.record(
        conn,
        actor,
        "export",
        layer.id,
        None,
        None,
        {"format": fmt, "rows": len(gdf), "filters": selection_summary(query), **({"notes": notes} if notes else {})},
        client,
    )
    return Exported(data, f"{layer.id}.{FORMATS[fmt][1]}", FORMATS[fmt][2], len(gdf), notes)
