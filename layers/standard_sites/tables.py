"""The standardized-site module's tables as SQLAlchemy Core objects, for building queries (not DDL).

Alembic owns the schema (geo/migrations/versions/0006_standard_sites.py, 0007_st_evaluations.py,
0008_st_authority.py): nothing here creates, alters or constrains anything, so no keys, defaults or indexes beyond
the primary key. Each table lists every column of the migrations with its type, so that ``select(table)`` and
``.returning(*table.c)`` read what ``SELECT *`` and ``RETURNING *`` did.

The case declarations (``geo.cases.CaseType.sa_table``: ``CLAIM`` in bonus.py, ``MONTHLY`` in reports.py,
``APPLICATION`` in evaluations.py, ``RECORD`` in deductions.py, ``REGISTRATION`` in stages.py, ``ASSIGNMENT`` in
reviews.py) build their own narrower tables of the same names from their fields; the columns they have are the same,
with the same types.

Tables of other parts read or written by the module: ``projects`` (the project register, exported by the projects
module, which owns it), ``case_history`` (created by migration 0006; its credit events are written by the credit
module from its ``credit.feeds`` declarations), the ``sites`` layer's table (declared by the sites module; ``sites()`` looks it up in the
registry when first used, after discovery) and the few columns of the accounts' tables the module reads.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from geo.db import bookkeeping_columns
from geo.layer.registry import registry
from layers.projects import projects  # noqa: F401 - the project register's table (the projects module owns it)

metadata = sa.MetaData()

TS = sa.DateTime(timezone=True)


def _common() -> list[sa.Column]:
    """The bookkeeping columns of migration 0006's ``COMMON``."""
    return [
        sa.Column("district", sa.Text),
        *bookkeeping_columns(),
    ]


def _id() -> sa.Column:
    return sa.Column("id", sa.BigInteger, primary_key=True)


def sites() -> sa.Table:
    """The ``sites`` layer's table (``geo.layer.registry``; the pin every record hangs off)."""
    layer = registry.get("sites")
    assert layer is not None, "the sites module is not installed"
    return layer.sa_table


registrations = sa.Table(
    "st_registrations",
    metadata,
    _id(),
    sa.Column("project_id", sa.BigInteger),
    sa.Column("site_id", sa.BigInteger),
    sa.Column("construction_user_id", sa.BigInteger),
    sa.Column("supervision_user_id", sa.BigInteger),
    sa.Column("contact_name", sa.Text),
    sa.Column("contact_phone", sa.Text),
    sa.Column("status", sa.Text),
    *_common(),
)

catalog = sa.Table(
    "st_catalog",
    metadata,
    _id(),
    sa.Column("kind", sa.Text),
    sa.Column("code", sa.Text),
    sa.Column("name", sa.Text),
    sa.Column("part", sa.Text),
    sa.Column("points", sa.Float),
    sa.Column("required", sa.Boolean),
    sa.Column("field_type", sa.Text),
    sa.Column("sort", sa.Integer),
    sa.Column("active", sa.Boolean),
    sa.Column("version", sa.Integer),
    sa.Column("updated_at", TS),
    sa.Column("updated_by", sa.Text),
)

rounds = sa.Table(
    "st_rounds",
    metadata,
    _id(),
    sa.Column("name", sa.Text),
    sa.Column("review_from", TS),
    sa.Column("review_to", TS),
    sa.Column("reminder_hours", sa.Float),
    sa.Column("per_project", sa.Integer),
    sa.Column("max_per_expert", sa.Integer),
    sa.Column("report_due_day", sa.Integer),
    sa.Column("status", sa.Text),
    sa.Column("version", sa.Integer),
    sa.Column("created_at", TS),
    sa.Column("created_by", sa.Text),
)

reports = sa.Table(
    "st_reports",
    metadata,
    _id(),
    sa.Column("site_id", sa.BigInteger),
    sa.Column("month", sa.Date),
    sa.Column("status", sa.Text),
    sa.Column("form", JSONB),
    sa.Column("late", sa.Boolean),
    sa.Column("submitted_at", TS),
    sa.Column("submitted_by", sa.Text),
    sa.Column("reviewed_at", TS),
    sa.Column("reviewed_by", sa.Text),
    sa.Column("return_reason", sa.Text),
    sa.Column("received_at", TS),
    sa.Column("received_by", sa.Text),
    *_common(),
)

photos = sa.Table(
    "st_photos",
    metadata,
    _id(),
    sa.Column("site_id", sa.BigInteger),
    sa.Column("owner_kind", sa.Text),
    sa.Column("owner_id", sa.BigInteger),
    sa.Column("checklist_code", sa.Text),
    sa.Column("sha256", sa.Text),
    sa.Column("content_type", sa.Text),
    sa.Column("size", sa.BigInteger),
    sa.Column("width", sa.Integer),
    sa.Column("height", sa.Integer),
    sa.Column("thumbnail", sa.Text),
    sa.Column("taken_at", TS),
    sa.Column("lon", sa.Float),
    sa.Column("lat", sa.Float),
    sa.Column("accuracy_m", sa.Float),
    sa.Column("source_crs", sa.Text),
    sa.Column("inside_fence", sa.Boolean),
    sa.Column("distance_m", sa.Float),
    sa.Column("fence_id", sa.BigInteger),
    sa.Column("exif", JSONB),
    sa.Column("flags", JSONB),
    sa.Column("uploader_role", sa.Text),
    sa.Column("idempotency_key", sa.Text),
    sa.Column("deleted_at", TS),
    *_common(),
)

bonus_claims = sa.Table(
    "st_bonus_claims",
    metadata,
    _id(),
    sa.Column("site_id", sa.BigInteger),
    sa.Column("item_id", sa.BigInteger),
    sa.Column("description", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("points", sa.Float),
    sa.Column("submitted_at", TS),
    sa.Column("reviewed_at", TS),
    sa.Column("reviewed_by", sa.Text),
    sa.Column("return_reason", sa.Text),
    sa.Column("confirmed_at", TS),
    sa.Column("confirmed_by", sa.Text),
    *_common(),
)

deductions = sa.Table(
    "st_deductions",
    metadata,
    _id(),
    sa.Column("site_id", sa.BigInteger),
    sa.Column("item_id", sa.BigInteger),
    sa.Column("subject_kind", sa.Text),
    sa.Column("subject_code", sa.Text),
    sa.Column("subject_name", sa.Text),
    sa.Column("points", sa.Float),
    sa.Column("reason", sa.Text),
    sa.Column("occurred_on", sa.Date),
    *_common(),
)

stage_evals = sa.Table(
    "st_stage_evals",
    metadata,
    _id(),
    sa.Column("site_id", sa.BigInteger),
    sa.Column("stage", sa.Text),
    sa.Column("evaluated_on", sa.Date),
    sa.Column("result", sa.Text),
    sa.Column("score", sa.Float),
    sa.Column("remarks", sa.Text),
    sa.Column("lon", sa.Float),
    sa.Column("lat", sa.Float),
    sa.Column("inside_fence", sa.Boolean),
    sa.Column("distance_m", sa.Float),
    sa.Column("idempotency_key", sa.Text),
    *_common(),
)

evaluations = sa.Table(
    "st_evaluations",
    metadata,
    _id(),
    sa.Column("site_id", sa.BigInteger),
    sa.Column("round_id", sa.BigInteger),
    sa.Column("status", sa.Text),
    sa.Column("completion_date", sa.Date),
    sa.Column("prefill", JSONB),
    sa.Column("form", JSONB),
    sa.Column("submitted_at", TS),
    sa.Column("reviewed_at", TS),
    sa.Column("reviewed_by", sa.Text),
    sa.Column("return_reason", sa.Text),
    sa.Column("recommended_at", TS),
    sa.Column("recommended_by", sa.Text),
    sa.Column("recommendation", sa.Text),
    sa.Column("decision", sa.Text),
    sa.Column("decided_at", TS),
    sa.Column("decided_by", sa.Text),
    sa.Column("decision_note", sa.Text),
    sa.Column("final_score", sa.Float),
    sa.Column("print_token", sa.Text),
    *_common(),
    # migration 0007
    sa.Column("submitted_by", sa.Text),
    sa.Column("printed_at", TS),
    sa.Column("printed_by", sa.Text),
)

attachments = sa.Table(
    "st_attachments",
    metadata,
    _id(),
    sa.Column("evaluation_id", sa.BigInteger),
    sa.Column("bonus_claim_id", sa.BigInteger),
    sa.Column("site_id", sa.BigInteger),
    sa.Column("name", sa.Text),
    sa.Column("filename", sa.Text),
    sa.Column("sha256", sa.Text),
    sa.Column("content_type", sa.Text),
    sa.Column("size", sa.BigInteger),
    sa.Column("deleted_at", TS),
    sa.Column("district", sa.Text),
    sa.Column("version", sa.Integer),
    sa.Column("created_at", TS),
    sa.Column("created_by", sa.Text),
    sa.Column("updated_at", TS),
    sa.Column("updated_by", sa.Text),
)

experts = sa.Table(
    "experts",
    metadata,
    _id(),
    sa.Column("name", sa.Text),
    sa.Column("id_number", sa.Text),
    sa.Column("phone", sa.Text),
    sa.Column("group_name", sa.Text),
    sa.Column("specialties", ARRAY(sa.Text)),
    sa.Column("enterprise_name", sa.Text),
    sa.Column("enterprise_uscc", sa.Text),
    sa.Column("title", sa.Text),
    sa.Column("available", sa.Boolean),
    sa.Column("unavailable_reason", sa.Text),
    sa.Column("user_id", sa.BigInteger),
    sa.Column("deleted_at", TS),
    sa.Column("version", sa.Integer),
    sa.Column("created_at", TS),
    sa.Column("created_by", sa.Text),
    sa.Column("updated_at", TS),
    sa.Column("updated_by", sa.Text),
    # module migration st_0003: ``experts`` is a view of ``st_experts`` and the personnel register (``persons``);
    # name, id_number and phone are the person's, written through the view's triggers
    sa.Column("person_id", sa.BigInteger),
)

draws = sa.Table(
    "st_draws",
    metadata,
    _id(),
    sa.Column("round_id", sa.BigInteger),
    sa.Column("inputs", JSONB),
    sa.Column("inputs_sha256", sa.Text),
    sa.Column("commitment", sa.Text),
    sa.Column("seed", sa.Text),
    sa.Column("result", JSONB),
    sa.Column("status", sa.Text),
    sa.Column("created_at", TS),
    sa.Column("created_by", sa.Text),
    sa.Column("drawn_at", TS),
)

assignments = sa.Table(
    "st_assignments",
    metadata,
    _id(),
    sa.Column("draw_id", sa.BigInteger),
    sa.Column("evaluation_id", sa.BigInteger),
    sa.Column("site_id", sa.BigInteger),
    sa.Column("expert_id", sa.BigInteger),
    sa.Column("window_from", TS),
    sa.Column("window_to", TS),
    sa.Column("status", sa.Text),
    sa.Column("reminded_at", TS),
    *_common(),
)

reviews = sa.Table(
    "st_reviews",
    metadata,
    _id(),
    sa.Column("assignment_id", sa.BigInteger),
    sa.Column("site_id", sa.BigInteger),
    sa.Column("scores", JSONB),
    sa.Column("total", sa.Float),
    sa.Column("comments", sa.Text),
    sa.Column("submitted_at", TS),
    *_common(),
)

notices = sa.Table(
    "st_notices",
    metadata,
    _id(),
    sa.Column("kind", sa.Text),
    sa.Column("title", sa.Text),
    sa.Column("body", sa.Text),
    sa.Column("district", sa.Text),
    sa.Column("public", sa.Boolean),
    sa.Column("status", sa.Text),  # follows published_at (module migration st_0001)
    sa.Column("published_at", TS),
    sa.Column("version", sa.Integer),
    sa.Column("created_at", TS),
    sa.Column("created_by", sa.Text),
)

case_history = sa.Table(
    "case_history",
    metadata,
    _id(),
    sa.Column("case_kind", sa.Text),
    sa.Column("case_id", sa.BigInteger),
    sa.Column("site_id", sa.BigInteger),
    sa.Column("action", sa.Text),
    sa.Column("from_state", sa.Text),
    sa.Column("to_state", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("actor", sa.Text),
    sa.Column("at", TS),
    sa.Column("district", sa.Text),
)

# The accounts' tables (api.accounts owns them): only the columns this module reads.
users = sa.Table(
    "users",
    metadata,
    _id(),
    sa.Column("username", sa.Text),
    sa.Column("phone", sa.Text),
    sa.Column("id_number", sa.Text),
)

user_roles = sa.Table("user_roles", metadata, sa.Column("user_id", sa.BigInteger), sa.Column("role", sa.Text))

organisations = sa.Table("organisations", metadata, _id(), sa.Column("uscc", sa.Text))


def jsonb(text: str | None) -> sa.ColumnElement:
    """JSON already serialised by the caller (its own ``json.dumps`` options) as a jsonb value: ``CAST(:text AS
    jsonb)``; a plain value for a JSONB column would be serialised a second time."""
    return sa.cast(sa.literal(text, sa.Text), JSONB)
