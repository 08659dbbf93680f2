"""Who is asking, and what they may do — the one place the app decides it.

A request is authenticated by, in this order: ``Authorization: Bearer <token>`` (a bearer session, or an API key
``cjk_…`` of a machine client), ``X-API-Key: cjk_…``, or the ``cj_session`` cookie. A request with none of these
acts as ``anonymous`` with ``CHENGJIAN_ANONYMOUS_ROLES``; one with a bad or expired credential gets 401.

Permissions are named actions (``farmhouse.edit``, ``site.report.review``) granted to roles as patterns
(``*.view``) in ``role_permissions``; the registry's ``view``/``edit`` entries use the same names. Each role has a
data scope (all, its user's district, the records granted to the user, none); the principal's ``scope`` is the
union, and the database enforces it (row-level security, geo/scope.py) on every connection the request uses.

Cookie-authenticated writes must echo the session's CSRF token in ``X-CSRF-Token`` (double submit, checked
against the server-side session); bearer and API-key requests carry no ambient credential and need none.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

import sqlalchemy as sa
from fastapi import Request

from api.accounts import sessions
from api.errors import ApiError
from geo.layer.registry import Layer
from geo.scope import NOTHING, Scope
from geo.settings import get_settings

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Principal:
    user: str
    roles: tuple[str, ...]
    client: str | None = None
    user_id: int | None = None
    permissions: frozenset[str] = frozenset()
    scope: Scope = NOTHING
    via: str = "anonymous"  # anonymous | cookie | bearer | api_key
    display_name: str | None = None
    district: str | None = None
    org_id: int | None = None
    csrf: str | None = field(default=None, repr=False)
    session_expires_at: float | None = None
    must_change_password: bool = False  # an initial or reset password: the pages ask for a new one first

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None

    def can(self, permission: str | None) -> bool:
        if permission is None:
            return True
        return any(fnmatchcase(permission, pattern) for pattern in self.permissions)

    def require(self, permission: str | None, what: str = "执行此操作") -> None:
        if not self.can(permission):
            if not self.authenticated:
                raise ApiError(401, "unauthenticated", f"请先登录，再{what}。", None, {"permission": permission})
            raise ApiError(403, "forbidden", f"没有权限{what}。", None, {"permission": permission})

    def can_view(self, layer: Layer) -> bool:
        return self.can(layer.view)

    def require_view(self, layer: Layer) -> None:
        self.require(layer.view, f"查看图层「{layer.title}」")

    def require_edit(self, layer: Layer) -> None:
        self.require(layer.edit, f"编辑图层「{layer.title}」")

    def public(self) -> dict:
        """What ``GET /api/auth/me`` shows."""
        return {
            "user": self.user,
            "user_id": self.user_id,
            "display_name": self.display_name,
            "roles": list(self.roles),
            "permissions": sorted(self.permissions),
            "district": self.district,
            "org_id": self.org_id,
            "via": self.via,
            "scope": self.scope.describe(),
            "authenticated": self.authenticated,
            "must_change_password": self.must_change_password,
        }


# -- loading ----------------------------------------------------------------------------------------------------

USER_SQL = """
SELECT u.id, u.username, u.display_name, u.district, u.org_id, u.must_change_password,
       array(SELECT ur.role FROM user_roles ur WHERE ur.user_id = u.id ORDER BY ur.role) AS roles,
       array(SELECT DISTINCT rp.permission FROM role_permissions rp JOIN user_roles ur ON ur.role = rp.role
             WHERE ur.user_id = u.id) AS permissions,
       array(SELECT DISTINCT r.scope FROM roles r JOIN user_roles ur ON ur.role = r.name
             WHERE ur.user_id = u.id) AS scopes,
       array(SELECT g.layer || ':' || g.feature_id FROM user_grants g
             WHERE g.user_id = u.id AND (g.valid_from IS NULL OR g.valid_from <= now())
               AND (g.valid_to IS NULL OR g.valid_to > now())) AS grants
FROM users u WHERE u.id = :uid AND u.active
"""

SESSION_SQL = """
SELECT s.user_id, s.csrf_token, s.kind, extract(epoch FROM s.expires_at) AS expires,
       s.last_seen_at < now() - interval '1 minute' AS stale_seen
FROM sessions s
WHERE s.token_hash = :h AND s.revoked_at IS NULL AND s.expires_at > now()
  AND s.last_seen_at > now() - make_interval(secs => :idle * 60)
"""

KEY_SQL = """
UPDATE api_keys SET last_used_at = now()
WHERE prefix = :p AND key_hash = :h AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
RETURNING user_id
"""


def scope_of(scopes: list[str], district: str | None, grants: list[str]) -> Scope:
    if "all" in scopes:
        return Scope(all=True)
    districts = [district] if "district" in scopes and district else []
    granted: dict[str, list[int]] = {}
    if "assigned" in scopes:
        for g in grants:
            layer, _, fid = g.partition(":")
            granted.setdefault(layer, []).append(int(fid))
    return Scope.of(districts=districts, grants=granted)


def load_user(
    conn: sa.Connection,
    user_id: int,
    client: str | None = None,
    via: str = "bearer",
    csrf: str | None = None,
    expires: float | None = None,
) -> Principal | None:
    row = conn.execute(sa.text(USER_SQL), {"uid": user_id}).mappings().first()
    if row is None:
        return None
    return Principal(
        user=row["username"],
        roles=tuple(row["roles"]) or ("public",),
        client=client,
        user_id=row["id"],
        permissions=frozenset(row["permissions"]),
        scope=scope_of(list(row["scopes"]), row["district"], list(row["grants"])),
        via=via,
        display_name=row["display_name"],
        district=row["district"],
        org_id=row["org_id"],
        csrf=csrf,
        session_expires_at=expires,
        must_change_password=row["must_change_password"],
    )


_anonymous: dict[str, tuple[float, Principal]] = {}
ANONYMOUS_TTL_S = 2.0  # role grants edited by an administrator reach anonymous requests within this


def anonymous(client: str | None) -> Principal:
    from geo.db import get_engine

    roles = tuple(r.strip() for r in get_settings().anonymous_roles.split(",") if r.strip())
    key = ",".join(roles)
    hit = _anonymous.get(key)
    if hit is None or hit[0] < time.monotonic():
        with get_engine().connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT r.name, r.scope, array(SELECT permission FROM role_permissions WHERE role = r.name) "
                    "FROM roles r WHERE r.name = ANY(:roles)"
                ),
                {"roles": list(roles)},
            ).all()
        perms = frozenset(p for _, _, ps in rows for p in ps)
        scopes = [s for _, s, _ in rows]
        # An anonymous visitor has no district and no grants: its scope is all or nothing.
        principal_ = Principal("anonymous", roles, None, None, perms, Scope(all="all" in scopes))
        _anonymous[key] = hit = (time.monotonic() + ANONYMOUS_TTL_S, principal_)
    p = hit[1]
    return Principal(p.user, p.roles, client, None, p.permissions, p.scope)


def _bad_credentials(message: str = "登录已失效，请重新登录。") -> ApiError:
    return ApiError(401, "unauthenticated", message, None, {}, {"WWW-Authenticate": "Bearer"})


def authenticate(request: Request) -> Principal:
    from geo.db import get_engine

    client = sessions.client_of(request)
    auth = request.headers.get("authorization", "")
    token, via = None, None
    if auth[:7].lower() == "bearer ":
        token = auth[7:].strip()
        via = "api_key" if token.startswith("cjk_") else "bearer"
    elif request.headers.get("x-api-key"):
        token, via = request.headers["x-api-key"].strip(), "api_key"
    elif request.cookies.get(sessions.COOKIE):
        token, via = request.cookies[sessions.COOKIE], "cookie"
    if token is None:
        return anonymous(client)
    with get_engine().begin() as conn:
        if via == "api_key":
            prefix = token.split("_")[1] if token.count("_") >= 2 else ""
            user_id = conn.execute(sa.text(KEY_SQL), {"p": prefix, "h": sessions.token_hash(token)}).scalar()
            if user_id is None:
                raise _bad_credentials("API 密钥无效、已吊销或已过期。")
            principal_ = load_user(conn, user_id, client, via)
        else:
            row = (
                conn.execute(
                    sa.text(SESSION_SQL), {"h": sessions.token_hash(token), "idle": get_settings().session_idle_minutes}
                )
                .mappings()
                .first()
            )
            if row is None or (via == "cookie") != (row["kind"] == "cookie"):
                if via == "cookie" and request.method in SAFE_METHODS:
                    return anonymous(client)  # an expired cookie on a page load: show the page signed out
                raise _bad_credentials()
            if row["stale_seen"]:
                conn.execute(
                    sa.text("UPDATE sessions SET last_seen_at = now() WHERE token_hash = :h"),
                    {"h": sessions.token_hash(token)},
                )
            principal_ = load_user(conn, row["user_id"], client, via, row["csrf_token"], float(row["expires"]))
    if principal_ is None:
        raise _bad_credentials("账号已停用。")
    if via == "cookie" and request.method not in SAFE_METHODS:
        sent = request.headers.get(sessions.CSRF_HEADER)
        if not sent or sent != principal_.csrf:
            raise ApiError(
                403,
                "csrf_failed",
                "页面已过期或请求来源不明（CSRF 校验失败），请刷新页面后重试。",
                None,
                {"header": "X-CSRF-Token"},
            )
    return principal_


def has_credentials(request: Request) -> bool:
    return bool(
        request.headers.get("authorization") or request.headers.get("x-api-key") or request.cookies.get(sessions.COOKIE)
    )


def principal(request: Request) -> Principal:
    """The FastAPI dependency (computed once per request and kept on ``request.state``)."""
    cached = getattr(request.state, "principal", None)
    if cached is None:
        cached = authenticate(request)
        request.state.principal = cached
    return cached


def require_login(request: Request) -> Principal:
    who = principal(request)
    if not who.authenticated:
        raise ApiError(401, "unauthenticated", "请先登录。", None, {}, {"WWW-Authenticate": "Bearer"})
    return who
