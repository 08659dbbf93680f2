"""Draw the phone app's icons (PNG) with Pillow: ``python layers/standard_sites/web/mobile/make_icons.py``.

A white 「标」 on the platform's dark blue with a safety-yellow band (a hard hat's colour): ``icon-192.png`` and
``icon-512.png`` (rounded, purpose "any"), ``icon-maskable-512.png`` (full bleed, the glyph inside the central 80 %
safe zone, purpose "maskable") and ``apple-touch-icon.png`` (180 px, iOS rounds it itself).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parent / "static" / "icons"
BLUE, YELLOW, WHITE = (15, 61, 110), (250, 204, 21), (255, 255, 255)
FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)


def font(size: int) -> ImageFont.FreeTypeFont:
    for path in FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, size, index=2)  # the .ttc's Simplified Chinese face
    raise SystemExit("a CJK font is needed (fonts-noto-cjk)")


def icon(size: int, rounded: bool, glyph_scale: float) -> Image.Image:
    scale = 4  # draw large, then shrink: smooth edges
    s = size * scale
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    if rounded:
        d.rounded_rectangle((0, 0, s - 1, s - 1), radius=int(s * 0.18), fill=BLUE)
    else:
        d.rectangle((0, 0, s, s), fill=BLUE)
    band = int(s * 0.07 * glyph_scale / 0.62)
    centre = s / 2
    f = font(int(s * glyph_scale))
    box = d.textbbox((0, 0), "标", font=f)
    w, h = box[2] - box[0], box[3] - box[1]
    x, y = centre - w / 2 - box[0], centre - h / 2 - box[1] - band
    d.text((x, y), "标", font=f, fill=WHITE)
    top = int(centre + h / 2 - band * 0.2)
    d.rounded_rectangle((int(centre - w / 2), top, int(centre + w / 2), top + band), radius=band // 2, fill=YELLOW)
    return img.resize((size, size), Image.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    icon(192, True, 0.62).save(OUT / "icon-192.png", optimize=True)
    icon(512, True, 0.62).save(OUT / "icon-512.png", optimize=True)
    icon(512, False, 0.50).save(OUT / "icon-maskable-512.png", optimize=True)
    icon(180, False, 0.58).convert("RGB").save(OUT / "apple-touch-icon.png", optimize=True)


if __name__ == "__main__":
    main()
