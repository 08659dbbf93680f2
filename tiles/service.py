"""Serving a tile: generations, cache, one statement on a miss, the size guard.

A request first learns the layers' generations (tiles/generations.py: read from ``layer_changes`` after the
request arrived, so exact across app processes; concurrent requests share the read). A cache hit ends there. A
miss runs the tile statement (tiles/sql.py) in a worker thread; it returns the parts and the generations of its
own snapshot, and the tile is cached under those, so cached bytes are never older than their key.

The tiles use their own small connection pool in autocommit mode (no BEGIN/ROLLBACK round trips, no pre-ping).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from starlette.concurrency import run_in_threadpool

from geo import leakproof
from geo import scope as scopes
from geo.layer.registry import Layer
from geo.settings import get_settings
from tiles import sql
from tiles.cache import Tile, tile_cache
from tiles.generations import Generation, pick, read_all, shared_reads
from tiles.pool import with_cursor

log = logging.getLogger("chengjian.tiles")

CELLS_SQL = "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND tgname = %s)"
# Under row-level security only a LEAKPROOF ``&&`` may use the GiST index ahead of the policy (migration 0009).
LEAKPROOF_SQL = leakproof.LEAKPROOF_SQL


_has_cells: dict[str, bool] = {}
_leakproof_checked = False


def check_leakproof(cur) -> None:
    """Warn (once per process) when ``geometry && geometry`` is not LEAKPROOF: then every tile of a table under
    row-level security scans the whole table (an ``ALTER EXTENSION postgis UPDATE`` after the app started drops the
    flag that ``chengjian db migrate`` sets; the app also warns at start-up, ``geo.leakproof``)."""
    global _leakproof_checked
    if _leakproof_checked:
        return
    cur.execute(LEAKPROOF_SQL)
    if not cur.fetchone()[0]:
        log.warning(leakproof.warning_text())
    _leakproof_checked = True


def has_cells(cur, layer: Layer) -> bool:
    """Whether the layer's ``tile_cells`` are maintained (its triggers exist); asked once per process."""
    if layer.cluster_maxzoom is None:
        return False
    if layer.id not in _has_cells:
        cur.execute(CELLS_SQL, (layer.table, f"{layer.table}_cells_insert"))
        _has_cells[layer.id] = bool(cur.fetchone()[0])
    return _has_cells[layer.id]


def _run(cur, parts: tuple[sql.Part, ...], z: int, x: int, y: int) -> tuple[tuple[Generation, ...], list[bytes]]:
    # Binary results: the tile comes as bytes, not as hex text twice its size.
    cur.execute(sql.statement(parts), sql.params(parts, z, x, y), binary=True)
    row = cur.fetchone()
    gens = tuple((int(g[0]), int(g[1])) if g else (0, 0) for g in row[0::2])
    return gens, [bytes(b) if b is not None else b"" for b in row[1::2]]


def render(
    cur, layers: Sequence[Layer], z: int, x: int, y: int, whole: bool = True
) -> tuple[bytes, tuple[Generation, ...]]:
    """The tile's bytes and the generations of the snapshot they were read in. ``whole``: the principal sees
    every record; the ``tile_cells`` summaries count everyone's points, so a limited scope aggregates its own."""
    check_leakproof(cur)
    parts = tuple(sql.plan(layer, z, whole and has_cells(cur, layer)) for layer in layers)
    gens, blobs = _run(cur, parts, z, x, y)
    limit = get_settings().tile_max_bytes
    if sum(map(len, blobs)) > limit:
        # The size guard: the largest parts first, each in its smaller form, until the tile fits. The extra
        # statements read newer snapshots at worst; the tile stays keyed by the first one's generations.
        for i in sorted(range(len(parts)), key=lambda k: -len(blobs[k])):
            if sum(map(len, blobs)) <= limit:
                break
            if parts[i].mode != "features":
                continue
            smaller = sql.guard(parts[i])
            _, (blob,) = _run(cur, (smaller,), z, x, y)
            log.info(
                "tile %s/%s/%s %s: %d bytes as %s, %d as %s",
                z,
                x,
                y,
                parts[i].layer_id,
                len(blobs[i]),
                parts[i].mode,
                len(blob),
                smaller.mode,
            )
            blobs[i] = blob
        if sum(map(len, blobs)) > limit:
            log.warning(
                "tile %s/%s/%s %s is %d bytes after the size guard",
                z,
                x,
                y,
                ",".join(p.layer_id for p in parts),
                sum(map(len, blobs)),
            )
    return b"".join(blobs), gens


def build(layers: Sequence[Layer], z: int, x: int, y: int, scope: scopes.Scope = scopes.SYSTEM) -> Tile:
    """Render the tile and cache it under the generations of the snapshot it was read in."""
    data, gens = with_cursor(lambda cur: render(cur, layers, z, x, y, scope.all), scope)
    tile = Tile.of(data)
    tile_cache().put((scope.key(), tuple(layer.id for layer in layers), z, x, y, gens), tile)
    return tile


async def fetch(
    layers: Sequence[Layer], z: int, x: int, y: int, scope: scopes.Scope = scopes.SYSTEM
) -> tuple[Tile, bool]:
    """The tile of ``layers`` (permissions already checked) at z/x/y as ``scope`` sees it, and whether it came
    from the cache (keyed by the scope, so principals who see different records never share a tile)."""
    ids = tuple(layer.id for layer in layers)
    gens = pick(await shared_reads.current(), ids)
    hit = tile_cache().get((scope.key(), ids, z, x, y, gens))
    if hit is not None:
        return hit, True
    return await run_in_threadpool(build, layers, z, x, y, scope), False


def get_tile(layers: Sequence[Layer], z: int, x: int, y: int, scope: scopes.Scope = scopes.SYSTEM) -> tuple[Tile, bool]:
    """``fetch`` for synchronous callers (benchmarks, scripts): one generation read of its own."""
    ids = tuple(layer.id for layer in layers)
    hit = tile_cache().get((scope.key(), ids, z, x, y, pick(with_cursor(read_all), ids)))
    if hit is not None:
        return hit, True
    return build(layers, z, x, y, scope), False
