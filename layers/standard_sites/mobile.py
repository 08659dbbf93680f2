"""The phone web app of the standardized construction sites (标化工地, SPEC ST-26): ``/m`` (the app shell,
web/mobile/index.html), ``/m/manifest.webmanifest`` (installable as a PWA), ``/m/sw.js`` (the service worker that
caches the shell for an offline start; never API responses) and ``/m/static/…`` (its scripts, styles and icons).

The app talks to the ordinary ``/api/st/…`` endpoints with the browser session; nothing here touches the database.
Files are served as the map page's are (api/web.py): gzipped when accepted, strong ETags, always revalidated.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.errors import ApiError
from api.web import APP_CACHE, file_response

router = APIRouter(tags=["mobile"])

MOBILE = Path(__file__).resolve().parent / "web" / "mobile"  # the module's own phone app
MOBILE_STATIC = MOBILE / "static"
# The app's scope is "/m" (the start URL itself, not only "/m/…"): wider than the script's directory "/m/".
SW_SCOPE = "/m"


@router.get("/m", response_class=HTMLResponse, include_in_schema=False)
def shell(request: Request) -> Response:
    return file_response(request, MOBILE / "index.html", APP_CACHE)


@router.get("/m/manifest.webmanifest", include_in_schema=False)
def manifest(request: Request) -> Response:
    response = file_response(request, MOBILE / "manifest.webmanifest", APP_CACHE)
    response.headers["Content-Type"] = "application/manifest+json; charset=utf-8"
    return response


@router.get("/m/sw.js", include_in_schema=False)
def service_worker(request: Request) -> Response:
    response = file_response(request, MOBILE / "sw.js", APP_CACHE)
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    response.headers["Service-Worker-Allowed"] = SW_SCOPE
    return response


@router.get("/m/static/{path:path}", include_in_schema=False)
def static(path: str, request: Request) -> Response:
    target = (MOBILE_STATIC / path).resolve()
    if not target.is_relative_to(MOBILE_STATIC) or not target.is_file():
        raise ApiError(404, "not_found", "请求的文件不存在。", "path", {"path": path})
    return file_response(request, target, APP_CACHE)
