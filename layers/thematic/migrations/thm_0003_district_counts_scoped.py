"""A district account reads its own districts' rows of ``thematic_district_counts``.

Every layer table whose read policy is the district check (``chengjian_scope_ok(district, …)``) shows an account all
of its own districts' rows, so their counts tell it nothing it cannot count itself. The engine
(``layers/thematic/engine.py``) uses them for a limited scope only when the table's read policy is the plain district
check, with no per-record grants and no public read — otherwise a count by district would miss granted rows of other
districts or the rows everyone reads — and falls back to counting the rows under row-level security.

Revision ID: thm_0003
"""

from alembic import op

revision = "thm_0003"
down_revision = "thm_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP POLICY city_read ON thematic_district_counts")
    op.execute(
        "CREATE POLICY scope_read ON thematic_district_counts FOR SELECT "
        "USING (coalesce(current_setting('chengjian.scope', true), '') = 'all' "
        "OR district = ANY (string_to_array(nullif(current_setting('chengjian.districts', true), ''), ',')))"
    )


def downgrade() -> None:
    op.execute("DROP POLICY scope_read ON thematic_district_counts")
    op.execute(
        "CREATE POLICY city_read ON thematic_district_counts FOR SELECT "
        "USING (coalesce(current_setting('chengjian.scope', true), '') = 'all')"
    )
