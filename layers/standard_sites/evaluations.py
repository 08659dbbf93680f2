"""Evaluation applications (考评申报, ST-07/08/09/15/18): the case that runs from the construction unit's application
after completion acceptance, through the supervision unit's first review and the local authority's recommendation,
to the expert review and the committee's decision.

The state machine is the contract between the parts: the expert draw (``draws``) moves recommended applications to
``in_review`` and, when every drawn expert has scored, to ``reviewed``; the committee then awards or rejects.

Below the machine, this part's routes (under ``/api/st``):

- ``POST /sites/{site_id}/evaluation`` — the construction unit applies, once per site, only after completion
  acceptance (the project's ``completion_date``); the draft is pre-filled from the monthly reports (months reported,
  approved and received counts, late and missing months, photos) and the confirmed bonus items, recomputed at submit;
- ``GET /evaluations`` and ``GET /evaluations/{id}`` — scoped; the local authority sees only what the supervision unit
  approved and what followed; ``PUT /evaluations/{id}`` — the form (draft or returned, with ``version``);
- ``POST /evaluations/{id}/attachments`` — PDF scans and the like (``st_attachments``); site photos go through the
  photos route with kind ``evaluation``. Submitting needs the form complete and at least one attachment or photo;
- ``POST /evaluations/{id}/actions/{action}`` — submit, approve, return, recommend, decline, award, reject (``assign``
  and ``complete`` belong to the draw and review parts). A decision records the mean expert score; an award is a
  good-behaviour credit event of the construction enterprise (``credit.feeds``); the site's pin follows (``stats``, on every transition);
- ``GET /evaluations/{id}/print`` — the application form as PDF with a QR code of ``<base>/verify/st/<token>``, the
  token signing the digest of the key fields (``key_fields``); the public check is in ``disclosure``. ``<base>`` is
  ``CHENGJIAN_PUBLIC_BASE_URL`` when set, else the host the request came to.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api import idempotency
from api.auth import Principal, principal
from api.cases import ActionBody, case_routes, visible
from api.deps import db_read, db_write
from api.errors import ApiError
from etl import printform
from geo import audit, cases, files, signing, workflow
from geo.bounds import ITEM_CODE, Code, Text, Version
from geo.cases import Action, CaseType, Lookup
from geo.layer.registry import Attr
from geo.settings import get_settings
from layers import credit
from layers.standard_sites import common
from layers.standard_sites import tables as t
from layers.standard_sites.common import PREFIX
from layers.standard_sites.photos import photos_of

STATES = {
    **common.REVIEW_STATES,
    "recommended": "已推荐",
    "not_recommended": "未推荐",
    "in_review": "专家评审中",
    "reviewed": "评审完成",
    "awarded": "已获评",
    "rejected": "未通过",
}
# What the local authority sees: only what the supervision unit approved, and everything after it.
AUTHORITY_STATES = (
    "supervision_approved",
    "recommended",
    "not_recommended",
    "in_review",
    "reviewed",
    "awarded",
    "rejected",
)
APPLICATION = cases.register(
    CaseType(
        kind="st_evaluation",
        title="考评申报",
        table="st_evaluations",
        materials=(
            common.photos("evaluation"),
            common.attachments("evaluation_id", "evaluations", "申报附件"),
        ),
        states=STATES,
        actions=(
            *common.SUPERVISION_REVIEW,
            Action("recommend", "推荐", ("supervision_approved",), "recommended", "site.recommend"),
            Action(
                "decline",
                "不予推荐",
                ("supervision_approved",),
                "not_recommended",
                "site.recommend",
                reason_required=True,
            ),
            Action("assign", "抽取专家", ("recommended",), "in_review", "site.experts", handled_by="专家抽取与评审"),
            Action("complete", "完成评审", ("in_review",), "reviewed", "site.experts", handled_by="专家抽取与评审"),
            Action("award", "评定通过", ("reviewed",), "awarded", "site.decide"),
            Action("reject", "评定不通过", ("reviewed",), "rejected", "site.decide", reason_required=True),
        ),
        fields=(
            *common.REVIEW_FIELDS,
            Attr("round_id", "评审批次", "int"),
            Attr("completion_date", "竣工验收日期", "date"),
            Attr("prefill", "月报汇总", "json"),
            Attr("form", "申报表", "json"),
            Attr("submitted_by", "提交人"),
            Attr("recommended_at", "推荐时间", "datetime"),
            Attr("recommended_by", "推荐人"),
            Attr("recommendation", "推荐意见"),
            Attr("decision", "评定结果"),
            Attr("decided_at", "评定时间", "datetime"),
            Attr("decided_by", "评定人"),
            Attr("decision_note", "评定意见"),
            Attr("final_score", "专家评分", "float"),
            Attr("printed_at", "打印时间", "datetime"),
        ),
        columns=(
            ("id", "编号"),
            ("site_code", "项目编号"),
            ("site_name", "项目名称"),
            ("district", "区县"),
            ("status_title", "状态"),
            ("completion_date", "竣工验收日期"),
            ("submitted_at", "提交时间"),
            ("recommendation", "推荐意见"),
            ("final_score", "专家评分"),
            ("decided_at", "评定时间"),
            ("decision_note", "评定意见"),
        ),
        view="site.view",
        restrict=common.authority_restriction(AUTHORITY_STATES),
        lookups=(Lookup("sites", "site_id", {"site_code": "code", "site_name": "name"}),),
    )
)
EVALUATION = APPLICATION.machine

# ---------------------------------------------------------------------------------------------------------------
# The application and its routes (ST-07 application, ST-08 first review, ST-09 printed form, ST-15 recommendation,
# ST-18 decision). The expert draw and review (``assign``, ``complete``) are handled by the draw part, not here.

router = APIRouter(prefix=PREFIX, tags=["标化工地"])

EDITABLE = ("draft", "returned")
ELSEWHERE = tuple(a.name for a in APPLICATION.actions if a.handled_by)  # the expert draw and review move these
AWARDS = ("杭州市建设工程标准化工地", "杭州市建设工程标准化优良工地")
# The application form's own fields (besides what is pre-filled from the monthly reports).
FORM_FIELDS = (
    {"code": "award", "name": "申报奖项", "required": True, "choices": AWARDS},
    {"code": "project_manager", "name": "项目经理", "required": True},
    {"code": "safety_officer", "name": "专职安全员", "required": True},
    {"code": "highlights", "name": "标准化工作亮点", "required": True},
    {"code": "remarks", "name": "其他说明", "required": False},
)
AWARD_CREDIT_POINTS = 3.0  # the good-behaviour credit of the construction enterprise when its project is awarded
TITLE = "杭州市建设工程标准化工地考评申报表"
TOKEN_KIND = "st_eval"


class NewEvaluation(BaseModel):
    form: dict[Code(ITEM_CODE), Any] = Field(default_factory=dict, title="申报表", max_length=200)  # FORM_FIELDS


class FormUpdate(BaseModel):
    version: Version = Field(title="版本号")
    form: dict[Code(ITEM_CODE), Any] = Field(title="申报表", max_length=200)


def check_form(form: dict[str, Any], complete: bool) -> dict[str, str]:
    fields = {f["code"]: f for f in FORM_FIELDS}
    out: dict[str, str] = {}
    for key, value in form.items():
        f = fields.get(key)
        if f is None:
            raise ApiError(
                422, "unknown_field", f"考评申报表没有「{key}」这一项。", f"form.{key}", {"fields": list(fields)}
            )
        value = "" if value is None else str(value).strip()
        if not value:
            continue
        if len(value) > 2000:
            raise ApiError(422, "too_long", f"「{f['name']}」不能超过 2000 字。", f"form.{key}")
        if f.get("choices") and value not in f["choices"]:
            raise ApiError(
                422,
                "invalid_choice",
                f"「{f['name']}」只能是：{'、'.join(f['choices'])}。",
                f"form.{key}",
                {"choices": list(f["choices"])},
            )
        out[key] = value
    if complete:
        for f in FORM_FIELDS:
            if f["required"] and not out.get(f["code"]):
                raise ApiError(422, "required", f"请填写「{f['name']}」。", f"form.{f['code']}")
    return out


def project_of(conn: Connection, site_id: int) -> dict:
    r, p = t.registrations, t.projects
    row = (
        conn.execute(sa.select(p).select_from(r.join(p, p.c.id == r.c.project_id)).where(r.c.site_id == site_id))
        .mappings()
        .first()
    )
    if row is None:
        raise ApiError(409, "not_registered", "该工地尚未注册标化工地账号，不能申报考评。", "site_id")
    return dict(row)


def prefill(conn: Connection, site_id: int, completion: date | None) -> dict:
    """What the monthly reports and the confirmed bonus items already say about the site (ST-07). The missing
    months are those the site owed (``common.months_owed``: from its registration, once due) up to its completion
    acceptance and not reported — what the statistics count as missing."""
    r, p, b, c = t.reports, t.photos, t.bonus_claims, t.catalog
    reports = (
        conn.execute(
            sa.select(r.c.id, r.c.month, r.c.status, r.c.late, r.c.submitted_at)
            .where(r.c.site_id == site_id)
            .order_by(r.c.month)
        )
        .mappings()
        .all()
    )
    reported = [r for r in reports if r["submitted_at"] is not None]
    photos = conn.execute(
        sa.select(sa.func.count())
        .select_from(p.join(r, sa.and_(p.c.owner_kind == "report", p.c.owner_id == r.c.id)))
        .where(r.c.site_id == site_id, r.c.submitted_at.is_not(None), p.c.deleted_at.is_(None))
    ).scalar()
    done = {r["month"] for r in reported}
    owed = common.months_owed(common.registered_on(conn, site_id), common.today_beijing(), completed_on=completion)
    missing = [m.strftime("%Y-%m") for m in owed if m not in done]
    bonus = [
        dict(r)
        for r in conn.execute(
            sa.select(c.c.code, c.c.name, sa.func.coalesce(b.c.points, c.c.points).label("points"))
            .select_from(b.join(c, c.c.id == b.c.item_id))
            .where(b.c.site_id == site_id, b.c.status == "confirmed")
            .order_by(c.c.sort, b.c.id)
        ).mappings()
    ]
    return {
        "months_reported": len(reported),
        "reported_months": [r["month"].strftime("%Y-%m") for r in reported],
        "approved": sum(r["status"] in ("supervision_approved", "received") for r in reports),
        "received": sum(r["status"] == "received" for r in reports),
        "late_months": [r["month"].strftime("%Y-%m") for r in reported if r["late"]],
        "missing_months": missing,
        "photos": photos,
        "bonus_items": bonus,
        "bonus_points": sum(b["points"] or 0 for b in bonus),
    }


def key_fields(conn: Connection, row: dict) -> list[tuple[str, str]]:
    """The form's key fields as printed (label, value); their digest is what the printed QR code vouches for. The
    application's state is not among them (it moves on after printing) — it is printed and shown beside them."""
    p = project_of(conn, row["site_id"])
    pre = row["prefill"] or {}
    form = row["form"] or {}

    def months(values: list[str]) -> str:
        return "、".join(values) if values else "无"

    bonus = "；".join(f"{b['name']}（{b['points'] or 0:g} 分）" for b in pre.get("bonus_items", [])) or "无"
    out = [
        ("申报编号", f"KP-{row['id']:06d}"),
        ("项目编号", p["code"]),
        ("项目名称", p["name"]),
        ("所在区县", p["district"] or ""),
        ("建设单位", p["builder_name"] or ""),
        ("施工单位", p["construction_name"] or ""),
        ("监理单位", p["supervision_name"] or ""),
        ("施工许可证号", p["permit_no"] or ""),
        ("开工日期", p["start_date"].isoformat() if p["start_date"] else ""),
        ("竣工验收日期", row["completion_date"].isoformat() if row["completion_date"] else ""),
        (
            "月度申报",
            f"已申报 {pre.get('months_reported', 0)} 个月，监理审核通过 {pre.get('approved', 0)} 个，"
            f"主管部门已接收 {pre.get('received', 0)} 个",
        ),
        ("逾期申报月份", months(pre.get("late_months", []))),
        ("未申报月份", months(pre.get("missing_months", []))),
        ("月度申报现场照片", f"{pre.get('photos', 0)} 张"),
        ("已确认加分项", f"{bonus}（合计 {pre.get('bonus_points', 0):g} 分）"),
    ]
    return out + [(f["name"], form.get(f["code"], "")) for f in FORM_FIELDS]


def fields_digest(fields: list[tuple[str, str]]) -> str:
    return signing.digest({"fields": [[label, value] for label, value in fields]})


def view(row: dict, who: Principal) -> dict:
    def iso(t):
        return t.isoformat() if t else None

    return {
        "id": row["id"],
        "site_id": row["site_id"],
        "district": row["district"],
        "site_code": row.get("site_code"),
        "site_name": row.get("site_name"),
        "status": row["status"],
        "status_title": STATES[row["status"]],
        "round_id": row["round_id"],
        "completion_date": iso(row["completion_date"]),
        "prefill": row["prefill"],
        "form": row["form"],
        "submitted_at": iso(row["submitted_at"]),
        "submitted_by": row["submitted_by"],
        "reviewed_at": iso(row["reviewed_at"]),
        "reviewed_by": row["reviewed_by"],
        "return_reason": row["return_reason"],
        "recommended_at": iso(row["recommended_at"]),
        "recommended_by": row["recommended_by"],
        "recommendation": row["recommendation"],
        "decision": row["decision"],
        "decided_at": iso(row["decided_at"]),
        "decided_by": row["decided_by"],
        "decision_note": row["decision_note"],
        "final_score": row["final_score"],
        "printed_at": iso(row["printed_at"]),
        "version": row["version"],
        "actions": [a for a in EVALUATION.allowed(row["status"], who.can) if a["action"] not in ELSEWHERE],
    }


def get_evaluation(conn: Connection, evaluation_id: int, who: Principal) -> dict:
    return visible(conn, APPLICATION, evaluation_id, who)


def attachments_of(conn: Connection, evaluation_id: int) -> list[dict]:
    return [
        {
            "id": r["id"],
            "name": r["name"],
            "filename": r["filename"],
            "content_type": r["content_type"],
            "size": r["size"],
            "sha256": r["sha256"],
            "uploaded_at": r["created_at"].isoformat(),
            "uploaded_by": r["created_by"],
            "url": f"{PREFIX}/evaluations/{evaluation_id}/attachments/{r['id']}/file",
        }
        for r in conn.execute(
            sa.select(t.attachments)
            .where(t.attachments.c.evaluation_id == evaluation_id, t.attachments.c.deleted_at.is_(None))
            .order_by(t.attachments.c.id)
        ).mappings()
    ]


def detail(conn: Connection, row: dict, who: Principal) -> dict:
    """What the record page shows beside the application (the factory adds the history)."""
    return {
        "site": common.site(conn, row["site_id"]),
        "photos": photos_of(conn, "evaluation", row["id"]),
        "attachments": attachments_of(conn, row["id"]),
        "fields": [dict(f, choices=list(f.get("choices", ()))) for f in FORM_FIELDS],
    }


def full(conn: Connection, row: dict, who: Principal) -> dict:
    return {**view(row, who), **detail(conn, row, who), "history": workflow.history(conn, EVALUATION.kind, row["id"])}


def _completed(p: dict) -> date:
    done = p["completion_date"]
    if done is None or done > common.today_beijing():
        raise ApiError(
            409,
            "not_completed",
            f"项目「{p['name']}」尚未完成竣工验收（项目信息中没有竣工验收日期），竣工验收后才能申报考评。",
            "completion_date",
        )
    return done


def create(conn: Connection, who: Principal, site_id: int, body: NewEvaluation) -> dict:
    who.require("site.report.submit", "申报考评")
    s = common.site(conn, site_id)
    p = project_of(conn, site_id)
    done = _completed(p)
    form = check_form(body.form, complete=False)
    e = t.evaluations
    existing = conn.execute(sa.select(e.c.id, e.c.status).where(e.c.site_id == site_id)).first()
    if existing is not None:
        raise ApiError(
            409,
            "duplicate_evaluation",
            f"该工地已有考评申报（{STATES[existing.status]}），每个工地只能申报一次。",
            "site_id",
            {"evaluation_id": existing.id},
        )
    pre = prefill(conn, site_id, done)
    row = conn.execute(
        sa.insert(e)
        .values(
            site_id=site_id,
            completion_date=done,
            prefill=t.jsonb(json.dumps(pre, ensure_ascii=False)),
            form=t.jsonb(json.dumps(form, ensure_ascii=False)),
            district=s["district"],
            created_by=who.user,
            updated_by=who.user,
        )
        .returning(e.c.id)
    ).scalar_one()
    workflow.record(conn, EVALUATION.kind, row, site_id, s["district"], "create", None, "draft", who.user)
    audit.record(
        conn,
        who.user,
        "create",
        "st_evaluations",
        row,
        None,
        {"site_id": site_id, "prefill": pre, "form": form},
        who.client,
        user_id=who.user_id,
    )
    return jsonable_encoder(full(conn, get_evaluation(conn, row, who), who))


def final_score(conn: Connection, evaluation_id: int) -> float | None:
    """The mean of the experts' totals of the application's latest draw (None when nobody scored)."""
    v, a, latest = t.reviews, t.assignments, t.assignments.alias("latest")
    last_draw = sa.select(sa.func.max(latest.c.draw_id)).where(latest.c.evaluation_id == evaluation_id)
    score = conn.execute(
        sa.select(sa.func.avg(v.c.total))
        .select_from(v.join(a, a.c.id == v.c.assignment_id))
        .where(a.c.evaluation_id == evaluation_id, a.c.draw_id == last_draw.scalar_subquery())
    ).scalar()
    return round(float(score), 2) if score is not None else None


def _award_reason(conn: Connection, row: dict) -> str:
    p = project_of(conn, row["site_id"])
    return f"承建的项目「{p['name']}」获评{(row['form'] or {}).get('award') or '标准化工地'}"


# An award is good behaviour of the construction enterprise (信用库: the credit module writes the event).
credit.feeds(
    kind=APPLICATION.kind,
    state="awarded",
    event_type="st_award",
    title="标化工地获评",
    polarity="good",
    subject=common.construction_unit,
    points=AWARD_CREDIT_POINTS,
    reason=_award_reason,
)


@router.post("/sites/{site_id}/evaluation", status_code=201, summary="新建考评申报（施工单位，竣工验收后）")
def create_evaluation(
    site_id: int,
    request: Request,
    body: NewEvaluation | None = None,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> JSONResponse:
    body = body or NewEvaluation()
    key = idempotency.key_of(request)
    return idempotency.run(
        conn,
        who.user_id,
        key,
        idempotency.body_hash("evaluation", site_id, body.model_dump()),
        lambda: (201, create(conn, who, site_id, body)),
    )


@router.put("/evaluations/{evaluation_id}", summary="修改考评申报表（草稿或退回状态）")
def update_evaluation(
    evaluation_id: int,
    body: FormUpdate,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require("site.report.submit", "修改考评申报")
    row = EVALUATION.lock(conn, evaluation_id)
    if row["status"] not in EDITABLE:
        raise ApiError(
            409, "illegal_transition", f"考评申报当前状态为「{STATES[row['status']]}」，不能修改。", "status"
        )
    if row["version"] != body.version:
        raise ApiError(
            409,
            "stale_version",
            "该考评申报已被修改，请刷新后再保存。",
            "version",
            {"current": row["version"], "given": body.version},
        )
    form = check_form(body.form, complete=False)
    e = t.evaluations
    conn.execute(
        sa.update(e)
        .where(e.c.id == evaluation_id)
        .values(
            form=t.jsonb(json.dumps(form, ensure_ascii=False)),
            version=e.c.version + 1,
            updated_at=sa.func.now(),
            updated_by=who.user,
        )
    )
    audit.record(
        conn,
        who.user,
        "update",
        "st_evaluations",
        evaluation_id,
        {"form": row["form"]},
        {"form": form},
        who.client,
        user_id=who.user_id,
    )
    return view(get_evaluation(conn, evaluation_id, who), who)


def prepare(conn: Connection, who: Principal, row: dict, a: Action, body: ActionBody) -> dict[str, Any]:
    """The columns an action sets. Submitting needs a completed project, a complete form and an attachment; it
    stores the monthly reports' summary (``prefill``) as submitted."""
    now = common.now()
    if a.name == "submit":
        if row["status"] not in a.sources:  # the machine answers with the illegal transition
            return {}
        p = project_of(conn, row["site_id"])
        done = _completed(p)
        check_form(row["form"], complete=True)
        count = len(photos_of(conn, "evaluation", row["id"])) + len(attachments_of(conn, row["id"]))
        if not count:
            raise ApiError(
                422,
                "attachments_missing",
                "请至少上传一个附件（现场照片或竣工验收等证明材料的扫描件）后再提交。",
                "attachments",
            )
        summary = json.dumps(prefill(conn, row["site_id"], done), ensure_ascii=False)
        conn.execute(sa.update(t.evaluations).where(t.evaluations.c.id == row["id"]).values(prefill=t.jsonb(summary)))
        return {"submitted_at": now, "submitted_by": who.user, "return_reason": None, "completion_date": done}
    if a.name in ("approve", "return"):
        return common.review_values(a, body.reason, who)
    if a.name in ("recommend", "decline"):
        return {"recommended_at": now, "recommended_by": who.user, "recommendation": body.reason}
    return {  # award, reject
        "decision": a.target,
        "decided_at": now,
        "decided_by": who.user,
        "decision_note": body.reason,
        "final_score": final_score(conn, row["id"]),
    }


# The list (filters site_id, status, district), its Excel export, the detail and every action come from the
# declaration (the pin follows every transition: stats); the form, attachments and the printout are the routes here.
case_routes(
    router,
    APPLICATION,
    "/evaluations",
    view=lambda conn, row, who: view(row, who),
    items_key="evaluations",
    detail=detail,
    prepare=prepare,
    result=lambda conn, row, who: view(get_evaluation(conn, row["id"], who), who),
    summaries={"action": "考评申报办理：提交、监理审核通过、退回、推荐、不予推荐、评定通过、评定不通过"},
)


def add_attachment(
    conn: Connection, who: Principal, evaluation_id: int, data: bytes, filename: str, name: str | None
) -> dict:
    who.require("site.report.submit", "上传考评申报附件")
    row = EVALUATION.lock(conn, evaluation_id)
    if row["status"] not in EDITABLE:
        raise ApiError(
            409, "attachments_closed", f"考评申报当前状态为「{STATES[row['status']]}」，不能再添加附件。", "status"
        )
    try:
        stored = files.store(data, filename or "document.pdf", "document")
    except files.FileRefused as e:
        raise ApiError(e.status, e.code, e.message, e.field, e.detail)
    title = (name or filename or "附件").strip()[:200]
    aid = conn.execute(
        sa.insert(t.attachments)
        .values(
            evaluation_id=evaluation_id,
            site_id=row["site_id"],
            name=title,
            filename=filename,
            sha256=stored.sha256,
            content_type=stored.content_type,
            size=stored.size,
            district=row["district"],
            created_by=who.user,
            updated_by=who.user,
        )
        .returning(t.attachments.c.id)
    ).scalar_one()
    audit.record(
        conn,
        who.user,
        "attachment_upload",
        "st_attachments",
        aid,
        None,
        {"evaluation_id": evaluation_id, "name": title, "sha256": stored.sha256},
        who.client,
        user_id=who.user_id,
    )
    return next(a for a in attachments_of(conn, evaluation_id) if a["id"] == aid)


@router.post(
    "/evaluations/{evaluation_id}/attachments", status_code=201, summary="上传考评申报附件（PDF 扫描件或图片）"
)
def upload_attachment(
    evaluation_id: int,
    request: Request,
    file: UploadFile = File(...),
    name: Text(200) | None = Form(None, title="附件名称"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> JSONResponse:
    key = idempotency.key_of(request)
    data = file.file.read()
    digest = idempotency.body_hash("attachment", evaluation_id, name, data)
    return idempotency.run(
        conn,
        who.user_id,
        key,
        digest,
        lambda: (201, add_attachment(conn, who, evaluation_id, data, file.filename or "", name)),
    )


def _attachment(conn: Connection, evaluation_id: int, attachment_id: int) -> dict:
    f = t.attachments
    row = (
        conn.execute(
            sa.select(f).where(f.c.id == attachment_id, f.c.evaluation_id == evaluation_id, f.c.deleted_at.is_(None))
        )
        .mappings()
        .first()
    )
    if row is None:
        raise ApiError(404, "not_found", "附件不存在，或不在您的数据范围内。")
    return dict(row)


@router.get("/evaluations/{evaluation_id}/attachments/{attachment_id}/file", summary="考评申报附件文件")
def attachment_file(
    evaluation_id: int,
    attachment_id: int,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> FileResponse:
    who.require("site.view", "查看考评申报附件")
    get_evaluation(conn, evaluation_id, who)
    a = _attachment(conn, evaluation_id, attachment_id)
    return FileResponse(
        files.open_path(a["sha256"]),
        media_type=a["content_type"],
        headers={"Cache-Control": "private, max-age=86400", "ETag": f'"{a["sha256"]}"'},
    )


@router.delete(
    "/evaluations/{evaluation_id}/attachments/{attachment_id}",
    status_code=204,
    summary="删除考评申报附件（草稿或退回状态）",
)
def delete_attachment(
    evaluation_id: int,
    attachment_id: int,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> Response:
    who.require("site.report.submit", "删除考评申报附件")
    row = EVALUATION.lock(conn, evaluation_id)
    if row["status"] not in EDITABLE:
        raise ApiError(
            409, "attachments_closed", f"考评申报当前状态为「{STATES[row['status']]}」，不能删除附件。", "status"
        )
    _attachment(conn, evaluation_id, attachment_id)
    conn.execute(
        sa.update(t.attachments)
        .where(t.attachments.c.id == attachment_id)
        .values(deleted_at=sa.func.now(), updated_by=who.user)
    )
    audit.record(
        conn,
        who.user,
        "attachment_delete",
        "st_attachments",
        attachment_id,
        None,
        {"evaluation_id": evaluation_id},
        who.client,
        user_id=who.user_id,
    )
    return Response(status_code=204)


def public_base(request: Request) -> str:
    """Where the public verification page is reached from outside (``CHENGJIAN_PUBLIC_BASE_URL``, else this host)."""
    return (get_settings().public_base_url or str(request.base_url)).rstrip("/")


def print_token(fields: list[tuple[str, str]], evaluation_id: int) -> str:
    return signing.sign({"t": TOKEN_KIND, "id": evaluation_id, "d": fields_digest(fields)})


@router.get("/evaluations/{evaluation_id}/print", summary="打印考评申报表（PDF，带防伪二维码）")
def print_evaluation(
    evaluation_id: int,
    request: Request,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> Response:
    who.require("site.view", "打印考评申报表")
    row = get_evaluation(conn, evaluation_id, who)
    if row["status"] in EDITABLE:
        raise ApiError(409, "not_submitted", "考评申报提交后才能打印申报表（草稿或退回状态不能打印）。", "status")
    fields = key_fields(conn, row)
    token = print_token(fields, evaluation_id)
    url = f"{public_base(request)}/verify/st/{token}"
    printed = common.now()
    pdf = printform.render_form(
        TITLE,
        fields + [("申报状态（打印时）", STATES[row["status"]])],
        url,
        footer=f"杭州市城乡建设委员会 · 打印时间 {printed.astimezone(common.BEIJING):%Y-%m-%d %H:%M}"
        " · 扫描右上角二维码验证真伪",
    )
    conn.execute(
        sa.update(t.evaluations)
        .where(t.evaluations.c.id == evaluation_id)
        .values(print_token=token, printed_at=printed, printed_by=who.user)
    )
    audit.record(
        conn,
        who.user,
        "print",
        "st_evaluations",
        evaluation_id,
        None,
        {"fingerprint": signing.fingerprint(token)},
        who.client,
        user_id=who.user_id,
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="evaluation-{evaluation_id}.pdf"',
            "Cache-Control": "no-store",
        },
    )
