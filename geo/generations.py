"""Layer generations, and answers kept in the process while the layers they were computed from are unchanged.

A statement trigger bumps a layer's row of ``layer_changes`` (a counter and the time of the change; migration 0004)
in every transaction that writes the layer, bulk loads and COPY included. A layer's *token* is that pair: the time
keeps tokens unique even if the database is restored from a backup and the counters run over the same numbers
again. An answer computed from some layers and kept under a key that holds their tokens (read in the same snapshot
as the answer, or checked again after it) is never older than its key: a request after any write, in whichever
process or tool, reads new tokens and so misses the kept answer.

``Kept`` is the bounded, thread-safe store of such answers (least recently used first out) that the extent of a
layer (``geo.layer.store``), the districts' prepared polygons (``geo.layer.districting``), the thematic statistics
and the tile cache's generations use. The key is the caller's: besides the tokens it names what else the answer
depends on (the database, the role and stated scope when row-level security applies).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable
from typing import Any

import sqlalchemy as sa
from cachetools import LRUCache
from sqlalchemy import Connection

TOKEN = "ARRAY[gen, (extract(epoch FROM changed_at) * 1e6)::bigint]"
LAYER_CHANGES = sa.table("layer_changes", sa.column("layer"), sa.column("gen"), sa.column("changed_at"))
Token = tuple[int, int]
MISSING = object()


def token_of(layer: str) -> sa.ScalarSelect:
    """The layer's token as a scalar subquery (an array ``[gen, µs]``, NULL before its first write), to read in the
    same statement as an answer."""
    return (
        sa.select(sa.literal_column(TOKEN))
        .select_from(LAYER_CHANGES)
        .where(LAYER_CHANGES.c.layer == layer)
        .scalar_subquery()
    )


def as_token(value: Any) -> Token | None:
    """A token read from the database (the array of ``token_of``) as a hashable pair; None for NULL."""
    return (int(value[0]), int(value[1])) if value is not None else None


def tokens(conn: Connection, layers: Iterable[str]) -> tuple[tuple[str, int, int], ...]:
    """``(layer, gen, µs)`` of each of ``layers`` that has been written, sorted by layer."""
    rows = conn.execute(
        sa.select(LAYER_CHANGES.c.layer, sa.literal_column(TOKEN)).where(LAYER_CHANGES.c.layer.in_(list(layers)))
    ).all()
    return tuple(sorted((layer, int(t[0]), int(t[1])) for layer, t in rows))


def database_of(conn: Connection) -> str:
    """The database a connection reads (part of every key: one process may serve several, as the tests do)."""
    return conn.engine.url.render_as_string(hide_password=True)


class Kept:
    """Answers by key, at most ``maxsize`` of them, the least recently used dropped first; safe across threads.

    ``get`` returns ``MISSING`` for an unknown key (a kept answer may be None: an empty layer has no extent)."""

    def __init__(self, maxsize: int) -> None:
        self._answers: LRUCache = LRUCache(maxsize=maxsize)
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            return self._answers.get(key, MISSING)

    def put(self, key: Hashable, answer: Any) -> None:
        with self._lock:
            self._answers[key] = answer

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._answers)
