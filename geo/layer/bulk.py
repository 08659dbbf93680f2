"""Bulk loading through COPY: imports and the demo loader write many features at once.

Rows arrive already checked (geometry by geo.validate.check_many, attributes by
geo.layer.attributes.coerce_column). They are copied into a temporary staging
table and moved into the layer in one INSERT … SELECT, inside the caller's
transaction, with one audit entry for the batch.

A large load (``BULK_MIN_ROWS`` or more, and at least as many rows as the table
holds) by the table's owner (the CLI, the demo loader) builds the table's indexes
instead of maintaining them row by row: they are dropped before the INSERT and
created again from their own definitions after it, in the same transaction, so a
failure or rollback leaves them as they were and a duplicate code still fails the
load (when the unique index is built). The price: the DROP holds an exclusive lock
on the layer until commit, so its tiles and lists wait for the load. The triggers
(``tile_cells``, tile cache generations) stay on. The app role (HTTP imports, under
row-level security) does not own the tables and always maintains the indexes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy import Connection

from geo import audit
from geo.errors import Invalid
from geo.layer import districting
from geo.layer.registry import ATTR_TYPES, Layer

BULK_MIN_ROWS = 100_000  # loads from this size on (into a table no larger) rebuild the indexes instead

PG_TYPES = {
    "text": "text",
    "int": "bigint",
    "float": "double precision",
    "date": "date",
    "datetime": "timestamptz",
    "bool": "boolean",
    "json": "jsonb",  # never in a layer (Layer refuses json attributes); kept for the one-to-one check below
}


def rebuildable_indexes(conn: Connection, table: str, rows: int) -> list[tuple[str, str]]:
    """(name, definition) of the indexes of ``table`` to build after a load of ``rows`` rather than maintain: none
    unless the load is large, the table holds no more rows than it brings, and the current user owns the table.
    Indexes that back a constraint (the primary key) stay."""
    if rows < BULK_MIN_ROWS:
        return []
    owner = conn.execute(
        sa.text("SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class WHERE oid = CAST(:t AS regclass)"),
        {"t": table},
    ).scalar()
    if not owner:
        return []
    present = conn.execute(
        sa.text(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT :n) t"), {"n": rows + 1}
    ).scalar_one()
    if present > rows:
        return []
    return [
        (name, ddl)
        for name, ddl in conn.execute(
            sa.text(
                "SELECT CAST(i.indexrelid AS regclass)::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "WHERE i.indrelid = CAST(:t AS regclass) "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) ORDER BY 1"
            ),
            {"t": table},
        )
    ]


def copy_features(
    conn: Connection,
    layer: Layer,
    geoms: np.ndarray,
    columns: dict[str, list[Any]],
    actor: str,
    action: str = "import",
    source: str | None = None,
    progress: Callable[[int], None] | None = None,
    districts_resolved: bool = False,
) -> dict:
    """Insert ``geoms`` (WGS84 shapely, the layer's type) with attribute ``columns``; returns a summary.

    The ``district`` column follows the geometries (``geo.layer.districting``: empty ones filled, a given one that
    does not fit refused with ``district_mismatch`` and nothing stored) unless the caller already resolved it."""
    n = len(geoms)
    names = [a.name for a in layer.writable if a.name in columns]
    if "district" in layer.attr_names and layer.id != "districts":
        if not districts_resolved:
            resolved, errors = districting.resolve(conn, geoms, columns.get("district", [None] * n))
            if errors:
                first = min(errors)
                raise Invalid(
                    "district_mismatch",
                    f"{len(errors)} 条记录的所属区县与位置不符，未写入任何数据。第 {first + 1} 条：{errors[first].message}",
                    "district",
                    {"rows": sorted(errors)[:100], "first": errors[first].detail},
                )
            columns = {**columns, "district": list(resolved)}
        if "district" not in names:
            names.append("district")
    if n == 0:
        return {"rows": 0, "first_id": None, "last_id": None}
    stage = f"_stage_{layer.table}"
    col_defs = ", ".join(f"{c} {PG_TYPES[layer.attr(c).type]}" for c in names)
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {stage}"))
    conn.execute(
        sa.text(
            f"CREATE TEMP TABLE {stage} (ord bigint, geom bytea{', ' + col_defs if col_defs else ''}) ON COMMIT DROP"
        )
    )
    wkb = shapely.to_wkb(geoms)
    raw = conn.connection.driver_connection
    assert raw is not None  # the connection is open: it just ran the statements above
    cols = [columns[c] for c in names]
    step = max(1, n // 100)
    with raw.cursor().copy(f"COPY {stage} (ord, geom{''.join(', ' + c for c in names)}) FROM STDIN") as cp:
        for i in range(n):
            cp.write_row((i, wkb[i], *(col[i] for col in cols)))
            if progress and (i + 1) % step == 0:
                progress(step)
    if progress and n % step:
        progress(n % step)
    target = ", ".join(names)
    rebuild = rebuildable_indexes(conn, layer.table, n)
    for name, _ in rebuild:
        conn.exec_driver_sql(f"DROP INDEX {name}")
    row = conn.execute(
        sa.text(
            f"WITH ins AS (INSERT INTO {layer.table} (geom{', ' + target if target else ''}, created_by, updated_by) "
            f"SELECT ST_GeomFromWKB(geom, 4326){', ' + target if target else ''}, :actor, :actor FROM {stage} ORDER BY ord "
            f"RETURNING id) SELECT count(*), min(id), max(id) FROM ins"
        ),
        {"actor": actor},
    ).one()
    for _, ddl in rebuild:  # a unique index refuses duplicates here (IntegrityError, as the INSERT would)
        conn.exec_driver_sql(ddl)
    summary = {"rows": int(row[0]), "first_id": row[1], "last_id": row[2]}
    audit.record(conn, actor, action, layer.id, None, None, {**summary, "source": source})
    return summary


assert set(PG_TYPES) == set(ATTR_TYPES)
