"""etl/printform.py: the printable form, read back with Debian's poppler-utils (pdftotext, pdftoppm,
pdfinfo) and zbar-tools (zbarimg). Each check that needs a missing tool is skipped, alone."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from etl import printform
from geo import signing

TITLE = "杭州市建设工程标准化工地评价申请表"
FIELDS = [
    ("项目名称", "杭州市西湖区文三路综合管廊工程（二期）"),
    ("施工单位", "浙江省某某建设集团有限公司"),
    ("统一社会信用代码", "91330100MA27XXXXXX"),
    ("申报等级", "市级标准化工地"),
    ("备注", "第一行\n第二行 <b>A&B</b>"),
]
FOOTER = "杭州市城乡建设委员会 制"


@pytest.fixture(autouse=True)
def key(env):
    env(CHENGJIAN_SIGNING_KEY=signing.new_key_text())


@pytest.fixture
def token() -> str:
    return signing.sign({"form": "BZH-2024-0001", "digest": signing.digest(dict(FIELDS))})


@pytest.fixture
def url(token) -> str:
    return f"https://cj.hangzhou.gov.cn/verify?t={token}"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        # `make test` installs it (Makefile DEB_PACKAGES): a missing tool fails the run rather than skipping.
        pytest.fail(f"{name} not installed (Debian package {'zbar-tools' if name == 'zbarimg' else 'poppler-utils'})")
    return path


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    exe = _tool("pdftotext")
    src = tmp_path / "form.pdf"
    src.write_bytes(pdf)
    run = subprocess.run([exe, "-enc", "UTF-8", str(src), "-"], capture_output=True, check=True)
    if "Missing language pack" in run.stderr.decode(errors="replace"):
        pytest.fail("pdftotext cannot read STSong-Light without Debian's poppler-data (make test installs it)")
    return run.stdout.decode("utf-8")


def page_count(pdf: bytes, tmp_path: Path) -> int:
    exe = _tool("pdfinfo")
    src = tmp_path / "info.pdf"
    src.write_bytes(pdf)
    out = subprocess.run([exe, str(src)], capture_output=True, check=True, text=True).stdout
    assert re.search(r"Page size:\s+595\.2\d* x 841\.8\d* pts \(A4\)", out), out
    return int(re.search(r"Pages:\s+(\d+)", out)[1])


def qr_codes(pdf: bytes, tmp_path: Path) -> list[str]:
    """What zbarimg reads on each page rendered at 150 dpi (one entry per page)."""
    pdftoppm, zbarimg = _tool("pdftoppm"), _tool("zbarimg")
    src = tmp_path / "qr.pdf"
    src.write_bytes(pdf)
    subprocess.run([pdftoppm, "-r", "150", "-png", str(src), str(tmp_path / "page")], check=True)
    found = []
    for png in sorted(tmp_path.glob("page-*.png")):
        run = subprocess.run([zbarimg, "-q", "--raw", str(png)], capture_output=True)
        found.append(run.stdout.decode("utf-8").strip())
    return found


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_pdf_has_the_chinese_labels_and_values(tmp_path, url, token):
    pdf = printform.render_form(TITLE, FIELDS, url, footer=FOOTER)
    assert pdf.startswith(b"%PDF-") and b"STSong-Light" in pdf
    text = squash(pdf_text(pdf, tmp_path))
    for label, value in FIELDS:
        assert squash(label) in text
        assert squash(value) in text
    assert squash(TITLE) in text and squash(FOOTER) in text
    assert "扫码验真" in text and signing.fingerprint(token) in text
    assert "第1页/共1页" in text
    assert page_count(pdf, tmp_path) == 1


def test_qr_code_encodes_verify_url(tmp_path, url):
    pdf = printform.render_form(TITLE, FIELDS, url)
    assert qr_codes(pdf, tmp_path) == [url]


def test_long_values_wrap_onto_more_pages(tmp_path, url):
    long_value = "施工现场围挡、道路硬化、扬尘治理、材料堆放均符合要求。" * 200
    fields = FIELDS + [("整改说明", long_value)] + [(f"附件{i}", f"附件说明{i}") for i in range(40)]
    pdf = printform.render_form(TITLE, fields, url, footer=FOOTER)
    pages = page_count(pdf, tmp_path)
    assert pages >= 3
    text = squash(pdf_text(pdf, tmp_path))
    assert "附件39" in text and f"第{pages}页/共{pages}页" in text
    assert text.count("扫码验真") == pages
    # wrapped across lines and pages, nothing lost (once each page's own marks are taken out)
    fingerprint = signing.fingerprint(printform.token_in_url(url))
    body = re.sub(rf"第\d+页/共{pages}页|扫码验真|{fingerprint}|{squash(FOOTER)}", "", text)
    assert squash(long_value) in body
    assert qr_codes(pdf, tmp_path) == [url] * pages  # every page carries the mark


def test_fingerprint_of_the_token_inside_the_url(url, token):
    assert printform.token_in_url(url) == token
    assert printform.token_in_url(f"https://x.cn/v/{token}") == token
    assert printform.token_in_url(f"https://x.cn/v?lang=zh&t={token}#x") == token
    assert printform.token_in_url(f"https://x.cn/v#{token}") == token
    assert printform.token_in_url("https://x.cn/v/abc") is None


def test_explicit_fingerprint_empty_form_and_reproducible_output(tmp_path, url):
    pdf = printform.render_form("空表", [], url, fingerprint="TEST-0000-0001")
    text = pdf_text(pdf, tmp_path)
    assert "TEST-0000-0001" in text and "空表" in text
    assert printform.render_form(TITLE, FIELDS, url) == printform.render_form(TITLE, FIELDS, url)
