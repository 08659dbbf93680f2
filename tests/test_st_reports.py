"""Standardized sites: registration from the project register (ST-01/02), monthly reports with camera photos
checked against the electronic fence (ST-03, ST-26), the supervision review and the authority's receipt (ST-04,
ST-11), idempotent retries, the state machine and the case history, scope rules — two projects in two districts,
real accounts."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from geo.files import files_root
from geo.gcj02 import wgs84_to_gcj02
from tests import st_world
from tests.conftest import make_user, set_environment

XH, YH = "XH-2026-0001", "YH-2026-0002"
FIELDS = {"progress": "主体结构施工至 12 层", "workers": 86, "safety_checks": 4, "hazards_found": 3, "hazards_fixed": 3}
REQUIRED_PHOTOS = ("P01", "P02", "P03", "P05", "P06")


@pytest.fixture(scope="module")
def world(engine, app, tmp_path_factory):
    restore = set_environment(CHENGJIAN_FILES_DIR=str(tmp_path_factory.mktemp("files")))
    from fastapi.testclient import TestClient

    info = st_world.build(engine)
    with TestClient(app) as c:
        accounts = st_world.register_both(c, engine, info, ("01", "02"))
    info["accounts"] = accounts
    info["clerk_xh"] = make_user("st-clerk-xihu", ["district_staff"], district="西湖区")
    info["clerk_yh"] = make_user("st-clerk-yuhang", ["district_staff"], district="余杭区")
    yield info
    restore()


def unit(world, code, role="construction_unit"):
    return world["accounts"][(code, role)]


def test_registration_rules(client, world, engine):
    info = world[XH]
    p = st_world.PROJECTS["西湖区"]
    r = client.post("/api/st/registrations", json=st_world.registration(XH, info, p["permit"]))
    assert r.status_code == 409 and r.json()["code"] == "already_registered"
    no = world[st_world.NO_PERMIT["code"]]
    r = client.post("/api/st/registrations", json=st_world.registration(st_world.NO_PERMIT["code"], no, "whatever"))
    assert r.status_code == 422 and r.json()["code"] == "no_permit" and "施工许可证" in r.json()["message"]
    r = client.post("/api/st/registrations", json=st_world.registration("NOPE-1", info, "x"))
    assert r.status_code == 404 and r.json()["code"] == "project_not_found"
    other = {**info, "uscc": world[YH]["uscc"]}
    r = client.post("/api/st/registrations", json=st_world.registration(st_world.NO_PERMIT["code"], other, "x"))
    assert r.status_code in (403, 422)
    # The accounts exist, are bound to their project's site and must change their password.
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT u.username, u.must_change_password, g.feature_id FROM users u "
                "JOIN user_grants g ON g.user_id = u.id WHERE u.username LIKE '%-XH-2026-0001'"
            )
        ).all()
    assert {r.username for r in rows} == {"sg-XH-2026-0001", "jl-XH-2026-0001"}
    assert all(r.must_change_password and r.feature_id == info["site_id"] for r in rows)
    # Lookup before registering: only with the right credit code.
    r = client.get(f"/api/st/projects/{YH}", params={"uscc": world[YH]["uscc"]})
    assert r.status_code == 200 and r.json()["registered"] is True and r.json()["has_permit"] is True
    assert client.get(f"/api/st/projects/{YH}", params={"uscc": info["uscc"]}).status_code == 403


def _photo(client, headers, report_id, code, lon, lat, key=None, crs=None, accuracy=8.0, taken=None, data=None):
    taken = taken or datetime.now(UTC)
    files = {"file": ("IMG_0001.jpg", io.BytesIO(data or st_world.jpeg(lon, lat, taken)), "image/jpeg")}
    form = {
        "checklist_code": code,
        "lon": str(lon),
        "lat": str(lat),
        "accuracy_m": str(accuracy),
        "taken_at": taken.isoformat(),
    }
    if crs:
        form["crs"] = crs
    h = dict(headers)
    if key:
        h["Idempotency-Key"] = key
    return client.post(f"/api/st/report/{report_id}/photos", headers=h, files=files, data=form)


def _month(offset: int = 0) -> str:
    now = datetime.now(timezone(timedelta(hours=8)))
    total = now.year * 12 + now.month - 1 + offset
    return f"{total // 12}-{total % 12 + 1:02d}"


def test_monthly_report_flow(client, world, engine):
    sg, jl = unit(world, XH), unit(world, XH, "supervision_unit")
    site = world[XH]
    r = client.post(f"/api/st/sites/{site['site_id']}/reports", headers=sg, json={"month": _month(), "form": {}})
    assert r.status_code == 201, r.text
    rep = r.json()
    assert rep["status"] == "draft" and {m["code"] for m in rep["missing_photos"]} == set(REQUIRED_PHOTOS)
    # One report per site and month.
    r = client.post(f"/api/st/sites/{site['site_id']}/reports", headers=sg, json={"month": _month()})
    assert r.status_code == 409 and r.json()["code"] == "duplicate_report"
    # Submitting an incomplete report is refused, naming what is missing.
    r = client.post(f"/api/st/reports/{rep['id']}/actions/submit", headers=sg)
    assert r.status_code == 422 and r.json()["field"].startswith("form.")
    r = client.put(f"/api/st/reports/{rep['id']}", headers=sg, json={"version": rep["version"], "form": FIELDS})
    assert r.status_code == 200, r.text
    r = client.post(f"/api/st/reports/{rep['id']}/actions/submit", headers=sg)
    assert r.status_code == 422 and r.json()["code"] == "photos_missing"
    # Photos: inside the fence (one of them given in GCJ-02, as AMap reports it) ...
    for i, code in enumerate(REQUIRED_PHOTOS):
        lon, lat = site["lon"] + 0.0003 * i, site["lat"]
        if i == 0:
            glon, glat = wgs84_to_gcj02(lon, lat)
            # The phone's EXIF is in WGS84; the position the page reports comes from AMap, in GCJ-02.
            r = _photo(
                client,
                sg,
                rep["id"],
                code,
                float(glon),
                float(glat),
                crs="GCJ02",
                data=st_world.jpeg(lon, lat, datetime.now(UTC)),
            )
        else:
            r = _photo(client, sg, rep["id"], code, lon, lat)
        assert r.status_code == 201, r.text
        p = r.json()
        assert p["inside_fence"] is True and p["uploader_role"] == "construction"
        assert abs(p["lon"] - lon) < 1e-5 and abs(p["lat"] - lat) < 1e-5  # stored in WGS84
        assert p["flags"] == [], p["flags"]
    # ... and one outside: refused with the distance, nothing stored.
    r = _photo(client, sg, rep["id"], "P09", site["lon"] + 0.02, site["lat"])
    assert r.status_code == 422 and r.json()["code"] == "outside_fence"
    assert re.search(r"围栏外 \d+ 米", r.json()["message"]) and r.json()["detail"]["distance_m"] > 1000
    # No location, no upload.
    r = client.post(
        f"/api/st/report/{rep['id']}/photos",
        headers=sg,
        files={"file": ("a.jpg", io.BytesIO(st_world.jpeg()), "image/jpeg")},
    )
    assert r.status_code == 422 and r.json()["code"] == "location_required"
    # A PDF named .jpg is refused by content.
    r = client.post(
        f"/api/st/report/{rep['id']}/photos",
        headers=sg,
        files={"file": ("a.jpg", io.BytesIO(b"%PDF-1.4\n%%EOF\n"), "image/jpeg")},
        data={"lon": str(site["lon"]), "lat": str(site["lat"])},
    )
    assert r.status_code == 415
    r = client.post(f"/api/st/reports/{rep['id']}/actions/submit", headers=sg)
    assert r.status_code == 200 and r.json()["status"] == "submitted", r.text
    # Illegal transitions are 409 with the reason; permissions are checked per transition.
    r = client.post(f"/api/st/reports/{rep['id']}/actions/receive", headers=world["clerk_xh"])
    assert r.status_code == 409 and r.json()["code"] == "illegal_transition" and "待监理审核" in r.json()["message"]
    r = client.post(f"/api/st/reports/{rep['id']}/actions/approve", headers=sg)
    assert r.status_code == 403
    # Before supervision approval, the authority does not see the report at all.
    assert client.get(f"/api/st/reports/{rep['id']}", headers=world["clerk_xh"]).status_code == 404
    # The supervision unit returns it (reason required), the unit fixes and resubmits, supervision approves.
    r = client.post(f"/api/st/reports/{rep['id']}/actions/return", headers=jl, json={})
    assert r.status_code == 422 and r.json()["code"] == "reason_required"
    r = client.post(f"/api/st/reports/{rep['id']}/actions/return", headers=jl, json={"reason": "扬尘照片不清晰"})
    assert r.status_code == 200 and r.json()["status"] == "returned"
    r = client.post(f"/api/st/reports/{rep['id']}/actions/submit", headers=sg)
    assert r.status_code == 200
    r = _photo(client, jl, rep["id"], "P03", site["lon"], site["lat"] + 0.0005)
    assert r.status_code == 201 and r.json()["uploader_role"] == "supervision"
    r = client.post(f"/api/st/reports/{rep['id']}/actions/approve", headers=jl, json={})
    assert r.status_code == 200 and r.json()["status"] == "supervision_approved"
    # Now it reaches the 西湖区 authority, which receives it; 余杭区 never sees it.
    assert client.get(f"/api/st/reports/{rep['id']}", headers=world["clerk_yh"]).status_code == 404
    listed = client.get("/api/st/reports", headers=world["clerk_xh"]).json()["reports"]
    assert [x["id"] for x in listed] == [rep["id"]]
    r = client.post(f"/api/st/reports/{rep['id']}/actions/receive", headers=world["clerk_xh"], json={})
    assert r.status_code == 200 and r.json()["status"] == "received"
    detail = client.get(f"/api/st/reports/{rep['id']}", headers=sg).json()
    assert [h["action"] for h in detail["history"]] == ["create", "submit", "return", "submit", "approve", "receive"]
    assert detail["history"][2]["reason"] == "扬尘照片不清晰"
    assert len(detail["photos"]) == 6 and detail["late"] is False
    # The other project's unit sees nothing of it.
    assert client.get(f"/api/st/reports/{rep['id']}", headers=unit(world, YH)).status_code == 404
    # Photo files: original keeps its EXIF, thumbnail is small.
    ph = detail["photos"][1]
    orig = client.get(ph["url"], headers=sg)
    assert orig.status_code == 200 and orig.content[:2] == b"\xff\xd8" and b"Exif" in orig.content[:200]
    thumb = client.get(ph["thumbnail_url"], headers=sg)
    assert thumb.status_code == 200 and len(thumb.content) < len(orig.content)


def test_retries_are_idempotent(client, world, engine):
    sg = unit(world, YH)
    site = world[YH]
    h = {**sg, "Idempotency-Key": "report-2026-yh-1"}
    r1 = client.post(f"/api/st/sites/{site['site_id']}/reports", headers=h, json={"month": _month(), "form": {}})
    r2 = client.post(f"/api/st/sites/{site['site_id']}/reports", headers=h, json={"month": _month(), "form": {}})
    assert r1.status_code == r2.status_code == 201 and r1.json()["id"] == r2.json()["id"]
    assert r2.headers.get("Idempotent-Replayed") == "true"
    rid = r1.json()["id"]
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM st_photos")).scalar()
    shot = datetime.now(UTC)
    data = st_world.jpeg(site["lon"], site["lat"], shot)
    a = _photo(client, sg, rid, "P01", site["lon"], site["lat"], key="photo-abc", data=data, taken=shot)
    b = _photo(client, sg, rid, "P01", site["lon"], site["lat"], key="photo-abc", data=data, taken=shot)
    assert a.status_code == b.status_code == 201 and a.json()["id"] == b.json()["id"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM st_photos")).scalar() == before + 1
    # The same key with other content is a client bug, not a silent success.
    other = _photo(client, sg, rid, "P02", site["lon"], site["lat"], key="photo-abc")
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


class ResettingProxy:
    """A real TCP proxy in front of the app. Each connection carries one request: the proxy reads it whole, sends it
    to the app and reads the app's whole answer; the first answer it keeps to itself and resets the client's
    connection instead (RST: the phone lost the answer after the server had done the work); later ones it passes on."""

    def __init__(self, port: int) -> None:
        import socket
        import threading

        self.port, self.answers, self.resets = port, [], 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    @staticmethod
    def _message(conn) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        while length and len(body) < int(length.group(1)):
            body += conn.recv(65536)
        return head + b"\r\n\r\n" + body

    def _serve(self) -> None:
        import socket
        import struct

        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with client, socket.create_connection(("127.0.0.1", self.port)) as upstream:
                request = self._message(client)
                if not request:
                    continue
                upstream.sendall(request)
                answer = self._message(upstream)
                self.answers.append(answer)
                if self.resets == 0:
                    self.resets += 1
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
                else:
                    client.sendall(answer)

    def close(self) -> None:
        self.sock.close()


def test_upload_whose_answer_was_reset_is_stored_once(world, engine, app):
    """Through a real proxy that resets the connection after the app stored the photo: the retry with the same
    Idempotency-Key is answered with the first answer, and the photo, its file and its key exist once."""
    import httpx

    from tests.conftest import running_server

    sg, site = unit(world, YH), world[YH]
    with engine.connect() as conn:
        rid = conn.execute(
            text("SELECT id FROM st_reports WHERE site_id = :s AND status = 'draft' ORDER BY id LIMIT 1"),
            {"s": site["site_id"]},
        ).scalar_one()
    shot = datetime.now(UTC)
    data = st_world.jpeg(site["lon"], site["lat"], shot, colour=(12, 34, 56))
    key = "reset-after-store-1"

    def send(c):
        return c.post(
            f"/api/st/report/{rid}/photos",
            headers={**sg, "Idempotency-Key": key},
            files={"file": ("IMG_0002.jpg", io.BytesIO(data), "image/jpeg")},
            data={
                "checklist_code": "P03",
                "lon": str(site["lon"]),
                "lat": str(site["lat"]),
                "accuracy_m": "8",
                "taken_at": shot.isoformat(),
            },
        )

    def stored() -> tuple:
        with engine.connect() as conn:
            photos = conn.execute(
                text("SELECT id, sha256 FROM st_photos WHERE idempotency_key LIKE :k"), {"k": f"%:{key}"}
            ).all()
            keys = conn.execute(text("SELECT count(*) FROM idempotency_keys WHERE key = :k"), {"k": key}).scalar()
        return [tuple(p) for p in photos], keys

    assert stored() == ([], 0)
    with running_server(app) as base:
        proxy = ResettingProxy(int(base.rsplit(":", 1)[1]))
        try:
            with httpx.Client(base_url=proxy.url, timeout=60) as c:
                with pytest.raises(httpx.TransportError):
                    send(c)  # the phone hears nothing ...
                assert proxy.resets == 1 and proxy.answers[0].startswith(b"HTTP/1.1 201")  # ... the app said 201
                (photo,), keys = stored()
                assert keys == 1
                again = send(c)
        finally:
            proxy.close()
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true", again.text
    assert again.json()["id"] == photo[0] and again.json()["sha256"] == photo[1]
    assert again.content == proxy.answers[1].partition(b"\r\n\r\n")[2]
    assert stored() == ([photo], 1)
    root = files_root()
    assert len([p for p in root.rglob(f"{photo[1]}*") if not p.name.endswith(".thumb.jpg")]) == 1


def test_exif_disagreement_is_flagged(client, world):
    sg = unit(world, YH)
    site = world[YH]
    rid = client.get("/api/st/reports", headers=sg).json()["reports"][0]["id"]
    long_ago = datetime.now(UTC) - timedelta(days=3)
    data = st_world.jpeg(site["lon"] + 0.05, site["lat"], long_ago)  # EXIF: elsewhere, three days ago
    r = _photo(client, sg, rid, "P02", site["lon"], site["lat"], data=data)
    assert r.status_code == 201, r.text
    flags = r.json()["flags"]
    assert any("拍摄时间" in f for f in flags) and any("GPS 位置" in f for f in flags)


def test_outside_fence_may_be_accepted_with_a_flag(client, world, env):
    env(CHENGJIAN_ST_OUTSIDE_FENCE="flag")
    sg = unit(world, YH)
    site = world[YH]
    rid = client.get("/api/st/reports", headers=sg).json()["reports"][0]["id"]
    r = _photo(client, sg, rid, "P09", site["lon"] + 0.01, site["lat"])
    assert r.status_code == 201 and r.json()["inside_fence"] is False
    assert any("围栏外" in f for f in r.json()["flags"])


def _stored(engine) -> dict:
    """What a refused request must leave as it was: the rows it could have written, YH's report, the photo files."""
    with engine.connect() as conn:
        counts = {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            for table in ("st_reports", "st_photos", "case_history", "audit_log", "idempotency_keys", "sms_outbox")
        }
        reports = [
            tuple(r)
            for r in conn.execute(
                text("SELECT id, site_id, month, status, version, form::text, updated_at FROM st_reports ORDER BY id")
            )
        ]
    root = files_root()
    on_disk = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []
    return {"counts": counts, "reports": reports, "files": on_disk}


def test_units_cannot_report_for_other_projects(client, world, engine):
    xh_unit, yh_site = unit(world, XH), world[YH]["site_id"]
    with engine.connect() as conn:
        yh_report = conn.execute(
            text("SELECT id, version FROM st_reports WHERE site_id = :s ORDER BY id LIMIT 1"), {"s": yh_site}
        ).one()
    before = _stored(engine)
    assert before["counts"]["st_reports"] > 0 and before["files"]  # there is something to change
    # XH's construction unit: another project's site, its report, a photo for it — as if they did not exist.
    h = {**xh_unit, "Idempotency-Key": "not-mine-1"}
    r = client.post(f"/api/st/sites/{yh_site}/reports", headers=h, json={"month": _month(-2), "form": FIELDS})
    assert r.status_code == 404 and r.json()["code"] and r.json()["message"]
    r = client.put(
        f"/api/st/reports/{yh_report.id}", headers=xh_unit, json={"version": yh_report.version, "form": FIELDS}
    )
    assert r.status_code == 404
    r = client.post(f"/api/st/reports/{yh_report.id}/actions/submit", headers=xh_unit)
    assert r.status_code == 404
    site = world[YH]
    shot = datetime.now(UTC)
    data = st_world.jpeg(site["lon"], site["lat"], shot, colour=(1, 2, 3))  # a new picture: a new file if stored
    r = _photo(client, xh_unit, yh_report.id, "P07", site["lon"], site["lat"], key="not-mine-2", data=data, taken=shot)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    # XH's supervision unit may not open a report at all.
    r = client.post(
        f"/api/st/sites/{world[XH]['site_id']}/reports",
        headers={**unit(world, XH, "supervision_unit"), "Idempotency-Key": "not-mine-3"},
        json={"month": _month(-2)},
    )
    assert r.status_code == 403 and r.json()["code"] and "field" in r.json()
    # Nothing was written: no report, photo, history, audit entry, idempotency key, SMS or file, YH's report as it was.
    assert _stored(engine) == before
