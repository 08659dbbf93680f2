"""County push (VT-11): ``vil_codes_taken`` looks each code up by its index, whatever the planner's statistics say.

The function of ``vil_0006`` matched ``code = ANY (codes)`` in one scan. On a table whose column statistics are
missing or stale (a new or fast-growing ``farmhouses``: autovacuum analyses it a minute or more later) the planner
took the partial GiST index of live houses for a cheap way to every live row and compared each of them with the
1,000 codes of a batch: a push then cost time in proportion to the whole table (5,000 houses: 0.1 s a batch; 50,000:
about 1 s). Each code is now one probe of the unique index of live codes (``LATERAL … LIMIT 1``: the probe of a
unique index stays the cheapest plan however few rows the planner believes the table holds). Same signature, same
answer (a code held by a live house, with its county record id when that house is of the district).

Revision ID: vil_0006a
"""

from alembic import op

revision = "vil_0006a"
down_revision = "vil_0006"
branch_labels = None
depends_on = None

HEADER = """
CREATE OR REPLACE FUNCTION vil_codes_taken(codes text[], d text)
RETURNS TABLE (code text, county_record_id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
"""

BY_PROBE = """
    SELECT f.code, CASE WHEN f.district = d THEN f.county_record_id END
      FROM (SELECT DISTINCT c FROM unnest(codes) AS u (c)) AS u
     CROSS JOIN LATERAL (
           SELECT f.code, f.district, f.county_record_id
             FROM farmhouses f
            WHERE f.code = u.c AND f.deleted_at IS NULL
            LIMIT 1  -- unique among live houses: the limit only keeps this one index probe per code
     ) f
$fn$
"""

BY_SCAN = """
    SELECT f.code, CASE WHEN f.district = d THEN f.county_record_id END
      FROM farmhouses f
     WHERE f.code = ANY (codes) AND f.deleted_at IS NULL
$fn$
"""


def upgrade() -> None:
    op.execute(HEADER + BY_PROBE)  # CREATE OR REPLACE keeps the grants of vil_0006


def downgrade() -> None:
    op.execute(HEADER + BY_SCAN)
