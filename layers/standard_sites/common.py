"""What the standardized-site submodules share: the site as the principal may see it, configuration lookups,
months and dates in Beijing time, and the one rule of which months a registered site owes a monthly report for."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy import Connection

from api.errors import ApiError
from geo.cases import Action, Label, Materials
from geo.divisions import district_attr
from geo.layer.registry import Attr
from layers.credit import Subject
from layers.standard_sites import tables as t
from layers.standard_sites.settings import st_settings

BEIJING = timezone(timedelta(hours=8))
PREFIX = "/api/st"


def photos(owner_kind: str) -> Materials:
    """A case's site photos (``st_photos``, shared by the case types: ``owner_kind`` says whose), named by their
    checklist item — the materials the handled-matter register lists."""
    return Materials(
        "st_photos",
        "owner_id",
        "现场照片",
        f"{PREFIX}/photos/{{id}}/file",
        where=(("owner_kind", owner_kind),),
        name="checklist_code",
        label=Label("st_catalog", where=(("kind", "photo"),)),
        thumbnail=f"{PREFIX}/photos/{{id}}/thumbnail",
        withdrawn="deleted_at",
    )


def attachments(key: str, route: str, title: str) -> Materials:
    """A case's documents (``st_attachments``, by its ``key`` column), served under ``/api/st/<route>/{case}``."""
    return Materials(
        "st_attachments",
        key,
        title,
        f"{PREFIX}/{route}/{{case_id}}/attachments/{{id}}/file",
        name="name",
        withdrawn="deleted_at",
    )


def report_due_day() -> int:
    """The day of the following month by which a monthly report must be submitted (later: flagged late)."""
    return st_settings().report_due_day


def outside_fence_policy() -> str:
    """``refuse`` (default): a photo taken outside the site's fence is refused; ``flag``: accepted and flagged."""
    return st_settings().outside_fence


def authority_only(who) -> bool:
    """Principals who neither fill nor review the units' declarations see only what the supervision unit approved."""
    return not who.can("site.report.submit") and not who.can("site.report.review")


# What the units' declarations (monthly reports, bonus claims, evaluation applications) share: the construction unit
# submits, the supervision unit approves or returns with a reason; the authority's steps follow per kind of case.
REVIEW_STATES = {"draft": "草稿", "submitted": "待监理审核", "supervision_approved": "监理已审核", "returned": "已退回"}
SUPERVISION_REVIEW = (
    Action("submit", "提交", ("draft", "returned"), "submitted", "site.report.submit", files=True),
    Action("approve", "审核通过", ("submitted",), "supervision_approved", "site.report.review"),
    Action("return", "退回", ("submitted",), "returned", "site.report.review", reason_required=True),
)
REVIEW_FIELDS = (
    Attr("site_id", "工地", "int", filterable=True),
    district_attr(),
    Attr("status", "状态", filterable=True),
    Attr("submitted_at", "提交时间", "datetime"),
    Attr("reviewed_at", "监理审核时间", "datetime"),
    Attr("reviewed_by", "监理审核人"),
    Attr("return_reason", "退回理由"),
)


def review_values(a: Action, reason: str | None, who) -> dict:
    """The columns the supervision unit's approval or return sets."""
    return {"reviewed_at": now(), "reviewed_by": who.user, "return_reason": reason if a.name == "return" else None}


def authority_restriction(states: tuple[str, ...]):
    """A case declaration's ``restrict`` rule: authority-only principals see the approved states only."""

    def restrict(who, table, conn=None, params=None):
        return table.c.status.in_(states) if authority_only(who) else None

    return restrict


def iso(t) -> str | None:
    return t.isoformat() if t else None


def site(conn: Connection, site_id: int) -> dict:
    """The site (as the connection's scope sees it) with its registration, or 404."""
    s = t.sites()
    r, p = t.registrations, t.projects
    query = (
        sa.select(
            s.c.id,
            s.c.code,
            s.c.name,
            s.c.district,
            s.c.status,
            s.c.construction_unit,
            s.c.supervision_unit,
            s.c.builder,
            r.c.id.label("registration_id"),
            p.c.id.label("project_id"),
            p.c.code.label("project_code"),
        )
        .select_from(s.outerjoin(r, r.c.site_id == s.c.id).outerjoin(p, p.c.id == r.c.project_id))
        .where(s.c.id == site_id, s.c.deleted_at.is_(None))
    )
    row = conn.execute(query).mappings().first()
    if row is None:
        raise ApiError(404, "site_not_found", "工地不存在，或不在您的数据范围内。", "site_id")
    return dict(row)


def beijing_date(column: sa.ColumnElement) -> sa.ColumnElement:
    """``(column AT TIME ZONE 'Asia/Shanghai')::date``: the day of a timestamp in Beijing."""
    return sa.cast(sa.func.timezone("Asia/Shanghai", column), sa.Date)


def registered_on(conn: Connection, site_id: int) -> date | None:
    """The day (Beijing time) the site's project registered, or None."""
    r = t.registrations
    return conn.execute(sa.select(sa.func.min(beijing_date(r.c.created_at))).where(r.c.site_id == site_id)).scalar()


def catalog(conn: Connection, kind: str, active_only: bool = True) -> list[dict]:
    c = t.catalog
    query = sa.select(
        c.c.id,
        c.c.kind,
        c.c.code,
        c.c.name,
        c.c.part,
        c.c.points,
        c.c.required,
        c.c.field_type,
        c.c.sort,
        c.c.active,
        c.c.version,
    ).where(c.c.kind == kind)
    if active_only:
        query = query.where(c.c.active)
    return [dict(r) for r in conn.execute(query.order_by(c.c.sort, c.c.id)).mappings()]


def parse_month(value: str, field: str = "month") -> date:
    try:
        y, m = (int(p) for p in str(value)[:7].split("-"))
        return date(y, m, 1)
    except (ValueError, TypeError):
        raise ApiError(422, "invalid_month", f"月份「{value}」格式不正确，应为 YYYY-MM。", field)


def due_date(month: date) -> date:
    nxt = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    return nxt.replace(day=min(report_due_day(), 28))


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def months(start: date, end: date) -> list[date]:
    """The first days of the months from ``start``'s to ``end``'s, both included."""
    out, m = [], start.replace(day=1)
    while m <= end:
        out.append(m)
        m = next_month(m)
    return out


def reporting_from(registered_on: date) -> date:
    """The first month a site registered on ``registered_on`` reports for: its registration's month (the months
    before it registered are never asked for)."""
    return registered_on.replace(day=1)


def months_owed(
    registered_on: date | None, until: date, today: date | None = None, completed_on: date | None = None
) -> list[date]:
    """The months up to ``until``'s a site registered on ``registered_on`` owes a monthly report for, as of
    ``today``: from its registration's month to its completion acceptance's (``completed_on``), each once its due
    day has passed. The one rule that the statistics' missing reports, the pin's 逾期未报 and the evaluation's
    pre-filled missing months (its printed form and the expert's page show those) all follow. An unregistered site
    owes nothing."""
    if registered_on is None:
        return []
    today = today or today_beijing()
    if completed_on is not None:
        until = min(until, completed_on)
    return [m for m in months(reporting_from(registered_on), until) if today > due_date(m)]


# The module's clock: ``now()`` is the wall clock unless a block runs ``as_of`` a given time. The demo replays a
# year of the module's use through the module's own functions (a registration last year, each month's report in its
# month, a review inside a past window); nothing else sets it.
_as_of: ContextVar[datetime | None] = ContextVar("st_as_of", default=None)


@contextmanager
def as_of(at: datetime) -> Iterator[None]:
    if at.tzinfo is None:
        raise ValueError("as_of needs an aware time")
    token = _as_of.set(at)
    try:
        yield
    finally:
        _as_of.reset(token)


def now() -> datetime:
    at = _as_of.get()
    return at if at is not None else datetime.now(UTC)


def today_beijing() -> date:
    return now().astimezone(BEIJING).date()


def construction_unit(conn: Connection, row: dict) -> Subject | None:
    """The construction unit of the case's site (from the project register), or None when it has no credit code."""
    pr = t.projects
    p = (
        conn.execute(
            sa.select(pr.c.construction_name, pr.c.construction_uscc)
            .where(pr.c.site_id == row["site_id"])
            .order_by(pr.c.id)
            .limit(1)
        )
        .mappings()
        .first()
    )
    if p is None or not p["construction_uscc"]:
        return None
    return Subject("enterprise", p["construction_uscc"], p["construction_name"] or "")
