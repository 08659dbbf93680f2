"""Evaluations of the drawing review (服务、质量评价, SPEC DR-08 and DR-09; requirements 3.3.4).

**The builder rates the agency's service (DR-08).** The builder (建设单位) of an application rates the review agency
of that application — the agency is the application's (``dr_applications.agency_id``, assigned by the lottery), never
chosen by the builder: 满意 (satisfied) or 不满意 (unsatisfied, a reason required). Once per *stage*:

- ``round`` — after each review round whose opinion was issued (``dr_rounds.opinion_at``; round 1, 2, …): how the
  agency handled that round;
- ``certificate`` — once after the certificate (审查合格书) was issued (the application ``certified``): the process
  as a whole.

Only the application's builder may rate: an account holding ``review.rate`` whose organisation's credit code is the
application's ``builder_uscc`` (an administrator holding every permission is not the builder). A second rating of
the same stage is a 409; a stage not reached yet is a 409; anything refused stores nothing.

**The agency scores the survey and design units (DR-09).** Once an application is concluded (审查合格, 审查不合格 or
已发证), its agency scores its design unit and, when the application names one, its survey unit, against the
scoring standard (``dr_score_items``: name, maximum deduction, order, in use — edited with ``review.config``, every
change versioned and audited). Each deduction names an item, its points (more than 0, at most the item's maximum, at
most one decimal) and its reason (required); the total is 100 − the deductions (the deductions may not exceed 100);
the grade: **优 ≥ 90, 良 ≥ 75, 合格 ≥ 60, 不合格 < 60** — a 不合格 needs an explanation. Only the application's agency
scores: an account holding ``review.score`` whose organisation's credit code is the agency's. Once per application
and unit (409 again).

**Summaries** by agency (ratings, satisfied, satisfaction rate; scores given, average, grades) and by unit (scores
received, average, grades), filtered by jurisdiction (市本级 / 建德市 / 淳安县) and period (Beijing dates of rating or
scoring), scoped by row-level security, exported to Excel (logged).

**Credit (信用库).** Ratings and scores are cases without a workflow (``states={}``: they also appear in the handled-
matter register) and declare credit feeds fired on recording (``state=None``); the points:

=====================================  ========  ==========  ======
event                                  subject   polarity    points
=====================================  ========  ==========  ======
审查服务不满意 (an unsatisfied rating)   agency    bad         2
勘察设计质量评价优 (a score of 优)         unit      good        2
勘察设计质量评价不合格 (a score < 60)      unit      bad         3
=====================================  ========  ==========  ======

A satisfied rating is no credit event: satisfaction is the service expected, its rate is in the summaries, and a good
event per rating would let an agency's volume, not its service, raise its credit. 良 and 合格 are no events either.

Routes under ``/api/review/evaluations``; the page is ``/review/evaluations`` (``web/evaluations.html``).
"""

from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from openpyxl import Workbook
from openpyxl.styles import Font
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from api import idempotency
from api.auth import Principal, principal
from api.cases import case_routes
from api.deps import db_read, db_write
from api.errors import ApiError
from api.web import APP_CACHE, file_response
from geo import audit, cases, workflow
from geo.bounds import BEIJING, ITEM_CODE, Amount, Code, RecordId, Text, Version, Whole
from geo.cases import CaseType, Lookup, Range
from geo.db import bookkeeping_columns
from geo.divisions import district_attr
from geo.errors import Invalid
from geo.layer.registry import Attr
from geo.modules import Page, log_labels, pages
from geo.records import Link, register_link
from layers import credit
from layers.credit import Subject
from layers.drawing_review import tables as t
from layers.drawing_review.process import JURISDICTIONS, STATES

PREFIX = "/api/review/evaluations"
PAGE = Path(__file__).resolve().parent / "web" / "evaluations.html"

STAGES = {"round": "审查意见出具后", "certificate": "发放审查合格书后"}
UNIT_ROLES = {"design": "设计单位", "survey": "勘察单位"}
# Grade thresholds (the lowest total of each grade), best first.
GRADES = (("优", 90), ("良", 75), ("合格", 60), ("不合格", 0))
FAIL = "不合格"
CONCLUDED = ("passed", "failed", "certified")  # applications whose agency may score their units
CREDIT = {"unsatisfied": 2.0, "excellent": 2.0, "failed": 3.0}  # points of the credit events (module docstring)

router = APIRouter(tags=["施工图联审"])

metadata = sa.MetaData()
TS = sa.DateTime(timezone=True)

ratings = sa.Table(
    "dr_ratings",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("application_id", sa.BigInteger),
    sa.Column("review_project_id", sa.BigInteger),
    sa.Column("project_id", sa.BigInteger),
    sa.Column("agency_id", sa.BigInteger),
    sa.Column("builder_uscc", sa.Text),
    sa.Column("stage", sa.Text),
    sa.Column("round_no", sa.Integer),
    sa.Column("satisfied", sa.Boolean),
    sa.Column("reason", sa.Text),
    sa.Column("rated_at", TS),
    sa.Column("jurisdiction", sa.Text),  # generated from the district
    sa.Column("district", sa.Text),
    *bookkeeping_columns(),
)

score_items = sa.Table(
    "dr_score_items",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("code", sa.Text),
    sa.Column("name", sa.Text),
    sa.Column("max_deduction", sa.Numeric(5, 1)),
    sa.Column("sort", sa.Integer),
    sa.Column("active", sa.Boolean),
    *bookkeeping_columns(),
)

scores = sa.Table(
    "dr_scores",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("application_id", sa.BigInteger),
    sa.Column("review_project_id", sa.BigInteger),
    sa.Column("project_id", sa.BigInteger),
    sa.Column("agency_id", sa.BigInteger),
    sa.Column("unit_role", sa.Text),
    sa.Column("unit_uscc", sa.Text),
    sa.Column("deducted", sa.Numeric(6, 1)),
    sa.Column("total", sa.Numeric(6, 1)),
    sa.Column("grade", sa.Text),
    sa.Column("explanation", sa.Text),
    sa.Column("scored_at", TS),
    sa.Column("jurisdiction", sa.Text),  # generated from the district
    sa.Column("district", sa.Text),
    *bookkeeping_columns(),
)

deductions = sa.Table(
    "dr_score_deductions",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("score_id", sa.BigInteger),
    sa.Column("application_id", sa.BigInteger),
    sa.Column("review_project_id", sa.BigInteger),
    sa.Column("item_id", sa.BigInteger),
    sa.Column("item_code", sa.Text),
    sa.Column("item_name", sa.Text),
    sa.Column("max_deduction", sa.Numeric(5, 1)),
    sa.Column("points", sa.Numeric(5, 1)),
    sa.Column("reason", sa.Text),
    sa.Column("district", sa.Text),
    *bookkeeping_columns(),
)

ORGANISATIONS = sa.table("organisations", sa.column("id"), sa.column("uscc"))
ENTERPRISES = sa.table("enterprises", sa.column("uscc"), sa.column("name"))


def grade_of(total: Decimal | float) -> str:
    """优 ≥ 90, 良 ≥ 75, 合格 ≥ 60, 不合格 below."""
    return next(g for g, low in GRADES if total >= low)


def _parse_bool(value: str) -> bool:
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise Invalid("invalid_value", "「是否满意」应为 true 或 false。", "satisfied")


# -- the two kinds of evaluation as cases without a workflow -------------------------------------------------------

_APP_LOOKUP = Lookup(
    "dr_applications",
    "application_id",
    {"application_no": "application_no", "project_name": "name"},
    ("application_no",),
)
RATING = cases.register(
    CaseType(
        kind="dr_rating",
        title="审查机构服务评价",
        table="dr_ratings",
        states={},  # recorded once, with the agency's credit event when unsatisfied; no workflow
        actions=(),
        fields=(
            Attr("application_id", "施工图审查申请", "int", filterable=True),
            Attr("project_id", "项目", "int"),
            Attr("agency_id", "审查机构", "int", filterable=True),
            Attr("builder_uscc", "建设单位", filterable=True),
            Attr("stage", "评价阶段", choices=tuple(STAGES), filterable=True),
            Attr("round_no", "审查轮次", "int"),
            Attr("satisfied", "是否满意", "bool", filterable=True),
            Attr("reason", "不满意原因"),
            Attr("rated_at", "评价时间", "datetime"),
            Attr("jurisdiction", "管辖", choices=JURISDICTIONS, filterable=True),
            district_attr(),
        ),
        columns=(
            ("id", "编号"),
            ("application_no", "申请编号"),
            ("project_name", "项目名称"),
            ("agency_name", "审查机构"),
            ("builder_name", "建设单位"),
            ("stage_title", "评价阶段"),
            ("result", "评价结果"),
            ("reason", "不满意原因"),
            ("jurisdiction", "管辖"),
            ("rated_at", "评价时间"),
            ("created_by", "评价人"),
        ),
        scope="project",
        view="review.view",
        export="review.export",
        sort=("-rated_at", "-id"),
        parsers={"satisfied": _parse_bool},
        lookups=(_APP_LOOKUP, Lookup("dr_agencies", "agency_id", {"agency_uscc": "uscc"})),
        ranges=(Range("from", "rated_at", ">="), Range("to", "rated_at", "<=")),
    )
)
SCORE = cases.register(
    CaseType(
        kind="dr_score",
        title="勘察设计质量评分",
        table="dr_scores",
        states={},  # recorded once, with the unit's credit event when 优 or 不合格; no workflow
        actions=(),
        fields=(
            Attr("application_id", "施工图审查申请", "int", filterable=True),
            Attr("project_id", "项目", "int"),
            Attr("agency_id", "审查机构", "int", filterable=True),
            Attr("unit_role", "单位类别", choices=tuple(UNIT_ROLES), filterable=True),
            Attr("unit_uscc", "被评单位", filterable=True),
            Attr("deducted", "扣分合计", "float"),
            Attr("total", "得分", "float"),
            Attr("grade", "等级", choices=tuple(g for g, _ in GRADES), filterable=True),
            Attr("explanation", "不合格说明"),
            Attr("scored_at", "评分时间", "datetime"),
            Attr("jurisdiction", "管辖", choices=JURISDICTIONS, filterable=True),
            district_attr(),
        ),
        columns=(
            ("id", "编号"),
            ("application_no", "申请编号"),
            ("project_name", "项目名称"),
            ("agency_name", "审查机构"),
            ("unit_role_title", "单位类别"),
            ("unit_name", "被评单位"),
            ("total", "得分"),
            ("grade", "等级"),
            ("explanation", "不合格说明"),
            ("jurisdiction", "管辖"),
            ("scored_at", "评分时间"),
            ("created_by", "评分人"),
        ),
        scope="project",
        view="review.view",
        export="review.export",
        sort=("-scored_at", "-id"),
        lookups=(_APP_LOOKUP, Lookup("dr_agencies", "agency_id", {"agency_uscc": "uscc"})),
        ranges=(Range("from", "scored_at", ">="), Range("to", "scored_at", "<=")),
    )
)

log_labels(
    objects={"dr_score_items": "施工图审查评分标准", "dr_score_deductions": "勘察设计质量扣分"},
    actions={"rate": "评价审查机构", "score": "评分"},
)
pages(Page("/review/evaluations", "服务与质量评价", "施工图联审", "review.view", order=64))

# A unit's page lists the scores it received; a project's page the ratings and scores of its applications.
register_link(
    Link(
        target="enterprises",
        module="drawing_review",
        title="施工图勘察设计质量评分",
        table="dr_scores",
        column="unit_uscc",
        target_column="uscc",
        kind="dr_score",
        columns=(("total", "得分"), ("grade", "等级"), ("scored_at", "评分时间")),
        order="scored_at DESC",
    ),
    Link(
        target="projects",
        module="drawing_review",
        title="施工图审查服务评价",
        table="dr_ratings",
        column="project_id",
        kind="dr_rating",
        columns=(("stage", "评价阶段"), ("round_no", "审查轮次"), ("satisfied", "是否满意"), ("reason", "不满意原因")),
        order="rated_at DESC",
    ),
)


# -- reading ----------------------------------------------------------------------------------------------------


def _name(conn: Connection, uscc: str | None) -> str | None:
    if not uscc:
        return None
    return conn.execute(sa.select(ENTERPRISES.c.name).where(ENTERPRISES.c.uscc == uscc)).scalar()


def _beijing_day(moment: datetime | None) -> date | None:
    return moment.astimezone(BEIJING).date() if moment is not None else None


def application(conn: Connection, application_id: int, lock: bool = False) -> dict:
    """The application with its agency's credit code (row-level security: 404 outside the principal's scope)."""
    a, g = t.applications, t.agencies
    q = (
        sa.select(a, g.c.uscc.label("agency_uscc"))
        .select_from(a.outerjoin(g, g.c.id == a.c.agency_id))
        .where(a.c.id == application_id)
    )
    if lock:
        q = q.with_for_update(of=a)
    row = conn.execute(q).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "施工图审查申请不存在，或不在您的数据范围内。", "application_id")
    return dict(row)


def org_uscc(conn: Connection, who: Principal) -> str | None:
    """The credit code of the principal's organisation (None: no organisation, or one without a code)."""
    if who.org_id is None:
        return None
    code = conn.execute(sa.select(ORGANISATIONS.c.uscc).where(ORGANISATIONS.c.id == who.org_id)).scalar()
    return code.upper() if code else None  # compared as the flow's grants compare it (letters in either case)


def is_builder(conn: Connection, who: Principal, app: dict) -> bool:
    return who.can("review.rate") and org_uscc(conn, who) == app["builder_uscc"].upper()


def is_agency(conn: Connection, who: Principal, app: dict) -> bool:
    agency = app["agency_uscc"]
    return who.can("review.score") and agency is not None and org_uscc(conn, who) == agency.upper()


def concluded_rounds(conn: Connection, application_id: int) -> list[int]:
    r = t.rounds
    q = sa.select(r.c.round_no).where(r.c.application_id == application_id, r.c.opinion_at.is_not(None))
    return sorted(conn.execute(q).scalars())


def stages_of(conn: Connection, app: dict) -> list[dict]:
    """The stages of the application the builder may rate (reached ones only), each with its rating if given."""
    given = {
        (r["stage"], r["round_no"]): r
        for r in conn.execute(sa.select(ratings).where(ratings.c.application_id == app["id"])).mappings()
    }
    out = [("round", n, f"第 {n} 轮{STAGES['round']}") for n in concluded_rounds(conn, app["id"])]
    if app["status"] == "certified":
        out.append(("certificate", 0, STAGES["certificate"]))
    return [
        {"stage": s, "round_no": n, "title": title, "rating": rating_view(given[(s, n)]) if (s, n) in given else None}
        for s, n, title in out
    ]


def units_of(conn: Connection, app: dict) -> list[dict]:
    """The units the agency may score (the design unit; the survey unit when named), each with its score if given."""
    given = {
        r["unit_role"]: r
        for r in conn.execute(sa.select(scores).where(scores.c.application_id == app["id"])).mappings()
    }
    out = []
    for role, column in (("design", "designer_uscc"), ("survey", "surveyor_uscc")):
        if app[column]:
            score = given.get(role)
            out.append(
                {
                    "unit_role": role,
                    "unit_role_title": UNIT_ROLES[role],
                    "uscc": app[column],
                    "name": _name(conn, app[column]),
                    "score": score_view(conn, dict(score), with_deductions=True) if score else None,
                }
            )
    return out


def items(conn: Connection, active_only: bool = False) -> list[dict]:
    q = sa.select(score_items).order_by(score_items.c.sort, score_items.c.id)
    if active_only:
        q = q.where(score_items.c.active)
    return [
        {**{k: v for k, v in r.items() if k != "created_at"}, "max_deduction": float(r["max_deduction"])}
        for r in conn.execute(q).mappings()
    ]


def rating_view(row: dict, names: dict[str, str | None] | None = None) -> dict:
    names = names or {}
    stage = STAGES[row["stage"]] if row["stage"] == "certificate" else f"第 {row['round_no']} 轮{STAGES['round']}"
    return {
        "id": row["id"],
        "application_id": row["application_id"],
        "application_no": row.get("application_no"),
        "project_name": row.get("project_name"),
        "agency_id": row["agency_id"],
        "agency_name": names.get("agency"),
        "builder_uscc": row["builder_uscc"],
        "builder_name": names.get("builder"),
        "stage": row["stage"],
        "round_no": row["round_no"],
        "stage_title": stage,
        "satisfied": row["satisfied"],
        "result": "满意" if row["satisfied"] else "不满意",
        "reason": row["reason"],
        "jurisdiction": row["jurisdiction"],
        "district": row["district"],
        "rated_at": row["rated_at"],
        "created_by": row["created_by"],
    }


def score_view(conn: Connection, row: dict, with_deductions: bool = False) -> dict:
    out = {
        "id": row["id"],
        "application_id": row["application_id"],
        "application_no": row.get("application_no"),
        "project_name": row.get("project_name"),
        "agency_id": row["agency_id"],
        "agency_name": _name(conn, row.get("agency_uscc")),
        "unit_role": row["unit_role"],
        "unit_role_title": UNIT_ROLES[row["unit_role"]],
        "unit_uscc": row["unit_uscc"],
        "unit_name": _name(conn, row["unit_uscc"]),
        "deducted": float(row["deducted"]),
        "total": float(row["total"]),
        "grade": row["grade"],
        "explanation": row["explanation"],
        "jurisdiction": row["jurisdiction"],
        "district": row["district"],
        "scored_at": row["scored_at"],
        "created_by": row["created_by"],
    }
    if with_deductions:
        d = deductions
        out["deductions"] = [
            {
                "item_id": r["item_id"],
                "item_code": r["item_code"],
                "item_name": r["item_name"],
                "max_deduction": float(r["max_deduction"]),
                "points": float(r["points"]),
                "reason": r["reason"],
            }
            for r in conn.execute(sa.select(d).where(d.c.score_id == row["id"]).order_by(d.c.id)).mappings()
        ]
    return out


def _rating_list_view(conn: Connection, row: dict, who: Principal) -> dict:
    agency = conn.execute(sa.select(t.agencies.c.uscc).where(t.agencies.c.id == row["agency_id"])).scalar()
    return rating_view(row, {"agency": _name(conn, agency), "builder": _name(conn, row["builder_uscc"])})


# The lists (filters application_id, application_no, agency_id, stage, satisfied / unit_role, unit_uscc, grade,
# jurisdiction, district, from, to), their Excel exports and the details come from the declarations.
case_routes(
    router,
    RATING,
    f"{PREFIX}/ratings",
    view=_rating_list_view,
    items_key="ratings",
    summaries={"list": "审查机构服务评价列表（按权限范围）", "detail": "审查机构服务评价详情"},
)
case_routes(
    router,
    SCORE,
    f"{PREFIX}/scores",
    view=lambda conn, row, who: score_view(conn, row),
    items_key="scores",
    detail=lambda conn, row, who: {"deductions": score_view(conn, row, with_deductions=True)["deductions"]},
    summaries={"list": "勘察设计质量评分列表（按权限范围）", "detail": "勘察设计质量评分详情（含扣分项）"},
)


# -- credit feeds ------------------------------------------------------------------------------------------------


def _agency_subject(conn: Connection, row: dict) -> Subject | None:
    if row["satisfied"]:
        return None
    uscc = conn.execute(sa.select(t.agencies.c.uscc).where(t.agencies.c.id == row["agency_id"])).scalar_one()
    return Subject("enterprise", uscc, _name(conn, uscc) or uscc)


def _unit_subject(grade: str) -> Any:
    def subject(conn: Connection, row: dict) -> Subject | None:
        if row["grade"] != grade:
            return None
        return Subject("enterprise", row["unit_uscc"], _name(conn, row["unit_uscc"]) or row["unit_uscc"])

    return subject


def _project(conn: Connection, row: dict) -> str:
    a = t.applications
    app = conn.execute(sa.select(a.c.name, a.c.application_no).where(a.c.id == row["application_id"])).one()
    return f"项目「{app.name}」（{app.application_no}）"


def _rating_reason(conn: Connection, row: dict) -> str:
    stage = STAGES["certificate"] if row["stage"] == "certificate" else f"第 {row['round_no']} 轮审查意见出具后"
    return f"建设单位对{_project(conn, row)}{stage}的审查服务评价为不满意：{row['reason']}"


def _score_reason(conn: Connection, row: dict) -> str:
    text = f"{_project(conn, row)}施工图{UNIT_ROLES[row['unit_role']]}质量评分 {float(row['total']):g} 分，评为{row['grade']}"
    return f"{text}：{row['explanation']}" if row["explanation"] else text


credit.feeds(
    kind=RATING.kind,
    state=None,
    event_type="dr_service_unsatisfied",
    title="施工图审查服务不满意",
    polarity="bad",
    subject=_agency_subject,
    points=CREDIT["unsatisfied"],
    reason=_rating_reason,
    occurred_on=lambda conn, row: _beijing_day(row["rated_at"]),
)
credit.feeds(
    kind=SCORE.kind,
    state=None,
    event_type="dr_design_excellent",
    title="勘察设计质量评价优",
    polarity="good",
    subject=_unit_subject("优"),
    points=CREDIT["excellent"],
    reason=_score_reason,
    occurred_on=lambda conn, row: _beijing_day(row["scored_at"]),
)
credit.feeds(
    kind=SCORE.kind,
    state=None,
    event_type="dr_design_failed",
    title="勘察设计质量评价不合格",
    polarity="bad",
    subject=_unit_subject(FAIL),
    points=CREDIT["failed"],
    reason=_score_reason,
    occurred_on=lambda conn, row: _beijing_day(row["scored_at"]),
)


# -- rating (DR-08) ----------------------------------------------------------------------------------------------


class NewRating(BaseModel):
    # No other field: the agency is the application's (an ``agency_id`` sent along is refused, not ignored).
    model_config = ConfigDict(extra="forbid")

    application_id: RecordId = Field(title="施工图审查申请")
    stage: Literal["round", "certificate"] = Field(title="评价阶段")
    round_no: Whole(1, 99) | None = Field(None, title="审查轮次", description="评价阶段为 round 时必填")
    satisfied: bool = Field(title="是否满意")
    reason: Text(1000) | None = Field(None, title="不满意原因", description="不满意时必填")


def rate(conn: Connection, who: Principal, body: NewRating, at: datetime | None = None) -> dict:
    """Record the builder's rating of the application's agency for one stage (the agency's credit event follows)."""
    who.require("review.rate", "评价审查机构")
    app = application(conn, body.application_id, lock=True)
    if not is_builder(conn, who, app):
        raise ApiError(
            403,
            "not_the_builder",
            "只有本项目的建设单位可以评价其审查机构（您所在单位不是该申请的建设单位）。",
            "application_id",
        )
    if app["agency_id"] is None:
        raise ApiError(409, "no_agency", "该申请尚未确定审查机构，不能评价。", "application_id")
    if body.stage == "round" and body.round_no is None:
        raise ApiError(422, "required", "按审查轮次评价时请选择审查轮次。", "round_no")
    if body.stage == "certificate" and body.round_no is not None:
        raise ApiError(422, "invalid_value", "发放审查合格书后的评价不带审查轮次。", "round_no")
    round_no = body.round_no or 0
    reached = {(s["stage"], s["round_no"]): s for s in stages_of(conn, app)}
    stage = reached.get((body.stage, round_no))
    if stage is None:
        what = f"第 {round_no} 轮审查意见尚未出具" if body.stage == "round" else "该申请尚未发放审查合格书"
        raise ApiError(
            409,
            "stage_not_reached",
            f"{what}，还不能评价这一阶段。",
            "round_no" if body.stage == "round" else "stage",
            {"stages": [{"stage": s, "round_no": n} for s, n in reached]},
        )
    reason = (body.reason or "").strip()
    if not body.satisfied and not reason:
        raise ApiError(422, "reason_required", "选择「不满意」时必须说明不满意的原因。", "reason")
    if stage["rating"] is not None:
        raise ApiError(
            409,
            "already_rated",
            f"「{stage['title']}」已评价过（{stage['rating']['result']}），每个阶段只能评价一次。",
            "stage",
            {"rating_id": stage["rating"]["id"]},
        )
    row = (
        conn.execute(
            sa.insert(ratings)
            .values(
                application_id=app["id"],
                review_project_id=app["review_project_id"],
                project_id=app["project_id"],
                agency_id=app["agency_id"],
                builder_uscc=app["builder_uscc"],
                stage=body.stage,
                round_no=round_no,
                satisfied=body.satisfied,
                reason=reason or None,
                rated_at=at or sa.func.now(),
                district=app["district"],
                created_by=who.user,
                updated_by=who.user,
            )
            .returning(ratings)
        )
        .mappings()
        .one()
    )
    row = dict(row)
    workflow.run_hooks(conn, RATING.machine, {}, row, who)  # the credit feed (an unsatisfied rating)
    audit.record(
        conn,
        who.user,
        "rate",
        "dr_ratings",
        row["id"],
        None,
        {
            "application_id": app["id"],
            "agency_id": app["agency_id"],
            "stage": body.stage,
            "round_no": round_no,
            "satisfied": body.satisfied,
            "reason": row["reason"],
        },
        who.client,
        user_id=who.user_id,
    )
    return jsonable_encoder(_rating_list_view(conn, {**row, "application_no": app["application_no"],
                                                     "project_name": app["name"]}, who))  # fmt: skip


@router.post(f"{PREFIX}/ratings", status_code=201, summary="建设单位评价审查机构服务（满意 / 不满意，每阶段一次）")
def post_rating(
    body: NewRating,
    request: Request,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> JSONResponse:
    key = idempotency.key_of(request)
    digest = idempotency.body_hash("dr_rating", body.model_dump())
    return idempotency.run(conn, who.user_id, key, digest, lambda: (201, rate(conn, who, body)))


# -- scoring (DR-09) ---------------------------------------------------------------------------------------------


class DeductionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: RecordId = Field(title="评分项")
    points: Amount(100) = Field(title="扣分")
    reason: Text(1000) | None = Field(None, title="扣分说明")


class NewScore(BaseModel):
    model_config = ConfigDict(extra="forbid")  # the unit is the application's (no ``unit_uscc`` to choose)

    application_id: RecordId = Field(title="施工图审查申请")
    unit_role: Literal["design", "survey"] = Field(title="被评单位", description="design 设计单位，survey 勘察单位")
    deductions: list[DeductionIn] = Field(default_factory=list, title="扣分项", max_length=100)
    explanation: Text(2000) | None = Field(None, title="不合格说明", description="得分低于 60 分（不合格）时必填")


def _deductions(conn: Connection, given: list[DeductionIn]) -> list[dict]:
    """The deductions checked against the standard's items in use: each item once, 0 < points ≤ its maximum with at
    most one decimal, a reason for each."""
    known = {i["id"]: i for i in items(conn, active_only=True)}
    out, seen = [], set()
    for n, d in enumerate(given):
        item = known.get(d.item_id)
        if item is None:
            raise ApiError(
                422,
                "unknown_item",
                "评分标准中没有该评分项（或已停用）。",
                f"deductions.{n}.item_id",
                {"items": sorted(known)},
            )
        if d.item_id in seen:
            raise ApiError(
                422, "duplicate_item", f"「{item['name']}」重复扣分，请合并为一项。", f"deductions.{n}.item_id"
            )
        seen.add(d.item_id)
        points = Decimal(str(d.points))
        if points <= 0:
            raise ApiError(422, "invalid_points", f"「{item['name']}」的扣分应大于 0。", f"deductions.{n}.points")
        if points != points.quantize(Decimal("0.1")):
            raise ApiError(
                422, "invalid_points", f"「{item['name']}」的扣分最多保留一位小数。", f"deductions.{n}.points"
            )
        if points > Decimal(str(item["max_deduction"])):
            raise ApiError(
                422,
                "over_max_deduction",
                f"「{item['name']}」最多扣 {item['max_deduction']:g} 分，不能扣 {points:f} 分。",
                f"deductions.{n}.points",
                {"max_deduction": item["max_deduction"], "points": float(points)},
            )
        reason = (d.reason or "").strip()
        if not reason:
            raise ApiError(
                422, "reason_required", f"请说明「{item['name']}」扣分的原因（每一项扣分都须说明）。",
                f"deductions.{n}.reason",
            )  # fmt: skip
        out.append({"item": item, "points": points, "reason": reason})
    return out


def score(conn: Connection, who: Principal, body: NewScore, at: datetime | None = None) -> dict:
    """Record the agency's score of one unit of a concluded application (the unit's credit event follows)."""
    who.require("review.score", "评分")
    app = application(conn, body.application_id, lock=True)
    if not is_agency(conn, who, app):
        raise ApiError(
            403,
            "not_the_agency",
            "只有本项目的审查机构可以对勘察设计单位评分（您所在单位不是该申请的审查机构）。",
            "application_id",
        )
    if app["status"] not in CONCLUDED:
        raise ApiError(
            409,
            "not_concluded",
            f"该申请当前状态为「{STATES[app['status']]}」，出具审查结论后才能评分。",
            "application_id",
        )
    unit = app["designer_uscc"] if body.unit_role == "design" else app["surveyor_uscc"]
    if not unit:
        raise ApiError(422, "no_unit", "该申请没有登记勘察单位，不能对勘察单位评分。", "unit_role")
    checked = _deductions(conn, body.deductions)
    deducted = sum((d["points"] for d in checked), Decimal("0"))
    if deducted > 100:
        raise ApiError(
            422,
            "deductions_exceed",
            f"扣分合计 {deducted:f} 分，超过了 100 分。",
            "deductions",
            {"deducted": float(deducted)},
        )
    total = Decimal(100) - deducted
    grade = grade_of(total)
    explanation = (body.explanation or "").strip()
    if grade == FAIL and not explanation:
        raise ApiError(
            422,
            "explanation_required",
            f"得分 {total:f} 分，低于 60 分为不合格，请填写不合格说明。",
            "explanation",
            {"total": float(total)},
        )
    existing = conn.execute(
        sa.select(scores.c.id, scores.c.total).where(
            scores.c.application_id == app["id"], scores.c.unit_role == body.unit_role
        )
    ).first()
    if existing is not None:
        raise ApiError(
            409,
            "already_scored",
            f"该申请的{UNIT_ROLES[body.unit_role]}已评过分（{float(existing.total):g} 分），每个单位只能评一次。",
            "unit_role",
            {"score_id": existing.id},
        )
    common = {"application_id": app["id"], "review_project_id": app["review_project_id"], "district": app["district"]}
    row = dict(
        conn.execute(
            sa.insert(scores)
            .values(
                **common,
                project_id=app["project_id"],
                agency_id=app["agency_id"],
                unit_role=body.unit_role,
                unit_uscc=unit,
                deducted=deducted,
                total=total,
                grade=grade,
                explanation=explanation or None,
                scored_at=at or sa.func.now(),
                created_by=who.user,
                updated_by=who.user,
            )
            .returning(scores)
        )
        .mappings()
        .one()
    )
    if checked:
        conn.execute(
            sa.insert(deductions),
            [
                {
                    **common,
                    "score_id": row["id"],
                    "item_id": d["item"]["id"],
                    "item_code": d["item"]["code"],
                    "item_name": d["item"]["name"],
                    "max_deduction": Decimal(str(d["item"]["max_deduction"])),
                    "points": d["points"],
                    "reason": d["reason"],
                    "created_by": who.user,
                    "updated_by": who.user,
                }
                for d in checked
            ],
        )
    workflow.run_hooks(conn, SCORE.machine, {}, row, who)  # the credit feeds (优, 不合格)
    audit.record(
        conn,
        who.user,
        "score",
        "dr_scores",
        row["id"],
        None,
        {
            "application_id": app["id"],
            "unit_role": body.unit_role,
            "unit_uscc": unit,
            "total": float(total),
            "grade": grade,
            "deductions": [
                {"item": d["item"]["code"], "points": float(d["points"]), "reason": d["reason"]} for d in checked
            ],
            "explanation": explanation or None,
        },
        who.client,
        user_id=who.user_id,
    )
    view = score_view(conn, {**row, "agency_uscc": app["agency_uscc"], "application_no": app["application_no"],
                             "project_name": app["name"]}, with_deductions=True)  # fmt: skip
    return jsonable_encoder(view)


@router.post(f"{PREFIX}/scores", status_code=201, summary="审查机构对勘察设计单位评分（按评分标准扣分）")
def post_score(
    body: NewScore,
    request: Request,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> JSONResponse:
    key = idempotency.key_of(request)
    digest = idempotency.body_hash("dr_score", body.model_dump())
    return idempotency.run(conn, who.user_id, key, digest, lambda: (201, score(conn, who, body)))


# -- the application's evaluations (what the page's forms start from) ------------------------------------------


@router.get(f"{PREFIX}/applications", summary="可评价的施工图审查申请（建设单位：本单位的；审查机构：本机构的）")
def evaluable(
    q: Text(100) | None = Query(None, title="申请编号或项目名称"),
    limit: int = Query(50, ge=1, le=200),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    """The applications within the principal's scope that have reached a stage to evaluate (a round's opinion),
    limited to its own when it is a builder or an agency; newest first."""
    who.require("review.view", "查看施工图审查评价")
    a, g, r = t.applications, t.agencies, t.rounds
    mine = org_uscc(conn, who)
    cond: list[Any] = [sa.exists(sa.select(1).where(r.c.application_id == a.c.id, r.c.opinion_at.is_not(None)))]
    own = []
    if who.can("review.rate") and mine:
        own.append(sa.func.upper(a.c.builder_uscc) == mine)
    if who.can("review.score") and mine:
        own.append(sa.func.upper(g.c.uscc) == mine)
    if own:
        cond.append(sa.or_(*own))
    if q:
        like = f"%{q.strip()}%"
        cond.append(sa.or_(a.c.application_no.ilike(like), a.c.name.ilike(like), a.c.project_code == q.strip()))
    rows = conn.execute(
        sa.select(
            a.c.id,
            a.c.application_no,
            a.c.name,
            a.c.status,
            a.c.jurisdiction,
            a.c.round_no,
            a.c.concluded_at,
            g.c.uscc.label("agency_uscc"),
        )
        .select_from(a.outerjoin(g, g.c.id == a.c.agency_id))
        .where(*cond)
        .order_by(a.c.concluded_at.desc().nulls_last(), a.c.id.desc())
        .limit(limit)
    ).mappings()
    return jsonable_encoder(
        {
            "applications": [
                {**dict(row), "status_title": STATES[row["status"]], "agency_name": _name(conn, row["agency_uscc"])}
                for row in rows
            ]
        }
    )


@router.get(f"{PREFIX}/applications/{{application_id}}", summary="一个申请的评价：可评价阶段、被评单位、评分标准")
def evaluations_of(
    application_id: int,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require("review.view", "查看施工图审查评价")
    app = application(conn, application_id)
    return jsonable_encoder(
        {
            "application": {
                "id": app["id"],
                "application_no": app["application_no"],
                "name": app["name"],
                "project_code": app["project_code"],
                "status": app["status"],
                "status_title": STATES[app["status"]],
                "jurisdiction": app["jurisdiction"],
                "district": app["district"],
                "builder_uscc": app["builder_uscc"],
                "builder_name": _name(conn, app["builder_uscc"]),
                "agency_id": app["agency_id"],
                "agency_name": _name(conn, app["agency_uscc"]),
            },
            "stages": stages_of(conn, app),
            "units": units_of(conn, app),
            "concluded": app["status"] in CONCLUDED,
            "can_rate": is_builder(conn, who, app),
            "can_score": is_agency(conn, who, app),
            "items": items(conn, active_only=True),
            "grades": [{"grade": g, "from": low} for g, low in GRADES],
        }
    )


# -- the scoring standard (review.config) ------------------------------------------------------------------------


class NewItem(BaseModel):
    code: Code(ITEM_CODE) = Field(title="编码")
    name: Text(200, 1) = Field(title="评分项")
    max_deduction: Amount(100) = Field(title="最高扣分")
    sort: Whole(0, 9999) = Field(0, title="排序")
    active: bool = Field(True, title="启用")


class ItemUpdate(BaseModel):
    version: Version = Field(title="版本号")
    name: Text(200, 1) | None = Field(None, title="评分项")
    max_deduction: Amount(100) | None = Field(None, title="最高扣分")
    sort: Whole(0, 9999) | None = Field(None, title="排序")
    active: bool | None = Field(None, title="启用")


def _check_max(value: float) -> Decimal:
    m = Decimal(str(value))
    if m <= 0 or m != m.quantize(Decimal("0.1")):
        raise ApiError(422, "invalid_max_deduction", "最高扣分应大于 0，最多保留一位小数。", "max_deduction")
    return m


def _item(conn: Connection, item_id: int, lock: bool = False) -> dict:
    q = sa.select(score_items).where(score_items.c.id == item_id)
    row = conn.execute(q.with_for_update() if lock else q).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "评分项不存在。", "item_id")
    return {**dict(row), "max_deduction": float(row["max_deduction"])}


def _same_name(conn: Connection, name: str, other_than: int | None = None) -> None:
    q = sa.select(score_items.c.id).where(score_items.c.name == name)
    if other_than is not None:
        q = q.where(score_items.c.id != other_than)
    if conn.execute(q).first() is not None:
        raise ApiError(409, "duplicate_item", f"评分标准中已有「{name}」。", "name")


@router.get(f"{PREFIX}/items", summary="评分标准（评分项、最高扣分、排序、启用）")
def list_items(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    who.require("review.view", "查看评分标准")
    return jsonable_encoder({"items": items(conn), "grades": [{"grade": g, "from": low} for g, low in GRADES]})


@router.post(f"{PREFIX}/items", status_code=201, summary="新增评分项（review.config）")
def create_item(
    body: NewItem, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> dict:
    who.require("review.config", "配置评分标准")
    name = body.name.strip()
    if conn.execute(sa.select(score_items.c.id).where(score_items.c.code == body.code)).first() is not None:
        raise ApiError(409, "duplicate_code", f"评分项编码「{body.code}」已存在。", "code")
    _same_name(conn, name)
    values = {"code": body.code, "name": name, "max_deduction": _check_max(body.max_deduction),
              "sort": body.sort, "active": body.active}  # fmt: skip
    item_id = conn.execute(
        sa.insert(score_items).values(**values, created_by=who.user, updated_by=who.user).returning(score_items.c.id)
    ).scalar_one()
    after = _item(conn, item_id)
    audit.record(conn, who.user, "create", "dr_score_items", item_id, None, _plain(after), who.client,
                 user_id=who.user_id)  # fmt: skip
    return jsonable_encoder(after)


@router.patch(f"{PREFIX}/items/{{item_id}}", summary="修改评分项（须带上读到的 version；停用而不删除）")
def update_item(
    item_id: int,
    body: ItemUpdate,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require("review.config", "配置评分标准")
    before = _item(conn, item_id, lock=True)
    if before["version"] != body.version:
        raise ApiError(
            409,
            "stale_version",
            "该评分项已被他人修改，请刷新后再保存。",
            "version",
            {"current": before["version"], "given": body.version},
        )
    changes: dict[str, Any] = {}
    for name in ("name", "max_deduction", "sort", "active"):
        value = getattr(body, name)
        if name in body.model_fields_set and value is None:
            raise ApiError(422, "required", "该项不能为空。", name)
        if value is not None:
            changes[name] = value
    if "name" in changes:
        changes["name"] = changes["name"].strip()
        _same_name(conn, changes["name"], item_id)
    if "max_deduction" in changes:
        changes["max_deduction"] = _check_max(changes["max_deduction"])
    if not changes:
        raise ApiError(422, "nothing_to_change", "没有要修改的内容。", None)
    conn.execute(
        sa.update(score_items)
        .where(score_items.c.id == item_id)
        .values(**changes, version=score_items.c.version + 1, updated_at=sa.func.now(), updated_by=who.user)
    )
    after = _item(conn, item_id)
    audit.record(conn, who.user, "update", "dr_score_items", item_id, _plain(before), _plain(after), who.client,
                 user_id=who.user_id)  # fmt: skip
    return jsonable_encoder(after)


def _plain(item: dict) -> dict:
    return {k: v for k, v in item.items() if k not in ("created_at", "updated_at")}


# -- summaries (by agency, by unit) and their export ---------------------------------------------------------------


class Period(BaseModel):
    jurisdiction: str | None = None
    since: date | None = None
    until: date | None = None
    unit_role: str | None = None

    def describe(self) -> str:
        parts = [f"管辖：{self.jurisdiction or '全部'}"]
        if self.since or self.until:
            parts.append(f"期间：{self.since or '不限'} 至 {self.until or '不限'}")
        if self.unit_role:
            parts.append(f"单位类别：{UNIT_ROLES[self.unit_role]}")
        return "；".join(parts)


def period(jurisdiction: str | None, since: str | None, until: str | None, unit_role: str | None = None) -> Period:
    """The summaries' filters, checked (an unknown jurisdiction or a malformed date is a 422)."""
    if jurisdiction and jurisdiction not in JURISDICTIONS:
        raise ApiError(422, "invalid_choice", f"管辖只能是：{'、'.join(JURISDICTIONS)}。", "jurisdiction",
                       {"choices": list(JURISDICTIONS)})  # fmt: skip
    if unit_role and unit_role not in UNIT_ROLES:
        raise ApiError(422, "invalid_choice", "单位类别只能是 design（设计单位）或 survey（勘察单位）。", "unit_role")
    days = []
    for value, field in ((since, "from"), (until, "to")):
        try:
            days.append(date.fromisoformat(value) if value else None)
        except ValueError:
            raise ApiError(422, "invalid_date", f"日期「{value[:20]}」格式不正确（应为 YYYY-MM-DD）。", field) from None
    if days[0] and days[1] and days[1] < days[0]:
        raise ApiError(422, "invalid_range", "截止日期不能早于起始日期。", "to")
    return Period(jurisdiction=jurisdiction or None, since=days[0], until=days[1], unit_role=unit_role or None)


def _within(table: sa.Table, moment: sa.Column, p: Period) -> list[Any]:
    cond = []
    if p.jurisdiction:
        cond.append(table.c.jurisdiction == p.jurisdiction)
    if p.since:
        cond.append(moment >= datetime.combine(p.since, time.min, BEIJING))
    if p.until:
        cond.append(moment < datetime.combine(p.until + timedelta(days=1), time.min, BEIJING))
    return cond


def _grades(table: sa.Table) -> list[Any]:
    return [sa.func.count().filter(table.c.grade == g).label(f"grade_{i}") for i, (g, _) in enumerate(GRADES)]


def _score_numbers(row: Any) -> dict:
    count = row["scores"] or 0
    return {
        "scores": count,
        "average": round(float(row["average"]), 2) if count else None,
        "grades": {g: row[f"grade_{i}"] or 0 for i, (g, _) in enumerate(GRADES)},
    }


def by_agency(conn: Connection, p: Period) -> list[dict]:
    """Per agency with any rating or score in the period: ratings, satisfied, satisfaction rate (%), scores given,
    their average and grades."""
    r, s, g = ratings, scores, t.agencies
    rated = (
        sa.select(
            r.c.agency_id,
            sa.func.count().label("ratings"),
            sa.func.count().filter(r.c.satisfied).label("satisfied"),
        )
        .where(*_within(r, r.c.rated_at, p))
        .group_by(r.c.agency_id)
        .subquery()
    )
    scored = (
        sa.select(
            s.c.agency_id,
            sa.func.count().label("scores"),
            sa.func.avg(s.c.total).label("average"),
            *_grades(s),
        )
        .where(*_within(s, s.c.scored_at, p))
        .group_by(s.c.agency_id)
        .subquery()
    )
    q = (
        sa.select(
            g.c.id,
            g.c.uscc,
            ENTERPRISES.c.name,
            rated.c.ratings,
            rated.c.satisfied,
            *(c for c in scored.c if c.name != "agency_id"),
        )
        .select_from(
            g.join(ENTERPRISES, ENTERPRISES.c.uscc == g.c.uscc)
            .outerjoin(rated, rated.c.agency_id == g.c.id)
            .outerjoin(scored, scored.c.agency_id == g.c.id)
        )
        .where(sa.or_(rated.c.agency_id.is_not(None), scored.c.agency_id.is_not(None)))
        .order_by(ENTERPRISES.c.name, g.c.id)
    )
    out = []
    for row in conn.execute(q).mappings():
        n = row["ratings"] or 0
        happy = row["satisfied"] or 0
        out.append(
            {
                "agency_id": row["id"],
                "uscc": row["uscc"],
                "name": row["name"],
                "ratings": n,
                "satisfied": happy,
                "unsatisfied": n - happy,
                "satisfaction_rate": round(100 * happy / n, 1) if n else None,
                **_score_numbers(row),
            }
        )
    return out


def by_unit(conn: Connection, p: Period) -> list[dict]:
    """Per scored unit (and its role: design or survey unit) in the period: scores, average, grades."""
    s = scores
    cond = _within(s, s.c.scored_at, p)
    if p.unit_role:
        cond.append(s.c.unit_role == p.unit_role)
    q = (
        sa.select(
            s.c.unit_uscc,
            s.c.unit_role,
            ENTERPRISES.c.name,
            sa.func.count().label("scores"),
            sa.func.avg(s.c.total).label("average"),
            *_grades(s),
        )
        .select_from(s.join(ENTERPRISES, ENTERPRISES.c.uscc == s.c.unit_uscc))
        .where(*cond)
        .group_by(s.c.unit_uscc, s.c.unit_role, ENTERPRISES.c.name)
        .order_by(ENTERPRISES.c.name, s.c.unit_role)
    )
    return [
        {
            "uscc": row["unit_uscc"],
            "name": row["name"],
            "unit_role": row["unit_role"],
            "unit_role_title": UNIT_ROLES[row["unit_role"]],
            **_score_numbers(row),
        }
        for row in conn.execute(q).mappings()
    ]


@router.get(f"{PREFIX}/summary", summary="评价汇总：按审查机构、按勘察设计单位（管辖、期间筛选）")
def summary(
    jurisdiction: str | None = Query(None, title="管辖"),
    since: str | None = Query(None, alias="from", title="起始日期"),
    until: str | None = Query(None, alias="to", title="截止日期"),
    unit_role: str | None = Query(None, title="单位类别"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require("review.view", "查看评价汇总")
    p = period(jurisdiction, since, until, unit_role)
    return {"filters": p.describe(), "agencies": by_agency(conn, p), "units": by_unit(conn, p)}


AGENCY_COLUMNS = (
    ("name", "审查机构"), ("uscc", "统一社会信用代码"), ("ratings", "服务评价数"), ("satisfied", "满意"),
    ("unsatisfied", "不满意"), ("satisfaction_rate", "满意率(%)"), ("scores", "评分数"), ("average", "平均分"),
)  # fmt: skip
UNIT_COLUMNS = (
    ("name", "勘察设计单位"), ("uscc", "统一社会信用代码"), ("unit_role_title", "单位类别"), ("scores", "评分数"),
    ("average", "平均分"),
)  # fmt: skip


def workbook(p: Period, agencies: list[dict], units: list[dict]) -> bytes:
    """Two sheets (按审查机构, 按勘察设计单位): the filters in the first row, the Chinese headers, one row each."""
    wb = Workbook()
    sheets = (
        (wb.active, "按审查机构", AGENCY_COLUMNS, agencies),
        (wb.create_sheet(), "按勘察设计单位", UNIT_COLUMNS, units),
    )
    for ws, title, columns, rows in sheets:
        ws.title = title
        ws.append([f"施工图审查评价汇总（{title}）：{p.describe()}"])
        ws.append([label for _, label in columns] + [f"{g}（个）" for g, _ in GRADES])
        for cell in ws[2]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append([row[k] for k, _ in columns] + [row["grades"][g] for g, _ in GRADES])
        ws.freeze_panes = "A3"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@router.get(f"{PREFIX}/summary.xlsx", summary="导出评价汇总（Excel：按审查机构、按勘察设计单位）")
def summary_xlsx(
    jurisdiction: str | None = Query(None, title="管辖"),
    since: str | None = Query(None, alias="from", title="起始日期"),
    until: str | None = Query(None, alias="to", title="截止日期"),
    unit_role: str | None = Query(None, title="单位类别"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> Response:
    who.require("review.export", "导出评价汇总")
    p = period(jurisdiction, since, until, unit_role)
    agencies, units = by_agency(conn, p), by_unit(conn, p)
    audit.record(
        conn,
        who.user,
        "export",
        "dr_scores",
        None,
        None,
        {"what": "evaluation_summary", "filters": p.model_dump(mode="json"), "agencies": len(agencies),
         "units": len(units), "format": "xlsx"},
        who.client,
        user_id=who.user_id,
    )  # fmt: skip
    name = quote("施工图审查评价汇总.xlsx")
    return Response(
        workbook(p, agencies, units),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"},
    )


# -- the page ----------------------------------------------------------------------------------------------------


@router.get("/review/evaluations", include_in_schema=False)
def evaluations_page(request: Request) -> Response:
    return file_response(request, PAGE, APP_CACHE)
