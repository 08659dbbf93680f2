"""The demo shows the standardized-site module in use (issue #11 §2): after ``build_demo`` the demo's accounts see,
through the API, every part of the workbench filled; the organisations the sites name exist and the unit accounts
belong to them; the missing months are one rule (prefill, printed form, expert page, statistics); and every label
a user sees is Chinese (operation log, SMS outbox, case history, deductions)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from etl.demo import build_demo
from geo.settings import get_settings
from tests import st_world
from tests.conftest import business_tables

BEIJING = timezone(timedelta(hours=8))
SEED = 20261125


@pytest.fixture(scope="module")
def demo(engine):
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {', '.join(business_tables())}, audit_log RESTART IDENTITY CASCADE"))
        sms_before = conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM sms_outbox")).scalar_one()
    counts = build_demo(farmhouses=200, seed=SEED, scale=0.02)
    yield {"counts": counts, "sms_before": sms_before}
    st_world.forget_demo(engine)


def sign_in(client, username: str) -> dict:
    r = client.post("/api/auth/token", json={"username": username, "password": get_settings().demo_password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def rows(engine, sql: str, **params) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).all()


def every(client, headers, path: str, key: str, **params) -> list[dict]:
    r = client.get(path, headers=headers, params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    assert r.json()["total"] <= 500
    return r.json()[key]


def test_counts(demo):
    c = demo["counts"]
    assert c["st_registrations"] == 16 and c["experts"] >= 200 and c["st_reports"] >= 100
    assert c["st_photos"] >= 5 * c["st_reports"] // 2 and c["st_draws"] == 2 and c["st_reviews"] >= 6


def test_reports_in_every_state(demo, client):
    city, xihu = sign_in(client, "city"), sign_in(client, "xihu")
    states = {r["status"] for r in every(client, city, "/api/st/reports", "reports")}
    assert states == {"draft", "submitted", "returned", "supervision_approved", "received"}
    # The district authority sees its district's reports the supervision unit approved, twelve months of them.
    mine = every(client, xihu, "/api/st/reports", "reports")
    assert mine and {r["district"] for r in mine} == {"西湖区"}
    assert {r["status"] for r in mine} <= {"supervision_approved", "received"}
    months = {r["month"] for r in every(client, city, "/api/st/reports", "reports")}
    assert len(months) >= 12


def test_bonus_deductions_stages_notices(demo, client, engine):
    city, xihu = sign_in(client, "city"), sign_in(client, "xihu")
    claims = every(client, city, "/api/st/bonus", "claims")
    assert {c["status"] for c in claims} == {
        "draft",
        "submitted",
        "returned",
        "supervision_approved",
        "confirmed",
        "rejected",
    }
    assert all(c["points"] == c["item_points"] for c in claims if c["status"] == "confirmed")
    cuts = every(client, city, "/api/st/deductions", "deductions")
    assert len(cuts) == 10 and {d["subject_kind"] for d in cuts} == {"enterprise", "person"}
    projects = {code: name for code, name in rows(engine, "SELECT code, name FROM projects")}
    for d in cuts:  # the project's code and name, not an internal id
        assert projects[d["site_code"]] == d["site_name"]
        if d["subject_kind"] == "person":
            assert "*" in d["subject_code"]  # masked
    one = client.get(f"/api/st/deductions/{cuts[0]['id']}", headers=city).json()
    assert one["site_code"] == cuts[0]["site_code"] and one["site_name"]
    r = client.get("/api/st/deductions.xlsx", headers=city)
    assert r.status_code == 200
    header = [c.value for c in next(load_workbook(io.BytesIO(r.content)).active.iter_rows(max_row=1))]
    assert "项目编号" in header and "项目名称" in header and "工地" not in header
    stages = every(client, city, "/api/st/stages", "stages")
    assert {s["stage"] for s in stages} == {"foundation", "main_structure", "decoration"}
    assert all(s["inside_fence"] and s["site_code"] and s["site_name"] for s in stages)
    notices = every(client, xihu, "/api/st/notices", "notices")
    assert {n["kind"] for n in notices} >= {"notice", "announcement", "disclosure"}
    assert any(n["district"] == "西湖区" for n in notices)


def test_experts_rounds_draws_reviews_decisions(demo, client):
    city = sign_in(client, "city")
    r = client.get("/api/st/experts", headers=city, params={"limit": 1})
    assert r.json()["total"] >= 200
    groups = client.get("/api/st/expert-groups", headers=city).json()
    assert len(groups["groups"]) >= 5
    rounds = client.get("/api/st/rounds", headers=city).json()["rounds"]
    assert len(rounds) == 2
    now = datetime.now(UTC)
    finished = [x for x in rounds if datetime.fromisoformat(x["review_to"]) < now]
    current = [
        x for x in rounds if datetime.fromisoformat(x["review_from"]) <= now < datetime.fromisoformat(x["review_to"])
    ]
    assert len(finished) == 1 and len(current) == 1
    draws = client.get(f"/api/st/rounds/{finished[0]['id']}/draws", headers=city).json()["draws"]
    assert [d["status"] for d in draws] == ["drawn"] and draws[0]["seed"]
    assert client.get(f"/api/st/draws/{draws[0]['id']}/verify", headers=city).json()["verified"] is True
    evaluations = every(client, city, "/api/st/evaluations", "evaluations")
    states = {e["status"] for e in evaluations}
    assert {"awarded", "rejected", "not_recommended", "in_review", "reviewed"} <= states
    assert {"draft", "submitted", "returned", "supervision_approved"} <= states
    awarded = [e for e in evaluations if e["status"] == "awarded"]
    assert awarded and all(e["final_score"] and e["round_id"] == finished[0]["id"] for e in awarded)
    reviews = client.get(f"/api/st/evaluations/{awarded[0]['id']}/reviews", headers=city).json()
    assert len(reviews["assignments"]) == 2 and all(a["total"] for a in reviews["assignments"])
    # The current round: some experts have reviewed, one assignment is still open.
    open_ = every(client, city, "/api/st/assignments", "assignments", status="assigned")
    ends = {datetime.fromisoformat(a["window_to"]) for a in open_}
    assert open_ and ends == {datetime.fromisoformat(current[0]["review_to"])}
    # The decision is disclosed to the public.
    public = client.get("/api/st/public/results").json()
    assert {x["project_code"] for x in public["results"]} >= {e["site_code"] for e in awarded}
    assert any(n["kind"] == "disclosure" for n in public["notices"])


def test_statistics_count_the_registered_sites(demo, client, engine):
    city, xihu = sign_in(client, "city"), sign_in(client, "xihu")
    today = datetime.now(BEIJING).date()
    start = date(today.year - 1, today.month, 1)
    params = {"from": f"{start:%Y-%m}", "to": f"{today:%Y-%m}"}
    s = client.get("/api/st/stats", headers=city, params=params).json()
    registered = rows(engine, "SELECT count(*) FROM st_registrations")[0][0]
    this_month = [m for m in s["monthly"] if m["month"] == f"{today:%Y-%m}"]
    assert sum(m["registered"] for m in this_month) == registered == 16
    assert s["totals"]["reports"] > 100 and s["totals"]["bonus_claims"] and s["totals"]["deductions"] == 10
    assert s["totals"]["evaluations"] and s["totals"]["stages"]
    mine = client.get("/api/st/stats", headers=xihu, params=params).json()
    assert {m["district"] for m in mine["monthly"]} == {"西湖区"}
    assert max(m["registered"] for m in mine["monthly"]) >= 1


def test_organisations_and_unit_accounts(demo, client, engine):
    admin = sign_in(client, "admin")
    orgs = client.get("/api/admin/organisations", headers=admin, params={"kind": "enterprise", "limit": 1}).json()
    named = rows(
        engine,
        "SELECT count(DISTINCT n) FROM (SELECT construction_unit n FROM sites UNION SELECT supervision_unit FROM sites "
        "UNION SELECT builder FROM sites) u",
    )[0][0]
    assert orgs["total"] >= named > 100
    # Every unit the demo's sites name is an organisation (by its credit code); every unit account belongs to its own.
    # (The project register's other projects take their units from the enterprise register.)
    missing = rows(
        engine,
        "SELECT p.code FROM projects p WHERE p.site_id IS NOT NULL AND (NOT EXISTS (SELECT 1 FROM organisations o "
        "WHERE o.uscc = p.construction_uscc) OR NOT EXISTS (SELECT 1 FROM organisations o WHERE o.uscc = p.supervision_uscc))",
    )
    assert missing == []
    accounts = rows(
        engine,
        "SELECT u.username, o.uscc, p.construction_uscc, p.supervision_uscc FROM st_registrations r "
        "JOIN projects p ON p.id = r.project_id JOIN users u ON u.id IN (r.construction_user_id, r.supervision_user_id) "
        "LEFT JOIN organisations o ON o.id = u.org_id",
    )
    assert len(accounts) == 32
    for username, uscc, construction, supervision in accounts:
        assert uscc == (construction if username.startswith("sg-") else supervision), username
    staff = dict(rows(engine, "SELECT u.username, o.name FROM users u JOIN organisations o ON o.id = u.org_id"))
    assert staff["city"] == "杭州市城乡建设委员会" and staff["xihu"] == "杭州市西湖区住房和城乡建设局"


def _due(month: date) -> date:
    """The due day of a month's report (the setting, on the following month), computed here on its own."""
    from layers.standard_sites.settings import st_settings

    nxt = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    return nxt.replace(day=min(st_settings().report_due_day, 28))


def test_missing_months_are_one_rule(demo, client, engine):
    """Months before a project registered (and after its completion acceptance) are never missing; the prefill,
    the printed form's fields, the expert's page and the statistics follow the same rule (issue #11 §2.3)."""
    from layers.standard_sites import evaluations

    city = sign_in(client, "city")
    today = datetime.now(BEIJING).date()
    sites = {
        site: (registered, completed)
        for site, registered, completed in rows(
            engine,
            "SELECT r.site_id, (r.created_at AT TIME ZONE 'Asia/Shanghai')::date, p.completion_date "
            "FROM st_registrations r JOIN projects p ON p.id = r.project_id",
        )
    }
    reported = set(rows(engine, "SELECT site_id, month FROM st_reports WHERE submitted_at IS NOT NULL"))
    assert min(r for r, _ in sites.values()) < today - timedelta(days=330)  # registrations a year back

    def expected(site: int) -> list[str]:
        """Computed here on its own: registration month … completion (or this) month, due, not reported."""
        registered, completed = sites[site]
        out, m = [], registered.replace(day=1)
        while m <= min(completed or today, today):
            if today > _due(m) and (site, m) not in reported:
                out.append(f"{m:%Y-%m}")
            m = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
        return out

    evs = every(client, city, "/api/st/evaluations", "evaluations")
    assert len(evs) == 10
    with engine.connect() as conn:
        for e in evs:
            site, completed = e["site_id"], date.fromisoformat(e["completion_date"])
            # As of today the prefill says what the rule says; what was stored when the unit applied (printed,
            # shown to the expert) named only months then due, none before the registration.
            assert evaluations.prefill(conn, site, completed)["missing_months"] == expected(site), e["id"]
            stored = e["prefill"]["missing_months"]
            assert set(stored) <= set(expected(site)), e["id"]
            assert all(m >= f"{sites[site][0]:%Y-%m}" for m in stored)
            row = conn.execute(sa.text("SELECT * FROM st_evaluations WHERE id = :i"), {"i": e["id"]}).mappings().one()
            fields = dict(evaluations.key_fields(conn, dict(row)))
            assert fields["未申报月份"] == ("、".join(stored) or "无")
    assert any(expected(site) for site in sites)  # the demo has months nobody reported
    # The expert's page shows the application's prefill.
    for a in every(client, city, "/api/st/assignments", "assignments")[:3]:
        page = client.get(f"/api/st/assignments/{a['id']}", headers=city).json()
        ev = next(e for e in evs if e["id"] == a["evaluation_id"])
        assert page["evaluation"]["prefill"]["missing_months"] == ev["prefill"]["missing_months"]
    # The statistics count exactly the owed months nobody reported.
    start = min(r for r, _ in sites.values()).replace(day=1)
    s = client.get("/api/st/stats", headers=city, params={"from": f"{start:%Y-%m}", "to": f"{today:%Y-%m}"}).json()
    assert s["totals"]["missing"] == sum(len(expected(site)) for site in sites) > 0
    for m in s["monthly"]:
        month = date.fromisoformat(m["month"] + "-01")
        mine = [site for site in sites if _district(engine, site) == m["district"]]
        if m["missing"] is not None:
            assert m["missing"] == sum(m["month"] in expected(site) for site in mine)
        assert m["registered"] == sum(sites[site][0].replace(day=1) <= month for site in mine)


_districts: dict[int, str] = {}


def _district(engine, site: int) -> str:
    if not _districts:
        _districts.update(rows(engine, "SELECT site_id, district FROM st_registrations"))
    return _districts[site]


def test_every_label_is_chinese(demo, client, engine):
    """What the demo wrote — operation log actions and records, SMS purposes, case-history actors that are not a
    person — has a Chinese name in the back office's declarations; 「系统」 completes a review."""
    from api.admin.common import log_actions, log_objects, sms_purposes
    from geo.audit import actor_names

    actions, objects, purposes = log_actions(), log_objects(), sms_purposes()
    logged = rows(engine, "SELECT DISTINCT action, layer FROM audit_log")
    assert len(logged) > 20
    assert sorted(a for a, _ in logged if a not in actions) == []
    assert sorted({o for _, o in logged if o and o not in objects}) == []
    sent = {p for (p,) in rows(engine, "SELECT DISTINCT purpose FROM sms_outbox WHERE id > :i", i=demo["sms_before"])}
    assert sent >= {"st_registration", "expert_review"} and sent <= set(purposes)
    people = {u for (u,) in rows(engine, "SELECT username FROM users")}
    actors = {a for (a,) in rows(engine, "SELECT DISTINCT actor FROM case_history")}
    assert "system" in actors and sorted(a for a in actors - people if a not in actor_names()) == []
    admin = sign_in(client, "admin")
    meta = client.get("/api/admin/meta", headers=admin).json()
    assert meta["sms_purposes"]["st_registration"] == "标化工地账号开通"
    assert meta["actor_names"]["system"] == "系统" and meta["log_reasons"]["wrong_code"] == "动态密码错误"
    city = sign_in(client, "city")
    done = [e for e in every(client, city, "/api/st/evaluations", "evaluations") if e["status"] == "awarded"][0]
    history = client.get(f"/api/st/evaluations/{done['id']}", headers=city).json()["history"]
    complete = [h for h in history if h["action"] == "complete"]
    assert [(h["actor"], h["actor_name"]) for h in complete] == [("system", "系统")]
    assert all(h["actor_name"] == h["actor"] for h in history if h["actor"] in people)


def test_demo_accounts_share_the_demo_password(demo, client, engine):
    """The demo's accounts, the unit accounts its registrations opened among them, have the demo password, hashed
    once for the whole load (argon2 is slow by design; passwords.hash_once); the SMS tells it, the first sign-in
    asks for a new one."""
    units = [u for (u,) in rows(engine, "SELECT username FROM users WHERE username ~ '^(sg|jl)-'")]
    assert len(units) == 32
    # (the staff accounts, city and xihu, may come from an earlier module of the suite, with a hash of their own)
    hashes = rows(engine, "SELECT DISTINCT password_hash FROM users WHERE username = ANY(:u)", u=units)
    assert len(hashes) == 1 and hashes[0][0].startswith("$argon2id$")
    r = client.post("/api/auth/token", json={"username": units[0], "password": get_settings().demo_password})
    assert r.status_code == 200, r.text
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}).json()
    assert me["must_change_password"] is True
    sms = rows(
        engine,
        "SELECT body FROM sms_outbox WHERE purpose = 'st_registration' AND id > :i AND body LIKE :u",
        i=demo["sms_before"],
        u=f"%{units[0]}%",
    )
    assert len(sms) == 1 and f"初始密码：{get_settings().demo_password}" in sms[0][0]
