"""Standardized sites: the evaluation application (ST-07) pre-filled from the monthly reports, the supervision unit's
first review (ST-08), the printed form with its signed QR code and the public verification page (ST-09), the local
authority's recommendation (ST-15), the committee's decision and its effects (ST-18), the public disclosure (ST-22)
— two registered projects in two districts, real accounts."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from sqlalchemy import text
from stdnum.cn import ric

from etl import printform
from geo import signing
from tests import st_world
from tests.conftest import make_user, set_environment

XH, YH = "XH-2026-0001", "YH-2026-0002"
REPORT_FIELDS = {"progress": "竣工", "workers": 40, "safety_checks": 4, "hazards_found": 2, "hazards_fixed": 2}
REQUIRED_PHOTOS = ("P01", "P02", "P03", "P05", "P06")
FORM = {
    "award": "杭州市建设工程标准化工地",
    "project_manager": "张建国",
    "safety_officer": "李安全",
    "highlights": "全过程扬尘在线监测，智慧工地平台接入。",
}
BEIJING = timezone(timedelta(hours=8))
KEY = signing.new_key_text()


@pytest.fixture(scope="module")
def world(engine, app, tmp_path_factory):
    restore = set_environment(CHENGJIAN_FILES_DIR=str(tmp_path_factory.mktemp("files")), CHENGJIAN_SIGNING_KEY=KEY)
    from fastapi.testclient import TestClient

    info = st_world.build(engine)
    _forget(engine, info)  # another module of the session may have registered the same projects
    with TestClient(app) as c:
        accounts = st_world.register_both(c, engine, info, ("11", "12"))
    info["accounts"] = accounts
    info["clerk_xh"] = make_user("st-eval-clerk-xihu", ["district_staff"], district="西湖区")
    info["clerk_yh"] = make_user("st-eval-clerk-yuhang", ["district_staff"], district="余杭区")
    info["city"] = make_user("st-eval-city", ["city_supervisor"])
    yield info
    _forget(engine, info)
    restore()


def _forget(engine, info) -> None:
    """The unit accounts and the case history of these projects' sites (ids restart with every world), so that the
    modules of a session do not see each other's."""
    names = [f"{prefix}-{code}" for code in (XH, YH) for prefix in ("sg", "jl")]
    ids = [v["site_id"] for v in info.values() if isinstance(v, dict) and "site_id" in v]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM case_history WHERE site_id = ANY(:s)"), {"s": ids})
        conn.execute(text("DELETE FROM credit_events WHERE site_id = ANY(:s)"), {"s": ids})
        conn.execute(
            text(
                "DELETE FROM st_registrations WHERE construction_user_id IN (SELECT id FROM users "
                "WHERE username = ANY(:u)) OR supervision_user_id IN (SELECT id FROM users "
                "WHERE username = ANY(:u))"
            ),
            {"u": names},
        )
        conn.execute(text("DELETE FROM users WHERE username = ANY(:u)"), {"u": names})


def unit(world, code, role="construction_unit"):
    return world["accounts"][(code, role)]


def _today() -> date:
    return datetime.now(BEIJING).date()


def _month_back(n: int) -> date:
    m = _today().replace(day=1)
    for _ in range(n):
        m = (m - timedelta(days=1)).replace(day=1)
    return m


def _photo(client, headers, kind, owner_id, site, code=None):
    taken = datetime.now(UTC)
    files = {"file": ("IMG.jpg", io.BytesIO(st_world.jpeg(site["lon"], site["lat"], taken)), "image/jpeg")}
    form = {"lon": str(site["lon"]), "lat": str(site["lat"]), "accuracy_m": "8", "taken_at": taken.isoformat()}
    if code:
        form["checklist_code"] = code
    r = client.post(f"/api/st/{kind}/{owner_id}/photos", headers=headers, files=files, data=form)
    assert r.status_code == 201, r.text
    return r.json()


def _monthly_report(client, world, code, month: date, receive: bool) -> dict:
    """A monthly report through the reports API: filled, photographed, submitted, approved (and received)."""
    sg, jl = unit(world, code), unit(world, code, "supervision_unit")
    site = world[code]
    r = client.post(
        f"/api/st/sites/{site['site_id']}/reports",
        headers=sg,
        json={"month": month.strftime("%Y-%m"), "form": REPORT_FIELDS},
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    for c in REQUIRED_PHOTOS:
        _photo(client, sg, "report", rid, site, c)
    assert client.post(f"/api/st/reports/{rid}/actions/submit", headers=sg).status_code == 200
    assert client.post(f"/api/st/reports/{rid}/actions/approve", headers=jl, json={}).status_code == 200
    if receive:
        clerk = world["clerk_xh" if code == XH else "clerk_yh"]
        assert client.post(f"/api/st/reports/{rid}/actions/receive", headers=clerk, json={}).status_code == 200
    return client.get(f"/api/st/reports/{rid}", headers=sg).json()


def _complete_project(client, world, code):
    sg = unit(world, code)
    p = next(p for p in client.get("/api/st/my/projects", headers=sg).json()["projects"] if p["code"] == code)
    r = client.patch(
        f"/api/st/projects/{p['id']}",
        headers=sg,
        json={"version": p["version"], "completion_date": _today().isoformat()},
    )
    assert r.status_code == 200, r.text


def _pdf(title="竣工验收备案表") -> bytes:
    return printform.render_form(title, [("项目", "扫描件")], "https://example.invalid/x")


def _attach(client, headers, eid, name="竣工验收备案表"):
    return client.post(
        f"/api/st/evaluations/{eid}/attachments",
        headers=headers,
        data={"name": name},
        files={"file": ("scan.pdf", io.BytesIO(_pdf()), "application/pdf")},
    )


def _prepared(client, world, code) -> int:
    """An application created, filled, with an attachment, submitted and approved by supervision."""
    sg, jl = unit(world, code), unit(world, code, "supervision_unit")
    r = client.post(f"/api/st/sites/{world[code]['site_id']}/evaluation", headers=sg, json={"form": FORM})
    assert r.status_code == 201, r.text
    eid = r.json()["id"]
    assert _attach(client, sg, eid).status_code == 201
    assert client.post(f"/api/st/evaluations/{eid}/actions/submit", headers=sg).status_code == 200
    r = client.post(f"/api/st/evaluations/{eid}/actions/approve", headers=jl, json={})
    assert r.status_code == 200 and r.json()["status"] == "supervision_approved", r.text
    return eid


def _site_status(engine, site_id) -> str:
    with engine.connect() as conn:
        return conn.execute(text("SELECT status FROM sites WHERE id = :id"), {"id": site_id}).scalar()


def _drive(engine, eid: int, action: str) -> None:
    """The expert draw's transitions (not this part's routes), applied as a city supervisor."""
    from api.auth import load_user
    from geo.db import transaction
    from layers.standard_sites.evaluations import EVALUATION

    with engine.connect() as conn:
        uid = conn.execute(text("SELECT id FROM users WHERE username = 'st-eval-city'")).scalar()
    with transaction() as conn:
        EVALUATION.apply(conn, eid, action, load_user(conn, uid))


def _reviews(engine, eid: int, site_id: int, totals: list[float]) -> None:
    """Two experts' scores, as the review part would store them."""
    with engine.begin() as conn:
        rnd = conn.execute(
            text(
                "INSERT INTO st_rounds (name, review_from, review_to) VALUES ('测试轮次', now(), "
                "now() + interval '3 days') RETURNING id"
            )
        ).scalar()
        draw = conn.execute(
            text(
                "INSERT INTO st_draws (round_id, inputs, inputs_sha256, commitment) "
                "VALUES (:r, '{}', 'x', 'x') RETURNING id"
            ),
            {"r": rnd},
        ).scalar()
        for i, total in enumerate(totals):
            # The pool is a view of the personnel register (st_0003): the same ID number is the same expert.
            body = f"330100198001019{10 + i}"
            idn = body + ric.calc_check_digit(body + "0")
            ex = conn.execute(text("SELECT id FROM experts WHERE id_number = :idn"), {"idn": idn}).scalar()
            ex = (
                ex
                or conn.execute(
                    text(
                        "INSERT INTO experts (name, id_number, phone, group_name) VALUES (:n, :idn, :ph, '安全组') "
                        "RETURNING id"
                    ),
                    {"n": f"测试专家{i}", "idn": idn, "ph": f"1390000{9100 + i}"},
                ).scalar()
            )
            a = conn.execute(
                text(
                    "INSERT INTO st_assignments (draw_id, evaluation_id, site_id, expert_id, window_from, window_to) "
                    "VALUES (:d, :e, :s, :x, now(), now() + interval '3 days') RETURNING id"
                ),
                {"d": draw, "e": eid, "s": site_id, "x": ex},
            ).scalar()
            conn.execute(
                text("INSERT INTO st_reviews (assignment_id, site_id, scores, total) VALUES (:a, :s, '{}', :t)"),
                {"a": a, "s": site_id, "t": total},
            )


def test_application_flow(client, world, engine):
    sg, jl, clerk, city = unit(world, XH), unit(world, XH, "supervision_unit"), world["clerk_xh"], world["city"]
    site = world[XH]
    url = f"/api/st/sites/{site['site_id']}/evaluation"
    # Two months of reports through the reports API: one long overdue, one on time and received.
    late_month, this_month = _month_back(2), _month_back(0)
    assert _monthly_report(client, world, XH, late_month, receive=False)["late"] is True
    assert _monthly_report(client, world, XH, this_month, receive=True)["late"] is False
    # Only after completion acceptance.
    r = client.post(url, headers=sg, json={})
    assert r.status_code == 409 and r.json()["code"] == "not_completed" and "竣工验收" in r.json()["message"]
    _complete_project(client, world, XH)
    # Other parties cannot apply for it.
    assert client.post(url, headers=unit(world, YH), json={}).status_code == 404
    assert client.post(url, headers=jl, json={}).status_code == 403
    r = client.post(url, headers=sg, json={"form": {"award": "杭州市建设工程标准化工地"}})
    assert r.status_code == 201, r.text
    ev = r.json()
    eid = ev["id"]
    assert ev["status"] == "draft" and ev["completion_date"] == _today().isoformat()
    pre = ev["prefill"]
    reported = sorted({late_month.strftime("%Y-%m"), this_month.strftime("%Y-%m")})
    assert pre["months_reported"] == 2 and pre["reported_months"] == reported
    assert pre["approved"] == 2 and pre["received"] == 1 and pre["photos"] == 10
    assert pre["late_months"] == [late_month.strftime("%Y-%m")]
    # Registered today: no month before it is missing (the project started in January), none of this month's yet.
    assert pre["missing_months"] == []
    assert pre["bonus_items"] == [] and pre["bonus_points"] == 0
    assert [a["action"] for a in ev["actions"]] == ["submit"]
    # One application per site.
    r = client.post(url, headers=sg, json={})
    assert r.status_code == 409 and r.json()["code"] == "duplicate_evaluation"
    assert r.json()["detail"]["evaluation_id"] == eid
    # Not printable as a draft; submit needs the form filled and at least one attachment.
    assert client.get(f"/api/st/evaluations/{eid}/print", headers=sg).status_code == 409
    r = client.post(f"/api/st/evaluations/{eid}/actions/submit", headers=sg)
    assert r.status_code == 422 and r.json()["code"] == "required" and r.json()["field"].startswith("form.")
    r = client.put(f"/api/st/evaluations/{eid}", headers=sg, json={"version": ev["version"], "form": {"award": "金奖"}})
    assert r.status_code == 422 and r.json()["code"] == "invalid_choice"
    r = client.put(f"/api/st/evaluations/{eid}", headers=sg, json={"version": ev["version"] + 5, "form": FORM})
    assert r.status_code == 409 and r.json()["code"] == "stale_version"
    r = client.put(f"/api/st/evaluations/{eid}", headers=sg, json={"version": ev["version"], "form": FORM})
    assert r.status_code == 200 and r.json()["form"] == FORM, r.text
    r = client.post(f"/api/st/evaluations/{eid}/actions/submit", headers=sg)
    assert r.status_code == 422 and r.json()["code"] == "attachments_missing"
    # Attachments: a PDF scan (a Word file is refused by content) and a site photo through the photos route.
    bad = client.post(
        f"/api/st/evaluations/{eid}/attachments",
        headers=sg,
        files={"file": ("a.pdf", io.BytesIO(b"PK\x03\x04word"), "application/pdf")},
    )
    assert bad.status_code == 415
    r = _attach(client, sg, eid)
    assert (
        r.status_code == 201 and r.json()["name"] == "竣工验收备案表" and r.json()["content_type"] == "application/pdf"
    )
    att = r.json()
    _photo(client, sg, "evaluation", eid, site)
    got = client.get(att["url"], headers=sg)
    assert got.status_code == 200 and got.content.startswith(b"%PDF-")
    assert client.get(att["url"], headers=unit(world, YH)).status_code == 404
    r = client.post(f"/api/st/evaluations/{eid}/actions/submit", headers=sg)
    assert r.status_code == 200 and r.json()["status"] == "submitted", r.text
    assert _site_status(engine, site["site_id"]) == "考评中"  # the map shows the application pending
    # Submitted: the unit can no longer change the form or the attachments.
    assert (
        client.put(
            f"/api/st/evaluations/{eid}", headers=sg, json={"version": r.json()["version"], "form": FORM}
        ).status_code
        == 409
    )
    assert _attach(client, sg, eid).status_code == 409
    # Before the supervision unit approves, the authority does not see it at all.
    assert client.get(f"/api/st/evaluations/{eid}", headers=clerk).status_code == 404
    assert client.get("/api/st/evaluations", headers=clerk).json()["evaluations"] == []
    assert client.post(f"/api/st/evaluations/{eid}/actions/recommend", headers=clerk, json={}).status_code == 404
    # The supervision unit returns it (reason required); the unit resubmits; the supervision unit approves.
    assert client.post(f"/api/st/evaluations/{eid}/actions/approve", headers=sg).status_code == 403
    r = client.post(f"/api/st/evaluations/{eid}/actions/return", headers=jl, json={})
    assert r.status_code == 422 and r.json()["code"] == "reason_required"
    r = client.post(
        f"/api/st/evaluations/{eid}/actions/return", headers=jl, json={"reason": "缺少竣工验收备案表盖章页"}
    )
    assert (
        r.status_code == 200
        and r.json()["status"] == "returned"
        and r.json()["return_reason"] == "缺少竣工验收备案表盖章页"
    )
    assert client.post(f"/api/st/evaluations/{eid}/actions/submit", headers=sg).status_code == 200
    r = client.post(f"/api/st/evaluations/{eid}/actions/approve", headers=jl, json={})
    assert r.status_code == 200 and r.json()["status"] == "supervision_approved"
    # Now it reaches the 西湖区 authority; 余杭区 never sees it, nor may recommend it.
    listed = client.get("/api/st/evaluations", headers=clerk).json()["evaluations"]
    assert [x["id"] for x in listed] == [eid]
    assert client.get(f"/api/st/evaluations/{eid}", headers=world["clerk_yh"]).status_code == 404
    assert client.get("/api/st/evaluations", headers=world["clerk_yh"]).json()["evaluations"] == []
    r = client.post(f"/api/st/evaluations/{eid}/actions/recommend", headers=world["clerk_yh"], json={})
    assert r.status_code == 404
    d = client.get(f"/api/st/evaluations/{eid}", headers=clerk).json()
    assert {a["action"] for a in d["actions"]} == {"recommend", "decline"}
    assert len(d["photos"]) == 1 and len(d["attachments"]) == 1
    r = client.post(f"/api/st/evaluations/{eid}/actions/recommend", headers=clerk, json={"reason": "标化管理到位"})
    assert r.status_code == 200 and r.json()["status"] == "recommended"
    assert r.json()["recommended_by"] == "st-eval-clerk-xihu"
    assert _site_status(engine, site["site_id"]) == "考评中"
    # Illegal transitions are 409 with the reason; the draw part's actions are not taken here.
    r = client.post(f"/api/st/evaluations/{eid}/actions/recommend", headers=clerk, json={})
    assert r.status_code == 409 and r.json()["code"] == "illegal_transition" and "已推荐" in r.json()["message"]
    r = client.post(f"/api/st/evaluations/{eid}/actions/award", headers=city, json={})
    assert r.status_code == 409 and r.json()["code"] == "illegal_transition"
    r = client.post(f"/api/st/evaluations/{eid}/actions/assign", headers=city, json={})
    assert r.status_code == 409 and r.json()["code"] == "handled_elsewhere"
    assert client.post(f"/api/st/evaluations/{eid}/actions/fly", headers=city).status_code == 422
    # The expert draw and review (another part) move it on; two experts score 88 and 91.
    _drive(engine, eid, "assign")
    _reviews(engine, eid, site["site_id"], [88.0, 91.0])
    _drive(engine, eid, "complete")
    assert _site_status(engine, site["site_id"]) == "考评中"
    # The committee's decision: only the city supervisor; reject needs a reason.
    assert client.post(f"/api/st/evaluations/{eid}/actions/award", headers=clerk, json={}).status_code == 403
    r = client.post(f"/api/st/evaluations/{eid}/actions/reject", headers=city, json={})
    assert r.status_code == 422 and r.json()["code"] == "reason_required"
    r = client.post(
        f"/api/st/evaluations/{eid}/actions/award", headers=city, json={"reason": "评审委员会第 3 次会议通过"}
    )
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "awarded" and done["decision"] == "awarded" and done["final_score"] == 89.5
    assert done["decided_by"] == "st-eval-city" and done["decision_note"] == "评审委员会第 3 次会议通过"
    assert done["actions"] == []
    assert _site_status(engine, site["site_id"]) == "已获评"
    with engine.connect() as conn:
        credit = (
            conn.execute(
                text("SELECT * FROM credit_events WHERE source = 'st_evaluation' AND source_id = :e AND site_id = :s"),
                {"e": eid, "s": site["site_id"]},
            )
            .mappings()
            .all()
        )
    assert len(credit) == 1 and credit[0]["polarity"] == "good" and credit[0]["subject_code"] == site["uscc"]
    assert credit[0]["subject_name"] == "西湖区建工集团" and "获评" in credit[0]["reason"]
    history = client.get(f"/api/st/evaluations/{eid}", headers=sg).json()["history"]
    assert [h["action"] for h in history] == [
        "create",
        "submit",
        "return",
        "submit",
        "approve",
        "recommend",
        "assign",
        "complete",
        "award",
    ]
    assert history[2]["reason"] == "缺少竣工验收备案表盖章页"


def test_declined_in_the_other_district(client, world, engine):
    sg, clerk_yh = unit(world, YH), world["clerk_yh"]
    _complete_project(client, world, YH)
    eid = _prepared(client, world, YH)
    ev = client.get(f"/api/st/evaluations/{eid}", headers=clerk_yh).json()
    assert ev["prefill"]["months_reported"] == 0 and ev["prefill"]["missing_months"] == []  # registered today
    # The 西湖区 clerk neither sees nor acts on a 余杭区 application.
    assert client.get(f"/api/st/evaluations/{eid}", headers=world["clerk_xh"]).status_code == 404
    assert (
        client.post(
            f"/api/st/evaluations/{eid}/actions/decline", headers=world["clerk_xh"], json={"reason": "x"}
        ).status_code
        == 404
    )
    # Units cannot recommend; declining needs a reason.
    assert client.post(f"/api/st/evaluations/{eid}/actions/recommend", headers=sg, json={}).status_code == 403
    r = client.post(f"/api/st/evaluations/{eid}/actions/decline", headers=clerk_yh, json={"reason": "  "})
    assert r.status_code == 422 and r.json()["code"] == "reason_required"
    r = client.post(f"/api/st/evaluations/{eid}/actions/decline", headers=clerk_yh, json={"reason": "月度申报缺失过多"})
    assert (
        r.status_code == 200
        and r.json()["status"] == "not_recommended"
        and r.json()["recommendation"] == "月度申报缺失过多"
    )
    assert _site_status(engine, world[YH]["site_id"]) == "竣工验收"
    r = client.post(f"/api/st/evaluations/{eid}/actions/recommend", headers=clerk_yh, json={})
    assert r.status_code == 409 and r.json()["code"] == "illegal_transition"
    # Each unit lists only its own application.
    assert [e["id"] for e in client.get("/api/st/evaluations", headers=sg).json()["evaluations"]] == [eid]


def _qr(pdf: bytes, tmp_path) -> str:
    pdftoppm, zbarimg = shutil.which("pdftoppm"), shutil.which("zbarimg")
    if not (pdftoppm and zbarimg):
        pytest.fail("pdftoppm/zbarimg not installed (poppler-utils, zbar-tools; make test installs them)")
    (tmp_path / "form.pdf").write_bytes(pdf)
    subprocess.run(
        [pdftoppm, "-r", "200", "-f", "1", "-l", "1", "-png", str(tmp_path / "form.pdf"), str(tmp_path / "page")],
        check=True,
    )
    png = sorted(tmp_path.glob("page-*.png"))[0]
    return subprocess.run([zbarimg, "-q", "--raw", str(png)], capture_output=True, check=True).stdout.decode().strip()


def _eid(engine, code) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT e.id FROM st_evaluations e JOIN sites s ON s.id = e.site_id WHERE s.code = :c"), {"c": code}
        ).scalar()


def test_printed_form_verifies(client, world, engine, tmp_path, env):
    eid = _eid(engine, XH)
    r = client.get(f"/api/st/evaluations/{eid}/print", headers=unit(world, XH))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF-")
    # The other district's clerk may not print it.
    assert client.get(f"/api/st/evaluations/{eid}/print", headers=world["clerk_yh"]).status_code == 404
    url = _qr(r.content, tmp_path)
    assert url.startswith("http://testserver/verify/st/")
    token = printform.token_in_url(url)
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT print_token, printed_by FROM st_evaluations WHERE id = :id"), {"id": eid}
        ).one()
    assert stored.print_token == token and stored.printed_by == "sg-" + XH
    path = urlsplit(url).path
    # Anyone (no login) scanning the code sees the key fields.
    page = client.get(path)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "验证通过" in page.text and "西湖区文三路综合楼工程" in page.text and "已获评" in page.text
    assert signing.fingerprint(token) in page.text
    js = client.get(path, params={"format": "json"}).json()
    assert js["valid"] is True and js["result"] == "valid" and js["evaluation_id"] == eid
    fields = {f["label"]: f["value"] for f in js["fields"]}
    assert fields["项目编号"] == XH and fields["施工单位"] == "西湖区建工集团" and fields["申报奖项"] == FORM["award"]
    assert fields["竣工验收日期"] == _today().isoformat() and "已申报 2 个月" in fields["月度申报"]
    # The data changed after printing: the printed form no longer verifies ...
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE st_evaluations SET form = jsonb_set(form, '{project_manager}', '\"王冒名\"') WHERE id = :id"),
            {"id": eid},
        )
    js = client.get(path, params={"format": "json"}).json()
    assert js["valid"] is False and js["result"] == "tampered" and "已被篡改" in js["message"]
    assert "王冒名" not in str(js) and "张建国" not in str(js)
    assert "已被篡改" in client.get(path).text
    # ... and verifies again once the data is what was printed.
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE st_evaluations SET form = jsonb_set(form, '{project_manager}', '\"张建国\"') WHERE id = :id"),
            {"id": eid},
        )
    assert client.get(path, params={"format": "json"}).json()["valid"] is True
    # A code signed with another key (forged), of another kind, for no application, or garbage: invalid.
    payload = signing.verify(token)
    env(CHENGJIAN_SIGNING_KEY=signing.new_key_text())
    forged = signing.sign(payload)
    env(CHENGJIAN_SIGNING_KEY=KEY)
    for bad in (
        forged,
        signing.sign({**payload, "t": "other"}),
        signing.sign({**payload, "id": 999999}),
        signing.sign({**payload, "id": str(eid)}),
        token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),
        "garbage",
        "abc.def",
        token.split(".")[0],
    ):
        js = client.get(f"/verify/st/{bad}", params={"format": "json"}).json()
        assert (
            js["valid"] is False and js["result"] == "invalid" and js["message"].startswith("验证失败：防伪码无效")
        ), bad
        assert "fields" not in js
    page = client.get(f"/verify/st/{forged}")
    assert page.status_code == 200 and "验证失败：防伪码无效" in page.text and "西湖区文三路" not in page.text


def test_public_disclosure(client, world, engine):
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO st_notices (kind, title, body, public, published_at) VALUES "
                "('disclosure', '2026年度标化工地考评结果公示', '公示期七天。', true, now() - interval '1 hour'), "
                "('notice', '内部通知：评审专家名单', '请勿外传。', false, now() - interval '1 hour'), "
                "('announcement', '未发布的公告草稿', '草稿', true, NULL), "
                "('announcement', '定时发布的公告', '明天发布', true, now() + interval '1 day')"
            )
        )
    r = client.get("/api/st/public/results")  # no credentials
    assert r.status_code == 200
    data = r.json()
    mine = [x for x in data["results"] if x["project_code"] in (XH, YH)]
    assert len(mine) == 1, mine  # the 余杭区 application was not recommended: it is not decided, not disclosed
    res = mine[0]
    assert set(res) == {
        "project_code",
        "project_name",
        "district",
        "builder",
        "construction_unit",
        "supervision_unit",
        "award",
        "decision",
        "decision_title",
        "decided_on",
        "final_score",
    }
    assert res["project_name"] == "西湖区文三路综合楼工程" and res["district"] == "西湖区"
    assert res["decision"] == "awarded" and res["final_score"] == 89.5 and res["decided_on"] == _today().isoformat()
    titles = [n["title"] for n in data["notices"]]
    assert "2026年度标化工地考评结果公示" in titles
    assert not {"内部通知：评审专家名单", "未发布的公告草稿", "定时发布的公告"} & set(titles)
    assert set(data["notices"][0]) == {"id", "kind", "title", "body", "district", "published_at"}
    # Nothing internal leaks: not the decision note, the form, the return reason, the YH application.
    page = client.get("/public/st")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "西湖区文三路综合楼工程" in page.text and "2026年度标化工地考评结果公示" in page.text and "89.5" in page.text
    for secret in (
        "评审委员会第 3 次会议",
        "张建国",
        "缺少竣工验收备案表",
        "月度申报缺失过多",
        "余杭区良渚安置房工程",
        "内部通知",
        "未发布的公告草稿",
        "定时发布的公告",
        "print_token",
    ):
        assert secret not in r.text and secret not in page.text, secret
    # District filter.
    assert [
        x
        for x in client.get("/api/st/public/results", params={"district": "余杭区"}).json()["results"]
        if x["project_code"] == XH
    ] == []
    # A signed-in unit sees the same public page.
    assert client.get("/public/st", headers=unit(world, YH)).status_code == 200


def test_bonus_points_are_prefilled(client, world, engine):
    """Confirmed bonus items (another part declares and confirms them) are carried into a new application."""
    with engine.begin() as conn:
        item = conn.execute(text("SELECT id FROM st_catalog WHERE kind = 'bonus' AND code = 'B03'")).scalar()
        for status in ("confirmed", "submitted"):
            conn.execute(
                text("INSERT INTO st_bonus_claims (site_id, item_id, status, district) VALUES (:s, :i, :st, '西湖区')"),
                {"s": world[XH]["site_id"], "i": item, "st": status},
            )
        # Start over for 西湖区: the awarded application is taken away so that a new one can be made.
        conn.execute(text("DELETE FROM st_reviews; DELETE FROM st_assignments; DELETE FROM st_attachments"))
        conn.execute(sa.text("DELETE FROM st_evaluations WHERE site_id = :s"), {"s": world[XH]["site_id"]})
    r = client.post(f"/api/st/sites/{world[XH]['site_id']}/evaluation", headers=unit(world, XH), json={})
    assert r.status_code == 201, r.text
    pre = r.json()["prefill"]
    assert pre["bonus_items"] == [{"code": "B03", "name": "智慧工地系统接入并正常运行", "points": 1.0}]
    assert pre["bonus_points"] == 1.0
