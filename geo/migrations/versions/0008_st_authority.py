"""Standardized sites, authority side (ST-19): the site pin's latest monthly report (``sites.latest_report``, e.g.
"2026-10 已接收"), kept with the pin's status by layers/standard_sites/stats.py; indexes for the statistics.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE sites ADD COLUMN latest_report text")
    op.execute("CREATE INDEX st_reports_month_idx ON st_reports (month, district)")
    op.execute("CREATE INDEX st_bonus_claims_site_idx ON st_bonus_claims (site_id)")
    op.execute("CREATE INDEX st_deductions_site_idx ON st_deductions (site_id, occurred_on)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS st_deductions_site_idx")
    op.execute("DROP INDEX IF EXISTS st_bonus_claims_site_idx")
    op.execute("DROP INDEX IF EXISTS st_reports_month_idx")
    op.execute("ALTER TABLE sites DROP COLUMN IF EXISTS latest_report")
