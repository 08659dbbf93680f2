"""The credit register's tables (migration ``cre_0001`` on core 0006's ``credit_events``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()
TS = sa.DateTime(timezone=True)

events = sa.Table(
    "credit_events",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("subject_kind", sa.Text),
    sa.Column("subject_code", sa.Text),
    sa.Column("subject_name", sa.Text),
    sa.Column("event_type", sa.Text),
    sa.Column("polarity", sa.Text),
    sa.Column("points", sa.Float),
    sa.Column("reason", sa.Text),
    sa.Column("source", sa.Text),  # the source record's kind (a case kind), or ``credit_import``
    sa.Column("source_id", sa.BigInteger),  # its id
    sa.Column("source_module", sa.Text),
    sa.Column("natural_key", sa.Text),
    sa.Column("document_no", sa.Text),
    sa.Column("authority", sa.Text),
    sa.Column("site_id", sa.BigInteger),
    sa.Column("district", sa.Text),
    sa.Column("occurred_on", sa.Date),
    sa.Column("created_at", TS),
    sa.Column("created_by", sa.Text),
)

rules = sa.Table(
    "credit_rules",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("base_score", sa.Float),
    sa.Column("half_life_days", sa.Float),
    sa.Column("weights", JSONB),
    sa.Column("note", sa.Text),
    sa.Column("created_at", TS),
    sa.Column("created_by", sa.Text),
)

subjects = sa.Table(
    "credit_subjects",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("subject_kind", sa.Text),
    sa.Column("subject_code", sa.Text),
    sa.Column("subject_name", sa.Text),
    sa.Column("score", sa.Float),
    sa.Column("events", sa.Integer),
    sa.Column("rule_version", sa.Integer),
    sa.Column("computed_at", TS),
)

scores = sa.Table(
    "credit_scores",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("subject_id", sa.BigInteger),
    sa.Column("score", sa.Float),
    sa.Column("events", sa.Integer),
    sa.Column("rule_version", sa.Integer),
    sa.Column("computed_at", TS),
)
