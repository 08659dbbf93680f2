"""The craftsman who builds a farmhouse, and the credit events its inspections give him (VT-02, VT-04).

- ``farmhouses.craftsman_id``: the builder (建房工匠) of a house under construction, a craftsman of
  ``vil_craftsmen`` — given with the approval result or later (``PUT …/houses/{id}/craftsman``, by the craftsman's
  ID number). Null: not known.
- ``vil_craftsman_events.inspection_id``: the post-approval inspection an event comes from (a passed inspection a
  good event, a failed one a bad event, ``inspections.py``); unique, so an inspection gives at most one event.

Revision ID: vil_0012
"""

from alembic import op

revision = "vil_0012"
down_revision = "vil_0011"  # the craftsmen's branch (vil_0005 → vil_0011)
branch_labels = None
depends_on = ("vil_0002",)  # the inspections


def upgrade() -> None:
    op.execute("ALTER TABLE farmhouses ADD COLUMN craftsman_id bigint REFERENCES vil_craftsmen (id) ON DELETE SET NULL")
    op.execute("CREATE INDEX farmhouses_craftsman_idx ON farmhouses (craftsman_id) WHERE craftsman_id IS NOT NULL")
    op.execute(
        "ALTER TABLE vil_craftsman_events ADD COLUMN inspection_id bigint "
        "REFERENCES vil_inspections (id) ON DELETE SET NULL"
    )
    op.execute(
        "CREATE UNIQUE INDEX vil_craftsman_events_inspection_idx ON vil_craftsman_events (inspection_id) "
        "WHERE inspection_id IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE vil_craftsman_events DROP COLUMN inspection_id")
    op.execute("ALTER TABLE farmhouses DROP COLUMN craftsman_id")
