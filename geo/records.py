"""Records and the links between them, declared once (X-03 record pages, DC-01 one query API).

A *record kind* is anything with a page of its own: every layer (its id is the kind: ``sites``, ``farmhouses``),
every case type (its ``kind``: ``st_report``) and every register entry a module declares here (``projects``,
``enterprises``, ``persons``). Layers and case types are record kinds without doing anything more; a register
declares itself with :class:`RecordKind`::

    register_kind(RecordKind(kind="enterprises", title="企业", table="enterprises", key="uscc",
                             attrs=(Attr("name", "企业名称"), ...), label="name", view="registers.view",
                             module="enterprises"))

A *link* says that rows of one table belong to a record of another kind — a monthly report to its project, a
qualification to its enterprise, a credit event to its subject::

    register_link(Link(target="projects", module="standard_sites", title="月度申报", kind="st_report",
                       table="st_reports", column="project_id", target_column="id",
                       columns=(("month", "月份"), ("status", "状态"))))

``linked(conn, kind, row)`` answers "everything that hangs off this record", grouped by module then link, on the
caller's connection — so row-level security scopes it exactly as it scopes every other read. The record pages
(``/records/{kind}/{key}``) and ``GET /api/registers/projects/{code}`` are built on it; a module adds what hangs off
another module's records by declaring links, never by touching that module's code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from geo.layer.registry import Attr

LINK_LIMIT = 200  # rows of one link shown on a record page / returned by the query API (the total is counted)


@dataclass(frozen=True)
class RecordKind:
    """A register's entry kind (layers and case types are kinds already)."""

    kind: str  # stable machine name, the first part of the record URL
    title: str  # Chinese name of one entry (项目, 企业, 人员)
    table: str
    key: str  # the column in the URL (项目代码, 统一社会信用代码 …); unique
    attrs: tuple[Attr, ...]  # shown on the page, in this order, with their Chinese labels
    module: str
    label: str = "name"  # the column that names an entry
    view: str | None = None  # permission to read; None: everyone (row-level security still applies)
    geometry: str | None = None  # a geometry column drawn on the page's small map
    # Personal-data columns (column → ``geo.personal`` kind: id_number, phone, name), shown masked unless the
    # principal holds ``unmask``; each unmasked read is recorded with ``geo.personal.reveal``.
    masked: tuple[tuple[str, str], ...] = ()
    unmask: str | None = None
    audit_object: str | None = None  # ``audit_log.object`` of its changes (default: the table)


@dataclass(frozen=True)
class Link:
    """Rows of ``table`` whose ``column`` equals the ``target_column`` of a record of kind ``target``."""

    target: str  # the kind linked to
    module: str  # the module declaring the link (groups the answer)
    title: str  # Chinese group title (月度申报, 资质, 信用记录)
    table: str
    column: str
    target_column: str = "id"
    kind: str | None = None  # the linked rows' own record kind (their page), if they have one
    key: str = "id"  # the linked rows' column in their record URL
    columns: tuple[tuple[str, str], ...] = ()  # (column, Chinese label) shown for each linked row
    order: str = "id DESC"  # a column name, optionally followed by DESC
    where: str | None = None  # an extra fixed condition on ``table`` (a literal SQL predicate, no user input)


_kinds: dict[str, RecordKind] = {}
_links: list[Link] = []
_meta = sa.MetaData()  # tables reflected once, on first use


def register_kind(*kinds: RecordKind) -> None:
    for k in kinds:
        if k.kind in _kinds:
            raise ValueError(f"record kind {k.kind} declared twice")
        _kinds[k.kind] = k


def register_link(*links: Link) -> None:
    _links.extend(links)


def _load() -> None:
    from geo import modules

    modules.discover()


def kinds() -> list[RecordKind]:
    _load()
    return list(_kinds.values())


def get_kind(kind: str) -> RecordKind | None:
    _load()
    return _kinds.get(kind)


def links_to(kind: str) -> list[Link]:
    _load()
    return [link for link in _links if link.target == kind]


def _order(link: Link, table: sa.Table) -> Any:
    name, _, direction = link.order.partition(" ")
    col = table.c[name]
    return col.desc() if direction.strip().upper() == "DESC" else col.asc()


def _table(conn: Connection, name: str) -> sa.Table:
    if name not in _meta.tables:
        sa.Table(name, _meta, autoload_with=conn)
    return _meta.tables[name]


def linked(conn: Connection, kind: str, row: dict, limit: int = LINK_LIMIT) -> dict[str, dict[str, dict]]:
    """Every row linked to ``row`` (a record of ``kind``): ``{module: {title: {"total", "rows", "kind", ...}}}``.

    Read on ``conn`` (the principal's connection: row-level security applies). Each group holds at most ``limit``
    rows and the total count."""
    out: dict[str, dict[str, dict]] = {}
    for link in links_to(kind):
        value = row.get(link.target_column)
        if value is None:
            continue
        table = _table(conn, link.table)
        cond = table.c[link.column] == value
        if link.where:
            cond = sa.and_(cond, sa.text(link.where))
        names = [link.key] + [c for c, _ in link.columns if c != link.key]
        total = conn.execute(sa.select(sa.func.count()).select_from(table).where(cond)).scalar_one()
        rows = conn.execute(
            sa.select(*(table.c[n] for n in names)).where(cond).order_by(_order(link, table)).limit(limit)
        ).mappings()
        out.setdefault(link.module, {})[link.title] = {
            "kind": link.kind,
            "key": link.key,
            "columns": [{"name": c, "title": t} for c, t in link.columns],
            "total": total,
            "rows": [dict(r) for r in rows],
        }
    return out
