"""The gallery of Hangzhou village-style houses (杭派民居图集, VT-01): images with a title, a caption and a place,
shown in order on the farmhouse overview; administrators (``farmhouse.gallery``) add, edit and remove them.

Images are checked and kept by ``geo.files`` (JPEG, PNG or WebP, fully decoded; a thumbnail beside each); the same
image twice is refused (409). Every change is in the operation log. Reading the gallery needs ``farmhouse.view``.
"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit, files
from geo.bounds import Text, Version, Whole
from layers.villages.archives import PREFIX

router = APIRouter(prefix=PREFIX, tags=["智慧村镇"])

VIEW, MANAGE = "farmhouse.view", "farmhouse.gallery"

gallery = sa.Table(
    "vil_gallery",
    sa.MetaData(),
    sa.Column("id", sa.BigInteger, primary_key=True),
    *(sa.Column(c, sa.Text) for c in ("title", "caption", "place", "file_path", "sha256", "content_type")),
    *(sa.Column(c, sa.Integer) for c in ("seq", "width", "height", "version")),
    sa.Column("size_bytes", sa.BigInteger),
    *(sa.Column(c, sa.Text) for c in ("created_by", "updated_by")),
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)
SHOWN = ("id", "title", "caption", "place", "seq", "width", "height", "version")


class ImageEdit(BaseModel):
    title: Text(50, 1) = Field(title="标题")
    caption: Text(500) = Field("", title="说明")
    place: Text(100) | None = Field(None, title="地点")
    seq: Whole(0, 100_000) = Field(100, title="排序")
    version: Version = Field(title="版本")


def _view(row: dict) -> dict:
    out = {k: row[k] for k in SHOWN}
    out["image"] = f"{PREFIX}/gallery/{row['id']}/image"
    out["thumbnail"] = f"{PREFIX}/gallery/{row['id']}/thumbnail"
    return out


def add_image(
    conn: Connection, actor: str, data: bytes, filename: str, title: str, caption: str, place: str | None, seq: int
) -> dict:
    """Check and keep one image with its caption (the demo seeds its images through here too)."""
    try:
        stored = files.store(data, filename or "image.jpg", "photo")
    except files.FileRefused as e:
        raise ApiError(e.status, e.code, e.message, e.field, e.detail)
    if conn.execute(sa.select(gallery.c.id).where(gallery.c.sha256 == stored.sha256)).scalar() is not None:
        raise ApiError(409, "duplicate_image", "图集中已有这张图片。", "file")
    row = (
        conn.execute(
            sa.insert(gallery)
            .values(title=title, caption=caption, place=place, seq=seq, file_path=stored.path, sha256=stored.sha256,
                    content_type=stored.content_type, size_bytes=stored.size, width=stored.width,
                    height=stored.height, created_by=actor, updated_by=actor)
            .returning(*gallery.c)
        )
        .mappings()
        .one()
    )  # fmt: skip
    audit.record(conn, actor, "create", "vil_gallery", row["id"], None, {"title": title, "sha256": stored.sha256})
    return _view(dict(row))


@router.get("/gallery", summary="杭派民居图集")
def listing(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    who.require(VIEW, "查看杭派民居图集")
    rows = conn.execute(sa.select(gallery).order_by(gallery.c.seq, gallery.c.id)).mappings()
    return {"rows": [_view(dict(r)) for r in rows], "can_manage": who.can(MANAGE)}


@router.post("/gallery", status_code=201, summary="上传杭派民居图片（管理员）")
def upload(
    file: UploadFile = File(...),
    title: Text(50, 1) | None = Form(None, title="标题"),
    caption: Text(500) | None = Form(None, title="说明"),
    place: Text(100) | None = Form(None, title="地点"),
    seq: Whole(0, 100_000) | None = Form(None, title="排序"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(MANAGE, "管理杭派民居图集")
    if not title:
        raise ApiError(422, "required", "请填写图片标题。", "title")
    data = file.file.read()
    return add_image(
        conn, who.user, data, file.filename or "", title, caption or "", place or None, 100 if seq is None else seq
    )


def _one(conn: Connection, image_id: int) -> dict:
    row = conn.execute(sa.select(gallery).where(gallery.c.id == image_id)).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "图片不存在。", "id")
    return dict(row)


@router.put("/gallery/{image_id}", summary="修改图片标题、说明和排序（管理员）")
def edit(
    image_id: int,
    body: ImageEdit,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(MANAGE, "管理杭派民居图集")
    before = _one(conn, image_id)
    changes = body.model_dump(exclude={"version"})
    row = (
        conn.execute(
            sa.update(gallery)
            .where(gallery.c.id == image_id, gallery.c.version == body.version)
            .values(**changes, version=gallery.c.version + 1, updated_at=sa.func.now(), updated_by=who.user)
            .returning(*gallery.c)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise ApiError(409, "version_conflict", "图片已被他人修改，请刷新后重试。", "version",
                       {"version": before["version"]})  # fmt: skip
    audit.record(conn, who.user, "update", "vil_gallery", image_id, {k: before[k] for k in changes}, changes,
                 who.client, user_id=who.user_id)  # fmt: skip
    return _view(dict(row))


@router.delete("/gallery/{image_id}", status_code=204, summary="删除图片（管理员）")
def remove(image_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")):
    who.require(MANAGE, "管理杭派民居图集")
    before = _one(conn, image_id)
    conn.execute(sa.delete(gallery).where(gallery.c.id == image_id))
    audit.record(conn, who.user, "delete", "vil_gallery", image_id, {"title": before["title"],
                 "sha256": before["sha256"]}, None, who.client, user_id=who.user_id)  # fmt: skip


def _file(conn: Connection, who: Principal, image_id: int, thumb: bool) -> FileResponse:
    who.require(VIEW, "查看杭派民居图集")
    row = _one(conn, image_id)
    try:
        path = files.open_path(row["sha256"], thumb=thumb)
    except FileNotFoundError:
        raise ApiError(404, "file_missing", "图片文件不在文件存储中，请联系管理员。", "id") from None
    media = "image/jpeg" if thumb else row["content_type"]
    return FileResponse(path, media_type=media, headers={"Cache-Control": "private, max-age=86400"})


@router.get("/gallery/{image_id}/image", summary="杭派民居图片原图")
def image(image_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")):
    return _file(conn, who, image_id, False)


@router.get("/gallery/{image_id}/thumbnail", summary="杭派民居图片缩略图")
def thumbnail(
    image_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
):
    return _file(conn, who, image_id, True)
