"""Time limits of the drawing review (DR-05): each stage — accepting (受理), one review round (审查), the design
unit's reply (设计回复), issuing the certificate (发证) — has a limit in official working days by review category and
grade (``dr_time_limits``, edited by holders of ``review.config``: versioned, all-or-nothing, in the operation log).

An application's current stage and its due date follow its state (``STAGE_OF_STATE``): the hook in ``flow.py`` sets
``dr_applications.due_on`` on every transition, counting working days from the day the stage began on the official
calendar (``geo.calendar``: holidays and make-up working days; a year without a calendar is an error saying so, never
a guess). A changed limit applies to the stages that begin after the change.

Flags: *overdue* — the due date has passed (due_on < today, Beijing time); *nearly due* — at most
``NEARLY_DUE_DAYS`` working days are left (today ≤ due_on ≤ today + 2 working days). ``GET /api/review/overdue``
lists both, scoped like every read (row-level security and the acceptance window's jurisdiction).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit, calendar
from geo.bounds import BEIJING, Text, Version, Whole
from geo.errors import StaleVersion
from layers.drawing_review import tables as t
from layers.drawing_review.process import APPLICATION, CATEGORIES, GRADES, STAGES, STATES

router = APIRouter(prefix="/api/review", tags=["施工图联审"])

NEARLY_DUE_DAYS = 2
# The stage an application is in, by its state (states without one have no due date).
STAGE_OF_STATE = {"drawn": "accept", "reviewing": "review", "replying": "reply", "passed": "certify"}


def today() -> dt.date:
    """Today in Beijing (the clock of every due date)."""
    return dt.datetime.now(BEIJING).date()


def local_day(moment: dt.datetime | dt.date | None) -> dt.date | None:
    """The Beijing date of a moment (a stage begins on that day: day 0 of its clock)."""
    if moment is None or not isinstance(moment, dt.datetime):
        return moment
    return moment.astimezone(BEIJING).date()


def add_working_days(conn: Connection, start: dt.date, n: int) -> dt.date:
    """The n-th working day after ``start``; a year the calendar does not cover is a 422 (``calendar_missing``)."""
    return calendar.add_working_days(conn, start, n, "due_on")


def working_days(conn: Connection, start: dt.date, stop: dt.date) -> int:
    """Working days d with start < d ≤ stop (0 when stop is not after start)."""
    return calendar.working_days(conn, start, stop) if stop > start else 0


def limit(conn: Connection, category: str, grade: str, stage: str) -> int:
    tl = t.time_limits
    days = conn.execute(
        sa.select(tl.c.working_days).where(tl.c.review_category == category, tl.c.grade == grade, tl.c.stage == stage)
    ).scalar()
    if days is None:  # the migration seeds every (category, grade, stage); a missing row is a broken database
        raise RuntimeError(f"dr_time_limits has no row for {category}/{grade}/{stage}")
    return int(days)


def due_on(conn: Connection, app: dict, stage: str, start: dt.date) -> dt.date:
    """The due date of ``stage`` of application ``app`` begun on ``start``."""
    return add_working_days(conn, start, limit(conn, app["review_category"], app["grade"], stage))


# -- the configuration ---------------------------------------------------------------------------------------------


def rows(conn: Connection) -> list[dict]:
    tl = t.time_limits
    order = {**{c: i for i, c in enumerate(CATEGORIES)}}
    out = [
        {
            "review_category": r["review_category"],
            "grade": r["grade"],
            "stage": r["stage"],
            "stage_title": STAGES[r["stage"]],
            "working_days": r["working_days"],
            "version": r["version"],
            "updated_at": r["updated_at"].isoformat() if r["updated_at"] else None,
            "updated_by": r["updated_by"],
        }
        for r in conn.execute(sa.select(tl)).mappings()
    ]
    stages = list(STAGES)
    return sorted(out, key=lambda r: (order[r["review_category"]], GRADES.index(r["grade"]), stages.index(r["stage"])))


@router.get("/time-limits", summary="施工图审查各阶段时限（工作日，按审查类别和项目等级）")
def list_limits(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    who.require("review.view", "查看施工图审查时限")
    return {"items": rows(conn), "stages": STAGES, "categories": list(CATEGORIES), "grades": list(GRADES)}


class LimitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    review_category: Text(20, 1) = Field(title="审查类别")
    grade: Text(10, 1) = Field(title="项目等级")
    stage: Text(20, 1) = Field(title="阶段")
    working_days: Whole(1, 365) = Field(title="时限（工作日）")
    version: Version = Field(title="版本号")


class LimitsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[LimitIn] = Field(title="时限", min_length=1, max_length=len(CATEGORIES) * len(GRADES) * len(STAGES))


def update(conn: Connection, who: Principal, body: LimitsIn) -> list[dict]:
    """All the given limits or none: an unknown category, grade or stage (422) or a stale version (409) changes
    nothing. Each changed row is versioned and logged with before and after."""
    who.require("review.config", "修改施工图审查时限")
    tl = t.time_limits
    seen = set()
    for i, item in enumerate(body.items):
        for name, known in (("review_category", CATEGORIES), ("grade", GRADES), ("stage", tuple(STAGES))):
            value = getattr(item, name)
            if value not in known:
                raise ApiError(
                    422, "invalid_choice", f"「{value}」不是有效的取值（可选：{'、'.join(known)}）。",
                    f"items.{i}.{name}", {"choices": list(known)},
                )  # fmt: skip
        key = (item.review_category, item.grade, item.stage)
        if key in seen:
            raise ApiError(422, "duplicate_limit", f"时限「{'/'.join(key)}」重复填写。", f"items.{i}.stage")
        seen.add(key)
    for item in body.items:
        where = (tl.c.review_category == item.review_category, tl.c.grade == item.grade, tl.c.stage == item.stage)
        before = conn.execute(sa.select(tl).where(*where).with_for_update()).mappings().one()
        if before["version"] != item.version:
            raise StaleVersion(before["version"], item.version, f"时限（{item.review_category}/{item.grade}/"
                               f"{STAGES[item.stage]}）")  # fmt: skip
        if before["working_days"] == item.working_days:
            continue
        conn.execute(
            sa.update(tl)
            .where(*where)
            .values(
                working_days=item.working_days, version=tl.c.version + 1, updated_at=sa.func.now(), updated_by=who.user
            )  # fmt: skip
        )
        audit.record(
            conn, who.user, "update", "dr_time_limits", None,
            {"review_category": item.review_category, "grade": item.grade, "stage": item.stage,
             "working_days": before["working_days"], "version": before["version"]},
            {"review_category": item.review_category, "grade": item.grade, "stage": item.stage,
             "working_days": item.working_days, "version": before["version"] + 1},
            who.client, user_id=who.user_id,
        )  # fmt: skip
    return rows(conn)


@router.put("/time-limits", summary="修改施工图审查时限（全部成功或全部不改；带版本号）")
def put_limits(
    body: LimitsIn, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> dict:
    return {"items": update(conn, who, body)}


# -- due dates, overdue and nearly due ------------------------------------------------------------------------------


def flags(conn: Connection, day: dt.date | None = None, strict: bool = True) -> dict[str, Any]:
    """The bounds the flags are computed with: ``today`` and the last day that is still 'nearly due'. When those
    two working days reach a year the calendar does not cover: an error (``strict``), else ``soon_until`` None —
    nothing is flagged nearly due rather than guessed (a list still shows, and flags the overdue)."""
    day = day or today()
    if strict:
        return {"today": day, "soon_until": add_working_days(conn, day, NEARLY_DUE_DAYS)}
    try:
        with conn.begin_nested():  # the database's refusal aborts only this savepoint, not the caller's reads
            soon: dt.date | None = add_working_days(conn, day, NEARLY_DUE_DAYS)
    except calendar.CalendarMissing:
        soon = None
    return {"today": day, "soon_until": soon}


def flag_of(due: dt.date | None, status: str, bounds: dict[str, Any]) -> str | None:
    """``overdue``, ``nearly_due`` or None for an application in ``status`` due on ``due``."""
    if due is None or status not in STAGE_OF_STATE:
        return None
    if due < bounds["today"]:
        return "overdue"
    if bounds["soon_until"] is not None and due <= bounds["soon_until"]:
        return "nearly_due"
    return None


FLAG_TITLES = {"overdue": "已逾期", "nearly_due": "临近到期"}


def due_list(
    conn: Connection, who: Principal, which: str, day: dt.date | None = None, limit_: int = 200, offset: int = 0
) -> dict:
    """The open applications ``which`` (``overdue``, ``nearly_due`` or ``all`` of both) as ``who`` sees them,
    earliest due first, with their stage, due date and the working days overdue or left."""
    b = flags(conn, day)
    a = APPLICATION.sa_table
    cond = [a.c.status.in_(tuple(STAGE_OF_STATE)), a.c.due_on.is_not(None)]
    if which == "overdue":
        cond.append(a.c.due_on < b["today"])
    elif which == "nearly_due":
        cond += [a.c.due_on >= b["today"], a.c.due_on <= b["soon_until"]]
    else:
        cond.append(a.c.due_on <= b["soon_until"])
    extra = APPLICATION.restrict(who, a, conn, {}) if APPLICATION.restrict else None
    if extra is not None:
        cond.append(extra)
    total = conn.execute(sa.select(sa.func.count()).select_from(a).where(*cond)).scalar_one()
    found = conn.execute(
        APPLICATION.select().where(*cond).order_by(a.c.due_on, a.c.id).limit(limit_).offset(offset)
    ).mappings()
    items = []
    for r in found:
        flag = flag_of(r["due_on"], r["status"], b)
        stage = STAGE_OF_STATE[r["status"]]
        items.append(
            {
                "id": r["id"],
                "application_no": r["application_no"],
                "name": r["name"],
                "submission_name": r["submission_name"],
                "jurisdiction": r["jurisdiction"],
                "district": r["district"],
                "status": r["status"],
                "status_title": STATES[r["status"]],
                "stage": stage,
                "stage_title": STAGES[stage],
                "round_no": r["round_no"],
                "due_on": r["due_on"].isoformat(),
                "flag": flag,
                "flag_title": FLAG_TITLES.get(flag or ""),
                "overdue_working_days": working_days(conn, r["due_on"], b["today"]) if flag == "overdue" else 0,
                "working_days_left": working_days(conn, b["today"], r["due_on"]) if flag != "overdue" else 0,
            }
        )
    return {"today": b["today"].isoformat(), "soon_until": b["soon_until"].isoformat(), "total": total,
            "items": items}  # fmt: skip


@router.get("/overdue", summary="逾期和临近到期（≤2 个工作日）的施工图审查申请")
def overdue(
    request: Request,
    which: str = Query("all", max_length=20, description="overdue 已逾期 / nearly_due 临近到期 / all 两者"),
    limit_: int = Query(200, ge=1, le=500, alias="limit"),
    offset: int = Query(0, ge=0, le=1_000_000),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require("review.view", "查看逾期的施工图审查申请")
    if which not in ("overdue", "nearly_due", "all"):
        raise ApiError(422, "invalid_choice", f"「{which}」不是有效的取值（可选：overdue、nearly_due、all）。", "which")
    return due_list(conn, who, which, None, limit_, offset)
