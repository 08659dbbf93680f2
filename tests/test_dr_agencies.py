"""Review agencies (DR-01): added and edited as enterprises of the register (type review_agency) with a dr_agencies
row, the credit code checked (GB 32100), qualification scopes with validity, declared affiliations, every change
audited and listed; bad input refused with a Chinese 4xx and nothing stored — against the real PostGIS.

The helpers here (credit codes, agencies, applications) serve tests/test_dr_lottery.py too."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy import text
from stdnum.cn import uscc as stdnum_uscc

from tests.conftest import make_user

API = "/api/review"
_serial = itertools.count(1)
CREATED: list[int] = []  # the applications made here (removed by ``forget``)
PREFIX = "91330100LT"  # the credit codes of the enterprises made here


def code(n: int, prefix: str = "91330100LT") -> str:
    """A valid credit code (check character from python-stdnum) unique to these tests."""
    body = f"{prefix}{n:07d}"
    return body + stdnum_uscc.calc_check_digit(body)


def enterprise(engine, n: int, name: str, types: tuple[str, ...] = ("construction",)) -> str:
    c = code(n)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO enterprises (uscc, name, types, created_by) VALUES (:c, :n, :t, 'test') "
                "ON CONFLICT (uscc) DO NOTHING"
            ),
            {"c": c, "n": name, "t": list(types)},
        )
    return c


def agency(engine, n: int, name: str, quals: list[dict] | None = None, active: bool = True) -> int:
    """An agency (enterprise + dr_agencies row) with qualifications (default: everything, valid this year)."""
    c = enterprise(engine, n, name, ("review_agency",))
    today = dt.date.today()
    with engine.begin() as conn:
        aid = conn.execute(
            text("INSERT INTO dr_agencies (uscc, active, created_by) VALUES (:c, :a, 'test') RETURNING id"),
            {"c": c, "a": active},
        ).scalar()
        for i, q in enumerate(
            quals
            if quals is not None
            else [{"categories": ["房屋建筑", "市政基础设施"], "grades": ["一类", "二类", "三类"], "contents": None}]
        ):
            conn.execute(
                text(
                    "INSERT INTO dr_qualifications (agency_id, certificate_no, categories, grades, max_floor_area_m2, "
                    "contents, valid_from, valid_to) VALUES (:a, :no, :c, :g, :m, :ct, :f, :t)"
                ),
                {
                    "a": aid,
                    "no": f"T-{aid}-{i}",
                    "c": q.get("categories") or ["房屋建筑", "市政基础设施"],
                    "g": q.get("grades") or ["一类", "二类", "三类"],
                    "m": q.get("max"),
                    "ct": q.get("contents") or ["general", "fire", "civil_defence", "meteorology"],
                    "f": q.get("valid_from", today - dt.timedelta(days=365)),
                    "t": q.get("valid_to", today + dt.timedelta(days=365)),
                },
            )
    return aid


def application(
    engine,
    builder: str,
    designer: str,
    district: str = "西湖区",
    category: str = "房屋建筑",
    grade: str = "二类",
    area: float | None = 20_000.0,
    contents: tuple[str, ...] = ("general", "fire"),
    status: str = "submitted",
) -> int:
    """A submitted application with its pin on the map."""
    n = next(_serial)
    with engine.begin() as conn:
        x, y = conn.execute(
            text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts WHERE name = :d) s"),
            {"d": district},
        ).one()
        pin = conn.execute(
            text(
                "INSERT INTO review_projects (geom, code, name, district, status) VALUES "
                "(ST_SetSRID(ST_MakePoint(:x, :y), 4326), :code, :name, :d, '待摇号') RETURNING id"
            ),
            {"x": x, "y": y, "code": f"LT-{n:06d}", "name": f"摇号测试项目{n}", "d": district},
        ).scalar()
        app_id = conn.execute(
            text(
                "INSERT INTO dr_applications (application_no, review_project_id, project_code, name, submission_name, "
                "builder_uscc, designer_uscc, review_category, grade, contents, floor_area_m2, district, status, "
                "submitted_at) VALUES (:no, :pin, :pc, :name, '施工图', :b, :dz, :c, :g, :ct, :a, :d, :s, now()) "
                "RETURNING id"
            ),
            {
                "no": f"LT{n:08d}-{pin}",
                "pin": pin,
                "pc": f"2026-330106-47-01-{n:06d}",
                "name": f"摇号测试项目{n}",
                "b": builder,
                "dz": designer,
                "c": category,
                "g": grade,
                "ct": list(contents),
                "a": area,
                "d": district,
                "s": status,
            },
        ).scalar()
    CREATED.append(app_id)
    return app_id


def forget(engine, first: int, last: int) -> None:
    """Remove what the tests made (applications with their pins and draws, agencies and enterprises numbered
    ``first``…``last``), so that the modules tested after these see the database as before."""
    codes = [code(n) for n in range(first, last + 1)]
    with engine.begin() as conn:
        pins = (
            conn.execute(
                text("DELETE FROM dr_applications WHERE id = ANY(:a) RETURNING review_project_id"), {"a": CREATED}
            )
            .scalars()
            .all()
        )
        conn.execute(text("DELETE FROM review_projects WHERE id = ANY(:p)"), {"p": pins})
        CREATED.clear()
        conn.execute(text("DELETE FROM dr_agencies WHERE uscc = ANY(:c)"), {"c": codes})
        conn.execute(text("DELETE FROM enterprises WHERE uscc = ANY(:c)"), {"c": codes})


def audit_rows(engine, layer: str, after_id: int) -> list:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT action, feature_id, detail FROM audit_log WHERE layer = :l AND id > :i ORDER BY id"),
            {"l": layer, "i": after_id},
        ).all()


def max_audit(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar()


@pytest.fixture(scope="module", autouse=True)
def cleanup(engine):
    yield
    forget(engine, 9000, 9099)


@pytest.fixture(scope="module")
def people():
    return {
        "config": make_user("dr_ag_supervisor", ["city_supervisor"]),
        "window": make_user("dr_ag_window", ["review_window"]),
        "outsider": make_user("dr_ag_construction", ["construction_unit"]),
    }


QUAL = {
    "certificate_no": "浙审字A-001",
    "categories": ["房屋建筑"],
    "grades": ["一类", "二类"],
    "max_floor_area_m2": 200000,
    "contents": ["general", "fire"],
    "valid_from": "2025-01-01",
    "valid_to": "2027-12-31",
}


def test_add_edit_qualify_and_list_an_agency(client, engine, people):
    mark = max_audit(engine)
    new = code(9001)
    body = {"uscc": new, "name": "杭州摇号测试审图中心", "address": "杭州市西湖区文三路 1 号", "legal_rep": "王一"}
    r = client.post(
        f"{API}/agencies", json={**body, "business_licence_no": "330100000000001"}, headers=people["config"]
    )
    assert r.status_code == 201, r.text
    a = r.json()
    assert (a["uscc"], a["name"], a["legal_rep"], a["business_licence_no"]) == (
        new,
        "杭州摇号测试审图中心",
        "王一",
        "330100000000001",
    )
    assert a["qualification_status"] == "未登记资质"
    with engine.connect() as conn:
        types = conn.execute(text("SELECT types FROM enterprises WHERE uscc = :c"), {"c": new}).scalar()
    assert types == ["review_agency"]  # an enterprise of the register with the agency type

    # The same code again: refused, nothing more stored.
    again = client.post(f"{API}/agencies", json=body, headers=people["config"])
    assert again.status_code == 409 and again.json()["code"] == "duplicate_agency"

    r = client.post(f"{API}/agencies/{a['id']}/qualifications", json=QUAL, headers=people["config"])
    assert r.status_code == 201, r.text
    q = r.json()
    assert q["content_titles"] == ["施工图审查", "消防审查"] and q["expired"] is False

    r = client.patch(
        f"{API}/agencies/{a['id']}",
        json={"version": a["version"], "address": "杭州市西湖区文三路 2 号", "legal_rep": "李二"},
        headers=people["config"],
    )
    assert r.status_code == 200, r.text
    assert (r.json()["address"], r.json()["legal_rep"]) == ("杭州市西湖区文三路 2 号", "李二")
    stale = client.patch(
        f"{API}/agencies/{a['id']}", json={"version": a["version"], "name": "x"}, headers=people["config"]
    )
    assert stale.status_code == 409 and stale.json()["code"] == "stale_version"

    r = client.put(
        f"{API}/qualifications/{q['id']}",
        json={**QUAL, "version": q["version"], "valid_to": "2025-06-30"},
        headers=people["config"],
    )
    assert r.status_code == 200 and r.json()["expired"] is True

    listed = client.get(f"{API}/agencies", params={"q": "摇号测试审图"}, headers=people["window"]).json()["items"]
    assert [x["id"] for x in listed] == [a["id"]]
    assert listed[0]["qualification_status"] == "已过期"

    detail = client.get(f"{API}/agencies/{a['id']}", headers=people["window"]).json()
    objects = [(c["action"], c["object"]) for c in detail["changes"]]
    assert ("新增", "机构信息") in objects and ("修改", "企业库信息") in objects
    assert objects.count(("修改", "资质")) == 1 and ("新增", "资质") in objects
    assert {row.action for row in audit_rows(engine, "dr_qualifications", mark)} == {"create", "update"}
    assert [row.action for row in audit_rows(engine, "dr_agencies", mark)] == ["create", "update"]


def test_an_existing_enterprise_becomes_an_agency_only_under_its_register_name(client, engine, people):
    existing = enterprise(engine, 9002, "杭州既有设计院有限公司", ("survey_design",))
    r = client.post(f"{API}/agencies", json={"uscc": existing, "name": "别的名字"}, headers=people["config"])
    assert r.status_code == 409 and r.json()["code"] == "enterprise_name_mismatch"
    assert "杭州既有设计院有限公司" in r.json()["message"]
    r = client.post(
        f"{API}/agencies", json={"uscc": existing, "name": "杭州既有设计院有限公司"}, headers=people["config"]
    )
    assert r.status_code == 201, r.text
    with engine.connect() as conn:
        types = conn.execute(text("SELECT types FROM enterprises WHERE uscc = :c"), {"c": existing}).scalar()
    assert types == ["survey_design", "review_agency"]


def test_bad_input_is_refused_in_chinese_and_nothing_is_stored(client, engine, people):
    def count(table: str) -> int:
        with engine.connect() as conn:
            return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()

    before = (count("dr_agencies"), count("enterprises"), count("dr_qualifications"))
    bad_check = code(9003)[:-1] + ("0" if code(9003)[-1] != "0" else "1")
    r = client.post(f"{API}/agencies", json={"uscc": bad_check, "name": "校验位错误"}, headers=people["config"])
    assert r.status_code == 422 and r.json()["code"] == "invalid_uscc" and r.json()["field"] == "uscc"
    r = client.post(f"{API}/agencies", json={"uscc": code(9004), "name": "无权限"}, headers=people["window"])
    assert r.status_code == 403
    aid = agency(engine, 9005, "资质校验测试机构", quals=[])
    r = client.post(
        f"{API}/agencies/{aid}/qualifications",
        json={**QUAL, "valid_from": "2027-01-01", "valid_to": "2026-01-01"},
        headers=people["config"],
    )
    assert r.status_code == 422 and r.json()["field"] == "valid_to" and "有效期" in r.json()["message"]
    r = client.post(f"{API}/agencies/{aid}/qualifications", json={**QUAL, "grades": ["四类"]}, headers=people["config"])
    assert r.status_code == 422 and r.json()["code"] == "invalid_choice" and "四类" in r.json()["message"]
    r = client.post(
        f"{API}/agencies/{aid}/affiliations",
        json={"uscc": code(9006), "relation": "同一控股股东"},
        headers=people["config"],
    )
    assert r.status_code == 422 and r.json()["code"] == "unknown_enterprise"
    assert (count("dr_agencies"), count("enterprises"), count("dr_qualifications")) == (
        before[0] + 1,
        before[1] + 1,
        before[2],
    )  # only the helper's agency


def test_affiliations_are_declared_audited_and_removed(client, engine, people):
    mark = max_audit(engine)
    aid = agency(engine, 9007, "关联声明测试机构")
    other = enterprise(engine, 9008, "关联的设计公司", ("survey_design",))
    r = client.post(
        f"{API}/agencies/{aid}/affiliations", json={"uscc": other, "relation": "同一控股股东"}, headers=people["config"]
    )
    assert r.status_code == 201, r.text
    dup = client.post(
        f"{API}/agencies/{aid}/affiliations", json={"uscc": other, "relation": "再次"}, headers=people["config"]
    )
    assert dup.status_code == 409
    detail = client.get(f"{API}/agencies/{aid}", headers=people["config"]).json()
    assert [(x["uscc"], x["relation"], x["name"]) for x in detail["affiliations"]] == [
        (other, "同一控股股东", "关联的设计公司")
    ]
    assert client.delete(f"{API}/affiliations/{r.json()['id']}", headers=people["config"]).status_code == 204
    assert [row.action for row in audit_rows(engine, "dr_affiliations", mark)] == ["create", "delete"]
    assert all(row.detail == {"agency_id": aid} for row in audit_rows(engine, "dr_affiliations", mark))


def test_reading_needs_a_review_right(client, people):
    assert client.get(f"{API}/agencies", headers=people["outsider"]).status_code == 403
    assert client.get(f"{API}/agencies").status_code == 401
    meta = client.get(f"{API}/agencies/meta", headers=people["window"]).json()
    assert meta["can"]["edit"] is False and meta["grades"] == ["一类", "二类", "三类"]
