"""The personnel register's back-office page at ``/registers/persons`` (web/persons/ in this module): a public
page, left out of the API description; what it shows comes from ``/api/registers/persons`` with the session."""

from __future__ import annotations

from pathlib import Path

from api.web import page_router

PAGES_DIR = Path(__file__).resolve().parent / "web" / "persons"

router = page_router("/registers/persons", PAGES_DIR)
