"""PostGIS's ``geometry && geometry`` declared LEAKPROOF, so that row-level security keeps the spatial index.

Migration 0009 explains why the declaration is true and what it buys (a tile in milliseconds instead of a scan of
the whole table). The flag belongs to an extension's function: ``ALTER EXTENSION postgis UPDATE`` and a
dump/restore (pg_dump does not carry it) drop it again, and only a superuser can set it. So

- :func:`ensure` checks it and, when the connected user is a superuser, declares it; ``chengjian db migrate`` and
  ``chengjian db restore`` call it every time (idempotent);
- :func:`warn_if_missing` logs one WARNING naming the consequence and the fix; the app calls it at start-up.
"""

from __future__ import annotations

import logging
from enum import Enum

import sqlalchemy as sa

log = logging.getLogger("chengjian.db")

# The function behind ``geometry && geometry`` and whether it is LEAKPROOF (no row: PostGIS is not installed).
OVERLAPS_SQL = """SELECT o.oprcode::regprocedure::text, p.proleakproof
                  FROM pg_operator o JOIN pg_proc p ON p.oid = o.oprcode
                  WHERE o.oprname = '&&' AND o.oprleft = to_regtype('geometry')
                    AND o.oprright = to_regtype('geometry')"""
# One boolean (NULL without PostGIS), for the tile service's own check and bench/rls.py.
LEAKPROOF_SQL = f"SELECT bool_and(proleakproof) FROM ({OVERLAPS_SQL}) f (fn, proleakproof)"
FIX = "run `chengjian db migrate` as a database superuser (or, as superuser: ALTER FUNCTION {fn} LEAKPROOF)"
CONSEQUENCE = "under row-level security tiles and bbox queries cannot use the spatial index and scan whole tables"


class Outcome(Enum):
    DECLARED = "declared"  # it was missing and is now set
    ALREADY = "already declared"
    NOT_SUPERUSER = "cannot: not superuser"  # missing, and this user may not set it
    NO_POSTGIS = "no PostGIS"


def state(conn: sa.Connection) -> tuple[str, bool] | None:
    """The function (``geometry_overlaps(geometry,geometry)``) and whether it is LEAKPROOF; None without PostGIS."""
    row = conn.execute(sa.text(OVERLAPS_SQL)).first()
    return (row[0], bool(row[1])) if row else None


def is_superuser(conn: sa.Connection) -> bool:
    # current_user, not session_user: under SET ROLE the current role's rights are the ones that count.
    return bool(conn.execute(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar())


def ensure(conn: sa.Connection) -> Outcome:
    """Declare ``geometry && geometry`` LEAKPROOF unless it is already (the caller commits)."""
    found = state(conn)
    if found is None:
        return Outcome.NO_POSTGIS
    fn, leakproof = found
    if leakproof:
        return Outcome.ALREADY
    if not is_superuser(conn):
        return Outcome.NOT_SUPERUSER
    conn.execute(sa.text(f"ALTER FUNCTION {fn} LEAKPROOF"))
    return Outcome.DECLARED


def describe(outcome: Outcome, user: str = "") -> str:
    """One line for the command line."""
    fn = "geometry_overlaps(geometry, geometry)"
    if outcome is Outcome.DECLARED:
        return f"LEAKPROOF: declared {fn} LEAKPROOF (it was missing)"
    if outcome is Outcome.ALREADY:
        return f"LEAKPROOF: {fn} already declared, nothing to do"
    if outcome is Outcome.NO_POSTGIS:
        return "LEAKPROOF: PostGIS is not installed in this database"
    return (
        f"LEAKPROOF: cannot declare {fn} LEAKPROOF: {user or 'this user'} is not a superuser; {CONSEQUENCE}. "
        f"To fix, {FIX.format(fn=fn)}"
    )


def warning_text(fn: str = "geometry_overlaps(geometry, geometry)") -> str:
    return f"geometry && geometry is not LEAKPROOF: {CONSEQUENCE} (migration 0009). To fix, {FIX.format(fn=fn)}"


def warn_if_missing(engine: sa.Engine) -> bool | None:
    """Log one WARNING when the flag is missing; returns the flag (None: PostGIS absent or the database not
    reachable, which the health check reports)."""
    try:
        with engine.connect() as conn:
            found = state(conn)
    except sa.exc.DBAPIError as e:
        log.debug("LEAKPROOF not checked: %s", e)
        return None
    if found is None:
        return None
    if not found[1]:
        log.warning(warning_text(found[0]))
    return found[1]
