"""State machines for cases (办件): every transition has its allowed permission, an illegal one is a 409 with the
reason, and every transition is written to ``case_history`` (append-only for the app role) and the audit log in
the same transaction.

A machine is declared once per kind of case::

    REPORT = Machine("st_report", "月度申报", "st_reports", states={"draft": "草稿", ...}, transitions=[
        Transition("submit", "提交", ("draft", "returned"), "submitted", "site.report.submit"),
        ...])

``machine.apply(conn, case_id, action, who, reason=..., values=...)`` locks the row, checks the state and the
permission, updates ``status`` (and ``values``), bumps ``version``, records the history, then calls the hooks that
modules registered with ``on_transition`` (a pin's status, statistics, credit events follow the case), in the same
transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from geo import audit
from geo.errors import Conflict, Invalid, NotFound, StaleVersion

# (conn, machine, row before, row after, principal) -> None; called after every transition of the kinds it names.
Hook = Callable[[Connection, "Machine", dict, dict, Any], None]
_hooks: list[tuple[frozenset[str], Hook]] = []


def on_transition(*kinds: str) -> Callable[[Hook], Hook]:
    """Call the decorated function after every transition of these case kinds (of every kind when none is named)."""

    def wrap(fn: Hook) -> Hook:
        _hooks.append((frozenset(kinds), fn))
        return fn

    return wrap


@dataclass(frozen=True)
class Transition:
    action: str
    title: str  # Chinese verb shown in the history and in errors
    sources: tuple[str, ...]
    target: str
    permission: str
    reason_required: bool = False


@dataclass(frozen=True)
class Machine:
    kind: str
    title: str
    table: str
    states: dict[str, str]
    transitions: tuple[Transition, ...]

    def __post_init__(self) -> None:
        for t in self.transitions:
            for s in (*t.sources, t.target):
                if s not in self.states:
                    raise ValueError(f"{self.kind}: unknown state {s}")

    def transition(self, action: str) -> Transition:
        for t in self.transitions:
            if t.action == action:
                return t
        raise Invalid(
            "unknown_action",
            f"「{self.title}」没有操作「{action}」。",
            "action",
            {"actions": [t.action for t in self.transitions]},
        )

    def allowed(self, state: str, can: Callable[[str], bool]) -> list[dict]:
        """The actions possible from ``state`` for a principal (for the UI's buttons)."""
        return [
            {"action": t.action, "title": t.title, "reason_required": t.reason_required}
            for t in self.transitions
            if state in t.sources and can(t.permission)
        ]

    def lock(self, conn: Connection, case_id: int) -> dict:
        # A string: the machine serves any case table and wants all of its columns, whichever they are (``*``).
        row = (
            conn.execute(sa.text(f"SELECT * FROM {self.table} WHERE id = :id FOR UPDATE"), {"id": case_id})
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound("not_found", f"{self.title}不存在，或不在您的数据范围内。")
        return dict(row)

    def apply(
        self,
        conn: Connection,
        case_id: int,
        action: str,
        who: Any,
        reason: str | None = None,
        values: dict[str, Any] | None = None,
        version: int | None = None,
    ) -> dict:
        t = self.transition(action)
        who.require(t.permission, f"{t.title}{self.title}")
        row = self.lock(conn, case_id)
        if version is not None and row.get("version") != version:
            raise StaleVersion(row.get("version"), version, self.title)
        state = row["status"]
        if state not in t.sources:
            raise Conflict(
                "illegal_transition",
                f"{self.title}当前状态为「{self.states[state]}」，不能{t.title}"
                f"（只有「{'」「'.join(self.states[s] for s in t.sources)}」状态可以{t.title}）。",
                "status",
                {"state": state, "action": action, "allowed_from": list(t.sources)},
            )
        if t.reason_required and not (reason and reason.strip()):
            raise Invalid("reason_required", f"{t.title}必须填写理由。", "reason")
        sets = {"status": t.target, **(values or {})}
        assignments = ", ".join(f"{k} = :{k}" for k in sets)
        extra = ", updated_at = now(), updated_by = :_actor" if "updated_by" in row else ""
        # A string, as in ``lock``: the update returns every column of whichever table the machine serves.
        after = (
            conn.execute(
                sa.text(
                    f"UPDATE {self.table} SET {assignments}, version = version + 1{extra} WHERE id = :_id RETURNING *"
                ),
                {**sets, "_id": case_id, "_actor": who.user},
            )
            .mappings()
            .one()
        )
        record(
            conn, self.kind, case_id, row.get("site_id"), row.get("district"), action, state, t.target, who.user, reason
        )
        audit.record(
            conn,
            who.user,
            action,
            self.table,
            case_id,
            _plain(row),
            _plain(dict(after)),
            who.client,
            user_id=getattr(who, "user_id", None),
        )
        run_hooks(conn, self, row, dict(after), who)
        return dict(after)


def run_hooks(conn: Connection, machine: Machine, before: dict, after: dict, who: Any) -> None:
    """Call the hooks of ``machine.kind`` (``apply`` does after each transition). A case recorded without a
    workflow (a deduction: no transition ever happens) announces its recording with ``before == {}``."""
    for kinds, hook in _hooks:
        if not kinds or machine.kind in kinds:
            hook(conn, machine, before, after, who)


# The history of every case (append-only for the app role; migration 0006).
CASE_HISTORY = sa.table(
    "case_history",
    *(sa.column(c) for c in ("id", "case_kind", "case_id", "site_id", "district", "action", "from_state")),
    *(sa.column(c) for c in ("to_state", "reason", "actor", "at")),
)


def record(
    conn: Connection,
    kind: str,
    case_id: int,
    site_id: int | None,
    district: str | None,
    action: str,
    from_state: str | None,
    to_state: str,
    actor: str,
    reason: str | None = None,
) -> None:
    conn.execute(
        CASE_HISTORY.insert().values(
            case_kind=kind,
            case_id=case_id,
            site_id=site_id,
            district=district,
            action=action,
            from_state=from_state,
            to_state=to_state,
            reason=reason,
            actor=actor,
        )
    )


def history(conn: Connection, kind: str, case_id: int) -> list[dict]:
    h = CASE_HISTORY.c
    q = (
        sa.select(h.action, h.from_state, h.to_state, h.reason, h.actor, h.at)
        .where(h.case_kind == kind, h.case_id == case_id)
        .order_by(h.at, h.id)
    )
    # ``actor_name``: what the history's 办理人 column shows (「系统」 for ``system``; a person's account as it is).
    return [{**r, "actor_name": audit.actor_name(r["actor"])} for r in conn.execute(q).mappings()]


def _plain(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("created_at", "updated_at")}
