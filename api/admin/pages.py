"""The back office's pages at ``/admin`` (webmap/admin/): public, left out of the API description."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.errors import ApiError
from api.web import APP_CACHE, WEBMAP, file_response

PAGES_DIR = WEBMAP / "admin"

router = APIRouter(include_in_schema=False)


@router.get("/admin")
def admin_page(request: Request) -> Response:
    return file_response(request, PAGES_DIR / "index.html", APP_CACHE)


@router.get("/admin/{path:path}")
def admin_file(path: str, request: Request) -> Response:
    """The page's scripts and styles (``/admin/`` itself is the page)."""
    target = (PAGES_DIR / (path or "index.html")).resolve()
    if not target.is_relative_to(PAGES_DIR) or not target.is_file():
        raise ApiError(404, "not_found", "请求的文件不存在。", "path", {"path": path})
    return file_response(request, target, APP_CACHE)
