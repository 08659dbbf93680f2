"""The official working-day calendar over HTTP (geo/calendar.py; SPEC DR-05, DR-11, DR-12).

Public reads (no sign-in; other systems and the review clocks use them):

- ``GET /api/calendar/days/{YYYY-MM-DD}`` → ``{"date", "working", "kind", "name"}``;
- ``GET /api/calendar/working-days?start=YYYY-MM-DD&end=YYYY-MM-DD`` → ``{"working_days": N}``: the working days
  after ``start`` up to and including ``end`` (accepted on day 0);
- ``GET /api/calendar/add-working-days?start=YYYY-MM-DD&days=N`` → ``{"date"}``: the N-th working day after start.

A date not written YYYY-MM-DD, ``start`` after ``end``, or a year the calendar does not cover (``calendar_missing``)
is a 422 naming the parameter. The administrators' part needs ``calendar.edit``: the covered years, a year's days
(the back office's month grid), the correction of a day, the declaration of a year not covered yet, and a sync with
the installed chinesecalendar package.
"""

from __future__ import annotations

import datetime as dt
import re

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.admin.common import needs
from api.auth import Principal
from api.deps import db_read, db_write
from geo import calendar
from geo.bounds import Day, Text, Whole, Window
from geo.errors import Invalid

router = APIRouter(prefix="/api/calendar", tags=["calendar"])

EDIT = Depends(needs("calendar.edit", "维护工作日历"))
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
FIRST_YEAR, LAST_YEAR = 2000, 2100
DAYS_MAX = 3650  # a time limit of ten years of working days is already absurd


def parse_day(value: str, field: str) -> dt.date:
    """A date written exactly YYYY-MM-DD (no other ISO spelling, nothing repaired)."""
    try:
        if ISO_DAY.fullmatch(value):
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    raise Invalid(
        "invalid_date",
        f"日期「{value[:20]}」不正确，应为 YYYY-MM-DD 格式的日期（如 2026-10-01）。",
        field,
        {"value": value},
    )


@router.get("/days/{day}", summary="某日是否上班（工作日、休息日、节假日、调休上班）")
def get_day(day: str, conn: Connection = Depends(db_read, scope="function")) -> dict:
    return calendar.is_working(conn, parse_day(day, "date"))


@router.get("/working-days", summary="两日之间的工作日数（start 之后至 end，含 end）")
def get_working_days(
    start: str = Query(title="开始日期（受理日，第 0 天）", max_length=40),
    end: str = Query(title="结束日期", max_length=40),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    first, last = parse_day(start, "start"), parse_day(end, "end")
    if first > last:
        raise Invalid(
            "range_reversed",
            f"结束日期 {last.isoformat()} 早于开始日期 {first.isoformat()}。",
            "end",
            {"start": first.isoformat(), "end": last.isoformat()},
        )
    return {"working_days": calendar.working_days(conn, first, last, "start", "end")}


@router.get("/add-working-days", summary="某日之后第 N 个工作日（期限的到期日）")
def get_add_working_days(
    start: str = Query(title="开始日期（第 0 天）", max_length=40),
    days: int = Query(title="工作日数", ge=0, le=DAYS_MAX),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    return {"date": calendar.add_working_days(conn, parse_day(start, "start"), days, "start").isoformat()}


# -- administrators -----------------------------------------------------------------------------------------------

YEAR_DAYS = Window(earliest=dt.date(FIRST_YEAR, 1, 1))


class DayIn(BaseModel):
    working: bool = Field(title="是否上班")
    kind: Text(20, 1) = Field(title="日期类型")
    name: Text(calendar.NAME_MAX) | None = Field(None, title="节日名称")


class NamedDay(BaseModel):
    date: Day(YEAR_DAYS) = Field(title="日期")
    name: Text(calendar.NAME_MAX, 1) = Field(title="节日名称")


class YearIn(BaseModel):
    year: Whole(FIRST_YEAR, LAST_YEAR) = Field(title="年份")
    holidays: list[NamedDay] = Field(title="放假日期", max_length=120)
    makeups: list[NamedDay] = Field([], title="调休上班日期", max_length=60)


def _named(days: list[NamedDay], field: str) -> dict[dt.date, str]:
    out: dict[dt.date, str] = {}
    for d in days:
        if d.date in out:
            raise Invalid("date_twice", f"{d.date.isoformat()} 填了两次。", field, {"date": d.date.isoformat()})
        out[d.date] = d.name
    return out


@router.get("/years", summary="已覆盖的年份（来源、节假日和调休天数）")
def get_years(who: Principal = EDIT, conn: Connection = Depends(db_read, scope="function")) -> dict:
    covered = calendar.years(conn)
    return {
        "items": covered,
        "kinds": calendar.KINDS,
        "sources": calendar.SOURCES,
        "library_years": calendar.library_calendar()[0][-1],
    }


@router.get("/years/{year}", summary="某年的每一天（月历）")
def get_year(year: int, who: Principal = EDIT, conn: Connection = Depends(db_read, scope="function")) -> dict:
    return calendar.year_days(conn, year)


@router.put("/days/{day}", summary="修改某日（节假日、调休上班等；以后同步不覆盖）")
def put_day(
    day: str, body: DayIn, who: Principal = EDIT, conn: Connection = Depends(db_write, scope="function")
) -> dict:
    return calendar.set_day(
        conn, parse_day(day, "date"), body.working, body.kind, body.name, who.user, user_id=who.user_id
    )


@router.post("/years", status_code=201, summary="录入新的一年（节假日和调休上班日，其余按周末推算）")
def post_year(body: YearIn, who: Principal = EDIT, conn: Connection = Depends(db_write, scope="function")) -> dict:
    holidays, makeups = _named(body.holidays, "holidays"), _named(body.makeups, "makeups")
    return calendar.declare_year(conn, body.year, holidays, makeups, who.user, user_id=who.user_id)


@router.post("/sync", summary="按已安装的 chinesecalendar 更新其覆盖的年份（不覆盖管理员的修改）")
def post_sync(who: Principal = EDIT, conn: Connection = Depends(db_write, scope="function")) -> dict:
    return calendar.sync(conn, who.user, user_id=who.user_id)
