"""Dynamic passwords (one-time codes) for experts (ST-25), delivered by SMS.

A code belongs to one user and one purpose, and is valid only between ``valid_from`` and ``valid_to`` — the
review window the expert was drawn for (a code asked for again inside the window lives ``otp_resend_minutes`` at
most). It is single use, burnt after ``otp_max_attempts`` wrong tries, and a new code replaces the previous one;
the SMS says so, and until when the review window is open (a second sign-in takes a new code: 「重新发送动态密码」).
Asking for codes is rate-limited per user (``otp_min_interval_s`` apart, ``otp_max_per_hour``), and the answer is the
same whether the login is unknown, outside its window, limited or sent, so that it tells no one who is an expert.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy import Connection

from api.accounts import sms
from api.accounts.users import find_login
from api.errors import ApiError
from geo import audit
from geo.settings import get_settings

PURPOSE = "expert_review"
TZ = timezone(timedelta(hours=8))


def now() -> datetime:
    return datetime.now(UTC)


def _hash(user_id: int, code: str) -> str:
    return hashlib.sha256(f"{user_id}:{code}".encode()).hexdigest()


def _fmt(t: datetime) -> str:
    return t.astimezone(TZ).strftime("%m月%d日%H:%M")


def issue(
    conn: Connection,
    user_id: int,
    valid_from: datetime,
    valid_to: datetime,
    purpose: str = PURPOSE,
    actor: str = "system",
    what: str = "评审",
    window: tuple[datetime, datetime] | None = None,
) -> str:
    """A new code for ``user_id``, valid in [valid_from, valid_to), sent by SMS; earlier unused codes end. ``window``
    is the review window the code belongs to (default: its own validity), named in the SMS."""
    user = conn.execute(sa.text("SELECT username, phone FROM users WHERE id = :u"), {"u": user_id}).first()
    if user is None or not user.phone:
        raise ApiError(422, "no_phone", "该用户没有登记手机号码，无法发送动态密码。", "phone")
    code = f"{secrets.randbelow(10 ** get_settings().otp_digits):0{get_settings().otp_digits}d}"
    conn.execute(
        sa.text(
            "UPDATE otp_codes SET revoked_at = now() WHERE user_id = :u AND purpose = :p "
            "AND used_at IS NULL AND revoked_at IS NULL"
        ),
        {"u": user_id, "p": purpose},
    )
    oid = conn.execute(
        sa.text(
            "INSERT INTO otp_codes (user_id, purpose, code_hash, valid_from, valid_to) VALUES (:u, :p, :h, :a, :b) "
            "RETURNING id"
        ),
        {"u": user_id, "p": purpose, "h": _hash(user_id, code), "a": valid_from, "b": valid_to},
    ).scalar_one()
    opens, closes = window or (valid_from, valid_to)
    body = (
        f"【杭州市建委】您的{what}账号：{user.username}（也可用手机号或身份证号登录），动态密码：{code}。"
        f"该动态密码只能登录一次，{_fmt(valid_to)}前有效；评审时间 {_fmt(opens)} 至 {_fmt(closes)}，"
        "期间再次登录请在登录页点「重新发送动态密码」获取新密码。仅限本人使用，请勿转告他人。"
    )
    sms.gateway().send(conn, user.phone, body, purpose, user_id)
    audit.record(
        conn,
        actor,
        "otp_issue",
        "otp_codes",
        oid,
        None,
        {"user_id": user_id, "valid_from": valid_from, "valid_to": valid_to},
        user_id=user_id,
    )
    return code


def current_window(conn: Connection, user_id: int, at: datetime | None = None) -> tuple[datetime, datetime] | None:
    """The review window the user is inside at ``at`` (their expert grants), or None."""
    at = at or now()
    row = conn.execute(
        sa.text(
            "SELECT min(valid_from), max(valid_to) FROM user_grants WHERE user_id = :u AND relation = 'expert' "
            "AND valid_from <= :t AND valid_to > :t"
        ),
        {"u": user_id, "t": at},
    ).first()
    return (row[0], row[1]) if row and row[0] else None


SENT = (
    "如该手机号或身份证号属于评审时间内的评审专家，新的动态密码已通过短信发送至其登记的手机（每 {gap} 秒最多发送一次，"
    "每小时最多 {hour} 次）。动态密码只能登录一次。"
)


def request_code(conn: Connection, login: str, client: str | None = None) -> dict:
    """An expert asks for a (new) code inside the review window. The answer is the same whatever happens (unknown
    login, no open assignment, too soon, sent): only the expert's phone learns the difference; the log keeps why."""
    s = get_settings()
    answer = {"message": SENT.format(gap=s.otp_min_interval_s, hour=s.otp_max_per_hour)}
    user = find_login(conn, login)
    if user is None or not user["active"] or not user["phone"]:
        return answer

    def refused(reason: str) -> dict:
        audit.record(
            conn,
            user["username"],
            "otp_refused",
            "users",
            user["id"],
            client=client,
            detail={"reason": reason},
            user_id=user["id"],
        )
        return answer

    window = current_window(conn, user["id"])
    if window is None:
        return refused("outside_window")
    recent = conn.execute(
        sa.text(
            "SELECT count(*) FILTER (WHERE created_at > :t - interval '1 hour'), max(created_at) FROM otp_codes "
            "WHERE user_id = :u AND purpose = :p"
        ),
        {"u": user["id"], "p": PURPOSE, "t": now()},
    ).first()
    if recent[1] is not None and (now() - recent[1]).total_seconds() < s.otp_min_interval_s:
        return refused("too_soon")
    if recent[0] >= s.otp_max_per_hour:
        return refused("hourly_limit")
    ends = min(window[1], now() + timedelta(minutes=s.otp_resend_minutes))
    issue(conn, user["id"], now(), ends, actor=user["username"], window=window)
    return answer


def verify(conn: Connection, login: str, code: str, client: str | None = None) -> tuple[int, datetime]:
    """Check a code; returns (user id, the end of its validity). Failures are logged and raise 401/403."""
    user = find_login(conn, login)
    fail = ApiError(
        401,
        "otp_invalid",
        "账号或动态密码不正确。动态密码只能登录一次，已用过或已失效的请点「重新发送动态密码」获取新密码。",
        "code",
    )
    if user is None or not user["active"]:
        raise fail
    row = conn.execute(
        sa.text(
            "SELECT id, code_hash, valid_from, valid_to, attempts FROM otp_codes WHERE user_id = :u AND purpose = :p "
            "AND used_at IS NULL AND revoked_at IS NULL ORDER BY id DESC LIMIT 1 FOR UPDATE"
        ),
        {"u": user["id"], "p": PURPOSE},
    ).first()

    def log(reason: str) -> None:
        audit.record(
            conn,
            user["username"],
            "login_failed",
            "users",
            user["id"],
            client=client,
            detail={"method": "otp", "reason": reason},
            user_id=user["id"],
        )

    if row is None:
        log("no_code")
        raise fail
    if not secrets.compare_digest(row.code_hash, _hash(user["id"], (code or "").strip())):
        attempts = row.attempts + 1
        conn.execute(
            sa.text(
                "UPDATE otp_codes SET attempts = :a, revoked_at = CASE WHEN :a >= :m THEN now() END WHERE id = :id"
            ),
            {"a": attempts, "m": get_settings().otp_max_attempts, "id": row.id},
        )
        log("wrong_code")
        raise fail
    t = now()
    if t < row.valid_from or t >= row.valid_to:
        log("outside_window")
        raise ApiError(
            403,
            "outside_window",
            f"动态密码只能在 {_fmt(row.valid_from)} 至 {_fmt(row.valid_to)} 之间使用。",
            "code",
            {"valid_from": row.valid_from.isoformat(), "valid_to": row.valid_to.isoformat()},
        )
    conn.execute(sa.text("UPDATE otp_codes SET used_at = now() WHERE id = :id"), {"id": row.id})
    return user["id"], row.valid_to
