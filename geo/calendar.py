"""The official working-day calendar (SPEC DR-05, DR-11, DR-12): which days are worked, how many working days lie
between two dates, the n-th working day after a date — never a guess for a year nobody has declared.

The calendar lives in the database (``work_calendar``, one row per day; ``work_calendar_years``, the covered years;
migration 0012) so that statistics count working days in SQL with ``chengjian_working_days(start, stop)`` and
``chengjian_add_working_days(start, n)``. The years the PyPI package ``chinesecalendar`` covers are filled from it
(``sync``); an administrator declares a later year from the State Council's notice (``declare_year``: its holidays
and make-up working days; the weekends follow) and corrects single days (``set_day``). Administrators' rows win:
a sync never overwrites them. Every write is audited and keeps the running count of working days (``ordinal``,
renumbered by a trigger in the same transaction) right.

A computation that reaches a year the calendar does not cover raises :class:`CalendarMissing` (``calendar_missing``,
HTTP 422) — from Python here, and from SQL anywhere (the functions raise ``P0001`` ``calendar_missing: <year>``,
which :func:`missing_from` recognises and api/errors.py answers).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from geo import audit
from geo.errors import Conflict, Invalid

KINDS = {"workday": "工作日", "weekend": "休息日", "holiday": "节假日", "makeup": "调休上班"}
WORKING_KINDS = ("workday", "makeup")
NAMED_KINDS = ("holiday", "makeup")
SOURCES = {"chinesecalendar": "chinesecalendar（国务院节假日安排）", "admin": "管理员维护"}
WEEKDAYS = "一二三四五六日"
# The holidays' names as the State Council's notices write them (the package shortens three).
OFFICIAL = {"清明": "清明节", "端午": "端午节", "中秋": "中秋节"}
NAME_MAX = 60

_meta = sa.MetaData()
days_table = sa.Table(
    "work_calendar",
    _meta,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("working", sa.Boolean),
    sa.Column("kind", sa.Text),
    sa.Column("name", sa.Text),
    sa.Column("source", sa.Text),
    sa.Column("ordinal", sa.Integer),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
    sa.Column("updated_by", sa.Text),
)
years_table = sa.Table(
    "work_calendar_years",
    _meta,
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("source", sa.Text),
    sa.Column("complete", sa.Boolean),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
    sa.Column("updated_by", sa.Text),
)


class CalendarMissing(Invalid):
    """A computation needs a year the calendar does not cover (its holidays are not published or not entered)."""

    def __init__(self, year: int, field: str | None = None) -> None:
        super().__init__(
            "calendar_missing",
            f"{year} 年的节假日安排尚未发布，无法计算工作日。请系统管理员在「工作日历」中录入该年的节假日和调休安排。",
            field,
            {"year": year},
        )
        self.year = year


_MISSING = re.compile(r"calendar_missing: (\d+)")


def missing_from(exc: BaseException) -> CalendarMissing | None:
    """The domain error a database error stands for when the calendar's SQL functions raised it (else None)."""
    orig = getattr(exc, "orig", exc)
    if getattr(orig, "sqlstate", None) != "P0001":
        return None
    primary = getattr(getattr(orig, "diag", None), "message_primary", None) or str(orig)
    found = _MISSING.match(primary)
    return CalendarMissing(int(found.group(1))) if found else None


@contextmanager
def counting(fields: dict[int, str] | None = None, default: str | None = None) -> Iterator[None]:
    """Run SQL that counts working days: the database's ``calendar_missing`` becomes :class:`CalendarMissing`, its
    field the one ``fields`` names for the missing year (else ``default``)."""
    try:
        yield
    except DBAPIError as exc:
        missing = missing_from(exc)
        if missing is None:
            raise
        missing.field = (fields or {}).get(missing.year, default)
        raise missing from None


# -- reading ------------------------------------------------------------------------------------------------------


def day_view(row: Any) -> dict:
    return {"date": row.day.isoformat(), "working": row.working, "kind": row.kind, "name": row.name}


def is_working(conn: Connection, day: dt.date, field: str = "date") -> dict:
    """``{"date", "working", "kind", "name"}`` of ``day``; :class:`CalendarMissing` when its year is not covered."""
    d = days_table
    row = conn.execute(
        sa.select(d.c.day, d.c.working, d.c.kind, d.c.name)
        .join_from(d, years_table, years_table.c.year == sa.extract("year", d.c.day))
        .where(d.c.day == day, years_table.c.complete)
    ).first()
    if row is None:
        raise CalendarMissing(day.year, field)
    return day_view(row)


def working_days(
    conn: Connection, start: dt.date, stop: dt.date, start_field: str = "start", stop_field: str = "stop"
) -> int:
    """The working days d with start < d <= stop (accepted on day 0: the first working day after it counts 1);
    negative when stop is before start. The SQL function ``chengjian_working_days`` does the counting."""
    with counting({stop.year: stop_field, start.year: start_field}, stop_field):
        return conn.execute(sa.func.chengjian_working_days(start, stop).select()).scalar_one()


def add_working_days(conn: Connection, start: dt.date, n: int, field: str = "start") -> dt.date:
    """The n-th working day after ``start`` (``start`` itself for 0); n must not be negative."""
    if n < 0:
        raise Invalid("out_of_range", "工作日天数不能为负数。", "days", {"value": n})
    with counting({start.year: field}, "days"):
        return conn.execute(sa.func.chengjian_add_working_days(start, n).select()).scalar_one()


def years(conn: Connection) -> list[dict]:
    """The covered years, with how many holidays, make-up days and administrator-kept days each has."""
    d, y = days_table, years_table
    year = sa.extract("year", d.c.day).cast(sa.Integer)
    counts = (
        sa.select(
            year.label("year"),
            sa.func.count().filter(d.c.kind == "holiday").label("holidays"),
            sa.func.count().filter(d.c.kind == "makeup").label("makeups"),
            sa.func.count().filter(d.c.working).label("working_days"),
            sa.func.count().filter(d.c.source == "admin").label("admin_days"),
        )
        .group_by(year)
        .subquery()
    )
    rows = conn.execute(
        sa.select(y, counts.c.holidays, counts.c.makeups, counts.c.working_days, counts.c.admin_days)
        .join_from(y, counts, counts.c.year == y.c.year, isouter=True)
        .order_by(y.c.year)
    ).mappings()
    return [{**r, "updated_at": r["updated_at"].isoformat() if r["updated_at"] else None} | _zero(r) for r in rows]


def _zero(r: Any) -> dict:
    return {k: r[k] or 0 for k in ("holidays", "makeups", "working_days", "admin_days")}


def year_days(conn: Connection, year: int, field: str = "year") -> dict:
    """Every day of a covered year (for the administrators' month grid)."""
    y = (
        conn.execute(sa.select(years_table).where(years_table.c.year == year, years_table.c.complete))
        .mappings()
        .first()
    )
    if y is None:
        raise CalendarMissing(year, field)
    d = days_table
    rows = conn.execute(
        sa.select(d).where(d.c.day >= dt.date(year, 1, 1), d.c.day <= dt.date(year, 12, 31)).order_by(d.c.day)
    ).all()
    return {
        "year": year,
        "source": y["source"],
        "days": [
            {**day_view(r), "source": r.source, "updated_by": audit.actor_name(r.updated_by), "ordinal": r.ordinal}
            for r in rows
        ],
    }


# -- writing ------------------------------------------------------------------------------------------------------


def _lock(conn: Connection) -> None:
    """One writer at a time (readers go on): the renumbering reads the whole table."""
    conn.execute(sa.text("LOCK TABLE work_calendar, work_calendar_years IN SHARE ROW EXCLUSIVE MODE"))


def _weekend(day: dt.date) -> bool:
    return day.isoweekday() >= 6


def _weekday_name(day: dt.date) -> str:
    return "星期" + WEEKDAYS[day.isoweekday() - 1]


def check_day(day: dt.date, working: bool, kind: str, name: str | None, field: str = "kind") -> str | None:
    """What a day may be (the table's checks, said in Chinese first); returns the name to store (blank: none)."""
    if kind not in KINDS:
        raise Invalid("invalid_choice", f"日期类型「{str(kind)[:20]}」不正确。", "kind", {"choices": list(KINDS)})
    if working is not (kind in WORKING_KINDS):
        should = "上班" if kind in WORKING_KINDS else "不上班"
        raise Invalid(
            "kind_mismatch", f"「{KINDS[kind]}」应为{should}，与所填是否上班不一致。", "working", {"kind": kind}
        )
    label = f"{day.isoformat()}（{_weekday_name(day)}）"
    if kind in ("weekend", "makeup") and not _weekend(day):
        raise Invalid("kind_weekday", f"{label}不是周末，不能设为「{KINDS[kind]}」。", field, {"date": day.isoformat()})
    if kind == "workday" and _weekend(day):
        raise Invalid("kind_weekday", f"{label}是周末，周末上班请选「调休上班」。", field, {"date": day.isoformat()})
    name = (name or "").strip() or None
    if kind in NAMED_KINDS and name is None:
        raise Invalid("required", f"{label}是「{KINDS[kind]}」，请填写节日名称。", "name", {"date": day.isoformat()})
    if kind not in NAMED_KINDS and name is not None:
        raise Invalid("name_not_allowed", "只有节假日和调休上班日可以填写名称。", "name", {"kind": kind})
    if name is not None and len(name) > NAME_MAX:
        raise Invalid("too_long", f"节日名称最多 {NAME_MAX} 个字。", "name", {"value": name})
    return name


def set_day(
    conn: Connection,
    day: dt.date,
    working: bool,
    kind: str,
    name: str | None,
    actor: str,
    user_id: int | None = None,
) -> dict:
    """An administrator's correction of one day of a covered year (kept against later syncs); audited."""
    name = check_day(day, working, kind, name)
    _lock(conn)
    before = is_working(conn, day)
    d = days_table
    conn.execute(
        sa.update(d)
        .where(d.c.day == day)
        .values(working=working, kind=kind, name=name, source="admin", updated_at=sa.func.now(), updated_by=actor)
    )
    after = is_working(conn, day)
    audit.record(
        conn, actor, "update", "work_calendar", None, before, after, detail={"date": day.isoformat()}, user_id=user_id
    )
    return after


def declare_year(
    conn: Connection,
    year: int,
    holidays: dict[dt.date, str],
    makeups: dict[dt.date, str],
    actor: str,
    user_id: int | None = None,
) -> dict:
    """Declare a year the calendar does not cover yet from its official notice: the holidays (every day off, with
    the holiday's name) and the make-up working days (Saturdays or Sundays); every other Saturday and Sunday is a
    weekend, every other day a workday. Audited; the year's days are the administrators' (a sync keeps them)."""
    exceptions: dict[dt.date, tuple[str, str]] = {}
    for field, kind, given in (("holidays", "holiday", holidays), ("makeups", "makeup", makeups)):
        for day, name in given.items():
            if day.year != year:
                raise Invalid(
                    "date_outside_year", f"{day.isoformat()} 不在 {year} 年内。", field, {"date": day.isoformat()}
                )
            if day in exceptions:
                raise Invalid(
                    "date_twice", f"{day.isoformat()} 不能既是节假日又是调休上班日。", field, {"date": day.isoformat()}
                )
            stored = check_day(day, kind == "makeup", kind, name, field)
            assert stored is not None  # a holiday and a make-up day always have a name (check_day)
            exceptions[day] = (kind, stored)
    _lock(conn)
    if conn.execute(sa.select(years_table.c.year).where(years_table.c.year == year)).first():
        raise Conflict("year_exists", f"{year} 年的日历已存在，请在月历中逐日修改。", "year", {"year": year})
    ordered = sorted(exceptions)
    # One statement: the days of the year, the declared exceptions joined to the days of the week.
    conn.execute(
        sa.text("""
            INSERT INTO work_calendar (day, working, kind, name, source, updated_by)
            SELECT d::date, coalesce(x.kind = 'makeup', extract(isodow FROM d) < 6),
                   coalesce(x.kind, CASE WHEN extract(isodow FROM d) < 6 THEN 'workday' ELSE 'weekend' END),
                   x.name, 'admin', :actor
            FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') AS d
            LEFT JOIN unnest(CAST(:days AS date[]), CAST(:kinds AS text[]), CAST(:names AS text[]))
                AS x (day, kind, name) ON x.day = d::date
        """),
        {
            "actor": actor,
            "first": dt.date(year, 1, 1),
            "last": dt.date(year, 12, 31),
            "days": ordered,
            "kinds": [exceptions[d][0] for d in ordered],
            "names": [exceptions[d][1] for d in ordered],
        },
    )
    conn.execute(sa.insert(years_table).values(year=year, source="admin", complete=True, updated_by=actor))
    after = {
        "year": year,
        "holidays": {d.isoformat(): n for d, (k, n) in exceptions.items() if k == "holiday"},
        "makeups": {d.isoformat(): n for d, (k, n) in exceptions.items() if k == "makeup"},
    }
    audit.record(conn, actor, "create", "work_calendar_years", year, None, after, user_id=user_id)
    return next(y for y in years(conn) if y["year"] == year)


# -- the package ---------------------------------------------------------------------------------------------------


def library_calendar() -> tuple[list[int], dict[dt.date, tuple[str, str]]]:
    """The years chinesecalendar covers and its exceptions to the week: day -> (kind, Chinese name)."""
    from chinese_calendar import constants  # type: ignore[import-untyped]

    chinese = {h.value: OFFICIAL.get(h.chinese, h.chinese) for h in constants.Holiday}
    found = [d.year for d in constants.holidays] + [d.year for d in constants.workdays]
    out: dict[dt.date, tuple[str, str]] = {}
    for day, name in constants.holidays.items():
        out[day] = ("holiday", chinese.get(name, name))
    for day, name in constants.workdays.items():
        out[day] = ("makeup", chinese.get(name, name) + "调休")
    return list(range(min(found), max(found) + 1)), out


def sync(conn: Connection, actor: str = "system", user_id: int | None = None) -> dict:
    """Bring the years chinesecalendar covers up to date with the installed package (a newer release adds a year):
    new days are added, the package's own rows corrected; an administrator's rows are left as they are. Audited."""
    covered, exceptions = library_calendar()
    ordered = sorted(exceptions)
    _lock(conn)
    changed = conn.execute(
        sa.text("""
            INSERT INTO work_calendar AS w (day, working, kind, name, source, updated_by)
            SELECT d::date, coalesce(x.kind = 'makeup', extract(isodow FROM d) < 6),
                   coalesce(x.kind, CASE WHEN extract(isodow FROM d) < 6 THEN 'workday' ELSE 'weekend' END),
                   x.name, 'chinesecalendar', :actor
            FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') AS d
            LEFT JOIN unnest(CAST(:days AS date[]), CAST(:kinds AS text[]), CAST(:names AS text[]))
                AS x (day, kind, name) ON x.day = d::date
            ON CONFLICT (day) DO UPDATE
            SET working = excluded.working, kind = excluded.kind, name = excluded.name, updated_at = now(),
                updated_by = excluded.updated_by
            WHERE w.source = 'chinesecalendar'
              AND (w.working, w.kind, w.name) IS DISTINCT FROM (excluded.working, excluded.kind, excluded.name)
        """),
        {
            "actor": actor,
            "first": dt.date(covered[0], 1, 1),
            "last": dt.date(covered[-1], 12, 31),
            "days": ordered,
            "kinds": [exceptions[d][0] for d in ordered],
            "names": [exceptions[d][1] for d in ordered],
        },
    ).rowcount
    added = conn.execute(
        sa.text("""
            INSERT INTO work_calendar_years (year, source, complete, updated_by)
            SELECT y, 'chinesecalendar', true, :actor FROM unnest(CAST(:years AS integer[])) AS y
            ON CONFLICT (year) DO NOTHING
            RETURNING year
        """),
        {"actor": actor, "years": covered},
    ).scalars()
    result = {"years": [covered[0], covered[-1]], "added_years": sorted(added), "changed_days": changed}
    audit.record(conn, actor, "calendar_sync", "work_calendar", None, None, result, user_id=user_id)
    return result
