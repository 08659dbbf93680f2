"""The drawing review's tables as SQLAlchemy Core objects, for building queries (not DDL: the module's migrations
own the schema, ``migrations/dr_0001_applications.py`` and after). Each lists every column of its migration."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from geo.db import bookkeeping_columns
from geo.layer.registry import registry

metadata = sa.MetaData()

TS = sa.DateTime(timezone=True)


def _id() -> sa.Column:
    return sa.Column("id", sa.BigInteger, primary_key=True)


def _common() -> list[sa.Column]:
    return [sa.Column("district", sa.Text), *bookkeeping_columns()]


def review_projects() -> sa.Table:
    """The ``review_projects`` layer's table: the pin of each application on the one map."""
    layer = registry.get("review_projects")
    assert layer is not None, "the review_projects layer is not declared"
    return layer.sa_table


agencies = sa.Table(
    "dr_agencies",
    metadata,
    _id(),
    sa.Column("uscc", sa.Text),
    sa.Column("business_licence_no", sa.Text),
    sa.Column("active", sa.Boolean),
    *_common(),
)

applications = sa.Table(
    "dr_applications",
    metadata,
    _id(),
    sa.Column("application_no", sa.Text),
    sa.Column("review_project_id", sa.BigInteger),
    sa.Column("project_code", sa.Text),
    sa.Column("project_id", sa.BigInteger),
    sa.Column("name", sa.Text),
    sa.Column("submission_name", sa.Text),
    sa.Column("builder_uscc", sa.Text),
    sa.Column("designer_uscc", sa.Text),
    sa.Column("surveyor_uscc", sa.Text),
    sa.Column("agency_id", sa.BigInteger),
    sa.Column("review_category", sa.Text),
    sa.Column("grade", sa.Text),
    sa.Column("contents", ARRAY(sa.Text)),
    sa.Column("floor_area_m2", sa.Float),
    sa.Column("investment_wan", sa.Float),
    sa.Column("jurisdiction", sa.Text),  # generated from the district
    sa.Column("status", sa.Text),
    sa.Column("round_no", sa.Integer),
    sa.Column("submitted_at", TS),
    sa.Column("drawn_at", TS),
    sa.Column("accepted_at", TS),
    sa.Column("concluded_at", TS),
    sa.Column("conclusion", sa.Text),
    sa.Column("certificate_no", sa.Text),
    sa.Column("certified_at", TS),
    sa.Column("due_on", sa.Date),
    sa.Column("return_reason", sa.Text),
    *_common(),
)

buildings = sa.Table(
    "dr_buildings",
    metadata,
    _id(),
    sa.Column("application_id", sa.BigInteger),
    sa.Column("review_project_id", sa.BigInteger),
    sa.Column("name", sa.Text),
    sa.Column("floor_area_m2", sa.Float),
    sa.Column("floors", sa.Integer),
    sa.Column("height_m", sa.Float),
    sa.Column("structure", sa.Text),
    *_common(),
)

rounds = sa.Table(
    "dr_rounds",
    metadata,
    _id(),
    sa.Column("application_id", sa.BigInteger),
    sa.Column("review_project_id", sa.BigInteger),
    sa.Column("round_no", sa.Integer),
    sa.Column("started_at", TS),
    sa.Column("opinion_at", TS),
    sa.Column("result", sa.Text),
    sa.Column("replied_at", TS),
    sa.Column("reply_note", sa.Text),
    *_common(),
)

opinions = sa.Table(
    "dr_opinions",
    metadata,
    _id(),
    sa.Column("round_id", sa.BigInteger),
    sa.Column("application_id", sa.BigInteger),
    sa.Column("review_project_id", sa.BigInteger),
    sa.Column("discipline", sa.Text),
    sa.Column("conclusion", sa.Text),
    sa.Column("opinion", sa.Text),
    sa.Column("reviewer", sa.Text),
    *_common(),
)

time_limits = sa.Table(
    "dr_time_limits",
    metadata,
    sa.Column("review_category", sa.Text, primary_key=True),
    sa.Column("grade", sa.Text, primary_key=True),
    sa.Column("stage", sa.Text, primary_key=True),
    sa.Column("working_days", sa.Integer),
    sa.Column("version", sa.Integer),
    sa.Column("updated_at", TS),
    sa.Column("updated_by", sa.Text),
)

# -- queries and statistics (DR-10…12, migration dr_0005) ----------------------------------------------------------
# The above- and below-ground floor areas the project queries list (地上 / 地下建筑面积).
applications.append_column(sa.Column("above_ground_m2", sa.Float))
applications.append_column(sa.Column("below_ground_m2", sa.Float))
# migration dr_0006 (the flow): each building's disciplines
buildings.append_column(sa.Column("disciplines", ARRAY(sa.Text)))

# -- drawings online (migrations/dr_0003_drawings.py) ----------------------------------------------------------------

drawing_sets = sa.Table(
    "dr_drawing_sets",
    metadata,
    _id(),
    sa.Column("application_id", sa.BigInteger),
    sa.Column("review_project_id", sa.BigInteger),
    sa.Column("round_no", sa.Integer),
    sa.Column("building_id", sa.BigInteger),
    sa.Column("discipline", sa.Text),
    sa.Column("file_name", sa.Text),
    sa.Column("sha256", sa.Text),
    sa.Column("path", sa.Text),
    sa.Column("content_type", sa.Text),
    sa.Column("size", sa.BigInteger),
    sa.Column("page_count", sa.Integer),
    sa.Column("pages_done", sa.Integer),
    sa.Column("status", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("job_id", sa.BigInteger),
    sa.Column("queued_at", TS),
    sa.Column("started_at", TS),
    sa.Column("finished_at", TS),
    *_common(),
)

sheets = sa.Table(
    "dr_sheets",
    metadata,
    _id(),
    sa.Column("set_id", sa.BigInteger),
    sa.Column("application_id", sa.BigInteger),
    sa.Column("review_project_id", sa.BigInteger),
    sa.Column("page_no", sa.Integer),
    sa.Column("title", sa.Text),
    sa.Column("width_mm", sa.Float),
    sa.Column("height_mm", sa.Float),
    sa.Column("dpi", sa.Integer),
    sa.Column("width_px", sa.Integer),
    sa.Column("height_px", sa.Integer),
    sa.Column("tile_size", sa.Integer),
    sa.Column("overlap", sa.Integer),
    sa.Column("pyramid", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("rendered_at", TS),
    *_common(),
)

comments = sa.Table(
    "dr_comments",
    metadata,
    _id(),
    sa.Column("sheet_id", sa.BigInteger),
    sa.Column("set_id", sa.BigInteger),
    sa.Column("application_id", sa.BigInteger),
    sa.Column("review_project_id", sa.BigInteger),
    sa.Column("round_no", sa.Integer),
    sa.Column("discipline", sa.Text),
    sa.Column("x", sa.Float),
    sa.Column("y", sa.Float),
    sa.Column("w", sa.Float),
    sa.Column("h", sa.Float),
    sa.Column("body", sa.Text),
    sa.Column("author", sa.Text),
    *_common(),
)
