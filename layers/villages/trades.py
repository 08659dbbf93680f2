"""Administrators edit the craftsmen's trades (``vil_trades``, VT-04): add a trade, rename it, change its order,
retire it. A retired trade stays on the craftsmen who carry it (and may stay when their record is edited) but is
neither offered nor accepted for a new registration or a merged list. A rename rewrites the trade's name on every
craftsman who carries it, in the same transaction (``vil_craftsmen.trades`` keeps names; a trigger refuses a name
not in the list). Changes are checked (code, name unique and without separators, order unique), versioned
(``version`` as read, else 409) and audited. The list is city-wide: only an account of the whole city edits it.
Everyone who may see craftsmen reads it (``GET /api/villages/trades``; the active ones also in the craftsmen's
``/options``)."""

from __future__ import annotations

import re

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit
from geo.bounds import ITEM_CODE, Code, Text, Version, Whole
from geo.modules import log_labels, permissions

router = APIRouter(prefix="/api/villages/trades", tags=["智慧村镇·工匠"])
VIEW = "farmhouse.view"
EDIT = "farmhouse.trades"
CODE_RE = r"[a-z][a-z0-9_]{1,31}"
SEPARATORS = re.compile(r"[、,，;；\s]")

permissions({EDIT: "配置工匠工种"}, group="智慧村镇")
log_labels(objects={"vil_trades": "工匠工种"})

trades = sa.Table(
    "vil_trades",
    sa.MetaData(),
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column("seq", sa.Integer),
    sa.Column("active", sa.Boolean),
    sa.Column("version", sa.Integer),
    sa.Column("created_by", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
    sa.Column("updated_by", sa.Text),
)


def listed(conn: Connection) -> dict[str, bool]:
    """Every trade's name → whether it is active, in the list's order."""
    return dict(conn.execute(sa.select(trades.c.name, trades.c.active).order_by(trades.c.seq)).all())


def active_names(conn: Connection) -> list[str]:
    return [n for n, active in listed(conn).items() if active]


class TradeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Code(ITEM_CODE) = Field(title="编码")  # type: ignore[valid-type]
    name: Text(10, 1) = Field(title="名称")  # type: ignore[valid-type]
    seq: Whole(1, 1000) = Field(title="顺序")  # type: ignore[valid-type]


class TradePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Version = Field(title="版本号")  # type: ignore[valid-type]
    name: Text(10, 1) | None = Field(None, title="名称")  # type: ignore[valid-type]
    seq: Whole(1, 1000) | None = Field(None, title="顺序")  # type: ignore[valid-type]
    active: bool | None = Field(None, title="启用")


def _view(r) -> dict:
    return {k: r[k] for k in ("code", "name", "seq", "active", "version")}


def _name(value: str) -> str:
    text = value.strip()
    if SEPARATORS.search(text):
        raise ApiError(
            422, "invalid_name", "工种名称不能含空格、顿号、逗号或分号（导入名单用它们分隔多个工种）。", "name"
        )
    return text


def _require(who: Principal) -> None:
    who.require(EDIT, "配置工匠工种")
    if not who.scope.all:
        raise ApiError(403, "city_only", "工种列表为全市统一配置，须由市级管理员维护。", None)


def _write(conn: Connection, statement) -> dict:
    try:
        with conn.begin_nested():
            row = conn.execute(statement.returning(*trades.c)).mappings().first()
            conn.execute(sa.text("SET CONSTRAINTS ALL IMMEDIATE"))
    except IntegrityError as e:
        text = str(e.orig)
        if "seq" in text:
            raise ApiError(409, "seq_taken", "该顺序号已被其他工种占用。", "seq") from None
        if "name" in text:
            raise ApiError(409, "name_taken", "已有同名的工种。", "name") from None
        raise ApiError(409, "code_taken", "已有相同编码的工种。", "code") from None
    return dict(row) if row else {}


@router.get("", summary="工匠工种（按顺序，含已停用）")
def list_trades(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    who.require(VIEW, "查看工匠工种")
    return {
        "items": [_view(r) for r in conn.execute(sa.select(trades).order_by(trades.c.seq)).mappings()],
        "can_edit": who.can(EDIT) and who.scope.all,
    }


@router.post("", status_code=201, summary="新增工匠工种（市级管理员）")
def add_trade(
    body: TradeIn, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> dict:
    _require(who)
    if not re.fullmatch(CODE_RE, body.code):
        raise ApiError(
            422, "invalid_code", "工种编码须以小写字母开头，由小写字母、数字和下划线组成（2–32 个字符）。", "code"
        )
    row = _write(
        conn,
        sa.insert(trades).values(
            code=body.code, name=_name(body.name), seq=body.seq, created_by=who.user, updated_by=who.user
        ),
    )
    audit.record(conn, who.user, "create", "vil_trades", None, None, _view(row), who.client, user_id=who.user_id)
    return _view(row)


@router.patch("/{code}", summary="修改工匠工种（名称、顺序、停用；改名同步到持有该工种的工匠）")
def patch_trade(
    code: Code(ITEM_CODE),  # type: ignore[valid-type]
    body: TradePatch,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    _require(who)
    before = conn.execute(sa.select(trades).where(trades.c.code == code).with_for_update()).mappings().first()
    if before is None:
        raise ApiError(404, "not_found", "工种不存在。", "code")
    if before["version"] != body.version:
        raise ApiError(409, "stale", "该工种已被他人修改，请刷新后重试。", "version", {"version": before["version"]})
    changes = {k: v for k, v in body.model_dump(exclude={"version"}).items() if v is not None}
    if "name" in changes:
        changes["name"] = _name(changes["name"])
    row = _write(
        conn,
        sa.update(trades)
        .where(trades.c.code == code)
        .values(**changes, version=trades.c.version + 1, updated_at=sa.func.now(), updated_by=who.user),
    )
    renamed = 0
    if row["name"] != before["name"]:  # the craftsmen carry the name: rewrite it on each (the whole city's)
        renamed = conn.execute(
            sa.text(
                "UPDATE vil_craftsmen SET trades = array_replace(trades, :old, :new), version = version + 1, "
                "updated_at = now(), updated_by = :u WHERE :old = ANY (trades)"
            ),
            {"old": before["name"], "new": row["name"], "u": who.user},
        ).rowcount
    audit.record(
        conn, who.user, "update", "vil_trades", None, _view(before), _view(row), who.client,
        detail={"code": code, "craftsmen_renamed": renamed}, user_id=who.user_id,
    )  # fmt: skip
    return _view(row) | {"craftsmen_renamed": renamed}
