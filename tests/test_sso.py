"""Single sign-on from the OA system (api/sso.py), end to end against a real OpenID provider:
panva's ``oidc-provider`` (tests/oidc/provider.mjs, run with node), and the real app under uvicorn.

The provider's accounts (tests/oidc/provider.mjs): zhangsan oa-1001, lisi oa-1002, wangwu oa-1003, zhaoliu oa-1004,
qianqi oa-1005, sunba oa-1006. A test that links or refuses an account uses its own, so tests do not depend on
each other's order.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import make_user, running_server

PROVIDER_DIR = Path(__file__).parent / "oidc"
CLIENT_ID, CLIENT_SECRET = "chengjian-gis", "test:secret/+%&="  # characters Basic auth must form-encode

# `make test` installs node and npm (Makefile `system-deps`): a machine without them fails here rather than skipping.
if not (shutil.which("node") and shutil.which("npm")):
    pytest.fail("node and npm are needed to run the test OpenID provider (tests/oidc): run `make test`", pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _oidc_env(**values: str | None):
    """Set (or, with None, remove) ``CHENGJIAN_OIDC_*`` variables and re-read the settings; restore afterwards."""
    from geo.settings import get_settings

    def apply(pairs: dict[str, str | None]) -> None:
        for k, v in pairs.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()

    saved = {k: os.environ.get(k) for k in values}
    apply(values)
    try:
        yield
    finally:
        apply(saved)


@pytest.fixture(scope="module")
def base(app, tmp_path_factory):
    """The app's base URL, with SSO pointed at a freshly started provider (for this module only: the settings
    are restored afterwards)."""
    if not (PROVIDER_DIR / "node_modules").is_dir():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=PROVIDER_DIR, capture_output=True, text=True, timeout=300
        )
        if done.returncode:
            pytest.fail(f"npm ci in tests/oidc failed: {(done.stdout + done.stderr)[-2000:]}")
    with running_server(app) as app_url:
        port = _free_port()
        issuer = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_REDIRECT_URIS": f"{app_url}/api/auth/sso/callback",
        }
        log = tmp_path_factory.mktemp("oidc") / "provider.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                ["node", "provider.mjs", str(port)], cwd=PROVIDER_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    pytest.fail(f"the test OpenID provider did not start: {log.read_text()[-2000:]}")
                time.sleep(0.05)
            with _oidc_env(
                CHENGJIAN_OIDC_ISSUER=issuer,
                CHENGJIAN_OIDC_CLIENT_ID=CLIENT_ID,
                CHENGJIAN_OIDC_CLIENT_SECRET=CLIENT_SECRET,
                CHENGJIAN_OIDC_REDIRECT_URL=None,
            ):
                yield app_url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def local_user(username: str, roles=("leader",), active: bool = True) -> int:
    make_user(username, list(roles))
    from geo.db import admin_transaction

    with admin_transaction() as conn:
        return conn.execute(
            sa.text("UPDATE users SET active = :a WHERE username = :u RETURNING id"), {"a": active, "u": username}
        ).scalar_one()


def user_link(engine, user_id: int) -> tuple:
    with engine.connect() as conn:
        return tuple(
            conn.execute(sa.text("SELECT oidc_issuer, oidc_subject FROM users WHERE id = :u"), {"u": user_id}).one()
        )


def audit_rows(engine, action: str, since: int) -> list[dict]:
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                sa.text("SELECT actor, user_id, detail FROM audit_log WHERE action = :a AND id > :since ORDER BY id"),
                {"a": action, "since": since},
            ).mappings()
        ]


def last_audit_id(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar()


def start(browser: httpx.Client, base: str, next_: str | None = None) -> tuple[str, dict]:
    """``GET /api/auth/sso/login``: the provider URL it sends the browser to, and that URL's parameters."""
    r = browser.get(f"{base}/api/auth/sso/login", params={"next": next_} if next_ is not None else {})
    assert r.status_code == 302, r.text
    location = r.headers["location"]
    return location, {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def sign_in_at_provider(browser: httpx.Client, location: str, login: str | None, cancel: bool = False) -> str:
    """Drive the provider from its authorization URL to the redirect back to the app; returns that URL."""
    page = browser.get(location, follow_redirects=True)
    assert page.status_code == 200 and "/interaction/" in str(page.url), page.text
    r = browser.post(str(page.url), data={"cancel": "1"} if cancel else {"login": login})
    while "/api/auth/sso/callback" not in r.headers.get("location", ""):
        assert r.status_code in (302, 303), r.text
        r = browser.get(urljoin(str(r.url), r.headers["location"]))
    return r.headers["location"]


def sso(base: str, login: str, next_: str | None = None) -> httpx.Response:
    """A whole sign-in in a fresh browser; returns the app's answer to the callback (with its cookies)."""
    with httpx.Client(timeout=10) as browser:
        location, _ = start(browser, base, next_)
        callback = sign_in_at_provider(browser, location, login)
        return browser.get(callback)


def me(base: str, response: httpx.Response) -> dict:
    cookie = response.cookies.get("cj_session")
    assert cookie, response.text
    r = httpx.get(f"{base}/api/auth/me", cookies={"cj_session": cookie})
    assert r.status_code == 200
    return r.json()


# -- tests --------------------------------------------------------------------------------------------------------


def test_round_trip(base, engine):
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    uid = local_user("zhangsan")
    since = last_audit_id(engine)
    with httpx.Client(timeout=10) as browser:
        location, params = start(browser, base, "/?layer=sites")
        assert params["response_type"] == "code" and params["client_id"] == CLIENT_ID
        assert params["redirect_uri"] == f"{base}/api/auth/sso/callback"
        assert params["scope"].split() == ["openid", "profile", "email", "phone"]
        assert params["code_challenge_method"] == "S256" and params["nonce"] and len(params["state"]) >= 32
        with engine.connect() as conn:
            stored = (
                conn.execute(
                    sa.text("SELECT nonce, code_verifier, next_url, used_at FROM oidc_states WHERE state = :s"),
                    {"s": params["state"]},
                )
                .mappings()
                .one()
            )
        assert stored["nonce"] == params["nonce"] and stored["next_url"] == "/?layer=sites"
        assert stored["used_at"] is None
        assert params["code_challenge"] == create_s256_code_challenge(stored["code_verifier"])
        assert stored["code_verifier"] not in location  # only its hash travels

        callback = sign_in_at_provider(browser, location, "zhangsan")
        answer = browser.get(callback)
        assert answer.status_code == 302, answer.text
        assert answer.headers["location"] == "/?layer=sites"
        who = me(base, answer)
        assert (who["user"], who["user_id"], who["via"], who["roles"]) == ("zhangsan", uid, "cookie", ["leader"])

        replay = browser.get(callback)  # the same state (and code) a second time
        assert replay.status_code == 400 and replay.json()["code"] == "sso_state_invalid"

    issuer = urlsplit(location)._replace(path="", query="").geturl()
    assert user_link(engine, uid) == (issuer, "oa-1001")
    logins = audit_rows(engine, "login", since)
    assert [(r["actor"], r["user_id"], r["detail"]["method"]) for r in logins] == [("zhangsan", uid, "oidc")]
    assert [r["detail"]["subject"] for r in audit_rows(engine, "sso_link", since)] == ["oa-1001"]
    assert [r["detail"]["reason"] for r in audit_rows(engine, "login_failed", since)] == ["bad_state"]


def test_links_by_username_once_then_by_subject(base, engine):
    uid = local_user("lisi")
    since = last_audit_id(engine)
    assert me(base, sso(base, "lisi"))["user"] == "lisi"
    assert user_link(engine, uid)[1] == "oa-1002"
    # The local account is renamed: the OA identity still finds it, by subject.
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE users SET username = 'lisi-gis' WHERE id = :u"), {"u": uid})
    assert me(base, sso(base, "lisi"))["user"] == "lisi-gis"
    assert len(audit_rows(engine, "sso_link", since)) == 1
    assert len(audit_rows(engine, "login", since)) == 2


def test_unknown_oa_user_is_refused(base, engine):
    since = last_audit_id(engine)
    r = sso(base, "wangwu")
    assert r.status_code == 403 and "cj_session" not in r.cookies
    assert r.json() == {
        "code": "sso_no_account",
        "message": "您的 OA 账号尚未开通本系统权限，请联系管理员。",
        "field": None,
        "detail": {},
    }
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM users WHERE oidc_subject = 'oa-1003'")).scalar() == 0
    failed = audit_rows(engine, "login_failed", since)
    assert [(r["actor"], r["detail"]["method"], r["detail"]["reason"]) for r in failed] == [
        ("wangwu", "oidc", "no_account")
    ]


def test_username_already_linked_to_another_oa_identity_is_refused(base, engine):
    uid = local_user("zhaoliu")
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE users SET oidc_issuer = 'https://oa.other', oidc_subject = 'x-9' WHERE id = :u"), {"u": uid}
        )
    r = sso(base, "zhaoliu")
    assert r.status_code == 403 and r.json()["code"] == "sso_no_account"
    assert user_link(engine, uid) == ("https://oa.other", "x-9")


def test_inactive_user_is_refused(base, engine):
    uid = local_user("qianqi", active=False)
    r = sso(base, "qianqi")
    assert r.status_code == 403 and r.json()["code"] == "account_disabled"
    assert user_link(engine, uid) == (None, None)


def test_provider_denial(base, engine):
    since = last_audit_id(engine)
    with httpx.Client(timeout=10) as browser:
        location, _ = start(browser, base)
        callback = sign_in_at_provider(browser, location, None, cancel=True)
        assert "error=access_denied" in callback
        r = browser.get(callback)
    assert r.status_code == 403 and r.json()["code"] == "sso_denied"
    assert r.json()["detail"]["error"] == "access_denied"
    assert [r["detail"]["reason"] for r in audit_rows(engine, "login_failed", since)] == ["provider_error"]


def test_unknown_and_expired_state(base, engine):
    r = httpx.get(f"{base}/api/auth/sso/callback", params={"code": "abc", "state": "no-such-state"})
    assert r.status_code == 400 and r.json()["code"] == "sso_state_invalid"
    assert "请重新单点登录" in r.json()["message"]
    with httpx.Client(timeout=10) as browser:
        location, params = start(browser, base)
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE oidc_states SET created_at = now() - interval '11 minutes' WHERE state = :s"),
                {"s": params["state"]},
            )
        r = browser.get(sign_in_at_provider(browser, location, "zhangsan"))
    assert r.status_code == 400 and r.json()["code"] == "sso_state_invalid"


def test_answer_from_another_issuer_is_refused(base):
    """RFC 9207: the ``iss`` of the authorization response must be the configured provider (mix-up defence)."""
    with httpx.Client(timeout=10) as browser:
        location, _ = start(browser, base)
        callback = sign_in_at_provider(browser, location, "zhangsan")
        assert "iss=" in callback
        r = browser.get(callback.replace("iss=", "iss=https%3A%2F%2Foa.evil.example&was="))
    assert r.status_code == 400 and r.json()["code"] == "sso_issuer_mismatch"


def test_provider_unreachable():
    from api import sso as oidc

    with pytest.raises(oidc.ApiError) as e:
        oidc.provider_metadata(f"http://127.0.0.1:{_free_port()}")
    assert (e.value.status, e.value.code) == (502, "sso_unavailable")


def test_callback_in_another_browser_is_refused(base, engine):
    """Login CSRF: a callback URL made in one browser (an attacker's) does not sign in another one."""
    local_user("zhangsan")
    since = last_audit_id(engine)
    with httpx.Client(timeout=10) as attacker:
        location, _ = start(attacker, base)
        callback = sign_in_at_provider(attacker, location, "zhangsan")
    with httpx.Client(timeout=10) as victim:
        r = victim.get(callback)
    assert r.status_code == 400 and r.json()["code"] == "sso_state_invalid" and "cj_session" not in r.cookies
    assert [r["detail"]["reason"] for r in audit_rows(engine, "login_failed", since)] == ["other_browser"]


def test_open_redirects_end_at_root(base, engine):
    local_user("sunba")
    for bad in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "evil", ""):
        with httpx.Client(timeout=10) as browser:
            _, params = start(browser, base, bad)
        with engine.connect() as conn:
            assert (
                conn.execute(
                    sa.text("SELECT next_url FROM oidc_states WHERE state = :s"), {"s": params["state"]}
                ).scalar()
                == "/"
            ), bad
    r = sso(base, "sunba", "//evil.example/steal")
    assert r.status_code == 302 and r.headers["location"] == "/"
    assert sso(base, "sunba", "/farmhouses?id=3").headers["location"] == "/farmhouses?id=3"


def test_id_token_validation(base, engine):
    """A real ID token passes; a changed one, a wrong nonce, another audience or another key are refused."""
    import base64
    import json

    from joserfc import jwt
    from joserfc.errors import BadSignatureError, DecodeError, InvalidClaimError
    from joserfc.jwk import RSAKey

    from api import sso as oidc
    from geo.settings import get_settings

    s = get_settings()
    with httpx.Client(timeout=10) as browser:
        location, params = start(browser, base)
        callback = sign_in_at_provider(browser, location, "zhangsan")
    code = parse_qs(urlsplit(callback).query)["code"][0]
    with engine.connect() as conn:
        verifier = conn.execute(
            sa.text("SELECT code_verifier FROM oidc_states WHERE state = :s"), {"s": params["state"]}
        ).scalar_one()
    meta = oidc.provider_metadata(s.oidc_issuer)
    tokens = oidc.exchange_code(s, meta, code, verifier, params["redirect_uri"])
    good = tokens["id_token"]

    def check(token: str, nonce: str = params["nonce"], client_id: str = CLIENT_ID) -> dict:
        return oidc.validate_id_token(
            token, metadata=meta, client_id=client_id, nonce=nonce, access_token=tokens["access_token"]
        )

    claims = check(good)
    assert claims["sub"] == "oa-1001" and claims["nonce"] == params["nonce"]
    # This provider keeps profile claims out of the ID token: sign-ins read the username from userinfo.
    assert "preferred_username" not in claims
    with pytest.raises(InvalidClaimError, match="nonce"):
        check(good, nonce="another-nonce")
    with pytest.raises(InvalidClaimError, match="aud"):
        check(good, client_id="another-client")
    header, payload, signature = good.split(".")
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "sub": "oa-1002"}).encode()).rstrip(b"=").decode()
    with pytest.raises(BadSignatureError):
        check(f"{header}.{forged}.{signature}")
    with pytest.raises(DecodeError):
        check("not-a-token")
    kid = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    other = RSAKey.generate_key(2048, {"kid": kid})
    with pytest.raises(BadSignatureError):  # same kid, another key
        check(jwt.encode({"alg": "RS256", "kid": kid}, claims, other))
    # The code was spent on the exchange above: the provider refuses it a second time.
    with pytest.raises(oidc.ApiError) as spent:
        oidc.exchange_code(s, meta, code, verifier, params["redirect_uri"])
    assert spent.value.code == "sso_code_invalid"


def test_sso_disabled(base):
    with _oidc_env(CHENGJIAN_OIDC_ISSUER=None):
        for path in ("/api/auth/sso/login?next=/", "/api/auth/sso/callback?code=a&state=b"):
            r = httpx.get(base + path)
            assert r.status_code == 404
            assert r.json() == {"code": "sso_disabled", "message": "未配置单点登录。", "field": None, "detail": {}}
