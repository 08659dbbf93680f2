"""The districts as a short list (code, name, kind) for forms and filters, read from the ``districts`` layer."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from sqlalchemy import Connection

from api.deps import db_read
from geo.layer.registry import registry

router = APIRouter(prefix="/api/divisions", tags=["行政区划"])


@router.get("/districts", summary="区县列表（代码、名称、类型），来自区县边界图层")
def districts(conn: Connection = Depends(db_read, scope="function")) -> dict:
    t = registry.get("districts").sa_table
    rows = conn.execute(
        sa.select(t.c.code, t.c.name, t.c.kind).where(t.c.deleted_at.is_(None)).order_by(t.c.code)
    ).mappings()
    return {"districts": [dict(r) for r in rows]}
