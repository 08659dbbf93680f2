"""Import and export of layer data.

``POST /api/layers/{layer}/import`` takes a file (multipart field ``file``) and
returns the check report; ``mode=commit`` stores every row or, when any row was
rejected, nothing (422 ``import_rejected`` with the report). ``GET
/api/layers/{layer}/export?format=…`` returns the layer, or the rows matching
the same filters as the features list, as a file; when the format had to cut
something (a Shapefile's field names, long text, date-times), ``X-Export-Notes``
says what (UTF-8, percent-encoded) and the zip holds a report.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_write, get_layer
from api.errors import ApiError
from api.features import build_query
from geo.layer import exporter, importer
from geo.layer.registry import Layer
from geo.settings import get_settings

router = APIRouter(prefix="/api/layers", tags=["transfer"])

MODES = ("dry_run", "commit")
NOTES_HEADER = "X-Export-Notes"


@router.post("/{layer_id}/import")
def import_file(
    response: Response,
    file: UploadFile = File(...),
    crs: str = Query("EPSG:4326"),
    make_valid: bool = Query(False, description="修复无效几何图形（保持图层的几何类型），并逐条报告修复了什么"),
    repair: bool = Query(False, description="make_valid 的旧名"),
    mode: str = Query("dry_run"),
    lon: str | None = None,
    lat: str | None = None,
    layer: Layer = Depends(get_layer),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require_edit(layer)
    who.require(layer.import_permission, f"导入图层「{layer.title}」")
    if mode not in MODES:
        raise ApiError(
            422, "invalid_mode", "mode 应为 dry_run（试导入）或 commit（正式导入）。", "mode", {"mode": mode}
        )
    try:
        report = importer.run_import(
            conn,
            layer,
            file.file.read(),
            file.filename,
            crs,
            make_valid or repair,
            lon,
            lat,
            commit=mode == "commit",
            actor=who.user,
            margin=get_settings().hangzhou_margin_deg,
        )
    except importer.ImportFileError as e:
        raise ApiError(e.status, e.code, e.message, e.field, e.detail)
    except importer.ImportRejected as e:
        outside = [x for x in e.report["errors"] if x["code"] == "out_of_scope"]
        if outside:  # a write outside the principal's scope stays a 403, naming the field that put it there
            raise ApiError(
                403,
                "out_of_scope",
                f"文件中有 {len(outside)} 行超出您的数据权限范围（第 {outside[0]['row']} 行：{outside[0]['message']}），"
                "未导入任何数据。",
                outside[0]["field"],
                e.report,
            )
        raise ApiError(
            422,
            "import_rejected",
            f"文件中有 {e.report['rejected']} 行未通过检查，未导入任何数据。请按报告修改后重新上传。",
            "file",
            e.report,
        )
    if mode == "commit":
        response.status_code = 201
    return report


def check_format(format: str) -> None:
    """An export format the exporter writes, or a 422 listing them."""
    if format not in exporter.FORMATS:
        raise ApiError(
            422,
            "invalid_format",
            f"不支持的导出格式「{format}」，可选：{'、'.join(exporter.FORMATS)}。",
            "format",
            {"formats": list(exporter.FORMATS)},
        )


@router.get("/{layer_id}/export")
def export_layer(
    request: Request,
    format: str = Query("geojson"),
    layer: Layer = Depends(get_layer),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> Response:
    who.require(layer.export_permission, f"导出图层「{layer.title}」")
    check_format(format)
    query = build_query(layer, request, None, 0, None)
    result = exporter.export(conn, layer, query, format, who.user, who.client)
    title = f"{layer.title}.{result.filename.rsplit('.', 1)[1]}"
    disposition = f"attachment; filename=\"{result.filename}\"; filename*=UTF-8''{quote(title)}"
    headers = {"Content-Disposition": disposition}
    if result.notes:  # what the format could not keep (Shapefile), UTF-8 percent-encoded; the file has the report
        headers[NOTES_HEADER] = quote("；".join(result.notes))
    return Response(result.data, media_type=result.media_type, headers=headers)
