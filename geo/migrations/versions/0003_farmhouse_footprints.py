"""Optional farmhouse footprints, linked to the farmhouse pin.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from alembic import op

from geo.migrations.layer_table import create_layer_table, drop_layer_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_layer_table(
        "farmhouse_footprints",
        "MultiPolygon",
        """
        farmhouse_id bigint NOT NULL REFERENCES farmhouses (id), district text
    """,
        extra_generated="area_m2 double precision GENERATED ALWAYS AS (ST_Area(geom::geography)) STORED",
    )
    op.execute("CREATE INDEX farmhouse_footprints_farmhouse_idx ON farmhouse_footprints (farmhouse_id)")
    op.execute("CREATE INDEX farmhouse_footprints_district_idx ON farmhouse_footprints (district)")


def downgrade() -> None:
    drop_layer_table("farmhouse_footprints")
