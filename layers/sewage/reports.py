"""Custom reports of the sewage facilities (自定义报表, VT-15): flow, water-quality and equipment-operation reports.

A user picks facilities (or a district), parameters, a period (Beijing days, both ends included), aggregations
(average, maximum, minimum, sum) and a grain (hour, day, week — Monday to Sunday — or month), previews the table and
a chart, exports it to Excel, saves it as a template (their own or shared) and may have it generated every month
(the job ``sewage.generate_monthly_reports``; each month's workbook is kept and listed under its template).

Everything is read from the roll-ups the storing statement keeps (``sewage_hourly``, ``sewage_daily``: count, sum,
minimum and maximum of the real-time and minute values per monitor, code and hour or Beijing day), never from the
readings — except the flagged readings of the operation report, found through their own small partial index:

- **average** = sum of the values / number of values over the bucket (every stored value weighs the same), **max** /
  **min** = the highest / lowest value: hour grain from ``sewage_hourly``, day, week and month from ``sewage_daily``;
- **sum** exists for the parameters that have a cumulated unit (``sewage_codes.cou_unit``): the flow's sum is the
  volume in m³ and a pollutant's its load in kg. By hour: the hour's average flow (L/s) × 3,600 s / 1,000, and the
  hour's average concentration (mg/L) × that volume / 1,000. By day, week or month: the same per day with the day's
  averages over 24 hours (a day's volume is its average flow × 86,400 s, as 日均流量 gives 日处理水量: a gap in the
  day counts as the day's average), added up over the bucket's days. pH, temperature … have no sum: refused;
- the **operation report**: values received, hours with data, expected hours (the period's hours up to now), data availability (the
  share of the expected hourly values received, %), running hours (hours whose average flow is above 0), and the
  hours with readings flagged fault (D), stopped (F), maintenance or calibration (M, C).

Row-level security scopes every read: a district account sees and reports its district's facilities only, and the
monthly job computes each template in its owner's current scope.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request, Response
from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.auth import Principal, load_user, principal
from api.deps import db_read, db_write
from api.web import APP_CACHE, file_response
from geo import audit
from geo import scope as scopes
from geo.bounds import MONTH, Code, Day, RecordId, Text, Version
from geo.divisions import DISTRICT_NAMES
from geo.errors import Forbidden, Invalid, NotFound, StaleVersion
from geo.modules import Page, job, log_labels, pages, permissions
from layers.sewage.hj212 import BEIJING
from layers.sewage.routes import POLLUTANT_CODE

permissions({"sewage.report": "保存污水报表模板、每月定期生成报表"}, group="污水处理")
log_labels(
    objects={
        "sewage_reports": "污水自定义报表",
        "sewage_report_templates": "污水报表模板",
        "sewage_report_files": "污水定期报表",
    },
    actions={
        "sewage_report_template_save": "保存污水报表模板",
        "sewage_report_template_delete": "删除污水报表模板",
        "sewage_report_generate": "生成污水定期报表",
    },
)
pages(Page("/sewage/reports", "污水自定义报表", "数据中心", "sewage.view", order=61))

KINDS = {"flow": "水量报表", "quality": "水质报表", "operation": "设备运行报表"}
AGGREGATIONS = {"avg": "平均值", "max": "最大值", "min": "最小值", "sum": "累计值"}
GRAINS = {"hour": "小时", "day": "日", "week": "周", "month": "月"}
FLOW = "w00000"
# The operation report's columns: key, title, unit.
OPERATION = (
    ("readings", "收到数据条数", "条"),
    ("data_hours", "有数据小时数", "小时"),
    ("expected_hours", "应有数据小时数", "小时"),
    ("availability", "数据完整率", "%"),
    ("running_hours", "运行时长", "小时"),
    ("fault_hours", "故障小时数", "小时"),
    ("stopped_hours", "停运小时数", "小时"),
    ("maintenance_hours", "维护校验小时数", "小时"),
)
MAX_DAYS = {"hour": 31, "day": 366, "week": 732, "month": 1827}  # the longest period of each grain
MAX_CELLS = 200_000  # rows × columns of one report
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REPORT_WINDOW_START = date(2000, 1, 1)


# -- the request --------------------------------------------------------------------------------------------------


class Spec(BaseModel):
    """What a report shows (a template keeps it as it is)."""

    kind: Literal["flow", "quality", "operation"]
    plant_ids: list[RecordId] = Field(default_factory=list, max_length=500)
    district: Text(20) | None = None
    codes: list[Code(POLLUTANT_CODE)] = Field(default_factory=list, max_length=12)
    aggregations: list[Literal["avg", "max", "min", "sum"]] = Field(default_factory=list, max_length=4)
    grain: Literal["hour", "day", "week", "month"] = "day"
    start: Day()
    end: Day()
    total: bool = False  # a 合计 row per bucket over the facilities


class TemplateIn(BaseModel):
    name: Text(100, 1)
    shared: bool = False
    monthly: bool = False
    spec: Spec


class TemplateUpdate(TemplateIn):
    version: Version


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    unit: str
    code: str | None = None
    aggregation: str | None = None


@dataclass(frozen=True)
class Bucket:
    start: datetime  # Beijing time, the grain's start (a week's Monday, a month's 1st): the key of its values
    lo: datetime  # the part of the bucket inside the period
    hi: datetime
    label: str


def _day_start(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=BEIJING)


def _truncate(t: datetime, grain: str) -> datetime:
    t = t.astimezone(BEIJING)
    if grain == "hour":
        return t.replace(minute=0, second=0, microsecond=0)
    day = t.date()
    if grain == "week":
        day -= timedelta(days=day.weekday())
    elif grain == "month":
        day = day.replace(day=1)
    return _day_start(day)


def _next(t: datetime, grain: str) -> datetime:
    if grain == "hour":
        return (t.astimezone(UTC) + timedelta(hours=1)).astimezone(BEIJING)
    if grain == "day":
        return _day_start(t.date() + timedelta(days=1))
    if grain == "week":
        return _day_start(t.date() + timedelta(days=7))
    y, m = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return _day_start(date(y, m, 1))


def _label(t: datetime, grain: str) -> str:
    if grain == "hour":
        return f"{t:%Y-%m-%d %H:00}"
    if grain == "day":
        return f"{t:%Y-%m-%d}"
    if grain == "week":
        y, w, _ = t.isocalendar()
        return f"{y}年第{w}周（{t:%m-%d}起）"
    return f"{t:%Y-%m}"


def buckets(grain: str, start: date, end: date) -> list[Bucket]:
    """The grain's buckets covering ``start`` … ``end`` (Beijing days), each clipped to the period."""
    lo, hi = _day_start(start), _day_start(end + timedelta(days=1))
    out, t = [], _truncate(lo, grain)
    while t < hi:
        n = _next(t, grain)
        out.append(Bucket(t, max(t, lo), min(n, hi), _label(t, grain)))
        t = n
    return out


def check_spec(conn: Connection, spec: Spec) -> tuple[list[dict], list[Column]]:
    """The facilities (those the connection's scope shows) and the columns of a report, or 422 with the reason."""
    if spec.end < spec.start:
        raise Invalid("bad_period", "报表的结束日期不能早于开始日期。", "end")
    if spec.start < REPORT_WINDOW_START:
        raise Invalid("out_of_range", "报表的开始日期不能早于 2000-01-01。", "start")
    days = (spec.end - spec.start).days + 1
    if days > MAX_DAYS[spec.grain]:
        raise Invalid(
            "period_too_long",
            f"按{GRAINS[spec.grain]}汇总的报表期间最长 {MAX_DAYS[spec.grain]} 天，所选期间为 {days} 天。",
            "end",
            {"days": days, "limit": MAX_DAYS[spec.grain]},
        )
    plants = facilities(conn, spec)
    columns = report_columns(conn, spec)
    cells = len(plants) * len(buckets(spec.grain, spec.start, spec.end)) * len(columns)
    if cells > MAX_CELLS:
        raise Invalid(
            "report_too_large",
            f"报表过大（{cells} 个数值，最多 {MAX_CELLS} 个），请减少设施、指标或改用更粗的汇总粒度。",
            "grain",
            {"cells": cells, "limit": MAX_CELLS},
        )
    return plants, columns


def facilities(conn: Connection, spec: Spec) -> list[dict]:
    if spec.plant_ids and spec.district:
        raise Invalid("facilities_or_district", "请选择设施或区县之一，不能同时选择。", "district")
    select = "SELECT id, code, name, district, kind FROM sewage_plants WHERE deleted_at IS NULL"
    if spec.plant_ids:
        rows = conn.execute(sa.text(select + " AND id = ANY(:ids) ORDER BY code"), {"ids": spec.plant_ids}).mappings()
        found = [dict(r) for r in rows]
        missing = sorted(set(spec.plant_ids) - {r["id"] for r in found})
        if missing:
            raise Invalid(
                "unknown_facility",
                f"设施 {', '.join(map(str, missing[:10]))} 不存在或不在您的数据范围内。",
                "plant_ids",
                {"missing": missing},
            )
        return found
    if spec.district:
        if spec.district not in DISTRICT_NAMES:
            raise Invalid("unknown_district", f"区县「{spec.district}」不是杭州市的区县。", "district")
        rows = conn.execute(sa.text(select + " AND district = :d ORDER BY code"), {"d": spec.district}).mappings()
        found = [dict(r) for r in rows]
        if not found:
            raise Invalid("no_facility", f"{spec.district}没有您可以查看的污水处理设施。", "district")
        return found
    raise Invalid("required", "请选择设施或区县。", "plant_ids")


def report_columns(conn: Connection, spec: Spec) -> list[Column]:
    if spec.kind == "operation":
        if spec.codes or spec.aggregations:
            raise Invalid("not_for_operation", "设备运行报表的指标是固定的，不选择监测因子和汇总方式。", "codes")
        return [Column(k, t, u) for k, t, u in OPERATION]
    if spec.kind == "flow":
        if spec.codes not in ([], [FLOW]):
            raise Invalid("not_for_flow", "水量报表只有污水流量一项指标；水质指标请用水质报表。", "codes")
        codes = [FLOW]
    else:
        if not spec.codes:
            raise Invalid("required", "请选择至少一项水质指标。", "codes")
        if FLOW in spec.codes:
            raise Invalid("not_for_quality", "污水流量请用水量报表。", "codes")
        codes = list(dict.fromkeys(spec.codes))
        if len(codes) != len(spec.codes):
            raise Invalid("duplicate", "水质指标重复选择。", "codes")
    if not spec.aggregations:
        raise Invalid("required", "请选择至少一种汇总方式（平均值、最大值、最小值、累计值）。", "aggregations")
    if len(set(spec.aggregations)) != len(spec.aggregations):
        raise Invalid("duplicate", "汇总方式重复选择。", "aggregations")
    known = {
        r.code: r
        for r in conn.execute(
            sa.text("SELECT code, name, unit, cou_unit FROM sewage_codes WHERE code = ANY(:c)"), {"c": codes}
        )
    }
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise Invalid("unknown_code", f"监测因子编码 {', '.join(unknown)} 不在本平台的因子表中。", "codes")
    out = []
    for c in codes:
        row = known[c]
        for agg in spec.aggregations:
            if agg == "sum" and row.cou_unit is None:
                raise Invalid(
                    "no_sum",
                    f"{row.name}没有累计值（只有流量和污染物浓度可以累计为水量、排放量），请不要对它选择「累计值」。",
                    "aggregations",
                    {"code": c},
                )
            title = f"{row.name}{'累计量' if agg == 'sum' and c == FLOW else '排放量' if agg == 'sum' else AGGREGATIONS[agg]}"
            unit = row.cou_unit if agg == "sum" else row.unit
            out.append(Column(f"{c}.{agg}", title, unit, c, agg))
    return out


# -- the values ---------------------------------------------------------------------------------------------------

# The statements are text: grouped reads of the roll-ups with date_trunc in Beijing time read more plainly in SQL.
# Each gives the bucket as epoch seconds (the key Python matches its buckets with) and values rounded to 4 places.
BUCKET = "extract(epoch FROM date_trunc(:unit, {t}, 'Asia/Shanghai'))::bigint"
STATS_SQL = """
SELECT m.plant_id, c.code, {bucket} AS b, sum(r.n) AS n, sum(r.total) AS total,
       round((sum(r.total) / nullif(sum(r.n), 0))::numeric, 4)::float8 AS avg,
       round(min(r.low)::numeric, 4)::float8 AS low, round(max(r.high)::numeric, 4)::float8 AS high
FROM sewage_{grain} r JOIN sewage_monitors m ON m.id = r.monitor_id JOIN sewage_codes c ON c.id = r.code_id
WHERE m.plant_id = ANY(:plants) AND c.code = ANY(:codes) AND r.bucket >= :lo AND r.bucket < :hi
GROUP BY 1, 2, 3
"""
# Volume (m³) and loads (kg) of each hour (hour grain: the hour's average flow in L/s × 3.6) or day (the day's
# average × 86.4: a day's volume is its average flow over 24 hours, gaps counting as the day's average), added up
# per bucket; a load is the period's average concentration (mg/L) × that period's volume / 1,000.
SUM_SQL = """
WITH v AS (
    SELECT m.plant_id, c.code, r.bucket, sum(r.total) / sum(r.n) AS avg
    FROM sewage_{grain} r JOIN sewage_monitors m ON m.id = r.monitor_id JOIN sewage_codes c ON c.id = r.code_id
    WHERE m.plant_id = ANY(:plants) AND (c.code = ANY(:codes) OR c.code = 'w00000')
      AND r.bucket >= :lo AND r.bucket < :hi
    GROUP BY 1, 2, 3
), x AS (
    SELECT plant_id, code, bucket, avg,
           max(avg) FILTER (WHERE code = 'w00000') OVER (PARTITION BY plant_id, bucket) * {seconds} / 1000 AS m3
    FROM v
)
SELECT plant_id, code, {bucket} AS b,
       round(sum(CASE WHEN code = 'w00000' THEN m3 ELSE avg * m3 / 1000 END)::numeric, 4)::float8 AS total
FROM x
WHERE code = ANY(:codes) AND m3 IS NOT NULL
GROUP BY 1, 2, 3
"""
# Hours with data and running hours: one row per facility and hour first (hashed), then per bucket.
HOURS_SQL = f"""
WITH h AS (
    SELECT m.plant_id, r.bucket,
           bool_or(r.code_id = (SELECT id FROM sewage_codes WHERE code = 'w00000') AND r.total > 0) AS running
    FROM sewage_hourly r JOIN sewage_monitors m ON m.id = r.monitor_id
    WHERE m.plant_id = ANY(:plants) AND r.bucket >= :lo AND r.bucket < :hi
    GROUP BY 1, 2
)
SELECT plant_id, {BUCKET.format(t="bucket")} AS b, count(*) AS data_hours,
       count(*) FILTER (WHERE running) AS running_hours
FROM h GROUP BY 1, 2
"""
# Real-time and minute values received (every parameter).
READINGS_SQL = """
SELECT m.plant_id, {bucket} AS b, sum(r.n) AS readings
FROM sewage_{grain} r JOIN sewage_monitors m ON m.id = r.monitor_id
WHERE m.plant_id = ANY(:plants) AND r.bucket >= :lo AND r.bucket < :hi
GROUP BY 1, 2
"""
# Through the partial index sewage_readings_flagged (its predicate repeated word for word).
FLAGGED_SQL = f"""
SELECT m.plant_id, {BUCKET.format(t="r.data_time")} AS b,
       CASE r.flag WHEN 'D' THEN 'fault_hours' WHEN 'F' THEN 'stopped_hours' ELSE 'maintenance_hours' END AS k,
       count(DISTINCT date_trunc('hour', r.data_time)) AS hours
FROM sewage_monitors m JOIN sewage_readings r ON r.monitor_id = m.id
WHERE m.plant_id = ANY(:plants) AND r.flag IN ('D', 'F', 'M', 'C') AND r.data_time >= :lo AND r.data_time < :hi
GROUP BY 1, 2, 3
"""


def stats_sql(grain: str) -> str:
    table = "hourly" if grain == "hour" else "daily"
    return STATS_SQL.format(grain=table, bucket=BUCKET.format(t="r.bucket"))


def readings_sql(grain: str) -> str:
    table = "hourly" if grain == "hour" else "daily"
    return READINGS_SQL.format(grain=table, bucket=BUCKET.format(t="r.bucket"))


def sum_sql(grain: str) -> str:
    table, seconds = ("hourly", 3600) if grain == "hour" else ("daily", 86400)
    return SUM_SQL.format(grain=table, seconds=seconds, bucket=BUCKET.format(t="bucket"))


def _epoch(t: datetime) -> int:
    return int(t.timestamp())


def compute(conn: Connection, spec: Spec, now: datetime | None = None) -> dict:
    """The report: its facilities, columns and one row per facility and bucket (every bucket of the period, null
    where there are no values), as JSON-ready dicts."""
    plants, columns = check_spec(conn, spec)
    now = now or datetime.now(UTC)
    bks = buckets(spec.grain, spec.start, spec.end)
    args = {"plants": [p["id"] for p in plants], "unit": spec.grain, "lo": bks[0].lo, "hi": bks[-1].hi}
    values: dict[tuple[int, int], dict[str, Any]] = {}
    counts: dict[tuple[int, int], dict[str, tuple[int, float]]] = {}  # (n, sum) of the averages, for totals
    if spec.kind == "operation":
        for plant_id, b, data_hours, running in conn.execute(sa.text(HOURS_SQL), args):
            values[(plant_id, b)] = {"data_hours": data_hours, "running_hours": running}
        for plant_id, b, k, hours in conn.execute(sa.text(FLAGGED_SQL), args):
            values.setdefault((plant_id, b), {})[k] = hours
        for plant_id, b, n in conn.execute(sa.text(readings_sql(spec.grain)), args):
            values.setdefault((plant_id, b), {})["readings"] = n
    else:
        codes = sorted({c.code for c in columns if c.code})
        if any(c.aggregation in ("avg", "max", "min") for c in columns):
            for plant_id, code, b, n, total, avg, low, high in conn.execute(
                sa.text(stats_sql(spec.grain)), {**args, "codes": codes}
            ):
                cell = values.setdefault((plant_id, b), {})
                cell[code + ".avg"], cell[code + ".max"], cell[code + ".min"] = avg, high, low
                if spec.total:
                    counts.setdefault((plant_id, b), {})[code] = (n, total)
        if any(c.aggregation == "sum" for c in columns):
            for plant_id, code, b, total in conn.execute(sa.text(sum_sql(spec.grain)), {**args, "codes": codes}):
                values.setdefault((plant_id, b), {})[code + ".sum"] = total
    keys = [c.key for c in columns]
    rows = []
    for p in plants:
        for b in bks:
            got = values.get((p["id"], _epoch(b.start)), {})
            if spec.kind == "operation":
                expected = max(0, int((min(b.hi, now) - b.lo).total_seconds() // 3600))
                got = {**{k: got.get(k, 0) for k, _, _ in OPERATION}, "expected_hours": expected}
                got["availability"] = _share(got["data_hours"], expected)
            rows.append(_row(p["id"], p["code"], p["name"], p["district"], b, {k: got.get(k) for k in keys}))
    if spec.total:
        districts = sorted({p["district"] for p in plants}, key=DISTRICT_NAMES.index)
        name = f"{spec.district}合计" if spec.district else "所选设施合计"
        for b in bks:
            of_bucket = [r["values"] for r in rows if r["bucket"] == b.start.isoformat()]
            n = [counts.get((p["id"], _epoch(b.start)), {}) for p in plants]
            totals = {k: _round(v) for k, v in _totals(columns, of_bucket, n).items()}
            rows.append(_row(None, "合计", name, "、".join(districts), b, totals))
    return {
        "kind": spec.kind,
        "title": KINDS[spec.kind],
        "grain": spec.grain,
        "grain_title": GRAINS[spec.grain],
        "start": spec.start.isoformat(),
        "end": spec.end.isoformat(),
        "facilities": [{k: p[k] for k in ("id", "code", "name", "district", "kind")} for p in plants],
        "columns": [c.__dict__ for c in columns],
        "rows": rows,
        "notes": notes(spec, columns),
    }


def notes(spec: Spec, columns: list[Column]) -> list[str]:
    """How the report's values are worked out, in the clerk's words (the page and the workbook show them)."""
    out = ["数据来源：在线监测实时数据和分钟数据的小时、日汇总（北京时间）。"]
    if spec.kind == "operation":
        out += [
            "收到数据条数：实时数据和分钟数据的条数（各监测因子合计）。",
            "有数据小时数：该小时内收到任一监测数据；应有数据小时数：报表期间（截至当前）的小时数。",
            "数据完整率 = 有数据小时数 ÷ 应有数据小时数；运行时长：小时平均流量大于 0 的小时数。",
            "故障、停运、维护校验小时数：该小时内有标记为 D、F、M/C 的监测数据。",
        ]
        return out
    if any(c.aggregation == "avg" for c in columns):
        out.append("平均值：期间内全部监测值的算术平均。")
    if any(c.aggregation == "sum" for c in columns):
        if spec.grain == "hour":
            out.append(
                "累计水量 = 小时平均流量(L/s) × 3600 秒 ÷ 1000；排放量 = 小时平均浓度(mg/L) × 小时水量 ÷ 1000（kg）。"
            )
        else:
            out.append(
                "累计水量：每日按日均流量(L/s) × 86400 秒 ÷ 1000 计（缺测时段按当日均值计），再按期间累加；"
                "排放量 = 日均浓度(mg/L) × 日水量 ÷ 1000（kg），按期间累加。"
            )
    return out


def _row(plant_id: int | None, code: str, name: str, district: str, b: Bucket, values: dict) -> dict:
    return {
        "plant_id": plant_id,
        "plant_code": code,
        "plant_name": name,
        "district": district,
        "bucket": b.start.isoformat(),
        "label": b.label,
        "values": values,
    }


def _share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def _totals(columns: list[Column], rows: list[dict], counts: list[dict[str, tuple[int, float]]]) -> dict:
    """One bucket's values over the facilities: averages weighted by the number of values, the highest maximum,
    the lowest minimum, the sums and hours added up (availability: hours with data / expected hours)."""
    out: dict[str, Any] = {}
    for c in columns:
        got = [r[c.key] for r in rows if r[c.key] is not None]
        if c.aggregation == "avg":
            pairs = [x[c.code] for x in counts if c.code in x]
            n = sum(p[0] for p in pairs)
            out[c.key] = sum(p[1] for p in pairs) / n if n else None
        elif c.aggregation == "max":
            out[c.key] = max(got, default=None)
        elif c.aggregation == "min":
            out[c.key] = min(got, default=None)
        elif c.key != "availability":
            out[c.key] = sum(got) if got else None
    if any(c.key == "availability" for c in columns):
        out["availability"] = _share(out["data_hours"] or 0, out["expected_hours"] or 0)
    return out


def _round(v: Any) -> Any:
    return round(v, 4) if isinstance(v, float) else v


# -- Excel --------------------------------------------------------------------------------------------------------


def workbook(report: dict, title: str) -> bytes:
    """The report as an .xlsx: a title, what it covers, then the table (frozen header)."""
    wb = Workbook()
    ws = wb.active
    ws.title = KINDS[report["kind"]]
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=14)
    scope = "、".join(f"{f['name']}（{f['code']}）" for f in report["facilities"][:20])
    if len(report["facilities"]) > 20:
        scope += f" 等 {len(report['facilities'])} 个设施"
    ws.append([f"期间：{report['start']} 至 {report['end']}（北京时间），按{report['grain_title']}汇总"])
    ws.append([f"设施：{scope}"])
    ws.append([])
    header = ["设施编号", "设施名称", "所属区县", "时间"] + [
        f"{c['title']}({c['unit']})" if c["unit"] else c["title"] for c in report["columns"]
    ]
    ws.append(header)
    for cell in ws[5]:
        cell.font = Font(bold=True)
    for r in report["rows"]:
        ws.append(
            [r["plant_code"], r["plant_name"], r["district"], r["label"]]
            + [r["values"][c["key"]] for c in report["columns"]]
        )
    ws.append([])
    for note in report.get("notes", []):
        ws.append([note])
    ws.freeze_panes = "E6"
    for col, width in zip("ABCD", (16, 28, 10, 22), strict=True):
        ws.column_dimensions[col].width = width
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _download(data: bytes, filename: str) -> Response:
    return Response(
        data, media_type=XLSX, headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"}
    )


# -- templates and monthly files ----------------------------------------------------------------------------------

TEMPLATE_COLUMNS = "id, name, kind, spec, owner_id, owner, district, shared, monthly, version, created_at, updated_at"


def _template_out(row: Any, who: Principal | None = None) -> dict:
    out = dict(row)
    out["kind_title"] = KINDS[out["kind"]]
    out["created_at"] = out["created_at"].isoformat()
    out["updated_at"] = out["updated_at"].isoformat()
    if who is not None:
        out["mine"] = out["owner_id"] == who.user_id
    return out


def template(conn: Connection, who: Principal, template_id: int, mine: bool = False, lock: bool = False) -> dict:
    """A template the principal may see (their own or a shared one in their scope); ``mine``: their own only."""
    sql = f"SELECT {TEMPLATE_COLUMNS} FROM sewage_report_templates WHERE id = :i"
    row = conn.execute(sa.text(sql + (" FOR UPDATE" if lock else "")), {"i": template_id}).mappings().first()
    if row is None or (row["owner_id"] != who.user_id and not row["shared"]):
        raise NotFound("not_found", "报表模板不存在或无权查看。", "template_id")
    if mine and row["owner_id"] != who.user_id:
        raise Forbidden("not_owner", "只能修改、删除或生成自己保存的报表模板。", "template_id")
    return _template_out(row, who)


def _owner_district(who: Principal) -> str | None:
    if who.scope.all:
        return None
    if who.district and who.scope.districts == (who.district,):
        return who.district
    raise Forbidden("no_district", "您的账号没有所属区县，不能保存报表模板。", None)


def save_template(conn: Connection, who: Principal, body: TemplateIn, template_id: int | None = None) -> dict:
    check_spec(conn, body.spec)  # facilities in the owner's scope, parameters, period: as a preview would
    values = {
        "name": body.name,
        "kind": body.spec.kind,
        "spec": body.spec.model_dump_json(),
        "shared": body.shared,
        "monthly": body.monthly,
    }
    if template_id is None:
        row = (
            conn.execute(
                sa.text(
                    "INSERT INTO sewage_report_templates (name, kind, spec, owner_id, owner, district, shared, monthly) "
                    "VALUES (:name, :kind, CAST(:spec AS jsonb), :owner_id, :owner, :district, :shared, :monthly) "
                    f"RETURNING {TEMPLATE_COLUMNS}"
                ),
                {**values, "owner_id": who.user_id, "owner": who.user, "district": _owner_district(who)},
            )
            .mappings()
            .one()
        )
        before = None
    else:
        assert isinstance(body, TemplateUpdate)
        before = template(conn, who, template_id, mine=True, lock=True)
        if before["version"] != body.version:
            raise StaleVersion(before["version"], body.version, "报表模板")
        row = (
            conn.execute(
                sa.text(
                    "UPDATE sewage_report_templates SET name = :name, kind = :kind, spec = CAST(:spec AS jsonb), "
                    "shared = :shared, monthly = :monthly, version = version + 1, updated_at = now() "
                    f"WHERE id = :id RETURNING {TEMPLATE_COLUMNS}"
                ),
                {**values, "id": template_id},
            )
            .mappings()
            .one()
        )
    out = _template_out(row, who)
    audit.record(
        conn, who.user, "sewage_report_template_save", "sewage_report_templates", out["id"],
        _audit_view(before), _audit_view(out), who.client, user_id=who.user_id,
    )  # fmt: skip
    return out


def _audit_view(t: dict | None) -> dict | None:
    if t is None:
        return None
    return {k: t[k] for k in ("name", "kind", "spec", "shared", "monthly", "version")}


def previous_month(now: datetime) -> date:
    first = now.astimezone(BEIJING).date().replace(day=1)
    return (first - timedelta(days=1)).replace(day=1)


def month_spec(spec: dict, month: date) -> Spec:
    """The template's choice over one Beijing month (the monthly files' period)."""
    y, m = (month.year + 1, 1) if month.month == 12 else (month.year, month.month + 1)
    return Spec.model_validate({**spec, "start": month, "end": date(y, m, 1) - timedelta(days=1)})


def generate(
    conn: Connection,
    tpl: dict,
    month: date,
    actor: str,
    now: datetime | None = None,
    owner_scope: scopes.Scope | None = None,
) -> dict:
    """The template's workbook of ``month``, kept as its file; a file already kept for that month is replaced (the
    month's data may have come late). Computed in ``owner_scope`` when given (the file is then written as the
    system: the monthly job), else in the scope ``conn`` states (the owner asking)."""
    spec = month_spec(tpl["spec"], month)
    if owner_scope is not None:
        scopes.apply(conn, owner_scope)
    try:
        report = compute(conn, spec, now)
    finally:
        if owner_scope is not None:
            scopes.apply(conn, scopes.SYSTEM)
    title = f"{tpl['name']}（{month:%Y年%m月}）"
    data = workbook(report, title)
    filename = f"{tpl['name']}-{month:%Y%m}.xlsx"
    row = (
        conn.execute(
            sa.text(
                "INSERT INTO sewage_report_files "
                "(template_id, district, month, filename, content, size_bytes, sha256, rows, created_by) "
                "VALUES (:t, :d, :m, :f, :c, :s, :h, :r, :by) "
                "ON CONFLICT (template_id, month) DO UPDATE SET filename = excluded.filename, content = excluded.content, "
                "size_bytes = excluded.size_bytes, sha256 = excluded.sha256, rows = excluded.rows, "
                "created_at = now(), created_by = excluded.created_by "
                "RETURNING id, month, filename, size_bytes, rows, created_at, created_by"
            ),
            {
                "t": tpl["id"],
                "d": tpl["district"],
                "m": month,
                "f": filename,
                "c": data,
                "s": len(data),
                "h": hashlib.sha256(data).hexdigest(),
                "r": len(report["rows"]),
                "by": actor,
            },
        )
        .mappings()
        .one()
    )
    out = _file_out(row)
    audit.record(
        conn, actor, "sewage_report_generate", "sewage_report_files", out["id"], None,
        {"template_id": tpl["id"], "month": out["month"], "rows": out["rows"], "size": out["size_bytes"]},
    )  # fmt: skip
    return out


def _file_out(row: Any) -> dict:
    out = dict(row)
    out["month"] = out["month"].isoformat()[:7]
    out["created_at"] = out["created_at"].isoformat()
    return out


@job(cron="30 1 1 * *", title="每月生成污水定期报表", retry=2)
def generate_monthly_reports(conn: Connection, now: datetime) -> dict:
    """Every monthly template's workbook of the previous Beijing month, computed in its owner's current scope (an
    owner gone or without ``sewage.view`` gets nothing; one template's failure does not stop the others)."""
    month = previous_month(now)
    made, skipped = [], {}
    templates = conn.execute(
        sa.text(f"SELECT {TEMPLATE_COLUMNS} FROM sewage_report_templates WHERE monthly ORDER BY id")
    ).mappings()
    for tpl in [dict(t) for t in templates]:
        owner = load_user(conn, tpl["owner_id"])
        if owner is None or not owner.can("sewage.view"):
            skipped[tpl["id"]] = "owner_cannot_view"
            continue
        savepoint = conn.begin_nested()
        try:
            made.append(generate(conn, tpl, month, "system", now, owner.scope)["id"])
            savepoint.commit()
        except (Invalid, NotFound, Forbidden) as e:
            savepoint.rollback()
            skipped[tpl["id"]] = e.code
    return {"month": month.isoformat()[:7], "files": made, "skipped": skipped}


# -- HTTP ---------------------------------------------------------------------------------------------------------

router = APIRouter(tags=["sewage"])
API = "/api/sewage/reports"


def _can_view(who: Principal) -> None:
    who.require("sewage.view", "查看污水报表")


@router.get(API + "/options")
def report_options(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    """What a report may be made of: kinds, aggregations, grains, the parameters, and the facilities in scope."""
    _can_view(who)
    codes = conn.execute(sa.text("SELECT code, name, unit, cou_unit FROM sewage_codes ORDER BY id")).mappings()
    plants = conn.execute(
        sa.text("SELECT id, code, name, district FROM sewage_plants WHERE deleted_at IS NULL ORDER BY district, code")
    ).mappings()
    plants = [dict(p) for p in plants]
    return {
        "kinds": KINDS,
        "aggregations": AGGREGATIONS,
        "grains": GRAINS,
        "max_days": MAX_DAYS,
        "codes": [dict(c) for c in codes],
        "facilities": plants,
        "districts": sorted({p["district"] for p in plants}, key=DISTRICT_NAMES.index),
        "can_save": who.can("sewage.report"),
        "can_export": who.can("sewage.export"),
    }


@router.post(API + "/preview")
def preview(spec: Spec, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")):
    _can_view(who)
    return compute(conn, spec)


@router.post(API + "/export")
def export(spec: Spec, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")):
    who.require("sewage.export", "导出污水报表")
    report = compute(conn, spec)
    audit.record(
        conn, who.user, "export", "sewage_reports", None, None,
        {"kind": spec.kind, "grain": spec.grain, "start": report["start"], "end": report["end"],
         "facilities": len(report["facilities"]), "rows": len(report["rows"]), "format": "xlsx"},
        who.client, user_id=who.user_id,
    )  # fmt: skip
    title = f"{KINDS[spec.kind]}（{report['start']} 至 {report['end']}）"
    return _download(workbook(report, title), f"{KINDS[spec.kind]}-{spec.start:%Y%m%d}-{spec.end:%Y%m%d}.xlsx")


@router.get(API + "/templates")
def list_templates(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    """The principal's own templates and the shared ones in their scope, with how many files each has kept."""
    _can_view(who)
    rows = conn.execute(
        sa.text(
            f"SELECT {', '.join('t.' + c for c in TEMPLATE_COLUMNS.split(', '))}, "
            "(SELECT count(*) FROM sewage_report_files f WHERE f.template_id = t.id) AS files "
            "FROM sewage_report_templates t WHERE t.owner_id = :u OR t.shared ORDER BY t.name, t.id"
        ),
        {"u": who.user_id or -1},
    ).mappings()
    return {"items": [_template_out(r, who) for r in rows]}


@router.post(API + "/templates", status_code=201)
def create_template(
    body: TemplateIn, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> dict:
    who.require("sewage.report", "保存污水报表模板")
    return save_template(conn, who, body)


@router.put(API + "/templates/{template_id}")
def update_template(
    template_id: int,
    body: TemplateUpdate,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require("sewage.report", "修改污水报表模板")
    return save_template(conn, who, body, template_id)


@router.delete(API + "/templates/{template_id}", status_code=204)
def delete_template(
    template_id: int,
    version: Annotated[int, Query(ge=0, le=2**31 - 1)],
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> Response:
    who.require("sewage.report", "删除污水报表模板")
    before = template(conn, who, template_id, mine=True, lock=True)
    if before["version"] != version:
        raise StaleVersion(before["version"], version, "报表模板")
    conn.execute(sa.text("DELETE FROM sewage_report_templates WHERE id = :i"), {"i": template_id})
    audit.record(
        conn, who.user, "sewage_report_template_delete", "sewage_report_templates", template_id,
        _audit_view(before), None, who.client, user_id=who.user_id,
    )  # fmt: skip
    return Response(status_code=204)


@router.get(API + "/templates/{template_id}/files")
def list_files(
    template_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    _can_view(who)
    tpl = template(conn, who, template_id)
    rows = conn.execute(
        sa.text(
            "SELECT id, month, filename, size_bytes, rows, created_at, created_by FROM sewage_report_files "
            "WHERE template_id = :t ORDER BY month DESC"
        ),
        {"t": template_id},
    ).mappings()
    return {"template": tpl, "items": [_file_out(r) for r in rows]}


@router.post(API + "/templates/{template_id}/files", status_code=201)
def generate_now(
    template_id: int,
    month: Annotated[str, Query(max_length=7, pattern=r"^\d{4}-(0[1-9]|1[0-2])$")],
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    """Generate (again) the template's file of one month now, in the owner's scope (the caller is the owner)."""
    who.require("sewage.report", "生成污水定期报表")
    tpl = template(conn, who, template_id, mine=True)
    first = date.fromisoformat(month + "-01")
    if MONTH.refuse(month) is not None or first < REPORT_WINDOW_START:
        raise Invalid("out_of_range", f"月份 {month} 不在可生成的范围内（2000-01 起）。", "month")
    if first > datetime.now(BEIJING).date():
        raise Invalid("future_month", f"{month} 尚未开始，不能生成该月报表。", "month")
    return generate(conn, tpl, first, who.user)


@router.get(API + "/files/{file_id}")
def download_file(
    file_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> Response:
    _can_view(who)
    row = conn.execute(
        sa.text("SELECT template_id, filename, content FROM sewage_report_files WHERE id = :i"), {"i": file_id}
    ).first()
    if row is None:
        raise NotFound("not_found", "报表文件不存在或无权查看。", "file_id")
    template(conn, who, row.template_id)  # the template is the principal's or shared
    return _download(bytes(row.content), row.filename)


@router.get("/sewage/reports", include_in_schema=False)
def reports_page(request: Request) -> Response:
    from layers.sewage.pages import PAGES_DIR

    return file_response(request, PAGES_DIR / "reports.html", APP_CACHE)
