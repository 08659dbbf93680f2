"""The personnel register's back-office page at ``/registers/persons`` (web/persons/ in this module): a public
page, left out of the API description; what it shows comes from ``/api/registers/persons`` with the session."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response

from api.errors import ApiError
from api.web import APP_CACHE, file_response

PAGES_DIR = Path(__file__).resolve().parent / "web" / "persons"

router = APIRouter(include_in_schema=False)


@router.get("/registers/persons")
def persons_page(request: Request) -> Response:
    return file_response(request, PAGES_DIR / "index.html", APP_CACHE)


@router.get("/registers/persons/{path:path}")
def persons_file(path: str, request: Request) -> Response:
    """The page's script and style (``/registers/persons`` itself is the page)."""
    target = (PAGES_DIR / (path or "index.html")).resolve()
    if not target.is_relative_to(PAGES_DIR) or not target.is_file():
        raise ApiError(404, "not_found", "请求的文件不存在。", "path", {"path": path})
    return file_response(request, target, APP_CACHE)
