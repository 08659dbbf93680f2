"""The construction part's tables as SQLAlchemy Core objects, for queries (Alembic owns the schema: vil_0001,
vil_0002, vil_0012). ``farmhouses`` is the core's layer table: only the columns this part reads or writes are named."""

from __future__ import annotations

import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB

PREFIX = "/api/villages/construction"
UNDER_CONSTRUCTION = ("审批中", "在建")

metadata = sa.MetaData()

farmhouses = sa.Table(
    "farmhouses",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    *(
        sa.Column(c, sa.Text)
        for c in (
            "code",
            "owner_name",
            "district",
            "township",
            "village",
            "address",
            "status",
            "stage",
            "approval_no",
            "structure",
            "updated_by",
        )
    ),  # fmt: skip
    sa.Column("floors", sa.Integer),
    sa.Column("built_year", sa.Integer),
    sa.Column("approved_on", sa.Date),
    sa.Column("craftsman_id", sa.BigInteger),
    sa.Column("version", sa.Integer),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
    sa.Column("deleted_at", sa.DateTime(timezone=True)),
    sa.Column("geom", Geometry("POINT", 4326)),
)

stages = sa.Table(
    "vil_stages",
    metadata,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column("seq", sa.Integer),
    sa.Column("due_days", sa.Integer),
    sa.Column("active", sa.Boolean),
    sa.Column("version", sa.Integer),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
    sa.Column("updated_by", sa.Text),
)

inspections = sa.Table(
    "vil_inspections",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("farmhouse_id", sa.BigInteger),
    *(
        sa.Column(c, sa.Text)
        for c in (
            "stage",
            "inspector",
            "result",
            "note",
            "district",
            "source",
            "idempotency_key",
            "created_by",
            "updated_by",
        )
    ),  # fmt: skip
    sa.Column("inspected_on", sa.Date),
    sa.Column("due_on", sa.Date),
    sa.Column("late", sa.Boolean),
    sa.Column("geom", Geometry("POINT", 4326)),
    sa.Column("accuracy_m", sa.Float),
    sa.Column("distance_m", sa.Float),
    sa.Column("version", sa.Integer),
    sa.Column("created_at", sa.DateTime(timezone=True)),
)

photos = sa.Table(
    "vil_inspection_photos",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("inspection_id", sa.BigInteger),
    *(sa.Column(c, sa.Text) for c in ("district", "sha256", "content_type", "created_by", "updated_by")),
    sa.Column("size_bytes", sa.BigInteger),
    sa.Column("width", sa.Integer),
    sa.Column("height", sa.Integer),
    sa.Column("lon", sa.Float),
    sa.Column("lat", sa.Float),
    sa.Column("taken_at", sa.DateTime(timezone=True)),
    sa.Column("flags", JSONB),
    sa.Column("created_at", sa.DateTime(timezone=True)),
)
