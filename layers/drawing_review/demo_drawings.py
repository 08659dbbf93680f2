"""Demo drawings (施工图): a few generated multi-sheet PDFs — plan-like vector drawings with a Chinese title block, on
A1/A0 sheets — attached to a few of the demo's applications, rendered to pyramids at seed time (at a low resolution:
the demo stays fast), with a few reviewers' comments pinned on them.

``drawing_pdf`` makes such a PDF for any number of sheets; the tests and the bench use it too."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

import sqlalchemy as sa
from reportlab.lib.pagesizes import A0, A1, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from geo.modules import seeder

SIZES = {"A0": landscape(A0), "A1": landscape(A1)}
FONT = "STSong-Light"  # a CID font every PDF reader has (not embedded: the PDF stays small)
SHEET_NAMES = (
    ("建施", "总平面图"),
    ("建施", "一层平面图"),
    ("建施", "二层平面图"),
    ("建施", "标准层平面图"),
    ("建施", "屋顶平面图"),
    ("建施", "立面图"),
    ("结施", "基础平面布置图"),
    ("结施", "梁配筋图"),
    ("水施", "给排水平面图"),
    ("电施", "照明平面图"),
)


def _font() -> str:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def drawing_pdf(
    pages: int = 3,
    size: str = "A1",
    project: str = "杭州市某住宅项目",
    designer: str = "浙江某建筑设计研究院有限公司",
    seed: int = 1,
    revision: int = 0,
) -> bytes:
    """A PDF of ``pages`` plan-like sheets of ``size`` (A0/A1, landscape) with a title block each; the same ``seed``
    with a higher ``revision`` is the same drawing revised (a revision cloud and the title block's 版次), as a design
    unit's reply to the review's comments."""
    font = _font()
    width, height = SIZES[size]
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=(width, height))
    c.setTitle(f"{project} 施工图")
    rng = random.Random(seed)
    for page in range(1, pages + 1):
        prefix, name = SHEET_NAMES[(page - 1) % len(SHEET_NAMES)]
        _sheet(c, rng, width, height, font, project, designer, f"{prefix}-{page:02d}", name, revision)
        c.showPage()
    c.save()
    return out.getvalue()


def _sheet(c, rng, width, height, font, project, designer, number, name, revision) -> None:
    margin = 10 * mm
    c.setLineWidth(1.2)
    c.rect(margin + 15 * mm, margin, width - 2 * margin - 15 * mm, height - 2 * margin)  # the frame (binding margin)
    left, bottom = margin + 40 * mm, margin + 100 * mm  # clear of the title block below
    cols, rows = rng.randint(6, 10), rng.randint(3, 5)
    bay_x = (width - left - margin - 60 * mm) / cols
    bay_y = (height - bottom - margin - 40 * mm) / rows
    # Axes with their bubbles: ① ② … across, A B C … up.
    c.setLineWidth(0.25)
    c.setDash(6, 3)
    for i in range(cols + 1):
        x = left + i * bay_x
        c.line(x, bottom - 15 * mm, x, bottom + rows * bay_y + 15 * mm)
    for j in range(rows + 1):
        y = bottom + j * bay_y
        c.line(left - 15 * mm, y, left + cols * bay_x + 15 * mm, y)
    c.setDash()
    c.setFont(font, 14)
    for i in range(cols + 1):
        x = left + i * bay_x
        c.circle(x, bottom - 22 * mm, 6 * mm)
        c.drawCentredString(x, bottom - 24 * mm, str(i + 1))
    for j in range(rows + 1):
        y = bottom + j * bay_y
        c.circle(left - 22 * mm, y, 6 * mm)
        c.drawCentredString(left - 22 * mm, y - 2 * mm, "ABCDEFGH"[j])
    # Walls (double lines), columns, doors and windows.
    c.setLineWidth(2.0)
    c.rect(left, bottom, cols * bay_x, rows * bay_y)
    c.rect(left + 2 * mm, bottom + 2 * mm, cols * bay_x - 4 * mm, rows * bay_y - 4 * mm)
    c.setLineWidth(1.0)
    for i in range(1, cols):
        if rng.random() < 0.7:
            x = left + i * bay_x
            c.line(x - 1 * mm, bottom, x - 1 * mm, bottom + rows * bay_y)
            c.line(x + 1 * mm, bottom, x + 1 * mm, bottom + rows * bay_y)
    for j in range(1, rows):
        y = bottom + j * bay_y
        c.line(left, y, left + cols * bay_x, y)
    for i in range(cols + 1):
        for j in range(rows + 1):
            c.rect(left + i * bay_x - 3 * mm, bottom + j * bay_y - 3 * mm, 6 * mm, 6 * mm, fill=1)
    c.setLineWidth(0.5)
    for i in range(cols):
        for j in range(rows):
            x0, y0 = left + i * bay_x, bottom + j * bay_y
            if rng.random() < 0.6:  # a door: leaf and swing
                r = min(bay_x, bay_y) * 0.18
                c.line(x0 + bay_x * 0.3, y0, x0 + bay_x * 0.3, y0 + r)
                c.arc(x0 + bay_x * 0.3 - r, y0 - r, x0 + bay_x * 0.3 + r, y0 + r, 0, 90)
            if j in (0, rows - 1):  # a window in the outer wall
                wy = y0 if j == 0 else y0 + bay_y
                c.rect(x0 + bay_x * 0.55, wy - 1.5 * mm, bay_x * 0.3, 3 * mm)
            room = rng.choice(("卧室", "客厅", "厨房", "卫生间", "办公室", "会议室", "走廊", "设备间", "楼梯间"))
            c.setFont(font, 12)
            c.drawCentredString(x0 + bay_x / 2, y0 + bay_y / 2, room)
            c.setFont(font, 8)
            c.drawCentredString(x0 + bay_x / 2, y0 + bay_y / 2 - 5 * mm, f"{bay_x * bay_y / mm / mm / 1e6 * 100:.1f}㎡")
    # Dimension line along the bottom.
    c.setLineWidth(0.3)
    y = bottom - 35 * mm
    c.line(left, y, left + cols * bay_x, y)
    c.setFont(font, 9)
    for i in range(cols + 1):
        x = left + i * bay_x
        c.line(x - 1.5 * mm, y - 1.5 * mm, x + 1.5 * mm, y + 1.5 * mm)
        if i < cols:
            c.drawCentredString(x + bay_x / 2, y + 2 * mm, f"{round(bay_x / mm * 100 / 10) * 10}")
    # The title block (图签), bottom right.
    tw, th = 180 * mm, 56 * mm
    tx, ty = width - margin - tw, margin
    c.setLineWidth(1.0)
    c.rect(tx, ty, tw, th)
    for k in (1, 2, 3):
        c.line(tx, ty + k * th / 4, tx + tw, ty + k * th / 4)
    c.line(tx + 40 * mm, ty, tx + 40 * mm, ty + th)
    c.setFont(font, 11)
    labels = (
        ("设计单位", designer),
        ("工程名称", project),
        ("图    名", name),
        ("图    号", f"{number}    比例 1:100"),
    )
    for k, (label, value) in enumerate(labels):
        yy = ty + th - (k + 1) * th / 4 + 4 * mm
        c.drawString(tx + 4 * mm, yy, label)
        c.drawString(tx + 44 * mm, yy, value)
    c.setFont(font, 28)
    c.drawString(left, height - margin - 25 * mm, f"{name}  1:100")
    for k in range(revision):  # the revised places, each in a revision cloud with its triangle
        cx, cy = left + bay_x * (1.5 + 2 * k), bottom + bay_y * 1.3
        c.setStrokeColorRGB(0.8, 0, 0)
        c.setLineWidth(1.5)
        for i in range(16):
            c.arc(cx - 30 * mm, cy - 20 * mm, cx + 30 * mm, cy + 20 * mm, i * 22.5, 14)
        c.setFont(font, 14)
        c.drawCentredString(cx, cy, f"△{k + 1} 按审查意见修改")
        c.setStrokeColorRGB(0, 0, 0)


# -- the demo ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoComment:
    page: int
    x: float
    y: float
    w: float
    h: float
    body: str


COMMENTS = (
    DemoComment(1, 0.30, 0.40, 0.0, 0.0, "疏散楼梯间应能天然采光和自然通风，请补充外窗设置。"),
    DemoComment(1, 0.55, 0.30, 0.18, 0.20, "该区域防火分区面积超过规范限值，请核实并补充防火分区示意图。"),
    DemoComment(2, 0.40, 0.55, 0.0, 0.0, "卫生间不应直接布置在下层住户厨房上方，请调整。"),
    DemoComment(2, 0.20, 0.25, 0.25, 0.15, "轴线尺寸标注与结构图不一致，请统一。"),
)
DEMO_DPI = 50  # the demo renders its sheets small: a few seconds for all of them


@seeder(order=24)
def seed_drawings(conn, world) -> dict:
    """Two rounds of drawings for a few applications under review, with comments on the first round's sheets."""
    from layers.drawing_review import drawings, pyramid
    from layers.drawing_review import tables as t

    if not conn.execute(sa.text("SELECT to_regclass('dr_applications') IS NOT NULL")).scalar():
        return {}
    apps = (
        conn.execute(
            sa.select(t.applications.c.id, t.applications.c.name)
            .where(t.applications.c.status.in_(("reviewing", "replying", "passed", "certified")))
            .order_by(t.applications.c.id)
            .limit(3)
        )
        .mappings()
        .all()
    )
    sets = sheets = notes = 0
    for n, app in enumerate(apps):
        made = []
        for round_no in (1, 2):
            data = drawing_pdf(pages=2, size="A1", project=app["name"], seed=100 + n, revision=round_no - 1)
            made.append(
                drawings.add_set(conn, "demo", app["id"], round_no, None, "architecture", "建筑施工图.pdf", data)
            )
        for one in made:
            pyramid.render_set(one["id"], conn=conn, dpi=DEMO_DPI)
            sets += 1
            sheets += one["page_count"]
        first = {s["page_no"]: s["id"] for s in pyramid.sheets_of(conn, made[0]["id"])}
        for c in COMMENTS:
            drawings.insert_comment(conn, "demo", first[c.page], c.x, c.y, c.w, c.h, c.body, None)
            notes += 1
    return {"dr_drawing_sets": sets, "dr_sheets": sheets, "dr_comments": notes}
