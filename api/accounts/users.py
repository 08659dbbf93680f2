"""Users, organisations and grants: the functions the back office, the demo, registration flows and tests share.

Every change leaves an operation-log entry (geo/audit.py) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from api.accounts.ids import check_id_number, check_uscc
from api.accounts.passwords import hash_password, policy_problem
from api.errors import ApiError
from geo import audit
from geo.bounds import MOBILE
from geo.divisions import DISTRICT_NAMES

ORG_KINDS = {
    "commission": "建委",
    "district_authority": "区县主管部门",
    "enterprise": "企业",
    "review_agency": "审查机构",
    "department": "联审部门",
    "county_system": "区县系统",
    "other": "其他",
}
USER_FIELDS = (
    "username",
    "display_name",
    "org_id",
    "district",
    "phone",
    "id_number",
    "email",
    "active",
    "must_change_password",
)


def check_district(value: str | None, field: str = "district") -> str | None:
    if value in (None, ""):
        return None
    if value not in DISTRICT_NAMES:
        raise ApiError(
            422, "invalid_district", f"「{value}」不是杭州市的区县。", field, {"choices": list(DISTRICT_NAMES)}
        )
    return value


def check_phone(value: str | None, field: str = "phone") -> str | None:
    if value in (None, ""):
        return None
    digits = value.replace(" ", "").replace("-", "")  # 139 0000 0001 and 139-0000-0001 are written that way
    if MOBILE.refuse(digits) is not None:
        raise ApiError(
            422,
            "invalid_phone",
            f"手机号码「{value}」不正确（应为 11 位数字，以 13–19 开头）。",
            field,
            {"value": value},
        )
    return digits


def check_roles(conn: Connection, roles: Iterable[str]) -> list[str]:
    roles = list(dict.fromkeys(roles))
    known = set(conn.execute(sa.text("SELECT name FROM roles")).scalars())
    unknown = [r for r in roles if r not in known]
    if unknown:
        raise ApiError(422, "unknown_role", f"角色「{'、'.join(unknown)}」不存在。", "roles", {"roles": sorted(known)})
    return roles


def user_row(conn: Connection, user_id: int) -> dict[str, Any]:
    row = (
        conn.execute(
            sa.text(
                "SELECT u.id, u.username, u.display_name, u.org_id, o.name AS org_name, u.district, u.phone, u.id_number, "
                "u.email, u.active, u.must_change_password, u.locked_until, u.failed_logins, u.last_login_at, u.version, "
                "u.oidc_subject, u.created_at, array(SELECT role FROM user_roles WHERE user_id = u.id ORDER BY role) AS roles "
                "FROM users u LEFT JOIN organisations o ON o.id = u.org_id WHERE u.id = :id"
            ),
            {"id": user_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise ApiError(404, "not_found", "用户不存在。")
    out = dict(row)
    out["roles"] = list(out["roles"])
    return out


def create_org(
    conn: Connection, name: str, kind: str, uscc: str | None = None, district: str | None = None, actor: str = "system"
) -> int:
    if kind not in ORG_KINDS:
        raise ApiError(422, "invalid_kind", f"单位类型「{kind}」不正确。", "kind", {"choices": ORG_KINDS})
    if not name or not name.strip():
        raise ApiError(422, "required", "单位名称不能为空。", "name")
    if uscc:
        uscc = check_uscc(uscc)
    elif kind in ("enterprise", "review_agency"):
        raise ApiError(422, "required", "企业和审查机构须填写统一社会信用代码。", "uscc")
    district = check_district(district)
    oid = conn.execute(
        sa.text("INSERT INTO organisations (name, kind, uscc, district) VALUES (:n, :k, :u, :d) RETURNING id"),
        {"n": name.strip(), "k": kind, "u": uscc, "d": district},
    ).scalar_one()
    audit.record(
        conn,
        actor,
        "create",
        "organisations",
        oid,
        None,
        {"name": name, "kind": kind, "uscc": uscc, "district": district},
    )
    return oid


def create_user(
    conn: Connection,
    username: str,
    display_name: str,
    roles: Iterable[str] = (),
    password: str | None = None,
    district: str | None = None,
    org_id: int | None = None,
    phone: str | None = None,
    id_number: str | None = None,
    email: str | None = None,
    must_change_password: bool = False,
    actor: str = "system",
    check_password: bool = True,
) -> int:
    username = (username or "").strip()
    if not username or len(username) > 64:
        raise ApiError(422, "invalid_username", "用户名不能为空，且不超过 64 个字符。", "username")
    if not display_name or not display_name.strip():
        raise ApiError(422, "required", "姓名不能为空。", "display_name")
    roles = check_roles(conn, roles)
    district = check_district(district)
    phone = check_phone(phone)
    if id_number:
        id_number = check_id_number(id_number)
    if password is not None and check_password:
        problem = policy_problem(password, username)
        if problem:
            raise ApiError(422, "weak_password", problem, "password")
    if "district_staff" in roles and not district:
        raise ApiError(422, "required", "区县工作人员须指定所属区县。", "district")
    uid = conn.execute(
        sa.text(
            "INSERT INTO users (username, display_name, org_id, district, phone, id_number, email, password_hash, "
            "must_change_password, password_changed_at) VALUES (:u, :n, :o, :d, :p, :i, :e, :h, :m, now()) RETURNING id"
        ),
        {
            "u": username,
            "n": display_name.strip(),
            "o": org_id,
            "d": district,
            "p": phone,
            "i": id_number,
            "e": email,
            "h": hash_password(password) if password else None,
            "m": must_change_password,
        },
    ).scalar_one()
    for role in roles:
        conn.execute(sa.text("INSERT INTO user_roles (user_id, role) VALUES (:u, :r)"), {"u": uid, "r": role})
    audit.record(conn, actor, "create", "users", uid, None, _loggable(user_row(conn, uid)))
    return uid


def _loggable(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("created_at", "last_login_at", "locked_until")}


def update_user(
    conn: Connection, user_id: int, changes: dict[str, Any], actor: str = "system", version: int | None = None
) -> dict:
    before = user_row(conn, user_id)
    if version is not None and version != before["version"]:
        raise ApiError(
            409,
            "stale_version",
            "该用户已被他人修改，请刷新后再保存。",
            "version",
            {"current": before["version"], "given": version},
        )
    values: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "roles":
            continue
        if key not in USER_FIELDS:
            raise ApiError(422, "unknown_field", f"不能修改字段「{key}」。", key)
        if key == "district":
            value = check_district(value)
        elif key == "phone":
            value = check_phone(value)
        elif key == "id_number" and value:
            value = check_id_number(value)
        values[key] = value
    if values:
        sets = ", ".join(f"{k} = :{k}" for k in values)
        conn.execute(
            sa.text(f"UPDATE users SET {sets}, version = version + 1, updated_at = now() WHERE id = :id"),
            {**values, "id": user_id},
        )
    if "roles" in changes:
        roles = check_roles(conn, changes["roles"])
        conn.execute(sa.text("DELETE FROM user_roles WHERE user_id = :u"), {"u": user_id})
        for role in roles:
            conn.execute(sa.text("INSERT INTO user_roles (user_id, role) VALUES (:u, :r)"), {"u": user_id, "r": role})
        if not values:
            conn.execute(
                sa.text("UPDATE users SET version = version + 1, updated_at = now() WHERE id = :id"), {"id": user_id}
            )
    if changes.get("active") is False:
        conn.execute(
            sa.text("UPDATE sessions SET revoked_at = now() WHERE user_id = :u AND revoked_at IS NULL"), {"u": user_id}
        )
    after = user_row(conn, user_id)
    if "district_staff" in after["roles"] and not after["district"]:
        raise ApiError(422, "required", "区县工作人员须指定所属区县。", "district")
    action = "permission_change" if "roles" in changes and before["roles"] != after["roles"] else "update"
    audit.record(conn, actor, action, "users", user_id, _loggable(before), _loggable(after))
    return after


def set_password(
    conn: Connection, user_id: int, password: str, actor: str = "system", must_change: bool = False
) -> None:
    username = conn.execute(sa.text("SELECT username FROM users WHERE id = :id"), {"id": user_id}).scalar()
    problem = policy_problem(password, username)
    if problem:
        raise ApiError(422, "weak_password", problem, "new_password")
    conn.execute(
        sa.text(
            "UPDATE users SET password_hash = :h, password_changed_at = now(), must_change_password = :m, "
            "failed_logins = 0, locked_until = NULL, version = version + 1 WHERE id = :id"
        ),
        {"h": hash_password(password), "m": must_change, "id": user_id},
    )
    audit.record(conn, actor, "password_change", "users", user_id, None, None, detail={"user": username})


def grant(
    conn: Connection,
    user_id: int,
    layer: str,
    feature_id: int,
    relation: str,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    actor: str = "system",
) -> int:
    """Let an 'assigned'-scope user see one record (a unit's project, an expert's site within the window)."""
    gid = conn.execute(
        sa.text(
            "INSERT INTO user_grants (user_id, layer, feature_id, relation, valid_from, valid_to, created_by) "
            "VALUES (:u, :l, :f, :r, :a, :b, :by) ON CONFLICT (user_id, layer, feature_id, relation) "
            "DO UPDATE SET valid_from = excluded.valid_from, valid_to = excluded.valid_to RETURNING id"
        ),
        {"u": user_id, "l": layer, "f": feature_id, "r": relation, "a": valid_from, "b": valid_to, "by": actor},
    ).scalar_one()
    audit.record(
        conn,
        actor,
        "permission_change",
        "user_grants",
        gid,
        None,
        {
            "user_id": user_id,
            "layer": layer,
            "feature_id": feature_id,
            "relation": relation,
            "valid_from": valid_from,
            "valid_to": valid_to,
        },
    )
    return gid


def find_login(conn: Connection, login: str) -> dict | None:
    """The user a sign-in name means: username, phone number or resident ID number."""
    login = (login or "").strip()
    return (
        conn.execute(
            sa.text(
                "SELECT id, username, password_hash, active, failed_logins, locked_until, phone, id_number, "
                "must_change_password FROM users WHERE username = :l OR phone = :l OR upper(id_number) = upper(:l) "
                "ORDER BY (username = :l) DESC LIMIT 1"
            ),
            {"l": login},
        )
        .mappings()
        .first()
    )
