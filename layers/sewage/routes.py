"""The sewage module's HTTP API: the readings batch of forwarding platforms, and the reads of the readings.

``POST /api/sewage/readings`` takes the same readings the HJ 212 listener takes, as JSON, from a platform that
forwards them, authenticated by an API key (``X-API-Key`` or ``Authorization: Bearer cjk_…``) of an account
holding ``sewage.ingest`` (the role ``sewage_forwarder``). A batch is stored whole or not at all: any bad reading
gives 422 with every refused reading and its reason (the refusals are logged and counted for their facilities);
duplicates of stored readings are not errors, they are counted as such and stored once.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit
from geo.bounds import Amount, Code, Shape, Text, Whole
from geo.db import transaction
from geo.modules import log_labels, permissions
from layers.sewage import hj212
from layers.sewage.live import hub
from layers.sewage.settings import hj212_settings
from layers.sewage.store import Catalog, Reject, check_reading, store_sync

permissions({"sewage.ingest": "转发上报在线监测数据"}, group="污水处理")
log_labels(
    objects={"sewage_monitors": "在线监测设备", "sewage_readings": "在线监测数据"},
    actions={"sewage_monitor_add": "登记在线监测设备", "sewage_readings_batch": "转发上报监测数据"},
)

router = APIRouter(prefix="/api/sewage", tags=["sewage"])
MAX_BATCH = 10_000


POLLUTANT_CODE = Shape("监测因子编码", "HJ 212-2017 编码：小写字母加 5 位数字，如 w01018", 6, r"[a-z][0-9]{5}")


class Reading(BaseModel):
    mn: Text(24, 1) = Field(pattern=r"^[0-9A-Za-z]+$")
    cn: Whole(1000, 9999)
    data_time: Text(32, 1)  # ISO 8601 with an offset, or HJ 212's yyyyMMddHHmmss (Beijing time)
    code: Code(POLLUTANT_CODE)
    value: Amount(1e12, -1e12) | None = None
    min: Amount(1e12, -1e12) | None = None
    max: Amount(1e12, -1e12) | None = None
    cou: Amount(1e15, -1e15) | None = None
    flag: Text(1, 1) | None = Field(default=None, pattern=r"^[NFMSDCTBPE]$")
    unit: Text(20) | None = None


class Batch(BaseModel):
    readings: list[Reading] = Field(min_length=1, max_length=MAX_BATCH)


def _time(s: str) -> datetime:
    if s.isdigit():
        return hj212.parse_time(s)
    t = datetime.fromisoformat(s)
    if t.tzinfo is None:
        raise ValueError("no offset")
    return t


def _catalog(conn: Connection) -> Catalog:
    c = Catalog()
    c.fill(conn.execute(sa.text(Catalog.MONITORS)).all(), conn.execute(sa.text(Catalog.CODES)).all())
    return c


@router.post("/readings")
def post_readings(
    batch: Batch, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> dict:
    if who.via != "api_key":
        raise ApiError(401, "api_key_required", "转发上报监测数据须使用 API 密钥（X-API-Key）。")
    who.require("sewage.ingest", "转发上报监测数据")
    s = hj212_settings()
    catalog = _catalog(conn)
    now = datetime.now(UTC)
    rows, rejects, refused = [], [], []
    for i, r in enumerate(batch.readings):
        monitor = catalog.monitors.get(r.mn)
        reason = message = ""
        if monitor is None or not monitor.active:
            reason, message = "unknown_mn", f"设备唯一标识 MN={r.mn} 未登记或已停用"
        elif r.cn not in hj212.DATA_CNS:
            reason, message = "unsupported_cn", f"命令编码 CN={r.cn} 不是数据上传（应为 2011、2051、2061 或 2031）"
        else:
            try:
                t = _time(r.data_time)
            except (ValueError, hj212.PacketError):
                t, reason, message = None, "bad_time", f"数据时间格式不正确：{r.data_time[:30]}"
            if t is not None:
                entry = {"value": r.value, "low": r.min, "high": r.max, "cou": r.cou}
                if r.value is None and r.cou is None:
                    reason, message = "missing_value", f"监测因子 {r.code} 没有数值"
                else:
                    c, reason, message = check_reading(catalog, r.code, entry, t, now, s.max_age_days, r.unit)
                    if c is not None:
                        rows.append((monitor.id, t, r.cn, c.id, r.value, r.min, r.max, r.cou, r.flag))
        if reason:
            plant = monitor.plant_id if monitor else None
            rejects.append(Reject("http", who.user, r.mn, plant, reason, message))
            refused.append({"index": i, "mn": r.mn, "code": r.code, "reason": reason, "message": message})
    if refused:
        with transaction() as log_conn:  # the refusals are kept although the batch is not
            store_sync(log_conn, [], rejects, s.rejects_kept)
        raise ApiError(
            422,
            "readings_refused",
            f"{len(refused)} 条监测数据不符合要求，本批数据均未保存。",
            f"readings[{refused[0]['index']}]",
            {"refused": refused[:1000]},
        )
    stored = store_sync(conn, rows, [], s.rejects_kept)
    out = {"received": len(rows), "stored": stored, "duplicates": len(rows) - stored}
    mns = sorted({r.mn for r in batch.readings})
    audit.record(
        conn,
        who.user,
        "sewage_readings_batch",
        "sewage_readings",
        None,
        None,
        None,
        detail={**out, "monitors": mns[:100], "monitor_count": len(mns)},
        user_id=who.user_id,
    )
    return out


@router.get("/facilities/{plant_id}/recent")
def recent(
    plant_id: int,
    hours: Annotated[int, Query(ge=1, le=24 * 7)] = 24,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    """The facility's readings of the last ``hours`` (real-time and minute values), per code."""
    who.require("sewage.view", "查看污水处理设施")
    return recent_readings(conn, plant_id, hours)


def recent_readings(conn: Connection, plant_id: int, hours: int = 24) -> dict:
    if conn.execute(sa.text("SELECT 1 FROM sewage_plants WHERE id = :p"), {"p": plant_id}).scalar() is None:
        raise ApiError(404, "not_found", "污水处理设施不存在或无权查看。")
    since = datetime.now(UTC) - timedelta(hours=hours)
    rows = conn.execute(
        sa.text(
            "SELECT c.code, r.data_time, r.value, r.flag FROM sewage_monitors m "
            "JOIN sewage_readings r ON r.monitor_id = m.id AND r.data_time >= :since "
            "JOIN sewage_codes c ON c.id = r.code_id "
            "WHERE m.plant_id = :p AND r.cn IN (2011, 2051) ORDER BY c.code, r.data_time"
        ),
        {"p": plant_id, "since": since},
    ).all()
    series: dict[str, list] = {}
    for r in rows:
        series.setdefault(r.code, []).append([r.data_time.isoformat(), r.value, r.flag])
    return {"plant_id": plant_id, "since": since.isoformat(), "series": series}


@router.get("/daily")
def daily(
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")],
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> Response:
    """Daily averages, minima and maxima of every facility the caller may see, for one month (Beijing days):
    ``{"month", "series": [{"plant_id", "code", "n": [31 days], "sum": […], "min": […], "max": […]}, …]}``
    (index 0 is the 1st; null where a day has no value; the day's average is sum / n). From the month rows the job
    ``sewage.refresh_month_values`` keeps (at most a minute behind the readings)."""
    who.require("sewage.view", "查看污水处理设施")
    try:
        first = date.fromisoformat(month + "-01")
    except ValueError:
        raise ApiError(422, "invalid_month", f"月份不存在：{month}", "month")
    return Response(daily_values(conn, first), media_type="application/json")


DAILY_SQL = """
SELECT json_build_object('month', CAST(:m AS text), 'series', coalesce(json_agg(json_build_object(
    'plant_id', x.plant_id, 'code', c.code, 'n', x.n, 'sum', x.total, 'min', x.low, 'max', x.high)
    ORDER BY x.plant_id, c.code), '[]'::json))::text
FROM sewage_month x JOIN sewage_codes c ON c.id = x.code_id
WHERE x.month = :a AND x.plant_id IN (SELECT id FROM sewage_plants WHERE deleted_at IS NULL)
"""


def daily_values(conn: Connection, first: date) -> str:
    """The month's daily values as JSON text, built by PostgreSQL (hundreds of thousands of values at city scale,
    from one row per facility, code and month: no Python object per value). The facilities are those the caller's scope shows."""
    return conn.execute(sa.text(DAILY_SQL), {"a": first, "m": first.isoformat()[:7]}).scalar_one()


@router.get("/facilities/{plant_id}/stream")
async def stream(plant_id: int, request: Request, who: Principal = Depends(principal)) -> StreamingResponse:
    """Server-sent events: ``readings`` with every new real-time or minute value of the facility (``data``:
    ``{"points": [[code, time, value, flag], …]}``), a comment line every 15 s to keep the connection."""
    who.require("sewage.view", "查看污水处理设施")

    def monitors() -> tuple[frozenset[int], datetime]:
        with transaction(who.scope) as conn:
            if conn.execute(sa.text("SELECT 1 FROM sewage_plants WHERE id = :p"), {"p": plant_id}).scalar() is None:
                raise ApiError(404, "not_found", "污水处理设施不存在或无权查看。")
            ids = conn.execute(sa.text("SELECT id FROM sewage_monitors WHERE plant_id = :p"), {"p": plant_id})
            return frozenset(ids.scalars()), conn.execute(sa.text("SELECT now()")).scalar_one()

    ids, since = await asyncio.to_thread(monitors)

    sent: dict[tuple[str, str], datetime] = {}

    def new_points(after: datetime) -> tuple[list, datetime]:
        # A storing transaction stamps received_at when it starts and is seen when it commits: look 10 s back and
        # leave out what was sent already.
        with transaction(who.scope) as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT c.code, r.data_time, r.value, r.flag, r.received_at FROM sewage_readings r "
                    "JOIN sewage_codes c ON c.id = r.code_id WHERE r.monitor_id = ANY(:m) "
                    "AND r.data_time > now() - interval '1 day' AND r.received_at > :a AND r.cn IN (2011, 2051) "
                    "ORDER BY r.data_time"
                ),
                {"m": list(ids), "a": after - timedelta(seconds=10)},
            ).all()
        last = max((r.received_at for r in rows), default=after)
        points = []
        for r in rows:
            key = (r.code, r.data_time.isoformat())
            if key not in sent:
                sent[key] = r.received_at
                points.append([r.code, key[1], r.value, r.flag])
        for key in [k for k, at in sent.items() if at < last - timedelta(seconds=30)]:
            del sent[key]
        return points, last

    async def events():
        q = await hub.subscribe(ids)
        after = since
        try:
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                try:
                    await asyncio.wait_for(q.get(), 15)
                except TimeoutError:
                    yield ": ping\n\n"
                    continue
                points, after = await asyncio.to_thread(new_points, after)
                if points:
                    yield f"event: readings\ndata: {json.dumps({'points': points}, ensure_ascii=False)}\n\n"
        finally:
            hub.unsubscribe(q)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.get("/status")
def status_overview(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    """The facilities the caller may see, with their online status and when it was judged, and counts by status."""
    who.require("sewage.view", "查看污水处理设施")
    rows = conn.execute(
        sa.text(
            "SELECT id, code, name, district, kind, discharge_standard, online_status, status_at FROM sewage_plants "
            "WHERE deleted_at IS NULL ORDER BY CASE online_status WHEN '超标' THEN 0 WHEN '故障' THEN 1 "
            "WHEN '离线' THEN 3 ELSE 2 END, district, code"
        )
    ).mappings()
    items = [dict(r, status_at=r["status_at"].isoformat() if r["status_at"] else None) for r in rows]
    counts: dict[str, int] = {}
    for r in items:
        counts[r["online_status"]] = counts.get(r["online_status"], 0) + 1
    return {"counts": counts, "items": items}


@router.get("/facilities/{plant_id}")
def facility(
    plant_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    who.require("sewage.view", "查看污水处理设施")
    row = (
        conn.execute(
            sa.text(
                "SELECT id, code, name, district, kind, capacity_t_d, process, discharge_standard, operator, "
                "online_status, status_at FROM sewage_plants WHERE id = :p AND deleted_at IS NULL"
            ),
            {"p": plant_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise ApiError(404, "not_found", "污水处理设施不存在或无权查看。")
    codes = conn.execute(sa.text("SELECT code, name, unit FROM sewage_codes ORDER BY id")).mappings().all()
    monitors = (
        conn.execute(sa.text("SELECT mn, active FROM sewage_monitors WHERE plant_id = :p ORDER BY id"), {"p": plant_id})
        .mappings()
        .all()
    )
    refused = (
        conn.execute(
            sa.text(
                "SELECT reason, sum(n) AS n FROM sewage_reject_counts WHERE plant_id = :p AND day > current_date - 30 "
                "GROUP BY reason ORDER BY reason"
            ),
            {"p": plant_id},
        )
        .mappings()
        .all()
    )
    out = dict(row, status_at=row["status_at"].isoformat() if row["status_at"] else None)
    return {
        **out,
        "codes": [dict(c) for c in codes],
        "monitors": [dict(m) for m in monitors],
        "refused_30d": {r["reason"]: int(r["n"]) for r in refused},
    }
