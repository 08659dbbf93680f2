"""Reference data: Hangzhou's 13 districts and counties (see docs/data-sources.md).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import json
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SOURCE = Path(__file__).resolve().parents[3] / "etl" / "data" / "hangzhou_districts.geojson"


def upgrade() -> None:
    fc = json.loads(SOURCE.read_text(encoding="utf-8"))
    conn = op.get_bind()
    for f in fc["features"]:
        p = f["properties"]
        conn.execute(
            sa.text(
                "INSERT INTO districts (code, name, kind, geom, created_by, updated_by) "
                "VALUES (:code, :name, :kind, ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(:g), 4326)), "
                "'migration', 'migration') ON CONFLICT (code) DO NOTHING"
            ),
            {"code": p["code"], "name": p["name"], "kind": p["kind"], "g": json.dumps(f["geometry"])},
        )


def downgrade() -> None:
    op.execute("DELETE FROM districts WHERE created_by = 'migration'")
