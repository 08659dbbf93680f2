"""The standardized-site workbench for PC browsers at ``/st`` (web/st/ in this module, SPEC X-04): public pages, left out of the
API description; everything they show comes from ``/api/st/…`` with the browser session."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response

from api.errors import ApiError
from api.web import APP_CACHE, file_response

PAGES_DIR = Path(__file__).resolve().parent / "web" / "st"  # the module's own pages

router = APIRouter(include_in_schema=False)


@router.get("/st")
def st_page(request: Request) -> Response:
    return file_response(request, PAGES_DIR / "index.html", APP_CACHE)


@router.get("/st/{path:path}")
def st_file(path: str, request: Request) -> Response:
    """The page's scripts and styles (``/st/`` itself is the page)."""
    target = (PAGES_DIR / (path or "index.html")).resolve()
    if not target.is_relative_to(PAGES_DIR) or not target.is_file():
        raise ApiError(404, "not_found", "请求的文件不存在。", "path", {"path": path})
    return file_response(request, target, APP_CACHE)
