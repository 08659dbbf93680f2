"""``/api/geofence``: electronic fence checks (one point, or many in one call). The rules are in geo/geofence.py."""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from fastapi import APIRouter, Body, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, Strict, TypeAdapter, ValidationError
from sqlalchemy import Connection
from typing_extensions import TypedDict

from api.auth import Principal, principal
from api.deps import db_read, get_layer
from api.errors import ApiError, status_of
from geo import geofence
from geo.crs import normalize as crs_name
from geo.layer.registry import Layer, registry
from geo.settings import get_settings

router = APIRouter(prefix="/api/geofence", tags=["geofence"])

ID = Field(None, ge=1, le=2**63 - 1)
ID_RANGE = Field(ge=1, le=2**63 - 1)


# Coordinates are JSON numbers: text ("120.1") or a boolean is refused, never converted.
Number = Annotated[float, Strict()]


class Check(BaseModel):
    model_config = ConfigDict(extra="forbid")
    layer: str
    feature_id: int | None = ID
    site_id: int | None = ID
    lon: Number
    lat: Number
    crs: str | None = None
    accuracy_m: Number | None = None


# Batch items are TypedDicts: validated as plain dicts, four times faster than models at 100,000 items.
class BatchCheck(TypedDict):
    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
    feature_id: NotRequired[Annotated[int | None, ID_RANGE]]
    site_id: NotRequired[Annotated[int | None, ID_RANGE]]
    lon: Number
    lat: Number
    accuracy_m: NotRequired[Number | None]
    ref: NotRequired[str | int | None]


class BatchPoint(TypedDict):
    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
    lon: Number
    lat: Number
    accuracy_m: NotRequired[Number | None]
    ref: NotRequired[str | int | None]


CHECKS = TypeAdapter(list[BatchCheck])
POINTS = TypeAdapter(list[BatchPoint])


def _fence_layer(layer_id: Any, who: Principal) -> Layer:
    if not isinstance(layer_id, str) or not layer_id:
        what = "缺少必填参数「layer」。" if layer_id in (None, "") else "参数「layer」应为图层标识（字符串）。"
        raise ApiError(422, "request_invalid", what, "layer")
    layer = get_layer(layer_id, who)  # 404 unknown, 403 without view permission
    try:
        geofence.require_fence_layer(layer)
    except geofence.GeofenceError as e:
        usable = [lyr.id for lyr in registry.all() if geofence.is_fence_layer(lyr) and who.can_view(lyr)]
        raise ApiError(status_of(e), e.code, e.message, e.field, {**e.detail, "fence_layers": usable})
    return layer


def _api_error(e: geofence.GeofenceError, items: str | None = None) -> ApiError:
    """The service's error in the API shape; in a batch the field and message name the item."""
    if items is None or "index" not in e.detail:
        detail = {k: v for k, v in e.detail.items() if k not in ("index", "error_count", "errors")}
        return ApiError(status_of(e), e.code, e.message, e.field, detail)
    i, count = e.detail["index"], e.detail.get("error_count", 1)
    more = f"（共 {count} 项有误）" if count > 1 else ""
    return ApiError(status_of(e), e.code, f"第 {i + 1} 项：{e.message}{more}", f"{items}[{i}].{e.field}", e.detail)


def _settings_echo() -> dict:
    s = get_settings()
    return {
        "tolerance_base_m": s.geofence_tolerance_m,
        "accuracy_cap_m": s.geofence_accuracy_cap_m,
        "tolerance_rule": "tolerance_m = tolerance_base_m + min(accuracy_m, accuracy_cap_m)",
    }


@router.post("/check")
def check(
    body: Check, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    """Is the point inside the fence (``feature_id``, or all fences of ``site_id``), and how far from its edge."""
    layer = _fence_layer(body.layer, who)
    try:
        out = geofence.check(conn, layer, body.lon, body.lat, body.feature_id, body.site_id, body.crs, body.accuracy_m)
    except geofence.GeofenceError as e:
        raise _api_error(e)
    row = out.rows()[0]
    return {
        "layer": layer.id,
        **row,
        "accuracy_m": body.accuracy_m or 0.0,
        "lon": round(float(out.points.lon[0]), 7),
        "lat": round(float(out.points.lat[0]), 7),
        "crs": crs_name(body.crs),
        "checked_at": out.checked_at.isoformat(),
        **_settings_echo(),
    }


@router.post("/check-batch")
def check_batch(
    body: Any = Body(...), who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> JSONResponse:
    """Many checks in one call.

    ``{layer, crs, checks: [{feature_id | site_id, lon, lat, accuracy_m, ref}]}``: each point against the fence
    it names, answered exactly as ``/check`` would. ``{layer, crs, points: [{lon, lat, accuracy_m, ref}]}``:
    each point against every fence of the layer (spatial index): the fences within tolerance, nearest first,
    and the best one (``fence_id``/``distance_m``; the nearest fence when none is within tolerance).
    """
    if not isinstance(body, dict):
        raise ApiError(422, "request_invalid", "请求内容应为对象：{layer, crs, checks} 或 {layer, crs, points}。")
    unknown = sorted(set(body) - {"layer", "crs", "checks", "points"})
    if unknown:
        raise ApiError(422, "request_invalid", f"未知参数「{unknown[0]}」。", unknown[0])
    layer = _fence_layer(body.get("layer"), who)
    items = "checks" if "checks" in body else "points"
    if ("checks" in body) == ("points" in body):
        raise ApiError(
            422, "request_invalid", "请给出 checks（逐点指定围栏）或 points（对整层围栏检索）之一。", "checks"
        )
    raw = body[items]
    crs = body.get("crs")
    if not isinstance(raw, list) or (crs is not None and not isinstance(crs, str)):
        field = items if not isinstance(raw, list) else "crs"
        raise ApiError(422, "request_invalid", f"参数「{field}」格式不正确。", field)
    limit = get_settings().geofence_max_batch
    if len(raw) > limit:
        raise ApiError(
            413,
            "batch_too_large",
            f"一次最多检查 {limit} 个点，本次 {len(raw)} 个，请分批提交。",
            items,
            {"count": len(raw), "max": limit},
        )
    try:
        parsed = (CHECKS if items == "checks" else POINTS).validate_python(raw)
    except ValidationError as e:
        first = e.errors()[0]
        loc = [str(x) for x in first["loc"]]
        field = f"{items}[{loc[0]}]" + ("." + ".".join(loc[1:]) if len(loc) > 1 else "")
        raise ApiError(
            422,
            "request_invalid",
            f"参数「{field}」格式不正确。",
            field,
            {"errors": [{"loc": x["loc"], "type": x["type"], "msg": x["msg"]} for x in e.errors()[:20]]},
        )
    lon = [c["lon"] for c in parsed]
    lat = [c["lat"] for c in parsed]
    acc = [c.get("accuracy_m") for c in parsed]
    try:
        if items == "checks":
            out = geofence.check(
                conn,
                layer,
                lon,
                lat,
                [c.get("feature_id") for c in parsed],
                [c.get("site_id") for c in parsed],
                crs,
                acc,
            )
        else:
            out = geofence.locate(conn, layer, lon, lat, crs, acc)
    except geofence.GeofenceError as e:
        raise _api_error(e, items)
    rows = out.rows()
    for row, c in zip(rows, parsed):
        row["ref"] = c.get("ref")
    return JSONResponse(
        {
            "layer": layer.id,
            "crs": crs_name(crs),
            "mode": items,
            "count": len(rows),
            "inside_count": int(out.inside.sum()),
            "checked_at": out.checked_at.isoformat(),
            **_settings_echo(),
            "results": rows,
        }
    )
