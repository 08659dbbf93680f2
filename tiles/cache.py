"""The in-process tile cache: least recently used out first, bounded in bytes.

A key is ``(scope, layer ids, z, x, y, generations)``: the generations come from ``layer_changes``, which a
trigger bumps on every write to a layer, so a key never maps to stale data and an edit makes the next request
miss. Old generations are never asked for again and age out. ``scope`` is the principal's data scope
(``geo.scope.Scope.key()``: "all", or the districts and granted records a clerk or unit may see), so principals
who see different records never share a cached tile.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from functools import lru_cache

from cachetools import LRUCache

from geo.settings import get_settings

ENTRY_OVERHEAD = 256  # bytes charged per entry besides the tile (key, object headers)


@dataclass(frozen=True)
class Tile:
    data: bytes
    etag: str  # strong: a hash of the bytes

    @classmethod
    def of(cls, data: bytes) -> Tile:
        return cls(data, '"' + hashlib.blake2b(data, digest_size=16).hexdigest() + '"')


class TileCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._lru: LRUCache = LRUCache(maxsize=max(max_bytes, 1), getsizeof=lambda t: len(t.data) + ENTRY_OVERHEAD)
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> Tile | None:
        with self._lock:
            tile = self._lru.get(key)
            if tile is None:
                self.misses += 1
            else:
                self.hits += 1
            return tile

    def put(self, key: Hashable, tile: Tile) -> None:
        if len(tile.data) + ENTRY_OVERHEAD > self.max_bytes:
            return
        with self._lock:
            self._lru[key] = tile

    def clear(self) -> None:
        with self._lock:
            self._lru.clear()
            self.hits = self.misses = 0

    @property
    def size(self) -> int:
        return int(self._lru.currsize)

    def __len__(self) -> int:
        return len(self._lru)


@lru_cache
def tile_cache() -> TileCache:
    return TileCache(int(get_settings().tile_cache_mb * 2**20))  # CHENGJIAN_TILE_CACHE_MB; 0 turns it off
