"""Summaries of the greenway reports by district and year (VT-16): planned against completed kilometres, funds
allocated against spent, and the reports on time, late and missing; the same table as an Excel workbook (logged).

The kilometres and funds count **accepted** reports only (what the city has taken in). A reported report (submitted
or accepted) is *on time* when submitted by its due date, *late* when submitted after it; a report is *missing* when
its due date has passed and it is not reported (none, a draft, or one returned and not submitted again). Expected
reports of a year: the plan once its due date has passed, and the progress and fund reports of every month whose due
date has passed (``/missing`` lists them). Row-level security limits the rows to the principal's districts.
"""

from __future__ import annotations

import io
from datetime import date
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Response
from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, db_write
from geo import audit
from geo.divisions import DISTRICT_NAMES
from layers.greenways.reports import KINDS, REPORTS, STATES, due_on, period_text, today
from layers.greenways.tables import PREFIX

router = APIRouter(prefix=PREFIX, tags=["绿道建设"])
REPORTED = ("submitted", "accepted")  # a draft or a returned report is not (or no longer) reported

# A string: the report lines are JSON array elements, summed per district in one statement.
FIGURES = sa.text("""
    SELECT r.district,
           coalesce(sum((x->>'planned_length_m')::float8) FILTER (WHERE r.kind = 'plan'), 0) / 1000 AS planned_km,
           coalesce(sum((x->>'budget_wan')::float8) FILTER (WHERE r.kind = 'plan'), 0) AS budget_wan,
           coalesce(sum((x->>'completed_m')::float8) FILTER (WHERE r.kind = 'progress'), 0) / 1000 AS completed_km,
           coalesce(sum((x->>'allocated_wan')::float8) FILTER (WHERE r.kind = 'funds'), 0) AS allocated_wan,
           coalesce(sum((x->>'spent_wan')::float8) FILTER (WHERE r.kind = 'funds'), 0) AS spent_wan
      FROM gw_reports r CROSS JOIN LATERAL jsonb_array_elements(r.items) x
     WHERE r.year = :year AND r.status = 'accepted'
     GROUP BY r.district
""")

COLUMNS = (
    ("district", "区县"),
    ("planned_km", "计划长度(公里)"),
    ("completed_km", "完成长度(公里)"),
    ("completion", "完成率(%)"),
    ("budget_wan", "计划投资(万元)"),
    ("allocated_wan", "到位资金(万元)"),
    ("spent_wan", "使用资金(万元)"),
    ("expected", "应报报表数"),
    ("on_time", "按时报送"),
    ("late", "逾期报送"),
    ("missing", "逾期未报"),
    ("pending", "待审核"),
)


def expected_periods(year: int, on: date) -> list[tuple[str, int | None]]:
    """The (kind, month) of every report of ``year`` whose due date has passed on ``on``."""
    out: list[tuple[str, int | None]] = [("plan", None)] if due_on("plan", year, None) < on else []
    for m in range(1, 13):
        if due_on("progress", year, m) < on:
            out += [("progress", m), ("funds", m)]
    return out


def districts_of(who: Principal) -> tuple[str, ...]:
    return (who.district,) if who.district else DISTRICT_NAMES


def summary(conn: Connection, who: Principal, year: int, on: date | None = None) -> dict:
    on = on or today()
    figures = {r["district"]: dict(r) for r in conn.execute(FIGURES, {"year": year}).mappings()}
    r = REPORTS.sa_table
    reports = conn.execute(
        sa.select(r.c.district, r.c.kind, r.c.month, r.c.status, r.c.late, r.c.submitted_at).where(r.c.year == year)
    ).mappings()
    by_key = {(x["district"], x["kind"], x["month"]): x for x in reports}
    periods = expected_periods(year, on)
    rows = []
    for d in districts_of(who):
        f = figures.get(d, {})
        mine = [x for (dd, _, _), x in by_key.items() if dd == d]
        submitted = [x for x in mine if x["status"] in REPORTED]
        missing = sum(1 for k, m in periods if (by_key.get((d, k, m)) or {}).get("status") not in REPORTED)
        planned, completed = f.get("planned_km", 0.0), f.get("completed_km", 0.0)
        rows.append(
            {
                "district": d,
                "planned_km": round(planned, 4),
                "completed_km": round(completed, 4),
                "completion": round(100 * completed / planned, 1) if planned else None,
                "budget_wan": round(f.get("budget_wan", 0.0), 2),
                "allocated_wan": round(f.get("allocated_wan", 0.0), 2),
                "spent_wan": round(f.get("spent_wan", 0.0), 2),
                "expected": len(periods),
                "on_time": sum(1 for x in submitted if not x["late"]),
                "late": sum(1 for x in submitted if x["late"]),
                "missing": missing,
                "pending": sum(1 for x in mine if x["status"] == "submitted"),
            }
        )
    keys = [k for k, _ in COLUMNS if k not in ("district", "completion")]
    total = {k: round(sum(row[k] for row in rows), 4) for k in keys}
    total["completion"] = round(100 * total["completed_km"] / total["planned_km"], 1) if total["planned_km"] else None
    return {"year": year, "as_of": on.isoformat(), "columns": [list(c) for c in COLUMNS], "rows": rows, "total": total}


def missing(conn: Connection, who: Principal, year: int, on: date | None = None) -> list[dict]:
    """The reports of ``year`` past their due date and not submitted: no report at all, a draft, or one returned
    and not submitted again — by district, kind and period."""
    on = on or today()
    r = REPORTS.sa_table
    rows = conn.execute(
        sa.select(r.c.id, r.c.district, r.c.kind, r.c.month, r.c.status).where(r.c.year == year)
    ).mappings()
    by_key = {(x["district"], x["kind"], x["month"]): x for x in rows}
    out = []
    for d in districts_of(who):
        for kind, month in expected_periods(year, on):
            x = by_key.get((d, kind, month))
            if x is not None and x["status"] in REPORTED:
                continue
            out.append(
                {
                    "district": d,
                    "kind": kind,
                    "kind_title": KINDS[kind],
                    "period": period_text(kind, year, month),
                    "due_on": due_on(kind, year, month).isoformat(),
                    "report_id": x["id"] if x else None,
                    "status_title": STATES[x["status"]] if x else "未填报",
                }
            )
    return out


YEAR = Query(None, ge=2000, le=2100, title="年度", description="默认本年")


@router.get("/summary", summary="绿道建设汇总：按区县（计划与完成公里数、资金到位与使用、按时报送）")
def get_summary(
    year: int | None = YEAR,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require(REPORTS.view, "查看绿道建设汇总")
    return summary(conn, who, year or today().year)


@router.get("/missing", summary="逾期未报的绿道建设报表（已过截止日期仍未提交）")
def get_missing(
    year: int | None = YEAR,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require(REPORTS.view, "查看逾期未报的报表")
    items = missing(conn, who, year or today().year)
    return {"total": len(items), "items": items}


@router.get("/summary.xlsx", summary="导出绿道建设汇总（Excel）")
def export_summary(
    year: int | None = YEAR,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> Response:
    who.require(REPORTS.export_permission, "导出绿道建设汇总")
    data = summary(conn, who, year or today().year)
    audit.record(
        conn, who.user, "export", "gw_summary", None, None,
        {"year": data["year"], "rows": len(data["rows"]), "format": "xlsx"}, who.client, user_id=who.user_id,
    )  # fmt: skip
    wb = Workbook()
    ws = wb.active
    ws.title = f"{data['year']}年绿道建设汇总"
    ws.append([label for _, label in COLUMNS])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in [*data["rows"], {**data["total"], "district": "合计"}]:
        ws.append([row.get(k) for k, _ in COLUMNS])
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    name = quote(f"{data['year']}年绿道建设汇总.xlsx")
    return Response(
        buf.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"},
    )
