"""Drawings online (DR-07) and the comments pinned on them (DR-06): uploads checked by their bytes (CAD files, corrupt
and encrypted PDFs, oversized uploads refused with nothing stored), a multi-page PDF rendered to deep-zoom pyramids by
a real ``chengjian worker`` (a 50-page set in the background while the app answers), raster images, tiles served
with immutable caching, comments, and row-level security over all of it."""

from __future__ import annotations

import io
import os
import secrets
import select
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import pyvips
import sqlalchemy as sa
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.pdfgen import canvas
from stdnum.cn import uscc as uscc_mod

from layers.drawing_review import pyramid
from layers.drawing_review.demo_drawings import drawing_pdf
from tests.conftest import LEADER, make_user, running_server, set_environment

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
URL = "/api/review/drawings"
DEADLINE_S = 180


def new_uscc() -> str:
    body = "91330106" + "".join(secrets.choice(ALPHABET) for _ in range(9))
    return body + uscc_mod.calc_check_digit(body)


def make_application(engine, tag: str, district: str = "西湖区", status: str = "reviewing", round_no: int = 1) -> dict:
    """An application of the drawing review with its pin, builder, design unit and one building (as the flow leaves
    it), written as the schema owner."""
    builder, designer = new_uscc(), new_uscc()
    with engine.begin() as conn:
        for code, name in ((builder, f"{tag}建设单位"), (designer, f"{tag}设计院")):
            conn.execute(sa.text("INSERT INTO enterprises (uscc, name) VALUES (:u, :n)"), {"u": code, "n": name})
        pin = conn.execute(
            sa.text(
                "INSERT INTO review_projects (code, name, district, status, geom) "
                "VALUES (:c, :n, :d, '审查中', ST_SetSRID(ST_MakePoint(120.13, 30.27), 4326)) RETURNING id"
            ),
            {"c": f"DRW-{tag}", "n": f"{tag}项目", "d": district},
        ).scalar_one()
        app_id = conn.execute(
            sa.text(
                "INSERT INTO dr_applications (application_no, review_project_id, project_code, name, submission_name, "
                "builder_uscc, designer_uscc, review_category, grade, contents, district, status, round_no) "
                "VALUES (:no, :pin, :code, :name, '施工图送审', :b, :d, '房屋建筑', '二类', ARRAY['general','fire'], "
                ":district, :status, :round) RETURNING id"
            ),
            {
                "no": f"SQ-{tag}",
                "pin": pin,
                "code": f"DRW-{tag}",
                "name": f"{tag}项目",
                "b": builder,
                "d": designer,
                "district": district,
                "status": status,
                "round": round_no,
            },
        ).scalar_one()
        building = conn.execute(
            sa.text(
                "INSERT INTO dr_buildings (application_id, review_project_id, name, district) "
                "VALUES (:a, :p, '1#楼', :d) RETURNING id"
            ),
            {"a": app_id, "p": pin, "d": district},
        ).scalar_one()
    return {"id": app_id, "pin": pin, "building": building, "district": district, "usccs": [builder, designer]}


def remove_applications(engine, apps: list[dict]) -> None:
    """Take the test's applications away again (their drawings, sheets and comments go with them), their pins and
    enterprises too: other modules' tests that read the review's tables see none of them."""
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM dr_applications WHERE id = ANY(:a)"), {"a": [a["id"] for a in apps]})
        conn.execute(sa.text("DELETE FROM review_projects WHERE id = ANY(:p)"), {"p": [a["pin"] for a in apps]})
        usccs = [u for a in apps for u in a["usccs"]]
        conn.execute(sa.text("DELETE FROM enterprises WHERE uscc = ANY(:u)"), {"u": usccs})


@pytest.fixture(scope="module")
def files_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("drawing-files")
    restore = set_environment(CHENGJIAN_FILES_DIR=str(folder), CHENGJIAN_DR_RENDER_DPI="36")
    yield folder
    restore()


@pytest.fixture(scope="module")
def world(engine, files_dir):
    tag = secrets.token_hex(3)
    app = make_application(engine, f"T{tag}")
    closed = make_application(engine, f"C{tag}", status="certified")
    drawn = make_application(engine, f"D{tag}", status="drawn", round_no=0)
    other = make_application(engine, f"O{tag}", district="余杭区")
    pins = [app["pin"], closed["pin"], drawn["pin"]]
    yield {
        "app": app,
        "closed": closed,
        "drawn": drawn,
        "other": other,
        "designer": make_user(f"dr-designer-{tag}", ["design_unit"], grants={"review_projects": pins}),
        "builder": make_user(f"dr-builder-{tag}", ["builder"], grants={"review_projects": pins}),
        "agency": make_user(f"dr-agency-{tag}", ["review_agency"], grants={"review_projects": pins}),
        "stranger": make_user(f"dr-stranger-{tag}", ["design_unit"], grants={"review_projects": [other["pin"]]}),
        "yuhang": make_user(f"dr-yuhang-{tag}", ["district_staff"], district="余杭区"),
        "xihu": make_user(f"dr-xihu-{tag}", ["district_staff"], district="西湖区"),
    }
    remove_applications(engine, [app, closed, drawn, other])


def upload(client, headers, app_id, data, discipline="architecture", round_no=1, building_id=None, name="图纸.pdf"):
    params = {"application_id": app_id, "round_no": round_no, "discipline": discipline, "file_name": name}
    if building_id:
        params["building_id"] = building_id
    return client.post(URL, params=params, content=data, headers=headers)


def stored(engine, app_id: int) -> tuple[int, int]:
    with engine.connect() as conn:
        sets = conn.execute(sa.text("SELECT count(*) FROM dr_drawing_sets WHERE application_id = :a"), {"a": app_id})
        sheets = conn.execute(sa.text("SELECT count(*) FROM dr_sheets WHERE application_id = :a"), {"a": app_id})
        return sets.scalar_one(), sheets.scalar_one()


def kept_files(files_dir: Path) -> list[Path]:
    """Every file kept under the drawings' folder (the received originals and pyramids), none half-written."""
    root = files_dir / "drawings"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def encrypted_pdf(user_password: str) -> bytes:
    out = io.BytesIO()
    c = canvas.Canvas(out, encrypt=StandardEncryption(user_password, ownerPassword="owner-secret", canPrint=0))
    c.drawString(100, 700, "encrypted drawing")
    c.showPage()
    c.save()
    return out.getvalue()


# -- what is refused -------------------------------------------------------------------------------------------------


def test_cad_files_and_other_types_are_refused_by_their_bytes(client, world, engine, files_dir):
    app, designer = world["app"], world["designer"]
    before = (stored(engine, app["id"]), kept_files(files_dir))
    dwg = b"AC1032\x00\x00\x00\x00\x06\x01" + os.urandom(4000)
    r = upload(client, designer, app["id"], dwg, name="一层平面图.pdf")  # the name says PDF: the bytes decide
    assert r.status_code == 415, r.text
    body = r.json()
    assert body["code"] == "cad_not_accepted" and body["field"] == "file"
    assert "AutoCAD DWG" in body["message"] and "导出" in body["message"] and "PDF" in body["message"]
    dxf = b"  0\r\nSECTION\r\n  2\r\nHEADER\r\n  9\r\n$ACADVER\r\n  1\r\nAC1027\r\n  0\r\nENDSEC\r\n  0\r\nEOF\r\n"
    r = upload(client, designer, app["id"], dxf, name="plan.dxf")
    assert r.status_code == 415 and r.json()["code"] == "cad_not_accepted" and "DXF" in r.json()["message"]
    r = upload(client, designer, app["id"], b"PK\x03\x04" + os.urandom(500), name="说明.docx")
    assert r.status_code == 415 and r.json()["code"] == "unsupported_file_type"
    assert "PDF" in r.json()["message"] and "压缩包" in r.json()["message"]
    r = upload(client, designer, app["id"], b"", name="空.pdf")
    assert r.status_code == 422 and r.json()["code"] == "empty_file"
    assert (stored(engine, app["id"]), kept_files(files_dir)) == before


def test_corrupt_and_encrypted_pdfs_are_refused(client, world, engine, files_dir):
    app, designer = world["app"], world["designer"]
    before = (stored(engine, app["id"]), kept_files(files_dir))
    good = drawing_pdf(pages=2, seed=7)
    r = upload(client, designer, app["id"], good[: len(good) // 2])  # cut off mid-upload
    assert r.status_code == 422 and r.json()["code"] == "corrupt_pdf", r.text
    assert "损坏" in r.json()["message"]
    garbage = b"%PDF-1.7\n" + os.urandom(3000) + b"\n%%EOF\n"  # a PDF header and trailer around nothing
    r = upload(client, designer, app["id"], garbage)
    assert r.status_code == 422 and r.json()["code"] == "corrupt_pdf", r.text
    for password in ("open-me", ""):  # an open password, or only a permissions (owner) password
        r = upload(client, designer, app["id"], encrypted_pdf(password))
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "encrypted_pdf" and "加密" in r.json()["message"]
    assert (stored(engine, app["id"]), kept_files(files_dir)) == before


def _raw_upload(base: str, path: str, headers: dict, chunks, total_declared: int | None) -> tuple[int, bytes, int]:
    """Send a request body chunk by chunk over a plain socket and stop as soon as the server answers; returns the
    status, the response and how many body bytes were sent (an HTTP client would insist on sending everything)."""
    u = urlsplit(base)
    sock = socket.create_connection((u.hostname, u.port))
    head = [f"POST {path} HTTP/1.1", f"Host: {u.hostname}:{u.port}", "Content-Type: application/pdf"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append(f"Content-Length: {total_declared}" if total_declared is not None else "Transfer-Encoding: chunked")
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    sent = 0
    try:
        for chunk in chunks:
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                if total_declared is None:
                    sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                else:
                    sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        sock.settimeout(30)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < 20:
            part = sock.recv(65536)
            if not part:
                break
            answer += part
    finally:
        sock.close()
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1], sent


def _zeros(total: int, size: int = 1 << 20):
    """``total`` bytes of a would-be PDF, ``size`` at a time."""
    yield b"%PDF-1.7\n" + b"\0" * (size - 9)
    zeros = b"\0" * size
    for _ in range(1, total // size):
        yield zeros


def test_oversized_uploads_are_refused_while_streaming_and_nothing_is_stored(app, world, engine, files_dir, env):
    a, designer = world["app"], world["designer"]
    before = (stored(engine, a["id"]), kept_files(files_dir))
    path = f"{URL}?application_id={a['id']}&round_no=1&discipline=architecture&file_name=big.pdf"
    with running_server(app) as base:
        # The case: 500 MB, sent as a stream with no length announced — refused (413) once past the limit,
        # long before 500 MB went over the wire.
        status, body, sent = _raw_upload(base, path, designer, _zeros(500 * 1024 * 1024), None)
        assert status == 413, body
        assert b"payload_too_large" in body or b"file_too_large" in body
        assert sent < 400 * 1024 * 1024
        # Announced as 500 MB: refused before a byte of the body is read.
        status, body, _ = _raw_upload(base, path, designer, _zeros(4 * 1024 * 1024), 500 * 1024 * 1024)
        assert status == 413
        # The drawings' own limit (lower than the platform's), checked as the stream arrives.
        env(CHENGJIAN_DR_MAX_DRAWING_BYTES=str(2 * 1024 * 1024))
        status, body, sent = _raw_upload(base, path, designer, _zeros(20 * 1024 * 1024), None)
        assert status == 413 and b"file_too_large" in body, body
        assert "不能超过 2 MB".encode() in body
        assert sent < 20 * 1024 * 1024
    assert (stored(engine, a["id"]), kept_files(files_dir)) == before


def test_who_may_upload_where(client, world, engine, files_dir):
    pdf = drawing_pdf(pages=1, seed=11)
    app, closed, drawn = world["app"], world["closed"], world["drawn"]
    # Not the application's design unit (another project's): it does not exist for them.
    r = upload(client, world["stranger"], app["id"], pdf)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    # The agency reviews, it does not upload.
    r = upload(client, world["agency"], app["id"], pdf)
    assert r.status_code == 403
    r = upload(client, world["designer"], closed["id"], pdf)
    assert r.status_code == 409 and r.json()["code"] == "drawings_closed"
    r = upload(client, world["designer"], app["id"], pdf, round_no=3)
    assert r.status_code == 422 and r.json()["code"] == "round_out_of_range" and r.json()["field"] == "round_no"
    r = upload(client, world["designer"], app["id"], pdf, discipline="painting")
    assert r.status_code == 422 and r.json()["code"] == "unknown_discipline"
    r = upload(client, world["designer"], app["id"], pdf, building_id=world["other"]["building"])
    assert r.status_code == 422 and r.json()["code"] == "unknown_building"
    assert stored(engine, closed["id"]) == (0, 0)
    # Before the review starts (round 0) the builder uploads the submitted drawings: round 1 only.
    assert upload(client, world["builder"], drawn["id"], pdf, round_no=2).status_code == 422
    r = upload(client, world["builder"], drawn["id"], pdf, round_no=1, name="总图.pdf")
    assert r.status_code == 201, r.text
    assert r.json()["file_name"] == "总图.pdf" and r.json()["progress"] == {"done": 0, "total": 1, "percent": 0}


# -- from upload to tiles ------------------------------------------------------------------------------------------


def _tile_is_drawn(content: bytes) -> bool:
    """A JPEG tile with dark strokes on white (the sheet's lines and text), not a blank one."""
    image = pyvips.Image.new_from_buffer(content, "")
    return image.min() < 100 and image.max() > 200


def wait_ready(client, engine, headers, set_id: int, what: str, log: Path, check=None) -> dict:
    """Wait for the set to be ready or failed (``check`` also sees each answer); on a timeout, fail with the
    queue's state and the worker's log."""
    import _pytest.outcomes

    from tests.test_tasks import wait_for

    def done():
        x = client.get(f"{URL}/{set_id}", headers=headers).json()
        if check is not None:
            check(x)
        return x["status"] in ("ready", "failed") and x

    try:
        return wait_for(what, done, DEADLINE_S)
    except _pytest.outcomes.Failed:
        pytest.fail(
            f"{what} not rendered in {DEADLINE_S} s\n{_queue_state(engine)}\n{log.read_text(errors='replace')[-3000:]}"
        )


def _queue_state(engine) -> str:
    """The queue's jobs and the sets' states, for a failure message."""
    with engine.connect() as conn:
        jobs = conn.execute(sa.text("SELECT id, status, task_name, args, queue_name FROM procrastinate_jobs")).all()
        sets = conn.execute(sa.text("SELECT id, status, pages_done, page_count, job_id FROM dr_drawing_sets")).all()
    return f"jobs: {jobs}\nsets: {sets}"


def test_a_multipage_pdf_becomes_sheets_with_tiles_in_a_worker(client, world, engine, files_dir, tmp_path):
    from tests.test_tasks import worker

    app, designer, agency = world["app"], world["designer"], world["agency"]
    pdf = drawing_pdf(pages=3, size="A1", seed=21)
    r = upload(client, designer, app["id"], pdf, building_id=app["building"], name="建施-一层至三层.pdf")
    assert r.status_code == 201, r.text
    first = r.json()
    assert r.headers["location"] == f"{URL}/{first['id']}"
    assert first["status"] in ("queued", "processing") and first["progress"]["total"] == 3
    assert [s["page_no"] for s in first["sheets"]] == [1, 2, 3]
    assert first["sheets"][0]["width_mm"] == pytest.approx(841, abs=1) and first["building"] == "1#楼"
    assert first["discipline_title"] == "建筑" and first["round_title"].startswith("第 1 轮")
    # The same file for the same place: the same set, nothing new.
    again = upload(client, designer, app["id"], pdf, building_id=app["building"], name="重复.pdf")
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    with engine.connect() as conn:
        twins = conn.execute(
            sa.text("SELECT count(*) FROM dr_drawing_sets WHERE application_id = :a AND sha256 = :s"),
            {"a": app["id"], "s": first["sha256"]},
        ).scalar_one()
    assert twins == 1
    with engine.connect() as conn:
        audited = conn.execute(
            sa.text("SELECT count(*) FROM audit_log WHERE action = 'drawing_upload' AND feature_id = :i"),
            {"i": first["id"]},
        ).scalar_one()
    assert audited == 1

    worker_env = {"CHENGJIAN_FILES_DIR": str(files_dir), "CHENGJIAN_DR_RENDER_DPI": "36"}
    with worker(tmp_path, "w-drawings", "--queues", "default", env=worker_env) as log:
        done = wait_ready(client, engine, designer, first["id"], "the drawing set", log)
    assert done["status"] == "ready", (done, log.read_text(errors="replace")[-3000:])
    assert done["progress"] == {"done": 3, "total": 3, "percent": 100}
    sheet = done["sheets"][1]
    assert sheet["status"] == "ready" and sheet["dpi"] == 36
    assert sheet["width"] == pytest.approx(841 / 25.4 * 36, abs=2) and sheet["levels"] >= 11

    # The agency (granted the project) reads the sheet, its descriptor and its tiles.
    info = client.get(f"/api/review/sheets/{sheet['id']}", headers=agency).json()
    assert info["set"]["id"] == first["id"] and [s["page_no"] for s in info["siblings"]] == [1, 2, 3]
    dzi = client.get(sheet["dzi"], headers=agency)
    assert dzi.status_code == 200 and dzi.headers["content-type"].startswith("application/xml")
    assert f'Width="{sheet["width"]}"' in dzi.text and f'TileSize="{pyramid.TILE_SIZE}"' in dzi.text
    top = sheet["levels"] - 1
    tile = client.get(f"{sheet['tiles']}{top}/1_1.jpg", headers=agency)
    assert tile.status_code == 200 and tile.headers["content-type"] == "image/jpeg"
    assert "immutable" in tile.headers["cache-control"] and "private" in tile.headers["cache-control"]
    thumb = client.get(sheet["thumbnail"], headers=agency)
    assert thumb.status_code == 200 and _tile_is_drawn(thumb.content)
    assert client.get(f"{sheet['tiles']}{top}/999_999.jpg", headers=agency).status_code == 404
    assert client.get(f"{sheet['tiles']}{top}/..%2F..%2Fpyr.dzi", headers=agency).status_code == 404
    # Outside the scope nothing of it is found: another project's design unit, another district's staff.
    for who in (world["stranger"], world["yuhang"]):
        assert client.get(sheet["dzi"], headers=who).status_code == 404
        assert client.get(f"{sheet['tiles']}{top}/1_1.jpg", headers=who).status_code == 404
        assert client.get(f"/api/review/sheets/{sheet['id']}", headers=who).status_code == 404
        assert client.get(f"{URL}/{first['id']}", headers=who).status_code == 404
        assert client.get(URL, params={"application_id": app["id"]}, headers=who).status_code == 404
    # The district's staff and a leader see it; an account without any review permission does not.
    assert client.get(sheet["dzi"], headers=world["xihu"]).status_code == 200
    assert client.get(sheet["dzi"], headers=LEADER).status_code == 200
    assert client.get(sheet["dzi"]).status_code in (401, 403)


def test_fifty_sheets_render_in_the_background_while_the_app_answers(client, world, engine, files_dir, tmp_path):
    from tests.test_tasks import wait_for, worker

    app, designer = world["app"], world["designer"]
    pdf = drawing_pdf(pages=50, size="A1", seed=50)
    r = upload(client, designer, app["id"], pdf, discipline="structure", name="结构施工图（50张）.pdf")
    assert r.status_code == 201, r.text
    set_id = r.json()["id"]
    seen: list[tuple[str, int]] = []
    answers: list[float] = []
    worker_env = {"CHENGJIAN_FILES_DIR": str(files_dir), "CHENGJIAN_DR_RENDER_DPI": "36"}
    with worker(tmp_path, "w-drawings-50", "--queues", "default", env=worker_env):

        def progress():
            started = time.perf_counter()
            listing = client.get(URL, params={"application_id": app["id"]}, headers=designer)
            health = client.get("/healthz")
            answers.append(time.perf_counter() - started)
            assert listing.status_code == 200 and health.status_code == 200
            one = next(s for s in listing.json()["sets"] if s["id"] == set_id)
            seen.append((one["status"], one["progress"]["done"]))
            return one["status"] in ("ready", "failed") and one

        done = wait_for("the 50-sheet set", progress, DEADLINE_S)
    assert done["status"] == "ready" and done["progress"] == {"done": 50, "total": 50, "percent": 100}
    # The app answered all along, and the progress was seen moving while the worker rendered.
    assert any(status == "processing" and 0 < n < 50 for status, n in seen), seen
    assert len(answers) >= 3


# -- raster images ------------------------------------------------------------------------------------------------------


def _raster(fmt: str, pages: int = 1) -> bytes:
    base = pyvips.Image.black(900, 600).invert()  # white
    drawn = base.draw_rect(0, 100, 100, 600, 300, fill=True).draw_line(0, 0, 0, 899, 599)
    image = drawn.cast("uchar").colourspace("srgb")
    if pages > 1:
        image = pyvips.Image.arrayjoin([image] * pages, across=1).copy()
        image.set_type(pyvips.GValue.gint_type, "page-height", 600)
    return image.write_to_buffer(f".{fmt}")


def test_tiff_png_and_jpeg_drawings(client, world, engine, files_dir):
    app, designer = world["app"], world["designer"]
    made = {}
    for fmt, discipline in (("tif", "plumbing"), ("png", "hvac"), ("jpg", "electrical")):
        r = upload(client, designer, app["id"], _raster(fmt), discipline=discipline, name=f"扫描图.{fmt}")
        assert r.status_code == 201, (fmt, r.text)
        made[fmt] = r.json()
    assert made["tif"]["content_type"] == "image/tiff" and made["jpg"]["content_type"] == "image/jpeg"
    r = upload(client, designer, app["id"], _raster("tif", pages=2), discipline="energy", name="两页.tif")
    assert r.status_code == 201 and r.json()["progress"]["total"] == 2
    made["tif2"] = r.json()
    png = _raster("png")
    r = upload(client, designer, app["id"], png[: len(png) // 2], discipline="fire", name="坏.png")
    assert r.status_code == 422 and r.json()["code"] == "corrupt_file"
    for one in made.values():  # rendered here, as the worker would
        assert pyramid.render_set(one["id"], dpi=36)["status"] == "ready"
    sets = client.get(URL, params={"application_id": app["id"]}, headers=designer).json()["sets"]
    by_id = {s["id"]: s for s in sets}
    for one in made.values():
        got = by_id[one["id"]]
        assert got["status"] == "ready"
        for sheet in got["sheets"]:
            assert (sheet["width"], sheet["height"]) == (900, 600)
            tile = client.get(sheet["thumbnail"], headers=designer)
            assert tile.status_code == 200 and _tile_is_drawn(tile.content)
    # The application's record page lists its drawing sets.
    page = client.get(f"/api/records/dr_application/{app['id']}", headers=designer)
    assert page.status_code == 200, page.text
    assert "施工图纸" in page.text and "扫描图.png" in page.text
    # Browsing by discipline.
    only = client.get(URL, params={"application_id": app["id"], "discipline": "hvac"}, headers=designer).json()
    assert [s["id"] for s in only["sets"]] == [made["png"]["id"]]


# -- comments ---------------------------------------------------------------------------------------------------------


def test_comments_pinned_on_a_sheet(client, world, engine, files_dir):
    app, designer, agency = world["app"], world["designer"], world["agency"]
    r = upload(client, designer, app["id"], drawing_pdf(pages=2, seed=31), discipline="fire", name="消防.pdf")
    assert r.status_code == 201, r.text
    set_id = r.json()["id"]
    assert pyramid.render_set(set_id, dpi=36)["status"] == "ready"
    sheet_id = r.json()["sheets"][0]["id"]
    url = f"/api/review/sheets/{sheet_id}/comments"
    pin = client.post(url, json={"x": 0.3, "y": 0.4, "body": "疏散宽度不足，请复核。"}, headers=agency)
    assert pin.status_code == 201, pin.text
    assert pin.json()["shape"] == "pin" and pin.json()["round_no"] == 1 and pin.json()["discipline"] == "fire"
    rect = client.post(
        url,
        json={"x": 0.5, "y": 0.2, "w": 0.2, "h": 0.3, "body": "防火分区面积超限。", "discipline": "architecture"},
        headers=agency,
    )
    assert rect.status_code == 201 and rect.json()["shape"] == "rect" and rect.json()["discipline_title"] == "建筑"
    # Refused: outside the sheet, empty, an unknown discipline, the design unit, someone outside the scope.
    out = client.post(url, json={"x": 0.9, "y": 0.2, "w": 0.2, "h": 0.1, "body": "x"}, headers=agency)
    assert out.status_code == 422 and out.json()["code"] == "outside_sheet"
    assert client.post(url, json={"x": 1.2, "y": 0.2, "body": "x"}, headers=agency).status_code == 422
    assert client.post(url, json={"x": 0.2, "y": 0.2, "body": "  "}, headers=agency).status_code == 422
    bad = client.post(url, json={"x": 0.2, "y": 0.2, "body": "x", "discipline": "x"}, headers=agency)
    assert bad.status_code == 422 and bad.json()["code"] == "unknown_discipline"
    assert client.post(url, json={"x": 0.2, "y": 0.2, "body": "x"}, headers=designer).status_code == 403
    stranger = make_user("dr-agency-stranger", ["review_agency"], grants={"review_projects": [world["other"]["pin"]]})
    assert client.post(url, json={"x": 0.2, "y": 0.2, "body": "x"}, headers=stranger).status_code == 404
    listed = client.get(url, headers=designer).json()["comments"]
    assert [c["body"] for c in listed] == ["疏散宽度不足，请复核。", "防火分区面积超限。"]
    assert client.get(url, headers=world["stranger"]).status_code == 404
    info = client.get(f"/api/review/sheets/{sheet_id}", headers=agency).json()
    assert info["can"]["comment"] is True and len(info["comments"]) == 2
    assert client.get(f"/api/review/sheets/{sheet_id}", headers=designer).json()["can"]["comment"] is False
    with engine.connect() as conn:
        audited = conn.execute(
            sa.text("SELECT count(*) FROM audit_log WHERE action = 'drawing_comment' AND feature_id = ANY(:ids)"),
            {"ids": [pin.json()["id"], rect.json()["id"]]},
        ).scalar_one()
    assert audited == 2
    # Once the review is no longer under way, no more comments.
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE dr_applications SET status = 'replying' WHERE id = :a"), {"a": app["id"]})
    try:
        closed = client.post(url, json={"x": 0.2, "y": 0.2, "body": "晚了"}, headers=agency)
        assert closed.status_code == 409 and closed.json()["code"] == "comments_closed"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE dr_applications SET status = 'reviewing' WHERE id = :a"), {"a": app["id"]})


def test_the_same_sheet_in_two_rounds_is_offered_for_comparison(client, world, engine, files_dir):
    app, designer = world["app"], world["designer"]
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE dr_applications SET round_no = 2 WHERE id = :a"), {"a": app["id"]})
    ids = []
    for round_no in (1, 2):
        r = upload(
            client,
            designer,
            app["id"],
            drawing_pdf(pages=2, seed=40 + round_no),
            discipline="civil_defence",
            round_no=round_no,
            name=f"人防第{round_no}轮.pdf",
        )
        assert r.status_code == 201, r.text
        ids.append([s["id"] for s in r.json()["sheets"]])
    info = client.get(f"/api/review/sheets/{ids[1][1]}", headers=designer).json()
    assert [(x["sheet_id"], x["round_no"]) for x in info["rounds"]] == [(ids[0][1], 1)]
    assert info["set"]["round_title"] == "第 2 轮（第 1 次回复修改图纸）"
    rounds = client.get(URL, params={"application_id": app["id"], "round_no": 2}, headers=designer).json()
    assert {s["round_no"] for s in rounds["sets"]} == {2} and rounds["next_round"] == 3


def test_pages_are_served(client, world):
    assert client.get("/review/viewer/1").status_code == 200
    assert client.get(f"/review/drawings/{world['app']['id']}").status_code == 200
    assert client.get("/review/assets/drawings/viewer.js").status_code == 200
    assert client.get("/review/assets/drawings/..%2Fdrawings.py").status_code == 404


def test_the_demo_seeder_attaches_rendered_drawings_with_comments(world, engine, files_dir):
    """The demo's seeder on applications under review: two rounds of a two-sheet A1 set each, rendered at seed time,
    with comments on the first round (in a transaction rolled back afterwards: other tests' counts stay)."""
    from geo.db import get_engine
    from layers.drawing_review.demo_drawings import COMMENTS, seed_drawings

    with get_engine().connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(sa.text("SELECT set_config('chengjian.scope', 'all', true)"))
            apps = conn.execute(
                sa.text(
                    "SELECT count(*) FROM (SELECT 1 FROM dr_applications "
                    "WHERE status IN ('reviewing', 'replying', 'passed', 'certified') LIMIT 3) x"
                )
            ).scalar_one()
            started = time.perf_counter()
            out = seed_drawings(conn, None)
            took = time.perf_counter() - started
            assert apps >= 1
            assert out == {"dr_drawing_sets": 2 * apps, "dr_sheets": 4 * apps, "dr_comments": len(COMMENTS) * apps}
            not_ready = conn.execute(
                sa.text(
                    "SELECT count(*) FROM dr_sheets s JOIN dr_drawing_sets d ON d.id = s.set_id "
                    "WHERE d.created_by = 'demo' AND (s.status <> 'ready' OR d.status <> 'ready')"
                )
            ).scalar_one()
            assert not_ready == 0
            print(f"\ndemo drawings for {apps} applications: {took:.1f} s")
        finally:
            trans.rollback()


def test_sets_render_concurrently_in_one_process(client, world, engine, files_dir):
    """A worker runs several jobs at once in threads; PDFium is not thread-safe, so its uses take turns (a lock)
    while libvips builds the pyramids side by side: four sets rendered by four threads all come out ready."""
    import threading

    app, designer = world["app"], world["designer"]
    ids = []
    for n in range(4):
        r = upload(
            client, designer, app["id"], drawing_pdf(pages=2, seed=70 + n), discipline="energy", name=f"并发{n}.pdf"
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    results: dict[int, dict] = {}
    threads = [threading.Thread(target=lambda i=i: results.update({i: pyramid.render_set(i, dpi=36)})) for i in ids]
    for th in threads:
        th.start()
    for th in threads:
        th.join(DEADLINE_S)
    assert not any(th.is_alive() for th in threads), "a rendering thread hung"
    assert {i: r["status"] for i, r in results.items()} == dict.fromkeys(ids, "ready")
