"""Queries and statistics of the drawing review (DR-10…12): the above- and below-ground floor areas the in-review and
reviewed project queries list (地上建筑面积, 地下建筑面积, section 3.3.5 of the requirements), and the indexes the
queries and the statistics filter and sort on.

- ``dr_applications.above_ground_m2`` / ``below_ground_m2``: declared by the applicant with the application (the
  total ``floor_area_m2`` stays as it was; nothing ties the three together, an application may give only the total).
- Indexes: acceptance and conclusion times (the statistics' period; the queries' period by acceptance or conclusion); the
  rounds of an application in order (``UNIQUE (application_id, round_no)`` already gives that one).

No new table, so no grant: the app role's rights on ``dr_applications`` cover the new columns.

Revision ID: dr_0005
"""

from alembic import op

revision = "dr_0005"
down_revision = "dr_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE dr_applications "
        "ADD COLUMN above_ground_m2 double precision CHECK (above_ground_m2 >= 0), "
        "ADD COLUMN below_ground_m2 double precision CHECK (below_ground_m2 >= 0)"
    )
    op.execute("CREATE INDEX dr_applications_accepted_idx ON dr_applications (accepted_at)")
    op.execute("CREATE INDEX dr_applications_concluded_idx ON dr_applications (concluded_at)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS dr_applications_concluded_idx")
    op.execute("DROP INDEX IF EXISTS dr_applications_accepted_idx")
    op.execute("ALTER TABLE dr_applications DROP COLUMN below_ground_m2, DROP COLUMN above_ground_m2")
