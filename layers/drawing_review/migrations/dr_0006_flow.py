"""The drawing review's flow (DR-03…06): each building's (单体) disciplines — the disciplines the agency gives a
conclusion for in every review round —, an index for the due-date lists (overdue, nearly due) and the sequence of
the certificate numbers; the policies that open an application's history (``case_history``) to whoever sees
the application.

Revision ID: dr_0006
"""

from alembic import op

revision = "dr_0006"
down_revision = "dr_0001"
branch_labels = None
depends_on = None

APP_ROLE = "chengjian_app"
DISCIPLINES = ("architecture", "structure", "plumbing", "hvac", "electrical", "fire", "civil_defence", "energy")


HISTORY = "case_kind = 'dr_application' AND EXISTS (SELECT 1 FROM dr_applications a WHERE a.id = case_id)"


def upgrade() -> None:
    known = ", ".join(f"'{d}'" for d in DISCIPLINES)
    op.execute(
        "ALTER TABLE dr_buildings ADD COLUMN disciplines text[] NOT NULL DEFAULT '{}' "
        f"CONSTRAINT dr_buildings_disciplines_known CHECK (disciplines <@ ARRAY[{known}])"
    )
    # Certificate numbers (审查合格书编号): one sequence for the three jurisdictions (the number carries their prefix).
    op.execute("CREATE SEQUENCE dr_certificate_seq")
    op.execute("CREATE INDEX dr_applications_due_idx ON dr_applications (due_on) WHERE due_on IS NOT NULL")
    # The history of an application (case_history, scoped on sites by 0006) is read and written by whoever sees the
    # application (its own row-level security: the pin's district and grants): builders, design units and agencies
    # hold grants of review projects, not of sites.
    for name, command, clause in (
        ("dr_application_read", "SELECT", "USING"),
        ("dr_application_insert", "INSERT", "WITH CHECK"),
    ):
        op.execute(f"CREATE POLICY {name} ON case_history FOR {command} {clause} ({HISTORY})")
    op.execute(f"GRANT USAGE, SELECT, UPDATE ON SEQUENCE dr_certificate_seq TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP POLICY dr_application_read ON case_history")
    op.execute("DROP POLICY dr_application_insert ON case_history")
    op.execute("DROP INDEX dr_applications_due_idx")
    op.execute("DROP SEQUENCE dr_certificate_seq")
    op.execute("ALTER TABLE dr_buildings DROP COLUMN disciplines")
