"""The register's back-office page at ``/registers/projects`` (web/registers/ in this module): list with search,
filters and paging, a project's detail with its stage timeline and linked records, edit, Excel import and export.
Left out of the API description; everything it shows comes from ``/api/registers/projects`` with the browser
session, in the consoles' shared look (``/static/console/``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response

from api.errors import ApiError
from api.web import APP_CACHE, file_response

PAGES_DIR = Path(__file__).resolve().parent / "web" / "registers"

router = APIRouter(include_in_schema=False)


@router.get("/registers/projects")
def projects_page(request: Request) -> Response:
    return file_response(request, PAGES_DIR / "projects.html", APP_CACHE)


@router.get("/registers/projects/{path:path}")
def projects_file(path: str, request: Request) -> Response:
    """The page's script and style (``/registers/projects`` itself is the page)."""
    target = (PAGES_DIR / path).resolve()
    if not path or not target.is_relative_to(PAGES_DIR) or not target.is_file():
        raise ApiError(404, "not_found", "请求的文件不存在。", "path", {"path": path})
    return file_response(request, target, APP_CACHE)
