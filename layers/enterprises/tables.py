"""The register's tables as SQLAlchemy Core objects (Alembic owns the schema: ``migrations/ent_0001_enterprises.py``),
the enterprise types, and the two look-ups other modules use: ``get_by_uscc`` and ``require``."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from geo.db import bookkeeping_columns
from geo.errors import Invalid

metadata = sa.MetaData()
TS = sa.DateTime(timezone=True)

# The kinds of enterprise the Commission registers (code → Chinese); an enterprise may be of several.
ENTERPRISE_TYPES: dict[str, str] = {
    "real_estate": "房地产开发",
    "construction": "施工",
    "supervision": "监理",
    "cost_consulting": "造价咨询",
    "bidding_agency": "招标代理",
    "testing": "检测",
    "survey_design": "勘察设计",
    "building_energy": "建筑节能",
    "review_agency": "施工图审查机构",
}


enterprises = sa.Table(
    "enterprises",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("uscc", sa.Text),
    sa.Column("name", sa.Text),
    sa.Column("types", ARRAY(sa.Text)),
    sa.Column("legal_rep", sa.Text),
    sa.Column("tech_lead", sa.Text),
    sa.Column("address", sa.Text),
    sa.Column("district", sa.Text),
    sa.Column("credit_score", sa.Numeric),
    *bookkeeping_columns(),
)

qualifications = sa.Table(
    "enterprise_qualifications",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("enterprise_id", sa.BigInteger),
    sa.Column("category", sa.Text),
    sa.Column("grade", sa.Text),
    sa.Column("scope", sa.Text),
    sa.Column("number", sa.Text),
    sa.Column("valid_from", sa.Date),
    sa.Column("valid_to", sa.Date),
    *bookkeeping_columns(),
)

merges = sa.Table(
    "enterprise_merges",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("kept_uscc", sa.Text),
    sa.Column("merged_uscc", sa.Text),
    sa.Column("merged", JSONB),
    sa.Column("moved", JSONB),
    sa.Column("reason", sa.Text),
    sa.Column("at", TS),
    sa.Column("by", sa.Text),
)


def get_by_uscc(conn: Connection, uscc: str) -> dict | None:
    """The enterprise with this credit code (letters in either case), or None."""
    row = conn.execute(sa.select(enterprises).where(enterprises.c.uscc == uscc.strip().upper())).mappings().first()
    return dict(row) if row is not None else None


def require(conn: Connection, uscc: str, field: str) -> dict:
    """The enterprise with this credit code; refused (``unknown_enterprise``, naming ``field``) when the register
    has none: a unit a module records must be an enterprise of the register."""
    found = get_by_uscc(conn, uscc)
    if found is None:
        raise Invalid(
            "unknown_enterprise",
            f"企业库中没有统一社会信用代码为「{uscc}」的企业，请先在企业库登记该企业。",
            field,
            {"uscc": uscc},
        )
    return found
