"""``/api/layers``: the registry, and features of every layer (list, get, create, update, delete)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, db_write, get_layer
from api.errors import ApiError, not_found
from geo import crs as crsmod
from geo.layer import store
from geo.layer.attributes import check_properties
from geo.layer.registry import Layer, registry
from geo.settings import get_settings
from geo.validate import check_one

router = APIRouter(prefix="/api/layers", tags=["layers"])

RESERVED = {"bbox", "q", "limit", "offset", "cursor", "sort", "crs", "repair", "make_valid", "f", "format", "version"}


def parse_bbox(raw: str | None) -> tuple[float, float, float, float] | None:
    if not raw:
        return None
    try:
        parts = [float(p) for p in raw.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 4 or not (parts[0] <= parts[2] and parts[1] <= parts[3]):
        raise ApiError(422, "invalid_bbox", "bbox 应为 最小经度,最小纬度,最大经度,最大纬度。", "bbox", {"bbox": raw})
    return tuple(parts)  # type: ignore[return-value]


def build_query(
    layer: Layer, request: Request, limit: int | None, offset: int, cursor: str | None, reserved: set[str] = RESERVED
) -> store.Query:
    s = get_settings()
    params = request.query_params
    raw_filters = {k: v for k, v in params.items() if k not in reserved}
    limit = s.page_size if limit is None else limit
    if not 1 <= limit <= s.max_page_size:
        raise ApiError(422, "invalid_limit", f"limit 应在 1 到 {s.max_page_size} 之间。", "limit")
    if offset < 0:
        raise ApiError(422, "invalid_offset", "offset 不能为负数。", "offset")
    return store.Query(
        bbox=parse_bbox(params.get("bbox")),
        filters=store.parse_filters(layer, raw_filters),
        q=(params.get("q") or "").strip() or None,
        sort=store.parse_sort(layer, params.get("sort")),
        limit=limit,
        offset=offset,
        after_id=store.decode_cursor(cursor) if cursor else None,
    )


def output_crs(raw: str | None) -> str | None:
    """The CRS a read asks its geometries in (``?crs=``), or None for the stored WGS84; unknown ones are refused."""
    if raw is None or not raw.strip():
        return None
    try:
        return crsmod.normalize(raw)
    except crsmod.UnknownCRS:
        raise ApiError(
            422,
            "crs_unsupported",
            "不支持的坐标系，可选：EPSG:4326、EPSG:4490、EPSG:4549、GCJ02。",
            "crs",
            {"crs": raw, "supported": list(crsmod.SUPPORTED)},
        )


def in_crs(features: list[dict], crs: str | None) -> list[dict]:
    """The features with their geometries in ``crs`` (easting first, as GeoJSON and our input); changed in place."""
    if crs is not None:
        for f, g in zip(features, crsmod.to_crs_geojson([f["geometry"] for f in features], crs)):
            f["geometry"] = g
    return features


def etag(feature: dict) -> str:
    return f'"{feature["id"]}-{feature["meta"]["version"]}"'


def expected_version(fid: int, if_match: str | None, body_version: Any) -> int:
    """The version the client last saw: from If-Match (our ETag) or a ``version`` member."""
    if if_match:
        tag = if_match.strip().removeprefix("W/").strip('"')
        try:
            tid, ver = tag.rsplit("-", 1)
            if int(tid) == fid:
                return int(ver)
        except ValueError:
            pass
        raise ApiError(412, "precondition_failed", "If-Match 与该记录不符。", "If-Match", {"if_match": if_match})
    if body_version is None:
        raise ApiError(
            428,
            "version_required",
            "修改或删除记录须提供版本号（If-Match 或 version），以免覆盖他人的修改。",
            "version",
        )
    try:
        return int(body_version)
    except (TypeError, ValueError):
        raise ApiError(422, "invalid_version", "版本号应为整数。", "version")


@contextmanager
def _store_errors(layer: Layer, fid: int) -> Iterator[None]:
    """The store's NotFound / StaleVersion as the API's 404 / 409."""
    try:
        yield
    except store.NotFound:
        raise not_found(f"{layer.title}要素 {fid} ")
    except store.StaleVersion as e:
        raise ApiError(
            409,
            "version_conflict",
            "该记录已被他人修改，请刷新后重试。",
            "version",
            {"current_version": e.current, "your_version": e.given},
        )


def _feature_body(body: Any) -> tuple[Any, dict | None, Any]:
    if not isinstance(body, dict):
        raise ApiError(422, "feature_malformed", "请求内容应为 GeoJSON 要素（Feature）。", None)
    if body.get("type") not in (None, "Feature"):
        raise ApiError(
            422,
            "feature_malformed",
            "请求内容应为 GeoJSON 要素（type 为 Feature）。",
            "type",
            {"type": body.get("type")},
        )
    props = body.get("properties")
    if props is not None and not isinstance(props, dict):
        raise ApiError(422, "feature_malformed", "properties 应为对象。", "properties")
    return body.get("geometry"), props, body.get("version", (body.get("meta") or {}).get("version"))


@router.get("")
def list_layers(who: Principal = Depends(principal)) -> dict:
    return {"layers": [layer.schema() for layer in registry.all() if who.can_view(layer)]}


@router.get("/{layer_id}")
def describe_layer(layer: Layer = Depends(get_layer)) -> dict:
    return layer.schema()


@router.get("/{layer_id}/features")
def list_features(
    request: Request,
    layer: Layer = Depends(get_layer),
    limit: int | None = Query(None),
    offset: int = Query(0),
    cursor: str | None = Query(None),
    crs: str | None = Query(None, description="返回坐标的坐标系：EPSG:4326（默认）、EPSG:4490、EPSG:4549、GCJ02"),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    target = output_crs(crs)
    query = build_query(layer, request, limit, offset, cursor)
    features = in_crs(store.list_features(conn, layer, query), target)
    out: dict[str, Any] = {
        "type": "FeatureCollection",
        "numberMatched": store.count(conn, layer, query),
        "numberReturned": len(features),
        "features": features,
    }
    if target:
        out["crs"] = target
    if len(features) == query.limit and not query.sort:
        out["next_cursor"] = store.encode_cursor(features[-1]["id"])
    return out


@router.get("/{layer_id}/features/{fid}")
def get_feature(
    fid: int,
    response: Response,
    crs: str | None = Query(None, description="返回坐标的坐标系：EPSG:4326（默认）、EPSG:4490、EPSG:4549、GCJ02"),
    layer: Layer = Depends(get_layer),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    target = output_crs(crs)
    with _store_errors(layer, fid):
        feature = store.get_feature(conn, layer, fid)
    response.headers["ETag"] = etag(feature)
    if target:
        in_crs([feature], target)
        feature["crs"] = target
    return feature


@router.post("/{layer_id}/features", status_code=201)
def create_feature(
    request: Request,
    response: Response,
    body: Any = Body(...),
    crs: str | None = None,
    make_valid: bool = Query(False, description="修复无效几何图形（保持图层的几何类型），并在 repair 中报告"),
    repair: bool = Query(False, description="make_valid 的旧名"),
    layer: Layer = Depends(get_layer),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require_edit(layer)
    geometry, props, _ = _feature_body(body)
    geom, repaired = check_one(
        geometry,
        layer.geometry,
        crs,
        make_valid or repair,
        get_settings().max_vertices,
        get_settings().hangzhou_margin_deg,
    )
    clean = check_properties(layer, props)
    feature = store.create(conn, layer, geom, clean, who.user, who.client)
    response.headers["ETag"] = etag(feature)
    response.headers["Location"] = f"/api/layers/{layer.id}/features/{feature['id']}"
    if repaired:
        feature["repair"] = repaired
    return feature


def _update(
    fid: int,
    body: Any,
    crs: str | None,
    repair: bool,
    if_match: str | None,
    partial: bool,
    layer: Layer,
    who: Principal,
    conn: Connection,
    response: Response,
) -> dict:
    who.require_edit(layer)
    geometry, props, body_version = _feature_body(body)
    version = expected_version(fid, if_match, body_version)
    geom = repaired = None
    if geometry is not None or not partial:
        s = get_settings()
        geom, repaired = check_one(geometry, layer.geometry, crs, repair, s.max_vertices, s.hangzhou_margin_deg)
    clean = check_properties(layer, props, partial=partial)
    with _store_errors(layer, fid):
        feature = store.update(conn, layer, fid, version, who.user, geom, clean, who.client)
    response.headers["ETag"] = etag(feature)
    if repaired:
        feature["repair"] = repaired
    return feature


@router.put("/{layer_id}/features/{fid}")
def replace_feature(
    fid: int,
    response: Response,
    body: Any = Body(...),
    crs: str | None = None,
    make_valid: bool = Query(False, description="修复无效几何图形（保持图层的几何类型），并在 repair 中报告"),
    repair: bool = Query(False, description="make_valid 的旧名"),
    if_match: str | None = Header(None),
    layer: Layer = Depends(get_layer),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    return _update(fid, body, crs, make_valid or repair, if_match, False, layer, who, conn, response)


@router.patch("/{layer_id}/features/{fid}")
def patch_feature(
    fid: int,
    response: Response,
    body: Any = Body(...),
    crs: str | None = None,
    make_valid: bool = Query(False, description="修复无效几何图形（保持图层的几何类型），并在 repair 中报告"),
    repair: bool = Query(False, description="make_valid 的旧名"),
    if_match: str | None = Header(None),
    layer: Layer = Depends(get_layer),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    return _update(fid, body, crs, make_valid or repair, if_match, True, layer, who, conn, response)


@router.delete("/{layer_id}/features/{fid}", status_code=204)
def delete_feature(
    fid: int,
    version: int | None = None,
    if_match: str | None = Header(None),
    layer: Layer = Depends(get_layer),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> Response:
    who.require_edit(layer)
    expected = expected_version(fid, if_match, version)
    with _store_errors(layer, fid):
        store.delete(conn, layer, fid, expected, who.user, who.client)
    return Response(status_code=204)
