"""The matters query, from the case declarations: one branch per case type the principal may view.

Each branch reads the case table with (where the table has them) its ``site_id`` → the site's project, the creating
account → its user and organisation (the applicant and their unit), and the count of its materials. Materials are
where the case's declaration says (``geo.cases.Materials``: a file table, the column holding the case's id, and what
else a row must match, e.g. ``owner_kind``); withdrawn files are not counted. ``materials`` lists one case's files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from geo import cases
from geo.bounds import BEIJING
from geo.cases import CaseType, Materials
from geo.errors import Invalid

USERS = sa.table("users", sa.column("username"), sa.column("display_name"), sa.column("org_id"))
ORGS = sa.table("organisations", sa.column("id"), sa.column("name"))
PROJECTS = sa.table("projects", sa.column("id"), sa.column("site_id"), sa.column("code"), sa.column("name"))
HISTORY = sa.table(
    "case_history",
    *(sa.column(c) for c in ("id", "case_kind", "case_id", "action", "from_state", "to_state", "actor", "at")),
)


def _col(t: sa.Table, name: str, type_: Any = sa.Text) -> Any:
    return t.c[name] if name in t.c else sa.cast(sa.null(), type_)


def _file_table(m: Materials) -> sa.TableClause:
    names = {"id", "content_type", "size", "created_at", m.key, *(c for c, _ in m.where)}
    names |= {c for c in (m.name, m.withdrawn) if c}
    return sa.table(m.table, *(sa.column(c) for c in sorted(names)))


def _conditions(f: sa.TableClause, m: Materials, case_id: Any) -> list[Any]:
    cond = [f.c[m.key] == case_id, *(f.c[c] == v for c, v in m.where)]
    if m.withdrawn:
        cond.append(f.c[m.withdrawn].is_(None))
    return cond


def _materials_count(t: sa.Table, declared: tuple[Materials, ...]) -> Any:
    """How many files the case has, over its declared materials (a correlated count per declaration)."""
    parts = []
    for m in declared:
        f = _file_table(m)
        parts.append(sa.select(sa.func.count()).select_from(f).where(*_conditions(f, m, t.c.id)).scalar_subquery())
    if not parts:
        return sa.literal(0, sa.Integer)
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return sa.cast(total, sa.Integer)


def materials(conn: Connection, case: CaseType, case_id: int) -> list[dict]:
    """The files submitted with one case, as its declaration places them (``CaseType.materials``), oldest upload
    first: name, kind of material, content type, size, upload time and where the module serves the file. Read on
    the caller's connection (the file tables' row-level security applies)."""
    out: list[dict] = []
    for i, m in enumerate(case.materials):
        f = _file_table(m).alias(f"m{i}")
        name: Any = f.c[m.name] if m.name else sa.null()
        source: Any = f
        if m.label is not None and m.name:
            lt = sa.table(m.label.table, *(sa.column(c) for c in {m.label.code, m.label.name, *dict(m.label.where)}))
            lab = lt.alias(f"l{i}")
            on = [lab.c[m.label.code] == f.c[m.name], *(lab.c[c] == v for c, v in m.label.where)]
            source = source.outerjoin(lab, sa.and_(*on))
            name = sa.func.coalesce(lab.c[m.label.name], f.c[m.name])
        q = (
            sa.select(f.c.id, name.label("name"), f.c.content_type, f.c.size, f.c.created_at)
            .select_from(source)
            .where(*_conditions(f, m, case_id))
        )
        for r in conn.execute(q).mappings():
            keys = {"id": r["id"], "case_id": case_id}
            out.append(
                {
                    "id": r["id"],
                    "title": m.title,
                    "name": r["name"] or m.title,
                    "content_type": r["content_type"],
                    "size": r["size"],
                    "uploaded_at": r["created_at"],
                    "url": m.url.format(**keys),
                    "thumbnail": m.thumbnail.format(**keys) if m.thumbnail else None,
                }
            )
    out.sort(key=lambda x: (x["uploaded_at"] is None, x["uploaded_at"] or datetime.min, x["title"], x["id"]))
    return out


def branch(case: CaseType, who: Any, conn: Connection) -> sa.Select:
    """One case type's rows in the register's columns."""
    t = case.sa_table
    u = USERS.alias(f"u_{case.kind}")
    o = ORGS.alias(f"o_{case.kind}")
    source: Any = t
    created_by = _col(t, "created_by")
    source = source.outerjoin(u, u.c.username == created_by).outerjoin(o, o.c.id == u.c.org_id)
    if "site_id" in t.c:
        p = (
            sa.select(PROJECTS.c.code, PROJECTS.c.name)
            .where(PROJECTS.c.site_id == t.c.site_id)
            .order_by(PROJECTS.c.id)
            .limit(1)
            .lateral(f"p_{case.kind}")
        )
        source = source.outerjoin(p, sa.true())
        project_code, project_name = p.c.code, p.c.name
    elif "project_id" in t.c:
        p2 = PROJECTS.alias(f"p_{case.kind}")
        source = source.outerjoin(p2, p2.c.id == t.c.project_id)
        project_code, project_name = p2.c.code, p2.c.name
    else:
        project_code = project_name = sa.cast(sa.null(), sa.Text)
    q = sa.select(
        sa.literal(case.kind, sa.Text).label("kind"),
        t.c.id.label("id"),
        _col(t, "status").label("status"),
        _col(t, "site_id", sa.BigInteger).label("site_id"),
        _col(t, "district").label("district"),
        project_code.label("project_code"),
        project_name.label("project_name"),
        created_by.label("created_by"),
        u.c.display_name.label("applicant_name"),
        o.c.name.label("unit"),
        _col(t, "created_at", sa.DateTime(timezone=True)).label("created_at"),
        _col(t, "updated_at", sa.DateTime(timezone=True)).label("updated_at"),
        _materials_count(t, case.materials).label("materials"),
    ).select_from(source)
    if case.restrict is not None:
        more = case.restrict(who, t, conn, {})
        if more is not None:
            q = q.where(more)
    return q


@dataclass(frozen=True)
class Filters:
    kinds: tuple[str, ...] = ()
    status: str | None = None
    applicant: str | None = None
    project: str | None = None
    district: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid("invalid_date", f"日期「{value[:20]}」格式不正确（应为 YYYY-MM-DD）。", field) from None


def check(raw: dict[str, str], visible: list[CaseType]) -> Filters:
    """Typed filters from query parameters; an unknown type or state is refused (422)."""
    by_kind = {c.kind: c for c in cases.all_types()}
    kinds: tuple[str, ...] = ()
    if raw.get("type"):
        kind = raw["type"]
        if kind not in by_kind:
            raise Invalid("invalid_type", f"办件类型「{kind[:50]}」不存在。", "type", {"types": sorted(by_kind)})
        kinds = (kind,)
    status = raw.get("status") or None
    if status:
        pool = [by_kind[k] for k in kinds] if kinds else list(by_kind.values())
        if not any(status in c.states for c in pool):
            raise Invalid("invalid_status", f"状态「{status[:50]}」不正确。", "status")
    since, until = _day(raw.get("from"), "from"), _day(raw.get("to"), "to")
    if since and until and until < since:
        raise Invalid("invalid_range", "截止日期不能早于起始日期。", "to")
    return Filters(
        kinds=kinds,
        status=status,
        applicant=(raw.get("applicant") or "").strip()[:100] or None,
        project=(raw.get("project") or "").strip()[:100] or None,
        district=(raw.get("district") or "").strip()[:50] or None,
        since=datetime.combine(since, time.min, BEIJING) if since else None,
        until=datetime.combine(until + timedelta(days=1), time.min, BEIJING) if until else None,
    )


def viewable(who: Any) -> list[CaseType]:
    return [c for c in cases.all_types() if who.can(c.view)]


def union(conn: Connection, who: Any, f: Filters) -> sa.Subquery | None:
    """Every case ``who`` may see that matches ``f`` (filters pushed into each branch), or None when no type is
    left (the principal views none, or the type filter names one it may not view)."""
    branches = []
    for case in viewable(who):
        if f.kinds and case.kind not in f.kinds:
            continue
        if f.status and f.status not in case.states:
            continue
        q = branch(case, who, conn)
        c = q.selected_columns
        cond: list[Any] = []
        if f.status:
            cond.append(c.status == f.status)
        if f.district:
            cond.append(c.district == f.district)
        if f.since:
            cond.append(c.created_at >= f.since)
        if f.until:
            cond.append(c.created_at < f.until)
        if f.applicant:
            cond.append(
                sa.or_(
                    c.created_by == f.applicant,
                    c.applicant_name.contains(f.applicant, autoescape=True),
                    c.unit.contains(f.applicant, autoescape=True),
                )
            )
        if f.project:
            cond.append(sa.or_(c.project_code == f.project, c.project_name.contains(f.project, autoescape=True)))
        branches.append(q.where(*cond))
    if not branches:
        return None
    return sa.union_all(*branches).subquery("matters")


def history(conn: Connection, keys: list[tuple[str, int]]) -> dict[tuple[str, int], list[dict]]:
    """Every timestamp of these cases (their history rows, oldest first)."""
    if not keys:
        return {}
    h = HISTORY
    pairs = sa.select(
        sa.func.unnest(sa.cast([k for k, _ in keys], sa.ARRAY(sa.Text))).label("k"),
        sa.func.unnest(sa.cast([i for _, i in keys], sa.ARRAY(sa.BigInteger))).label("i"),
    ).subquery("want")
    q = (
        sa.select(h.c.case_kind, h.c.case_id, h.c.action, h.c.from_state, h.c.to_state, h.c.actor, h.c.at)
        .select_from(h.join(pairs, sa.and_(pairs.c.k == h.c.case_kind, pairs.c.i == h.c.case_id)))
        .order_by(h.c.at, h.c.id)
    )
    out: dict[tuple[str, int], list[dict]] = {}
    for r in conn.execute(q).mappings():
        out.setdefault((r["case_kind"], r["case_id"]), []).append(dict(r))
    return out
