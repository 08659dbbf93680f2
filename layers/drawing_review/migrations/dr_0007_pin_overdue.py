"""The review pins' overdue flag, and the applications of each review agency by the agency's credit code.

- ``review_projects.overdue``: the application's current stage is past its due date in working days (kept by
  whoever computes the due dates; the map draws overdue pins with a red ring). Not null, false by default.
- ``dr_agency_applications``: a ``security_invoker`` view (the caller's row-level security applies) of each
  application with its agency's unified social credit code, so that an agency's enterprise record page lists the
  applications it reviews (``geo.records`` links a column of a table to a column of the record).

Revision ID: dr_0007
"""

from alembic import op

revision = "dr_0007"
down_revision = "dr_0001"
branch_labels = None
depends_on = None

APP_ROLE = "chengjian_app"


def upgrade() -> None:
    op.execute("ALTER TABLE review_projects ADD COLUMN overdue boolean NOT NULL DEFAULT false")
    op.execute("CREATE INDEX review_projects_overdue_idx ON review_projects (id) WHERE overdue AND deleted_at IS NULL")
    op.execute("""
        CREATE VIEW dr_agency_applications WITH (security_invoker = true) AS
        SELECT a.id, a.application_no, a.project_code, a.name, a.district, a.jurisdiction, a.status, a.round_no,
               a.submitted_at, a.concluded_at, a.certificate_no, a.review_project_id, g.uscc AS agency_uscc
        FROM dr_applications a JOIN dr_agencies g ON g.id = a.agency_id
    """)
    op.execute(f"GRANT SELECT ON dr_agency_applications TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP VIEW dr_agency_applications")
    op.execute("DROP INDEX review_projects_overdue_idx")
    op.execute("ALTER TABLE review_projects DROP COLUMN overdue")
