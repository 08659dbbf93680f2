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
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api import idempotency
from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit, workflow
from geo.workflow import Machine, Transition
from layers.standard_sites import common
from layers.standard_sites.common import PREFIX
from layers.standard_sites.photos import photos_of

router = APIRouter(prefix=PREFIX, tags=["标化工地"])

STATES = {
    "draft": "草稿",
    "submitted": "待监理审核",
    "supervision_approved": "监理已审核",
    "returned": "已退回",
    "received": "主管部门已接收",
}
REPORT = Machine(
    "st_report",
    "月度申报",
    "st_reports",
    STATES,
    (
        Transition("submit", "提交", ("draft", "returned"), "submitted", "site.report.submit"),
        Transition("approve", "审核通过", ("submitted",), "supervision_approved", "site.report.review"),
        Transition("return", "退回", ("submitted",), "returned", "site.report.review", reason_required=True),
        Transition("receive", "接收", ("supervision_approved",), "received", "site.report.receive"),
    ),
)
AUTHORITY_STATES = ("supervision_approved", "received")


class NewReport(BaseModel):
    month: str = Field(description="YYYY-MM")
    form: dict[str, Any] = Field(default_factory=dict)


class FormUpdate(BaseModel):
    version: int
    form: dict[str, Any]


class Action(BaseModel):
    reason: str | None = Field(None, max_length=1000)
    version: int | None = None


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
                raise ApiError(422, "invalid_number", f"「{f['name']}」应为整数。", f"form.{key}")
            if value < 0:
                raise ApiError(422, "out_of_range", f"「{f['name']}」不能为负数。", f"form.{key}")
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
    return [
        dict(r)
        for r in conn.execute(
            sa.text(
                "SELECT c.code, c.name, c.part FROM st_catalog c WHERE c.kind = 'photo' AND c.active AND c.required "
                "AND NOT EXISTS (SELECT 1 FROM st_photos p WHERE p.owner_kind = 'report' AND p.owner_id = :r "
                "AND p.checklist_code = c.code AND p.deleted_at IS NULL) ORDER BY c.sort"
            ),
            {"r": report_id},
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
    row = conn.execute(sa.text("SELECT * FROM st_reports WHERE id = :id"), {"id": report_id}).mappings().first()
    return common.visible_case(row, who, AUTHORITY_STATES, REPORT.title)


def create(conn: Connection, who: Principal, site_id: int, body: NewReport) -> dict:
    who.require("site.report.submit", "填写月度申报")
    s = common.site(conn, site_id)
    if s["registration_id"] is None:
        raise ApiError(409, "not_registered", "该工地尚未注册标化工地账号，不能申报。", "site_id")
    month = common.parse_month(body.month)
    if month > common.today_beijing().replace(day=1):
        raise ApiError(422, "future_month", "不能申报尚未开始的月份。", "month")
    form = check_form(conn, body.form, complete=False)
    existing = conn.execute(
        sa.text("SELECT id, status FROM st_reports WHERE site_id = :s AND month = :m"), {"s": site_id, "m": month}
    ).first()
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
            sa.text(
                "INSERT INTO st_reports (site_id, month, form, district, created_by, updated_by) "
                "VALUES (:s, :m, CAST(:f AS jsonb), :d, :a, :a) RETURNING *"
            ),
            {"s": site_id, "m": month, "f": json.dumps(form, ensure_ascii=False), "d": s["district"], "a": who.user},
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


@router.get("/reports", summary="月度申报列表（按权限范围）")
def list_reports(
    site_id: int | None = None,
    month: str | None = None,
    status: str | None = None,
    district: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require("site.view", "查看月度申报")
    sql, params = common.case_filter(
        who,
        STATES,
        AUTHORITY_STATES,
        site_id=site_id,
        status=status,
        district=district,
        month=common.parse_month(month) if month else None,
    )
    params |= {"limit": limit, "offset": offset}
    total = conn.execute(sa.text(f"SELECT count(*) FROM st_reports WHERE {sql}"), params).scalar()
    rows = (
        conn.execute(
            sa.text(f"SELECT * FROM st_reports WHERE {sql} ORDER BY month DESC, id DESC LIMIT :limit OFFSET :offset"),
            params,
        )
        .mappings()
        .all()
    )
    return {"total": total, "reports": [view(conn, dict(r), who) for r in rows]}


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


@router.get("/reports/{report_id}", summary="月度申报详情（含照片、办理记录、可执行操作）")
def report_detail(
    report_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    who.require("site.view", "查看月度申报")
    row = get_report(conn, report_id, who)
    return {
        **view(conn, row, who),
        "site": common.site(conn, row["site_id"]),
        "photos": photos_of(conn, "report", report_id),
        "missing_photos": missing_photos(conn, report_id),
        "checklist": common.catalog(conn, "photo"),
        "fields": common.catalog(conn, "form_field"),
        "history": workflow.history(conn, REPORT.kind, report_id),
    }


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
            sa.text(
                "UPDATE st_reports SET form = CAST(:f AS jsonb), version = version + 1, "
                "updated_at = now(), updated_by = :a WHERE id = :id RETURNING *"
            ),
            {"f": json.dumps(form, ensure_ascii=False), "a": who.user, "id": report_id},
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


@router.post("/reports/{report_id}/actions/{action}", summary="月度申报办理：提交、审核通过、退回、接收")
def report_action(
    report_id: int,
    action: str,
    body: Action | None = None,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    body = body or Action()
    t = REPORT.transition(action)
    values: dict[str, Any] = {}
    if t.action == "submit":
        row = REPORT.lock(conn, report_id)
        check_form(conn, row["form"], complete=True)
        missing = missing_photos(conn, report_id)
        if missing:
            raise ApiError(
                422,
                "photos_missing",
                "还缺少拍照清单中的必拍照片：" + "、".join(m["name"] for m in missing) + "。",
                "photos",
                {"missing": missing},
            )
        now = common.now()
        values = {
            "submitted_at": now,
            "submitted_by": who.user,
            "late": now.astimezone(common.BEIJING).date() > common.due_date(row["month"]),
            "return_reason": None,
        }
    elif t.action in ("approve", "return"):
        values = {
            "reviewed_at": common.now(),
            "reviewed_by": who.user,
            "return_reason": body.reason if t.action == "return" else None,
        }
    elif t.action == "receive":
        values = {"received_at": common.now(), "received_by": who.user}
    after = REPORT.apply(conn, report_id, action, who, body.reason, values, body.version)  # the pin follows (stats)
    return view(conn, after, who)
