"""Tile cache invalidation (layer_changes) and point summaries for low-zoom tiles (tile_cells).

``layer_changes`` holds one generation counter per layer. A statement-level trigger on every layer table bumps it
(and sends ``pg_notify('layer_changes', <layer>)``) after any INSERT, UPDATE, DELETE or TRUNCATE, in the writing
transaction — whatever wrote: the API, an import, the demo loader, COPY or hand-written SQL. The tile cache keys
on the generations, so an edit shows on the next fetch.

``tile_cells`` summarises a point layer on a fixed Web Mercator grid at several levels (2^level cells per world
side): per cell and category value (the column the map colours by), the number of live points and the sums of
their x and y. Low-zoom tiles aggregate these few thousand rows instead of a million points. Statement-level
triggers keep it exact from the transition tables (one set-wise upsert per statement, also for bulk loads).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from alembic import op

from geo.migrations.layer_table import install_change_trigger, install_tile_cells

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

LAYER_TABLES = [
    "districts",
    "townships",
    "sites",
    "site_fences",
    "review_projects",
    "farmhouses",
    "farmhouse_footprints",
    "sewage_plants",
    "greenways",
]

# Grid levels kept in tile_cells; the finest is the base the others are derived from. A tile at zoom z with
# 16 cells per side reads the coarsest level >= z + 4 (tiles/sql.py has the same list).
LEVELS = (12, 14, 16, 18)
BASE = max(LEVELS)
HALF = 20037508.342789244  # half the Web Mercator world width (metres)

FUNCTIONS = f"""
CREATE FUNCTION layer_changed() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO layer_changes AS c (layer, gen, changed_at) VALUES (TG_ARGV[0], 1, clock_timestamp())
    ON CONFLICT (layer) DO UPDATE SET gen = c.gen + 1, changed_at = clock_timestamp();
    PERFORM pg_notify('layer_changes', TG_ARGV[0]);
    RETURN NULL;
END
$fn$;

-- The category expression for a column name ('' when the layer has no category).
CREATE FUNCTION tile_cells_category(col text) RETURNS text LANGUAGE sql IMMUTABLE AS $fn$
    SELECT CASE WHEN col = '' THEN '''''' ELSE format('coalesce(%I::text, '''')', col) END
$fn$;

-- The upsert that adds the signed rows of ``src`` (columns s, geom_3857, cat) to every level; $1 is the layer.
CREATE FUNCTION tile_cells_sql(src text) RETURNS text LANGUAGE sql IMMUTABLE AS $fn$
    SELECT format($q$
        WITH p AS (SELECT s, ST_X(geom_3857) AS x, ST_Y(geom_3857) AS y, cat FROM (%s) src OFFSET 0),
        base AS (
            SELECT least(greatest(floor((x + {HALF}) * {2**BASE} / {2 * HALF}), 0), {2**BASE - 1})::int AS cx,
                   least(greatest(floor(({HALF} - y) * {2**BASE} / {2 * HALF}), 0), {2**BASE - 1})::int AS cy,
                   cat, sum(s)::bigint AS n, sum(s * x) AS sx, sum(s * y) AS sy
            FROM p GROUP BY 1, 2, 3),
        cells AS (
            SELECT l AS level, cx >> ({BASE} - l) AS cx, cy >> ({BASE} - l) AS cy, cat,
                   sum(n)::bigint AS n, sum(sx) AS sx, sum(sy) AS sy
            FROM base CROSS JOIN unnest(ARRAY{list(LEVELS)}) AS l GROUP BY 1, 2, 3, 4)
        INSERT INTO tile_cells AS t (layer, level, cx, cy, cat, n, sx, sy)
        SELECT $1, level, cx, cy, cat, n, sx, sy FROM cells
        WHERE n <> 0 OR abs(sx) > 1e-3 OR abs(sy) > 1e-3
        ORDER BY level, cx, cy, cat
        ON CONFLICT (layer, level, cx, cy, cat)
        DO UPDATE SET n = t.n + excluded.n, sx = t.sx + excluded.sx, sy = t.sy + excluded.sy
    $q$, src)
$fn$;

CREATE FUNCTION tile_cells_changed() RETURNS trigger LANGUAGE plpgsql SET work_mem = '64MB' AS $fn$
DECLARE
    lyr text := TG_ARGV[0];
    cat text := tile_cells_category(TG_ARGV[1]);
    src text;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM tile_cells WHERE layer = lyr;
        RETURN NULL;
    END IF;
    src := CASE TG_OP
        WHEN 'INSERT' THEN format('SELECT 1 AS s, geom_3857, %s AS cat FROM new_rows WHERE deleted_at IS NULL', cat)
        WHEN 'DELETE' THEN format('SELECT -1 AS s, geom_3857, %s AS cat FROM old_rows WHERE deleted_at IS NULL', cat)
        ELSE format('SELECT -1 AS s, geom_3857, %1$s AS cat FROM old_rows WHERE deleted_at IS NULL '
                    'UNION ALL SELECT 1, geom_3857, %1$s FROM new_rows WHERE deleted_at IS NULL', cat)
    END;
    EXECUTE tile_cells_sql(src) USING lyr;
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM tile_cells WHERE layer = lyr AND n <= 0;
    END IF;
    RETURN NULL;
END
$fn$;

-- Recompute a layer's cells from its table (used when the triggers are installed; also a repair tool).
CREATE FUNCTION tile_cells_rebuild(lyr text, tbl regclass, col text) RETURNS bigint LANGUAGE plpgsql SET work_mem = '64MB' AS $fn$
DECLARE
    rows bigint;
BEGIN
    DELETE FROM tile_cells WHERE layer = lyr;
    EXECUTE tile_cells_sql(format('SELECT 1 AS s, geom_3857, %s AS cat FROM %s WHERE deleted_at IS NULL',
                                  tile_cells_category(col), tbl)) USING lyr;
    GET DIAGNOSTICS rows = ROW_COUNT;
    RETURN rows;
END
$fn$;
"""


def upgrade() -> None:
    op.execute("""
        CREATE TABLE layer_changes (
            layer text PRIMARY KEY,
            gen bigint NOT NULL DEFAULT 0,
            changed_at timestamptz NOT NULL DEFAULT now()
        )
    """)
    op.execute("""
        CREATE TABLE tile_cells (
            layer text NOT NULL,
            level smallint NOT NULL,
            cx integer NOT NULL,
            cy integer NOT NULL,
            cat text NOT NULL,
            n bigint NOT NULL,
            sx double precision NOT NULL,
            sy double precision NOT NULL,
            PRIMARY KEY (layer, level, cx, cy, cat)
        )
    """)
    op.execute("CREATE INDEX tile_cells_empty_idx ON tile_cells (layer) WHERE n <= 0")
    op.execute(FUNCTIONS)
    for table in LAYER_TABLES:
        install_change_trigger(table)
    install_tile_cells("farmhouses", "danger_grade")


def downgrade() -> None:
    for table in LAYER_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_layer_changed ON {table}")
    for event in ("insert", "update", "delete", "truncate"):
        op.execute(f"DROP TRIGGER IF EXISTS farmhouses_cells_{event} ON farmhouses")
    op.execute(
        "DROP FUNCTION IF EXISTS tile_cells_rebuild(text, regclass, text), tile_cells_changed(), "
        "tile_cells_sql(text), tile_cells_category(text), layer_changed()"
    )
    op.execute("DROP TABLE IF EXISTS tile_cells, layer_changes")
