"""Map label glyphs: SDF glyph ranges in MapLibre's PBF format, built from a Debian font.

MapLibre draws labels from signed-distance-field glyphs fetched per range of 256 code points
(``/map/glyphs/{fontstack}/{start}-{end}.pbf``). There is no internet glyph server on the intranet,
so:

- CJK ideographs, kana, CJK punctuation and full-width forms are drawn by the browser itself
  (MapLibre renders these code points locally with TinySDF and never asks for their ranges);
- the ranges with Latin letters, digits and punctuation (``RANGES``) are built here once from
  Noto Sans CJK SC (Debian ``fonts-noto-cjk``; its Latin glyphs match its ideographs) and committed
  under ``webmap/glyph-pbf/``;
- any other range is answered with a valid, empty range (:func:`empty_range`), so the map never
  sees a 404 (MapLibre then leaves out the few characters we have no glyph for).

Rebuild (only when RANGES or the font change)::

    .venv/bin/pip install freetype-py
    .venv/bin/python -m webmap.glyphs

The SDF follows node-fontnik / sdf-glyph-foundry: 24 px em, 3 px buffer, 8 px radius, cutoff 0.25,
``top`` measured from the ascender, distance to the glyph outline computed exactly (shapely) rather
than from a rasterised bitmap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely

HERE = Path(__file__).resolve().parent
GLYPH_DIR = HERE / "glyph-pbf"
FONT_FILE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
FONT_FAMILY = "Noto Sans CJK SC"
FONTSTACK = "Noto Sans CJK SC Regular"
RANGES = (0, 8192)  # range starts: Basic Latin + Latin-1 (digits, letters, ×, °), General Punctuation (—, …, “”)
SIZE, BUFFER, RADIUS, CUTOFF = 24, 3, 8, 0.25
CURVE_STEPS = 8


# -- protobuf (glyphs.proto: glyphs{stacks: fontstack{name, range, glyphs: glyph{...}}}) --------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number: int, value: int | bytes | str, signed: bool = False) -> bytes:
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return _varint(number << 3 | 2) + _varint(len(value)) + value
    if signed:
        value = (value << 1) ^ (value >> 31)  # zigzag (sint32)
    return _varint(number << 3) + _varint(value)


def encode_glyph(cp: int, bitmap: bytes, width: int, height: int, left: int, top: int, advance: int) -> bytes:
    msg = _field(1, cp)
    if width > 0:
        msg += _field(2, bitmap)
    return (
        msg
        + _field(3, width)
        + _field(4, height)
        + _field(5, left, signed=True)
        + _field(6, top, signed=True)
        + _field(7, advance)
    )


def encode_range(fontstack: str, start: int, glyphs: list[bytes]) -> bytes:
    stack = _field(1, fontstack) + _field(2, f"{start}-{start + 255}") + b"".join(_field(3, g) for g in glyphs)
    return _field(1, stack)


def empty_range(fontstack: str, start: int) -> bytes:
    """A valid glyph range with no glyphs (for ranges we have no font for)."""
    return encode_range(fontstack, start, [])


def range_path(start: int) -> Path:
    return GLYPH_DIR / f"{start}-{start + 255}.pbf"


# -- SDF rendering ------------------------------------------------------------------------------------


def _outline_rings(outline) -> list[np.ndarray]:
    """The glyph outline as closed rings of points (pixels), curves flattened."""
    rings: list[list[tuple[float, float]]] = []
    t = np.linspace(0, 1, CURVE_STEPS + 1)[1:, None]

    def pt(v) -> np.ndarray:
        return np.array([v.x / 64.0, v.y / 64.0])

    def move_to(a, ctx):
        rings.append([tuple(pt(a))])

    def line_to(a, ctx):
        rings[-1].append(tuple(pt(a)))

    def conic_to(c, a, ctx):
        p0, p1, p2 = np.array(rings[-1][-1]), pt(c), pt(a)
        rings[-1].extend(map(tuple, (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2))

    def cubic_to(c1, c2, a, ctx):
        p0, p1, p2, p3 = np.array(rings[-1][-1]), pt(c1), pt(c2), pt(a)
        rings[-1].extend(
            map(tuple, (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3)
        )

    outline.decompose(None, move_to=move_to, line_to=line_to, conic_to=conic_to, cubic_to=cubic_to)
    return [np.array(r) for r in rings if len(r) >= 3]


def render_sdf(rings: list[np.ndarray]) -> tuple[bytes, int, int, int, int]:
    """(bitmap, width, height, left, top-from-baseline) of one glyph's signed distance field."""
    pts = np.concatenate(rings)
    xmin, ymin = np.round(pts.min(axis=0))
    xmax, ymax = np.round(pts.max(axis=0))
    width, height = int(xmax - xmin), int(ymax - ymin)
    if width == 0 or height == 0:
        return b"", 0, 0, 0, 0
    bw, bh = width + 2 * BUFFER, height + 2 * BUFFER
    xs = xmin - BUFFER + np.arange(bw) + 0.5
    ys = ymin - BUFFER + np.arange(bh) + 0.5
    gx, gy = np.meshgrid(xs, ys)  # row 0 is the bottom row
    px, py = gx.ravel(), gy.ravel()
    edges = shapely.multilinestrings([shapely.linearrings(r) for r in rings])
    dist = shapely.distance(edges, shapely.points(px, py))
    inside = np.zeros(px.shape, dtype=bool)
    for r in rings:  # even-odd rule, as the font rasteriser fills
        inside ^= shapely.contains_xy(shapely.polygons(r), px, py)
    d = dist * (256 / RADIUS)
    d = np.where(inside, -d, d) + CUTOFF * 256
    values = 255 - np.clip(d, 0, 255).astype(np.uint8)
    bitmap = values.reshape(bh, bw)[::-1].tobytes()  # top row first
    return bitmap, width, height, int(xmin), int(ymax)


def build_range(face, start: int) -> bytes:
    import freetype

    ascender = face.size.ascender // 64
    glyphs = []
    for cp in range(start, start + 256):
        index = face.get_char_index(cp)
        if index == 0:
            continue
        face.load_glyph(index, freetype.FT_LOAD_NO_HINTING | freetype.FT_LOAD_NO_BITMAP)
        advance = face.glyph.metrics.horiAdvance // 64
        rings = _outline_rings(face.glyph.outline)
        bitmap, width, height, left, top = render_sdf(rings) if rings else (b"", 0, 0, 0, 0)
        glyphs.append(encode_glyph(cp, bitmap, width, height, left, top - ascender, advance))
    return encode_range(FONTSTACK, start, glyphs)


def open_face():
    import freetype

    index = 0
    while True:
        face = freetype.Face(str(FONT_FILE), index)
        if face.family_name.decode() == FONT_FAMILY:
            face.set_char_size(SIZE * 64)
            return face
        index += 1
        if index >= face.num_faces:
            raise SystemExit(f"{FONT_FAMILY} not found in {FONT_FILE}")


def main() -> None:
    face = open_face()
    GLYPH_DIR.mkdir(exist_ok=True)
    for start in RANGES:
        data = build_range(face, start)
        range_path(start).write_bytes(data)
        print(f"{range_path(start).relative_to(HERE.parent)}: {len(data):,} bytes")


if __name__ == "__main__":
    main()
