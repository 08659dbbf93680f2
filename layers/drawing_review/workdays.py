"""Natural and working days between the dates of a review, counted in SQL over the official calendar (DR-11, DR-12).

A review clock counts the working days d with start < d <= stop (accepted on day 0), as the core's
``chengjian_working_days(start, stop)`` does. Calling that function once per round is too slow for statistics over
100,000 rounds, so the queries here join the calendar's running count instead: ``work_calendar.ordinal`` is the number
of working days up to and including a day, and ``ordinal(stop) - ordinal(start)`` is the same count, one hash join
per date column. The join alone would count wrong across a year the calendar does not cover (no rows: NULL) or has
a hole in; so every query first asks the core's function for the widest span it is about to count
(:func:`require_calendar`): the function raises ``calendar_missing: <year>`` for the first uncovered year, which
becomes the 422 ``calendar_missing`` (nothing is guessed). Inside a span the function accepts, every day has its row.

Days are Beijing days: a timestamp's date in Asia/Shanghai.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from api.errors import ApiError

SHANGHAI = "Asia/Shanghai"

# The core's calendar (migration 0012_calendar): only the columns these queries read.
calendar = sa.table("work_calendar", sa.column("day", sa.Date), sa.column("ordinal", sa.Integer))

_MISSING = re.compile(r"calendar_missing: (\d+)")


def local_day(column: sa.ColumnElement) -> sa.ColumnElement:
    """``(column AT TIME ZONE 'Asia/Shanghai')::date``: the Beijing day of a timestamp."""
    return sa.cast(sa.func.timezone(SHANGHAI, column), sa.Date)


def natural_days(start: sa.ColumnElement, stop: sa.ColumnElement) -> sa.ColumnElement:
    """Calendar days from ``start`` to ``stop`` (dates): ``stop - start``."""
    return stop - start


class Ordinals:
    """Joins the calendar once per date column of a FROM clause: ``working_days(start, stop)`` is then the difference
    of the two days' running counts. Use it inside a span :func:`require_calendar` accepted."""

    def __init__(self, from_: sa.FromClause) -> None:
        self.from_: sa.FromClause = from_
        self._ordinal: dict[str, sa.ColumnElement] = {}

    def ordinal(self, day: sa.ColumnElement, name: str) -> sa.ColumnElement:
        if name not in self._ordinal:
            cal = calendar.alias(f"cal_{name}")
            self.from_ = self.from_.outerjoin(cal, cal.c.day == day)
            self._ordinal[name] = cal.c.ordinal
        return self._ordinal[name]

    def working_days(
        self, start: sa.ColumnElement, start_name: str, stop: sa.ColumnElement, stop_name: str
    ) -> sa.ColumnElement:
        return self.ordinal(stop, stop_name) - self.ordinal(start, start_name)


def span(pairs: Iterable[tuple[sa.ColumnElement, sa.ColumnElement]]) -> tuple[sa.ColumnElement, sa.ColumnElement]:
    """The earliest start and the latest stop of the (start, stop) pairs that will be counted (a pair counts only when
    both days are known: an open round needs no calendar): aggregate expressions for one SELECT."""
    pairs = list(pairs)
    lows = [sa.func.min(a).filter(a.is_not(None), b.is_not(None)) for a, b in pairs]
    highs = [sa.func.max(b).filter(a.is_not(None), b.is_not(None)) for a, b in pairs]
    low = lows[0] if len(lows) == 1 else sa.func.least(*lows)
    high = highs[0] if len(highs) == 1 else sa.func.greatest(*highs)
    return low, high


def guard(low: sa.ColumnElement, high: sa.ColumnElement) -> sa.ColumnElement:
    """``chengjian_working_days(low, high)``: raises ``calendar_missing`` unless every year from ``low`` to ``high``
    is covered (NULL when there is nothing to count)."""
    return sa.func.chengjian_working_days(low, high)


def require_calendar(conn: Connection, from_: sa.FromClause, pairs: list[tuple[sa.ColumnElement, sa.ColumnElement]]):
    """Ask the core's function for the widest span the pairs of ``from_`` reach; raises the 422 when a year of it is
    not covered."""
    low, high = span(pairs)
    with calendar_errors():
        conn.execute(sa.select(guard(low, high)).select_from(from_))


def missing_year(exc: BaseException) -> int | None:
    """The uncovered year a calendar function complained of, or None (another error)."""
    found = _MISSING.search(str(getattr(exc, "orig", None) or exc))
    return int(found.group(1)) if found else None


def calendar_missing(year: int, field: str | None = None) -> ApiError:
    return ApiError(
        422,
        "calendar_missing",
        f"{year} 年的节假日安排尚未发布，无法计算工作日。请系统管理员在「工作日历」中录入该年的节假日和调休安排。",
        field,
        {"year": year},
    )


@contextmanager
def calendar_errors(field: str | None = None) -> Iterator[None]:
    """Turns the calendar functions' ``calendar_missing: <year>`` into the 422 ``calendar_missing``."""
    try:
        yield
    except DBAPIError as exc:
        year = missing_year(exc)
        if year is None:
            raise
        raise calendar_missing(year, field) from exc
