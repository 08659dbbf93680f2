"""The modules' credit feeds applied: after every case transition (and every recording of a case without a
workflow), the feeds declared for that kind and state become credit events, with their source record, and the
subjects are rescored — in the transaction of the transition."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql

from geo import workflow
from layers.credit import score
from layers.credit import tables as t
from layers.credit.feeds import Feed, matching


def natural_key(feed: Feed, row: dict) -> str:
    return f"{feed.kind}:{row['id']}:{feed.state or 'created'}"


def event_values(conn: Connection, feed: Feed, row: dict, actor: str) -> dict | None:
    """The ``credit_events`` row of ``feed`` for the case ``row`` (None when the feed names no subject)."""
    subject = feed.subject(conn, row)
    if subject is None:
        return None
    occurred = (feed.occurred_on(conn, row) if feed.occurred_on else None) or score.today()
    return {
        "subject_kind": subject.kind,
        "subject_code": subject.code,
        "subject_name": subject.name,
        "event_type": feed.event_type,
        "polarity": feed.polarity,
        "points": float(feed.points(conn, row) or 0),
        "reason": feed.reason(conn, row),
        "source": feed.kind,
        "source_id": row["id"],
        "source_module": feed.module,
        "natural_key": natural_key(feed, row),
        "site_id": row.get("site_id"),
        "district": row.get("district"),
        "occurred_on": occurred,
        "created_by": actor,
    }


def _insert(conn: Connection, values: list[dict]) -> None:
    """One statement for all (SQLAlchemy's executemany: multi-row inserts, compiled once)."""
    conn.execute(postgresql.insert(t.events).on_conflict_do_nothing(index_elements=["natural_key"]), values)


def write(conn: Connection, feed: Feed, row: dict, actor: str) -> tuple[str, str] | None:
    """The event of ``feed`` for the case ``row`` (none when the feed names no subject); the subject, or None."""
    values = event_values(conn, feed, row, actor)
    if values is None:
        return None
    _insert(conn, [values])
    return values["subject_kind"], values["subject_code"]


@workflow.on_transition()
def credit_from_cases(conn: Connection, machine: Any, before: dict, after: dict, who: Any) -> None:
    created = not before
    fed = matching(machine.kind, before.get("status"), after.get("status"), created)
    subjects = [s for f in fed if (s := write(conn, f, after, getattr(who, "user", "system"))) is not None]
    if subjects:
        score.rescore(conn, subjects)


def recorded_many(conn: Connection, kind: str, rows: list[dict], actor: str) -> int:
    """The feeds of many cases of ``kind`` recorded without a workflow at once (a bulk load such as a demo): each
    row's events as the hook writes them, inserted together, the subjects rescored once at the end (the hook
    rescores per row). Returns the number of subjects rescored."""
    fed = matching(kind, None, None, True)
    values = [v for row in rows for f in fed if (v := event_values(conn, f, row, actor)) is not None]
    if values:
        _insert(conn, values)
    subjects = {(v["subject_kind"], v["subject_code"]) for v in values}
    if subjects:
        score.rescore(conn, subjects)
    return len(subjects)


def events_of_source(conn: Connection, kind: str, source_id: int) -> list[dict]:
    e = t.events
    q = sa.select(e).where(e.c.source == kind, e.c.source_id == source_id).order_by(e.c.id)
    return [dict(r) for r in conn.execute(q).mappings()]
