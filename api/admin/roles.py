"""Roles, their data scope and permissions, and the catalogue of known permissions (``admin.roles``)."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

import sqlalchemy as sa
from fastapi import Depends
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api import auth
from api.admin.common import ROLES, SCOPES, blank, check_grantable, endpoints, logged, writing
from api.auth import Principal
from api.deps import db_read
from api.errors import ApiError
from geo import modules
from geo.bounds import Text
from geo.layer.registry import registry

ADMIN_ACTIONS = {
    "admin.users": "管理用户、单位和数据授权",
    "admin.roles": "管理角色与权限",
    "admin.keys": "管理 API 密钥",
    "admin.log": "查看操作日志",
    "admin.sms": "查看短信发件箱",
    "calendar.edit": "维护工作日历（节假日与调休）",
}
VERBS = {"view": "查看", "edit": "编辑", "import": "导入", "export": "导出"}
PATTERN = re.compile(r"[a-z_*]+(\.[a-z_*]+)*")
ROLE_NAME = re.compile(r"[a-z][a-z0-9_]{1,31}")


class RoleIn(BaseModel):
    name: Text(32) = Field("", title="角色代码")  # its shape: ROLE_NAME, checked with the role's own message
    title: Text(60) = Field("", title="角色名称")
    scope: Text(20) = Field("", title="数据范围")
    permissions: list[Text(100)] = Field([], title="权限", max_length=500)


class RolePatch(BaseModel):
    title: Text(60) | None = Field(None, title="角色名称")
    scope: Text(20) | None = Field(None, title="数据范围")


class PermissionsIn(BaseModel):
    permissions: list[Text(100)] = Field(title="权限", max_length=500)


ROLE_SELECT = (
    "r.name, r.title, r.scope, r.builtin, "
    "array(SELECT permission FROM role_permissions p WHERE p.role = r.name ORDER BY permission) "
    "AS permissions, (SELECT count(*) FROM user_roles ur WHERE ur.role = r.name) AS users"
)


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
        raise ApiError(
            422,
            "invalid_permission",
            f"权限「{'、'.join(bad)}」格式不正确（如 farmhouse.export、*.view）。",
            "permissions",
            {"invalid": bad},
        )
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
def list_roles(who: Principal = ROLES, conn: Connection = Depends(db_read, scope="function")) -> dict:
    rows = conn.execute(sa.text(f"SELECT {ROLE_SELECT} FROM roles r ORDER BY r.builtin DESC, r.name")).mappings()
    return {"items": [{**r, "permissions": list(r["permissions"])} for r in rows], "scopes": SCOPES}


@endpoints.post("/roles", status_code=201, summary="新增自定义角色")
def create_role(body: RoleIn, who: Principal = ROLES) -> dict:
    name = body.name.strip()
    if not ROLE_NAME.fullmatch(name):
        raise ApiError(
            422, "invalid_role_name", "角色代码须以小写字母开头，由 2–32 位小写字母、数字或下划线组成。", "name"
        )
    title = blank(body.title)
    if not title:
        raise ApiError(422, "required", "角色名称不能为空。", "title")
    scope = check_scope(body.scope)
    patterns = check_patterns(body.permissions)
    check_grantable(who, patterns, "permissions")
    with writing(who) as conn:
        if conn.execute(sa.text("SELECT 1 FROM roles WHERE name = :n"), {"n": name}).scalar():
            raise ApiError(409, "duplicate", f"角色代码「{name}」已存在。", "name")
        conn.execute(
            sa.text("INSERT INTO roles (name, title, scope, builtin) VALUES (:n, :t, :s, false)"),
            {"n": name, "t": title, "s": scope},
        )
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
        conn.execute(
            sa.text("UPDATE roles SET title = :t, scope = :s WHERE name = :n"), {"t": title, "s": scope, "n": name}
        )
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
            raise ApiError(
                409,
                "role_in_use",
                f"仍有 {before['users']} 个用户属于该角色，请先调整这些用户的角色。",
                "name",
                {"users": before["users"]},
            )
        conn.execute(sa.text("DELETE FROM roles WHERE name = :n"), {"n": name})
        auth._anonymous.clear()
        role_changed(who, conn, before, None)
    return {"message": f"角色「{before['title']}」已删除。"}


def catalogue(conn: Connection) -> list[dict]:
    """Every known named action: each layer's view/edit/import/export, the modules' declared actions, the back
    office's, and any other plain name an administrator has granted."""
    items: dict[str, dict] = {}
    for layer in registry.all():
        for verb, name in (
            ("view", layer.view),
            ("edit", layer.edit),
            ("import", layer.import_permission),
            ("export", layer.export_permission),
        ):
            if name:
                entry = items.setdefault(name, {"name": name, "group": layer.group, "layers": []})
                entry["layers"].append(layer.title)
                entry["title"] = VERBS[verb] + "、".join(entry["layers"])
    for name, (title, group) in modules.permissions().items():  # the modules' own named actions
        items[name] = {"name": name, "title": title, "group": group}
    for name, title in ADMIN_ACTIONS.items():
        items[name] = {"name": name, "title": title, "group": "后台管理"}
    granted = conn.execute(sa.text("SELECT DISTINCT permission FROM role_permissions ORDER BY 1")).scalars()
    for name in granted:
        if "*" not in name and name not in items:
            items[name] = {"name": name, "title": None, "group": "其他"}
    return [{k: v for k, v in e.items() if k != "layers"} for e in items.values()]


@endpoints.get("/permissions", summary="已知的权限（命名操作）及其中文名称")
def permissions(who: Principal = ROLES, conn: Connection = Depends(db_read, scope="function")) -> dict:
    return {"items": catalogue(conn)}
