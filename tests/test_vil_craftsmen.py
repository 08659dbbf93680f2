"""Rural construction craftsmen (VT-04): a craftsman is a person of the personnel register found by the ID number
(added there when new), personal data masked unless unmasked with ``person.unmask`` (logged), district accounts kept
to their district, trainings with certificates and expiry, credit events written to the credit register through
the credit feeds, and the merge import: matched on the ID number, never a duplicate craftsman, conflicts (another
name or phone for the same ID number) listed and resolved by a person, all or nothing with a row-numbered report.
The demo seeder loads 3,000 craftsmen in seconds."""

from __future__ import annotations

import io
import time
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import Workbook
from stdnum.cn import ric

from tests.conftest import ADMIN, make_user

API = "/api/villages/craftsmen"
MERGE = "/api/villages/craftsman-merge"
HEADERS = [
    "姓名",
    "身份证号",
    "手机号",
    "区县",
    "乡镇街道",
    "工种",
    "施工队/班组",
    "培训课程",
    "培训学时",
    "培训日期",
    "证书编号",
    "证书有效期至",
]


def idn(n: int, day: str = "0505") -> str:
    """A valid ID number no demo person has (the demo's are born 1960–1995): Hangzhou, born 2005."""
    body = f"3301002005{day}{n:03d}"
    return body + ric.calc_check_digit(body + "0")


def masked(number: str) -> str:
    return number[:4] + "*" * 10 + number[-4:]


def xlsx(rows: list[list], headers: list[str] = HEADERS) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(headers)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


@pytest.fixture(scope="module")
def people():
    """A city supervisor (farmhouse.* without person.unmask), 建德市 and 西湖区 district staff, the public."""
    return {
        "city": make_user("craft-city", ["city_supervisor"]),
        "jiande": make_user("craft-jiande", ["district_staff"], district="建德市"),
        "xihu": make_user("craft-xihu", ["district_staff"], district="西湖区"),
        "public": make_user("craft-public", ["public"]),
    }


def register(client, headers, **fields) -> dict:
    body = {"district": "建德市", "township": "大同镇", "trades": ["泥瓦工"], **fields}
    r = client.post(API, headers=headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


# -- registration --------------------------------------------------------------------------------------------


def test_a_new_person_is_added_to_the_register_and_shown_masked(client, people, engine):
    number = idn(1)
    c = register(client, people["jiande"], id_number=number, name="王建国", phone="13912345671", team="大同王氏建筑队")
    assert c["id_number"] == masked(number) and c["phone"] == "139****5671" and c["masked"]
    assert c["name"] == "王建国" and c["district"] == "建德市" and c["trades"] == ["泥瓦工"]
    person = scalar(engine, "SELECT row(name, phone, district)::text FROM persons WHERE id_number = :n", n=number)
    assert person == "(王建国,13912345671,建德市)"
    assert scalar(engine, "SELECT person_id FROM vil_craftsmen WHERE id = :i", i=c["id"]) == c["person_id"]
    # The register's own entry for the new person and the craftsman's, both masked.
    logged = scalar(
        engine, "SELECT after::text FROM audit_log WHERE layer = 'persons' AND feature_id = :p", p=c["person_id"]
    )
    assert logged is not None and number not in logged and masked(number) in logged
    assert (
        scalar(engine, "SELECT count(*) FROM audit_log WHERE layer = 'vil_craftsmen' AND feature_id = :i", i=c["id"])
        == 1
    )
    # The list and the detail are masked for everyone (the administrator too).
    for who in (people["jiande"], ADMIN):
        d = client.get(f"{API}/{c['id']}", headers=who).json()
        assert d["id_number"] == masked(number) and d["phone"] == "139****5671"
        listed = client.get(API, headers=who, params={"q": number}).json()
        assert [x["id"] for x in listed["craftsmen"]] == [c["id"]]
        assert listed["craftsmen"][0]["id_number"] == masked(number)


def test_a_person_of_the_register_is_taken_by_id_number_and_never_registered_twice(client, people, engine):
    number = idn(2)
    r = client.post(
        "/api/registers/persons", headers=ADMIN, json={"name": "李木", "id_number": number, "district": "建德市"}
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    found = client.get(f"{API}/lookup", headers=people["jiande"], params={"id_number": number}).json()
    assert found["found"] and found["person"]["name"] == "李木" and found["person"]["id_number"] == masked(number)
    # A name that contradicts the register is refused and nothing is stored.
    r = client.post(API, headers=people["jiande"], json={"id_number": number, "name": "李森", "district": "建德市"})
    assert r.status_code == 409 and r.json()["code"] == "name_mismatch" and r.json()["field"] == "name"
    assert scalar(engine, "SELECT count(*) FROM vil_craftsmen WHERE person_id = :p", p=pid) == 0
    c = register(client, people["jiande"], id_number=number, phone="13812345672", trades=["木工", "泥瓦工"])
    assert c["person_id"] == pid and c["name"] == "李木" and c["trades"] == ["泥瓦工", "木工"]
    assert scalar(engine, "SELECT phone FROM persons WHERE id = :p", p=pid) == "13812345672"  # an empty phone filled
    r = client.post(API, headers=people["jiande"], json={"id_number": number, "district": "建德市"})
    assert r.status_code == 409 and r.json()["code"] == "duplicate_craftsman"
    assert r.json()["detail"]["craftsman_id"] == c["id"]
    r = client.post(
        API, headers=people["jiande"], json={"id_number": number, "phone": "13812345679", "district": "建德市"}
    )
    assert r.status_code == 409 and r.json()["code"] == "phone_mismatch"
    assert scalar(engine, "SELECT count(*) FROM vil_craftsmen WHERE person_id = :p", p=pid) == 1


def test_bad_input_is_refused_with_a_clear_message_and_changes_nothing(client, people, engine):
    before = scalar(engine, "SELECT count(*) FROM vil_craftsmen")
    persons = scalar(engine, "SELECT count(*) FROM persons")
    wrong = idn(3)[:17] + ("0" if idn(3)[17] != "0" else "1")
    r = client.post(API, headers=people["jiande"], json={"id_number": wrong, "name": "错号", "district": "建德市"})
    assert r.status_code == 422 and r.json()["field"] == "id_number"
    r = client.post(
        API,
        headers=people["jiande"],
        json={"id_number": idn(3), "name": "赵", "district": "建德市", "trades": ["厨师"]},
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_trade" and "厨师" in r.json()["message"]
    r = client.post(API, headers=people["jiande"], json={"id_number": idn(3), "district": "建德市"})
    assert r.status_code == 422 and r.json()["code"] == "required" and r.json()["field"] == "name"
    r = client.post(API, headers=people["city"], json={"id_number": idn(3), "name": "赵", "district": "杭州县"})
    assert r.status_code == 422 and r.json()["code"] == "unknown_district"
    assert scalar(engine, "SELECT count(*) FROM vil_craftsmen") == before
    assert scalar(engine, "SELECT count(*) FROM persons") == persons


def test_district_accounts_keep_to_their_district(client, people, engine):
    c = register(client, people["city"], id_number=idn(4), name="钱瓦", district="西湖区")
    r = client.post(API, headers=people["jiande"], json={"id_number": idn(5), "name": "孙", "district": "西湖区"})
    assert r.status_code == 403 and r.json()["code"] == "out_of_scope"
    assert client.get(f"{API}/{c['id']}", headers=people["jiande"]).status_code == 404
    assert client.get(f"{API}/{c['id']}", headers=people["xihu"]).status_code == 200
    listed = client.get(API, headers=people["jiande"], params={"limit": 200}).json()
    assert listed["total"] >= 1 and {x["district"] for x in listed["craftsmen"]} == {"建德市"}
    r = client.patch(f"{API}/{c['id']}", headers=people["xihu"], json={"version": c["version"], "district": "建德市"})
    assert r.status_code == 403  # a district account cannot move a craftsman out of its district
    body = {"course": "建房施工安全知识", "hours": 8, "trained_on": "2024-03-01"}
    assert client.post(f"{API}/{c['id']}/trainings", headers=people["xihu"], json=body).status_code == 201
    r = client.patch(f"{API}/{c['id']}", headers=people["city"], json={"version": c["version"], "district": "建德市"})
    assert r.status_code == 200 and r.json()["district"] == "建德市"
    moved = client.get(f"{API}/{c['id']}", headers=people["jiande"])  # the city moved him: now 建德市's, trainings too
    assert moved.status_code == 200 and moved.json()["trainings_n"] == 1
    assert client.get(f"{API}/{c['id']}", headers=people["xihu"]).status_code == 404
    assert client.get(API, headers=people["public"]).status_code in (401, 403)


def test_a_person_or_craftsman_out_of_scope_is_refused_not_duplicated(client, people, engine):
    elsewhere = idn(19)  # in the register, in 西湖区: the 建德市 clerk cannot see him
    r = client.post(
        "/api/registers/persons", headers=ADMIN, json={"name": "孔西", "id_number": elsewhere, "district": "西湖区"}
    )
    assert r.status_code == 201
    r = client.post(API, headers=people["jiande"], json={"id_number": elsewhere, "name": "孔西", "district": "建德市"})
    assert r.status_code == 409 and r.json()["code"] == "person_out_of_scope"
    here = idn(20)  # a 建德市 person the city registered as a craftsman of 西湖区
    client.post("/api/registers/persons", headers=ADMIN, json={"name": "曹建", "id_number": here, "district": "建德市"})
    register(client, people["city"], id_number=here, district="西湖区")
    r = client.post(API, headers=people["jiande"], json={"id_number": here, "district": "建德市"})
    assert r.status_code == 409 and r.json()["code"] == "duplicate_craftsman"
    rows = [["孔西", elsewhere, None, "建德市", None, None, None, None, None, None, None, None],
            ["曹建", here, None, "建德市", None, None, None, None, None, None, None, None]]  # fmt: skip
    r = client.post(f"{MERGE}/import", headers=people["jiande"], files={"file": ("l.xlsx", xlsx(rows))})
    assert [(e["row"], e["code"]) for e in r.json()["errors"]] == [
        (2, "person_out_of_scope"),
        (3, "duplicate_craftsman"),
    ]
    for number in (elsewhere, here):
        n = scalar(engine, "SELECT count(*) FROM vil_craftsmen c JOIN persons p ON p.id = c.person_id WHERE p.id_number = :n", n=number)  # fmt: skip
        assert n == (0 if number == elsewhere else 1)


def test_unmask_needs_the_permission_and_is_logged(client, people, engine):
    number = idn(6)
    c = register(client, people["jiande"], id_number=number, name="周石", phone="13712345676")
    r = client.post(f"{API}/{c['id']}/unmask", headers=people["city"])
    assert r.status_code == 403
    before = scalar(engine, "SELECT count(*) FROM audit_log WHERE action = 'unmask' AND layer = 'persons'")
    r = client.post(f"{API}/{c['id']}/unmask", headers=ADMIN)
    assert r.status_code == 200 and r.json()["id_number"] == number and r.json()["phone"] == "13712345676"
    assert scalar(engine, "SELECT count(*) FROM audit_log WHERE action = 'unmask' AND layer = 'persons'") == before + 1


def test_update_with_version(client, people):
    c = register(client, people["jiande"], id_number=idn(7), name="吴工")
    r = client.patch(
        f"{API}/{c['id']}",
        headers=people["jiande"],
        json={"version": c["version"], "team": "新安江建筑队", "status": "inactive"},
    )
    assert r.status_code == 200 and r.json()["team"] == "新安江建筑队" and r.json()["status_title"] == "停用"
    r = client.patch(f"{API}/{c['id']}", headers=people["jiande"], json={"version": c["version"], "team": "别的"})
    assert r.status_code == 409 and r.json()["code"] == "stale_version"


# -- the trades (a configurable list) ------------------------------------------------------------------------

TRADES = "/api/villages/trades"


def test_trades_are_a_configurable_list_that_registration_and_merge_check(client, people, engine):
    listed = client.get(TRADES, headers=people["jiande"]).json()
    assert [t["name"] for t in listed["items"]][:3] == ["泥瓦工", "木工", "钢筋工"] and listed["can_edit"] is False
    top = max(t["seq"] for t in listed["items"])
    body = {"code": "roofer", "name": "盖瓦匠", "seq": top + 1}
    try:
        # Only a city administrator edits the list; bad input is refused in words, with the field.
        r = client.post(TRADES, headers=people["city"], json=body)
        assert r.status_code == 403 and r.json()["code"] == "forbidden"
        for wrong, code, field in (
            ({**body, "code": "Roofer"}, "invalid_code", "code"),
            ({**body, "name": "盖瓦、木工"}, "invalid_name", "name"),
            ({**body, "name": "木工"}, "name_taken", "name"),
            ({**body, "seq": 1}, "seq_taken", "seq"),
            ({**body, "code": "mason"}, "code_taken", "code"),
        ):
            r = client.post(TRADES, headers=ADMIN, json=wrong)
            assert r.status_code in (409, 422) and (r.json()["code"], r.json()["field"]) == (code, field), r.text
            assert "工种" in r.json()["message"] or "编码" in r.json()["message"] or "顺序" in r.json()["message"]
        assert scalar(engine, "SELECT count(*) FROM vil_trades") == len(listed["items"])
        r = client.post(TRADES, headers=ADMIN, json=body)
        assert r.status_code == 201 and r.json()["active"] and r.json()["version"] == 1
        assert scalar(engine, "SELECT count(*) FROM audit_log WHERE layer = 'vil_trades' AND action = 'create'") >= 1
        # The registration offers and takes it, in the list's order.
        assert client.get(f"{API}/options", headers=people["jiande"]).json()["trades"][-1] == "盖瓦匠"
        c = register(client, people["jiande"], id_number=idn(21), name="屋顶匠", trades=["盖瓦匠", "泥瓦工"])
        assert c["trades"] == ["泥瓦工", "盖瓦匠"]
        # A rename follows on every craftsman who carries the trade (his version moves).
        r = client.patch(f"{TRADES}/roofer", headers=ADMIN, json={"version": 1, "name": "屋面工"})
        assert r.status_code == 200 and r.json()["name"] == "屋面工" and r.json()["craftsmen_renamed"] >= 1
        after = client.get(f"{API}/{c['id']}", headers=people["jiande"]).json()
        assert after["trades"] == ["泥瓦工", "屋面工"] and after["version"] == c["version"] + 1
        r = client.patch(f"{TRADES}/roofer", headers=ADMIN, json={"version": 1, "active": False})
        assert r.status_code == 409 and r.json()["code"] == "stale"
        # Retired: no longer offered nor taken (registration, merge), kept on the craftsman who has it.
        r = client.patch(f"{TRADES}/roofer", headers=ADMIN, json={"version": 2, "active": False})
        assert r.status_code == 200 and r.json()["active"] is False
        assert "屋面工" not in client.get(f"{API}/options", headers=people["jiande"]).json()["trades"]
        r = client.post(
            API, headers=people["jiande"], json={"id_number": idn(22), "name": "新匠", "district": "建德市",
                                                 "trades": ["屋面工"]},
        )  # fmt: skip
        assert r.status_code == 422 and r.json()["code"] == "invalid_trade" and r.json()["field"] == "trades"
        assert "屋面工" in r.json()["message"] and "屋面工" not in r.json()["detail"]["allowed"]
        r = client.patch(
            f"{API}/{c['id']}", headers=people["jiande"],
            json={"version": after["version"], "trades": ["屋面工", "泥瓦工"], "team": "屋面班"},
        )  # fmt: skip
        assert r.status_code == 200 and r.json()["trades"] == ["泥瓦工", "屋面工"], r.text
        row = ["新匠", idn(22), None, "建德市", None, "屋面工", None, None, None, None, None, None]
        r = client.post(
            f"{MERGE}/import", headers=people["jiande"], params={"mode": "dry_run"},
            files={"file": ("l.xlsx", xlsx([row]))},
        )  # fmt: skip
        assert r.json()["valid"] is False and r.json()["errors"][0]["code"] == "invalid_trade", r.text
        assert r.json()["errors"][0]["column"] == "工种"
        # The database refuses a name that is not in the list, whoever writes.
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(sa.text("UPDATE vil_craftsmen SET trades = '{厨师}' WHERE id = :i"), {"i": c["id"]})
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE vil_craftsmen SET trades = array_remove(array_remove(trades, '屋面工'), "
                                 "'盖瓦匠') WHERE trades && '{屋面工,盖瓦匠}'"))  # fmt: skip
            conn.execute(sa.text("DELETE FROM vil_trades WHERE code = 'roofer'"))


# -- training and credit -------------------------------------------------------------------------------------


def test_trainings_with_certificates_and_expiry(client, people, engine):
    c = register(client, people["jiande"], id_number=idn(8), name="郑砌")
    today = date.today()
    body = {"course": "农房抗震设防技术", "hours": 16, "trained_on": (today - timedelta(days=30)).isoformat(),
            "certificate_no": "HZGJ-T-0001", "expires_on": (today + timedelta(days=700)).isoformat()}  # fmt: skip
    r = client.post(f"{API}/{c['id']}/trainings", headers=people["jiande"], json=body)
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["trainings_n"] == 1 and d["valid_certificates"] == 1 and d["training_hours"] == 16
    assert client.post(f"{API}/{c['id']}/trainings", headers=people["jiande"], json=body).status_code == 409
    old = {"course": "建房施工安全知识", "hours": 8, "trained_on": "2020-03-01", "certificate_no": "HZGJ-T-0002",
           "expires_on": "2023-03-01"}  # fmt: skip
    d = client.post(f"{API}/{c['id']}/trainings", headers=people["jiande"], json=old).json()
    assert d["trainings_n"] == 2 and d["valid_certificates"] == 1  # the expired certificate no longer counts
    assert [t["expired"] for t in d["trainings"]] == [False, True]
    bad = {**old, "trained_on": "2024-05-01", "expires_on": "2024-01-01"}
    r = client.post(f"{API}/{c['id']}/trainings", headers=people["jiande"], json=bad)
    assert r.status_code == 422 and r.json()["field"] == "expires_on"
    tid = d["trainings"][1]["id"]
    d = client.delete(f"{API}/{c['id']}/trainings/{tid}", headers=people["jiande"]).json()
    assert d["trainings_n"] == 1
    assert (
        scalar(
            engine,
            "SELECT count(*) FROM audit_log WHERE layer = 'vil_craftsman_trainings' AND feature_id = :i",
            i=tid,
        )
        == 2
    )


def test_credit_events_go_to_the_credit_register(client, people, engine):
    number = idn(9)
    c = register(client, people["jiande"], id_number=number, name="冯钢")
    r = client.post(
        f"{API}/{c['id']}/events",
        headers=people["jiande"],
        json={"event_type": "vil_inspection_fail", "occurred_on": date.today().isoformat(), "reason": "圈梁未按图施工",
              "farmhouse_code": "NF330182000001"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["events"][0]["polarity"] == "bad" and d["events"][0]["points"] == 5
    event = d["events"][0]["id"]
    with engine.connect() as conn:
        e = (
            conn.execute(
                sa.text("SELECT * FROM credit_events WHERE source = 'vil_craftsman_event' AND source_id = :i"),
                {"i": event},
            )
            .mappings()
            .one()
        )
        score = conn.execute(sa.text("SELECT credit_score FROM persons WHERE id_number = :n"), {"n": number}).scalar()
    assert e["subject_kind"] == "person" and e["subject_code"] == number and e["subject_name"] == "冯钢"
    assert e["polarity"] == "bad" and e["district"] == "建德市" and "圈梁未按图施工" in e["reason"]
    assert score is not None and float(score) < 100  # rescored: a bad event lowers the score
    good = client.post(
        f"{API}/{c['id']}/events", headers=people["jiande"],
        json={"event_type": "vil_award", "occurred_on": date.today().isoformat(), "reason": "优秀工匠", "points": 10},
    ).json()  # fmt: skip
    assert float(good["credit_score"]) > float(score)
    r = client.post(f"{API}/{c['id']}/events", headers=people["jiande"],
                    json={"event_type": "vil_award", "occurred_on": "2099-01-01", "reason": "未来"})  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "occurred_on"
    assert scalar(engine, "SELECT count(*) FROM vil_craftsman_events WHERE craftsman_id = :i", i=c["id"]) == 2
    # The credit entry's source record has a page; the person's page lists the craftsman.
    rec = client.get(f"/api/records/vil_craftsman_event/{event}", headers=people["jiande"])
    assert rec.status_code == 200, rec.text
    assert "圈梁未按图施工" in rec.text
    assert client.get(f"/api/records/vil_craftsman_event/{event}", headers=people["xihu"]).status_code == 404
    person = client.get(f"/api/registers/persons/{c['person_id']}", headers=ADMIN).json()
    assert person["linked"]["villages"]["农村建房工匠"]["rows"][0]["district"] == "建德市"


def test_photo_upload_and_read(client, people):
    import pyvips

    c = register(client, people["jiande"], id_number=idn(10), name="陈照")
    jpeg = pyvips.Image.black(60, 80).new_from_image([200, 120, 80]).jpegsave_buffer()
    r = client.post(f"{API}/{c['id']}/photo", headers=people["jiande"], files={"file": ("me.jpg", jpeg, "image/jpeg")})
    assert r.status_code == 200, r.text
    assert r.json()["has_photo"]
    r = client.get(f"{API}/{c['id']}/photo", headers=people["jiande"])
    assert r.status_code == 200 and r.content == jpeg
    r = client.post(
        f"{API}/{c['id']}/photo", headers=people["jiande"], files={"file": ("x.jpg", b"not an image", "image/jpeg")}
    )
    assert r.status_code in (415, 422)


# -- the merge import ----------------------------------------------------------------------------------------


def test_merge_matches_on_id_number_lists_conflicts_and_never_duplicates(client, people, engine):
    known = idn(11)  # already a craftsman, named 褚大 with a phone
    c = register(client, people["jiande"], id_number=known, name="褚大", phone="13612345611", trades=["木工"])
    in_register = idn(12)  # in the register, not a craftsman
    client.post(
        "/api/registers/persons", headers=ADMIN, json={"name": "卫二", "id_number": in_register, "district": "建德市"}
    )
    new = idn(13)
    rows = [
        [
            "褚达",
            known,
            "13612345699",
            "建德市",
            "大同镇",
            "泥瓦工、木工",
            "大同褚氏建筑队",
            "农村建房工匠基础培训",
            24,
            "2024-06-01",
            "HZGJ-M-1",
            "2027-06-01",
        ],
        ["卫二", in_register, "13612345612", "建德市", "梅城镇", "钢筋工", None, None, None, None, None, None],
        ["蒋三", new, None, "建德市", "寿昌镇", "水电工", None, None, None, None, None, None],
    ]
    content = xlsx(rows)
    craftsmen_before = scalar(engine, "SELECT count(*) FROM vil_craftsmen")
    dry = client.post(
        f"{MERGE}/import", headers=people["jiande"], params={"mode": "dry_run"}, files={"file": ("l.xlsx", content)}
    )
    assert dry.status_code == 200, dry.text
    rep = dry.json()
    assert rep["valid"] and (rep["created"], rep["merged"], rep["conflicts"]) == (2, 1, 2)
    assert {(x["row"], x["field"]) for x in rep["conflict_rows"]} == {(2, "name"), (2, "phone")}
    assert all("*" in x["incoming_value"] for x in rep["conflict_rows"])  # masked
    assert scalar(engine, "SELECT count(*) FROM vil_craftsmen") == craftsmen_before  # a dry run stores nothing
    r = client.post(
        f"{MERGE}/import", headers=people["jiande"], params={"mode": "commit"}, files={"file": ("l.xlsx", content)}
    )
    assert r.status_code == 201, r.text
    rep = r.json()
    assert (rep["created"], rep["merged"], rep["conflicts"]) == (2, 1, 2) and rep["import_id"]
    assert scalar(engine, "SELECT count(*) FROM vil_craftsmen") == craftsmen_before + 2
    merged = client.get(f"{API}/{c['id']}", headers=people["jiande"]).json()
    assert merged["name"] == "褚大" and merged["phone"] == "136****5611"  # the register keeps its values
    assert merged["trades"] == ["泥瓦工", "木工"] and merged["team"] == "大同褚氏建筑队" and merged["trainings_n"] == 1
    # The same list again: nothing new, no conflict opened twice, never a second craftsman.
    again = client.post(
        f"{MERGE}/import", headers=people["jiande"], params={"mode": "commit"}, files={"file": ("l.xlsx", content)}
    ).json()
    assert (again["created"], again["merged"], again["unchanged"]) == (0, 0, 3)
    assert scalar(engine, "SELECT count(*) FROM vil_craftsmen") == craftsmen_before + 2
    for number in (known, in_register, new):
        assert (
            scalar(
                engine,
                "SELECT count(*) FROM vil_craftsmen c JOIN persons p ON p.id = c.person_id WHERE p.id_number = :n",
                n=number,
            )
            == 1
        )
    open_ = client.get(f"{MERGE}/conflicts", headers=people["jiande"], params={"import_id": rep["import_id"]}).json()
    conflicts = {x["field"]: x for x in open_["conflicts"]}
    assert set(conflicts) == {"name", "phone"} and open_["total"] == 2
    assert conflicts["name"]["register_value"] == "褚*" and conflicts["phone"]["incoming_value"] == "136****5699"
    assert (
        scalar(
            engine,
            "SELECT count(*) FROM vil_craftsman_conflicts WHERE person_id = :p AND status = 'open'",
            p=c["person_id"],
        )
        == 2
    )
    # A person resolves them: take the list's name, keep the register's phone.
    name_c, phone_c = conflicts["name"], conflicts["phone"]
    r = client.post(
        f"{MERGE}/conflicts/{name_c['id']}/resolve",
        headers=people["jiande"],
        json={"choice": "take", "version": name_c["version"]},
    )
    assert r.status_code == 200 and r.json()["status"] == "taken", r.text
    r = client.post(
        f"{MERGE}/conflicts/{phone_c['id']}/resolve",
        headers=people["jiande"],
        json={"choice": "keep", "version": phone_c["version"]},
    )
    assert r.status_code == 200 and r.json()["status"] == "kept"
    r = client.post(
        f"{MERGE}/conflicts/{phone_c['id']}/resolve", headers=people["jiande"], json={"choice": "take", "version": 2}
    )
    assert r.status_code == 409 and r.json()["code"] == "already_resolved"
    assert (
        scalar(engine, "SELECT row(name, phone)::text FROM persons WHERE id_number = :n", n=known)
        == "(褚达,13612345611)"
    )
    assert scalar(engine, "SELECT count(*) FROM audit_log WHERE layer = 'vil_craftsman_conflicts' AND action = 'resolve' AND feature_id IN (:a, :b)",
                  a=name_c["id"], b=phone_c["id"]) == 2  # fmt: skip
    # Another district's account does not see these conflicts.
    other = client.get(
        f"{MERGE}/conflicts", headers=people["xihu"], params={"import_id": rep["import_id"], "status": "kept"}
    )
    assert other.status_code == 200 and other.json()["total"] == 0, other.text


def test_a_bad_row_rejects_the_whole_file_with_row_numbers(client, people, engine):
    good = idn(14)
    rows = [
        ["沈好", good, None, "建德市", "大同镇", "泥瓦工", None, None, None, None, None, None],
        [
            "韩错",
            idn(15)[:17] + ("0" if idn(15)[17] != "0" else "1"),
            None,
            "建德市",
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        ],
        ["杨重", good, None, "建德市", None, None, None, None, None, None, None, None],
        ["朱外", idn(16), None, "西湖区", None, None, None, None, None, None, None, None],
        ["秦工", idn(17), None, "建德市", None, "厨师", None, None, None, None, None, None],
    ]
    before = scalar(engine, "SELECT count(*) FROM vil_craftsmen")
    persons = scalar(engine, "SELECT count(*) FROM persons")
    r = client.post(
        f"{MERGE}/import", headers=people["jiande"], params={"mode": "commit"}, files={"file": ("l.xlsx", xlsx(rows))}
    )
    assert r.status_code == 422 and r.json()["code"] == "import_rejected", r.text
    errors = {e["row"]: e for e in r.json()["detail"]["errors"]}
    assert set(errors) == {3, 4, 5, 6}
    assert errors[3]["column"] == "身份证号" and errors[3]["id_number"].count("*") == 10
    assert errors[4]["code"] == "duplicate_row" and "第 2 行" in errors[4]["message"]
    assert errors[5]["code"] == "out_of_scope" and errors[6]["code"] == "invalid_trade"
    assert scalar(engine, "SELECT count(*) FROM vil_craftsmen") == before
    assert scalar(engine, "SELECT count(*) FROM persons") == persons
    r = client.post(f"{MERGE}/import", headers=people["jiande"], files={"file": ("l.xlsx", xlsx([["a"]], ["名字"]))})
    assert r.status_code == 422 and r.json()["code"] == "missing_columns"
    r = client.post(f"{MERGE}/import", headers=people["jiande"], files={"file": ("l.xlsx", b"not a workbook")})
    assert r.status_code == 422 and r.json()["code"] == "file_format"


def test_export_masked_unless_unmasked_and_merges_back_unchanged(client, people, engine):
    from openpyxl import load_workbook

    number = idn(18)
    c = register(client, people["jiande"], id_number=number, name="许出", phone="13512345618", trades=["石工"])
    body = {"course": "杭派民居营造技艺", "hours": 24, "trained_on": "2025-05-05", "certificate_no": "HZGJ-X-18"}
    client.post(f"{API}/{c['id']}/trainings", headers=people["jiande"], json=body)

    def sheet(headers) -> list[list]:
        r = client.get(f"{MERGE}/export", headers=headers, params={"q": number})
        assert r.status_code == 200, r.text
        return [list(row) for row in load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True)]

    masked_rows = sheet(people["jiande"])
    assert masked_rows[0] == HEADERS and len(masked_rows) == 2
    assert masked_rows[1][:7] == ["许出", masked(number), "135****5618", "建德市", "大同镇", "石工", None]
    course, hours, day, cert = masked_rows[1][7:11]
    assert (course, float(hours), str(day)[:10], cert) == ("杭派民居营造技艺", 24.0, "2025-05-05", "HZGJ-X-18")
    before = scalar(engine, "SELECT count(*) FROM audit_log WHERE action = 'unmask' AND layer = 'persons'")
    clear = sheet(ADMIN)
    assert clear[1][1] == number and clear[1][2] == "13512345618"
    assert scalar(engine, "SELECT count(*) FROM audit_log WHERE action = 'unmask' AND layer = 'persons'") == before + 1
    # The exported file merges back without a change (the same craftsman, the same training).
    wb = Workbook()
    for row in clear:
        wb.active.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    r = client.post(f"{MERGE}/import", headers=people["jiande"], files={"file": ("x.xlsx", buf.getvalue())})
    assert r.status_code == 200 and (r.json()["unchanged"], r.json()["conflicts"]) == (1, 0), r.text
    template = client.get(f"{MERGE}/template", headers=people["jiande"])
    assert [list(x) for x in load_workbook(io.BytesIO(template.content)).active.iter_rows(values_only=True)] == [
        HEADERS
    ]


def test_stats_by_district(client, people):
    d = client.get(f"{API}/stats", headers=people["jiande"]).json()
    assert [x["district"] for x in d["districts"]] == ["建德市"] and d["districts"][0]["craftsmen"] >= 1


# -- demo ----------------------------------------------------------------------------------------------------


def test_demo_loads_three_thousand_craftsmen_in_seconds(engine):
    """3,000 craftsmen with trainings and credit events, in a transaction rolled back."""
    from etl.demo import World, load_districts
    from layers.villages.demo_craftsmen import CRAFTSMEN, seed_craftsmen

    with engine.connect() as conn, conn.begin() as tx:
        world = World(20261125, load_districts(conn), 0, "test")
        t0 = time.perf_counter()
        out = seed_craftsmen(conn, world)
        seconds = time.perf_counter() - t0
        counts = conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM vil_craftsmen WHERE source = 'demo'), "
                "(SELECT count(DISTINCT district) FROM vil_craftsmen WHERE source = 'demo'), "
                "(SELECT count(*) FROM vil_craftsman_trainings t JOIN vil_craftsmen c ON c.id = t.craftsman_id "
                " WHERE c.source = 'demo' AND t.expires_on < current_date), "
                "(SELECT count(*) FROM credit_events WHERE source = 'vil_craftsman_event' AND created_by = 'demo'), "
                "(SELECT count(*) FROM persons p JOIN vil_craftsmen c ON c.person_id = p.id "
                " WHERE c.source = 'demo' AND p.credit_score IS NOT NULL), "
                "(SELECT count(*) FILTER (WHERE p.gender = 'male') FROM persons p JOIN vil_craftsmen c "
                " ON c.person_id = p.id WHERE c.source = 'demo')"
            )
        ).one()
        again = seed_craftsmen(conn, world)  # a second run replaces the first
        n_again = conn.execute(sa.text("SELECT count(*) FROM vil_craftsmen WHERE source = 'demo'")).scalar()
        tx.rollback()
    print(f"\n3,000 craftsmen: {seconds:.1f} s ({out})")
    assert out["vil_craftsmen"] == counts[0] == CRAFTSMEN and counts[1] == 13
    assert out["vil_craftsman_trainings"] > CRAFTSMEN and counts[2] > 100  # some certificates have expired
    assert counts[3] == out["vil_craftsman_events"] > 2_000 and counts[4] > 1_000
    assert 0.9 < counts[5] / CRAFTSMEN < 0.99  # most craftsmen are men (the ID number says so)
    assert n_again == CRAFTSMEN and again["vil_craftsmen"] == CRAFTSMEN
    assert seconds < 30
