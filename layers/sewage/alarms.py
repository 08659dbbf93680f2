"""The sewage facilities' alarms (VT-15): judged every minute by the job ``sewage.evaluate_alarms`` from the latest
readings and roll-ups, one open alarm per facility, kind and code at a time.

Kinds (``SewageAlarmSettings`` for the numbers):
- 超标: the facility's latest hourly average of a code (``sewage_hourly``, the current or the previous hour, all its
  monitors) above the applicable limit (``sewage_plant_limits``: the standard's value, the ≤12 ℃ value when the
  hour's water temperature is 12 ℃ or below, the facility's override on top) or below its lowest (pH);
- 数据中断: the facility reported in the last 7 days and its latest reading is older than ``no_data_minutes``;
- 数据恒值: the last ``stuck_readings`` readings of one code (real-time or minute data) all the same value (a flow
  of zero is 零流量 instead);
- 超出量程: readings refused as outside the code's physical range (``sewage_rejects``) within ``range_minutes``;
- 零流量: every flow reading (``w00000``, at least two) of the last ``zero_flow_minutes`` is zero.

A condition judged present opens an alarm (or refreshes the open one); judged absent, it closes the open one (by
the system, "条件已消除"). A condition that cannot be judged (no hourly value, fewer readings than needed) leaves
the alarm as it is: an exceedance followed by a dropout stays open beside the 数据中断 alarm. A person holding
``sewage.alarm`` acknowledges an open alarm with a note and may close it with a note; a hand-closed alarm whose
condition persists opens again at the next run (a new alarm). Every step is an event of the alarm (its history)
and each person's step is in the operation log.

Each facility's count of open alarms and the kind of the worst (``SEVERITY``) are kept on its ``sewage_plants`` row
(``open_alarms``, ``alarm_kind``: the one map's popup) by ``recount``, after the job and after a hand close — only
for the facilities whose alarms opened or closed, so the layer's tiles are renewed only then.

When alarms open, the facility's district accounts holding ``sewage.alarm`` and a phone get one SMS through the
gateway (outbox) naming them — at most one per district every ``sms_interval_minutes``: the alarms opened
meanwhile wait and are summed up in the next message.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import Connection

from api.accounts import sms
from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit
from geo.bounds import RecordId, Text
from geo.divisions import DISTRICT_NAMES
from geo.layer.registry import Attr
from geo.modules import job, log_labels, permissions
from geo.records import Link, RecordKind, register_kind, register_link
from layers.sewage import ALARM_SEVERITY as SEVERITY
from layers.sewage import NO_ALARM
from layers.sewage.hj212 import BEIJING
from layers.sewage.settings import SewageAlarmSettings, alarm_settings

KINDS = ("超标", "数据中断", "数据恒值", "超出量程", "零流量")
STATES = ("待处理", "已确认", "已关闭")
SYSTEM = "system"
SMS_PURPOSE = "sewage_alarm"

permissions({"sewage.alarm": "处理污水设施告警"}, group="污水处理")
log_labels(
    objects={"sewage_alarms": "污水设施告警"},
    actions={
        "sewage_alarm_ack": "确认污水设施告警",
        "sewage_alarm_close": "关闭污水设施告警",
        "sewage_alarm_evaluate": "研判污水设施告警",
    },
    purposes={SMS_PURPOSE: "污水设施告警通知"},
)

register_kind(
    RecordKind(
        kind="sewage_alarms",
        title="污水设施告警",
        table="sewage_alarms",
        key="id",
        attrs=(
            Attr("kind", "告警类型", choices=KINDS, filterable=True),
            Attr("state", "状态", choices=STATES, filterable=True),
            Attr("active", "未关闭", "bool", filterable=True),
            Attr("district", "区县", filterable=True),
            Attr("code", "监测因子"),
            Attr("message", "告警内容"),
            Attr("opened_at", "发生时间", "datetime"),
            Attr("acked_by", "确认人"),
            Attr("ack_note", "确认说明"),
            Attr("closed_at", "关闭时间", "datetime"),
            Attr("close_note", "关闭说明"),
        ),
        module="sewage",
        label="message",
        view="sewage.view",
    )
)
register_link(
    Link(
        target="sewage_plants",
        module="sewage",
        title="告警",
        table="sewage_alarms",
        column="plant_id",
        kind="sewage_alarms",
        columns=(("kind", "告警类型"), ("state", "状态"), ("message", "告警内容"), ("opened_at", "发生时间")),
        order="opened_at DESC",
    )
)

# Alarm counts on the thematic map (collected by the thematic module's demo seeder).
THEMATIC_DEMO_MAPS = [
    {
        "slug": "sewage-open-alarms",
        "title": "各区县污水设施未关闭告警",
        "description": "各区县污水处理设施未关闭（待处理、已确认）的告警数，分级设色。",
        "source": "sewage_alarms",
        "statistic": "count",
        "attribute": None,
        "filter": {"attribute": "active", "value": True},
        "grouping": "district",
        "classification": "natural_breaks",
        "classes": 5,
        "colors": "reds",
        "rendering": "choropleth",
        "published": True,
        "sort": 56,
    },
]

router = APIRouter(prefix="/api/sewage", tags=["sewage"])


# -------------------------------------------------------------------------------------------------- judging

EXCEEDANCE_SQL = """
WITH h AS (
    SELECT m.plant_id, c.code, x.bucket, sum(x.total) / sum(x.n) AS avg
    FROM sewage_monitors m
    JOIN sewage_hourly x ON x.monitor_id = m.id AND x.bucket > :now - interval '2 hours' AND x.bucket <= :now
         AND x.cn IN (2011, 2051)
    JOIN sewage_codes c ON c.id = x.code_id
    WHERE m.active
    GROUP BY 1, 2, 3
), latest AS (
    SELECT DISTINCT ON (plant_id, code) plant_id, code, bucket, avg FROM h ORDER BY plant_id, code, bucket DESC
), cold AS (
    SELECT plant_id, bucket FROM h WHERE code = 'w01010' AND avg <= 12
)
SELECT x.plant_id, x.code, x.avg, x.bucket, c.name, c.unit, l.clause, l.overridden, l.min AS lo,
       CASE WHEN EXISTS (SELECT 1 FROM cold WHERE cold.plant_id = x.plant_id AND cold.bucket = x.bucket)
            THEN coalesce(l.max_cold, l.max) ELSE l.max END AS hi
FROM latest x
JOIN sewage_plant_limits l ON l.plant_id = x.plant_id AND l.code = x.code
JOIN sewage_codes c ON c.code = x.code
"""

NO_DATA_SQL = """
SELECT m.plant_id, max(last.t) AS last_time
FROM sewage_monitors m
CROSS JOIN LATERAL (
    SELECT max(data_time) AS t FROM sewage_readings r
    WHERE r.monitor_id = m.id AND r.data_time > :now - interval '7 days' AND r.data_time <= :now + interval '10 minutes'
) last
WHERE m.active
GROUP BY m.plant_id
"""

STUCK_SQL = """
WITH r AS (
    SELECT m.plant_id, m.id AS monitor_id, x.code_id, x.value,
           row_number() OVER (PARTITION BY m.id, x.code_id ORDER BY x.data_time DESC) AS k
    FROM sewage_monitors m
    CROSS JOIN LATERAL (
        SELECT code_id, value, data_time FROM sewage_readings
        WHERE monitor_id = m.id AND data_time > :now - interval '6 hours' AND data_time <= :now + interval '10 minutes'
              AND cn IN (2011, 2051) AND value IS NOT NULL
        ORDER BY data_time DESC LIMIT :rows
    ) x
    WHERE m.active
)
SELECT r.plant_id, c.code, c.name, c.unit, count(*) AS n, min(r.value) AS lo, max(r.value) AS hi
FROM r JOIN sewage_codes c ON c.id = r.code_id
WHERE r.k <= :k
GROUP BY r.plant_id, r.monitor_id, c.code, c.name, c.unit
"""

RANGE_SQL = """
SELECT plant_id, count(*) AS n, (array_agg(detail ORDER BY id DESC))[1] AS detail
FROM sewage_rejects
WHERE reason = 'out_of_range' AND plant_id IS NOT NULL AND at > :since AND at <= :now + interval '10 minutes'
GROUP BY plant_id
"""

ZERO_FLOW_SQL = """
SELECT m.plant_id, count(*) AS n, max(r.value) AS hi
FROM sewage_monitors m
JOIN sewage_readings r ON r.monitor_id = m.id AND r.data_time > :since AND r.data_time <= :now + interval '10 minutes'
     AND r.cn IN (2011, 2051) AND r.code_id = (SELECT id FROM sewage_codes WHERE code = 'w00000') AND r.value IS NOT NULL
WHERE m.active
GROUP BY m.plant_id
"""

Key = tuple[int, str, str]  # plant, kind, code


def _fmt(v: float) -> str:
    return f"{v:.3f}".rstrip("0").rstrip(".")


def conditions(conn: Connection, now: datetime, s: SewageAlarmSettings, open_keys: set[Key]) -> dict[Key, dict | None]:
    """Every condition that could be judged now: key -> what to record (present) or None (absent)."""
    out: dict[Key, dict | None] = {}
    for r in conn.execute(sa.text(EXCEEDANCE_SQL), {"now": now}).mappings():
        hour = r["bucket"].astimezone(BEIJING).strftime("%H时")
        above = r["avg"] > r["hi"]
        below = r["lo"] is not None and r["avg"] < r["lo"]
        key = (r["plant_id"], "超标", r["code"])
        if above or below:
            bound = _fmt(r["hi"]) if above else f"下限 {_fmt(r['lo'])}"
            source = "设施单独设定" if r["overridden"] else r["clause"]
            out[key] = {
                "value": r["avg"],
                "limit": r["hi"] if above else r["lo"],
                "message": f"{r['name']} {hour}均值 {_fmt(r['avg'])} {r['unit']}，超出限值 {bound}（{source}）",
            }
        else:
            out[key] = None
    since = now - timedelta(minutes=s.no_data_minutes)
    for r in conn.execute(sa.text(NO_DATA_SQL), {"now": now}).mappings():
        key = (r["plant_id"], "数据中断", "")
        if r["last_time"] is None:
            continue  # nothing in 7 days: not judged (an open alarm stays open)
        if r["last_time"] < since:
            last = r["last_time"].astimezone(BEIJING).strftime("%m-%d %H:%M")
            out[key] = {
                "value": None,
                "limit": None,
                "message": f"超过 {s.no_data_minutes} 分钟未收到数据（最后数据 {last}）",
            }
        else:
            out[key] = None
    codes = conn.execute(sa.text("SELECT count(*) FROM sewage_codes")).scalar_one()
    stuck_rows = conn.execute(
        sa.text(STUCK_SQL), {"now": now, "k": s.stuck_readings, "rows": s.stuck_readings * codes}
    ).mappings()
    for r in stuck_rows:
        key = (r["plant_id"], "数据恒值", r["code"])
        if r["n"] < s.stuck_readings:
            continue
        if r["lo"] == r["hi"] and not (r["code"] == "w00000" and r["hi"] == 0):
            msg = f"{r['name']}连续 {r['n']} 个数据均为 {_fmt(r['hi'])} {r['unit']}"
            out[key] = {"value": r["hi"], "limit": None, "message": msg}
        elif key not in out:
            out[key] = None
    seen = set()
    range_since = now - timedelta(minutes=s.range_minutes)
    for r in conn.execute(sa.text(RANGE_SQL), {"since": range_since, "now": now}).mappings():
        key = (r["plant_id"], "超出量程", "")
        seen.add(key)
        msg = f"{s.range_minutes} 分钟内 {r['n']} 个数据超出物理量程被拒收：{r['detail']}"
        out[key] = {"value": None, "limit": None, "message": msg[:500]}
    for key in open_keys:
        if key[1] == "超出量程" and key not in seen:
            out[key] = None
    flow_since = now - timedelta(minutes=s.zero_flow_minutes)
    for r in conn.execute(sa.text(ZERO_FLOW_SQL), {"since": flow_since, "now": now}).mappings():
        key = (r["plant_id"], "零流量", "w00000")
        if r["hi"] > 0:
            out[key] = None
        elif r["n"] >= 2:
            msg = f"污水流量连续 {s.zero_flow_minutes} 分钟为零（{r['n']} 个数据）"
            out[key] = {"value": 0.0, "limit": None, "message": msg}
    return out


def evaluate(conn: Connection, now: datetime, settings: SewageAlarmSettings | None = None) -> dict:
    """Open, refresh and close the alarms as of ``now``, then send the SMS due; returns the counts."""
    s = settings or alarm_settings()
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('sewage.evaluate_alarms'))"))
    live = conn.execute(
        sa.text(
            "SELECT a.id, a.plant_id, a.kind, a.code FROM sewage_alarms a JOIN sewage_plants p ON p.id = a.plant_id "
            "WHERE a.active AND p.deleted_at IS NULL"
        )
    ).all()
    open_ids = {(r.plant_id, r.kind, r.code): r.id for r in live}
    judged = conditions(conn, now, s, set(open_ids))
    plants = dict(
        conn.execute(
            sa.text("SELECT id, district FROM sewage_plants WHERE deleted_at IS NULL AND id = ANY(:ids)"),
            {"ids": sorted({k[0] for k in judged})},
        ).all()
    )
    opened = closed = kept = 0
    changed: dict[str, list[int]] = {"opened": [], "closed": []}
    touched: set[int] = set()  # facilities whose alarms opened or closed
    for key, found in sorted(judged.items(), key=lambda kv: kv[0]):
        plant_id, kind, code = key
        if plant_id not in plants:
            continue
        alarm_id = open_ids.get(key)
        if found is not None and alarm_id is not None:
            conn.execute(
                sa.text("UPDATE sewage_alarms SET last_seen_at = :now, value = :v, message = :m WHERE id = :i"),
                {"now": now, "v": found["value"], "m": found["message"], "i": alarm_id},
            )
            kept += 1
        elif found is not None:
            new_id = conn.execute(
                sa.text(
                    "INSERT INTO sewage_alarms (plant_id, district, kind, code, message, value, limit_value, opened_at, "
                    "last_seen_at) VALUES (:p, :d, :k, :c, :m, :v, :l, :now, :now) "
                    "ON CONFLICT (plant_id, kind, code) WHERE active DO NOTHING RETURNING id"
                ),
                {
                    "p": plant_id,
                    "d": plants[plant_id],
                    "k": kind,
                    "c": code,
                    "m": found["message"],
                    "v": found["value"],
                    "l": found["limit"],
                    "now": now,
                },
            ).scalar()
            if new_id is not None:
                _event(conn, new_id, plants[plant_id], now, "opened", SYSTEM, found["message"])
                changed["opened"].append(new_id)
                touched.add(plant_id)
                opened += 1
        elif alarm_id is not None:
            _close(conn, alarm_id, now, SYSTEM, "条件已消除，系统自动关闭")
            changed["closed"].append(alarm_id)
            touched.add(plant_id)
            closed += 1
    recount(conn, touched)
    sent = notify(conn, now, s)
    if opened or closed or sent:
        detail = {"opened": changed["opened"][:500], "closed": changed["closed"][:500], "sms": sent}
        audit.record(conn, SYSTEM, "sewage_alarm_evaluate", "sewage_alarms", None, None, None, detail=detail)
    return {"opened": opened, "closed": closed, "still_open": kept, "sms": sent}


RECOUNT_SQL = """
UPDATE sewage_plants p SET open_alarms = x.n, alarm_kind = x.worst
FROM (
    SELECT p.id, count(a.id) AS n,
           coalesce((array_agg(a.kind ORDER BY array_position(:severity, a.kind)) FILTER (WHERE a.id IS NOT NULL))[1],
                    :none) AS worst
    FROM sewage_plants p LEFT JOIN sewage_alarms a ON a.plant_id = p.id AND a.active
    WHERE p.id = ANY(:ids)
    GROUP BY p.id
) x
WHERE p.id = x.id AND (p.open_alarms, p.alarm_kind) IS DISTINCT FROM (x.n, x.worst)
"""


def recount(conn: Connection, plant_ids: set[int] | list[int]) -> int:
    """Set the facilities' ``open_alarms`` and ``alarm_kind`` (the one map's popup) from their alarms not closed;
    returns how many rows changed. Nothing is written (and the layer's tiles stay) when no facility is named.

    The facilities' rows are locked first (in id order) and counted by the next statement, whose snapshot then
    holds whatever a concurrent job run or hand close committed before: the last to count sees every change."""
    if not plant_ids:
        return 0
    ids = sorted(plant_ids)
    conn.execute(sa.text("SELECT id FROM sewage_plants WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"), {"ids": ids})
    args = {"ids": ids, "severity": list(SEVERITY), "none": NO_ALARM}
    return conn.execute(sa.text(RECOUNT_SQL), args).rowcount


def _event(conn: Connection, alarm_id: int, district: str | None, at: datetime, action: str, actor: str, note: str):
    conn.execute(
        sa.text(
            "INSERT INTO sewage_alarm_events (alarm_id, district, at, action, actor, note) "
            "VALUES (:a, :d, :at, :x, :u, :n)"
        ),
        {"a": alarm_id, "d": district, "at": at, "x": action, "u": actor, "n": note},
    )


def _close(conn: Connection, alarm_id: int, at: datetime, actor: str, note: str) -> None:
    district = conn.execute(
        sa.text(
            "UPDATE sewage_alarms SET state = '已关闭', closed_at = :at, closed_by = :u, close_note = :n "
            "WHERE id = :i RETURNING district"
        ),
        {"at": at, "u": actor, "n": note, "i": alarm_id},
    ).scalar()
    _event(conn, alarm_id, district, at, "closed", actor, note)


# -------------------------------------------------------------------------------------------------------- SMS

RECIPIENTS_SQL = """
SELECT u.id, u.phone, array_agg(rp.permission) AS patterns FROM users u
JOIN user_roles ur ON ur.user_id = u.id
JOIN role_permissions rp ON rp.role = ur.role
WHERE u.active AND u.phone IS NOT NULL AND u.district = :d
GROUP BY u.id, u.phone
ORDER BY u.id
"""


def recipients(conn: Connection, district: str) -> list[tuple[int, str]]:
    """The district's active accounts with a phone holding ``sewage.alarm`` (matched as the API matches it)."""
    rows = conn.execute(sa.text(RECIPIENTS_SQL), {"d": district}).all()
    return [(r.id, r.phone) for r in rows if any(fnmatchcase("sewage.alarm", p) for p in r.patterns)]


def notify(conn: Connection, now: datetime, s: SewageAlarmSettings) -> int:
    """Text the district accounts about the alarms opened and not yet told (one SMS per account and district run,
    at most one per ``sms_interval_minutes``); returns the number of messages."""
    pending = conn.execute(
        sa.text(
            "SELECT a.id, a.district, a.kind, a.message, p.name FROM sewage_alarms a "
            "JOIN sewage_plants p ON p.id = a.plant_id WHERE a.notified_at IS NULL AND a.active "
            "ORDER BY a.district, a.id"
        )
    ).all()
    by_district: dict[str | None, list] = {}
    for r in pending:
        by_district.setdefault(r.district, []).append(r)
    sent = 0
    for district, rows in by_district.items():
        ids = [r.id for r in rows]
        to = recipients(conn, district) if district else []
        if to:
            last = conn.execute(
                sa.text("SELECT max(notified_at) FROM sewage_alarms WHERE district = :d AND sms_count > 0"),
                {"d": district},
            ).scalar()
            if last is not None and last > now - timedelta(minutes=s.sms_interval_minutes):
                continue  # told recently: these wait for the next message
            shown = "；".join(f"「{r.name}」{r.kind}" for r in rows[:3])
            more = f"等 {len(rows)} 条" if len(rows) > 3 else f"共 {len(rows)} 条"
            body = (
                f"【杭州市建委】污水设施告警：{district}新增告警{more}：{shown}。"
                f"{now.astimezone(BEIJING):%m月%d日%H:%M}，请登录平台「污水设施告警」确认处理。"
            )
            for user_id, phone in to:
                sms.gateway().send(conn, phone, body, SMS_PURPOSE, user_id)
            sent += len(to)
        note = f"短信通知 {len(to)} 人" if to else "该区县没有可接收短信的账号"
        conn.execute(
            sa.text("UPDATE sewage_alarms SET notified_at = :now, sms_count = :n WHERE id = ANY(:ids)"),
            {"now": now, "n": len(to), "ids": ids},
        )
        for r in rows:
            _event(conn, r.id, district, now, "notified", SYSTEM, note)
    return sent


@job(cron="* * * * *", title="研判污水设施告警")
def evaluate_alarms(conn: Connection, now: datetime) -> dict:
    """Open, refresh and close the facilities' alarms from the latest readings; SMS to the districts."""
    return evaluate(conn, now)


# -------------------------------------------------------------------------------------------------------- API

LIST_SQL = """
SELECT a.id, a.plant_id, p.code AS plant_code, p.name AS plant_name, a.district, a.kind, a.code, c.name AS code_name,
       a.state, a.message, a.value, a.limit_value, a.opened_at, a.last_seen_at, a.acked_at, a.acked_by, a.ack_note,
       a.closed_at, a.closed_by, a.close_note, a.notified_at
FROM sewage_alarms a JOIN sewage_plants p ON p.id = a.plant_id LEFT JOIN sewage_codes c ON c.code = a.code
"""


def _json(row) -> dict:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(row).items()}


def _choice(value: str | None, allowed: tuple[str, ...], field: str, what: str) -> str | None:
    if value is not None and value not in allowed:
        raise ApiError(422, f"invalid_{field}", f"{what}须为以下之一：{'、'.join(allowed)}。", field)
    return value


@router.get("/alarms")
def list_alarms(
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
    district: Annotated[str | None, Query(max_length=50)] = None,
    kind: Annotated[str | None, Query(max_length=10)] = None,
    state: Annotated[str | None, Query(max_length=10)] = None,
    plant_id: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict:
    """The alarms the caller may see (newest first), filtered by district, kind, state (``未关闭``: 待处理 and
    已确认) or facility, with the total and the counts by state and kind of the filtered set."""
    who.require("sewage.view", "查看污水处理设施")
    _choice(district, DISTRICT_NAMES, "district", "区县")
    _choice(kind, KINDS, "kind", "告警类型")
    _choice(state, (*STATES, "未关闭"), "state", "状态")
    where, args = ["p.deleted_at IS NULL"], {}
    if district:
        where.append("a.district = :district")
        args["district"] = district
    if kind:
        where.append("a.kind = :kind")
        args["kind"] = kind
    if plant_id:
        where.append("a.plant_id = :plant")
        args["plant"] = plant_id
    base = list(where)
    if state == "未关闭":
        where.append("a.active")
    elif state:
        where.append("a.state = :state")
        args["state"] = state
    cond = " AND ".join(where)
    rows = conn.execute(
        sa.text(f"{LIST_SQL} WHERE {cond} ORDER BY a.opened_at DESC, a.id DESC LIMIT :lim OFFSET :off"),
        {**args, "lim": limit, "off": offset},
    ).mappings()
    total = conn.execute(
        sa.text(f"SELECT count(*) FROM sewage_alarms a JOIN sewage_plants p ON p.id = a.plant_id WHERE {cond}"), args
    ).scalar_one()
    counts = conn.execute(
        sa.text(
            "SELECT a.state, a.kind, count(*) FROM sewage_alarms a JOIN sewage_plants p ON p.id = a.plant_id "
            f"WHERE {' AND '.join(base)} GROUP BY a.state, a.kind"
        ),
        {k: v for k, v in args.items() if k != "state"},
    ).all()
    by_state: dict[str, int] = dict.fromkeys(STATES, 0)
    by_kind: dict[str, int] = dict.fromkeys(KINDS, 0)
    for st, kd, n in counts:
        by_state[st] += n
        if st != "已关闭":
            by_kind[kd] += n
    return {
        "total": total,
        "items": [_json(r) for r in rows],
        "by_state": by_state,
        "open_by_kind": by_kind,
        "kinds": list(KINDS),
        "states": list(STATES),
        "districts": list(DISTRICT_NAMES),
    }


@router.get("/alarms/summary")
def alarm_summary(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    """Counts of the alarms not closed, per district and per facility (those the caller may see)."""
    who.require("sewage.view", "查看污水处理设施")
    rows = conn.execute(
        sa.text(
            "SELECT a.district, a.plant_id, p.name, count(*) AS n FROM sewage_alarms a "
            "JOIN sewage_plants p ON p.id = a.plant_id WHERE a.active AND p.deleted_at IS NULL "
            "GROUP BY a.district, a.plant_id, p.name ORDER BY n DESC, a.plant_id"
        )
    ).all()
    districts: dict[str, int] = {}
    for d, _, _, n in rows:
        districts[d or ""] = districts.get(d or "", 0) + n
    return {
        "districts": districts,
        "facilities": [{"plant_id": p, "name": name, "district": d, "open": n} for d, p, name, n in rows],
    }


def _one(conn: Connection, alarm_id: int, lock: bool = False) -> dict:
    row = (
        conn.execute(
            sa.text(f"{LIST_SQL} WHERE a.id = :i AND p.deleted_at IS NULL {'FOR UPDATE OF a' if lock else ''}"),
            {"i": alarm_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise ApiError(404, "not_found", "告警不存在或无权查看。")
    return dict(row)


def alarm_detail(conn: Connection, alarm_id: int) -> dict:
    out = _json(_one(conn, alarm_id))
    events = conn.execute(
        sa.text("SELECT at, action, actor, note FROM sewage_alarm_events WHERE alarm_id = :i ORDER BY id"),
        {"i": alarm_id},
    ).mappings()
    out["events"] = [_json(e) for e in events]
    return out


@router.get("/alarms/{alarm_id}")
def get_alarm(
    alarm_id: RecordId, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    who.require("sewage.view", "查看污水处理设施")
    return alarm_detail(conn, alarm_id)


class Note(BaseModel):
    note: Text(500, 2)


@router.post("/alarms/{alarm_id}/acknowledge")
def acknowledge(
    alarm_id: RecordId,
    body: Note,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    """Acknowledge an open alarm (待处理 → 已确认) with a note."""
    who.require("sewage.alarm", "处理污水设施告警")
    a = _one(conn, alarm_id, lock=True)
    if a["state"] != "待处理":
        raise ApiError(409, "alarm_not_open", f"该告警当前为「{a['state']}」，只有待处理的告警可以确认。", "state")
    now = conn.execute(sa.text("SELECT now()")).scalar_one()
    conn.execute(
        sa.text("UPDATE sewage_alarms SET state = '已确认', acked_at = :t, acked_by = :u, ack_note = :n WHERE id = :i"),
        {"t": now, "u": who.user, "n": body.note, "i": alarm_id},
    )
    _event(conn, alarm_id, a["district"], now, "acknowledged", who.user, body.note)
    audit.record(
        conn,
        who.user,
        "sewage_alarm_ack",
        "sewage_alarms",
        alarm_id,
        {"state": a["state"]},
        {"state": "已确认", "note": body.note},
        user_id=who.user_id,
    )
    return alarm_detail(conn, alarm_id)


@router.post("/alarms/{alarm_id}/close")
def close(
    alarm_id: RecordId,
    body: Note,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    """Close an alarm by hand (待处理 or 已确认 → 已关闭) with a note."""
    who.require("sewage.alarm", "处理污水设施告警")
    a = _one(conn, alarm_id, lock=True)
    if a["state"] == "已关闭":
        raise ApiError(409, "alarm_closed", "该告警已关闭。", "state")
    now = conn.execute(sa.text("SELECT now()")).scalar_one()
    _close(conn, alarm_id, now, who.user, body.note)
    recount(conn, {a["plant_id"]})
    audit.record(
        conn,
        who.user,
        "sewage_alarm_close",
        "sewage_alarms",
        alarm_id,
        {"state": a["state"]},
        {"state": "已关闭", "note": body.note},
        user_id=who.user_id,
    )
    return alarm_detail(conn, alarm_id)
