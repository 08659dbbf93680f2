"""Layer generations for the tile cache: exact, and shared between concurrent requests.

A trigger bumps a layer's row in ``layer_changes`` in every transaction that writes the layer (migration 0004).
A request must see every commit made before it arrived, in whichever process or tool it was made, so the
generations are read from the database per request — but concurrent requests of one process share the reads:
a request joins a read that starts after it arrived (the one in flight started before, so it waits for the
next), and at most one read per process is in flight. Under load one ~0.3 ms round trip serves every request
that arrived during the previous one; with one client it is one round trip per request, as a plain read.

(LISTEN/NOTIFY would spare the round trip, but a notification reaches other processes — and the listening
thread of the writing process itself — some time after the commit, so the next fetch could still be stale.)
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from geo.generations import TOKEN
from tiles.pool import with_cursor

# A layer's generation is its token (``geo.generations``): its counter and the time of its last change.
ALL_SQL = f"SELECT layer, {TOKEN} FROM layer_changes"
Generation = tuple[int, int]


def read_all(cur) -> dict[str, Generation]:
    cur.execute(ALL_SQL)
    return {layer: (int(g[0]), int(g[1])) for layer, g in cur.fetchall()}


def pick(gens: dict[str, Generation], ids: Sequence[str]) -> tuple[Generation, ...]:
    return tuple(gens.get(i, (0, 0)) for i in ids)


class _LoopState:
    def __init__(self) -> None:
        self.running: asyncio.Future | None = None  # the read in flight
        self.pending: asyncio.Future | None = None  # the read that starts when it is done


class SharedReads:
    """``await reads.current()``: all generations, read after the call began; concurrent calls share reads."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tile-generations")
        self._states: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self.reads = 0  # round trips made (for tests and benchmarks)

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        with self._lock:
            state = self._states.get(loop)
            if state is None:
                state = self._states[loop] = _LoopState()
            return state

    async def current(self) -> dict[str, Generation]:
        state = self._state()
        if state.running is None:
            state.running = asyncio.ensure_future(self._read(state))
            return await asyncio.shield(state.running)
        if state.pending is None:
            state.pending = asyncio.ensure_future(self._after(state.running, state))
        return await asyncio.shield(state.pending)

    async def _read(self, state: _LoopState) -> dict[str, Generation]:
        self.reads += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, with_cursor, read_all)
        finally:
            if state.running is asyncio.current_task():
                state.running = None

    async def _after(self, previous: asyncio.Future, state: _LoopState) -> dict[str, Generation]:
        try:
            await previous
        except Exception:
            pass  # its callers got the error; this read is a new attempt
        state.pending = None
        state.running = asyncio.current_task()
        return await self._read(state)


shared_reads = SharedReads()
