"""Report requests (要求上报, VT-03): the city asks a district or county to report its farmhouse data.

Whoever reads farmhouses (``farmhouse.view``) reads the requests of their scope. A request names its scope — a district or county, optionally one township and one construction status of the
houses — a title, a note and a deadline (``farmhouse.request``, city accounts). The county sees its requests (row-
level security on ``vil_report_requests``: a district account sees its own district's only) and fulfils one, by
entry in the city system or by push from its own system (``farmhouse.edit``: district staff and the county's
``county_system`` API key), with a note; the fulfilment records how many houses in scope were created or changed
since the request was made. A request not fulfilled by its deadline is *overdue*; one fulfilled after it, *late*.
Dates are Beijing dates.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit
from geo.bounds import Day, Text, Version, Window, today
from geo.divisions import DISTRICT_NAMES
from layers.villages import FARMHOUSE_STATUS
from layers.villages.archives import PREFIX, houses

router = APIRouter(prefix=PREFIX, tags=["智慧村镇"])

VIEW, REQUEST, FULFIL = "farmhouse.view", "farmhouse.request", "farmhouse.edit"
METHODS = {"entry": "系统录入", "push": "接口推送"}
DEADLINE = Window(date(2020, 1, 1), 2)  # a deadline lies at most two years ahead

requests = sa.Table(
    "vil_report_requests",
    sa.MetaData(),
    sa.Column("id", sa.BigInteger, primary_key=True),
    *(sa.Column(c, sa.Text) for c in ("district", "township", "status", "title", "note", "fulfilled_by", "method")),
    sa.Column("fulfilment_note", sa.Text),
    sa.Column("deadline", sa.Date),
    sa.Column("fulfilled_at", sa.DateTime(timezone=True)),
    sa.Column("changed", sa.Integer),
    sa.Column("version", sa.Integer),
    sa.Column("created_at", sa.DateTime(timezone=True)),
    *(sa.Column(c, sa.Text) for c in ("created_by", "updated_by")),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)


class RequestIn(BaseModel):
    district: Text(20) = Field(title="区县")
    township: Text(50, 1) | None = Field(None, title="乡镇街道")
    status: Text(10) | None = Field(None, title="建设状态")
    title: Text(100, 1) = Field(title="标题")
    note: Text(1000) | None = Field(None, title="说明")
    deadline: Day(DEADLINE) = Field(title="截止日期")


class FulfilIn(BaseModel):
    method: Literal["entry", "push"] = Field(title="上报方式")
    note: Text(1000, 1) = Field(title="上报说明")
    version: Version = Field(title="版本")


def changed_since(conn: Connection, row: dict) -> int:
    """Houses in the request's scope created or changed since it was made (as the caller sees them)."""
    t = houses()
    cond = [t.c.district == row["district"], t.c.updated_at >= row["created_at"]]
    if row["township"]:
        cond.append(t.c.township == row["township"])
    if row["status"]:
        cond.append(t.c.status == row["status"])
    return conn.execute(sa.select(sa.func.count()).select_from(t).where(*cond)).scalar_one()


def view(row: dict, on: date) -> dict:
    out = dict(row)
    out["overdue"] = row["fulfilled_at"] is None and row["deadline"] < on
    out["late"] = row["fulfilled_at"] is not None and row["fulfilled_at"].date() > row["deadline"]
    out["method_title"] = METHODS.get(row["method"] or "")
    out["state"] = "已上报" if row["fulfilled_at"] else ("已逾期" if out["overdue"] else "待上报")
    return out


def _one(conn: Connection, rid: int, lock: bool = False) -> dict:
    query = sa.select(requests).where(requests.c.id == rid)
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "上报要求不存在，或不在您的数据范围内。", "id")
    return dict(row)


@router.post("/requests", status_code=201, summary="要求区县上报农房数据（范围、截止日期）")
def create(
    body: RequestIn, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> dict:
    who.require(REQUEST, "发起要求上报")
    if body.district not in DISTRICT_NAMES:
        raise ApiError(422, "invalid_district", f"区县「{body.district}」不存在。", "district")
    if body.status is not None and body.status not in FARMHOUSE_STATUS:
        raise ApiError(422, "invalid_status", f"建设状态应为{'、'.join(FARMHOUSE_STATUS)}之一。", "status")
    if body.deadline < today():
        raise ApiError(422, "deadline_past", "截止日期不能早于今天。", "deadline")
    row = (
        conn.execute(
            sa.insert(requests)
            .values(**body.model_dump(), created_by=who.user, updated_by=who.user)
            .returning(*requests.c)
        )
        .mappings()
        .one()
    )
    audit.record(conn, who.user, "create", "vil_report_requests", row["id"], None, body.model_dump(mode="json"),
                 who.client, user_id=who.user_id)  # fmt: skip
    return view(dict(row), today())


@router.get("/requests", summary="上报要求列表（区县只见本区县的）")
def listing(
    state: Literal["open", "overdue", "fulfilled"] | None = Query(None, description="open 待上报；overdue 已逾期"),
    district: Text(20) | None = Query(None, description="区县"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require(VIEW, "查看上报要求")
    on = today()
    cond: list[Any] = []
    if district:
        cond.append(requests.c.district == district)
    if state == "open":
        cond.append(requests.c.fulfilled_at.is_(None))
    elif state == "overdue":
        cond += [requests.c.fulfilled_at.is_(None), requests.c.deadline < on]
    elif state == "fulfilled":
        cond.append(requests.c.fulfilled_at.is_not(None))
    rows = conn.execute(
        sa.select(requests).where(*cond).order_by(requests.c.fulfilled_at.is_not(None), requests.c.deadline,
                                                  requests.c.id).limit(500)
    ).mappings()  # fmt: skip
    out = []
    for r in rows:
        item = view(dict(r), on)
        if r["fulfilled_at"] is None:
            item["changed_so_far"] = changed_since(conn, dict(r))
        out.append(item)
    return {"rows": out, "overdue": sum(1 for r in out if r["overdue"])}


@router.get("/requests/{rid}", summary="一项上报要求")
def detail(rid: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")):
    who.require(VIEW, "查看上报要求")
    row = _one(conn, rid)
    out = view(row, today())
    out["changed_so_far"] = changed_since(conn, row) if row["fulfilled_at"] is None else row["changed"]
    return out


@router.post("/requests/{rid}/fulfil", summary="区县完成上报（系统录入或接口推送，附说明）")
def fulfil(
    rid: int,
    body: FulfilIn,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(FULFIL, "完成上报")
    row = _one(conn, rid, lock=True)
    if row["fulfilled_at"] is not None:
        raise ApiError(409, "already_fulfilled", "该上报要求已完成上报，不能重复上报。", "id",
                       {"fulfilled_at": row["fulfilled_at"].isoformat(), "fulfilled_by": row["fulfilled_by"]})  # fmt: skip
    if row["version"] != body.version:
        raise ApiError(409, "version_conflict", "该上报要求已被他人修改，请刷新后重试。", "version",
                       {"version": row["version"]})  # fmt: skip
    changed = changed_since(conn, row)
    new = (
        conn.execute(
            sa.update(requests)
            .where(requests.c.id == rid)
            .values(fulfilled_at=sa.func.now(), fulfilled_by=who.user, method=body.method, fulfilment_note=body.note,
                    changed=changed, version=requests.c.version + 1, updated_at=sa.func.now(), updated_by=who.user)
            .returning(*requests.c)
        )
        .mappings()
        .one()
    )  # fmt: skip
    audit.record(conn, who.user, "fulfil", "vil_report_requests", rid, {"version": row["version"]},
                 {"method": body.method, "note": body.note, "changed": changed}, who.client, user_id=who.user_id)  # fmt: skip
    return view(dict(new), today()) | {"changed_so_far": changed}
