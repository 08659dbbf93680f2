"""Bonus items (加分项, ST-05) declared by the construction unit with scanned evidence, the supervision unit's first
review (ST-06; it may add photos) and the local authority's confirmation (ST-12).

One claim names one configured bonus item (``st_catalog`` kind ``bonus``). Its evidence is documents — certificate
scans, PDFs, images — uploaded from anywhere (``/api/st/bonus/{id}/attachments``, ``st_attachments``): they are not
site photos and are not held to the site's fence. Photos taken on site go through the photos route
(``/api/st/bonus/{id}/photos``) and are fence-checked like every site photo. A claim without evidence (a document or
a photo) cannot be submitted. States: draft → submitted →
supervision_approved / returned (reason required) → confirmed (points taken from the catalog item) / rejected
(reason required). Only approved claims reach the local authority; a confirmation is also a good credit event of
the construction unit (declared here with ``credit.feeds``; the credit module writes it on the transition).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api import idempotency
from api.auth import Principal, principal
from api.cases import ActionBody, case_routes, visible
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit, cases, files, workflow
from geo.bounds import ITEM_CODE, Code, Text, Version
from geo.cases import Action, CaseType
from geo.layer.registry import Attr
from layers import credit
from layers.standard_sites import common
from layers.standard_sites import tables as t
from layers.standard_sites.common import PREFIX
from layers.standard_sites.photos import photos_of

router = APIRouter(prefix=PREFIX, tags=["标化工地"])

STATES = {**common.REVIEW_STATES, "confirmed": "主管部门已确认", "rejected": "主管部门不予确认"}
AUTHORITY_STATES = ("supervision_approved", "confirmed", "rejected")
CLAIM = cases.register(
    CaseType(
        kind="st_bonus",
        title="加分项申报",
        table="st_bonus_claims",
        materials=(
            common.photos("bonus"),
            common.attachments("bonus_claim_id", "bonus", "佐证材料"),
        ),
        states=STATES,
        actions=(
            *common.SUPERVISION_REVIEW,
            Action("confirm", "确认", ("supervision_approved",), "confirmed", "site.report.receive"),
            Action(
                "reject", "不予确认", ("supervision_approved",), "rejected", "site.report.receive", reason_required=True
            ),
        ),
        fields=(
            *common.REVIEW_FIELDS,
            Attr("item_id", "加分项", "int"),
            Attr("description", "说明"),
            Attr("points", "加分", "float"),
            Attr("confirmed_at", "主管部门办理时间", "datetime"),
            Attr("confirmed_by", "主管部门办理人"),
        ),
        columns=(
            ("id", "编号"),
            ("site_id", "工地"),
            ("district", "区县"),
            ("item_code", "加分项编码"),
            ("item_name", "加分项"),
            ("item_points", "分值"),
            ("status_title", "状态"),
            ("points", "确认加分"),
            ("submitted_at", "提交时间"),
            ("reviewed_by", "监理审核人"),
            ("confirmed_by", "主管部门办理人"),
            ("return_reason", "理由"),
        ),
        view="site.view",
        restrict=common.authority_restriction(AUTHORITY_STATES),
    )
)
BONUS = CLAIM.machine


class NewClaim(BaseModel):
    item_code: Code(ITEM_CODE) = Field(title="加分项", description="加分项编码（配置中的 bonus 项）")
    description: Text(2000) | None = Field(None, title="说明")


class ClaimUpdate(BaseModel):
    version: Version = Field(title="版本号")
    item_code: Code(ITEM_CODE) | None = Field(None, title="加分项")
    description: Text(2000) | None = Field(None, title="说明")


def _item(conn: Connection, code: str, field: str = "item_code") -> dict:
    c = t.catalog
    row = (
        conn.execute(
            sa.select(c.c.id, c.c.code, c.c.name, c.c.points).where(c.c.kind == "bonus", c.c.code == code, c.c.active)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise ApiError(
            422,
            "unknown_item",
            f"加分项配置中没有「{code}」（或已停用）。",
            field,
            {"items": [i["code"] for i in common.catalog(conn, "bonus")]},
        )
    return dict(row)


def view(conn: Connection, row: dict, who: Principal) -> dict:
    item = (
        conn.execute(
            sa.select(t.catalog.c.code, t.catalog.c.name, t.catalog.c.points).where(t.catalog.c.id == row["item_id"])
        )
        .mappings()
        .one()
    )
    return {
        "id": row["id"],
        "site_id": row["site_id"],
        "district": row["district"],
        "item_code": item["code"],
        "item_name": item["name"],
        "item_points": item["points"],
        "description": row["description"],
        "status": row["status"],
        "status_title": STATES[row["status"]],
        "points": row["points"],
        "version": row["version"],
        "submitted_at": common.iso(row["submitted_at"]),
        "reviewed_at": common.iso(row["reviewed_at"]),
        "reviewed_by": row["reviewed_by"],
        "return_reason": row["return_reason"],
        "confirmed_at": common.iso(row["confirmed_at"]),
        "confirmed_by": row["confirmed_by"],
        "actions": BONUS.allowed(row["status"], who.can),
    }


def get_claim(conn: Connection, claim_id: int, who: Principal) -> dict:
    return visible(conn, CLAIM, claim_id, who)


def create(conn: Connection, who: Principal, site_id: int, body: NewClaim) -> dict:
    who.require("site.report.submit", "申报加分项")
    s = common.site(conn, site_id)
    if s["registration_id"] is None:
        raise ApiError(409, "not_registered", "该工地尚未注册标化工地账号，不能申报加分项。", "site_id")
    item = _item(conn, body.item_code)
    b = t.bonus_claims
    open_claim = conn.execute(
        sa.select(b.c.id).where(b.c.site_id == site_id, b.c.item_id == item["id"], b.c.status != "rejected")
    ).scalar()
    if open_claim is not None:
        raise ApiError(
            409, "duplicate_claim", f"本工地已申报过加分项「{item['name']}」。", "item_code", {"claim_id": open_claim}
        )
    row = (
        conn.execute(
            sa.insert(b)
            .values(
                site_id=site_id,
                item_id=item["id"],
                description=body.description,
                district=s["district"],
                created_by=who.user,
                updated_by=who.user,
            )
            .returning(*b.c)
        )
        .mappings()
        .one()
    )
    workflow.record(conn, BONUS.kind, row["id"], site_id, s["district"], "create", None, "draft", who.user)
    audit.record(
        conn,
        who.user,
        "create",
        "st_bonus_claims",
        row["id"],
        None,
        {"site_id": site_id, "item": item["code"], "description": body.description},
        who.client,
        user_id=who.user_id,
    )
    return {**view(conn, dict(row), who), "photos": []}


@router.post("/sites/{site_id}/bonus", status_code=201, summary="申报加分项（施工单位）")
def create_claim(
    site_id: int,
    body: NewClaim,
    request: Request,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> JSONResponse:
    key = idempotency.key_of(request)
    return idempotency.run(
        conn,
        who.user_id,
        key,
        idempotency.body_hash("bonus", site_id, body.model_dump()),
        lambda: (201, create(conn, who, site_id, body)),
    )


@router.put("/bonus/{claim_id}", summary="修改加分项申报（草稿或退回状态）")
def update_claim(
    claim_id: int,
    body: ClaimUpdate,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require("site.report.submit", "修改加分项申报")
    row = BONUS.lock(conn, claim_id)
    if row["status"] not in ("draft", "returned"):
        raise ApiError(
            409, "illegal_transition", f"加分项申报当前状态为「{STATES[row['status']]}」，不能修改。", "status"
        )
    if row["version"] != body.version:
        raise ApiError(
            409,
            "stale_version",
            "该加分项申报已被修改，请刷新后再保存。",
            "version",
            {"current": row["version"], "given": body.version},
        )
    changes: dict[str, Any] = {}
    if body.item_code is not None:
        changes["item_id"] = _item(conn, body.item_code)["id"]
    if "description" in body.model_fields_set:
        changes["description"] = body.description
    b = t.bonus_claims
    after = (
        conn.execute(
            sa.update(b)
            .where(b.c.id == claim_id)
            .values(version=b.c.version + 1, updated_at=sa.func.now(), updated_by=who.user, **changes)
            .returning(*b.c)
        )
        .mappings()
        .one()
    )
    audit.record(
        conn,
        who.user,
        "update",
        "st_bonus_claims",
        claim_id,
        {k: row[k] for k in ("item_id", "description")},
        {k: after[k] for k in ("item_id", "description")},
        who.client,
        user_id=who.user_id,
    )
    return view(conn, dict(after), who)


def prepare(conn: Connection, who: Principal, row: dict, a: Action, body: ActionBody) -> dict[str, Any]:
    """The columns an action sets; a claim is submitted with its evidence."""
    if a.name == "submit":
        if not photos_of(conn, "bonus", row["id"]) and not attachments_of(conn, row["id"]):
            raise ApiError(
                422, "evidence_required", "请先上传加分项的佐证材料（扫描件、PDF 或照片）再提交。", "attachments"
            )
        return {"submitted_at": common.now(), "return_reason": None}
    if a.name in ("approve", "return"):
        return common.review_values(a, body.reason, who)
    if a.name == "confirm":
        points = conn.execute(sa.select(t.catalog.c.points).where(t.catalog.c.id == row["item_id"])).scalar()
        return {"confirmed_at": common.now(), "confirmed_by": who.user, "points": points or 0}
    return {"confirmed_at": common.now(), "confirmed_by": who.user, "points": None, "return_reason": body.reason}


def detail(conn: Connection, row: dict, who: Principal) -> dict:
    return {
        "site": common.site(conn, row["site_id"]),
        "photos": photos_of(conn, "bonus", row["id"]),
        "attachments": attachments_of(conn, row["id"]),
    }


# The list (filters site_id, status, district), its Excel export, the detail and every action come from the
# declaration; creating and editing a draft are the module's own routes above.
case_routes(
    router,
    CLAIM,
    "/bonus",
    view=view,
    items_key="claims",
    detail=detail,
    prepare=prepare,
    summaries={"action": "加分项办理：提交、监理审核通过、退回、主管部门确认、不予确认"},
)


# -- evidence documents (佐证材料): no position, no fence --------------------------------------------------------

EDITABLE = ("draft", "returned")


def attachments_of(conn: Connection, claim_id: int) -> list[dict]:
    f = t.attachments
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
            "url": f"{PREFIX}/bonus/{claim_id}/attachments/{r['id']}/file",
        }
        for r in conn.execute(
            sa.select(f).where(f.c.bonus_claim_id == claim_id, f.c.deleted_at.is_(None)).order_by(f.c.id)
        ).mappings()
    ]


def _editable(conn: Connection, claim_id: int, what: str) -> dict:
    row = BONUS.lock(conn, claim_id)
    if row["status"] not in EDITABLE:
        raise ApiError(
            409,
            "attachments_closed",
            f"加分项申报当前状态为「{STATES[row['status']]}」，不能再{what}佐证材料。",
            "status",
        )
    return row


def add_attachment(
    conn: Connection, who: Principal, claim_id: int, data: bytes, filename: str, name: str | None
) -> dict:
    who.require("site.report.submit", "上传加分项佐证材料")
    row = _editable(conn, claim_id, "添加")
    try:
        stored = files.store(data, filename or "document.pdf", "scan")
    except files.FileRefused as e:
        raise ApiError(e.status, e.code, e.message, e.field, e.detail)
    title = (name or filename or "佐证材料").strip()[:200]
    aid = conn.execute(
        sa.insert(t.attachments)
        .values(
            bonus_claim_id=claim_id,
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
        {"bonus_claim_id": claim_id, "name": title, "sha256": stored.sha256},
        who.client,
        user_id=who.user_id,
    )
    return next(a for a in attachments_of(conn, claim_id) if a["id"] == aid)


@router.post(
    "/bonus/{claim_id}/attachments",
    status_code=201,
    summary="上传加分项佐证材料（扫描件、PDF 或图片；不做电子围栏校验）",
)
def upload_attachment(
    claim_id: int,
    request: Request,
    file: UploadFile = File(...),
    name: Text(200) | None = Form(None, title="材料名称"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> JSONResponse:
    key = idempotency.key_of(request)
    data = file.file.read()
    return idempotency.run(
        conn,
        who.user_id,
        key,
        idempotency.body_hash("bonus-attachment", claim_id, name, data),
        lambda: (201, add_attachment(conn, who, claim_id, data, file.filename or "", name)),
    )


def _attachment(conn: Connection, claim_id: int, attachment_id: int) -> dict:
    f = t.attachments
    row = (
        conn.execute(
            sa.select(f).where(f.c.id == attachment_id, f.c.bonus_claim_id == claim_id, f.c.deleted_at.is_(None))
        )
        .mappings()
        .first()
    )
    if row is None:
        raise ApiError(404, "not_found", "佐证材料不存在，或不在您的数据范围内。")
    return dict(row)


@router.get("/bonus/{claim_id}/attachments/{attachment_id}/file", summary="加分项佐证材料文件")
def attachment_file(
    claim_id: int,
    attachment_id: int,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> FileResponse:
    who.require("site.view", "查看加分项佐证材料")
    get_claim(conn, claim_id, who)
    a = _attachment(conn, claim_id, attachment_id)
    return FileResponse(
        files.open_path(a["sha256"]),
        media_type=a["content_type"],
        headers={"Cache-Control": "private, max-age=86400", "ETag": f'"{a["sha256"]}"'},
    )


@router.delete(
    "/bonus/{claim_id}/attachments/{attachment_id}", status_code=204, summary="删除加分项佐证材料（草稿或退回状态）"
)
def delete_attachment(
    claim_id: int,
    attachment_id: int,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> Response:
    who.require("site.report.submit", "删除加分项佐证材料")
    _editable(conn, claim_id, "删除")
    _attachment(conn, claim_id, attachment_id)
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
        {"bonus_claim_id": claim_id},
        who.client,
        user_id=who.user_id,
    )
    return Response(status_code=204)


def _reason(conn: Connection, claim: dict) -> str:
    name = conn.execute(sa.select(t.catalog.c.name).where(t.catalog.c.id == claim["item_id"])).scalar()
    return f"标化工地加分项：{name}"


# A confirmed bonus item is good behaviour of the construction unit (信用库: the credit module writes the event).
credit.feeds(
    kind=CLAIM.kind,
    state="confirmed",
    event_type="st_bonus",
    title="标化工地加分项",
    polarity="good",
    subject=common.construction_unit,
    points=lambda conn, claim: claim["points"] or 0,
    reason=_reason,
)
