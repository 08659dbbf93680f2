"""The personnel register's tables as SQLAlchemy Core objects, for building queries (migration per_0001 owns the
schema: nothing here creates or constrains anything)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from geo.db import bookkeeping_columns

metadata = sa.MetaData()

TS = sa.DateTime(timezone=True)


persons = sa.Table(
    "persons",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("id_number", sa.Text),
    sa.Column("name", sa.Text),
    sa.Column("gender", sa.Text),  # generated from the ID number
    sa.Column("phone", sa.Text),
    sa.Column("categories", ARRAY(sa.Text)),
    sa.Column("district", sa.Text),
    sa.Column("expert_kinds", ARRAY(sa.Text)),
    sa.Column("specialties", ARRAY(sa.Text)),
    sa.Column("expert_groups", ARRAY(sa.Text)),
    sa.Column("credit_score", sa.Numeric),
    *bookkeeping_columns(),
    sa.Column("deleted_at", TS),
    sa.Column("deleted_by", sa.Text),
)

registrations = sa.Table(
    "person_registrations",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("person_id", sa.BigInteger),
    sa.Column("reg_type", sa.Text),
    sa.Column("reg_no", sa.Text),
    sa.Column("specialty", sa.Text),
    sa.Column("enterprise_uscc", sa.Text),
    sa.Column("valid_to", sa.Date),
    *bookkeeping_columns(),
)

employment = sa.Table(
    "person_employment",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("person_id", sa.BigInteger),
    sa.Column("enterprise_uscc", sa.Text),
    sa.Column("enterprise_name", sa.Text),
    sa.Column("role", sa.Text),
    sa.Column("started_on", sa.Date),
    sa.Column("ended_on", sa.Date),
    *bookkeeping_columns(),
)
