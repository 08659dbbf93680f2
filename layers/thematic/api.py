"""``/api/thematic``: the saved thematic maps (list, get, create, update, delete — writes need ``thematic.edit``), a
live preview of an unsaved declaration, and each map's figures ``/api/thematic/{slug}/data`` and its export as PNG
or PDF.

A map is shown to whoever may view its source (the layer's or the register's view permission) once it is published;
unpublished maps only to holders of ``thematic.edit``. The figures are computed on the principal's connection, so a
district account sees its district's groups and totals only (engine.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit
from layers.thematic import classify, engine, export, store
from layers.thematic.declaration import (
    CELL_SHAPES,
    GROUPINGS,
    RENDERINGS,
    STATISTICS,
    Source,
    check,
    find_source,
    sources,
)

router = APIRouter(prefix="/api/thematic", tags=["专题图"])


def _source_or_none(conn: Connection, row: dict) -> Source | None:
    return find_source(conn, row["source"])


def _may_view(who: Principal, row: dict, source: Source | None) -> bool:
    if source is None:
        return who.can(store.EDIT)
    return (row["published"] or who.can(store.EDIT)) and who.can(source.view)


def _visible(conn: Connection, who: Principal, slug: str) -> tuple[dict, Source]:
    row = store.get(conn, slug)
    source = _source_or_none(conn, row)
    if not _may_view(who, row, source):
        if not row["published"] and not who.can(store.EDIT):
            raise ApiError(404, "thematic_map_not_found", f"专题图「{slug}」不存在。", "slug", {"slug": slug})
        who.require(source.view if source else store.EDIT, f"查看专题图「{row['title']}」")
    if source is None:
        raise ApiError(
            409,
            "source_missing",
            f"专题图「{row['title']}」的数据源「{row['source']}」已不存在，请修改专题图。",
            "source",
            {"source": row["source"]},
        )
    return row, source


@router.get("")
def list_maps(
    published: bool = Query(False, description="只列出已发布的专题图（大屏轮播用）"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    rows = store.all_maps(conn, published_only=published or not who.can(store.EDIT))
    out = []
    for row in rows:
        source = _source_or_none(conn, row)
        if _may_view(who, row, source):
            out.append(store.public(row) | {"source_title": source.title if source else None})
    return {"data": out, "can_edit": who.can(store.EDIT)}


@router.get("/options")
def options(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    """What a declaration may say: the sources and their attributes, statistics, groupings, schemes, colour ramps."""
    who.require(store.EDIT, "管理专题图")
    return {
        "sources": [s.public() for s in sources(conn) if who.can(s.view)],
        "statistics": STATISTICS,
        "groupings": GROUPINGS,
        "cell_shapes": CELL_SHAPES,
        "classifications": classify.SCHEMES,
        "renderings": RENDERINGS,
        "ramps": {name: {"title": classify.RAMP_TITLES[name], "colors": list(c)} for name, c in classify.RAMPS.items()},
        "classes": {"minimum": 2, "maximum": 9},
    }


@router.post("/preview")
def preview(
    body: dict[str, Any] = Body(...),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    """The figures of an unsaved declaration (the editor's live preview); nothing is stored."""
    who.require(store.EDIT, "管理专题图")
    decl, source = check(conn, body)
    who.require(source.view, f"查看「{source.title}」")
    return engine.answer(conn, decl, source) | {"map": decl, "source": source.public()}


@router.post("", status_code=201)
def create_map(
    body: dict[str, Any] = Body(...),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(store.EDIT, "管理专题图")
    decl, _ = check(conn, body)
    return store.public(store.create(conn, decl, who.user, who.user_id))


@router.get("/{slug}")
def get_map(slug: str, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")):
    row, source = _visible(conn, who, slug)
    return store.public(row) | {"source_title": source.title}


@router.put("/{slug}")
def update_map(
    slug: str,
    body: dict[str, Any] = Body(...),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(store.EDIT, "管理专题图")
    decl, _ = check(conn, body)
    return store.public(store.update(conn, slug, decl, body.get("version"), who.user, who.user_id))


@router.delete("/{slug}", status_code=204)
def delete_map(
    slug: str, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> Response:
    who.require(store.EDIT, "管理专题图")
    store.delete(conn, slug, who.user, who.user_id)
    return Response(status_code=204)


def figures(conn: Connection, who: Principal, slug: str) -> dict:
    row, source = _visible(conn, who, slug)
    decl = {k: row[k] for k in row}
    public = store.public(row) | {"source_title": source.title}
    return engine.answer(conn, decl, source) | {"map": public, "source": source.public()}


@router.get("/{slug}/data")
def map_data(slug: str, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")):
    """Groups with their values and classes, the class breaks, the legend, the headline figures and the groups'
    geometries (GeoJSON), as the principal's data scope holds them."""
    return figures(conn, who, slug)


@router.get("/{slug}/export.{fmt}")
def export_map(
    slug: str,
    fmt: str,
    request: Request,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> Response:
    """The map as a PNG (1600×1000) or an A4-landscape PDF with title, legend, scale bar, north arrow and date."""
    if fmt not in ("png", "pdf"):
        raise ApiError(404, "not_found", "只能导出 PNG 或 PDF。", "format", {"format": fmt})
    row, _ = _visible(conn, who, slug)
    data = export.render(request, slug, fmt)
    audit.record(conn, who.user, "export", "thematic_maps", row["id"], detail={"format": fmt}, user_id=who.user_id)
    name = f"{slug}.{fmt}"
    return Response(
        data,
        media_type="image/png" if fmt == "png" else "application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
