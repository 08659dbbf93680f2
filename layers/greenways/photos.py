"""Photos of the monthly construction progress (VT-16): each photo names a segment of the report and carries the
position it was taken at (WGS84); a photo taken farther than ``PHOTO_NEAR_M`` from its segment (measured on
EPSG:4549) is refused with the distance. The file is checked by content and kept outside the database with its
checksum and thumbnail (``geo.files``, as the standardized sites' photos are). With an ``Idempotency-Key`` a retried
upload returns the first answer and stores nothing twice.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import Connection

from api import idempotency
from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit, files
from geo.bounds import Amount, Moment, RecordId, Window
from layers.greenways.reports import MACHINE, PREFIX, REPORTS
from layers.greenways.tables import photo_view, photos

router = APIRouter(prefix=PREFIX, tags=["绿道建设"])

PHOTO_NEAR_M = 500.0  # a progress photo is taken on or beside its segment
PHOTO_WINDOW = Window(date(2000, 1, 1), 1)


def distance_to_segment(conn: Connection, segment_id: int, lon: float, lat: float) -> float:
    """Metres on EPSG:4549 from the point to the segment."""
    sql = sa.text(
        "SELECT ST_Distance(ST_Transform(geom, 4549), ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 4326), 4549)) "
        "FROM greenways WHERE id = :id"
    )  # a string: one PostGIS expression
    return float(conn.execute(sql, {"x": lon, "y": lat, "id": segment_id}).scalar_one())


def add_photo(
    conn: Connection,
    who: Principal,
    report_id: int,
    segment_id: int,
    data: bytes,
    filename: str,
    lon: float,
    lat: float,
    taken_at: datetime | None,
) -> dict:
    who.require("greenway.report.submit", "上传绿道进度照片")
    row = MACHINE.lock(conn, report_id)
    if row["kind"] != "progress":
        raise ApiError(422, "photos_progress_only", "只有月度建设进度报表可以上传照片。", "report_id")
    if row["status"] not in ("draft", "returned"):
        raise ApiError(409, "photos_closed", "报表已提交，不能再添加照片。", "status", {"state": row["status"]})
    if segment_id not in {int(x["segment_id"]) for x in row["items"]}:
        raise ApiError(422, "segment_not_in_report", "照片所属的绿道不在本报表的进度明细中。", "segment_id")
    distance = distance_to_segment(conn, segment_id, lon, lat)
    if distance > PHOTO_NEAR_M:
        raise ApiError(
            422,
            "photo_too_far",
            f"拍摄位置距该绿道 {distance:.0f} 米，超过 {PHOTO_NEAR_M:.0f} 米，请在现场拍摄。",
            "lon",
            {"distance_m": round(distance, 1)},
        )
    try:
        stored = files.store(data, filename or "photo.jpg", "photo")
    except files.FileRefused as e:
        raise ApiError(e.status, e.code, e.message, e.field, e.detail)
    saved = (
        conn.execute(
            sa.insert(photos)
            .values(
                report_id=report_id,
                segment_id=segment_id,
                district=row["district"],
                file_path=stored.path,
                sha256=stored.sha256,
                content_type=stored.content_type,
                size_bytes=stored.size,
                lon=lon,
                lat=lat,
                distance_m=distance,
                taken_at=taken_at,
                created_by=who.user,
                updated_by=who.user,
            )
            .returning(*photos.c)
        )
        .mappings()
        .one()
    )
    audit.record(
        conn, who.user, "photo_upload", "gw_photos", saved["id"], None,
        {"report_id": report_id, "segment_id": segment_id, "sha256": stored.sha256, "distance_m": distance},
        who.client, user_id=who.user_id,
    )  # fmt: skip
    return photo_view(dict(saved))


@router.post("/reports/{report_id}/photos", status_code=201, summary="上传绿道建设进度照片（须带拍摄位置）")
def upload(
    report_id: int,
    request: Request,
    file: UploadFile = File(...),
    segment_id: RecordId | None = Form(None, title="绿道"),
    lon: Amount(180, -180) | None = Form(None, title="经度"),
    lat: Amount(90, -90) | None = Form(None, title="纬度"),
    taken_at: Moment(PHOTO_WINDOW) | None = Form(None, title="拍摄时间"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> JSONResponse:
    if segment_id is None:
        raise ApiError(422, "required", "请选择照片所属的绿道。", "segment_id")
    if lon is None or lat is None:
        raise ApiError(422, "location_required", "必须开启定位：照片须带拍摄位置（经纬度）才能上传。", "lon")
    key = idempotency.key_of(request)
    data = file.file.read()
    digest = idempotency.body_hash(report_id, segment_id, lon, lat, taken_at, data)
    return idempotency.run(
        conn, who.user_id, key, digest,
        lambda: (201, add_photo(conn, who, report_id, segment_id, data, file.filename or "", lon, lat, taken_at)),
    )  # fmt: skip


def _file(conn: Connection, pid: int, who: Principal, thumb: bool) -> FileResponse:
    who.require(REPORTS.view, "查看绿道进度照片")
    p = conn.execute(sa.select(photos).where(photos.c.id == pid)).mappings().first()
    if p is None:
        raise ApiError(404, "not_found", "照片不存在，或不在您的数据范围内。", "id")
    try:
        path = files.open_path(p["sha256"], thumb=thumb)
    except FileNotFoundError:
        raise ApiError(404, "file_missing", "照片文件不在文件存储中，请联系管理员。", "id") from None
    return FileResponse(
        path,
        media_type="image/jpeg" if thumb else p["content_type"],
        headers={"Cache-Control": "private, max-age=86400"},
    )


@router.get("/photos/{pid}/file", summary="绿道进度照片原图")
def photo_file(pid: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")):
    return _file(conn, pid, who, False)


@router.get("/photos/{pid}/thumbnail", summary="绿道进度照片缩略图")
def photo_thumbnail(
    pid: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
):
    return _file(conn, pid, who, True)
