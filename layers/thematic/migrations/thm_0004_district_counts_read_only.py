"""The app role only reads ``thematic_district_counts``.

The schema's default privileges (migration 0005) give the app role every right on a new table; thm_0002 only added
SELECT, so the role could also write the counts — and TRUNCATE ignores row-level security. The counts are written by
the SECURITY DEFINER trigger function alone (``thematic_counts_changed``), so every other right is taken back.

Revision ID: thm_0004
"""

from alembic import op

revision = "thm_0004"
down_revision = "thm_0003"
branch_labels = None
depends_on = None

APP_ROLE = "chengjian_app"


def upgrade() -> None:
    op.execute(
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON thematic_district_counts FROM {APP_ROLE}"
    )


def downgrade() -> None:
    op.execute(f"GRANT INSERT, UPDATE, DELETE, TRUNCATE ON thematic_district_counts TO {APP_ROLE}")
