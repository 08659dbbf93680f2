"""The real-estate registration interface (VT-13) over HTTP: its own API-key role, look-ups by house code, owner ID
and location, the 28-character unit number checked and stored on the house — against the real PostGIS."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from tests.conftest import ADMIN, make_user

LOOKUP = "/api/villages/realestate/lookup"
OWNER_ID = "330106198501011231"
# 330110 (余杭区) + 001002 (cadastral district/sub-district) + JC (rural homestead) + 00123 + F + 00010001
UNIT_NO = "330110001002JC00123F00010001"


@pytest.fixture(scope="module")
def system():
    """An account of the registration system and its API key."""
    from api.accounts import keys, users
    from geo.db import transaction

    with transaction() as conn:
        uname = "realestate-" + uuid.uuid4().hex[:6]
        uid = users.create_user(
            conn, uname, "不动产登记系统", ["realestate_system"], password="Re-2026-register!", actor="test"
        )
        _, key = keys.create(conn, uid, "不动产登记系统", actor="test")
    return {"user": uname, "headers": {"X-API-Key": key}}


@pytest.fixture
def houses(engine):
    """Three houses of 余杭区 (two of one owner, close together) and one of 建德市."""
    tag = uuid.uuid4().hex[:6].upper()
    made = {}
    with engine.begin() as conn:
        for key, district, lon, lat, owner in (
            ("a", "余杭区", 119.9001, 30.3001, OWNER_ID),
            ("b", "余杭区", 119.9003, 30.3001, OWNER_ID),
            ("c", "余杭区", 119.9100, 30.3100, None),
            ("d", "建德市", 119.2800, 29.4800, None),
        ):
            made[key] = conn.execute(
                text(
                    "INSERT INTO farmhouses (code, provincial_code, owner_name, owner_id_number, district, status, geom) "
                    "VALUES (:c, :p, '王建国', :o, :d, '存量', ST_SetSRID(ST_MakePoint(:x, :y), 4326)) RETURNING id"
                ),
                {
                    "c": f"RE-{tag}-{key}",
                    "p": f"330110RE{tag}{key.upper()}",
                    "o": owner,
                    "d": district,
                    "x": lon,
                    "y": lat,
                },
            ).scalar()
    made["tag"] = tag
    yield made
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM farmhouses WHERE code LIKE :c"), {"c": f"RE-{tag}-%"})


def test_the_interface_needs_the_role(client, houses):
    body = {"code": f"RE-{houses['tag']}-a"}
    assert client.post(LOOKUP, json=body).status_code == 401
    clerk = make_user("re-clerk-yh", ["district_staff"], district="余杭区")
    r = client.post(LOOKUP, json=body, headers=clerk)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    fid = houses["a"]
    r = client.put(
        f"/api/villages/realestate/farmhouses/{fid}/registration",
        json={"unit_no": UNIT_NO, "registered_on": "2026-11-30"},
        headers=clerk,
    )
    assert r.status_code == 403
    from geo import modules

    declared = modules.permissions()
    assert declared["realestate.lookup"][1] == declared["realestate.register"][1] == "智慧村镇"
    spec = client.get("/api/openapi.json").json()
    assert {"post"} <= set(spec["paths"]["/api/villages/realestate/lookup"])
    assert "put" in spec["paths"]["/api/villages/realestate/farmhouses/{fid}/registration"]
    assert spec["components"]["schemas"]["RealEstateRegistration"]["properties"]["unit_no"]["maxLength"] == 28


def test_lookups_by_code_owner_and_location(client, system, houses, engine):
    h = system["headers"]
    r = client.post(LOOKUP, json={"code": f"RE-{houses['tag']}-a"}, headers=h)
    assert r.status_code == 200, r.text
    found = r.json()
    assert found["mode"] == "code" and found["masked"] is True
    (one,) = found["farmhouses"]
    assert one["id"] == houses["a"] and one["owner_name"] == "王**" and one["owner_id_number"] == "3301**********1231"
    by_provincial = client.post(LOOKUP, json={"code": f"330110RE{houses['tag']}C"}, headers=h).json()
    assert [x["id"] for x in by_provincial["farmhouses"]] == [houses["c"]]

    by_owner = client.post(LOOKUP, json={"owner_id_number": OWNER_ID}, headers=h).json()
    assert {houses["a"], houses["b"]} <= {x["id"] for x in by_owner["farmhouses"]}
    assert houses["c"] not in {x["id"] for x in by_owner["farmhouses"]}

    near = client.post(LOOKUP, json={"lon": 119.9002, "lat": 30.3001, "radius_m": 30}, headers=h).json()
    ids = [x["id"] for x in near["farmhouses"]]
    assert ids[:2] in ([houses["a"], houses["b"]], [houses["b"], houses["a"]]) and houses["c"] not in ids
    assert all(x["distance_m"] <= 30 for x in near["farmhouses"])
    wide = client.post(LOOKUP, json={"lon": 119.9001, "lat": 30.3001, "radius_m": 500}, headers=h).json()
    assert wide["farmhouses"][0]["id"] == houses["a"] and wide["farmhouses"][0]["distance_m"] < 1
    with engine.connect() as conn:
        logged = (
            conn.execute(
                text("SELECT detail FROM audit_log WHERE action = 'vil_realestate_lookup' AND actor = :a ORDER BY id"),
                {"a": system["user"]},
            )
            .scalars()
            .all()
        )
    assert [d["mode"] for d in logged[-4:]] == ["code", "owner_id_number", "location", "location"]
    assert OWNER_ID not in str(logged)  # the ID number asked for is logged masked

    # Unmasked for an account holding person.unmask, and the unmasking is logged.
    r = client.post(LOOKUP, json={"code": f"RE-{houses['tag']}-a"}, headers=ADMIN).json()
    assert r["masked"] is False and r["farmhouses"][0]["owner_id_number"] == OWNER_ID
    with engine.connect() as conn:
        unmask = conn.execute(
            text(
                "SELECT feature_id FROM audit_log WHERE action = 'unmask' AND layer = 'farmhouses' ORDER BY id DESC LIMIT 1"
            )
        ).scalar()
    assert unmask == houses["a"]


def test_bad_lookups(client, system):
    h = system["headers"]
    for body, code, field in (
        ({}, "lookup_mode", None),
        ({"code": "NF1", "owner_id_number": OWNER_ID}, "lookup_mode", None),
        ({"lon": 119.9}, "required", "lat"),
        ({"owner_id_number": "330106198501011232"}, "invalid_id_number", "owner_id_number"),
        ({"lon": 100.0, "lat": 30.0}, "out_of_range", "lon"),
        ({"lon": 119.9, "lat": 30.3, "radius_m": 5000}, "out_of_range", "radius_m"),
    ):
        r = client.post(LOOKUP, json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
        assert (r.json()["code"], r.json()["field"]) == (code, field), (body, r.json())
    assert client.post(LOOKUP, json={"code": "NO-SUCH-HOUSE-999"}, headers=h).json()["farmhouses"] == []
    assert client.get("/api/villages/realestate/farmhouses/999999999", headers=h).status_code == 404


def test_registration_results_are_checked_and_stored_on_the_house(client, system, houses, engine):
    h = system["headers"]
    url = f"/api/villages/realestate/farmhouses/{houses['a']}/registration"
    for unit_no, code in (
        (UNIT_NO[:-1], "bad_format"),  # 27 characters
        (UNIT_NO + "1", "bad_format"),  # 29
        (UNIT_NO[:19] + "L" + UNIT_NO[20:], "bad_format"),  # forest, not a house
        (UNIT_NO[:12] + "QQ" + UNIT_NO[14:], "bad_format"),  # no such parcel feature code
        ("330182" + UNIT_NO[6:], "unit_no_district"),  # 建德市's code for a house of 余杭区
    ):
        r = client.put(url, json={"unit_no": unit_no, "registered_on": "2026-11-30"}, headers=h)
        assert r.status_code == 422 and (r.json()["code"], r.json()["field"]) == (code, "unit_no"), (unit_no, r.text)
        assert "不动产单元号" in r.json()["message"]
    r = client.put(url, json={"unit_no": UNIT_NO, "registered_on": "2099-01-01"}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "registered_on"
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT realestate_unit_no FROM farmhouses WHERE id = :i"), {"i": houses["a"]}).scalar()
            is None
        )

    r = client.put(url, json={"unit_no": UNIT_NO, "registered_on": "2026-11-30"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["changed"] is True and r.json()["farmhouse"]["realestate_unit_no"] == UNIT_NO
    again = client.put(url, json={"unit_no": UNIT_NO, "registered_on": "2026-11-30"}, headers=h).json()
    assert again["changed"] is False
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT realestate_unit_no, realestate_registered_on, version, updated_by FROM farmhouses WHERE id = :i"
            ),
            {"i": houses["a"]},
        ).one()
        logged = conn.execute(
            text("SELECT before, after FROM audit_log WHERE action = 'vil_realestate_register' AND feature_id = :i"),
            {"i": houses["a"]},
        ).all()
    assert (row.realestate_unit_no, str(row.realestate_registered_on), row.version) == (UNIT_NO, "2026-11-30", 2)
    assert row.updated_by == system["user"]
    assert len(logged) == 1 and logged[0].before["realestate_unit_no"] is None
    assert logged[0].after["realestate_unit_no"] == UNIT_NO

    # The unit number of one house is not another's.
    other = client.put(
        f"/api/villages/realestate/farmhouses/{houses['b']}/registration",
        json={"unit_no": UNIT_NO, "registered_on": "2026-11-30"},
        headers=h,
    )
    assert other.status_code == 409 and other.json()["code"] == "unit_no_taken"
    got = client.get(f"/api/villages/realestate/farmhouses/{houses['a']}", headers=h).json()
    assert got["realestate_unit_no"] == UNIT_NO and got["realestate_registered_on"] == "2026-11-30"
