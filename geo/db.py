"""Database engines and sessions.

Two engines on the same database:

- ``get_engine()`` — the app's. Each new connection switches to the ``chengjian_app`` role (``SET ROLE``), which
  is subject to row-level security and may only append to the operation log. Every transaction states its data
  scope (``geo.scope.apply``); one that does not sees no business records.
- ``admin_engine()`` — the connecting user itself (the owner of the schema): migrations, the CLI (demo, import,
  export), test fixtures that empty tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, create_engine, event

from geo import scope as scopes
from geo.cluster import Cluster
from geo.settings import get_settings

APP_ROLE = "chengjian_app"


def private_cluster() -> Cluster:
    s = get_settings()
    return Cluster(s.data_dir / "pg", db_name=s.db_name, port=s.pg_port, bin_dir=s.pg_bin)


def database_url() -> str:
    """DATABASE_URL when set, else the private cluster's URL (it must be started)."""
    s = get_settings()
    if s.database_url:
        url = s.database_url
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url
    return private_cluster().url()


def use_app_role(engine: Engine) -> Engine:
    """Make every new connection of ``engine`` act as the app role (committed, so it outlives rollbacks)."""

    @event.listens_for(engine, "connect")
    def _set_role(dbapi_conn, _record):  # noqa: ANN001 - DB-API objects
        with dbapi_conn.cursor() as cur:
            cur.execute(f"SET ROLE {APP_ROLE}")
        if not dbapi_conn.autocommit:
            dbapi_conn.commit()

    return engine


@lru_cache
def get_engine() -> Engine:
    return use_app_role(create_engine(database_url(), pool_size=10, max_overflow=20, pool_pre_ping=True))


@lru_cache
def admin_engine() -> Engine:
    return create_engine(database_url(), pool_size=2, max_overflow=8, pool_pre_ping=True)


def reset_engine() -> None:
    for factory in (get_engine, admin_engine):
        if factory.cache_info().currsize:
            factory().dispose()
        factory.cache_clear()


@contextmanager
def transaction(scope: scopes.Scope = scopes.SYSTEM) -> Iterator[Connection]:
    """One app-role transaction with ``scope`` stated (default: everything, for jobs that act for the system)."""
    with get_engine().begin() as conn:
        scopes.apply(conn, scope)
        yield conn


@contextmanager
def admin_transaction() -> Iterator[Connection]:
    with admin_engine().begin() as conn:
        yield conn


def bookkeeping_columns() -> list[sa.Column]:
    """The columns every versioned record carries beside its own (optimistic lock, who and when), for the table
    objects modules build over the tables their migrations create."""
    return [
        sa.Column("version", sa.Integer),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("created_by", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.Column("updated_by", sa.Text),
    ]
