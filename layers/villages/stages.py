"""Administrators edit the post-approval stages (``vil_stages``, VT-02): add a stage, rename it, change its order or
its due days, retire it (a retired stage keeps its history; houses that passed it keep it as their stage). Changes
are checked (name unique, order unique, due days 1–720), versioned (``version`` as read, else 409) and audited.
Everyone who may see farmhouses reads the list (``GET …/construction/stages``, construction.py)."""

from __future__ import annotations

import re

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit
from geo.bounds import ITEM_CODE, Code, Text, Version, Whole
from geo.modules import log_labels, permissions
from layers.villages.tables import stages

router = APIRouter(prefix="/api/villages/stages", tags=["智慧村镇"])
EDIT = "farmhouse.stages"
CODE_RE = r"[a-z][a-z0-9_]{1,31}"

permissions({EDIT: "配置农房建设阶段"}, group="智慧村镇")
log_labels(objects={"vil_stages": "农房建设阶段"})


class StageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Code(ITEM_CODE)
    name: Text(20, 1)
    seq: Whole(1, 1000)
    due_days: Whole(1, 720) = 30


class StagePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Version
    name: Text(20, 1) | None = None
    seq: Whole(1, 1000) | None = None
    due_days: Whole(1, 720) | None = None
    active: bool | None = None


def _view(r) -> dict:
    return {k: r[k] for k in ("code", "name", "seq", "due_days", "active", "version")}


def _write(conn: Connection, statement) -> dict:
    try:
        with conn.begin_nested():
            row = conn.execute(statement.returning(*stages.c)).mappings().first()
            conn.execute(sa.text("SET CONSTRAINTS ALL IMMEDIATE"))
    except IntegrityError as e:
        text = str(e.orig)
        if "seq" in text:
            raise ApiError(409, "seq_taken", "该顺序号已被其他阶段占用。", "seq") from None
        if "name" in text:
            raise ApiError(409, "name_taken", "已有同名的建设阶段。", "name") from None
        raise ApiError(409, "code_taken", "已有相同编码的建设阶段。", "code") from None
    return dict(row) if row else {}


@router.get("", summary="建设阶段（含已停用）")
def list_stages(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    who.require("farmhouse.view", "查看农房建设阶段")
    return {"items": [_view(r) for r in conn.execute(sa.select(stages).order_by(stages.c.seq)).mappings()]}


@router.post("", status_code=201, summary="新增建设阶段")
def add_stage(
    body: StageIn, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> dict:
    who.require(EDIT, "配置农房建设阶段")
    if not re.fullmatch(CODE_RE, body.code):
        raise ApiError(
            422, "invalid_code", "阶段编码须以小写字母开头，由小写字母、数字和下划线组成（2–32 个字符）。", "code"
        )
    row = _write(
        conn,
        sa.insert(stages).values(
            code=body.code, name=body.name.strip(), seq=body.seq, due_days=body.due_days, updated_by=who.user
        ),
    )
    audit.record(conn, who.user, "create", "vil_stages", None, None, _view(row), who.client, user_id=who.user_id)
    return _view(row)


@router.patch("/{code}", summary="修改建设阶段（名称、顺序、期限、停用）")
def patch_stage(
    code: Code(ITEM_CODE),
    body: StagePatch,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(EDIT, "配置农房建设阶段")
    before = conn.execute(sa.select(stages).where(stages.c.code == code).with_for_update()).mappings().first()
    if before is None:
        raise ApiError(404, "not_found", "建设阶段不存在。", "code")
    if before["version"] != body.version:
        raise ApiError(409, "stale", "该阶段已被他人修改，请刷新后重试。", "version", {"version": before["version"]})
    changes = {k: v for k, v in body.model_dump(exclude={"version"}).items() if v is not None}
    if "name" in changes:
        changes["name"] = changes["name"].strip()
    row = _write(
        conn,
        sa.update(stages)
        .where(stages.c.code == code)
        .values(**changes, version=stages.c.version + 1, updated_at=sa.func.now(), updated_by=who.user),
    )
    audit.record(
        conn, who.user, "update", "vil_stages", None, _view(before), _view(row), who.client,
        detail={"code": code}, user_id=who.user_id,
    )  # fmt: skip
    return _view(row)
