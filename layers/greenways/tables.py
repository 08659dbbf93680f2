"""The greenway module's tables as SQLAlchemy Core objects, for queries (Alembic owns the schema: grw_0001).

``gw_reports`` is the case declaration's table (``reports.REPORTS.sa_table``); ``gw_photos`` the progress photos.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection

PREFIX = "/api/greenways"

photos = sa.Table(
    "gw_photos",
    sa.MetaData(),
    sa.Column("id", sa.BigInteger, primary_key=True),
    *(sa.Column(c, sa.BigInteger) for c in ("report_id", "segment_id", "size_bytes")),
    *(sa.Column(c, sa.Text) for c in ("district", "file_path", "sha256", "content_type", "created_by", "updated_by")),
    *(sa.Column(c, sa.Float) for c in ("lon", "lat", "distance_m")),
    sa.Column("taken_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("version", sa.Integer),
)


def photo_view(r: dict) -> dict:
    return {
        "id": r["id"],
        "report_id": r["report_id"],
        "segment_id": r["segment_id"],
        "lon": r["lon"],
        "lat": r["lat"],
        "distance_m": round(r["distance_m"], 1) if r["distance_m"] is not None else None,
        "taken_at": r["taken_at"].isoformat() if r["taken_at"] else None,
        "url": f"{PREFIX}/photos/{r['id']}/file",
        "thumbnail": f"{PREFIX}/photos/{r['id']}/thumbnail",
    }


def photos_of(conn: Connection, report_id: int) -> list[dict]:
    rows = conn.execute(sa.select(photos).where(photos.c.report_id == report_id).order_by(photos.c.id)).mappings()
    return [photo_view(dict(r)) for r in rows]
