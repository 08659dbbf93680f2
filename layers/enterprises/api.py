"""``/api/registers/enterprises``: the enterprise register's API (list and search, detail, create, update, merge,
qualifications, Excel import and export). Reading needs ``registers.view``; writing ``registers.edit``; importing
``registers.import``; exporting ``registers.export``. A merge moves records city-wide, so it needs a city-wide
account."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit
from geo.bounds import USCC, Code, Day, RecordId, Text, Version, Window
from geo.divisions import DISTRICT_NAMES
from layers.enterprises import store
from layers.enterprises.tables import ENTERPRISE_TYPES

router = APIRouter(prefix="/api/registers/enterprises", tags=["企业库"])

QUALIFICATION_WINDOW = Window(years_ahead=30)  # certificates run for years


class EnterpriseFields(BaseModel):
    name: Text(200, 1) | None = Field(None, title="企业名称")
    types: list[Text(30)] | None = Field(None, title="企业类型", max_length=len(ENTERPRISE_TYPES))
    legal_rep: Text(50) | None = Field(None, title="法定代表人")
    tech_lead: Text(50) | None = Field(None, title="技术负责人")
    address: Text(200) | None = Field(None, title="地址")
    district: Text(20) | None = Field(None, title="所在区县")


class EnterpriseIn(EnterpriseFields):
    uscc: Code(USCC) = Field(title="统一社会信用代码")
    name: Text(200, 1) = Field(title="企业名称")


class EnterpriseUpdate(EnterpriseFields):
    version: Version = Field(title="版本号")


class QualificationIn(BaseModel):
    category: Text(100, 1) = Field(title="资质类别")
    grade: Text(50) | None = Field(None, title="等级")
    scope: Text(500) | None = Field(None, title="资质范围")
    number: Text(100, 1) = Field(title="证书编号")
    valid_from: Day(QUALIFICATION_WINDOW) | None = Field(None, title="有效期起")
    valid_to: Day(QUALIFICATION_WINDOW) | None = Field(None, title="有效期至")


class MergeIn(BaseModel):
    merged_uscc: Code(USCC) = Field(title="被合并企业的统一社会信用代码")
    reason: Text(500) | None = Field(None, title="合并原因")


def _filters(
    q: str | None = Query(None, max_length=100, description="企业名称（包含）或统一社会信用代码"),
    type: str | None = Query(None, description="企业类型代码"),
    district: str | None = Query(None, max_length=20),
    expired: bool | None = Query(None, description="是否有过期资质"),
) -> dict:
    return {"q": q, "type_": type or None, "district": district or None, "expired": expired}


@router.get("", summary="企业库查询（名称包含、类型、区县、资质是否过期）")
def list_enterprises(
    filters: dict = Depends(_filters),
    limit: int = Query(20, ge=1, le=500),
    offset: int = Query(0, ge=0),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require("registers.view", "查看企业库")
    total, items = store.query(conn, **filters, limit=limit, offset=offset)
    return {"total": total, "items": items}


@router.get("/meta", summary="企业类型与区县（筛选和编辑的选项）")
def meta(who: Principal = Depends(principal)) -> dict:
    who.require("registers.view", "查看企业库")
    return {
        "types": ENTERPRISE_TYPES,
        "districts": list(DISTRICT_NAMES),
        "columns": list(store.HEADERS.values()),
        "can": {p: who.can(f"registers.{p}") for p in ("edit", "import", "export")}
        | {"merge": who.can("registers.edit") and who.scope.all},
    }


@router.get("/export", summary="导出企业库（Excel，按当前筛选）")
def export_enterprises(
    filters: dict = Depends(_filters),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> Response:
    who.require("registers.export", "导出企业库")
    total, items = store.query(conn, **filters, limit=None)
    audit.record(
        conn,
        who.user,
        "export",
        "enterprises",
        None,
        client=who.client,
        user_id=who.user_id,
        detail={"format": "xlsx", "rows": total, "filters": filters},
    )
    disposition = f"attachment; filename=\"enterprises.xlsx\"; filename*=UTF-8''{quote('企业库.xlsx')}"
    return Response(store.export_xlsx(conn, items), media_type=store.XLSX, headers={"Content-Disposition": disposition})


@router.get("/import/template", summary="企业导入模板（Excel）")
def import_template(who: Principal = Depends(principal)) -> Response:
    who.require("registers.import", "导入企业")
    disposition = f"attachment; filename=\"enterprises-template.xlsx\"; filename*=UTF-8''{quote('企业导入模板.xlsx')}"
    return Response(store.template_xlsx(), media_type=store.XLSX, headers={"Content-Disposition": disposition})


@router.post("/import", summary="导入企业（Excel；mode=dry_run 试导入，commit 全部通过才导入）")
def import_enterprises(
    response: Response,
    file: UploadFile = File(...),
    mode: str = Query("dry_run"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require("registers.import", "导入企业")
    if mode not in ("dry_run", "commit"):
        raise ApiError(422, "invalid_mode", "mode 应为 dry_run（试导入）或 commit（正式导入）。", "mode")
    report = store.import_xlsx(conn, file.file.read(), mode == "commit", who.user, who.client, who.user_id)
    if mode == "commit":
        response.status_code = 201
    return report


@router.post("", status_code=201, summary="登记企业")
def create_enterprise(
    body: EnterpriseIn, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> dict:
    who.require("registers.edit", "登记企业")
    data = body.model_dump(exclude={"uscc"}, exclude_unset=True)
    return store.create(conn, body.uscc, data, who.user, who.client, who.user_id)


@router.get("/{uscc}", summary="企业详情（主要人员、资质、业绩、市场行为）")
def enterprise_detail(
    uscc: str, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    who.require("registers.view", "查看企业库")
    return store.detail(conn, uscc)


@router.patch("/{uscc}", summary="修改企业信息")
def update_enterprise(
    uscc: str,
    body: EnterpriseUpdate,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require("registers.edit", "修改企业信息")
    data = body.model_dump(exclude={"version"}, exclude_unset=True)
    return store.update(conn, uscc, data, body.version, who.user, who.client, who.user_id)


@router.post("/{uscc}/qualifications", status_code=201, summary="登记企业资质")
def add_qualification(
    uscc: str,
    body: QualificationIn,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require("registers.edit", "登记企业资质")
    return store.add_qualification(conn, uscc, body.model_dump(), who.user, who.client, who.user_id)


@router.delete("/{uscc}/qualifications/{qualification_id}", status_code=204, summary="删除企业资质")
def delete_qualification(
    uscc: str,
    qualification_id: RecordId,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> Response:
    who.require("registers.edit", "删除企业资质")
    store.delete_qualification(conn, uscc, qualification_id, who.user, who.client, who.user_id)
    return Response(status_code=204)


@router.post("/{uscc}/merge", summary="合并重复企业（把另一家的全部关联记录并入本企业）")
def merge_enterprise(
    uscc: str,
    body: MergeIn,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require("registers.edit", "合并企业")
    if not who.scope.all:
        raise ApiError(
            403,
            "merge_needs_city_scope",
            "合并企业会改动全市的项目、信用和账号记录，须由市级账号办理。",
            None,
            {"scope": who.scope.describe()},
        )
    return store.merge(conn, uscc, body.merged_uscc, who.user, body.reason, who.client, who.user_id)
