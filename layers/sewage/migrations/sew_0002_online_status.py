"""Each facility's online status (在线状态: 正常, 超标, 离线, 故障) on its ``sewage_plants`` row, computed from its
readings every minute by the job ``sewage.refresh_status`` (read-only for clients), so the one map colours the
facilities by it; and the index the job reads the latest readings with."""

from alembic import op

revision = "sew_0002"
down_revision = "sew_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        ALTER TABLE sewage_plants ADD COLUMN online_status text NOT NULL DEFAULT '离线'
            CHECK (online_status IN ('正常', '超标', '离线', '故障')),
            ADD COLUMN status_at timestamptz
    """)
    op.execute("CREATE INDEX sewage_plants_online_status_idx ON sewage_plants (online_status)")


def downgrade() -> None:
    op.execute("ALTER TABLE sewage_plants DROP COLUMN IF EXISTS status_at, DROP COLUMN IF EXISTS online_status")
