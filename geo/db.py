"""Database engine and sessions."""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator

from sqlalchemy import Connection, Engine, create_engine

from geo.cluster import Cluster
from geo.settings import get_settings


def private_cluster() -> Cluster:
    s = get_settings()
    return Cluster(s.data_dir / "pg", db_name=s.db_name, port=s.pg_port)


def database_url() -> str:
    """DATABASE_URL when set, else the private cluster's URL (it must be started)."""
    s = get_settings()
    if s.database_url:
        url = s.database_url
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url
    return private_cluster().url()


@lru_cache
def get_engine() -> Engine:
    return create_engine(database_url(), pool_size=10, max_overflow=20, pool_pre_ping=True)


def reset_engine() -> None:
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()


@contextmanager
def transaction() -> Iterator[Connection]:
    with get_engine().begin() as conn:
        yield conn
