"""Progress of a drawing-review application (DR-04): the listed fields — project code and whether it is verified
against the project register, name, builder, total floor area, estimated investment, design unit, agency, submission
name, review category, attachments — and the stage timeline with each stage's limit, due date, completion and the
working days it took (DR-05).

The timeline is read from the case history (``case_history``: each draw begins an acceptance stage that the next
accept or return ends) and the review rounds (``dr_rounds``: a round's review, then the design unit's reply when the
round asked for changes), then the certificate after a passing conclusion. The open stage's due date is the stored
one (``dr_applications.due_on``, set when it began); a closed stage's is counted with the limits configured now.

Who sees it: whoever sees the application (row-level security: the builder's, design unit's and drawn agency's
accounts, the departments whose review content it includes, the district's staff, the city; the acceptance
window's jurisdiction).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.cases import visible
from api.deps import db_read
from geo import workflow
from layers import enterprises
from layers.drawing_review import limits
from layers.drawing_review import tables as t
from layers.drawing_review.process import APPLICATION, CONTENTS, STAGES

router = APIRouter(prefix="/api/review", tags=["施工图联审"])

RESULTS = {"passed": "合格", "modify": "需修改", "failed": "不合格"}


def names(conn: Connection, *codes: str | None) -> dict[str, str]:
    """Enterprise names by credit code (the register is readable by everyone)."""
    wanted = [c for c in codes if c]
    if not wanted:
        return {}
    e = enterprises.enterprises
    return dict(conn.execute(sa.select(e.c.uscc, e.c.name).where(e.c.uscc.in_(wanted))).all())


def attachments(conn: Connection, application_id: int) -> list[dict]:
    """The application's drawing sets (the drawings part's ``dr_drawing_sets``, where installed)."""
    cols = set(
        conn.execute(
            sa.text("SELECT column_name FROM information_schema.columns WHERE table_name = 'dr_drawing_sets'")
        ).scalars()
    )
    if "application_id" not in cols:
        return []
    shown = [c for c in ("id", "name", "title", "round_no", "status", "pages", "created_at") if c in cols]
    found = conn.execute(
        sa.text(f"SELECT {', '.join(shown)} FROM dr_drawing_sets WHERE application_id = :a ORDER BY id"),
        {"a": application_id},
    ).mappings()
    return [{k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in r.items()} for r in found]


def fields(conn: Connection, row: dict) -> dict:
    """The listed fields of DR-04."""
    agency_uscc = row.get("agency_uscc")
    if agency_uscc is None and row.get("agency_id"):
        agency_uscc = conn.execute(sa.select(t.agencies.c.uscc).where(t.agencies.c.id == row["agency_id"])).scalar()
    n = names(conn, row["builder_uscc"], row["designer_uscc"], agency_uscc)
    return {
        "project_code": row["project_code"],
        "verified": row["project_id"] is not None,
        "name": row["name"],
        "builder_uscc": row["builder_uscc"],
        "builder_name": n.get(row["builder_uscc"]),
        "floor_area_m2": row["floor_area_m2"],
        "investment_wan": row["investment_wan"],
        "designer_uscc": row["designer_uscc"],
        "designer_name": n.get(row["designer_uscc"]),
        "agency_uscc": agency_uscc,
        "agency_name": n.get(agency_uscc) if agency_uscc else None,
        "submission_name": row["submission_name"],
        "review_category": row["review_category"],
        "contents": list(row["contents"] or []),
        "contents_titles": [CONTENTS[c] for c in row["contents"] or []],
        "attachments": attachments(conn, row["id"]),
    }


def rounds_of(conn: Connection, application_id: int) -> list[dict]:
    r = t.rounds
    return [
        dict(x)
        for x in conn.execute(
            sa.select(r).where(r.c.application_id == application_id).order_by(r.c.round_no)
        ).mappings()
    ]


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, (dt.datetime, dt.date)) else v


def timeline(conn: Connection, row: dict, day: dt.date | None = None) -> list[dict]:
    """The stages in order: ``{stage, title, round_no, started_at, due_on, completed_at, limit_days,
    working_days, overdue, open, result}``; ``working_days`` counts from the start day to the completion (or
    ``day``, today, for the open stage)."""
    day = day or limits.today()
    out: list[dict] = []

    def stage(kind: str, title: str, start: Any, done: Any, round_no: int | None = None, result: Any = None) -> None:
        if start is None:
            return
        first = limits.local_day(start)
        days = limits.limit(conn, row["review_category"], row["grade"], kind)
        is_open = done is None
        due = row["due_on"] if is_open and row["due_on"] else limits.add_working_days(conn, first, days)
        end = limits.local_day(done) if done is not None else day
        out.append(
            {
                "stage": kind,
                "title": title,
                "round_no": round_no,
                "started_at": _iso(start),
                "due_on": _iso(due),
                "completed_at": _iso(done),
                "limit_days": days,
                "working_days": limits.working_days(conn, first, end),
                "overdue": end > due,
                "open": is_open and row["status"] in limits.STAGE_OF_STATE,
                "result": result,
            }
        )

    # Acceptance: every draw begins one, the next accept or return ends it.
    drawn_at = None
    for h in workflow.history(conn, APPLICATION.kind, row["id"]):
        if h["action"] == "draw":
            drawn_at = h["at"]
        elif h["action"] in ("accept", "return") and drawn_at is not None:
            stage(
                "accept", STAGES["accept"], drawn_at, h["at"], result="受理" if h["action"] == "accept" else "退回补正"
            )
            drawn_at = None
    if drawn_at is not None and row["status"] == "drawn":
        stage("accept", STAGES["accept"], drawn_at, None)
    for r in rounds_of(conn, row["id"]):
        n = r["round_no"]
        stage("review", f"第 {n} 轮审查", r["started_at"], r["opinion_at"], n, RESULTS.get(r["result"] or ""))
        if r["result"] == "modify":
            stage("reply", f"第 {n} 轮设计回复", r["opinion_at"], r["replied_at"], n)
    if row["conclusion"] == "合格" and row["concluded_at"] is not None:
        stage("certify", STAGES["certify"], row["concluded_at"], row["certified_at"])
    return out


def progress(conn: Connection, row: dict) -> dict:
    return {
        "fields": fields(conn, row),
        "timeline": timeline(conn, row),
        "history": workflow.history(conn, APPLICATION.kind, row["id"]),
    }


@router.get("/applications/{application_id}/progress", summary="施工图审查进度：项目信息与各阶段时间轴")
def application_progress(
    application_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    who.require(APPLICATION.view, "查看施工图审查进度")
    row = visible(conn, APPLICATION, application_id, who)
    row = {**row, **conn.execute(sa.select(t.applications).where(t.applications.c.id == row["id"])).mappings().one()}
    return {"id": row["id"], "status": row["status"], **progress(conn, row)}
