"""Storing readings: validation, the COPY path into the partitioned table, roll-ups and refusals.

One writer connection per listener process takes every reading: rows wait in memory until ``flush_rows`` are
waiting or ``flush_ms`` passed, then one transaction COPYs them into a temporary staging table and moves them with
``INSERT … ON CONFLICT DO NOTHING`` (a duplicate — same monitor, data time, code and CN — is stored once); the
same statement adds the inserted real-time and minute values to the hourly and daily roll-ups, so the roll-ups
count each stored reading exactly once. Refusals (whole packets and single readings) are written in the same
transaction: the latest ``rejects_kept`` with their reason, and a count per facility, reason and day.
Callbacks (the listener's answers to packets that asked for one) run after the commit only.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import sqlalchemy as sa

from geo import audit
from geo.db import APP_ROLE
from geo.tasks import conninfo
from layers.sewage.hj212 import BEIJING

log = logging.getLogger("chengjian.sewage")

COLUMNS = ("monitor_id", "data_time", "cn", "code_id", "value", "low", "high", "cou", "flag")
STAGING = """
CREATE TEMP TABLE IF NOT EXISTS sewage_staging (
    monitor_id integer, data_time timestamptz, cn smallint, code_id smallint, value double precision,
    low double precision, high double precision, cou double precision, flag text
) ON COMMIT DELETE ROWS
"""
COPY = f"COPY sewage_staging ({', '.join(COLUMNS)}) FROM STDIN"


def _rollup(grain: str, bucket: str) -> str:
    return f"""
    {grain} AS (
        INSERT INTO sewage_{grain} AS t (monitor_id, code_id, cn, bucket, n, total, low, high)
        SELECT monitor_id, code_id, cn, {bucket}, count(*), sum(value), min(value), max(value)
        FROM roll GROUP BY 1, 2, 3, 4
        ON CONFLICT (monitor_id, bucket, code_id, cn) DO UPDATE SET
            n = t.n + excluded.n, total = t.total + excluded.total,
            low = least(t.low, excluded.low), high = greatest(t.high, excluded.high)
    )"""


MOVE = f"""
WITH ins AS (
    INSERT INTO sewage_readings ({", ".join(COLUMNS)})
    SELECT {", ".join(COLUMNS)} FROM sewage_staging
    ON CONFLICT DO NOTHING
    RETURNING monitor_id, data_time, cn, code_id, value
), roll AS (SELECT * FROM ins WHERE cn IN (2011, 2051) AND value IS NOT NULL),
{_rollup("hourly", "date_trunc('hour', data_time)")},
{_rollup("daily", "date_trunc('day', data_time, 'Asia/Shanghai')")},
dirty AS (
    INSERT INTO sewage_month_dirty (plant_id, code_id, month)
    SELECT DISTINCT m.plant_id, r.code_id, date_trunc('month', r.data_time AT TIME ZONE 'Asia/Shanghai')::date
    FROM roll r JOIN sewage_monitors m ON m.id = r.monitor_id
    ON CONFLICT DO NOTHING
)
SELECT count(*) FROM ins
"""
REJECT = "INSERT INTO sewage_rejects (source, peer, mn, plant_id, reason, detail, packet) VALUES (%s, %s, %s, %s, %s, %s, %s)"
COUNT = """
INSERT INTO sewage_reject_counts AS t (plant_id, reason, day, n) VALUES (%s, %s, %s, %s)
ON CONFLICT (plant_id, day, reason) DO UPDATE SET n = t.n + excluded.n
"""
TRIM = "DELETE FROM sewage_rejects WHERE id <= (SELECT max(id) FROM sewage_rejects) - %s"
NOTIFY = "SELECT pg_notify('sewage_readings', %s)"


# ------------------------------------------------------------------------------------------- monitors and codes


def password_hash(salt: str, password: str) -> str:
    return hashlib.sha256(f"{salt}:{password}".encode()).hexdigest()


def add_monitor(conn: sa.Connection, mn: str, password: str, plant_id: int, actor: str) -> int:
    """Register a monitor (its MN and the PW it sends) on a facility; its password is kept as a salted hash."""
    salt = secrets.token_hex(8)
    mid = conn.execute(
        sa.text(
            "INSERT INTO sewage_monitors (mn, pw_salt, pw_hash, plant_id, created_by) "
            "VALUES (:mn, :s, :h, :p, :by) RETURNING id"
        ),
        {"mn": mn, "s": salt, "h": password_hash(salt, password), "p": plant_id, "by": actor},
    ).scalar_one()
    audit.record(conn, actor, "sewage_monitor_add", "sewage_monitors", mid, None, {"mn": mn, "plant_id": plant_id})
    return mid


@dataclass(frozen=True)
class Monitor:
    id: int
    plant_id: int
    salt: str
    hash: str
    active: bool


@dataclass(frozen=True)
class Code:
    id: int
    code: str
    name: str
    unit: str
    cou_unit: str | None
    low: float
    high: float


class Catalog:
    """The monitors and codes, read once and again (at most every ``refresh_s``) when an unknown MN shows up."""

    MONITORS = "SELECT mn, id, plant_id, pw_salt, pw_hash, active FROM sewage_monitors"
    CODES = "SELECT id, code, name, unit, cou_unit, low, high FROM sewage_codes"

    def __init__(self, refresh_s: float = 5.0):
        self.monitors: dict[str, Monitor] = {}
        self.codes: dict[str, Code] = {}
        self.loaded_at = 0.0
        self.refresh_s = refresh_s
        self._good: set[tuple[str, str]] = set()

    def fill(self, monitors, codes) -> None:
        self.monitors = {r[0]: Monitor(*r[1:]) for r in monitors}
        self.codes = {r[1]: Code(*r) for r in codes}
        self._good = {(mn, pw) for mn, pw in self._good if mn in self.monitors}
        self.loaded_at = time.monotonic()

    def stale(self) -> bool:
        return time.monotonic() - self.loaded_at > self.refresh_s

    def authenticate(self, mn: str, pw: str) -> tuple[Monitor | None, str, str]:
        m = self.monitors.get(mn)
        if m is None:
            return None, "unknown_mn", f"设备唯一标识 MN={mn[:24]} 未登记"
        if not m.active:
            return None, "inactive_mn", f"设备 MN={mn} 已停用"
        if (mn, pw) not in self._good:
            if not hmac.compare_digest(password_hash(m.salt, pw), m.hash):
                return None, "bad_password", f"设备 MN={mn} 的访问密码不正确"
            self._good.add((mn, pw))
        return m, "", ""


def check_time(data_time: datetime, now: datetime, max_age_days: int) -> tuple[str, str]:
    """Neither ahead of the clock (10 minutes' grace) nor older than ``max_age_days``: else the reason."""
    if data_time > now + timedelta(minutes=10):
        return "future_time", f"数据时间 {data_time.astimezone(BEIJING):%Y-%m-%d %H:%M:%S} 晚于当前时间"
    if data_time < now - timedelta(days=max_age_days):
        return "too_old", f"数据时间 {data_time.astimezone(BEIJING):%Y-%m-%d %H:%M:%S} 早于 {max_age_days} 天前"
    return "", ""


def check_value(catalog: Catalog, code: str, entry: dict, unit: str | None) -> tuple[Code | None, str, str]:
    """A known code, in its unit, within its physical range: else the reason (never repaired)."""
    c = catalog.codes.get(code)
    if c is None:
        return None, "unknown_code", f"监测因子编码 {code} 不在本平台的因子表中"
    if unit is not None and unit != c.unit:
        return None, "bad_unit", f"{c.name}（{code}）的单位应为 {c.unit}，收到 {unit}"
    for slot in ("value", "low", "high"):
        v = entry.get(slot)
        if v is not None and not (c.low <= v <= c.high):
            return None, "out_of_range", f"{c.name}（{code}）的值 {v} 超出物理量程 {c.low}–{c.high} {c.unit}"
    cou = entry.get("cou")
    if cou is not None and not (0 <= cou < math.inf):
        return None, "out_of_range", f"{c.name}（{code}）的累计值 {cou} 不是非负的有限数"
    return c, "", ""


def check_reading(
    catalog: Catalog, code: str, entry: dict, data_time: datetime, now: datetime, max_age_days: int, unit: str | None
) -> tuple[Code | None, str, str]:
    """A reading the platform can store, or the reason it is refused."""
    reason, message = check_time(data_time, now, max_age_days)
    if reason:
        return None, reason, message
    return check_value(catalog, code, entry, unit)


@dataclass
class Reject:
    source: str  # hj212 | http
    peer: str | None
    mn: str | None
    plant_id: int | None
    reason: str
    detail: str
    packet: str | None = None

    def args(self) -> tuple:
        return (self.source, self.peer, self.mn, self.plant_id, self.reason, self.detail[:500], self.packet)


def reject_rows(rejects: list[Reject]) -> tuple[list[tuple], list[tuple]]:
    day = datetime.now(BEIJING).date()
    counts: dict[tuple[int, str], int] = {}
    for r in rejects:
        if r.plant_id is not None:
            counts[(r.plant_id, r.reason)] = counts.get((r.plant_id, r.reason), 0) + 1
    return [r.args() for r in rejects], [(p, reason, day, n) for (p, reason), n in sorted(counts.items())]


# ------------------------------------------------------------------------------------------------ sync writing


def store_sync(conn: sa.Connection, rows: list[tuple], rejects: list[Reject], kept: int) -> int:
    """Store rows and refusals in the caller's transaction (the HTTP batch); returns how many rows were new."""
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:
        cur.execute(STAGING)
        cur.execute("TRUNCATE sewage_staging")
        with cur.copy(COPY) as cp:
            cp.write(copy_text(rows))
        cur.execute(MOVE)
        stored = cur.fetchone()[0]
        _write_rejects_sync(cur, rejects, kept)
        if stored:
            cur.execute(NOTIFY, (_notice(rows),))
        cur.execute("TRUNCATE sewage_staging")
    return stored


def _write_rejects_sync(cur, rejects: list[Reject], kept: int) -> None:
    if not rejects:
        return
    logged, counts = reject_rows(rejects)
    cur.executemany(REJECT, logged)
    cur.executemany(COUNT, counts)
    cur.execute(TRIM, (kept,))


def copy_text(rows: list[tuple]) -> bytes:
    """The rows in COPY's text format, in one piece (much cheaper than a call per row). Every value was checked:
    numbers, a data time, a flag of one letter; None is ``\\N``."""
    out = []
    for r in rows:
        out.append("\t".join("\\N" if v is None else v.isoformat() if isinstance(v, datetime) else str(v) for v in r))
    return ("\n".join(out) + "\n").encode() if out else b""


def _notice(rows: list[tuple]) -> str:
    return ",".join(str(m) for m in sorted({r[0] for r in rows})[:500])


# ----------------------------------------------------------------------------------------------- async writing


class Writer:
    """The listener's batching writer (one connection, one flushing task)."""

    def __init__(self, flush_rows: int, flush_ms: int, kept: int, url: str | None = None):
        self.flush_rows, self.flush_s, self.kept = flush_rows, flush_ms / 1000, kept
        self.url = url
        self.rows: list[tuple] = []
        self.rejects: list[Reject] = []
        self.callbacks: list[Callable[[], None]] = []
        self.catalog = Catalog()
        self.stored = 0
        self.refused = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._conn: psycopg.AsyncConnection | None = None
        self._lookup_conn: psycopg.AsyncConnection | None = None
        self._looked_up: dict[str, float] = {}
        self._first_at: float | None = None
        self.max_age_days = 31

    async def start(self, max_age_days: int = 31) -> None:
        self.max_age_days = max_age_days
        await self._connect()
        self._lookup_conn = await psycopg.AsyncConnection.connect(conninfo(self.url), autocommit=True)
        await self._lookup_conn.execute(f"SET ROLE {APP_ROLE}")
        await self.reload()
        self._task = asyncio.create_task(self._run())

    async def _connect(self) -> None:
        self._conn = await psycopg.AsyncConnection.connect(conninfo(self.url))
        async with self._conn.cursor() as cur:
            await cur.execute(f"SET ROLE {APP_ROLE}")
            start = (datetime.now(BEIJING) - timedelta(days=self.max_age_days)).date()
            months = (self.max_age_days // 28) + 4
            await cur.execute("SELECT sewage_ensure_partitions(%s, %s)", (start, months))
            await cur.execute(STAGING)
        await self._conn.commit()

    def may_look_up(self, mn: str) -> bool:
        """An MN not in the catalog is looked up in the database at most every ``refresh_s`` (a monitor
        registered since the catalog was read is known at its first packet; a stranger costs one query a while)."""
        return time.monotonic() - self._looked_up.get(mn, -1e9) > self.catalog.refresh_s

    async def look_up(self, mn: str) -> None:
        assert self._lookup_conn is not None
        self._looked_up[mn] = time.monotonic()
        if len(self._looked_up) > 100_000:
            self._looked_up.clear()
        cur = await self._lookup_conn.execute(Catalog.MONITORS + " WHERE mn = %s", (mn,))
        row = await cur.fetchone()
        if row is not None:
            self.catalog.monitors[row[0]] = Monitor(*row[1:])

    async def reload(self) -> None:
        assert self._conn is not None
        async with self._conn.cursor() as cur:
            await cur.execute(Catalog.MONITORS)
            monitors = await cur.fetchall()
            await cur.execute(Catalog.CODES)
            codes = await cur.fetchall()
        await self._conn.commit()
        self.catalog.fill(monitors, codes)

    def add(self, rows: list[tuple], rejects: list[Reject], callback: Callable[[], None] | None = None) -> None:
        self.rows.extend(rows)
        self.rejects.extend(rejects)
        if callback is not None:
            self.callbacks.append(callback)
        if self._first_at is None:
            self._first_at = time.monotonic()
        if len(self.rows) >= self.flush_rows:
            self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.flush_s)
            except TimeoutError:
                pass
            self._wake.clear()
            if self.rows or self.rejects or self.callbacks:
                await self.flush()

    async def flush(self) -> None:
        rows, rejects, callbacks = self.rows, self.rejects, self.callbacks
        self.rows, self.rejects, self.callbacks, self._first_at = [], [], [], None
        assert self._conn is not None
        try:
            async with self._conn.cursor() as cur:
                if rows:
                    async with cur.copy(COPY) as cp:
                        await cp.write(copy_text(rows))
                    await cur.execute(MOVE)
                    stored = (await cur.fetchone())[0]
                    if stored:
                        await cur.execute(NOTIFY, (_notice(rows),))
                else:
                    stored = 0
                if rejects:
                    logged, counts = reject_rows(rejects)
                    await cur.executemany(REJECT, logged)
                    await cur.executemany(COUNT, counts)
                    await cur.execute(TRIM, (self.kept,))
            await self._conn.commit()
        except psycopg.Error:
            log.exception("storing %d readings failed; nothing of the batch is stored, no answers sent", len(rows))
            if self._conn.closed:  # the server went away: connect again for the next batch
                try:
                    await self._connect()
                except psycopg.Error:
                    log.exception("connecting again failed; trying at the next batch")
            else:
                await self._conn.rollback()
            return
        self.stored += stored
        self.refused += len(rejects)
        for cb in callbacks:
            try:
                cb()
            except Exception:  # a closed connection: the device resends, the rows are stored
                log.debug("answer not sent", exc_info=True)

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self.rows or self.rejects or self.callbacks:
            await self.flush()
        if self._conn is not None:
            await self._conn.close()
        if self._lookup_conn is not None:
            await self._lookup_conn.close()


def utcnow() -> datetime:
    return datetime.now(UTC)
