"""Live readings for the browser: PostgreSQL LISTEN/NOTIFY to server-sent events.

Whoever stores readings (the listener's writer, the HTTP batch) sends ``NOTIFY sewage_readings, '<monitor ids>'``
in the storing transaction, so the notice comes after the commit and reaches every app process. Each app process
holds one listening connection (``Hub``, opened with the first subscriber on its event loop) and wakes the
subscribers whose facility has one of the monitors; a subscriber then reads what arrived since it last looked, in
its own scope, and sends it as an SSE event.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg

from geo.tasks import conninfo

log = logging.getLogger("chengjian.sewage.live")
CHANNEL = "sewage_readings"


class Hub:
    def __init__(self) -> None:
        self.subscribers: dict[asyncio.Queue, frozenset[int]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._ready: asyncio.Event | None = None

    async def subscribe(self, monitors: frozenset[int]) -> asyncio.Queue:
        loop = asyncio.get_running_loop()
        if self.loop is not loop or self._task is None or self._task.done():
            self.loop, self.subscribers = loop, {}
            self._ready = asyncio.Event()
            self._task = loop.create_task(self._listen())
        assert self._ready is not None
        await asyncio.wait_for(self._ready.wait(), 10)
        q: asyncio.Queue = asyncio.Queue(maxsize=100)
        self.subscribers[q] = monitors
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self.subscribers.pop(q, None)

    async def _listen(self) -> None:
        assert self._ready is not None
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo(), autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._ready.set()
                    async for n in conn.notifies():
                        ids = {int(x) for x in n.payload.split(",") if x.isdigit()}
                        for q, mine in list(self.subscribers.items()):
                            if mine & ids and q.empty():
                                q.put_nowait(True)
            except psycopg.Error:
                log.warning("listening for new readings failed; trying again", exc_info=True)
                await asyncio.sleep(1)


hub = Hub()
