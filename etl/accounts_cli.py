"""Accounts from the command line: the first administrator of a new installation, password resets, and the demo
accounts ``chengjian demo`` creates so that a developer can sign in to every role's view."""

from __future__ import annotations

import getpass
import sys

import sqlalchemy as sa

from geo.settings import get_settings

# (username, Chinese name, roles, district) — the demo's people; their password is CHENGJIAN_DEMO_PASSWORD.
DEMO_ACCOUNTS = [
    ("admin", "系统管理员", ["admin"], None),
    ("city", "市建委监管员", ["city_supervisor"], None),
    ("leader", "领导驾驶舱", ["leader"], None),
    ("xihu", "西湖区住建局", ["district_staff"], "西湖区"),
    ("yuhang", "余杭区住建局", ["district_staff"], "余杭区"),
    ("chunan", "淳安县住建局", ["district_staff"], "淳安县"),
]


# The unit each demo account works for (单位): the commission, or the district's housing and construction bureau.
COMMISSION = ("杭州市城乡建设委员会", "commission")


def demo_org(district: str | None) -> tuple[str, str]:
    """(name, kind) of a demo account's organisation."""
    if district is None:
        return COMMISSION
    return (f"杭州市{district}住房和城乡建设局", "district_authority")


def demo_password() -> str:
    return get_settings().demo_password


def _org_id(conn: sa.Connection, name: str, kind: str, district: str | None) -> int:
    from api.accounts.users import create_org

    found = conn.execute(
        sa.text("SELECT id FROM organisations WHERE name = :n AND kind = :k ORDER BY id LIMIT 1"),
        {"n": name, "k": kind},
    ).scalar()
    return found or create_org(conn, name, kind, district=district, actor="demo")


def ensure_demo_accounts(conn: sa.Connection) -> list[str]:
    """Create the demo accounts that do not exist yet, each in its organisation (which is created when missing; an
    existing demo account without one is put in it); returns the names created."""
    from api.accounts.users import create_user, update_user

    made = []
    for username, name, roles, district in DEMO_ACCOUNTS:
        org = _org_id(conn, *demo_org(district), district)
        row = conn.execute(sa.text("SELECT id, org_id FROM users WHERE username = :u"), {"u": username}).first()
        if row is not None:
            if row.org_id is None:
                update_user(conn, row.id, {"org_id": org}, actor="demo")
            continue
        create_user(conn, username, name, roles, password=demo_password(), district=district, org_id=org, actor="demo")
        made.append(username)
    return made


def _password(given: str | None) -> str:
    if given:
        return given
    first = getpass.getpass("密码：")
    if first != getpass.getpass("再次输入密码："):
        raise SystemExit("两次输入的密码不一致。")
    return first


def add_user(
    username: str,
    name: str | None,
    roles: list[str],
    district: str | None,
    password: str | None,
    phone: str | None = None,
) -> int:
    from api.accounts.users import create_user
    from api.errors import ApiError
    from geo.db import admin_transaction

    try:
        with admin_transaction() as conn:
            uid = create_user(
                conn,
                username,
                name or username,
                roles,
                password=_password(password),
                district=district,
                phone=phone,
                actor="cli",
            )
    except ApiError as e:
        print(f"未创建：{e.message}", file=sys.stderr)
        return 1
    print(f"已创建用户 {username}（id {uid}，角色 {', '.join(roles)}）")
    return 0


def reset_password(username: str, password: str | None, unlock: bool = True) -> int:
    from api.accounts.users import set_password
    from api.errors import ApiError
    from geo.db import admin_transaction

    try:
        with admin_transaction() as conn:
            uid = conn.execute(sa.text("SELECT id FROM users WHERE username = :u"), {"u": username}).scalar()
            if uid is None:
                print(f"用户 {username} 不存在。", file=sys.stderr)
                return 1
            set_password(conn, uid, _password(password), actor="cli")
            conn.execute(
                sa.text("UPDATE sessions SET revoked_at = now() WHERE user_id = :u AND revoked_at IS NULL"), {"u": uid}
            )
    except ApiError as e:
        print(f"未修改：{e.message}", file=sys.stderr)
        return 1
    print(f"已重置 {username} 的密码并解除锁定，原有登录已失效。")
    return 0
