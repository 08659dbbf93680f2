"""The handled-matter register's back-office page at ``/registers/matters`` (web/matters/ in this module): the
cross-module list with its filters, paging and Excel export; each matter links to its record page. Everything it
shows comes from ``/api/registers/matters`` with the browser session."""

from __future__ import annotations

from pathlib import Path

from api.web import page_router

PAGES_DIR = Path(__file__).resolve().parent / "web" / "matters"

router = page_router("/registers/matters", PAGES_DIR)
