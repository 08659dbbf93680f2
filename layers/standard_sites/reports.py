"""Monthly safety and civilized-construction reports (月度申报, ST-03), the supervision unit's first review (ST-04)
and the authority's receipt (ST-11).

One report per site per month. The form's fields and the photo checklist are configured (``st_catalog``); a
report can be submitted only when every required field is filled and every required checklist item has a photo.
States: draft → submitted → supervision_approved / returned (reason required) → received. A report submitted after
the due day of the following month is flagged late. Only approved reports reach the local authority: principals
who neither submit nor review see approved and received reports only.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api import idempotency
from api.auth import Principal, principal
from api.cases import ActionBody, case_routes, visible
from api.deps import db_write
from api.errors import ApiError
from geo import audit, cases, workflow
from geo.bounds import ITEM_CODE, MONTH, Code, Range, Version
from geo.cases import Action, CaseType
from geo.layer.registry import Attr
from layers.standard_sites import common
from layers.standard_sites import tables as t
from layers.standard_sites.common import PREFIX
from layers.standard_sites.photos import photos_of

router = APIRouter(prefix=PREFIX, tags=["标化工地"])

STATES = {**common.REVIEW_STATES, "received": "主管部门已接收"}
AUTHORITY_STATES = ("supervision_approved", "received")
MONTHLY = cases.register(
    CaseType(
        kind="st_report",
        title="月度申报",
        table="st_reports",
        materials=(common.photos("report"),),
        states=STATES,
        actions=(
            *common.SUPERVISION_REVIEW,
            Action("receive", "接收", ("supervision_approved",), "received", "site.report.receive"),
        ),
        fields=(
            *common.REVIEW_FIELDS,
            Attr("month", "月份", "date", filterable=True),
            Attr("form", "申报内容", "json"),
            Attr("late", "逾期", "bool"),
            Attr("submitted_by", "提交人"),
            Attr("received_at", "接收时间", "datetime"),
            Attr("received_by", "接收人"),
        ),
        columns=(
            ("id", "编号"),
            ("site_id", "工地"),
            ("district", "区县"),
            ("month", "月份"),
            ("status_title", "状态"),
            ("late", "逾期"),
            ("due_date", "截止日期"),
            ("submitted_at", "提交时间"),
            ("submitted_by", "提交人"),
            ("reviewed_by", "监理审核人"),
            ("return_reason", "退回理由"),
            ("received_at", "接收时间"),
        ),
        view="site.view",
        sort=("-month", "-id"),
        restrict=common.authority_restriction(AUTHORITY_STATES),
        parsers={"month": common.parse_month},
    )
)
REPORT = MONTHLY.machine


class NewReport(BaseModel):
    month: Code(MONTH) = Field(title="月份", description="YYYY-MM")
    form: dict[Code(ITEM_CODE), Any] = Field(default_factory=dict, title="申报内容", max_length=200)  # the catalog's


class FormUpdate(BaseModel):
    version: Version = Field(title="版本号")
    form: dict[Code(ITEM_CODE), Any] = Field(title="申报内容", max_length=200)


FORM_COUNT = Range(0, 1_000_000, whole=True)  # a count in the form (workers on site, checks, hazards)


def check_form(conn: Connection, form: dict[str, Any], complete: bool) -> dict[str, Any]:
    fields = {f["code"]: f for f in common.catalog(conn, "form_field")}
    out: dict[str, Any] = {}
    for key, value in form.items():
        f = fields.get(key)
        if f is None:
            raise ApiError(
                422, "unknown_field", f"申报表没有「{key}」这一项。", f"form.{key}", {"fields": list(fields)}
            )
        if value in (None, ""):
            continue
        if f["field_type"] == "int":
            try:
                value = int(str(value).replace(",", ""))
            except ValueError:
                raise ApiError(422, "invalid_number", f"「{f['name']}」{FORM_COUNT.rule()}。", f"form.{key}")
            refusal = FORM_COUNT.refuse(value)
            if refusal is not None:
                raise ApiError(422, refusal.code, f"「{f['name']}」{refusal.rule}", f"form.{key}")
        elif len(str(value)) > 2000:
            raise ApiError(422, "too_long", f"「{f['name']}」不能超过 2000 字。", f"form.{key}")
        out[key] = value
    if complete:
        for code, f in fields.items():
            if f["required"] and out.get(code) in (None, ""):
                raise ApiError(422, "required", f"请填写「{f['name']}」。", f"form.{code}")
        if "hazards_fixed" in out and "hazards_found" in out and out["hazards_fixed"] > out["hazards_found"]:
            raise ApiError(422, "inconsistent", "已整改隐患数不能大于发现隐患数。", "form.hazards_fixed")
    return out


def missing_photos(conn: Connection, report_id: int) -> list[dict]:
    c, p = t.catalog, t.photos
    return [
        dict(r)
        for r in conn.execute(
            sa.select(c.c.code, c.c.name, c.c.part)
            .where(
                c.c.kind == "photo",
                c.c.active,
                c.c.required,
                ~sa.exists().where(
                    p.c.owner_kind == "report",
                    p.c.owner_id == report_id,
                    p.c.checklist_code == c.c.code,
                    p.c.deleted_at.is_(None),
                ),
            )
            .order_by(c.c.sort)
        ).mappings()
    ]


def view(conn: Connection, row: dict, who: Principal) -> dict:
    month: date = row["month"]
    return {
        "id": row["id"],
        "site_id": row["site_id"],
        "district": row["district"],
        "month": month.strftime("%Y-%m"),
        "status": row["status"],
        "status_title": STATES[row["status"]],
        "form": row["form"],
        "late": row["late"],
        "due_date": common.due_date(month).isoformat(),
        "version": row["version"],
        "submitted_at": common.iso(row["submitted_at"]),
        "submitted_by": row["submitted_by"],
        "reviewed_at": common.iso(row["reviewed_at"]),
        "reviewed_by": row["reviewed_by"],
        "return_reason": row["return_reason"],
        "received_at": common.iso(row["received_at"]),
        "actions": REPORT.allowed(row["status"], who.can),
    }


def get_report(conn: Connection, report_id: int, who: Principal) -> dict:
    return visible(conn, MONTHLY, report_id, who)


def create(conn: Connection, who: Principal, site_id: int, body: NewReport) -> dict:
    who.require("site.report.submit", "填写月度申报")
    s = common.site(conn, site_id)
    if s["registration_id"] is None:
        raise ApiError(409, "not_registered", "该工地尚未注册标化工地账号，不能申报。", "site_id")
    month = common.parse_month(body.month)
    if month > common.today_beijing().replace(day=1):
        raise ApiError(422, "future_month", "不能申报尚未开始的月份。", "month")
    form = check_form(conn, body.form, complete=False)
    r = t.reports
    existing = conn.execute(sa.select(r.c.id, r.c.status).where(r.c.site_id == site_id, r.c.month == month)).first()
    if existing is not None:
        raise ApiError(
            409,
            "duplicate_report",
            f"{month.strftime('%Y年%m月')}的月度申报已存在（{STATES[existing.status]}），每个工地每月只能申报一次。",
            "month",
            {"report_id": existing.id},
        )
    row = (
        conn.execute(
            sa.insert(r)
            .values(
                site_id=site_id,
                month=month,
                form=t.jsonb(json.dumps(form, ensure_ascii=False)),
                district=s["district"],
                created_by=who.user,
                updated_by=who.user,
            )
            .returning(*r.c)
        )
        .mappings()
        .one()
    )
    workflow.record(conn, REPORT.kind, row["id"], site_id, s["district"], "create", None, "draft", who.user)
    audit.record(
        conn,
        who.user,
        "create",
        "st_reports",
        row["id"],
        None,
        {"site_id": site_id, "month": str(month), "form": form},
        who.client,
        user_id=who.user_id,
    )
    return {**view(conn, dict(row), who), "photos": [], "missing_photos": missing_photos(conn, row["id"])}


@router.post("/sites/{site_id}/reports", status_code=201, summary="新建月度申报（施工单位）")
def create_report(
    site_id: int,
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
        idempotency.body_hash(site_id, body.model_dump()),
        lambda: (201, create(conn, who, site_id, body)),
    )


@router.put("/reports/{report_id}", summary="修改月度申报内容（草稿或退回状态）")
def update_report(
    report_id: int,
    body: FormUpdate,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require("site.report.submit", "修改月度申报")
    row = REPORT.lock(conn, report_id)
    if row["status"] not in ("draft", "returned"):
        raise ApiError(
            409, "illegal_transition", f"月度申报当前状态为「{STATES[row['status']]}」，不能修改。", "status"
        )
    if row["version"] != body.version:
        raise ApiError(
            409,
            "stale_version",
            "该月度申报已被修改，请刷新后再保存。",
            "version",
            {"current": row["version"], "given": body.version},
        )
    form = check_form(conn, body.form, complete=False)
    after = (
        conn.execute(
            sa.update(t.reports)
            .where(t.reports.c.id == report_id)
            .values(
                form=t.jsonb(json.dumps(form, ensure_ascii=False)),
                version=t.reports.c.version + 1,
                updated_at=sa.func.now(),
                updated_by=who.user,
            )
            .returning(*t.reports.c)
        )
        .mappings()
        .one()
    )
    audit.record(
        conn,
        who.user,
        "update",
        "st_reports",
        report_id,
        {"form": row["form"]},
        {"form": form},
        who.client,
        user_id=who.user_id,
    )
    return view(conn, dict(after), who)


def prepare(conn: Connection, who: Principal, row: dict, a: Action, body: ActionBody) -> dict[str, Any]:
    """The columns an action sets; a report is submitted complete, with every required photo."""
    if a.name == "submit":
        check_form(conn, row["form"], complete=True)
        missing = missing_photos(conn, row["id"])
        if missing:
            raise ApiError(
                422,
                "photos_missing",
                "还缺少拍照清单中的必拍照片：" + "、".join(m["name"] for m in missing) + "。",
                "photos",
                {"missing": missing},
            )
        now = common.now()
        late = now.astimezone(common.BEIJING).date() > common.due_date(row["month"])
        return {"submitted_at": now, "submitted_by": who.user, "late": late, "return_reason": None}
    if a.name in ("approve", "return"):
        return common.review_values(a, body.reason, who)
    return {"received_at": common.now(), "received_by": who.user}  # receive


def detail(conn: Connection, row: dict, who: Principal) -> dict:
    return {
        "site": common.site(conn, row["site_id"]),
        "photos": photos_of(conn, "report", row["id"]),
        "missing_photos": missing_photos(conn, row["id"]),
        "checklist": common.catalog(conn, "photo"),
        "fields": common.catalog(conn, "form_field"),
    }


# The list (filters site_id, month, status, district), its Excel export, the detail and every action come from the
# declaration (the pin follows every transition: stats); creating and editing a draft are the routes above.
case_routes(
    router,
    MONTHLY,
    "/reports",
    view=view,
    items_key="reports",
    detail=detail,
    prepare=prepare,
    summaries={"action": "月度申报办理：提交、审核通过、退回、接收"},
    restrict_actions=False,  # the authority is told which state a report it cannot receive yet is in
)
