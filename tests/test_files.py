"""geo/files.py: uploaded files checked by content, stored by hash, thumbnails, EXIF (no database needed)."""

from __future__ import annotations

import hashlib
import io
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational
from pyproj import Geod

from geo import files

SHANGHAI = files.SHANGHAI
WEST_LAKE = (120.1481, 30.2425)  # lon, lat


@pytest.fixture(autouse=True)
def root(tmp_path, env) -> Path:
    env(CHENGJIAN_FILES_DIR=str(tmp_path / "files"), CHENGJIAN_MAX_PHOTO_BYTES=None, CHENGJIAN_MAX_DOCUMENT_BYTES=None)
    return tmp_path / "files"


def _dms(value: float) -> tuple:
    value = abs(value)
    d = int(value)
    m = int((value - d) * 60)
    s = round(((value - d) * 60 - m) * 60 * 10000)
    return (IFDRational(d, 1), IFDRational(m, 1), IFDRational(s, 10000))


def make_exif(
    taken: str | None = "2024:05:01 10:15:00",
    offset: str | None = None,
    lon: float | None = WEST_LAKE[0],
    lat: float | None = WEST_LAKE[1],
    make: str | None = "HUAWEI",
    model: str | None = "Mate 60",
    orientation: int | None = None,
) -> Image.Exif:
    """EXIF built with Pillow only: IFD0, the Exif IFD (times) and the GPS IFD."""
    exif = Image.Exif()
    if make:
        exif[ExifTags.Base.Make] = make
    if model:
        exif[ExifTags.Base.Model] = model
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    if taken:
        ifd = exif.get_ifd(ExifTags.IFD.Exif)
        ifd[ExifTags.Base.DateTimeOriginal] = taken
        if offset:
            ifd[ExifTags.Base.OffsetTimeOriginal] = offset
    if lon is not None and lat is not None:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps[ExifTags.GPS.GPSLatitudeRef] = "N" if lat >= 0 else "S"
        gps[ExifTags.GPS.GPSLatitude] = _dms(lat)
        gps[ExifTags.GPS.GPSLongitudeRef] = "E" if lon >= 0 else "W"
        gps[ExifTags.GPS.GPSLongitude] = _dms(lon)
    return exif


def picture(size=(800, 600), split=False) -> Image.Image:
    """A photo-like noise image; with ``split`` the left half red, the right half blue."""
    if split:
        im = Image.new("RGB", size, (0, 0, 255))
        im.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
        return im
    noise = Image.effect_noise(size, 64)
    return Image.merge("RGB", [noise, noise.rotate(90, expand=False), noise.transpose(Image.Transpose.FLIP_LEFT_RIGHT)])


def encode(im: Image.Image, fmt: str = "JPEG", exif: Image.Exif | None = None, **kw) -> bytes:
    out = io.BytesIO()
    if exif is not None:
        kw["exif"] = exif
    im.save(out, fmt, **kw)
    return out.getvalue()


def jpeg(exif: Image.Exif | None = None, size=(800, 600), split=False) -> bytes:
    return encode(picture(size, split), "JPEG", exif if exif is not None else make_exif(), quality=90)


def pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


def stored_names(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.is_file())


# ---------------------------------------------------------------- storing


def test_store_jpeg_keeps_original_bytes_and_reads_exif(root):
    data = jpeg()
    rec = files.store(data, "IMG_0001.JPG")
    sha = hashlib.sha256(data).hexdigest()
    assert rec.sha256 == sha and rec.size == len(data)
    assert (rec.content_type, rec.ext) == ("image/jpeg", "jpg")
    assert rec.path == f"{sha[:2]}/{sha}.jpg"
    assert rec.thumbnail == f"{sha[:2]}/{sha}.thumb.jpg"
    assert (root / rec.path).read_bytes() == data  # unchanged, EXIF included
    assert files.read_exif((root / rec.path).read_bytes())["lat"] == rec.exif["lat"]
    assert (rec.width, rec.height) == (800, 600)
    assert rec.exif["make"] == "HUAWEI" and rec.exif["model"] == "Mate 60"
    assert rec.exif["lon"] == pytest.approx(WEST_LAKE[0], abs=1e-6)
    assert rec.exif["lat"] == pytest.approx(WEST_LAKE[1], abs=1e-6)
    assert rec.exif["taken_at"] == datetime(2024, 5, 1, 10, 15, tzinfo=SHANGHAI)
    assert files.open_path(sha) == root / rec.path
    assert files.open_path(sha, thumb=True) == root / rec.thumbnail
    assert rec.as_dict()["exif"]["taken_at"] == "2024-05-01T10:15:00+08:00"
    assert not [p for p in root.rglob(".tmp-*")]


def test_type_comes_from_content_not_name(root):
    png = encode(picture((64, 48)), "PNG")
    rec = files.store(png, "photo.jpg")
    assert (rec.content_type, rec.ext) == ("image/png", "png") and rec.path.endswith(".png")
    webp = encode(picture((64, 48)), "WEBP")
    rec = files.store(webp, "photo.pdf")
    assert (rec.content_type, rec.ext, rec.width) == ("image/webp", "webp", 64)


def test_pdf_named_jpg_is_refused_as_photo(root):
    with pytest.raises(files.FileRefused) as e:
        files.store(pdf(), "现场照片.jpg", kind="photo")
    err = e.value
    assert (err.status, err.code, err.field) == (415, "unsupported_file_type", "file")
    assert err.message == "文件类型不符：只接受 JPEG/PNG/WebP 照片，收到的是 PDF。"
    assert err.detail["received"] == "PDF"
    assert err.as_dict()["message"] == err.message
    assert stored_names(root) == []


def test_pdf_is_a_document_without_thumbnail(root):
    rec = files.store(pdf(), "申请表.jpg", kind="document")
    assert (rec.content_type, rec.ext, rec.width, rec.height, rec.thumbnail) == (
        "application/pdf",
        "pdf",
        None,
        None,
        None,
    )
    assert rec.exif == {"taken_at": None, "lon": None, "lat": None, "make": None, "model": None}
    assert files.store(pdf(), "scan.pdf", kind="scan") == rec
    with pytest.raises(FileNotFoundError):
        files.open_path(rec.sha256, thumb=True)


@pytest.mark.parametrize(
    "data, kind, received, words",
    [
        (encode(picture((32, 32)), "GIF"), "photo", "GIF", "GIF"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, "photo", "HEIC", "兼容性最佳"),
        (b"PK\x03\x04" + b"\x00" * 100, "document", "ZIP", "Word/Excel"),
        (os.urandom(2000), "photo", None, "无法识别"),
        (encode(picture((32, 32)), "WEBP"), "document", "WEBP", "只接受 PDF/JPEG/PNG 文件"),
    ],
)
def test_other_types_are_refused_with_a_reason(data, kind, received, words):
    if received is None:
        data = b"\x01" + data[1:]  # never starts like a known type
    with pytest.raises(files.FileRefused) as e:
        files.store(data, "x.jpg", kind=kind)
    assert e.value.status == 415 and e.value.detail["received"] == received
    assert words in e.value.message


def test_truncated_jpeg_is_refused(root):
    data = jpeg()
    for cut in (len(data) // 2, len(data) - 2, 200):
        with pytest.raises(files.FileRefused) as e:
            files.store(data[:cut], "x.jpg")
        assert (e.value.status, e.value.code) == (422, "corrupt_file")
        assert "损坏或不完整" in e.value.message
    assert stored_names(root) == []


def test_truncated_pdf_and_empty_file_are_refused():
    with pytest.raises(files.FileRefused) as e:
        files.store(pdf()[:60], "a.pdf", kind="document")
    assert (e.value.status, e.value.code) == (422, "corrupt_file") and "PDF 文件不完整" in e.value.message
    with pytest.raises(files.FileRefused) as e:
        files.store(b"", "a.jpg")
    assert (e.value.status, e.value.code) == (422, "empty_file")


def test_size_limits_per_kind_from_environment(env, root):
    data = jpeg()
    env(CHENGJIAN_MAX_PHOTO_BYTES=str(len(data) - 1))
    with pytest.raises(files.FileRefused) as e:
        files.store(data, "big.jpg")
    assert (e.value.status, e.value.code) == (413, "file_too_large")
    assert e.value.detail == {"size": len(data), "limit": len(data) - 1}
    assert e.value.message.startswith("文件过大：照片不能超过")
    # documents and scans have their own limit
    assert files.store(data, "big.jpg", kind="scan").size == len(data)
    env(CHENGJIAN_MAX_DOCUMENT_BYTES=str(2 * 1024 * 1024))
    with pytest.raises(files.FileRefused) as e:
        files.store(pdf() + b" " * (3 * 1024 * 1024), "a.pdf", kind="document")
    assert e.value.status == 413
    assert e.value.message == "文件过大：文档不能超过 2 MB，收到的文件有 3 MB。"
    env(CHENGJIAN_MAX_PHOTO_BYTES=None)
    assert files.max_bytes("photo") == 15 * 1024 * 1024


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError):
        files.store(jpeg(), "a.jpg", kind="video")


def test_same_bytes_twice_is_one_file(root):
    data = jpeg()
    first = files.store(data, "a.jpg")
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    second = files.store(data, "b.jpeg", kind="document")
    assert second == first
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()} == before
    assert stored_names(root) == sorted([f"{first.sha256}.jpg", f"{first.sha256}.thumb.jpg"])


def test_verify_detects_tampering_and_store_repairs(root):
    data = jpeg()
    rec = files.store(data, "a.jpg")
    assert files.verify(rec.sha256)
    path = root / rec.path
    path.write_bytes(data[:-10] + b"0123456789")
    assert not files.verify(rec.sha256)
    files.store(data, "a.jpg")  # storing the same bytes again rewrites a damaged copy
    assert files.verify(rec.sha256) and path.read_bytes() == data
    path.unlink()
    assert not files.verify(rec.sha256)


def test_open_path_refuses_bad_hashes(root):
    with pytest.raises(ValueError):
        files.open_path("../../etc/passwd")
    with pytest.raises(ValueError):
        files.verify("ABC")
    with pytest.raises(FileNotFoundError):
        files.open_path("0" * 64)


def test_root_follows_the_settings(env, tmp_path):
    env(CHENGJIAN_FILES_DIR=str(tmp_path / "one"))
    rec = files.store(jpeg(), "a.jpg")
    assert (tmp_path / "one" / rec.path).is_file()
    env(CHENGJIAN_FILES_DIR=str(tmp_path / "two"))
    assert files.files_root() == tmp_path / "two" and not files.verify(rec.sha256)
    env(CHENGJIAN_FILES_DIR=None)
    from geo.settings import get_settings

    assert files.files_root() == get_settings().data_dir / "files"


# ---------------------------------------------------------------- thumbnails


def test_thumbnail_longest_side_320(root):
    rec = files.store(jpeg(size=(1000, 500)), "a.jpg")
    thumb = Image.open(root / rec.thumbnail)
    assert thumb.format == "JPEG" and thumb.size == (320, 160)
    assert not thumb.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # no position leaks through thumbnails


def test_thumbnail_applies_exif_orientation(root):
    # Stored 400x200 (left red, right blue) with orientation 6: shown rotated 90° clockwise, 200x400,
    # the stored left half on top.
    rec = files.store(jpeg(make_exif(orientation=6), size=(400, 200), split=True), "a.jpg")
    assert (rec.width, rec.height) == (200, 400)
    thumb = Image.open(root / rec.thumbnail).convert("RGB")
    assert thumb.size == (160, 320)
    top, bottom = thumb.getpixel((80, 40)), thumb.getpixel((80, 280))
    assert top[0] > 200 and top[2] < 60, top  # red
    assert bottom[2] > 200 and bottom[0] < 60, bottom  # blue


def test_small_and_transparent_images(root):
    rec = files.store(encode(picture((100, 50)), "PNG"), "small.png")
    assert Image.open(root / rec.thumbnail).size == (100, 50)  # never enlarged
    clear = Image.new("RGBA", (600, 300), (0, 0, 0, 0))
    rec = files.store(encode(clear, "PNG"), "clear.png", kind="scan")
    thumb = Image.open(root / rec.thumbnail)
    assert thumb.mode == "RGB" and thumb.size == (320, 160)
    assert min(thumb.getpixel((10, 10))) > 245  # transparency flattened onto white


@pytest.mark.parametrize("mode, fmt", [("L", "JPEG"), ("CMYK", "JPEG"), ("I;16", "PNG"), ("P", "PNG"), ("1", "PNG")])
def test_thumbnails_of_other_colour_modes(root, mode, fmt):
    im = picture((640, 480)).convert(mode) if mode != "I;16" else Image.new("I;16", (640, 480), 40000)
    rec = files.store(encode(im, fmt), "scan", kind="scan")
    thumb = Image.open(root / rec.thumbnail)
    assert thumb.mode == "RGB" and thumb.size == (320, 240)
    if mode == "I;16":
        assert thumb.getpixel((5, 5))[0] == pytest.approx(40000 / 256, abs=2)  # scaled, not clipped


def test_phone_jpeg_with_extra_pictures_is_a_jpeg(root):
    # Many phones write MPO (a JPEG followed by more pictures); Pillow names it MPO, it is still a JPEG.
    out = io.BytesIO()
    picture((400, 300)).save(out, "MPO", save_all=True, append_images=[picture((160, 120))], exif=make_exif())
    assert Image.open(io.BytesIO(out.getvalue())).format == "MPO"
    rec = files.store(out.getvalue(), "IMG.JPG")
    assert (rec.ext, rec.content_type, rec.width, rec.height) == ("jpg", "image/jpeg", 400, 300)
    assert rec.exif["make"] == "HUAWEI"


def test_too_many_pixels_is_refused_before_decoding(monkeypatch):
    monkeypatch.setattr(files, "MAX_PIXELS", 1000)
    with pytest.raises(files.FileRefused) as e:
        files.store(encode(picture((50, 50)), "PNG"), "a.png")
    assert (e.value.status, e.value.code) == (413, "image_too_large")
    assert "50×50" in e.value.message


# ---------------------------------------------------------------- EXIF


def test_read_exif_time_zones_and_hemispheres():
    exif = files.read_exif(jpeg(make_exif(offset="-05:00", lon=-73.9857, lat=-40.7484)))
    assert exif["taken_at"] == datetime(2024, 5, 1, 10, 15, tzinfo=timezone(timedelta(hours=-5)))
    assert exif["lon"] == pytest.approx(-73.9857, abs=1e-6) and exif["lat"] == pytest.approx(-40.7484, abs=1e-6)
    naive = files.read_exif(jpeg(make_exif()))["taken_at"]
    assert naive.utcoffset() == timedelta(hours=8) and naive.tzinfo is SHANGHAI


def test_read_exif_missing_values():
    empty = {"taken_at": None, "lon": None, "lat": None, "make": None, "model": None}
    assert files.read_exif(encode(picture((20, 20)), "PNG")) == empty
    assert files.read_exif(pdf()) == empty
    assert files.read_exif(b"") == empty
    exif = files.read_exif(jpeg(make_exif(taken=None, lon=None, lat=None, model=None)))
    assert exif == {**empty, "make": "HUAWEI"}
    assert files.read_exif(jpeg(make_exif(lon=0.0, lat=0.0)))["lon"] is None  # 0,0: no fix


def test_read_exif_from_png_and_webp():
    for fmt in ("PNG", "WEBP"):
        exif = files.read_exif(encode(picture((40, 30)), fmt, make_exif(offset="+08:00")))
        assert exif["taken_at"] == datetime(2024, 5, 1, 2, 15, tzinfo=UTC)
        assert exif["lat"] == pytest.approx(WEST_LAKE[1], abs=1e-6)


def test_exif_disagreement():
    exif = files.read_exif(jpeg())
    shot = exif["taken_at"]
    lon, lat = WEST_LAKE
    assert files.exif_disagreement(exif, lon, lat, shot) == []
    assert files.exif_disagreement(exif, lon, lat, shot.astimezone(UTC) + timedelta(minutes=29)) == []
    # a naive reported time is Beijing time
    assert files.exif_disagreement(exif, lon, lat, datetime(2024, 5, 1, 11, 0)) == [
        "照片拍摄时间与上报时间相差 45 分钟"
    ]
    assert files.exif_disagreement(exif, lon, lat, datetime(2024, 5, 1, 13, 20, tzinfo=SHANGHAI)) == [
        "照片拍摄时间与上报时间相差 3 小时 5 分钟"
    ]
    assert files.exif_disagreement(exif, lon, lat, shot + timedelta(days=3)) == ["照片拍摄时间与上报时间相差 3 天"]

    geod = Geod(ellps="WGS84")
    near_lon, near_lat, _ = geod.fwd(exif["lon"], exif["lat"], 45, 150)
    far_lon, far_lat, _ = geod.fwd(exif["lon"], exif["lat"], 45, 1200)
    mid_lon, mid_lat, _ = geod.fwd(exif["lon"], exif["lat"], 45, 450)
    assert files.exif_disagreement(exif, near_lon, near_lat, shot) == []
    assert files.exif_disagreement(exif, far_lon, far_lat, shot) == ["照片 GPS 位置与上报位置相距 1.2 公里"]
    assert files.exif_disagreement(exif, mid_lon, mid_lat, shot) == ["照片 GPS 位置与上报位置相距 450 米"]
    assert files.exif_disagreement(exif, near_lon, near_lat, shot, max_distance_m=100) == [
        "照片 GPS 位置与上报位置相距 150 米"
    ]
    both = files.exif_disagreement(exif, far_lon, far_lat, datetime(2024, 5, 1, 11, 0))
    assert both == ["照片拍摄时间与上报时间相差 45 分钟", "照片 GPS 位置与上报位置相距 1.2 公里"]
    # nothing reported: nothing to compare
    assert files.exif_disagreement(exif, None, None, None) == []


def test_exif_disagreement_without_exif():
    bare = files.read_exif(encode(picture((20, 20)), "PNG"))
    assert files.exif_disagreement(bare, *WEST_LAKE, datetime(2024, 5, 1, 10, 0)) == [
        "照片没有拍摄时间信息",
        "照片没有位置信息",
    ]
    no_gps = files.read_exif(jpeg(make_exif(lon=None, lat=None)))
    assert files.exif_disagreement(no_gps, *WEST_LAKE, no_gps["taken_at"]) == ["照片没有位置信息"]
