"""The handled-matter register's back-office page at ``/registers/matters`` (web/matters/ in this module): the
cross-module list with its filters, paging and Excel export; each matter links to its record page. Everything it
shows comes from ``/api/registers/matters`` with the browser session."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response

from api.errors import ApiError
from api.web import APP_CACHE, file_response

PAGES_DIR = Path(__file__).resolve().parent / "web" / "matters"

router = APIRouter(include_in_schema=False)


@router.get("/registers/matters")
def matters_page(request: Request) -> Response:
    return file_response(request, PAGES_DIR / "index.html", APP_CACHE)


@router.get("/registers/matters/{path:path}")
def matters_file(path: str, request: Request) -> Response:
    target = (PAGES_DIR / (path or "index.html")).resolve()
    if not target.is_relative_to(PAGES_DIR) or not target.is_file():
        raise ApiError(404, "not_found", "请求的文件不存在。", "path", {"path": path})
    return file_response(request, target, APP_CACHE)
