"""Deduction items (减分项, ST-20) for bad behaviour on a site, recorded by the authority.

A deduction names a configured deduction item (``st_catalog`` kind ``deduction``; the points come from it) and its
subject: an enterprise (unified social credit code) or a person (resident ID number), both checked. The deduction
and the subject's bad credit event (``credit_events``, the credit library the data centre reads) are written in one
transaction.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api import idempotency
from api.accounts.ids import check_id_number, check_uscc
from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit
from layers.standard_sites import common
from layers.standard_sites.common import PREFIX

router = APIRouter(prefix=PREFIX, tags=["标化工地"])

SUBJECTS = {"enterprise": "企业", "person": "个人"}


class NewDeduction(BaseModel):
    item_code: str = Field(min_length=1, max_length=40, description="减分项编码（配置中的 deduction 项）")
    subject_kind: Literal["enterprise", "person"]
    subject_code: str = Field(min_length=1, max_length=40, description="统一社会信用代码或身份证号码")
    subject_name: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)
    occurred_on: date


def view(row: dict) -> dict:
    code = row["subject_code"]
    if row["subject_kind"] == "person":  # an ID number is shown masked
        code = code[:6] + "*" * (len(code) - 10) + code[-4:]
    return {
        "id": row["id"],
        "site_id": row["site_id"],
        "district": row["district"],
        "item_code": row["item_code"],
        "item_name": row["item_name"],
        "subject_kind": row["subject_kind"],
        "subject_kind_title": SUBJECTS[row["subject_kind"]],
        "subject_code": code,
        "subject_name": row["subject_name"],
        "points": row["points"],
        "reason": row["reason"],
        "occurred_on": row["occurred_on"].isoformat(),
        "created_at": row["created_at"].isoformat(),
        "created_by": row["created_by"],
    }


SELECT = (
    "SELECT d.*, c.code AS item_code, c.name AS item_name FROM st_deductions d JOIN st_catalog c ON c.id = d.item_id"
)


def create(conn: Connection, who: Principal, site_id: int, body: NewDeduction) -> dict:
    who.require("site.deduct", "登记减分项")
    s = common.site(conn, site_id)
    if body.subject_kind == "enterprise":
        code = check_uscc(body.subject_code.strip().upper(), "subject_code")
    else:
        code = check_id_number(body.subject_code.strip().upper(), "subject_code")
    if body.occurred_on > common.today_beijing():
        raise ApiError(422, "future_date", "发生日期不能晚于今天。", "occurred_on")
    item = (
        conn.execute(
            sa.text("SELECT id, code, name, points FROM st_catalog WHERE kind = 'deduction' AND code = :c AND active"),
            {"c": body.item_code},
        )
        .mappings()
        .first()
    )
    if item is None:
        raise ApiError(
            422,
            "unknown_item",
            f"减分项配置中没有「{body.item_code}」（或已停用）。",
            "item_code",
            {"items": [i["code"] for i in common.catalog(conn, "deduction")]},
        )
    points = item["points"] or 0
    did = conn.execute(
        sa.text(
            "INSERT INTO st_deductions (site_id, item_id, subject_kind, subject_code, subject_name, points, reason, "
            "occurred_on, district, created_by, updated_by) VALUES (:s, :i, :k, :c, :n, :p, :r, :on, :d, :a, :a) "
            "RETURNING id"
        ),
        {
            "s": site_id,
            "i": item["id"],
            "k": body.subject_kind,
            "c": code,
            "n": body.subject_name.strip(),
            "p": points,
            "r": body.reason,
            "on": body.occurred_on,
            "d": s["district"],
            "a": who.user,
        },
    ).scalar_one()
    conn.execute(
        sa.text(
            "INSERT INTO credit_events (subject_kind, subject_code, subject_name, polarity, points, reason, source, "
            "source_id, site_id, district, occurred_on, created_by) VALUES (:k, :c, :n, 'bad', :p, :r, 'st_deduction', "
            ":id, :s, :d, :on, :a)"
        ),
        {
            "k": body.subject_kind,
            "c": code,
            "n": body.subject_name.strip(),
            "p": points,
            "r": f"标化工地减分项：{item['name']}（{s['name']}）：{body.reason}",
            "id": did,
            "s": site_id,
            "d": s["district"],
            "on": body.occurred_on,
            "a": who.user,
        },
    )
    audit.record(
        conn,
        who.user,
        "create",
        "st_deductions",
        did,
        None,
        {
            "site_id": site_id,
            "item": item["code"],
            "subject_kind": body.subject_kind,
            "subject_code": code,
            "points": points,
        },
        who.client,
        user_id=who.user_id,
    )
    return get(conn, did)


def get(conn: Connection, deduction_id: int) -> dict:
    row = conn.execute(sa.text(f"{SELECT} WHERE d.id = :id"), {"id": deduction_id}).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "减分记录不存在，或不在您的数据范围内。")
    return view(dict(row))


@router.post("/sites/{site_id}/deductions", status_code=201, summary="登记减分项（同时记入企业或个人信用档案）")
def create_deduction(
    site_id: int,
    body: NewDeduction,
    request: Request,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> JSONResponse:
    key = idempotency.key_of(request)
    return idempotency.run(
        conn,
        who.user_id,
        key,
        idempotency.body_hash("deduction", site_id, body.model_dump()),
        lambda: (201, create(conn, who, site_id, body)),
    )


@router.get("/deductions", summary="减分记录查询（按权限范围）")
def list_deductions(
    site_id: int | None = None,
    district: str | None = None,
    subject_code: str | None = None,
    subject_kind: str | None = None,
    item_code: str | None = None,
    date_from: date | None = Query(None, alias="from"),
    date_to: date | None = Query(None, alias="to"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require("site.view", "查看减分记录")
    where, params = ["true"], {"limit": limit, "offset": offset}
    for name, value, column in (
        ("site", site_id, "d.site_id"),
        ("district", district, "d.district"),
        ("subject", (subject_code or "").strip().upper() or None, "upper(d.subject_code)"),
        ("kind", subject_kind, "d.subject_kind"),
        ("item", item_code, "c.code"),
    ):
        if value is not None:
            where.append(f"{column} = :{name}")
            params[name] = value
    if date_from:
        where.append("d.occurred_on >= :from")
        params["from"] = date_from
    if date_to:
        where.append("d.occurred_on <= :to")
        params["to"] = date_to
    sql = " AND ".join(where)
    total = conn.execute(
        sa.text(f"SELECT count(*) FROM st_deductions d JOIN st_catalog c ON c.id = d.item_id WHERE {sql}"), params
    ).scalar()
    rows = (
        conn.execute(
            sa.text(f"{SELECT} WHERE {sql} ORDER BY d.occurred_on DESC, d.id DESC LIMIT :limit OFFSET :offset"), params
        )
        .mappings()
        .all()
    )
    return {"total": total, "deductions": [view(dict(r)) for r in rows]}


@router.get("/deductions/{deduction_id}", summary="减分记录详情")
def deduction_detail(
    deduction_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    who.require("site.view", "查看减分记录")
    return get(conn, deduction_id)
