"""The audit trail: every write leaves who, when, what, before and after — in the same transaction."""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, text

from layers.attributes import to_json


def _dump(obj: Any) -> str | None:
    return None if obj is None else json.dumps(obj, ensure_ascii=False, default=to_json)


def record(conn: Connection, actor: str, action: str, layer: str | None = None, feature_id: int | None = None,
           before: Any = None, after: Any = None, client: str | None = None) -> None:
    conn.execute(
        text("INSERT INTO audit_log (actor, client, action, layer, feature_id, before, after) "
             "VALUES (:actor, :client, :action, :layer, :fid, CAST(:before AS jsonb), CAST(:after AS jsonb))"),
        {"actor": actor, "client": client, "action": action, "layer": layer, "fid": feature_id,
         "before": _dump(before), "after": _dump(after)},
    )
