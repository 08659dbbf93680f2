"""The thematic pages (web/ in this module): the editor ``/thematic/edit`` (back office, ``thematic.edit``), the
viewer ``/thematic/{slug}`` (a shareable URL; ``?print=1`` is the export layout) and the big screen ``/screen/map``.
Public pages left out of the API description: what they show comes from ``/api/thematic`` with the browser's
session, so each viewer sees what its data scope holds.

The editor is a page of its own rather than a tab of ``/admin``: the back office's tabs are a fixed list in
``webmap/admin/js/main.js`` with no place for a module to add one, and a module touches no file outside its folder."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response

from api.errors import ApiError
from api.web import APP_CACHE, file_response

WEB = Path(__file__).resolve().parent / "web"

router = APIRouter(include_in_schema=False)


def _file(request: Request, path: str) -> Response:
    target = (WEB / path).resolve()
    if not target.is_relative_to(WEB) or not target.is_file():
        raise ApiError(404, "not_found", "请求的文件不存在。", "path", {"path": path})
    return file_response(request, target, APP_CACHE)


@router.get("/thematic/edit")
def editor(request: Request) -> Response:
    return _file(request, "edit.html")


@router.get("/thematic/static/{path:path}")
def static(path: str, request: Request) -> Response:
    return _file(request, path)


@router.get("/thematic/{slug}")
def viewer(slug: str, request: Request) -> Response:
    return _file(request, "viewer.html")


@router.get("/screen/map")
def screen(request: Request) -> Response:
    return _file(request, "screen.html")
