"""API keys for machine clients (county systems): created, rotated and revoked by an administrator.

A key reads ``cjk_<prefix>_<secret>``; only its SHA-256 is stored (the key is long and random, so a fast hash is
enough), with the prefix to find it and to show in lists. The key itself is shown once, when it is made.
"""

from __future__ import annotations

import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection

from api.accounts.sessions import token_hash
from api.errors import ApiError
from geo import audit


def new_key() -> tuple[str, str]:
    prefix = secrets.token_hex(4)
    return prefix, f"cjk_{prefix}_{secrets.token_urlsafe(32)}"


def create(
    conn: Connection,
    user_id: int,
    name: str,
    actor: str,
    expires_at: datetime | None = None,
    rotated_from: int | None = None,
) -> tuple[int, str]:
    """Returns (key id, the key) — the only time the key is seen."""
    if not name or not name.strip():
        raise ApiError(422, "required", "密钥名称不能为空。", "name")
    exists = conn.execute(sa.text("SELECT 1 FROM users WHERE id = :u AND active"), {"u": user_id}).scalar()
    if not exists:
        raise ApiError(422, "reference_missing", "密钥所属的账号不存在或已停用。", "user_id")
    prefix, key = new_key()
    kid = conn.execute(
        sa.text(
            "INSERT INTO api_keys (user_id, name, prefix, key_hash, created_by, expires_at, rotated_from) "
            "VALUES (:u, :n, :p, :h, :by, :e, :r) RETURNING id"
        ),
        {
            "u": user_id,
            "n": name.strip(),
            "p": prefix,
            "h": token_hash(key),
            "by": actor,
            "e": expires_at,
            "r": rotated_from,
        },
    ).scalar_one()
    audit.record(
        conn,
        actor,
        "api_key_create",
        "api_keys",
        kid,
        None,
        {"user_id": user_id, "name": name, "prefix": prefix, "rotated_from": rotated_from},
    )
    return kid, key


def revoke(conn: Connection, key_id: int, actor: str) -> None:
    done = conn.execute(
        sa.text(
            "UPDATE api_keys SET revoked_at = now(), revoked_by = :by "
            "WHERE id = :id AND revoked_at IS NULL RETURNING prefix"
        ),
        {"id": key_id, "by": actor},
    ).scalar()
    if done is None:
        raise ApiError(404, "not_found", "API 密钥不存在或已吊销。")
    audit.record(conn, actor, "api_key_revoke", "api_keys", key_id, None, {"prefix": done})


def rotate(conn: Connection, key_id: int, actor: str) -> tuple[int, str]:
    """A new key for the same client; the old one stops working at once."""
    row = conn.execute(
        sa.text("SELECT user_id, name, expires_at FROM api_keys WHERE id = :id AND revoked_at IS NULL FOR UPDATE"),
        {"id": key_id},
    ).first()
    if row is None:
        raise ApiError(404, "not_found", "API 密钥不存在或已吊销。")
    revoke(conn, key_id, actor)
    return create(conn, row.user_id, row.name, actor, row.expires_at, rotated_from=key_id)


def listing(conn: Connection) -> list[dict]:
    return [
        dict(r)
        for r in conn.execute(
            sa.text(
                "SELECT k.id, k.name, k.prefix, k.user_id, u.username, k.created_at, k.created_by, k.expires_at, "
                "k.revoked_at, k.revoked_by, k.last_used_at, k.rotated_from FROM api_keys k JOIN users u ON u.id = k.user_id "
                "ORDER BY k.id DESC"
            )
        ).mappings()
    ]
