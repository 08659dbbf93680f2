"""The pins' overdue flag (``review_projects.overdue``, migration ``dr_0007``): true while the application's current
stage is past its due date (``dr_applications.due_on`` before today, Beijing time), and the map rings those pins in
red (the layer's ``Style.ring_by``).

A stage turns overdue by the calendar alone, so the flag is kept twice: after every transition (this hook runs after
the flow's, which sets the new due date: hooks run in the order their modules are imported, ``flow`` before
``overdue``) and every hour by a job, which flips the pins whose due date passed at midnight. Neither touches the
pin's version: the flag is the server's, not an edit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from geo import audit, workflow
from geo.bounds import BEIJING
from geo.modules import job, log_labels
from layers.drawing_review import limits
from layers.drawing_review.process import APPLICATION

log_labels(actions={"refresh_overdue": "更新逾期标记"})

REFRESH = """
UPDATE review_projects r SET overdue = x.late
FROM (SELECT a.review_project_id, coalesce(a.due_on < :today, false) AS late FROM dr_applications a {where}) x
WHERE r.id = x.review_project_id AND r.overdue IS DISTINCT FROM x.late
"""


def refresh(conn: Connection, today: dt.date, application_id: int | None = None) -> int:
    """Set the overdue flag of the pins (of one application, or all) as of ``today``; returns how many changed."""
    where = "WHERE a.id = :id" if application_id is not None else ""
    return conn.execute(sa.text(REFRESH.format(where=where)), {"today": today, "id": application_id}).rowcount


@workflow.on_transition(APPLICATION.kind)
def follow_due_date(conn: Connection, machine: Any, before: dict, after: dict, who: Any) -> None:
    refresh(conn, limits.today(), after["id"])


@job(cron="5 * * * *", title="施工图审查项目逾期标记")
def overdue_pins(conn: Connection, now: dt.datetime) -> dict:
    """The review pins whose current stage became overdue (or stopped being) are flagged for the map."""
    changed = refresh(conn, now.astimezone(BEIJING).date())
    if changed:
        audit.record(conn, "system", "refresh_overdue", "review_projects", None, detail={"overdue_changed": changed})
    return {"overdue_pins": changed}
