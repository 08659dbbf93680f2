"""Uploaded files (site photos, documents, scans) kept on disk, outside the database.

Storing
    :func:`store` checks a file and writes it under :func:`files_root` at ``<sha[:2]>/<sha>.<ext>``, named
    by the SHA-256 of its bytes. The bytes are kept exactly as uploaded (EXIF included: reviewers need the
    time and place a photo was taken). Writes go to a temporary file in the same directory and are moved
    into place with ``os.replace``, so a reader never sees half a file. Storing the same bytes again writes
    nothing and returns the same record (a stored copy that no longer matches its hash is rewritten). Each file
    is flushed to disk (fsync) before it is moved into place; a bulk load stores inside :func:`synced_together`
    instead, which flushes all its files at once when it ends.

Checks, by content only (the file name and the browser's content type are never trusted)
    - size: empty files are refused (422); files above the kind's limit are refused (413) before anything
      is parsed. Limits: ``CHENGJIAN_MAX_PHOTO_BYTES`` (default 15 MB) for photos,
      ``CHENGJIAN_MAX_DOCUMENT_BYTES`` (default 30 MB) for documents and scans (``geo.settings``);
    - type, from the leading bytes: photos may be JPEG, PNG or WebP; documents and scans PDF, JPEG or
      PNG. Anything else is refused (415) with a message naming what was received (PDF, HEIC, Word, ...);
    - integrity: images are fully decoded with Pillow (a truncated or corrupt image is refused, 422);
      a PDF must start with ``%PDF-`` and end with ``%%EOF`` (a cut-off upload is refused, 422).

Thumbnails
    Every stored image gets ``<sha>.thumb.jpg`` beside it: JPEG, longest side at most 320 px (never
    enlarged), EXIF orientation applied, transparency flattened onto white, no EXIF (so no GPS) inside.
    ``StoredFile.width``/``height`` are the image's size as displayed, i.e. after the EXIF orientation.

EXIF
    :func:`read_exif` gives the shooting time (timezone-aware; without ``OffsetTimeOriginal`` the camera's
    clock is taken as Beijing time), the GPS position in decimal degrees (WGS84, as phones write it), and
    the camera make and model. :func:`exif_disagreement` compares them with what the uploader reported,
    to flag a photo for the reviewer.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from geo.settings import get_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
MB = 1024 * 1024
MAX_PIXELS = 100_000_000  # larger images are refused (413) before they are decoded
THUMB_SIZE = 320
FILE_MODE = 0o640

# Detected type -> (content type, extension). MPO is how Pillow names a JPEG carrying extra pictures
# (many phones write one); it is a JPEG file.
TYPES = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
    "PDF": ("application/pdf", "pdf"),
}
ACCEPTED = {"photo": ("JPEG", "PNG", "WEBP"), "document": ("PDF", "JPEG", "PNG"), "scan": ("PDF", "JPEG", "PNG")}
KIND_TEXT = {"photo": "照片", "document": "文档", "scan": "扫描件"}
ACCEPTED_TEXT = {
    "photo": "只接受 JPEG/PNG/WebP 照片",
    "document": "只接受 PDF/JPEG/PNG 文件",
    "scan": "只接受 PDF/JPEG/PNG 文件",
}
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


class FileRefused(Exception):
    """An upload that is not stored: HTTP ``status``, ``code``, Chinese ``message`` for the clerk,
    the request ``field`` and a ``detail`` dict (the shape of api/errors.py)."""

    STATUS = {
        "unsupported_file_type": 415,
        "file_too_large": 413,
        "image_too_large": 413,
        "empty_file": 422,
        "corrupt_file": 422,
    }

    def __init__(self, code: str, message: str, field: str = "file", detail: dict | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field
        self.detail = detail or {}
        self.status = self.STATUS.get(code, 422)

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "field": self.field, "detail": self.detail}


@dataclass(frozen=True)
class StoredFile:
    """What :func:`store` kept. ``path`` and ``thumbnail`` are relative to :func:`files_root`
    (POSIX separators, ready for a database column); ``width``/``height`` are None for PDFs."""

    sha256: str
    size: int
    content_type: str
    ext: str
    path: str
    width: int | None = None
    height: int | None = None
    exif: dict = field(default_factory=dict)
    thumbnail: str | None = None

    def as_dict(self) -> dict:
        """JSON-ready: datetimes in ``exif`` become ISO 8601 strings."""
        d = asdict(self)
        d["exif"] = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in self.exif.items()}
        return d


# ---------------------------------------------------------------- settings


def files_root() -> Path:
    """``CHENGJIAN_FILES_DIR`` if set, else ``<data_dir>/files``."""
    s = get_settings()
    return s.files_dir or s.data_dir / "files"


def max_bytes(kind: str) -> int:
    """Largest file accepted for ``kind`` (``CHENGJIAN_MAX_PHOTO_BYTES``, ``CHENGJIAN_MAX_DOCUMENT_BYTES``)."""
    _check_kind(kind)
    s = get_settings()
    return s.max_photo_bytes if kind == "photo" else s.max_document_bytes


def _check_kind(kind: str) -> None:
    if kind not in ACCEPTED:
        raise ValueError(f"kind must be one of {sorted(ACCEPTED)}, not {kind!r}")


# ---------------------------------------------------------------- type detection


def sniff(data: bytes) -> str | None:
    """The type of ``data`` from its leading bytes: ``JPEG``, ``PNG``, ``WEBP`` or ``PDF`` (the types
    that can be stored), a name for a few common others (``HEIC``, ``GIF``, ...), or None."""
    head = data[:1024]
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if re.match(rb"[\s\x00]*%PDF-\d", head):  # readers allow blank bytes before the header
        return "PDF"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"):
            return "HEIC"
        if brand in (b"avif", b"avis"):
            return "AVIF"
        return "VIDEO"
    for magic, name in (
        (b"GIF87a", "GIF"),
        (b"GIF89a", "GIF"),
        (b"BM", "BMP"),
        (b"II*\x00", "TIFF"),
        (b"MM\x00*", "TIFF"),
        (b"PK\x03\x04", "ZIP"),
        (b"\xd0\xcf\x11\xe0", "OLE"),
        (b"Rar!", "RAR"),
        (b"7z\xbc\xaf", "7Z"),
    ):
        if head.startswith(magic):
            return name
    return None


_RECEIVED_TEXT = {
    "JPEG": "JPEG 图片",
    "PNG": "PNG 图片",
    "WEBP": "WebP 图片",
    "PDF": "PDF",
    "HEIC": "HEIC 照片（苹果手机默认格式，请在相机设置“格式”中选择“兼容性最佳”，或转为 JPEG 后再上传）",
    "AVIF": "AVIF 图片",
    "VIDEO": "视频文件",
    "GIF": "GIF 动图",
    "BMP": "BMP 图片",
    "TIFF": "TIFF 图片",
    "ZIP": "压缩包或 Word/Excel 文档",
    "OLE": "旧版 Word/Excel 文档（.doc/.xls）",
    "RAR": "RAR 压缩包",
    "7Z": "7z 压缩包",
    None: "无法识别的文件",
}


def _spaced(text: str) -> str:
    """A space before Latin letters that follow Chinese ("收到的是 PDF"), as elsewhere in the UI."""
    return " " + text if text[:1].isascii() else text


def _size_text(n: int) -> str:
    if n < 0.1 * MB:
        return f"{max(1, round(n / 1024))} KB"
    return f"{n / MB:.1f}".removesuffix(".0") + " MB"


# ---------------------------------------------------------------- checking


def check(data: bytes, kind: str = "photo") -> str:
    """Check ``data`` for ``kind`` without storing it; return its type (a key of ``TYPES``) or raise
    :class:`FileRefused`. Images are decoded in full; see :func:`store`."""
    return _check(data, kind)[0]


def _check(data: bytes, kind: str) -> tuple[str, Image.Image | None, tuple[int, int] | None]:
    """The type, and for images the decoded image (reduced for the thumbnail) and its displayed size."""
    _check_kind(kind)
    limit = max_bytes(kind)
    if not data:
        raise FileRefused("empty_file", "文件是空的（0 字节），请重新选择文件上传。", detail={"size": 0})
    if len(data) > limit:
        raise FileRefused(
            "file_too_large",
            f"文件过大：{KIND_TEXT[kind]}不能超过 {_size_text(limit)}，收到的文件有 {_size_text(len(data))}。",
            detail={"size": len(data), "limit": limit},
        )
    found = sniff(data)
    if found not in ACCEPTED[kind]:
        raise FileRefused(
            "unsupported_file_type",
            f"文件类型不符：{ACCEPTED_TEXT[kind]}，收到的是{_spaced(_RECEIVED_TEXT[found])}。",
            detail={"received": found, "accepted": list(ACCEPTED[kind])},
        )
    if found == "PDF":
        if b"%%EOF" not in data[-2048:]:
            raise FileRefused(
                "corrupt_file", "PDF 文件不完整（可能上传中断），无法打开，请重新上传。", detail={"received": found}
            )
        return found, None, None
    return (found, *_decode(data, found))


def _open(data: bytes, found: str) -> Image.Image:
    """Open an image of the sniffed type (header only), refusing corrupt and oversized ones."""
    formats = ["JPEG", "MPO"] if found == "JPEG" else [found]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=formats)
    except Image.DecompressionBombError as e:
        raise FileRefused("image_too_large", "图片像素过多，请缩小后再上传。", detail={"reason": str(e)}) from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise _corrupt(found, e) from e
    if im.width * im.height > MAX_PIXELS:
        raise FileRefused(
            "image_too_large",
            f"图片像素过多（{im.width}×{im.height}），最多 {MAX_PIXELS / 1e8:g} 亿像素，请缩小后再上传。",
            detail={"width": im.width, "height": im.height, "limit": MAX_PIXELS},
        )
    return im


def _corrupt(found: str, e: Exception) -> FileRefused:
    return FileRefused(
        "corrupt_file",
        "图片已损坏或不完整（可能上传中断），无法打开，请重新上传。",
        detail={"received": found, "reason": str(e)},
    )


def _decode(data: bytes, found: str) -> tuple[Image.Image, tuple[int, int]]:
    """Decode the whole image (JPEGs at a reduced scale, which still reads every byte) to prove it is
    intact; return it loaded (small enough for the thumbnail) and its size as displayed."""
    im = _open(data, found)
    w, h = im.size
    size = (h, w) if _orientation(im) in (5, 6, 7, 8) else (w, h)
    try:
        if found == "JPEG":
            im.draft("RGB", (THUMB_SIZE * 2, THUMB_SIZE * 2))
        im.load()
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise _corrupt(found, e) from e
    return im, size


def _orientation(im: Image.Image) -> int | None:
    try:
        return im.getexif().get(ExifTags.Base.Orientation)
    except Exception:  # unreadable EXIF: shown as stored
        return None


def _thumbnail(im: Image.Image) -> bytes:
    if _orientation(im) is not None:
        im = ImageOps.exif_transpose(im)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        back = Image.new("RGB", im.size, "white")
        back.paste(im, mask=im.getchannel("A"))
        im = back
    elif im.mode.startswith("I"):  # 16-bit grey (scanners): scale to 8 bits, convert() would clip
        im = im.point(lambda v: v / 256).convert("L").convert("RGB")
    elif im.mode != "RGB":
        im = im.convert("RGB")
    im.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=85, optimize=True)
    return out.getvalue()


# ---------------------------------------------------------------- storing


def store(data: bytes, filename: str, kind: str = "photo") -> StoredFile:
    """Check and keep ``data``; return its record, or raise :class:`FileRefused`.

    ``filename`` (the uploader's name) is not used to decide anything: the extension comes from the
    content. ``kind`` is ``"photo"``, ``"document"`` or ``"scan"``."""
    found, im, size = _check(data, kind)
    content_type, ext = TYPES[found]
    sha = hashlib.sha256(data).hexdigest()
    rel = f"{sha[:2]}/{sha}.{ext}"
    root = files_root()
    target = root / rel
    if not (target.is_file() and _hash_file(target) == sha):
        _write_atomic(target, data)
    width = height = thumb = None
    if im is not None and size is not None:  # images come with their size
        width, height = size
        thumb = f"{sha[:2]}/{sha}.thumb.jpg"
        if not (root / thumb).is_file():
            _write_atomic(root / thumb, _thumbnail(im))
    return StoredFile(
        sha256=sha,
        size=len(data),
        content_type=content_type,
        ext=ext,
        path=rel,
        width=width,
        height=height,
        exif=read_exif(data),
        thumbnail=thumb,
    )


# Inside ``synced_together``: how many files were written without their own fsync (None outside: each is synced).
_unsynced: ContextVar[list[int] | None] = ContextVar("synced_together", default=None)


@contextlib.contextmanager
def synced_together() -> Iterator[None]:
    """Within this block :func:`store` writes files without flushing each to disk; leaving the block flushes them
    all with one ``os.sync()``. For bulk loads (the demo stores over a thousand photos and thumbnails, one fsync
    each costs a journal commit) whose database rows commit after the block ends: a committed row still never
    points at a file that a crash could lose."""
    token = _unsynced.set([0])
    try:
        yield
    finally:
        written = _unsynced.get()
        _unsynced.reset(token)
        if written and written[0]:
            os.sync()


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    pending = _unsynced.get()
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if pending is None:
                os.fsync(f.fileno())
            else:
                pending[0] += 1
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def open_path(sha256: str, thumb: bool = False) -> Path:
    """Absolute path of the stored file (or of its thumbnail) with this hash; FileNotFoundError if
    absent, ValueError if ``sha256`` is not 64 lowercase hex digits."""
    if not _SHA_RE.match(sha256 or ""):
        raise ValueError("sha256 must be 64 lowercase hexadecimal digits")
    folder = files_root() / sha256[:2]
    names = [f"{sha256}.thumb.jpg"] if thumb else [f"{sha256}.{ext}" for _, ext in TYPES.values()]
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"no stored {'thumbnail' if thumb else 'file'} {sha256}")


def verify(sha256: str) -> bool:
    """True when the stored file exists and its bytes still hash to ``sha256``."""
    try:
        return _hash_file(open_path(sha256)) == sha256
    except FileNotFoundError:
        return False


# ---------------------------------------------------------------- EXIF


def read_exif(data: bytes) -> dict[str, Any]:
    """``{taken_at, lon, lat, make, model}`` from the image's EXIF; each None when missing or unreadable
    (never raises; non-images give all None).

    ``taken_at`` is ``DateTimeOriginal`` (else ``DateTimeDigitized``) with its ``OffsetTime…`` when the
    camera wrote one, otherwise read as Beijing time; without either, the GPS time stamp (UTC). ``lon``/
    ``lat`` are decimal degrees, negative for W/S; a position of exactly 0,0 (no fix) counts as missing."""
    out: dict[str, Any] = {"taken_at": None, "lon": None, "lat": None, "make": None, "model": None}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exif = Image.open(io.BytesIO(data)).getexif()
    except Exception:
        return out
    try:
        out["make"] = _text(exif.get(ExifTags.Base.Make))
        out["model"] = _text(exif.get(ExifTags.Base.Model))
    except Exception:
        pass
    try:
        ifd = exif.get_ifd(ExifTags.IFD.Exif)
        out["taken_at"] = _datetime(
            ifd.get(ExifTags.Base.DateTimeOriginal), ifd.get(ExifTags.Base.OffsetTimeOriginal)
        ) or _datetime(ifd.get(ExifTags.Base.DateTimeDigitized), ifd.get(ExifTags.Base.OffsetTimeDigitized))
    except Exception:
        pass
    try:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        lat = _degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef), "S", 90)
        lon = _degrees(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef), "W", 180)
        if lat is not None and lon is not None and not (lat == 0 and lon == 0):
            out["lat"], out["lon"] = lat, lon
        if out["taken_at"] is None:
            out["taken_at"] = _gps_time(gps.get(ExifTags.GPS.GPSDateStamp), gps.get(ExifTags.GPS.GPSTimeStamp))
    except Exception:
        pass
    return out


def _text(v: Any) -> str | None:
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if not isinstance(v, str):
        return None
    v = v.replace("\x00", "").strip()
    return v or None


def _datetime(value: Any, offset: Any) -> datetime | None:
    value = _text(value)
    if not value:
        return None
    try:
        dt = datetime.strptime(value[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = _text(offset)
    m = re.fullmatch(r"([+-])(\d\d):(\d\d)", offset or "")
    if m:
        delta = timedelta(hours=int(m[2]), minutes=int(m[3]))
        return dt.replace(tzinfo=timezone(delta if m[1] == "+" else -delta))
    return dt.replace(tzinfo=SHANGHAI)


def _number(v: Any) -> float:
    if isinstance(v, tuple) and len(v) == 2:  # (numerator, denominator) as some writers leave it
        return v[0] / v[1]
    return float(v)


def _degrees(value: Any, ref: Any, negative: str, limit: float) -> float | None:
    if value is None:
        return None
    parts = list(value) if isinstance(value, (tuple, list)) else [value]
    try:
        nums = [_number(p) for p in parts[:3]]
    except (ZeroDivisionError, TypeError, ValueError):
        return None
    deg = sum(n / 60**i for i, n in enumerate(nums))
    if not math.isfinite(deg) or deg > limit or deg < -limit:
        return None
    if (_text(ref) or "").upper().startswith(negative):
        deg = -abs(deg)
    return round(deg, 7)


def _gps_time(date: Any, time: Any) -> datetime | None:
    date = _text(date)
    if not date or not time or len(time) != 3:
        return None
    try:
        h, m, s = (_number(t) for t in time)
        day = datetime.strptime(date, "%Y:%m:%d").replace(tzinfo=UTC)
        return day + timedelta(hours=h, minutes=m, seconds=round(s))
    except (ValueError, TypeError, ZeroDivisionError, OverflowError):
        return None


# ---------------------------------------------------------------- disagreement


def exif_disagreement(
    exif: dict,
    lon: float | None,
    lat: float | None,
    taken_at: datetime | None,
    max_distance_m: float = 200,
    max_minutes: float = 30,
) -> list[str]:
    """Reasons (Chinese, for the reviewer) why a photo's EXIF does not back up what was reported; an empty
    list when it does. ``exif`` is :func:`read_exif`'s result.

    ``lon``/``lat`` must be WGS84 (GPS) degrees, as phones write EXIF — convert a GCJ-02 position from a
    Chinese map SDK first (geo.gcj02): the two differ by about 500 m in Hangzhou. A naive ``taken_at`` is
    Beijing time. A reported value that is None is not compared; missing EXIF values give their own reason."""
    reasons: list[str] = []
    shot = exif.get("taken_at")
    if shot is None:
        reasons.append("照片没有拍摄时间信息")
    elif taken_at is not None:
        if taken_at.tzinfo is None:
            taken_at = taken_at.replace(tzinfo=SHANGHAI)
        minutes = abs((shot - taken_at).total_seconds()) / 60
        if minutes > max_minutes:
            reasons.append(f"照片拍摄时间与上报时间相差 {_minutes_text(minutes)}")
    if exif.get("lon") is None or exif.get("lat") is None:
        reasons.append("照片没有位置信息")
    elif lon is not None and lat is not None:
        from pyproj import Geod

        _, _, metres = Geod(ellps="WGS84").inv(exif["lon"], exif["lat"], lon, lat)
        if metres > max_distance_m:
            reasons.append(f"照片 GPS 位置与上报位置相距 {_metres_text(metres)}")
    return reasons


def _minutes_text(minutes: float) -> str:
    m = round(minutes)
    if m < 60:
        return f"{m} 分钟"
    if m < 48 * 60:
        h, m = divmod(m, 60)
        return f"{h} 小时 {m} 分钟" if m else f"{h} 小时"
    return f"{round(minutes / 1440)} 天"


def _metres_text(metres: float) -> str:
    return f"{round(metres)} 米" if metres < 1000 else f"{metres / 1000:.1f} 公里"
