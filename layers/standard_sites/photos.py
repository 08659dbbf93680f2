"""Site photos (ST-03, ST-05, ST-07, ST-14, ST-26): uploaded from the phone's camera, stamped with where and when.

Every photo must carry the browser's location (``lon``, ``lat``, ``accuracy_m``, and ``crs`` = GCJ02 when the
position came from a Chinese map SDK — it is converted to WGS84 before anything else) and the time it was taken.
The position is checked against the site's electronic fence (``site_fences``, geo/geofence.py): outside the fence
the upload is refused with the distance shown, or accepted with a flag (``CHENGJIAN_ST_OUTSIDE_FENCE``). The file is
checked by content and stored outside the database with its checksum and a thumbnail (geo/files.py), EXIF kept; a
photo whose EXIF time or position disagrees with the reported ones is flagged for the reviewer. With an
``Idempotency-Key`` a retried upload returns the first answer and stores nothing twice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import Connection

from api import idempotency
from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError, status_of
from geo import audit, files, geofence
from geo.bounds import ITEM_CODE, Amount, Code, Moment, Text, Window
from geo.layer.registry import registry
from layers.standard_sites import tables as t
from layers.standard_sites.common import PREFIX, outside_fence_policy

router = APIRouter(prefix=PREFIX, tags=["标化工地"])

# owner kind -> (table, the state(s) in which the unit may add photos, the supervision unit's states)
OWNERS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "report": ("st_reports", ("draft", "returned"), ("submitted",)),
    "bonus": ("st_bonus_claims", ("draft", "returned"), ("submitted",)),
    "evaluation": ("st_evaluations", ("draft", "returned"), ("submitted",)),
    "stage": ("st_stage_evals", (), ()),
}


PHOTO_WINDOW = Window(date(2000, 1, 1), 1)  # a photo's time: not before the platform's records, not far ahead


def _when(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def fence_check(
    conn: Connection, site_id: int, lon: float | None, lat: float | None, crs: str | None, accuracy_m: float | None
) -> dict:
    """Where the phone is, in WGS84, and whether it is inside the site's fence (refused outside, per policy)."""
    if lon is None or lat is None:
        raise ApiError(422, "location_required", "必须开启定位：照片须带拍摄位置（经纬度）才能上传。", "lon")
    try:
        out = geofence.check(
            conn, registry.get("site_fences"), lon, lat, site_id=site_id, crs=crs, accuracy_m=accuracy_m
        )
    except geofence.GeofenceError as e:
        raise ApiError(status_of(e), e.code, e.message, e.field, e.detail)
    row = out.rows()[0]
    result = {
        "lon": float(out.points.lon[0]),
        "lat": float(out.points.lat[0]),
        "inside_fence": bool(row["inside"]),
        "distance_m": round(float(row["distance_m"]), 1),
        "fence_id": row["fence_id"],
        "tolerance_m": row["tolerance_m"],
    }
    if not result["inside_fence"] and outside_fence_policy() == "refuse":
        raise ApiError(
            422,
            "outside_fence",
            f"拍摄位置在工地电子围栏外 {result['distance_m']:.0f} 米（允许误差 {row['tolerance_m']:.0f} 米），"
            "请到工地现场拍摄后再上传。",
            "lon",
            result,
        )
    return result


def owner(conn: Connection, kind: str, owner_id: int, for_update: bool = False) -> dict:
    if kind not in OWNERS:
        raise ApiError(404, "not_found", "不支持的照片归属。")
    table = t.metadata.tables[OWNERS[kind][0]]
    query = sa.select(table).where(table.c.id == owner_id)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "记录不存在，或不在您的数据范围内。")
    return dict(row)


def add_photo(
    conn: Connection,
    who: Principal,
    kind: str,
    owner_id: int,
    data: bytes,
    filename: str,
    checklist_code: str | None,
    lon: float | None,
    lat: float | None,
    accuracy_m: float | None,
    crs: str | None,
    taken_at: datetime | None,
    key: str | None = None,
) -> dict:
    row = owner(conn, kind, owner_id, for_update=True)
    _, unit_states, supervision_states = OWNERS[kind]
    if kind != "stage":
        if who.can("site.report.submit") and row["status"] in unit_states:
            role = "construction"
        elif who.can("site.report.review") and row["status"] in supervision_states:
            role = "supervision"
        else:
            raise ApiError(
                409,
                "photos_closed",
                "当前状态下不能再添加照片（草稿或退回状态由施工单位补充，待审核状态由监理单位补充）。",
                "status",
                {"state": row["status"]},
            )
    else:
        who.require("site.stage", "登记阶段考评")
        role = "authority"
    if checklist_code:
        c = t.catalog
        known = conn.execute(sa.select(1).where(c.c.kind == "photo", c.c.code == checklist_code, c.c.active)).scalar()
        if not known:
            raise ApiError(422, "unknown_checklist_item", f"拍照清单中没有「{checklist_code}」。", "checklist_code")
    where = fence_check(conn, row["site_id"], lon, lat, crs, accuracy_m)
    try:
        stored = files.store(data, filename or "photo.jpg", "photo")
    except files.FileRefused as e:
        raise ApiError(e.status, e.code, e.message, e.field, e.detail)
    when = _when(taken_at)
    flags = [] if where["inside_fence"] else [f"拍摄位置在电子围栏外 {where['distance_m']:.0f} 米"]
    flags += files.exif_disagreement(stored.exif, where["lon"], where["lat"], when)
    saved = (  # returned whole: the answer needs no second read
        conn.execute(
            sa.insert(t.photos)
            .values(
                site_id=row["site_id"],
                owner_kind=kind,
                owner_id=owner_id,
                checklist_code=checklist_code,
                sha256=stored.sha256,
                content_type=stored.content_type,
                size=stored.size,
                width=stored.width,
                height=stored.height,
                thumbnail=stored.thumbnail,
                taken_at=when,
                lon=where["lon"],
                lat=where["lat"],
                accuracy_m=accuracy_m,
                source_crs=crs or "EPSG:4326",
                inside_fence=where["inside_fence"],
                distance_m=where["distance_m"],
                fence_id=where["fence_id"],
                exif=t.jsonb(_json(stored.as_dict().get("exif"))),
                flags=t.jsonb(_json(flags)),
                uploader_role=role,
                idempotency_key=f"{who.user_id}:{key}" if key else None,
                district=row.get("district"),
                created_by=who.user,
                updated_by=who.user,
            )
            .returning(*t.photos.c)
        )
        .mappings()
        .one()
    )
    pid = saved["id"]
    audit.record(
        conn,
        who.user,
        "photo_upload",
        "st_photos",
        pid,
        None,
        {
            "owner": f"{kind}:{owner_id}",
            "sha256": stored.sha256,
            "inside_fence": where["inside_fence"],
            "distance_m": where["distance_m"],
            "flags": flags,
        },
        who.client,
        user_id=who.user_id,
    )
    return _view(saved)


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, default=str)


def photo(conn: Connection, pid: int) -> dict:
    r = (
        conn.execute(sa.select(t.photos).where(t.photos.c.id == pid, t.photos.c.deleted_at.is_(None)))
        .mappings()
        .first()
    )
    if r is None:
        raise ApiError(404, "not_found", "照片不存在，或不在您的数据范围内。")
    return _view(r)


def _view(r: Any) -> dict:
    """A stored photo (a row of ``st_photos``) as the API shows it."""
    return {
        "id": r["id"],
        "owner_kind": r["owner_kind"],
        "owner_id": r["owner_id"],
        "site_id": r["site_id"],
        "checklist_code": r["checklist_code"],
        "sha256": r["sha256"],
        "content_type": r["content_type"],
        "size": r["size"],
        "width": r["width"],
        "height": r["height"],
        "taken_at": r["taken_at"].isoformat() if r["taken_at"] else None,
        "lon": r["lon"],
        "lat": r["lat"],
        "accuracy_m": r["accuracy_m"],
        "source_crs": r["source_crs"],
        "inside_fence": r["inside_fence"],
        "distance_m": r["distance_m"],
        "flags": r["flags"],
        "uploader_role": r["uploader_role"],
        "exif": r["exif"],
        "uploaded_at": r["created_at"].isoformat(),
        "uploaded_by": r["created_by"],
        "url": f"{PREFIX}/photos/{r['id']}/file",
        "thumbnail_url": f"{PREFIX}/photos/{r['id']}/thumbnail",
    }


def photos_of(conn: Connection, kind: str, owner_id: int) -> list[dict]:
    p = t.photos
    ids = (
        conn.execute(
            sa.select(p.c.id)
            .where(p.c.owner_kind == kind, p.c.owner_id == owner_id, p.c.deleted_at.is_(None))
            .order_by(p.c.id)
        )
        .scalars()
        .all()
    )
    return [photo(conn, i) for i in ids]


@router.post("/{kind}/{owner_id}/photos", status_code=201, summary="上传现场照片（须带定位，电子围栏校验）")
def upload(
    kind: str,
    owner_id: int,
    request: Request,
    file: UploadFile = File(...),
    checklist_code: Code(ITEM_CODE, blank=True) | None = Form(None, title="拍照清单项"),
    lon: Amount(180, -180) | None = Form(None, title="经度"),
    lat: Amount(90, -90) | None = Form(None, title="纬度"),
    accuracy_m: Amount(100_000) | None = Form(None, title="定位精度（米）"),
    crs: Text(20) | None = Form(None, title="坐标系"),
    taken_at: Moment(PHOTO_WINDOW) | None = Form(None, title="拍摄时间"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> JSONResponse:
    key = idempotency.key_of(request)
    data = file.file.read()
    digest = idempotency.body_hash(kind, owner_id, checklist_code, lon, lat, accuracy_m, crs, taken_at, data)
    return idempotency.run(
        conn,
        who.user_id,
        key,
        digest,
        lambda: (
            201,
            add_photo(
                conn,
                who,
                kind,
                owner_id,
                data,
                file.filename or "",
                checklist_code,
                lon,
                lat,
                accuracy_m,
                crs,
                taken_at,
                key,
            ),
        ),
    )


def _file(pid: int, conn: Connection, thumb: bool) -> FileResponse:
    p = photo(conn, pid)
    path = files.open_path(p["sha256"], thumb=thumb)
    return FileResponse(
        path,
        media_type="image/jpeg" if thumb else p["content_type"],
        headers={"Cache-Control": "private, max-age=86400", "ETag": f'"{p["sha256"]}"'},
    )


@router.get("/photos/{pid}/file", summary="照片原图（保留 EXIF）")
def photo_file(
    pid: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> FileResponse:
    who.require("site.view", "查看工地照片")
    return _file(pid, conn, False)


@router.get("/photos/{pid}/thumbnail", summary="照片缩略图")
def photo_thumbnail(
    pid: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> FileResponse:
    who.require("site.view", "查看工地照片")
    return _file(pid, conn, True)
