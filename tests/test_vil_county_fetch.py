"""On-demand archive fetch (VT-11) against a real small county server (FastAPI under uvicorn, started here) that
speaks the county archive API of layers/villages/NOTES.md: a good county (two pages), a slow one, a failing one, a
flaky one, one that returns bad data, one that is not there. Timeouts, retries with back-off and the circuit breaker
are observed from the county's side (the calls it received); the user gets a clear message; nothing wrong is stored.
"""

from __future__ import annotations

import socket
import time
import uuid

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import text

from tests.conftest import ADMIN, make_user, running_server

FETCH = "/api/villages/county/fetch"
# The counties the tests configure (all run a system of their own in vil_counties).
GOOD, SLOW, FAILING, BAD, FLAKY = "萧山区", "余杭区", "富阳区", "临安区", "临平区"
USED = (GOOD, SLOW, FAILING, BAD, FLAKY, "钱塘区")


def county_app(state: dict) -> FastAPI:
    """A county farmhouse system's archive API; ``state[name]`` says how the county at ``/{name}`` behaves."""
    app = FastAPI()

    @app.get("/healthz")
    def health() -> dict:
        return {"ok": True}

    @app.get("/{name}/farmhouses")
    def archive(name: str, page: int = 1, page_size: int = 500, township: str | None = None):
        c = state[name]
        c["calls"].append({"page": page, "page_size": page_size, "township": township})
        how = c["behaviour"]
        if how == "slow":
            time.sleep(c.get("delay", 1.5))
        elif how == "error":
            return JSONResponse({"message": "internal error"}, status_code=500)
        elif how == "flaky" and len(c["calls"]) <= c["fail_first"]:
            return JSONResponse({"message": "busy"}, status_code=503)
        elif how == "missing":
            return JSONResponse({"message": "no such api"}, status_code=404)
        elif how == "html":
            return PlainTextResponse("<html>系统维护中</html>")
        records = [r for r in c["records"] if township is None or r["township"] == township]
        pages = c.get("pages", 1)
        per = max(1, -(-len(records) // max(pages, 1)))
        return {
            "county": c.get("county", c["district"]),
            "page": page,
            "pages": pages,
            "total": len(records),
            "records": records[(page - 1) * per : page * per],
        }

    return app


def points_in(engine, district: str, n: int) -> list[tuple[float, float]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("""SELECT ST_X(p.geom), ST_Y(p.geom) FROM districts d,
                    ST_Dump(ST_GeneratePoints(d.geom, :n, 11)) p WHERE d.name = :d"""),
            {"d": district, "n": n},
        ).all()
    return [(round(x, 7), round(y, 7)) for x, y in rows]


def records(engine, district: str, n: int, **changes) -> list[dict]:
    t = uuid.uuid4().hex[:8].upper()
    return [
        {
            "record_id": f"A{t}-{i}",
            "version": 2,
            "code": f"AR{t}{i}",
            "owner_name": "李秀英",
            "township": "瓜沥镇" if i % 2 else "义桥镇",
            "village": "东恩村",
            "floors": 2,
            "structure": "砖混",
            "built_year": 1998,
            "status": "存量",
            "lon": x,
            "lat": y,
            **changes,
        }
        for i, (x, y) in enumerate(points_in(engine, district, n))
    ]


@pytest.fixture(scope="module")
def county(app, engine):
    """The county server and the state the tests drive; the counties point at it (restored afterwards)."""
    state: dict = {}
    with running_server(county_app(state)) as base:

        def configure(district: str, behaviour: str, timeout_s: float = 2.0, **more) -> dict:
            name = f"c{USED.index(district)}"
            state[name] = {"district": district, "behaviour": behaviour, "calls": [], "records": [], **more}
            with engine.begin() as conn:
                conn.execute(
                    text("UPDATE vil_counties SET archive_url = :u, timeout_s = :t WHERE district = :d"),
                    {"u": f"{base}/{name}", "t": timeout_s, "d": district},
                )
                conn.execute(text("DELETE FROM vil_county_breakers WHERE district = :d"), {"d": district})
            return state[name]

        yield configure
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE vil_counties SET archive_url = NULL, timeout_s = 10 WHERE district = ANY(:d)"),
            {"d": list(USED)},
        )
        conn.execute(text("DELETE FROM vil_county_breakers WHERE district = ANY(:d)"), {"d": list(USED)})


@pytest.fixture
def quick(env):
    env(
        CHENGJIAN_COUNTY_FETCH_ATTEMPTS="3",
        CHENGJIAN_COUNTY_FETCH_BACKOFF_S="0.05",
        CHENGJIAN_COUNTY_BREAKER_FAILURES="2",
        CHENGJIAN_COUNTY_BREAKER_COOLDOWN_S="1",
    )


def stored(engine, district: str, recs: list[dict]) -> dict[str, dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("""SELECT county_record_id, county_version, source, floors, township FROM farmhouses
                     WHERE district = :d AND county_record_id = ANY(:r)"""),
            {"d": district, "r": [r["record_id"] for r in recs]},
        ).mappings()
        return {r["county_record_id"]: dict(r) for r in rows}


def last_fetch(engine, district: str) -> dict:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                text("SELECT * FROM vil_county_fetches WHERE district = :d ORDER BY id DESC LIMIT 1"), {"d": district}
            )
            .mappings()
            .one()
        )


def test_a_good_county_is_read_page_by_page_and_stored_once(client, engine, county, quick):
    c = county(GOOD, "ok", pages=2)
    c["records"] = records(engine, GOOD, 6)
    r = client.post(FETCH, json={"district": GOOD}, headers=ADMIN)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["received"], out["created"], out["attempts"]) == (6, 6, 2)
    assert [x["page"] for x in c["calls"]] == [1, 2]
    held = stored(engine, GOOD, c["records"])
    assert len(held) == 6 and {h["source"] for h in held.values()} == {"county"}
    again = client.post(FETCH, json={"district": GOOD}, headers=ADMIN).json()
    assert (again["created"], again["unchanged"]) == (0, 6)
    # A narrower query goes to the county as it is.
    part = client.post(FETCH, json={"district": GOOD, "township": "瓜沥镇"}, headers=ADMIN).json()
    assert part["received"] == 3 and c["calls"][-1]["township"] == "瓜沥镇"
    log = last_fetch(engine, GOOD)
    assert (log["outcome"], log["actor"], log["query"]) == ("ok", "test-admin", {"township": "瓜沥镇"})
    listed = client.get("/api/villages/county/fetches", params={"district": GOOD}, headers=ADMIN).json()["items"]
    assert listed[0]["id"] == log["id"]


def test_a_slow_county_times_out_after_its_retries_and_nothing_is_stored(client, engine, county, quick):
    c = county(SLOW, "slow", timeout_s=0.3, delay=1.5)
    c["records"] = records(engine, SLOW, 2)
    started = time.monotonic()
    r = client.post(FETCH, json={"district": SLOW}, headers=ADMIN)
    took = time.monotonic() - started
    assert r.status_code == 504, r.text
    body = r.json()
    assert body["code"] == "county_timeout" and "余杭区" in body["message"] and "0.3 秒内没有响应" in body["message"]
    assert len(c["calls"]) == 3  # the first call and two retries
    assert 0.9 < took < 1.4 + 0.3  # three time limits and the back-offs (0.05 + 0.1 s), never the county's 1.5 s
    assert stored(engine, SLOW, c["records"]) == {}
    log = last_fetch(engine, SLOW)
    assert (log["outcome"], log["attempts"], log["message"]) == ("timeout", 3, body["message"])


def test_a_failing_county_opens_the_breaker_and_a_trial_closes_it(client, engine, county, quick):
    c = county(FAILING, "error")
    c["records"] = records(engine, FAILING, 2)
    for _ in range(2):
        r = client.post(FETCH, json={"district": FAILING}, headers=ADMIN)
        assert r.status_code == 502 and r.json()["code"] == "county_failed", r.text
    assert len(c["calls"]) == 6
    # Two failed fetches in a row: the county is not called at all for the cool-down.
    r = client.post(FETCH, json={"district": FAILING}, headers=ADMIN)
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["code"] == "county_breaker_open" and "已暂停调用" in body["message"] and "富阳区" in body["message"]
    assert len(c["calls"]) == 6
    assert last_fetch(engine, FAILING)["outcome"] == "breaker_open"
    status = client.get("/api/villages/county/status", headers=ADMIN).json()["items"]
    assert next(s for s in status if s["district"] == FAILING)["breaker_open"] is True
    # After the cool-down one trial call goes through; it fails: open again at once.
    time.sleep(1.1)
    r = client.post(FETCH, json={"district": FAILING}, headers=ADMIN)
    assert r.status_code == 502 and len(c["calls"]) == 9
    assert client.post(FETCH, json={"district": FAILING}, headers=ADMIN).status_code == 503
    # The county recovers: the next trial succeeds and closes the breaker.
    time.sleep(1.1)
    c["behaviour"] = "ok"
    r = client.post(FETCH, json={"district": FAILING}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["created"] == 2, r.text
    with engine.connect() as conn:
        b = conn.execute(text("SELECT failures, open_until FROM vil_county_breakers WHERE district = :d"),
                         {"d": FAILING}).one()  # fmt: skip
    assert (b.failures, b.open_until) == (0, None)


def test_a_flaky_county_is_tried_again_with_back_off(client, engine, county, quick):
    c = county(FLAKY, "flaky", fail_first=2)
    c["records"] = records(engine, FLAKY, 3)
    r = client.post(FETCH, json={"district": FLAKY}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["attempts"], len(c["calls"])) == (3, 3, 3)
    c["behaviour"], c["calls"] = "missing", []
    r = client.post(FETCH, json={"district": FLAKY}, headers=ADMIN)
    assert r.status_code == 502 and r.json()["code"] == "county_refused" and "HTTP 404" in r.json()["message"]
    assert len(c["calls"]) == 1  # a refusal is not tried again


@pytest.mark.parametrize(
    "case",
    ["field", "outside", "county", "html", "shape", "stale_mix"],
)
def test_a_county_returning_bad_data_stores_nothing(client, engine, county, quick, case):
    c = county(BAD, "ok")
    recs = records(engine, BAD, 3)
    if case == "field":
        recs[1]["floors"] = 99
    elif case == "outside":  # passes the schema; only the database sees it lies in another district
        recs[2]["lon"], recs[2]["lat"] = points_in(engine, "西湖区", 1)[0]
    elif case == "county":
        c["county"] = "西湖区"
    elif case == "html":
        c["behaviour"] = "html"
    elif case == "shape":
        c["pages"] = 0
    elif case == "stale_mix":
        recs[2]["code"] = recs[0]["code"]  # two records of the county claim one house code
    c["records"] = recs
    before = len(stored(engine, BAD, recs))
    r = client.post(FETCH, json={"district": BAD}, headers=ADMIN)
    assert r.status_code == 502, r.text
    body = r.json()
    assert body["code"] == "county_bad_data" and "未保存任何数据" in body["message"] and "临安区" in body["message"]
    assert stored(engine, BAD, recs) == {} and before == 0
    log = last_fetch(engine, BAD)
    assert log["outcome"] == "bad_data" and log["created"] == 0
    if case in ("field", "outside"):
        errors = body["detail"]["errors"]
        assert errors[0]["index"] == (1 if case == "field" else 2)
        assert errors[0]["code"] == ("out_of_range" if case == "field" else "outside_county")


def test_who_may_fetch_what(client, engine, county, quick):
    c = county(GOOD, "ok")
    c["records"] = records(engine, GOOD, 1)
    staff = make_user("xiaoshan-clerk-fetch", ["district_staff"], district=GOOD)
    assert client.post(FETCH, json={"district": GOOD}, headers=staff).status_code == 200
    r = client.post(FETCH, json={"district": SLOW}, headers=staff)
    assert r.status_code == 403 and r.json()["code"] == "other_district"
    r = client.post(FETCH, json={"district": "建德市"}, headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] == "county_without_archive"
    leader = make_user("leader-fetch", ["leader"])
    assert client.post(FETCH, json={"district": GOOD}, headers=leader).status_code == 403
    r = client.post(FETCH, json={"district": "火星区"}, headers=ADMIN)
    assert r.status_code == 422
    # A county whose system is not there at all.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    county("钱塘区", "ok")
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE vil_counties SET archive_url = :u WHERE district = '钱塘区'"),
            {"u": f"http://127.0.0.1:{port}"},
        )
    r = client.post(FETCH, json={"district": "钱塘区"}, headers=ADMIN)
    assert r.status_code == 502 and r.json()["code"] == "county_unreachable", r.text
    # The city's staff see every county's fetches; a district clerk only its own.
    mine = client.get("/api/villages/county/fetches", headers=staff).json()["items"]
    assert mine and {x["district"] for x in mine} == {GOOD}


def test_after_the_cool_down_one_request_takes_the_trial(engine, county, quick):
    from layers.villages.county_fetch import county_settings, take_trial

    county(FAILING, "error")
    with engine.begin() as conn:
        conn.execute(
            text("""INSERT INTO vil_county_breakers (district, failures, open_until)
                    VALUES (:d, 2, now() - interval '1 second')"""),
            {"d": FAILING},
        )
    with engine.begin() as conn:
        assert take_trial(conn, FAILING, county_settings()) is True
    with engine.begin() as conn:  # a concurrent request meanwhile: the breaker is open for it
        assert take_trial(conn, FAILING, county_settings()) is False
        still = conn.execute(
            text("SELECT open_until > now() FROM vil_county_breakers WHERE district = :d"), {"d": FAILING}
        ).scalar()
    assert still is True


def test_a_query_too_wide_is_refused_and_the_county_is_not_blamed(client, engine, county, env):
    env(CHENGJIAN_COUNTY_FETCH_MAX_RECORDS="3", CHENGJIAN_COUNTY_BREAKER_FAILURES="1")
    c = county(GOOD, "ok", pages=2)
    c["records"] = records(engine, GOOD, 6)
    r = client.post(FETCH, json={"district": GOOD}, headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] == "county_too_many" and "缩小" in r.json()["message"]
    assert stored(engine, GOOD, c["records"]) == {}
    r = client.post(FETCH, json={"district": GOOD, "township": "瓜沥镇"}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["created"] == 3, r.text  # the breaker did not open
