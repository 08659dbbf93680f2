"""Expert pool, draw and review (ST-13, ST-16, ST-17, ST-25): pool upkeep with Excel round trip, the auditable draw
on real data (rules, commitment before the run, reproducibility, tampering detected), dynamic passwords by SMS,
sign-in by phone or ID number only inside the window, row-level security limiting the expert to the assigned
site, reviews once and only in the window, reminders by a moved clock, the application reaching "reviewed"."""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import text
from stdnum.cn import ric

from layers.standard_sites.demo import uscc_for
from tests import st_world
from tests.conftest import ADMIN, make_user

XH, YH, NP = "XH-2026-0001", "YH-2026-0002", st_world.NO_PERMIT["code"]
HOUSING, CIVIL = "房屋建筑", "市政基础设施"
SCORES = {"S01": 27, "S02": 26, "S03": 18, "S04": 17}
HEADERS = [
    "姓名",
    "身份证号",
    "手机号",
    "分组",
    "专业",
    "工作单位",
    "单位统一社会信用代码",
    "职称",
    "是否可用",
    "不可用原因",
]


def idn(n: int) -> str:
    body = f"33010019{70 + n % 25:02d}0315{n:03d}"
    return body + ric.calc_check_digit(body + "0")


def phone(n: int) -> str:
    return f"1370000{n:04d}"


def masked_id(number: str) -> str:
    return number[:4] + "*" * 10 + number[-4:]


# The pool the draw runs on: (key, name, group, specialties, employer, available, reason)
POOL = [
    ("E1", "王建国", HOUSING, "安全", "西湖区建工集团", "是", None),  # works for XH's (and NP's) construction unit
    ("E2", "李明", HOUSING, "安全", None, "是", None),
    ("E3", "张伟", HOUSING, "安全、文明施工", None, "是", None),
    ("E4", "赵强", CIVIL, "安全", None, "是", None),  # wrong group
    ("E5", "陈静", HOUSING, "文明施工", None, "是", None),  # wrong specialty
    ("E6", "刘洋", HOUSING, "安全", None, "否", "出国访问"),  # unavailable
    ("E7", "周敏", HOUSING, "安全", None, "是", None),  # reviewed XH in an earlier round
]


def pool_rows() -> list[list]:
    rows = []
    for i, (_, name, group, spec, employer, avail, reason) in enumerate(POOL, start=1):
        rows.append(
            [
                name,
                idn(i),
                phone(i),
                group,
                spec,
                employer,
                uscc_for(employer) if employer else None,
                "高级工程师",
                avail,
                reason,
            ]
        )
    return rows


def xlsx(rows: list[list], headers=HEADERS) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(headers)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def upload(client, headers, data: bytes, mode: str):
    return client.post(
        "/api/st/experts/import",
        params={"mode": mode},
        headers=headers,
        files={"file": ("专家.xlsx", io.BytesIO(data), "application/octet-stream")},
    )


def sms_code(engine, ph: str) -> str:
    with engine.connect() as conn:
        body = conn.execute(
            text("SELECT body FROM sms_outbox WHERE phone = :p AND purpose = 'expert_review' ORDER BY id DESC LIMIT 1"),
            {"p": ph},
        ).scalar()
    return re.search(r"动态密码：(\d+)", body).group(1)


def otp_login(client, login: str, code: str):
    return client.post("/api/auth/otp/login", json={"login": login, "code": code, "token": True})


def bearer(r) -> dict:
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture(scope="module")
def world(engine, app):
    from fastapi.testclient import TestClient

    info = st_world.build(engine)
    with engine.begin() as conn:
        conn.execute(
            text("TRUNCATE st_reviews, st_assignments, st_draws, st_rounds, st_experts RESTART IDENTITY CASCADE")
        )
        for code in (XH, YH):
            conn.execute(
                text(
                    "INSERT INTO st_evaluations (site_id, status, district, created_by) "
                    "VALUES (:s, 'recommended', :d, 'test')"
                ),
                {"s": info[code]["site_id"], "d": info[code]["district"]},
            )
        info["evaluations"] = dict(
            conn.execute(
                text("SELECT p.code, e.id FROM st_evaluations e JOIN projects p ON p.site_id = e.site_id")
            ).all()
        )
    info["boss"] = make_user("st-experts-boss", ["city_supervisor"])
    info["clerk"] = make_user("st-experts-clerk", ["district_staff"], district="西湖区")
    with TestClient(app) as c:
        r = upload(c, info["boss"], xlsx(pool_rows()), "commit")
        assert r.status_code == 201 and r.json()["created"] == len(POOL), r.text
        experts = c.get("/api/st/experts", params={"limit": 100}, headers=info["boss"]).json()["experts"]
    by_name = {e["name"]: e for e in experts}
    # The API shows the numbers masked; the tests sign the experts in with the numbers they were imported with.
    info["experts"] = {
        key: {**by_name[name], "id_number": idn(i), "phone": phone(i)}
        for i, (key, name, *_) in enumerate(POOL, start=1)
    }
    return info


def eid(world, key: str) -> int:
    return world["experts"][key]["id"]


# -- the pool ------------------------------------------------------------------------------------------------


def test_pool_crud_and_validation(client, world, engine):
    boss = world["boss"]
    good = {
        "name": "孙磊",
        "id_number": idn(101),
        "phone": phone(101),
        "group_name": CIVIL,
        "specialties": ["道路", "桥梁"],
        "enterprise_name": "余杭区监理公司",
        "enterprise_uscc": uscc_for("余杭区监理公司"),
        "title": "教授级高工",
    }
    for field, bad, code in (
        ("id_number", "330100197003150011", "invalid_id_number"),
        ("phone", "1381234", "invalid_phone"),
        ("enterprise_uscc", "91330100ABC", "invalid_uscc"),
    ):
        r = client.post("/api/st/experts", headers=boss, json={**good, field: bad})
        assert r.status_code == 422 and r.json()["code"] == code and r.json()["field"] == field, r.text
    assert client.post("/api/st/experts", headers=world["clerk"], json=good).status_code == 403
    r = client.post("/api/st/experts", headers=boss, json=good)
    assert r.status_code == 201, r.text
    e = r.json()
    assert e["username"] == "zj-137****0101" and e["specialties"] == ["桥梁", "道路"]
    with engine.connect() as conn:
        u = conn.execute(
            text(
                "SELECT u.phone, u.id_number, u.active, array(SELECT role FROM user_roles "
                "WHERE user_id = u.id) AS roles FROM users u WHERE u.id = :u"
            ),
            {"u": e["user_id"]},
        ).one()
    assert (u.phone, u.id_number, u.active, list(u.roles)) == (phone(101), idn(101), True, ["expert"])
    r = client.post("/api/st/experts", headers=boss, json={**good, "phone": phone(102)})
    assert r.status_code == 409 and r.json()["code"] == "duplicate_expert"
    r = client.post("/api/st/experts", headers=boss, json={**good, "id_number": idn(102)})
    assert r.status_code == 409 and r.json()["code"] == "duplicate_phone"
    # Edit: optimistic version, phone follows onto the account.
    r = client.patch(f"/api/st/experts/{e['id']}", headers=boss, json={"version": e["version"] + 5, "title": "x"})
    assert r.status_code == 409 and r.json()["code"] == "stale_version"
    r = client.patch(
        f"/api/st/experts/{e['id']}",
        headers=boss,
        json={"version": e["version"], "phone": phone(102), "available": False, "unavailable_reason": "身体原因"},
    )
    assert r.status_code == 200 and r.json()["phone"] == "137****0102" and r.json()["available"] is False, r.text
    with engine.connect() as conn:
        assert conn.execute(text("SELECT phone FROM users WHERE id = :u"), {"u": e["user_id"]}).scalar() == phone(102)
    # Query: group, specialty, availability, keyword; groups with counts.
    q = lambda **p: client.get("/api/st/experts", headers=boss, params=p).json()  # noqa: E731
    assert [x["name"] for x in q(group=CIVIL)["experts"]] == ["赵强", "孙磊"]
    assert {x["name"] for x in q(specialty="文明施工")["experts"]} == {"张伟", "陈静"}
    assert {x["name"] for x in q(available=False)["experts"]} == {"刘洋", "孙磊"}
    assert [x["name"] for x in q(q="余杭区监理")["experts"]] == ["孙磊"]
    groups = {g["name"]: g for g in client.get("/api/st/expert-groups", headers=boss).json()["groups"]}
    assert groups[CIVIL]["experts"] == 2 and groups[HOUSING]["available"] == 5
    # Soft delete: out of the pool, the account disabled; adding the same person again brings the record back.
    assert client.delete(f"/api/st/experts/{e['id']}", headers=boss).status_code == 204
    assert client.get(f"/api/st/experts/{e['id']}", headers=boss).status_code == 404
    assert q(q="孙磊")["total"] == 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT active FROM users WHERE id = :u"), {"u": e["user_id"]}).scalar() is False
    r = client.post("/api/st/experts", headers=boss, json={**good, "phone": phone(102)})
    assert r.status_code == 201 and r.json()["id"] == e["id"] and r.json()["user_id"] == e["user_id"]
    assert client.delete(f"/api/st/experts/{e['id']}", headers=boss).status_code == 204


def test_excel_round_trip(client, world, engine):
    boss = world["boss"]
    r = client.get("/api/st/experts/export", headers=boss)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == ["编号", *HEADERS]
    assert {row[1] for row in rows[1:]} == {name for _, name, *_ in POOL}
    liu = next(row for row in rows if row[1] == "刘洋")
    assert liu[9:] == ("否", "出国访问") and liu[2] == masked_id(idn(6)) and liu[3] == "137****0006"
    # The exported (masked) file imports back as it is: every row updates its expert, nothing new; the masked
    # numbers stand for the stored ones of the expert the 编号 column names.
    r = upload(client, boss, r.content, "dry_run")
    assert r.status_code == 200 and r.json()["valid"] and r.json()["updated"] == len(POOL), r.text
    # A new expert plus a bad row: the dry run names the row; commit stores nothing.
    new = ["吴昊", idn(120), phone(120), HOUSING, "安全", None, None, None, "是", None]
    bad = ["郑洁", "330100197003159999", phone(121), HOUSING, "安全", None, None, None, "是", None]
    dup = ["吴昊二", idn(120), phone(122), HOUSING, "安全", None, None, None, "是", None]
    data = xlsx([new, bad, dup])
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM experts")).scalar()
    r = upload(client, boss, data, "dry_run")
    assert r.status_code == 200 and r.json()["valid"] is False
    errors = r.json()["errors"]
    assert [(e["row"], e["code"]) for e in errors] == [(3, "invalid_id_number"), (4, "duplicate_row")]
    assert errors[0]["column"] == "身份证号" and errors[0]["message"].startswith("第 3 行")
    r = upload(client, boss, data, "commit")
    assert r.status_code == 422 and r.json()["code"] == "import_rejected"
    assert r.json()["detail"]["errors"][0]["row"] == 3
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM experts")).scalar() == before
        assert conn.execute(text("SELECT count(*) FROM users WHERE phone = :p"), {"p": phone(120)}).scalar() == 0
    r = upload(client, boss, xlsx([["x"]], headers=["姓名", "手机号"]), "dry_run")
    assert r.status_code == 422 and r.json()["code"] == "missing_columns"


def _full_numbers() -> set[str]:
    """Every ID number and phone of the test pool in the clear."""
    return {idn(i) for i in range(1, len(POOL) + 1)} | {phone(i) for i in range(1, len(POOL) + 1)}


def _xlsx_text(content: bytes) -> str:
    ws = load_workbook(io.BytesIO(content)).active
    return "\n".join("\t".join("" if v is None else str(v) for v in row) for row in ws.iter_rows(values_only=True))


def _leaks(text_: str) -> set[str]:
    return {n for n in _full_numbers() if n in text_}


def test_personal_data_masked_everywhere_without_unmask(client, world, engine):
    """An expert manager without ``person.unmask`` never sees a whole ID number or phone of the pool: not in the
    list, a detail, the groups, an answer to a write, the export, an import report, the operation log's copies,
    nor by searching digit by digit. With ``person.unmask`` the numbers are shown on purpose, each time logged."""
    boss = world["boss"]
    base = _scalar(engine, "SELECT coalesce(max(id), 0) FROM audit_log")
    e3 = world["experts"]["E3"]
    seen: list[str] = []
    listed = client.get("/api/st/experts", headers=boss, params={"limit": 100})
    assert listed.status_code == 200
    seen.append(listed.text)
    by_id = {x["id"]: x for x in listed.json()["experts"]}
    assert by_id[e3["id"]]["id_number"] == masked_id(idn(3)) and by_id[e3["id"]]["phone"] == "137****0003"
    assert all(x["masked"] for x in by_id.values())
    for x in by_id:
        seen.append(client.get(f"/api/st/experts/{x}", headers=boss).text)
    seen.append(client.get("/api/st/expert-groups", headers=boss).text)
    # A write answers masked, and its operation-log entry keeps the masked values.
    r = client.patch(f"/api/st/experts/{e3['id']}", headers=boss, json={"version": e3["version"], "title": "正高"})
    assert r.status_code == 200, r.text
    seen.append(r.text)
    world["experts"]["E3"] = {**e3, "version": r.json()["version"]}
    # Searching: part of a number finds nobody (it would reveal the number digit by digit); the whole one finds.
    for part in (phone(3)[:9], idn(3)[:10], idn(3)[-6:]):
        r = client.get("/api/st/experts", headers=boss, params={"q": part})
        assert r.json()["total"] == 0, part
    for whole in (phone(3), idn(3).lower()):
        r = client.get("/api/st/experts", headers=boss, params={"q": whole})
        assert [x["id"] for x in r.json()["experts"]] == [e3["id"]]
        seen.append(r.text)
    # The export is masked; its dry-run import report too.
    export = client.get("/api/st/experts/export", headers=boss)
    assert export.status_code == 200
    sheet = _xlsx_text(export.content)
    assert masked_id(idn(3)) in sheet and "137****0003" in sheet
    seen.append(sheet)
    seen.append(upload(client, boss, export.content, "dry_run").text)
    # A masked cell that is not the mask of the expert its 编号 names is refused (nothing is guessed).
    wb = load_workbook(io.BytesIO(export.content))
    ws = wb.active
    other = next(row for row in ws.iter_rows(min_row=2) if row[0].value != e3["id"])
    other[2].value = masked_id(idn(3))
    buf = io.BytesIO()
    wb.save(buf)
    r = upload(client, boss, buf.getvalue(), "dry_run")
    assert [(x["code"], x["column"]) for x in r.json()["errors"]] == [("masked_value", "身份证号")], r.text
    seen.append(r.text)
    # Unmasking needs the permission.
    r = client.post(f"/api/st/experts/{e3['id']}/unmask", headers=boss)
    assert r.status_code == 403 and r.json()["detail"]["permission"] == "person.unmask"
    seen.append(r.text)
    assert set().union(*(_leaks(x) for x in seen)) == set()
    with engine.connect() as conn:
        logged = conn.execute(
            text("SELECT action, before::text, after::text, detail::text FROM audit_log WHERE id > :b"), {"b": base}
        ).all()
        assert not [a for a, *_ in logged if a == "unmask"]
        assert _leaks(" ".join(str(v) for row in logged for v in row)) == set()
    # With person.unmask (the administrator): the clear numbers on purpose, in the operation log on the person.
    r = client.post(f"/api/st/experts/{e3['id']}/unmask", headers=ADMIN)
    assert r.status_code == 200, r.text
    assert (r.json()["id_number"], r.json()["phone"], r.json()["masked"]) == (idn(3), phone(3), False)
    export = client.get("/api/st/experts/export", headers=ADMIN)
    assert idn(3) in _xlsx_text(export.content) and phone(3) in _xlsx_text(export.content)
    with engine.connect() as conn:
        unmasked = conn.execute(
            text(
                "SELECT actor, layer, feature_id, detail FROM audit_log WHERE id > :b AND action = 'unmask' ORDER BY id"
            ),
            {"b": base},
        ).all()
    assert [(a, lyr, f) for a, lyr, f, _ in unmasked] == [
        ("test-admin", "persons", e3["person_id"]),
        ("test-admin", "experts", None),
    ]
    assert set(unmasked[0].detail["columns"]) == {"id_number", "phone"} and unmasked[1].detail["export"] is True
    # The workbench's list answers the administrator masked too: unmasking is always a separate, logged step.
    assert client.get(f"/api/st/experts/{e3['id']}", headers=ADMIN).json()["id_number"] == masked_id(idn(3))


def _scalar(engine, sql: str):
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


# -- the draw ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def drawn(world, engine, app):
    """Round 1 (open now, 2 experts per project, 1 project per expert): commit, check the record, run."""
    from fastapi.testclient import TestClient

    boss = world["boss"]
    now = datetime.now(UTC)
    with engine.begin() as conn:  # E7 reviewed XH in an earlier round
        r0 = conn.execute(
            text("INSERT INTO st_rounds (name, review_from, review_to) VALUES ('2025 年第二批', :a, :b) RETURNING id"),
            {"a": now - timedelta(days=200), "b": now - timedelta(days=190)},
        ).scalar()
        d0 = conn.execute(
            text(
                "INSERT INTO st_draws (round_id, inputs, inputs_sha256, commitment, status) VALUES "
                "(:r, '{}', '-', '-', 'drawn') RETURNING id"
            ),
            {"r": r0},
        ).scalar()
        conn.execute(
            text(
                "INSERT INTO st_assignments (draw_id, evaluation_id, site_id, expert_id, window_from, "
                "window_to, status) VALUES (:d, :e, :s, :x, :a, :b, 'reviewed')"
            ),
            {
                "d": d0,
                "e": world["evaluations"][XH],
                "s": world[XH]["site_id"],
                "x": eid(world, "E7"),
                "a": now - timedelta(days=200),
                "b": now - timedelta(days=190),
            },
        )
    with TestClient(app) as c:
        r = c.post(
            "/api/st/rounds",
            headers=boss,
            json={
                "name": "2026 年第一批",
                "review_from": (now - timedelta(hours=1)).isoformat(),
                "review_to": (now + timedelta(days=2)).isoformat(),
                "reminder_hours": 24,
                "per_project": 2,
                "max_per_expert": 1,
            },
        )
        assert r.status_code == 201, r.text
        rnd = r.json()
        assert c.post(f"/api/st/rounds/{rnd['id']}/draws", headers=world["clerk"]).status_code == 403
        r = c.post(f"/api/st/rounds/{rnd['id']}/draws", headers=boss, json={"specialty": "安全"})
        assert r.status_code == 201, r.text
        committed = r.json()
        # On record before the run: inputs, their hash and the commitment — the seed not shown, nothing assigned.
        with engine.connect() as conn:
            row = conn.execute(text("SELECT * FROM st_draws WHERE id = :d"), {"d": committed["id"]}).mappings().one()
            statuses = set(conn.execute(text("SELECT status FROM st_evaluations")).scalars())
            assigned = conn.execute(
                text("SELECT count(*) FROM st_assignments WHERE draw_id = :d"), {"d": committed["id"]}
            ).scalar()
        canonical = json.dumps(row["inputs"], ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        assert row["status"] == "committed" and row["result"] is None and row["drawn_at"] is None
        assert hashlib.sha256(canonical.encode()).hexdigest() == row["inputs_sha256"] == committed["inputs_sha256"]
        assert row["commitment"] == committed["commitment"] and committed["seed"] is None
        assert statuses == {"recommended"} and assigned == 0
        assert sorted(p["id"] for p in row["inputs"]["projects"]) == sorted(world["evaluations"].values())
        r = c.post(f"/api/st/draws/{committed['id']}/run", headers=boss)
        assert r.status_code == 200, r.text
        result = r.json()
        again = c.post(f"/api/st/draws/{committed['id']}/run", headers=boss)
        assert again.status_code == 409
    return {"round": rnd, "committed": committed, "result": result, "row": dict(row)}


def test_draw_rules_on_real_data(client, world, drawn, engine):
    res = drawn["result"]
    assert res["status"] == "drawn" and res["shortfalls"] == {}
    assert _leaks(json.dumps(res, ensure_ascii=False)) == set()  # the draw uses the pool, never shows the numbers
    assert _leaks(client.get(f"/api/st/draws/{res['id']}", headers=world["boss"]).text) == set()
    projects = {p["evaluation_id"]: p for p in res["projects"]}
    xh, yh = projects[world["evaluations"][XH]], projects[world["evaluations"][YH]]
    e = {k: eid(world, k) for k in ("E1", "E2", "E3", "E4", "E5", "E6", "E7")}
    # XH: E1 works for its construction unit, E7 reviewed it before — only E2 and E3 remain.
    assert {x["expert_id"] for x in xh["experts"]} == {e["E2"], e["E3"]}
    assert {x["expert_id"]: x["code"] for x in xh["excluded"]} == {
        e["E1"]: "conflict",
        e["E4"]: "group",
        e["E5"]: "specialty",
        e["E6"]: "unavailable",
        e["E7"]: "previous",
    }
    reasons = {x["expert_id"]: x["reason"] for x in xh["excluded"]}
    assert "利益回避" in reasons[e["E1"]] and "出国访问" in reasons[e["E6"]]
    # YH: E2 and E3 are at the round's limit of one project each — E1 and E7 are drawn.
    assert {x["expert_id"] for x in yh["experts"]} == {e["E1"], e["E7"]}
    assert {x["expert_id"]: x["code"] for x in yh["excluded"]} == {
        e["E2"]: "limit",
        e["E3"]: "limit",
        e["E4"]: "group",
        e["E5"]: "specialty",
        e["E6"]: "unavailable",
    }
    with engine.connect() as conn:
        evs = {
            r.id: (r.status, r.round_id) for r in conn.execute(text("SELECT id, status, round_id FROM st_evaluations"))
        }
        grants = conn.execute(
            text(
                "SELECT g.feature_id, g.valid_from, g.valid_to FROM user_grants g JOIN experts x ON x.user_id = g.user_id "
                "WHERE x.id = :x AND g.relation = 'expert'"
            ),
            {"x": e["E2"]},
        ).all()
        history = conn.execute(
            text(
                "SELECT action, actor FROM case_history WHERE case_kind = 'st_evaluation' AND case_id = :c ORDER BY id"
            ),
            {"c": world["evaluations"][XH]},
        ).all()
    assert all(v == ("in_review", drawn["round"]["id"]) for v in evs.values())
    rnd = drawn["round"]
    assert [(g.feature_id, g.valid_from.isoformat(), g.valid_to.isoformat()) for g in grants] == [
        (
            world[XH]["site_id"],
            datetime.fromisoformat(rnd["review_from"]).isoformat(),
            datetime.fromisoformat(rnd["review_to"]).isoformat(),
        )
    ]
    assert [tuple(h) for h in history] == [("assign", "st-experts-boss")]
    # Nothing left to draw in the round.
    r = client.post(f"/api/st/rounds/{rnd['id']}/draws", headers=world["boss"])
    assert r.status_code == 409 and r.json()["code"] == "nothing_to_draw"


def test_round_limit_counts_earlier_draws_and_shortfall(client, world, drawn, engine):
    """A late application in round 1: everyone eligible already has their one project of the round, so the draw
    reports a shortfall, assigns nobody and leaves the application recommended for a later draw."""
    boss, rnd = world["boss"], drawn["round"]
    with engine.begin() as conn:
        site = conn.execute(
            text(
                "INSERT INTO sites (geom, code, name, district, status, project_type) VALUES "
                "(ST_SetSRID(ST_MakePoint(:x, :y), 4326), 'YH-2026-0009', '余杭区晚到项目', '余杭区', '竣工验收', :t) "
                "RETURNING id"
            ),
            {"x": world[YH]["lon"] + 0.02, "y": world[YH]["lat"], "t": HOUSING},
        ).scalar()
        late = conn.execute(
            text(
                "INSERT INTO st_evaluations (site_id, status, district, round_id, created_by) VALUES "
                "(:s, 'recommended', '余杭区', :r, 'test') RETURNING id"
            ),
            {"s": site, "r": rnd["id"]},
        ).scalar()
    d = client.post(f"/api/st/rounds/{rnd['id']}/draws", headers=boss, json={"specialty": "安全"}).json()
    experts = {x["id"]: x for x in d["inputs"]["experts"]}
    for k in ("E1", "E2", "E3", "E7"):
        x = experts[eid(world, k)]
        assert x["available"] is False and "本轮已分配 1 个项目" in x["unavailable_reason"]
    with engine.connect() as conn:
        sms_before = conn.execute(text("SELECT count(*) FROM sms_outbox")).scalar()
    r = client.post(f"/api/st/draws/{d['id']}/run", headers=boss)
    assert r.status_code == 200, r.text
    assert r.json()["shortfalls"][str(late)]["available"] == 0 and r.json()["assignments"] == []
    with engine.connect() as conn:
        status = conn.execute(text("SELECT status FROM st_evaluations WHERE id = :e"), {"e": late}).scalar()
        assert status == "recommended"
        assert conn.execute(text("SELECT count(*) FROM sms_outbox")).scalar() == sms_before
    assert client.get(f"/api/st/draws/{d['id']}/verify", headers=boss).json()["verified"] is True


def test_draw_is_reproducible_and_tampering_shows(client, world, drawn, engine):
    boss = world["boss"]
    d = client.get(f"/api/st/draws/{drawn['committed']['id']}", headers=boss).json()
    seed = bytes.fromhex(d["seed"])
    assert d["commitment"] == drawn["committed"]["commitment"]
    assert hashlib.sha256(seed + bytes.fromhex(d["inputs_sha256"])).hexdigest() == d["commitment"]
    assert datetime.fromisoformat(d["created_at"]) <= datetime.fromisoformat(d["drawn_at"])
    assert len(d["assignments"]) == 4
    r = client.get(f"/api/st/draws/{d['id']}/verify", headers=boss)
    assert r.status_code == 200 and r.json()["verified"] is True, r.text
    xh = str(world["evaluations"][XH])
    with engine.begin() as conn:
        original = conn.execute(text("SELECT result FROM st_draws WHERE id = :d"), {"d": d["id"]}).scalar()
        tampered = {
            **original,
            "assignments": {**original["assignments"], xh: list(reversed(original["assignments"][xh]))},
        }
        conn.execute(
            text("UPDATE st_draws SET result = CAST(:r AS jsonb) WHERE id = :d"),
            {"r": json.dumps(tampered), "d": d["id"]},
        )
    try:
        r = client.get(f"/api/st/draws/{d['id']}/verify", headers=boss)
        assert r.status_code == 200 and r.json()["verified"] is False and r.json()["reason"]
    finally:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE st_draws SET result = CAST(:r AS jsonb) WHERE id = :d"),
                {"r": json.dumps(original), "d": d["id"]},
            )
    # A changed assignment record is caught too.
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE st_assignments SET expert_id = :x WHERE draw_id = :d AND expert_id = :y"),
            {"x": eid(world, "E5"), "d": d["id"], "y": eid(world, "E7")},
        )
    try:
        r = client.get(f"/api/st/draws/{d['id']}/verify", headers=boss).json()
        assert r["verified"] is False and r["commitment_and_result_match"] is True and r["records_match"] is False
    finally:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE st_assignments SET expert_id = :y WHERE draw_id = :d AND expert_id = :x"),
                {"x": eid(world, "E5"), "d": d["id"], "y": eid(world, "E7")},
            )
    assert client.get(f"/api/st/draws/{d['id']}/verify", headers=boss).json()["verified"] is True


def test_one_sms_with_a_code_per_drawn_expert(world, drawn, engine):
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT phone, body FROM sms_outbox WHERE purpose = 'expert_review' AND phone LIKE '1370000%'")
        ).all()
    by_phone = {}
    for ph, body in rows:
        by_phone.setdefault(ph, []).append(body)
    drawn_keys = ("E1", "E2", "E3", "E7")
    assert set(by_phone) == {world["experts"][k]["phone"] for k in drawn_keys}
    for k in drawn_keys:
        (body,) = by_phone[world["experts"][k]["phone"]]
        assert f"zj-{world['experts'][k]['phone']}" in body and re.search(r"动态密码：\d{6}", body)


# -- the expert ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed_in(world, drawn, engine, app):
    """E2 by phone, E3 by ID number, E1 by phone — each with the code the draw texted."""
    from fastapi.testclient import TestClient

    out = {}
    with TestClient(app) as c:
        e2 = world["experts"]["E2"]
        assert (
            otp_login(c, e2["phone"], "000000" if sms_code(engine, e2["phone"]) != "000000" else "111111").status_code
            == 401
        )
        out["E2"] = bearer(otp_login(c, e2["phone"], sms_code(engine, e2["phone"])))
        e3 = world["experts"]["E3"]
        out["E3"] = bearer(otp_login(c, e3["id_number"], sms_code(engine, e3["phone"])))
        e1 = world["experts"]["E1"]
        out["E1"] = bearer(otp_login(c, e1["phone"], sms_code(engine, e1["phone"])))
    return out


def _assignment(engine, world, key: str, code: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT id FROM st_assignments WHERE expert_id = :x AND evaluation_id = :e ORDER BY id DESC LIMIT 1"),
            {"x": eid(world, key), "e": world["evaluations"][code]},
        ).scalar()


def test_expert_sees_only_the_assigned_site(client, world, signed_in, engine):
    h = signed_in["E2"]
    assert client.get(f"/api/layers/sites/features/{world[XH]['site_id']}", headers=h).status_code == 200
    assert client.get(f"/api/layers/sites/features/{world[YH]['site_id']}", headers=h).status_code == 404
    mine = client.get("/api/st/my/assignments", headers=h).json()
    assert [(a["site_id"], a["open"], a["read_only"]) for a in mine["assignments"]] == [
        (world[XH]["site_id"], True, False)
    ]
    assert [f["code"] for f in mine["form"]] == ["S01", "S02", "S03", "S04"]
    detail = client.get(f"/api/st/assignments/{mine['assignments'][0]['id']}", headers=h)
    assert detail.status_code == 200, detail.text
    d = detail.json()
    assert d["site"]["code"] == XH and d["evaluation"]["status"] == "in_review"
    assert {f["code"]: f["max_points"] for f in d["form"]} == {"S01": 30, "S02": 30, "S03": 20, "S04": 20}
    other = _assignment(engine, world, "E1", YH)
    assert client.get(f"/api/st/assignments/{other}", headers=h).status_code == 404
    assert client.post(f"/api/st/assignments/{other}/review", headers=h, json={"scores": SCORES}).status_code == 404
    # Authorities' lists are not for experts.
    assert client.get("/api/st/experts", headers=h).status_code == 403


def test_review_once_inside_the_window_and_completion(client, world, signed_in, engine):
    e2, e3 = signed_in["E2"], signed_in["E3"]
    a2, a3 = _assignment(engine, world, "E2", XH), _assignment(engine, world, "E3", XH)
    url = f"/api/st/assignments/{a2}/review"
    r = client.post(url, headers=e2, json={"scores": {**SCORES, "S03": 21}})
    assert r.status_code == 422 and r.json()["code"] == "out_of_range" and r.json()["field"] == "scores.S03"
    r = client.post(url, headers=e2, json={"scores": {**SCORES, "S09": 1}})
    assert r.status_code == 422 and r.json()["code"] == "unknown_item"
    r = client.post(url, headers=e2, json={"scores": {"S01": 27, "S02": 26, "S03": 18}})
    assert r.status_code == 422 and r.json()["code"] == "required"
    low = {"S01": 15, "S02": 15, "S03": 10, "S04": 10}
    r = client.post(url, headers=e2, json={"scores": low})
    assert r.status_code == 422 and r.json()["code"] == "comments_required"
    r = client.post(url, headers=e2, json={"scores": SCORES, "comments": "现场管理规范，扬尘治理到位。"})
    assert r.status_code == 201 and r.json()["total"] == 88 and r.json()["evaluation_completed"] is False, r.text
    r = client.post(url, headers=e2, json={"scores": SCORES})
    assert r.status_code == 409 and r.json()["code"] == "already_reviewed"
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT status FROM st_evaluations WHERE id = :e"), {"e": world["evaluations"][XH]}
            ).scalar()
            == "in_review"
        )
    r = client.post(f"/api/st/assignments/{a3}/review", headers=e3, json={"scores": low, "comments": "资料不全。"})
    assert r.status_code == 201 and r.json()["evaluation_completed"] is True, r.text
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT status FROM st_evaluations WHERE id = :e"), {"e": world["evaluations"][XH]}
            ).scalar()
            == "reviewed"
        )
        last = conn.execute(
            text(
                "SELECT action, from_state, to_state, actor FROM case_history WHERE case_kind = "
                "'st_evaluation' AND case_id = :e ORDER BY id DESC LIMIT 1"
            ),
            {"e": world["evaluations"][XH]},
        ).one()
    assert tuple(last) == ("complete", "in_review", "reviewed", "system")
    # The expert's history: read-only once reviewed.
    hist = client.get("/api/st/my/reviews", headers=e2).json()["reviews"]
    assert [(h["site_id"], h["read_only"], h["review"]["total"]) for h in hist] == [(world[XH]["site_id"], True, 88)]
    # The authority's view of the application's reviews.
    r = client.get(f"/api/st/evaluations/{world['evaluations'][XH]}/reviews", headers=world["boss"]).json()
    assert r["evaluation"]["status"] == "reviewed" and r["average_total"] == 69
    assert client.get(f"/api/st/evaluations/{world['evaluations'][XH]}/reviews", headers=e2).status_code == 403


def test_review_refused_outside_the_window(client, world, signed_in, engine):
    a1 = _assignment(engine, world, "E1", YH)
    with engine.begin() as conn:
        old = conn.execute(
            text(
                "UPDATE st_assignments SET window_to = now() - interval '1 minute' WHERE id = :a "
                "RETURNING (SELECT window_to FROM st_assignments WHERE id = :a)"
            ),
            {"a": a1},
        ).scalar()
    try:
        r = client.post(f"/api/st/assignments/{a1}/review", headers=signed_in["E1"], json={"scores": SCORES})
        assert r.status_code == 403 and r.json()["code"] == "outside_window", r.text
        assert client.get(f"/api/st/assignments/{a1}", headers=signed_in["E1"]).status_code == 403
        assert client.get("/api/st/my/assignments", headers=signed_in["E1"]).json()["assignments"] == []
        hist = client.get("/api/st/my/reviews", headers=signed_in["E1"]).json()["reviews"]
        assert [(h["id"], h["open"], h["read_only"], h["review"]) for h in hist] == [(a1, False, True, None)]
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE st_assignments SET window_to = :t WHERE id = :a"), {"t": old, "a": a1})
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM st_reviews WHERE assignment_id = :a"), {"a": a1}).scalar() == 0


def test_reminder_by_moving_the_clock(world, drawn, engine):
    from geo.db import transaction
    from layers.standard_sites.jobs import run_due_jobs, send_reminders

    deadline = datetime.fromisoformat(drawn["round"]["review_to"])

    def reminders() -> list[str]:
        with engine.connect() as conn:
            return sorted(
                conn.execute(text("SELECT phone FROM sms_outbox WHERE purpose = 'st_review_reminder'")).scalars()
            )

    assert reminders() == []
    with transaction() as conn:
        assert send_reminders(conn, deadline - timedelta(hours=25)) == 0
    assert reminders() == []
    with transaction() as conn:  # at deadline − 24 h: the two experts of YH (XH is reviewed) get one SMS each
        assert send_reminders(conn, deadline - timedelta(hours=24)) == 2
    assert reminders() == sorted(world["experts"][k]["phone"] for k in ("E1", "E7"))
    with engine.connect() as conn:
        body = conn.execute(text("SELECT body FROM sms_outbox WHERE purpose = 'st_review_reminder' LIMIT 1")).scalar()
    assert "未提交评审意见" in body and "截止" in body and st_world.PROJECTS["余杭区"]["name"] in body
    with transaction() as conn:
        assert send_reminders(conn, deadline - timedelta(hours=23)) == 0
    assert run_due_jobs(deadline - timedelta(hours=1))["reminders"] == 0
    assert len(reminders()) == 2


def test_jobs_command_and_the_task_queue(capsys):
    from etl.cli import main
    from geo import tasks
    from layers.standard_sites import jobs

    assert main(["jobs", "run", "--now", "2020-01-01T09:00:00+08:00"]) == 0
    out = json.loads(capsys.readouterr().out)  # every module's jobs, each under its id
    assert out["standard_sites.review_reminders"] == {"reminders": 0}
    assert "site_statuses" in out["standard_sites.overdue_site_statuses"]

    # The workers run them (tests/test_tasks.py starts real ones): each is a periodic task of the queue, every minute,
    # run as of its scheduled time; the app itself no longer runs a loop of its own.
    app = tasks.app()
    crons = {p.periodic_id: p.cron for p in app.periodic_registry.periodic_tasks.values()}
    assert crons["standard_sites.review_reminders"] == crons["standard_sites.overdue_site_statuses"] == "* * * * *"
    at = datetime(2020, 1, 1, 1, 0, tzinfo=UTC)
    assert app.tasks["job:standard_sites.review_reminders"](timestamp=int(at.timestamp())) == {"reminders": 0}
    assert not hasattr(jobs, "on_app") and not hasattr(jobs, "install")


def test_site_status_job_sets_exactly_the_statuses(world, engine, capsys):
    """The scheduled job 工地月报逾期状态 (ST-19), run as the CLI and the workers run it: which sites it looked at,
    what it set on each, and nothing the second time."""
    from etl.cli import main
    from geo import tasks

    xh, yh, np_ = world[XH]["site_id"], world[YH]["site_id"], world[NP]["site_id"]
    with engine.begin() as conn:
        # The late application's site of test_round_limit_counts_earlier_draws_and_shortfall.
        yh9 = conn.execute(text("SELECT id FROM sites WHERE code = 'YH-2026-0009'")).scalar_one()
        # XH, YH and YH-9: an evaluation pending, but the pin says 在建 (stale). NP: registered in June 2019, no
        # report since, no evaluation.
        conn.execute(
            text("UPDATE sites SET status = '在建', latest_report = NULL WHERE id = ANY(:s)"),
            {"s": [xh, yh, yh9, np_]},
        )
        conn.execute(
            text(
                "INSERT INTO st_registrations (project_id, site_id, district, created_at, created_by) "
                "SELECT id, site_id, district, '2019-06-15 10:00+08', 'test' FROM projects WHERE site_id = :s"
            ),
            {"s": np_},
        )
        pending = dict(
            conn.execute(
                text("SELECT site_id, status FROM st_evaluations WHERE site_id = ANY(:s)"), {"s": [xh, yh, yh9]}
            ).all()
        )
        audit_from = conn.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar()

    def statuses() -> dict:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, status, latest_report FROM sites WHERE deleted_at IS NULL ORDER BY id")
            ).all()
        return {r.id: (r.status, r.latest_report) for r in rows}

    assert len(pending) == 3 and set(pending.values()) <= {"recommended", "in_review", "reviewed"}, pending
    others = {k: v for k, v in statuses().items() if k not in (xh, yh, yh9, np_)}
    evaluating = {xh: ("考评中", None), yh: ("考评中", None), yh9: ("考评中", None)}
    try:
        # 20 January 2020: December's report was due on the 10th.
        assert main(["jobs", "run", "--now", "2020-01-20T09:00:00+08:00"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["standard_sites.overdue_site_statuses"] == {"site_statuses": {"checked": 4, "changed": 4, "late": 1}}
        assert statuses() == {**others, **evaluating, np_: ("逾期未报", None)}
        with engine.connect() as conn:
            changes = conn.execute(
                text(
                    "SELECT feature_id, before->'properties'->>'status', after->'properties'->>'status' FROM audit_log "
                    "WHERE id > :a AND actor = 'system' AND action = 'status' AND layer = 'sites' ORDER BY feature_id"
                ),
                {"a": audit_from},
            ).all()
        assert [tuple(c) for c in changes] == sorted(
            [(xh, "在建", "考评中"), (yh, "在建", "考评中"), (yh9, "在建", "考评中"), (np_, "在建", "逾期未报")]
        )
        # The workers' periodic task, on the 5th (before the due day): NP is 在建 again; the others stay.
        job = tasks.app().tasks["job:standard_sites.overdue_site_statuses"]
        at = datetime(2020, 1, 5, 1, 0, tzinfo=UTC)
        assert job(timestamp=int(at.timestamp())) == {"site_statuses": {"checked": 4, "changed": 1, "late": 0}}
        assert statuses() == {**others, **evaluating, np_: ("在建", None)}
        assert job(timestamp=int(at.timestamp())) == {"site_statuses": {"checked": 4, "changed": 0, "late": 0}}
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM st_registrations WHERE site_id = :s"), {"s": np_})
            conn.execute(text("UPDATE sites SET status = '在建', latest_report = NULL WHERE id = :s"), {"s": np_})


def test_future_window_code_is_refused(client, world, drawn, signed_in, engine):
    """A round whose window opens in three days: its experts get their code now, but it does not sign them in."""
    boss = world["boss"]
    now = datetime.now(UTC)
    r = client.post(
        "/api/st/rounds",
        headers=boss,
        json={
            "name": "2026 年第二批",
            "review_from": (now + timedelta(days=3)).isoformat(),
            "review_to": (now + timedelta(days=5)).isoformat(),
        },
    )
    assert r.status_code == 201
    r2 = r.json()
    with engine.begin() as conn:
        ev = conn.execute(
            text(
                "INSERT INTO st_evaluations (site_id, status, district, round_id, created_by) VALUES "
                "(:s, 'recommended', '西湖区', :r, 'test') RETURNING id"
            ),
            {"s": world[NP]["site_id"], "r": r2["id"]},
        ).scalar()
    d = client.post(f"/api/st/rounds/{r2['id']}/draws", headers=boss, json={"specialty": "安全"}).json()
    res = client.post(f"/api/st/draws/{d['id']}/run", headers=boss)
    assert res.status_code == 200, res.text
    (p,) = res.json()["projects"]
    e = {k: eid(world, k) for k in ("E1", "E2", "E3", "E7")}
    assert p["evaluation_id"] == ev and len(p["experts"]) == 2
    assert {x["expert_id"] for x in p["experts"]} <= {e["E2"], e["E3"], e["E7"]}
    assert {x["expert_id"]: x["code"] for x in p["excluded"]}[e["E1"]] == "conflict"
    key = next(k for k in ("E2", "E3", "E7") if e[k] == p["experts"][0]["expert_id"])
    ex = world["experts"][key]
    r = otp_login(client, ex["phone"], sms_code(engine, ex["phone"]))
    assert r.status_code == 403 and r.json()["code"] == "outside_window", r.text
    # The window is fixed once drawn.
    r = client.patch(
        f"/api/st/rounds/{r2['id']}",
        headers=boss,
        json={"version": r2["version"], "review_to": (now + timedelta(days=6)).isoformat()},
    )
    assert r.status_code == 409 and r.json()["code"] == "round_drawn"


def test_review_is_a_case_transition(client, world, signed_in, engine):
    """The assignment is a declared case (st_assignment): the review moves it through the machine (history row,
    audit record, version), the authorities list and export the assignments in their scope, an expert sees only
    their own, the units none, and the generic action route refuses the review."""
    boss, clerk, e1 = world["boss"], world["clerk"], signed_in["E1"]
    unit = make_user("st-experts-unit-yh", ["construction_unit"], grants={"sites": [world[YH]["site_id"]]})
    a1, a7 = _assignment(engine, world, "E1", YH), _assignment(engine, world, "E7", YH)
    ev = world["evaluations"][YH]

    types = {c["kind"]: c for c in client.get("/api/cases").json()["types"]}
    assert types["st_assignment"]["states"] == {"assigned": "待评审", "reviewed": "已评审"}
    assert types["st_assignment"]["actions"] == {"review": "提交评审"}
    assert {"evaluation_id", "expert_id", "status", "district", "site_id"} <= set(types["st_assignment"]["filters"])

    r = client.get("/api/st/assignments", params={"evaluation_id": ev}, headers=boss)
    assert r.status_code == 200, r.text
    listed = {a["id"]: a for a in r.json()["assignments"]}
    assert r.json()["total"] == 2 and set(listed) == {a1, a7}
    before = listed[a1]
    assert (before["status"], before["status_title"], before["expert_name"]) == ("assigned", "待评审", "王建国")
    assert before["site_code"] == YH and before["district"] == "余杭区"
    # Scope and the declaration's rule: the 西湖区 clerk none of 余杭区's, the reviewed site's unit none at all, an
    # expert only their own (E7's assignment of the same site is within E1's row-level scope, but not theirs).
    assert client.get("/api/st/assignments", params={"evaluation_id": ev}, headers=clerk).json()["total"] == 0
    assert client.get("/api/st/assignments", params={"site_id": world[XH]["site_id"]}, headers=clerk).json()["total"]
    assert client.get("/api/st/assignments", headers=unit).json()["total"] == 0
    assert [a["id"] for a in client.get("/api/st/assignments", headers=e1).json()["assignments"]] == [a1]
    r = client.get("/api/st/assignments", params={"status": "done"}, headers=boss)
    assert r.status_code == 422 and r.json()["code"] == "invalid_status" and r.json()["field"] == "status"

    # Only the review route takes the action (its checks: window, once, the score form).
    for who in (e1, boss):
        r = client.post(f"/api/st/assignments/{a1}/actions/review", headers=who, json={})
        assert r.status_code == 409 and r.json()["code"] == "handled_elsewhere", r.text
        assert r.json()["message"] and r.json()["field"] == "action"

    r = client.post(f"/api/st/assignments/{a1}/review", headers=e1, json={"scores": SCORES})
    assert r.status_code == 201 and r.json()["evaluation_completed"] is False, r.text
    with engine.connect() as conn:
        username = conn.execute(
            text("SELECT u.username FROM users u JOIN experts x ON x.user_id = u.id WHERE x.id = :x"),
            {"x": eid(world, "E1")},
        ).scalar()
        history = conn.execute(
            text(
                "SELECT action, from_state, to_state, actor, site_id, district FROM case_history "
                "WHERE case_kind = 'st_assignment' AND case_id = :a"
            ),
            {"a": a1},
        ).all()
        audited = conn.execute(
            text(
                "SELECT actor, before->>'status', after->>'status' FROM audit_log "
                "WHERE layer = 'st_assignments' AND feature_id = :a AND action = 'review'"
            ),
            {"a": a1},
        ).all()
    assert username and [tuple(h) for h in history] == [
        ("review", "assigned", "reviewed", username, world[YH]["site_id"], "余杭区")
    ]
    assert [tuple(x) for x in audited] == [(username, "assigned", "reviewed")]
    detail = client.get(f"/api/st/assignments/{a1}", headers=e1).json()
    assert [(h["action"], h["actor"]) for h in detail["history"]] == [("review", username)]

    after = {
        a["id"]: a
        for a in client.get("/api/st/assignments", params={"evaluation_id": ev}, headers=boss).json()["assignments"]
    }
    assert after[a1]["version"] == before["version"] + 1 and after[a1]["updated_by"] == username
    assert (after[a1]["status"], after[a1]["status_title"]) == ("reviewed", "已评审")
    assert after[a7]["version"] == listed[a7]["version"] and after[a7]["status"] == "assigned"
    r = client.get("/api/st/assignments", params={"evaluation_id": ev, "status": "reviewed"}, headers=boss).json()
    assert [a["id"] for a in r["assignments"]] == [a1]

    # The export: the same list, Chinese headers; not for experts (no export permission).
    r = client.get("/api/st/assignments.xlsx", params={"evaluation_id": ev}, headers=boss)
    assert r.status_code == 200, r.text
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = [list(row) for row in ws.iter_rows(values_only=True)]
    assert rows[0][:7] == ["编号", "考评申报编号", "项目编号", "项目名称", "区县", "评审专家", "状态"]
    assert sorted((row[0], row[5], row[6]) for row in rows[1:]) == sorted(
        [(a1, "王建国", "已评审"), (a7, "周敏", "待评审")]
    )
    assert client.get("/api/st/assignments.xlsx", headers=e1).status_code == 403
