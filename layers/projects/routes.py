"""``/api/registers/projects``: the project register's API — list and search, one project with everything linked to
it (the one query API of DC-01), create and update (version-checked, audited), Excel export and import.

Reads run on the principal's connection: row-level security shows a district account its district's projects and a
unit the projects of its granted sites; a project outside the scope is a 404 like one that does not exist."""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, db_write
from geo import audit, cases, records
from geo.divisions import DISTRICT_NAMES
from layers.projects import excel, register

router = APIRouter(prefix="/api/registers/projects", tags=["项目库"])

VIEW, EDIT, IMPORT, EXPORT = "registers.view", "registers.edit", "registers.import", "registers.export"
MODULES = {"standard_sites": "标化工地", "drawing_review": "施工图联审", "projects": "项目库"}

District = Literal[DISTRICT_NAMES]  # type: ignore[valid-type]
Stage = Literal[register.STAGE_NAMES]  # type: ignore[valid-type]
ProjectType = Literal[register.PROJECT_TYPES]  # type: ignore[valid-type]
Sort = Literal[tuple(register.SORTS)]  # type: ignore[valid-type]


@router.get("", summary="项目库查询（按项目代码、名称、施工许可证号检索；区县、阶段、工程类别筛选；分页）")
def list_projects(
    q: str | None = Query(None, max_length=100, description="项目代码、名称、地址、单位或施工许可证号中的文字"),
    district: District | None = Query(None),
    stage: Stage | None = Query(None),
    project_type: ProjectType | None = Query(None),
    sort: Sort = Query("project_code"),
    limit: int = Query(20, ge=1, le=200),
    offset: int = Query(0, ge=0, le=1_000_000),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require(VIEW, "查看项目库")
    total, rows = register.query(conn, q, district, stage, project_type, sort, limit, offset)
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "stages": list(register.STAGE_NAMES),
        "projects": [register.view(r) for r in rows],
    }


@router.get("/columns", summary="Excel 导入导出的列说明")
def import_columns(who: Principal = Depends(principal)) -> dict:
    who.require(VIEW, "查看项目库")
    return {"sheet": excel.SHEET, "columns": excel.columns()}


@router.get("/export", summary="导出项目库（Excel，按当前检索和筛选条件）")
def export_projects(
    q: str | None = Query(None, max_length=100),
    district: District | None = Query(None),
    stage: Stage | None = Query(None),
    project_type: ProjectType | None = Query(None),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> Response:
    who.require(EXPORT, "导出项目库")
    total, rows = register.query(conn, q, district, stage, project_type, "project_code", None)
    audit.record(
        conn,
        who.user,
        "export",
        "projects",
        None,
        client=who.client,
        user_id=who.user_id,
        detail={
            "format": "xlsx",
            "rows": total,
            "filters": {"q": q, "district": district, "stage": stage, "project_type": project_type},
        },
    )
    disposition = f"attachment; filename=\"projects.xlsx\"; filename*=UTF-8''{quote('项目库.xlsx')}"
    return Response(excel.export_xlsx(rows), media_type=excel.XLSX, headers={"Content-Disposition": disposition})


@router.post("/import", summary="导入项目（Excel；dry_run 只检查，commit 全部通过才导入，否则一行也不导入）")
def import_projects(
    response: Response,
    file: UploadFile = File(...),
    mode: Literal["dry_run", "commit"] = Query("dry_run"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(IMPORT, "导入项目库")
    report = excel.import_xlsx(conn, file.file.read(), mode == "commit", who)
    if mode == "commit":
        response.status_code = 201
    return report


@router.post("", status_code=201, summary="登记项目")
def create_project(
    body: register.ProjectIn,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(EDIT, "登记项目")
    return register.view(register.create(conn, body, who))


@router.get("/{code}", summary="项目详情及其在各模块的关联记录（一次查询）")
def project_detail(
    code: str, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    who.require(VIEW, "查看项目库")
    row = register.require(conn, code)
    linked = records.linked(conn, "projects", row)
    for groups in linked.values():
        for group in groups.values():  # a case's states in Chinese (草稿, 待监理审核 …) for the page
            case = cases.get(group["kind"]) if group["kind"] else None
            group["states"] = dict(case.states) if case else {}
    return {
        "project": register.view(row),
        "record_url": f"/records/projects/{row['project_code']}",
        "linked": {
            module: {"title": MODULES.get(module, module), "groups": groups} for module, groups in linked.items()
        },
    }


@router.patch("/{code}", summary="修改项目信息（须带读取时的版本号）")
def update_project(
    code: str,
    body: register.ProjectUpdate,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(EDIT, "修改项目信息")
    return register.view(register.update(conn, code, body, who))
