"""Dangerous-house governance (危房治理, VT-06 overview, VT-07 dynamics, VT-10 the families in difficulty).

- **County reports per governance stage** (``POST /api/villages/dangerous/{id}/reports``): a county reports that a
  house reached a stage (已鉴定 → 已制定方案 → 已开工 → 已竣工 → 已验收, the configurable order) on a date; a
  stage earlier than the house's current one, or a date before the current stage's date or in the future, is
  refused. The house takes the stage (and the method when given); its farmhouse's summary follows.
- **Overview** (``/overview``): the stock of dangerous houses (by grade, by district, governed or not) and this
  year's governance (the houses of the governance year by stage and by method, finished share); ``difficult=true``
  gives the same figures for the families in difficulty alone, which are also counted separately in every answer.
- **Report statistics** (``/reports/statistics``): per district, the reports of each month of the year, the reports
  per stage, the houses of the year still unfinished whose stage has not moved for ``STALL_DAYS`` days (stalled) and
  those of the year with no report at all.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, db_write
from geo import audit
from geo.bounds import ITEM_CODE, Code, Day, RecordId, Text
from geo.divisions import DISTRICT_NAMES
from geo.errors import Conflict, Invalid
from layers.villages.dangerous import (
    EDIT,
    PREFIX,
    VIEW,
    _check_option,
    _sync_farmhouse,
    get_row,
    names_of,
    today,
)

router = APIRouter(prefix=PREFIX, tags=["农村危房"])
STALL_DAYS = 90  # an unfinished house whose stage has not moved for this long is stalled


class ReportIn(BaseModel):
    """A county's report: the house reached ``stage`` on ``reported_on``."""

    model_config = ConfigDict(extra="forbid")

    stage: Code(ITEM_CODE) = Field(title="治理阶段")  # type: ignore[valid-type]
    reported_on: Day() = Field(title="上报日期")  # type: ignore[valid-type]
    method: Code(ITEM_CODE) | None = Field(None, title="治理方式")  # type: ignore[valid-type]
    note: Text(500) | None = Field(None, title="说明")  # type: ignore[valid-type]


def stage_seq(conn: Connection, code: str) -> int:
    return conn.execute(
        sa.text("SELECT seq FROM vil_danger_options WHERE kind = 'stage' AND code = :c"), {"c": code}
    ).scalar_one()


def add_report(conn: Connection, house_id: int, body: ReportIn, who: Principal) -> dict:
    house = get_row(conn, house_id)
    conn.execute(sa.text("SELECT 1 FROM vil_dangerous WHERE id = :i FOR UPDATE"), {"i": house_id})
    _check_option(conn, "stage", body.stage, "stage")
    _check_option(conn, "method", body.method, "method")
    if body.reported_on > today():
        raise Invalid("future_date", "上报日期不能晚于今天。", "reported_on")
    names = names_of(conn)["stage"]
    if stage_seq(conn, body.stage) < stage_seq(conn, house["stage"]):
        raise Conflict(
            "stage_backwards",
            f"该危房已处于「{names[house['stage']]}」，不能上报更早的阶段「{names[body.stage]}」。",
            "stage",
        )
    if house["stage_on"] is not None and body.reported_on < house["stage_on"]:
        raise Invalid(
            "date_before_stage",
            f"上报日期不能早于当前阶段的日期（{house['stage_on'].isoformat()}）。",
            "reported_on",
        )
    method = body.method or house["method"]
    new_id = conn.execute(
        sa.text(
            "INSERT INTO vil_danger_reports (dangerous_id, district, stage, method, reported_on, note, created_by, "
            "updated_by) VALUES (:h, :d, :s, :m, :on, :n, :u, :u) RETURNING id"
        ),
        {"h": house_id, "d": house["district"], "s": body.stage, "m": method, "on": body.reported_on,
         "n": body.note, "u": who.user},
    ).scalar_one()  # fmt: skip
    conn.execute(
        sa.text(
            "UPDATE vil_dangerous SET stage = :s, stage_on = :on, method = :m, version = version + 1, "
            "updated_at = now(), updated_by = :u WHERE id = :h"
        ),
        {"h": house_id, "s": body.stage, "on": body.reported_on, "m": method, "u": who.user},
    )
    _sync_farmhouse(conn, {**house, "stage": body.stage, "method": method}, who.user)
    audit.record(
        conn, who.user, "create", "vil_danger_reports", new_id, {"stage": house["stage"]},
        {"dangerous_id": house_id, "stage": body.stage, "method": method, "reported_on": body.reported_on.isoformat()},
        who.client, user_id=who.user_id,
    )  # fmt: skip
    return {"id": new_id, "dangerous_id": house_id, "stage": body.stage, "stage_name": names[body.stage]}


def overview(conn: Connection, year: int, difficult: bool | None) -> dict:
    cond = {None: "true", True: "d.family IS NOT NULL", False: "d.family IS NULL"}[difficult]
    base = f"""FROM vil_dangerous d JOIN vil_danger_options s ON s.kind = 'stage' AND s.code = d.stage
               WHERE {cond}"""
    stock = conn.execute(
        sa.text(f"""
            SELECT count(*) AS total, count(*) FILTER (WHERE s.done) AS governed,
                   count(*) FILTER (WHERE d.grade = 'A') AS a, count(*) FILTER (WHERE d.grade = 'B') AS b,
                   count(*) FILTER (WHERE d.grade = 'C') AS c, count(*) FILTER (WHERE d.grade = 'D') AS d,
                   count(*) FILTER (WHERE d.family IS NOT NULL) AS difficult {base}
        """)
    ).mappings().one()  # fmt: skip
    by_district = conn.execute(
        sa.text(f"""
            SELECT d.district, count(*) AS total, count(*) FILTER (WHERE s.done) AS governed,
                   count(*) FILTER (WHERE d.grade = 'C') AS c, count(*) FILTER (WHERE d.grade = 'D') AS d,
                   count(*) FILTER (WHERE d.family IS NOT NULL) AS difficult,
                   count(*) FILTER (WHERE d.year = :y) AS this_year,
                   count(*) FILTER (WHERE d.year = :y AND s.done) AS this_year_done
              {base} GROUP BY d.district
        """),
        {"y": year},
    ).mappings()  # fmt: skip
    found = {r["district"]: dict(r) for r in by_district}
    districts = [{"district": n, **found[n]} for n in DISTRICT_NAMES if n in found]
    names = names_of(conn)
    by_stage = conn.execute(
        sa.text(f"SELECT d.stage AS key, count(*) AS n {base} AND d.year = :y GROUP BY 1"), {"y": year}
    ).mappings()
    stage_counts = {r["key"]: r["n"] for r in by_stage}
    stages = conn.execute(
        sa.text("SELECT code, name, done FROM vil_danger_options WHERE kind = 'stage' ORDER BY seq")
    ).mappings()
    by_method = conn.execute(
        sa.text(f"SELECT d.method AS key, count(*) AS n {base} AND d.year = :y GROUP BY 1 ORDER BY 2 DESC"),
        {"y": year},
    ).mappings()
    this_year = sum(stage_counts.values())
    done = sum(stage_counts.get(s["code"], 0) for s in conn.execute(
        sa.text("SELECT code FROM vil_danger_options WHERE kind = 'stage' AND done")).mappings())  # fmt: skip
    return {
        "year": year,
        "difficult": difficult,
        "stock": dict(stock),
        "districts": districts,
        "this_year": {
            "total": this_year,
            "done": done,
            "done_pct": round(100 * done / this_year, 1) if this_year else None,
            "by_stage": [
                {"code": s["code"], "name": s["name"], "done": s["done"], "n": stage_counts.get(s["code"], 0)}
                for s in stages
            ],
            "by_method": [
                {"code": r["key"], "name": names["method"].get(r["key"], "未定") if r["key"] else "未定", "n": r["n"]}
                for r in by_method
            ],
        },
    }


def report_statistics(conn: Connection, year: int, difficult: bool | None = None, on: dt.date | None = None) -> dict:
    """``difficult``: the houses of families in difficulty only (true), the others only (false), all (None)."""
    on = on or today()
    cond = {None: "true", True: "d.family IS NOT NULL", False: "d.family IS NULL"}[difficult]
    reports = f"""vil_danger_reports r JOIN vil_dangerous d ON d.id = r.dangerous_id
                  WHERE extract(year FROM r.reported_on) = :y AND {cond}"""
    months = conn.execute(
        sa.text(
            f"SELECT r.district, extract(month FROM r.reported_on)::int AS m, count(*) FROM {reports} GROUP BY 1, 2"
        ),
        {"y": year},
    ).all()
    stages = conn.execute(
        sa.text(f"SELECT r.district, r.stage, count(*) FROM {reports} GROUP BY 1, 2"), {"y": year}
    ).all()
    houses = conn.execute(
        sa.text(f"""
            SELECT d.district,
                   count(*) FILTER (WHERE NOT s.done AND coalesce(d.stage_on, d.appraised_on, d.created_at::date)
                                    < CAST(:on AS date) - :stall) AS stalled,
                   count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM vil_danger_reports r WHERE r.dangerous_id = d.id))
                       AS unreported,
                   count(*) AS planned
              FROM vil_dangerous d JOIN vil_danger_options s ON s.kind = 'stage' AND s.code = d.stage
             WHERE d.year = :y AND {cond} GROUP BY 1
        """),
        {"y": year, "on": on, "stall": STALL_DAYS},
    ).mappings()
    h = {r["district"]: dict(r) for r in houses}
    per: dict[str, dict] = {}
    for d, m, n in months:
        per.setdefault(d, {"months": [0] * 12, "stages": {}})["months"][m - 1] = n
    for d, s, n in stages:
        per.setdefault(d, {"months": [0] * 12, "stages": {}})["stages"][s] = n
    names = names_of(conn)["stage"]
    rows = []
    for d in DISTRICT_NAMES:
        p = per.get(d, {"months": [0] * 12, "stages": {}})
        x = h.get(d, {"stalled": 0, "unreported": 0, "planned": 0})
        if not sum(p["months"]) and not x["planned"]:
            continue
        rows.append(
            {"district": d, "months": p["months"], "reports": sum(p["months"]), "stages": p["stages"],
             "planned": x["planned"], "stalled": x["stalled"], "unreported": x["unreported"]}
        )  # fmt: skip
    return {
        "year": year, "difficult": difficult, "as_of": on.isoformat(), "stall_days": STALL_DAYS,
        "stage_names": names, "rows": rows,
    }  # fmt: skip


@router.post("/{house_id:int}/reports", status_code=201, summary="上报危房治理进度（到达某一治理阶段）")
def post_report(
    house_id: RecordId,  # type: ignore[valid-type]
    body: ReportIn,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(EDIT, "上报危房治理进度")
    return add_report(conn, house_id, body, who)


@router.get("/overview", summary="危房治理总览：存量危房与本年度治理（difficult=true 仅困难家庭）")
def get_overview(
    year: int | None = Query(None, ge=2000, le=2100, title="年度", description="默认本年"),
    difficult: bool | None = Query(None, title="困难家庭"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require(VIEW, "查看危房治理总览")
    return overview(conn, year or today().year, difficult)


@router.get("/reports/statistics", summary="危房治理上报统计：各区县逐月上报数、各阶段上报数、停滞与未上报")
def get_report_statistics(
    year: int | None = Query(None, ge=2000, le=2100, title="年度", description="默认本年"),
    difficult: bool | None = Query(None, title="困难家庭"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require(VIEW, "查看危房治理上报统计")
    return report_statistics(conn, year or today().year, difficult)
