"""The HJ 212-2017 TCP listener (``chengjian sewage listen``; ``make run`` starts it as a module service).

Each connection cuts its byte stream into packets (``hj212.Framer``: split packets wait for their rest, several
in one read come one by one). A packet with a bad length, a bad CRC or bad fields, from an unknown MN or with a
wrong password is refused whole: logged with its reason (``sewage_rejects``), nothing stored from it, and the
connection goes on. In a good data packet (CN 2011, 2051, 2061, 2031) each reading is checked on its own (known
code, time neither ahead of the clock nor older than ``max_age_days``, within the code's physical range); the good
ones go to the batching writer, the others are refused with their reason and counted for the facility. When the
packet's Flag asks for an answer, the data response (CN 9014) is sent once its readings are committed.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from layers.sewage import hj212
from layers.sewage.settings import hj212_settings
from layers.sewage.store import Reject, Writer, check_time, check_value

log = logging.getLogger("chengjian.sewage.hj212")


class Hj212Protocol(asyncio.Protocol):
    def __init__(self, server: Listener):
        self.server = server
        self.framer = hj212.Framer()
        self.transport: asyncio.Transport | None = None
        self.peer = ""

    def connection_made(self, transport) -> None:  # noqa: ANN001 - asyncio's transport
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.server.connections += 1

    def connection_lost(self, exc) -> None:  # noqa: ANN001
        self.server.connections -= 1

    def data_received(self, data: bytes) -> None:
        for segment, reason, message, raw in self.framer.feed(data):
            if segment is None:
                self.server.refuse(Reject("hj212", self.peer, None, None, reason, message, _text(raw)))
                continue
            self.server.handle(self, segment, raw)

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")[:1100]


class Listener:
    def __init__(self, host: str | None = None, port: int | None = None, url: str | None = None):
        s = hj212_settings()
        self.host = s.host if host is None else host
        self.port = s.port if port is None else port
        self.max_age_days = s.max_age_days
        self.writer = Writer(s.flush_rows, s.flush_ms, s.rejects_kept, url)
        self.server: asyncio.base_events.Server | None = None
        self.connections = 0
        self.packets = 0
        self.pending: dict[str, list[tuple[Hj212Protocol, str, bytes]]] = {}  # MN -> packets awaiting its lookup

    async def start(self) -> int:
        await self.writer.start(self.max_age_days)
        self.server = await asyncio.get_running_loop().create_server(
            lambda: Hj212Protocol(self), self.host, self.port, backlog=4096, reuse_address=True
        )
        self.port = self.server.sockets[0].getsockname()[1]
        log.info("HJ 212 listener on %s:%d", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        await self.writer.close()

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    def refuse(self, reject: Reject) -> None:
        log.warning("HJ 212 packet refused from %s (%s): %s", reject.peer, reject.reason, reject.detail)
        self.writer.add([], [reject])

    def handle(self, conn: Hj212Protocol, segment: str, raw: bytes) -> None:
        self.packets += 1
        try:
            packet = hj212.parse_segment(segment)
        except hj212.PacketError as e:
            self.refuse(Reject("hj212", conn.peer, None, None, e.reason, str(e), _text(raw)))
            return
        catalog = self.writer.catalog
        monitor, reason, message = catalog.authenticate(packet.mn, packet.pw)
        if monitor is None and reason == "unknown_mn":
            if packet.mn in self.pending:  # its lookup is under way: this packet waits behind the first
                self.pending[packet.mn].append((conn, segment, raw))
                return
            if self.writer.may_look_up(packet.mn):
                # Perhaps registered since the catalog was read: look it up, then take its packets again.
                self.pending[packet.mn] = [(conn, segment, raw)]
                asyncio.ensure_future(self._look_up_then(packet.mn))
                return
        if monitor is None:
            self.refuse(Reject("hj212", conn.peer, packet.mn, None, reason, message, _text(raw)))
            return
        if packet.cn not in hj212.DATA_CNS:
            self.refuse(
                Reject(
                    "hj212",
                    conn.peer,
                    packet.mn,
                    monitor.plant_id,
                    "unsupported_cn",
                    f"不处理的命令编码 CN={packet.cn}",
                    _text(raw),
                )
            )
            return
        now = datetime.now(UTC)
        rows, rejects = [], []
        assert packet.data_time is not None
        late, late_message = check_time(packet.data_time, now, self.max_age_days)
        for code, entry in packet.values.items():
            c, reason, message = (None, late, late_message) if late else check_value(catalog, code, entry, None)
            if c is None:
                rejects.append(Reject("hj212", conn.peer, packet.mn, monitor.plant_id, reason, message, _text(raw)))
                continue
            rows.append(
                (
                    monitor.id,
                    packet.data_time,
                    packet.cn,
                    c.id,
                    entry.get("value"),
                    entry.get("low"),
                    entry.get("high"),
                    entry.get("cou"),
                    entry.get("flag"),
                )
            )
        for r in rejects:
            log.warning("HJ 212 reading refused from %s MN=%s (%s): %s", r.peer, r.mn, r.reason, r.detail)
        answer = hj212.response(packet) if packet.wants_reply else None
        self.writer.add(rows, rejects, (lambda: conn.send(answer)) if answer else None)

    async def _look_up_then(self, mn: str) -> None:
        try:
            await self.writer.look_up(mn)
        except Exception:
            log.exception("looking up MN %s failed", mn)
        for conn, segment, raw in self.pending.pop(mn, []):
            self.handle(conn, segment, raw)  # known now, or refused (not looked up again for a while)


def raise_open_files(wanted: int = 65_536) -> None:
    """Thousands of monitors hold a connection each: lift the soft limit of open files towards the hard one."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


async def listen(host: str | None = None, port: int | None = None) -> None:
    raise_open_files()
    await Listener(host, port).serve_forever()
