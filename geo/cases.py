"""Case types (办件) declared once: table, fields, states with Chinese labels, actions, scope rule, filters, columns.

A case is a record that moves through states by named actions (a monthly report, a bonus claim, an evaluation
application, and the drawing reviews, county reports and data requests to come). Its declaration::

    BONUS = register(CaseType(
        kind="st_bonus", title="加分项申报", table="st_bonus_claims",
        states={"draft": "草稿", "submitted": "待监理审核", ...},
        actions=(Action("submit", "提交", ("draft", "returned"), "submitted", "site.report.submit"), ...),
        fields=(Attr("site_id", "工地", "int", filterable=True), district_attr(), ...),
        scope="district", view="site.view",
        materials=(Materials("st_photos", "owner_id", "照片", "/api/st/photos/{id}/file",
                             where=(("owner_kind", "bonus"),), withdrawn="deleted_at"), ...)))

yields, from the web layer's factory (``api/cases.py``): the list route (filters, sort, paging, scoped by
row-level security), the detail route with the history and the actions the principal may take, one route per action
(the version checked: a stale version is a 409 and changes nothing), the Excel export of the list, the audit record
and history row of every transition (``geo.workflow``), and the labels the front end shows (``GET /api/cases``).
``materials`` (optional) says where the files submitted with a case are kept, for the handled-matter register.
Modules react to transitions with ``geo.workflow.on_transition`` (a pin's status, statistics, credit events).

The scope rule says what the table's row-level security policy keys on (see ``geo/migrations/layer_table.py``
``install_scope_policy``): ``district`` (the record's district), ``project`` (a granted site or project record,
and its district), ``organisation`` (the principal's own organisation). It is data for the migration and the docs;
the database enforces it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any

import sqlalchemy as sa

from geo.db import bookkeeping_columns
from geo.errors import Invalid
from geo.layer.registry import ATTR_TYPES, Attr
from geo.workflow import Machine, Transition

SCOPES = ("district", "project", "organisation")
# The bookkeeping columns every case table has (beside its declared fields).
BOOKKEEPING = ("id", "status", "version", "created_at", "created_by", "updated_at", "updated_by")


def _bookkeeping() -> list[sa.Column]:
    return [
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("status", sa.Text),
        *bookkeeping_columns(),
    ]


@dataclass(frozen=True)
class Action:
    """One way a case moves: from any of ``sources`` to ``target``, by holders of ``permission``."""

    name: str
    title: str  # Chinese verb shown on the button, in the history and in errors
    sources: tuple[str, ...]
    target: str
    permission: str
    reason_required: bool = False
    files: bool = False  # the action needs files attached to the case first (the module checks which)
    # Another part of the module takes this action, never the action route: its Chinese name (e.g. 专家抽取与评审).
    handled_by: str | None = None

    def transition(self) -> Transition:
        return Transition(self.name, self.title, self.sources, self.target, self.permission, self.reason_required)


@dataclass(frozen=True)
class Lookup:
    """Columns of a referenced record shown with the case: ``columns`` maps a name in the row to the column of
    ``table`` whose ``id`` is the case's ``key`` (e.g. the site's code and name beside ``site_id``)."""

    table: str
    key: str
    columns: dict[str, str]
    filterable: tuple[str, ...] = ()  # names in ``columns`` the list filters on (equality)


@dataclass(frozen=True)
class Label:
    """A name found by code: the ``name`` column of the row of ``table`` whose ``code`` column equals the value and
    that matches ``where`` (e.g. a photo's checklist code → the checklist item's name)."""

    table: str
    code: str = "code"
    name: str = "name"
    where: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Materials:
    """Files submitted with a case (申报材料), kept in a file table of the module: one row per file with ``id``,
    ``content_type``, ``size`` and ``created_at`` (when it was uploaded). The case's files are the rows whose ``key``
    column holds the case's id and that match ``where`` (e.g. ``(("owner_kind", "bonus"),)`` in a photo table shared
    by several case types); rows with ``withdrawn`` set (e.g. ``deleted_at``) are not counted. ``title`` names the
    kind of material (照片, 佐证材料); a file's name is its ``name`` column (looked up through ``label`` when that column
    holds a code), else the title. ``url`` is where the module serves one file, ``thumbnail`` a small image of it:
    templates with ``{id}`` (the file's row) and ``{case_id}``. Read on the reader's connection: the file table's
    row-level security applies. The handled-matter register lists them; a case type without materials declares none.
    """

    table: str
    key: str
    title: str
    url: str
    where: tuple[tuple[str, str], ...] = ()
    name: str | None = None
    label: Label | None = None
    thumbnail: str | None = None
    withdrawn: str | None = None


@dataclass(frozen=True)
class Range:
    """A bound on a field from a query parameter: ``?from=2026-01-01`` → ``occurred_on >= 2026-01-01``."""

    param: str
    field: str
    op: str  # ">=" or "<="

    def __post_init__(self) -> None:
        if self.op not in (">=", "<="):
            raise ValueError(f"range {self.param}: unknown operator {self.op}")


@dataclass(frozen=True)
class CaseType:
    kind: str  # stable machine name, also the ``case_history.case_kind``
    title: str  # Chinese name of one case
    table: str
    # state -> Chinese label, in the order of the flow; empty: a register of records without a workflow (no
    # status column, no actions: list, export and detail only)
    states: dict[str, str]
    actions: tuple[Action, ...]
    fields: tuple[Attr, ...] = ()  # the table's own columns (``filterable`` ones filter the list)
    # What the list and its Excel export show: (key of the record's view, Chinese label); default: the fields.
    columns: tuple[tuple[str, str], ...] = ()
    scope: str = "district"
    view: str | None = None  # permission to read the list and the records (None: everyone; ``restrict`` still applies)
    export: str | None = None  # permission to export the list (default: ``<view's prefix>.export``)
    initial: str = "draft"
    sort: tuple[str, ...] = ("-id",)  # default order of the list
    # Further restriction of what a principal sees beyond row-level security (e.g. an authority sees only what the
    # supervision unit approved): (principal, table, connection, query parameters) -> a condition, or None.
    restrict: Callable[[Any, sa.Table, Any, dict[str, str]], Any] | None = field(default=None, compare=False)
    # Filters whose text needs more than the field's type (e.g. a month ``2026-10`` for a date column): name -> parser
    # (raises ``geo.errors.Invalid`` or the caller's error for a malformed value).
    parsers: dict[str, Callable[[str], Any]] = field(default_factory=dict, compare=False)
    lookups: tuple[Lookup, ...] = ()
    ranges: tuple[Range, ...] = ()
    bookkeeping: tuple[str, ...] = BOOKKEEPING  # which of the usual columns the table has
    materials: tuple[Materials, ...] = ()  # where the files submitted with a case are (see ``Materials``)

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"{self.kind}: unknown scope {self.scope}")
        if not self.states and self.actions:
            raise ValueError(f"{self.kind}: actions need states")
        if self.states and self.initial not in self.states:
            raise ValueError(f"{self.kind}: initial state {self.initial} is not a state")
        names = [a.name for a in self.actions]
        if len(names) != len(set(names)):
            raise ValueError(f"{self.kind}: duplicate action")
        for a in self.actions:
            for s in (*a.sources, a.target):
                if s not in self.states:
                    raise ValueError(f"{self.kind}.{a.name}: unknown state {s}")

    @cached_property
    def machine(self) -> Machine:
        return Machine(self.kind, self.title, self.table, self.states, tuple(a.transition() for a in self.actions))

    def action(self, name: str) -> Action:
        for a in self.actions:
            if a.name == name:
                return a
        raise Invalid(
            "unknown_action",
            f"「{self.title}」没有操作「{name}」。",
            "action",
            {"actions": [a.name for a in self.actions]},
        )

    @cached_property
    def sa_table(self) -> sa.Table:
        own = [sa.Column(a.name, ATTR_TYPES[a.type]) for a in self.fields if a.name not in BOOKKEEPING]
        keep = [c for c in _bookkeeping() if c.name in self.bookkeeping and (self.states or c.name != "status")]
        return sa.Table(self.table, sa.MetaData(), *keep, *own)

    @property
    def export_permission(self) -> str:
        return self.export or f"{(self.view or self.kind).split('.')[0]}.export"

    @property
    def list_columns(self) -> tuple[tuple[str, str], ...]:
        return self.columns or tuple((a.name, a.label) for a in self.fields)

    @property
    def filterable(self) -> tuple[Attr, ...]:
        return tuple(a for a in self.fields if a.filterable)

    def labels(self) -> dict:
        """What the front end shows: state and action titles, the fields' labels (served by ``GET /api/cases``)."""
        return {
            "kind": self.kind,
            "title": self.title,
            "states": dict(self.states),
            "actions": {a.name: a.title for a in self.actions},
            "reason_required": [a.name for a in self.actions if a.reason_required],
            "fields": {a.name: a.label for a in self.fields},
            "columns": [list(c) for c in self.list_columns],
            "filters": [a.name for a in self.filterable]
            + [n for lk in self.lookups for n in lk.filterable]
            + [r.param for r in self.ranges],
            "scope": self.scope,
        }

    # -- the list, in SQLAlchemy Core -------------------------------------------------------------------------------
    def _source(self) -> tuple[Any, list[Any], dict[str, Any]]:
        """The table outer-joined to its lookups (a lookup hidden by row-level security reads as null), the lookups'
        labelled columns, and each lookup column by its name."""
        t = self.sa_table
        source: Any = t
        extra, by_name = [], {}
        for i, lk in enumerate(self.lookups):
            ref = sa.table(lk.table, sa.column("id"), *(sa.column(c) for c in lk.columns.values())).alias(f"lk{i}")
            source = source.outerjoin(ref, ref.c.id == t.c[lk.key])
            for name, col in lk.columns.items():
                extra.append(ref.c[col].label(name))
                by_name[name] = ref.c[col]
        return source, extra, by_name

    def select(self) -> sa.Select:
        """The case's columns and its lookups'."""
        source, extra, _ = self._source()
        return sa.select(self.sa_table, *extra).select_from(source)

    def list_query(
        self,
        who: Any,
        filters: dict[str, Any],
        sort: tuple[str, ...] | None = None,
        conn: Any = None,
        params: dict[str, str] | None = None,
    ) -> tuple[sa.Select, sa.Select]:
        """The (rows, count) statements of the list for ``who`` with checked ``filters`` (see ``check_filters``)."""
        t = self.sa_table
        source, extra, looked_up = self._source()
        ranges = {r.param: r for r in self.ranges}
        cond: list[Any] = []
        for name, value in filters.items():
            if name in ranges:
                col = t.c[ranges[name].field]
                cond.append(col >= value if ranges[name].op == ">=" else col <= value)
            else:
                cond.append((looked_up[name] if name in looked_up else t.c[name]) == value)
        if self.restrict is not None:
            more = self.restrict(who, t, conn, params or {})
            if more is not None:
                cond.append(more)
        keys = sort or self.sort
        order = [t.c[k.lstrip("-")].desc() if k.startswith("-") else t.c[k.lstrip("-")].asc() for k in keys]
        if "id" not in {k.lstrip("-") for k in keys}:
            order.append(t.c.id.desc())
        rows = sa.select(t, *extra).select_from(source).where(*cond).order_by(*order)
        count = sa.select(sa.func.count()).select_from(source).where(*cond)
        return rows, count

    def check_filters(self, raw: dict[str, str]) -> dict[str, Any]:
        """Typed filter values from query parameters; an unknown state or a malformed value is refused (422)."""
        out: dict[str, Any] = {}
        for a in self.filterable:
            value = raw.get(a.name)
            if value is None or value == "":
                continue
            if a.name in self.parsers:
                out[a.name] = self.parsers[a.name](value)
                continue
            if a.name == "status" and value not in self.states:
                raise Invalid("invalid_status", f"状态「{value}」不正确。", "status", {"states": self.states})
            if a.choices and value not in a.choices:
                raise Invalid(
                    "invalid_choice", f"「{a.label}」的取值「{value}」不正确。", a.name, {"choices": list(a.choices)}
                )
            if a.type == "int":
                if not (value.lstrip("-").isdigit() and abs(int(value)) < 2**63):
                    raise Invalid("invalid_integer", f"「{a.label}」应为整数。", a.name, {"value": value[:50]})
                out[a.name] = int(value)
            else:
                out[a.name] = value
        for name in (n for lk in self.lookups for n in lk.filterable):
            value = raw.get(name)
            if value:
                out[name] = self.parsers[name](value) if name in self.parsers else value
        fields = {a.name: a for a in self.fields}
        for r in self.ranges:
            value = raw.get(r.param)
            if value:
                out[r.param] = _typed(fields[r.field], value, r.param)
        return out

    def check_sort(self, raw: str | None) -> tuple[str, ...] | None:
        if not raw:
            return None
        keys = tuple(k.strip() for k in raw.split(",") if k.strip())
        allowed = {"id", "created_at", "updated_at", "status", *(a.name for a in self.fields)}
        for k in keys:
            if k.lstrip("-") not in allowed:
                raise Invalid("invalid_sort", f"不能按「{k}」排序。", "sort", {"allowed": sorted(allowed)})
        return keys


def _typed(attr: Attr, value: str, param: str) -> Any:
    """A range bound in the field's type (dates and numbers); a malformed one is refused."""
    try:
        if attr.type == "date":
            return date.fromisoformat(value)
        if attr.type == "datetime":
            return datetime.fromisoformat(value)
        if attr.type in ("int", "float"):
            return float(value)
    except ValueError:
        raise Invalid("invalid_value", f"「{attr.label}」的范围值「{value[:50]}」格式不正确。", param) from None
    return value


_types: dict[str, CaseType] = {}


def register(case: CaseType) -> CaseType:
    if case.kind in _types and _types[case.kind] is not case:
        raise ValueError(f"case type {case.kind} declared twice")
    _types[case.kind] = case
    return case


def all_types() -> list[CaseType]:
    from geo import modules

    modules.discover()
    return sorted(_types.values(), key=lambda c: c.kind)


def get(kind: str) -> CaseType | None:
    from geo import modules

    modules.discover()
    return _types.get(kind)
