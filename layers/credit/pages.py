"""The credit register's back-office page at ``/registers/credit`` (web/credit/ in this module): events with filters
and paging, a subject's credit section (score, history, events with their source records), the import of licences
and penalties with its row-numbered report, and the scoring rule. Everything it shows comes from
``/api/registers/credit`` with the browser session."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response

from api.errors import ApiError
from api.web import APP_CACHE, file_response

PAGES_DIR = Path(__file__).resolve().parent / "web" / "credit"

router = APIRouter(include_in_schema=False)


@router.get("/registers/credit")
def credit_page(request: Request) -> Response:
    return file_response(request, PAGES_DIR / "index.html", APP_CACHE)


@router.get("/registers/credit/{path:path}")
def credit_file(path: str, request: Request) -> Response:
    target = (PAGES_DIR / (path or "index.html")).resolve()
    if not target.is_relative_to(PAGES_DIR) or not target.is_file():
        raise ApiError(404, "not_found", "请求的文件不存在。", "path", {"path": path})
    return file_response(request, target, APP_CACHE)
