"""Live rows per district of every layer table, kept by the writes themselves (``thematic_district_counts``).

A thematic map that counts a layer's features by district (「农房数」 over 1,000,000 farmhouses) had to scan the whole
table after every write: hundreds of milliseconds for the first request after a change. This table holds, per layer
table and district, the number of live rows (``deleted_at IS NULL``; district ``''`` for rows without one). Three
statement-level triggers per table keep it exact from the statement's transition tables — one grouped upsert of the
signed rows per statement, bulk loads and COPY included; TRUNCATE empties the table's rows — in the writing
transaction, so a reader sees the counts of exactly the data it sees (``tile_cells``, migration 0004, works the same
way). Writers of the same table and district wait on one row until the first commits, as for ``tile_cells``.

``thematic_counts_install(tbl)`` installs the triggers on a table and counts it once; this revision calls it for
every layer table that has ``district`` and ``deleted_at`` columns and a ``layer_changes`` trigger (the layers that
exist now). A later module's layer can call it from its own migration; a table without the triggers is counted the
old way (``layers/thematic/engine.py`` checks). The counts are city-wide: row-level security lets only a city-wide
scope read them (a district account's statistic is computed under its own row-level security).

Revision ID: thm_0002
"""

from alembic import op

revision = "thm_0002"
down_revision = "thm_0001"
branch_labels = None
depends_on = None

APP_ROLE = "chengjian_app"

FUNCTIONS = """
CREATE OR REPLACE FUNCTION thematic_counts_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
DECLARE
    tbl text := TG_ARGV[0];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM thematic_district_counts WHERE layer_table = tbl;
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO thematic_district_counts AS c (layer_table, district, n)
        SELECT tbl, coalesce(district, ''), count(*) FROM new_rows WHERE deleted_at IS NULL GROUP BY 2 ORDER BY 2
        ON CONFLICT (layer_table, district) DO UPDATE SET n = c.n + excluded.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO thematic_district_counts AS c (layer_table, district, n)
        SELECT tbl, coalesce(district, ''), -count(*) FROM old_rows WHERE deleted_at IS NULL GROUP BY 2 ORDER BY 2
        ON CONFLICT (layer_table, district) DO UPDATE SET n = c.n + excluded.n;
    ELSE
        INSERT INTO thematic_district_counts AS c (layer_table, district, n)
        SELECT tbl, d, sum(s) FROM (
            SELECT coalesce(district, '') AS d, -1 AS s FROM old_rows WHERE deleted_at IS NULL
            UNION ALL
            SELECT coalesce(district, ''), 1 FROM new_rows WHERE deleted_at IS NULL
        ) x GROUP BY d HAVING sum(s) <> 0 ORDER BY d
        ON CONFLICT (layer_table, district) DO UPDATE SET n = c.n + excluded.n;
    END IF;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION thematic_counts_rebuild(tbl regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
BEGIN
    DELETE FROM thematic_district_counts WHERE layer_table = tbl::text;
    EXECUTE format('INSERT INTO thematic_district_counts (layer_table, district, n) '
                   'SELECT %L, coalesce(district, %L), count(*) FROM %s WHERE deleted_at IS NULL GROUP BY 2',
                   tbl::text, '', tbl);
END
$fn$;

CREATE OR REPLACE FUNCTION thematic_counts_install(tbl regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $fn$
DECLARE
    t text := tbl::text;
BEGIN
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', t || '_counts_insert', tbl);
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION thematic_counts_changed(%L)', t || '_counts_insert', tbl, t);
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', t || '_counts_update', tbl);
    EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION thematic_counts_changed(%L)', t || '_counts_update', tbl, t);
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', t || '_counts_delete', tbl);
    EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION thematic_counts_changed(%L)', t || '_counts_delete', tbl, t);
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', t || '_counts_truncate', tbl);
    EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %s FOR EACH STATEMENT '
                   'EXECUTE FUNCTION thematic_counts_changed(%L)', t || '_counts_truncate', tbl, t);
    PERFORM thematic_counts_rebuild(tbl);
END
$fn$;
"""

# Layer tables now: a layer_changes trigger, and district and deleted_at columns.
INSTALL_ALL = """DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT c.oid::regclass AS tbl
        FROM pg_class c
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
          AND EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgname = c.relname || '_layer_changed')
          AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'district'
                      AND NOT a.attisdropped)
          AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'deleted_at'
                      AND NOT a.attisdropped)
        ORDER BY c.relname
    LOOP
        PERFORM thematic_counts_install(r.tbl);
    END LOOP;
END $$"""


def upgrade() -> None:
    op.execute("""
        CREATE TABLE thematic_district_counts (
            layer_table text NOT NULL,
            district text NOT NULL,
            n bigint NOT NULL,
            PRIMARY KEY (layer_table, district)
        )
    """)
    op.execute("ALTER TABLE thematic_district_counts ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY city_read ON thematic_district_counts FOR SELECT "
        "USING (coalesce(current_setting('chengjian.scope', true), '') = 'all')"
    )
    op.execute(f"GRANT SELECT ON thematic_district_counts TO {APP_ROLE}")
    op.execute(FUNCTIONS)
    op.execute("REVOKE ALL ON FUNCTION thematic_counts_rebuild(regclass) FROM PUBLIC")
    op.execute("REVOKE ALL ON FUNCTION thematic_counts_install(regclass) FROM PUBLIC")
    op.execute(INSTALL_ALL)


def downgrade() -> None:
    op.execute("""DO $$
    DECLARE
        r record;
    BEGIN
        FOR r IN SELECT g.tgname, g.tgrelid::regclass AS tbl FROM pg_trigger g
                 JOIN pg_proc p ON p.oid = g.tgfoid WHERE p.proname = 'thematic_counts_changed'
        LOOP
            EXECUTE format('DROP TRIGGER %I ON %s', r.tgname, r.tbl);
        END LOOP;
    END $$""")
    op.execute(
        "DROP FUNCTION IF EXISTS thematic_counts_install(regclass), thematic_counts_rebuild(regclass), "
        "thematic_counts_changed()"
    )
    op.execute("DROP TABLE IF EXISTS thematic_district_counts")
