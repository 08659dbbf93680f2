"""The pages of the farmhouse overview and archives: ``/villages/overview`` and ``/villages/archives`` (files under
``web/``: ``overview.*``, ``archives.*``). Public files, left out of the API description; everything they show comes
from ``/api/villages/…`` with the browser session."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response

from api.errors import ApiError
from api.web import APP_CACHE, file_response

PAGES_DIR = Path(__file__).resolve().parent / "web"
PAGES = {"overview": "overview.html", "archives": "archives.html"}

router = APIRouter(include_in_schema=False)


@router.get("/villages/overview")
def overview_page(request: Request) -> Response:
    return file_response(request, PAGES_DIR / PAGES["overview"], APP_CACHE)


@router.get("/villages/archives")
def archives_page(request: Request) -> Response:
    return file_response(request, PAGES_DIR / PAGES["archives"], APP_CACHE)


def _file(page: str, name: str, request: Request) -> Response:
    """A page's own script or style (``/villages/overview/overview.js``)."""
    target = (PAGES_DIR / name).resolve()
    if not name.startswith(page + ".") or not target.is_relative_to(PAGES_DIR) or not target.is_file():
        raise ApiError(404, "not_found", "请求的文件不存在。", "path", {"path": f"{page}/{name}"})
    return file_response(request, target, APP_CACHE)


@router.get("/villages/overview/{name}")
def overview_file(name: str, request: Request) -> Response:
    return _file("overview", name, request)


@router.get("/villages/archives/{name}")
def archives_file(name: str, request: Request) -> Response:
    return _file("archives", name, request)
