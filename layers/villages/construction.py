"""Construction dynamics (农房建设动态, VT-02): the houses under construction with their approval result and stage
progress, the counties' report statistics, the thematic views of the map, and the ``/villages/construction``
workbench page (served by ``mobile.py``).

A house is *under construction* while ``farmhouses.status`` is 审批中 or 在建. Its *next stage* is the first active
stage after the one it passed (``inspections.next_stage``), due ``due_days`` after the last passed inspection (after
the approval for the first stage); an approved house whose next stage is past due today (Beijing) is *overdue*: a
report is missing. Statistics per county and month: the inspections reported, those reported after their due day
(late), and, per county, the houses under construction, approved, and overdue now (missing reports).

Every read runs on the caller's connection: row-level security scopes it to the caller's district.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read
from api.errors import ApiError
from geo.bounds import MONTH, Amount, Code, RecordId, Text, Whole, today
from geo.modules import Page, pages
from layers.villages import craftsmen
from layers.villages.inspections import (
    RESULTS,
    VIEW,
    active_stages,
    house,
    inspections_of,
    next_stage,
    owner_name,
)
from layers.villages.tables import PREFIX, farmhouses, inspections

router = APIRouter(prefix=PREFIX, tags=["智慧村镇"])
MAP_LIMIT = 100_000  # houses under construction drawn as points (5,000 in the demo; 50,000 with 1,000,000 houses)

pages(Page("/villages/construction", "农房建设动态", "智慧村镇", VIEW, order=41))

# A string: a LATERAL join per house (its next stage and its last passed inspection) reads better than Core here.
HOUSES_SQL = """
SELECT f.id, f.code, f.owner_name, f.district, f.township, f.village, f.address, f.status, f.stage,
       f.approval_no, f.approved_on, s.name AS stage_name, n.code AS next_stage, n.name AS next_stage_name,
       CASE WHEN f.approved_on IS NOT NULL AND n.code IS NOT NULL
            THEN COALESCE(p.last_on, f.approved_on) + n.due_days END AS next_due_on,
       ST_X(f.geom) AS lon, ST_Y(f.geom) AS lat
FROM farmhouses f
LEFT JOIN vil_stages s ON s.code = f.stage
LEFT JOIN LATERAL (
    SELECT x.code, x.name, x.due_days FROM vil_stages x
    WHERE x.active AND x.seq > COALESCE(s.seq, 0) ORDER BY x.seq LIMIT 1
) n ON true
LEFT JOIN LATERAL (
    SELECT max(i.inspected_on) AS last_on FROM vil_inspections i WHERE i.farmhouse_id = f.id AND i.result = 'pass'
) p ON true
WHERE f.deleted_at IS NULL AND f.status IN ('审批中', '在建')
"""


def _houses(conn: Connection, where: str = "", params: dict | None = None, tail: str = "") -> list[dict]:
    sql = f"SELECT h.*, (h.next_due_on < :today) AS overdue FROM ({HOUSES_SQL}) h WHERE true {where} {tail}"
    return [dict(r) for r in conn.execute(sa.text(sql), {"today": today(), **(params or {})}).mappings()]


def _house_view(r: dict, who: Principal) -> dict:
    return {
        **{k: r[k] for k in ("id", "code", "district", "township", "village", "status", "stage", "stage_name",
                             "approval_no", "next_stage", "next_stage_name", "lon", "lat")},
        "owner_name": owner_name(who, r["owner_name"]),
        "approved_on": r["approved_on"].isoformat() if r["approved_on"] else None,
        "next_due_on": r["next_due_on"].isoformat() if r["next_due_on"] else None,
        "overdue": bool(r["overdue"]),
    }  # fmt: skip


def stage_counts(conn: Connection) -> list[dict]:
    """Houses under construction per district and stage passed (``stage`` None: approved or not, none passed yet),
    for the module's overview."""
    rows = conn.execute(
        sa.text(
            "SELECT district, stage, count(*) AS n FROM farmhouses "
            "WHERE deleted_at IS NULL AND status IN ('审批中', '在建') GROUP BY district, stage ORDER BY district, stage"
        )
    ).mappings()
    return [dict(r) for r in rows]


def statistics(conn: Connection, year: int, districts: set[str] | None = None) -> dict:
    """Reports (inspections) per county and month of ``year``, the late ones, and per county the houses under
    construction and the overdue ones now (missing reports): every county (a county with nothing is a row of
    zeros), or only ``districts`` (a district account's own; row-level security scopes the figures anyway)."""
    months = conn.execute(
        sa.text(
            "SELECT district, extract(month FROM inspected_on)::int AS month, count(*) AS reports, "
            "count(*) FILTER (WHERE late) AS late, count(*) FILTER (WHERE result = 'fail') AS failed "
            "FROM vil_inspections WHERE inspected_on >= make_date(:y, 1, 1) AND inspected_on < make_date(:y + 1, 1, 1) "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        ),
        {"y": year},
    ).mappings()
    per: dict[str, dict[str, Any]] = {}
    counties = conn.execute(sa.text("SELECT district, has_system FROM vil_counties ORDER BY code")).all()
    for d, has_system in counties:
        per[d] = {"district": d, "has_system": has_system, "months": [{"month": m, "reports": 0, "late": 0,
                  "failed": 0} for m in range(1, 13)], "reports": 0, "late": 0, "failed": 0}  # fmt: skip
    for r in months:
        row = per.get(r["district"])
        if row is None:
            continue
        row["months"][r["month"] - 1] = {k: r[k] for k in ("month", "reports", "late", "failed")}
        for k in ("reports", "late", "failed"):
            row[k] += r[k]
    houses = conn.execute(
        sa.text(
            f"SELECT h.district, count(*) AS under_construction, count(*) FILTER (WHERE h.approved_on IS NOT NULL) "
            f"AS approved, count(*) FILTER (WHERE h.next_due_on < :today) AS overdue FROM ({HOUSES_SQL}) h "
            "GROUP BY h.district"
        ),
        {"today": today()},
    ).mappings()
    for d in per.values():
        d.update(under_construction=0, approved=0, overdue=0)
    for r in houses:
        if r["district"] in per:
            per[r["district"]].update(under_construction=r["under_construction"], approved=r["approved"],
                                      overdue=r["overdue"])  # fmt: skip
    items = [d for d in per.values() if districts is None or d["district"] in districts]
    total = {k: sum(d[k] for d in items) for k in ("reports", "late", "failed", "under_construction", "approved",
                                                    "overdue")}  # fmt: skip
    return {"year": year, "items": items, "total": total}


# -- HTTP -----------------------------------------------------------------------------------------------------------


@router.get("/stages", summary="审批后建设阶段（按顺序）")
def get_stages(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    who.require(VIEW, "查看农房建设阶段")
    return {"items": [{k: s[k] for k in ("code", "name", "seq", "due_days")} for s in active_stages(conn)]}


@router.get("/houses", summary="在建农房（审批结果、所处阶段、下一阶段及期限、是否逾期）")
def get_houses(
    district: Text(20) | None = Query(None, title="区县"),
    stage: Text(32) | None = Query(None, title="已完成阶段（none：尚未开始）"),
    overdue: bool | None = Query(None, title="仅逾期"),
    q: Text(50) | None = Query(None, title="农房编号、乡镇、村"),
    near_lon: Amount(180, -180) | None = Query(None, title="附近：经度"),
    near_lat: Amount(90, -90) | None = Query(None, title="附近：纬度"),
    limit: Whole(1, 500) = 50,
    offset: Whole(0, 10_000_000) = 0,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require(VIEW, "查看在建农房")
    where, params = [], {"limit": limit, "offset": offset}
    if district:
        where.append("AND h.district = :district")
        params["district"] = district
    if stage == "none":
        where.append("AND h.stage IS NULL")
    elif stage:
        where.append("AND h.stage = :stage")
        params["stage"] = stage
    if overdue:
        where.append("AND h.next_due_on < :today")
    if q:
        where.append("AND (h.code ILIKE :q OR h.township ILIKE :q OR h.village ILIKE :q)")
        params["q"] = f"%{q.strip()}%"
    order = "ORDER BY h.next_due_on NULLS LAST, h.id"
    if near_lon is not None and near_lat is not None:
        order = "ORDER BY (h.lon - :nx) ^ 2 + (h.lat - :ny) ^ 2, h.id"
        params.update(nx=near_lon, ny=near_lat)
    cond = " ".join(where)
    total = conn.execute(
        sa.text(f"SELECT count(*) FROM ({HOUSES_SQL}) h WHERE true {cond}"), {"today": today(), **params}
    ).scalar_one()
    rows = _houses(conn, cond, params, f"{order} LIMIT :limit OFFSET :offset")
    return {"total": total, "items": [_house_view(r, who) for r in rows]}


@router.get("/houses/{house_id}", summary="在建农房的建设档案：审批结果、各阶段期限与巡查（含照片）")
def get_house(
    house_id: RecordId, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    who.require(VIEW, "查看农房建设档案")
    h = house(conn, house_id)
    found = _houses(conn, "AND h.id = :id", {"id": house_id})
    view = _house_view(found[0], who) if found else {
        **{k: h[k] for k in ("id", "code", "district", "township", "village", "status", "stage", "approval_no")},
        "owner_name": owner_name(who, h["owner_name"]),
        "approved_on": h["approved_on"].isoformat() if h["approved_on"] else None,
        "next_stage": None, "next_due_on": None, "overdue": False,
    }  # fmt: skip
    items = inspections_of(conn, house_id)
    nxt = next_stage(conn, h["stage"]) if h["status"] == "在建" else None
    timeline = []
    for s in active_stages(conn):
        done = [i for i in items if i["stage"] == s["code"]]
        passed = next((i for i in done if i["result"] == "pass"), None)
        timeline.append({
            "code": s["code"], "name": s["name"], "due_days": s["due_days"],
            "state": "passed" if passed else ("next" if nxt and nxt["code"] == s["code"] else "pending"),
            "passed_on": passed["inspected_on"] if passed else None,
            "due_on": passed["due_on"] if passed else (view["next_due_on"] if nxt and nxt["code"] == s["code"] else None),
            "inspections": len(done),
        })  # fmt: skip
    return {
        **view, "timeline": timeline, "inspections": items, "record_url": f"/records/farmhouses/{h['id']}",
        "craftsman": craftsmen.builder_view(conn, h["craftsman_id"]), "version": h["version"],
    }  # fmt: skip


@router.get("/stats", summary="巡查上报统计：各区县各月上报数、迟报数、在建数、逾期（缺报）数")
def get_stats(
    year: Whole(2000, 2100) | None = Query(None, title="年度"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require(VIEW, "查看农房建设统计")
    return statistics(conn, year or today().year, None if who.scope.all else set(who.scope.districts))


@router.get("/stage-counts", summary="在建农房按区县和阶段计数")
def get_stage_counts(
    who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    who.require(VIEW, "查看农房建设统计")
    return {"items": stage_counts(conn)}


@router.get("/inspections", summary="巡查上报记录（最近的在前；按区县、月份、迟报、结果筛选）")
def get_inspections(
    district: Text(20) | None = Query(None, title="区县"),
    month: Code(MONTH) | None = Query(None, title="月份"),
    late: bool | None = Query(None, title="仅迟报"),
    result: Text(10) | None = Query(None, title="结果（pass / fail）"),
    limit: Whole(1, 200) = 20,
    offset: Whole(0, 10_000_000) = 0,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require(VIEW, "查看农房巡查上报")
    i = inspections.c
    where = []
    if district:
        where.append(i.district == district)
    if month:
        start = date(int(month[:4]), int(month[5:7]), 1)
        where += [i.inspected_on >= start, i.inspected_on < (start + timedelta(days=32)).replace(day=1)]
    if late:
        where.append(i.late)
    if result:
        if result not in RESULTS:
            raise ApiError(422, "invalid_result", "巡查结果应为「合格」(pass) 或「不合格」(fail)。", "result")
        where.append(i.result == result)
    total = conn.execute(sa.select(sa.func.count()).select_from(inspections).where(*where)).scalar_one()
    ids = (
        conn.execute(
            sa.select(i.id).where(*where).order_by(i.inspected_on.desc(), i.id.desc()).limit(limit).offset(offset)
        )
        .scalars()
        .all()
    )
    items = {r["id"]: r for r in inspections_of(conn, ids=list(ids))}
    codes = dict(
        conn.execute(
            sa.select(farmhouses.c.id, farmhouses.c.code).where(
                farmhouses.c.id.in_({r["farmhouse_id"] for r in items.values()})
            )
        ).all()
    )
    return {"total": total, "items": [{**items[k], "code": codes.get(items[k]["farmhouse_id"])} for k in ids]}


@router.get("/map", summary="在建农房点位（GeoJSON，专题：阶段、逾期、密度）")
def get_map(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    who.require(VIEW, "查看在建农房分布")
    rows = _houses(conn, "", {"limit": MAP_LIMIT}, "ORDER BY h.id LIMIT :limit")
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": r["id"],
                "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
                "properties": {
                    "code": r["code"],
                    "district": r["district"],
                    "status": r["status"],
                    "stage": r["stage"] or "none",
                    "overdue": bool(r["overdue"]),
                },
            }  # fmt: skip
            for r in rows
            if r["lon"] is not None
        ],
    }
