"""Notices get a state (草稿 / 已发布) so that publishing is a case transition (geo/cases.py): the first revision of
the standardized-site module's own branch. ``status`` follows ``published_at`` (a trigger keeps the two in step,
whoever writes the row)."""

from alembic import op

revision = "st_0001"
down_revision = None
branch_labels = ("standard_sites",)
depends_on = "0010"


def upgrade() -> None:
    op.execute("""
        ALTER TABLE st_notices ADD COLUMN status text NOT NULL DEFAULT 'draft'
            CHECK (status IN ('draft', 'published'))
    """)
    op.execute("UPDATE st_notices SET status = 'published' WHERE published_at IS NOT NULL")
    op.execute("""
        CREATE FUNCTION st_notice_status() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.status := CASE WHEN NEW.published_at IS NULL THEN 'draft' ELSE 'published' END;
            RETURN NEW;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER st_notices_status BEFORE INSERT OR UPDATE ON st_notices
        FOR EACH ROW EXECUTE FUNCTION st_notice_status()
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS st_notices_status ON st_notices")
    op.execute("DROP FUNCTION IF EXISTS st_notice_status()")
    op.execute("ALTER TABLE st_notices DROP COLUMN IF EXISTS status")
