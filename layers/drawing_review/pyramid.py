"""Deep-zoom pyramids of drawing sheets (DR-07), built in the background.

Each sheet (a page of an uploaded PDF, or a page of a TIFF/JPEG/PNG image) becomes a Deep Zoom (DZI) pyramid of JPEG
tiles written by libvips (``pyvips`` ``dzsave``). A PDF page is rendered by PDFium (``pypdfium2``) at the configured
resolution (300 dpi: an A0 sheet is about 14,000 × 9,900 pixels, 420 MB as raw RGB) in horizontal strips written one
after another into a raw file on disk, which libvips then maps and streams into the pyramid: neither side ever holds
the whole sheet in memory. A page too large for the resolution is rendered at the largest that fits ``MAX_SIDE_PX``.

Pyramids are content-addressed: ``drawings/tiles/<sha[:2]>/<sha>-p<page>-<dpi>/`` under the files' root, named by
the file's SHA-256, the page and the resolution. They never change once written (built in a temporary folder and
renamed into place), so their tiles are served with long, immutable cache headers; the same file uploaded again (for
another round or building) reuses them.

``render_set`` is the work of the queue's task ``drawing_review.render_set``: it walks the set's sheets in order and
records the progress of the set (``queued → processing → ready | failed``, pages done of all pages) and of each sheet
as it goes, each step committed at once, so the uploader watches it while the worker renders.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
from pydantic_settings import SettingsConfigDict
from sqlalchemy import Connection

from geo import files, tasks
from geo.bounds import Range
from geo.db import transaction
from geo.settings import Bytes, ModuleSettings, module_settings
from layers.drawing_review import tables as t

log = logging.getLogger(__name__)
MB = files.MB

TILE_SIZE = 510  # with the overlap of 1, tiles are 512 pixels square: a first view of a sheet takes about a dozen
OVERLAP = 1
JPEG_QUALITY = 80
MAX_SIDE_PX = 24_000  # a sheet's longest side in pixels, whatever its paper size (A0 at 300 dpi: 14,043)
STRIP_PX = 1024  # rows of a PDF page rendered at a time
# PDFium is not thread-safe: every use of it in a process (a worker's concurrent jobs, the web app's upload checks
# in its thread pool) holds this lock. libvips, which does the heavy part (the pyramid), runs outside it.
PDFIUM_LOCK = threading.RLock()
TASK = "drawing_review.render_set"


class DrawingSettings(ModuleSettings):
    model_config = SettingsConfigDict(env_prefix="CHENGJIAN_DR_")

    # Largest drawing file accepted (the platform's CHENGJIAN_MAX_BODY_BYTES applies too: the lower one wins).
    max_drawing_bytes: Bytes = 300 * MB
    # Resolution PDF sheets are rendered at (an A0 at 300 dpi: 14,043 × 9,933 pixels).
    render_dpi: Annotated[int, Range(36, 600, whole=True)] = 300
    # Most pages (sheets) of one file, and most pixels of one raster image.
    max_pages: Annotated[int, Range(1, 5_000, whole=True)] = 500
    max_image_pixels: Annotated[int, Range(1, 2_000_000_000, whole=True)] = 400_000_000


def drawing_settings() -> DrawingSettings:
    return module_settings(DrawingSettings)


@dataclass(frozen=True)
class Pyramid:
    """A built pyramid: ``key`` (its folder, relative to the tiles' root), the full image's size and the tiling."""

    key: str
    width: int
    height: int
    dpi: int
    tile_size: int = TILE_SIZE
    overlap: int = OVERLAP

    @property
    def levels(self) -> int:
        """The number of DZI levels (level 0 is 1×1 pixel, the last the full image)."""
        return math.ceil(math.log2(max(self.width, self.height))) + 1


def drawings_root() -> Path:
    return files.files_root() / "drawings"


def tiles_root() -> Path:
    return drawings_root() / "tiles"


def pyramid_dir(key: str) -> Path:
    return tiles_root() / key


def tile_path(key: str, level: int, col: int, row: int) -> Path:
    return pyramid_dir(key) / "pyr_files" / str(level) / f"{col}_{row}.jpg"


def dzi_path(key: str) -> Path:
    return pyramid_dir(key) / "pyr.dzi"


def scale_for(width_pt: float, height_pt: float, dpi: int) -> float:
    """PDFium's scale (pixels per PDF point) for ``dpi``, reduced so the longest side fits ``MAX_SIDE_PX``."""
    scale = dpi / 72
    longest = max(width_pt, height_pt) * scale
    return scale if longest <= MAX_SIDE_PX else MAX_SIDE_PX / max(width_pt, height_pt)


# -- building one pyramid ------------------------------------------------------------------------------------------


def build(source: Path, content_type: str, page_no: int, dpi: int, sha256: str) -> Pyramid:
    """The pyramid of page ``page_no`` (1-based) of the stored file ``source``; built unless it exists already."""

    if content_type == "application/pdf":
        key = f"{sha256[:2]}/{sha256}-p{page_no}-{dpi}"
    else:
        key = f"{sha256[:2]}/{sha256}-p{page_no}"
    folder = pyramid_dir(key)
    if dzi_path(key).is_file():
        return _read_dzi(key, dpi)
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".build-"))
    try:
        if content_type == "application/pdf":
            image, used_dpi = _pdf_page(source, page_no, dpi, work)
        else:
            image, used_dpi = _raster_page(source, page_no), dpi
        image.dzsave(
            str(work / "pyr"),
            tile_size=TILE_SIZE,
            overlap=OVERLAP,
            suffix=f".jpg[Q={JPEG_QUALITY},strip]",
            depth="onepixel",
        )
        pyramid = Pyramid(key, image.width, image.height, used_dpi)
        del image
        with contextlib.suppress(FileNotFoundError):
            (work / "page.rgb").unlink()
        try:
            os.rename(work, folder)
        except OSError:  # another worker built the same pyramid meanwhile: keep theirs
            if not dzi_path(key).is_file():
                raise
        return pyramid
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def _read_dzi(key: str, dpi: int) -> Pyramid:
    import xml.etree.ElementTree as ET

    root = ET.parse(dzi_path(key)).getroot()
    size = next(el for el in root if el.tag.endswith("Size"))
    return Pyramid(
        key,
        int(size.get("Width")),
        int(size.get("Height")),
        dpi,
        int(root.get("TileSize")),
        int(root.get("Overlap")),
    )


def _pdf_page(source: Path, page_no: int, dpi: int, work: Path):
    """Render a PDF page into ``work/page.rgb`` strip by strip; the image libvips maps from it, and the dpi used."""
    import pypdfium2 as pdfium
    import pyvips

    with PDFIUM_LOCK:
        return _render_strips(pdfium, pyvips, source, page_no, dpi, work)


def _render_strips(pdfium, pyvips, source: Path, page_no: int, dpi: int, work: Path):
    pdf = pdfium.PdfDocument(str(source))
    try:
        page = pdf[page_no - 1]
        w_pt, h_pt = page.get_size()
        scale = scale_for(w_pt, h_pt, dpi)
        width, height = math.ceil(w_pt * scale), math.ceil(h_pt * scale)
        raw = work / "page.rgb"
        with open(raw, "wb") as out:
            for top in range(0, height, STRIP_PX):
                bottom = min(height, top + STRIP_PX)
                # PDFium takes the crop in points and rounds it up to pixels: half a pixel less lands on the pixel.
                crop_top = (top - 0.5) / scale if top else 0
                crop_bottom = (height - bottom - 0.5) / scale if bottom < height else 0
                bitmap = page.render(scale=scale, crop=(0, crop_bottom, 0, crop_top), rev_byteorder=True)
                strip = bitmap.to_numpy()
                assert strip.shape[:2] == (bottom - top, width), (strip.shape, top, bottom, width)
                out.write(strip[:, :, :3].tobytes() if strip.shape[2] != 3 else strip.tobytes())
                bitmap.close()
        page.close()
    finally:
        pdf.close()
    image = pyvips.Image.rawload(str(raw), width, height, 3).copy(interpretation="srgb")
    return image, round(scale * 72)


def _raster_page(source: Path, page_no: int):
    """Page ``page_no`` of a stored image as 8-bit sRGB without alpha (flattened onto white), streamed."""
    import pyvips

    paged = {"page": page_no - 1} if page_no > 1 else {}  # only multi-page formats (TIFF) know the option
    image = pyvips.Image.new_from_file(str(source), access="sequential", **paged)
    if image.format in ("ushort", "short"):
        image = image.cast("uchar", shift=True) if image.format == "ushort" else image.cast("uchar")
    elif image.format != "uchar":
        image = image.cast("uchar")
    if image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))
    if image.interpretation not in ("srgb", "b-w") or image.bands not in (1, 3):
        image = image.colourspace("srgb")
    return image


# -- a set's rendering, with its progress ------------------------------------------------------------------------


@contextlib.contextmanager
def _step(conn: Connection | None) -> Iterator[Connection]:
    """The connection a step writes with: the caller's (the demo seeds in one transaction), or a new system-scope
    transaction committed at once (the worker: the uploader sees each step)."""
    if conn is not None:
        yield conn
    else:
        with transaction() as own:
            yield own


def sheets_of(conn: Connection, set_id: int) -> list[dict]:
    s = t.sheets
    return [dict(r) for r in conn.execute(sa.select(s).where(s.c.set_id == set_id).order_by(s.c.page_no)).mappings()]


def render_set(set_id: int, conn: Connection | None = None, dpi: int | None = None) -> dict:
    """Render every sheet of the set that is not ready yet; returns the set's final status and counts."""
    dpi = dpi or drawing_settings().render_dpi
    ds = t.drawing_sets
    with _step(conn) as c:
        row = c.execute(sa.select(ds).where(ds.c.id == set_id).with_for_update()).mappings().first()
        if row is None:
            log.warning("drawing set %s is gone; nothing to render", set_id)
            return {"status": "missing"}
        c.execute(
            sa.update(ds)
            .where(ds.c.id == set_id)
            .values(status="processing", error=None, started_at=sa.func.coalesce(ds.c.started_at, sa.func.now()))
        )
        todo = [s for s in sheets_of(c, set_id) if s["status"] != "ready"]
    source = files.files_root() / row["path"]
    failed = 0
    for sheet in todo:
        with _step(conn) as c:
            c.execute(sa.update(t.sheets).where(t.sheets.c.id == sheet["id"]).values(status="processing", error=None))
        try:
            built = build(source, row["content_type"], sheet["page_no"], dpi, row["sha256"])
        except Exception as e:  # one bad page fails that sheet, not the set's other sheets
            log.exception("sheet %s (set %s page %s) failed", sheet["id"], set_id, sheet["page_no"])
            failed += 1
            with _step(conn) as c:
                c.execute(
                    sa.update(t.sheets)
                    .where(t.sheets.c.id == sheet["id"])
                    .values(status="failed", error=f"第 {sheet['page_no']} 页无法生成图像：{type(e).__name__}")
                )
            continue
        with _step(conn) as c:
            c.execute(
                sa.update(t.sheets)
                .where(t.sheets.c.id == sheet["id"])
                .values(
                    status="ready",
                    pyramid=built.key,
                    width_px=built.width,
                    height_px=built.height,
                    dpi=built.dpi,
                    tile_size=built.tile_size,
                    overlap=built.overlap,
                    rendered_at=sa.func.now(),
                )
            )
            c.execute(sa.update(ds).where(ds.c.id == set_id).values(pages_done=_ready(c, set_id)))
    with _step(conn) as c:
        done = _ready(c, set_id)
        status = "ready" if done == row["page_count"] else "failed"
        error = (
            None if status == "ready" else f"{row['page_count'] - done} 张图纸未能生成图像，请重新上传或联系管理员。"
        )
        c.execute(
            sa.update(ds)
            .where(ds.c.id == set_id)
            .values(status=status, pages_done=done, error=error, finished_at=sa.func.now())
        )
    return {"status": status, "pages": row["page_count"], "ready": done, "failed": failed}


def _ready(conn: Connection, set_id: int) -> int:
    s = t.sheets
    return conn.execute(sa.select(sa.func.count()).where(s.c.set_id == set_id, s.c.status == "ready")).scalar_one()


@tasks.task(name=TASK, queue=tasks.DEFAULT_QUEUE)
def render_set_task(set_id: int) -> dict:
    """Render a drawing set's sheets to pyramids (deferred by the upload)."""
    return render_set(set_id)


def queue(set_id: int) -> int:
    """Defer the rendering of a committed set; returns the queue's job id."""
    return tasks.defer(TASK, set_id=set_id)
