"""The enterprise register (企业库, DC-02): credit codes checked (nothing stored when refused), Excel import all or
nothing with a row-numbered report, duplicates merged on the code, a merge that moves every linked record, expired
qualifications flagged, Chinese substring search, the registers' permissions, the demo's 20,000 enterprises, the
projects' units held to the register, and the back-office page in Chromium."""

from __future__ import annotations

import io
import os
import secrets
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook
from stdnum.cn import uscc as uscc_mod

from etl.demo import World
from tests.conftest import ADMIN, LEADER, PUBLIC, TEST_PASSWORD, make_user, running_server

API = "/api/registers/enterprises"
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
HEADER = ["统一社会信用代码", "企业名称", "企业类型", "法定代表人", "技术负责人", "地址", "所在区县"]
CHROMIUM = "/usr/bin/chromium"


def new_uscc() -> str:
    body = "91330106" + "".join(secrets.choice(ALPHABET) for _ in range(9))
    return body + uscc_mod.calc_check_digit(body)


def bad_check(code: str) -> str:
    """The same code with a wrong check character."""
    return code[:-1] + next(c for c in ALPHABET if c != code[-1])


def token() -> str:
    """A two-character Chinese term no demo or other test name holds (for search)."""
    pool = "甲乙丙丁戊己庚辛壬癸鼋鼍鳌鲲鹏"
    return secrets.choice(pool[:10]) + secrets.choice(pool[10:])


def count(engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


def create(client, name: str, uscc: str | None = None, **fields) -> dict:
    r = client.post(API, headers=ADMIN, json={"uscc": uscc or new_uscc(), "name": name, **fields})
    assert r.status_code == 201, r.text
    return r.json()


def xlsx(rows: list[list], header: list[str] = HEADER) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def upload(client, content: bytes, mode: str = "commit"):
    return client.post(
        f"{API}/import",
        headers=ADMIN,
        params={"mode": mode},
        files={"file": ("企业.xlsx", content, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")},
    )


# -- credit codes --------------------------------------------------------------------------------------------------


def test_a_wrong_check_character_is_refused_and_nothing_stored(client, engine):
    code = new_uscc()
    before = count(engine, "SELECT count(*) FROM enterprises")
    audits = count(engine, "SELECT count(*) FROM audit_log WHERE layer = 'enterprises'")
    r = client.post(API, headers=ADMIN, json={"uscc": bad_check(code), "name": "杭州校验位错误建设有限公司"})
    assert r.status_code == 422, r.text
    body = r.json()
    assert (body["code"], body["field"]) == ("invalid_uscc", "uscc")
    assert "统一社会信用代码" in body["message"]
    assert count(engine, "SELECT count(*) FROM enterprises") == before
    assert count(engine, "SELECT count(*) FROM audit_log WHERE layer = 'enterprises'") == audits
    # The right code is taken (stored upper-case, audited); the same code again is a conflict, not a second row.
    made = create(client, "杭州校验位正确建设有限公司", code.lower(), types=["construction"], district="西湖区")
    assert made["uscc"] == code and made["type_titles"] == ["施工"] and made["version"] == 1
    assert count(engine, "SELECT count(*) FROM audit_log WHERE layer = 'enterprises' AND action = 'create'") >= 1
    again = client.post(API, headers=ADMIN, json={"uscc": code, "name": "重复"})
    assert (again.status_code, again.json()["code"]) == (409, "duplicate_uscc")
    unknown_type = client.post(API, headers=ADMIN, json={"uscc": new_uscc(), "name": "某公司", "types": ["bank"]})
    assert (unknown_type.status_code, unknown_type.json()["field"]) == (422, "types")
    elsewhere = client.post(API, headers=ADMIN, json={"uscc": new_uscc(), "name": "某公司", "district": "上海"})
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (422, "invalid_district")


def test_update_is_version_checked_and_audited(client, engine):
    e = create(client, "杭州版本检查建设有限公司", legal_rep="王建国")
    r = client.patch(f"{API}/{e['uscc']}", headers=ADMIN, json={"version": e["version"], "tech_lead": "李明"})
    assert r.status_code == 200, r.text
    assert (r.json()["tech_lead"], r.json()["version"]) == ("李明", 2)
    stale = client.patch(f"{API}/{e['uscc']}", headers=ADMIN, json={"version": 1, "tech_lead": "张三"})
    assert (stale.status_code, stale.json()["code"]) == (409, "stale_version")
    with engine.connect() as conn:
        before, after = conn.execute(
            sa.text(
                "SELECT before, after FROM audit_log WHERE layer = 'enterprises' AND action = 'update' "
                "AND feature_id = :i ORDER BY id DESC LIMIT 1"
            ),
            {"i": e["id"]},
        ).one()
    assert (before["tech_lead"], after["tech_lead"]) == (None, "李明")


def test_require_names_the_field_and_projects_hold_only_registered_units(client, engine):
    from geo.errors import Invalid
    from layers.enterprises import get_by_uscc, require

    e = create(client, "杭州必须登记建设有限公司")
    code = new_uscc()
    with engine.connect() as conn:
        assert get_by_uscc(conn, e["uscc"].lower())["name"] == "杭州必须登记建设有限公司"
        assert require(conn, e["uscc"], "construction_uscc")["id"] == e["id"]
        with pytest.raises(Invalid) as err:
            require(conn, code, "supervision_uscc")
        assert (err.value.code, err.value.field) == ("unknown_enterprise", "supervision_uscc")
        assert "企业库" in err.value.message
    # The foreign key: a project's unit is an enterprise of the register.
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO projects (code, name, construction_uscc) VALUES (:c, '无名项目', :u)"),
            {"c": f"T-{secrets.token_hex(4)}", "u": code},
        )


# -- Excel import ---------------------------------------------------------------------------------------------------


def test_import_with_a_bad_row_reports_its_number_and_stores_nothing(client, engine):
    good, bad = new_uscc(), new_uscc()
    before = count(engine, "SELECT count(*) FROM enterprises")
    content = xlsx(
        [
            [good, "杭州导入一建设有限公司", "施工、建筑节能", "王一", "李一", "杭州市西湖区文一路1号", "西湖区"],
            [bad_check(bad), "杭州导入二监理有限公司", "监理", None, None, None, "余杭区"],
            [new_uscc(), "杭州导入三有限公司", "银行", None, None, None, None],
        ]
    )
    dry = upload(client, content, "dry_run")
    assert dry.status_code == 200, dry.text
    assert [(e["row"], e["code"]) for e in dry.json()["errors"]] == [(3, "invalid_uscc"), (4, "invalid_type")]
    assert dry.json()["errors"][0]["message"].startswith("第 3 行：")
    r = upload(client, content)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "import_rejected"
    assert [e["row"] for e in r.json()["detail"]["errors"]] == [3, 4]
    assert r.json()["detail"]["errors"][1]["column"] == "企业类型"
    assert count(engine, "SELECT count(*) FROM enterprises") == before  # not even the good row
    assert count(engine, "SELECT count(*) FROM enterprises WHERE uscc = :u", u=good) == 0


def test_import_with_a_wrong_header_is_refused(client, engine):
    before = count(engine, "SELECT count(*) FROM enterprises")
    wrong = ["信用代码", "企业名称", "企业类型"]
    r = upload(client, xlsx([[new_uscc(), "杭州表头错误有限公司", "施工"]], wrong))
    assert r.status_code == 422, r.text
    body = r.json()
    assert (body["code"], body["field"]) == ("bad_header", "file")
    assert body["detail"]["missing"] == ["统一社会信用代码"] and body["detail"]["unknown"] == ["信用代码"]
    assert "第 1 行表头" in body["message"]
    assert count(engine, "SELECT count(*) FROM enterprises") == before
    not_excel = upload(client, b"uscc,name\n")
    assert (not_excel.status_code, not_excel.json()["code"]) == (422, "file_format")


def test_duplicates_are_merged_on_the_code_at_import(client, engine):
    known = create(client, "杭州已登记建设有限公司", types=["construction"], district="上城区")
    fresh = new_uscc()
    content = xlsx(
        [
            [known["uscc"], "杭州已登记建设集团有限公司", "施工、监理", "陈法人", None, None, None],
            [fresh, "杭州新导入造价咨询有限公司", "造价咨询", "周一", None, None, "滨江区"],
            [fresh.lower(), "杭州新导入造价咨询有限公司", "造价咨询、招标代理", None, "吴技术", None, None],
        ]
    )
    before = count(engine, "SELECT count(*) FROM enterprises")
    r = upload(client, content)
    assert r.status_code == 201, r.text
    assert {k: r.json()[k] for k in ("rows", "created", "updated", "merged_rows")} == {
        "rows": 3,
        "created": 1,
        "updated": 1,
        "merged_rows": 1,
    }
    assert count(engine, "SELECT count(*) FROM enterprises") == before + 1
    k = client.get(f"{API}/{known['uscc']}", headers=ADMIN).json()
    assert (k["name"], k["types"], k["legal_rep"], k["district"]) == (
        "杭州已登记建设集团有限公司",
        ["construction", "supervision"],
        "陈法人",
        "上城区",  # an empty cell leaves the stored value
    )
    f = client.get(f"{API}/{fresh}", headers=ADMIN).json()
    assert (f["types"], f["legal_rep"], f["tech_lead"], f["district"]) == (
        ["cost_consulting", "bidding_agency"],
        "周一",
        "吴技术",
        "滨江区",
    )
    assert count(engine, "SELECT count(*) FROM audit_log WHERE layer = 'enterprises' AND action = 'import'") >= 1


def xlsx_with_qualifications(rows: list[list], quals: list[list], qual_header: list[str] | None = None) -> bytes:
    wb = load_workbook(io.BytesIO(xlsx(rows)))
    ws = wb.create_sheet("资质")
    ws.append(qual_header or ["统一社会信用代码", "资质类别", "等级", "资质范围", "证书编号", "有效期起", "有效期至"])
    for q in quals:
        ws.append(q)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_import_qualifications_sheet(client, engine):
    code, known = new_uscc(), create(client, "杭州资质表已登记有限公司")
    quals_before = count(engine, "SELECT count(*) FROM enterprise_qualifications")
    rows = [[code, "杭州资质表新企业有限公司", "检测", None, None, None, None]]
    good = [
        [code, "建设工程质量检测机构", "综合类", None, "J-1", date(2022, 1, 1), date(2027, 1, 1)],
        [known["uscc"], "工程造价咨询企业", "甲级", None, "Z-1", "2019-01-01", "2024-01-01"],
    ]
    bad = [
        *good,
        [new_uscc(), "工程监理", "甲级", None, "X-9", None, None],
        [code, "缺编号", None, None, None, None, None],
    ]
    r = upload(client, xlsx_with_qualifications(rows, bad))
    assert r.status_code == 422, r.text
    assert [(e["sheet"], e["row"], e["code"]) for e in r.json()["detail"]["errors"]] == [
        ("资质", 4, "unknown_enterprise"),
        ("资质", 5, "required"),
    ]
    assert r.json()["detail"]["errors"][0]["message"].startswith("资质表第 4 行：")
    assert count(engine, "SELECT count(*) FROM enterprises WHERE uscc = :u", u=code) == 0
    assert count(engine, "SELECT count(*) FROM enterprise_qualifications") == quals_before
    r = upload(client, xlsx_with_qualifications(rows, good))
    assert r.status_code == 201, r.text
    assert (r.json()["qualifications_created"], r.json()["created"]) == (2, 1)
    flags = {
        q["number"]: q["expired"] for q in client.get(f"{API}/{known['uscc']}", headers=ADMIN).json()["qualifications"]
    }
    assert flags == {"Z-1": True}
    # The same certificate again updates it.
    again = [[known["uscc"], "工程造价咨询企业", "甲级", None, "Z-1", "2024-01-01", "2029-01-01"]]
    r = upload(client, xlsx_with_qualifications([], again))
    assert (r.status_code, r.json()["qualifications_updated"]) == (201, 1)
    q = client.get(f"{API}/{known['uscc']}", headers=ADMIN).json()["qualifications"]
    assert [(x["number"], x["valid_to"], x["expired"]) for x in q] == [("Z-1", "2029-01-01", False)]
    wrong = upload(client, xlsx_with_qualifications(rows, good, ["代码", "资质类别", "证书编号"]))
    assert (wrong.status_code, wrong.json()["code"], wrong.json()["detail"]["sheet"]) == (422, "bad_header", "资质表")


def test_export_writes_the_import_columns(client):
    t = token()
    create(client, f"杭州{t}导出建设有限公司", types=["construction"], district="西湖区")
    r = client.get(f"{API}/export", headers=ADMIN, params={"q": t})
    assert r.status_code == 200, r.text
    ws = load_workbook(io.BytesIO(r.content)).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0][:7]) == HEADER
    assert [row[1] for row in rows[1:]] == [f"杭州{t}导出建设有限公司"]
    assert rows[1][2] == "施工"
    assert [c.value for c in load_workbook(io.BytesIO(r.content))["资质"][1]][:2] == ["统一社会信用代码", "企业名称"]
    again = upload(client, r.content, "dry_run")  # an exported file imports again as it is
    assert (again.json()["valid"], again.json()["updated"]) == (True, 1), again.json()
    template = client.get(f"{API}/import/template", headers=ADMIN)
    assert template.status_code == 200
    dry = upload(client, template.content, "dry_run")
    assert dry.json()["valid"] is True, dry.json()  # the template's example rows are importable as they are
    assert (dry.json()["created"], dry.json()["qualifications_created"]) == (1, 1)


# -- merge ----------------------------------------------------------------------------------------------------------


def _id_number(n: int) -> str:
    """A valid resident ID number (the expert pool is a view of the personnel register, which checks them)."""
    from stdnum.cn import ric

    body = f"33010619850202{n:03d}"
    return body + ric.calc_check_digit(body + "0")


def test_merge_moves_every_linked_record(client, engine):
    kept = create(client, "杭州合并保留建设有限公司", types=["construction"])
    gone = create(
        client, "杭州合并去除建设有限公司", types=["supervision"], legal_rep="赵法人", address="杭州市余杭区1号"
    )
    other = create(client, "杭州合并无关建设有限公司")
    for e, number, to in ((kept, "D1", "2030-01-01"), (gone, "D2", "2031-01-01"), (gone, "D1", "2029-01-01")):
        r = client.post(
            f"{API}/{e['uscc']}/qualifications",
            headers=ADMIN,
            json={"category": "建筑工程施工总承包", "grade": "二级", "number": number, "valid_to": to},
        )
        assert r.status_code == 201, r.text
    g, k, o = gone["uscc"], kept["uscc"], other["uscc"]
    tag = secrets.token_hex(4)
    with engine.begin() as conn:
        for i, (b, c, s) in enumerate(((g, o, o), (o, g, o), (o, o, g), (g, g, k))):
            conn.execute(
                sa.text(
                    "INSERT INTO projects (code, name, builder_uscc, construction_uscc, supervision_uscc) "
                    "VALUES (:code, '合并测试项目', :b, :c, :s)"
                ),
                {"code": f"M-{tag}-{i}", "b": b, "c": c, "s": s},
            )
        conn.execute(
            sa.text("INSERT INTO organisations (name, kind, uscc) VALUES ('合并去除单位', 'enterprise', :u)"), {"u": g}
        )
        for kind, code in (("enterprise", g), ("enterprise", g), ("person", g)):
            conn.execute(
                sa.text(
                    "INSERT INTO credit_events (subject_kind, subject_code, subject_name, event_type, polarity, points, "
                    "reason, source, occurred_on) VALUES (:k, :c, '合并', 'penalty', 'bad', 2, '测试', 'test', '2026-10-01')"
                ),
                {"k": kind, "c": code},
            )
        conn.execute(
            sa.text(
                "INSERT INTO experts (name, id_number, phone, group_name, enterprise_name, enterprise_uscc) "
                "VALUES ('合并专家', :idn, '13900000000', '房屋建筑', '合并去除', :u)"
            ),
            {"idn": _id_number(int(tag, 16) % 1000), "u": g},
        )

    def holding(code: str) -> dict:
        return {
            "builder": count(engine, "SELECT count(*) FROM projects WHERE builder_uscc = :u", u=code),
            "construction": count(engine, "SELECT count(*) FROM projects WHERE construction_uscc = :u", u=code),
            "supervision": count(engine, "SELECT count(*) FROM projects WHERE supervision_uscc = :u", u=code),
            "organisations": count(engine, "SELECT count(*) FROM organisations WHERE uscc = :u", u=code),
            "credit": count(
                engine,
                "SELECT count(*) FROM credit_events WHERE subject_kind = 'enterprise' AND subject_code = :u",
                u=code,
            ),
            "experts": count(engine, "SELECT count(*) FROM experts WHERE enterprise_uscc = :u", u=code),
        }

    before_kept, before_gone = holding(k), holding(g)
    assert before_gone == {
        "builder": 2,
        "construction": 2,
        "supervision": 1,
        "organisations": 1,
        "credit": 2,
        "experts": 1,
    }
    r = client.post(f"{API}/{k}/merge", headers=ADMIN, json={"merged_uscc": k})
    assert (r.status_code, r.json()["code"]) == (422, "same_enterprise")
    r = client.post(f"{API}/{k}/merge", headers=ADMIN, json={"merged_uscc": g, "reason": "同一企业重复登记"})
    assert r.status_code == 200, r.text
    moved = r.json()["moved"]
    assert moved["projects.builder_uscc"] == 2 and moved["organisations.uscc"] == 1
    assert (
        moved["enterprise_qualifications.enterprise_id"] == 1 and moved["enterprise_qualifications.already_held"] == 1
    )
    after_kept = holding(k)
    assert holding(g) == {key: 0 for key in before_gone}
    assert after_kept == {key: before_kept[key] + before_gone[key] for key in before_kept}  # nothing lost
    assert (
        count(engine, "SELECT count(*) FROM credit_events WHERE subject_kind = 'person' AND subject_code = :u", u=g)
        == 1
    )
    assert count(engine, "SELECT count(*) FROM enterprises WHERE uscc = :u", u=g) == 0
    detail = client.get(f"{API}/{k}", headers=ADMIN).json()
    assert sorted(q["number"] for q in detail["qualifications"]) == ["D1", "D2"]
    assert (detail["legal_rep"], detail["types"]) == ("赵法人", ["construction", "supervision"])  # filled in
    assert detail["projects"]["total"] == 4 and detail["credit_events"]["total"] == 2
    assert [m["merged_uscc"] for m in detail["merges"]] == [g]
    with engine.connect() as conn:
        log = conn.execute(
            sa.text("SELECT merged, moved, by FROM enterprise_merges WHERE merged_uscc = :u"), {"u": g}
        ).one()
        audit = conn.execute(
            sa.text(
                "SELECT detail FROM audit_log WHERE action = 'merge' AND layer = 'enterprises' ORDER BY id DESC LIMIT 1"
            )
        ).scalar_one()
    assert log.merged["name"] == "杭州合并去除建设有限公司" and len(log.merged["qualifications"]) == 2
    assert log.moved == moved and log.by == "test-admin"
    assert (audit["kept_uscc"], audit["merged_uscc"]) == (k, g)
    again = client.post(f"{API}/{k}/merge", headers=ADMIN, json={"merged_uscc": g})
    assert (again.status_code, again.json()["field"]) == (404, "merged_uscc")


def test_merge_needs_a_city_wide_account(client, engine):
    a, b = create(client, "杭州区县合并甲有限公司"), create(client, "杭州区县合并乙有限公司")
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO roles (name, title, scope) VALUES ('ent_district_editor', '区县名录编辑', 'district') "
                    "ON CONFLICT DO NOTHING")
        )  # fmt: skip
        conn.execute(
            sa.text("INSERT INTO role_permissions VALUES ('ent_district_editor', 'registers.*') ON CONFLICT DO NOTHING")
        )
    editor = make_user("ent-district-editor", ["ent_district_editor"], district="西湖区")
    r = client.post(f"{API}/{a['uscc']}/merge", headers=editor, json={"merged_uscc": b["uscc"]})
    assert (r.status_code, r.json()["code"]) == (403, "merge_needs_city_scope")
    assert count(engine, "SELECT count(*) FROM enterprises WHERE uscc = :u", u=b["uscc"]) == 1


def test_a_district_account_writes_only_its_districts_enterprises(client, engine):
    ours = create(client, "杭州西湖辖区建设有限公司", district="西湖区")
    theirs = create(client, "杭州余杭辖区建设有限公司", district="余杭区")
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO roles (name, title, scope) VALUES ('ent_district_editor', '区县名录编辑', 'district') "
                    "ON CONFLICT DO NOTHING")
        )  # fmt: skip
        conn.execute(
            sa.text("INSERT INTO role_permissions VALUES ('ent_district_editor', 'registers.*') ON CONFLICT DO NOTHING")
        )
    editor = make_user("ent-district-editor", ["ent_district_editor"], district="西湖区")
    assert client.get(f"{API}/{theirs['uscc']}", headers=editor).status_code == 200  # city-wide reference data
    r = client.patch(f"{API}/{ours['uscc']}", headers=editor, json={"version": 1, "legal_rep": "西湖法人"})
    assert (r.status_code, r.json()["legal_rep"]) == (200, "西湖法人")
    for call in (
        lambda: client.patch(f"{API}/{theirs['uscc']}", headers=editor, json={"version": 1, "legal_rep": "越权"}),
        lambda: client.patch(f"{API}/{ours['uscc']}", headers=editor, json={"version": 2, "district": "余杭区"}),
        lambda: client.post(API, headers=editor, json={"uscc": new_uscc(), "name": "越权登记", "district": "余杭区"}),
        lambda: client.post(
            f"{API}/{theirs['uscc']}/qualifications", headers=editor, json={"category": "x", "number": "X-1"}
        ),
    ):
        r = call()
        assert (r.status_code, r.json()["code"], r.json()["field"]) == (403, "out_of_scope", "district"), r.text
    assert client.get(f"{API}/{theirs['uscc']}", headers=ADMIN).json()["version"] == 1
    assert client.get(f"{API}/{ours['uscc']}", headers=ADMIN).json()["district"] == "西湖区"


def test_both_accounts_block_a_merge(client, engine):
    a, b = create(client, "杭州双账号甲有限公司"), create(client, "杭州双账号乙有限公司")
    with engine.begin() as conn:
        for e in (a, b):
            conn.execute(
                sa.text("INSERT INTO organisations (name, kind, uscc) VALUES (:n, 'enterprise', :u)"),
                {"n": e["name"], "u": e["uscc"]},
            )
    r = client.post(f"{API}/{a['uscc']}/merge", headers=ADMIN, json={"merged_uscc": b["uscc"]})
    assert (r.status_code, r.json()["code"]) == (409, "both_have_accounts")
    assert count(engine, "SELECT count(*) FROM enterprises WHERE uscc = :u", u=b["uscc"]) == 1


# -- qualifications, search, detail ---------------------------------------------------------------------------------


def test_expired_qualifications_are_flagged(client):
    t = token()
    e = create(client, f"杭州{t}资质检测有限公司", types=["testing"])
    lapsed = (date.today() - timedelta(days=3)).isoformat()
    later = (date.today() + timedelta(days=300)).isoformat()
    for number, valid_to in (("Q-OLD", lapsed), ("Q-NEW", later)):
        r = client.post(
            f"{API}/{e['uscc']}/qualifications",
            headers=ADMIN,
            json={
                "category": "建设工程质量检测机构",
                "grade": "综合类",
                "number": number,
                "valid_from": "2020-01-01",
                "valid_to": valid_to,
            },
        )
        assert r.status_code == 201, r.text
    flags = {
        q["number"]: q["expired"] for q in client.get(f"{API}/{e['uscc']}", headers=ADMIN).json()["qualifications"]
    }
    assert flags == {"Q-OLD": True, "Q-NEW": False}
    listed = client.get(API, headers=ADMIN, params={"q": t, "expired": True}).json()
    assert [(i["uscc"], i["expired_qualifications"], i["qualifications"]) for i in listed["items"]] == [
        (e["uscc"], 1, 2)
    ]
    assert client.get(API, headers=ADMIN, params={"q": t, "expired": False}).json()["total"] == 0
    bad = client.post(
        f"{API}/{e['uscc']}/qualifications",
        headers=ADMIN,
        json={"category": "x", "number": "Q-BAD", "valid_from": "2026-01-01", "valid_to": "2025-01-01"},
    )
    assert (bad.status_code, bad.json()["field"]) == (422, "valid_to")
    dup = client.post(f"{API}/{e['uscc']}/qualifications", headers=ADMIN, json={"category": "x", "number": "Q-OLD"})
    assert (dup.status_code, dup.json()["code"]) == (409, "duplicate_qualification")


def test_chinese_substring_search(client, engine):
    t = token()
    names = [f"杭州{t}建工集团有限公司", f"浙江{t}工程监理有限公司", f"杭州{t[::-1]}建设有限公司"]
    made = [
        create(client, n, types=[ty], district=d)
        for n, ty, d in zip(names, ["construction", "supervision", "construction"], ["西湖区", "余杭区", "西湖区"])
    ]

    def found(**params) -> list[str]:
        r = client.get(API, headers=ADMIN, params={"limit": 50, **params})
        assert r.status_code == 200, r.text
        return sorted(i["name"] for i in r.json()["items"])

    assert found(q=t) == sorted(names[:2])  # two characters, in the middle of the name
    assert found(q=f"{t}建工") == [names[0]]
    assert found(q=t, type="supervision") == [names[1]]
    assert found(q=t, district="西湖区") == [names[0]]
    assert found(q=made[2]["uscc"]) == [names[2]]  # the code itself
    assert found(q="%_") == []  # wildcards are literal
    refused = client.get(API, headers=ADMIN, params={"type": "bank"})
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_type")
    # The two-character search is served by the bigram index (as the app's role, under row-level security).
    with engine.connect() as conn:
        conn.execute(sa.text("SET LOCAL ROLE chengjian_app"))
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            conn.execute(
                sa.text(
                    "EXPLAIN SELECT id FROM enterprises WHERE chengjian_bigrams(name) @> chengjian_bigrams(:q) "
                    "AND name ILIKE '%' || :q || '%'"
                ),
                {"q": t},
            ).scalars()
        )
    assert "enterprises_name_bigram_idx" in plan, plan


def test_name_search_pages_and_totals_match_ilike(client, engine):
    """The page (bigram condition, name order) and the total (counted apart with strpos) are exactly what
    ``name ILIKE '%q%'`` selects, for common and rare terms, one to three characters, with Latin letters in any
    case; paging walks the same order."""
    t = token()
    for n in ("Abc有限公司", "aBC工程有限公司", "杭州建工有限公司", "甲建工乙"):
        create(client, f"{n}{t}")
    for term in ("公司", "有限", "建工", f"abc{t}"[:5], "ABC", "建", f"建工有限公司{t}", "c工"):
        with engine.connect() as conn:
            truth = (
                conn.execute(
                    sa.text("SELECT name FROM enterprises WHERE name ILIKE :p ORDER BY name, id"), {"p": f"%{term}%"}
                )
                .scalars()
                .all()
            )
        first = client.get(API, headers=ADMIN, params={"q": term, "limit": 7}).json()
        assert first["total"] == len(truth), term
        assert [i["name"] for i in first["items"]] == truth[:7], term
        later = client.get(API, headers=ADMIN, params={"q": term, "limit": 7, "offset": 7}).json()
        assert later["total"] == len(truth) and [i["name"] for i in later["items"]] == truth[7:14], term


def test_detail_has_track_record_market_behaviour_and_links(client, engine):
    from geo import records

    e = create(client, "杭州业绩记录建设有限公司", types=["construction"], legal_rep="钱法人", tech_lead="孙工")
    tag = secrets.token_hex(4)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO projects (code, name, construction_uscc, district) VALUES (:c, '业绩项目', :u, '西湖区')"
            ),
            {"c": f"D-{tag}", "u": e["uscc"]},
        )
        conn.execute(
            sa.text(
                "INSERT INTO credit_events (subject_kind, subject_code, subject_name, event_type, polarity, points, reason, "
                "source, occurred_on) VALUES ('enterprise', :u, '业绩', 'st_award', 'good', 3, '获评标化工地', 'test', "
                "'2026-09-01')"
            ),
            {"u": e["uscc"]},
        )
    d = client.get(f"{API}/{e['uscc']}", headers=ADMIN).json()
    assert d["principals"] == {"legal_rep": "钱法人", "tech_lead": "孙工"}
    assert [(p["name"], p["roles"]) for p in d["projects"]["items"]] == [("业绩项目", ["施工单位"])]
    assert [c["reason"] for c in d["credit_events"]["items"]] == ["获评标化工地"]
    assert d["record_url"] == f"/records/enterprises/{e['uscc']}"
    kind = records.get_kind("enterprises")
    assert (kind.key, kind.view, kind.module) == ("uscc", "registers.view", "enterprises")
    titles = {(link.table, link.column) for link in records.links_to("enterprises")}
    assert {
        ("enterprise_qualifications", "enterprise_id"),
        ("projects", "builder_uscc"),
        ("projects", "construction_uscc"),
        ("projects", "supervision_uscc"),
        ("organisations", "uscc"),
    } <= titles
    missing = client.get(f"{API}/{new_uscc()}", headers=ADMIN)
    assert (missing.status_code, missing.json()["code"]) == (404, "enterprise_not_found")


# -- permissions ----------------------------------------------------------------------------------------------------


def test_permissions(client):
    from geo import modules

    declared = modules.permissions()
    assert {
        p: declared[p][1] for p in ("registers.view", "registers.edit", "registers.import", "registers.export")
    } == {
        "registers.view": "数据中心",
        "registers.edit": "数据中心",
        "registers.import": "数据中心",
        "registers.export": "数据中心",
    }
    e = create(client, "杭州权限检查有限公司")
    for method, path, kw in (
        ("GET", API, {}),
        ("GET", f"{API}/{e['uscc']}", {}),
        ("GET", f"{API}/meta", {}),
        ("GET", f"{API}/export", {}),
        ("POST", API, {"json": {"uscc": new_uscc(), "name": "无权登记"}}),
    ):
        r = client.request(method, path, headers=PUBLIC, **kw)
        assert (r.status_code, r.json()["code"]) == (403, "forbidden"), path
        assert r.json()["detail"]["permission"].startswith("registers.")
    assert client.get(API).status_code == 401  # not signed in
    # The leader reads and exports but does not edit.
    assert client.get(f"{API}/{e['uscc']}", headers=LEADER).status_code == 200
    assert client.get(f"{API}/export", headers=LEADER, params={"q": "权限检查"}).status_code == 200
    r = client.patch(f"{API}/{e['uscc']}", headers=LEADER, json={"version": 1, "name": "改名"})
    assert (r.status_code, r.json()["detail"]["permission"]) == (403, "registers.edit")
    assert client.get(f"{API}/meta", headers=LEADER).json()["can"] == {
        "edit": False,
        "import": False,
        "export": True,
        "merge": False,
    }


# -- demo -----------------------------------------------------------------------------------------------------------


def test_the_demo_seeds_20000_valid_enterprises(engine):
    from layers.enterprises import demo
    from layers.standard_sites.demo import uscc_for

    assert demo.site_unit_uscc("浙江中盛建设集团有限公司") == uscc_for("浙江中盛建设集团有限公司")
    rows, quals = demo.demo_enterprises()
    codes = [r[0] for r in rows]
    assert len(set(codes)) == 20_000 and len({r[1] for r in rows}) == 20_000
    assert all(uscc_mod.is_valid(c) for c in codes)
    assert {t for r in rows for t in r[2]} == set(demo.KINDS)
    assert sum(r[1].endswith("建工集团有限公司") for r in rows) > 100 and all(r[3] for r in rows)
    expired = sum(q[6] < demo.REF_DATE for q in quals)
    assert len(quals) >= 20_000 and 0.05 < expired / len(quals) < 0.25
    with engine.connect() as conn:
        tx = conn.begin()
        try:
            held = "SELECT count(*) FROM enterprises WHERE uscc = ANY(:c)"
            present = conn.execute(sa.text(held), {"c": codes}).scalar_one()  # an earlier demo load's
            assert demo._load(conn, rows, quals) == 20_000 - present
            assert conn.execute(sa.text(held), {"c": codes}).scalar_one() == 20_000
            stored = conn.execute(
                sa.text(
                    "SELECT count(*) FROM enterprise_qualifications q JOIN enterprises e ON e.id = q.enterprise_id "
                    "WHERE e.uscc = ANY(:c)"
                ),
                {"c": codes},
            ).scalar_one()
            assert stored == len(quals)
            assert demo._load(conn, rows, quals) == 0 and demo.seed_enterprises(conn, World(1, [], 0, "test")) == {
                "enterprises": 0
            }
        finally:
            tx.rollback()


# -- the page -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(app):
    with running_server(app) as base:
        yield base


def test_the_page_in_chromium(server, client, engine, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    assert os.path.exists(CHROMIUM)
    t = token()
    e = create(client, f"杭州{t}页面建工集团有限公司", types=["construction"], district="西湖区", legal_rep="林法人")
    r = client.post(
        f"{API}/{e['uscc']}/qualifications",
        headers=ADMIN,
        json={"category": "建筑工程施工总承包", "grade": "一级", "number": "P-1", "valid_to": "2020-12-31"},
    )
    assert r.status_code == 201
    make_user("ent-page-admin", ["admin"])
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900}).new_page()
            page.set_default_timeout(15_000)
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(f"{server}/registers/enterprises")
            login = page.locator("#login")
            login.locator("input[name=username]").fill("ent-page-admin")
            login.locator("input[name=password]").fill(TEST_PASSWORD)
            login.locator("button[type=submit]").click()
            app = page.locator("#app")
            expect(app).to_be_visible()
            app.locator("input[name=q]").fill(t)
            app.locator("form.filters button[type=submit]").click()
            row = app.locator("tbody tr", has_text=f"杭州{t}页面建工集团有限公司")
            expect(row).to_have_count(1)
            row.click()
            detail = page.locator("#detail")
            expect(detail).to_contain_text("林法人")
            expect(detail.locator("tr.expired")).to_contain_text("P-1")
            expect(detail.locator("h2 a")).to_have_attribute("href", f"/records/enterprises/{e['uscc']}")
            # Edit: the server's refusal shows at the field; a good value is saved.
            detail.locator("button#edit").click()
            form = page.locator("dialog form")
            form.locator("input[name=tech_lead]").fill("页面技术负责人")
            form.locator("button[type=submit]").click()
            expect(detail).to_contain_text("页面技术负责人")
            assert "null" not in detail.inner_text()
            # Creating with a wrong check character: the message at the code's field, nothing stored.
            page.locator("#create").click()
            form = page.locator("dialog form")
            form.locator("input[name=uscc]").fill(bad_check(new_uscc()))
            form.locator("input[name=name]").fill("杭州页面错误代码有限公司")
            form.locator("button[type=submit]").click()
            expect(form.locator(".field[data-field=uscc] .field-error")).to_contain_text("统一社会信用代码")
            page.locator("dialog .close").click()
            # Import: a bad row's number in the report.
            page.locator("#import").click()
            path = tmp_path / "企业.xlsx"
            path.write_bytes(xlsx([[bad_check(new_uscc()), "杭州页面导入有限公司", "施工", None, None, None, None]]))
            page.locator("dialog input[type=file]").set_input_files(str(path))
            page.locator("dialog button[type=submit]").click()
            expect(page.locator("dialog .report")).to_contain_text("第 2 行")
            page.locator("dialog .close").click()
            with page.expect_download() as dl:
                page.locator("#export").click()
            assert dl.value.suggested_filename.endswith(".xlsx")
        finally:
            browser.close()
    assert errors == []
    assert count(engine, "SELECT count(*) FROM enterprises WHERE name LIKE '杭州页面%导入%'") == 0
