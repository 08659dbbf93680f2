"""The in-review and reviewed project queries of the drawing review (在审项目查询, 已审项目查询; SPEC DR-10, DR-11:
section 3.3.5 (1) and (2) of the requirements), paged, sorted, exported to Excel.

Both take exactly the filters of the requirements: the review agency (审查机构), the review type (审查类型: the review
category), a period (开始时间 … 结束时间, of the design unit's submission by default, or of the agency's acceptance, or
— reviewed projects — of the conclusion), the design unit (设计单位: a part of its name, or its USCC) and the
acceptance window of the authority (主管部门受理窗口: 市本级, 建德市 or 淳安县, the jurisdiction that runs the review).

Both list exactly the columns of the requirements: project name, review type, builder, surveyor, design unit,
agency, above- and below-ground floor area, the design unit's submission time, the agency's acceptance time, and
- in review: the authority's acceptance window;
- reviewed: the working days of review rounds one to four (a round: from its start — the acceptance, or the design
  unit's reply — to the agency's opinion; the fourth column adds every round after the fourth, which rarely exist)
  and the design unit's reply working days (from each opinion to its reply, summed over the rounds).

In review means submitted and not concluded (waiting for the lottery, for acceptance, returned for completion, under
review, waiting for the reply); reviewed means concluded (passed, failed, certified).

Working days follow the official calendar, counted in SQL (``workdays``): a page of 50 is selected first, then only
its rounds are counted. A count that reaches a year the calendar does not cover is the 422 ``calendar_missing``.
Row-level security decides what each account sees (a county's staff: their county; a builder: its projects).

- ``GET /api/review/queries/in-review`` and ``…/reviewed`` (``review.view``): ``page`` (from 1), ``size`` (50),
  ``sort`` (a column key, ``-`` for descending);
- ``GET /api/review/queries/in-review.xlsx`` and ``…/reviewed.xlsx`` (``review.export``): every row of the result,
  logged in the operation log;
- ``/review/queries``: the page.
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request, Response
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from api.web import APP_CACHE, file_response
from geo import audit
from geo.modules import Page, log_labels, pages
from layers.drawing_review import tables as t
from layers.drawing_review import workdays as wd
from layers.drawing_review.process import CATEGORIES, JURISDICTIONS, STATES
from layers.enterprises import enterprises

router = APIRouter()
WEB = Path(__file__).resolve().parent / "web"
SHANGHAI = ZoneInfo(wd.SHANGHAI)
PAGE_SIZE = 50
PAGE_SIZE_MAX = 200
EXPORT_MAX = 100_000

IN_REVIEW = ("submitted", "drawn", "returned", "reviewing", "replying")
REVIEWED = ("passed", "failed", "certified")
Kind = Literal["in-review", "reviewed"]
TITLES = {"in-review": "在审项目", "reviewed": "已审项目"}

# The columns of section 3.3.5, in order: (key, Chinese header).
COMMON_COLUMNS = (
    ("name", "项目名称"),
    ("review_category", "审查类型"),
    ("builder_name", "建设单位"),
    ("surveyor_name", "勘察单位"),
    ("designer_name", "设计单位"),
    ("agency_name", "审查机构"),
    ("above_ground_m2", "地上建筑面积(㎡)"),
    ("below_ground_m2", "地下建筑面积(㎡)"),
    ("submitted_at", "勘察设计单位上报时间"),
    ("accepted_at", "审查机构受理时间"),
)
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "in-review": (*COMMON_COLUMNS, ("window", "主管部门受理窗口")),
    "reviewed": (
        *COMMON_COLUMNS,
        ("round_1_days", "一审审查工作日"),
        ("round_2_days", "二审审查工作日"),
        ("round_3_days", "三审审查工作日"),
        ("round_4_days", "四审审查工作日"),
        ("reply_days", "勘察设计企业回复工作日"),
    ),
}
DATE_BY = {"submitted": "上报时间", "accepted": "受理时间", "concluded": "审查结论时间"}

log_labels(objects={"dr_queries": "施工图审查项目查询"})
pages(Page("/review/queries", "施工图项目查询", "施工图联审", permission="review.view", order=62))


@dataclass(frozen=True)
class Filters:
    """The filters of section 3.3.5 (each optional)."""

    agency_id: int | None = None
    review_category: str | None = None
    start: date | None = None
    end: date | None = None
    date_by: str = "submitted"
    designer: str | None = None
    designer_uscc: str | None = None
    window: str | None = None

    def check(self, kind: Kind) -> Filters:
        if self.review_category is not None and self.review_category not in CATEGORIES:
            raise ApiError(
                422,
                "invalid_choice",
                f"审查类型只能是：{'、'.join(CATEGORIES)}。",
                "review_category",
                {"allowed": CATEGORIES},
            )
        if self.window is not None and self.window not in JURISDICTIONS:
            raise ApiError(
                422,
                "invalid_choice",
                f"受理窗口只能是：{'、'.join(JURISDICTIONS)}。",
                "window",
                {"allowed": JURISDICTIONS},
            )
        allowed = ("submitted", "accepted", "concluded") if kind == "reviewed" else ("submitted", "accepted")
        if self.date_by not in allowed:
            raise ApiError(
                422,
                "invalid_choice",
                f"时间条件只能按{'、'.join(DATE_BY[a] for a in allowed)}查询。",
                "date_by",
                {"allowed": allowed},
            )
        if self.start and self.end and self.end < self.start:
            raise ApiError(422, "invalid_period", "结束时间不能早于开始时间。", "end")
        if self.designer is not None and not self.designer.strip():
            raise ApiError(422, "required", "设计单位名称不能为空白。", "designer")
        return self


def filters(
    agency_id: int | None = Query(None, description="审查机构（dr_agencies.id）"),
    review_category: str | None = Query(None, description="审查类型（审查类别）"),
    start: date | None = Query(None, description="开始时间（含）"),
    end: date | None = Query(None, description="结束时间（含）"),
    date_by: str = Query(
        "submitted", description="时间条件：submitted 上报时间、accepted 受理时间、concluded 结论时间"
    ),
    designer: str | None = Query(None, max_length=100, description="设计单位名称（包含）"),
    designer_uscc: str | None = Query(None, max_length=18, description="设计单位统一社会信用代码"),
    window: str | None = Query(None, description="主管部门受理窗口：市本级、建德市、淳安县"),
) -> Filters:
    return Filters(agency_id, review_category, start, end, date_by, designer, designer_uscc, window)


def _local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


def _like(text: str) -> str:
    return "%" + text.strip().replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"


class Listing:
    """The query of one kind: its FROM (applications with their units' names), its WHERE, its sort keys."""

    def __init__(self, kind: Kind, f: Filters) -> None:
        a = t.applications
        self.kind = kind
        builder, designer, surveyor, agency_ent = (enterprises.alias(n) for n in ("eb", "ed", "es", "ea"))
        ag = t.agencies
        self.from_ = (
            a.outerjoin(builder, builder.c.uscc == a.c.builder_uscc)
            .outerjoin(designer, designer.c.uscc == a.c.designer_uscc)
            .outerjoin(surveyor, surveyor.c.uscc == a.c.surveyor_uscc)
            .outerjoin(ag, ag.c.id == a.c.agency_id)
            .outerjoin(agency_ent, agency_ent.c.uscc == ag.c.uscc)
        )
        self.columns = [
            a.c.id,
            a.c.application_no,
            a.c.name,
            a.c.review_category,
            builder.c.name.label("builder_name"),
            surveyor.c.name.label("surveyor_name"),
            designer.c.name.label("designer_name"),
            a.c.agency_id,
            agency_ent.c.name.label("agency_name"),
            a.c.above_ground_m2,
            a.c.below_ground_m2,
            a.c.submitted_at,
            a.c.accepted_at,
            a.c.jurisdiction.label("window"),
            a.c.status,
            a.c.round_no,
            a.c.concluded_at,
            a.c.conclusion,
        ]
        where = [a.c.status.in_(IN_REVIEW if kind == "in-review" else REVIEWED)]
        if f.agency_id is not None:
            where.append(a.c.agency_id == f.agency_id)
        if f.review_category is not None:
            where.append(a.c.review_category == f.review_category)
        if f.window is not None:
            where.append(a.c.jurisdiction == f.window)
        if f.designer_uscc is not None:
            where.append(a.c.designer_uscc == f.designer_uscc)
        if f.designer is not None:
            where.append(designer.c.name.ilike(_like(f.designer), escape="\\"))
        when = {"submitted": a.c.submitted_at, "accepted": a.c.accepted_at, "concluded": a.c.concluded_at}[f.date_by]
        if f.start is not None:
            where.append(when >= _local_midnight(f.start))
        if f.end is not None:
            where.append(when < _local_midnight(f.end + timedelta(days=1)))
        self.where = where
        self.sorts = {
            "name": a.c.name,
            "review_category": a.c.review_category,
            "builder_name": builder.c.name,
            "surveyor_name": surveyor.c.name,
            "designer_name": designer.c.name,
            "agency_name": agency_ent.c.name,
            "above_ground_m2": a.c.above_ground_m2,
            "below_ground_m2": a.c.below_ground_m2,
            "submitted_at": a.c.submitted_at,
            "accepted_at": a.c.accepted_at,
            "window": a.c.jurisdiction,
            "concluded_at": a.c.concluded_at,
        }

    def order(self, sort: str) -> list[sa.ColumnElement]:
        key = sort.removeprefix("-")
        if key not in self.sorts:
            raise ApiError(
                422,
                "invalid_sort",
                "不能按该列排序（工作日列按页计算，不参与排序）。",
                "sort",
                {"allowed": sorted(self.sorts)},
            )
        column = self.sorts[key]
        first = column.desc().nulls_last() if sort.startswith("-") else column.asc().nulls_last()
        return [first, t.applications.c.id.desc() if sort.startswith("-") else t.applications.c.id.asc()]

    def count(self, conn: Connection) -> int:
        return conn.execute(sa.select(sa.func.count()).select_from(self.from_).where(*self.where)).scalar_one()

    def rows(self, conn: Connection, sort: str, limit: int | None = None, offset: int = 0) -> list[dict]:
        q = sa.select(*self.columns).select_from(self.from_).where(*self.where).order_by(*self.order(sort))
        if limit is not None:
            q = q.limit(limit).offset(offset)
        return [dict(r) for r in conn.execute(q).mappings()]


def round_figures(conn: Connection, ids: list[int]) -> dict[int, list[dict]]:
    """Each application's rounds with their working and natural days (review: start → opinion; reply: opinion →
    reply), counted in SQL by the official calendar (``workdays``)."""
    if not ids:
        return {}
    r = t.rounds
    start, opinion, reply = wd.local_day(r.c.started_at), wd.local_day(r.c.opinion_at), wd.local_day(r.c.replied_at)
    q = (
        sa.select(
            r.c.application_id,
            r.c.round_no,
            r.c.result,
            r.c.started_at,
            r.c.opinion_at,
            r.c.replied_at,
            wd.working_days(start, opinion).label("working_days"),
            wd.natural_days(start, opinion).label("natural_days"),
            wd.working_days(opinion, reply).label("reply_working_days"),
            wd.natural_days(opinion, reply).label("reply_natural_days"),
        )
        .where(r.c.application_id.in_(ids))
        .order_by(r.c.application_id, r.c.round_no)
    )
    out: dict[int, list[dict]] = defaultdict(list)
    for row in conn.execute(q).mappings():
        out[row["application_id"]].append(dict(row))
    return out


def with_rounds(rows: list[dict], figures: dict[int, list[dict]]) -> list[dict]:
    """The reviewed query's working-day columns: rounds one to three, the fourth with every later round added, and
    the design unit's reply days summed over the rounds (None where nothing was counted)."""
    for row in rows:
        rounds = figures.get(row["id"], [])
        for n in (1, 2, 3):
            row[f"round_{n}_days"] = next((x["working_days"] for x in rounds if x["round_no"] == n), None)
        later = [x["working_days"] for x in rounds if x["round_no"] >= 4 and x["working_days"] is not None]
        row["round_4_days"] = sum(later) if later else None
        replies = [x["reply_working_days"] for x in rounds if x["reply_working_days"] is not None]
        row["reply_days"] = sum(replies) if replies else None
        row["rounds"] = [
            {
                "round_no": x["round_no"],
                "result": x["result"],
                "started_at": x["started_at"],
                "opinion_at": x["opinion_at"],
                "replied_at": x["replied_at"],
                "working_days": x["working_days"],
                "natural_days": x["natural_days"],
                "reply_working_days": x["reply_working_days"],
                "reply_natural_days": x["reply_natural_days"],
            }
            for x in rounds
        ]
    return rows


def _labelled(rows: list[dict]) -> list[dict]:
    for row in rows:
        row["status_title"] = STATES.get(row["status"], row["status"])
    return rows


def search(conn: Connection, kind: Kind, f: Filters, page: int, size: int, sort: str) -> dict:
    """One page of the query (``page`` from 1)."""
    listing = Listing(kind, f.check(kind))
    total = listing.count(conn)
    rows = _labelled(listing.rows(conn, sort, size, (page - 1) * size))
    if kind == "reviewed":
        rows = with_rounds(rows, round_figures(conn, [r["id"] for r in rows]))
    return {
        "kind": kind,
        "title": TITLES[kind],
        "total": total,
        "page": page,
        "size": size,
        "pages": max(1, math.ceil(total / size)),
        "sort": sort,
        "columns": [{"key": k, "label": label} for k, label in COLUMNS[kind]],
        "rows": rows,
    }


def everything(conn: Connection, kind: Kind, f: Filters, sort: str) -> list[dict]:
    """Every row of the query (the export), with the working-day columns for the reviewed one."""
    listing = Listing(kind, f.check(kind))
    total = listing.count(conn)
    if total > EXPORT_MAX:
        raise ApiError(
            422,
            "too_many_rows",
            f"查询结果有 {total} 条，超过一次导出的上限 {EXPORT_MAX} 条，请缩小查询条件。",
            None,
            {"total": total, "max": EXPORT_MAX},
        )
    rows = _labelled(listing.rows(conn, sort))
    if kind == "reviewed":
        figures: dict[int, list[dict]] = {}
        ids = [r["id"] for r in rows]
        for i in range(0, len(ids), 5_000):  # bounded IN lists
            figures.update(round_figures(conn, ids[i : i + 5_000]))
        rows = with_rounds(rows, figures)
    return rows


def _excel_value(value):
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI).replace(tzinfo=None)
    return value


def workbook(kind: Kind, rows: list[dict]) -> bytes:
    """The rows as an Excel workbook with the requirements' Chinese headers."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(TITLES[kind])
    columns = COLUMNS[kind]
    for i, (_, label) in enumerate(columns):
        ws.column_dimensions[chr(ord("A") + i)].width = max(12, len(label) * 2 + 2)
    ws.freeze_panes = "A2"
    header = []
    for _, label in columns:
        cell = WriteOnlyCell(ws, value=label)
        cell.font = Font(bold=True)
        header.append(cell)
    ws.append(header)
    for row in rows:
        cells = []
        for key, _ in columns:
            cell = WriteOnlyCell(ws, value=_excel_value(row.get(key)))
            if isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            cells.append(cell)
        ws.append(cells)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _described(f: Filters) -> dict:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in f.__dict__.items() if v is not None}


def _page_args(page: int, size: int) -> None:
    if page < 1:
        raise ApiError(422, "out_of_range", "页码从 1 开始。", "page")
    if not 1 <= size <= PAGE_SIZE_MAX:
        raise ApiError(422, "out_of_range", f"每页条数须在 1 到 {PAGE_SIZE_MAX} 之间。", "size")


def _list_route(kind: Kind):
    def route(
        f: Filters = Depends(filters),
        page: int = Query(1, description="页码（从 1 开始）"),
        size: int = Query(PAGE_SIZE, description="每页条数（默认 50）"),
        sort: str = Query("-submitted_at", max_length=40, description="排序列，前加 - 为倒序"),
        who: Principal = Depends(principal),
        conn: Connection = Depends(db_read, scope="function"),
    ) -> dict:
        who.require("review.view", f"查询{TITLES[kind]}")
        _page_args(page, size)
        with wd.counting():
            return {**search(conn, kind, f, page, size, sort), "filters": _described(f)}

    return route


def _export_route(kind: Kind):
    def route(
        f: Filters = Depends(filters),
        sort: str = Query("-submitted_at", max_length=40, description="排序列，前加 - 为倒序"),
        who: Principal = Depends(principal),
        conn: Connection = Depends(db_write, scope="function"),
    ) -> Response:
        who.require("review.export", f"导出{TITLES[kind]}")
        with wd.counting():
            rows = everything(conn, kind, f, sort)
        audit.record(
            conn,
            who.user,
            "export",
            "dr_queries",
            None,
            None,
            {"query": kind, "filters": _described(f), "sort": sort, "rows": len(rows), "format": "xlsx"},
            who.client,
            user_id=who.user_id,
        )
        name = f"{TITLES[kind]}查询_{datetime.now(SHANGHAI):%Y%m%d}.xlsx"
        return Response(
            workbook(kind, rows),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f"attachment; filename=\"dr-{kind}.xlsx\"; filename*=UTF-8''{quote(name)}"},
        )

    return route


for _kind in ("in-review", "reviewed"):
    router.add_api_route(
        f"/api/review/queries/{_kind}",
        _list_route(_kind),  # type: ignore[arg-type]
        methods=["GET"],
        summary=f"{TITLES[_kind]}查询（审查机构、审查类型、时间、设计单位、受理窗口；分页、排序）",
        tags=["施工图联审"],
    )
    router.add_api_route(
        f"/api/review/queries/{_kind}.xlsx",
        _export_route(_kind),  # type: ignore[arg-type]
        methods=["GET"],
        summary=f"导出{TITLES[_kind]}查询结果（Excel，记入操作日志）",
        tags=["施工图联审"],
    )


@router.get("/review/queries", include_in_schema=False)
def queries_page(request: Request) -> Response:
    return file_response(request, WEB / "queries.html", APP_CACHE)
