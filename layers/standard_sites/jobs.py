"""Scheduled jobs of the standardized-site module: the SMS reminder before the review deadline (ST-25).

``send_reminders(conn, now)`` texts every expert who still has a review to give once ``now`` has reached
``window_to - reminder_hours`` (the round's setting) and the window is still open — one SMS per expert and deadline,
naming the projects — and stamps ``reminded_at`` on those assignments, in the same transaction, so a second run
sends nothing (rows being reminded by a concurrent run are skipped, ``SKIP LOCKED``). ``run_due_jobs(now)`` runs
every job in one system-scope transaction.

Both are ``@job``s on ``* * * * *``: the task queue's workers (``chengjian worker``, geo/tasks.py) run them once a
minute; ``chengjian jobs run [--now ISO]`` runs them once by hand (with a moved clock, to catch up or in tests).
"""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection

from api.accounts import sms
from geo import audit, jobs
from geo.modules import job
from layers.standard_sites import tables as t
from layers.standard_sites.common import BEIJING
from layers.standard_sites.stats import refresh_all

log = logging.getLogger(__name__)


def _due(now: datetime) -> sa.Select:
    """The assignments to remind at ``now``, the expert's account and the site's name, locked (``SKIP LOCKED``)."""
    a, d, r, x, u, s, v = t.assignments, t.draws, t.rounds, t.experts, t.users, t.sites(), t.reviews
    remind_from = a.c.window_to - sa.func.make_interval(0, 0, 0, 0, 0, 0, r.c.reminder_hours * 3600)  # secs
    return (
        sa.select(a.c.id, a.c.window_to, s.c.name.label("site_name"), x.c.user_id, u.c.phone, u.c.username)
        .select_from(
            a.join(d, d.c.id == a.c.draw_id)
            .join(r, r.c.id == d.c.round_id)
            .join(x, x.c.id == a.c.expert_id)
            .join(u, u.c.id == x.c.user_id)
            .join(s, s.c.id == a.c.site_id)
        )
        .where(
            a.c.status == "assigned",
            a.c.reminded_at.is_(None),
            u.c.phone.is_not(None),
            a.c.window_from <= now,
            a.c.window_to > now,
            remind_from <= now,
            ~sa.exists().where(v.c.assignment_id == a.c.id),
        )
        .order_by(x.c.user_id, a.c.window_to, a.c.id)
        .with_for_update(skip_locked=True, of=a)
    )


def send_reminders(conn: Connection, now: datetime) -> int:
    """Remind the experts whose deadline is near; returns the number of SMS sent. Idempotent."""
    groups: dict[tuple, list] = {}
    for r in conn.execute(_due(now)).mappings():
        groups.setdefault((r["user_id"], r["phone"], r["username"], r["window_to"]), []).append(r)
    for (user_id, phone, username, deadline), rows in groups.items():
        names = "、".join(f"「{r['site_name']}」" for r in rows)
        body = (
            f"【杭州市建委】标化工地专家评审提醒：您还有 {len(rows)} 个项目{names}未提交评审意见，评审将于 "
            f"{deadline.astimezone(BEIJING).strftime('%m月%d日%H:%M')} 截止，请及时登录评审"
            f"（账号 {username}，也可用手机号或身份证号加动态密码登录）。"
        )
        sms.gateway().send(conn, phone, body, "st_review_reminder", user_id)
        ids = [r["id"] for r in rows]
        conn.execute(sa.update(t.assignments).where(t.assignments.c.id.in_(ids)).values(reminded_at=now))
        audit.record(
            conn,
            "system",
            "reminder",
            "st_assignments",
            None,
            None,
            None,
            detail={"user_id": user_id, "assignments": ids, "deadline": deadline.isoformat()},
        )
    return len(groups)


@job(cron="* * * * *", title="专家评审截止前短信提醒")
def review_reminders(conn: Connection, now: datetime) -> dict:
    """SMS reminders before the experts' review deadline (ST-25)."""
    return {"reminders": send_reminders(conn, now)}


@job(cron="* * * * *", title="工地月报逾期状态")
def overdue_site_statuses(conn: Connection, now: datetime) -> dict:
    """Sites whose monthly report is overdue turn 逾期未报 on the map (ST-19)."""
    return {"site_statuses": refresh_all(conn, now.astimezone(BEIJING).date())}


def run_due_jobs(now: datetime | None = None) -> dict:
    """Run this module's jobs as the system; ``now`` moves the clock (tests, catching up by hand)."""
    out = jobs.run_all(now, module="standard_sites")
    return {"now": out["now"], **out["standard_sites.review_reminders"], **out["standard_sites.overdue_site_statuses"]}
