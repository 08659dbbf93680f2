"""Statistics of the drawing review (项目信息统计, SPEC DR-12: section 3.3.5 (3) of the requirements).

The authority chooses the year, the project's location (区县), a period (开始时间 … 结束时间), the project grade and
the review agency; the statistics count the applications the agency accepted (受理) in that period and within the
caller's scope (row-level security: a county's staff see their county), in two parts:

1. project indicators (项目指标统计): the number of projects (项目基数); the number of reviews (审查次数: review rounds
   whose opinion was issued) and their average per project (the requirements' 「评价审查次数」 reads as either); the average natural and working days from acceptance to the review conclusion (出具审查
   结论) and from acceptance to the certificate (合格书), over the projects that reached it — in total and broken
   down by agency, district, jurisdiction, grade or month (``by``) for the charts;
2. stage details (阶段详情), per review stage — the first, second, third review and the fourth with every later one:
   the projects that reached it, those whose review passed (通过), those asked to modify (修改), those failed, the pass
   rate (passed over the projects whose review of that stage was concluded) and the average working and natural days
   of the stage's reviews (start of the round → opinion).

Working days follow the official calendar, counted in SQL (``workdays``): a period that reaches a year the calendar
does not cover is the 422 ``calendar_missing``. Built for 100,000 review rounds in under a second (bench/
drawing_review.py): two statements, the core's working-day function inlined in them.

- ``GET /api/review/stats`` (``review.view``); ``GET /api/review/stats.xlsx`` (``review.export``, logged);
- ``GET /api/review/stats/options``: the agencies, years and choices the filters offer;
- ``/review/stats``: the page, with ECharts charts.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request, Response
from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from api.web import APP_CACHE, file_response
from geo import audit
from geo.divisions import DISTRICT_NAMES
from geo.modules import Page, log_labels, pages
from layers.drawing_review import tables as t
from layers.drawing_review import workdays as wd
from layers.drawing_review.process import CATEGORIES, GRADES, JURISDICTIONS
from layers.enterprises import enterprises

router = APIRouter()
WEB = Path(__file__).resolve().parent / "web"
SHANGHAI = ZoneInfo(wd.SHANGHAI)

STAGES = {1: "一审", 2: "二审", 3: "三审", 4: "四审及以上"}
BY = {
    "agency": "审查机构",
    "district": "区县",
    "jurisdiction": "管辖（受理窗口）",
    "grade": "项目等级",
    "month": "受理月份",
}

log_labels(objects={"dr_stats": "施工图审查统计"})
pages(Page("/review/stats", "施工图审查统计", "施工图联审", permission="review.view", order=63))


@dataclass(frozen=True)
class Filters:
    year: int | None = None
    district: str | None = None
    start: date | None = None
    end: date | None = None
    grade: str | None = None
    agency_id: int | None = None
    by: str = "agency"

    def check(self) -> Filters:
        if self.year is not None and not 2000 <= self.year <= 2100:
            raise ApiError(422, "out_of_range", "年份须在 2000 到 2100 之间。", "year")
        if self.district is not None and self.district not in DISTRICT_NAMES:
            raise ApiError(422, "invalid_choice", "项目所在地不是杭州市的区、县（市）。", "district")
        if self.grade is not None and self.grade not in GRADES:
            raise ApiError(
                422, "invalid_choice", f"项目等级只能是：{'、'.join(GRADES)}。", "grade", {"allowed": GRADES}
            )
        if self.by not in BY:
            raise ApiError(
                422, "invalid_choice", f"分组只能按：{'、'.join(BY.values())}。", "by", {"allowed": list(BY)}
            )
        if self.start and self.end and self.end < self.start:
            raise ApiError(422, "invalid_period", "结束时间不能早于开始时间。", "end")
        return self

    def period(self) -> tuple[date | None, date | None]:
        """The days of acceptance counted: the year and the period together (either may be open)."""
        low, high = self.start, self.end
        if self.year is not None:
            first, last = date(self.year, 1, 1), date(self.year, 12, 31)
            low = max(low, first) if low else first
            high = min(high, last) if high else last
        return low, high

    def described(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in self.__dict__.items() if v is not None}


def filters(
    year: int | None = Query(None, description="年份（受理年份）"),
    district: str | None = Query(None, description="项目所在地（区县）"),
    start: date | None = Query(None, description="开始时间（受理日期，含）"),
    end: date | None = Query(None, description="结束时间（受理日期，含）"),
    grade: str | None = Query(None, description="项目等级"),
    agency_id: int | None = Query(None, description="审查机构（dr_agencies.id）"),
    by: str = Query("agency", description="分组：agency、district、jurisdiction、grade、month"),
) -> Filters:
    return Filters(year, district, start, end, grade, agency_id, by)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


def population(f: Filters) -> sa.CTE:
    """The applications counted: accepted in the period, of the location, grade and agency asked for (a CTE)."""
    a = t.applications
    accepted = wd.local_day(a.c.accepted_at)
    key = {
        "agency": sa.cast(a.c.agency_id, sa.Text),
        "district": a.c.district,
        "jurisdiction": a.c.jurisdiction,
        "grade": a.c.grade,
        "month": sa.func.to_char(accepted, "YYYY-MM"),
    }[f.by]
    where = [a.c.accepted_at.is_not(None)]
    low, high = f.period()
    if low is not None:
        where.append(a.c.accepted_at >= _midnight(low))
    if high is not None:
        where.append(a.c.accepted_at < _midnight(high + timedelta(days=1)))
    if f.district is not None:
        where.append(a.c.district == f.district)
    if f.grade is not None:
        where.append(a.c.grade == f.grade)
    if f.agency_id is not None:
        where.append(a.c.agency_id == f.agency_id)
    return (
        sa.select(
            a.c.id,
            key.label("key"),
            accepted.label("accepted_day"),
            wd.local_day(a.c.concluded_at).label("concluded_day"),
            wd.local_day(a.c.certified_at).label("certified_day"),
            a.c.conclusion,
        )
        .where(*where)
        .cte("apps")
    )


def stage_rounds(apps: sa.CTE) -> sa.Subquery:
    """The review rounds of the counted applications with their stage (4: the fourth and later) and days."""
    r = t.rounds
    return (
        sa.select(
            r.c.application_id,
            sa.func.least(r.c.round_no, 4).label("stage"),
            r.c.result,
            wd.local_day(r.c.started_at).label("start_day"),
            wd.local_day(r.c.opinion_at).label("opinion_day"),
        )
        .select_from(r.join(apps, apps.c.id == r.c.application_id))
        .subquery("rr")
    )


def _avg(value: sa.ColumnElement, name: str) -> sa.Label:
    return sa.func.round(sa.func.avg(value), 1).label(name)


def indicators(conn: Connection, apps: sa.CTE) -> list[dict]:
    """The project indicators, in total (``key`` None, first) and per group."""
    r = t.rounds
    reviews = (
        sa.select(r.c.application_id, sa.func.count().filter(r.c.opinion_at.is_not(None)).label("reviews"))
        .where(r.c.application_id.in_(sa.select(apps.c.id)))
        .group_by(r.c.application_id)
        .subquery("reviews")
    )
    to_conclusion = wd.working_days(apps.c.accepted_day, apps.c.concluded_day)
    to_certificate = wd.working_days(apps.c.accepted_day, apps.c.certified_day)
    q = (
        sa.select(
            apps.c.key,
            sa.func.grouping(apps.c.key).label("total"),
            sa.func.count().label("projects"),
            sa.cast(sa.func.coalesce(sa.func.sum(reviews.c.reviews), 0), sa.Integer).label("reviews"),
            sa.func.count(apps.c.concluded_day).label("concluded"),
            sa.func.count().filter(apps.c.conclusion == "合格").label("passed"),
            sa.func.count().filter(apps.c.conclusion == "不合格").label("failed"),
            sa.func.count(apps.c.certified_day).label("certified"),
            _avg(wd.natural_days(apps.c.accepted_day, apps.c.concluded_day), "conclusion_natural_days"),
            _avg(to_conclusion, "conclusion_working_days"),
            _avg(wd.natural_days(apps.c.accepted_day, apps.c.certified_day), "certificate_natural_days"),
            _avg(to_certificate, "certificate_working_days"),
        )
        .select_from(apps.outerjoin(reviews, reviews.c.application_id == apps.c.id))
        .group_by(sa.func.grouping_sets(sa.tuple_(), sa.tuple_(apps.c.key)))
        .order_by(sa.func.grouping(apps.c.key).desc(), apps.c.key)
    )
    return [_plain(row) for row in conn.execute(q).mappings()]


def stages(conn: Connection, rr: sa.Subquery) -> list[dict]:
    """The stage details: one row per review stage reached. Each application's rounds of a stage are folded first
    (the fourth stage may hold several), so that the project counts need no DISTINCT; the averages are over rounds."""
    working = wd.working_days(rr.c.start_day, rr.c.opinion_day)
    natural = wd.natural_days(rr.c.start_day, rr.c.opinion_day)
    per_app = (
        sa.select(
            rr.c.stage,
            sa.func.bool_or(rr.c.result == "passed").label("passed"),
            sa.func.bool_or(rr.c.result == "modify").label("modified"),
            sa.func.bool_or(rr.c.result == "failed").label("failed"),
            sa.func.bool_or(rr.c.result.is_not(None)).label("decided"),
            sa.func.count().label("rounds"),
            sa.func.sum(working).label("working_sum"),
            sa.func.count(working).label("working_n"),
            sa.func.sum(natural).label("natural_sum"),
            sa.func.count(natural).label("natural_n"),
        )
        .group_by(rr.c.application_id, rr.c.stage)
        .subquery("per_app")
    )
    p = per_app.c

    def mean(total: sa.ColumnElement, n: sa.ColumnElement, name: str) -> sa.Label:
        return sa.func.round(sa.cast(sa.func.sum(total), sa.Numeric) / sa.func.nullif(sa.func.sum(n), 0), 1).label(name)

    q = (
        sa.select(
            p.stage,
            sa.func.count().label("projects"),
            sa.func.count().filter(p.passed).label("passed"),
            sa.func.count().filter(p.modified).label("modified"),
            sa.func.count().filter(p.failed).label("failed"),
            sa.func.count().filter(p.decided).label("decided"),
            sa.cast(sa.func.sum(p.rounds), sa.Integer).label("rounds"),
            mean(p.working_sum, p.working_n, "working_days"),
            mean(p.natural_sum, p.natural_n, "natural_days"),
        )
        .group_by(p.stage)
        .order_by(p.stage)
    )
    out = []
    for row in conn.execute(q).mappings():
        row = _plain(row)
        row["stage_title"] = STAGES[row["stage"]]
        row["pass_rate"] = round(100.0 * row["passed"] / row["decided"], 1) if row["decided"] else None
        out.append(row)
    return out


def _plain(row) -> dict:
    return {k: float(v) if isinstance(v, Decimal) else v for k, v in dict(row).items()}


def _group_titles(conn: Connection, f: Filters, rows: list[dict]) -> None:
    if f.by == "agency":
        ag = t.agencies
        names = dict(
            conn.execute(
                sa.select(sa.cast(ag.c.id, sa.Text), enterprises.c.name).select_from(
                    ag.join(enterprises, enterprises.c.uscc == ag.c.uscc)
                )
            ).all()
        )
        for row in rows:
            row["title"] = names.get(row["key"], "未摇号") if row["key"] is not None else "未摇号"
        rows.sort(key=lambda row: row["title"])
    else:
        for row in rows:
            row["title"] = row["key"] if row["key"] is not None else "—"


def compute(conn: Connection, f: Filters) -> dict:
    """The statistics for the filters, in the connection's scope."""
    f = f.check()
    apps = population(f)
    rr = stage_rounds(apps)
    with wd.counting():
        rows = indicators(conn, apps)
        stage_rows = stages(conn, rr)
    total = next((r for r in rows if r["total"]), None)
    groups = [r for r in rows if not r["total"]]
    for r in rows:
        del r["total"]
    _group_titles(conn, f, groups)
    if total is None:  # nothing counted: zeros, no averages
        total = {
            "key": None,
            "projects": 0,
            "reviews": 0,
            "concluded": 0,
            "passed": 0,
            "failed": 0,
            "certified": 0,
            "conclusion_natural_days": None,
            "conclusion_working_days": None,
            "certificate_natural_days": None,
            "certificate_working_days": None,
        }
    total["title"] = "合计"
    for row in (total, *groups):
        row["average_reviews"] = round(row["reviews"] / row["projects"], 2) if row["projects"] else None
    low, high = f.period()
    return {
        "filters": f.described(),
        "period": {"start": low.isoformat() if low else None, "end": high.isoformat() if high else None},
        "by": f.by,
        "by_title": BY[f.by],
        "totals": total,
        "groups": groups,
        "stages": stage_rows,
    }


@router.get(
    "/api/review/stats",
    summary="施工图审查统计（年份、所在地、时间、项目等级、审查机构；按权限范围）",
    tags=["施工图联审"],
)
def stats(
    f: Filters = Depends(filters),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require("review.view", "查看施工图审查统计")
    return {**compute(conn, f), "scope": who.scope.describe()}


INDICATOR_COLUMNS = (
    ("title", "分组"),
    ("projects", "项目基数"),
    ("reviews", "审查次数"),
    ("average_reviews", "平均审查次数"),
    ("concluded", "已出审查结论"),
    ("passed", "审查合格"),
    ("failed", "审查不合格"),
    ("certified", "已发合格书"),
    ("conclusion_natural_days", "出具审查结论平均自然日"),
    ("conclusion_working_days", "出具审查结论平均工作日"),
    ("certificate_natural_days", "受理到出合格书平均自然日"),
    ("certificate_working_days", "受理到出合格书平均工作日"),
)
STAGE_COLUMNS = (
    ("stage_title", "审查阶段"),
    ("projects", "项目数"),
    ("passed", "通过项目数"),
    ("modified", "修改项目数"),
    ("failed", "不合格项目数"),
    ("pass_rate", "合格率(%)"),
    ("working_days", "审查时间平均值（工作日）"),
    ("natural_days", "审查时间平均值（自然日）"),
)


def workbook(data: dict) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    condition = "；".join(f"{k}={v}" for k, v in data["filters"].items()) or "全部"
    sheets = (
        ("项目指标统计", INDICATOR_COLUMNS, [data["totals"], *data["groups"]]),
        ("阶段详情", STAGE_COLUMNS, data["stages"]),
    )
    for title, columns, rows in sheets:
        ws = wb.create_sheet(title)
        ws.append([f"统计条件：{condition}"])
        ws.append([label if key != "title" else f"分组（{data['by_title']}）" for key, label in columns])
        for cell in ws[2]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append([row.get(key) for key, _ in columns])
        for i, (_, label) in enumerate(columns):
            ws.column_dimensions[chr(ord("A") + i)].width = max(12, len(label) * 2 + 2)
        ws.freeze_panes = "A3"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@router.get("/api/review/stats.xlsx", summary="导出施工图审查统计（Excel，记入操作日志）", tags=["施工图联审"])
def stats_xlsx(
    f: Filters = Depends(filters),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> Response:
    who.require("review.export", "导出施工图审查统计")
    data = compute(conn, f)
    audit.record(
        conn,
        who.user,
        "export",
        "dr_stats",
        None,
        None,
        {"filters": data["filters"], "format": "xlsx"},
        who.client,
        user_id=who.user_id,
    )
    name = f"施工图审查统计_{datetime.now(SHANGHAI):%Y%m%d}.xlsx"
    return Response(
        workbook(data),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename=\"dr-stats.xlsx\"; filename*=UTF-8''{quote(name)}"},
    )


@router.get("/api/review/stats/options", summary="施工图查询、统计的可选条件（审查机构、年份等）", tags=["施工图联审"])
def options(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    who.require("review.view", "查看施工图审查统计")
    ag, a = t.agencies, t.applications
    agencies = [
        dict(r)
        for r in conn.execute(
            sa.select(ag.c.id, enterprises.c.name, enterprises.c.district)
            .select_from(ag.join(enterprises, enterprises.c.uscc == ag.c.uscc))
            .order_by(enterprises.c.name)
        ).mappings()
    ]
    year = sa.cast(sa.extract("year", sa.func.timezone(wd.SHANGHAI, a.c.accepted_at)), sa.Integer).label("year")
    years = conn.execute(sa.select(year).where(a.c.accepted_at.is_not(None)).group_by(year).order_by(year)).scalars()
    return {
        "agencies": agencies,
        "years": [y for y in years if y is not None],
        "categories": list(CATEGORIES),
        "grades": list(GRADES),
        "windows": list(JURISDICTIONS),
        "districts": list(DISTRICT_NAMES),
        "by": BY,
        "stages": STAGES,
    }


@router.get("/review/stats", include_in_schema=False)
def stats_page(request: Request) -> Response:
    return file_response(request, WEB / "stats.html", APP_CACHE)
