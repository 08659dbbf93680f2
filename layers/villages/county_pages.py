"""The county interfaces' page at ``/villages/county`` (web/county.*): the counties' interface state, the push log
and the on-demand archive fetch. Public files, left out of the API description; everything they show comes from
``/api/villages/county/…`` with the browser session."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response

from api.web import APP_CACHE, file_response
from geo.modules import Page, pages

WEB = Path(__file__).resolve().parent / "web"

router = APIRouter(include_in_schema=False)
pages(Page("/villages/county", "区县农房接口", "智慧村镇", "farmhouse.view", order=58))


@router.get("/villages/county")
def county_page(request: Request) -> Response:
    return file_response(request, WEB / "county.html", APP_CACHE)


@router.get("/villages/county.js")
def county_script(request: Request) -> Response:
    return file_response(request, WEB / "county.js", APP_CACHE)
