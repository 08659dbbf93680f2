"""Alembic migrations own the schema; this runs them programmatically.

The core's revisions live in ``geo/migrations/versions`` (one chain; its history includes the first modules' tables,
from before modules had folders). A module adds its own in ``layers/<module>/migrations/`` (no ``__init__.py``):
its first revision starts a branch (``branch_labels = ("<module>",)``, ``down_revision = None``) and
``depends_on`` the core revision it needs. ``upgrade`` brings every branch to its head."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from geo.db import database_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    from geo import modules

    locations = [MIGRATIONS / "versions", *modules.migration_dirs()]
    cfg.set_main_option("version_locations", " ".join(str(p) for p in locations))
    cfg.set_main_option("path_separator", "space")
    cfg.set_main_option("sqlalchemy.url", (url or database_url()).replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None, revision: str = "heads") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def assert_leakproof(url: str | None = None) -> tuple[str, bool]:
    """Declare ``geometry && geometry`` LEAKPROOF again if an extension update or a restore dropped it (see
    ``geo/leakproof.py``); returns what was done, in one line, and whether the flag is now set."""
    from sqlalchemy import create_engine, pool

    from geo import leakproof

    engine = create_engine(url or database_url(), poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            outcome = leakproof.ensure(conn)
            user = conn.exec_driver_sql("SELECT current_user").scalar() or ""
    finally:
        engine.dispose()
    return leakproof.describe(outcome, user), outcome in (leakproof.Outcome.DECLARED, leakproof.Outcome.ALREADY)
