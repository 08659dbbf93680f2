"""The map's search (``GET /api/search``): exact names and codes first, then prefixes, then contains, grouped by layer;
found through the indexes under row-level security (``chengjian_search_ids``, migration 0011) without showing a
district account anything of another district."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.conftest import ADMIN, LEADER, make_user

XIHU = (120.10, 30.25)  # 西湖区
YUHANG = (119.95, 30.40)  # 余杭区
FARMHOUSE_COLUMNS = ["code", "owner_name", "township", "village", "address"]


def add(client, layer: str, where: tuple[float, float], **props) -> dict:
    r = client.post(
        f"/api/layers/{layer}/features",
        json={"type": "Feature", "geometry": {"type": "Point", "coordinates": list(where)}, "properties": props},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture()
def world(client, clean):
    out = {
        "project": add(client, "sites", XIHU, code="330106-2026-0101", name="临垄"),
        "project2": add(client, "sites", XIHU, code="330106-2026-0102", name="临垄二期安置房"),
        "project3": add(client, "sites", XIHU, code="330106-2026-0103", name="新临垄配套道路"),
        "project4": add(client, "sites", XIHU, code="330106-2026-0104", name="双浦农居点", address="临垄村东"),
        "fh": [
            add(
                client,
                "farmhouses",
                XIHU,
                code=f"NF3301060{i:06d}",
                owner_name=name,
                village="临垄村",
                address=f"西湖区双浦镇临垄村{i}号",
            )
            for i, name in enumerate(["金伟", "金伟军", "王林", "陈金伟"], start=1)
        ],
        "secret": add(client, "farmhouses", YUHANG, code="NF3301100000001", owner_name="金伟", village="北湖村"),
    }
    assert out["fh"][0]["properties"]["district"] == "西湖区"
    assert out["secret"]["properties"]["district"] == "余杭区"
    return out


def search(client, q: str, headers=LEADER, **params) -> dict:
    r = client.get("/api/search", params={"q": q, **params}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_project_named_exactly_comes_first_and_farmhouses_follow_in_their_own_group(client, world):
    doc = search(client, "临垄")
    ranked = [(h["layer"], h["id"]) for h in doc["results"]]
    sites = [world[k]["id"] for k in ("project", "project2", "project3", "project4")]
    # Exact name, then the name starting with it, then containing it, then only the address containing it.
    assert ranked[:4] == [("sites", i) for i in sites]
    assert {i for layer, i in ranked[4:]} == {f["id"] for f in world["fh"]} and len(ranked) == 8
    assert [(g["layer"], g["layer_title"], g["count"]) for g in doc["groups"]] == [
        ("sites", "建设工地", 4),
        ("farmhouses", "农房", 4),
    ]
    assert [h["id"] for h in doc["groups"][0]["results"]] == sites
    assert sum((g["results"] for g in doc["groups"]), []) == doc["results"]

    # The project's full name: that project alone, first.
    doc = search(client, "临垄二期安置房")
    assert [(h["layer"], h["id"]) for h in doc["results"]] == [("sites", world["project2"]["id"])]


def test_exact_code_and_owner_name_rank_above_contains(client, world):
    fh = world["fh"]
    doc = search(client, fh[1]["properties"]["code"])
    assert [h["id"] for h in doc["results"]] == [fh[1]["id"]]
    # A code prefix: every farmhouse whose code starts so, shortest first.
    doc = search(client, "NF3301060")
    assert [h["id"] for h in doc["results"]] == [f["id"] for f in fh]
    # A two-character name (pg_trgm cannot look it up; the bigram index does): every holder, in scope.
    doc = search(client, "金伟")
    assert {h["id"] for h in doc["results"]} == {fh[0]["id"], fh[1]["id"], fh[3]["id"], world["secret"]["id"]}
    # Case does not matter; ILIKE's wildcards are plain characters.
    assert [h["id"] for h in search(client, "nf3301060000002")["results"]] == [fh[1]["id"]]
    assert search(client, "%")["results"] == [] and search(client, "_")["results"] == []
    assert search(client, "\\")["results"] == []


def test_a_district_account_finds_only_its_own_district(client, world):
    clerk = make_user("search-clerk-xihu", ["district_staff"], district="西湖区")
    other = make_user("search-clerk-yuhang", ["district_staff"], district="余杭区")
    mine = {f["id"] for f in world["fh"] if "金伟" in f["properties"]["owner_name"]}
    assert {h["id"] for h in search(client, "金伟", clerk)["results"]} == mine
    assert [h["id"] for h in search(client, "金伟", other)["results"]] == [world["secret"]["id"]]
    # Exact code and prefix of another district's record: nothing.
    assert search(client, world["secret"]["properties"]["code"], clerk)["results"] == []
    assert search(client, "NF33011", clerk)["results"] == []
    assert search(client, "北湖", clerk)["results"] == []


def call(conn, table: str, columns: list[str], q: str, lim: int = 50) -> set[int]:
    return set(
        conn.execute(
            sa.text("SELECT chengjian_search_ids(CAST(:t AS regclass), :c, :q, :n)"),
            {"t": table, "c": columns, "q": q, "n": lim},
        ).scalars()
    )


def test_the_search_function_applies_the_callers_scope(engine, world):
    """``chengjian_search_ids`` runs as the owner: it must apply the read policy itself, fail closed."""
    from geo import scope as scopes
    from geo.db import APP_ROLE

    xihu = {f["id"] for f in world["fh"]}
    with engine.connect() as conn:
        conn.execute(sa.text(f"SET ROLE {APP_ROLE}"))
        assert call(conn, "farmhouses", FARMHOUSE_COLUMNS, "NF") == set()  # no scope stated: nothing
        scopes.apply(conn, scopes.Scope.of(districts=["西湖区"]))
        assert call(conn, "farmhouses", FARMHOUSE_COLUMNS, "NF") == xihu
        assert call(conn, "farmhouses", FARMHOUSE_COLUMNS, "金") == xihu - {world["fh"][2]["id"]}
        assert call(conn, "farmhouses", FARMHOUSE_COLUMNS, "NF", 2) <= xihu
        assert len(call(conn, "farmhouses", FARMHOUSE_COLUMNS, "NF", 2)) == 2
        scopes.apply(conn, scopes.Scope.of(districts=["余杭区"]))
        assert call(conn, "farmhouses", FARMHOUSE_COLUMNS, "NF") == {world["secret"]["id"]}
        # Granted records (a construction unit): that site, not the district's others.
        scopes.apply(conn, scopes.Scope.of(grants={"sites": [world["project2"]["id"]]}))
        assert call(conn, "sites", ["code", "name", "address"], "临垄") == {world["project2"]["id"]}
        scopes.apply(conn, scopes.SYSTEM)
        assert call(conn, "farmhouses", FARMHOUSE_COLUMNS, "金伟") == {
            world["fh"][0]["id"],
            world["fh"][1]["id"],
            world["fh"][3]["id"],
            world["secret"]["id"],
        }
        conn.rollback()


def test_the_search_function_reads_nothing_the_app_role_may_not(engine, world):
    from geo.db import APP_ROLE

    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE search_secret (id bigint, deleted_at timestamptz, pin text)"))
        conn.execute(sa.text("INSERT INTO search_secret VALUES (2, NULL, '1234')"))
        conn.execute(sa.text(f"REVOKE ALL ON search_secret FROM {APP_ROLE}"))  # undo the default privileges
        conn.execute(sa.text(f"GRANT SELECT (id, deleted_at) ON search_secret TO {APP_ROLE}"))
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f"SET ROLE {APP_ROLE}"))
            with pytest.raises(sa.exc.ProgrammingError, match="may not read search_secret.pin"):
                call(conn, "search_secret", ["pin"], "12")
            conn.rollback()
            assert call(conn, "search_secret", ["id"], "2") == {2}  # what it may read, it finds
            conn.rollback()
            # Only the app role may run it at all.
            conn.execute(sa.text("RESET ROLE"))
            conn.execute(sa.text("CREATE ROLE search_stranger NOLOGIN"))
            conn.execute(sa.text("SET ROLE search_stranger"))
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied for function chengjian_search_ids"):
                call(conn, "farmhouses", FARMHOUSE_COLUMNS, "NF")
            conn.rollback()
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE search_secret"))
            conn.execute(sa.text("DROP ROLE IF EXISTS search_stranger"))
