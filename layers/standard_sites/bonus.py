"""Bonus items (加分项, ST-05) declared by the construction unit with scanned evidence, the supervision unit's first
review (ST-06; it may add photos) and the local authority's confirmation (ST-12).

One claim names one configured bonus item (``st_catalog`` kind ``bonus``). Evidence is uploaded through the photos
route (``/api/st/bonus/{id}/photos``); a claim without evidence cannot be submitted. States: draft → submitted →
supervision_approved / returned (reason required) → confirmed (points taken from the catalog item) / rejected
(reason required). Only approved claims reach the local authority; a confirmation is also a good credit event of
the construction unit.
"""

from __future__ import annotations

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
from layers.standard_sites.reports import Action

router = APIRouter(prefix=PREFIX, tags=["标化工地"])

STATES = {
    "draft": "草稿",
    "submitted": "待监理审核",
    "supervision_approved": "监理已审核",
    "returned": "已退回",
    "confirmed": "主管部门已确认",
    "rejected": "主管部门不予确认",
}
BONUS = Machine(
    "st_bonus",
    "加分项申报",
    "st_bonus_claims",
    STATES,
    (
        Transition("submit", "提交", ("draft", "returned"), "submitted", "site.report.submit"),
        Transition("approve", "审核通过", ("submitted",), "supervision_approved", "site.report.review"),
        Transition("return", "退回", ("submitted",), "returned", "site.report.review", reason_required=True),
        Transition("confirm", "确认", ("supervision_approved",), "confirmed", "site.report.receive"),
        Transition(
            "reject", "不予确认", ("supervision_approved",), "rejected", "site.report.receive", reason_required=True
        ),
    ),
)
AUTHORITY_STATES = ("supervision_approved", "confirmed", "rejected")


class NewClaim(BaseModel):
    item_code: str = Field(min_length=1, max_length=40, description="加分项编码（配置中的 bonus 项）")
    description: str | None = Field(None, max_length=2000)


class ClaimUpdate(BaseModel):
    version: int
    item_code: str | None = Field(None, min_length=1, max_length=40)
    description: str | None = Field(None, max_length=2000)


def _item(conn: Connection, code: str, field: str = "item_code") -> dict:
    row = (
        conn.execute(
            sa.text("SELECT id, code, name, points FROM st_catalog WHERE kind = 'bonus' AND code = :c AND active"),
            {"c": code},
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
        conn.execute(sa.text("SELECT code, name, points FROM st_catalog WHERE id = :i"), {"i": row["item_id"]})
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
    row = conn.execute(sa.text("SELECT * FROM st_bonus_claims WHERE id = :id"), {"id": claim_id}).mappings().first()
    return common.visible_case(row, who, AUTHORITY_STATES, BONUS.title)


def create(conn: Connection, who: Principal, site_id: int, body: NewClaim) -> dict:
    who.require("site.report.submit", "申报加分项")
    s = common.site(conn, site_id)
    if s["registration_id"] is None:
        raise ApiError(409, "not_registered", "该工地尚未注册标化工地账号，不能申报加分项。", "site_id")
    item = _item(conn, body.item_code)
    open_claim = conn.execute(
        sa.text("SELECT id FROM st_bonus_claims WHERE site_id = :s AND item_id = :i AND status <> 'rejected'"),
        {"s": site_id, "i": item["id"]},
    ).scalar()
    if open_claim is not None:
        raise ApiError(
            409, "duplicate_claim", f"本工地已申报过加分项「{item['name']}」。", "item_code", {"claim_id": open_claim}
        )
    row = (
        conn.execute(
            sa.text(
                "INSERT INTO st_bonus_claims (site_id, item_id, description, district, created_by, updated_by) "
                "VALUES (:s, :i, :d, :dist, :a, :a) RETURNING *"
            ),
            {"s": site_id, "i": item["id"], "d": body.description, "dist": s["district"], "a": who.user},
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


@router.get("/bonus", summary="加分项申报列表（按权限范围）")
def list_claims(
    site_id: int | None = None,
    status: str | None = None,
    district: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require("site.view", "查看加分项申报")
    sql, params = common.case_filter(who, STATES, AUTHORITY_STATES, site_id=site_id, status=status, district=district)
    params |= {"limit": limit, "offset": offset}
    total = conn.execute(sa.text(f"SELECT count(*) FROM st_bonus_claims WHERE {sql}"), params).scalar()
    rows = (
        conn.execute(
            sa.text(f"SELECT * FROM st_bonus_claims WHERE {sql} ORDER BY id DESC LIMIT :limit OFFSET :offset"), params
        )
        .mappings()
        .all()
    )
    return {"total": total, "claims": [view(conn, dict(r), who) for r in rows]}


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


@router.get("/bonus/{claim_id}", summary="加分项申报详情（含佐证材料、办理记录、可执行操作）")
def claim_detail(
    claim_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    who.require("site.view", "查看加分项申报")
    row = get_claim(conn, claim_id, who)
    return {
        **view(conn, row, who),
        "site": common.site(conn, row["site_id"]),
        "photos": photos_of(conn, "bonus", claim_id),
        "history": workflow.history(conn, BONUS.kind, claim_id),
    }


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
    sets = "".join(f", {k} = :{k}" for k in changes)
    after = (
        conn.execute(
            sa.text(
                f"UPDATE st_bonus_claims SET version = version + 1, updated_at = now(), "
                f"updated_by = :a{sets} WHERE id = :id RETURNING *"
            ),
            {**changes, "a": who.user, "id": claim_id},
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


@router.post(
    "/bonus/{claim_id}/actions/{action}", summary="加分项办理：提交、监理审核通过、退回、主管部门确认、不予确认"
)
def claim_action(
    claim_id: int,
    action: str,
    body: Action | None = None,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    body = body or Action()
    t = BONUS.transition(action)
    who.require(t.permission, f"{t.title}{BONUS.title}")
    row = get_claim(conn, claim_id, who)  # the authority never sees (nor acts on) what supervision did not approve
    values: dict[str, Any] = {}
    if t.action == "submit":
        if not photos_of(conn, "bonus", claim_id):
            raise ApiError(422, "evidence_required", "请先上传加分项的佐证材料（扫描件或照片）再提交。", "photos")
        values = {"submitted_at": common.now(), "return_reason": None}
    elif t.action in ("approve", "return"):
        values = {
            "reviewed_at": common.now(),
            "reviewed_by": who.user,
            "return_reason": body.reason if t.action == "return" else None,
        }
    elif t.action == "confirm":
        item = (
            conn.execute(sa.text("SELECT name, points FROM st_catalog WHERE id = :i"), {"i": row["item_id"]})
            .mappings()
            .one()
        )
        values = {"confirmed_at": common.now(), "confirmed_by": who.user, "points": item["points"] or 0}
    elif t.action == "reject":
        values = {"confirmed_at": common.now(), "confirmed_by": who.user, "points": None, "return_reason": body.reason}
    after = BONUS.apply(conn, claim_id, action, who, body.reason, values, body.version)
    if t.action == "confirm":
        _credit(conn, after, item["name"], who)
    return view(conn, after, who)


def _credit(conn: Connection, claim: dict, item_name: str, who: Principal) -> None:
    """A confirmed bonus item is good behaviour of the construction unit (信用库, read by the data centre)."""
    p = (
        conn.execute(
            sa.text("SELECT construction_name, construction_uscc FROM projects WHERE site_id = :s ORDER BY id LIMIT 1"),
            {"s": claim["site_id"]},
        )
        .mappings()
        .first()
    )
    if p is None or not p["construction_uscc"]:
        return
    conn.execute(
        sa.text(
            "INSERT INTO credit_events (subject_kind, subject_code, subject_name, polarity, points, reason, source, "
            "source_id, site_id, district, occurred_on, created_by) VALUES ('enterprise', :code, :name, 'good', :pts, "
            ":reason, 'st_bonus', :id, :site, :d, :on, :by)"
        ),
        {
            "code": p["construction_uscc"],
            "name": p["construction_name"] or "",
            "pts": claim["points"] or 0,
            "reason": f"标化工地加分项：{item_name}",
            "id": claim["id"],
            "site": claim["site_id"],
            "d": claim["district"],
            "on": common.today_beijing(),
            "by": who.user,
        },
    )
