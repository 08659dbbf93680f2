"""Sign-in: passwords (argon2), lockout, cookies and CSRF, bearer tokens, sign-out, password change; experts'
one-time codes (window, single use, rate limit, SMS outbox); identifier checks; the operation log."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from stdnum.cn import ric, uscc

from tests.conftest import ADMIN, TEST_PASSWORD, make_user


def user_id(engine, username: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT id FROM users WHERE username = :u"), {"u": username}).scalar()


def log_rows(engine, actor: str, action: str | None = None) -> list[dict]:
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                text(
                    "SELECT actor, action, client, detail FROM audit_log WHERE actor = :a "
                    "AND (CAST(:act AS text) IS NULL OR action = :act) ORDER BY id"
                ),
                {"a": actor, "act": action},
            ).mappings()
        ]


@pytest.fixture()
def https_client(app):
    with TestClient(app, base_url="https://testserver") as c:
        yield c


def test_login_sets_secure_httponly_cookie_and_me(https_client, engine):
    make_user("alice", ["leader"])
    r = https_client.post("/api/auth/login", json={"username": "alice", "password": TEST_PASSWORD})
    assert r.status_code == 200, r.text
    cookies = r.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("cj_session="))
    assert "HttpOnly" in session and "Secure" in session and "SameSite=lax" in session
    csrf = next(c for c in cookies if c.startswith("cj_csrf="))
    assert "HttpOnly" not in csrf
    me = https_client.get("/api/auth/me").json()
    assert me["user"] == "alice" and me["via"] == "cookie" and me["roles"] == ["leader"] and me["scope"] == "全市"
    assert [row["detail"]["method"] for row in log_rows(engine, "alice", "login")] == ["password"]


def test_cookie_writes_need_the_csrf_token(https_client, engine):
    make_user("bob-admin", ["admin"])
    r = https_client.post("/api/auth/login", json={"username": "bob-admin", "password": TEST_PASSWORD})
    csrf = r.json()["csrf_token"]
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [120.15, 30.28]},
        "properties": {"code": "CSRF-1", "name": "跨站测试"},
    }
    r = https_client.post("/api/layers/sites/features", json=body)
    assert r.status_code == 403 and r.json()["code"] == "csrf_failed"
    r = https_client.post("/api/layers/sites/features", json=body, headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403 and r.json()["code"] == "csrf_failed"
    r = https_client.post("/api/layers/sites/features", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    # A bearer token carries no ambient credential: no CSRF token needed.
    r = https_client.post("/api/auth/token", json={"username": "bob-admin", "password": TEST_PASSWORD})
    token = r.json()["access_token"]
    fresh = TestClient(https_client.app, base_url="https://testserver")
    r = fresh.post(
        "/api/layers/sites/features",
        headers={"Authorization": f"Bearer {token}"},
        json={**body, "properties": {"code": "CSRF-2", "name": "令牌"}},
    )
    assert r.status_code == 201, r.text


def test_plain_http_on_loopback_cookie_is_not_secure(client):
    make_user("carol", ["leader"])
    r = client.post("/api/auth/login", json={"username": "carol", "password": TEST_PASSWORD})
    assert "Secure" not in next(c for c in r.headers.get_list("set-cookie") if c.startswith("cj_session="))


def test_lockout_after_repeated_failures(client, engine):
    """Five wrong passwords lock the account; the caller cannot tell: a locked account is answered exactly like a
    wrong password or an unknown user (which accounts exist stays secret). The lock is in the operation log and on
    the account in the back office."""
    make_user("dave", ["leader"])

    def answer(r):
        return r.status_code, r.json()["code"], r.json()["message"], r.json()["field"]

    unknown = answer(client.post("/api/auth/login", json={"username": "nobody-dave", "password": "wrong-password-1"}))
    assert unknown[:2] == (401, "invalid_credentials")
    for _ in range(5):
        r = client.post("/api/auth/login", json={"username": "dave", "password": "wrong-password-1"})
        assert answer(r) == unknown
    # Locked: even the right password is refused, with the same words.
    r = client.post("/api/auth/login", json={"username": "dave", "password": TEST_PASSWORD})
    assert (
        answer(r) == unknown
        and r.content
        == client.post("/api/auth/login", json={"username": "nobody-dave", "password": TEST_PASSWORD}).content
    )
    r = client.post("/api/auth/token", json={"username": "dave", "password": TEST_PASSWORD})
    assert answer(r) == unknown
    actions = [row["action"] for row in log_rows(engine, "dave")]
    assert actions.count("login_failed") == 7 and actions.count("account_locked") == 1
    assert [row["detail"]["reason"] for row in log_rows(engine, "dave", "login_failed")].count("locked") == 2
    assert all(row["client"] for row in log_rows(engine, "dave", "login_failed"))
    # The administrator sees the lock on the account.
    users = client.get("/api/admin/users", params={"q": "dave"}, headers=ADMIN).json()
    dave = next(u for u in users["items"] if u["username"] == "dave")
    assert dave["locked_until"] is not None
    # An administrator's unlock (or the lock running out) opens it again.
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET locked_until = now() - interval '1 second' WHERE username = 'dave'"))
    assert client.post("/api/auth/login", json={"username": "dave", "password": TEST_PASSWORD}).status_code == 200


def test_unknown_user_is_logged_and_refused_alike(client, engine):
    r = client.post("/api/auth/login", json={"username": "nobody-here", "password": "whatever-123"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"
    assert log_rows(engine, "nobody-here", "login_failed")[0]["detail"]["reason"] == "unknown_user"


def test_bearer_token_logout_and_expiry(client, engine):
    make_user("erin", ["leader"])
    token = client.post("/api/auth/token", json={"username": "erin", "password": TEST_PASSWORD}).json()["access_token"]
    h = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/auth/me", headers=h).json()["via"] == "bearer"
    assert client.post("/api/auth/logout", headers=h).status_code == 200
    r = client.get("/api/auth/me", headers=h)
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    assert client.get("/api/auth/me", headers={"Authorization": "Bearer cjs_made_up"}).status_code == 401
    # An expired session is refused.
    token = client.post("/api/auth/token", json={"username": "erin", "password": TEST_PASSWORD}).json()["access_token"]
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE sessions SET expires_at = now() - interval '1 second' "
                "WHERE user_id = (SELECT id FROM users WHERE username = 'erin')"
            )
        )
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_password_change(client, engine):
    make_user("frank", ["leader"])
    t1 = client.post("/api/auth/token", json={"username": "frank", "password": TEST_PASSWORD}).json()["access_token"]
    t2 = client.post("/api/auth/token", json={"username": "frank", "password": TEST_PASSWORD}).json()["access_token"]
    h1 = {"Authorization": f"Bearer {t1}"}
    r = client.post(
        "/api/auth/password", headers=h1, json={"old_password": "nope-nope-1", "new_password": "Newpass-2026x"}
    )
    assert r.status_code == 422 and r.json()["field"] == "old_password"
    r = client.post("/api/auth/password", headers=h1, json={"old_password": TEST_PASSWORD, "new_password": "short1"})
    assert r.status_code == 422 and r.json()["code"] == "weak_password" and r.json()["field"] == "new_password"
    r = client.post(
        "/api/auth/password", headers=h1, json={"old_password": TEST_PASSWORD, "new_password": "Newpass-2026x"}
    )
    assert r.status_code == 200, r.text
    assert client.get("/api/auth/me", headers=h1).status_code == 200  # this session stays
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {t2}"}).status_code == 401  # others end
    assert client.post("/api/auth/token", json={"username": "frank", "password": TEST_PASSWORD}).status_code == 401
    assert client.post("/api/auth/token", json={"username": "frank", "password": "Newpass-2026x"}).status_code == 200
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM users WHERE username = 'frank'")).scalar()
    assert stored.startswith("$argon2id$")


def test_identifiers_are_checked(engine):
    from api.accounts import users
    from api.errors import ApiError
    from geo.db import transaction

    good_uscc = "91330106MA2" + "8X" + "1234"
    good_uscc = good_uscc + uscc.calc_check_digit(good_uscc)
    bad_uscc = good_uscc[:-1] + ("0" if good_uscc[-1] != "0" else "1")
    good_id = "33010619850101123"
    good_id += ric.calc_check_digit(good_id + "0")
    bad_id = good_id[:-1] + ("0" if good_id[-1] != "0" else "1")
    with transaction() as conn:
        oid = users.create_org(conn, "杭州某建设集团有限公司", "enterprise", good_uscc)
        users.create_user(
            conn,
            "ident-ok",
            "张三",
            ["construction_unit"],
            org_id=oid,
            id_number=good_id,
            phone="13800000001",
            password=TEST_PASSWORD,
        )
    for call, field in (
        (lambda c: users.create_org(c, "某公司", "enterprise", bad_uscc), "uscc"),
        (lambda c: users.create_org(c, "某公司", "enterprise", None), "uscc"),
        (lambda c: users.create_user(c, "ident-bad", "李四", [], id_number=bad_id), "id_number"),
        (lambda c: users.create_user(c, "ident-bad", "李四", [], phone="12345"), "phone"),
        (lambda c: users.create_user(c, "ident-bad", "李四", ["district_staff"]), "district"),
        (lambda c: users.create_user(c, "ident-bad", "李四", ["nope"]), "roles"),
    ):
        with pytest.raises(ApiError) as e:
            with transaction() as conn:
                call(conn)
        assert e.value.status == 422 and e.value.field == field and e.value.message


# -- experts' one-time codes --------------------------------------------------------------------------------------


def make_expert(engine, name: str, phone: str, id_number: str, start: datetime, end: datetime) -> int:
    from api.accounts import users
    from geo.db import transaction

    make_user(name, ["expert"], phone=phone, id_number=id_number)
    uid = user_id(engine, name)
    with transaction() as conn:
        site = conn.execute(text("SELECT coalesce(max(id), 1) FROM sites")).scalar()
        users.grant(conn, uid, "sites", site, "expert", start, end, actor="test")
    return uid


def issue_code(engine, uid: int, start: datetime, end: datetime) -> str:
    from api.accounts import otp
    from geo.db import transaction

    with transaction() as conn:
        return otp.issue(conn, uid, start, end, actor="draw")


def outbox(engine, phone: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(text("SELECT body FROM sms_outbox WHERE phone = :p ORDER BY id"), {"p": phone}).scalars()
        )


def an_id(seed: str) -> str:
    base = f"3301061990{seed:0>7}"[:17]
    return base + ric.calc_check_digit(base + "0")


def test_expert_code_inside_window_single_use(client, engine):
    now = datetime.now(UTC)
    start, end = now - timedelta(minutes=5), now + timedelta(hours=2)
    uid = make_expert(engine, "expert-wang", "13900000011", an_id("0101011"), start, end)
    code = issue_code(engine, uid, start, end)
    (sms,) = outbox(engine, "13900000011")
    assert code in sms and "expert-wang" in sms and "动态密码" in sms
    r = client.post(
        "/api/auth/otp/login", json={"login": "13900000011", "code": "000000" if code != "000000" else "111111"}
    )
    assert r.status_code == 401 and r.json()["code"] == "otp_invalid"
    r = client.post("/api/auth/otp/login", json={"login": an_id("0101011"), "code": code})  # the ID number works too
    assert r.status_code == 200, r.text
    me = client.get("/api/auth/me").json()
    assert me["user"] == "expert-wang" and me["roles"] == ["expert"]
    # The session ends with the review window.
    with engine.connect() as conn:
        expires = conn.execute(
            text("SELECT max(expires_at) FROM sessions WHERE user_id = :u AND method = 'otp'"), {"u": uid}
        ).scalar()
    assert abs((expires - end).total_seconds()) < 1
    # Single use.
    fresh = TestClient(client.app)
    r = fresh.post("/api/auth/otp/login", json={"login": "13900000011", "code": code})
    assert r.status_code == 401


def test_expert_code_outside_window_fails(client, engine):
    now = datetime.now(UTC)
    start, end = now + timedelta(days=1), now + timedelta(days=2)
    uid = make_expert(engine, "expert-li", "13900000012", an_id("0202022"), start, end)
    code = issue_code(engine, uid, start, end)
    r = client.post("/api/auth/otp/login", json={"login": "13900000012", "code": code})
    assert r.status_code == 403 and r.json()["code"] == "outside_window"
    # Asking for a new code before the window opens sends nothing, and answers as for an unknown phone number.
    sent = len(outbox(engine, "13900000012"))
    r = client.post("/api/auth/otp/request", json={"login": "13900000012"})
    unknown = client.post("/api/auth/otp/request", json={"login": "13900000099"})
    assert r.status_code == unknown.status_code == 202 and r.json() == unknown.json()
    assert len(outbox(engine, "13900000012")) == sent
    assert log_rows(engine, "expert-li", "otp_refused")[-1]["detail"] == {"reason": "outside_window"}
    # After the window the code is dead as well.
    past_start, past_end = now - timedelta(days=2), now - timedelta(days=1)
    code = issue_code(engine, uid, past_start, past_end)
    r = client.post("/api/auth/otp/login", json={"login": "13900000012", "code": code})
    assert r.status_code == 403 and r.json()["code"] == "outside_window"
    assert len(log_rows(engine, "expert-li", "login_failed")) == 2


def test_expert_code_request_is_rate_limited_and_attempts_burn(client, engine):
    now = datetime.now(UTC)
    make_expert(
        engine, "expert-zhao", "13900000013", an_id("0303033"), now - timedelta(hours=1), now + timedelta(hours=1)
    )
    r = client.post("/api/auth/otp/request", json={"login": "13900000013"})
    assert r.status_code == 202, r.text
    (sms,) = outbox(engine, "13900000013")
    assert "只能登录一次" in sms and "重新发送动态密码" in sms
    # Too soon: nothing is sent, and the answer is the one an unknown number gets (it tells no one who is an expert).
    again = client.post("/api/auth/otp/request", json={"login": "13900000013"})
    unknown = client.post("/api/auth/otp/request", json={"login": an_id("9999999")})
    assert again.status_code == unknown.status_code == 202 and again.json() == unknown.json() == r.json()
    assert len(outbox(engine, "13900000013")) == 1
    assert log_rows(engine, "expert-zhao", "otp_refused")[-1]["detail"] == {"reason": "too_soon"}
    code = re.search(r"动态密码：(\d+)", outbox(engine, "13900000013")[-1]).group(1)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        assert client.post("/api/auth/otp/login", json={"login": "13900000013", "code": wrong}).status_code == 401
    # Five wrong tries burn the code: the right one no longer works.
    assert client.post("/api/auth/otp/login", json={"login": "13900000013", "code": code}).status_code == 401


def test_api_key_of_a_county_system(client, engine):
    from api.accounts import keys
    from geo.db import transaction

    make_user("county-chunan", ["county_system"], district="淳安县")
    uid = user_id(engine, "county-chunan")
    with transaction() as conn:
        kid, key = keys.create(conn, uid, "淳安农房系统", actor="test-admin")
    me = client.get("/api/auth/me", headers={"X-API-Key": key}).json()
    assert me["via"] == "api_key" and me["user"] == "county-chunan" and me["scope"] == "淳安县"
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT key_hash FROM api_keys WHERE id = :k"), {"k": kid}).scalar()
    assert key not in stored and len(stored) == 64
    with transaction() as conn:
        _, new = keys.rotate(conn, kid, actor="test-admin")
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {new}"}).status_code == 200


def test_exports_are_logged(client, engine):
    r = client.get("/api/layers/sites/export", params={"format": "csv"}, headers=ADMIN)
    assert r.status_code == 200
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT actor, action, layer FROM audit_log WHERE action = 'export' ORDER BY id DESC LIMIT 1")
        ).one()
    assert row.actor == "test-admin" and row.layer == "sites"
