"""OGC API - Features, Part 1: Core and Part 2: CRS by reference, with GeoJSON, at ``/ogc`` (one collection per
visible layer).

Desktop GIS (QGIS, GDAL's OAPIF driver) reads the layers from here. Query parameters follow
the standard: ``limit`` (default 1,000 — GDAL before 3.9 asks for 10 a page unless told ``-oo PAGE_SIZE=``; above
the maximum served with the maximum), ``offset``, ``bbox`` (4 or 6 numbers), ``bbox-crs`` and ``crs`` (CRS84, EPSG:4326,
CGCS2000 EPSG:4490, CGCS2000 3-degree Gauss-Krüger CM 120E EPSG:4549, as OGC URIs or ``EPSG:xxxx``; coordinates in
the CRS's own axis order: latitude or northing first for the EPSG ones; the response says ``Content-Crs``),
``datetime`` (refused with 400, never silently ignored: no layer declares a temporal property; a malformed value
is told apart from a well-formed one in the message), and ``?name=value`` on a
layer's filterable attributes. Invalid parameters give 400 in our error shape, as the standard asks; GCJ-02 has no
OGC definition and is refused here (the features API serves it).
Each collection also links (``describedby``) a JSON Schema of its items, so clients get the field
types from the layer declaration rather than guessing them from the first page.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import shapely
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, get_layer
from api.errors import ApiError, not_found
from api.features import parse_bbox
from geo import crs as crsmod
from geo.layer import store
from geo.layer.attributes import AttrError
from geo.layer.registry import Layer, registry
from geo.settings import get_settings
from geo.validate import HANGZHOU_BBOX

router = APIRouter(prefix="/ogc", tags=["ogc"])

TITLE = "城建 GIS 平台"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/"
# The CRSs served: URI -> (our name for it, coordinates northing/latitude first as the CRS defines its axes).
CRSS: dict[str, tuple[str, bool]] = {
    CRS84: (crsmod.WGS84, False),
    EPSG_URI + "4326": (crsmod.WGS84, True),
    EPSG_URI + "4490": (crsmod.CGCS2000, True),
    EPSG_URI + "4549": (crsmod.CGCS2000_GK120, True),
}
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
)
JSON = "application/json"
GEOJSON = "application/geo+json"
SCHEMA = "application/schema+json"
# FastAPI serves an OpenAPI 3.1 document; the oas30 class is therefore not claimed.
OPENAPI = "application/vnd.oai.openapi+json;version=3.1"
FORMATS = {None, "json", "geojson", JSON, GEOJSON}
DEFAULT_LIMIT = 1000  # the standard's examples say 10: a client that follows them makes 100 requests per 1,000 rows
ITEM_PARAMS = {"limit", "offset", "bbox", "bbox-crs", "crs", "datetime", "f"}
GEOMETRY_NAMES = {"Point": "点", "LineString": "线", "MultiLineString": "线", "Polygon": "面", "MultiPolygon": "面"}


def _param(name: str, schema: dict, description: str) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "schema": schema,
        "description": description,
    }


# Read by hand (so a bad value gives 400, not 422) and documented here for the OpenAPI document.
ITEMS_OPENAPI = {
    "parameters": [
        _param(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": 10_000, "default": DEFAULT_LIMIT},
            "每页要素数；超过上限时按上限返回。",
        ),
        _param("offset", {"type": "integer", "minimum": 0, "default": 0}, "跳过的要素数（分页）。"),
        _param(
            "bbox",
            {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
            "范围过滤：默认为 最小经度,最小纬度,最大经度,最大纬度（CRS84）；其他坐标系按其坐标轴顺序。",
        ),
        _param("bbox-crs", {"type": "string", "format": "uri", "enum": list(CRSS)}, "bbox 的坐标系（默认 CRS84）。"),
        _param("crs", {"type": "string", "format": "uri", "enum": list(CRSS)}, "返回坐标的坐标系（默认 CRS84）。"),
        _param("datetime", {"type": "string"}, "时间过滤：图层没有时间属性，带此参数的请求返回 400。"),
        _param("f", {"type": "string", "enum": ["json", "geojson"]}, "返回格式。"),
    ]
}


def _json(content: Any, media_type: str = JSON, crs_uri: str | None = None) -> JSONResponse:
    headers = {"Content-Crs": f"<{crs_uri}>"} if crs_uri else None
    return JSONResponse(content, media_type=media_type, headers=headers)


def _link(href: Any, rel: str, type_: str, title: str | None = None) -> dict:
    out = {"href": str(href), "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def _check_format(request: Request) -> None:
    f = request.query_params.get("f")
    if f not in FORMATS:
        raise ApiError(
            406,
            "not_acceptable",
            f"不支持的格式「{f}」，可用 json 或 geojson。",
            "f",
            {"supported": ["json", "geojson"]},
        )


def _bad(field: str, message: str, value: Any) -> ApiError:
    return ApiError(400, "invalid_parameter", message, field, {"value": value})


def _int(params: Any, name: str, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(name, f"参数「{name}」应为整数。", raw)
    if value < minimum:
        raise _bad(name, f"参数「{name}」不能小于 {minimum}。", raw)
    if maximum is not None and value > maximum:
        raise _bad(name, f"参数「{name}」过大。", raw)
    return value


def _crs(params: Any, name: str) -> str:
    """The CRS URI a ``crs``/``bbox-crs`` parameter names (CRS84 when absent); anything not served is a 400."""
    raw = params.get(name)
    if raw is None or raw == "":
        return CRS84
    value = raw.strip()
    if value.startswith("[") and value.endswith("]"):  # a safe CURIE: [EPSG:4490]
        value = value[1:-1]
    key = value.upper()
    if key.startswith("EPSG:") and key[5:].isdigit():
        value = EPSG_URI + key[5:]
    elif key in ("CRS84", "OGC:CRS84"):
        value = CRS84
    if value in CRSS:
        return value
    try:
        gcj = crsmod.normalize(raw) == crsmod.GCJ02
    except crsmod.UnknownCRS:
        gcj = False
    hint = "GCJ-02 没有 OGC 坐标系定义，OGC 服务不提供；请用 /api/layers 的 crs=GCJ02。" if gcj else ""
    raise ApiError(
        400,
        "crs_unsupported",
        f"不支持的坐标系「{raw}」。{hint}可选：CRS84、EPSG:4326、EPSG:4490（CGCS2000）、EPSG:4549（CGCS2000 高斯-克吕格 120°E）。",
        name,
        {"value": raw, "supported": list(CRSS)},
    )


def _bbox(params: Any) -> tuple[tuple[float, float, float, float], str | None] | None:
    """The bbox as (a WGS84 box, and the exact WGS84 polygon when it was drawn in another CRS), or None."""
    raw = params.get("bbox")
    if raw is None:
        return None
    crs_uri = _crs(params, "bbox-crs")
    parts = raw.split(",")
    if len(parts) == 6:  # minx, miny, minz, maxx, maxy, maxz: the heights do not filter
        parts = parts[0:2] + parts[3:5]
    try:
        box = parse_bbox(",".join(parts))
    except ApiError as e:
        raise ApiError(400, e.code, e.message, e.field, e.detail)
    if not all(math.isfinite(v) for v in box):  # type: ignore[union-attr]
        raise ApiError(400, "invalid_bbox", "bbox 中的坐标应为有限数值。", "bbox", {"bbox": raw})
    name, northing_first = CRSS[crs_uri]
    if crs_uri == CRS84:
        return box, None  # type: ignore[return-value]
    a, b, c, d = box  # type: ignore[misc]
    x0, y0, x1, y1 = (b, a, d, c) if northing_first else (a, b, c, d)
    # The rectangle drawn in that CRS, its edges densified, in WGS84: its envelope serves the index, itself the test.
    ring = shapely.segmentize(shapely.box(x0, y0, x1, y1), max(x1 - x0, y1 - y0) / 64 or 1)
    area = crsmod.transform(ring, name, crsmod.WGS84)
    return tuple(area.bounds), area.wkt  # type: ignore[return-value]


def items_query(layer: Layer, request: Request) -> store.Query:
    """The store query for ``/items``; every bad parameter is a 400 naming it."""
    params = request.query_params
    limit = min(_int(params, "limit", DEFAULT_LIMIT, 1), get_settings().max_page_size)
    offset = _int(params, "offset", 0, 0, maximum=2**62)
    raw_filters = {k: v for k, v in params.items() if k not in ITEM_PARAMS}
    try:
        filters = store.parse_filters(layer, raw_filters)
    except AttrError as e:
        body = e.as_dict()
        raise ApiError(400, body["code"], body["message"], body["field"], body["detail"])
    _refuse_datetime(layer, params.get("datetime"))
    bbox, area = _bbox(params) or (None, None)
    return store.Query(bbox=bbox, area=area, filters=filters or None, limit=limit, offset=offset)


def _in_crs(features: list[dict], crs_uri: str) -> list[dict]:
    name, northing_first = CRSS[crs_uri]
    for f, g in zip(features, crsmod.to_crs_geojson([f["geometry"] for f in features], name, northing_first)):
        f["geometry"] = g
    return features


def _instant(raw: str) -> datetime | None:
    """One end of a ``datetime`` interval (RFC 3339; ``..`` or empty: open), else ValueError."""
    if raw in ("", ".."):
        return None
    t = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _refuse_datetime(layer: Layer, raw: str | None) -> None:
    """``datetime`` cannot filter (no layer has a temporal property): refused with 400, as OGC API allows, rather
    than answered with every feature as if it had filtered."""
    if raw is None:
        return
    parts = raw.split("/")
    try:
        ends = [_instant(p) for p in parts]
        if len(parts) > 2 or ends == [None] or ends == [None, None]:
            raise ValueError
        if len(ends) == 2 and ends[0] and ends[1] and ends[0] > ends[1]:
            raise ValueError
    except ValueError:
        raise _bad(
            "datetime",
            "参数「datetime」格式不正确：应为 RFC 3339 时间或时间段，如 2026-01-01T00:00:00Z 或 2026-01-01T00:00:00Z/..。",
            raw,
        )
    raise _bad("datetime", f"图层「{layer.title}」没有时间属性，不能按时间（datetime）筛选，请去掉该参数。", raw)


def _collection(request: Request, layer: Layer, conn: Connection) -> dict:
    extent = store.extent(conn, layer)
    box = extent or HANGZHOU_BBOX
    description = f"{layer.group}图层「{layer.title}」（{GEOMETRY_NAMES[layer.geometry]}要素）。"
    if extent is None and layer.empty_hint:
        description += layer.empty_hint  # an empty layer says how to fill it
    return {
        "id": layer.id,
        "title": layer.title,
        "description": description,
        "extent": {"spatial": {"bbox": [list(box)], "crs": CRS84}},
        "itemType": "feature",
        "crs": list(CRSS),
        "storageCrs": CRS84,
        "links": [
            _link(request.url_for("ogc_collection", layer_id=layer.id), "self", JSON, layer.title),
            _link(request.url_for("ogc_items", layer_id=layer.id), "items", GEOJSON, f"{layer.title}要素"),
            # Link relations compare case-insensitively (RFC 8288), but GDAL up to at least 3.6 looks for
            # "describedBy" only and other clients for the registered "describedby": both are given.
            *(
                _link(request.url_for("ogc_schema", layer_id=layer.id), rel, SCHEMA, "要素结构（JSON Schema）")
                for rel in ("describedby", "describedBy")
            ),
        ],
    }


def _feature(feature: dict) -> dict:
    """Our store's feature without its ``meta`` member (version and audit columns)."""
    return {
        "type": "Feature",
        "id": feature["id"],
        "geometry": feature["geometry"],
        "properties": feature["properties"],
    }


@router.get("", name="ogc_landing")
def landing(request: Request) -> JSONResponse:
    _check_format(request)
    return _json(
        {
            "title": TITLE,
            "description": "杭州市城乡建设委员会城建 GIS 平台的 OGC API - Features 服务（GeoJSON）。",
            "links": [
                _link(request.url_for("ogc_landing"), "self", JSON, "本页"),
                _link(request.url_for("openapi"), "service-desc", OPENAPI, "接口定义（OpenAPI）"),
                _link(request.url_for("swagger_ui_html"), "service-doc", "text/html", "接口文档"),
                _link(request.url_for("ogc_conformance"), "conformance", JSON, "符合的标准类"),
                _link(request.url_for("ogc_collections"), "data", JSON, "图层列表"),
            ],
        }
    )


@router.get("/conformance", name="ogc_conformance")
def conformance(request: Request) -> JSONResponse:
    _check_format(request)
    return _json({"conformsTo": list(CONFORMANCE)})


@router.get("/collections", name="ogc_collections")
def collections(
    request: Request, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> JSONResponse:
    _check_format(request)
    return _json(
        {
            "links": [_link(request.url_for("ogc_collections"), "self", JSON, "图层列表")],
            "collections": [_collection(request, layer, conn) for layer in registry.all() if who.can_view(layer)],
        }
    )


@router.get("/collections/{layer_id}", name="ogc_collection")
def collection(
    request: Request, layer: Layer = Depends(get_layer), conn: Connection = Depends(db_read, scope="function")
) -> JSONResponse:
    _check_format(request)
    return _json(_collection(request, layer, conn))


@router.get("/collections/{layer_id}/schema", name="ogc_schema")
def schema(request: Request, layer: Layer = Depends(get_layer)) -> JSONResponse:
    """The JSON Schema of one item: clients (GDAL) take the field types from it, not from sample values."""
    _check_format(request)
    return _json(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": str(request.url_for("ogc_schema", layer_id=layer.id)),
            "title": layer.title,
            "type": "object",
            "required": ["type", "geometry", "properties"],
            "properties": {
                "type": {"type": "string", "enum": ["Feature"]},
                "id": {"type": "integer"},
                "geometry": {
                    "title": GEOMETRY_NAMES[layer.geometry],
                    "type": "object",
                    "properties": {"type": {"type": "string", "enum": [layer.geometry]}},
                },
                "properties": layer.schema()["properties"],
            },
        },
        SCHEMA,
    )


@router.get("/collections/{layer_id}/items", name="ogc_items", openapi_extra=ITEMS_OPENAPI)
def items(
    request: Request, layer: Layer = Depends(get_layer), conn: Connection = Depends(db_read, scope="function")
) -> JSONResponse:
    _check_format(request)
    crs_uri = _crs(request.query_params, "crs")
    query = items_query(layer, request)
    features = _in_crs(store.list_features(conn, layer, query), crs_uri)
    matched = store.count(conn, layer, query)
    links = [
        _link(request.url, "self", GEOJSON, "本页"),
        _link(request.url_for("ogc_collection", layer_id=layer.id), "collection", JSON, layer.title),
    ]
    if query.offset + len(features) < matched:
        links.append(
            _link(
                request.url.include_query_params(limit=query.limit, offset=query.offset + query.limit),
                "next",
                GEOJSON,
                "下一页",
            )
        )
    if query.offset > 0:
        links.append(
            _link(
                request.url.include_query_params(limit=query.limit, offset=max(0, query.offset - query.limit)),
                "prev",
                GEOJSON,
                "上一页",
            )
        )
    return _json(
        {
            "type": "FeatureCollection",
            "features": [_feature(f) for f in features],
            "numberMatched": matched,
            "numberReturned": len(features),
            "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "links": links,
        },
        GEOJSON,
        crs_uri,
    )


@router.get("/collections/{layer_id}/items/{fid}", name="ogc_item")
def item(
    fid: str, request: Request, layer: Layer = Depends(get_layer), conn: Connection = Depends(db_read, scope="function")
) -> JSONResponse:
    _check_format(request)
    crs_uri = _crs(request.query_params, "crs")
    missing = not_found(f"{layer.title}要素 {fid} ")
    if (
        not (fid.isascii() and fid.isdigit()) or not 0 < int(fid) < 2**63
    ):  # ids are positive bigints; anything else does not exist
        raise missing
    try:
        feature = store.get_feature(conn, layer, int(fid))
    except store.NotFound:
        raise missing
    out = _feature(_in_crs([feature], crs_uri)[0])
    out["links"] = [
        _link(request.url_for("ogc_item", layer_id=layer.id, fid=fid), "self", GEOJSON, "本要素"),
        _link(request.url_for("ogc_collection", layer_id=layer.id), "collection", JSON, layer.title),
    ]
    return _json(out, GEOJSON, crs_uri)
