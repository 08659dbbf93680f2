"""Sessions: opaque random tokens (only their SHA-256 is stored), as a browser cookie or a bearer token.

A cookie session carries a CSRF token that every cookie-authenticated write must echo in ``X-CSRF-Token``
(api/auth.py). Sessions end at ``expires_at``, after ``session_idle_minutes`` without use, on sign-out, when the
password changes, or when the account is disabled.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from fastapi import Request, Response
from sqlalchemy import Connection

from geo.settings import get_settings

COOKIE = "cj_session"
CSRF_COOKIE = "cj_csrf"
CSRF_HEADER = "x-csrf-token"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str = "cjs") -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def client_of(request: Request) -> str | None:
    return request.client.host if request.client else None


def start(
    conn: Connection, user_id: int, request: Request, method: str, kind: str = "cookie", ends_at: datetime | None = None
) -> tuple[str, str, datetime]:
    """Open a session for ``user_id``; returns (token, csrf token, expiry). ``ends_at`` caps the expiry (an
    expert's session ends with the review window)."""
    s = get_settings()
    token, csrf = new_token(), secrets.token_urlsafe(24)
    expires = datetime.now(UTC) + timedelta(hours=s.session_hours)
    if ends_at is not None:
        expires = min(expires, ends_at)
    conn.execute(
        sa.text(
            "INSERT INTO sessions (token_hash, user_id, kind, method, csrf_token, expires_at, client, user_agent) "
            "VALUES (:h, :u, :k, :m, :c, :e, :ip, :ua)"
        ),
        {
            "h": token_hash(token),
            "u": user_id,
            "k": kind,
            "m": method,
            "c": csrf,
            "e": expires,
            "ip": client_of(request),
            "ua": (request.headers.get("user-agent") or "")[:300],
        },
    )
    conn.execute(
        sa.text("UPDATE users SET last_login_at = now(), failed_logins = 0, locked_until = NULL WHERE id = :u"),
        {"u": user_id},
    )
    return token, csrf, expires


def revoke(conn: Connection, token: str) -> int | None:
    """End one session; returns its user id (None if there was none)."""
    return conn.execute(
        sa.text(
            "UPDATE sessions SET revoked_at = now() WHERE token_hash = :h AND revoked_at IS NULL RETURNING user_id"
        ),
        {"h": token_hash(token)},
    ).scalar()


def revoke_all(conn: Connection, user_id: int, except_token: str | None = None) -> None:
    conn.execute(
        sa.text(
            "UPDATE sessions SET revoked_at = now() WHERE user_id = :u AND revoked_at IS NULL AND token_hash <> :keep"
        ),
        {"u": user_id, "keep": token_hash(except_token or "")},
    )


def _secure(request: Request) -> bool:
    mode = get_settings().cookie_secure.lower()
    if mode in ("true", "1", "yes"):
        return True
    if mode in ("false", "0", "no"):
        return False
    if request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https":
        return True
    host = (request.url.hostname or "").strip("[]")
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host not in ("localhost", "testserver")


def set_cookies(response: Response, request: Request, token: str, csrf: str, expires: datetime) -> None:
    secure = _secure(request)
    max_age = max(0, int((expires - datetime.now(UTC)).total_seconds()))
    response.set_cookie(COOKIE, token, max_age=max_age, httponly=True, secure=secure, samesite="lax", path="/")
    # The CSRF token is readable by the page's scripts (not HttpOnly): they echo it in X-CSRF-Token.
    response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age, httponly=False, secure=secure, samesite="lax", path="/")


def clear_cookies(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
