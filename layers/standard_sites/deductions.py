"""Deduction items (减分项, ST-20) for bad behaviour on a site, recorded by the authority.

A deduction names a configured deduction item (``st_catalog`` kind ``deduction``; the points come from it) and its
subject: an enterprise (unified social credit code) or a person (resident ID number), both checked. The deduction
and the subject's bad credit event are written in one transaction: the deduction is declared a credit feed
(``credit.feeds``, state None: on recording) and announced to the transition hooks, and the credit module writes the
event (``credit_events``) with the deduction as its source.
"""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api import idempotency
from api.accounts.ids import check_id_number, check_uscc
from api.auth import Principal, principal
from api.cases import case_routes, visible
from api.deps import db_write
from api.errors import ApiError
from geo import audit, cases, workflow
from geo.bounds import ITEM_CODE, SUBJECT_CODE, Code, Day, Text, Window
from geo.cases import CaseType, Lookup, Range
from geo.divisions import district_attr
from geo.layer.registry import Attr
from layers import credit
from layers.credit import Subject
from layers.standard_sites import common
from layers.standard_sites import tables as t
from layers.standard_sites.common import PREFIX

router = APIRouter(prefix=PREFIX, tags=["标化工地"])

SUBJECTS = {"enterprise": "企业", "person": "个人"}


class NewDeduction(BaseModel):
    item_code: Code(ITEM_CODE) = Field(title="减分项", description="减分项编码（配置中的 deduction 项）")
    subject_kind: Literal["enterprise", "person"]
    subject_code: Code(SUBJECT_CODE) = Field(title="信用代码或身份证号", description="统一社会信用代码或身份证号码")
    subject_name: Text(200, 1) = Field(title="对象名称")
    reason: Text(2000, 1) = Field(title="事由")
    occurred_on: Day(Window(years_ahead=0)) = Field(title="发生日期")


def view(row: dict) -> dict:
    code = row["subject_code"]
    if row["subject_kind"] == "person":  # an ID number is shown masked
        code = code[:6] + "*" * (len(code) - 10) + code[-4:]
    return {
        "id": row["id"],
        "site_id": row["site_id"],
        "site_code": row["site_code"],
        "site_name": row["site_name"],
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


RECORD = cases.register(
    CaseType(
        kind="st_deduction",
        title="减分记录",
        table="st_deductions",
        materials=(common.photos("deduction"),),
        states={},  # recorded once, with the subject's credit event; no workflow
        actions=(),
        fields=(
            Attr("site_id", "工地", "int", filterable=True),
            district_attr(),
            Attr("item_id", "减分项", "int"),
            Attr("subject_kind", "对象类型", choices=tuple(SUBJECTS), filterable=True),
            Attr("subject_code", "信用代码或身份证号", filterable=True),
            Attr("subject_name", "对象名称"),
            Attr("points", "扣分", "float"),
            Attr("reason", "事由"),
            Attr("occurred_on", "发生日期", "date"),
        ),
        columns=(
            ("id", "编号"),
            ("site_code", "项目编号"),
            ("site_name", "项目名称"),
            ("district", "区县"),
            ("item_code", "减分项编码"),
            ("item_name", "减分项"),
            ("subject_kind_title", "对象类型"),
            ("subject_code", "信用代码或身份证号"),
            ("subject_name", "对象名称"),
            ("points", "扣分"),
            ("reason", "事由"),
            ("occurred_on", "发生日期"),
            ("created_by", "登记人"),
        ),
        view="site.view",
        sort=("-occurred_on", "-id"),
        parsers={"subject_code": lambda v: v.strip().upper()},
        lookups=(
            Lookup("st_catalog", "item_id", {"item_code": "code", "item_name": "name"}, ("item_code",)),
            Lookup("sites", "site_id", {"site_code": "code", "site_name": "name"}),  # the project, not an internal id
        ),
        ranges=(Range("from", "occurred_on", ">="), Range("to", "occurred_on", "<=")),
    )
)


def _reason(conn: Connection, row: dict) -> str:
    item = conn.execute(sa.select(t.catalog.c.name).where(t.catalog.c.id == row["item_id"])).scalar()
    site = common.site(conn, row["site_id"])
    return f"标化工地减分项：{item}（{site['name']}）：{row['reason']}"


# A deduction is bad behaviour of its subject, recorded with it (信用库: the credit module writes the event).
credit.feeds(
    kind=RECORD.kind,
    state=None,
    event_type="st_deduction",
    title="标化工地减分项",
    polarity="bad",
    subject=lambda conn, row: Subject(row["subject_kind"], row["subject_code"], row["subject_name"]),
    points=lambda conn, row: row["points"],
    reason=_reason,
    occurred_on=lambda conn, row: row["occurred_on"],
)


def create(conn: Connection, who: Principal, site_id: int, body: NewDeduction) -> dict:
    who.require("site.deduct", "登记减分项")
    s = common.site(conn, site_id)
    if body.subject_kind == "enterprise":
        code = check_uscc(body.subject_code.strip().upper(), "subject_code")
    else:
        code = check_id_number(body.subject_code.strip().upper(), "subject_code")
    c = t.catalog
    item = (
        conn.execute(
            sa.select(c.c.id, c.c.code, c.c.name, c.c.points).where(
                c.c.kind == "deduction", c.c.code == body.item_code, c.c.active
            )
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
        sa.insert(t.deductions)
        .values(
            site_id=site_id,
            item_id=item["id"],
            subject_kind=body.subject_kind,
            subject_code=code,
            subject_name=body.subject_name.strip(),
            points=points,
            reason=body.reason,
            occurred_on=body.occurred_on,
            district=s["district"],
            created_by=who.user,
            updated_by=who.user,
        )
        .returning(t.deductions.c.id)
    ).scalar_one()
    # Recorded without a workflow: the credit module's hook writes the subject's bad credit event (feed below).
    row = conn.execute(sa.select(t.deductions).where(t.deductions.c.id == did)).mappings().one()
    workflow.run_hooks(conn, RECORD.machine, {}, dict(row), who)
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
    return get(conn, did, who)


def get(conn: Connection, deduction_id: int, who: Principal) -> dict:
    return view(visible(conn, RECORD, deduction_id, who))


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


# The list (filters site_id, district, subject_kind, subject_code, item_code, from, to), its Excel export and the
# detail come from the declaration; recording a deduction is the route above.
case_routes(
    router,
    RECORD,
    "/deductions",
    view=lambda conn, row, who: view(row),
    items_key="deductions",
    summaries={"list": "减分记录查询（按权限范围）", "detail": "减分记录详情"},
)
