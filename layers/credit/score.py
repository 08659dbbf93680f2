"""Credit scores: score = base + Σ sign × weight(type) × points × 0.5^(age in days / half-life).

``sign`` is +1 for a good event and -1 for a bad one; ``weight`` comes from the current rule (``credit_rules``, the
highest version; a type the rule does not name weighs 1); the age is counted from the event's date to today in
Beijing. ``rescore`` recomputes in one SQL statement for the given subjects (the hook: the subjects of a new event)
or for all (the daily job, a rule change, the demo); a subject's score is appended to its history
(``credit_scores``) only when it, its event count or the rule version changed, and written to
``enterprises.credit_score`` / ``persons.credit_score`` when those registers are installed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import Connection

from geo.bounds import BEIJING

SUBJECTS_SQL = """
INSERT INTO credit_subjects (subject_kind, subject_code, subject_name)
SELECT DISTINCT ON (subject_kind, subject_code) subject_kind, subject_code, subject_name
FROM credit_events e WHERE {where}
ORDER BY subject_kind, subject_code, id DESC
ON CONFLICT (subject_kind, subject_code) DO UPDATE SET subject_name = excluded.subject_name
"""

SCORE_SQL = """
WITH r AS (SELECT version, base_score, half_life_days, weights FROM credit_rules ORDER BY version DESC LIMIT 1),
s AS (
    SELECT cs.id, r.version,
           round((r.base_score + coalesce(sum(
               CASE e.polarity WHEN 'good' THEN 1 ELSE -1 END
               * coalesce((r.weights ->> e.event_type)::float8, 1) * e.points
               * exp(ln(0.5) * greatest(CAST(:today AS date) - e.occurred_on, 0) / r.half_life_days)), 0))::numeric,
               2)::float8 AS score,
           count(e.id)::int AS events
    FROM credit_subjects cs CROSS JOIN r
    LEFT JOIN credit_events e ON e.subject_kind = cs.subject_kind AND e.subject_code = cs.subject_code
    WHERE {where}
    GROUP BY cs.id, r.version, r.base_score
),
changed AS (
    SELECT s.* FROM s JOIN credit_subjects cs ON cs.id = s.id
    WHERE cs.score IS DISTINCT FROM s.score OR cs.rule_version IS DISTINCT FROM s.version
       OR cs.events IS DISTINCT FROM s.events
),
hist AS (
    INSERT INTO credit_scores (subject_id, score, events, rule_version, computed_at)
    SELECT id, score, events, version, :now FROM changed
)
UPDATE credit_subjects cs SET score = c.score, events = c.events, rule_version = c.version, computed_at = :now
FROM changed c WHERE cs.id = c.id
"""

# Registers that carry a copy of the score: (table, subject kind, key column).
TARGETS = (("enterprises", "enterprise", "uscc"), ("persons", "person", "id_number"))


def today() -> date:
    return datetime.now(BEIJING).date()


def _filter(alias: str, subjects: list[tuple[str, str]] | None) -> tuple[str, dict]:
    if subjects is None:
        return "true", {}
    return (
        f"({alias}.subject_kind, {alias}.subject_code) IN "
        "(SELECT k, c FROM unnest(CAST(:kinds AS text[]), CAST(:codes AS text[])) AS u (k, c))",
        {"kinds": [k for k, _ in subjects], "codes": [c for _, c in subjects]},
    )


def has_column(conn: Connection, table: str, column: str) -> bool:
    """Whether ``table.column`` exists (another module's register may not be installed)."""
    return bool(
        conn.execute(
            sa.text(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = :t AND column_name = :c"
            ),
            {"t": table, "c": column},
        ).first()
    )


def _may_update(conn: Connection, table: str) -> bool:
    """Whether the connection's role may update ``table`` (row-level security may still hide rows: a district
    account rescoring an enterprise of another district leaves it to the daily job)."""
    return bool(conn.execute(sa.text("SELECT has_table_privilege(current_user, :t, 'UPDATE')"), {"t": table}).scalar())


def rescore(conn: Connection, subjects: Iterable[tuple[str, str]] | None = None, on: date | None = None) -> int:
    """Recompute the scores of ``subjects`` ((kind, code) pairs; None: every subject) as of ``on`` (default today);
    returns how many scores changed."""
    chosen = None if subjects is None else sorted(set(subjects))
    if chosen == []:
        return 0
    where, params = _filter("e", chosen)
    conn.execute(sa.text(SUBJECTS_SQL.format(where=where)), params)
    where, params = _filter("cs", chosen)
    now = datetime.now(BEIJING)
    changed = conn.execute(
        sa.text(SCORE_SQL.format(where=where)), {**params, "today": on or now.date(), "now": now}
    ).rowcount
    for table, kind, key in TARGETS:
        if has_column(conn, table, "credit_score") and has_column(conn, table, key) and _may_update(conn, table):
            where, params = _filter("cs", chosen)
            conn.execute(
                sa.text(
                    f"UPDATE {table} x SET credit_score = cs.score FROM credit_subjects cs "
                    f"WHERE cs.subject_kind = :kind AND cs.subject_code = x.{key} AND {where} "
                    "AND x.credit_score IS DISTINCT FROM cs.score"
                ),
                {**params, "kind": kind},
            )
    return changed
