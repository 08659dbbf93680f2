"""The sewage pages (web/ in this module): ``/sewage`` lists the facilities by online status, ``/sewage/{id}`` is a
facility's page with live charts (server-sent events from ``/api/sewage/facilities/{id}/stream``) and its open
alarms; ``/sewage/alarms`` lists the alarms (filters; acknowledge and close with a note)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response

from api.errors import ApiError
from api.web import APP_CACHE, file_response
from geo.modules import Page, pages

PAGES_DIR = Path(__file__).resolve().parent / "web"

pages(
    Page("/sewage", "污水设施在线监测", "数据中心", "sewage.view", order=60),
    Page("/sewage/alarms", "污水设施告警", "数据中心", "sewage.view", order=61),
)

router = APIRouter(include_in_schema=False)


@router.get("/sewage")
def index(request: Request) -> Response:
    return file_response(request, PAGES_DIR / "index.html", APP_CACHE)


@router.get("/sewage/alarms")
def alarms_page(request: Request) -> Response:
    return file_response(request, PAGES_DIR / "alarms.html", APP_CACHE)


@router.get("/sewage/{plant_id:int}")
def facility_page(plant_id: int, request: Request) -> Response:
    return file_response(request, PAGES_DIR / "facility.html", APP_CACHE)


@router.get("/sewage/static/{name}")
def static(name: str, request: Request) -> Response:
    target = (PAGES_DIR / name).resolve()
    if not target.is_relative_to(PAGES_DIR) or not target.is_file():
        raise ApiError(404, "not_found", "请求的文件不存在。", "name", {"name": name})
    return file_response(request, target, APP_CACHE)
