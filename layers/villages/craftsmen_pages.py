"""The craftsmen's workbench at ``/villages/craftsmen`` (``web/craftsmen.*``): list, registration, trainings,
credit events and the merge import with its conflicts. Public files, left out of the API description; what they show
comes from ``/api/villages/craftsmen`` and ``/api/villages/craftsman-merge`` with the browser session."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response

from api.errors import ApiError
from api.web import APP_CACHE, file_response

PAGES_DIR = Path(__file__).resolve().parent / "web"
FILES = ("craftsmen.js", "craftsmen.css")

router = APIRouter(include_in_schema=False)


@router.get("/villages/craftsmen")
def craftsmen_page(request: Request) -> Response:
    return file_response(request, PAGES_DIR / "craftsmen.html", APP_CACHE)


@router.get("/villages/craftsmen/{name}")
def craftsmen_file(name: str, request: Request) -> Response:
    """The page's script and style."""
    if name not in FILES:
        raise ApiError(404, "not_found", "请求的文件不存在。", "path", {"path": name})
    return file_response(request, PAGES_DIR / name, APP_CACHE)
