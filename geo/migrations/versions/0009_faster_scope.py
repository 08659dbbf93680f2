"""Row-level security keeps the spatial index: PostGIS's bounding-box operator ``&&`` is declared LEAKPROOF.

Under row-level security PostgreSQL evaluates the policy (``chengjian_scope_ok``) before any condition of the
query, and the only conditions it may use in an index scan ahead of the policy are LEAKPROOF ones. PostGIS does
not declare ``geometry && geometry`` (``geometry_overlaps``) LEAKPROOF, so as ``chengjian_app`` every tile, every
bbox feature query and every OGC bbox request scanned the whole table (a z14 farmhouse tile: ~230 ms instead of
~2.5 ms with 1,000,000 farmhouses; ``bench/rls.py``), for every scope, ``all`` included.

Why the declaration is true: ``&&`` reads the two float bounding boxes (stored in the geometry's header, or
computed from it) and compares them. It raises no error that depends on the values (it does not even compare
SRIDs), writes nothing and returns only its boolean, so evaluating it on a row the policy then hides tells the
caller nothing (PostgreSQL's LEAKPROOF, which does not cover timing, as for any index). ``chengjian_scope_ok``
itself is unchanged: it is an inlined ``LANGUAGE sql STABLE`` function; moving ``current_setting`` into an initplan
inside it stops the inlining (~20 × slower per row), and an initplan in the policies measured within noise.

Only a superuser may set LEAKPROOF. When the migrating user is not one, this migration warns and changes nothing;
a database administrator runs once, as superuser::

    ALTER FUNCTION geometry_overlaps(geometry, geometry) LEAKPROOF;

The flag belongs to an extension's function, so ``ALTER EXTENSION postgis UPDATE`` and a dump/restore (pg_dump does
not carry it) drop it again: the tile service logs a warning at its first tile when it is missing.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""
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
        ELSIF {'true' if leakproof else 'false'} AND NOT (SELECT proleakproof FROM pg_proc WHERE oid = fn) THEN
            RAISE WARNING 'chengjian: % is not LEAKPROOF and only a superuser can declare it: under row-level '
                          'security tiles and bbox queries will scan whole tables. As superuser run: '
                          'ALTER FUNCTION % LEAKPROOF', fn, fn;
        END IF;
    END $$""")


def upgrade() -> None:
    _set(True)


def downgrade() -> None:
    _set(False)
