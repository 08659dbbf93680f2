"""Row-level security keeps the spatial index (PostGIS's ``&&`` declared LEAKPROOF); cheaper ``tile_cells`` sums.

Under row-level security PostgreSQL evaluates the policy (``chengjian_scope_ok``) before any condition of the
query, and the only conditions it may use in an index scan ahead of the policy are LEAKPROOF ones. PostGIS does
not declare ``geometry && geometry`` (``geometry_overlaps``) LEAKPROOF, so as ``chengjian_app`` every tile scanned
the whole table, for every scope, ``all`` included (a z14 farmhouse tile with 1,000,000 farmhouses: p50 194–253 ms
instead of 0.6–3.1 ms; ``bench/rls.py``), and by the same rule so did bbox feature and OGC queries.

Why the declaration is true: ``&&`` reads the two float bounding boxes (stored in the geometry's header, or
computed from it) and compares them. It raises no error that depends on the values (it does not even compare
SRIDs), writes nothing and returns only its boolean, so evaluating it on a row the policy then hides tells the
caller nothing (PostgreSQL's LEAKPROOF, which does not cover timing, as for any index). ``chengjian_scope_ok``
itself is unchanged: it is inlined (``LANGUAGE sql STABLE``) and costs ~0.2 µs a row for scope ``all``; moving
``current_setting`` into an initplan inside it stops the inlining (3.9 s instead of 0.2–0.3 s over 1,000,000
rows), and an initplan in the policies themselves measured within noise on tiles.

Only a superuser may set LEAKPROOF. When the migrating user is not one, this migration warns and changes nothing;
a database administrator runs once, as superuser::

    ALTER FUNCTION geometry_overlaps(geometry, geometry) LEAKPROOF;

The flag belongs to an extension's function, so ``ALTER EXTENSION postgis UPDATE`` and a dump/restore (pg_dump does
not carry it) drop it again: the tile service logs a warning at its first tile when it is missing.

``tile_cells_sql`` (migration 0004; the triggers and ``tile_cells_rebuild`` run it) now sums each level from the next
finer one instead of every level from the finest: the same counts and sums, a 1,000,000-point rebuild in 10.2–10.4 s
instead of 11.1–13.2 s.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

import importlib

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# The function behind ``geometry && geometry``, wherever PostGIS is installed.
OVERLAPS = """(SELECT oprcode::regprocedure FROM pg_operator
               WHERE oprname = '&&' AND oprleft = 'geometry'::regtype AND oprright = 'geometry'::regtype)"""


def _set(leakproof: bool) -> None:
    flag = "LEAKPROOF" if leakproof else "NOT LEAKPROOF"
    op.execute(f"""DO $$
    DECLARE
        fn regprocedure := {OVERLAPS};
    BEGIN
        IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
            EXECUTE format('ALTER FUNCTION %s {flag}', fn);
        ELSIF {"true" if leakproof else "false"} AND NOT (SELECT proleakproof FROM pg_proc WHERE oid = fn) THEN
            RAISE WARNING 'chengjian: % is not LEAKPROOF and only a superuser can declare it: under row-level '
                          'security tiles and bbox queries will scan whole tables. As superuser run: '
                          'ALTER FUNCTION % LEAKPROOF', fn, fn;
        END IF;
    END $$""")


# -- tile_cells: each level summed from the next finer one -----------------------------------------------------
# Migration 0004's tile_cells_sql sums every level from the finest (the base rows crossed with the four levels:
# 3.1 million rows sorted for 1,000,000 points); here each level is summed from the next finer one (775k + 181k +
# 16k rows hashed), the same sums. Used by the triggers and tile_cells_rebuild alike.
_0004 = importlib.import_module("geo.migrations.versions.0004_layer_changes")
OLD_TILE_CELLS_SQL = _0004.FUNCTIONS[
    _0004.FUNCTIONS.index("-- The upsert") : _0004.FUNCTIONS.index("CREATE FUNCTION tile_cells_changed")
]


def tile_cells_sql() -> str:
    levels, base, half = sorted(_0004.LEVELS, reverse=True), _0004.BASE, _0004.HALF
    ctes = [
        f"""l{base} AS (
            SELECT least(greatest(floor((x + {half}) * {2**base} / {2 * half}), 0), {2**base - 1})::int AS cx,
                   least(greatest(floor(({half} - y) * {2**base} / {2 * half}), 0), {2**base - 1})::int AS cy,
                   cat, sum(s)::int AS n, sum(s * x) AS sx, sum(s * y) AS sy
            FROM p GROUP BY 1, 2, 3)"""
    ]
    for finer, coarser in zip(levels, levels[1:]):
        ctes.append(f"""l{coarser} AS (
            SELECT cx >> {finer - coarser} AS cx, cy >> {finer - coarser} AS cy, cat,
                   sum(n)::int AS n, sum(sx) AS sx, sum(sy) AS sy
            FROM l{finer} GROUP BY 1, 2, 3)""")
    union = "\n            UNION ALL ".join(f"SELECT {lv}, cx, cy, cat, n, sx, sy FROM l{lv}" for lv in sorted(levels))
    sep = ",\n        "
    return f"""
CREATE OR REPLACE FUNCTION tile_cells_sql(src text) RETURNS text LANGUAGE sql IMMUTABLE AS $fn$
    SELECT format($q$
        WITH p AS (SELECT s, ST_X(geom_3857) AS x, ST_Y(geom_3857) AS y, cat FROM (%s) src OFFSET 0),
        {sep.join(ctes)},
        cells (level, cx, cy, cat, n, sx, sy) AS (
            {union})
        INSERT INTO tile_cells AS t (layer, level, cx, cy, cat, n, sx, sy)
        SELECT $1, level, cx, cy, cat, n, sx, sy FROM cells
        WHERE n <> 0 OR abs(sx) > 1e-3 OR abs(sy) > 1e-3
        ORDER BY level, cx, cy, cat
        ON CONFLICT (layer, level, cx, cy, cat)
        DO UPDATE SET n = t.n + excluded.n, sx = t.sx + excluded.sx, sy = t.sy + excluded.sy
    $q$, src)
$fn$
"""


def upgrade() -> None:
    _set(True)
    op.execute(tile_cells_sql())


def downgrade() -> None:
    op.execute(OLD_TILE_CELLS_SQL.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    _set(False)
