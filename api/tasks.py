"""Long jobs a user starts over HTTP and follows: layer exports and import commits on the task queue (geo/tasks.py).

``POST /api/layers/{layer}/export-jobs?format=…`` (the same filters as ``GET …/export``) and
``POST /api/layers/{layer}/import-jobs`` (the same form as ``POST …/import`` with ``mode=commit``) check what the
synchronous routes check, record a run and answer 202 with it; a worker does the work as that user (their
permissions and data scope, loaded again when the job runs). ``GET /api/tasks`` lists the caller's runs (holders of
``task.manage`` may ask for everyone's with ``?all=true``), ``GET /api/tasks/{id}`` one run with its progress, and
``GET /api/tasks/{id}/result`` the file of a finished export. Another user's run is a 404, as if it did not exist.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from api.auth import Principal, load_user, require_login
from api.deps import get_layer
from api.errors import ApiError
from api.features import RESERVED, parse_bbox
from api.transfer import check_format
from geo import tasks
from geo.db import get_engine, transaction
from geo.errors import Forbidden, NotFound
from geo.layer import exporter, importer, store
from geo.layer.registry import Layer, registry
from geo.settings import get_settings

router = APIRouter(tags=["tasks"])

MANAGE = "task.manage"  # see every user's runs (administrators: "*")
STATUS_TEXT = {"queued": "排队中", "running": "进行中", "done": "已完成", "failed": "失败"}
MAX_LIST = 200


# -- the work, in a worker ------------------------------------------------------------------------------------------


def _owner(run: tasks.Run) -> Principal:
    """The run's owner as they are now (a disabled account or a withdrawn permission stops the job)."""
    with get_engine().connect() as conn:
        who = load_user(conn, run.owner_id, via="task") if run.owner_id else None
    if who is None:
        raise Forbidden("owner_inactive", "发起任务的账号不存在或已停用，任务未执行。")
    return who


def _layer(run: tasks.Run, permission: str, what: str) -> tuple[Layer, Principal]:
    layer = registry.get(run.params["layer"])
    if layer is None:
        raise NotFound("layer_not_found", f"图层「{run.params['layer']}」不存在。", "layer")
    who = _owner(run)
    for needed in (layer.view, permission):
        if not who.can(needed):
            raise Forbidden("forbidden", f"没有权限{what}图层「{layer.title}」。", None, {"permission": needed})
    return layer, who


def export_body(run: tasks.Run) -> tasks.Outcome:
    """导出图层"""
    p = run.params
    layer = registry.get(p["layer"])
    layer, who = _layer(run, layer.export_permission if layer else None, "导出")
    query = store.Query(
        bbox=parse_bbox(p.get("bbox")),
        filters=store.parse_filters(layer, p.get("filters") or {}),
        q=p.get("q"),
        sort=store.parse_sort(layer, p.get("sort")),
        limit=None,
    )
    with transaction(who.scope) as conn:
        result = exporter.export(conn, layer, query, p["format"], who.user, p.get("client"), run.progress)
    ext = result.filename.rsplit(".", 1)[1]
    return tasks.Outcome(
        {
            "layer": layer.id,
            "format": p["format"],
            "rows": result.rows,
            **({"notes": result.notes} if result.notes else {}),
        },
        result.data,
        f"{layer.title}.{ext}",
        result.media_type,
    )


def import_body(run: tasks.Run) -> tasks.Outcome:
    """导入图层"""
    p = run.params
    layer = registry.get(p["layer"])
    layer, who = _layer(run, layer.import_permission if layer else None, "导入")
    if not who.can(layer.edit):
        raise Forbidden("forbidden", f"没有权限编辑图层「{layer.title}」。", None, {"permission": layer.edit})
    data = run.input()
    try:
        src = importer.read_file(data, p.get("filename"), layer, p.get("crs"), p.get("lon"), p.get("lat"))
        rows = len(src)
        run.progress(0, rows)
        done = [0]

        def copied(n: int) -> None:
            done[0] += n
            run.progress(done[0], rows)

        with transaction(who.scope) as conn:
            checked = importer.check(conn, layer, src, repair=p.get("repair", False), margin=p["margin"])
            if not checked.ok:
                raise tasks.Failed(
                    f"文件中有 {checked.report['rejected']} 行未通过检查，未导入任何数据。请按报告修改后重新上传。",
                    checked.report,
                )
            checked.report["committed"] = importer.commit_import(conn, layer, checked, who.user, src.filename, copied)
    except importer.ImportFileError as e:
        raise tasks.Failed(e.message, {"code": e.code, "field": e.field, "detail": e.detail})
    return tasks.Outcome(checked.report)


export_layer = tasks.task(name="layer_export", queue=tasks.DEFAULT_QUEUE)(tasks.tracked(export_body))
import_layer = tasks.task(name="layer_import", queue=tasks.DEFAULT_QUEUE)(tasks.tracked(import_body))


# -- the routes ---------------------------------------------------------------------------------------------------


def _accepted(run_id: int) -> JSONResponse:
    body = public(_read(run_id))
    return JSONResponse(body, status_code=202, headers={"Location": f"/api/tasks/{run_id}"})


@router.post("/api/layers/{layer_id}/export-jobs", status_code=202)
def start_export(
    request: Request,
    format: str = Query("geojson"),
    layer: Layer = Depends(get_layer),
    who: Principal = Depends(require_login),
) -> JSONResponse:
    who.require(layer.export_permission, f"导出图层「{layer.title}」")
    check_format(format)
    qp = request.query_params
    filters = {k: v for k, v in qp.items() if k not in RESERVED}
    parse_bbox(qp.get("bbox"))  # refused here (422), not in the worker
    store.parse_filters(layer, filters)
    store.parse_sort(layer, qp.get("sort"))
    params = {
        "layer": layer.id,
        "format": format,
        "filters": filters,
        "bbox": qp.get("bbox"),
        "q": (qp.get("q") or "").strip() or None,
        "sort": qp.get("sort"),
        "client": who.client,
    }
    title = f"导出「{layer.title}」（{format.upper()}）"
    return _accepted(_submit(export_layer, who, "layer_export", title, params))


@router.post("/api/layers/{layer_id}/import-jobs", status_code=202)
def start_import(
    file: UploadFile = File(...),
    crs: str = Query("EPSG:4326"),
    make_valid: bool = Query(False, description="修复无效几何图形（保持图层的几何类型），并逐条报告修复了什么"),
    repair: bool = Query(False, description="make_valid 的旧名"),
    lon: str | None = None,
    lat: str | None = None,
    layer: Layer = Depends(get_layer),
    who: Principal = Depends(require_login),
) -> JSONResponse:
    who.require_edit(layer)
    who.require(layer.import_permission, f"导入图层「{layer.title}」")
    data = file.file.read()
    if not data:
        raise ApiError(422, "empty_file", "上传的文件是空的。", "file")
    params = {
        "layer": layer.id,
        "filename": file.filename,
        "crs": crs,
        "repair": make_valid or repair,
        "lon": lon,
        "lat": lat,
        "margin": get_settings().hangzhou_margin_deg,
    }
    title = f"导入「{layer.title}」（{file.filename or '文件'}）"
    return _accepted(_submit(import_layer, who, "layer_import", title, params, data))


def _submit(task: Any, who: Principal, kind: str, title: str, params: dict, data: bytes | None = None) -> int:
    try:
        return tasks.submit(task, who.user_id, who.user, kind, title, params, data)
    except RuntimeError:
        raise ApiError(503, "queue_unavailable", "任务队列暂不可用，请稍后重试。")


def _read(run_id: int) -> dict:
    with transaction() as conn:
        row = (
            conn.execute(sa.text(f"SELECT {tasks.RUN_COLUMNS} FROM task_runs WHERE id = :id"), {"id": run_id})
            .mappings()
            .first()
        )
    if row is None:
        raise ApiError(404, "task_not_found", "任务不存在。", "id", {"id": run_id})
    return dict(row)


def _visible(who: Principal, run_id: int) -> dict:
    row = _read(run_id)
    if row["owner_id"] != who.user_id and not who.can(MANAGE):
        raise ApiError(404, "task_not_found", "任务不存在。", "id", {"id": run_id})
    return row


def _iso(v: Any) -> str | None:
    return v.isoformat() if v is not None else None


def public(row: dict) -> dict:
    done, total = row["done"], row["total"]
    percent = 100 if row["status"] == "done" else (int(done * 100 / total) if total else 0)
    return {
        "id": row["id"],
        "kind": row["kind"],
        "title": row["title"],
        "owner": row["owner"],
        "status": row["status"],
        "status_text": STATUS_TEXT[row["status"]],
        "progress": {"done": done, "total": total, "percent": percent},
        "result": row["result"],
        "error": row["error"],
        "download": f"/api/tasks/{row['id']}/result" if row["has_file"] else None,
        "file_name": row["file_name"],
        "created_at": _iso(row["created_at"]),
        "started_at": _iso(row["started_at"]),
        "finished_at": _iso(row["finished_at"]),
    }


@router.get("/api/tasks")
def list_runs(
    all: bool = False, limit: int = Query(50, ge=1, le=MAX_LIST), who: Principal = Depends(require_login)
) -> dict:
    if all:
        who.require(MANAGE, "查看所有用户的任务")
    where = "" if all else "WHERE owner_id = :uid"
    with transaction() as conn:
        rows = (
            conn.execute(
                sa.text(
                    f"SELECT {tasks.RUN_COLUMNS} FROM task_runs {where} ORDER BY created_at DESC, id DESC LIMIT :n"
                ),
                {"uid": who.user_id, "n": limit},
            )
            .mappings()
            .all()
        )
    return {"tasks": [public(dict(r)) for r in rows]}


@router.get("/api/tasks/{run_id}")
def get_run(run_id: int, who: Principal = Depends(require_login)) -> dict:
    return public(_visible(who, run_id))


@router.get("/api/tasks/{run_id}/result")
def get_result(run_id: int, who: Principal = Depends(require_login)) -> Response:
    row = _visible(who, run_id)
    if row["status"] != "done" or not row["has_file"]:
        raise ApiError(
            409 if row["status"] in ("queued", "running") else 404,
            "no_result_file",
            "任务尚未完成，暂无结果文件。" if row["status"] in ("queued", "running") else "该任务没有结果文件。",
            "id",
            {"status": row["status"]},
        )
    with transaction() as conn:
        data = conn.execute(sa.text("SELECT file FROM task_runs WHERE id = :id"), {"id": run_id}).scalar()
    ascii_name = f"task-{run_id}.{row['file_name'].rsplit('.', 1)[-1]}"
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(row['file_name'])}"
    return Response(bytes(data), media_type=row["media_type"], headers={"Content-Disposition": disposition})
