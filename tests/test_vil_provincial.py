"""The provincial stock importer (VT-12): documented columns, de-duplication on the provincial code, re-runs that
update and never duplicate, a report, and all or nothing on bad rows — against the real PostGIS."""

from __future__ import annotations

import csv
import uuid

import pytest
from sqlalchemy import text

from layers.villages.provincial import import_provincial

HEADER = [
    "农房编码",
    "区县",
    "乡镇街道",
    "行政村",
    "地址",
    "户主姓名",
    "户主身份证号",
    "层数",
    "结构类型",
    "建成年份",
    "建筑面积",
    "经度",
    "纬度",
]


def _code(tag: str, i: int) -> str:
    return f"330110{tag}{i:04d}"


def _row(tag: str, i: int, **over) -> list[str]:
    values = {
        "农房编码": _code(tag, i),
        "区县": "余杭区",
        "乡镇街道": "径山镇",
        "行政村": "小古城村",
        "地址": f"余杭区径山镇小古城村{i}号",
        "户主姓名": "王建国",
        "户主身份证号": "330106198501011231",
        "层数": "3",
        "结构类型": "砖混",
        "建成年份": "1998",
        "建筑面积": "245.5",
        "经度": f"{119.85 + i * 0.001:.6f}",
        "纬度": "30.38",
    } | over
    return [values[h] for h in HEADER]


def _write(path, rows, header=HEADER, bom=True):
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def tag(engine):
    tag = uuid.uuid4().hex[:8].upper()
    yield tag
    with engine.begin() as conn:  # the houses of this test only
        conn.execute(text("DELETE FROM farmhouses WHERE provincial_code LIKE :p"), {"p": f"330110{tag}%"})


def _houses(engine, tag):
    with engine.connect() as conn:
        return {
            r.provincial_code: r
            for r in conn.execute(
                text(
                    "SELECT id, code, provincial_code, district, floors, structure, status, source, owner_id_number, "
                    "version, deleted_at, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM farmhouses "
                    "WHERE provincial_code LIKE :p"
                ),
                {"p": f"330110{tag}%"},
            )
        }


def test_import_then_rerun_updates_and_never_duplicates(tmp_path, engine, tag):
    path = _write(tmp_path / "zj.csv", [_row(tag, i) for i in range(5)])
    first = import_provincial(path, "test-province")
    assert first["status"] == "done", first
    assert (first["rows"], first["inserted"], first["updated"], first["unchanged"]) == (5, 5, 0, 0)
    assert first["by_district"] == {"余杭区": 5} and first["ignored_columns"] == []
    steps = first["steps"]  # where the time went, step by step (bench/provincial.py prints them)
    assert list(steps)[:3] == ["copy", "prepare", "check"] and {"merge", "commit"} <= set(steps)
    assert all(v >= 0 for v in steps.values()) and sum(steps.values()) - steps["commit"] <= first["seconds"] + 0.01
    houses = _houses(engine, tag)
    assert len(houses) == 5
    h = houses[_code(tag, 2)]
    assert (h.code, h.status, h.source, h.floors, h.structure) == (_code(tag, 2), "存量", "province", 3, "砖混")
    assert h.owner_id_number == "330106198501011231" and abs(h.lon - 119.852) < 1e-9 and h.lat == 30.38

    again = import_provincial(path, "test-province")
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 5)
    assert len(_houses(engine, tag)) == 5

    # The city moved one house on (under construction): a newer export updates its data and keeps that.
    with engine.begin() as conn:
        conn.execute(text("UPDATE farmhouses SET status = '在建' WHERE id = :i"), {"i": h.id})
    rows = [_row(tag, i) for i in range(5)] + [_row(tag, 5)]
    rows[2] = _row(tag, 2, 层数="4", 纬度="30.39")
    third = import_provincial(_write(tmp_path / "zj2.csv", rows), "test-province")
    assert (third["rows"], third["inserted"], third["updated"], third["unchanged"]) == (6, 1, 1, 4)
    houses = _houses(engine, tag)
    assert len(houses) == 6
    changed = houses[_code(tag, 2)]
    assert (changed.id, changed.floors, changed.lat, changed.status) == (h.id, 4, 30.39, "在建")
    assert changed.version == h.version + 1
    with engine.connect() as conn:
        runs = conn.execute(
            text("SELECT status, rows, inserted, updated FROM vil_provincial_imports WHERE id = ANY(:ids) ORDER BY id"),
            {"ids": [first["id"], again["id"], third["id"]]},
        ).all()
        logged = conn.execute(
            text("SELECT actor, detail FROM audit_log WHERE action = 'vil_provincial_import' ORDER BY id DESC LIMIT 1")
        ).one()
    assert [tuple(r) for r in runs] == [("done", 5, 5, 0), ("done", 5, 0, 0), ("done", 6, 1, 1)]
    assert logged.actor == "test-province" and logged.detail["inserted"] == 1


def test_bad_rows_refuse_the_whole_file_by_row_number(tmp_path, engine, tag):
    good = _row(tag, 1)
    rows = [
        good,
        _row(tag, 2, 层数="十"),
        _row(tag, 3, 区县="苏州市"),
        _row(tag, 1),  # the same provincial code again
        _row(tag, 4, 经度=""),
        _row(tag, 5, 建成年份="1850", 结构类型="钢结构"),
        _row(tag, 6, 户主身份证号="3301101980"),
        _row(tag, 7, 户主身份证号="330106198501011232"),
        _row(tag, 8, 区县="建德市"),  # a point of 余杭区
    ]
    report = import_provincial(_write(tmp_path / "bad.csv", rows), "test-province")
    assert report["status"] == "refused" and report["code"] == "rows_refused"
    assert report["refused_rows"] == 8
    got = {(p["row"], p["field"], p["code"]) for p in report["problems"]}
    assert got == {
        (3, "层数", "not_a_number"),
        (4, "区县", "not_a_district"),
        (5, "农房编码", "duplicate_code"),
        (6, "经度", "required"),
        (7, "建成年份", "out_of_range"),
        (7, "结构类型", "not_a_choice"),
        (8, "户主身份证号", "bad_format"),
        (9, "户主身份证号", "bad_check_digit"),
        (10, "区县", "district_mismatch"),
    }
    assert any("苏州市" in p["message"] and "第 4 行" in p["message"] for p in report["problems"])
    assert _houses(engine, tag) == {}  # not even the good row
    assert any(p["message"].endswith("：3301**1980") for p in report["problems"])  # personal data masked
    with engine.connect() as conn:
        status, problems = conn.execute(
            text("SELECT status, problem_count FROM vil_provincial_imports WHERE id = :i"), {"i": report["id"]}
        ).one()
    assert (status, problems) == ("refused", 8)


def test_file_shape_problems_are_refused(tmp_path, engine, tag):
    missing = _write(tmp_path / "missing.csv", [r[:-1] for r in [_row(tag, 1)]], header=HEADER[:-1])
    r = import_provincial(missing, "test-province")
    assert r["status"] == "refused" and r["code"] == "missing_column" and "纬度" in r["message"]

    ragged = tmp_path / "ragged.csv"
    _write(ragged, [_row(tag, 1), _row(tag, 2) + ["多余"], _row(tag, 3)])
    r = import_provincial(ragged, "test-province")
    assert r["status"] == "refused" and r["code"] == "bad_row_shape" and r["problems"][0]["row"] == 3

    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes(("农房编码,区县,经度,纬度\n" + f"{_code(tag, 1)},余杭区,119.9,30.3\n").encode("gbk"))
    r = import_provincial(gbk, "test-province")
    assert r["status"] == "refused" and r["code"] == "not_utf8"

    empty = _write(tmp_path / "empty.csv", [])
    assert import_provincial(empty, "test-province")["code"] == "empty_file"
    assert _houses(engine, tag) == {}


def test_field_names_extra_columns_and_deleted_houses(tmp_path, engine, tag):
    header = ["provincial_code", "district", "lon", "lat", "备注"]
    rows = [[_code(tag, i), "建德市", "119.28", f"29.4{i}", "省系统备注"] for i in range(3)]
    path = _write(tmp_path / "min.csv", rows, header=header, bom=False)
    r = import_provincial(path, "test-province")
    assert r["status"] == "done" and r["inserted"] == 3 and r["ignored_columns"] == ["备注"]
    quoted = tmp_path / "quoted.csv"  # a quoted empty field is blank as an unquoted one
    quoted.write_text(f'农房编码,区县,户主姓名,经度,纬度\n{_code(tag, 7)},建德市,"",119.28,29.45\n', encoding="utf-8")
    assert import_provincial(quoted, "test-province")["inserted"] == 1
    with engine.connect() as conn:
        owner = conn.execute(text("SELECT owner_name FROM farmhouses WHERE provincial_code = :c"), {"c": _code(tag, 7)})
        assert owner.scalar_one() is None
    blank_code = tmp_path / "blank.csv"
    blank_code.write_text('农房编码,区县,经度,纬度\n"",建德市,119.28,29.45\n', encoding="utf-8")
    assert import_provincial(blank_code, "test-province")["problems"][0]["code"] == "required"
    houses = _houses(engine, tag)
    gone = houses[_code(tag, 0)]
    with engine.begin() as conn:
        conn.execute(text("UPDATE farmhouses SET deleted_at = now() WHERE id = :i"), {"i": gone.id})
    rows[0][3] = "29.48"
    r = import_provincial(_write(path, rows, header=header), "test-province")
    assert (r["inserted"], r["updated"], r["unchanged"], r["kept_deleted"]) == (0, 0, 2, 1)
    again = _houses(engine, tag)[_code(tag, 0)]
    assert again.deleted_at is not None and again.lat == gone.lat


def test_a_provincial_code_taken_as_another_houses_code_is_refused(tmp_path, engine, tag):
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO farmhouses (code, district, geom) VALUES (:c, '余杭区', ST_SetSRID(ST_MakePoint(119.9, 30.3), 4326))"
            ),
            {"c": _code(tag, 9)},
        )
    r = import_provincial(_write(tmp_path / "taken.csv", [_row(tag, 9)]), "test-province")
    assert r["status"] == "refused" and r["problems"][0]["code"] == "code_taken"
    # Once that house is known by its provincial code, the same row updates it.
    with engine.begin() as conn:
        conn.execute(text("UPDATE farmhouses SET provincial_code = code WHERE code = :c"), {"c": _code(tag, 9)})
    r = import_provincial(_write(tmp_path / "taken.csv", [_row(tag, 9)]), "test-province")
    assert (r["status"], r["inserted"], r["updated"]) == ("done", 0, 1)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM farmhouses WHERE code = :c"), {"c": _code(tag, 9)})


def test_the_command_line(tmp_path, engine, tag, capsys):
    from etl.cli import main

    path = _write(tmp_path / "cli.csv", [_row(tag, i) for i in range(2)])
    assert main(["villages", "import-provincial", str(path)]) == 0
    out = capsys.readouterr().out
    assert "新增 2" in out and "余杭区\t2" in out
    bad = _write(tmp_path / "cli-bad.csv", [_row(tag, 3, 层数="0")])
    assert main(["villages", "import-provincial", str(bad)]) == 1
    assert "第 2 行「层数」应在 1 到 10 之间：0" in capsys.readouterr().err
    assert main(["villages", "import-provincial", str(tmp_path / "none.csv")]) == 2


def test_the_reports_over_http(client, tmp_path, tag):
    from tests.conftest import ADMIN, make_user

    done = import_provincial(_write(tmp_path / "http.csv", [_row(tag, 1)]), "test-province")
    refused = import_provincial(_write(tmp_path / "http-bad.csv", [_row(tag, 2, 层数="0")]), "test-province")
    listed = client.get("/api/villages/provincial/imports", params={"limit": 100}, headers=ADMIN)
    assert listed.status_code == 200
    runs = {r["id"]: r for r in listed.json()["imports"]}
    assert runs[done["id"]]["status"] == "done" and runs[done["id"]]["inserted"] == 1
    assert runs[refused["id"]]["status"] == "refused" and runs[refused["id"]]["problem_count"] == 1
    one = client.get(f"/api/villages/provincial/imports/{refused['id']}", headers=ADMIN).json()
    assert one["report"]["problems"][0]["field"] == "层数"
    assert client.get("/api/villages/provincial/imports/999999999", headers=ADMIN).status_code == 404
    assert client.get("/api/villages/provincial/imports").status_code == 401
    contractor = make_user("prov-builder", ["construction_unit"])
    assert client.get("/api/villages/provincial/imports", headers=contractor).status_code == 403
