"""The in-process tile cache (tiles/cache.py): bounded in bytes, least recently used out first, a tile larger than
the whole cache refused (and nothing evicted for it), 0 MB turning it off."""

from __future__ import annotations

from tiles.cache import ENTRY_OVERHEAD, Tile, TileCache

SIZE = 1000  # bytes of every tile below
ENTRY = SIZE + ENTRY_OVERHEAD


def tile(n: int, size: int = SIZE) -> Tile:
    return Tile.of(bytes([n % 256]) * size)


def key(n: int) -> tuple:
    return ("all", ("sites",), 12, 3400 + n, 1700, (n,))


def cached(cache: TileCache, keys) -> list:
    return [k for k in keys if key(k) in cache._lru]  # a peek: no hit counted, the order of use unchanged


def test_least_recently_used_go_first_and_the_rest_stay():
    cache = TileCache(4 * ENTRY)
    for n in range(4):
        cache.put(key(n), tile(n))
    assert len(cache) == 4 and cache.size == 4 * ENTRY
    # Tile 0 is asked for again: now tile 1 is the least recently used.
    assert cache.get(key(0)) == tile(0)
    cache.put(key(4), tile(4))
    assert cached(cache, range(5)) == [0, 2, 3, 4]
    assert cache.size == 4 * ENTRY <= cache.max_bytes
    # Two more: 2 and 3 go (in that order of use), 0 and 4 stay.
    assert cache.get(key(4)) == tile(4) and cache.get(key(0)) == tile(0)
    cache.put(key(5), tile(5))
    assert cached(cache, range(6)) == [0, 3, 4, 5]
    cache.put(key(6), tile(6))
    assert cached(cache, range(7)) == [0, 4, 5, 6]
    # Every tile that stayed is the one put under its key.
    for n in (0, 4, 5, 6):
        got = cache.get(key(n))
        assert got is not None and got.data == bytes([n]) * SIZE and got.etag == tile(n).etag
    assert cache.get(key(1)) is None


def test_bounded_in_bytes_not_entries():
    cache = TileCache(4 * ENTRY)
    for n in range(4):
        cache.put(key(n), tile(n))
    # One tile of two slots pushes out the two least recently used small ones.
    big = Tile.of(b"\x07" * (2 * ENTRY - ENTRY_OVERHEAD))
    cache.put(key(9), big)
    assert cached(cache, [0, 1, 2, 3, 9]) == [2, 3, 9]
    assert cache.size == 2 * ENTRY + 2 * ENTRY  # the big one is charged two entries' worth
    assert cache.size <= cache.max_bytes


def test_a_tile_larger_than_the_cache_is_refused_and_evicts_nothing():
    cache = TileCache(4 * ENTRY)
    for n in range(4):
        cache.put(key(n), tile(n))
    oversize = Tile.of(b"\x01" * (4 * ENTRY - ENTRY_OVERHEAD + 1))
    cache.put(key(99), oversize)  # no error: it is simply not kept
    assert cache.get(key(99)) is None
    assert cached(cache, range(4)) == [0, 1, 2, 3] and cache.size == 4 * ENTRY
    # Exactly the cache's size still fits (and takes the whole cache).
    exact = Tile.of(b"\x02" * (4 * ENTRY - ENTRY_OVERHEAD))
    cache.put(key(100), exact)
    assert cache.get(key(100)) == exact
    assert cached(cache, range(4)) == [] and len(cache) == 1 and cache.size == 4 * ENTRY


def test_zero_turns_the_cache_off():
    cache = TileCache(0)
    cache.put(key(0), tile(0, 1))
    cache.put(key(1), Tile.of(b""))
    assert len(cache) == 0 and cache.size == 0
    assert cache.get(key(0)) is None and cache.misses == 1


def test_hits_misses_and_clear():
    cache = TileCache(2 * ENTRY)
    assert cache.get(key(0)) is None
    cache.put(key(0), tile(0))
    assert cache.get(key(0)) == tile(0) and cache.get(key(0)) == tile(0)
    assert (cache.hits, cache.misses) == (2, 1)
    # A later generation of the same tile is another key: the old one is not returned for it.
    newer = ("all", ("sites",), 12, 3400, 1700, (1,))
    assert cache.get(newer) is None
    cache.clear()
    assert len(cache) == 0 and cache.size == 0 and (cache.hits, cache.misses) == (0, 0)


def test_entry_overhead_is_charged():
    """Room for three tiles with their overhead, but for one byte: two are kept."""
    cache = TileCache(3 * ENTRY - 1)
    for n in range(3):
        cache.put(key(n), tile(n))
    assert cached(cache, range(3)) == [1, 2] and cache.size == 2 * ENTRY
