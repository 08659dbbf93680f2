"""The lottery's ratio tables (摇号比例, DR-02, DR-03): per jurisdiction (市本级, 建德市, 淳安县) the agencies that
take part and their target shares, the history of every edit, the seed commitment of the next draw, and the
realized shares against the targets.

- Targets are percentages with at most two decimals, stored as hundredths of a percent (``target_bp``); a table
  must sum to exactly 100 % — else a 422 ``ratio_sum`` and nothing is stored. Each edit needs a reason, bumps the
  table's ``version`` and writes a ``dr_ratio_history`` row (time, person, before, after, reason) and an audit
  record. The draw counts realized shares per version (an edit starts a new count: see ``lottery.py``).
- Reading asks for ``review.view``, ``review.draw`` or ``review.config``; editing for ``review.config``. An account
  of a county (``users.district`` 建德市 or 淳安县) reads and edits only its county's table; the city's accounts
  read all three and edit … all three (the city supervisor); row-level security says the same (the rows carry the
  county as their district, NULL for 市本级).
- Saving a table makes sure the jurisdiction has an open seed commitment (``ensure_commitment``): the seed of the
  next draw is committed — its SHA-256 published on the lottery page — before anything of that draw is known.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import JSONB

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit, lottery
from geo.bounds import BEIJING, Amount, Day, RecordId, Text, Version, Window
from geo.modules import log_labels
from layers.drawing_review.agencies import READ, E
from layers.drawing_review.agencies import agencies as A
from layers.drawing_review.process import COUNTIES, JURISDICTIONS
from layers.drawing_review.tables import metadata

TOTAL_BP = 10_000  # 100 % in hundredths of a percent
TS = sa.DateTime(timezone=True)

ratio_tables = sa.Table(
    "dr_ratio_tables",
    metadata,
    sa.Column("jurisdiction", sa.Text, primary_key=True),
    sa.Column("district", sa.Text),
    sa.Column("version", sa.Integer),
    sa.Column("created_at", TS),
    sa.Column("created_by", sa.Text),
    sa.Column("updated_at", TS),
    sa.Column("updated_by", sa.Text),
)
ratios = sa.Table(
    "dr_ratios",
    metadata,
    sa.Column("jurisdiction", sa.Text, primary_key=True),
    sa.Column("agency_id", sa.BigInteger, primary_key=True),
    sa.Column("target_bp", sa.Integer),
    sa.Column("district", sa.Text),
)
history = sa.Table(
    "dr_ratio_history",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("jurisdiction", sa.Text),
    sa.Column("district", sa.Text),
    sa.Column("version", sa.Integer),
    sa.Column("changed_at", TS),
    sa.Column("changed_by", sa.Text),
    sa.Column("before", JSONB),
    sa.Column("after", JSONB),
    sa.Column("reason", sa.Text),
)
commitments = sa.Table(
    "dr_seed_commitments",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("jurisdiction", sa.Text),
    sa.Column("district", sa.Text),
    sa.Column("commitment", sa.Text),
    sa.Column("seed", sa.Text),
    sa.Column("created_at", TS),
    sa.Column("created_by", sa.Text),
    sa.Column("used_at", TS),
)
T, R, H, C = ratio_tables, ratios, history, commitments

log_labels(
    objects={"dr_ratio_tables": "摇号比例表", "dr_draws": "摇号记录"},
    actions={"ratio_update": "调整摇号比例"},
)

router = APIRouter(prefix="/api/review", tags=["施工图联审"])


class RatioItem(BaseModel):
    agency_id: RecordId = Field(title="审查机构")
    target_pct: Amount(100, 0.01) = Field(title="目标比例（%）", description="最多两位小数")


class RatioTableIn(BaseModel):
    version: Version | None = Field(None, title="版本号", description="读取时的版本号（首次设置可不填）")
    ratios: list[RatioItem] = Field(title="各机构目标比例", min_length=1, max_length=100)
    reason: Text(500, 1) = Field(title="调整理由")


# -- who sees which jurisdiction -------------------------------------------------------------------------------------


def jurisdictions_for(who: Principal) -> tuple[str, ...]:
    """A county's account works on its county only; the city's accounts see all three."""
    return (who.district,) if who.district in COUNTIES else JURISDICTIONS


def require_jurisdiction(who: Principal, jurisdiction: str) -> None:
    if jurisdiction not in JURISDICTIONS:
        raise ApiError(
            422,
            "invalid_jurisdiction",
            f"「{jurisdiction}」不是施工图审查的管辖范围（{'、'.join(JURISDICTIONS)}）。",
            "jurisdiction",
            {"allowed": list(JURISDICTIONS)},
        )
    if jurisdiction not in jurisdictions_for(who):
        raise ApiError(
            403,
            "out_of_scope",
            f"超出您的数据权限范围：只能查看和调整「{who.district}」的摇号比例。",
            "jurisdiction",
            {"jurisdiction": jurisdiction},
        )


def require_read(who: Principal, what: str = "查看摇号比例") -> None:
    if not any(who.can(p) for p in READ):
        who.require("review.view", what)


# -- reading ---------------------------------------------------------------------------------------------------------


def pct(bp: int) -> float:
    return bp / 100


def current(conn: Connection, jurisdiction: str, lock: bool = False) -> dict | None:
    """The jurisdiction's table (its version and the agencies' targets), or None when it has none yet."""
    query = sa.select(T).where(T.c.jurisdiction == jurisdiction)
    if lock:
        query = query.with_for_update()
    head = conn.execute(query).mappings().first()
    if head is None:
        return None
    rows = conn.execute(
        sa.select(R.c.agency_id, R.c.target_bp, E.c.name, A.c.uscc, A.c.active)
        .select_from(R.join(A, A.c.id == R.c.agency_id).join(E, E.c.uscc == A.c.uscc))
        .where(R.c.jurisdiction == jurisdiction)
        .order_by(R.c.target_bp.desc(), R.c.agency_id)
    ).mappings()
    return {
        "jurisdiction": jurisdiction,
        "version": head["version"],
        "updated_at": head["updated_at"].isoformat(),
        "updated_by": audit.actor_name(head["updated_by"]),
        "ratios": [{**dict(r), "target_pct": pct(r["target_bp"])} for r in rows],
    }


def open_commitment(conn: Connection, jurisdiction: str) -> dict | None:
    row = (
        conn.execute(
            sa.select(C.c.id, C.c.commitment, C.c.created_at).where(
                C.c.jurisdiction == jurisdiction, C.c.used_at.is_(None)
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else {**dict(row), "created_at": row["created_at"].isoformat()}


def table_view(conn: Connection, jurisdiction: str) -> dict:
    table = current(conn, jurisdiction) or {"jurisdiction": jurisdiction, "version": 0, "ratios": []}
    return {**table, "next_commitment": open_commitment(conn, jurisdiction)}


def history_of(conn: Connection, jurisdiction: str) -> list[dict]:
    rows = conn.execute(
        sa.select(H).where(H.c.jurisdiction == jurisdiction).order_by(H.c.changed_at.desc(), H.c.id.desc())
    ).mappings()
    return [
        {
            "id": r["id"],
            "version": r["version"],
            "changed_at": r["changed_at"].isoformat(),
            "changed_by": audit.actor_name(r["changed_by"]),
            "before": r["before"],
            "after": r["after"],
            "reason": r["reason"],
        }
        for r in rows
    ]


DRAWS = sa.table("dr_draws", *(sa.column(c) for c in ("id", "jurisdiction", "ratio_version", "agency_id", "drawn_at")))


def tally(conn: Connection, jurisdiction: str, version: int) -> tuple[dict[int, int], int]:
    """Each agency's draws under ``version`` of the jurisdiction's table, and their total."""
    d = DRAWS.c
    counts = dict(
        conn.execute(
            sa.select(d.agency_id, sa.func.count())
            .where(d.jurisdiction == jurisdiction, d.ratio_version == version)
            .group_by(d.agency_id)
        ).all()
    )
    return counts, sum(counts.values())


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), BEIJING)


def shares(conn: Connection, jurisdiction: str, start: dt.date | None, end: dt.date | None) -> dict:
    """Realized shares against the targets: the draws of the period (Beijing dates, both included) per agency, and
    the draws under the table's current version (what the lottery balances)."""
    table = current(conn, jurisdiction)
    d = DRAWS.c
    query = sa.select(d.agency_id, sa.func.count()).where(d.jurisdiction == jurisdiction).group_by(d.agency_id)
    if start is not None:
        query = query.where(d.drawn_at >= _day_start(start))
    if end is not None:
        query = query.where(d.drawn_at < _day_start(end + dt.timedelta(days=1)))
    period = dict(conn.execute(query).all())
    n = sum(period.values())
    version_counts, m = tally(conn, jurisdiction, table["version"]) if table else ({}, 0)
    targets = {r["agency_id"]: r for r in (table or {"ratios": []})["ratios"]}
    names = dict(
        conn.execute(
            sa.select(A.c.id, E.c.name)
            .select_from(A.join(E, E.c.uscc == A.c.uscc))
            .where(A.c.id.in_(set(period) | set(targets)))
        ).all()
    )
    rows = []
    for aid in sorted(set(targets) | set(period), key=lambda i: (-(targets.get(i, {}).get("target_bp") or 0), i)):
        target = pct(targets[aid]["target_bp"]) if aid in targets else None
        share = round(100 * period.get(aid, 0) / n, 2) if n else None
        vshare = round(100 * version_counts.get(aid, 0) / m, 2) if m else None
        rows.append(
            {
                "agency_id": aid,
                "name": names.get(aid),
                "target_pct": target,
                "count": period.get(aid, 0),
                "share_pct": share,
                "diff_pp": round(share - target, 2) if share is not None and target is not None else None,
                "version_count": version_counts.get(aid, 0),
                "version_share_pct": vshare,
            }
        )
    return {
        "jurisdiction": jurisdiction,
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "draws": n,
        "version": table["version"] if table else 0,
        "version_draws": m,
        "rows": rows,
    }


# -- writing ---------------------------------------------------------------------------------------------------------


def ensure_commitment(conn: Connection, jurisdiction: str, actor: str) -> dict:
    """The jurisdiction's open commitment, made now (a fresh seed from ``secrets``) when it has none."""
    found = open_commitment(conn, jurisdiction)
    if found is not None:
        return found
    seed = lottery.new_seed()
    conn.execute(
        sa.insert(C).values(
            jurisdiction=jurisdiction, commitment=lottery.commit(seed), seed=seed.hex(), created_by=actor
        )
    )
    made = open_commitment(conn, jurisdiction)
    assert made is not None
    return made


def _targets(items: list[RatioItem]) -> dict[int, int]:
    out: dict[int, int] = {}
    for i, item in enumerate(items):
        bp = Decimal(str(item.target_pct)) * 100
        if bp != bp.to_integral_value():
            raise ApiError(
                422,
                "too_precise",
                f"第 {i + 1} 行的目标比例 {item.target_pct}% 最多保留两位小数。",
                f"ratios.{i}.target_pct",
            )
        if item.agency_id in out:
            raise ApiError(422, "duplicate_agency", f"第 {i + 1} 行的审查机构重复出现。", f"ratios.{i}.agency_id")
        out[item.agency_id] = int(bp)
    total = sum(out.values())
    if total != TOTAL_BP:
        raise ApiError(
            422,
            "ratio_sum",
            f"各审查机构的目标比例之和应为 100%，当前为 {total / 100:g}%，请调整后再保存。",
            "ratios",
            {"sum_pct": total / 100},
        )
    return out


def save(conn: Connection, who: Principal, jurisdiction: str, body: RatioTableIn) -> dict:
    """Replace the jurisdiction's table from a request (checked: see ``store``)."""
    require_jurisdiction(who, jurisdiction)
    return store(
        conn,
        who.user,
        jurisdiction,
        _targets(body.ratios),
        body.reason.strip(),
        body.version,
        client=who.client,
        user_id=who.user_id,
    )


def store(
    conn: Connection,
    actor: str,
    jurisdiction: str,
    targets: dict[int, int],
    reason: str,
    version: int | None = None,
    at: dt.datetime | None = None,
    client: str | None = None,
    user_id: int | None = None,
) -> dict:
    """Replace the jurisdiction's table with ``targets`` (agency id -> hundredths of a percent, summing to 100 %):
    versioned, with its history row (``at``: when, for the demo's past edits) and an audit record."""
    if sum(targets.values()) != TOTAL_BP:
        raise ApiError(422, "ratio_sum", "各审查机构的目标比例之和应为 100%。", "ratios")
    if not reason.strip():
        raise ApiError(422, "reason_required", "调整摇号比例必须填写理由。", "reason")
    known = dict(conn.execute(sa.select(A.c.id, A.c.active).where(A.c.id.in_(targets))).all())
    for i, aid in enumerate(targets):
        if aid not in known:
            raise ApiError(422, "unknown_agency", f"第 {i + 1} 行的审查机构不存在。", f"ratios.{i}.agency_id")
        if not known[aid]:
            raise ApiError(
                422,
                "inactive_agency",
                f"第 {i + 1} 行的审查机构已暂停参加摇号，不能列入比例表。",
                f"ratios.{i}.agency_id",
            )
    before = current(conn, jurisdiction, lock=True)
    old = before["version"] if before else 0
    if version is not None and version != old:
        raise ApiError(
            409,
            "stale_version",
            "该摇号比例表已被他人修改，请刷新后再保存。",
            "version",
            {"current": old, "given": version},
        )
    when = at if at is not None else sa.func.now()
    if before is None:
        conn.execute(
            sa.insert(T).values(
                jurisdiction=jurisdiction, created_by=actor, updated_by=actor, created_at=when, updated_at=when
            )
        )
    else:
        conn.execute(
            sa.update(T)
            .where(T.c.jurisdiction == jurisdiction)
            .values(version=T.c.version + 1, updated_at=when, updated_by=actor)
        )
    conn.execute(sa.delete(R).where(R.c.jurisdiction == jurisdiction))
    conn.execute(
        sa.insert(R),
        [{"jurisdiction": jurisdiction, "agency_id": aid, "target_bp": bp} for aid, bp in targets.items()],
    )
    after = current(conn, jurisdiction)
    assert after is not None
    conn.execute(
        sa.insert(H).values(
            jurisdiction=jurisdiction,
            version=after["version"],
            changed_at=when,
            changed_by=actor,
            before=_plain(before),
            after=_plain(after),
            reason=reason,
        )
    )
    audit.record(
        conn,
        actor,
        "ratio_update",
        "dr_ratio_tables",
        None,
        {"version": old, "ratios": _plain(before)},
        {"version": after["version"], "ratios": _plain(after)},
        client,
        detail={"jurisdiction": jurisdiction, "reason": reason},
        user_id=user_id,
    )
    ensure_commitment(conn, jurisdiction, actor)
    return table_view(conn, jurisdiction)


def _plain(table: dict | None) -> list[dict]:
    rows = (table or {"ratios": []})["ratios"]
    return [{"agency_id": r["agency_id"], "name": r["name"], "target_pct": r["target_pct"]} for r in rows]


# -- routes ----------------------------------------------------------------------------------------------------------


@router.get("/ratios", summary="各管辖范围的摇号比例表（含下一次摇号的种子承诺值）")
def ratio_tables_list(
    who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    require_read(who)
    return {
        "jurisdictions": list(jurisdictions_for(who)),
        "tables": [table_view(conn, j) for j in jurisdictions_for(who)],
        "can": {"edit": who.can("review.config"), "draw": who.can("review.draw")},
    }


@router.get("/ratios/{jurisdiction}", summary="一个管辖范围的摇号比例表")
def ratio_table(
    jurisdiction: Text(10, 1),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    require_read(who)
    require_jurisdiction(who, jurisdiction)
    return table_view(conn, jurisdiction)


@router.put("/ratios/{jurisdiction}", summary="调整摇号比例（合计须为 100%，须填写理由）")
def ratio_table_save(
    jurisdiction: Text(10, 1),
    body: RatioTableIn,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require("review.config", "调整摇号比例")
    return save(conn, who, jurisdiction, body)


@router.get("/ratios/{jurisdiction}/history", summary="摇号比例调整记录（时间、调整人、调整前后、理由）")
def ratio_history(
    jurisdiction: Text(10, 1),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    require_read(who, "查看摇号比例调整记录")
    require_jurisdiction(who, jurisdiction)
    return {"jurisdiction": jurisdiction, "items": history_of(conn, jurisdiction)}


PERIOD = Window(dt.date(2000, 1, 1), 1)


@router.get("/ratios/{jurisdiction}/shares", summary="实际摇中比例与目标比例（按管辖范围和期间）")
def ratio_shares(
    jurisdiction: Text(10, 1),
    start: Day(PERIOD) | None = Query(None, alias="from", description="起始日期（含）"),
    end: Day(PERIOD) | None = Query(None, alias="to", description="截止日期（含）"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict[str, Any]:
    require_read(who, "查看摇号比例")
    require_jurisdiction(who, jurisdiction)
    if start and end and end < start:
        raise ApiError(422, "invalid_period", "截止日期不能早于起始日期。", "to")
    return shares(conn, jurisdiction, start, end)
