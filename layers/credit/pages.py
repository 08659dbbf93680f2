"""The credit register's back-office page at ``/registers/credit`` (web/credit/ in this module): events with filters
and paging, a subject's credit section (score, history, events with their source records), the import of licences
and penalties with its row-numbered report, and the scoring rule. Everything it shows comes from
``/api/registers/credit`` with the browser session."""

from __future__ import annotations

from pathlib import Path

from api.web import page_router

PAGES_DIR = Path(__file__).resolve().parent / "web" / "credit"

router = page_router("/registers/credit", PAGES_DIR)
