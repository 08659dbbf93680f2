"""API keys: list, create, rotate and revoke (``admin.keys``)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from fastapi import Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.accounts import keys
from api.admin.common import KEYS, PAGE_MAX, blank, endpoints, moment, writing
from api.auth import Principal
from api.deps import db_read
from api.errors import ApiError
from geo.bounds import RecordId, Text


class KeyIn(BaseModel):
    user_id: RecordId | None = Field(None, title="账号")
    username: Text(64) | None = Field(None, title="用户名")
    name: Text(100) = Field("", title="密钥名称")
    expires_at: Text(40) | None = Field(None, title="到期时间")  # a time from a form: common.moment (its window)


def key_rows(conn: Connection) -> list[dict]:
    """Every key (never the key itself), with ``active``: neither revoked nor expired."""
    now = datetime.now(UTC)
    rows = keys.listing(conn)
    for r in rows:
        r["active"] = r["revoked_at"] is None and (r["expires_at"] is None or r["expires_at"] > now)
    return rows


def key_answer(conn: Connection, kid: int, key: str) -> dict:
    row = next(k for k in key_rows(conn) if k["id"] == kid)
    return {**row, "key": key, "message": "请立即复制并妥善保存此密钥，它不会再次显示。"}


@endpoints.get("/keys", summary="API 密钥列表")
def list_keys(
    q: str | None = None,
    status: str | None = None,
    limit: int = Query(50, ge=1, le=PAGE_MAX),
    offset: int = Query(0, ge=0),
    who: Principal = KEYS,
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    """``q`` matches the key's name, prefix or account; ``status`` is ``active`` or ``revoked``."""
    rows = key_rows(conn)
    if blank(q):
        needle = q.strip().lower()
        rows = [r for r in rows if needle in f"{r['name']} {r['prefix']} {r['username']}".lower()]
    if status in ("active", "revoked"):
        rows = [r for r in rows if r["active"] == (status == "active")]
    return {"items": rows[offset : offset + limit], "total": len(rows), "limit": limit, "offset": offset}


@endpoints.post("/keys", status_code=201, summary="为账号新建 API 密钥（密钥只显示这一次）")
def create_key(body: KeyIn, who: Principal = KEYS) -> dict:
    expires = moment(body.expires_at, "expires_at", end=True)
    with writing(who) as conn:
        user_id = body.user_id
        if user_id is None:
            username = blank(body.username)
            if not username:
                raise ApiError(422, "required", "请填写密钥所属的账号。", "username")
            user_id = conn.execute(sa.text("SELECT id FROM users WHERE username = :u"), {"u": username}).scalar()
            if user_id is None:
                raise ApiError(422, "reference_missing", f"账号「{username}」不存在。", "username")
        kid, key = keys.create(conn, user_id, body.name, who.user, expires)
        return key_answer(conn, kid, key)


@endpoints.post("/keys/{key_id}/rotate", summary="轮换 API 密钥：旧密钥立即失效，返回新密钥")
def rotate_key(key_id: int, who: Principal = KEYS) -> dict:
    with writing(who) as conn:
        kid, key = keys.rotate(conn, key_id, who.user)
        return key_answer(conn, kid, key)


@endpoints.post("/keys/{key_id}/revoke", summary="吊销 API 密钥")
def revoke_key(key_id: int, who: Principal = KEYS) -> dict:
    with writing(who) as conn:
        keys.revoke(conn, key_id, who.user)
    return {"message": "密钥已吊销。"}
