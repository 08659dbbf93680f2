"""What the back office's modules share: the ``/api/admin`` router they define their routes on, the form helpers,
the permission checks and the dependencies that demand a back-office action; and the overview (``/meta``)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from sqlalchemy import Connection

from api.accounts import users
from api.auth import Principal, principal
from api.deps import db_read
from api.errors import ApiError
from geo import audit, cases, modules
from geo.bounds import Window
from geo.db import transaction
from geo.divisions import DISTRICT_NAMES
from geo.layer.registry import registry

PAGE_MAX = 200
TZ = timezone(timedelta(hours=8))  # dates typed in the back office are Beijing time

SCOPES = {"all": "全部数据", "district": "本区县数据", "assigned": "授权的记录", "none": "无业务数据"}
TABS = (
    ("users", "admin.users"),
    ("orgs", "admin.users"),
    ("roles", "admin.roles"),
    ("keys", "admin.keys"),
    ("log", "admin.log"),
    ("sms", "admin.sms"),
    ("calendar", "calendar.edit"),  # the working-day calendar (api/calendar.py)
)
LOG_ACTIONS = {
    "login": "登录",
    "login_failed": "登录失败",
    "logout": "退出登录",
    "account_locked": "账号锁定",
    "unlock": "解除锁定",
    "password_change": "修改密码",
    "password_change_failed": "修改密码失败",
    "permission_change": "权限变更",
    "create": "新增",
    "update": "修改",
    "delete": "删除",
    "import": "导入",
    "export": "导出",
    "reset": "重置数据",
    "demo": "加载演示数据",
    "api_key_create": "创建 API 密钥",
    "api_key_revoke": "吊销 API 密钥",
    "otp_issue": "发送动态密码",
    "otp_refused": "拒发动态密码",
    "sso_link": "绑定单点登录账号",
    "unmask": "查看个人信息",
    "calendar_sync": "同步法定节假日",
}
LOG_OBJECTS = {
    "users": "用户",
    "organisations": "单位",
    "roles": "角色",
    "user_grants": "数据授权",
    "api_keys": "API 密钥",
    "otp_codes": "动态密码",
    "work_calendar": "工作日历",
    "work_calendar_years": "工作日历年份",
}


# Why a sign-in or a dynamic password was refused (``detail.reason`` of the log's failure entries).
LOG_REASONS = {
    "unknown_user": "用户不存在",
    "inactive": "账号已停用",
    "locked": "账号已锁定",
    "wrong_password": "密码错误",
    "no_code": "没有可用的动态密码",
    "wrong_code": "动态密码错误",
    "outside_window": "不在评审时间内",
    "bad_state": "登录请求无效",
    "expired_state": "登录请求已过期",
    "other_browser": "登录请求来自其他浏览器",
    "provider_error": "OA 系统返回错误",
    "issuer_mismatch": "登录响应不是来自配置的 OA 系统",
    "bad_id_token": "OA 身份令牌校验未通过",
}
# What the core's text messages are for (the modules declare theirs with ``geo.modules.log_labels(purposes=…)``).
SMS_PURPOSES = {"expert_review": "评审动态密码"}


def sms_purposes() -> dict[str, str]:
    """The Chinese name of every SMS purpose: the core's and the modules' declared ones."""
    return {**modules.log_labels()["purposes"], **SMS_PURPOSES}


def log_objects() -> dict[str, str]:
    """The Chinese name of every kind of record in the operation log: the back office's own, the layers', the case
    types' and what the modules declare (``geo.modules.log_labels``)."""
    named = {lyr.id: lyr.title for lyr in registry.all()} | {c.table: c.title for c in cases.all_types()}
    return {**LOG_OBJECTS, **named, **modules.log_labels()["objects"]}


def log_actions() -> dict[str, str]:
    """The Chinese verb of every audit action: the core's, every case type's actions, the modules' declared ones."""
    verbs = {a.name: a.title for c in cases.all_types() for a in c.actions}
    return {**verbs, **modules.log_labels()["actions"], **LOG_ACTIONS}


endpoints = APIRouter(prefix="/api/admin", tags=["admin"])


# -- helpers ----------------------------------------------------------------------------------------------------


def blank(value: str | None) -> str | None:
    """A form's empty text is no value."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def page(
    conn: Connection, select: str, count_from: str, where: list[str], params: dict, order: str, limit: int, offset: int
) -> dict:
    """One page of a list: ``SELECT <select> FROM … WHERE … ORDER BY …`` and the total count."""
    cond = (" WHERE " + " AND ".join(where)) if where else ""
    total = conn.execute(sa.text(f"SELECT count(*) FROM {count_from}{cond}"), params).scalar_one()
    rows = conn.execute(
        sa.text(f"SELECT {select} FROM {count_from}{cond} ORDER BY {order} LIMIT :limit OFFSET :offset"),
        {**params, "limit": limit, "offset": offset},
    )
    return {"items": [dict(r) for r in rows.mappings()], "total": total, "limit": limit, "offset": offset}


def moment(value: str | None, field: str, end: bool = False, window: Window = Window()) -> datetime | None:  # noqa: B008
    """A time from a form: ``2026-11-26`` (the whole day, Beijing time; as an end, up to the next midnight),
    ``2026-11-26T09:30`` (Beijing time) or a full ISO 8601 time; within ``window`` (geo/bounds.py)."""
    value = blank(value)
    if value is None:
        return None
    try:
        if len(value) == 10:
            t = datetime.combine(date.fromisoformat(value) + timedelta(days=1 if end else 0), time(), TZ)
        else:
            t = datetime.fromisoformat(value)
    except (ValueError, OverflowError):  # 9999-12-31 as an end has no next day
        raise ApiError(
            422,
            "invalid_time",
            f"时间「{value}」格式不正确（应为 2026-11-26 或 2026-11-26T09:30）。",
            field,
            {"value": value},
        )
    t = t if t.tzinfo else t.replace(tzinfo=TZ)
    refusal = window.refuse(t)
    if refusal is not None:
        raise ApiError(422, refusal.code, f"时间「{value}」{refusal.rule}", field, {"value": value})
    return t


def logged(
    who: Principal,
    conn: Connection,
    action: str,
    layer: str,
    feature_id: int | None,
    before: Any,
    after: Any,
    detail: Any = None,
) -> None:
    audit.record(
        conn, who.user, action, layer, feature_id, before, after, client=who.client, detail=detail, user_id=who.user_id
    )


def check_grantable(who: Principal, patterns: list[str], field: str) -> None:
    """Refuse handing out a permission pattern the actor's own permissions do not cover."""
    beyond = [p for p in patterns if not who.can(p)]
    if beyond:
        raise ApiError(
            403, "forbidden", f"不能授予自己没有的权限：{'、'.join(beyond)}。", field, {"permissions": beyond}
        )


def check_roles_grantable(who: Principal, conn: Connection, roles: list[str]) -> None:
    rows = conn.execute(
        sa.text("SELECT role, permission FROM role_permissions WHERE role = ANY(:r)"), {"r": roles}
    ).all()
    beyond = sorted({role for role, perm in rows if not who.can(perm)})
    if beyond:
        raise ApiError(
            403, "forbidden", f"不能分配权限超出自己的角色：{'、'.join(beyond)}。", "roles", {"roles": beyond}
        )


def check_org(conn: Connection, org_id: int | None) -> None:
    if (
        org_id is not None
        and not conn.execute(sa.text("SELECT 1 FROM organisations WHERE id = :i"), {"i": org_id}).scalar()
    ):
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
def meta(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    """The tabs the caller may open and the choices the forms offer. 401 when not signed in, 403 without any
    back-office action."""
    tabs = [tab for tab, perm in TABS if who.can(perm)]
    if not tabs:
        who.require("admin.users", "进入后台管理")
    roles = conn.execute(sa.text("SELECT name, title, scope FROM roles ORDER BY builtin DESC, name")).mappings()
    return {
        "user": who.user,
        "display_name": who.display_name,
        "tabs": tabs,
        "roles": [dict(r) for r in roles],
        "districts": list(DISTRICT_NAMES),
        "org_kinds": users.ORG_KINDS,
        "scopes": SCOPES,
        "grant_layers": [{"id": lyr.id, "title": lyr.title} for lyr in registry.grantable()],
        "log_actions": log_actions(),
        "log_objects": log_objects(),
        "log_reasons": LOG_REASONS,
        "sms_purposes": sms_purposes(),
        "actor_names": audit.actor_names(),
    }
