"""The enterprise list in name order, fast for every search term: an index on ``(name, id)``.

A name search for a term that nearly every name holds (「公司」「有限」, and 「建工」 or 「杭州」 are common too) used
to read the bigram index's posting list of most of the table, recheck ``chengjian_bigrams(name)`` on every row and
sort them all by name for one page. With this index the planner walks the names in order, filters them and stops
after a page; a rare term still uses the bigram index (the planner chooses by the bigram index's statistics). The
total is counted apart with ``strpos`` (cheap per row, no function call): see ``layers/enterprises/store.py``.

Revision ID: ent_0002
"""

from alembic import op

revision = "ent_0002"
down_revision = "ent_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX IF NOT EXISTS enterprises_name_order_idx ON enterprises (name, id)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS enterprises_name_order_idx")
