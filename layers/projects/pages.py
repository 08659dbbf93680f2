"""The register's back-office page at ``/registers/projects`` (web/registers/ in this module): list with search,
filters and paging, a project's detail with its stage timeline and linked records, edit, Excel import and export.
Left out of the API description; everything it shows comes from ``/api/registers/projects`` with the browser
session, in the consoles' shared look (``/static/console/``)."""

from __future__ import annotations

from pathlib import Path

from api.web import page_router

PAGES_DIR = Path(__file__).resolve().parent / "web" / "registers"

router = page_router("/registers/projects", PAGES_DIR, "projects.html")
