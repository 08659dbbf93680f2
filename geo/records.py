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

:func:`source` resolves any kind — a declared :class:`RecordKind` first, then a layer, then a case type — to one
description (:class:`Source`: table, key, attributes, label, geometry, personal columns); :func:`fetch` reads one
record on the caller's connection, :func:`masked` hides its personal data, :func:`reference_geometry` finds the map
position of a record without a geometry of its own (through a ``site_id``-like column naming a layer) and
:func:`history` reads its changes from the operation log.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy import Connection

from geo import cases, personal
from geo.layer.registry import Attr, registry

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
    # Chinese names of coded values (column → {code: name}), e.g. an enterprise's type codes; shown on its page.
    value_labels: dict[str, dict[str, str]] = field(default_factory=dict, compare=False)


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
    # Personal-data columns of ``table`` among ``columns`` (column → ``geo.personal`` kind), always shown masked
    # (the rows of a kind with ``masked`` columns are masked without saying so here).
    masked: tuple[tuple[str, str], ...] = ()


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


def _link_masks(link: Link) -> dict[str, str]:
    """The personal columns of a link's rows: its own ``masked`` and those of every kind kept in its table."""
    masks = {c: k for kind in _kinds.values() if kind.table == link.table for c, k in kind.masked}
    return {**masks, **dict(link.masked)}


def linked(
    conn: Connection, kind: str, row: dict, limit: int = LINK_LIMIT, who: Any = None
) -> dict[str, dict[str, dict]]:
    """Every row linked to ``row`` (a record of ``kind``): ``{module: {title: {"total", "rows", "kind", ...}}}``.

    Read on ``conn`` (the principal's connection: row-level security applies). Each group holds at most ``limit``
    rows and the total count. Personal data in the rows is masked (a person's page unmasks only its own record).
    With ``who`` (the principal), the linked rows of a case type are further limited by its ``restrict`` rule, as
    its own list and detail are. Deleted rows of a layer's table (``deleted_at`` set) are not linked."""
    out: dict[str, dict[str, dict]] = {}
    for link in links_to(kind):
        value = row.get(link.target_column)
        if value is None:
            continue
        table = _table(conn, link.table)
        cond = table.c[link.column] == value
        if link.where:
            cond = sa.and_(cond, sa.text(link.where))
        if "deleted_at" in table.c:
            cond = sa.and_(cond, table.c.deleted_at.is_(None))
        case = cases.get(link.kind) if link.kind and who is not None else None
        if case is not None and case.table == link.table and case.restrict is not None:
            extra = case.restrict(who, table, conn, {})
            if extra is not None:
                cond = sa.and_(cond, extra)
        names = [link.key] + [c for c, _ in link.columns if c != link.key]
        total = conn.execute(sa.select(sa.func.count()).select_from(table).where(cond)).scalar_one()
        rows = conn.execute(
            sa.select(*(table.c[n] for n in names)).where(cond).order_by(_order(link, table)).limit(limit)
        ).mappings()
        masks = _link_masks(link)
        out.setdefault(link.module, {})[link.title] = {
            "kind": link.kind,
            "key": link.key,
            "columns": [{"name": c, "title": t} for c, t in link.columns],
            "total": total,
            "rows": [personal.mask_row(dict(r), masks) for r in rows],
        }
    return out


# -- any kind, resolved ------------------------------------------------------------------------------------------

HISTORY_LIMIT = 100  # changes of one record shown on its page, newest first
KEY_MAX = 200  # a longer key names no record


@dataclass(frozen=True)
class Source:
    """What a record page needs of a kind, whichever declaration it comes from (``origin``: ``register`` for a
    :class:`RecordKind`, ``layer``, ``case``)."""

    kind: str
    title: str
    module: str
    origin: str
    table: str
    key: str
    attrs: tuple[Attr, ...]
    label: str | None
    view: str | None
    audit_object: str
    geometry: str | None = None
    masked: tuple[tuple[str, str], ...] = ()
    unmask: str | None = None
    live: str | None = None  # a column that is null while the record is not deleted (a layer's ``deleted_at``)
    value_labels: dict[str, dict[str, str]] = field(default_factory=dict, compare=False)


def source(kind: str) -> Source | None:
    """The kind ``kind`` as a :class:`Source`: a declared :class:`RecordKind` first, then a layer, then a case type;
    None when nothing declares it."""
    _load()
    k = _kinds.get(kind)
    if k is not None:
        return Source(k.kind, k.title, k.module, "register", k.table, k.key, k.attrs, k.label, k.view,
                      k.audit_object or k.table, k.geometry, k.masked, k.unmask, None, dict(k.value_labels))  # fmt: skip
    layer = registry.get(kind)
    if layer is not None:
        return Source(layer.id, layer.title, layer.module, "layer", layer.table, "id", layer.attrs, layer.label,
                      layer.view, layer.id, "geom", live="deleted_at")  # fmt: skip
    case = cases.get(kind)
    if case is not None:
        attrs = tuple(a for a in case.fields if a.type != "json")  # a form's raw JSON is the module's to show
        if case.states and "status" not in {a.name for a in attrs}:
            attrs = (Attr("status", "状态"), *attrs)
        return Source(case.kind, case.title, _module_of(case), "case", case.table, "id", attrs, None,
                      case.view, case.table, value_labels={"status": dict(case.states)})  # fmt: skip
    return None


_case_modules: dict[str, str] = {}


def _module_of(case: Any) -> str:
    """The business module that declares a case type: the package of the submodule holding its declaration."""
    from geo import modules

    if case.kind not in _case_modules:
        holders = [m.__name__ for m in modules.submodules() if any(v is case for v in vars(m).values())]
        _case_modules[case.kind] = holders[0].split(".")[1] if holders and "." in holders[0] else ""
    return _case_modules[case.kind]


def url(kind: str, key: Any) -> str:
    """The record page of ``kind``'s record ``key``."""
    return f"/records/{quote(kind, safe='')}/{quote(str(key), safe='')}"


def _key_value(conn: Connection, src: Source, key: str) -> Any:
    """``key`` (from a URL) in the type of the key column; None when it cannot name a record."""
    col = _table(conn, src.table).c[src.key]
    try:
        python_type = col.type.python_type
    except NotImplementedError:
        python_type = str
    if python_type is int:
        return int(key) if re.fullmatch(r"\d{1,19}", key) and int(key) < 2**63 else None
    return key if 0 < len(key) <= KEY_MAX else None


def fetch(conn: Connection, src: Source, key: str, where: Any = None) -> tuple[dict, dict | None] | None:
    """The record ``key`` of ``src`` as ``conn`` sees it (row-level security applies) and its geometry as GeoJSON,
    or None when it does not exist, is deleted or is out of scope (the same answer for the three). ``where``: a
    function of the table giving a further condition (a case type's ``restrict`` rule)."""
    value = _key_value(conn, src, key)
    if value is None:
        return None
    table = _table(conn, src.table)
    cols = [c for c in table.c if not isinstance(c.type, Geometry)]
    shape = [sa.func.ST_AsGeoJSON(table.c[src.geometry], 7).label("_geojson")] if src.geometry else []
    cond = [table.c[src.key] == value]
    if src.live:
        cond.append(table.c[src.live].is_(None))
    if where is not None:
        extra = where(table)
        if extra is not None:
            cond.append(extra)
    row = conn.execute(sa.select(*cols, *shape).where(*cond)).mappings().first()
    if row is None:
        return None
    out = dict(row)
    geojson = out.pop("_geojson", None)
    return out, (json.loads(geojson) if geojson else None)


def label_of(src: Source, row: dict) -> str:
    """What names the record: its label column, else the kind's title and key."""
    value = row.get(src.label) if src.label else None
    return str(value) if value not in (None, "") else f"{src.title} {row.get(src.key)}"


def masked(src: Source, row: dict, reveal: bool = False) -> dict:
    """``row`` with the kind's personal columns masked, unless ``reveal`` (the caller checked the permission and
    records the reading with ``geo.personal.reveal``)."""
    return dict(row) if reveal else personal.mask_row(row, dict(src.masked))


def reference(column: str) -> str | None:
    """The layer an ``<x>_id`` column points at (``site_id`` → ``sites``), if there is one."""
    if not column.endswith("_id"):
        return None
    layer = registry.get(column[:-3] + "s")
    return layer.id if layer else None


def references(conn: Connection, src: Source, row: dict) -> dict[str, dict]:
    """The layer features ``row``'s ``<x>_id`` attributes point at, as ``conn`` sees them: column → ``{"kind",
    "key", "label", "geometry"}`` (a feature out of scope or deleted is left out)."""
    out: dict[str, dict] = {}
    for a in src.attrs:
        kind = reference(a.name)
        value = row.get(a.name)
        if kind is None or not isinstance(value, int) or kind == src.kind and value == row.get(src.key):
            continue
        target = source(kind)
        assert target is not None
        found = fetch(conn, target, str(value))
        if found is not None:
            name = label_of(target, masked(target, found[0]))
            out[a.name] = {"kind": kind, "key": value, "label": name, "geometry": found[1]}
    return out


_AUDIT = sa.table(
    "audit_log",
    *(sa.column(c) for c in ("id", "at", "actor", "user_id", "action", "layer", "feature_id")),
    *(sa.column(c) for c in ("before", "after", "detail")),
)


def _values(state: Any) -> dict:
    """The column values an audit entry's before/after holds (a layer feature keeps them under ``properties``)."""
    if not isinstance(state, dict):
        return {}
    props = state.get("properties")
    return {**state, **props} if isinstance(props, dict) else dict(state)


def history(conn: Connection, src: Source, row: dict, reveal: bool = False, limit: int = HISTORY_LIMIT) -> list[dict]:
    """The record's entries in the operation log, newest first: ``{"id", "at", "actor", "action", "detail",
    "changes": [{"name", "label", "before", "after"}]}`` — the changes of the declared attributes an update made,
    personal data masked unless ``reveal``. Records without an ``id`` column have none."""
    rid = row.get("id")
    if not isinstance(rid, int):
        return []
    a = _AUDIT.c
    rows = conn.execute(
        sa.select(a.id, a.at, a.actor, a.action, a.before, a.after, a.detail)
        .where(a.layer == src.audit_object, a.feature_id == rid)
        .order_by(a.at.desc(), a.id.desc())
        .limit(limit)
    ).mappings()
    masks = {} if reveal else dict(src.masked)
    out = []
    for r in rows:
        before, after = _values(r["before"]), _values(r["after"])
        changes = []
        if r["before"] is not None and r["after"] is not None:
            for attr in src.attrs:
                old, new = before.get(attr.name), after.get(attr.name)
                if old != new:
                    if attr.name in masks:
                        old, new = (personal.mask(masks[attr.name], v) for v in (old, new))
                    changes.append({"name": attr.name, "label": attr.label, "before": old, "after": new})
        out.append({"id": r["id"], "at": r["at"], "actor": r["actor"], "action": r["action"], "detail": r["detail"],
                    "changes": changes})  # fmt: skip
    return out


_TITLE = re.compile(r"[(（]([^)）,，;；]*[\u4e00-\u9fff][^)）,，;；]*)")


def module_title(module: str) -> str:
    """A module's Chinese name: the first parenthesised Chinese words of its package's docstring (「标化工地」 of
    "Standardized construction sites (标化工地): …"), else its first layer's group, else the module's name."""
    from geo import modules

    for pkg in modules.packages():
        if pkg.__name__.rsplit(".", 1)[-1] == module:
            found = _TITLE.search((pkg.__doc__ or "").strip().split("\n")[0])
            if found:
                return found.group(1).strip()
    groups = [layer.group for layer in registry.all() if layer.module == module]
    return groups[0] if groups else module
