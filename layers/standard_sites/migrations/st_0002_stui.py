"""Bonus claims' evidence documents (加分项佐证材料: certificate scans, PDFs, images) are attachments like an
evaluation's: ``st_attachments`` gets ``bonus_claim_id``, and an attachment belongs to exactly one of the two. They
are documents, not site photos, so they are not held to the site's fence."""

from alembic import op

revision = "st_0002"
down_revision = "st_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        ALTER TABLE st_attachments
            ALTER COLUMN evaluation_id DROP NOT NULL,
            ADD COLUMN bonus_claim_id bigint REFERENCES st_bonus_claims (id) ON DELETE CASCADE,
            ADD CONSTRAINT st_attachments_one_owner CHECK ((evaluation_id IS NULL) <> (bonus_claim_id IS NULL))
    """)
    op.execute("CREATE INDEX st_attachments_bonus_idx ON st_attachments (bonus_claim_id)")


def downgrade() -> None:
    op.execute("DELETE FROM st_attachments WHERE bonus_claim_id IS NOT NULL")
    op.execute("DROP INDEX IF EXISTS st_attachments_bonus_idx")
    op.execute(
        "ALTER TABLE st_attachments DROP CONSTRAINT IF EXISTS st_attachments_one_owner, "
        "DROP COLUMN IF EXISTS bonus_claim_id, ALTER COLUMN evaluation_id SET NOT NULL"
    )
