"""Printable application forms: an A4 PDF with a verification QR code (reportlab).

Layout
    The title on the first page, then a two-column table of label / value (long values wrap, and a value
    longer than a page continues on the next). Every page carries, in its top-right corner, a QR code of
    ``verify_url`` with the caption "扫码验真" and the token's fingerprint under it (so a torn-off page
    still proves where it came from), the optional ``footer`` at the bottom left and "第 i 页 / 共 n 页"
    at the bottom right.

Fonts
    Chinese text uses reportlab's built-in CID font ``STSong-Light`` (Adobe-GB1, every character of
    GB 18030's common set). It is referenced, not embedded: PDF viewers supply their own Song typeface,
    and no font file or network is needed. Characters outside the font (emoji, rare extension-B
    characters) print as blanks.

Output is reproducible: the same arguments give the same bytes (reportlab's invariant mode).
"""

from __future__ import annotations

import io
import re
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Frame,
    NextPageTemplate,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from geo import signing

FONT = "STSong-Light"
MARGIN = 18 * mm
QR_SIZE = 32 * mm
QR_BLOCK = QR_SIZE + 12 * mm  # the QR code with its caption and fingerprint
LABEL_WIDTH = 42 * mm
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")

if FONT not in pdfmetrics.getRegisteredFontNames():
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))

TITLE = ParagraphStyle("title", fontName=FONT, fontSize=16, leading=22, alignment=TA_CENTER, wordWrap="CJK")
LABEL = ParagraphStyle("label", fontName=FONT, fontSize=10.5, leading=14, wordWrap="CJK")
VALUE = ParagraphStyle("value", fontName=FONT, fontSize=10.5, leading=14, wordWrap="CJK")


def token_in_url(url: str) -> str | None:
    """The signed token inside ``url`` (a query value, the fragment or a path segment shaped like
    ``<base64url>.<base64url>``), or None."""
    parts = urlsplit(url)
    candidates = [v for _, v in parse_qsl(parts.query)] + [parts.fragment] + parts.path.split("/")[::-1]
    return next((c for c in candidates if _TOKEN.match(c)), None)


def _text(value: str) -> str:
    """Plain text as Paragraph markup: escaped, line breaks kept."""
    return escape(str(value)).replace("\r\n", "\n").replace("\n", "<br/>")


class _NumberedCanvas(Canvas):
    """Holds pages back until the end, to write "第 i 页 / 共 n 页" on each (reportlab's usual recipe)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pages: list[dict] = []

    def showPage(self):
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self):
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self.setFont(FONT, 9)
            self.drawRightString(A4[0] - MARGIN, MARGIN / 2, f"第 {self._pageNumber} 页 / 共 {total} 页")
            super().showPage()
        super().save()


def render_form(
    title: str,
    fields: list[tuple[str, str]],
    verify_url: str,
    footer: str | None = None,
    *,
    fingerprint: str | None = None,
) -> bytes:
    """The form as PDF bytes (A4).

    ``fields`` are (label, value) rows in order; values are plain text (``<`` and ``&`` print as such,
    line breaks are kept). The fingerprint under the QR code is :func:`geo.signing.fingerprint` of the
    token found in ``verify_url`` (of the whole URL if it holds none), unless ``fingerprint`` is given."""
    if fingerprint is None:
        fingerprint = signing.fingerprint(token_in_url(verify_url) or verify_url)
    width, height = A4
    frame_width = width - 2 * MARGIN

    def decorate(canvas: Canvas, doc) -> None:
        canvas.saveState()
        qr = QrCodeWidget(verify_url, barLevel="M")
        x0, y0, x1, y1 = qr.getBounds()
        drawing = Drawing(QR_SIZE, QR_SIZE, transform=[QR_SIZE / (x1 - x0), 0, 0, QR_SIZE / (y1 - y0), 0, 0])
        drawing.add(qr)
        left, top = width - MARGIN - QR_SIZE, height - MARGIN
        renderPDF.draw(drawing, canvas, left, top - QR_SIZE)
        canvas.setFont(FONT, 9)
        canvas.drawCentredString(left + QR_SIZE / 2, top - QR_SIZE - 3 * mm, "扫码验真")
        canvas.setFont("Courier", 8)
        canvas.drawCentredString(left + QR_SIZE / 2, top - QR_SIZE - 7 * mm, fingerprint)
        if footer:
            canvas.setFont(FONT, 9)
            canvas.drawString(MARGIN, MARGIN / 2, footer)
        canvas.restoreState()

    body_height = height - 2 * MARGIN
    first = Frame(
        MARGIN,
        MARGIN,
        frame_width,
        body_height,
        id="first",
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    later = Frame(
        MARGIN,
        MARGIN,
        frame_width,
        body_height - QR_BLOCK,
        id="later",
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    out = io.BytesIO()
    doc = BaseDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=title,
        creator="chengjian",
        invariant=1,
    )
    doc.addPageTemplates(
        [PageTemplate("first", [first], onPage=decorate), PageTemplate("later", [later], onPage=decorate)]
    )

    # The title sits left of the QR code; the table starts below it.
    title_style = ParagraphStyle(
        "title-indented", parent=TITLE, leftIndent=QR_SIZE + 4 * mm, rightIndent=QR_SIZE + 4 * mm
    )
    heading = Paragraph(_text(title), title_style)
    _, heading_height = heading.wrap(frame_width, body_height)
    rows = [[Paragraph(_text(label), LABEL), Paragraph(_text(value), VALUE)] for label, value in fields]
    table = Table(
        rows or [["", ""]],
        colWidths=[LABEL_WIDTH, frame_width - LABEL_WIDTH],
        splitInRow=1,
        style=TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.6, colors.black),
                ("BACKGROUND", (0, 0), (0, -1), colors.Color(0.93, 0.93, 0.93)),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
            ]
        ),
    )
    story = [
        NextPageTemplate("later"),
        Spacer(1, 10 * mm),
        heading,
        Spacer(1, max(6 * mm, QR_BLOCK - 10 * mm - heading_height)),
        table,
    ]
    doc.build(story, canvasmaker=_NumberedCanvas)
    return out.getvalue()
