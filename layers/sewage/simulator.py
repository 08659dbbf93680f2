"""A simulator of online monitors speaking HJ 212 over TCP (``chengjian sewage simulate``; the demo and the bench).

Each monitor holds one connection and sends a real-time packet (CN 2011) every ``interval`` seconds: flow on a
diurnal curve (low at night, peaks in the morning and evening) scaled to the facility, pH, COD, ammonia nitrogen,
total phosphorus and total nitrogen around typical effluent values, with occasional exceedances, dropouts (a
monitor falls silent for a while) and now and then a bad packet (a wrong CRC), which the listener refuses.
"""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from layers.sewage import hj212

# code: (typical effluent value, relative spread, exceedance value)
EFFLUENT = {
    "w01001": (7.2, 0.03, 9.4),
    "w01018": (24.0, 0.25, 68.0),
    "w21003": (1.2, 0.4, 9.0),
    "w21011": (0.22, 0.3, 0.9),
    "w21001": (9.0, 0.2, 21.0),
}


def demo_password(mn: str) -> str:
    """The demo monitors' PW (demo data only: real monitors get their own when registered)."""
    return mn[-6:]


def diurnal(hour: float) -> float:
    """Relative sewage flow over a day: about 0.55 at 4 am, peaks near 9 am and 8 pm."""
    return (
        1.0
        + 0.3 * math.sin(2 * math.pi * (hour - 9) / 24 + math.pi / 2)
        + 0.12 * math.sin(4 * math.pi * (hour - 8) / 24)
    )


@dataclass
class Sim:
    mn: str
    pw: str
    flow_l_s: float = 50.0


def values(rng: random.Random, sim: Sim, at: datetime, exceed_p: float) -> dict[str, dict[str, object]]:
    hour = at.astimezone(hj212.BEIJING).hour + at.minute / 60
    out: dict[str, dict[str, object]] = {
        "w00000": {"value": round(max(0.0, sim.flow_l_s * diurnal(hour) * rng.gauss(1, 0.05)), 2), "flag": "N"}
    }
    for code, (mean, spread, high) in EFFLUENT.items():
        if rng.random() < exceed_p:
            v, flag = high * rng.uniform(0.9, 1.2), "N"
        else:
            v, flag = max(0.0, rng.gauss(mean, mean * spread)), "N"
        out[code] = {"value": round(min(v, 14.0) if code == "w01001" else v, 3), "flag": flag}
    return out


async def run_monitor(
    host: str,
    port: int,
    sim: Sim,
    interval: float,
    rng: random.Random,
    stop: asyncio.Event,
    bad_p: float = 0.002,
    exceed_p: float = 0.01,
    dropout_p: float = 0.002,
    count: int | None = None,
    stats: dict | None = None,
    start: datetime | None = None,
) -> None:
    """One monitor: connect, send until ``stop`` (or ``count`` packets); reconnect after a lost connection.
    ``start``: send data times from there on, one ``interval`` apart (the bench), instead of the clock."""
    stats = stats if stats is not None else {}
    sent = 0
    if start is None:
        await asyncio.sleep(rng.uniform(0, interval))  # spread the monitors over the interval
    while not stop.is_set() and (count is None or sent < count):
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(min(interval, 5))
            continue
        drain = asyncio.ensure_future(_drain(reader, stats))
        try:
            while not stop.is_set() and (count is None or sent < count):
                if rng.random() < dropout_p:  # a dropout: silent for a few intervals
                    await asyncio.sleep(interval * rng.randint(3, 20))
                at = start + timedelta(seconds=interval * sent) if start else datetime.now(hj212.BEIJING)
                packet = hj212.data_packet(
                    sim.mn, sim.pw, 2011, at.replace(microsecond=0), values(rng, sim, at, exceed_p)
                )
                if rng.random() < bad_p:
                    packet = (
                        packet[:-6] + b"0000\r\n" if not packet.endswith(b"0000\r\n") else packet[:-6] + b"FFFF\r\n"
                    )
                    stats["bad"] = stats.get("bad", 0) + 1
                writer.write(packet)
                sent += 1
                stats["sent"] = stats.get("sent", 0) + 1
                stats["readings"] = stats.get("readings", 0) + len(EFFLUENT) + 1
                await writer.drain()
                await asyncio.sleep(interval if start is None else 0)
            if count is not None and sent >= count:
                await asyncio.sleep(min(1.0, interval))  # the last answers, before hanging up
        except (ConnectionError, OSError):
            await asyncio.sleep(1)
        finally:
            drain.cancel()
            writer.close()


async def _drain(reader: asyncio.StreamReader, stats: dict) -> None:
    while True:
        line = await reader.readline()
        if not line:
            return
        stats["answers"] = stats.get("answers", 0) + 1


async def simulate(
    host: str, port: int, sims: list[Sim], interval: float, seed: int = 7, stop: asyncio.Event | None = None
) -> None:
    stop = stop or asyncio.Event()
    rng = random.Random(seed)
    await asyncio.gather(*(run_monitor(host, port, s, interval, random.Random(rng.random()), stop) for s in sims))
