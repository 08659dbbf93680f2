"""The back office: its API (users, organisations, grants, roles and permissions, API keys, operation log, SMS
outbox) — validation errors in the API's shape at the right field, permission checks, permission edits taking
effect at once, CSRF on cookie sessions — and the page itself in a real browser."""

from __future__ import annotations

import os
import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from stdnum.cn import ric, uscc

from tests.conftest import ADMIN, CHROMIUM, CHROMIUM_ARGS, LEADER, TEST_PASSWORD, make_user, running_server

A = "/api/admin"


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def phone() -> str:
    return "139" + "".join(random.choices("0123456789", k=8))


def id_number() -> str:
    base = f"33010619850612{random.randint(0, 999):03d}"
    return base + ric.calc_check_digit(base + "0")  # it expects the number with a check digit


def uscc_code() -> str:
    base = "91330106" + "".join(random.choices("0123456789", k=9))
    return base + uscc.calc_check_digit(base)


def error(r, status: int, code: str, field: str | None) -> dict:
    """The response is the API's error shape with this status, code and field."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"code", "message", "field", "detail"}, body
    assert (body["code"], body["field"]) == (code, field), body
    assert body["message"]
    return body


def new_user(client, headers=ADMIN, **fields) -> dict:
    body = {"username": uniq("u"), "display_name": "测试用户", "password": TEST_PASSWORD, "roles": ["leader"], **fields}
    r = client.post(f"{A}/users", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def bearer(client, username: str, password: str = TEST_PASSWORD) -> dict:
    r = client.post("/api/auth/token", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def log(client, **query) -> dict:
    r = client.get(f"{A}/log", headers=ADMIN, params=query)
    assert r.status_code == 200, r.text
    return r.json()


# -- who may use it ---------------------------------------------------------------------------------------------

ROUTES = [
    ("GET", "/meta"),
    ("GET", "/users"),
    ("GET", "/organisations"),
    ("GET", "/roles"),
    ("GET", "/permissions"),
    ("GET", "/keys"),
    ("GET", "/log"),
    ("GET", "/sms"),
    ("POST", "/users"),
    ("POST", "/organisations"),
    ("POST", "/roles"),
    ("PUT", "/roles/leader/permissions"),
    ("POST", "/keys"),
    ("POST", "/users/1/unlock"),
]


@pytest.fixture(scope="module")
def staff():
    return make_user("admin-test-staff", ["district_staff"], district="西湖区")


@pytest.mark.parametrize("method,path", ROUTES)
def test_only_administrators(client, staff, method, path):
    """Anonymous → 401, a leader or district staff → 403 (before the body is even read), admin → not refused."""
    error(client.request(method, A + path, json={}), 401, "unauthenticated", None)
    for headers in (LEADER, staff):
        body = error(client.request(method, A + path, headers=headers, json={}), 403, "forbidden", None)
        assert body["detail"]["permission"].startswith("admin.")
    if method == "GET":
        assert client.get(A + path, headers=ADMIN).status_code == 200


def test_meta_lists_tabs_and_choices(client):
    m = client.get(f"{A}/meta", headers=ADMIN).json()
    assert m["tabs"] == ["users", "orgs", "roles", "keys", "log", "sms", "calendar"]
    assert "西湖区" in m["districts"] and m["org_kinds"]["enterprise"] == "企业"
    assert {"name": "admin", "title": "系统管理员", "scope": "all"} in m["roles"]
    assert m["log_actions"]["permission_change"] == "权限变更"


def test_pages_are_served(client):
    r = client.get("/admin")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"] and "后台管理" in r.text
    assert client.get("/admin/").status_code == 200
    r = client.get("/admin/js/main.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert client.get("/static/console/console.css").status_code == 200  # shared with the site workbench
    error(client.get("/admin/js/none.js"), 404, "not_found", "path")
    error(client.get("/admin/..%2F..%2Fapi%2Fadmin.py"), 404, "not_found", "path")


# -- organisations ----------------------------------------------------------------------------------------------


def test_organisations(client):
    code = uscc_code()
    name = uniq("杭州测试建设有限公司")
    r = client.post(
        f"{A}/organisations",
        headers=ADMIN,
        json={"name": name, "kind": "enterprise", "uscc": code, "district": "西湖区"},
    )
    assert r.status_code == 201, r.text
    org = r.json()
    assert (org["name"], org["uscc"], org["version"], org["users"]) == (name, code, 1, 0)

    found = client.get(f"{A}/organisations", headers=ADMIN, params={"q": name[-8:], "kind": "enterprise"}).json()
    assert [o["id"] for o in found["items"]] == [org["id"]] and found["total"] == 1
    assert (
        client.get(f"{A}/organisations", headers=ADMIN, params={"q": name, "kind": "department"}).json()["total"] == 0
    )

    r = client.patch(f"{A}/organisations/{org['id']}", headers=ADMIN, json={"name": name + "（更名）", "version": 1})
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["uscc"] == code
    error(
        client.patch(f"{A}/organisations/{org['id']}", headers=ADMIN, json={"name": "再改", "version": 1}),
        409,
        "stale_version",
        "version",
    )
    error(
        client.patch(f"{A}/organisations/{org['id']}", headers=ADMIN, json={"uscc": "91330106123", "version": 2}),
        422,
        "invalid_uscc",
        "uscc",
    )
    error(
        client.patch(f"{A}/organisations/{org['id']}", headers=ADMIN, json={"uscc": "", "version": 2}),
        422,
        "required",
        "uscc",
    )
    error(
        client.post(f"{A}/organisations", headers=ADMIN, json={"name": "重复", "kind": "enterprise", "uscc": code}),
        409,
        "duplicate",
        "uscc",
    )
    entries = log(client, layer="organisations", q=name)["items"]
    assert [e["action"] for e in entries] == ["update", "create"]
    assert entries[0]["before"]["name"] == name and entries[0]["after"]["name"] == name + "（更名）"


@pytest.mark.parametrize(
    "body,code,field",
    [
        ({"name": "某公司", "kind": "enterprise", "uscc": "913301061234567890"}, "invalid_uscc", "uscc"),
        ({"name": "某公司", "kind": "enterprise"}, "required", "uscc"),
        ({"name": "", "kind": "department"}, "required", "name"),
        ({"name": "某部门", "kind": "bureau"}, "invalid_kind", "kind"),
        ({"name": "某部门", "kind": "department", "district": "火星区"}, "invalid_district", "district"),
    ],
)
def test_organisation_validation(client, body, code, field):
    error(client.post(f"{A}/organisations", headers=ADMIN, json=body), 422, code, field)


# -- users ------------------------------------------------------------------------------------------------------


def test_user_create_get_list_update(client):
    org = client.post(
        f"{A}/organisations",
        headers=ADMIN,
        json={"name": uniq("西湖区住建局"), "kind": "district_authority", "district": "西湖区"},
    ).json()
    tel, idn = phone(), id_number()
    u = new_user(
        client,
        display_name="王五",
        roles=["district_staff"],
        district="西湖区",
        org_id=org["id"],
        phone=tel,
        id_number=idn,
        email="wang@example.cn",
    )
    assert (u["roles"], u["district"], u["org_name"], u["phone"], u["id_number"]) == (
        ["district_staff"],
        "西湖区",
        org["name"],
        tel,
        idn,
    )
    assert u["must_change_password"] is True and u["version"] == 1 and "password_hash" not in u
    assert client.get(f"{A}/users/{u['id']}", headers=ADMIN).json()["username"] == u["username"]
    error(client.get(f"{A}/users/99999999", headers=ADMIN), 404, "not_found", None)

    for query in (
        {"q": u["username"]},
        {"q": tel[-6:]},
        {"q": "王五", "org_id": org["id"]},
        {"role": "district_staff", "district": "西湖区", "q": u["username"]},
        {"active": "true", "q": u["username"]},
    ):
        listed = client.get(f"{A}/users", headers=ADMIN, params=query).json()
        assert u["id"] in [x["id"] for x in listed["items"]], query
    assert client.get(f"{A}/users", headers=ADMIN, params={"q": u["username"], "role": "admin"}).json()["total"] == 0
    assert client.get(f"{A}/users", headers=ADMIN, params={"q": u["username"], "active": "false"}).json()["total"] == 0
    page = client.get(f"{A}/users", headers=ADMIN, params={"limit": 2, "offset": 1}).json()
    assert len(page["items"]) == 2 and page["total"] >= 4 and (page["limit"], page["offset"]) == (2, 1)

    r = client.patch(
        f"{A}/users/{u['id']}",
        headers=ADMIN,
        json={"display_name": "王五五", "roles": ["district_staff", "leader"], "version": 1},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["display_name"], r.json()["roles"], r.json()["version"]) == (
        "王五五",
        ["district_staff", "leader"],
        2,
    )
    error(
        client.patch(f"{A}/users/{u['id']}", headers=ADMIN, json={"display_name": "过时", "version": 1}),
        409,
        "stale_version",
        "version",
    )
    error(
        client.patch(f"{A}/users/{u['id']}", headers=ADMIN, json={"district": "", "version": 2}),
        422,
        "required",
        "district",
    )
    error(
        client.patch(f"{A}/users/{u['id']}", headers=ADMIN, json={"phone": "1391234", "version": 2}),
        422,
        "invalid_phone",
        "phone",
    )
    assert client.get(f"{A}/users/{u['id']}", headers=ADMIN).json()["display_name"] == "王五五"  # nothing half-done

    entries = log(client, layer="users", feature_id=u["id"])["items"]
    assert [e["action"] for e in entries] == ["permission_change", "create"]
    assert entries[0]["before"]["roles"] == ["district_staff"]
    assert entries[0]["after"]["roles"] == ["district_staff", "leader"]


@pytest.mark.parametrize(
    "fields,code,field",
    [
        ({"phone": "12345"}, "invalid_phone", "phone"),
        ({"id_number": "330106198506121230"}, "invalid_id_number", "id_number"),
        ({"password": "short1"}, "weak_password", "password"),
        ({"password": "onlyletterslong"}, "weak_password", "password"),
        ({"roles": ["no_such_role"]}, "unknown_role", "roles"),
        ({"roles": ["district_staff"]}, "required", "district"),
        ({"district": "火星区"}, "invalid_district", "district"),
        ({"username": ""}, "invalid_username", "username"),
        ({"display_name": " "}, "required", "display_name"),
        ({"org_id": 99999999}, "reference_missing", "org_id"),
        ({"roles": "leader"}, "request_invalid", "roles"),
    ],
)
def test_user_validation(client, fields, code, field):
    if code == "invalid_id_number":
        assert not ric.is_valid(fields["id_number"])
    body = {"username": uniq("v"), "display_name": "校验", "password": TEST_PASSWORD, "roles": ["leader"], **fields}
    error(client.post(f"{A}/users", headers=ADMIN, json=body), 422, code, field)
    if body["username"]:
        assert client.get(f"{A}/users", headers=ADMIN, params={"q": body["username"]}).json()["total"] == 0


def test_duplicate_username_and_phone(client):
    u = new_user(client, phone=phone())
    error(
        client.post(f"{A}/users", headers=ADMIN, json={"username": u["username"], "display_name": "重名"}),
        409,
        "duplicate",
        "username",
    )
    error(
        client.post(
            f"{A}/users", headers=ADMIN, json={"username": uniq("x"), "display_name": "同号", "phone": u["phone"]}
        ),
        409,
        "duplicate",
        "phone",
    )


def test_reset_password_unlock_disable_enable(client, engine):
    u = new_user(client)
    token = bearer(client, u["username"])
    assert client.get("/api/auth/me", headers=token).json()["user"] == u["username"]

    error(
        client.post(f"{A}/users/{u['id']}/password", headers=ADMIN, json={"new_password": "abc"}),
        422,
        "weak_password",
        "new_password",
    )
    new_pw = "Reset-2026-password"
    r = client.post(f"{A}/users/{u['id']}/password", headers=ADMIN, json={"new_password": new_pw})
    assert r.status_code == 200 and r.json()["must_change_password"] is True
    error(client.get("/api/auth/me", headers=token), 401, "unauthenticated", None)  # its sessions ended
    token = bearer(client, u["username"], new_pw)

    with engine.begin() as conn:
        conn.execute(
            text("UPDATE users SET locked_until = now() + interval '10 minutes' WHERE id = :i"), {"i": u["id"]}
        )
    error(  # a locked account is answered like a wrong password (tests/test_accounts.py)
        client.post("/api/auth/token", json={"username": u["username"], "password": new_pw}),
        401,
        "invalid_credentials",
        "password",
    )
    r = client.post(f"{A}/users/{u['id']}/unlock", headers=ADMIN)
    assert r.status_code == 200 and r.json()["locked_until"] is None
    bearer(client, u["username"], new_pw)

    r = client.post(f"{A}/users/{u['id']}/disable", headers=ADMIN)
    assert r.status_code == 200 and r.json()["active"] is False
    error(client.get("/api/auth/me", headers=token), 401, "unauthenticated", None)
    error(
        client.post("/api/auth/token", json={"username": u["username"], "password": new_pw}),
        401,
        "invalid_credentials",
        "password",
    )
    assert client.post(f"{A}/users/{u['id']}/enable", headers=ADMIN).json()["active"] is True
    bearer(client, u["username"], new_pw)

    me = client.get("/api/auth/me", headers=ADMIN).json()
    error(client.post(f"{A}/users/{me['user_id']}/disable", headers=ADMIN), 422, "self_disable", "active")
    actions = [e["action"] for e in log(client, layer="users", feature_id=u["id"], actor="test-admin")["items"]]
    assert actions == ["update", "update", "unlock", "password_change", "create"]


def test_grants(client):
    r = client.post(
        "/api/layers/sites/features",
        headers=ADMIN,
        json={
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [120.15, 30.28]},
            "properties": {"code": uniq("S"), "name": "授权测试工地"},
        },
    )
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    unit = new_user(client, roles=["construction_unit"])
    token = bearer(client, unit["username"])
    assert client.get(f"/api/layers/sites/features/{sid}", headers=token).status_code == 404  # out of scope

    base = f"{A}/users/{unit['id']}/grants"
    error(
        client.post(base, headers=ADMIN, json={"layer": "farmhouses", "feature_id": 1, "relation": "x"}),
        422,
        "invalid_layer",
        "layer",
    )
    error(
        client.post(base, headers=ADMIN, json={"layer": "sites", "feature_id": 99999999, "relation": "施工单位"}),
        422,
        "reference_missing",
        "feature_id",
    )
    error(
        client.post(base, headers=ADMIN, json={"layer": "sites", "feature_id": sid, "relation": ""}),
        422,
        "required",
        "relation",
    )
    error(
        client.post(
            base,
            headers=ADMIN,
            json={
                "layer": "sites",
                "feature_id": sid,
                "relation": "施工单位",
                "valid_from": "2026-12-01",
                "valid_to": "2026-11-01",
            },
        ),
        422,
        "invalid_range",
        "valid_to",
    )
    error(
        client.post(
            base,
            headers=ADMIN,
            json={"layer": "sites", "feature_id": sid, "relation": "施工单位", "valid_from": "明天"},
        ),
        422,
        "invalid_time",
        "valid_from",
    )
    r = client.post(
        base,
        headers=ADMIN,
        json={"layer": "sites", "feature_id": sid, "relation": "施工单位", "valid_from": "2020-01-01T08:00"},
    )
    assert r.status_code == 201, r.text
    g = r.json()
    assert (g["layer"], g["feature_id"], g["relation"]) == ("sites", sid, "施工单位")
    assert datetime.fromisoformat(g["valid_from"]) == datetime(2020, 1, 1, tzinfo=UTC)  # 08:00 Beijing
    assert [x["id"] for x in client.get(base, headers=ADMIN).json()["items"]] == [g["id"]]
    assert client.get(f"/api/layers/sites/features/{sid}", headers=token).status_code == 200

    assert client.delete(f"{base}/{g['id']}", headers=ADMIN).status_code == 200
    assert client.get(base, headers=ADMIN).json()["items"] == []
    assert client.get(f"/api/layers/sites/features/{sid}", headers=token).status_code == 404
    error(client.delete(f"{base}/{g['id']}", headers=ADMIN), 404, "not_found", None)
    entries = log(client, layer="user_grants", feature_id=g["id"])["items"]
    assert [e["action"] for e in entries] == ["permission_change", "permission_change"]
    assert entries[0]["before"]["feature_id"] == sid and entries[0]["after"] is None


# -- roles and permissions --------------------------------------------------------------------------------------


def test_roles_list_create_edit_delete(client):
    roles = {r["name"]: r for r in client.get(f"{A}/roles", headers=ADMIN).json()["items"]}
    assert (roles["admin"]["scope"], roles["admin"]["permissions"], roles["admin"]["builtin"]) == ("all", ["*"], True)
    assert roles["district_staff"]["scope"] == "district" and "farmhouse.edit" in roles["district_staff"]["permissions"]

    name = "r_" + uuid.uuid4().hex[:8]
    for body, code, field in [
        ({"name": "Bad Name", "title": "x", "scope": "all"}, "invalid_role_name", "name"),
        ({"name": name, "title": "", "scope": "all"}, "required", "title"),
        ({"name": name, "title": "x", "scope": "city"}, "invalid_scope", "scope"),
        (
            {"name": name, "title": "x", "scope": "all", "permissions": ["farmhouse.Export"]},
            "invalid_permission",
            "permissions",
        ),
        (
            {"name": name, "title": "x", "scope": "all", "permissions": ["farm-house.view"]},
            "invalid_permission",
            "permissions",
        ),
        ({"name": "leader", "title": "x", "scope": "all"}, "duplicate", "name"),
    ]:
        error(client.post(f"{A}/roles", headers=ADMIN, json=body), 409 if code == "duplicate" else 422, code, field)

    r = client.post(
        f"{A}/roles",
        headers=ADMIN,
        json={
            "name": name,
            "title": "数据导出员",
            "scope": "district",
            "permissions": ["*.view", " farmhouse.export ", "*.view"],
        },
    )
    assert r.status_code == 201, r.text
    assert (r.json()["permissions"], r.json()["builtin"], r.json()["users"]) == (
        ["*.view", "farmhouse.export"],
        False,
        0,
    )
    r = client.patch(f"{A}/roles/{name}", headers=ADMIN, json={"title": "导出员", "scope": "all"})
    assert (r.json()["title"], r.json()["scope"]) == ("导出员", "all")
    error(client.patch(f"{A}/roles/leader", headers=ADMIN, json={"scope": "none"}), 422, "builtin_role", "scope")
    r = client.put(f"{A}/roles/{name}/permissions", headers=ADMIN, json={"permissions": ["farmhouse.view"]})
    assert r.json()["permissions"] == ["farmhouse.view"]
    error(
        client.put(f"{A}/roles/admin/permissions", headers=ADMIN, json={"permissions": ["*.view"]}),
        422,
        "lockout",
        "permissions",
    )
    error(client.put(f"{A}/roles/nobody/permissions", headers=ADMIN, json={"permissions": []}), 404, "not_found", None)

    holder = new_user(client, roles=[name])
    error(client.delete(f"{A}/roles/{name}", headers=ADMIN), 409, "role_in_use", "name")
    error(client.delete(f"{A}/roles/leader", headers=ADMIN), 409, "builtin_role", "name")
    client.patch(f"{A}/users/{holder['id']}", headers=ADMIN, json={"roles": ["leader"], "version": 1})
    assert client.delete(f"{A}/roles/{name}", headers=ADMIN).status_code == 200
    assert name not in [r["name"] for r in client.get(f"{A}/roles", headers=ADMIN).json()["items"]]

    entries = log(client, action="permission_change", layer="roles", q=name)["items"]
    assert len(entries) == 4  # create, title/scope, permissions, delete (the refused edits left nothing)
    delete, perms, edit, create = entries
    assert create["before"] is None and create["after"]["permissions"] == ["*.view", "farmhouse.export"]
    assert (edit["before"]["scope"], edit["after"]["scope"]) == ("district", "all")
    assert (perms["before"]["permissions"], perms["after"]["permissions"]) == (
        ["*.view", "farmhouse.export"],
        ["farmhouse.view"],
    )
    assert delete["after"] is None and delete["detail"] == {"role": name}
    assert all(e["actor"] == "test-admin" and e["client"] for e in entries)


def test_permission_edit_takes_effect_on_next_request(client):
    """Grant farmhouse.export to a custom role: its user can export at once; revoke: refused at once."""
    name = "exp_" + uuid.uuid4().hex[:8]
    client.post(
        f"{A}/roles",
        headers=ADMIN,
        json={"name": name, "title": "导出测试", "scope": "all", "permissions": ["farmhouse.view"]},
    )
    u = new_user(client, roles=[name])
    token = bearer(client, u["username"])
    export = "/api/layers/farmhouses/export?format=geojson"
    body = error(client.get(export, headers=token), 403, "forbidden", None)
    assert body["detail"]["permission"] == "farmhouse.export"

    client.put(
        f"{A}/roles/{name}/permissions", headers=ADMIN, json={"permissions": ["farmhouse.view", "farmhouse.export"]}
    )
    r = client.get(export, headers=token)
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "FeatureCollection"

    client.put(f"{A}/roles/{name}/permissions", headers=ADMIN, json={"permissions": ["farmhouse.view"]})
    error(client.get(export, headers=token), 403, "forbidden", None)


def test_no_one_hands_out_more_than_they_hold(client):
    """A user manager (admin.users only) may assign roles within its own permissions, not the admin role."""
    name, viewer = "um_" + uuid.uuid4().hex[:8], "fv_" + uuid.uuid4().hex[:8]
    client.post(
        f"{A}/roles",
        headers=ADMIN,
        json={"name": name, "title": "用户管理员", "scope": "all", "permissions": ["admin.users", "farmhouse.view"]},
    )
    client.post(
        f"{A}/roles",
        headers=ADMIN,
        json={"name": viewer, "title": "农房查看", "scope": "district", "permissions": ["farmhouse.view"]},
    )
    manager = make_user(uniq("manager"), [name])
    error(client.get(f"{A}/roles", headers=manager), 403, "forbidden", None)
    assert client.get(f"{A}/meta", headers=manager).json()["tabs"] == ["users", "orgs"]
    new_user(client, headers=manager, roles=[viewer], district="西湖区")
    body = {"username": uniq("esc"), "display_name": "提权", "roles": ["admin"]}
    error(client.post(f"{A}/users", headers=manager, json=body), 403, "forbidden", "roles")
    target = new_user(client, roles=["leader"])
    r = client.patch(
        f"{A}/users/{target['id']}", headers=manager, json={"display_name": "改名", "roles": ["leader"], "version": 1}
    )
    assert r.status_code == 200, r.text  # roles it already holds are not handed out again
    error(
        client.patch(f"{A}/users/{target['id']}", headers=manager, json={"roles": ["leader", "admin"], "version": 2}),
        403,
        "forbidden",
        "roles",
    )


def roles_permissions(client) -> set[str]:
    """Every plain action some role holds (the catalogue names each, with a title)."""
    roles = client.get(f"{A}/roles", headers=ADMIN).json()["items"]
    return {p for r in roles for p in r["permissions"] if "*" not in p and not r["name"].startswith(("r_", "exp_"))}


def test_permission_catalogue(client):
    items = {p["name"]: p for p in client.get(f"{A}/permissions", headers=ADMIN).json()["items"]}
    for name in (
        "farmhouse.view",
        "farmhouse.edit",
        "farmhouse.import",
        "farmhouse.export",
        "site.view",
        "review.edit",
        "greenway.export",
        "site.report.review",
        "site.expert_review",
        "admin.users",
        "admin.roles",
        "admin.keys",
        "admin.log",
        "admin.sms",
        *roles_permissions(client),
    ):
        assert items[name]["title"], name
    assert "导出" in items["farmhouse.export"]["title"] and "农房" in items["farmhouse.export"]["title"]
    assert items["admin.log"]["group"] == "后台管理"
    assert not [n for n in items if "*" in n]
    error(client.get(f"{A}/permissions", headers=LEADER), 403, "forbidden", None)


# -- API keys ---------------------------------------------------------------------------------------------------


def test_api_keys(client):
    system = uniq("county")
    make_user(system, ["county_system"], district="西湖区")
    error(
        client.post(f"{A}/keys", headers=ADMIN, json={"username": "nobody-here", "name": "x"}),
        422,
        "reference_missing",
        "username",
    )
    error(client.post(f"{A}/keys", headers=ADMIN, json={"username": system, "name": ""}), 422, "required", "name")
    error(
        client.post(f"{A}/keys", headers=ADMIN, json={"username": system, "name": "x", "expires_at": "下周"}),
        422,
        "invalid_time",
        "expires_at",
    )

    r = client.post(
        f"{A}/keys",
        headers=ADMIN,
        json={
            "username": system,
            "name": "西湖区农房系统",
            "expires_at": (date.today() + timedelta(days=30)).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    made = r.json()
    key = made["key"]
    assert key.startswith(f"cjk_{made['prefix']}_") and made["username"] == system and made["active"]
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {key}"}).json()
    assert (me["user"], me["via"]) == (system, "api_key")
    assert client.get("/api/auth/me", headers={"X-API-Key": key}).json()["user"] == system

    listed = client.get(f"{A}/keys", headers=ADMIN, params={"q": system}).json()
    assert listed["total"] == 1 and listed["items"][0]["last_used_at"]
    assert "key" not in listed["items"][0] and "key_hash" not in listed["items"][0]

    r = client.post(f"{A}/keys/{made['id']}/rotate", headers=ADMIN)
    assert r.status_code == 200, r.text
    rotated = r.json()
    assert rotated["rotated_from"] == made["id"] and rotated["key"] != key
    error(client.get("/api/auth/me", headers={"Authorization": f"Bearer {key}"}), 401, "unauthenticated", None)
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {rotated['key']}"}).json()["user"] == system
    error(client.post(f"{A}/keys/{made['id']}/rotate", headers=ADMIN), 404, "not_found", None)

    assert client.post(f"{A}/keys/{rotated['id']}/revoke", headers=ADMIN).status_code == 200
    error(
        client.get("/api/auth/me", headers={"Authorization": f"Bearer {rotated['key']}"}), 401, "unauthenticated", None
    )
    statuses = {
        k["id"]: k["active"] for k in client.get(f"{A}/keys", headers=ADMIN, params={"q": system}).json()["items"]
    }
    assert statuses == {made["id"]: False, rotated["id"]: False}
    assert client.get(f"{A}/keys", headers=ADMIN, params={"q": system, "status": "active"}).json()["total"] == 0
    actions = [e["action"] for e in log(client, layer="api_keys", q=made["prefix"])["items"]]
    assert actions == ["api_key_revoke", "api_key_create"]  # the rotation's new key names the old one only by id


# -- operation log and SMS outbox -------------------------------------------------------------------------------


def test_log_filters_and_paging(client):
    actor = uniq("log-admin")
    headers = make_user(actor, ["admin"])
    client.post(f"{A}/organisations", headers=headers, json={"name": uniq("日志测试单位"), "kind": "other"})
    role = "lg_" + uuid.uuid4().hex[:8]
    client.post(f"{A}/roles", headers=headers, json={"name": role, "title": "日志测试", "scope": "none"})
    client.put(f"{A}/roles/{role}/permissions", headers=headers, json={"permissions": ["site.view"]})
    client.post("/api/auth/token", json={"username": actor, "password": "wrong-password-1"})

    mine = log(client, actor=actor)
    assert mine["total"] == 4 and all(e["actor"] == actor for e in mine["items"])
    assert [e["action"] for e in mine["items"]] == ["login_failed", "permission_change", "permission_change", "create"]
    failed = mine["items"][0]
    assert failed["client"] and failed["detail"]["reason"] == "wrong_password"

    changes = log(client, actor=actor, action="permission_change")
    assert changes["total"] == 2 and {e["layer"] for e in changes["items"]} == {"roles"}
    assert changes["items"][0]["before"]["permissions"] == [] and changes["items"][0]["after"]["permissions"] == [
        "site.view"
    ]
    assert log(client, actor=actor, action="create,login_failed")["total"] == 2

    first, second = log(client, actor=actor, limit=2), log(client, actor=actor, limit=2, offset=2)
    assert [e["id"] for e in first["items"] + second["items"]] == [e["id"] for e in mine["items"]]
    assert first["total"] == 4 and first["items"][0]["at"] >= first["items"][1]["at"]

    today = date.today()
    assert log(client, actor=actor, **{"from": (today - timedelta(days=1)).isoformat()})["total"] == 4
    assert log(client, actor=actor, to=(today - timedelta(days=2)).isoformat())["total"] == 0
    assert log(client, actor=actor, q=role)["total"] == 2
    error(client.get(f"{A}/log", headers=ADMIN, params={"from": "昨天"}), 422, "invalid_time", "from")
    error(client.get(f"{A}/log", headers=ADMIN, params={"limit": 0}), 422, "request_invalid", "limit")


def test_sms_outbox(client):
    from api.accounts import sms
    from geo.db import transaction

    tel = phone()
    with transaction() as conn:
        sms.gateway().send(conn, tel, "【杭州城建】您的动态密码为 123456。", "expert_review")
        sms.gateway().send(conn, tel, "【杭州城建】测试通知。", "notice")
    rows = client.get(f"{A}/sms", headers=ADMIN, params={"phone": tel}).json()
    assert rows["total"] == 2
    assert [(r["purpose"], r["status"], r["backend"]) for r in rows["items"]] == [
        ("notice", "queued", "outbox"),
        ("expert_review", "queued", "outbox"),
    ]
    only = client.get(f"{A}/sms", headers=ADMIN, params={"phone": tel[-5:], "purpose": "expert_review"}).json()
    assert [r["body"] for r in only["items"] if r["phone"] == tel] == ["【杭州城建】您的动态密码为 123456。"]
    error(client.get(f"{A}/sms", headers=LEADER), 403, "forbidden", None)


# -- cookie sessions --------------------------------------------------------------------------------------------


def test_cookie_session_writes_need_csrf_token(client):
    r = client.post("/api/auth/login", json={"username": "test-admin", "password": TEST_PASSWORD})
    assert r.status_code == 200, r.text
    csrf = client.cookies.get("cj_csrf")
    assert csrf and csrf == r.json()["csrf_token"]
    assert client.get(f"{A}/users", params={"limit": 1}).status_code == 200  # reads need no token
    body = {"name": uniq("CSRF 测试单位"), "kind": "other"}
    error(client.post(f"{A}/organisations", json=body), 403, "csrf_failed", None)
    error(client.post(f"{A}/organisations", json=body, headers={"X-CSRF-Token": "forged"}), 403, "csrf_failed", None)
    r = client.post(f"{A}/organisations", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    assert client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    error(client.get(f"{A}/users"), 401, "unauthenticated", None)


# -- the page in a browser --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(app):
    with running_server(app) as base:
        yield base


def test_back_office_in_browser(server):
    """Sign in on the page, create a user through the form (a bad phone number is shown at its field first),
    see the creation in the operation log (and why the wrong password was refused, in Chinese), see a module's text
    message with its purpose in Chinese in the SMS outbox, sign out."""
    from playwright.sync_api import expect, sync_playwright

    from api.accounts import sms
    from geo.db import transaction

    assert os.path.exists(CHROMIUM), "Debian's chromium is needed (make system-deps installs it)"
    admin = uniq("ui-admin")
    make_user(admin, ["admin"])
    username = uniq("ui-user")
    tel = phone()
    with transaction() as conn:
        sms.gateway().send(conn, tel, "【杭州市建委】标化工地施工单位账号已开通。", "st_registration")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN").new_page()
            errors: list[str] = []
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            page.goto(server + "/admin")

            login = page.locator("#login")
            login.locator("input[name=username]").fill(admin)
            login.locator("input[name=password]").fill("wrong-password-1")
            login.locator("button[type=submit]").click()
            expect(login.locator(".field[data-field=password] .field-error")).to_contain_text("用户名或密码不正确")
            login.locator("input[name=password]").fill(TEST_PASSWORD)
            login.locator("button[type=submit]").click()
            expect(page.locator("#whoami")).to_contain_text(admin)
            expect(page.locator(".tab")).to_have_text(
                ["用户", "单位", "角色与权限", "API 密钥", "操作日志", "短信发件箱", "工作日历"]
            )
            expect(page.locator(".pane[data-tab=users] .page-info")).to_contain_text("共")

            page.locator("#user-new").click()
            form = page.locator("dialog form")
            form.locator("input[name=username]").fill(username)
            form.locator("input[name=display_name]").fill("界面测试")
            form.locator("input[name=password]").fill(TEST_PASSWORD)
            form.locator("label.check", has_text="领导（只读）").locator("input").check()
            form.locator("input[name=phone]").fill("12345")
            form.locator("button[type=submit]").click()
            phone_error = form.locator(".field[data-field=phone] .field-error")
            expect(phone_error).to_be_visible()
            expect(phone_error).to_contain_text("手机号码")
            form.locator("input[name=phone]").fill(phone())
            form.locator("button[type=submit]").click()
            expect(page.locator("dialog")).to_have_count(0)
            expect(page.locator(".pane[data-tab=users] tbody tr", has_text=username)).to_contain_text("领导（只读）")

            page.locator(".tab[data-tab=log]").click()
            page.locator(".pane[data-tab=log] input[name=actor]").fill(admin)
            page.locator(".pane[data-tab=log] .filters button[type=submit]").click()
            row = page.locator(".pane[data-tab=log] tbody tr", has_text=username)
            expect(row).to_contain_text("新增")
            expect(row).to_contain_text("用户")
            expect(page.locator(".pane[data-tab=log] tbody tr", has_text="登录失败")).to_have_count(
                1
            )  # the wrong password
            expect(page.locator(".pane[data-tab=log] tbody tr", has_text="test-admin")).to_have_count(0)  # actor filter
            expect(page.locator(".pane[data-tab=log] tbody tr", has_text="登录失败")).to_contain_text("原因：密码错误")

            page.locator(".tab[data-tab=sms]").click()
            purpose = page.locator(".pane[data-tab=sms] select[name=purpose]")
            expect(purpose.locator("option", has_text="标化工地账号开通")).to_have_count(1)
            page.locator(".pane[data-tab=sms] input[name=phone]").fill(tel)
            page.locator(".pane[data-tab=sms] .filters button[type=submit]").click()
            message = page.locator(".pane[data-tab=sms] tbody tr", has_text=tel)
            expect(message).to_contain_text("标化工地账号开通")
            expect(message).not_to_contain_text("st_registration")

            page.locator("#logout").click()
            expect(page.locator("#login")).to_be_visible()
            unexpected = [e for e in errors if "401" not in e and "422" not in e]
            assert not unexpected, unexpected
        finally:
            browser.close()


def test_every_logged_record_and_action_has_a_chinese_name():
    """The operation log names records and actions in Chinese: every constant action and table passed to
    ``audit.record`` anywhere in the code has a label (from the declarations or ``geo.modules.log_labels``)."""
    import ast
    from pathlib import Path

    from api.admin.common import log_actions, log_objects
    from geo.settings import ROOT

    actions, objects = log_actions(), log_objects()
    missing = set()
    for path in [
        *ROOT.glob("api/**/*.py"),
        *ROOT.glob("geo/**/*.py"),
        *ROOT.glob("layers/**/*.py"),
        *ROOT.glob("etl/**/*.py"),
    ]:
        for node in ast.walk(ast.parse(Path(path).read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "copy_features":  # bulk loads
                for k in node.keywords:
                    if k.arg == "action" and isinstance(k.value, ast.Constant) and k.value.value not in actions:
                        missing.add(f"{path.relative_to(ROOT)}: {k.value.value}")
            is_record = isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "record"
            if not is_record or not (isinstance(node.func.value, ast.Name) and node.func.value.id == "audit"):
                continue
            for arg, known in ((node.args[2:3], actions), (node.args[3:4], objects)):
                if arg and isinstance(arg[0], ast.Constant) and isinstance(arg[0].value, str):
                    if arg[0].value not in known:
                        missing.add(f"{path.relative_to(ROOT)}: {arg[0].value}")
    assert not missing, sorted(missing)
    assert objects["st_stage_evals"] == "阶段考评登记" and objects["st_rounds"] == "评审批次"
    assert actions["draw_run"] == "执行抽取" and actions["submit"] == "提交"


def test_every_sms_purpose_and_failure_reason_has_a_chinese_name():
    """The SMS outbox names what each message is for, and the log why a sign-in was refused, in Chinese: every
    constant purpose passed to an SMS gateway's ``send`` or to ``otp.issue`` (and its default) anywhere in the code,
    and every constant ``reason`` of a logged failure, has a label from the declarations."""
    import ast
    from pathlib import Path

    from api.admin.common import LOG_REASONS, sms_purposes
    from geo.settings import ROOT

    purposes = sms_purposes()
    found_purposes, found_reasons = set(), set()

    def constants(node) -> set[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.IfExp):
            return constants(node.body) | constants(node.orelse)
        return set()

    for path in [*ROOT.glob("api/**/*.py"), *ROOT.glob("geo/**/*.py"), *ROOT.glob("layers/**/*.py")]:
        tree = ast.parse(Path(path).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
                keywords = {k.arg: k.value for k in node.keywords}
                if name == "send" and len(node.args) >= 4:  # gateway.send(conn, phone, body, purpose, user_id)
                    found_purposes |= constants(node.args[3])
                if name == "issue" and "purpose" in keywords:  # otp.issue(..., purpose=...)
                    found_purposes |= constants(keywords["purpose"])
                if name == "log" and path.name == "otp.py" and node.args:  # otp.verify's failures
                    found_reasons |= constants(node.args[0])
                if name == "refuse" and len(node.args) >= 2:  # sso's refusals
                    found_reasons |= constants(node.args[1])
            if isinstance(node, ast.Dict):  # detail={"reason": "wrong_password", …}
                for k, v in zip(node.keys, node.values):
                    if isinstance(k, ast.Constant) and k.value == "reason" and path.parts[-2] in ("api", "accounts"):
                        found_reasons |= constants(v)
            if isinstance(node, ast.Assign) and path.name == "otp.py":  # PURPOSE = "expert_review"
                if any(isinstance(t, ast.Name) and t.id == "PURPOSE" for t in node.targets):
                    found_purposes |= constants(node.value)
    assert {"st_registration", "expert_review", "st_review_reminder"} <= found_purposes
    assert sorted(p for p in found_purposes if p not in purposes) == []
    assert {"wrong_code", "wrong_password", "no_code"} <= found_reasons
    assert sorted(r for r in found_reasons if r not in LOG_REASONS) == []
