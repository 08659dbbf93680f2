"""Request parameters are checked in one place (api/params.py): a control character in any query parameter or path
segment is 422 ``invalid_character``, an integer beyond 64 bits is 404 in a path id and 422 in a query parameter —
never a server error. The route table is walked, as an administrator and as an anonymous caller."""

from __future__ import annotations

import re
from types import UnionType
from typing import Union, get_args, get_origin

import pytest

from tests.conftest import ADMIN

HUGE = "99999999999999999999"
SKIP = {"/api/auth/sso/login", "/api/auth/sso/callback", "/api/auth/logout"}
FILL = {"layer_id": "sites", "layer_ids": "sites", "collection_id": "sites", "kind": "xlsx", "fmt": "geojson"}


def _is_int(annotation) -> bool:
    if annotation is int:
        return True
    return get_origin(annotation) in (Union, UnionType) and int in get_args(annotation)


def _params(dependant, kind: str) -> list:
    out = list(getattr(dependant, f"{kind}_params"))
    for sub in dependant.dependencies:
        out += _params(sub, kind)
    return out


def get_routes(app):
    """(path, route) of every GET API route the walk can fill in."""
    routes = []
    stack = [("", app.routes)]
    while stack:
        prefix, rs = stack.pop()
        for route in rs:
            if hasattr(route, "original_router"):
                stack.append((prefix + route.include_context.prefix, route.original_router.routes))
            elif hasattr(route, "dependant") and "GET" in (route.methods or set()):
                path = prefix + route.path
                if path not in SKIP and not path.startswith(("/static", "/map/glyphs", "/admin/static")):
                    routes.append((path, route))
    return routes


def fill(path: str, route, override: dict[str, str] | None = None) -> str:
    ints = {f.name for f in _params(route.dependant, "path") if _is_int(f.field_info.annotation)}
    values = {**{n: "1" for n in ints}, **FILL, **(override or {})}
    return re.sub(r"{(\w+)(?::\w+)?}", lambda m: values.get(m.group(1), "x"), path)


@pytest.fixture(scope="module")
def walk(app):
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c, get_routes(app)


@pytest.mark.parametrize("who", ["admin", "anonymous"])
def test_no_route_answers_a_nul_or_a_huge_integer_with_a_server_error(walk, who):
    client, routes = walk
    headers = ADMIN if who == "admin" else {}
    assert len(routes) > 40
    failures, tried = [], 0
    for path, route in routes:
        queries = {f.alias for f in _params(route.dependant, "query")} | {"offset", "q"}
        url = fill(path, route)
        for name in sorted(queries):
            r = client.get(url, params={name: "a\x00b"}, headers=headers)
            tried += 1
            if r.status_code >= 500:
                failures.append((url, name, "NUL", r.status_code))
            elif r.status_code == 422 and r.json()["code"] == "invalid_character":
                assert r.json()["field"] == name, (url, r.json())
        r = client.get(url, params={"offset": HUGE}, headers=headers)
        if r.status_code >= 500:
            failures.append((url, "offset", HUGE, r.status_code))
        for f in _params(route.dependant, "path"):
            if _is_int(f.field_info.annotation):
                r = client.get(fill(path, route, {f.name: HUGE}), headers=headers)
                tried += 1
                if r.status_code >= 500:
                    failures.append((path, f.name, HUGE, r.status_code))
                elif who == "admin" and r.status_code not in (401, 403):
                    assert r.status_code == 404, (path, r.status_code, r.text[:200])
    assert tried > 100
    assert not failures, failures


@pytest.mark.parametrize(
    "url, field",
    [
        ("/api/search?q=a%00b", "q"),
        ("/api/search?q=a%01b", "q"),
        ("/api/layers/sites/features?code=a%00b", "code"),
        ("/api/admin/log?q=x%1f", "q"),
        ("/api/layers/sites/features/1%00", "path"),
    ],
)
def test_a_control_character_is_refused_with_the_parameter_named(client, url, field):
    for headers in ({}, ADMIN):
        r = client.get(url, headers=headers)
        assert r.status_code == 422, (url, r.text)
        assert r.json()["code"] == "invalid_character"
        assert r.json()["field"] == field
        assert "\x00" not in r.text


def test_tab_and_newline_stay_allowed_in_a_query_value(client):
    r = client.get("/api/search", params={"q": "工地\t一\n号"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    # An escaped percent sign is text like any other: "%00" spelled out is no NUL.
    r = client.get("/api/search?q=%2500", headers=ADMIN)
    assert r.status_code == 200, r.text


def test_integers_beyond_64_bits(client):
    r = client.get(f"/api/layers/sites/features/{HUGE}", headers=ADMIN)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = client.get(f"/api/layers/sites/features/-{HUGE}", headers=ADMIN)
    assert r.status_code == 404
    r = client.get("/api/layers/sites/features", params={"offset": HUGE}, headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] == "out_of_range" and r.json()["field"] == "offset"
    r = client.get("/api/layers/sites/features", params={"limit": HUGE}, headers=ADMIN)
    assert r.status_code == 422 and r.json()["field"] == "limit"
    # The largest bigint is still an integer like any other: not found, not refused.
    r = client.get(f"/api/layers/sites/features/{2**63 - 1}", headers=ADMIN)
    assert r.status_code == 404
    r = client.get("/api/layers/sites/features", params={"offset": 2**63 - 1}, headers=ADMIN)
    assert r.status_code == 200, r.text


def test_a_nul_in_a_request_body_is_refused_not_a_server_error(client, engine, clean):
    """The net behind the parameter checks: text PostgreSQL cannot hold, wherever it came from, is a 422."""
    from sqlalchemy import text

    pt = {"type": "Point", "coordinates": [120.15, 30.28]}
    r = client.post(
        "/api/layers/sites/features",
        headers=ADMIN,
        json={"type": "Feature", "geometry": pt, "properties": {"code": "S-1", "name": "工\x00地"}},  # code: shaped
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_character", r.text
    r = client.post("/api/auth/login", json={"username": "a\x00b", "password": "whatever-123"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_character", r.text
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sites")).scalar() == 0
