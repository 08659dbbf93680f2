"""The greenway workbench at ``/greenways`` (web/ in this module): districts fill in and submit their plan, progress
and fund reports; the city accepts or returns them and reads the summaries. Public files, left out of the API
description; everything they show comes from ``/api/greenways/…`` with the browser session."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response

from api.errors import ApiError
from api.web import APP_CACHE, file_response

PAGES_DIR = Path(__file__).resolve().parent / "web"

router = APIRouter(include_in_schema=False)


@router.get("/greenways")
def greenways_page(request: Request) -> Response:
    return file_response(request, PAGES_DIR / "index.html", APP_CACHE)


@router.get("/greenways/{path:path}")
def greenways_file(path: str, request: Request) -> Response:
    """The page's scripts and styles (``/greenways`` itself is the page)."""
    target = (PAGES_DIR / (path or "index.html")).resolve()
    if not target.is_relative_to(PAGES_DIR) or not target.is_file():
        raise ApiError(404, "not_found", "请求的文件不存在。", "path", {"path": path})
    return file_response(request, target, APP_CACHE)
