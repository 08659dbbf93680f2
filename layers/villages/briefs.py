"""Analysis briefs of the dangerous-house governance (分析简报, VT-07), the distribution map, and the workbench page.

- ``POST /api/villages/dangerous/briefs`` ``{month: "2026-11", district}`` generates the brief of a month for one
  district (a district account: its own) or the whole city (``district`` null: the city's accounts only) — a PDF
  (reportlab, the Song typeface built into it) with the figures (stock by grade, governed, families in difficulty,
  the governance year's progress, the month's reports, new appraisals and finished houses), a table by district
  (by township for one district), a chart of the month's reports per stage and a map of the houses — kept in
  ``vil_danger_briefs`` with its figures; ``GET …/briefs`` lists the kept ones, ``GET …/briefs/{id}.pdf`` downloads.
- ``GET /api/villages/dangerous/map.svg`` the same map as an SVG (district outlines, the houses gathered on a
  0.01° grid and coloured by their worst grade), for the page.
- ``/villages/dangerous``: the workbench (``web/dangerous.*``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from api.web import APP_CACHE, file_response
from geo import audit
from geo.bounds import MONTH, Code, RecordId, Text
from geo.divisions import DISTRICT_NAMES
from geo.errors import Invalid, NotFound
from geo.modules import job
from layers.villages.dangerous import PREFIX, VIEW, names_of, today

router = APIRouter()
BRIEF = "danger.brief"
PAGES_DIR = Path(__file__).resolve().parent / "web"
PAGE_FILES = ("dangerous.js", "dangerous.css")
GRADE_COLORS = {"A": "#16a34a", "B": "#f59e0b", "C": "#f97316", "D": "#dc2626"}
GRID = 0.01  # degrees: houses gathered per cell on the map


class BriefIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    month: Code(MONTH) = Field(title="月份")  # type: ignore[valid-type]
    district: Text(20) | None = Field(None, title="区县")  # type: ignore[valid-type]


# -- the map -------------------------------------------------------------------------------------------------------
def map_shapes(conn: Connection, district: str | None, difficult: bool | None) -> dict:
    """District outlines (lon/lat rings) and the houses per grid cell (lon, lat, worst grade, count)."""
    outlines = conn.execute(
        sa.text(
            "SELECT name, ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, 0.003), 4) FROM districts "
            "WHERE deleted_at IS NULL AND (CAST(:d AS text) IS NULL OR name = :d) ORDER BY code"
        ),
        {"d": district},
    ).all()
    rings = []
    for _, gj in outlines:
        g = json.loads(gj)
        polys = g["coordinates"] if g["type"] == "MultiPolygon" else [g["coordinates"]]
        rings += [poly[0] for poly in polys]
    cond = {None: "true", True: "family IS NOT NULL", False: "family IS NULL"}[difficult]
    cells = conn.execute(
        sa.text(f"""
            SELECT ST_X(c) AS x, ST_Y(c) AS y, max(grade) AS grade, count(*) AS n
              FROM (SELECT ST_SnapToGrid(geom, {GRID}) AS c, grade FROM vil_dangerous
                     WHERE geom IS NOT NULL AND {cond} AND (CAST(:d AS text) IS NULL OR district = :d)) s
             GROUP BY c
        """),
        {"d": district},
    ).all()
    xs = [p[0] for r in rings for p in r] or [118.3, 120.8]
    ys = [p[1] for r in rings for p in r] or [29.2, 30.6]
    return {
        "rings": rings,
        "cells": [(c.x, c.y, c.grade, c.n) for c in cells],
        "bbox": (min(xs), min(ys), max(xs), max(ys)),
    }


def projector(bbox: tuple, width: float, height: float, flip: bool):
    """lon/lat → page units inside ``width`` × ``height`` (equirectangular, scaled by cos(latitude))."""
    x0, y0, x1, y1 = bbox
    k = math.cos(math.radians((y0 + y1) / 2))
    sx = width / max((x1 - x0) * k, 1e-9)
    sy = height / max(y1 - y0, 1e-9)
    s = min(sx, sy)

    def proj(x: float, y: float) -> tuple[float, float]:
        px = (x - x0) * k * s
        py = (y - y0) * s
        return px, (height - py if flip else py)

    return proj


def radius(n: int) -> float:
    return min(6.0, 1.2 + math.sqrt(n) * 0.6)


def map_svg(shapes: dict, width: int = 800, height: int = 560) -> str:
    proj = projector(shapes["bbox"], width - 20, height - 20, flip=True)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        '<rect width="100%" height="100%" fill="#f8fafc"/><g transform="translate(10,10)">',
    ]
    for ring in shapes["rings"]:
        pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in (proj(x, y) for x, y in ring))
        parts.append(f'<polygon points="{pts}" fill="#e2e8f0" stroke="#64748b" stroke-width="0.8"/>')
    for x, y, grade, n in sorted(shapes["cells"], key=lambda c: c[2]):
        a, b = proj(x, y)
        parts.append(
            f'<circle cx="{a:.1f}" cy="{b:.1f}" r="{radius(n):.1f}" fill="{GRADE_COLORS.get(grade, "#999")}" '
            f'fill-opacity="0.8"><title>{n} 处（最高 {grade} 级）</title></circle>'
        )
    parts.append("</g>")
    for i, (g, color) in enumerate(GRADE_COLORS.items()):
        parts.append(f'<circle cx="{20 + i * 70}" cy="{height - 14}" r="5" fill="{color}"/>')
        parts.append(f'<text x="{30 + i * 70}" y="{height - 10}" font-size="12">{g} 级</text>')
    parts.append("</svg>")
    return "".join(parts)


# -- the figures ---------------------------------------------------------------------------------------------------
def month_range(month: str) -> tuple[dt.date, dt.date]:
    first = dt.date(int(month[:4]), int(month[5:7]), 1)
    nxt = dt.date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return first, nxt


def figures(conn: Connection, month: str, district: str | None) -> dict:
    first, nxt = month_range(month)
    p = {"d": district, "first": first, "next": nxt, "y": first.year}
    scope = "(CAST(:d AS text) IS NULL OR d.district = :d)"
    stock = conn.execute(
        sa.text(f"""
            SELECT count(*) AS total, count(*) FILTER (WHERE d.grade = 'B') AS b,
                   count(*) FILTER (WHERE d.grade = 'C') AS c, count(*) FILTER (WHERE d.grade = 'D') AS d,
                   count(*) FILTER (WHERE s.done) AS governed, count(*) FILTER (WHERE d.family IS NOT NULL) AS difficult,
                   count(*) FILTER (WHERE d.family IS NOT NULL AND s.done) AS difficult_governed,
                   count(*) FILTER (WHERE d.year = :y) AS year_total,
                   count(*) FILTER (WHERE d.year = :y AND s.done) AS year_done,
                   count(*) FILTER (WHERE d.appraised_on >= :first AND d.appraised_on < :next) AS appraised_in_month
              FROM vil_dangerous d JOIN vil_danger_options s ON s.kind = 'stage' AND s.code = d.stage
             WHERE {scope} AND d.created_at < :next
        """),
        p,
    ).mappings().one()  # fmt: skip
    stage_names = names_of(conn)["stage"]
    reports = conn.execute(
        sa.text(f"""
            SELECT r.stage, count(*) AS n FROM vil_danger_reports r JOIN vil_dangerous d ON d.id = r.dangerous_id
             WHERE {scope} AND r.reported_on >= :first AND r.reported_on < :next GROUP BY 1
        """),
        p,
    ).all()
    order = conn.execute(sa.text("SELECT code, done FROM vil_danger_options WHERE kind = 'stage' ORDER BY seq")).all()
    by_stage = {s: n for s, n in reports}
    area = "d.township" if district else "d.district"
    rows = conn.execute(
        sa.text(f"""
            SELECT coalesce({area}, '未填写') AS area, count(*) AS total, count(*) FILTER (WHERE s.done) AS governed,
                   count(*) FILTER (WHERE d.grade IN ('C', 'D')) AS cd, count(*) FILTER (WHERE d.family IS NOT NULL) AS difficult,
                   count(*) FILTER (WHERE d.year = :y) AS year_total, count(*) FILTER (WHERE d.year = :y AND s.done) AS year_done
              FROM vil_dangerous d JOIN vil_danger_options s ON s.kind = 'stage' AND s.code = d.stage
             WHERE {scope} AND d.created_at < :next
             GROUP BY 1 ORDER BY 2 DESC
        """),
        p,
    ).mappings()  # fmt: skip
    rows_l = [dict(r) for r in rows]
    if not district:
        rank = {n: i for i, n in enumerate(DISTRICT_NAMES)}
        rows_l.sort(key=lambda r: rank.get(r["area"], 99))
    return {
        "month": month,
        "district": district,
        "stock": dict(stock),
        "reports": [{"stage": c, "name": stage_names[c], "n": by_stage.get(c, 0)} for c, _ in order],
        "reports_total": sum(by_stage.values()),
        "finished_in_month": sum(by_stage.get(c, 0) for c, done in order if done),
        "areas": rows_l,
        "area_title": "乡镇街道" if district else "区县",
    }


# -- the PDF -------------------------------------------------------------------------------------------------------
def brief_pdf(f: dict, shapes: dict, made_on: dt.date) -> bytes:
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.shapes import Circle, Drawing, Polygon, String
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = "STSong-Light"
    if font not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(font))
    title_style = ParagraphStyle("t", fontName=font, fontSize=17, leading=24, alignment=1)
    h_style = ParagraphStyle("h", fontName=font, fontSize=12.5, leading=18, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("b", fontName=font, fontSize=10.5, leading=16)
    s = f["stock"]
    where = f["district"] or "全市"
    y, m = f["month"][:4], int(f["month"][5:7])
    pct = lambda a, b: f"{100 * a / b:.1f}%" if b else "—"  # noqa: E731
    story = [
        Paragraph(f"杭州市农村危房治理分析简报<br/>{y}年{m}月 · {where}", title_style),
        Paragraph(f"生成日期：{made_on.isoformat()}　数据截至：{f['month']} 月末", body),
        Paragraph("一、危房存量", h_style),
        Paragraph(
            f"{where}共登记农村危房 {s['total']} 处，其中 B 级 {s['b']} 处、C 级 {s['c']} 处、D 级 {s['d']} 处；"
            f"已完成治理 {s['governed']} 处（{pct(s['governed'], s['total'])}）。困难家庭危房 {s['difficult']} 处，"
            f"已完成治理 {s['difficult_governed']} 处（{pct(s['difficult_governed'], s['difficult'])}）。",
            body,
        ),
        Paragraph(f"二、{y}年度治理进展", h_style),
        Paragraph(
            f"{y}年度治理任务 {s['year_total']} 处，已完成 {s['year_done']} 处（{pct(s['year_done'], s['year_total'])}）。"
            f"本月各区县共上报治理进度 {f['reports_total']} 次，新增鉴定危房 {s['appraised_in_month']} 处，"
            f"完成治理 {f['finished_in_month']} 处。",
            body,
        ),
    ]
    chart = Drawing(170 * mm, 62 * mm)
    bc = VerticalBarChart()
    bc.x, bc.y, bc.width, bc.height = 12 * mm, 10 * mm, 150 * mm, 45 * mm
    bc.data = [[r["n"] for r in f["reports"]] or [0]]
    bc.categoryAxis.categoryNames = [r["name"] for r in f["reports"]] or ["—"]
    bc.categoryAxis.labels.fontName = font
    bc.valueAxis.labels.fontName = font
    bc.valueAxis.valueMin = 0
    bc.bars[0].fillColor = colors.HexColor("#f97316")
    chart.add(bc)
    chart.add(String(85 * mm, 58 * mm, "本月治理进度上报（按阶段）", fontName=font, fontSize=10, textAnchor="middle"))
    story += [Spacer(1, 4), chart]
    story.append(Paragraph(f"三、分{f['area_title']}情况", h_style))
    head = [f["area_title"], "危房", "C/D级", "已治理", "困难家庭", f"{y}年任务", "已完成"]
    data = [head] + [
        [r["area"], r["total"], r["cd"], r["governed"], r["difficult"], r["year_total"], r["year_done"]]
        for r in f["areas"][:30]
    ]
    t = Table(data, repeatRows=1)
    t.setStyle(
        TableStyle([
            ("FONTNAME", (0, 0), (-1, -1), font), ("FONTSIZE", (0, 0), (-1, -1), 9),
            ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#94a3b8")),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e2e8f0")), ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
        ])
    )  # fmt: skip
    story.append(t)
    story.append(Paragraph("四、危房分布", h_style))
    w, h = 170 * mm, 110 * mm
    proj = projector(shapes["bbox"], w - 10, h - 14, flip=False)
    drawing = Drawing(w, h)
    for ring in shapes["rings"]:
        pts = [v + (5 if i % 2 == 0 else 12) for p in ring for i, v in enumerate(proj(*p))]
        drawing.add(Polygon(pts, fillColor=colors.HexColor("#e2e8f0"), strokeColor=colors.HexColor("#64748b"),
                            strokeWidth=0.4))  # fmt: skip
    for x, yy, grade, n in sorted(shapes["cells"], key=lambda c: c[2]):
        a, b = proj(x, yy)
        drawing.add(Circle(a + 5, b + 12, radius(n) * 0.7, fillColor=colors.HexColor(GRADE_COLORS.get(grade, "#999")),
                           strokeColor=None, fillOpacity=0.8))  # fmt: skip
    for i, (g, color) in enumerate(GRADE_COLORS.items()):
        drawing.add(Circle(8 + i * 40, 4, 3, fillColor=colors.HexColor(color), strokeColor=None))
        drawing.add(String(14 + i * 40, 1.5, f"{g} 级", fontName=font, fontSize=8))
    story.append(drawing)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
                            bottomMargin=16 * mm, title=f"农村危房治理分析简报 {f['month']} {where}",
                            author="杭州市城乡建设委员会")  # fmt: skip
    doc.build(story)
    return buf.getvalue()


def store_brief(
    conn: Connection,
    month: str,
    district: str | None,
    actor: str,
    client: str | None = None,
    user_id: int | None = None,
) -> dict:
    """Make the brief of ``month`` for ``district`` (None: the city) and keep it; logged."""
    first, _ = month_range(month)
    f = figures(conn, month, district)
    pdf = brief_pdf(f, map_shapes(conn, district, None), today())
    row = conn.execute(
        sa.text(
            "INSERT INTO vil_danger_briefs (month, district, figures, pdf, sha256, created_by, updated_by) "
            "VALUES (:m, :d, CAST(:f AS jsonb), :pdf, :sha, :u, :u) RETURNING id, created_at"
        ),
        {"m": first, "d": district, "f": json.dumps(f, ensure_ascii=False, default=str), "pdf": pdf,
         "sha": hashlib.sha256(pdf).hexdigest(), "u": actor},
    ).one()  # fmt: skip
    audit.record(
        conn, actor, "brief", "vil_danger_briefs", row.id, None,
        {"month": month, "district": district, "bytes": len(pdf)}, client, user_id=user_id,
    )  # fmt: skip
    return {"id": row.id, "month": month, "district": district, "created_at": row.created_at.isoformat(),
            "url": f"{PREFIX}/briefs/{row.id}.pdf", "figures": f}  # fmt: skip


def generate(conn: Connection, body: BriefIn, who: Principal) -> dict:
    district = body.district
    if district is not None and district not in DISTRICT_NAMES:
        raise Invalid("unknown_district", f"「{district}」不是杭州市的区县。", "district")
    if who.district and district != who.district:
        raise ApiError(403, "out_of_scope", f"只能生成本区县（{who.district}）的简报。", "district")
    first, _ = month_range(body.month)
    if first > today():
        raise Invalid("future_month", "不能生成未来月份的简报。", "month")
    return store_brief(conn, body.month, district, who.user, who.client, who.user_id)


@job(cron="30 18 1 * *", title="危房治理分析简报（每月）")
def monthly_briefs(conn: Connection, now: dt.datetime) -> dict:
    """On the 2nd of each month (02:30 Beijing time) the briefs of the month before: the city's and one per district
    with dangerous houses, each made once (a brief already kept for that month and district is not made again)."""
    local = now.astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    last = local.replace(day=1) - dt.timedelta(days=1)
    month = last.strftime("%Y-%m")
    districts = conn.execute(sa.text("SELECT DISTINCT district FROM vil_dangerous")).scalars().all()
    made = []
    for district in [None, *sorted(districts, key=lambda d: DISTRICT_NAMES.index(d) if d in DISTRICT_NAMES else 99)]:
        exists = conn.execute(
            sa.text("SELECT 1 FROM vil_danger_briefs WHERE month = :m AND district IS NOT DISTINCT FROM :d"),
            {"m": last.replace(day=1), "d": district},
        ).first()
        if exists is None:
            made.append(store_brief(conn, month, district, "system")["id"])
    return {"month": month, "briefs": len(made)}


# -- routes --------------------------------------------------------------------------------------------------------
@router.get(f"{PREFIX}/map.svg", summary="危房分布图（SVG：区县轮廓，危房按 0.01° 网格汇总，按最高等级着色）")
def get_map(
    district: str | None = Query(None, max_length=20, title="区县"),
    difficult: bool | None = Query(None, title="困难家庭"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> Response:
    who.require(VIEW, "查看危房分布图")
    district = district or who.district
    return Response(map_svg(map_shapes(conn, district, difficult)), media_type="image/svg+xml")


@router.post(f"{PREFIX}/briefs", status_code=201, summary="生成危房治理分析简报（PDF，按月、按区县或全市）")
def post_brief(
    body: BriefIn, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> dict:
    who.require(BRIEF, "生成危房分析简报")
    return generate(conn, body, who)


@router.get(f"{PREFIX}/briefs", summary="已生成的危房治理分析简报")
def list_briefs(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    who.require(VIEW, "查看危房分析简报")
    rows = conn.execute(
        sa.text(
            "SELECT id, month, district, created_at, created_by, length(pdf) AS bytes FROM vil_danger_briefs "
            "ORDER BY month DESC, id DESC LIMIT 200"
        )
    ).mappings()
    items = [
        {**dict(r), "month": r["month"].strftime("%Y-%m"), "created_at": r["created_at"].isoformat(),
         "url": f"{PREFIX}/briefs/{r['id']}.pdf"}
        for r in rows
    ]  # fmt: skip
    return {"items": items}


@router.get(f"{PREFIX}/briefs/{{brief_id:int}}.pdf", summary="下载危房治理分析简报（PDF）")
def get_brief(
    brief_id: RecordId,  # type: ignore[valid-type]
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> Response:
    who.require(VIEW, "查看危房分析简报")
    row = conn.execute(
        sa.text("SELECT month, district, pdf FROM vil_danger_briefs WHERE id = :i"), {"i": brief_id}
    ).first()
    if row is None:
        raise NotFound("not_found", "简报不存在或不在您的数据范围内。")
    name = quote(f"农村危房治理分析简报-{row.month.strftime('%Y-%m')}-{row.district or '全市'}.pdf")
    return Response(
        bytes(row.pdf),
        media_type="application/pdf",
        headers={"Content-Disposition": f"attachment; filename=\"brief-{brief_id}.pdf\"; filename*=UTF-8''{name}"},
    )


@router.get("/villages/dangerous", include_in_schema=False)
def page(request: Request) -> Response:
    return file_response(request, PAGES_DIR / "dangerous.html", APP_CACHE)


@router.get("/villages/dangerous/{name}", include_in_schema=False)
def page_file(name: str, request: Request) -> Response:
    if name not in PAGE_FILES:
        raise ApiError(404, "not_found", "请求的文件不存在。", "path", {"path": name})
    return file_response(request, PAGES_DIR / name, APP_CACHE)
