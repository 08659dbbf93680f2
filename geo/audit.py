"""The audit trail and operation log: one append-only table (``audit_log``; the app's role may only insert).

Data writes record who, when, what, before and after — in the writing transaction. Sign-ins, failed sign-ins,
sign-outs, permission changes, exports and other operations record who, when, from where, what, and a detail.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Connection, text

from geo import modules
from geo.values import to_json

# Where the current request comes from (set per request by api.app's middleware): entries that name no client
# record this one, so "from where" is never lost in code that does not pass the request along.
CLIENT: ContextVar[str | None] = ContextVar("chengjian_client", default=None)


# How the logs and case histories show the actors that are not a person's account (the modules add theirs with
# ``geo.modules.log_labels(actors=…)``).
SYSTEM_ACTORS = {
    "system": "系统",
    "demo": "演示数据",
    "cli": "命令行",
    "migration": "数据库迁移",
    "anonymous": "匿名访问",
    "sso": "统一身份认证",
}


def actor_names() -> dict[str, str]:
    """The Chinese name of every non-person actor."""
    return {**modules.log_labels()["actors"], **SYSTEM_ACTORS}


def actor_name(actor: str | None) -> str | None:
    """What to show for ``actor``: its Chinese name when it is not a person's account, else the account's name."""
    return actor_names().get(actor or "", actor)


def _dump(obj: Any) -> str | None:
    return None if obj is None else json.dumps(obj, ensure_ascii=False, default=to_json)


def record(
    conn: Connection,
    actor: str,
    action: str,
    layer: str | None = None,
    feature_id: int | None = None,
    before: Any = None,
    after: Any = None,
    client: str | None = None,
    detail: Any = None,
    user_id: int | None = None,
) -> None:
    conn.execute(
        text(
            "INSERT INTO audit_log (actor, user_id, client, action, layer, feature_id, before, after, detail) "
            "VALUES (:actor, :uid, :client, :action, :layer, :fid, CAST(:before AS jsonb), CAST(:after AS jsonb), "
            "CAST(:detail AS jsonb))"
        ),
        {
            "actor": actor,
            "uid": user_id,
            "client": client or CLIENT.get(),
            "action": action,
            "layer": layer,
            "fid": feature_id,
            "before": _dump(before),
            "after": _dump(after),
            "detail": _dump(detail),
        },
    )
