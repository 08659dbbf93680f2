"""Users and their data grants (``admin.users``)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.accounts import sessions, users
from api.admin.common import (
    PAGE_MAX,
    USERS,
    blank,
    check_org,
    check_roles_grantable,
    endpoints,
    like,
    logged,
    moment,
    page,
    writing,
)
from api.auth import Principal
from api.deps import db_read
from api.errors import ApiError
from geo.bounds import MOBILE, RESIDENT_ID, Code, RecordId, Text, Version
from geo.layer.registry import registry

USER_LIST = (
    "u.id, u.username, u.display_name, u.org_id, o.name AS org_name, u.district, u.phone, u.email, "
    "u.active, u.must_change_password, u.locked_until, u.failed_logins, u.last_login_at, u.version, "
    "u.created_at, array(SELECT role FROM user_roles WHERE user_id = u.id ORDER BY role) AS roles"
)


class UserIn(BaseModel):
    username: Text(64) = Field("", title="用户名")
    display_name: Text(100) = Field("", title="姓名")
    password: Text(200) | None = Field(None, title="初始密码")
    must_change_password: bool = True
    roles: list[Text(60)] = Field([], title="角色", max_length=50)
    district: Text(20) | None = Field(None, title="所属区县")
    org_id: RecordId | None = Field(None, title="所属单位")
    phone: Code(MOBILE, blank=True) | None = Field(None, title="手机号")
    id_number: Code(RESIDENT_ID, blank=True) | None = Field(None, title="身份证号")
    email: Text(200) | None = Field(None, title="电子邮箱")


class UserPatch(BaseModel):
    display_name: Text(100) | None = Field(None, title="姓名")
    roles: list[Text(60)] | None = Field(None, title="角色", max_length=50)
    district: Text(20) | None = Field(None, title="所属区县")
    org_id: RecordId | None = Field(None, title="所属单位")
    phone: Code(MOBILE, blank=True) | None = Field(None, title="手机号")
    id_number: Code(RESIDENT_ID, blank=True) | None = Field(None, title="身份证号")
    email: Text(200) | None = Field(None, title="电子邮箱")
    active: bool | None = None
    must_change_password: bool | None = None
    version: Version = Field(title="版本号")


class PasswordReset(BaseModel):
    new_password: Text(200) = Field("", title="新密码")
    must_change_password: bool = True


class GrantIn(BaseModel):
    layer: Text(60) = Field("", title="图层")
    feature_id: RecordId = Field(title="记录编号")
    relation: Text(40) = Field("", title="授权关系")
    valid_from: Text(40) | None = Field(None, title="生效时间")  # a time from a form: common.moment (its window)
    valid_to: Text(40) | None = Field(None, title="失效时间")


@endpoints.get("/users", summary="用户列表（分页、筛选）")
def list_users(
    q: str | None = None,
    role: str | None = None,
    district: str | None = None,
    org_id: int | None = None,
    active: bool | None = None,
    limit: int = Query(50, ge=1, le=PAGE_MAX),
    offset: int = Query(0, ge=0),
    who: Principal = USERS,
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    """``q`` matches the user name, name or phone number (substring)."""
    where, params = [], {}
    if blank(q):
        where.append("(u.username ILIKE :q OR u.display_name ILIKE :q OR u.phone ILIKE :q)")
        params["q"] = like(q.strip())
    if blank(role):
        where.append("EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role = :role)")
        params["role"] = role
    if blank(district):
        where.append("u.district = :district")
        params["district"] = district
    if org_id is not None:
        where.append("u.org_id = :org")
        params["org"] = org_id
    if active is not None:
        where.append("u.active = :active")
        params["active"] = active
    return page(
        conn,
        USER_LIST,
        "users u LEFT JOIN organisations o ON o.id = u.org_id",
        where,
        params,
        "u.id DESC",
        limit,
        offset,
    )


@endpoints.get("/users/{user_id}", summary="用户详情")
def get_user(user_id: int, who: Principal = USERS, conn: Connection = Depends(db_read, scope="function")) -> dict:
    return users.user_row(conn, user_id)


@endpoints.post("/users", status_code=201, summary="新增用户")
def create_user(body: UserIn, who: Principal = USERS) -> dict:
    """An empty password leaves the account without one (it signs in by one-time code or single sign-on)."""
    with writing(who) as conn:
        check_roles_grantable(who, conn, users.check_roles(conn, body.roles))
        check_org(conn, body.org_id)
        uid = users.create_user(
            conn,
            body.username,
            body.display_name,
            body.roles,
            password=body.password or None,
            district=blank(body.district),
            org_id=body.org_id,
            phone=blank(body.phone),
            id_number=blank(body.id_number),
            email=blank(body.email),
            must_change_password=body.must_change_password and bool(body.password),
            actor=who.user,
        )
        return users.user_row(conn, uid)


@endpoints.patch("/users/{user_id}", summary="修改用户（须带上读到的 version）")
def update_user(user_id: int, body: UserPatch, who: Principal = USERS) -> dict:
    """Only the fields sent change; 409 ``stale_version`` when someone changed the user since it was read.
    Disabling an account ends its sessions."""
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    for key in ("district", "phone", "id_number", "email"):
        if key in changes:
            changes[key] = blank(changes[key])
    if "display_name" in changes and not blank(changes["display_name"]):
        raise ApiError(422, "required", "姓名不能为空。", "display_name")
    if changes.get("active") is False and user_id == who.user_id:
        raise ApiError(422, "self_disable", "不能停用自己的账号。", "active")
    with writing(who) as conn:
        if changes.get("roles") is not None:
            held = set(users.user_row(conn, user_id)["roles"])
            added = [r for r in users.check_roles(conn, changes["roles"]) if r not in held]
            check_roles_grantable(who, conn, added)
        elif "roles" in changes:
            del changes["roles"]
        if "org_id" in changes:
            check_org(conn, changes["org_id"])
        return users.update_user(conn, user_id, changes, actor=who.user, version=body.version)


@endpoints.post("/users/{user_id}/password", summary="重置用户密码（该用户的登录随之失效）")
def reset_password(user_id: int, body: PasswordReset, who: Principal = USERS) -> dict:
    with writing(who) as conn:
        users.user_row(conn, user_id)
        users.set_password(conn, user_id, body.new_password, actor=who.user, must_change=body.must_change_password)
        sessions.revoke_all(conn, user_id)
        return users.user_row(conn, user_id)


@endpoints.post("/users/{user_id}/unlock", summary="解除登录锁定")
def unlock(user_id: int, who: Principal = USERS) -> dict:
    with writing(who) as conn:
        before = users.user_row(conn, user_id)
        conn.execute(sa.text("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = :id"), {"id": user_id})
        logged(
            who,
            conn,
            "unlock",
            "users",
            user_id,
            {"locked_until": before["locked_until"], "failed_logins": before["failed_logins"]},
            {"locked_until": None, "failed_logins": 0},
        )
        return users.user_row(conn, user_id)


def set_active(user_id: int, active: bool, who: Principal) -> dict:
    if not active and user_id == who.user_id:
        raise ApiError(422, "self_disable", "不能停用自己的账号。", "active")
    with writing(who) as conn:
        return users.update_user(conn, user_id, {"active": active}, actor=who.user)


@endpoints.post("/users/{user_id}/disable", summary="停用账号（其登录随之失效）")
def disable(user_id: int, who: Principal = USERS) -> dict:
    return set_active(user_id, False, who)


@endpoints.post("/users/{user_id}/enable", summary="启用账号")
def enable(user_id: int, who: Principal = USERS) -> dict:
    return set_active(user_id, True, who)


GRANT_SELECT = "id, user_id, layer, feature_id, relation, valid_from, valid_to, created_at, created_by"


@endpoints.get("/users/{user_id}/grants", summary="用户的数据授权（可见的单条记录）")
def list_grants(user_id: int, who: Principal = USERS, conn: Connection = Depends(db_read, scope="function")) -> dict:
    users.user_row(conn, user_id)
    rows = conn.execute(
        sa.text(f"SELECT {GRANT_SELECT} FROM user_grants WHERE user_id = :u ORDER BY id DESC"), {"u": user_id}
    ).mappings()
    return {"items": [dict(r) for r in rows]}


@endpoints.post("/users/{user_id}/grants", status_code=201, summary="新增数据授权")
def add_grant(user_id: int, body: GrantIn, who: Principal = USERS) -> dict:
    """The record must exist and be visible to the actor; an existing grant of the same record and relation gets
    the new validity window."""
    grantable = registry.grantable()
    if body.layer not in {lyr.id for lyr in grantable}:
        titles = "、".join(lyr.title for lyr in grantable)
        raise ApiError(
            422,
            "invalid_layer",
            f"只能授权以下图层的单条记录：{titles}。",
            "layer",
            {"choices": [lyr.id for lyr in grantable]},
        )
    relation = blank(body.relation)
    if not relation:
        raise ApiError(422, "required", "请填写授权关系（如 施工单位、评审专家）。", "relation")
    valid_from, valid_to = moment(body.valid_from, "valid_from"), moment(body.valid_to, "valid_to")
    if valid_from and valid_to and valid_to <= valid_from:
        raise ApiError(422, "invalid_range", "结束时间须晚于开始时间。", "valid_to")
    layer = registry.get(body.layer)
    with writing(who) as conn:
        users.user_row(conn, user_id)
        found = conn.execute(
            sa.text(f"SELECT 1 FROM {layer.table} WHERE id = :i AND deleted_at IS NULL"), {"i": body.feature_id}
        ).scalar()
        if not found:
            raise ApiError(
                422,
                "reference_missing",
                f"「{layer.title}」中没有编号为 {body.feature_id} 的记录。",
                "feature_id",
                {"layer": layer.id},
            )
        gid = users.grant(conn, user_id, layer.id, body.feature_id, relation, valid_from, valid_to, actor=who.user)
        return dict(
            conn.execute(sa.text(f"SELECT {GRANT_SELECT} FROM user_grants WHERE id = :i"), {"i": gid}).mappings().one()
        )


@endpoints.delete("/users/{user_id}/grants/{grant_id}", summary="撤销数据授权")
def remove_grant(user_id: int, grant_id: int, who: Principal = USERS) -> dict:
    with writing(who) as conn:
        row = (
            conn.execute(
                sa.text(f"DELETE FROM user_grants WHERE id = :i AND user_id = :u RETURNING {GRANT_SELECT}"),
                {"i": grant_id, "u": user_id},
            )
            .mappings()
            .first()
        )
        if row is None:
            raise ApiError(404, "not_found", "该授权不存在。")
        logged(who, conn, "permission_change", "user_grants", grant_id, dict(row), None)
    return {"message": "授权已撤销。"}
