"""Layer tokens and the answers kept under them (``geo.generations``): a write to a layer, in any transaction,
gives it a new token, so an answer kept under the old one is not found again; the store keeps None answers, drops
the least recently used first and is shared safely between threads."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from geo.generations import MISSING, Kept, as_token, database_of, token_of, tokens


def read(engine, layer: str):
    with engine.connect() as conn:
        return as_token(conn.execute(sa.select(token_of(layer))).scalar())


def test_a_write_to_a_layer_gives_it_a_new_token_and_no_other_layer_one(engine):
    before = {layer: read(engine, layer) for layer in ("farmhouses", "districts")}
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE farmhouses SET floors = floors WHERE id < 0"))  # a statement, no row
    after = {layer: read(engine, layer) for layer in ("farmhouses", "districts")}
    assert after["farmhouses"] != before["farmhouses"]
    assert after["districts"] == before["districts"]
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE farmhouses SET floors = floors WHERE id < 0"))
        conn.rollback()
    assert read(engine, "farmhouses") == after["farmhouses"]  # a rolled-back write changes nothing
    with engine.connect() as conn:
        both = tokens(conn, ["farmhouses", "districts", "no_such_layer"])
    assert [t[0] for t in both] == ["districts", "farmhouses"]
    assert both[1][1:] == after["farmhouses"]


def test_an_answer_kept_under_a_layer_token_is_missed_after_a_write(engine):
    kept = Kept(maxsize=8)
    with engine.connect() as conn:
        key = (database_of(conn), read(engine, "farmhouses"))
    kept.put(key, None)  # an answer may be None (an empty layer's extent)
    assert kept.get(key) is None
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM farmhouses WHERE id < 0"))
    with engine.connect() as conn:
        assert kept.get((database_of(conn), read(engine, "farmhouses"))) is MISSING


def test_the_least_recently_used_answer_goes_first_and_threads_share_the_store():
    kept = Kept(maxsize=3)
    for k in "abc":
        kept.put(k, k.upper())
    assert kept.get("a") == "A"  # now the most recent
    kept.put("d", "D")
    assert kept.get("b") is MISSING and kept.get("a") == "A" and len(kept) == 3

    many = Kept(maxsize=100)

    def work(i: int) -> None:
        for j in range(500):
            many.put((i, j % 50), j)
            many.get((i, (j * 7) % 50))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(many) == 100
