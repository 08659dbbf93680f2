"""``/api/auth``: sign in (password, expert one-time code), bearer tokens, sign out, who am I, password change.

Failed attempts are logged and counted in a transaction that commits even though the request fails (the error is
raised after it), so lockout and the operation log see every try.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.accounts import otp, sessions
from api.accounts.passwords import hash_password, needs_rehash, verify_password
from api.accounts.users import find_login, set_password
from api.auth import Principal, principal, require_login
from api.errors import ApiError
from geo import audit
from geo.bounds import OTP, Code, Text
from geo.db import transaction
from geo.settings import get_settings

router = APIRouter(prefix="/api/auth", tags=["auth"])


class Login(BaseModel):
    username: Text(64, 1) = Field(title="用户名", description="用户名、手机号或身份证号")
    password: Text(200, 1) = Field(title="密码")


class OtpRequest(BaseModel):
    login: Text(64, 1) = Field(title="手机号或身份证号", description="手机号或身份证号")


class OtpLogin(BaseModel):
    login: Text(64, 1) = Field(title="手机号或身份证号")
    code: Code(OTP) = Field(title="动态密码")
    token: bool = False  # true: answer a bearer token instead of setting the cookie


class PasswordChange(BaseModel):
    old_password: Text(200, 1) = Field(title="原密码")
    new_password: Text(200, 1) = Field(title="新密码")


def check_password(conn: Connection, login: str, password: str, client: str | None) -> int:
    """The user id for a good password; otherwise log, count towards lockout, and raise."""
    s = get_settings()
    user = find_login(conn, login)
    bad = ApiError(401, "invalid_credentials", "用户名或密码不正确。", "password")
    if user is None or not user["active"]:
        verify_password(None, password)  # same time as a wrong password
        audit.record(
            conn,
            login[:64],
            "login_failed",
            "users",
            None,
            client=client,
            detail={"method": "password", "reason": "unknown_user" if user is None else "inactive"},
        )
        raise bad
    now = datetime.now(UTC)
    if user["locked_until"] and user["locked_until"] > now:
        # Answered exactly like a wrong password (an unknown user too): the answer never tells which accounts exist
        # or are locked. The lock is in the operation log and on the account in the back office (「解锁」).
        verify_password(user["password_hash"], password)  # same time as any other try
        audit.record(
            conn,
            user["username"],
            "login_failed",
            "users",
            user["id"],
            client=client,
            detail={"method": "password", "reason": "locked", "locked_until": user["locked_until"].isoformat()},
            user_id=user["id"],
        )
        raise bad
    if not verify_password(user["password_hash"], password):
        failed = user["failed_logins"] + 1
        lock = failed >= s.lockout_attempts
        conn.execute(
            sa.text("UPDATE users SET failed_logins = :f, locked_until = :l WHERE id = :id"),
            {
                "f": 0 if lock else failed,
                "l": now + timedelta(minutes=s.lockout_minutes) if lock else None,
                "id": user["id"],
            },
        )
        audit.record(
            conn,
            user["username"],
            "login_failed",
            "users",
            user["id"],
            client=client,
            detail={"method": "password", "reason": "wrong_password", "failed": failed},
            user_id=user["id"],
        )
        if lock:
            audit.record(
                conn,
                user["username"],
                "account_locked",
                "users",
                user["id"],
                client=client,
                detail={"minutes": s.lockout_minutes},
                user_id=user["id"],
            )
        raise bad
    if needs_rehash(user["password_hash"]):
        conn.execute(
            sa.text("UPDATE users SET password_hash = :h WHERE id = :id"),
            {"h": hash_password(password), "id": user["id"]},
        )
    return user["id"]


def _signed_in(
    conn: Connection, user_id: int, request: Request, method: str, kind: str, ends_at: datetime | None = None
) -> dict:
    token, csrf, expires = sessions.start(conn, user_id, request, method, kind, ends_at)
    username = conn.execute(sa.text("SELECT username FROM users WHERE id = :u"), {"u": user_id}).scalar()
    audit.record(
        conn,
        username,
        "login",
        "users",
        user_id,
        client=sessions.client_of(request),
        detail={"method": method, "kind": kind},
        user_id=user_id,
    )
    return {"token": token, "csrf": csrf, "expires": expires, "username": username}


def _attempt(fn):
    """Run ``fn(conn)`` in a transaction that commits whatever happens; re-raise its ApiError afterwards."""
    error = None
    with transaction() as conn:
        try:
            result = fn(conn)
        except ApiError as e:
            error, result = e, None
    if error is not None:
        raise error
    return result


def _cookie_answer(request: Request, response: Response, done: dict) -> dict:
    sessions.set_cookies(response, request, done["token"], done["csrf"], done["expires"])
    return {"user": done["username"], "csrf_token": done["csrf"], "expires_at": done["expires"].isoformat()}


def _token_answer(done: dict) -> dict:
    return {
        "access_token": done["token"],
        "token_type": "bearer",
        "user": done["username"],
        "expires_in": int((done["expires"] - datetime.now(UTC)).total_seconds()),
    }


@router.post("/login", summary="用户名（或手机号、身份证号）和密码登录，建立浏览器会话")
def login(body: Login, request: Request, response: Response) -> dict:
    client = sessions.client_of(request)
    done = _attempt(
        lambda conn: _signed_in(
            conn, check_password(conn, body.username, body.password, client), request, "password", "cookie"
        )
    )
    return _cookie_answer(request, response, done)


@router.post("/token", summary="换取 API 访问令牌（Bearer）")
def token(body: Login, request: Request) -> dict:
    client = sessions.client_of(request)
    done = _attempt(
        lambda conn: _signed_in(
            conn, check_password(conn, body.username, body.password, client), request, "password", "bearer"
        )
    )
    return _token_answer(done)


@router.post(
    "/otp/request",
    status_code=202,
    summary="评审专家获取（重新发送）短信动态密码：仅限评审时间内，限频；无论账号是否存在，回答都相同",
)
def otp_request(body: OtpRequest, request: Request) -> dict:
    return _attempt(lambda conn: otp.request_code(conn, body.login, sessions.client_of(request)))


@router.post("/otp/login", summary="评审专家用手机号或身份证号加动态密码登录")
def otp_login(body: OtpLogin, request: Request, response: Response) -> dict:
    client = sessions.client_of(request)

    def run(conn: Connection) -> dict:
        user_id, ends = otp.verify(conn, body.login, body.code, client)
        return _signed_in(conn, user_id, request, "otp", "bearer" if body.token else "cookie", ends_at=ends)

    done = _attempt(run)
    return _token_answer(done) if body.token else _cookie_answer(request, response, done)


@router.post("/logout", summary="退出登录")
def logout(request: Request, response: Response, who: Principal = Depends(principal)) -> dict:
    auth = request.headers.get("authorization", "")
    tok = auth[7:].strip() if auth[:7].lower() == "bearer " else request.cookies.get(sessions.COOKIE)
    if who.authenticated and who.via in ("cookie", "bearer") and tok:
        with transaction() as conn:
            sessions.revoke(conn, tok)
            audit.record(conn, who.user, "logout", "users", who.user_id, client=who.client, user_id=who.user_id)
    sessions.clear_cookies(response)
    return {"message": "已退出登录。"}


@router.get("/me", summary="当前用户、角色、权限和数据范围")
def me(who: Principal = Depends(principal)) -> dict:
    return {**who.public(), "csrf_token": who.csrf}


@router.post("/password", summary="修改密码（其他会话随之失效）")
def change_password(body: PasswordChange, request: Request, who: Principal = Depends(require_login)) -> dict:
    def run(conn: Connection) -> None:
        stored = conn.execute(sa.text("SELECT password_hash FROM users WHERE id = :u"), {"u": who.user_id}).scalar()
        if not verify_password(stored, body.old_password):
            audit.record(
                conn, who.user, "password_change_failed", "users", who.user_id, client=who.client, user_id=who.user_id
            )
            raise ApiError(422, "invalid_credentials", "原密码不正确。", "old_password")
        if body.old_password == body.new_password:
            raise ApiError(422, "same_password", "新密码不能与原密码相同。", "new_password")
        set_password(conn, who.user_id, body.new_password, actor=who.user)
        auth = request.headers.get("authorization", "")
        current = auth[7:].strip() if auth[:7].lower() == "bearer " else request.cookies.get(sessions.COOKIE)
        sessions.revoke_all(conn, who.user_id, except_token=current)

    _attempt(run)
    return {"message": "密码已修改，其他设备上的登录已失效。"}
