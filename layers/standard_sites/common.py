"""What the standardized-site submodules share: the site as the principal may see it, configuration lookups,
months and dates in Beijing time."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy import Connection

from api.errors import ApiError
from layers.standard_sites import tables as t

BEIJING = timezone(timedelta(hours=8))
PREFIX = "/api/st"


def report_due_day() -> int:
    """The day of the following month by which a monthly report must be submitted (later: flagged late)."""
    return int(os.environ.get("CHENGJIAN_ST_REPORT_DUE_DAY", "10"))


def outside_fence_policy() -> str:
    """``refuse`` (default): a photo taken outside the site's fence is refused; ``flag``: accepted and flagged."""
    value = os.environ.get("CHENGJIAN_ST_OUTSIDE_FENCE", "refuse")
    return value if value in ("refuse", "flag") else "refuse"


def authority_only(who) -> bool:
    """Principals who neither fill nor review the units' declarations see only what the supervision unit approved."""
    return not who.can("site.report.submit") and not who.can("site.report.review")


def case_filter(
    who, states: dict[str, str], authority_states: tuple[str, ...], alias: str = "", **given: object
) -> tuple[str, dict]:
    """The WHERE text and parameters of a case list: equality filters on the columns ``given`` names (None: no
    filter), the status checked against ``states``, and for authority-only principals the approved states only.
    (Row-level security has already limited the rows to the principal's scope.)"""
    where, params = ["true"], {}
    for column, value in given.items():
        if value is None or value == "":
            continue
        if column == "status" and value not in states:
            raise ApiError(422, "invalid_status", f"状态「{value}」不正确。", "status", {"states": states})
        where.append(f"{alias}{column} = :{column}")
        params[column] = value
    if authority_only(who):
        where.append(f"{alias}status = ANY(:authority_states)")
        params["authority_states"] = list(authority_states)
    return " AND ".join(where), params


def authority_restriction(states: tuple[str, ...]):
    """A case declaration's ``restrict`` rule: authority-only principals see the approved states only."""

    def restrict(who, table):
        return table.c.status.in_(states) if authority_only(who) else None

    return restrict


def visible_case(row, who, authority_states: tuple[str, ...], title: str) -> dict:
    """A case row as the principal may see it: authority-only principals see approved cases only; else 404."""
    if row is None or (authority_only(who) and row["status"] not in authority_states):
        raise ApiError(404, "not_found", f"{title}不存在，或不在您的数据范围内。")
    return dict(row)


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


def now() -> datetime:
    return datetime.now(UTC)


def today_beijing() -> date:
    return now().astimezone(BEIJING).date()
