"""Which case transitions are credit events: declared by the modules, applied by ``hooks``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import Connection

# Event types and their default polarity; modules add theirs with ``feeds``.
EVENT_TYPES: dict[str, tuple[str, str]] = {
    "licence": ("行政许可", "good"),
    "penalty": ("行政处罚", "bad"),
}
POLARITIES = {"good": "良好行为", "bad": "不良行为"}


class Subject(NamedTuple):
    """Whose behaviour it is: ``kind`` enterprise (code: USCC) or person (code: resident ID number)."""

    kind: str
    code: str
    name: str


Value = Callable[[Connection, dict], Any]


@dataclass(frozen=True)
class Feed:
    kind: str  # the case kind
    state: str | None  # the state entered; None: the case is recorded without a workflow (on recording)
    event_type: str
    title: str  # Chinese name of the event type
    polarity: str  # good | bad
    subject: Callable[[Connection, dict], Subject | None] = field(compare=False)
    points: Value = field(compare=False)
    reason: Value = field(compare=False)
    occurred_on: Callable[[Connection, dict], date | None] | None = field(default=None, compare=False)
    module: str = ""


_feeds: list[Feed] = []


def _const(value: Any) -> Value:
    return lambda conn, row: value


def feeds(
    *,
    kind: str,
    state: str | None,
    event_type: str,
    title: str,
    polarity: str,
    subject: Callable[[Connection, dict], Subject | None],
    points: float | Value,
    reason: str | Value,
    occurred_on: Callable[[Connection, dict], date | None] | None = None,
) -> Feed:
    """Declare that a case of ``kind`` entering ``state`` is a credit event of type ``event_type`` of
    ``subject(conn, row)`` (None: no event, e.g. the project names no enterprise), worth ``points`` (a number or
    ``points(conn, row)``), with ``reason``. Called at import time by the declaring module."""
    if polarity not in POLARITIES:
        raise ValueError(f"credit feed {kind}: unknown polarity {polarity}")
    known = EVENT_TYPES.get(event_type)
    if known is not None and known != (title, polarity):
        raise ValueError(f"credit event type {event_type} declared twice differently")
    EVENT_TYPES[event_type] = (title, polarity)
    caller = sys._getframe(1).f_globals.get("__name__", "")
    parts = caller.split(".")
    f = Feed(
        kind,
        state,
        event_type,
        title,
        polarity,
        subject,
        points if callable(points) else _const(points),
        reason if callable(reason) else _const(reason),
        occurred_on,
        parts[1] if len(parts) > 1 else parts[0],
    )
    _feeds.append(f)
    return f


def all_feeds() -> list[Feed]:
    return list(_feeds)


def matching(kind: str, before: str | None, after: str | None, created: bool) -> list[Feed]:
    """The feeds a transition of ``kind`` from ``before`` to ``after`` (or a recording, ``created``) triggers."""
    out = []
    for f in _feeds:
        if f.kind != kind:
            continue
        if f.state is None and created:
            out.append(f)
        elif f.state is not None and not created and after == f.state and before != f.state:
            out.append(f)
    return out
