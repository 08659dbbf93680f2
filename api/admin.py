"""The back office: its API under ``/api/admin`` and its pages at ``/admin`` (webmap/admin/).

Every API route needs a named action — ``admin.users`` (users, organisations, data grants), ``admin.roles``
(roles and their permissions), ``admin.keys`` (API keys), ``admin.log`` (operation log), ``admin.sms`` (SMS
outbox). Anonymous callers get 401, signed-in callers without the action 403. The pages themselves are public: they
ask the API and show a sign-in form to a visitor who is not signed in.

Each write is one transaction that goes through the functions of api/accounts and leaves an operation-log row in
it; every edit of a role, its permissions or a user's roles and grants is logged as ``permission_change`` with
before and after. Nobody hands out more than they hold: assigning a role, or granting a permission pattern, that
the actor's own permissions do not cover is refused (403, field ``roles`` / ``permissions``).

Errors have the API's shape ``{code, message, field, detail}``; ``field`` names the form field the page shows the
message next to. Lists answer ``{items, total, limit, offset}``, newest first.
"""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from fnmatch import fnmatchcase
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api import auth
from api.accounts import keys, sessions, users
from api.auth import Principal, principal
from api.deps import db_read
from api.errors import ApiError
from api.web import APP_CACHE, WEBMAP, file_response
from geo import audit
from geo.db import transaction
from geo.scope import GRANT_LAYERS
from layers.base import DISTRICT_NAMES
from layers.registry import registry

PAGES_DIR = WEBMAP / "admin"
PAGE_MAX = 200
TZ = timezone(timedelta(hours=8))  # dates typed in the back office are Beijing time

SCOPES = {"all": "全部数据", "district": "本区县数据", "assigned": "授权的记录", "none": "无业务数据"}
TABS = (("users", "admin.users"), ("orgs", "admin.users"), ("roles", "admin.roles"), ("keys", "admin.keys"),
        ("log", "admin.log"), ("sms", "admin.sms"))
ADMIN_ACTIONS = {"admin.users": "管理用户、单位和数据授权", "admin.roles": "管理角色与权限",
                 "admin.keys": "管理 API 密钥", "admin.log": "查看操作日志", "admin.sms": "查看短信发件箱"}
# Named actions of the site module that are not a layer's view/edit/import/export (migration 0005).
SITE_ACTIONS = {"site.report.submit": "提交工地报告", "site.report.receive": "接收工地报告",
                "site.report.review": "审核工地报告", "site.evaluate": "工地考评", "site.expert_review": "专家评审"}
VERBS = {"view": "查看", "edit": "编辑", "import": "导入", "export": "导出"}
LOG_ACTIONS = {"login": "登录", "login_failed": "登录失败", "logout": "退出登录", "account_locked": "账号锁定",
               "unlock": "解除锁定", "password_change": "修改密码", "password_change_failed": "修改密码失败",
               "permission_change": "权限变更", "create": "新增", "update": "修改", "delete": "删除",
               "import": "导入", "export": "导出", "reset": "重置数据", "api_key_create": "创建 API 密钥",
               "api_key_revoke": "吊销 API 密钥", "otp_issue": "发送动态密码", "otp_refused": "拒发动态密码"}
LOG_OBJECTS = {"users": "用户", "organisations": "单位", "roles": "角色", "user_grants": "数据授权",
               "api_keys": "API 密钥", "otp_codes": "动态密码"}
PATTERN = re.compile(r"[a-z_*]+(\.[a-z_*]+)*")
ROLE_NAME = re.compile(r"[a-z][a-z0-9_]{1,31}")

endpoints = APIRouter(prefix="/api/admin", tags=["admin"])
pages = APIRouter(include_in_schema=False)


# -- helpers ----------------------------------------------------------------------------------------------------

def blank(value: str | None) -> str | None:
    """A form's empty text is no value."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def page(conn: Connection, select: str, count_from: str, where: list[str], params: dict, order: str,
         limit: int, offset: int) -> dict:
    """One page of a list: ``SELECT <select> FROM … WHERE … ORDER BY …`` and the total count."""
    cond = (" WHERE " + " AND ".join(where)) if where else ""
    total = conn.execute(sa.text(f"SELECT count(*) FROM {count_from}{cond}"), params).scalar_one()
    rows = conn.execute(sa.text(f"SELECT {select} FROM {count_from}{cond} ORDER BY {order} "
                                "LIMIT :limit OFFSET :offset"), {**params, "limit": limit, "offset": offset})
    return {"items": [dict(r) for r in rows.mappings()], "total": total, "limit": limit, "offset": offset}


def moment(value: str | None, field: str, end: bool = False) -> datetime | None:
    """A time from a form: ``2026-11-26`` (the whole day, Beijing time; as an end, up to the next midnight),
    ``2026-11-26T09:30`` (Beijing time) or a full ISO 8601 time."""
    value = blank(value)
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value) + timedelta(days=1 if end else 0)
            return datetime.combine(day, time(), TZ)
        t = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(422, "invalid_time", f"时间「{value}」格式不正确（应为 2026-11-26 或 2026-11-26T09:30）。",
                       field, {"value": value})
    return t if t.tzinfo else t.replace(tzinfo=TZ)


def logged(who: Principal, conn: Connection, action: str, layer: str, feature_id: int | None, before: Any,
           after: Any, detail: Any = None) -> None:
    audit.record(conn, who.user, action, layer, feature_id, before, after, client=who.client, detail=detail,
                 user_id=who.user_id)


def check_grantable(who: Principal, patterns: list[str], field: str) -> None:
    """Refuse handing out a permission pattern the actor's own permissions do not cover."""
    beyond = [p for p in patterns if not who.can(p)]
    if beyond:
        raise ApiError(403, "forbidden", f"不能授予自己没有的权限：{'、'.join(beyond)}。", field,
                       {"permissions": beyond})


def check_roles_grantable(who: Principal, conn: Connection, roles: list[str]) -> None:
    rows = conn.execute(sa.text("SELECT role, permission FROM role_permissions WHERE role = ANY(:r)"),
                        {"r": roles}).all()
    beyond = sorted({role for role, perm in rows if not who.can(perm)})
    if beyond:
        raise ApiError(403, "forbidden", f"不能分配权限超出自己的角色：{'、'.join(beyond)}。", "roles",
                       {"roles": beyond})


def check_org(conn: Connection, org_id: int | None) -> None:
    if org_id is not None and not conn.execute(sa.text("SELECT 1 FROM organisations WHERE id = :i"),
                                               {"i": org_id}).scalar():
        raise ApiError(422, "reference_missing", "所选单位不存在。", "org_id", {"org_id": org_id})


def writing(who: Principal):
    """The transaction of one back-office write, in the actor's data scope."""
    return transaction(who.scope)


def needs(permission: str, what: str):
    """A dependency: the principal, once it holds ``permission`` (checked before the request body is read, so
    an anonymous or unauthorised caller gets 401/403 rather than a validation error)."""
    def check(who: Principal = Depends(principal)) -> Principal:
        who.require(permission, what)
        return who
    return check


USERS = Depends(needs("admin.users", "管理用户和单位"))
ROLES = Depends(needs("admin.roles", "管理角色与权限"))
KEYS = Depends(needs("admin.keys", "管理 API 密钥"))
LOG = Depends(needs("admin.log", "查看操作日志"))
SMS = Depends(needs("admin.sms", "查看短信发件箱"))


# -- overview ---------------------------------------------------------------------------------------------------

@endpoints.get("/meta", summary="后台首页：可用的栏目和表单选项")
def meta(who: Principal = Depends(principal), conn: Connection = Depends(db_read)) -> dict:
    """The tabs the caller may open and the choices the forms offer. 401 when not signed in, 403 without any
    back-office action."""
    tabs = [tab for tab, perm in TABS if who.can(perm)]
    if not tabs:
        who.require("admin.users", "进入后台管理")
    roles = conn.execute(sa.text("SELECT name, title, scope FROM roles ORDER BY builtin DESC, name")).mappings()
    return {"user": who.user, "display_name": who.display_name, "tabs": tabs, "roles": [dict(r) for r in roles],
            "districts": list(DISTRICT_NAMES), "org_kinds": users.ORG_KINDS, "scopes": SCOPES,
            "grant_layers": [{"id": lid, "title": registry.get(lid).title} for lid in GRANT_LAYERS],
            "log_actions": LOG_ACTIONS, "log_objects": {**LOG_OBJECTS, **{lyr.id: lyr.title for lyr in registry.all()}}}


# -- organisations ----------------------------------------------------------------------------------------------

ORG_SELECT = ("o.id, o.name, o.kind, o.uscc, o.district, o.version, o.created_at, o.updated_at, "
              "(SELECT count(*) FROM users u WHERE u.org_id = o.id) AS users")


class OrgIn(BaseModel):
    name: str = Field("", max_length=200)
    kind: str = ""
    uscc: str | None = None
    district: str | None = None


class OrgPatch(BaseModel):
    name: str | None = Field(None, max_length=200)
    kind: str | None = None
    uscc: str | None = None
    district: str | None = None
    version: int


def org_row(conn: Connection, org_id: int) -> dict:
    row = conn.execute(sa.text(f"SELECT {ORG_SELECT} FROM organisations o WHERE o.id = :i"),
                       {"i": org_id}).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "单位不存在。")
    return dict(row)


@endpoints.get("/organisations", summary="单位列表")
def list_orgs(kind: str | None = None, q: str | None = None, limit: int = Query(50, ge=1, le=PAGE_MAX),
              offset: int = Query(0, ge=0), who: Principal = USERS,
              conn: Connection = Depends(db_read)) -> dict:
    where, params = [], {}
    if blank(kind):
        where.append("o.kind = :kind")
        params["kind"] = kind
    if blank(q):
        where.append("(o.name ILIKE :q OR o.uscc ILIKE :q)")
        params["q"] = like(q.strip())
    return page(conn, ORG_SELECT, "organisations o", where, params, "o.id DESC", limit, offset)


@endpoints.post("/organisations", status_code=201, summary="新增单位")
def create_org(body: OrgIn, who: Principal = USERS) -> dict:
    with writing(who) as conn:
        oid = users.create_org(conn, body.name, body.kind, blank(body.uscc), blank(body.district), actor=who.user)
        return org_row(conn, oid)


@endpoints.patch("/organisations/{org_id}", summary="修改单位（须带上读到的 version）")
def update_org(org_id: int, body: OrgPatch, who: Principal = USERS) -> dict:
    """Validated as on creation; 409 ``stale_version`` when someone changed the record since it was read."""
    with writing(who) as conn:
        before = org_row(conn, org_id)
        if body.version != before["version"]:
            raise ApiError(409, "stale_version", "该单位已被他人修改，请刷新后再保存。", "version",
                           {"current": before["version"], "given": body.version})
        given = body.model_dump(exclude_unset=True, exclude={"version"})
        new = {k: before[k] for k in ("name", "kind", "uscc", "district")}
        new.update({k: (v.strip() if k == "name" and v else blank(v)) for k, v in given.items()})
        if not new["name"]:
            raise ApiError(422, "required", "单位名称不能为空。", "name")
        if new["kind"] not in users.ORG_KINDS:
            raise ApiError(422, "invalid_kind", f"单位类型「{new['kind']}」不正确。", "kind", {"choices": users.ORG_KINDS})
        if new["uscc"]:
            new["uscc"] = users.check_uscc(new["uscc"])
        elif new["kind"] in ("enterprise", "review_agency"):
            raise ApiError(422, "required", "企业和审查机构须填写统一社会信用代码。", "uscc")
        new["district"] = users.check_district(new["district"])
        conn.execute(sa.text("UPDATE organisations SET name = :name, kind = :kind, uscc = :uscc, district = :district, "
                             "version = version + 1, updated_at = now() WHERE id = :id"), {**new, "id": org_id})
        after = org_row(conn, org_id)
        logged(who, conn, "update", "organisations", org_id, before, after)
        return after


# -- users ------------------------------------------------------------------------------------------------------

USER_LIST = ("u.id, u.username, u.display_name, u.org_id, o.name AS org_name, u.district, u.phone, u.email, "
             "u.active, u.must_change_password, u.locked_until, u.failed_logins, u.last_login_at, u.version, "
             "u.created_at, array(SELECT role FROM user_roles WHERE user_id = u.id ORDER BY role) AS roles")


class UserIn(BaseModel):
    username: str = Field("", max_length=64)
    display_name: str = Field("", max_length=100)
    password: str | None = Field(None, max_length=200)
    must_change_password: bool = True
    roles: list[str] = []
    district: str | None = None
    org_id: int | None = None
    phone: str | None = None
    id_number: str | None = None
    email: str | None = Field(None, max_length=200)


class UserPatch(BaseModel):
    display_name: str | None = Field(None, max_length=100)
    roles: list[str] | None = None
    district: str | None = None
    org_id: int | None = None
    phone: str | None = None
    id_number: str | None = None
    email: str | None = Field(None, max_length=200)
    active: bool | None = None
    must_change_password: bool | None = None
    version: int


class PasswordReset(BaseModel):
    new_password: str = Field("", max_length=200)
    must_change_password: bool = True


class GrantIn(BaseModel):
    layer: str = ""
    feature_id: int = Field(..., ge=1)
    relation: str = Field("", max_length=40)
    valid_from: str | None = None
    valid_to: str | None = None


@endpoints.get("/users", summary="用户列表（分页、筛选）")
def list_users(q: str | None = None, role: str | None = None, district: str | None = None,
               org_id: int | None = None, active: bool | None = None, limit: int = Query(50, ge=1, le=PAGE_MAX),
               offset: int = Query(0, ge=0), who: Principal = USERS,
               conn: Connection = Depends(db_read)) -> dict:
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
    return page(conn, USER_LIST, "users u LEFT JOIN organisations o ON o.id = u.org_id", where, params,
                "u.id DESC", limit, offset)


@endpoints.get("/users/{user_id}", summary="用户详情")
def get_user(user_id: int, who: Principal = USERS, conn: Connection = Depends(db_read)) -> dict:
    return users.user_row(conn, user_id)


@endpoints.post("/users", status_code=201, summary="新增用户")
def create_user(body: UserIn, who: Principal = USERS) -> dict:
    """An empty password leaves the account without one (it signs in by one-time code or single sign-on)."""
    with writing(who) as conn:
        check_roles_grantable(who, conn, users.check_roles(conn, body.roles))
        check_org(conn, body.org_id)
        uid = users.create_user(conn, body.username, body.display_name, body.roles, password=body.password or None,
                                district=blank(body.district), org_id=body.org_id, phone=blank(body.phone),
                                id_number=blank(body.id_number), email=blank(body.email),
                                must_change_password=body.must_change_password and bool(body.password),
                                actor=who.user)
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
        logged(who, conn, "unlock", "users", user_id,
               {"locked_until": before["locked_until"], "failed_logins": before["failed_logins"]},
               {"locked_until": None, "failed_logins": 0})
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
def list_grants(user_id: int, who: Principal = USERS, conn: Connection = Depends(db_read)) -> dict:
    users.user_row(conn, user_id)
    rows = conn.execute(sa.text(f"SELECT {GRANT_SELECT} FROM user_grants WHERE user_id = :u ORDER BY id DESC"),
                        {"u": user_id}).mappings()
    return {"items": [dict(r) for r in rows]}


@endpoints.post("/users/{user_id}/grants", status_code=201, summary="新增数据授权")
def add_grant(user_id: int, body: GrantIn, who: Principal = USERS) -> dict:
    """The record must exist and be visible to the actor; an existing grant of the same record and relation gets
    the new validity window."""
    if body.layer not in GRANT_LAYERS:
        raise ApiError(422, "invalid_layer", "只能授权工地或施工图审查项目的记录。", "layer", {"choices": list(GRANT_LAYERS)})
    relation = blank(body.relation)
    if not relation:
        raise ApiError(422, "required", "请填写授权关系（如 施工单位、评审专家）。", "relation")
    valid_from, valid_to = moment(body.valid_from, "valid_from"), moment(body.valid_to, "valid_to")
    if valid_from and valid_to and valid_to <= valid_from:
        raise ApiError(422, "invalid_range", "结束时间须晚于开始时间。", "valid_to")
    layer = registry.get(body.layer)
    with writing(who) as conn:
        users.user_row(conn, user_id)
        found = conn.execute(sa.text(f"SELECT 1 FROM {layer.table} WHERE id = :i AND deleted_at IS NULL"),
                             {"i": body.feature_id}).scalar()
        if not found:
            raise ApiError(422, "reference_missing", f"「{layer.title}」中没有编号为 {body.feature_id} 的记录。",
                           "feature_id", {"layer": layer.id})
        gid = users.grant(conn, user_id, layer.id, body.feature_id, relation, valid_from, valid_to, actor=who.user)
        return dict(conn.execute(sa.text(f"SELECT {GRANT_SELECT} FROM user_grants WHERE id = :i"),
                                 {"i": gid}).mappings().one())


@endpoints.delete("/users/{user_id}/grants/{grant_id}", summary="撤销数据授权")
def remove_grant(user_id: int, grant_id: int, who: Principal = USERS) -> dict:
    with writing(who) as conn:
        row = conn.execute(sa.text(f"DELETE FROM user_grants WHERE id = :i AND user_id = :u RETURNING {GRANT_SELECT}"),
                           {"i": grant_id, "u": user_id}).mappings().first()
        if row is None:
            raise ApiError(404, "not_found", "该授权不存在。")
        logged(who, conn, "permission_change", "user_grants", grant_id, dict(row), None)
    return {"message": "授权已撤销。"}


# -- roles and permissions --------------------------------------------------------------------------------------

class RoleIn(BaseModel):
    name: str = ""
    title: str = Field("", max_length=60)
    scope: str = ""
    permissions: list[str] = []


class RolePatch(BaseModel):
    title: str | None = Field(None, max_length=60)
    scope: str | None = None


class PermissionsIn(BaseModel):
    permissions: list[str]


ROLE_SELECT = ("r.name, r.title, r.scope, r.builtin, "
               "array(SELECT permission FROM role_permissions p WHERE p.role = r.name ORDER BY permission) "
               "AS permissions, (SELECT count(*) FROM user_roles ur WHERE ur.role = r.name) AS users")


def role_row(conn: Connection, name: str) -> dict:
    row = conn.execute(sa.text(f"SELECT {ROLE_SELECT} FROM roles r WHERE r.name = :n"), {"n": name}).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", f"角色「{name}」不存在。")
    return {**row, "permissions": list(row["permissions"])}


def check_patterns(patterns: list[str]) -> list[str]:
    """Trimmed, de-duplicated; each ``name.name…`` of lower-case letters, ``_`` and ``*``."""
    out = list(dict.fromkeys(p.strip() for p in patterns if p and p.strip()))
    bad = [p for p in out if not PATTERN.fullmatch(p)]
    if bad:
        raise ApiError(422, "invalid_permission", f"权限「{'、'.join(bad)}」格式不正确（如 farmhouse.export、*.view）。",
                       "permissions", {"invalid": bad})
    return out


def check_scope(scope: str | None) -> str:
    if scope not in SCOPES:
        raise ApiError(422, "invalid_scope", "请选择数据范围。", "scope", {"choices": SCOPES})
    return scope


def write_permissions(conn: Connection, role: str, patterns: list[str]) -> None:
    conn.execute(sa.text("DELETE FROM role_permissions WHERE role = :r"), {"r": role})
    for p in patterns:
        conn.execute(sa.text("INSERT INTO role_permissions (role, permission) VALUES (:r, :p)"), {"r": role, "p": p})
    auth._anonymous.clear()  # the anonymous principal is cached briefly; let it see the change at once


def role_changed(who: Principal, conn: Connection, before: dict | None, after: dict | None) -> None:
    name = (after or before)["name"]
    logged(who, conn, "permission_change", "roles", None, before, after, detail={"role": name})


@endpoints.get("/roles", summary="角色、数据范围及其权限")
def list_roles(who: Principal = ROLES, conn: Connection = Depends(db_read)) -> dict:
    rows = conn.execute(sa.text(f"SELECT {ROLE_SELECT} FROM roles r ORDER BY r.builtin DESC, r.name")).mappings()
    return {"items": [{**r, "permissions": list(r["permissions"])} for r in rows], "scopes": SCOPES}


@endpoints.post("/roles", status_code=201, summary="新增自定义角色")
def create_role(body: RoleIn, who: Principal = ROLES) -> dict:
    name = body.name.strip()
    if not ROLE_NAME.fullmatch(name):
        raise ApiError(422, "invalid_role_name", "角色代码须以小写字母开头，由 2–32 位小写字母、数字或下划线组成。", "name")
    title = blank(body.title)
    if not title:
        raise ApiError(422, "required", "角色名称不能为空。", "title")
    scope = check_scope(body.scope)
    patterns = check_patterns(body.permissions)
    check_grantable(who, patterns, "permissions")
    with writing(who) as conn:
        if conn.execute(sa.text("SELECT 1 FROM roles WHERE name = :n"), {"n": name}).scalar():
            raise ApiError(409, "duplicate", f"角色代码「{name}」已存在。", "name")
        conn.execute(sa.text("INSERT INTO roles (name, title, scope, builtin) VALUES (:n, :t, :s, false)"),
                     {"n": name, "t": title, "s": scope})
        write_permissions(conn, name, patterns)
        after = role_row(conn, name)
        role_changed(who, conn, None, after)
        return after


@endpoints.patch("/roles/{name}", summary="修改角色名称或数据范围")
def update_role(name: str, body: RolePatch, who: Principal = ROLES) -> dict:
    """A built-in role keeps its data scope (the platform's rules rely on it); its title may change."""
    with writing(who) as conn:
        before = role_row(conn, name)
        title = before["title"] if body.title is None else blank(body.title)
        if not title:
            raise ApiError(422, "required", "角色名称不能为空。", "title")
        scope = before["scope"] if body.scope is None else check_scope(body.scope)
        if before["builtin"] and scope != before["scope"]:
            raise ApiError(422, "builtin_role", "内置角色的数据范围不能修改。", "scope")
        conn.execute(sa.text("UPDATE roles SET title = :t, scope = :s WHERE name = :n"),
                     {"t": title, "s": scope, "n": name})
        after = role_row(conn, name)
        role_changed(who, conn, before, after)
        return after


@endpoints.put("/roles/{name}/permissions", summary="设置角色的权限（名称或通配符，如 *.view）")
def set_permissions(name: str, body: PermissionsIn, who: Principal = ROLES) -> dict:
    """Replaces the role's permissions; its users have them from their next request on."""
    patterns = check_patterns(body.permissions)
    with writing(who) as conn:
        before = role_row(conn, name)
        check_grantable(who, [p for p in patterns if p not in before["permissions"]], "permissions")
        if name == "admin" and not any(fnmatchcase("admin.roles", p) for p in patterns):
            raise ApiError(422, "lockout", "系统管理员角色须保留「管理角色与权限」（admin.roles）。", "permissions")
        write_permissions(conn, name, patterns)
        after = role_row(conn, name)
        role_changed(who, conn, before, after)
        return after


@endpoints.delete("/roles/{name}", summary="删除自定义角色（须先从用户中移除）")
def delete_role(name: str, who: Principal = ROLES) -> dict:
    with writing(who) as conn:
        before = role_row(conn, name)
        if before["builtin"]:
            raise ApiError(409, "builtin_role", "内置角色不能删除。", "name")
        if before["users"]:
            raise ApiError(409, "role_in_use", f"仍有 {before['users']} 个用户属于该角色，请先调整这些用户的角色。", "name",
                           {"users": before["users"]})
        conn.execute(sa.text("DELETE FROM roles WHERE name = :n"), {"n": name})
        auth._anonymous.clear()
        role_changed(who, conn, before, None)
    return {"message": f"角色「{before['title']}」已删除。"}


def catalogue(conn: Connection) -> list[dict]:
    """Every known named action: each layer's view/edit/import/export, the site module's actions, the back
    office's, and any other plain name an administrator has granted."""
    items: dict[str, dict] = {}
    for layer in registry.all():
        for verb, name in (("view", layer.view), ("edit", layer.edit), ("import", layer.import_permission),
                           ("export", layer.export_permission)):
            if name:
                entry = items.setdefault(name, {"name": name, "group": layer.group, "layers": []})
                entry["layers"].append(layer.title)
                entry["title"] = VERBS[verb] + "、".join(entry["layers"])
    for name, title in SITE_ACTIONS.items():
        items[name] = {"name": name, "title": title, "group": "标化工地"}
    for name, title in ADMIN_ACTIONS.items():
        items[name] = {"name": name, "title": title, "group": "后台管理"}
    granted = conn.execute(sa.text("SELECT DISTINCT permission FROM role_permissions ORDER BY 1")).scalars()
    for name in granted:
        if "*" not in name and name not in items:
            items[name] = {"name": name, "title": None, "group": "其他"}
    return [{k: v for k, v in e.items() if k != "layers"} for e in items.values()]


@endpoints.get("/permissions", summary="已知的权限（命名操作）及其中文名称")
def permissions(who: Principal = ROLES, conn: Connection = Depends(db_read)) -> dict:
    return {"items": catalogue(conn)}


# -- API keys ---------------------------------------------------------------------------------------------------

class KeyIn(BaseModel):
    user_id: int | None = None
    username: str | None = None
    name: str = Field("", max_length=100)
    expires_at: str | None = None


def key_answer(conn: Connection, kid: int, key: str) -> dict:
    row = next(k for k in keys.listing(conn) if k["id"] == kid)
    return {**row, "key": key, "message": "请立即复制并妥善保存此密钥，它不会再次显示。"}


@endpoints.get("/keys", summary="API 密钥列表")
def list_keys(q: str | None = None, status: str | None = None, limit: int = Query(50, ge=1, le=PAGE_MAX),
              offset: int = Query(0, ge=0), who: Principal = KEYS,
              conn: Connection = Depends(db_read)) -> dict:
    """``q`` matches the key's name, prefix or account; ``status`` is ``active`` or ``revoked``."""
    now = datetime.now(timezone.utc)
    rows = keys.listing(conn)
    for r in rows:
        r["active"] = r["revoked_at"] is None and (r["expires_at"] is None or r["expires_at"] > now)
    if blank(q):
        needle = q.strip().lower()
        rows = [r for r in rows if needle in f"{r['name']} {r['prefix']} {r['username']}".lower()]
    if status in ("active", "revoked"):
        rows = [r for r in rows if r["active"] == (status == "active")]
    return {"items": rows[offset:offset + limit], "total": len(rows), "limit": limit, "offset": offset}


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


# -- operation log and SMS outbox -------------------------------------------------------------------------------

@endpoints.get("/log", summary="操作日志（新的在前）")
def operation_log(actor: str | None = None, action: str | None = None, layer: str | None = None,
                  feature_id: int | None = None, from_: str | None = Query(None, alias="from"),
                  to: str | None = None, q: str | None = None, limit: int = Query(50, ge=1, le=PAGE_MAX),
                  offset: int = Query(0, ge=0), who: Principal = LOG,
                  conn: Connection = Depends(db_read)) -> dict:
    """``actor``, ``action`` and ``layer`` match exactly (``action`` may list several, comma-separated); ``from``
    and ``to`` bound the time (a date means the whole day, Beijing time); ``q`` is a substring of the actor,
    address, object or the recorded content."""
    where, params = [], {}
    if blank(actor):
        where.append("actor = :actor")
        params["actor"] = actor.strip()
    if blank(action):
        where.append("action = ANY(:actions)")
        params["actions"] = [a.strip() for a in action.split(",") if a.strip()]
    if blank(layer):
        where.append("layer = :layer")
        params["layer"] = layer.strip()
    if feature_id is not None:
        where.append("feature_id = :fid")
        params["fid"] = feature_id
    start, end = moment(from_, "from"), moment(to, "to", end=True)
    if start:
        where.append("at >= :start")
        params["start"] = start
    if end:
        where.append("at < :end")
        params["end"] = end
    if blank(q):
        where.append("(actor ILIKE :q OR client ILIKE :q OR layer ILIKE :q OR detail::text ILIKE :q "
                     "OR before::text ILIKE :q OR after::text ILIKE :q)")
        params["q"] = like(q.strip())
    return page(conn, "id, at, actor, user_id, client, action, layer, feature_id, before, after, detail",
                "audit_log", where, params, "at DESC, id DESC", limit, offset)


@endpoints.get("/sms", summary="短信发件箱（新的在前）")
def sms_outbox(phone: str | None = None, purpose: str | None = None, limit: int = Query(50, ge=1, le=PAGE_MAX),
               offset: int = Query(0, ge=0), who: Principal = SMS,
               conn: Connection = Depends(db_read)) -> dict:
    """``phone`` is a substring of the number; ``purpose`` matches exactly."""
    where, params = [], {}
    if blank(phone):
        where.append("s.phone LIKE :phone")
        params["phone"] = like(phone.strip())
    if blank(purpose):
        where.append("s.purpose = :purpose")
        params["purpose"] = purpose.strip()
    return page(conn, "s.id, s.phone, s.body, s.purpose, s.user_id, u.username, s.backend, s.status, s.error, "
                "s.created_at, s.sent_at", "sms_outbox s LEFT JOIN users u ON u.id = s.user_id", where, params,
                "s.id DESC", limit, offset)


# -- pages ------------------------------------------------------------------------------------------------------

@pages.get("/admin")
def admin_page(request: Request) -> Response:
    return file_response(request, PAGES_DIR / "index.html", APP_CACHE)


@pages.get("/admin/{path:path}")
def admin_file(path: str, request: Request) -> Response:
    """The page's scripts and styles (``/admin/`` itself is the page)."""
    target = (PAGES_DIR / (path or "index.html")).resolve()
    if not target.is_relative_to(PAGES_DIR) or not target.is_file():
        raise ApiError(404, "not_found", "请求的文件不存在。", "path", {"path": path})
    return file_response(request, target, APP_CACHE)


# What api/app.py mounts: the API and the pages (they live at different prefixes).
router = APIRouter()
router.include_router(endpoints)
router.include_router(pages)
