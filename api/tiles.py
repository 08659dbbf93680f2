"""``/tiles``: Mapbox Vector Tiles of every layer (one or several per tile) and their TileJSON."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from api.auth import Principal, has_credentials, principal
from api.deps import db_read, get_layer
from api.errors import ApiError
from geo.layer import store
from geo.layer.registry import Layer, registry
from geo.validate import HANGZHOU_BBOX
from tiles import service, sql
from tiles.tilejson import tilejson

router = APIRouter(tags=["tiles"])

MVT = "application/vnd.mapbox-vector-tile"
# Revalidate every time (the ETag makes that a 304); private: tiles depend on who asks.
CACHE_CONTROL = "private, no-cache"


def source_layers(ids: str, who: Principal) -> list[Layer]:
    """``a,b,c`` -> layers, each known (404) and visible to ``who`` (403), before any cache lookup."""
    names = [n.strip() for n in ids.split(",")]
    if len(set(names)) != len(names) or "" in names:
        raise ApiError(400, "invalid_layers", "图层列表不正确：图层不能为空或重复。", "layers", {"layers": ids})
    out = []
    for name in names:
        layer = registry.get(name)
        if layer is None:
            raise ApiError(
                404,
                "layer_not_found",
                f"图层「{name}」不存在。",
                "layer",
                {"layers": [lyr.id for lyr in registry.all()]},
            )
        who.require_view(layer)
        out.append(layer)
    return out


def tile_coordinates(z: str, x: str, y: str) -> tuple[int, int, int]:
    values = []
    for name, raw in (("z", z), ("x", x), ("y", y)):
        if not raw.isascii() or not raw.isdigit():
            raise ApiError(400, "invalid_tile", f"瓦片坐标 {name} 应为非负整数。", name, {name: raw})
        values.append(int(raw))
    zi, xi, yi = values
    if zi > sql.MAX_ZOOM:
        raise ApiError(400, "tile_out_of_range", f"缩放级别 z 应在 0 到 {sql.MAX_ZOOM} 之间。", "z", {"z": zi})
    n = 2**zi
    for name, v in (("x", xi), ("y", yi)):
        if v >= n:
            raise ApiError(
                400,
                "tile_out_of_range",
                f"瓦片坐标 {name} 在缩放级别 {zi} 应在 0 到 {n - 1} 之间。",
                name,
                {"z": zi, name: v},
            )
    return zi, xi, yi


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


async def get_tile(request: Request) -> Response:
    """``/tiles/{layer_ids}/{z}/{x}/{y}.mvt``: a plain Starlette route (FastAPI's parameter and dependency machinery
    cost 15-20 % of the throughput of cache hits here); async, so a hit never leaves the event loop."""
    p = request.path_params
    # A session lookup is a database round trip: off the event loop. Anonymous principals are cached in memory.
    who = await run_in_threadpool(principal, request) if has_credentials(request) else principal(request)
    layers = source_layers(p["layer_ids"], who)
    z, x, y = tile_coordinates(p["z"], p["x"], p["y"])
    tile, hit = await service.fetch(layers, z, x, y, who.scope)
    headers = {"ETag": tile.etag, "Cache-Control": CACHE_CONTROL, "X-Tile-Cache": "hit" if hit else "miss"}
    if _matches(request.headers.get("if-none-match"), tile.etag):
        return Response(status_code=304, headers=headers)
    return Response(tile.data, media_type=MVT, headers=headers)


router.add_route("/tiles/{layer_ids}/{z}/{x}/{y}.mvt", get_tile, methods=["GET"], name="tile")


@router.get("/tiles/{layer_id}.json")
def get_tilejson(
    request: Request, layer: Layer = Depends(get_layer), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    bounds = store.extent(conn, layer) or HANGZHOU_BBOX
    return tilejson(layer, str(request.base_url), bounds)
