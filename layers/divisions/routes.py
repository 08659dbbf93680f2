"""The districts as a short list (code, name, kind) for forms and filters, read from the ``districts`` layer; each
says whether it is in the asking account's scope (``in_scope``: a district account's pickers offer its own)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read
from geo.layer.registry import registry
from geo.scope import districts_in_scope

router = APIRouter(prefix="/api/divisions", tags=["行政区划"])


@router.get("/districts", summary="区县列表（代码、名称、类型），来自区县边界图层")
def districts(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    t = registry.get("districts").sa_table
    rows = conn.execute(
        sa.select(t.c.code, t.c.name, t.c.kind).where(t.c.deleted_at.is_(None)).order_by(t.c.code)
    ).mappings()
    mine = districts_in_scope(conn, who.scope)
    return {"districts": [{**r, "in_scope": mine is None or r["name"] in mine} for r in rows]}
