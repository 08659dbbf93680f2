"""``/api/registers/persons``: the personnel register's API (list with name search and filters, detail, unmask,
create, update, Excel import and export).

Reading needs ``registers.view``, writing ``registers.edit`` (import ``registers.import``, export
``registers.export``); every answer shows ID numbers and phones masked. ``POST /{id}/unmask`` (``person.unmask``)
answers the person in the clear and writes 「查看个人信息」 to the operation log; an export by someone holding
``person.unmask`` is in the clear too, with one such entry for the file.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit, records
from geo.bounds import MOBILE, RESIDENT_ID, USCC, Code, Day, RecordId, Text, Version
from geo.errors import Invalid
from layers.persons import register as reg

router = APIRouter(prefix="/api/registers/persons", tags=["人员库"])

VIEW, EDIT, IMPORT, EXPORT = "registers.view", "registers.edit", "registers.import", "registers.export"
EXPORT_LIMIT = 20_000  # persons in one Excel export


class RegistrationIn(BaseModel):
    reg_type: Text(50, 1) = Field(title="注册类别", description="注册类别（如 一级建造师）")
    reg_no: Text(60, 1) = Field(title="注册证书编号")
    specialty: Text(50) | None = Field(None, title="注册专业")
    enterprise_uscc: Code(USCC, blank=True) | None = Field(None, title="注册单位统一社会信用代码")
    valid_to: Day() | None = Field(None, title="注册有效期至")


class EmploymentIn(BaseModel):
    enterprise_uscc: Code(USCC) = Field(title="单位统一社会信用代码")
    enterprise_name: Text(200) | None = Field(None, title="单位名称")
    role: Text(50) | None = Field(None, title="岗位")
    started_on: Day() = Field(title="入职日期")
    ended_on: Day() | None = Field(None, title="离职日期")


class PersonIn(BaseModel):
    name: Text(50, 1) = Field(title="姓名")
    id_number: Code(RESIDENT_ID) = Field(title="身份证号", description="18 位，含校验位")
    phone: Code(MOBILE, blank=True) | None = Field(None, title="手机号")
    categories: list[Text(20)] = Field(default_factory=list, title="人员类别", max_length=10)
    district: Text(20) | None = Field(None, title="所属区县")
    expert_kinds: list[Text(30)] = Field(default_factory=list, title="专家类别", max_length=10)
    specialties: list[Text(50)] = Field(default_factory=list, title="专业", max_length=50)
    expert_groups: list[Text(50)] = Field(default_factory=list, title="专家分组", max_length=20)
    registrations: list[RegistrationIn] = Field(default_factory=list, title="注册执业", max_length=50)
    employment: list[EmploymentIn] = Field(default_factory=list, title="从业经历", max_length=100)


class PersonUpdate(BaseModel):
    version: Version = Field(title="版本号")
    name: Text(50, 1) | None = Field(None, title="姓名")
    id_number: Code(RESIDENT_ID) | None = Field(None, title="身份证号")
    phone: Code(MOBILE, blank=True) | None = Field(None, title="手机号")
    categories: list[Text(20)] | None = Field(None, title="人员类别", max_length=10)
    district: Text(20) | None = Field(None, title="所属区县")
    expert_kinds: list[Text(30)] | None = Field(None, title="专家类别", max_length=10)
    specialties: list[Text(50)] | None = Field(None, title="专业", max_length=50)
    expert_groups: list[Text(50)] | None = Field(None, title="专家分组", max_length=20)
    registrations: list[RegistrationIn] | None = Field(None, title="注册执业", max_length=50)
    employment: list[EmploymentIn] | None = Field(None, title="从业经历", max_length=100)


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, date) else v


def _detail(conn: Connection, row: dict, unmasked: bool) -> dict:
    """The person with the registrations, the employment history and everything linked to it (geo.records:
    the standardized-site expert pool entry and its reviews with their projects …), read on the caller's
    connection."""
    out = reg.view(row, unmasked)
    kids = reg.children(conn, row["id"])
    out["registrations"] = [{k: _iso(v) for k, v in r.items()} for r in kids["registrations"]]
    out["employment"] = [{k: _iso(v) for k, v in r.items()} for r in kids["employment"]]
    linked = records.linked(conn, "persons", row)
    out["linked"] = {
        module: {
            title: {**group, "rows": [{k: _iso(v) for k, v in r.items()} for r in group["rows"]]}
            for title, group in groups.items()
        }
        for module, groups in linked.items()
        if module != "persons"  # its own links are the registrations and employment above
    }
    return out


@router.get("/options", summary="人员库选项（人员类别、专家类别、性别）")
def options(who: Principal = Depends(principal)) -> dict:
    who.require(VIEW, "查看人员库")
    return {
        "categories": reg.CATEGORIES,
        "expert_kinds": reg.EXPERT_KINDS,
        "genders": reg.GENDERS,
        "can_edit": who.can(EDIT),
        "can_import": who.can(IMPORT),
        "can_export": who.can(EXPORT),
        "can_unmask": who.can(reg.UNMASK),
    }


@router.get("", summary="人员列表（姓名检索、人员类别、所在企业、区县，分页）")
def list_persons(
    q: Text(50) | None = Query(None, description="姓名（包含）"),
    category: str | None = Query(None, description="人员类别代码"),
    enterprise: str | None = Query(None, description="现任职企业的统一社会信用代码"),
    district: Text(20) | None = Query(None, description="所属区县"),
    limit: int = Query(20, ge=1, le=200),
    offset: int = Query(0, ge=0),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require(VIEW, "查看人员库")
    where = reg.filters(q, category, enterprise, district)
    total, rows = reg.query(conn, where, limit, offset, searched=bool(q and q.strip()))
    return {"total": total, "limit": limit, "offset": offset, "persons": [reg.view(r) for r in rows]}


@router.get("/export", summary="导出人员库（Excel；无「查看个人信息明文」权限时身份证号、手机号脱敏）")
def export_persons(
    q: Text(50) | None = None,
    category: str | None = None,
    enterprise: str | None = None,
    district: Text(20) | None = None,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> Response:
    who.require(EXPORT, "导出人员库")
    where = reg.filters(q, category, enterprise, district)
    total = conn.execute(sa.select(sa.func.count()).select_from(reg.t.persons).where(*where)).scalar_one()
    if total > EXPORT_LIMIT:  # a sheet a clerk can open, written within a request's time
        raise Invalid(
            "too_many_rows",
            f"符合条件的人员有 {total} 人，超过单次导出上限 {EXPORT_LIMIT} 人，请按姓名、类别、企业或区县缩小范围后再导出。",
        )
    rows = reg.export_rows(conn, where)
    unmasked = who.can(reg.UNMASK)
    filters = {"q": q, "category": category, "enterprise": enterprise, "district": district}
    audit.record(
        conn,
        who.user,
        "export",
        "persons",
        None,
        client=who.client,
        user_id=who.user_id,
        detail={"format": "xlsx", "rows": len(rows), "unmasked": unmasked, "filters": filters},
    )
    if unmasked:  # the file holds the numbers in the clear: one 「查看个人信息」 entry for it
        audit.record(
            conn,
            who.user,
            "unmask",
            "persons",
            None,
            client=who.client,
            user_id=who.user_id,
            detail={"columns": list(reg.MASKED), "export": True, "rows": len(rows), "filters": filters},
        )
    disposition = f"attachment; filename=\"persons.xlsx\"; filename*=UTF-8''{quote('人员库.xlsx')}"
    return Response(reg.export_xlsx(rows, unmasked), media_type=reg.XLSX, headers={"Content-Disposition": disposition})


@router.post("/import", summary="导入人员（Excel；mode=dry_run 试导入，commit 全部通过才导入）")
def import_persons(
    response: Response,
    file: UploadFile = File(...),
    mode: str = Query("dry_run"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(IMPORT, "导入人员")
    if mode not in ("dry_run", "commit"):
        raise ApiError(422, "invalid_mode", "mode 应为 dry_run（试导入）或 commit（正式导入）。", "mode")
    report = reg.import_xlsx(conn, file.file.read(), mode == "commit", who.user, who.client, who.user_id)
    if mode == "commit":
        response.status_code = 201
    return report


@router.post("", status_code=201, summary="新增人员")
def create_person(
    body: PersonIn, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> dict:
    who.require(EDIT, "新增人员")
    reg.create(conn, body.model_dump(), who.user, who.client, who.user_id)
    row = reg.get_by_id_number(conn, body.id_number)
    assert row is not None
    return _detail(conn, row, False)


@router.get("/{person_id}", summary="人员详情（注册执业、从业经历、关联记录；身份证号、手机号脱敏）")
def person_detail(
    person_id: RecordId, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    who.require(VIEW, "查看人员库")
    return _detail(conn, reg.get(conn, person_id), False)


@router.post("/{person_id}/unmask", summary="查看个人信息明文（需「查看个人信息明文」权限，记入操作日志）")
def unmask_person(
    person_id: RecordId, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> dict:
    who.require(VIEW, "查看人员库")
    who.require(reg.UNMASK, "查看个人信息明文")
    return reg.reveal_person(conn, person_id, who)


@router.patch("/{person_id}", summary="修改人员信息（带版本号）")
def update_person(
    person_id: RecordId,
    body: PersonUpdate,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(EDIT, "修改人员信息")
    data = body.model_dump(exclude={"version"}, exclude_unset=True)
    reg.update(conn, person_id, data, who.user, body.version, who.client, who.user_id)
    return _detail(conn, reg.get(conn, person_id), False)
