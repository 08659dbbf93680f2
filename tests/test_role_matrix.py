"""Every role against every route: each built-in role (and an anonymous visitor) calls every GET route that can be
filled in, and a write; the answer must be what the role's permissions and data scope say — allowed, forbidden
(403; 401 anonymous), or out of scope (404 / filtered) — and never a server error."""

from __future__ import annotations

import pytest

from geo.layer.registry import registry
from tests.conftest import make_user
from tests.test_scope import FH, SECRET, _fill, all_routes, farmhouse, world  # noqa: F401 - the shared world

# role -> (district, grants): how each test user is set up
ROLES = {
    "admin": (None, None),
    "city_supervisor": (None, None),
    "district_staff": ("西湖区", None),
    "construction_unit": (None, "site_a"),
    "supervision_unit": (None, "site_a"),
    "review_agency": (None, None),
    "design_unit": (None, None),
    "builder": (None, "site_a"),
    "co_reviewer": (None, None),
    "expert": (None, None),
    "leader": (None, None),
    "county_system": ("淳安县", None),
    "public": (None, None),
}
SEES_EVERY_FARMHOUSE = {"admin", "city_supervisor", "leader"}  # farmhouse.view with the whole city in scope
SKIP = {"/api/auth/sso/login", "/api/auth/sso/callback", "/api/auth/logout"}


@pytest.fixture(scope="module")
def people(world):
    out = {"anonymous": {}}
    for role, (district, grant) in ROLES.items():
        grants = {"sites": [world[grant]["id"]]} if grant else None
        out[role] = make_user(f"matrix-{role}", [role], district=district, grants=grants)
    return out


def _get_routes(app, world) -> list[str]:
    urls = []
    for path, methods in all_routes(app.routes):
        if (
            "GET" not in methods
            or path in SKIP
            or path.startswith(("/static", "/map/glyphs", "/admin/", "/st/", "/m/"))
        ):
            continue
        url = _fill(path, world)
        if url is not None:
            urls.append(url)
    return urls


def test_every_role_on_every_get_route(app, client, world, people):
    urls = _get_routes(app, world)
    assert len(urls) >= 15
    farmhouses = registry.get("farmhouses")
    seen = {}
    for who, headers in people.items():
        for url in urls:
            params = {"format": "geojson"} if url.endswith("/export") else {}
            r = client.get(url, params=params, headers=headers)
            assert r.status_code < 500, (who, url, r.status_code, r.text[:200])
            leaked = SECRET.encode() in r.content
            assert not leaked or who in SEES_EVERY_FARMHOUSE, (who, url)
            seen[(who, url)] = r.status_code
    # The features list of a layer the role may not view: 403 (401 anonymous); one it may view: 200.
    for who in people:
        status = seen[(who, FH)]
        if who == "anonymous":
            assert status == 401
        else:
            from sqlalchemy import text

            from api.auth import load_user
            from geo.db import transaction

            with transaction() as conn:
                uid = conn.execute(text("SELECT id FROM users WHERE username = :u"), {"u": f"matrix-{who}"}).scalar()
                p = load_user(conn, uid)
            assert status == (200 if p.can(farmhouses.view) else 403), (who, status)
    # Every role that may view farmhouses but is limited in scope got the list without the secret: filtered.
    assert any(seen[(who, FH)] == 200 for who in ("district_staff", "county_system"))


def test_every_role_writing_in_another_district(client, world, people):
    """A farmhouse in 余杭区: created only by roles that may edit farmhouses city-wide; others are refused as
    forbidden (no permission) or out of scope (permission, but not this district) — and nothing is stored."""
    from sqlalchemy import text

    from geo.db import admin_engine

    lon, lat = world["yh"]
    for who, headers in people.items():
        code = f"FH-MATRIX-{who}"
        r = client.post(FH, headers=headers, json=farmhouse(code, lon, lat))
        if who in ("admin", "city_supervisor"):
            assert r.status_code == 201, (who, r.text)
        elif who == "anonymous":
            assert r.status_code == 401
        elif who in ("district_staff", "county_system"):
            assert r.status_code == 403 and r.json()["code"] == "out_of_scope", (who, r.text)
        else:
            assert r.status_code == 403 and r.json()["code"] == "forbidden", (who, r.text)
        with admin_engine().connect() as conn:
            stored = conn.execute(
                text("SELECT count(*) FROM farmhouses WHERE code = :c AND deleted_at IS NULL"), {"c": code}
            ).scalar()
        assert stored == (1 if r.status_code == 201 else 0), who
