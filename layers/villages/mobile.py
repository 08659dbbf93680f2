"""The construction part's pages (web/ in this module): the PC workbench ``/villages/construction`` (VT-02) and the
phone page ``/m/villages`` (VT-14: township inspectors record inspections on site; county staff read their county's
reports and statistics). Public files, left out of the API description; what they show comes from
``/api/villages/construction/…`` with the browser session. The phone page lives under the standardized sites' app
scope ``/m`` but is not part of its cached shell: its own service worker (``web/mobile.sw.js``, scope
``/m/villages``) keeps the page for an offline start, and its script keeps the offline queue (IndexedDB)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response

from api.errors import ApiError
from api.web import APP_CACHE, file_response
from geo.modules import Page, pages

PAGES_DIR = Path(__file__).resolve().parent / "web"

router = APIRouter(include_in_schema=False)
SW_SCOPE = "/m/villages"

pages(Page("/m/villages", "农房巡查（手机）", "智慧村镇", "farmhouse.view", order=42))


def _file(path: str, prefix: str, request: Request) -> Response:
    target = (PAGES_DIR / path).resolve()
    if not target.is_relative_to(PAGES_DIR) or not target.is_file() or not target.name.startswith(prefix):
        raise ApiError(404, "not_found", "请求的文件不存在。", "path", {"path": path})
    return file_response(request, target, APP_CACHE)


@router.get("/villages/construction")
def construction_page(request: Request) -> Response:
    return file_response(request, PAGES_DIR / "construction.html", APP_CACHE)


@router.get("/villages/construction/{path:path}")
def construction_file(path: str, request: Request) -> Response:
    """The workbench's script and style (``/villages/construction`` itself is the page)."""
    return _file(path, "construction.", request)


@router.get("/m/villages")
def mobile_page(request: Request) -> Response:
    return file_response(request, PAGES_DIR / "mobile.html", APP_CACHE)


@router.get("/m/villages/{path:path}")
def mobile_file(path: str, request: Request) -> Response:
    """The phone page's script, style and service worker (its scope is the page itself, ``/m/villages``: wider than
    the script's folder, hence the header)."""
    response = _file(path, "mobile.", request)
    if path == "mobile.sw.js":
        response.headers["Content-Type"] = "text/javascript; charset=utf-8"
        response.headers["Service-Worker-Allowed"] = SW_SCOPE
    return response
