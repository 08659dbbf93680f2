"""The tiles' own small connection pool, in autocommit mode (no BEGIN/ROLLBACK round trips, no pre-ping), and the
one way to run a statement on it under a principal's data scope."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import psycopg
import sqlalchemy as sa

from geo import scope as scopes
from geo.db import database_url, use_app_role


@lru_cache
def _engine(url: str) -> sa.Engine:
    return use_app_role(sa.create_engine(url, pool_size=16, max_overflow=16, isolation_level="AUTOCOMMIT"))


def tile_engine() -> sa.Engine:
    return _engine(database_url())


def with_cursor(fn: Callable[[Any], Any], scope: scopes.Scope | None = None) -> Any:
    """Run ``fn(cursor)`` on a pooled connection; once more on a fresh one if the server dropped it. With
    ``scope``, the connection's session states it first (row-level security; skipped when it already does)."""
    for attempt in (1, 2):
        conn = tile_engine().raw_connection()
        try:
            with contextlib.closing(conn.cursor()) as cur:
                if scope is not None:
                    scopes.apply_session(cur, conn.info, scope)
                return fn(cur)
        except psycopg.OperationalError:
            if attempt == 2 or not conn.dbapi_connection or not conn.dbapi_connection.closed:
                raise
            conn.invalidate()
        finally:
            conn.close()
