"""Who is asking, and what they may do.

Interim until the accounts issue: the acting user and roles come from the
``X-Chengjian-User`` / ``X-Chengjian-Roles`` headers when ``CHENGJIAN_DEV_AUTH``
is on (the default on a developer machine); otherwise every request acts as
``anonymous`` with ``CHENGJIAN_ANONYMOUS_ROLES``. Permissions are named actions
(``farmhouse.edit``); the registry's ``view``/``edit`` entries use the same names.
"""
from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from fastapi import Request

from api.errors import ApiError
from geo.settings import get_settings
from layers.registry import Layer

# Default grants per role (the accounts issue moves these into the database).
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "admin": ("*",),
    "city_supervisor": ("*.view", "*.edit", "*.import", "*.export"),
    "district_staff": ("*.view", "farmhouse.edit", "greenway.edit", "sewage.edit", "*.import", "*.export"),
    "leader": ("*.view", "*.export"),
    "public": (),
}


@dataclass(frozen=True)
class Principal:
    user: str
    roles: tuple[str, ...]
    client: str | None = None

    def can(self, permission: str | None) -> bool:
        if permission is None:
            return True
        for role in self.roles:
            for pattern in ROLE_PERMISSIONS.get(role, ()):
                if fnmatchcase(permission, pattern):
                    return True
        return False

    def require(self, permission: str | None, what: str = "执行此操作") -> None:
        if not self.can(permission):
            raise ApiError(403, "forbidden", f"没有权限{what}。", None, {"permission": permission})

    def can_view(self, layer: Layer) -> bool:
        return self.can(layer.view)

    def require_view(self, layer: Layer) -> None:
        self.require(layer.view, f"查看图层「{layer.title}」")

    def require_edit(self, layer: Layer) -> None:
        self.require(layer.edit, f"编辑图层「{layer.title}」")


def principal(request: Request) -> Principal:
    s = get_settings()
    client = request.client.host if request.client else None
    if s.dev_auth and request.headers.get("x-chengjian-user"):
        roles = tuple(r.strip() for r in request.headers.get("x-chengjian-roles", "").split(",") if r.strip())
        return Principal(request.headers["x-chengjian-user"], roles or ("public",), client)
    roles = tuple(r.strip() for r in s.anonymous_roles.split(",") if r.strip())
    return Principal("anonymous", roles, client)
