"""On-demand archive fetch (档案调取, VT-11): the city calls a county system's archive API and stores what it returns.

The county archive API is a contract of this project (``layers/villages/NOTES.md``): ``GET {archive_url}/farmhouses``
with ``township`` / ``village`` / ``record_id`` and ``page``, answering pages of the same records a county pushes
(``county_push.CountyRecord``). ``POST /api/villages/county/fetch`` (permission ``farmhouse.county_fetch``; district
staff for their own county, the city for any) calls it:

- each call has the county's time limit (``vil_counties.timeout_s``); a timeout, a refused connection or a 5xx/429 is
  tried again after a back-off (``CHENGJIAN_COUNTY_FETCH_BACKOFF_S``, doubled each time) up to
  ``CHENGJIAN_COUNTY_FETCH_ATTEMPTS`` attempts; another 4xx is not tried again;
- a circuit breaker per county (``vil_county_breakers``): after ``CHENGJIAN_COUNTY_BREAKER_FAILURES`` failed fetches
  in a row the county is not called for ``CHENGJIAN_COUNTY_BREAKER_COOLDOWN_S`` seconds (the user is told at once
  and until when); the first fetch after that is a trial: a success closes the breaker, a failure opens it again;
- everything the county returns is checked before anything is stored: the JSON shape, every record against the
  push schema, the county named in the answer, and then the positions, stages and codes by the same statement as a
  push; one bad record and nothing of the fetch is stored (``bad_data``);
- every fetch is logged (``vil_county_fetches``) with its outcome, attempts and the message the user saw, in its own
  transaction, so a failed fetch is logged although it stores nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NoReturn

import httpx
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read
from api.errors import ApiError
from geo import scope as scopes
from geo.bounds import Amount, Code, Text, Whole
from geo.db import get_engine
from geo.divisions import DISTRICT_NAMES
from geo.settings import ModuleSettings, module_settings
from layers.villages.county_push import (
    COUNTY_RECORD_ID,
    PREFIX,
    summarize,
    validate_records,
    write_records,
)

router = APIRouter(prefix=PREFIX, tags=["区县农房系统接口"])

FETCH = "farmhouse.county_fetch"
PAGE_SIZE = 500
ARCHIVE_PATH = "/farmhouses"


class CountySettings(ModuleSettings):
    model_config = SettingsConfigDict(env_prefix="CHENGJIAN_COUNTY_")

    # Calls of one archive fetch (the first and the retries after a timeout, a refused connection, a 5xx or 429).
    fetch_attempts: Whole(1, 10) = 3
    # Seconds before the first retry; doubled before each further one.
    fetch_backoff_s: Amount(60) = 0.5
    # Failed fetches in a row after which a county's archive API is not called for the cool-down.
    breaker_failures: Whole(1, 100) = 3
    breaker_cooldown_s: Whole(1, 86_400) = 60
    # At most this many records in one fetch (the county's pages are read until then).
    fetch_max_records: Whole(1, 100_000) = 5000


def county_settings() -> CountySettings:
    return module_settings(CountySettings)


class FetchRequest(BaseModel):
    district: Literal[DISTRICT_NAMES] = Field(title="区县")  # type: ignore[valid-type]
    township: Text(50, 1) | None = Field(None, title="乡镇街道")
    village: Text(50, 1) | None = Field(None, title="行政村")
    record_id: Code(COUNTY_RECORD_ID) | None = Field(None, title="区县系统记录编号")


class FetchFailed(Exception):
    """A fetch that stored nothing: ``outcome`` (logged), the HTTP status and code and message the user gets."""

    def __init__(self, outcome: str, status: int, code: str, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.outcome, self.status, self.code, self.message, self.detail = outcome, status, code, message, detail


RETRIED = ("timeout", "unreachable", "server_error")


# -- the county's archive API ----------------------------------------------------------------------------------------
def call_archive(
    client: httpx.Client, url: str, params: dict, timeout_s: float, attempts: int, backoff_s: float, name: str
) -> tuple[Any, int]:
    """One page of the county's archive, with retries: its JSON and the number of calls made."""
    last = ""
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            time.sleep(backoff_s * 2 ** (attempt - 2))
        try:
            r = client.get(url, params=params, timeout=timeout_s)
        except httpx.TimeoutException:
            last = "timeout"
            continue
        except httpx.TransportError:
            last = "unreachable"
            continue
        if r.status_code >= 500 or r.status_code == 429:
            last = "server_error"
            continue
        if r.status_code != 200:
            raise FetchFailed(
                "failed",
                502,
                "county_refused",
                f"{name}农房系统拒绝了档案调取请求（HTTP {r.status_code}），请联系该区县核对接口配置。",
                {"status": r.status_code, "attempts": attempt},
            )
        try:
            return r.json(), attempt
        except ValueError:
            raise FetchFailed(
                "bad_data", 502, "county_bad_data", f"{name}农房系统返回的内容不是有效的 JSON，未保存任何数据。",
                {"attempts": attempt},
            ) from None  # fmt: skip
    if last == "timeout":
        raise FetchFailed(
            "timeout", 504, "county_timeout",
            f"{name}农房系统在 {timeout_s:g} 秒内没有响应（已尝试 {attempts} 次），请稍后再试。",
            {"attempts": attempts, "timeout_s": timeout_s},
        )  # fmt: skip
    if last == "unreachable":
        raise FetchFailed(
            "unreachable", 502, "county_unreachable",
            f"无法连接{name}农房系统（已尝试 {attempts} 次），请稍后再试或联系该区县。",
            {"attempts": attempts},
        )  # fmt: skip
    raise FetchFailed(
        "failed", 502, "county_failed",
        f"{name}农房系统出错，未能返回档案（已尝试 {attempts} 次），请稍后再试。",
        {"attempts": attempts},
    )  # fmt: skip


def read_pages(county: dict, query: dict, s: CountySettings, client: httpx.Client) -> tuple[list[Any], int]:
    """Every record of the query (page by page, at most ``fetch_max_records``), and the calls made."""
    name = county["district"]
    url = county["archive_url"].rstrip("/") + ARCHIVE_PATH
    records: list[Any] = []
    calls = 0
    page = 1
    while True:
        params = {**query, "page": page, "page_size": PAGE_SIZE}
        try:
            data, n = call_archive(client, url, params, county["timeout_s"], s.fetch_attempts, s.fetch_backoff_s, name)
        except FetchFailed as e:
            e.detail = {**(e.detail or {}), "calls": calls + (e.detail or {}).get("attempts", 0)}
            raise
        calls += n
        if not isinstance(data, dict) or not isinstance(data.get("records"), list):
            raise bad_data(name, "返回内容缺少记录列表（records）", calls)
        if data.get("county") != name:
            raise bad_data(name, f"返回的区县为「{data.get('county')}」，不是{name}", calls)
        pages = data.get("pages", 1)
        if not isinstance(pages, int) or isinstance(pages, bool) or pages < 1:
            raise bad_data(name, "返回的页数（pages）不正确", calls)
        records += data["records"]
        if len(records) > s.fetch_max_records:
            raise FetchFailed(
                "bad_data", 422, "county_too_many",
                f"{name}返回的档案超过 {s.fetch_max_records} 条，请按乡镇街道或行政村缩小调取范围。",
                {"max": s.fetch_max_records, "calls": calls},
            )  # fmt: skip
        if page >= pages:
            return records, calls
        page += 1


def bad_data(name: str, what: str, calls: int, errors: Any = None) -> FetchFailed:
    return FetchFailed(
        "bad_data",
        502,
        "county_bad_data",
        f"{name}农房系统返回的数据有误（{what}），未保存任何数据，请联系该区县核对。",
        {"calls": calls, **({"errors": errors} if errors else {})},
    )


# -- the breaker and the log --------------------------------------------------------------------------------------
def _now() -> datetime:
    return datetime.now(UTC)


def breaker_state(conn: Connection, district: str) -> dict:
    row = conn.execute(
        sa.text("SELECT failures, open_until, last_error FROM vil_county_breakers WHERE district = :d"),
        {"d": district},
    ).mappings().first()  # fmt: skip
    return dict(row) if row else {"failures": 0, "open_until": None, "last_error": None}


def note_failure(conn: Connection, district: str, error: str, s: CountySettings) -> None:
    conn.execute(
        sa.text("""
            INSERT INTO vil_county_breakers AS b (district, failures, open_until, last_failure_at, last_error)
            VALUES (:d, 1, CASE WHEN 1 >= :limit THEN now() + make_interval(secs => :cool) END, now(), :err)
            ON CONFLICT (district) DO UPDATE
               SET failures = b.failures + 1,
                   open_until = CASE WHEN b.failures + 1 >= :limit THEN now() + make_interval(secs => :cool) END,
                   last_failure_at = now(), last_error = :err
        """),
        {"d": district, "limit": s.breaker_failures, "cool": s.breaker_cooldown_s, "err": error},
    )


def take_trial(conn: Connection, district: str, s: CountySettings) -> bool:
    """After the cool-down, the one trial call: this request takes it (True) by keeping the breaker open for the
    others meanwhile; a concurrent request that finds it taken stays refused (False)."""
    taken = conn.execute(
        sa.text("""
            UPDATE vil_county_breakers SET open_until = now() + make_interval(secs => :cool)
             WHERE district = :d AND open_until <= now()
        """),
        {"d": district, "cool": s.breaker_cooldown_s},
    )
    return taken.rowcount == 1


def note_success(conn: Connection, district: str) -> None:
    conn.execute(
        sa.text("""
            INSERT INTO vil_county_breakers AS b (district, failures, last_success_at) VALUES (:d, 0, now())
            ON CONFLICT (district) DO UPDATE SET failures = 0, open_until = NULL, last_success_at = now()
        """),
        {"d": district},
    )


def log_fetch(conn: Connection, who: Principal, district: str, query: dict, outcome: str, **more: Any) -> int:
    values = {
        "received": 0, "created": 0, "updated": 0, "unchanged": 0, "stale": 0, "attempts": 0,
        "message": None, "detail": None, "elapsed_ms": 0.0, **more,
    }  # fmt: skip
    return conn.execute(
        sa.text("""
            INSERT INTO vil_county_fetches (district, actor, query, outcome, attempts, received, created, updated,
                                            unchanged, stale, message, detail, elapsed_ms)
            VALUES (:district, :actor, CAST(:query AS jsonb), :outcome, :attempts, :received, :created, :updated,
                    :unchanged, :stale, :message, CAST(:detail AS jsonb), :elapsed_ms)
            RETURNING id
        """),
        {
            "district": district,
            "actor": who.user,
            "query": json.dumps(query, ensure_ascii=False),
            "outcome": outcome,
            **values,
            "detail": None if values["detail"] is None else json.dumps(values["detail"], ensure_ascii=False),
        },
    ).scalar_one()


# -- the fetch -------------------------------------------------------------------------------------------------------
def _transaction(who: Principal, work: Callable[[Connection], Any]) -> Any:
    with get_engine().begin() as conn:
        scopes.apply(conn, who.scope)
        return work(conn)


def fetch(who: Principal, body: FetchRequest, client: httpx.Client | None = None) -> dict:
    """Fetch ``body``'s records from the county's archive API and store them (or nothing)."""
    who.require(FETCH, "调取区县农房档案")
    district = body.district
    if who.district and who.district != district:
        raise ApiError(403, "other_district", f"您只能调取{who.district}的农房档案，不能调取{district}的。", "district")
    query = body.model_dump(exclude={"district"}, exclude_none=True)
    s = county_settings()
    started = time.perf_counter()

    def ms() -> float:
        return (time.perf_counter() - started) * 1000

    def opening(conn: Connection) -> dict:
        row = conn.execute(
            sa.text("SELECT district, has_system, archive_url, timeout_s FROM vil_counties WHERE district = :d"),
            {"d": district},
        ).mappings().one()  # fmt: skip
        county = dict(row)
        if not county["has_system"] or not county["archive_url"]:
            raise ApiError(
                422,
                "county_without_archive",
                f"{district}没有可调取的农房档案接口（未建系统或未配置接口地址），其数据在市级系统中录入。",
                "district",
            )
        state = breaker_state(conn, district)
        if state["open_until"] is not None and state["open_until"] <= _now() and not take_trial(conn, district, s):
            state = breaker_state(conn, district)  # another request took the trial call: still open for this one
        if state["open_until"] is not None and state["open_until"] > _now():
            local = state["open_until"].astimezone(UTC) + timedelta(hours=8)
            message = (
                f"{district}农房系统近期连续 {state['failures']} 次调取失败，已暂停调用，请于 {local:%H:%M:%S} 后再试。"
            )
            detail = {"open_until": state["open_until"].isoformat(), "failures": state["failures"]}
            log_fetch(conn, who, district, query, "breaker_open", message=message, detail=detail)
            county["refused"] = (message, detail)
        return county

    county = _transaction(who, opening)
    if "refused" in county:
        message, detail = county["refused"]
        raise ApiError(503, "county_breaker_open", message, "district", detail)

    def failed(e: FetchFailed) -> NoReturn:
        calls = (e.detail or {}).get("calls", (e.detail or {}).get("attempts", 0))

        def work(conn: Connection) -> None:
            log_fetch(
                conn, who, district, query, e.outcome, attempts=calls, message=e.message, detail=e.detail,
                elapsed_ms=ms(),
            )  # fmt: skip
            if e.status == 422:  # a query too wide is the user's, not the county's failure: the county answered
                note_success(conn, district)
            else:
                note_failure(conn, district, e.code, s)

        _transaction(who, work)
        raise ApiError(e.status, e.code, e.message, "district", e.detail)

    own = client or httpx.Client(headers={"Accept": "application/json", "User-Agent": "chengjian-county-fetch"})
    try:
        raw, calls = read_pages(county, query, s, own)
    except FetchFailed as e:
        failed(e)
    finally:
        if client is None:
            own.close()
    good, bad = validate_records(raw)
    if bad:
        first = sorted(bad.items())[:20]
        failed(bad_data(district, f"{len(bad)} 条记录不符合接口规范", calls, [{"index": i, **e[0]} for i, e in first]))

    def store(conn: Connection) -> dict:
        results = write_records(
            conn, district, good, who.user, user_id=who.user_id, client=who.client, via="fetch", action="county_fetch"
        )
        rejected = [r for r in results if r["status"] == "rejected"]
        if rejected:
            raise bad_data(
                district, f"{len(rejected)} 条记录未通过校验", calls,
                [{"index": r["index"], "record_id": r["record_id"], **r["errors"][0]} for r in rejected[:20]],
            )  # fmt: skip
        return {"results": results, **summarize(results)}

    try:
        stored = _transaction(who, store)  # rolled back whole when a record is refused
    except FetchFailed as e:
        failed(e)

    def finish(conn: Connection) -> int:
        note_success(conn, district)
        counts = {k: stored[k] for k in ("created", "updated", "unchanged", "stale")}
        return log_fetch(conn, who, district, query, "ok", attempts=calls, received=len(raw), elapsed_ms=ms(), **counts)

    fetch_id = _transaction(who, finish)
    return {"fetch_id": fetch_id, "district": district, "received": len(raw), "attempts": calls, **stored}


@router.post("/fetch", summary="调取区县农房档案（按乡镇街道、行政村或记录编号；超时重试、熔断保护）")
def fetch_archive(body: FetchRequest, who: Principal = Depends(principal)) -> dict:
    return fetch(who, body)


@router.get("/fetches", summary="区县档案调取日志")
def fetch_log(
    district: Literal[DISTRICT_NAMES] | None = Query(None, title="区县"),  # type: ignore[valid-type]
    limit: Whole(1, 500) = 50,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require("farmhouse.view", "查看区县档案调取日志")
    rows = conn.execute(
        sa.text("""
            SELECT id, district, requested_at, actor, query, outcome, attempts, received, created, updated,
                   unchanged, stale, message, detail, elapsed_ms
              FROM vil_county_fetches
             WHERE CAST(:d AS text) IS NULL OR district = :d
             ORDER BY requested_at DESC, id DESC
             LIMIT :limit
        """),
        {"d": district, "limit": limit},
    ).mappings()
    return {"items": [{**r, "requested_at": r["requested_at"].isoformat()} for r in rows]}


@router.get("/status", summary="各区县接口状态（是否自建系统、熔断状态、最近推送与调取）")
def county_status(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    who.require("farmhouse.view", "查看区县接口状态")
    rows = conn.execute(
        sa.text("""
            SELECT c.district, c.has_system, c.archive_url IS NOT NULL AS archive_configured, c.timeout_s,
                   coalesce(b.failures, 0) AS failures, b.open_until, b.last_error,
                   (SELECT max(p.received_at) FROM vil_county_pushes p WHERE p.district = c.district) AS last_push,
                   (SELECT max(f.requested_at) FROM vil_county_fetches f WHERE f.district = c.district) AS last_fetch
              FROM vil_counties c LEFT JOIN vil_county_breakers b ON b.district = c.district
             ORDER BY c.code
        """)
    ).mappings()
    now = _now()
    return {
        "items": [
            {
                **{k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.items()},
                "breaker_open": r["open_until"] is not None and r["open_until"] > now,
            }
            for r in rows
        ]
    }
