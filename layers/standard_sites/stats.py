"""Statistics of the standardized-site module (ST-24) and the site pin's status on the map (ST-19).

``GET /api/st/stats?from=YYYY-MM&to=YYYY-MM&district=``: monthly reports by district × month × status with the late
ones, per district and month the registered sites, submitted, late and missing reports, bonus and deduction
totals, evaluation applications and stage evaluations — each principal counts only what its scope holds (row-level
security). ``GET /api/st/stats.xlsx`` is the same as an Excel workbook with Chinese headers.

The map (ST-19) colours a site by its ``status``: 在建 (reporting), 逾期未报 (last month's report not submitted after
the due day), 考评中 (evaluation applied for), 已获评 (awarded). ``refresh_site_status`` derives it (and the pin's
``latest_report``, e.g. "2026-10 已接收") from the records; ``refresh_all`` does every registered site (a daily job,
or ``POST /api/st/site-status/refresh``).
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Response
from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit, cases, workflow
from layers.standard_sites import common
from layers.standard_sites import tables as t
from layers.standard_sites.common import PREFIX
from layers.standard_sites.stages import STAGES

router = APIRouter(prefix=PREFIX, tags=["标化工地"])

# -- the site pin's status (ST-19) -------------------------------------------------------------------------------

REPORTING, LATE, IN_EVALUATION, AWARDED, COMPLETED = "在建", "逾期未报", "考评中", "已获评", "竣工验收"
EVALUATING = ("submitted", "supervision_approved", "returned", "recommended", "in_review", "reviewed")


def states(kind: str) -> dict[str, str]:
    """A case type's state titles, from its declaration (geo.cases): the statistics import no case module."""
    case = cases.get(kind)
    return case.states if case else {}


def short_state(status: str) -> str:
    """The latest report's state as the pin's popup shows it."""
    return "已接收" if status == "received" else states("st_report").get(status, status)


def previous_month(today: date) -> date:
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def refresh_site_status(
    conn: Connection, site_id: int, today: date | None = None, actor: str = "system"
) -> dict | None:
    """Set the site's status and latest report from its records; returns them (None: no such site in scope).

    An awarded evaluation makes the site 已获评, a pending one 考评中, a declined one 竣工验收. Otherwise a registered
    site that is 在建 or 逾期未报 is 逾期未报 when last month's report was not submitted by the due day (months
    before its registration are not asked for), else 在建. Other statuses (停工, 竣工验收 set by hand) stay.
    """
    today = today or common.today_beijing()
    last = previous_month(today)
    s, g, e, r = t.sites(), t.registrations, t.evaluations, t.reports
    # One statement (it runs on every report's and application's transition): the site (locked), its registration
    # day, its application's state, its latest report, and whether last month's report was submitted.
    newest = (
        sa.select(r.c.month, r.c.status, r.c.late)
        .where(r.c.site_id == s.c.id)
        .order_by(r.c.month.desc())
        .limit(1)
        .lateral("newest")
    )
    site = (
        conn.execute(
            sa.select(
                s.c.id,
                s.c.status,
                s.c.latest_report,
                common.beijing_date(g.c.created_at).label("registered_on"),
                sa.select(e.c.status).where(e.c.site_id == s.c.id).limit(1).scalar_subquery().label("evaluation"),
                newest.c.month.label("report_month"),
                newest.c.status.label("report_status"),
                newest.c.late.label("report_late"),
                sa.exists()
                .where(r.c.site_id == s.c.id, r.c.month == last, r.c.submitted_at.is_not(None))
                .label("submitted_last"),
            )
            .select_from(s.outerjoin(g, g.c.site_id == s.c.id).outerjoin(newest, sa.true()))
            .where(s.c.id == site_id, s.c.deleted_at.is_(None))
            .with_for_update(of=s)
        )
        .mappings()
        .first()
    )
    if site is None:
        return None
    evaluation = site["evaluation"]
    status, latest = site["status"], site["latest_report"]
    if site["registered_on"] is not None:
        latest = (
            (
                f"{site['report_month']:%Y-%m} {short_state(site['report_status'])}"
                f"{'（逾期）' if site['report_late'] else ''}"
            )
            if site["report_month"] is not None
            else None
        )
    if evaluation == "awarded":
        status = AWARDED
    elif evaluation in EVALUATING:
        status = IN_EVALUATION
    elif evaluation in ("not_recommended", "rejected"):
        status = COMPLETED
    elif site["registered_on"] is not None and status in (REPORTING, LATE, None):
        owed = last in common.months_owed(site["registered_on"], last, today)
        status = LATE if owed and not site["submitted_last"] else REPORTING
    changed = (status, latest) != (site["status"], site["latest_report"])
    if changed:
        conn.execute(
            sa.update(s)
            .where(s.c.id == site_id)
            .values(
                status=status,
                latest_report=latest,
                version=s.c.version + 1,
                updated_at=sa.func.now(),
                updated_by=actor,
            )
        )
        audit.record(
            conn,
            actor,
            "status",
            "sites",
            site_id,
            {"properties": {"status": site["status"], "latest_report": site["latest_report"]}},
            {"properties": {"status": status, "latest_report": latest}},
        )
    return {"site_id": site_id, "status": status, "latest_report": latest, "changed": changed}


@workflow.on_transition("st_report", "st_evaluation")
def _site_follows(conn: Connection, machine, before: dict, after: dict, who) -> None:
    """A monthly report's or an evaluation application's transition moves the pin's colour and latest report
    (ST-19): one rule for the whole module."""
    refresh_site_status(conn, after["site_id"], actor=who.user)


def refresh_all(conn: Connection, today: date | None = None, actor: str = "system") -> dict:
    """Refresh every registered site (and every site with an evaluation application) the connection sees."""
    sites = sa.union(sa.select(t.registrations.c.site_id), sa.select(t.evaluations.c.site_id))
    ids = conn.execute(sites.order_by(sites.selected_columns.site_id)).scalars().all()
    out = [refresh_site_status(conn, i, today, actor) for i in ids]
    out = [o for o in out if o]
    return {
        "checked": len(out),
        "changed": sum(o["changed"] for o in out),
        "late": sum(o["status"] == LATE for o in out),
    }


@router.post("/site-status/refresh", summary="按申报、考评记录刷新工地地图状态（逾期未报等）")
def refresh(who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")) -> dict:
    who.require("site.config", "刷新工地状态")
    return refresh_all(conn, common.today_beijing(), who.user)


# -- statistics (ST-24) -------------------------------------------------------------------------------------------


def _period(start: str | None, end: str | None) -> tuple[date, date]:
    today = common.today_beijing()
    a = common.parse_month(start, "from") if start else today.replace(month=1, day=1)
    b = common.parse_month(end, "to") if end else today.replace(day=1)
    if b < a:
        raise ApiError(422, "invalid_period", "统计的结束月份不能早于开始月份。", "to")
    if (b.year - a.year) * 12 + b.month - a.month >= 120:
        raise ApiError(422, "period_too_long", "统计期间最长 10 年。", "from")
    return a, b


def compute(conn: Connection, start: date, end: date, district: str | None = None) -> dict:
    """The statistics of the months ``start`` … ``end`` (first days), in the connection's scope."""
    until = common.next_month(end)

    def grouped(table: sa.Table, *columns: sa.ColumnElement, aggregates: tuple, where: tuple) -> sa.Select:
        """``SELECT columns, aggregates … WHERE where [AND district = :d] GROUP BY columns ORDER BY columns``."""
        if district is not None:
            where = (*where, table.c.district == district)
        return sa.select(*columns, *aggregates).where(*where).group_by(*columns).order_by(*columns)

    count = sa.func.count().label("count")
    r, g = t.reports, t.registrations
    reports = [
        dict(row)
        for row in conn.execute(
            grouped(
                r,
                r.c.district,
                r.c.month,
                r.c.status,
                aggregates=(
                    count,
                    sa.func.count().filter(r.c.late).label("late"),
                    sa.func.count().filter(r.c.submitted_at.is_not(None)).label("submitted"),
                ),
                where=(r.c.month.between(start, end),),
            )
        ).mappings()
    ]
    pr = t.projects
    registered_q = sa.select(
        g.c.site_id,
        g.c.district,
        common.beijing_date(g.c.created_at).label("registered_on"),
        pr.c.completion_date,
    ).select_from(g.join(pr, pr.c.id == g.c.project_id))
    if district is not None:
        registered_q = registered_q.where(g.c.district == district)
    registered = conn.execute(registered_q).all()
    # The (site, month) pairs reported, to tell the owed months that were not (common.months_owed).
    reported = set(
        conn.execute(
            sa.select(r.c.site_id, r.c.month).where(r.c.month.between(start, end), r.c.submitted_at.is_not(None))
        ).all()
    )
    months = common.months(start, end)
    today = common.today_beijing()
    monthly: dict[tuple, dict] = {}
    for dist in sorted({r.district for r in registered} | {r["district"] for r in reports}, key=str):
        for month in months:
            monthly[(dist, month)] = {
                "district": dist,
                "month": f"{month:%Y-%m}",
                "registered": sum(
                    r.district == dist and common.reporting_from(r.registered_on) <= month for r in registered
                ),
                "reports": 0,
                "submitted": 0,
                "late": 0,
                "missing": 0 if today > common.due_date(month) else None,  # not due yet: nothing is missing
            }
    for r in reports:
        row = monthly[(r["district"], r["month"])]
        row["reports"] += r["count"]
        row["submitted"] += r["submitted"]
        row["late"] += r["late"]
    for site in registered:
        for month in common.months_owed(site.registered_on, end, today, site.completion_date):
            if month >= start and (site.site_id, month) not in reported:
                monthly[(site.district, month)]["missing"] += 1
    b, x, e, st = t.bonus_claims, t.deductions, t.evaluations, t.stage_evals
    bonus = [
        dict(row)
        for row in conn.execute(
            grouped(
                b,
                b.c.district,
                b.c.status,
                aggregates=(count, sa.func.coalesce(sa.func.sum(b.c.points), 0).label("points")),
                where=(common.beijing_date(b.c.created_at) >= start, common.beijing_date(b.c.created_at) < until),
            )
        ).mappings()
    ]
    deductions = [
        dict(row)
        for row in conn.execute(
            grouped(
                x,
                x.c.district,
                aggregates=(count, sa.func.coalesce(sa.func.sum(x.c.points), 0).label("points")),
                where=(x.c.occurred_on >= start, x.c.occurred_on < until),
            )
        ).mappings()
    ]
    evaluations = [
        dict(row)
        for row in conn.execute(
            grouped(
                e,
                e.c.district,
                e.c.status,
                aggregates=(count,),
                where=(common.beijing_date(e.c.created_at) >= start, common.beijing_date(e.c.created_at) < until),
            )
        ).mappings()
    ]
    stages = [
        dict(row)
        for row in conn.execute(
            grouped(
                st,
                st.c.district,
                st.c.stage,
                st.c.result,
                aggregates=(count,),
                where=(st.c.evaluated_on >= start, st.c.evaluated_on < until),
            )
        ).mappings()
    ]
    for r in reports:
        r["month"] = f"{r['month']:%Y-%m}"
        r["status_title"] = states("st_report").get(r["status"], r["status"])
    for r in bonus:
        r["status_title"] = states("st_bonus").get(r["status"], r["status"])
    for r in evaluations:
        r["status_title"] = states("st_evaluation").get(r["status"], r["status"])
    for r in stages:
        r["stage_title"] = STAGES.get(r["stage"], r["stage"])
    return {
        "from": f"{start:%Y-%m}",
        "to": f"{end:%Y-%m}",
        "district": district,
        "reports": reports,
        "monthly": list(monthly.values()),
        "bonus": bonus,
        "deductions": deductions,
        "evaluations": evaluations,
        "stages": stages,
        "totals": {
            "reports": sum(r["count"] for r in reports),
            "late": sum(r["late"] for r in reports),
            "missing": sum(r["missing"] or 0 for r in monthly.values()),
            "bonus_claims": sum(r["count"] for r in bonus),
            "bonus_points": sum(r["points"] for r in bonus if r["status"] == "confirmed"),
            "deductions": sum(r["count"] for r in deductions),
            "deduction_points": sum(r["points"] for r in deductions),
            "evaluations": sum(r["count"] for r in evaluations),
            "stages": sum(r["count"] for r in stages),
        },
    }


@router.get("/stats", summary="标化工地统计（按区县、月份、状态；按权限范围）")
def stats(
    date_from: str | None = Query(None, alias="from"),
    date_to: str | None = Query(None, alias="to"),
    district: str | None = None,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require("site.stats.view", "查看标化工地统计")
    start, end = _period(date_from, date_to)
    return {**compute(conn, start, end, district), "scope": who.scope.describe()}


SHEETS = (
    (
        "按月汇总",
        "monthly",
        (
            ("district", "区县"),
            ("month", "月份"),
            ("registered", "已注册工地数"),
            ("reports", "月报数"),
            ("submitted", "已提交数"),
            ("late", "逾期提交数"),
            ("missing", "未按期申报数"),
        ),
    ),
    (
        "月度申报",
        "reports",
        (
            ("district", "区县"),
            ("month", "月份"),
            ("status_title", "状态"),
            ("count", "数量"),
            ("late", "其中逾期提交"),
        ),
    ),
    ("加分项", "bonus", (("district", "区县"), ("status_title", "状态"), ("count", "申报数"), ("points", "分值合计"))),
    ("减分项", "deductions", (("district", "区县"), ("count", "减分次数"), ("points", "扣分合计"))),
    ("考评申报", "evaluations", (("district", "区县"), ("status_title", "状态"), ("count", "数量"))),
    ("阶段考评", "stages", (("district", "区县"), ("stage_title", "阶段"), ("result", "结果"), ("count", "数量"))),
)


def workbook(data: dict) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    for title, key, columns in SHEETS:
        ws = wb.create_sheet(title)
        ws.append([label for _, label in columns])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in data[key]:
            ws.append([row.get(name) for name, _ in columns])
        for i, (_, label) in enumerate(columns):
            ws.column_dimensions[chr(ord("A") + i)].width = max(10, len(label) * 2 + 2)
        ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@router.get("/stats.xlsx", summary="导出标化工地统计（Excel）")
def stats_xlsx(
    date_from: str | None = Query(None, alias="from"),
    date_to: str | None = Query(None, alias="to"),
    district: str | None = None,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> Response:
    who.require("site.stats.export", "导出标化工地统计")
    start, end = _period(date_from, date_to)
    data = compute(conn, start, end, district)
    audit.record(
        conn,
        who.user,
        "export",
        "st_stats",
        None,
        None,
        {"from": data["from"], "to": data["to"], "district": district, "format": "xlsx"},
        who.client,
        user_id=who.user_id,
    )
    name = f"标化工地统计_{data['from']}_{data['to']}{'_' + district if district else ''}.xlsx"
    return Response(
        workbook(data),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename=\"st-stats.xlsx\"; filename*=UTF-8''{quote(name)}"},
    )
