"""Natural and working days between the dates of a review, counted in SQL over the official calendar (DR-11, DR-12).

A review clock counts the working days d with start < d <= stop (accepted on day 0): the core's
``chengjian_working_days(start, stop)`` (migration 0012_calendar), which the planner inlines into the calling query —
statistics over 100,000 rounds call it per row. A NULL date (an open round) gives NULL; a date in a year the calendar
does not cover raises ``calendar_missing: <year>``, which :func:`counting` turns into the core's 422
``calendar_missing`` (nothing is guessed).

Days are Beijing days: a timestamp's date in Asia/Shanghai.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from geo import calendar

SHANGHAI = "Asia/Shanghai"


def local_day(column: sa.ColumnElement) -> sa.ColumnElement:
    """``(column AT TIME ZONE 'Asia/Shanghai')::date``: the Beijing day of a timestamp."""
    return sa.cast(sa.func.timezone(SHANGHAI, column), sa.Date)


def natural_days(start: sa.ColumnElement, stop: sa.ColumnElement) -> sa.ColumnElement:
    """Calendar days from ``start`` to ``stop`` (dates): ``stop - start``."""
    return stop - start


def working_days(start: sa.ColumnElement, stop: sa.ColumnElement) -> sa.ColumnElement:
    """Working days after ``start`` up to and including ``stop`` (dates), by the official calendar."""
    return sa.func.chengjian_working_days(start, stop, type_=sa.Integer)


@contextmanager
def counting(field: str | None = None) -> Iterator[None]:
    """Statements that count working days: the calendar's ``calendar_missing`` becomes the core's 422 (naming
    ``field``, the filter that reached the uncovered year, when there is one)."""
    with calendar.counting(default=field):
        yield
