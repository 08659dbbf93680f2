"""The handled-matter register's API, ``/api/registers/matters``: the case types, the cross-module list (type,
status, applicant or unit, project, district, date range of creation; paged; ``materials`` is the number of files),
one matter's detail (``/{kind}/{id}``: the same particulars and history, and ``material_files``: each submitted file
with its name, kind of material, type, size, upload time and the module's link to the file), and the list's Excel
export. Read on the principal's connection: each source table's row-level security and each declaration's
``restrict`` rule apply, and only the case types whose ``view`` permission the principal holds are included."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request, Response
from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, db_write
from geo import audit, cases
from geo.bounds import RecordId
from geo.errors import Invalid, NotFound
from layers.matters import query

router = APIRouter(prefix="/api/registers/matters", tags=["办件库"])

VIEW, EXPORT = "registers.view", "registers.export"
EXPORT_LIMIT = 100_000
RECORDED = "已登记"  # the status shown for a case type without a workflow


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def item(row: dict, steps: list[dict]) -> dict:
    case = cases.get(row["kind"])
    assert case is not None
    states = case.states
    actions = {a.name: a.title for a in case.actions}
    return {
        "kind": row["kind"],
        "kind_title": case.title,
        "id": row["id"],
        "url": f"/records/{row['kind']}/{row['id']}",
        "status": row["status"],
        "status_title": states.get(row["status"], row["status"]) if states else RECORDED,
        "applicant": row["created_by"],
        "applicant_name": row["applicant_name"] or audit.actor_name(row["created_by"]),
        "unit": row["unit"],
        "site_id": row["site_id"],
        "project_code": row["project_code"],
        "project_name": row["project_name"],
        "district": row["district"],
        "materials": row["materials"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
        "history": [
            {
                "action": s["action"],
                "action_title": actions.get(s["action"], "创建" if s["action"] == "create" else s["action"]),
                "to_state": s["to_state"],
                "to_state_title": states.get(s["to_state"], s["to_state"]),
                "actor": audit.actor_name(s["actor"]),
                "at": _iso(s["at"]),
            }
            for s in steps
        ],
    }


def rows(conn: Connection, who: Principal, params: dict[str, str], limit: int | None, offset: int) -> tuple[int, list]:
    f = query.check(params, query.viewable(who))
    u = query.union(conn, who, f)
    if u is None:
        return 0, []
    total = conn.execute(sa.select(sa.func.count()).select_from(u)).scalar_one()
    q = sa.select(u).order_by(u.c.created_at.desc().nulls_last(), u.c.kind, u.c.id.desc())
    if limit is not None:
        q = q.limit(limit).offset(offset)
    found = [dict(r) for r in conn.execute(q).mappings()]
    steps = query.history(conn, [(r["kind"], r["id"]) for r in found])
    return total, [item(r, steps.get((r["kind"], r["id"]), [])) for r in found]


@router.get("/types", summary="办件类型及其状态（筛选用）")
def types(who: Principal = Depends(principal)) -> dict:
    who.require(VIEW, "查看办件库")
    return {
        "types": [
            {"kind": c.kind, "title": c.title, "states": c.states or {}, "workflow": bool(c.states)}
            for c in query.viewable(who)
        ]
    }


@router.get("", summary="办件列表：跨模块按类型、状态、申请人、项目、区县、日期范围检索（按权限范围）")
def list_matters(
    request: Request,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require(VIEW, "查看办件库")
    total, items = rows(conn, who, dict(request.query_params), limit, offset)
    return {"total": total, "items": items}


@router.get("/{kind}/{case_id}", summary="办件详情：类型、申请人、项目、状态、办理记录与申报材料清单")
def matter_detail(
    kind: str,
    case_id: RecordId,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require(VIEW, "查看办件库")
    case = cases.get(kind)
    missing = NotFound("not_found", "办件不存在，或不在您的数据范围内。")
    if case is None or not who.can(case.view):
        raise missing
    u = query.union(conn, who, query.Filters(kinds=(kind,)))
    assert u is not None  # the principal views this type
    row = conn.execute(sa.select(u).where(u.c.id == case_id)).mappings().first()
    if row is None:
        raise missing
    steps = query.history(conn, [(kind, case_id)])
    files = query.materials(conn, case, case_id)
    return {
        **item(dict(row), steps.get((kind, case_id), [])),
        "material_files": [{**f, "uploaded_at": _iso(f["uploaded_at"])} for f in files],
    }


COLUMNS = (
    ("kind_title", "办件类型"),
    ("id", "编号"),
    ("status_title", "状态"),
    ("applicant_name", "申请人"),
    ("unit", "申请单位"),
    ("project_code", "项目编号"),
    ("project_name", "项目名称"),
    ("district", "区县"),
    ("materials", "材料数"),
    ("created_at", "创建时间"),
    ("updated_at", "最后更新"),
    ("steps", "办理记录"),
)


@router.get(".xlsx", summary="导出办件列表（Excel，按当前筛选）")
def export_matters(
    request: Request, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> Response:
    who.require(EXPORT, "导出办件")
    params = dict(request.query_params)
    total, items = rows(conn, who, params, EXPORT_LIMIT + 1, 0)
    if total > EXPORT_LIMIT:
        raise Invalid("too_many_rows", f"符合条件的办件有 {total} 件，超过 {EXPORT_LIMIT} 件，请缩小范围后导出。")
    audit.record(conn, who.user, "export", "matters", None, None, None, who.client,
                 {"filters": params, "rows": total, "format": "xlsx"}, user_id=who.user_id)  # fmt: skip
    wb = Workbook()
    ws = wb.active
    ws.title = "办件"
    ws.append([label for _, label in COLUMNS])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for it in items:
        steps = "；".join(
            f"{(s['at'] or '')[:19].replace('T', ' ')} {s['action_title']}（{s['actor']}）" for s in it["history"]
        )
        values = {**it, "steps": steps,
                  "created_at": (it["created_at"] or "")[:19].replace("T", " "),
                  "updated_at": (it["updated_at"] or "")[:19].replace("T", " ")}  # fmt: skip
        ws.append([values.get(name) for name, _ in COLUMNS])
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return Response(
        buf.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote('办件.xlsx')}"},
    )
