"""The map page: ``/`` (webmap/index.html), ``/static/…`` (its scripts, styles and vendored libraries),
``/map/style.json`` (the MapLibre style for the caller's layers), ``/map/layers.json`` (fields, legend and
edit rights for the panel, popups and forms), ``/map/labels/…`` (label points of districts and townships)
and ``/map/glyphs/…`` (label glyphs).

Everything the page needs is served from here: the intranet has no CDN and no internet glyph server.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from string import Template

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, get_layer
from api.errors import ApiError
from geo import modules
from geo.layer.registry import Layer, registry
from tiles.style import build_style, legend, point_labels, ring
from webmap import glyphs

router = APIRouter(tags=["map"])

WEBMAP = Path(__file__).resolve().parent.parent / "webmap"
STATIC = WEBMAP / "static"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".pbf": "application/x-protobuf",
}
COMPRESSIBLE = {".html", ".js", ".mjs", ".css", ".json", ".svg", ".txt", ".pbf"}
# Vendored libraries change only with webmap/vendor.sh: cache for a day. Our own files: always revalidate.
VENDOR_CACHE = "public, max-age=86400"
APP_CACHE = "no-cache"
GLYPH_RANGE = re.compile(r"^(\d+)-(\d+)$")


@lru_cache(maxsize=256)
def _load(path: Path, mtime_ns: int) -> tuple[bytes, bytes | None, str]:
    """(body, gzipped body or None, strong ETag) of a file, cached until it changes."""
    body = path.read_bytes()
    packed = gzip.compress(body, 6, mtime=0) if path.suffix in COMPRESSIBLE and len(body) > 1024 else None
    return body, packed, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def file_response(request: Request, path: Path, cache_control: str) -> Response:
    """The file, gzipped when the client accepts it (its own strong ETag), 304 when the client has it."""
    body, packed, etag = _load(path, path.stat().st_mtime_ns)
    return _send(request, body, packed, etag, MEDIA_TYPES.get(path.suffix, "application/octet-stream"), cache_control)


def _send(request: Request, body: bytes, packed: bytes | None, etag: str, media: str, cache_control: str) -> Response:
    zipped = packed is not None and "gzip" in request.headers.get("accept-encoding", "")
    if zipped:
        etag = etag[:-1] + '-gz"'
    headers = {"ETag": etag, "Cache-Control": cache_control, "Vary": "Accept-Encoding"}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    if zipped:
        return Response(packed, media_type=media, headers={**headers, "Content-Encoding": "gzip"})
    return Response(body, media_type=media, headers=headers)


class HtmlPage:
    """A page rendered once (from a template), served like a file: gzipped, its strong ETag, 304 when the client
    has it."""

    def __init__(self, text: str) -> None:
        self.body = text.encode("utf-8")
        self.packed = gzip.compress(self.body, 6, mtime=0)
        self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'

    @classmethod
    def from_template(cls, path: Path, **values: str) -> HtmlPage:
        """``path``'s ``$name`` placeholders replaced by ``values`` (HTML-escaped)."""
        escaped = {k: html.escape(v) for k, v in values.items()}
        return cls(Template(path.read_text(encoding="utf-8")).substitute(escaped))

    def response(self, request: Request) -> Response:
        return _send(request, self.body, self.packed, self.etag, MEDIA_TYPES[".html"], APP_CACHE)


REGISTER_SHELL = WEBMAP / "console" / "register.html"


@dataclass(frozen=True)
class RegisterShell:
    """The page of a register's console, from the one shell (``webmap/console/register.html``): the top bar, the
    sign-in card (its form drawn by the page's script into ``#login-form``), the no-permission card naming
    ``permission``, and ``#app`` with ``#list`` (after an optional ``note``) and, with ``detail``, an empty
    ``#detail`` section. ``style`` and ``script`` are the page's own files, served beside it."""

    name: str  # 企业库: the title, 登录企业库, 没有查看企业库的权限
    permission: str  # the Chinese title of the permission the page needs
    style: str
    script: str
    heading: str | None = None  # the top bar's title (default 数据中心 · <name>)
    note: str | None = None
    detail: bool = False

    def render(self, base: str) -> bytes:
        note = f'      <p class="note">{html.escape(self.note)}</p>\n' if self.note else ""
        detail = '      <section id="detail" class="detail" hidden></section>\n' if self.detail else ""
        text = Template(REGISTER_SHELL.read_text(encoding="utf-8")).substitute(
            name=html.escape(self.name),
            permission=html.escape(self.permission),
            base=base,
            style=self.style,
            script=self.script,
            heading=html.escape(self.heading or f"数据中心 · {self.name}"),
            note=note,
            detail=detail,
        )
        return text.encode("utf-8")


def page_router(path: str, folder: Path, page: str | RegisterShell = "index.html") -> APIRouter:
    """A module's back-office page (the registers' consoles): ``path`` (and ``path/``) answers ``folder/page``, or the
    register shell ``page`` describes; ``path/<file>`` the page's own scripts and styles from ``folder`` (nothing
    outside it: 404); always revalidated; left out of the API description. A module's ``pages.py`` sets
    ``router = page_router(...)``."""
    root = folder.resolve()
    pages = APIRouter(include_in_schema=False)
    if isinstance(page, RegisterShell):
        shell = HtmlPage(page.render(path).decode("utf-8"))

        def serve(request: Request) -> Response:
            return shell.response(request)

    else:
        own = root / page

        def serve(request: Request) -> Response:
            return file_response(request, own, APP_CACHE)

    @pages.get(path)
    def module_page(request: Request) -> Response:
        return serve(request)

    @pages.get(path + "/{file:path}")
    def module_file(file: str, request: Request) -> Response:
        if not file:
            return serve(request)
        target = (root / file).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            raise ApiError(404, "not_found", "请求的文件不存在。", "path", {"path": file})
        return file_response(request, target, APP_CACHE)

    return pages


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index(request: Request) -> Response:
    return file_response(request, WEBMAP / "index.html", APP_CACHE)


SWAGGER_UI = "/static/vendor/swagger-ui-dist"  # vendored from npm by webmap/vendor.sh


@router.get("/api/docs", include_in_schema=False, name="swagger_ui_html")  # the name OGC links to
def api_docs() -> HTMLResponse:
    """Swagger UI over ``/api/openapi.json``, every file from this server."""
    return get_swagger_ui_html(
        openapi_url="/api/openapi.json",
        title="城建 GIS 平台 · API",
        swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
        swagger_favicon_url="data:,",
    )


@router.get("/docs", include_in_schema=False)
def docs() -> RedirectResponse:
    return RedirectResponse("/api/docs")


@router.get("/static/{path:path}", include_in_schema=False)
def static(path: str, request: Request) -> Response:
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC) or not target.is_file():
        raise ApiError(404, "not_found", "请求的文件不存在。", "path", {"path": path})
    vendored = target.is_relative_to(STATIC / "vendor")
    return file_response(request, target, VENDOR_CACHE if vendored else APP_CACHE)


@router.get("/map/style.json")
def style(request: Request, who: Principal = Depends(principal)) -> JSONResponse:
    """The MapLibre style of the layers the caller may view (tiles and glyphs on this server)."""
    layers = [layer for layer in registry.all() if who.can_view(layer)]
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        build_style(layers, base), headers={"Cache-Control": "no-cache", "Vary": "Cookie, Authorization"}
    )


def _reference(layer: Layer, name: str) -> str | None:
    """The layer an ``<x>_id`` attribute points at (``site_id`` → ``sites``), for the form's picker."""
    if not name.endswith("_id"):
        return None
    target = registry.get(name[:-3] + "s")
    return target.id if target else None


def layer_config(layer: Layer, who: Principal) -> dict:
    """What the page needs about a layer beyond the style: fields for popups and forms, and what it may do."""
    draw = {"line": "linestring", "fill": "polygon"}.get(layer.kind) if not layer.reference else None
    return {
        "id": layer.id,
        "title": layer.title,
        "group": layer.group,
        "order": layer.order,
        "kind": layer.kind,
        "geometry_type": layer.geometry,
        "label": layer.label,
        "popup": list(layer.popup),
        "color_by": layer.style.color_by,
        "color_by_label": layer.attr(layer.style.color_by).label if layer.style.color_by else None,
        "legend": legend(layer),
        "ring": ring(layer),
        "has_district": "district" in layer.attr_names,
        "editable": who.can(layer.edit),
        "exportable": who.authenticated and who.can(layer.export_permission),  # 我的任务: export as a task
        "draw": draw,
        "empty_hint": layer.empty_hint or None,
        "fields": [
            {
                "name": a.name,
                "label": a.label,
                "type": a.type,
                "required": a.required,
                "choices": list(a.choices) if a.choices else None,
                "minimum": a.minimum,
                "maximum": a.maximum,
                "max_length": a.max_length,
                "writable": not a.read_only,
                "ref": _reference(layer, a.name),
            }
            for a in layer.attrs
        ],
    }


@router.get("/map/layers.json")
def layers_config(who: Principal = Depends(principal)) -> JSONResponse:
    """The layer panel, popups and edit forms of the page: the caller's layers in legend order."""
    layers = [layer_config(layer, who) for layer in registry.all() if who.can_view(layer)]
    return JSONResponse({"layers": layers}, headers={"Cache-Control": "no-cache", "Vary": "Cookie, Authorization"})


@router.get("/api/pages", summary="菜单：当前用户可打开的各模块页面（按分组）")
def menu(who: Principal = Depends(principal)) -> JSONResponse:
    """The modules' pages (``geo.modules.pages``) the caller may open, for the map's and the consoles' menus."""
    items = [
        {"path": p.path, "title": p.title, "group": p.group}
        for p in modules.pages()
        if p.permission is None or who.can(p.permission)
    ]
    return JSONResponse({"pages": items}, headers={"Cache-Control": "no-cache", "Vary": "Cookie, Authorization"})


@router.get("/map/labels/{layer_id}.geojson")
def label_points(
    layer: Layer = Depends(get_layer), conn: Connection = Depends(db_read, scope="function")
) -> JSONResponse:
    """One label point per area of an administrative layer (the centre of its largest inscribed circle)."""
    if not point_labels(layer):
        raise ApiError(404, "labels_not_found", f"图层「{layer.title}」没有标注点。", "layer")
    rows = conn.execute(
        sa.text(
            f"SELECT id, {layer.label}, ST_AsGeoJSON((ST_MaximumInscribedCircle(geom)).center, 6) "
            f"FROM {layer.table} WHERE deleted_at IS NULL ORDER BY id"
        )
    )
    features = [
        {"type": "Feature", "id": fid, "geometry": json.loads(point), "properties": {"id": fid, layer.label: label}}
        for fid, label, point in rows
    ]
    return JSONResponse({"type": "FeatureCollection", "features": features}, headers={"Cache-Control": "no-cache"})


@router.get("/map/glyphs/{fontstack}/{glyph_range}.pbf")
def glyph_range(fontstack: str, glyph_range: str, request: Request) -> Response:
    """A range of 256 glyphs: the vendored SDF glyphs where we have them, an empty range otherwise."""
    m = GLYPH_RANGE.match(glyph_range)
    start, end = (int(m.group(1)), int(m.group(2))) if m else (-1, -1)
    if start < 0 or start % 256 or end != start + 255 or end > 0xFFFF:
        raise ApiError(
            404,
            "glyph_range_not_found",
            "字形范围应为 0-255、256-511 这样的 256 个码位。",
            "range",
            {"range": glyph_range},
        )
    path = glyphs.range_path(start)
    if path.is_file():
        return file_response(request, path, VENDOR_CACHE)
    return Response(
        glyphs.empty_range(fontstack, start),
        media_type="application/x-protobuf",
        headers={"Cache-Control": VENDOR_CACHE},
    )
