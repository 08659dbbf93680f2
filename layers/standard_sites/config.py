"""Configuration (ST-23): the photo checklist per site part, the monthly form's fields, bonus items, deduction items,
expert score items (``st_catalog``). Review rounds and their dates are configured with the draws (``draws.py``:
``/api/st/rounds``), which refuses to move a window once experts were drawn for it.

Writes need ``site.config``; every change is checked against the version the editor read (stale → 409). An item
that records already use is deactivated instead of deleted (its code stays meaningful in the old records); a round
that draws or applications use is closed instead.
"""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit
from geo.bounds import ITEM_CODE, Amount, Code, Text, Version, Whole
from layers.standard_sites import tables as t
from layers.standard_sites.common import PREFIX

router = APIRouter(prefix=f"{PREFIX}/config", tags=["标化工地"])

KINDS = {
    "photo": "拍照清单",
    "bonus": "加分项",
    "deduction": "减分项",
    "form_field": "月报表单字段",
    "score_item": "专家评分项",
}
Kind = Literal["photo", "bonus", "deduction", "form_field", "score_item"]
COLUMNS = tuple(t.catalog.c)  # every column of st_catalog: id, kind, code, name, … updated_at, updated_by

# What uses an item of each kind (then it is deactivated, not deleted): item -> a statement finding one use.
USED = {
    "photo": lambda item: sa.select(1).where(t.photos.c.checklist_code == item["code"]).limit(1),
    "form_field": lambda item: sa.select(1).where(t.reports.c.form.has_key(item["code"])).limit(1),
    "bonus": lambda item: sa.select(1).where(t.bonus_claims.c.item_id == item["id"]).limit(1),
    "deduction": lambda item: sa.select(1).where(t.deductions.c.item_id == item["id"]).limit(1),
    # the item's code as a key anywhere in the scores: position(:quoted IN scores::text) > 0
    "score_item": lambda item: (
        sa.select(1).where(sa.func.strpos(sa.cast(t.reviews.c.scores, sa.Text), f'"{item["code"]}"') > 0).limit(1)
    ),
}


class ItemFields(BaseModel):
    name: Text(200, 1) | None = Field(None, title="名称")
    part: Text(50) | None = Field(None, title="工地部位", description="拍照清单的工地部位")
    points: Amount(100) | None = Field(None, title="分值")
    required: bool | None = None
    field_type: Literal["text", "int"] | None = None
    sort: Whole(0, 9999) | None = Field(None, title="排序")


class NewItem(ItemFields):
    kind: Kind
    code: Code(ITEM_CODE) = Field(title="编码")
    name: Text(200, 1) = Field(title="名称")


class ItemUpdate(ItemFields):
    version: Version = Field(title="版本号")
    active: bool | None = None


# What an update may set to empty (null); the other fields, given as null, are refused naming the field.
CLEARABLE = ("part", "points", "field_type")
CLEARABLE_NOT = {"name": "名称", "required": "必填/必拍", "sort": "排序", "active": "启用"}


def _item(conn: Connection, item_id: int, lock: bool = False) -> dict:
    query = sa.select(*COLUMNS).where(t.catalog.c.id == item_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "配置项不存在或已删除。")
    return dict(row)


def _check_version(row: dict, version: int, what: str) -> None:
    if row["version"] != version:
        raise ApiError(
            409,
            "stale_version",
            f"该{what}已被他人修改，请刷新后再保存。",
            "version",
            {"current": row["version"], "given": version},
        )


def _check_item(kind: str, values: dict) -> None:
    if kind in ("bonus", "deduction", "score_item") and not values.get("points"):
        raise ApiError(422, "points_required", f"{KINDS[kind]}须填写分值（大于 0）。", "points")
    if kind == "form_field" and not values.get("field_type"):
        raise ApiError(422, "field_type_required", "月报表单字段须选择类型（text 或 int）。", "field_type")


def used(conn: Connection, item: dict) -> bool:
    return conn.execute(USED[item["kind"]](item)).first() is not None


@router.get("/catalog", summary="配置项（拍照清单、加分项、减分项、表单字段、评分项）")
def list_items(
    kind: Kind | None = None,
    include_inactive: bool = False,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require("site.view", "查看标化工地配置")
    everything = include_inactive and who.can("site.config")
    c = t.catalog
    query = sa.select(*COLUMNS).order_by(c.c.kind, c.c.sort, c.c.id)
    if kind is not None:
        query = query.where(c.c.kind == kind)
    if not everything:
        query = query.where(c.c.active)
    rows = conn.execute(query).mappings().all()
    return {"kinds": KINDS, "items": [_view(dict(r)) for r in rows]}


def _view(row: dict) -> dict:
    return {
        **row,
        "kind_title": KINDS[row["kind"]],
        "updated_at": row["updated_at"].isoformat() if row.get("updated_at") else None,
    }


@router.post("/catalog", status_code=201, summary="新增配置项")
def create_item(
    body: NewItem, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> dict:
    who.require("site.config", "修改标化工地配置")
    values = body.model_dump()
    _check_item(body.kind, values)
    c = t.catalog
    if conn.execute(sa.select(1).where(c.c.kind == body.kind, c.c.code == body.code)).first():
        raise ApiError(409, "duplicate_code", f"{KINDS[body.kind]}中已有编码「{body.code}」。", "code")
    if values["sort"] is None:
        values["sort"] = conn.execute(
            sa.select(sa.func.coalesce(sa.func.max(c.c.sort), 0) + 1).where(c.c.kind == body.kind)
        ).scalar()
    values["required"] = values["required"] or False  # coalesce(:required, false)
    row = conn.execute(sa.insert(c).values(**values, updated_by=who.user).returning(*COLUMNS)).mappings().one()
    audit.record(conn, who.user, "create", "st_catalog", row["id"], None, dict(row), who.client, user_id=who.user_id)
    return _view(dict(row))


@router.put("/catalog/{item_id}", summary="修改配置项（编码与类别不可改）")
def update_item(
    item_id: int,
    body: ItemUpdate,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require("site.config", "修改标化工地配置")
    before = _item(conn, item_id, lock=True)
    _check_version(before, body.version, "配置项")
    changes = body.model_dump(exclude={"version"}, exclude_unset=True)
    cleared = next((k for k, v in changes.items() if v is None and k not in CLEARABLE), None)
    if cleared is not None:  # emptied by the editor: refused, never silently kept as it was
        raise ApiError(422, "required", f"「{CLEARABLE_NOT[cleared]}」不能为空。", cleared)
    _check_item(before["kind"], {**before, **changes})
    c = t.catalog
    after = (
        conn.execute(
            sa.update(c)
            .where(c.c.id == item_id)
            .values(version=c.c.version + 1, updated_at=sa.func.now(), updated_by=who.user, **changes)
            .returning(*COLUMNS)
        )
        .mappings()
        .one()
    )
    audit.record(conn, who.user, "update", "st_catalog", item_id, before, dict(after), who.client, user_id=who.user_id)
    return _view(dict(after))


@router.delete("/catalog/{item_id}", summary="删除配置项（已被使用的改为停用）")
def delete_item(
    item_id: int,
    version: int,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require("site.config", "修改标化工地配置")
    before = _item(conn, item_id, lock=True)
    _check_version(before, version, "配置项")
    if used(conn, before):
        after = (
            conn.execute(
                sa.update(t.catalog)
                .where(t.catalog.c.id == item_id)
                .values(active=False, version=t.catalog.c.version + 1, updated_at=sa.func.now(), updated_by=who.user)
                .returning(*COLUMNS)
            )
            .mappings()
            .one()
        )
        audit.record(
            conn, who.user, "deactivate", "st_catalog", item_id, before, dict(after), who.client, user_id=who.user_id
        )
        return {
            "deleted": False,
            "deactivated": True,
            "item": _view(dict(after)),
            "message": f"「{before['name']}」已被使用，已停用（不再出现在新的申报中），历史记录保留。",
        }
    conn.execute(sa.delete(t.catalog).where(t.catalog.c.id == item_id))
    audit.record(conn, who.user, "delete", "st_catalog", item_id, before, None, who.client, user_id=who.user_id)
    return {"deleted": True, "deactivated": False, "item": None, "message": f"「{before['name']}」已删除。"}
