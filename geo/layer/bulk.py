"""Bulk loading through COPY: imports and the demo loader write many features at once.

Rows arrive already checked (geometry by geo.validate.check_many, attributes by
geo.layer.attributes.coerce_column) and go in inside the caller's transaction,
with one audit entry for the batch: a failing row (a duplicate code, a constraint)
rolls everything back.

Two paths, the same result. When row-level security does not apply to the caller
(the schema owner: the CLI, the demo loader) the rows are COPied straight into the
layer table in binary (EWKB geometry, ids drawn from the table's identity in file
order). Under row-level security (the app role: HTTP imports) COPY is not allowed
into the table, so the rows go through a temporary staging table and one INSERT …
SELECT that the policies check.

A load never takes more than the ROW EXCLUSIVE lock an INSERT takes: the indexes
are maintained, not dropped and rebuilt, so tiles, lists and searches of the layer
keep answering from the old data until the load commits (a DROP INDEX would hold
an ACCESS EXCLUSIVE lock on the table until then). To keep that maintenance cheap,
a large load (``BULK_MIN_ROWS`` or more) gives the trigram (GIN) indexes a larger
pending list and merges it with more memory (``gin_pending_list_limit``,
``work_mem``, for this transaction only). The triggers (``tile_cells``, tile cache
generations) stay on.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat
from typing import Any

import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy import Connection

from geo import audit
from geo.errors import Invalid
from geo.layer import districting
from geo.layer.registry import ATTR_TYPES, Layer

BULK_MIN_ROWS = 100_000  # loads from this size on get a larger GIN pending list and more memory to merge it
# For a large load, in its transaction only: trigram entries queue in the GIN pending list up to this size and are
# merged into the index in a few large batches (with ``work_mem``) instead of many 4 MB ones. A load leaves at most
# this much pending for the next writer or autovacuum to merge.
LOAD_SETTINGS = {"gin_pending_list_limit": "64MB", "work_mem": "256MB"}

PG_TYPES = {
    "text": "text",
    "int": "bigint",
    "float": "double precision",
    "date": "date",
    "datetime": "timestamptz",
    "bool": "boolean",
    "json": "jsonb",  # never in a layer (Layer refuses json attributes); kept for the one-to-one check below
}


def _load_settings(conn: Connection) -> dict[str, str]:
    """Apply ``LOAD_SETTINGS`` to the transaction; returns the values to put back."""
    before = {}
    for name, value in LOAD_SETTINGS.items():
        before[name] = conn.execute(sa.text("SELECT current_setting(:n)"), {"n": name}).scalar_one()
        conn.execute(sa.text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})
    return before


def _restore_settings(conn: Connection, before: dict[str, str]) -> None:
    for name, value in before.items():
        conn.execute(sa.text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})


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
    before = _load_settings(conn) if n >= BULK_MIN_ROWS else {}
    secured = conn.execute(sa.text("SELECT row_security_active(CAST(:t AS regclass))"), {"t": layer.table}).scalar_one()
    load = _staged if secured else _direct
    summary = load(conn, layer, geoms, names, [columns[c] for c in names], actor, progress)
    _restore_settings(conn, before)
    audit.record(conn, actor, action, layer.id, None, None, {**summary, "source": source})
    return summary


def _write_rows(cp: Any, rows: Any, n: int, progress: Callable[[int], None] | None) -> None:
    step = max(1, n // 100)
    for i, row in enumerate(rows, 1):
        cp.write_row(row)
        if progress and i % step == 0:
            progress(step)
    if progress and n % step:
        progress(n % step)


def _direct(
    conn: Connection,
    layer: Layer,
    geoms: np.ndarray,
    names: list[str],
    cols: list[list[Any]],
    actor: str,
    progress: Callable[[int], None] | None,
) -> dict:
    """COPY (binary) straight into the layer table, ids from its identity in file order."""
    n = len(geoms)
    raw = conn.connection.driver_connection
    assert raw is not None  # the connection is open: the caller's transaction runs on it
    seq = conn.execute(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": layer.table}).scalar_one()
    with raw.cursor() as cur, cur.copy(f"COPY (SELECT nextval('{seq}') FROM generate_series(1, {n})) TO STDOUT") as cp:
        drawn = b"".join(bytes(block) for block in cp)
    ids = np.array(drawn.split(), dtype=np.int64)
    wkb = shapely.to_wkb(shapely.set_srid(geoms, 4326), include_srid=True)  # EWKB: geometry's binary input
    types = ["int8", "bytea", *(PG_TYPES[layer.attr(c).type] for c in names), "text", "text"]
    target = ", ".join(["id", "geom", *names, "created_by", "updated_by"])
    with raw.cursor() as cur, cur.copy(f"COPY {layer.table} ({target}) FROM STDIN (FORMAT BINARY)") as cp:
        cp.set_types(types)
        _write_rows(cp, zip(ids.tolist(), wkb, *cols, repeat(actor), repeat(actor)), n, progress)
    return {"rows": n, "first_id": int(ids[0]), "last_id": int(ids[-1])}


def _staged(
    conn: Connection,
    layer: Layer,
    geoms: np.ndarray,
    names: list[str],
    cols: list[list[Any]],
    actor: str,
    progress: Callable[[int], None] | None,
) -> dict:
    """COPY (binary) into a temporary table, then one INSERT … SELECT into the layer (checked by its policies)."""
    n = len(geoms)
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
    types = ["int8", "bytea", *(PG_TYPES[layer.attr(c).type] for c in names)]
    with (
        raw.cursor() as cur,
        cur.copy(f"COPY {stage} (ord, geom{''.join(', ' + c for c in names)}) FROM STDIN (FORMAT BINARY)") as cp,
    ):
        cp.set_types(types)
        _write_rows(cp, zip(range(n), wkb, *cols), n, progress)
    target = ", ".join(names)
    row = conn.execute(
        sa.text(
            f"WITH ins AS (INSERT INTO {layer.table} (geom{', ' + target if target else ''}, created_by, updated_by) "
            f"SELECT ST_GeomFromWKB(geom, 4326){', ' + target if target else ''}, :actor, :actor FROM {stage} ORDER BY ord "
            f"RETURNING id) SELECT count(*), min(id), max(id) FROM ins"
        ),
        {"actor": actor},
    ).one()
    return {"rows": int(row[0]), "first_id": row[1], "last_id": row[2]}


assert set(PG_TYPES) == set(ATTR_TYPES)
