"""Idempotent uploads: a retried request with the same ``Idempotency-Key`` answers what the first one answered and
writes nothing again.

The key is per user. The first request stores its answer in the same transaction as its writes (so a failed
request leaves no key and can be retried); a concurrent duplicate waits on the key's row and then answers the
stored answer. The same key with a different body is a 422 — a client bug that must not pass silently.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from api.errors import ApiError

HEADER = "Idempotency-Key"


def key_of(request: Request, required: bool = False) -> str | None:
    key = (request.headers.get(HEADER) or "").strip()
    if not key:
        if required:
            raise ApiError(
                428,
                "idempotency_key_required",
                "上传请求须带 Idempotency-Key 请求头，以便断网重试时不会重复提交。",
                HEADER,
            )
        return None
    if len(key) > 200:
        raise ApiError(422, "invalid_idempotency_key", "Idempotency-Key 过长（最多 200 个字符）。", HEADER)
    return key


def body_hash(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else json.dumps(p, sort_keys=True, ensure_ascii=False, default=str).encode())
        h.update(b"\x00")
    return h.hexdigest()


def run(
    conn: Connection, user_id: int | None, key: str | None, request_sha256: str, work: Callable[[], tuple[int, Any]]
) -> JSONResponse:
    """``work()`` returns (status, JSON body); with a key, once per (user, key)."""
    if key is None or user_id is None:
        status, body = work()
        return JSONResponse(body, status_code=status)
    # Take the key first: a concurrent twin blocks here until this transaction ends.
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, :u))"), {"k": key, "u": user_id})
    row = conn.execute(
        sa.text("SELECT request_sha256, status_code, response FROM idempotency_keys WHERE user_id = :u AND key = :k"),
        {"u": user_id, "k": key},
    ).first()
    if row is not None:
        if row.request_sha256 != request_sha256:
            raise ApiError(
                422,
                "idempotency_key_reused",
                "同一个 Idempotency-Key 用于了不同的内容，请为新的提交生成新的键。",
                HEADER,
                {"key": key},
            )
        return JSONResponse(row.response, status_code=row.status_code, headers={"Idempotent-Replayed": "true"})
    status, body = work()
    conn.execute(
        sa.text(
            "INSERT INTO idempotency_keys (key, user_id, request_sha256, status_code, response) "
            "VALUES (:k, :u, :h, :s, CAST(:b AS jsonb))"
        ),
        {
            "k": key,
            "u": user_id,
            "h": request_sha256,
            "s": status,
            "b": json.dumps(body, ensure_ascii=False, default=str),
        },
    )
    return JSONResponse(json.loads(json.dumps(body, ensure_ascii=False, default=str)), status_code=status)
