"""Dangerous rural houses (VT-06…10) over HTTP against the real PostGIS: a county without a system of its own
(建德市) enters houses by form and by Excel, only for itself; another county neither sees nor writes them; the
archive is searched and counted by every declared field (figures recomputed here from the test's own rows); owner
name, ID number and phone are masked unless unmasked with ``person.unmask`` (logged); a linked farmhouse's summary
columns follow the archive; the counties' governance reports move a house forward only, and show in the overview
and the report statistics. Every test counts only its own rows (codes with the test's tag)."""

from __future__ import annotations

import io
import uuid
from datetime import date, timedelta

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import text
from stdnum.cn import ric

from tests.conftest import ADMIN, make_user

BASE = "/api/villages/dangerous"
JD, CA = "建德市", "淳安县"


def id_number(seq: int) -> str:
    body = f"330122{1960 + seq % 30}{1 + seq % 9:02d}{10 + seq % 18:02d}{seq % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def today() -> date:
    from layers.villages.dangerous import today as t

    return t()


@pytest.fixture(scope="module")
def world(engine, app):
    tag = uuid.uuid4().hex[:6].upper()
    info = {
        "tag": tag,
        "jd": make_user(f"vd-jd-{tag}", ["district_staff"], district=JD),
        "ca": make_user(f"vd-ca-{tag}", ["district_staff"], district=CA),
        "city": make_user(f"vd-city-{tag}", ["city_supervisor"]),
    }
    with engine.begin() as conn:
        for i, d in enumerate((JD, JD, CA)):
            conn.execute(
                text("""
                    INSERT INTO farmhouses (geom, code, owner_name, district, township, village, address, floors,
                                            structure, status, danger_grade, difficult_family)
                    SELECT ST_PointOnSurface(geom), :code, '王大明', :d, '新安江街道', '江滨村', :d || '江滨村1号', 2,
                           '砖木', '存量', 'A', false FROM districts WHERE name = :d
                """),
                {"code": f"NFT{tag}{i}", "d": d},
            )
    yield info


def house(world, n: int, **changes) -> dict:
    return {
        "code": f"WF{world['tag']}-{n:04d}",
        "district": JD,
        "township": "新安江街道",
        "village": "江滨村",
        "address": f"建德市江滨村{n}号",
        "lon": 119.28,
        "lat": 29.47,
        "owner_name": "李秀英",
        "owner_id_number": id_number(n),
        "owner_phone": "13912345678",
        "grade": "C",
        "appraised_on": "2025-03-01",
        "structure": "砖木",
        "floors": 2,
        "built_year": 1978,
        "method": "repair",
        "stage": "appraised",
        "stage_on": "2025-03-01",
        "year": 2026,
        **changes,
    }


def farmhouse(engine, code: str) -> dict:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                text("SELECT id, danger_grade, governance, difficult_family FROM farmhouses WHERE code = :c"),
                {"c": code},
            )
            .mappings()
            .one()
        )


def stored(engine, code: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM vil_dangerous WHERE code LIKE :c"), {"c": code + "%"}).scalar()


def test_a_county_enters_a_house_linked_to_its_farmhouse_and_the_farmhouse_follows(client, engine, world):
    body = house(world, 1, farmhouse_code=f"NFT{world['tag']}0", family="dibao", lon=None, lat=None)
    r = client.post(BASE, headers=world["jd"], json=body)
    assert r.status_code == 201, r.text
    got = r.json()
    # Personal data masked in the answer, even to the account that entered it.
    assert got["owner_name"] == "李**" and got["owner_phone"] == "139****5678"
    assert got["owner_id_number"] == body["owner_id_number"][:4] + "*" * 10 + body["owner_id_number"][-4:]
    assert got["farmhouse_code"] == f"NFT{world['tag']}0" and got["lon"] is not None  # the farmhouse's place
    assert got["stage_name"] == "已鉴定" and got["family_name"] == "低保户" and got["source"] == "entry"
    fh = farmhouse(engine, f"NFT{world['tag']}0")
    assert (fh["danger_grade"], fh["governance"], fh["difficult_family"]) == ("C", "未治理", True)
    with engine.connect() as conn:
        logged = conn.execute(
            text("SELECT after FROM audit_log WHERE layer = 'vil_dangerous' AND feature_id = :i AND action = 'create'"),
            {"i": got["id"]},
        ).scalar_one()
    assert logged["owner_name"] == "李**"  # the log keeps no personal data in clear
    # The same farmhouse cannot be the house of a second archive row.
    r = client.post(BASE, headers=world["jd"], json=house(world, 2, farmhouse_code=f"NFT{world['tag']}0"))
    assert r.status_code == 409 and r.json()["code"] == "farmhouse_linked", r.text
    # A farmhouse of another county cannot be linked (the county does not even see it).
    r = client.post(BASE, headers=world["jd"], json=house(world, 2, farmhouse_code=f"NFT{world['tag']}2"))
    assert r.status_code == 422 and r.json()["code"] == "farmhouse_not_found", r.text
    assert stored(engine, f"WF{world['tag']}-0002") == 0


def test_a_county_enters_only_its_own_houses_and_sees_only_them(client, engine, world):
    r = client.post(BASE, headers=world["jd"], json=house(world, 10, district=CA))
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "out_of_scope" and "建德市" in r.json()["message"]
    assert stored(engine, f"WF{world['tag']}-0010") == 0
    r = client.post(BASE, headers=world["jd"], json=house(world, 11))
    assert r.status_code == 201, r.text
    hid = r.json()["id"]
    # 淳安县 neither sees nor changes it; the city sees it.
    assert client.get(f"{BASE}/{hid}", headers=world["ca"]).status_code == 404
    r = client.get(BASE, headers=world["ca"], params={"code": f"WF{world['tag']}"})
    assert r.status_code == 200 and r.json()["total"] == 0
    r = client.patch(f"{BASE}/{hid}", headers=world["ca"], json={"version": 1, "grade": "D"})
    assert r.status_code == 404, r.text
    r = client.get(BASE, headers=world["city"], params={"code": f"WF{world['tag']}-0011"})
    assert r.json()["total"] == 1


@pytest.mark.parametrize(
    "changes, code, field",
    [
        ({"owner_id_number": "330182196001011234"}, "invalid_id_number", "owner_id_number"),
        ({"owner_phone": "12345"}, "invalid_phone", "owner_phone"),
        ({"grade": "E"}, "request_invalid", "grade"),
        ({"floors": 12}, "out_of_range", "floors"),
        ({"method": "magic"}, "unknown_method", "method"),
        ({"family": "rich"}, "unknown_family", "family"),
        ({"stage": "nowhere"}, "unknown_stage", "stage"),
        ({"lon": 119.3, "lat": None}, "incomplete_position", "lat"),
        ({"district": "火星区"}, "unknown_district", "district"),
    ],
)
def test_bad_input_is_refused_in_chinese_and_stores_nothing(client, engine, world, changes, code, field):
    r = client.post(BASE, headers=world["jd"], json=house(world, 20, **changes))
    assert r.status_code == 422, r.text
    body = r.json()
    assert (body["code"], body["field"]) == (code, field), body
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"])
    assert stored(engine, f"WF{world['tag']}-0020") == 0


def test_search_and_statistics_over_every_field(client, engine, world):
    rows = [
        house(world, 100 + i, grade=g, structure=s, floors=f, method=m, family=fam, owner_name=o, year=y)
        for i, (g, s, f, m, fam, o, y) in enumerate(
            [
                ("B", "砖混", 1, "repair", None, "张伟", 2025),
                ("C", "砖木", 2, "rebuild", "edge", "张小伟", 2026),
                ("D", "土木", 2, "relocate", "tekun", "赵强", 2026),
                ("D", "土木", 3, "replace", None, "钱多", 2026),
                ("C", "石结构", 1, "repair", "disabled", "孙伟", 2024),
            ]
        )
    ]
    for row in rows:
        r = client.post(BASE, headers=ADMIN, json=row)
        assert r.status_code == 201, r.text
    prefix = f"WF{world['tag']}-01"

    def codes(**params) -> set[str]:
        r = client.get(BASE, headers=world["city"], params={"code": prefix, "size": 200, **params})
        assert r.status_code == 200, r.text
        assert all(i["owner_name"].endswith("*") for i in r.json()["items"])
        return {i["code"] for i in r.json()["items"]}

    def expect(pred) -> set[str]:
        return {r["code"] for r in rows if pred(r)}

    assert codes(owner="伟") == expect(lambda r: "伟" in r["owner_name"])
    assert codes(grade=["C", "D"]) == expect(lambda r: r["grade"] in "CD")
    assert codes(structure="土木") == expect(lambda r: r["structure"] == "土木")
    assert codes(floors=2) == expect(lambda r: r["floors"] == 2)
    assert codes(method="repair") == expect(lambda r: r["method"] == "repair")
    assert codes(year=2026, district=JD) == expect(lambda r: r["year"] == 2026)
    assert codes(difficult=True) == expect(lambda r: r["family"] is not None)
    assert codes(family="tekun") == expect(lambda r: r["family"] == "tekun")
    assert codes(township="新安江街道", village="江滨村") == expect(lambda r: True)
    for by in ("grade", "structure", "floors", "method", "year", "family"):
        r = client.get(f"{BASE}/statistics", headers=world["city"], params={"code": prefix, "by": by})
        assert r.status_code == 200, r.text
        got = {i["key"]: (i["total"], i["difficult"]) for i in r.json()["items"]}
        want: dict = {}
        for row in rows:
            t, dfc = want.get(row[by], (0, 0))
            want[row[by]] = (t + 1, dfc + (row["family"] is not None))
        assert got == want, by
    r = client.get(f"{BASE}/statistics", headers=world["city"], params={"code": prefix, "by": "family"})
    labels = {i["key"]: i["label"] for i in r.json()["items"]}
    assert labels["edge"] == "低保边缘户" and labels[None] == "未填写"
    # The export: masked for the city (no person.unmask), with the names of the lists.
    r = client.get(f"{BASE}/export.xlsx", headers=world["city"], params={"code": prefix})
    assert r.status_code == 200, r.text
    ws = load_workbook(io.BytesIO(r.content)).active
    table = list(ws.iter_rows(values_only=True))
    assert len(table) == 1 + len(rows)
    head = table[0]
    by_code = {line[0]: dict(zip(head, line)) for line in table[1:]}
    one = by_code[rows[1]["code"]]
    assert one["户主姓名"] == "张**" and one["治理方式"] == "拆除重建" and one["困难家庭类别"] == "低保边缘户"
    assert "*" in one["身份证号"]
    # An administrator (person.unmask) exports in clear, and the operation log says so.
    r = client.get(f"{BASE}/export.xlsx", headers=ADMIN, params={"code": prefix, "owner": "张"})
    assert r.status_code == 200, r.text
    table = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert sorted(line[head.index("户主姓名")] for line in table[1:]) == ["张伟", "张小伟"]
    with engine.connect() as conn:
        logged = conn.execute(
            text("""SELECT detail FROM audit_log WHERE action = 'unmask' AND layer = 'vil_dangerous'
                     AND feature_id IS NULL ORDER BY id DESC LIMIT 1""")
        ).scalar_one()
    assert logged["export"] is True and logged["rows"] == 2
    # The import template: the documented header, nothing else.
    r = client.get(f"{BASE}/template.xlsx", headers=world["jd"])
    from layers.villages.dangerous import SHEET

    assert list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True)) == [tuple(t for _, t in SHEET)]


def test_personal_data_is_shown_in_clear_only_with_the_permission_and_logged(client, engine, world):
    r = client.post(BASE, headers=world["jd"], json=house(world, 30, owner_name="周杰明"))
    hid = r.json()["id"]
    r = client.get(f"{BASE}/{hid}", headers=world["city"])
    assert r.json()["owner_name"] == "周**" and r.json()["can_unmask"] is False
    r = client.post(f"{BASE}/{hid}/unmask", headers=world["city"])
    assert r.status_code == 403, r.text
    r = client.post(f"{BASE}/{hid}/unmask", headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json() == {"owner_name": "周杰明", "owner_id_number": id_number(30), "owner_phone": "13912345678"}
    with engine.connect() as conn:
        n = conn.execute(
            text(
                "SELECT count(*) FROM audit_log WHERE action = 'unmask' AND layer = 'vil_dangerous' AND feature_id = :i"
            ),
            {"i": hid},
        ).scalar()
    assert n == 1


def xlsx(lines: list[list]) -> bytes:
    from layers.villages.dangerous import SHEET

    wb = Workbook()
    ws = wb.active
    ws.append([t for _, t in SHEET])
    for line in lines:
        ws.append(line)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def sheet_row(world, n: int, **changes) -> list:
    from layers.villages.dangerous import SHEET

    names = {"method": "维修加固", "stage": "已鉴定", "family": None}
    row = house(world, n) | names | changes
    return [row.get(k) for k, _ in SHEET]


def test_excel_import_is_all_or_nothing_and_scoped_to_the_county(client, engine, world):
    url = f"{BASE}/import"
    good = [sheet_row(world, 200 + i) for i in range(3)]
    bad = good + [sheet_row(world, 210, grade="X"), sheet_row(world, 211, stage="施工")]
    r = client.post(url, headers=world["jd"], params={"mode": "commit"}, files={"file": ("a.xlsx", xlsx(bad))})
    assert r.status_code == 422 and r.json()["code"] == "import_rejected", r.text
    errors = r.json()["detail"]["errors"]
    assert [(e["row"], e["column"]) for e in errors] == [(5, "危险等级"), (6, "治理阶段")]
    assert stored(engine, f"WF{world['tag']}-02") == 0
    # Another county's row is refused by its row number; nothing stored.
    other = good + [sheet_row(world, 212, district=CA)]
    r = client.post(url, headers=world["jd"], params={"mode": "commit"}, files={"file": ("a.xlsx", xlsx(other))})
    assert r.status_code == 422, r.text
    assert [(e["row"], e["code"]) for e in r.json()["detail"]["errors"]] == [(5, "out_of_scope")]
    assert stored(engine, f"WF{world['tag']}-02") == 0
    # A code another county already uses (which this county does not see) is refused by its row number.
    r = client.post(BASE, headers=world["ca"], json=house(world, 213, district=CA))
    assert r.status_code == 201, r.text
    taken = good + [sheet_row(world, 213)]
    r = client.post(url, headers=world["jd"], params={"mode": "commit"}, files={"file": ("a.xlsx", xlsx(taken))})
    assert r.status_code == 422, r.text
    assert [(e["row"], e["code"]) for e in r.json()["detail"]["errors"]] == [(5, "duplicate")]
    assert stored(engine, f"WF{world['tag']}-02") == 1  # 淳安县's own house only
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM vil_dangerous WHERE code = :c"), {"c": f"WF{world['tag']}-0213"})
    # A dry run checks and stores nothing; the commit stores all.
    r = client.post(url, headers=world["jd"], files={"file": ("a.xlsx", xlsx(good))})
    assert r.status_code == 200 and r.json()["valid"] and r.json()["created"] == 3, r.text
    assert stored(engine, f"WF{world['tag']}-02") == 0
    r = client.post(url, headers=world["jd"], params={"mode": "commit"}, files={"file": ("a.xlsx", xlsx(good))})
    assert r.status_code == 201 and r.json()["created"] == 3, r.text
    assert stored(engine, f"WF{world['tag']}-02") == 3
    # Importing again updates, never duplicates.
    again = [sheet_row(world, 200, grade="D", family="特困供养")] + good[1:]
    r = client.post(url, headers=world["jd"], params={"mode": "commit"}, files={"file": ("a.xlsx", xlsx(again))})
    assert r.status_code == 201 and (r.json()["created"], r.json()["updated"]) == (0, 3), r.text
    assert stored(engine, f"WF{world['tag']}-02") == 3
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT grade, family, source FROM vil_dangerous WHERE code = :c"), {"c": f"WF{world['tag']}-0200"}
        ).one()
    assert tuple(row) == ("D", "tekun", "import")


def test_governance_reports_move_a_house_forward_and_are_counted(client, engine, world):
    fh_code = f"NFT{world['tag']}1"
    r = client.post(
        BASE, headers=world["jd"], json=house(world, 300, farmhouse_code=fh_code, stage_on="2025-01-10", year=2038)
    )
    assert r.status_code == 201, r.text
    hid = r.json()["id"]
    before = client.get(f"{BASE}/reports/statistics", headers=world["jd"]).json()
    base_n = sum(x["reports"] for x in before["rows"] if x["district"] == JD)
    only_difficult = {"difficult": "true"}
    before_d = client.get(f"{BASE}/reports/statistics", headers=world["jd"], params=only_difficult).json()
    url = f"{BASE}/{hid}/reports"
    on = today()
    assert (
        client.post(url, headers=world["jd"], json={"stage": "planned", "reported_on": on.isoformat()}).status_code
        == 201
    )
    r = client.post(url, headers=world["jd"], json={"stage": "appraised", "reported_on": on.isoformat()})
    assert r.status_code == 409 and r.json()["code"] == "stage_backwards" and "已制定方案" in r.json()["message"]
    r = client.post(
        url, headers=world["jd"], json={"stage": "started", "reported_on": (on + timedelta(days=1)).isoformat()}
    )
    assert r.status_code == 422 and r.json()["code"] == "future_date"
    r = client.post(url, headers=world["ca"], json={"stage": "started", "reported_on": on.isoformat()})
    assert r.status_code == 404  # another county's house
    r = client.post(
        url, headers=world["jd"], json={"stage": "started", "reported_on": on.isoformat(), "method": "rebuild"}
    )
    assert r.status_code == 201, r.text
    assert farmhouse(engine, fh_code)["governance"] == "拆除重建"
    r = client.post(
        url, headers=world["jd"], json={"stage": "completed", "reported_on": on.isoformat(), "note": "竣工"}
    )
    assert r.status_code == 201, r.text
    assert farmhouse(engine, fh_code)["governance"] == "已治理"
    detail = client.get(f"{BASE}/{hid}", headers=world["jd"]).json()
    assert detail["stage"] == "completed" and [x["stage"] for x in detail["reports"]] == [
        "planned",
        "started",
        "completed",
    ]
    after = client.get(f"{BASE}/reports/statistics", headers=world["jd"]).json()
    assert {x["district"] for x in after["rows"]} <= {JD}  # the county sees its own figures only
    mine = next(x for x in after["rows"] if x["district"] == JD)
    assert mine["reports"] == base_n + 3 and mine["months"][on.month - 1] >= 3
    # Not a family in difficulty: the separate count of those does not move.
    after_d = client.get(f"{BASE}/reports/statistics", headers=world["jd"], params=only_difficult).json()
    assert [x["reports"] for x in after_d["rows"]] == [x["reports"] for x in before_d["rows"]]
    # The overview of the governance year 2038: this house, finished.
    ov = client.get(f"{BASE}/overview", headers=world["jd"], params={"year": 2038}).json()
    assert ov["this_year"]["total"] >= 1 and ov["this_year"]["done"] >= 1
    stage_n = {s["code"]: s["n"] for s in ov["this_year"]["by_stage"]}
    with engine.connect() as conn:
        want = dict(
            conn.execute(
                text("SELECT stage, count(*) FROM vil_dangerous WHERE year = 2038 AND district = :d GROUP BY 1"),
                {"d": JD},
            ).all()
        )
    assert {k: v for k, v in stage_n.items() if v} == want


def test_versions_the_lists_and_unlinking(client, engine, world):
    fh_code = f"NFT{world['tag']}1"
    r = client.post(BASE, headers=world["jd"], json=house(world, 400))
    hid, version = r.json()["id"], r.json()["version"]
    r = client.patch(f"{BASE}/{hid}", headers=world["jd"], json={"version": version + 5, "grade": "D"})
    assert r.status_code == 409 and r.json()["code"] == "stale_version"
    # A new governance method configured by the administrator is usable at once; the city may not configure.
    code = "m" + world["tag"].lower()
    opt = {"name": f"危改{world['tag']}", "seq": 50}
    assert client.put(f"{BASE}/options/method/{code}", headers=world["city"], json=opt).status_code == 403
    r = client.put(f"{BASE}/options/method/{code}", headers=ADMIN, json=opt)
    assert r.status_code == 200, r.text
    r = client.patch(f"{BASE}/{hid}", headers=world["jd"], json={"version": version, "method": code, "family": "edge"})
    assert r.status_code == 200 and r.json()["method_name"] == f"危改{world['tag']}", r.text
    # Retired: no longer accepted for new entries; the record keeps it.
    r = client.put(f"{BASE}/options/method/{code}", headers=ADMIN, json={**opt, "active": False, "version": 1})
    assert r.status_code == 200, r.text
    r = client.post(BASE, headers=world["jd"], json=house(world, 401, method=code))
    assert r.status_code == 422 and r.json()["code"] == "unknown_method"
    # Unlinking a farmhouse clears its summary (the farmhouse of test 300 was linked; link this one then unlink).
    r = client.get(f"{BASE}/{hid}", headers=world["jd"])
    v = r.json()["version"]
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE vil_dangerous SET farmhouse_id = NULL WHERE code = :c"), {"c": f"WF{world['tag']}-0300"}
        )
    r = client.patch(f"{BASE}/{hid}", headers=world["jd"], json={"version": v, "farmhouse_code": fh_code})
    assert r.status_code == 200, r.text
    assert farmhouse(engine, fh_code)["danger_grade"] == "C" and farmhouse(engine, fh_code)["difficult_family"] is True
    r = client.patch(f"{BASE}/{hid}", headers=world["jd"], json={"version": v + 1, "farmhouse_code": None})
    assert r.status_code == 200, r.text
    fh = farmhouse(engine, fh_code)
    assert (fh["danger_grade"], fh["governance"], fh["difficult_family"]) == (None, None, False)


def test_the_demo_seeds_the_dangerous_houses_consistent_with_the_farmhouses(engine):
    """The seeder at a small scale in a transaction rolled back: the archive's volume, the families in difficulty,
    every linked farmhouse's summary equal to its archive row, the reports in stage order, the 建德市 account."""
    from etl.demo import World, load_districts
    from layers.villages.demo import seed_farmhouses
    from layers.villages.demo_dangerous import seed_dangerous

    with engine.connect() as conn:
        tx = conn.begin()
        try:
            world = World(7, load_districts(conn), 3_000, "test", scale=0.1)
            seed_farmhouses(conn, world)
            before = conn.execute(text("SELECT count(*) FROM vil_dangerous")).scalar()
            out = seed_dangerous(conn, world)
            assert out["vil_dangerous"] >= 2_000 and out["vil_dangerous_difficult"] >= 200
            assert conn.execute(text("SELECT count(*) FROM vil_dangerous")).scalar() - before == out["vil_dangerous"]
            demo = "source = 'demo'"
            n, fam, linked, geoms = conn.execute(
                text(
                    f"SELECT count(*), count(family), count(farmhouse_id), count(geom) FROM vil_dangerous WHERE {demo}"
                )
            ).one()
            assert (n, fam) == (out["vil_dangerous"], out["vil_dangerous_difficult"]) and geoms == n and linked > 0
            # Every dangerous farmhouse is in the archive, and agrees with it.
            assert (
                conn.execute(
                    text("""
                    SELECT count(*) FROM farmhouses f LEFT JOIN vil_dangerous d ON d.farmhouse_id = f.id
                     WHERE f.danger_grade IN ('B', 'C', 'D') AND f.deleted_at IS NULL
                       AND (d.id IS NULL OR d.grade <> f.danger_grade OR (d.family IS NOT NULL) <> f.difficult_family)
                """)
                ).scalar()
                == 0
            )
            bad_gov = conn.execute(
                text("""
                    SELECT count(*) FROM vil_dangerous d JOIN farmhouses f ON f.id = d.farmhouse_id
                      JOIN vil_danger_options s ON s.kind = 'stage' AND s.code = d.stage
                      LEFT JOIN vil_danger_options m ON m.kind = 'method' AND m.code = d.method
                     WHERE f.governance IS DISTINCT FROM CASE WHEN s.done THEN '已治理' WHEN s.seq = 1 THEN '未治理'
                                                              ELSE m.name END
                """)
            ).scalar()
            assert bad_gov == 0
            # One report per stage passed after the appraisal, in order, none after the reference date.
            assert (
                conn.execute(
                    text("""
                    SELECT count(*) FROM vil_dangerous d JOIN vil_danger_options s ON s.kind = 'stage' AND s.code = d.stage
                     WHERE d.source = 'demo' AND (SELECT count(*) FROM vil_danger_reports r WHERE r.dangerous_id = d.id)
                           <> s.seq - 1
                """)
                ).scalar()
                == 0
            )
            assert conn.execute(
                text("SELECT max(reported_on) FROM vil_danger_reports WHERE created_by = 'demo'")
            ).scalar() <= date(2026, 11, 1)
            # A valid ID number for every owner.
            numbers = conn.execute(text(f"SELECT owner_id_number FROM vil_dangerous WHERE {demo}")).scalars().all()
            assert all(ric.is_valid(x) for x in numbers) and len(set(numbers)) == len(numbers)
            assert conn.execute(text("SELECT district FROM users WHERE username = 'jiande'")).scalar() == JD
        finally:
            tx.rollback()


def test_the_analysis_brief_is_a_kept_pdf_with_the_months_figures(client, engine, world):
    import pypdfium2

    # A house of this test reported finished this month: it is among the month's figures.
    r = client.post(BASE, headers=world["jd"], json=house(world, 500, stage_on=None, year=today().year))
    hid = r.json()["id"]
    on = today()
    r = client.post(
        f"{BASE}/{hid}/reports", headers=world["jd"], json={"stage": "completed", "reported_on": on.isoformat()}
    )
    assert r.status_code == 201, r.text
    month = on.strftime("%Y-%m")
    # A county makes its own brief only; the city may make the city's.
    r = client.post(f"{BASE}/briefs", headers=world["jd"], json={"month": month, "district": CA})
    assert r.status_code == 403 and r.json()["code"] == "out_of_scope"
    r = client.post(f"{BASE}/briefs", headers=world["jd"], json={"month": "2026-13"})
    assert r.status_code == 422 and r.json()["field"] == "month"
    r = client.post(f"{BASE}/briefs", headers=world["jd"], json={"month": month, "district": JD})
    assert r.status_code == 201, r.text
    brief = r.json()
    f = brief["figures"]
    with engine.connect() as conn:
        total, governed = conn.execute(
            text("""SELECT count(*), count(*) FILTER (WHERE s.done) FROM vil_dangerous d
                     JOIN vil_danger_options s ON s.kind = 'stage' AND s.code = d.stage WHERE d.district = :d"""),
            {"d": JD},
        ).one()
        reports = conn.execute(
            text("""SELECT count(*) FROM vil_danger_reports WHERE district = :d
                     AND to_char(reported_on, 'YYYY-MM') = :m"""),
            {"d": JD, "m": month},
        ).scalar()
    assert (f["stock"]["total"], f["stock"]["governed"], f["reports_total"]) == (total, governed, reports)
    pdf = client.get(brief["url"], headers=world["jd"])
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    doc = pypdfium2.PdfDocument(pdf.content)
    words = "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    assert "农村危房治理分析简报" in words and "建德市" in words and f"共登记农村危房 {total} 处" in words
    # Kept: listed, and not visible to another county.
    listed = client.get(f"{BASE}/briefs", headers=world["jd"]).json()["items"]
    assert brief["id"] in [b["id"] for b in listed]
    assert client.get(brief["url"], headers=world["ca"]).status_code == 404
    assert brief["id"] not in [b["id"] for b in client.get(f"{BASE}/briefs", headers=world["ca"]).json()["items"]]
    # The city-wide brief is for the city's accounts; the map is an SVG with the houses.
    r = client.post(f"{BASE}/briefs", headers=world["city"], json={"month": month})
    assert r.status_code == 201 and r.json()["district"] is None, r.text
    svg = client.get(f"{BASE}/map.svg", headers=world["jd"])
    assert svg.status_code == 200 and svg.text.startswith("<svg") and svg.text.count("<circle") > 4


def test_the_monthly_job_makes_each_briefs_once(engine, world):
    """The job of the 2nd makes the month before's briefs: the city's and one per district with houses; run again,
    none (in a transaction rolled back)."""
    from datetime import UTC, datetime

    from layers.villages.briefs import monthly_briefs

    with engine.connect() as conn:
        tx = conn.begin()
        try:
            conn.execute(text("DELETE FROM vil_danger_briefs WHERE month = '2026-11-01'"))
            districts = conn.execute(text("SELECT count(DISTINCT district) FROM vil_dangerous")).scalar()
            out = monthly_briefs(conn, datetime(2026, 12, 1, 18, 30, tzinfo=UTC))
            assert out == {"month": "2026-11", "briefs": districts + 1}
            kept = conn.execute(
                text("SELECT district, substr(pdf, 1, 4) FROM vil_danger_briefs WHERE month = '2026-11-01'")
            ).all()
            assert len(kept) == districts + 1 and None in {d for d, _ in kept}
            assert all(bytes(head) == b"%PDF" for _, head in kept)
            assert monthly_briefs(conn, datetime(2026, 12, 2, 3, 0, tzinfo=UTC))["briefs"] == 0
        finally:
            tx.rollback()
