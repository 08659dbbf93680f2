"""The saved thematic maps (table ``thematic_maps``): read, create, update, delete — each write audited in its
transaction. Who may view a map: anyone who may view its source, once it is published; before, only holders of
``thematic.edit``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import JSONB

from geo import audit
from geo.errors import Conflict, Invalid, NotFound, StaleVersion

EDIT = "thematic.edit"

maps = sa.Table(
    "thematic_maps",
    sa.MetaData(),
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("slug", sa.Text),
    sa.Column("title", sa.Text),
    sa.Column("description", sa.Text),
    sa.Column("source", sa.Text),
    sa.Column("statistic", sa.Text),
    sa.Column("attribute", sa.Text),
    sa.Column("filter", JSONB),
    sa.Column("grouping", sa.Text),
    sa.Column("cell_shape", sa.Text),
    sa.Column("cell_size_m", sa.Integer),
    sa.Column("classification", sa.Text),
    sa.Column("classes", sa.SmallInteger),
    sa.Column("colors", JSONB),
    sa.Column("rendering", sa.Text),
    sa.Column("category", sa.Text),
    sa.Column("published", sa.Boolean),
    sa.Column("sort", sa.Integer),
    sa.Column("version", sa.Integer),
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("created_by", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
    sa.Column("updated_by", sa.Text),
)


def all_maps(conn: Connection, published_only: bool = False) -> list[dict]:
    q = sa.select(maps).order_by(maps.c.sort, maps.c.id)
    if published_only:
        q = q.where(maps.c.published.is_(True))
    return [dict(r) for r in conn.execute(q).mappings()]


def get(conn: Connection, slug: str, lock: bool = False) -> dict:
    q = sa.select(maps).where(maps.c.slug == slug)
    row = conn.execute(q.with_for_update() if lock else q).mappings().first()
    if row is None:
        raise NotFound("thematic_map_not_found", f"专题图「{slug}」不存在。", "slug", {"slug": slug})
    return dict(row)


def _taken(conn: Connection, slug: str, other_id: int | None = None) -> bool:
    q = sa.select(maps.c.id).where(maps.c.slug == slug)
    if other_id is not None:
        q = q.where(maps.c.id != other_id)
    return conn.execute(q).first() is not None


def create(conn: Connection, decl: dict, actor: str, user_id: int | None = None) -> dict:
    if _taken(conn, decl["slug"]):
        raise Conflict("slug_taken", f"链接名「{decl['slug']}」已被其他专题图使用。", "slug", {"slug": decl["slug"]})
    row = (
        conn.execute(sa.insert(maps).values(**decl, created_by=actor, updated_by=actor).returning(maps))
        .mappings()
        .one()
    )
    after = dict(row)
    audit.record(conn, actor, "create", "thematic_maps", after["id"], None, after, user_id=user_id)
    return after


def update(conn: Connection, slug: str, decl: dict, version: Any, actor: str, user_id: int | None = None) -> dict:
    before = get(conn, slug, lock=True)
    if not isinstance(version, int) or isinstance(version, bool):
        raise Invalid("version_required", "请提供所修改专题图的版本号（version）。", "version")
    if version != before["version"]:
        raise StaleVersion(before["version"], version, "专题图")
    if decl["slug"] != slug and _taken(conn, decl["slug"], before["id"]):
        raise Conflict("slug_taken", f"链接名「{decl['slug']}」已被其他专题图使用。", "slug", {"slug": decl["slug"]})
    row = (
        conn.execute(
            sa.update(maps)
            .where(maps.c.id == before["id"])
            .values(**decl, version=maps.c.version + 1, updated_at=sa.func.now(), updated_by=actor)
            .returning(maps)
        )
        .mappings()
        .one()
    )
    after = dict(row)
    audit.record(conn, actor, "update", "thematic_maps", after["id"], before, after, user_id=user_id)
    return after


def delete(conn: Connection, slug: str, actor: str, user_id: int | None = None) -> None:
    before = get(conn, slug, lock=True)
    conn.execute(sa.delete(maps).where(maps.c.id == before["id"]))
    audit.record(conn, actor, "delete", "thematic_maps", before["id"], before, None, user_id=user_id)


def public(row: dict) -> dict:
    out = {k: v for k, v in row.items()}
    for k in ("created_at", "updated_at"):
        if out.get(k) is not None:
            out[k] = out[k].isoformat()
    out["url"] = f"/thematic/{row['slug']}"
    return out
