"""Demo craftsmen (VT-04): 3,000 rural construction craftsmen over the 13 districts and counties (more in the rural
counties), each a person of the personnel register (an ID number the register already holds is that person), with
trainings (some certificates expired) and credit events — the events' credit entries written through the credit
feeds (``credit.recorded_many``), as a recording through the API would.

Loaded with COPY into temporary tables and one ``INSERT … SELECT`` per table. A second run replaces the previous
run's demo craftsmen (and their credit entries).
"""

from __future__ import annotations

import functools
import io
from datetime import date, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Connection
from stdnum.cn import ric

from etl import names
from geo.modules import seeder
from layers import credit
from layers.villages.craftsmen import EVENT_KIND, EVENTS
from layers.villages.trades import active_names

CRAFTSMEN = 3_000
ACTOR = "demo"
# Relative number of craftsmen per district (rural building is in the outer districts and counties).
WEIGHTS = {"上城区": 0.2, "拱墅区": 0.2, "西湖区": 1, "滨江区": 0.2, "萧山区": 3, "余杭区": 2, "临平区": 1}
TRADE_WEIGHTS = (30, 15, 10, 15, 6, 10, 5, 4, 4, 1)  # of the list's first trades (any later one: 1)
COURSES = ("农村建房工匠基础培训", "农房抗震设防技术", "建房施工安全知识", "杭派民居营造技艺", "农房质量通病防治")
REASONS = {
    "vil_inspection_pass": "基槽验线、主体结构检查合格",
    "vil_inspection_fail": "主体结构检查发现圈梁未按图施工，责令整改",
    "vil_complaint": "农户投诉工期延误、现场管理混乱",
    "vil_award": "获评县级优秀农村建房工匠",
}


def _text(value: Any) -> str:
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _copy(conn: Connection, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    buf = io.StringIO()
    for row in rows:
        buf.write("\t".join(_text(v) for v in row) + "\n")
    cur = conn.connection.driver_connection.cursor()
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        cp.write(buf.getvalue())


@functools.cache
def _region(code: str, year: int) -> str:
    """``code`` when it was in use in ``year`` (stdnum's table decides), else Hangzhou's own 330100."""
    body = f"{code}{year}0101001"
    try:  # stdnum's table lacks the newest codes (钱塘区 330114, 2021): a lookup error is "not in use"
        return code if ric.is_valid(body + ric.calc_check_digit(body + "0")) else "330100"
    except KeyError:
        return "330100"


def _id_number(code: str, born: date, seq: int) -> str:
    body = f"{_region(code, born.year)}{born:%Y%m%d}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


def make_craftsmen(
    rng: np.random.Generator,
    counties: dict[str, str],
    townships: dict[str, list[str]],
    n: int,
    trade_names: list[str],
):
    """(craftsman rows, training rows, event rows), the latter two keyed by the craftsman's ID number;
    ``trade_names``: the active trades, in the list's order."""
    districts = list(counties)
    w = np.array([WEIGHTS.get(d, 4.0) for d in districts])
    where = rng.choice(len(districts), n, p=w / w.sum())
    male = rng.random(n) < 0.95
    full = np.where(male, names.person_names(rng, n, male_share=1.0), names.person_names(rng, n, male_share=0.0))
    full = full.tolist()
    born = rng.integers(0, (date(1995, 12, 31) - date(1960, 1, 1)).days, n).tolist()
    seq = (rng.integers(0, 500, n) * 2 + male).tolist()  # odd: a man (the 17th digit of the ID number)
    phones = rng.integers(0, 10**9, n).tolist()
    prefix = rng.choice([3, 5, 7, 8, 9], n).tolist()
    tw = np.array([*TRADE_WEIGHTS, *[1] * len(trade_names)][: len(trade_names)], dtype=float)
    today = date.today()
    seen: set[str] = set()
    people, trainings, events = [], [], []
    for i in range(n):
        district = districts[where[i]]
        b = date(1960, 1, 1) + timedelta(days=born[i])
        s = seq[i]
        idn = _id_number(counties[district], b, s)
        while idn in seen:
            s = (s + 2) % 1000  # the next number of the same gender
            idn = _id_number(counties[district], b, s)
        seen.add(idn)
        towns = townships.get(district) or [f"{district[:-1]}镇"]
        town = towns[int(rng.integers(0, len(towns)))]
        k = int(rng.choice([1, 1, 2, 2, 3]))
        trades = sorted(set(rng.choice(len(trade_names), k, p=tw / tw.sum()).tolist()))
        team = f"{town}{full[i][0]}氏建筑队" if rng.random() < 0.8 else None
        status = "active" if rng.random() < 0.95 else "inactive"
        people.append(
            (
                idn,
                full[i],
                f"1{prefix[i]}{phones[i]:09d}",
                district,
                town,
                "{" + ",".join(trade_names[t] for t in trades) + "}",
                team,
                status,
            )
        )
        for course in rng.choice(len(COURSES), int(rng.choice([0, 1, 1, 2, 2, 3])), replace=False).tolist():
            trained = today - timedelta(days=int(rng.integers(30, 6 * 365)))
            certified = rng.random() < 0.75
            cert = f"HZGJ{trained.year}{len(trainings) + 1:06d}" if certified else None
            expires = trained + timedelta(days=3 * 365) if certified else None
            trainings.append((idn, COURSES[course], float(rng.choice([8, 16, 24, 32])), trained, cert, expires))
        types = list(EVENTS)
        for _ in range(min(4, int(rng.poisson(1.2)))):
            t = types[int(rng.choice(len(types), p=[0.55, 0.15, 0.1, 0.2]))]
            occurred = today - timedelta(days=int(rng.integers(1, 3 * 365)))
            events.append((idn, t, occurred, EVENTS[t][2], REASONS[t]))
    return people, trainings, events


def _townships(conn: Connection, world: Any) -> dict[str, list[str]]:
    v = world.villages
    out: dict[str, set[str]] = {}
    for di, town in zip(v.district.tolist(), v.township.tolist()):
        out.setdefault(world.districts[di].name, set()).add(town)
    return {d: sorted(t) for d, t in out.items()}


def _drop_previous(conn: Connection) -> None:
    conn.execute(
        sa.text(
            "DELETE FROM credit_events WHERE source = :k AND source_id IN (SELECT e.id FROM vil_craftsman_events e "
            "JOIN vil_craftsmen c ON c.id = e.craftsman_id WHERE c.source = 'demo')"
        ),
        {"k": EVENT_KIND},
    )
    conn.execute(sa.text("DELETE FROM vil_craftsmen WHERE source = 'demo'"))


@seeder(order=33)
def seed_craftsmen(conn: Connection, world: Any) -> dict:
    counties = dict(conn.execute(sa.text("SELECT district, code FROM vil_counties ORDER BY code")).all())
    people, trainings, events = make_craftsmen(
        world.rng("craftsmen"), counties, _townships(conn, world), world.count(CRAFTSMEN), active_names(conn)
    )
    _drop_previous(conn)
    for table in ("demo_craftsmen", "demo_trainings", "demo_events"):  # a second run in the same transaction
        conn.execute(sa.text(f"DROP TABLE IF EXISTS pg_temp.{table}"))
    conn.execute(
        sa.text(
            "CREATE TEMP TABLE demo_craftsmen (id_number text, name text, phone text, district text, township text, "
            "trades text[], team text, status text) ON COMMIT DROP"
        )
    )
    _copy(
        conn,
        "demo_craftsmen",
        ("id_number", "name", "phone", "district", "township", "trades", "team", "status"),
        people,
    )
    new_persons = conn.execute(
        sa.text("""
        INSERT INTO persons (id_number, name, phone, district, created_by, updated_by)
        SELECT id_number, name, phone, district, :a, :a FROM demo_craftsmen
        ON CONFLICT (id_number) DO NOTHING
    """),
        {"a": ACTOR},
    ).rowcount
    n = conn.execute(
        sa.text("""
        INSERT INTO vil_craftsmen (person_id, district, township, trades, team, status, source, created_by, updated_by)
        SELECT p.id, d.district, d.township, d.trades, d.team, d.status, 'demo', :a, :a
        FROM demo_craftsmen d JOIN persons p USING (id_number)
        ON CONFLICT (person_id) DO NOTHING
    """),
        {"a": ACTOR},
    ).rowcount
    conn.execute(
        sa.text(
            "CREATE TEMP TABLE demo_trainings (id_number text, course text, hours numeric, trained_on date, "
            "certificate_no text, expires_on date) ON COMMIT DROP"
        )
    )
    _copy(
        conn,
        "demo_trainings",
        ("id_number", "course", "hours", "trained_on", "certificate_no", "expires_on"),
        trainings,
    )
    n_trainings = conn.execute(
        sa.text("""
        INSERT INTO vil_craftsman_trainings (craftsman_id, district, course, hours, trained_on, certificate_no,
                                             expires_on, created_by, updated_by)
        SELECT c.id, c.district, t.course, t.hours, t.trained_on, t.certificate_no, t.expires_on, :a, :a
        FROM demo_trainings t JOIN persons p USING (id_number) JOIN vil_craftsmen c ON c.person_id = p.id
        WHERE c.source = 'demo'
    """),
        {"a": ACTOR},
    ).rowcount
    conn.execute(
        sa.text(
            "CREATE TEMP TABLE demo_events (id_number text, event_type text, occurred_on date, points numeric, "
            "reason text) ON COMMIT DROP"
        )
    )
    _copy(conn, "demo_events", ("id_number", "event_type", "occurred_on", "points", "reason"), events)
    saved = conn.execute(
        sa.text("""
        INSERT INTO vil_craftsman_events (craftsman_id, district, event_type, occurred_on, points, reason,
                                          created_by, updated_by)
        SELECT c.id, c.district, e.event_type, e.occurred_on, e.points, e.reason, :a, :a
        FROM demo_events e JOIN persons p USING (id_number) JOIN vil_craftsmen c ON c.person_id = p.id
        WHERE c.source = 'demo'
        RETURNING id, craftsman_id, district, event_type, occurred_on, points, reason, farmhouse_code
    """),
        {"a": ACTOR},
    ).mappings()
    rows = [dict(r) for r in saved]
    subjects = dict(
        conn.execute(
            sa.text(
                "SELECT c.id, ARRAY[p.id_number, p.name] FROM vil_craftsmen c JOIN persons p ON p.id = c.person_id "
                "WHERE c.source = 'demo'"
            )
        ).all()
    )
    for r in rows:
        r["subject_code"], r["subject_name"] = subjects[r["craftsman_id"]]
    credit.recorded_many(conn, EVENT_KIND, rows, ACTOR)
    return {
        "vil_craftsmen": n,
        "craftsman_persons": new_persons,
        "vil_craftsman_trainings": n_trainings,
        "vil_craftsman_events": len(rows),
    }
