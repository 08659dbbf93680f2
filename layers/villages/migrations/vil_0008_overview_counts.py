"""The farmhouse overview's counts (VT-01), kept by the writes themselves: ``vil_overview_counts``.

The overview (``layers/villages/overview.py``) counted up to 1,000,000 farmhouses per district or township, status,
post-approval stage and danger, and placed each township at the middle of its houses: one aggregate of 350–550 ms,
paid by the first reader after any write. This table holds those figures per key (district, township, status,
stage, dangerous) — ``n`` live houses (``deleted_at IS NULL``) and ``sx`` / ``sy``, the sums of their longitudes
and latitudes (a township's position is the mean of its houses' points, what ``ST_Centroid`` of their collection
gives) — with ``''`` for a missing district, township, status or stage; ``stage`` is kept only for the houses under
construction (status 审批中 / 在建, ``''`` for none yet, and ``''`` for every other status), ``dangerous`` is grade
B, C or D.

Three statement-level triggers on ``farmhouses`` (insert, update, delete; with transition tables) and one on
TRUNCATE keep it in the writing transaction: one grouped statement per write statement (bulk loads, COPY and the
county push's and provincial importer's big statements included; an update counts only the rows whose key or point
changed, so the bench's ``SET floors = floors`` writes nothing). A reader sees the figures of exactly the houses its
snapshot sees.

A key may have several rows (the reader sums them): a statement adds its signed sums and, in the same statement,
folds into them the committed rows of the keys it touched that no other writer holds (``FOR UPDATE SKIP LOCKED``,
then deleted and summed: each row is counted once, whoever folds it). Writers therefore never wait on one another
here and cannot deadlock, whatever order their statements touch the keys in (the county push writes one county's
houses from several clients, an update and an insert per statement; a grouped upsert would hold one row per key
until commit). Today every writer of ``farmhouses`` also waits on the table's ``layer_changes`` row (0004); this
table adds no wait of its own. A key keeps about one row per concurrent writer.

``vil_overview_rebuild()`` recounts the table from ``farmhouses`` (it locks out writers while it runs): called once
here for the houses already stored. Row-level security: the farmhouses' read policy (the district check); the app
role reads, only the triggers' SECURITY DEFINER function writes.

Revision ID: vil_0008
"""

from alembic import op

revision = "vil_0008"
down_revision = "vil_0001"
branch_labels = None
depends_on = None

APP_ROLE = "chengjian_app"
KEY = "district, township, status, stage, dangerous"


def _keyed(source: str) -> str:
    """The live rows of ``source`` with their key and point (no NULLs: ``''`` stands for a missing value)."""
    return f"""SELECT r.id, coalesce(r.district, '') AS district, coalesce(r.township, '') AS township,
           coalesce(r.status, '') AS status,
           CASE WHEN r.status IN ('审批中', '在建') THEN coalesce(r.stage, '') ELSE '' END AS stage,
           coalesce(r.danger_grade IN ('B', 'C', 'D'), false) AS dangerous,
           ST_X(r.geom) AS x, ST_Y(r.geom) AS y
      FROM {source} r WHERE r.deleted_at IS NULL"""


# The signed sums of a statement (``delta``) folded with the free committed rows of its keys.
FOLD = f"""
, gone AS (
    DELETE FROM vil_overview_counts c
     WHERE c.ctid = ANY (ARRAY(
           SELECT k.ctid FROM vil_overview_counts k
            WHERE ({KEY}) IN (SELECT {KEY} FROM delta)
              FOR UPDATE OF k SKIP LOCKED))
    RETURNING {KEY}, n, sx, sy
)
INSERT INTO vil_overview_counts ({KEY}, n, sx, sy)
SELECT {KEY}, sum(n), sum(sx), sum(sy)
  FROM (SELECT {KEY}, n, sx, sy FROM delta UNION ALL SELECT {KEY}, n, sx, sy FROM gone) x
 GROUP BY {KEY}
HAVING sum(n) <> 0 OR sum(sx) <> 0 OR sum(sy) <> 0"""

FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION vil_overview_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM vil_overview_counts;
    ELSIF TG_OP = 'INSERT' THEN
        WITH delta AS MATERIALIZED (
            SELECT {KEY}, count(*) AS n, sum(x) AS sx, sum(y) AS sy
              FROM ({_keyed("new_rows")}) s GROUP BY {KEY}
        ){FOLD};
    ELSIF TG_OP = 'DELETE' THEN
        WITH delta AS MATERIALIZED (
            SELECT {KEY}, -count(*) AS n, -sum(x) AS sx, -sum(y) AS sy
              FROM ({_keyed("old_rows")}) s GROUP BY {KEY}
        ){FOLD};
    ELSE
        WITH o AS MATERIALIZED ({_keyed("old_rows")}),
        n AS MATERIALIZED ({_keyed("new_rows")}),
        delta AS MATERIALIZED (
            SELECT {KEY}, sum(s) AS n, sum(s * x) AS sx, sum(s * y) AS sy FROM (
                SELECT o.*, -1 AS s FROM o WHERE NOT EXISTS (
                    SELECT 1 FROM n WHERE n.id = o.id
                       AND (n.district, n.township, n.status, n.stage, n.dangerous, n.x, n.y)
                           IS NOT DISTINCT FROM (o.district, o.township, o.status, o.stage, o.dangerous, o.x, o.y))
                UNION ALL
                SELECT n.*, 1 FROM n WHERE NOT EXISTS (
                    SELECT 1 FROM o WHERE o.id = n.id
                       AND (n.district, n.township, n.status, n.stage, n.dangerous, n.x, n.y)
                           IS NOT DISTINCT FROM (o.district, o.township, o.status, o.stage, o.dangerous, o.x, o.y))
            ) s GROUP BY {KEY}
        ){FOLD};
    END IF;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION vil_overview_rebuild() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
BEGIN
    LOCK TABLE farmhouses IN SHARE MODE;  -- no writer in between: its rows would be counted twice or not at all
    DELETE FROM vil_overview_counts;
    INSERT INTO vil_overview_counts ({KEY}, n, sx, sy)
    SELECT {KEY}, count(*), sum(x), sum(y) FROM ({_keyed("farmhouses")}) s GROUP BY {KEY};
END
$fn$;
"""

TRIGGERS = {
    "insert": "AFTER INSERT ON farmhouses REFERENCING NEW TABLE AS new_rows",
    "update": "AFTER UPDATE ON farmhouses REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "AFTER DELETE ON farmhouses REFERENCING OLD TABLE AS old_rows",
    "truncate": "AFTER TRUNCATE ON farmhouses",
}


def upgrade() -> None:
    op.execute("""
        CREATE TABLE vil_overview_counts (
            district text NOT NULL,
            township text NOT NULL,
            status text NOT NULL,
            stage text NOT NULL,
            dangerous boolean NOT NULL,
            n bigint NOT NULL,
            sx double precision NOT NULL,
            sy double precision NOT NULL
        )
    """)
    op.execute(f"CREATE INDEX vil_overview_counts_key_idx ON vil_overview_counts ({KEY})")
    op.execute("ALTER TABLE vil_overview_counts ENABLE ROW LEVEL SECURITY")
    # The farmhouses' read policy (chengjian_scope_ok(district, NULL, NULL)); '' here is their NULL district.
    op.execute(
        "CREATE POLICY scope_read ON vil_overview_counts FOR SELECT "
        "USING (chengjian_scope_ok(nullif(district, ''), NULL::text, NULL::bigint))"
    )
    # The schema's default privileges give the app role every right on a new table (0005): reading only.
    op.execute(f"REVOKE ALL ON vil_overview_counts FROM {APP_ROLE}")
    op.execute(f"GRANT SELECT ON vil_overview_counts TO {APP_ROLE}")
    op.execute(FUNCTIONS)
    op.execute("REVOKE ALL ON FUNCTION vil_overview_rebuild() FROM PUBLIC")
    for event, when in TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER farmhouses_vil_overview_{event} {when} FOR EACH STATEMENT "
            "EXECUTE FUNCTION vil_overview_changed()"
        )
    op.execute("SELECT vil_overview_rebuild()")


def downgrade() -> None:
    for event in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS farmhouses_vil_overview_{event} ON farmhouses")
    op.execute("DROP FUNCTION IF EXISTS vil_overview_rebuild(), vil_overview_changed()")
    op.execute("DROP TABLE IF EXISTS vil_overview_counts")
