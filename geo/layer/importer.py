"""Importing a file into a layer: read it, check every row, report; then commit all rows or none.

Formats: GeoJSON, zipped Shapefile, GeoPackage, KML/KMZ, CSV and Excel (.xlsx),
all read with pyogrio (GDAL). CSV and Excel rows get their points from lon/lat
columns (or lines and polygons from a WKT column). File columns map to the
layer's attributes by attribute name, by Chinese label, or by the 10-character
Shapefile name the exporter writes, so every export re-imports as it is.

The dry run (:func:`check`) stores nothing and returns a report the clerk can
act on: rows accepted, and each rejected row by its number as the clerk sees it
(the spreadsheet row for CSV/Excel) with the reason in Chinese. :func:`commit_import`
refuses a file with any rejected row, and otherwise copies every row in the
caller's transaction (``geo.layer.bulk.copy_features``, one audit entry).
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
import unicodedata
import zipfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyogrio
import shapely
import sqlalchemy as sa
from pyproj import CRS, Transformer
from sqlalchemy import Connection

from geo import crs as crsmod
from geo import scope as scopes
from geo.errors import excerpt
from geo.layer import districting
from geo.layer.attributes import coerce_column
from geo.layer.bulk import copy_features
from geo.layer.registry import Layer
from geo.validate import GeometryError, check_many, explain_read_error, parse_geojson

FORMATS = {"geojson": "GeoJSON", "shp": "Shapefile", "gpkg": "GeoPackage", "kml": "KML", "csv": "CSV", "xlsx": "Excel"}
SUPPORTED_TEXT = "支持 GeoJSON、Shapefile（zip 压缩包）、GeoPackage、KML、CSV、Excel（.xlsx）"
MAX_ERRORS = 1000  # rejected-row entries listed in a report (the total is always given)

LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度", "东经")
LAT_NAMES = ("lat", "latitude", "y", "纬度", "北纬")
WKT_NAMES = ("wkt", "geometry", "geom", "几何", "几何图形")
# Columns our exports add, and LIBKML's standard placemark fields: skipped without complaint.
IGNORED_NAMES = ("id", "fid", "要素id", "version", "created_at", "created_by", "updated_at", "updated_by")
KML_FIELDS = (
    "description",
    "timestamp",
    "begin",
    "end",
    "altitudemode",
    "tessellate",
    "extrude",
    "visibility",
    "draworder",
    "icon",
    "snippet",
)
TABULAR = ("csv", "xlsx")

# LIBKML would turn Chinese <Data name="层数"> into "______"; keep the names as written.
pyogrio.set_gdal_config_options({"LIBKML_LAUNDER_FIELD_NAMES": "NO"})


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (format, columns, CRS); nothing is stored."""

    def __init__(
        self, code: str, message: str, field: str | None = "file", detail: dict | None = None, status: int = 422
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.field, self.detail, self.status = code, message, field, detail or {}, status


class ImportRejected(Exception):
    """Commit refused: some rows did not pass; ``report`` lists them."""

    def __init__(self, report: dict) -> None:
        super().__init__(f"{report['rejected']} rows rejected")
        self.report = report


def file_format_error(reason: str, filename: str) -> ImportFileError:
    return ImportFileError(
        "file_format",
        f"无法识别的文件格式（{reason}）。{SUPPORTED_TEXT}。",
        "file",
        {"filename": filename, "reason": reason},
    )


# -- column names ----------------------------------------------------------------------


def column_key(name: str) -> str:
    """Compare column headers loosely: full-width to half-width, case and spaces ignored."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(name))).casefold()


def shp_field_names(layer: Layer) -> dict[str, str]:
    """Attribute name -> DBF field name (at most 10 characters), the same every time.

    Names that fit stay; longer ones are cut to 10; a cut that collides with an
    earlier one becomes its first 7 characters, ``_`` and a two-digit counter.
    """
    out: dict[str, str] = {}
    used = {a.name.lower() for a in layer.attrs if len(a.name) <= 10} | {"id"}
    for a in layer.attrs:
        if len(a.name) <= 10:
            out[a.name] = a.name
            continue
        short, k = a.name[:10], 1
        while short.lower() in used:
            short, k = f"{a.name[:7]}_{k:02d}", k + 1
        used.add(short.lower())
        out[a.name] = short
    return out


def column_map(layer: Layer) -> dict[str, str]:
    """Loose column key -> attribute name (by name, Chinese label and Shapefile name)."""
    out: dict[str, str] = {}
    short = shp_field_names(layer)
    for a in layer.attrs:
        for key in (a.label, short[a.name], a.name):  # the name wins over another attribute's label
            out[column_key(key)] = a.name
    return out


# -- reading -----------------------------------------------------------------------------


@dataclass
class Source:
    """What was read from a file, before any checks: one entry per data row."""

    filename: str
    format: str
    geoms: np.ndarray  # shapely geometries in ``crs`` (None where the row has none)
    columns: dict[str, np.ndarray]  # attribute name -> raw values
    crs: str  # one of geo.crs.SUPPORTED
    crs_from_file: bool
    first_row: int  # the number the clerk sees on the first data row
    mapped_columns: dict[str, str]  # file column -> attribute
    unknown_columns: list[str]
    ignored_columns: list[str]
    geometry_columns: dict[str, str]  # {"lon": column, "lat": column} or {"wkt": column}
    row_errors: dict[int, list[dict]] = field(default_factory=dict)  # problems found while reading
    source_layer: str | None = None
    heights_ignored: int = 0  # KML placemarks whose heights KML itself ignores (clampToGround), kept in 2D

    def __len__(self) -> int:
        return len(self.geoms)


def _sniff(path: Path, filename: str) -> tuple[str, str]:
    """(format, GDAL path) from the content, with the extension as a tie-breaker."""
    ext = Path(filename).suffix.lower().lstrip(".")
    with open(path, "rb") as f:
        head = f.read(4096)
    if not head:
        raise file_format_error("文件为空", filename)
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg", str(path)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(
            "file_format",
            "不支持旧版 Excel（.xls）文件，请在 Excel 中另存为 .xlsx 后再导入。",
            "file",
            {"filename": filename, "reason": "xls"},
        )
    if head.startswith(b"PK\x03\x04"):
        return _sniff_zip(path, filename)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] in (b"{", b"["):
        return "geojson", str(path)
    if text[:1] == b"<" and b"<kml" in head:
        return "kml", str(path)
    if ext in ("csv", "txt") and b"\x00" not in head:
        return "csv", str(path)
    raise file_format_error(f"扩展名 .{ext}" if ext else "无扩展名且内容无法识别", filename)


def _sniff_zip(path: Path, filename: str) -> tuple[str, str]:
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if not n.endswith("/") and "__MACOSX" not in n]
    except zipfile.BadZipFile:
        raise file_format_error("zip 压缩包已损坏", filename)
    if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
        return "xlsx", str(path)
    by_ext: dict[str, list[str]] = defaultdict(list)
    for n in names:
        by_ext[Path(n).suffix.lower().lstrip(".")].append(n)
    for ext, fmt in (
        ("shp", "shp"),
        ("gpkg", "gpkg"),
        ("geojson", "geojson"),
        ("json", "geojson"),
        ("kml", "kml"),
        ("csv", "csv"),
    ):
        found = by_ext.get(ext)
        if not found:
            continue
        if len(found) > 1:
            raise ImportFileError(
                "file_format",
                f"压缩包中有多个 .{ext} 文件（{'、'.join(found[:5])}），一次只能导入一个，请分别打包。",
                "file",
                {"filename": filename, "members": found},
            )
        return fmt, f"/vsizip/{path}/{found[0]}"
    ext = Path(filename).suffix.lower().lstrip(".")
    if ext not in ("zip", "kmz", ""):  # .docx, .pptx … are zip files too
        raise file_format_error(f"扩展名 .{ext}", filename)
    raise ImportFileError(
        "file_format",
        f"压缩包中没有找到 Shapefile（.shp）或其他可识别的文件。{SUPPORTED_TEXT}。",
        "file",
        {"filename": filename, "members": names[:20]},
    )


def _read_csv_fast(path: str) -> pd.DataFrame | None:
    """A plain UTF-8 CSV file (comma-separated, distinct non-empty headers) read by Arrow's multi-threaded reader,
    every cell as text as GDAL's CSV driver gives it (empty cells as empty text); None for anything else (another
    separator, a zip member, a row Arrow refuses …): GDAL reads those, with its own messages."""
    if path.startswith("/vsi"):
        return None
    with open(path, encoding="utf-8-sig", newline="") as f:
        header = f.readline()
    if "," not in header or any(sep in header for sep in (";", "\t", "|")):
        return None
    names = next(csv.reader([header]), [])
    if not names or any(not n.strip() for n in names) or len(set(names)) != len(names):
        return None
    try:
        table = pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, OSError):
        return None
    if table.column_names != names:
        return None
    return table.to_pandas()


def _read_frame(
    gdal_path: str, fmt: str, layer: Layer, filename: str
) -> tuple[pd.DataFrame, Any, str | None, dict[int, list[dict]]]:
    """The file's table as (attribute frame, (geometry array or None, CRS), layer name read, the rows whose geometry
    could not be read and why)."""
    if fmt == "csv" and _is_utf8(gdal_path):
        fast = _read_csv_fast(gdal_path)
        if fast is not None:
            return fast, (None, None), None, {}
    # A geometry GEOS refuses to read (an unclosed ring …) comes back as None and is explained per row, not closed.
    kwargs: dict[str, Any] = {"use_arrow": True, "on_invalid": "ignore"}
    if fmt == "xlsx":
        kwargs["HEADERS"] = "FORCE"
    if fmt == "csv" and not _is_utf8(gdal_path):
        kwargs = {"encoding": "gb18030", "on_invalid": "ignore"}  # Excel's “CSV” on Chinese Windows; Arrow: UTF-8
    try:
        names = [str(n) for n, _ in pyogrio.list_layers(gdal_path)]
        if not names:
            raise file_format_error("文件中没有数据表", filename)
        chosen = [n for n in names if n in (layer.id, layer.title)][:1]
        if fmt == "kml" and not chosen:
            chosen = names  # KML folders are layers: read them all
        chosen = chosen or names[:1]
        frames = [pyogrio.read_dataframe(gdal_path, layer=n, **kwargs) for n in chosen]
    except ImportFileError:
        raise
    except Exception as e:  # GDAL raises DataSourceError, DataLayerError, FieldError … on bad files
        raise file_format_error(
            f"{FORMATS[fmt]} 文件无法读取：{_without_paths(str(e), gdal_path, filename)[:200]}", filename
        )
    df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if not isinstance(df, gpd.GeoDataFrame):  # CSV and Excel without a WKT column
        return df, (None, None), None, {}
    geoms = np.asarray(df.geometry.values, dtype=object)
    unreadable = _unreadable_geometries(gdal_path, fmt, chosen, geoms) if fmt not in TABULAR else {}
    frame = pd.DataFrame(df.drop(columns=df.geometry.name))
    return frame, (geoms, df.crs), chosen[0] if len(chosen) == 1 else None, unreadable


def _unreadable_geometries(gdal_path: str, fmt: str, layers: list[str], geoms: np.ndarray) -> dict[int, list[dict]]:
    """Why each row without a geometry has none, when the file has one for it: GEOS' reason for the geometry GDAL
    read (an unclosed ring, a one-point line), or, in GeoJSON, the RFC 7946 rule the member breaks (text or
    booleans as coordinates, which GDAL reads as no geometry). Rows that really have none are left to the checks."""
    missing = [i for i, g in enumerate(geoms) if g is None]
    if not missing:
        return {}
    wkb: list[Any] = []
    for name in layers:
        meta, table = pyogrio.read_arrow(gdal_path, layer=name, columns=[])
        wkb += table.column(meta["geometry_name"] or "wkb_geometry").to_pylist()
    features: list[Any] | None = None
    out: dict[int, list[dict]] = {}
    for i in missing:
        problem: tuple[str, str] | None = None
        if i < len(wkb) and wkb[i] is not None:
            try:
                shapely.from_wkb(wkb[i])
            except shapely.errors.GEOSException as e:
                problem = explain_read_error(str(e))
        elif fmt == "geojson" and os.path.isfile(gdal_path):
            if features is None:
                features = _geojson_features(gdal_path)
            raw = features[i].get("geometry") if i < len(features) and isinstance(features[i], dict) else None
            if raw is not None:
                try:
                    parse_geojson(raw)
                except GeometryError as e:
                    problem = (e.code, e.message.rstrip("。"))
        if problem:
            out[i] = [{"code": problem[0], "field": "geometry", "message": f"几何图形无法读取：{problem[1]}。"}]
    return out


def _geojson_features(path: str) -> list[Any]:
    try:
        with open(path, "rb") as f:
            doc = json.load(f)
    except ValueError:
        return []
    return doc.get("features", []) if isinstance(doc, dict) else []


def _in_zip(gdal_path: str) -> tuple[str, str] | None:
    """(archive, member) of a ``/vsizip/<archive>/<member>`` path, else None."""
    if not gdal_path.startswith("/vsizip/"):
        return None
    rest = gdal_path[len("/vsizip/") :]
    cut = len(rest)
    while (cut := rest.rfind("/", 0, cut)) > 0:
        if os.path.isfile(rest[:cut]):
            return rest[:cut], rest[cut + 1 :]
    return None


_ABSOLUTE_PATH = re.compile(r"(?<![\w.])(?:/vsi\w+/)?/[^\s'\"，。：]+")


def _without_paths(message: str, gdal_path: str, filename: str) -> str:
    """GDAL's message with every server path replaced by the name the user gave (``农房.zip/a.shx``): an error never
    shows where the server keeps the upload."""
    zipped = _in_zip(gdal_path)
    if zipped:
        message = message.replace(f"/vsizip/{zipped[0]}", filename).replace(zipped[0], filename)
    message = message.replace(gdal_path, filename)
    return _ABSOLUTE_PATH.sub(filename, message)


def _is_utf8(path: str, probe: int = 1 << 20) -> bool:
    zipped = _in_zip(path)
    if zipped:
        with zipfile.ZipFile(zipped[0]) as z, z.open(zipped[1]) as f:
            chunk = f.read(probe)
    else:
        with open(path, "rb") as f:
            chunk = f.read(probe)
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start >= len(chunk) - 3  # a character cut at the end of the probe
    return True


def _file_crs(fmt: str, crs: Any) -> str | None:
    """The CRS the file declares, when it counts: .prj and GPKG always; GeoJSON only a non-default one."""
    if crs is None:
        return None
    c = CRS.from_user_input(crs)
    c = c.to_2d()  # GDAL calls a GeoJSON with heights EPSG:4979 (3D WGS84): its plane part is what counts here
    epsg = 4326 if c.equals("EPSG:4326", ignore_axis_order=True) else c.to_epsg(min_confidence=70)
    if fmt in ("shp", "gpkg") or (fmt == "geojson" and epsg != 4326):
        return f"EPSG:{epsg}" if epsg else c.to_wkt()
    return None


def read_file(
    path_or_bytes: str | os.PathLike | bytes,
    filename: str | None,
    layer: Layer,
    crs: str | None = "EPSG:4326",
    lon: str | None = None,
    lat: str | None = None,
) -> Source:
    """Read a file (a path, or the uploaded bytes) into a :class:`Source` for ``layer``."""
    try:
        wanted_crs = crsmod.normalize(crs)
    except crsmod.UnknownCRS:
        raise ImportFileError(
            "crs_unsupported",
            "不支持的坐标系，可选：EPSG:4326、EPSG:4490、EPSG:4549、GCJ02。",
            "crs",
            {"crs": crs, "supported": list(crsmod.SUPPORTED)},
        )
    with tempfile.TemporaryDirectory(prefix="chengjian-import-") as tmp:
        if isinstance(path_or_bytes, (bytes, bytearray)):
            filename = filename or "upload"
            path = Path(tmp) / ("upload" + Path(filename).suffix.lower()[:10])
            path.write_bytes(path_or_bytes)
        else:
            path = Path(path_or_bytes)
            filename = filename or path.name
            if not path.is_file():
                raise ImportFileError("file_missing", f"文件「{filename}」不存在。", "file", {"filename": filename})
        fmt, gdal_path = _sniff(path, filename)
        df, (geoms, file_crs), source_layer, unreadable = _read_frame(gdal_path, fmt, layer, filename)
    src = _source(df, geoms, file_crs, fmt, filename, layer, wanted_crs, lon, lat, source_layer)
    for i, errs in unreadable.items():
        src.row_errors.setdefault(i, []).extend(errs)
    return src


def _source(
    df: pd.DataFrame,
    geoms,
    file_crs,
    fmt: str,
    filename: str,
    layer: Layer,
    wanted_crs: str,
    lon: str | None,
    lat: str | None,
    source_layer: str | None,
) -> Source:
    if not len(df):
        raise ImportFileError("file_empty", f"文件「{filename}」中没有数据行。", "file", {"filename": filename})
    first_row = 2 if fmt in TABULAR else 1
    row_errors: dict[int, list[dict]] = {}
    keys = {column_key(c): c for c in df.columns}
    geometry_columns: dict[str, str] = {}

    if fmt in TABULAR and (lon or lat or geoms is None or all(g is None for g in geoms[:1000])):
        geoms, geometry_columns = _tabular_geometry(df, keys, lon, lat, fmt, filename, row_errors)
    elif fmt == "csv":  # GDAL made geometry from a WKT column; report unparseable cells
        col = next((keys[k] for k in WKT_NAMES if k in keys), None)
        if col:
            geometry_columns = {"wkt": col}
            _flag_bad_wkt(df[col], geoms, col, row_errors)
    if geoms is None:
        raise ImportFileError("geometry_missing", "文件中没有几何图形。", "file", {"filename": filename})
    geoms = np.asarray(geoms, dtype=object)
    heights_ignored = 0
    if fmt == "kml":  # KML ignores a height under its default altitude mode; every other height is refused later
        geoms, heights_ignored = _ground_clamped_2d(df, keys, geoms)

    # CRS: the file's own (.prj, GPKG, a GeoJSON crs member) unless the caller says GCJ02.
    declared = _file_crs(fmt, file_crs)
    crs_from_file = bool(declared) and wanted_crs != crsmod.GCJ02
    use_crs = wanted_crs
    if crs_from_file:
        try:
            use_crs = crsmod.normalize(declared)
        except crsmod.UnknownCRS:  # another projection: bring it to WGS84 here
            geoms = _reproject(geoms, str(declared))
            use_crs = crsmod.WGS84

    mapped, unknown, ignored = _map_columns(df, layer, fmt, geometry_columns)
    columns = {name: _values(df[col], layer.attr(name).type) for col, name in mapped.items()}
    return Source(
        filename,
        fmt,
        geoms,
        columns,
        use_crs,
        crs_from_file,
        first_row,
        mapped,
        unknown,
        ignored,
        geometry_columns,
        row_errors,
        source_layer if fmt in ("gpkg", "kml") else None,
        heights_ignored,
    )


def _ground_clamped_2d(df: pd.DataFrame, keys: dict[str, str], geoms: np.ndarray) -> tuple[np.ndarray, int]:
    """KML placemarks whose altitude mode is ``clampToGround`` (KML's default) or ``clampToSeaFloor``: KML itself
    ignores their heights, so they are kept in 2D (and counted in the report); other heights stay and are refused."""
    z = shapely.has_z(geoms)
    if not z.any():
        return geoms, 0
    col = keys.get("altitudemode")
    modes = df[col].to_numpy(dtype=object, na_value=None) if col else np.full(len(df), None, dtype=object)
    ground = np.array([m is None or str(m).strip() in ("", "clampToGround", "clampToSeaFloor") for m in modes])
    drop = z & ground
    out = geoms.copy()
    out[drop] = shapely.force_2d(geoms[drop])
    return out, int(drop.sum())


def _map_columns(
    df: pd.DataFrame, layer: Layer, fmt: str, geometry_columns: dict[str, str]
) -> tuple[dict[str, str], list[str], list[str]]:
    """(file column -> attribute, unknown columns, ignored columns); refuses duplicates and missing required ones."""
    mapping = column_map(layer)
    skip = {column_key(c) for c in geometry_columns.values()} | set(WKT_NAMES)
    quiet = set(IGNORED_NAMES) | (set(KML_FIELDS) if fmt == "kml" else set())
    mapped: dict[str, str] = {}
    unknown: list[str] = []
    ignored: list[str] = []
    for col in df.columns:
        key = column_key(col)
        if key in skip:
            continue
        name = mapping.get(key)
        if name is None:
            # A KML reader always reports the placemarks' <name>: not worth a warning when no placemark has one.
            empty_kml_name = fmt == "kml" and key == "name" and bool(df[col].isna().all())
            (ignored if key in quiet or empty_kml_name else unknown).append(str(col))
        elif layer.attr(name).read_only:
            ignored.append(str(col))
        elif name in mapped.values():
            other = next(c for c, a in mapped.items() if a == name)
            raise ImportFileError(
                "duplicate_column",
                f"列「{other}」和「{col}」都对应字段「{layer.attr(name).label}」，请删除其中一列。",
                name,
                {"columns": [other, str(col)]},
            )
        else:
            mapped[str(col)] = name
    for a in layer.writable:
        if a.required and a.name not in mapped.values():
            raise ImportFileError(
                "column_missing",
                f"文件缺少必填列「{a.label}」（{a.name}）。",
                a.name,
                {"columns": [str(c) for c in df.columns]},
            )
    return mapped, unknown, ignored


def _values(series: pd.Series, attr_type: str) -> np.ndarray:
    """Raw cell values, None where empty; yes/no stored as 1/0 that GDAL widened to float come back as 1/0."""
    values = series.to_numpy(dtype=object, na_value=None)
    if attr_type == "bool" and pd.api.types.is_float_dtype(series.dtype):
        f = series.to_numpy(dtype=float, na_value=np.nan)
        whole = np.isfinite(f) & (f == np.round(f))
        values = values.copy()  # Arrow-backed columns hand out read-only arrays (KML's yes/no come as 1.0/0.0)
        values[whole] = f[whole].astype(np.int64).astype(object)
    return values


def _reproject(geoms: np.ndarray, declared: str) -> np.ndarray:
    """To WGS84; a geometry with heights is left as it is (a plane transform would drop them; it is refused later)."""
    t = Transformer.from_crs(declared, "EPSG:4326", always_xy=True)
    ok = np.array([g is not None for g in geoms], dtype=bool) & ~shapely.has_z(geoms)
    out = geoms.copy()
    out[ok] = shapely.transform(geoms[ok], lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    return out


def _find(
    keys: dict[str, str], given: str | None, names: tuple[str, ...], what: str, fmt: str, filename: str
) -> str | None:
    if given:
        col = keys.get(column_key(given))
        if col is None:
            raise ImportFileError(
                "column_missing",
                f"文件中没有名为「{given}」的{what}列。",
                "lon" if what == "经度" else "lat",
                {"columns": list(keys.values()), "filename": filename},
            )
        return col
    return next((keys[k] for k in names if k in keys), None)


def _tabular_geometry(
    df: pd.DataFrame,
    keys: dict[str, str],
    lon: str | None,
    lat: str | None,
    fmt: str,
    filename: str,
    row_errors: dict[int, list[dict]],
) -> tuple[np.ndarray, dict[str, str]]:
    """Points from lon/lat columns, or geometries from a WKT column, for CSV and Excel rows."""
    lon_col = _find(keys, lon, LON_NAMES, "经度", fmt, filename)
    lat_col = _find(keys, lat, LAT_NAMES, "纬度", fmt, filename)
    if lon_col and lat_col:
        x = _numbers(df[lon_col], lon_col, "经度", row_errors)
        y = _numbers(df[lat_col], lat_col, "纬度", row_errors)
        ok = np.isfinite(x) & np.isfinite(y)
        geoms = np.full(len(df), None, dtype=object)
        geoms[ok] = shapely.points(x[ok], y[ok])
        return geoms, {"lon": lon_col, "lat": lat_col}
    wkt_col = next((keys[k] for k in WKT_NAMES if k in keys), None)
    if wkt_col:
        text = df[wkt_col].to_numpy(dtype=object, na_value=None)
        geoms = shapely.from_wkt(np.where([isinstance(t, str) for t in text], text, None), on_invalid="ignore")
        _flag_bad_wkt(df[wkt_col], geoms, wkt_col, row_errors)
        return geoms, {"wkt": wkt_col}
    raise ImportFileError(
        "geometry_columns_missing",
        "未找到经纬度列（如「经度」「纬度」或 lon、lat）或 WKT 几何列；可用参数 lon、lat 指定经纬度所在的列名。",
        "lon",
        {"columns": list(keys.values())},
    )


def _numbers(series: pd.Series, col: str, what: str, row_errors: dict[int, list[dict]]) -> np.ndarray:
    raw = series.to_numpy(dtype=object, na_value=None)
    try:
        nums = raw.astype(float)  # float() on every cell: numbers, and text with spaces around
    except (TypeError, ValueError):
        nums = pd.to_numeric(series.astype("string").str.strip(), errors="coerce").to_numpy(
            dtype=float, na_value=np.nan
        )
    for i in np.flatnonzero(~np.isfinite(nums)):
        blank = raw[i] is None or str(raw[i]).strip() == ""
        row_errors.setdefault(int(i), []).append(
            {
                "code": "geometry_missing" if blank else "coordinates_invalid",
                "field": col,
                "message": f"缺少{what}。" if blank else f"{what}「{str(raw[i])[:50]}」不是数字。",
            }
        )
    return nums


def _flag_bad_wkt(series: pd.Series, geoms, col: str, row_errors: dict[int, list[dict]]) -> None:
    text = series.to_numpy(dtype=object, na_value=None)
    for i in range(len(text)):
        if geoms[i] is None and text[i] is not None and str(text[i]).strip():
            reason = ""
            try:
                shapely.from_wkt(str(text[i]))
            except shapely.errors.GEOSException as e:  # GEOS' reason: an unclosed ring is refused, never closed
                reason = f"（{explain_read_error(str(e))[1]}）"
            row_errors.setdefault(i, []).append(
                {
                    "code": "geometry_malformed",
                    "field": col,
                    "message": f"几何图形（WKT）格式不正确{reason}：「{str(text[i])[:50]}」。",
                }
            )


# -- checking ----------------------------------------------------------------------------


@dataclass
class Checked:
    report: dict
    geoms: np.ndarray  # WGS84, the layer's type
    columns: dict[str, list[Any]]  # attribute name -> typed values

    @property
    def ok(self) -> bool:
        return self.report["rejected"] == 0


def check(conn: Connection, layer: Layer, src: Source, repair: bool = False, margin: float = 0.1) -> Checked:
    """Check every row (geometry, attributes, duplicate and existing codes); nothing is written."""
    n = len(src)
    errors: dict[int, list[dict]] = {i: list(e) for i, e in src.row_errors.items()}

    def add(i: int, code: str, fld: str, message: str, value: Any = None) -> None:
        entry = {"code": code, "field": fld, "message": message}
        if value is not None:
            entry["value"] = excerpt(value)
        errors.setdefault(int(i), []).append(entry)

    geo = check_many(src.geoms, layer.geometry, src.crs, repair=repair, margin=margin)
    for i in (int(k) for k in np.flatnonzero(~geo.ok)):
        g = geo.errors[i]
        if i not in src.row_errors and g is not None:  # a missing lon/lat is already reported by its column
            add(i, g.code, g.field or "geometry", g.message)
    repairs = [
        {"row": int(i) + src.first_row, "reason": r["reason"], "location": r["location"], "message": r["message"]}
        for i, r in enumerate(geo.repairs)
        if r is not None
    ]

    columns: dict[str, list[Any]] = {}
    for name, raw in src.columns.items():
        attr = layer.attr(name)
        values, errs = coerce_column(attr, raw)
        columns[name] = values
        for row, a in errs.items():
            add(row, a.code, a.field or name, a.message, a.value)

    if "code" in columns:
        _check_codes(conn, layer, columns["code"], src.first_row, add)
    if "district" in layer.attr_names and layer.id != "districts":
        columns["district"] = _check_districts(conn, geo.geoms, geo.ok, columns.get("district"), add)

    rows = sorted(errors)
    listed = [{"row": i + src.first_row, **e} for i in rows for e in errors[i]]
    report = {
        "layer": layer.id,
        "layer_title": layer.title,
        "file": src.filename,
        "format": src.format,
        "crs": src.crs,
        "crs_from_file": src.crs_from_file,
        "rows": n,
        "accepted": n - len(rows),
        "rejected": len(rows),
        "errors": listed[:MAX_ERRORS],
        "errors_total": len(listed),
        "errors_truncated": len(listed) > MAX_ERRORS,
        "mapped_columns": src.mapped_columns,
        "unknown_columns": src.unknown_columns,
        "ignored_columns": src.ignored_columns,
        "geometry_columns": src.geometry_columns,
        "repaired": repairs[:MAX_ERRORS],
        "repaired_total": len(repairs),
        "heights_ignored": src.heights_ignored,
    }
    if src.source_layer:
        report["source_layer"] = src.source_layer
    return Checked(report, geo.geoms, columns)


def _check_districts(conn: Connection, geoms: np.ndarray, ok: np.ndarray, given: list[Any] | None, add: Callable):
    """Each row's district follows its geometry (``geo.layer.districting``): a given one must fit, an empty one is
    filled. A principal scoped to districts only (no records granted) gets the rows outside them refused here, by the
    field that put them there, rather than the whole file by row-level security at the commit."""
    n = len(geoms)
    values = np.array(given if given is not None else [None] * n, dtype=object)
    idx = np.flatnonzero(ok)
    if len(idx):
        resolved, errors = districting.resolve(conn, geoms[idx], values[idx])
        values[idx] = resolved
        for j, e in errors.items():
            add(idx[j], e.code, "district", e.message, values[idx[j]])
        mine = _district_scope(conn)
        if mine is not None:
            for j in range(len(idx)):
                d = resolved[j]
                if j not in errors and d not in mine:
                    by = "district" if given is not None and given[idx[j]] is not None else "geometry"
                    where = f"该行属于「{d}」" if d else "该行位置不在任何区县内"
                    add(
                        idx[j],
                        "out_of_scope",
                        by,
                        f"超出您的数据权限范围：{where}，您只能导入{'、'.join(mine) or '本辖区'}的数据。",
                    )
    return list(values)


def _district_scope(conn: Connection) -> tuple[str, ...] | None:
    """The districts the transaction's scope is limited to, when it is limited to districts alone; else None."""
    names = ["chengjian.scope", "chengjian.districts"] + [f"chengjian.grants_{g}" for g in scopes.grant_layers()]
    row = conn.execute(
        sa.text("SELECT " + ", ".join(f"current_setting(:n{i}, true)" for i in range(len(names)))),
        {f"n{i}": n for i, n in enumerate(names)},
    ).one()
    if row[0] in (None, "", "all") or any(row[2:]):
        return None
    return tuple(d for d in (row[1] or "").split(",") if d)


def _check_codes(conn: Connection, layer: Layer, codes: list[Any], first_row: int, add: Callable) -> None:
    """Codes must be unique within the file and among the layer's live records."""
    label = layer.attr("code").label
    s = pd.Series(codes, dtype=object)
    dup = s.duplicated(keep="first") & s.notna()
    if dup.any():
        first = {c: i for i, c in reversed(list(s[s.isin(set(s[dup]))].items()))}
        for i in np.flatnonzero(dup.to_numpy()):
            add(
                i,
                "duplicate_code",
                "code",
                f"「{label}」「{codes[i]}」在文件中重复（与第 {first[codes[i]] + first_row} 行相同）。",
                codes[i],
            )
    t = layer.sa_table
    present = s[s.notna() & ~dup].tolist()
    if not present or conn.execute(sa.select(sa.exists().where(t.c.deleted_at.is_(None)))).scalar() is False:
        return
    existing = set(
        conn.execute(
            sa.select(t.c.code).where(
                t.c.deleted_at.is_(None), t.c.code == sa.func.any(sa.literal(present, sa.ARRAY(sa.Text)))
            )
        ).scalars()
    )
    if existing:
        for i in np.flatnonzero(s.isin(existing).to_numpy() & ~dup.to_numpy()):
            add(i, "code_exists", "code", f"「{label}」「{codes[i]}」已存在于图层「{layer.title}」中。", codes[i])


# -- committing --------------------------------------------------------------------------


def commit_import(
    conn: Connection,
    layer: Layer,
    checked: Checked,
    actor: str,
    source: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Store every row, in the caller's transaction; refused when any row was rejected."""
    if not checked.ok:
        raise ImportRejected(checked.report)
    try:
        return copy_features(
            conn,
            layer,
            checked.geoms,
            checked.columns,
            actor,
            action="import",
            source=source,
            progress=progress,
            districts_resolved=True,
        )
    except sa.exc.IntegrityError as e:  # e.g. a code another user stored since the check
        raise ImportFileError(
            "import_conflict",
            "导入时与现有数据冲突（可能有人刚刚录入了相同编号的记录），未导入任何数据，请重试。",
            "file",
            {"reason": str(e.orig)[:300]},
            status=409,
        )


def run_import(
    conn: Connection,
    layer: Layer,
    data: str | os.PathLike | bytes,
    filename: str | None,
    crs: str | None = "EPSG:4326",
    repair: bool = False,
    lon: str | None = None,
    lat: str | None = None,
    commit: bool = False,
    actor: str = "system",
    progress: Callable[[int], None] | None = None,
    margin: float = 0.1,
) -> dict:
    """Read, check and (when ``commit``) store; returns the report, with ``committed`` after a commit."""
    src = read_file(data, filename, layer, crs, lon, lat)
    checked = check(conn, layer, src, repair=repair, margin=margin)
    if commit:
        checked.report["committed"] = commit_import(conn, layer, checked, actor, src.filename, progress)
    return checked.report


# -- command line ------------------------------------------------------------------------


def summary_text(report: dict) -> str:
    """The report in Chinese, for the terminal."""
    lines = [
        f"文件：{report['file']}（{FORMATS.get(report['format'], report['format'])}），"
        f"图层：{report['layer_title']}（{report['layer']}），坐标系：{report['crs']}"
        + ("（文件自带）" if report["crs_from_file"] else ""),
        f"共 {report['rows']} 行：通过 {report['accepted']} 行，未通过 {report['rejected']} 行。",
    ]
    if report["unknown_columns"]:
        lines.append(f"未识别的列（已忽略）：{'、'.join(report['unknown_columns'])}")
    for e in report["errors"]:
        lines.append(f"  第 {e['row']} 行  {e['message']}  [{e['field']}: {e['code']}]")
    if report["errors_truncated"]:
        lines.append(f"  ……共 {report['errors_total']} 条问题，仅列出前 {len(report['errors'])} 条。")
    if report["repaired"]:
        lines.append(f"已修复 {report['repaired_total']} 行无效几何图形（--make-valid）：")
    for r in report["repaired"]:
        lines.append(f"  第 {r['row']} 行  {r['message']}")
    if report["repaired_total"] > len(report["repaired"]):
        lines.append(f"  ……共修复 {report['repaired_total']} 行，仅列出前 {len(report['repaired'])} 行。")
    if report.get("heights_ignored"):
        lines.append(
            f"KML 中 {report['heights_ignored']} 个要素的高程按其高度模式（clampToGround，贴地）不起作用，未存储高程。"
        )
    return "\n".join(lines)
