"""Routes made from a case declaration (``geo.cases.CaseType``): a module writes what is its own, the factory the rest.

``case_routes(router, case, path, view=...)`` adds to ``router``:

- ``GET  {path}`` — the list: the declaration's filters as query parameters (checked: an unknown state or a
  malformed id is a 422), ``sort``, ``limit``/``offset``; rows limited by row-level security and the declaration's
  ``restrict`` rule; ``{"total", <items_key>: [view(row)…]}``;
- ``GET  {path}.xlsx`` — the same list as an Excel workbook with the fields' Chinese labels (``<view>.export``
  permission; the export is logged);
- ``GET  {path}/{id}`` — the record: ``view(row)``, ``detail(row)``, the history and the actions the principal may take
  (``detail_route=False``: not generated, the module serves its own — e.g. the expert's view of a review task);
- ``POST {path}/{id}/actions/{action}`` — one route for every action: the permission, the visibility, the version
  (stale: 409, nothing changed) and the reason are checked; ``prepare`` computes the columns the action sets (and may
  refuse with a reason); the transition, its history row and audit record are one transaction; ``after`` runs in it.

``GET /api/cases`` serves every declared case type's labels (states, actions, fields) for the front end.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response
from openpyxl import Workbook
from openpyxl.styles import Font
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, db_write
from geo import audit, cases, workflow
from geo.bounds import Text, Version
from geo.cases import Action, CaseType
from geo.errors import Conflict, NotFound

router = APIRouter(prefix="/api/cases", tags=["办件"])

View = Callable[[Connection, dict, Principal], dict]


class ActionBody(BaseModel):
    reason: Text(1000) | None = Field(None, title="理由")
    version: Version | None = Field(None, title="版本号")


@router.get("", summary="所有办件类型：状态、操作与字段的中文名称（前端显示用）")
def case_types() -> dict:
    return {"types": [c.labels() for c in cases.all_types()]}


def visible(
    conn: Connection,
    case: CaseType,
    case_id: int,
    who: Principal,
    restrict: bool = True,
    params: dict[str, str] | None = None,
) -> dict:
    """The case as ``who`` may see it (row-level security, then the declaration's ``restrict``), else 404."""
    t = case.sa_table
    cond = [t.c.id == case_id]
    if restrict and case.restrict is not None:
        extra = case.restrict(who, t, conn, params or {})
        if extra is not None:
            cond.append(extra)
    row = conn.execute(case.select().where(*cond)).mappings().first()
    if row is None:
        raise NotFound("not_found", f"{case.title}不存在，或不在您的数据范围内。")
    return dict(row)


def case_routes(
    target: APIRouter,
    case: CaseType,
    path: str,
    *,
    view: View,
    items_key: str = "items",
    detail: View | None = None,
    prepare: Callable[[Connection, Principal, dict, Action, ActionBody], dict[str, Any]] | None = None,
    after: Callable[[Connection, Principal, dict, Action], None] | None = None,
    result: View | None = None,
    summaries: dict[str, str] | None = None,
    restrict_actions: bool = True,
    detail_route: bool = True,
) -> None:
    """Add the list, export, detail and action routes of ``case`` under ``path`` to ``target``.

    ``restrict_actions=False``: an action on a case the ``restrict`` rule hides (still within row-level security)
    is answered by the state machine (409 naming the state) rather than 404. ``detail_route=False``: no detail route
    (the module has its own at ``{path}/{id}``)."""
    s = {"list": f"{case.title}列表（按权限范围）", "xlsx": f"导出{case.title}列表（Excel）",
         "detail": f"{case.title}详情（含办理记录、可执行操作）", "action": f"{case.title}办理",
         **(summaries or {})}  # fmt: skip

    def rows_of(conn: Connection, who: Principal, request: Request, limit: int | None, offset: int) -> tuple:
        who.require(case.view, f"查看{case.title}")
        filters = case.check_filters(dict(request.query_params))
        params = dict(request.query_params)
        rows_q, count_q = case.list_query(who, filters, case.check_sort(params.get("sort")), conn, params)
        if limit is not None:
            rows_q = rows_q.limit(limit).offset(offset)
        total = conn.execute(count_q).scalar_one()
        return total, [dict(r) for r in conn.execute(rows_q).mappings()], filters

    @target.get(path, summary=s["list"], name=f"{case.kind}_list")
    def list_cases(
        request: Request,
        limit: int = Query(50, ge=1, le=500),
        offset: int = Query(0, ge=0),
        who: Principal = Depends(principal),
        conn: Connection = Depends(db_read, scope="function"),
    ) -> dict:
        total, rows, _ = rows_of(conn, who, request, limit, offset)
        return {"total": total, items_key: [view(conn, r, who) for r in rows]}

    @target.get(f"{path}.xlsx", summary=s["xlsx"], name=f"{case.kind}_xlsx")
    def export_cases(
        request: Request, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
    ) -> Response:
        who.require(case.export_permission, f"导出{case.title}")
        total, rows, filters = rows_of(conn, who, request, None, 0)
        audit.record(conn, who.user, "export", case.table, None, None, {"filters": filters, "rows": total,
                     "format": "xlsx"}, who.client, user_id=who.user_id)  # fmt: skip
        return xlsx_response(case, [view(conn, r, who) for r in rows])

    def case_detail(
        case_id: int,
        request: Request,
        who: Principal = Depends(principal),
        conn: Connection = Depends(db_read, scope="function"),
    ) -> dict:
        who.require(case.view, f"查看{case.title}")
        row = visible(conn, case, case_id, who, params=dict(request.query_params))
        out = {**view(conn, row, who), **(detail(conn, row, who) if detail else {})}
        if case.states:  # a register without a workflow has no history of transitions
            out["history"] = workflow.history(conn, case.kind, case_id)
        return out

    if detail_route:
        target.get(f"{path}/{{case_id}}", summary=s["detail"], name=f"{case.kind}_detail")(case_detail)

    if not case.actions:
        return

    def take(conn: Connection, who: Principal, case_id: int, action: str, body: ActionBody) -> dict:
        a = case.action(action)
        if a.handled_by:
            raise Conflict("handled_elsewhere", f"「{a.title}」由{a.handled_by}环节办理，不能在此操作。", "action")
        who.require(a.permission, f"{a.title}{case.title}")
        row = visible(conn, case, case_id, who, restrict_actions)
        values = prepare(conn, who, row, a, body) if prepare else {}
        changed = case.machine.apply(conn, case_id, action, who, body.reason, values, body.version)
        if after:
            after(conn, who, changed, a)
        return (result or view)(conn, changed, who)

    _actions[case.kind] = take

    @target.post(f"{path}/{{case_id}}/actions/{{action}}", summary=s["action"], name=f"{case.kind}_action")
    def case_action(
        case_id: int,
        action: str,
        body: ActionBody | None = None,
        who: Principal = Depends(principal),
        conn: Connection = Depends(db_write, scope="function"),
    ) -> dict:
        return take(conn, who, case_id, action, body or ActionBody())


# The action route of every case type with actions: kind -> take(conn, who, case_id, action, body).
_actions: dict[str, Callable[[Connection, Principal, int, str, ActionBody], dict]] = {}


def act(
    conn: Connection,
    kind: str,
    case_id: int,
    action: str,
    who: Principal,
    reason: str | None = None,
    version: int | None = None,
) -> dict:
    """Take an action on a case exactly as its action route does (permission, visibility, the module's ``prepare``
    and ``after``, the transition with its history and audit record), in ``conn``'s transaction — for callers that
    are not an HTTP request (the demo replays the flow this way)."""
    return _actions[kind](conn, who, case_id, action, ActionBody(reason=reason, version=version))


def xlsx_response(case: CaseType, items: list[dict]) -> Response:
    """The list as a workbook: the declared columns with their Chinese headers."""
    columns = list(case.list_columns)
    wb = Workbook()
    ws = wb.active
    ws.title = case.title[:31]
    ws.append([label for _, label in columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for item in items:
        ws.append([_cell(item.get(name)) for name, _ in columns])
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    name = quote(f"{case.title}.xlsx")
    return Response(
        buf.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"},
    )


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return str(value)
    return value
