"""County push (VT-11) over real HTTP: the app under uvicorn, a county system's API key, batches of records —
created, updated, unchanged (the same id and version again), stale (older after newer), rejected per record with the
good ones kept; the published JSON Schema and OpenAPI; the per-county log."""

from __future__ import annotations

import json
import random
import uuid

import httpx
import jsonschema_rs
import pytest
from sqlalchemy import text

from tests.conftest import ADMIN, make_user, running_server

URL = "/api/villages/county/farmhouses"


def api_key(engine, username: str, district: str) -> dict[str, str]:
    from api.accounts import keys
    from geo.db import transaction

    make_user(username, ["county_system"], district=district)
    with engine.connect() as conn:
        uid = conn.execute(text("SELECT id FROM users WHERE username = :u"), {"u": username}).scalar()
    with transaction() as conn:
        _, key = keys.create(conn, uid, f"{district}农房系统", actor="test-admin")
    return {"X-API-Key": key}


def points_in(engine, district: str, n: int, seed: int = 7) -> list[tuple[float, float]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("""SELECT ST_X(p.geom), ST_Y(p.geom) FROM districts d,
                    ST_Dump(ST_GeneratePoints(d.geom, :n, :seed)) p WHERE d.name = :d"""),
            {"d": district, "n": n, "seed": seed},
        ).all()
    return [(round(x, 7), round(y, 7)) for x, y in rows]


def record(rid: str, version: int, code: str, at: tuple[float, float], **changes) -> dict:
    return {
        "record_id": rid,
        "version": version,
        "code": code,
        "owner_name": "王建国",
        "township": "转塘街道",
        "village": "龙坞村",
        "address": "龙坞村3组12号",
        "floors": 3,
        "structure": "框架",
        "built_year": 2024,
        "floor_area_m2": 360.5,
        "status": "在建",
        "approval_no": "西农审〔2024〕15号",
        "approved_on": "2024-03-01",
        "stage": "trench",
        "lon": at[0],
        "lat": at[1],
        **changes,
    }


def tag() -> str:
    return uuid.uuid4().hex[:8].upper()


@pytest.fixture(scope="module")
def base(app):
    with running_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def xihu(engine):
    return api_key(engine, "county-xihu-push", "西湖区")


@pytest.fixture(scope="module")
def spots(engine):
    return points_in(engine, "西湖区", 1200)


def houses(engine, rids: list[str]) -> dict[str, dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("""SELECT id, code, district, source, county_record_id, county_version, version, floors, stage,
                           status, township, approved_on, ST_X(geom) AS lon, ST_Y(geom) AS lat
                      FROM farmhouses WHERE district = '西湖区' AND county_record_id = ANY(:r)"""),
            {"r": rids},
        ).mappings()
        return {r["county_record_id"]: dict(r) for r in rows}


def test_a_batch_is_written_and_the_same_batch_again_changes_nothing(base, engine, xihu, spots):
    t = tag()
    batch = {"batch_id": f"B{t}", "records": [record(f"R{t}-{i}", 1, f"XH{t}{i}", spots[i]) for i in range(3)]}
    r = httpx.post(base + URL, json=batch, headers=xihu)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["received"], out["created"], out["rejected"]) == (3, 3, 0), out["results"]
    assert [x["status"] for x in out["results"]] == ["created"] * 3
    held = houses(engine, [f"R{t}-{i}" for i in range(3)])
    assert len(held) == 3
    h = held[f"R{t}-0"]
    assert (h["source"], h["district"], h["county_version"], h["version"], h["stage"]) == (
        "county",
        "西湖区",
        1,
        1,
        "trench",
    )
    assert (h["lon"], h["lat"]) == pytest.approx(spots[0])
    assert str(h["approved_on"]) == "2024-03-01"
    with engine.connect() as conn:
        audited = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'county_push' AND layer = 'farmhouses' "
                 "AND feature_id = ANY(:ids)"),
            {"ids": [x["id"] for x in held.values()]},
        ).scalar()  # fmt: skip
    assert audited == 3
    again = httpx.post(base + URL, json=batch, headers=xihu).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert houses(engine, [f"R{t}-{i}" for i in range(3)]) == held  # not even the row version moved


def test_a_newer_version_updates_and_an_older_one_is_ignored_and_reported(base, engine, xihu, spots):
    t = tag()
    rid = f"R{t}"
    assert (
        httpx.post(base + URL, json={"records": [record(rid, 5, f"XH{t}", spots[10])]}, headers=xihu).status_code == 200
    )
    newer = record(rid, 7, f"XH{t}", spots[11], floors=4, stage="structure")
    r = httpx.post(base + URL, json={"records": [newer]}, headers=xihu).json()
    assert r["results"][0]["status"] == "updated"
    h = houses(engine, [rid])[rid]
    assert (h["county_version"], h["floors"], h["stage"], h["version"]) == (7, 4, "structure", 2)
    older = record(rid, 6, f"XH{t}", spots[12], floors=2)
    r = httpx.post(base + URL, json={"records": [older]}, headers=xihu).json()
    assert r["stale"] == 1 and r["results"][0] == {
        "index": 0, "record_id": rid, "version": 6, "status": "stale", "id": h["id"], "held_version": 7
    }  # fmt: skip
    assert houses(engine, [rid])[rid] == h
    # Two versions of one record in one batch: the newest is written, the other reported as stale.
    r = httpx.post(
        base + URL,
        json={"records": [record(rid, 9, f"XH{t}", spots[12], floors=5), record(rid, 8, f"XH{t}", spots[13])]},
        headers=xihu,
    ).json()
    assert [x["status"] for x in r["results"]] == ["updated", "stale"]
    assert houses(engine, [rid])[rid]["floors"] == 5
    with engine.connect() as conn:
        logged = conn.execute(
            text("SELECT stale_records FROM vil_county_pushes WHERE district = '西湖区' AND stale > 0 "
                 "ORDER BY id DESC LIMIT 1")
        ).scalar()  # fmt: skip
    assert logged[0]["record_id"] == rid and logged[0]["held_version"] == 9


def test_bad_records_are_reported_one_by_one_and_the_good_ones_kept(base, engine, xihu, spots):
    t = tag()
    with engine.begin() as conn:  # a house of another district holding a code
        conn.execute(
            text("INSERT INTO farmhouses (geom, code, district, source) VALUES "
                 "(ST_SetSRID(ST_MakePoint(119.0, 29.6), 4326), :c, '淳安县', 'entry')"),
            {"c": f"CA{t}"},
        )  # fmt: skip
    other = points_in(engine, "余杭区", 1)[0]
    bad = {
        "floors": record(f"B{t}-1", 1, f"XB{t}1", spots[20], floors=11),
        "missing": {k: v for k, v in record(f"B{t}-2", 1, f"XB{t}2", spots[21]).items() if k != "township"},
        "stage": record(f"B{t}-3", 1, f"XB{t}3", spots[22], stage="roofing"),
        "outside": record(f"B{t}-4", 1, f"XB{t}4", other),
        "taken": record(f"B{t}-5", 1, f"CA{t}", spots[24]),
        "extra": record(f"B{t}-6", 1, f"XB{t}6", spots[25], colour="red"),
        "status": record(f"B{t}-7", 1, f"XB{t}7", spots[26], status="存量"),
        "text_int": record(f"B{t}-8", 1, f"XB{t}8", spots[27], floors="3"),
        "choice": record(f"B{t}-9", 1, f"XB{t}9", spots[28], structure="钢结构"),
        "date": record(f"B{t}-10", 1, f"XB{t}10", spots[29], approved_on="0280-01-01"),
        "code": record(f"B{t}-11", 1, "0000", spots[30]),
        "nul": record(f"B{t}-12", 1, f"XB{t}12", spots[31], owner_name="王\x00五"),
    }
    good = [record(f"G{t}-{i}", 1, f"XG{t}{i}", spots[40 + i]) for i in range(2)]
    records = [good[0], *bad.values(), good[1], "not an object"]
    r = httpx.post(base + URL, json={"records": records}, headers=xihu)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["created"], out["rejected"]) == (2, len(bad) + 1)
    res = out["results"]
    assert [x["index"] for x in res] == list(range(len(records)))
    assert res[0]["status"] == res[-2]["status"] == "created"
    errs = {name: res[i + 1]["errors"][0] for i, name in enumerate(bad)}
    expected = {
        "floors": ("out_of_range", "floors", "层数"),
        "missing": ("required", "township", "乡镇街道"),
        "stage": ("unknown_stage", "stage", "roofing"),
        "outside": ("outside_county", "lon", "西湖区"),
        "taken": ("code_taken", "code", f"CA{t}"),
        "extra": ("unknown_field", "colour", "colour"),
        "status": ("stage_without_construction", "stage", "存量"),
        "text_int": ("invalid_type", "floors", "层数"),
        "choice": ("invalid_choice", "structure", "结构类型"),
        "date": ("out_of_range", "approved_on", "审批日期"),
        "code": ("bad_format", "code", "农房编号"),
        "nul": ("invalid_character", "owner_name", "户主姓名"),
    }
    for name, (code, field, word) in expected.items():
        e = errs[name]
        assert (e["code"], e["field"]) == (code, field), (name, e)
        assert word in e["message"], (name, e)
    assert res[-1]["errors"][0]["code"] == "invalid_record"
    assert res[1]["record_id"] == f"B{t}-1" and res[1]["version"] == 1
    assert set(houses(engine, [f"G{t}-0", f"G{t}-1", *(f"B{t}-{i}" for i in range(1, 13))])) == {f"G{t}-0", f"G{t}-1"}
    with engine.connect() as conn:
        logged = conn.execute(
            text("SELECT received, created, rejected, errors FROM vil_county_pushes WHERE id = :i"),
            {"i": out["push_id"]},
        ).one()
    assert (logged.received, logged.created, logged.rejected) == (len(records), 2, len(bad) + 1)
    assert logged.errors[0]["record_id"] == f"B{t}-1"


def test_batches_that_are_not_batches_are_refused_whole(base, engine, xihu, spots):
    t = tag()
    too_many = {"records": [record(f"M{t}-{i}", 1, f"XM{t}{i}", spots[i]) for i in range(1001)]}
    r = httpx.post(base + URL, json=too_many, headers=xihu)
    assert r.status_code == 413 and r.json()["code"] == "batch_too_large" and "1000" in r.json()["message"]
    assert houses(engine, [f"M{t}-0"]) == {}
    r = httpx.post(base + URL, content=b"{not json", headers={**xihu, "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["code"] == "json_invalid"
    for body, code in (([], "request_invalid"), ({"records": []}, "required"), ({"rows": []}, "unknown_field")):
        r = httpx.post(base + URL, json=body, headers=xihu)
        assert (r.status_code, r.json()["code"]) == (422, code), r.text
    one = {"records": [record(f"M{t}", 1, f"XM{t}", spots[0])]}
    assert httpx.post(base + URL, json=one).status_code == 401
    r = httpx.post(base + URL, json=one, headers=ADMIN)  # the city holds every permission but is no county system
    assert r.status_code == 403 and r.json()["code"] == "not_a_county_system"
    jiande = api_key(engine, "county-jiande-push", "建德市")  # a county entering its data in the city system
    r = httpx.post(base + URL, json=one, headers=jiande)
    assert r.status_code == 403 and r.json()["code"] == "county_without_system" and "建德市" in r.json()["message"]
    clerk = make_user("xihu-clerk-push", ["district_staff"], district="西湖区")
    assert httpx.post(base + URL, json=one, headers=clerk).status_code == 403
    assert houses(engine, [f"M{t}"]) == {}


def test_the_published_schema_and_openapi_describe_what_is_accepted(base, engine, xihu, spots):
    schema = httpx.get(base + "/api/villages/county/schema.json").json()
    validator = jsonschema_rs.validator_for(schema)
    t = tag()
    good = {"batch_id": "x", "records": [record(f"S{t}", 1, f"XS{t}", spots[50])]}
    assert validator.is_valid(good)
    for change in ({"floors": 11}, {"floors": "3"}, {"structure": "钢结构"}, {"colour": "red"}, {"lon": 200}):
        assert not validator.is_valid({"records": [record(f"S{t}", 1, f"XS{t}", spots[50], **change)]}), change
    assert not validator.is_valid({"records": []})
    props = schema["$defs"]["CountyRecord"]["properties"]
    assert props["township"]["title"] == "乡镇街道" and props["code"]["maxLength"] == 40
    spec = httpx.get(base + "/api/openapi.json").json()
    op = spec["paths"][URL]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/PushBatch"
    assert spec["components"]["schemas"]["CountyRecord"]["properties"]["version"]["title"] == "记录版本号"
    # What the schema accepts, the endpoint accepts.
    r = httpx.post(base + URL, json=good, headers=xihu).json()
    assert r["created"] == 1


def test_a_full_batch_of_1000_in_one_request(base, engine, xihu, spots):
    t = tag()
    batch = {"records": [record(f"F{t}-{i}", 1, f"XF{t}-{i}", spots[i]) for i in range(1000)]}
    r = httpx.post(base + URL, json=batch, headers=xihu, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 1000
    with engine.connect() as conn:
        n = conn.execute(
            text("SELECT count(*) FROM farmhouses WHERE county_record_id LIKE :p"), {"p": f"F{t}-%"}
        ).scalar()
    assert n == 1000


def test_every_record_written_has_its_own_audit_row_with_the_record_as_it_came(base, engine, xihu, spots):
    """A mixed, shuffled batch of 1,000: each created or updated record is answered with its own house's id and has
    exactly one audit row of this push keeping the record as it came (an update's also the house before it); the
    unchanged, stale and rejected ones have none."""
    t = tag()
    first = [
        record(f"A{t}-{i}", 1, f"XA{t}-{i}", spots[i], **({"owner_name": None, "status": "存量", "stage": None,
               "approval_no": None, "approved_on": None} if i % 3 == 0 else {}))
        for i in range(600)
    ]  # fmt: skip
    r = httpx.post(base + URL, json={"records": first}, headers=xihu, timeout=60).json()
    assert r["created"] == 600, [x for x in r["results"] if x["status"] != "created"][:3]
    updates = [{**first[i], "version": 2, "floors": first[i]["floors"] % 4 + 1} for i in range(300)]
    unchanged = first[300:599]
    stale = [{**first[0], "version": 1}]  # version 2 of it comes in the same batch
    new = [record(f"A{t}-{i}", 1, f"XA{t}-{i}", spots[i]) for i in range(600, 999)]
    rejected = [record(f"A{t}-bad", 1, f"XA{t}-bad", spots[999], stage="no_such_stage")]
    batch = updates + unchanged + stale + new + rejected
    assert len(batch) == 1000
    order = list(range(1000))
    random.Random(7).shuffle(order)
    batch = [batch[k] for k in order]
    r = httpx.post(base + URL, json={"records": batch}, headers=xihu, timeout=60).json()
    assert (r["created"], r["updated"], r["unchanged"], r["stale"], r["rejected"]) == (399, 300, 299, 1, 1)
    assert [x["index"] for x in r["results"]] == list(range(1000))
    held = houses(engine, [x["record_id"] for x in first + batch])
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT feature_id, before, after, detail->>'outcome' AS outcome FROM audit_log "
                 "WHERE action = 'county_push' AND layer = 'farmhouses' AND feature_id = ANY(:ids) "
                 "AND detail->>'outcome' IN ('created', 'updated') AND (after->>'record_id') LIKE :p"),
            {"ids": [h["id"] for h in held.values()], "p": f"A{t}-%"},
        ).mappings().all()  # fmt: skip
    audit: dict[tuple[int, str], list[dict]] = {}
    for a in rows:
        audit.setdefault((a["feature_id"], a["outcome"]), []).append(dict(a))
    before_of = {x["record_id"]: x for x in first}
    for sent, res in zip(batch, r["results"], strict=True):
        assert res["record_id"] == sent["record_id"] and res["version"] == sent["version"]
        house = held.get(sent["record_id"])
        if res["status"] in ("created", "updated"):
            assert res["id"] == house["id"], res
            mine = audit.get((house["id"], res["status"]), [])
            assert len(mine) == 1 and mine[0]["after"] == sent, (res, mine)
            if res["status"] == "updated":
                old = before_of[sent["record_id"]]
                was = mine[0]["before"]
                assert (was["county_version"], was["floors"], was["code"]) == (1, old["floors"], old["code"])
                assert (was["lon"], was["lat"]) == pytest.approx((old["lon"], old["lat"]))
        elif res["status"] == "unchanged":
            assert not audit.get((house["id"], "updated")) and len(audit.get((house["id"], "created"), [])) == 1
    assert len(rows) == 600 + 399 + 300  # the first push's 600, this one's 399 new and 300 updated: no more


def test_the_log_tells_each_county_what_came_when(base, engine, xihu, spots):
    t = tag()
    r = httpx.post(base + URL, json={"batch_id": f"L{t}", "records": [record(f"L{t}", 1, f"XL{t}", spots[60])]},
                   headers=xihu).json()  # fmt: skip
    mine = httpx.get(base + "/api/villages/county/pushes", headers=xihu).json()["items"]
    entry = next(x for x in mine if x["id"] == r["push_id"])
    assert (entry["district"], entry["batch_id"], entry["created"], entry["actor"]) == (
        "西湖区", f"L{t}", 1, "county-xihu-push"
    )  # fmt: skip
    assert {x["district"] for x in mine} == {"西湖区"}
    other = api_key(engine, "county-yuhang-push", "余杭区")
    theirs = httpx.get(base + "/api/villages/county/pushes", headers=other).json()["items"]
    assert all(x["district"] == "余杭区" for x in theirs)  # another county never sees 西湖区's log
    city = httpx.get(base + "/api/villages/county/pushes", params={"district": "西湖区"}, headers=ADMIN).json()
    assert r["push_id"] in [x["id"] for x in city["items"]]
    one = httpx.get(f"{base}/api/villages/county/pushes/{r['push_id']}", headers=xihu).json()
    assert one["records"] == [[f"L{t}", 1, "created"]] and one["received_at"] == entry["received_at"]
    assert httpx.get(f"{base}/api/villages/county/pushes/{r['push_id']}", headers=other).status_code == 404
    assert json.dumps(city)  # plain JSON


def test_a_house_just_outside_the_boundary_follows_the_cores_tolerance(base, engine, xihu):
    """Inside 西湖区 or within 50 m of its boundary (geo.layer.districting's rule) is accepted; 150 m off is not."""
    with engine.connect() as conn:
        near, far = conn.execute(
            text("""
                WITH x AS (SELECT ST_Transform(geom, 4549) AS g FROM districts WHERE name = '西湖区')
                SELECT ST_Transform(ST_PointOnSurface(ST_Difference(ST_Buffer(g, 30), g)), 4326),
                       ST_Transform(ST_PointOnSurface(ST_Difference(ST_Buffer(g, 250), ST_Buffer(g, 150))), 4326)
                  FROM x"""),
        ).one()
        near_xy, far_xy = (conn.execute(text("SELECT ST_X(:p), ST_Y(:p)"), {"p": p}).one() for p in (near, far))
    t = tag()
    r = httpx.post(
        base + URL,
        json={"records": [record(f"N{t}", 1, f"XN{t}", tuple(near_xy)), record(f"D{t}", 1, f"XD{t}", tuple(far_xy))]},
        headers=xihu,
    ).json()
    assert [x["status"] for x in r["results"]] == ["created", "rejected"], r["results"]
    assert r["results"][1]["errors"][0]["code"] == "outside_county"
    assert "50 米" in r["results"][1]["errors"][0]["message"]


def test_a_house_the_city_deleted_is_not_brought_back(base, engine, xihu, spots):
    t = tag()
    rid = f"X{t}"
    first = httpx.post(base + URL, json={"records": [record(rid, 1, f"XX{t}", spots[70])]}, headers=xihu).json()
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE farmhouses SET deleted_at = now(), deleted_by = 'test' WHERE id = :i"),
            {"i": first["results"][0]["id"]},
        )
    again = httpx.post(base + URL, json={"records": [record(rid, 1, f"XX{t}", spots[70])]}, headers=xihu).json()
    assert again["results"][0]["status"] == "unchanged"  # the same version: a no-op as ever
    newer = httpx.post(base + URL, json={"records": [record(rid, 2, f"XX{t}", spots[71])]}, headers=xihu).json()
    assert newer["results"][0]["status"] == "rejected"
    assert newer["results"][0]["errors"][0]["code"] == "record_deleted"
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT county_version, deleted_at IS NOT NULL AS gone FROM farmhouses WHERE id = :i"),
            {"i": first["results"][0]["id"]},
        ).one()
    assert (row.county_version, row.gone) == (1, True)
    with engine.begin() as conn:  # a deleted house under construction would upset other tests' live counts
        conn.execute(text("DELETE FROM farmhouses WHERE id = :i"), {"i": first["results"][0]["id"]})


def test_a_house_of_the_county_held_without_a_county_id_is_taken_over(base, engine, xihu, spots):
    t = tag()
    with engine.begin() as conn:  # from the provincial stock (西湖区, no county id), and a house of 淳安县
        held = conn.execute(
            text("INSERT INTO farmhouses (geom, code, district, source, provincial_code, owner_name, floors, status) "
                 "VALUES (ST_SetSRID(ST_MakePoint(:x, :y), 4326), :c, '西湖区', 'province', :p, '李四', 2, '存量') "
                 "RETURNING id, version"),
            {"x": spots[50][0], "y": spots[50][1], "c": f"PT{t}", "p": f"ZJ{t}"},
        ).one()  # fmt: skip
        conn.execute(
            text("INSERT INTO farmhouses (geom, code, district, source) VALUES "
                 "(ST_SetSRID(ST_MakePoint(119.0, 29.6), 4326), :c, '淳安县', 'province')"),
            {"c": f"PC{t}"},
        )  # fmt: skip
    first = httpx.post(base + URL, json={"records": [record(f"X{t}-1", 1, f"PX{t}", spots[53])]}, headers=xihu)
    assert first.json()["results"][0]["status"] == "created"
    batch = [
        record(f"T{t}-1", 1, f"PT{t}", spots[51], floors=3),  # taken over
        record(f"T{t}-2", 1, f"PC{t}", spots[52]),  # another county's house: refused
        record(f"T{t}-3", 1, f"PX{t}", spots[54]),  # a house of another county record: refused
    ]
    r = httpx.post(base + URL, json={"records": batch}, headers=xihu)
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert (res[0]["status"], res[0]["taken_over"], res[0]["id"]) == ("updated", True, held.id)
    assert r.json()["updated"] == 1 and r.json()["created"] == 0 and r.json()["rejected"] == 2
    for x, code in ((res[1], f"PC{t}"), (res[2], f"PX{t}")):
        e = x["errors"][0]
        assert x["status"] == "rejected" and (e["code"], e["field"]) == ("code_taken", "code")
        assert code in e["message"] and "不能接管" in e["message"]
    h = houses(engine, [f"T{t}-1"])[f"T{t}-1"]
    assert (h["id"], h["source"], h["county_version"], h["floors"], h["status"], h["stage"]) == (
        held.id, "county", 1, 3, "在建", "trench"
    )  # fmt: skip
    assert h["version"] == held.version + 1 and (h["lon"], h["lat"]) == spots[51]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM farmhouses WHERE code = :c"), {"c": f"PT{t}"}).scalar() == 1
        assert conn.execute(text("SELECT provincial_code FROM farmhouses WHERE id = :i"), {"i": held.id}).scalar() == (
            f"ZJ{t}"
        )  # what the county does not send stays
        logged = conn.execute(
            text("SELECT before, after FROM audit_log WHERE layer = 'farmhouses' AND feature_id = :i "
                 "AND detail->>'outcome' = 'taken_over'"),
            {"i": held.id},
        ).one()  # fmt: skip
        for code in (f"PC{t}", f"PX{t}"):  # nothing changed for the refused ones
            row = conn.execute(
                text("SELECT district, county_record_id FROM farmhouses WHERE code = :c"), {"c": code}
            ).one()
            assert row.county_record_id in (None, f"X{t}-1")
    assert logged.before["source"] == "province" and logged.before["county_record_id"] is None
    assert logged.before["owner_name"] == "李四" and logged.after["record_id"] == f"T{t}-1"
    # From now on the house is the county's record: the same version again is a no-op, a newer one an update.
    again = httpx.post(base + URL, json={"records": batch[:1]}, headers=xihu).json()["results"][0]
    assert again["status"] == "unchanged" and "taken_over" not in again
    newer = httpx.post(base + URL, json={"records": [{**batch[0], "version": 2, "floors": 4}]}, headers=xihu).json()
    assert newer["results"][0]["status"] == "updated" and "taken_over" not in newer["results"][0]
    assert houses(engine, [f"T{t}-1"])[f"T{t}-1"]["floors"] == 4


def test_codes_taken_answers_per_code_whatever_the_district_and_skips_deleted_houses(engine, spots):
    """``vil_codes_taken`` (vil_0006a: one index probe per code): a code held by a live house of any district is
    taken, with its county record id only when the house is of the asking district; a deleted house's code is free; a
    code asked twice is answered once."""
    t = tag()
    with engine.begin() as conn:
        conn.execute(
            text("""INSERT INTO farmhouses (geom, code, district, source, county_record_id, county_version) VALUES
                    (ST_SetSRID(ST_MakePoint(:x, :y), 4326), :c1, '西湖区', 'county', :r1, 1),
                    (ST_SetSRID(ST_MakePoint(120.3, 30.4), 4326), :c2, '余杭区', 'county', :r2, 1),
                    (ST_SetSRID(ST_MakePoint(:x, :y), 4326), :c3, '西湖区', 'entry', NULL, NULL)"""),
            {"x": spots[80][0], "y": spots[80][1], "c1": f"TK{t}1", "c2": f"TK{t}2", "c3": f"TK{t}3",
             "r1": f"T{t}1", "r2": f"T{t}2"},
        )  # fmt: skip
        conn.execute(text("UPDATE farmhouses SET deleted_at = now(), deleted_by = 'test' WHERE code = :c"),
                     {"c": f"TK{t}3"})  # fmt: skip
        asked = [f"TK{t}1", f"TK{t}2", f"TK{t}3", f"TK{t}4", f"TK{t}1"]
        got = conn.execute(
            text("SELECT code, county_record_id FROM vil_codes_taken(:codes, '西湖区') ORDER BY code"), {"codes": asked}
        ).all()
    with engine.begin() as conn:  # other tests count farmhouses by district
        conn.execute(text("DELETE FROM farmhouses WHERE code LIKE :p"), {"p": f"TK{t}%"})
    assert [tuple(r) for r in got] == [(f"TK{t}1", f"T{t}1"), (f"TK{t}2", None)]
