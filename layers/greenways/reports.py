"""The districts' greenway reports (绿道建设报表, VT-16): the annual construction plan, the monthly construction
progress and the monthly fund use, each a case of ``gw_reports`` (migration grw_0001).

A district clerk creates a report (idempotent with an ``Idempotency-Key``; one report per district, kind and period),
edits its lines while it is a draft or returned (the version is checked: a stale one is a 409 and changes nothing)
and submits it; the city accepts it or returns it with a reason. A report submitted after its due date is flagged
late (``late``); one not submitted by then shows as overdue (``overdue``) and counts as missing in the summaries.
Every line is checked against the segments of the ``greenways`` layer: a segment of the report's district, a
planned length, a month's completed length that does not take the year's total beyond the planned length.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api import idempotency
from api.auth import Principal, principal
from api.cases import ActionBody, case_routes
from api.deps import db_write
from api.errors import ApiError
from geo import audit, cases, workflow
from geo.bounds import INVESTMENT_MAX_WAN, Amount, Day, RecordId, Text, Version, Whole
from geo.cases import Action, CaseType
from geo.divisions import DISTRICT_NAMES, district_attr
from geo.layer.registry import Attr, registry
from layers.greenways.settings import gw_settings
from layers.greenways.tables import PREFIX, photos_of

router = APIRouter(prefix=PREFIX, tags=["绿道建设"])
BEIJING = timezone(timedelta(hours=8))

KINDS = {"plan": "年度建设计划", "progress": "月度建设进度", "funds": "资金使用情况"}
STATES = {"draft": "草稿", "submitted": "待市级审核", "accepted": "市级已接收", "returned": "已退回"}
GRADES = ("省级", "市级", "区县级")
SOURCES = ("中央资金", "省级资金", "市级资金", "区县资金", "社会资金")
SEGMENT_MAX_M = 100_000.0  # no greenway segment is longer than 100 km

REPORTS = cases.register(
    CaseType(
        kind="gw_report",
        title="绿道建设报表",
        table="gw_reports",
        states=STATES,
        actions=(
            Action("submit", "提交", ("draft", "returned"), "submitted", "greenway.report.submit"),
            Action("accept", "接收", ("submitted",), "accepted", "greenway.report.review"),
            Action("return", "退回", ("submitted",), "returned", "greenway.report.review", reason_required=True),
        ),
        fields=(
            Attr("kind", "报表类型", choices=tuple(KINDS), filterable=True),
            district_attr(),
            Attr("year", "年度", "int", filterable=True),
            Attr("month", "月份", "int", filterable=True),
            Attr("status", "状态", filterable=True),
            Attr("items", "报表内容", "json"),
            Attr("note", "说明"),
            Attr("due_on", "截止日期", "date"),
            Attr("late", "逾期提交", "bool"),
            Attr("submitted_at", "提交时间", "datetime"),
            Attr("submitted_by", "提交人"),
            Attr("reviewed_at", "审核时间", "datetime"),
            Attr("reviewed_by", "审核人"),
            Attr("return_reason", "退回理由"),
        ),
        columns=(
            ("id", "编号"),
            ("kind_title", "报表类型"),
            ("district", "区县"),
            ("period", "期间"),
            ("status_title", "状态"),
            ("due_on", "截止日期"),
            ("late_text", "是否逾期"),
            ("submitted_at", "提交时间"),
            ("submitted_by", "提交人"),
            ("reviewed_by", "审核人"),
            ("return_reason", "退回理由"),
        ),
        view="greenway.view",
        export="greenway.export",
        sort=("-year", "-month", "-id"),
    )
)
MACHINE = REPORTS.machine


# -- the lines of a report ------------------------------------------------------------------------------------------
class PlanLine(BaseModel):
    segment_id: RecordId = Field(title="绿道")
    planned_length_m: Amount(SEGMENT_MAX_M, 1) = Field(title="计划长度(米)")
    grade: Literal["省级", "市级", "区县级"] = Field(title="级别")
    budget_wan: Amount(INVESTMENT_MAX_WAN) = Field(title="预算(万元)")
    start_on: Day() = Field(title="计划开工日期")
    end_on: Day() = Field(title="计划完工日期")


class ProgressLine(BaseModel):
    segment_id: RecordId = Field(title="绿道")
    completed_m: Amount(SEGMENT_MAX_M) = Field(title="本月完成长度(米)")
    note: Text(500) | None = Field(None, title="进展说明")


class FundLine(BaseModel):
    source: Literal["中央资金", "省级资金", "市级资金", "区县资金", "社会资金"] = Field(title="资金来源")
    allocated_wan: Amount(INVESTMENT_MAX_WAN) = Field(title="到位资金(万元)")
    spent_wan: Amount(INVESTMENT_MAX_WAN) = Field(title="使用资金(万元)")


class Lines(BaseModel):
    """The lines of a report: the list of its kind (one of the three)."""

    plan: list[PlanLine] | None = Field(None, title="计划明细", max_length=2000)
    progress: list[ProgressLine] | None = Field(None, title="进度明细", max_length=2000)
    funds: list[FundLine] | None = Field(None, title="资金明细", max_length=20)
    note: Text(1000) | None = Field(None, title="说明")


class NewReport(Lines):
    kind: Literal["plan", "progress", "funds"] = Field(title="报表类型")
    year: Whole(2000, 2100) = Field(title="年度")
    month: Whole(1, 12) | None = Field(None, title="月份")
    district: Literal[DISTRICT_NAMES] | None = Field(None, title="区县")  # type: ignore[valid-type]


class ReportUpdate(Lines):
    version: Version = Field(title="版本号")


# -- dates ----------------------------------------------------------------------------------------------------------
def now() -> datetime:
    return datetime.now(UTC)


def today() -> date:
    return now().astimezone(BEIJING).date()


def due_on(kind: str, year: int, month: int | None) -> date:
    """The due date of a report: the plan's configured day of its year; a month's report the configured day of the
    following month (a day beyond the month's end is its last day)."""
    s = gw_settings()
    if kind == "plan":
        last = calendar.monthrange(year, s.plan_due_month)[1]
        return date(year, s.plan_due_month, min(s.plan_due_day, last))
    assert month is not None
    y, m = (year + 1, 1) if month == 12 else (year, month + 1)
    return date(y, m, min(s.monthly_due_day, 28))


def period_text(kind: str, year: int, month: int | None) -> str:
    return f"{year}年" if kind == "plan" else f"{year}年{month}月"


# -- checks ---------------------------------------------------------------------------------------------------------
def _segments(conn: Connection, ids: list[int]) -> dict[int, dict]:
    g = registry.get("greenways").sa_table
    rows = conn.execute(
        sa.select(g.c.id, g.c.code, g.c.name, g.c.district, g.c.length_m).where(
            g.c.id.in_(ids), g.c.deleted_at.is_(None)
        )
    ).mappings()
    return {r["id"]: dict(r) for r in rows}


def _check_segments(conn: Connection, district: str, key: str, ids: list[int]) -> dict[int, dict]:
    found = _segments(conn, ids)
    seen: set[int] = set()
    for i, sid in enumerate(ids):
        if sid in seen:
            raise ApiError(
                422, "duplicate_segment", f"第 {i + 1} 行：同一条绿道不能重复填报。", f"{key}.{i}.segment_id"
            )
        seen.add(sid)
        seg = found.get(sid)
        if seg is None:
            raise ApiError(
                422, "unknown_segment", f"第 {i + 1} 行：绿道（编号 {sid}）不存在。", f"{key}.{i}.segment_id"
            )
        if seg["district"] != district:
            raise ApiError(
                422,
                "segment_other_district",
                f"第 {i + 1} 行：绿道「{seg['name']}」属于{seg['district']}，不能填入{district}的报表。",
                f"{key}.{i}.segment_id",
            )
    return found


def planned_lengths(conn: Connection, district: str, year: int) -> dict[int, float] | None:
    """Planned length per segment in the district's plan of ``year`` (None: no plan reported)."""
    r = REPORTS.sa_table
    items = conn.execute(  # locked: two progress reports of the district and year are checked one after the other
        sa.select(r.c["items"]).where(r.c.kind == "plan", r.c.district == district, r.c.year == year).with_for_update()
    ).scalar()
    if items is None:
        return None
    return {int(x["segment_id"]): float(x["planned_length_m"]) for x in items}


def completed_before(conn: Connection, district: str, year: int, exclude_id: int | None) -> dict[int, float]:
    """Length completed per segment in the district's other progress reports of ``year``."""
    sql = sa.text("""
        SELECT (x->>'segment_id')::bigint AS segment_id, sum((x->>'completed_m')::float8) AS m
          FROM gw_reports r, jsonb_array_elements(r.items) x
         WHERE r.kind = 'progress' AND r.district = :d AND r.year = :y AND r.id IS DISTINCT FROM :id
         GROUP BY 1
    """)  # a string: the lines are JSON elements, clearer in SQL than in Core
    return {row.segment_id: row.m for row in conn.execute(sql, {"d": district, "y": year, "id": exclude_id})}


def check_lines(
    conn: Connection, kind: str, district: str, year: int, body: Lines, report_id: int | None = None
) -> list[dict]:
    """The report's lines as stored (JSON), or a 422 naming the line and field at fault."""
    given = {"plan": body.plan, "progress": body.progress, "funds": body.funds}
    for other, lines in given.items():
        if other != kind and lines is not None:
            raise ApiError(422, "wrong_lines", f"{KINDS[kind]}不能填写{KINDS[other]}的明细。", other)
    lines = given[kind]
    if lines is None:
        raise ApiError(422, "required", f"请填写{KINDS[kind]}的明细。", kind)
    if kind == "plan":
        _check_segments(conn, district, "plan", [x.segment_id for x in lines])
        for i, x in enumerate(lines):
            if x.end_on < x.start_on:
                raise ApiError(
                    422, "end_before_start", f"第 {i + 1} 行：计划完工日期早于开工日期。", f"plan.{i}.end_on"
                )
            if not (x.start_on.year <= year <= x.end_on.year):
                raise ApiError(422, "outside_year", f"第 {i + 1} 行：计划工期不含{year}年。", f"plan.{i}.start_on")
        return [x.model_dump(mode="json") for x in lines]
    if kind == "progress":
        segs = _check_segments(conn, district, "progress", [x.segment_id for x in lines])
        planned = planned_lengths(conn, district, year)
        if planned is None:
            raise ApiError(422, "no_plan", f"{district}尚未填报{year}年度建设计划，不能填报建设进度。", "progress")
        before = completed_before(conn, district, year, report_id)
        for i, x in enumerate(lines):
            name = segs[x.segment_id]["name"]
            if x.segment_id not in planned:
                raise ApiError(
                    422, "not_in_plan", f"第 {i + 1} 行：绿道「{name}」不在{year}年度建设计划中。",
                    f"progress.{i}.segment_id",
                )  # fmt: skip
            total = before.get(x.segment_id, 0.0) + x.completed_m
            if total > planned[x.segment_id] + 1e-6:
                raise ApiError(
                    422,
                    "completed_exceeds_plan",
                    f"第 {i + 1} 行：绿道「{name}」{year}年累计完成 {total:.1f} 米，超过计划长度 "
                    f"{planned[x.segment_id]:.1f} 米。",
                    f"progress.{i}.completed_m",
                    {"completed_m": total, "planned_length_m": planned[x.segment_id]},
                )
        return [x.model_dump(mode="json") for x in lines]
    seen: set[str] = set()
    for i, f in enumerate(lines):
        if f.source in seen:
            raise ApiError(422, "duplicate_source", f"第 {i + 1} 行：资金来源「{f.source}」重复。", f"funds.{i}.source")
        seen.add(f.source)
    return [f.model_dump(mode="json") for f in lines]


# -- the record as the pages see it --------------------------------------------------------------------------------
def totals(kind: str, items: list[dict]) -> dict:
    if kind == "plan":
        return {
            "planned_km": round(sum(x["planned_length_m"] for x in items) / 1000, 4),
            "budget_wan": round(sum(x["budget_wan"] for x in items), 2),
        }
    if kind == "progress":
        return {"completed_km": round(sum(x["completed_m"] for x in items) / 1000, 4)}
    return {
        "allocated_wan": round(sum(x["allocated_wan"] for x in items), 2),
        "spent_wan": round(sum(x["spent_wan"] for x in items), 2),
    }


def _iso(t: Any) -> str | None:
    return t.isoformat() if t else None


def view(conn: Connection, row: dict, who: Principal) -> dict:
    overdue = row["status"] in ("draft", "returned") and today() > row["due_on"]  # not reported, past due
    return {
        "id": row["id"],
        "kind": row["kind"],
        "kind_title": KINDS[row["kind"]],
        "district": row["district"],
        "year": row["year"],
        "month": row["month"],
        "period": period_text(row["kind"], row["year"], row["month"]),
        "status": row["status"],
        "status_title": STATES[row["status"]],
        "items": row["items"],
        "totals": totals(row["kind"], row["items"]),
        "note": row["note"],
        "due_on": row["due_on"].isoformat(),
        "late": row["late"],
        "overdue": overdue,
        "late_text": "逾期未报" if overdue else ("逾期提交" if row["late"] else ""),
        "version": row["version"],
        "submitted_at": _iso(row["submitted_at"]),
        "submitted_by": row["submitted_by"],
        "reviewed_at": _iso(row["reviewed_at"]),
        "reviewed_by": row["reviewed_by"],
        "return_reason": row["return_reason"],
        "actions": MACHINE.allowed(row["status"], who.can),
    }


def detail(conn: Connection, row: dict, who: Principal) -> dict:
    ids = [int(x["segment_id"]) for x in row["items"] if "segment_id" in x]
    segs = _segments(conn, ids) if ids else {}
    out: dict[str, Any] = {
        "segments": {str(k): {"code": v["code"], "name": v["name"], "length_m": v["length_m"]} for k, v in segs.items()}
    }
    if row["kind"] == "progress":
        out["photos"] = photos_of(conn, row["id"])
    return out


# -- creating and editing ------------------------------------------------------------------------------------------
def district_of(who: Principal, asked: str | None) -> str:
    """The district a principal reports for: its own (another one is refused), or the one named by the city."""
    if who.district:
        if asked and asked != who.district:
            raise ApiError(403, "other_district", f"您只能填报{who.district}的报表，不能填报{asked}的。", "district")
        return who.district
    if not asked:
        raise ApiError(422, "required", "请选择填报的区县。", "district")
    return asked


def create(conn: Connection, who: Principal, body: NewReport) -> dict:
    who.require("greenway.report.submit", "填报绿道建设报表")
    district = district_of(who, body.district)
    if body.kind == "plan":
        if body.month is not None:
            raise ApiError(422, "month_not_allowed", "年度建设计划不填月份。", "month")
        if body.year > today().year + 1:
            raise ApiError(422, "future_year", "只能填报本年度或下一年度的建设计划。", "year")
    else:
        if body.month is None:
            raise ApiError(422, "required", f"请填写{KINDS[body.kind]}的月份。", "month")
        if date(body.year, body.month, 1) > today().replace(day=1):
            raise ApiError(422, "future_month", "不能填报尚未开始的月份。", "month")
    r = REPORTS.sa_table
    existing = conn.execute(
        sa.select(r.c.id, r.c.status).where(
            r.c.kind == body.kind,
            r.c.district == district,
            r.c.year == body.year,
            r.c.month.is_(None) if body.month is None else r.c.month == body.month,
        )
    ).first()
    if existing is not None:
        raise ApiError(
            409,
            "duplicate_report",
            f"{district}{period_text(body.kind, body.year, body.month)}的{KINDS[body.kind]}已存在"
            f"（{STATES[existing.status]}），请在原报表上修改。",
            "kind",
            {"report_id": existing.id},
        )
    items = check_lines(conn, body.kind, district, body.year, body)
    row = (
        conn.execute(
            sa.insert(r)
            .values(
                kind=body.kind,
                district=district,
                year=body.year,
                month=body.month,
                items=items,
                note=body.note,
                due_on=due_on(body.kind, body.year, body.month),
                created_by=who.user,
                updated_by=who.user,
            )
            .returning(*r.c)
        )
        .mappings()
        .one()
    )
    workflow.record(conn, REPORTS.kind, row["id"], None, district, "create", None, "draft", who.user)
    audit.record(
        conn, who.user, "create", "gw_reports", row["id"], None,
        {"kind": body.kind, "district": district, "year": body.year, "month": body.month, "items": items},
        who.client, user_id=who.user_id,
    )  # fmt: skip
    return view(conn, dict(row), who)


@router.post("/reports", status_code=201, summary="新建绿道建设报表（区县：年度计划、月度进度、资金使用）")
def create_report(
    body: NewReport,
    request: Request,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> JSONResponse:
    key = idempotency.key_of(request)
    return idempotency.run(
        conn,
        who.user_id,
        key,
        idempotency.body_hash(body.model_dump(mode="json")),
        lambda: (201, create(conn, who, body)),
    )


@router.put("/reports/{report_id}", summary="修改绿道建设报表（草稿或已退回；带版本号）")
def update_report(
    report_id: int,
    body: ReportUpdate,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require("greenway.report.submit", "修改绿道建设报表")
    row = MACHINE.lock(conn, report_id)
    if row["status"] not in ("draft", "returned"):
        raise ApiError(409, "illegal_transition", f"报表当前状态为「{STATES[row['status']]}」，不能修改。", "status")
    if row["version"] != body.version:
        raise ApiError(
            409,
            "stale_version",
            "该报表已被他人修改，请刷新后再保存。",
            "version",
            {"current": row["version"], "given": body.version},
        )
    items = check_lines(conn, row["kind"], row["district"], row["year"], body, report_id)
    r = REPORTS.sa_table
    after = (
        conn.execute(
            sa.update(r)
            .where(r.c.id == report_id)
            .values(
                items=items,
                note=body.note,
                version=r.c.version + 1,
                updated_at=sa.func.now(),
                updated_by=who.user,
            )
            .returning(*r.c)
        )
        .mappings()
        .one()
    )
    audit.record(
        conn, who.user, "update", "gw_reports", report_id, {"items": row["items"], "note": row["note"]},
        {"items": items, "note": body.note}, who.client, user_id=who.user_id,
    )  # fmt: skip
    return view(conn, dict(after), who)


def prepare(conn: Connection, who: Principal, row: dict, a: Action, body: ActionBody) -> dict[str, Any]:
    """The columns an action sets: a submission is complete and checked again (the plan may have changed), and
    late when made after the due date; a review names its reviewer (and the reason of a return)."""
    if a.name == "submit":
        if not row["items"]:
            raise ApiError(422, "empty_report", "报表没有任何明细，不能提交。", row["kind"])
        lines = Lines.model_validate({row["kind"]: row["items"]})
        check_lines(conn, row["kind"], row["district"], row["year"], lines, row["id"])
        at = now()
        late = at.astimezone(BEIJING).date() > row["due_on"]
        return {"submitted_at": at, "submitted_by": who.user, "late": late, "return_reason": None}
    return {
        "reviewed_at": now(),
        "reviewed_by": who.user,
        "return_reason": body.reason.strip() if a.name == "return" and body.reason else None,
    }


# The list (filters kind, district, year, month, status), its Excel export, the detail and the actions (submit,
# accept, return) come from the declaration; creating and editing are the routes above.
case_routes(
    router,
    REPORTS,
    "/reports",
    view=view,
    items_key="reports",
    detail=detail,
    prepare=prepare,
    summaries={"action": "绿道建设报表办理：提交、接收、退回"},
)
