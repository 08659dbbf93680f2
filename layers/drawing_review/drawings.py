"""Drawings online (施工图在线, DR-07) and the reviewers' comments on them (DR-06): upload, checks, storage, the
sets and sheets of an application, their deep-zoom tiles, comments, and the viewer's pages.

Upload (``POST /api/review/drawings``, the file as the request body, the place in the query): the design unit or the
builder of an application (``review.submit`` or ``review.reply``, and the application within their scope) uploads a
PDF (multi-page, any sheet size up to A0 and beyond) or a raster image (TIFF, JPEG, PNG) for a review round, a
building (单体, or none: the whole project) and a discipline. The body is streamed to a temporary file with a running
size check (``CHENGJIAN_DR_MAX_DRAWING_BYTES``, 300 MB; the platform's body limit ``CHENGJIAN_MAX_BODY_BYTES`` cuts
first when lower): a larger upload is refused (413) as soon as it passes the limit and nothing is kept. The bytes
decide what the file is, never its name: a CAD file (AutoCAD DWG, DXF, DWF) is refused with a request to export it to
PDF (415 ``cad_not_accepted``); anything else that is not PDF/TIFF/JPEG/PNG is refused (415); a cut-off or corrupt PDF,
an encrypted one, or a corrupt image is refused (422). An accepted file is kept by its SHA-256 under the files' root
(``drawings/<sha[:2]>/<sha>.<ext>``); the set and one row per sheet are recorded and audited, then the rendering is
queued (``pyramid.py``). The same file for the same place again is the same set (200, nothing new).

Reading: whoever sees the application (row-level security) and holds one of the review's permissions sees its
drawings, their progress, tiles and comments. Tiles are served at ``/api/review/sheets/{id}/tiles/{level}/{col}_{row}
.jpg`` (and the pyramid's ``.dzi``) with long immutable cache headers: a sheet's pyramid never changes.

Comments: the review agency (``review.opine``) pins a comment on a sheet while the application is under review
(审查中): a point or a rectangle in sheet-normalised coordinates (0…1 of width and height), with the round of the
drawings and a discipline (the set's by default).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection
from starlette.requests import ClientDisconnect

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from api.web import APP_CACHE, file_response
from geo import audit, files
from geo import scope as scopes
from geo.bounds import Amount, Text
from geo.db import get_engine
from geo.modules import log_labels
from geo.records import Link, register_link
from geo.settings import get_settings
from layers.drawing_review import pyramid
from layers.drawing_review import tables as t
from layers.drawing_review.process import DISCIPLINES

MB = files.MB
WEB = Path(__file__).resolve().parent / "web"
TILE_CACHE = "private, max-age=31536000, immutable"  # a sheet's pyramid never changes; only its viewers may keep it
STATUS_TITLES = {"queued": "排队中", "processing": "处理中", "ready": "已完成", "failed": "失败"}
# Permissions that let an account that sees an application (row-level security) see its drawings.
VIEWERS = (
    "review.view",
    "review.submit",
    "review.reply",
    "review.accept",
    "review.opine",
    "review.certify",
    "review.draw",
    "review.config",
)
UPLOADERS = ("review.submit", "review.reply")
CLOSED = ("passed", "failed", "certified", "withdrawn")  # no more drawings once concluded or withdrawn
PDF = "application/pdf"
ACCEPTED = {
    "PDF": (PDF, "pdf"),
    "TIFF": ("image/tiff", "tif"),
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
}

# An application's record page lists its drawing sets (the viewer is reached from /review/drawings/{id}).
register_link(
    Link(
        target="dr_application",
        module="drawing_review",
        title="施工图纸",
        table="dr_drawing_sets",
        column="application_id",
        columns=(
            ("round_no", "审查轮次"),
            ("discipline", "专业"),
            ("file_name", "文件"),
            ("page_count", "张数"),
            ("status", "处理状态"),
        ),
        order="id",
    )
)
log_labels(
    objects={"dr_drawing_sets": "施工图纸", "dr_comments": "图纸审查意见"},
    actions={"drawing_upload": "上传施工图纸", "drawing_comment": "添加图纸审查意见"},
)


def upload_limit() -> int:
    return min(pyramid.drawing_settings().max_drawing_bytes, get_settings().max_body_bytes)


router = APIRouter(tags=["施工图联审"])
API = "/api/review"


# -- what a file is ---------------------------------------------------------------------------------------------------

CAD = (
    (re.compile(rb"AC10[0-9]{2}"), "AutoCAD DWG 图纸"),
    (re.compile(rb"AutoCAD Binary DXF"), "AutoCAD DXF 图纸"),
    (re.compile(rb"\s*0\s*\r?\n\s*(SECTION|\$ACADVER)"), "AutoCAD DXF 图纸"),
    (re.compile(rb"\s*999\s*\r?\n"), "AutoCAD DXF 图纸"),
    (re.compile(rb"\(DWF V\d"), "DWF 图纸"),
)


def detect(head: bytes) -> tuple[str | None, str | None]:
    """(accepted type or None, what a CAD file is or None) from a file's leading bytes."""
    for pattern, name in CAD:
        if pattern.match(head):
            return None, name
    found = files.sniff(head)
    return (found if found in ACCEPTED else None), None


def refuse_type(head: bytes) -> None:
    found, cad = detect(head)
    if cad:
        raise ApiError(
            415,
            "cad_not_accepted",
            f"收到的是{cad}文件：系统不接受 CAD 原始文件，请将 CAD 图纸导出（打印）为 PDF 后上传。",
            "file",
            {"received": cad, "accepted": list(ACCEPTED)},
        )
    if found is None:
        received = files._RECEIVED_TEXT.get(files.sniff(head), "无法识别的文件")
        raise ApiError(
            415,
            "unsupported_file_type",
            f"文件类型不符：图纸只接受 PDF 或 TIFF/JPEG/PNG 图片，收到的是{files._spaced(received)}。",
            "file",
            {"received": files.sniff(head), "accepted": list(ACCEPTED)},
        )


@dataclass
class Staged:
    """An upload received into a temporary file: its path, SHA-256, size and leading bytes."""

    path: Path
    sha256: str
    size: int
    head: bytes

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def staging_dir() -> Path:
    folder = pyramid.drawings_root() / "incoming"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def too_large(size: int, limit: int) -> ApiError:
    return ApiError(
        413,
        "file_too_large",
        f"文件过大：图纸文件不能超过 {files._size_text(limit)}，请拆分后分批上传。",
        "file",
        {"limit": limit, "received_at_least": size},
    )


async def receive(request: Request, limit: int) -> Staged:
    """Stream the request body into a temporary file, hashing it, refusing it (413) once it passes ``limit``."""
    fd, name = tempfile.mkstemp(dir=staging_dir(), prefix=".upload-")
    path = Path(name)
    digest, size, head = hashlib.sha256(), 0, b""
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large(size, limit)
                if len(head) < 4096:
                    head += chunk[: 4096 - len(head)]
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    staged = Staged(path, digest.hexdigest(), size, head)
    if size == 0:
        staged.discard()
        raise ApiError(422, "empty_file", "文件是空的（0 字节），请重新选择文件上传。", "file", {"size": 0})
    return staged


@dataclass(frozen=True)
class Inspected:
    content_type: str
    ext: str
    pages: list[tuple[float | None, float | None]]  # each page's size in millimetres (None for images)


def inspect(staged: Staged) -> Inspected:
    """Check the received file by its bytes (type, integrity, encryption, pages); refuse with a clear 4xx."""
    refuse_type(staged.head)
    found, _ = detect(staged.head)
    assert found is not None
    content_type, ext = ACCEPTED[found]
    if found == "PDF":
        return Inspected(content_type, ext, _pdf_pages(staged))
    return Inspected(content_type, ext, _image_pages(staged.path))


def _corrupt_pdf(reason: str) -> ApiError:
    return ApiError(
        422,
        "corrupt_pdf",
        "PDF 文件已损坏或不完整（可能上传中断），无法打开，请重新导出后上传。",
        "file",
        {"reason": reason},
    )


def _pdf_pages(staged: Staged) -> list[tuple[float | None, float | None]]:
    with open(staged.path, "rb") as f:
        f.seek(max(0, staged.size - 2048))
        if b"%%EOF" not in f.read():
            raise _corrupt_pdf("no %%EOF at the end")
    with pyramid.PDFIUM_LOCK:  # PDFium is not thread-safe
        return _pdf_page_sizes(staged)


def _pdf_page_sizes(staged: Staged) -> list[tuple[float | None, float | None]]:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        pdf = pdfium.PdfDocument(str(staged.path))
    except pdfium.PdfiumError as e:
        if getattr(e, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD or "password" in str(e).lower():
            raise _encrypted() from e
        raise _corrupt_pdf(str(e)) from e
    try:
        if pdfium_c.FPDF_GetSecurityHandlerRevision(pdf.raw) != -1:
            raise _encrypted()
        count = len(pdf)
        if count == 0:
            raise _corrupt_pdf("no pages")
        limit = pyramid.drawing_settings().max_pages
        if count > limit:
            raise ApiError(
                422,
                "too_many_pages",
                f"PDF 共 {count} 页，一次最多上传 {limit} 页，请按专业或单体拆分后分批上传。",
                "file",
                {"pages": count, "limit": limit},
            )
        sizes = []
        for i in range(count):
            try:
                page = pdf[i]
                w, h = page.get_size()
                page.close()
            except pdfium.PdfiumError as e:
                raise _corrupt_pdf(f"page {i + 1}: {e}") from e
            if w <= 0 or h <= 0:
                raise _corrupt_pdf(f"page {i + 1} has no size")
            sizes.append((round(w * 25.4 / 72, 1), round(h * 25.4 / 72, 1)))
        return sizes
    finally:
        pdf.close()


def _encrypted() -> ApiError:
    return ApiError(
        422,
        "encrypted_pdf",
        "PDF 文件已加密（设置了打开密码或权限密码），无法在线审查，请导出不加密的 PDF 后上传。",
        "file",
        {},
    )


def _image_pages(path: Path) -> list[tuple[float | None, float | None]]:
    """Decode every page of the image (streamed) to prove it intact; one sheet per page."""
    import pyvips

    try:
        first = pyvips.Image.new_from_file(str(path), access="sequential", fail=True)
        count = first.get("n-pages") if "n-pages" in first.get_fields() else 1
        limit = pyramid.drawing_settings().max_pages
        if count > limit:
            raise ApiError(422, "too_many_pages", f"图片共 {count} 页，一次最多 {limit} 页。", "file", {"pages": count})
        pages: list[tuple[float | None, float | None]] = []
        for i in range(count):
            paged = {"page": i} if i else {}  # only multi-page formats (TIFF) know the option
            image = pyvips.Image.new_from_file(str(path), access="sequential", fail=True, **paged)
            pixels = image.width * image.height
            if pixels > pyramid.drawing_settings().max_image_pixels:
                raise ApiError(
                    413,
                    "image_too_large",
                    f"图片像素过多（{image.width}×{image.height}），请降低分辨率后再上传。",
                    "file",
                    {
                        "width": image.width,
                        "height": image.height,
                        "limit": pyramid.drawing_settings().max_image_pixels,
                    },
                )
            image.avg()  # decodes every pixel: a truncated or corrupt image fails here
            pages.append((None, None))
        return pages
    except pyvips.Error as e:
        raise ApiError(
            422,
            "corrupt_file",
            "图片已损坏或不完整（可能上传中断），无法打开，请重新上传。",
            "file",
            {"reason": str(e).strip()[:300]},
        ) from e


def keep(staged: Staged, ext: str) -> str:
    """Move the received file into its content-addressed place; the path relative to the files' root."""
    rel = f"drawings/{staged.sha256[:2]}/{staged.sha256}.{ext}"
    target = files.files_root() / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_file() and target.stat().st_size == staged.size:
        staged.discard()
    else:
        os.chmod(staged.path, files.FILE_MODE)
        os.replace(staged.path, target)
    return rel


# -- the application and the place of a set -------------------------------------------------------------------------


def application(conn: Connection, application_id: int, lock: bool = False) -> dict:
    a = t.applications
    query = sa.select(
        a.c.id, a.c.application_no, a.c.name, a.c.status, a.c.round_no, a.c.district, a.c.review_project_id
    ).where(a.c.id == application_id)
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "施工图审查申请不存在，或不在您的数据范围内。", "application_id")
    return dict(row)


def require_viewer(who: Principal) -> None:
    if not any(who.can(p) for p in VIEWERS):
        who.require("review.view", "查看施工图纸")


def check_place(conn: Connection, who: Principal, app: dict, round_no: int, building_id: int | None, discipline: str):
    """May ``who`` upload drawings of this round, building and discipline to the application now?"""
    if not any(who.can(p) for p in UPLOADERS):
        who.require("review.submit", "上传施工图纸")
    if app["status"] in CLOSED:
        raise ApiError(
            409,
            "drawings_closed",
            "该申请已审查结束或已撤回，不能再上传图纸。",
            "application_id",
            {"status": app["status"]},
        )
    latest = (app["round_no"] or 0) + 1
    if round_no > latest:
        raise ApiError(
            422,
            "round_out_of_range",
            f"审查轮次不对：该申请目前最多上传第 {latest} 轮的图纸。",
            "round_no",
            {"round_no": round_no, "latest": latest},
        )
    if discipline not in DISCIPLINES:
        raise ApiError(
            422,
            "unknown_discipline",
            f"专业「{discipline}」不存在。",
            "discipline",
            {"choices": list(DISCIPLINES)},
        )
    if building_id is not None:
        b = t.buildings
        found = conn.execute(sa.select(b.c.id).where(b.c.id == building_id, b.c.application_id == app["id"])).scalar()
        if found is None:
            raise ApiError(422, "unknown_building", "该申请没有这个单体。", "building_id", {"building_id": building_id})


def find_set(conn: Connection, app_id: int, round_no: int, building_id: int | None, discipline: str, sha: str):
    ds = t.drawing_sets
    return (
        conn.execute(
            sa.select(ds).where(
                ds.c.application_id == app_id,
                ds.c.round_no == round_no,
                ds.c.building_id.is_(None) if building_id is None else ds.c.building_id == building_id,
                ds.c.discipline == discipline,
                ds.c.sha256 == sha,
            )
        )
        .mappings()
        .first()
    )


def insert_set(
    conn: Connection,
    actor: str,
    app: dict,
    round_no: int,
    building_id: int | None,
    discipline: str,
    file_name: str,
    staged: Staged,
    checked: Inspected,
    path: str,
) -> dict:
    ds = t.drawing_sets
    stem = Path(file_name).stem or "图纸"
    row = (
        conn.execute(
            sa.insert(ds)
            .values(
                application_id=app["id"],
                review_project_id=app["review_project_id"],
                district=app["district"],
                round_no=round_no,
                building_id=building_id,
                discipline=discipline,
                file_name=file_name,
                sha256=staged.sha256,
                path=path,
                content_type=checked.content_type,
                size=staged.size,
                page_count=len(checked.pages),
                created_by=actor,
                updated_by=actor,
            )
            .returning(*ds.c)
        )
        .mappings()
        .one()
    )
    conn.execute(
        sa.insert(t.sheets),
        [
            {
                "set_id": row["id"],
                "application_id": app["id"],
                "review_project_id": app["review_project_id"],
                "district": app["district"],
                "page_no": n,
                "title": f"{stem} 第 {n} 张" if len(checked.pages) > 1 else stem,
                "width_mm": w,
                "height_mm": h,
                "created_by": actor,
                "updated_by": actor,
            }
            for n, (w, h) in enumerate(checked.pages, start=1)
        ],
    )
    return dict(row)


def add_set(
    conn: Connection,
    actor: str,
    application_id: int,
    round_no: int,
    building_id: int | None,
    discipline: str,
    file_name: str,
    data: bytes,
) -> dict:
    """Check and keep ``data`` as a drawing set of the application (in ``conn``'s transaction, not queued): the
    demo's and scripts' way in; the upload route does the same from a stream."""
    fd, name = tempfile.mkstemp(dir=staging_dir(), prefix=".upload-")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    staged = Staged(Path(name), hashlib.sha256(data).hexdigest(), len(data), data[:4096])
    try:
        app = application(conn, application_id, lock=True)
        existing = find_set(conn, application_id, round_no, building_id, discipline, staged.sha256)
        if existing is not None:
            return dict(existing)
        checked = inspect(staged)
        path = keep(staged, checked.ext)
        row = insert_set(conn, actor, app, round_no, building_id, discipline, file_name, staged, checked, path)
        audit.record(conn, actor, "drawing_upload", "dr_drawing_sets", row["id"], None, _audited(row))
        return row
    finally:
        staged.discard()


def _audited(row: dict) -> dict:
    keys = ("application_id", "round_no", "building_id", "discipline", "file_name", "sha256", "size", "page_count")
    return {k: row[k] for k in keys}


# -- views -------------------------------------------------------------------------------------------------------------


def sheet_view(s: dict) -> dict:
    ready = s["status"] == "ready"
    return {
        "id": s["id"],
        "set_id": s["set_id"],
        "page_no": s["page_no"],
        "title": s["title"],
        "status": s["status"],
        "status_title": STATUS_TITLES[s["status"]],
        "error": s["error"],
        "width_mm": s["width_mm"],
        "height_mm": s["height_mm"],
        "dpi": s["dpi"],
        "width": s["width_px"],
        "height": s["height_px"],
        "tile_size": s["tile_size"],
        "overlap": s["overlap"],
        "levels": pyramid.Pyramid(s["pyramid"], s["width_px"], s["height_px"], s["dpi"] or 0).levels if ready else None,
        "dzi": f"/api/review/sheets/{s['id']}.dzi" if ready else None,
        "tiles": f"/api/review/sheets/{s['id']}/tiles/" if ready else None,
        "thumbnail": _thumbnail(s) if ready else None,
        "viewer": f"/review/viewer/{s['id']}",
    }


def _thumbnail(s: dict) -> str:
    """The only tile of the largest level that fits in one tile: the whole sheet, small."""
    level = single_tile_level(max(s["width_px"], s["height_px"]), s["tile_size"])
    return f"/api/review/sheets/{s['id']}/tiles/{level}/0_0.jpg"


def single_tile_level(longest: int, tile_size: int) -> int:
    """The largest Deep Zoom level at which an image whose longest side is ``longest`` fits in one tile."""
    top = (longest - 1).bit_length()  # the full image's level: ceil(log2(longest))
    for level in range(top, -1, -1):
        if -(-longest // (1 << (top - level))) <= tile_size:
            return level
    return 0


def set_view(row: dict, sheets: list[dict], buildings: dict[int, str]) -> dict:
    return {
        "id": row["id"],
        "application_id": row["application_id"],
        "round_no": row["round_no"],
        "round_title": round_title(row["round_no"]),
        "building_id": row["building_id"],
        "building": buildings.get(row["building_id"], "全部（总体）") if row["building_id"] else "全部（总体）",
        "discipline": row["discipline"],
        "discipline_title": DISCIPLINES[row["discipline"]],
        "file_name": row["file_name"],
        "content_type": row["content_type"],
        "size": row["size"],
        "sha256": row["sha256"],
        "status": row["status"],
        "status_title": STATUS_TITLES[row["status"]],
        "error": row["error"],
        "progress": {
            "done": row["pages_done"],
            "total": row["page_count"],
            "percent": round(100 * row["pages_done"] / row["page_count"]),
        },
        "created_at": row["created_at"],
        "created_by": row["created_by"],
        "sheets": [sheet_view(s) for s in sheets],
    }


def round_title(round_no: int) -> str:
    return "第 1 轮（送审图纸）" if round_no == 1 else f"第 {round_no} 轮（第 {round_no - 1} 次回复修改图纸）"


def buildings_of(conn: Connection, application_id: int) -> dict[int, str]:
    b = t.buildings
    return dict(conn.execute(sa.select(b.c.id, b.c.name).where(b.c.application_id == application_id)).all())


def set_detail(conn: Connection, set_id: int) -> dict:
    ds = t.drawing_sets
    row = conn.execute(sa.select(ds).where(ds.c.id == set_id)).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "图纸不存在，或不在您的数据范围内。", "set_id")
    return set_view(dict(row), pyramid.sheets_of(conn, set_id), buildings_of(conn, row["application_id"]))


def comment_view(c: dict) -> dict:
    return {
        "id": c["id"],
        "sheet_id": c["sheet_id"],
        "round_no": c["round_no"],
        "discipline": c["discipline"],
        "discipline_title": DISCIPLINES[c["discipline"]],
        "x": c["x"],
        "y": c["y"],
        "w": c["w"],
        "h": c["h"],
        "shape": "pin" if c["w"] == 0 and c["h"] == 0 else "rect",
        "body": c["body"],
        "author": c["author"],
        "created_at": c["created_at"],
    }


def comments_of(conn: Connection, sheet_id: int) -> list[dict]:
    c = t.comments
    rows = conn.execute(sa.select(c).where(c.c.sheet_id == sheet_id).order_by(c.c.id)).mappings()
    return [comment_view(dict(r)) for r in rows]


def sheet_row(conn: Connection, sheet_id: int) -> dict:
    s = t.sheets
    row = conn.execute(sa.select(s).where(s.c.id == sheet_id)).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "图纸不存在，或不在您的数据范围内。", "sheet_id")
    return dict(row)


def counterparts(conn: Connection, sheet: dict, the_set: dict) -> list[dict]:
    """The same sheet in the other rounds: same application, building, discipline and page."""
    ds, s = t.drawing_sets, t.sheets
    building = (
        ds.c.building_id.is_(None) if the_set["building_id"] is None else ds.c.building_id == the_set["building_id"]
    )
    rows = conn.execute(
        sa.select(s.c.id, s.c.status, ds.c.round_no, ds.c.file_name, ds.c.id.label("set_id"))
        .join(ds, ds.c.id == s.c.set_id)
        .where(
            ds.c.application_id == sheet["application_id"],
            building,
            ds.c.discipline == the_set["discipline"],
            s.c.page_no == sheet["page_no"],
            s.c.id != sheet["id"],
        )
        .order_by(ds.c.round_no, ds.c.id)
    ).mappings()
    return [
        {
            "sheet_id": r["id"],
            "set_id": r["set_id"],
            "round_no": r["round_no"],
            "round_title": round_title(r["round_no"]),
            "file_name": r["file_name"],
            "ready": r["status"] == "ready",
        }
        for r in rows
    ]


# -- comments ----------------------------------------------------------------------------------------------------------


def insert_comment(
    conn: Connection,
    actor: str,
    sheet_id: int,
    x: float,
    y: float,
    w: float,
    h: float,
    body: str,
    discipline: str | None,
    user_id: int | None = None,
    client: str | None = None,
) -> dict:
    """Record a comment on the sheet (the round of its drawings, the discipline given or the set's) and audit it."""
    sheet = sheet_row(conn, sheet_id)
    ds = t.drawing_sets
    the_set = conn.execute(sa.select(ds).where(ds.c.id == sheet["set_id"])).mappings().one()
    c = t.comments
    row = (
        conn.execute(
            sa.insert(c)
            .values(
                sheet_id=sheet_id,
                set_id=sheet["set_id"],
                application_id=sheet["application_id"],
                review_project_id=sheet["review_project_id"],
                district=sheet["district"],
                round_no=the_set["round_no"],
                discipline=discipline or the_set["discipline"],
                x=x,
                y=y,
                w=w,
                h=h,
                body=body.strip(),
                author=actor,
                created_by=actor,
                updated_by=actor,
            )
            .returning(*c.c)
        )
        .mappings()
        .one()
    )
    view = comment_view(dict(row))
    audit.record(conn, actor, "drawing_comment", "dr_comments", row["id"], None, view, client, user_id=user_id)
    return view


class CommentIn(BaseModel):
    """A comment on a sheet: a point (``w = h = 0``) or a rectangle, in 0…1 of the sheet's width and height."""

    x: Amount(1) = Field(description="左边（占图纸宽度的比例）")
    y: Amount(1) = Field(description="上边（占图纸高度的比例）")
    w: Amount(1) = Field(0, description="宽度（比例），点注为 0")
    h: Amount(1) = Field(0, description="高度（比例），点注为 0")
    body: Text(2000, 1) = Field(description="意见内容")
    discipline: Text(40) | None = Field(None, description="专业（默认为图纸的专业）")


# -- routes: upload and sets ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _scoped(who: Principal) -> Iterator[Connection]:
    """A transaction in ``who``'s scope, for the upload (an async route: its steps run in the thread pool)."""
    with get_engine().begin() as conn:
        scopes.apply(conn, who.scope)
        yield conn


@router.post(f"{API}/drawings", status_code=201)
async def upload_drawings(
    request: Request,
    application_id: Annotated[int, Query(ge=1, description="施工图审查申请")],
    round_no: Annotated[int, Query(ge=1, le=50, description="审查轮次：1 为送审图纸，N 为第 N-1 次回复的修改图纸")],
    discipline: Annotated[str, Query(description="专业")],
    building_id: Annotated[int | None, Query(ge=1, description="单体（不填：整体）")] = None,
    file_name: Annotated[str | None, Query(max_length=200, description="原文件名（只用于显示）")] = None,
    who: Principal = Depends(principal),
) -> Response:
    """Upload one drawing file (the request body: PDF, TIFF, JPEG or PNG) for a round, building and discipline;
    201 with the set (its rendering queued), or 200 with the same set when this file is already there."""

    def before() -> None:
        with _scoped(who) as conn:
            app = application(conn, application_id)
            check_place(conn, who, app, round_no, building_id, discipline)

    await run_in_threadpool(before)
    try:
        staged = await receive(request, upload_limit())
    except ClientDisconnect:
        return Response(status_code=400)
    try:
        out, created = await run_in_threadpool(
            _register, who, application_id, round_no, building_id, discipline, file_name, staged
        )
    finally:
        staged.discard()
    if out["status"] == "queued":
        out = await run_in_threadpool(_queue, who, out)
    return JSONResponse(
        jsonable(out), status_code=201 if created else 200, headers={"Location": f"/api/review/drawings/{out['id']}"}
    )


def _register(who, application_id, round_no, building_id, discipline, file_name, staged) -> tuple[dict, bool]:
    with _scoped(who) as conn:
        app = application(conn, application_id, lock=True)  # one upload of a place at a time: no twin sets
        check_place(conn, who, app, round_no, building_id, discipline)
        existing = find_set(conn, application_id, round_no, building_id, discipline, staged.sha256)
        if existing is not None:
            if existing["status"] == "failed":  # uploaded again after a failure: try the rendering again
                conn.execute(
                    sa.update(t.drawing_sets).where(t.drawing_sets.c.id == existing["id"]).values(status="queued")
                )
            return set_detail(conn, existing["id"]), False
        checked = inspect(staged)
        path = keep(staged, checked.ext)
        name = (file_name or "").strip() or f"图纸.{checked.ext}"
        row = insert_set(conn, who.user, app, round_no, building_id, discipline, name, staged, checked, path)
        audit.record(
            conn,
            who.user,
            "drawing_upload",
            "dr_drawing_sets",
            row["id"],
            None,
            _audited(row),
            who.client,
            user_id=who.user_id,
        )
        return set_detail(conn, row["id"]), True


def _queue(who: Principal, out: dict) -> dict:
    ds = t.drawing_sets
    try:
        job = pyramid.queue(out["id"])
    except Exception:
        with _scoped(who) as conn:
            conn.execute(
                sa.update(ds)
                .where(ds.c.id == out["id"])
                .values(status="failed", error="图纸处理任务未能进入队列，请稍后重新上传同一文件。")
            )
            return set_detail(conn, out["id"])
    with _scoped(who) as conn:
        conn.execute(sa.update(ds).where(ds.c.id == out["id"]).values(job_id=job))
        return set_detail(conn, out["id"])


def jsonable(value: Any) -> Any:
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(value)


@router.get(f"{API}/drawings")
def list_drawings(
    application_id: Annotated[int, Query(ge=1)],
    round_no: Annotated[int | None, Query(ge=1, le=50)] = None,
    building_id: Annotated[int | None, Query(ge=1)] = None,
    discipline: str | None = None,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    """The application's drawing sets (by round, building and discipline) with their sheets and progress, and the
    choices to browse by."""
    require_viewer(who)
    app = application(conn, application_id)
    ds = t.drawing_sets
    query = sa.select(ds).where(ds.c.application_id == application_id)
    if round_no is not None:
        query = query.where(ds.c.round_no == round_no)
    if building_id is not None:
        query = query.where(ds.c.building_id == building_id)
    if discipline:
        query = query.where(ds.c.discipline == discipline)
    rows = [
        dict(r)
        for r in conn.execute(query.order_by(ds.c.round_no, ds.c.building_id, ds.c.discipline, ds.c.id)).mappings()
    ]
    buildings = buildings_of(conn, application_id)
    s = t.sheets
    by_set: dict[int, list[dict]] = {}
    if rows:
        for sh in conn.execute(
            sa.select(s).where(s.c.set_id.in_([r["id"] for r in rows])).order_by(s.c.set_id, s.c.page_no)
        ).mappings():
            by_set.setdefault(sh["set_id"], []).append(dict(sh))
    c = t.comments
    counts = dict(
        conn.execute(
            sa.select(c.c.sheet_id, sa.func.count()).where(c.c.application_id == application_id).group_by(c.c.sheet_id)
        ).all()
    )
    sets = []
    for r in rows:
        view = set_view(r, by_set.get(r["id"], []), buildings)
        for sh in view["sheets"]:
            sh["comments"] = counts.get(sh["id"], 0)
        sets.append(view)
    rounds = conn.execute(
        sa.select(ds.c.round_no).where(ds.c.application_id == application_id).distinct().order_by(ds.c.round_no)
    ).scalars()
    return {
        "application": {k: app[k] for k in ("id", "application_no", "name", "status", "round_no")},
        "sets": sets,
        "choices": {
            "rounds": [{"value": n, "title": round_title(n)} for n in rounds],
            "buildings": [{"value": k, "title": v} for k, v in sorted(buildings.items())],
            "disciplines": [{"value": k, "title": v} for k, v in DISCIPLINES.items()],
        },
        "can": {
            "upload": any(who.can(p) for p in UPLOADERS) and app["status"] not in CLOSED,
            "comment": who.can("review.opine") and app["status"] == "reviewing",
        },
        "next_round": (app["round_no"] or 0) + 1,
    }


@router.get(f"{API}/drawings/{{set_id}}")
def get_drawing_set(
    set_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    """One drawing set with its sheets and the progress of its rendering."""
    require_viewer(who)
    return jsonable(set_detail(conn, set_id))


# -- routes: sheets, tiles, comments -------------------------------------------------------------------------------

TILE_NAME = re.compile(r"^(\d{1,5})_(\d{1,5})\.jpg$")


def _pyramid_key(conn: Connection, sheet_id: int) -> str:
    s = t.sheets
    key = conn.execute(sa.select(s.c.pyramid).where(s.c.id == sheet_id, s.c.status == "ready")).scalar()
    if key is None:
        raise ApiError(404, "not_found", "图纸不存在、尚未处理完成，或不在您的数据范围内。", "sheet_id")
    return key


# Which pyramid a scope may read, per sheet, as row-level security last answered (a ready sheet's pyramid never
# changes): a viewer's dozens of tile requests a second cost one lookup per sheet and ``KEY_TTL_S`` instead of one
# transaction each. The key is the scope itself (its districts and grants, loaded with the account on every
# request), so a grant withdrawn or a district changed misses the cache at once; only a deleted sheet's tiles stay
# readable for up to ``KEY_TTL_S`` to those who could read them.
KEY_TTL_S = 10.0
KEY_CACHE_MAX = 10_000
_keys: dict[tuple[int, str], tuple[float, str]] = {}
_keys_lock = threading.Lock()


def pyramid_key_for(who: Principal, sheet_id: int) -> str:
    """The sheet's pyramid if ``who``'s scope sees the sheet (row-level security), else 404."""
    cache_key = (sheet_id, who.scope.key())
    now = time.monotonic()
    with _keys_lock:
        hit = _keys.get(cache_key)
    if hit is not None and hit[0] > now:
        return hit[1]
    with get_engine().connect() as conn:
        scopes.apply(conn, who.scope)
        key = _pyramid_key(conn, sheet_id)
    with _keys_lock:
        if len(_keys) >= KEY_CACHE_MAX:
            _keys.clear()
        _keys[cache_key] = (now + KEY_TTL_S, key)
    return key


@router.get(f"{API}/sheets/{{sheet_id}}.dzi", response_class=Response)
def sheet_dzi(sheet_id: int, who: Principal = Depends(principal)) -> Response:
    """The sheet's Deep Zoom descriptor (XML); its tiles are under ``/api/review/sheets/{id}/tiles/``."""
    require_viewer(who)
    path = pyramid.dzi_path(pyramid_key_for(who, sheet_id))
    return Response(path.read_bytes(), media_type="application/xml", headers={"Cache-Control": TILE_CACHE})


@router.get(f"{API}/sheets/{{sheet_id}}/tiles/{{level}}/{{tile}}", response_class=Response)
def sheet_tile(
    sheet_id: int,
    level: Annotated[int, PathParam(ge=0, le=40)],
    tile: str,
    who: Principal = Depends(principal),
) -> Response:
    """One JPEG tile (``{col}_{row}.jpg``) of the sheet's pyramid."""
    require_viewer(who)
    m = TILE_NAME.match(tile)
    if m is None:
        raise ApiError(404, "not_found", "瓦片不存在。", "tile")
    path = pyramid.tile_path(pyramid_key_for(who, sheet_id), level, int(m[1]), int(m[2]))
    if not path.is_file():
        raise ApiError(404, "not_found", "瓦片不存在。", "tile", {"level": level, "tile": tile})
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": TILE_CACHE})


@router.get(f"{API}/sheets/{{sheet_id}}")
def get_sheet(
    sheet_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    """A sheet for the viewer: its pyramid, its set and application, the sheets beside it, the same sheet in the
    other rounds (to compare), its comments, and what the caller may do."""
    require_viewer(who)
    sheet = sheet_row(conn, sheet_id)
    ds = t.drawing_sets
    the_set = dict(conn.execute(sa.select(ds).where(ds.c.id == sheet["set_id"])).mappings().one())
    app = application(conn, sheet["application_id"])
    siblings = [
        {"id": s["id"], "page_no": s["page_no"], "title": s["title"], "ready": s["status"] == "ready"}
        for s in pyramid.sheets_of(conn, sheet["set_id"])
    ]
    buildings = buildings_of(conn, sheet["application_id"])
    return jsonable(
        {
            **sheet_view(sheet),
            "set": {k: v for k, v in set_view(the_set, [], buildings).items() if k != "sheets"},
            "application": {k: app[k] for k in ("id", "application_no", "name", "status", "round_no")},
            "siblings": siblings,
            "rounds": counterparts(conn, sheet, the_set),
            "comments": comments_of(conn, sheet_id),
            "disciplines": [{"value": k, "title": v} for k, v in DISCIPLINES.items()],
            "can": {"comment": who.can("review.opine") and app["status"] == "reviewing"},
        }
    )


@router.get(f"{API}/sheets/{{sheet_id}}/comments")
def list_comments(
    sheet_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    require_viewer(who)
    sheet_row(conn, sheet_id)
    return jsonable({"comments": comments_of(conn, sheet_id)})


@router.post(f"{API}/sheets/{{sheet_id}}/comments", status_code=201)
def add_comment(
    sheet_id: int,
    body: CommentIn,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    """Pin a comment on the sheet (the review agency, while the application is under review)."""
    who.require("review.opine", "添加图纸审查意见")
    sheet = sheet_row(conn, sheet_id)
    app = application(conn, sheet["application_id"], lock=True)
    if app["status"] != "reviewing":
        raise ApiError(
            409,
            "comments_closed",
            "只有审查中的申请才能在图纸上添加审查意见。",
            "application_id",
            {"status": app["status"]},
        )
    if body.x + body.w > 1.000001 or body.y + body.h > 1.000001:
        raise ApiError(422, "outside_sheet", "意见的位置超出了图纸范围，请在图纸内标注。", "x", body.model_dump())
    if body.discipline is not None and body.discipline not in DISCIPLINES:
        raise ApiError(
            422,
            "unknown_discipline",
            f"专业「{body.discipline}」不存在。",
            "discipline",
            {"choices": list(DISCIPLINES)},
        )
    if not body.body.strip():
        raise ApiError(422, "empty_comment", "请填写意见内容。", "body")
    return jsonable(
        insert_comment(
            conn,
            who.user,
            sheet_id,
            body.x,
            body.y,
            body.w,
            body.h,
            body.body,
            body.discipline,
            who.user_id,
            who.client,
        )
    )


# -- pages -------------------------------------------------------------------------------------------------------------

ASSETS = {"viewer.js", "viewer.css", "drawings.js"}


@router.get("/review/viewer/{sheet_id}", include_in_schema=False)
def viewer_page(sheet_id: int, request: Request) -> Response:
    return file_response(request, WEB / "viewer.html", APP_CACHE)


@router.get("/review/drawings/{application_id}", include_in_schema=False)
def drawings_page(application_id: int, request: Request) -> Response:
    return file_response(request, WEB / "drawings.html", APP_CACHE)


@router.get("/review/assets/drawings/{name}", include_in_schema=False)
def drawings_asset(name: str, request: Request) -> Response:
    if name not in ASSETS:
        raise ApiError(404, "not_found", "请求的文件不存在。", "path", {"path": name})
    return file_response(request, WEB / name, APP_CACHE)
