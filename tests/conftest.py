"""Test session: a real PostGIS (private cluster under var/test-pg, or DATABASE_URL's server),
a fresh database per session, migrations applied."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy.engine import make_url

from geo.cluster import Cluster, ensure_database
from geo.settings import ROOT

# This module may be imported twice (by pytest as `conftest`, and by tests as `tests.conftest`):
# the session's database is decided once and remembered in the environment.
if "CHENGJIAN_TEST_DATABASE_URL" not in os.environ:
    _server_url = os.environ.get("DATABASE_URL")
    if not _server_url:
        _server_url = Cluster(ROOT / "var" / "test-pg", db_name="postgres", fast=True).start()
    if _server_url.startswith("postgresql://"):
        _server_url = "postgresql+psycopg://" + _server_url.split("://", 1)[1]
    _name = f"chengjian_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    os.environ["CHENGJIAN_TEST_SERVER_URL"] = _server_url
    os.environ["CHENGJIAN_TEST_DATABASE_URL"] = (
        make_url(_server_url).set(database=_name).render_as_string(hide_password=False)
    )
SERVER_URL = os.environ["CHENGJIAN_TEST_SERVER_URL"]
TEST_URL = os.environ["CHENGJIAN_TEST_DATABASE_URL"]

# Everything the app reads goes to the test database.
os.environ["DATABASE_URL"] = TEST_URL
os.environ["CHENGJIAN_ANONYMOUS_ROLES"] = "public"

# Bearer-token headers of real accounts, filled in when the session's database is ready (``database``).
# One pair of dicts for both imports of this module (see above).
_first = sys.modules.get("conftest") or sys.modules.get("tests.conftest")
ADMIN: dict[str, str] = getattr(_first, "ADMIN", {})
LEADER: dict[str, str] = getattr(_first, "LEADER", {})
PUBLIC: dict[str, str] = getattr(_first, "PUBLIC", {})  # a signed-in user holding only the public role
TEST_PASSWORD = "Chengjian-2026-test"


def business_tables() -> tuple[str, ...]:
    """Every business layer's table (from the registry; the reference layers, districts and townships, stay)."""
    from geo.layer.registry import registry

    return tuple(lyr.table for lyr in registry.business())


def _drop_database(url: str) -> None:
    import psycopg

    u = make_url(url)
    admin = u.set(database="postgres", drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')


@pytest.fixture(scope="session", autouse=True)
def database():
    from geo.db import reset_engine
    from geo.migrate import upgrade
    from geo.settings import get_settings

    get_settings.cache_clear()
    reset_engine()
    ensure_database(TEST_URL)
    upgrade(TEST_URL)
    ADMIN.update(make_user("test-admin", ["admin"]))
    LEADER.update(make_user("test-leader", ["leader"]))
    PUBLIC.update(make_user("test-public", ["public"]))
    yield TEST_URL
    from geo import tasks

    tasks.reset()  # the task queue's pool, opened when a test deferred a job
    reset_engine()
    _drop_database(TEST_URL)


def set_environment(**values: str | None) -> Callable[[], None]:
    """Set (None: remove) environment variables and re-read the settings (geo.settings reads them once and keeps
    them); returns the function that puts both back. For fixtures wider than one test; a test uses ``env``."""
    from geo.settings import get_settings

    saved = {name: os.environ.get(name) for name in values}

    def apply(pairs: dict[str, str | None]) -> None:
        for name, value in pairs.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()

    apply(values)
    return lambda: apply(saved)


@pytest.fixture
def env():
    """``env(NAME="value", OTHER=None)`` sets (None: removes) environment variables for this test, with the settings
    re-read at once; both are restored after the test."""
    restores: list[Callable[[], None]] = []
    yield lambda **values: restores.append(set_environment(**values))
    for restore in reversed(restores):
        restore()


@pytest.fixture(scope="session")
def engine(database):
    """The schema owner's engine (no row-level security): for fixtures and for checking what was stored."""
    from geo.db import admin_engine

    return admin_engine()


def make_user(
    username: str,
    roles: list[str],
    district: str | None = None,
    grants: dict | None = None,
    phone: str | None = None,
    id_number: str | None = None,
    org_id: int | None = None,
) -> dict[str, str]:
    """Create (or reuse) a real account and return the headers of a fresh bearer session for it."""
    import sqlalchemy as sa
    from starlette.requests import Request

    from api.accounts import sessions, users
    from geo.db import transaction

    with transaction() as conn:
        uid = conn.execute(sa.text("SELECT id FROM users WHERE username = :u"), {"u": username}).scalar()
        if uid is None:
            uid = users.create_user(
                conn,
                username,
                username,
                roles,
                password=TEST_PASSWORD,
                district=district,
                phone=phone,
                id_number=id_number,
                org_id=org_id,
                actor="test",
            )
        for layer, ids in (grants or {}).items():
            for fid in ids:
                users.grant(conn, uid, layer, fid, "test", actor="test")
        request = Request({"type": "http", "method": "POST", "path": "/", "headers": [], "client": ("127.0.0.1", 1)})
        token, _, _ = sessions.start(conn, uid, request, "test", "bearer")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def app(database):
    from api.app import create_app

    return create_app()


@pytest.fixture()
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@pytest.fixture()
def clean(engine):
    """Empty the business layers and the audit log (districts stay: they are reference data)."""
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(business_tables())}, audit_log RESTART IDENTITY CASCADE"))
    yield


# Debian's Chromium, headless and quiet (no network of its own), for every page test.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextlib.contextmanager
def chromium(args: list[str] | None = None, expect_timeout_ms: int | None = None):
    """Debian's Chromium through Playwright (never a downloaded browser); ``expect_timeout_ms`` sets Playwright's
    ``expect`` timeout while it runs (a busy 2-core machine needs more than the 5 s default on heavy pages)."""
    from playwright.sync_api import expect, sync_playwright

    assert os.path.exists(CHROMIUM), "Debian's chromium is needed (make system-deps installs it)"
    if expect_timeout_ms:
        expect.set_options(timeout=expect_timeout_ms)
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=args or CHROMIUM_ARGS)
            try:
                yield b
            finally:
                b.close()
    finally:
        if expect_timeout_ms:
            expect.set_options(timeout=5_000)


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module (a module that needs its server first, another timeout or the phone's fake
    camera defines its own ``browser`` with ``chromium(...)``)."""
    with chromium() as b:
        yield b


class SignedIn:
    """One account signed in (the cookie session) to a page in its own browser context, with the console errors it
    logged; ``close`` fails on any error not containing one of ``expected`` (refusals provoked on purpose)."""

    def __init__(self, browser, base: str, username: str, path: str, *, timeout_ms: int = 15_000,
                 navigation_timeout_ms: int | None = None, expected: tuple[str, ...] = ("status of 422",)) -> None:  # fmt: skip
        from playwright.sync_api import expect

        self.base, self.expected = base, expected
        self.context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
        if navigation_timeout_ms:
            self.context.set_default_navigation_timeout(navigation_timeout_ms)
        self.page = self.context.new_page()
        self.page.set_default_timeout(timeout_ms)
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.goto(base + path)
        login = self.page.locator("#login")
        login.locator("input[name=username]").fill(username)
        login.locator("input[name=password]").fill(TEST_PASSWORD)
        login.locator("button[type=submit]").click()
        expect(self.page.locator("#whoami")).to_contain_text(username)

    def api(self, path: str) -> dict:
        """A GET of the app's API from the page (the session's cookie), as JSON."""
        return self.page.evaluate("(p) => fetch(p).then((r) => r.json())", path)

    def close(self) -> None:
        unexpected = [e for e in self.errors if not any(a in e for a in self.expected)]
        self.context.close()
        assert not unexpected, unexpected


@contextlib.contextmanager
def running_server(app):
    """The real app under uvicorn on a free loopback port, in a thread; yields its base URL."""
    import httpx
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    try:
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the test server did not start")
            time.sleep(0.05)
        yield base
    finally:
        server.should_exit = True
        thread.join(10)
