"""The register's back-office page at ``/registers/enterprises`` (``web/enterprises/``): list, search, filters,
detail, edit, merge, import and export, all from ``/api/registers/enterprises`` with the browser session; left out of
the API description."""

from __future__ import annotations

from pathlib import Path

from api.web import RegisterShell, page_router

PAGES_DIR = Path(__file__).resolve().parent / "web" / "enterprises"

router = page_router(
    "/registers/enterprises",
    PAGES_DIR,
    RegisterShell(
        name="企业库",
        permission="查看数据中心名录库",
        style="enterprises.css",
        script="main.js",
        detail=True,
    ),
)
