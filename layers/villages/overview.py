"""The farmhouse overview (农房总览, VT-01) and the archives workbench: figures, charts and the map on one page.

``GET /api/villages/overview`` (optionally for one district, then by township): the stock of houses, the houses
under construction by approval state (``farmhouses.status`` 审批中 / 在建) and by post-approval stage
(``farmhouses.stage`` in the order of ``vil_stages``; none yet: 未开工), the craftsmen (``vil_craftsmen``, counted
once the craftsmen part of the module has created its table), per district (or township) with each district's
position for the map. Row-level security: a district account sees its district.

Pages (``overview_pages``): ``/villages/overview`` (this) and ``/villages/archives`` (import, search, statistics,
report requests).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read
from api.errors import ApiError
from geo.bounds import Text
from geo.divisions import DISTRICT_NAMES
from geo.modules import Page, log_labels, pages, permissions
from layers.villages.archives import PREFIX, houses, stage_names

router = APIRouter(prefix=PREFIX, tags=["智慧村镇"])
BUILDING = ("审批中", "在建")  # under construction, from the approval on

permissions(
    {"farmhouse.request": "要求区县上报农房数据", "farmhouse.gallery": "管理杭派民居图集"},
    group="智慧村镇",
)
log_labels(
    objects={"vil_report_requests": "农房上报要求", "vil_gallery": "杭派民居图集", "vil_imports": "农房档案导入"},
    actions={"fulfil": "完成上报"},
)
pages(
    Page("/villages/overview", "农房总览", "智慧村镇", "farmhouse.view", order=10),
    Page("/villages/archives", "农房档案", "智慧村镇", "farmhouse.view", order=12),
)


def craftsmen_by(conn: Connection, key: str, district: str | None) -> dict[Any, int]:
    """Craftsmen per district (or per township of one district), once ``vil_craftsmen`` exists."""
    if conn.execute(sa.text("SELECT to_regclass('vil_craftsmen')")).scalar() is None:
        return {}
    # A string: the table belongs to another part of the module and may not exist (checked just above).
    where = "WHERE district = :d" if district else ""
    rows = conn.execute(sa.text(f"SELECT {key}, count(*) FROM vil_craftsmen {where} GROUP BY 1"), {"d": district})
    return {k: n for k, n in rows}


def overview(conn: Connection, district: str | None) -> dict:
    """One scan of the houses in scope: counts per area (district, or township of ``district``) and, for the houses
    under construction, per post-approval stage ('' for none yet) — summed here into the areas and the stages."""
    t = houses()
    key = t.c.township if district else t.c.district
    live = [t.c.deleted_at.is_(None)] + ([t.c.district == district] if district else [])
    stage = sa.case((t.c.status.in_(BUILDING), sa.func.coalesce(t.c.stage, "")), else_=None).label("stage")
    counts = {
        "houses": sa.func.count(),
        "stock": sa.func.count().filter(t.c.status == "存量"),
        "approving": sa.func.count().filter(t.c.status == "审批中"),
        "building": sa.func.count().filter(t.c.status == "在建"),
        "completed": sa.func.count().filter(t.c.status == "已竣工"),
        "dangerous": sa.func.count().filter(t.c.danger_grade.in_(("B", "C", "D"))),
    }
    query = (
        sa.select(key.label("name"), stage, *(c.label(k) for k, c in counts.items()))
        .where(*live)
        .group_by(key, stage)
        .order_by(key)
    )
    areas: dict[Any, dict] = {}
    by_stage: dict[str, int] = {}
    for r in conn.execute(query).mappings():
        area = areas.setdefault(r["name"], {"name": r["name"], **dict.fromkeys(counts, 0), "stages": {}})
        for k in counts:
            area[k] += r[k]
        if r["stage"] is not None:
            area["stages"][r["stage"] or "none"] = r["houses"]
            by_stage[r["stage"]] = by_stage.get(r["stage"], 0) + r["houses"]
    rows = list(areas.values())
    crafts = craftsmen_by(conn, "township" if district else "district", district)
    for r in rows:
        r["craftsmen"] = crafts.get(r["name"], 0)
    stages = stage_names(conn)
    stage_rows = [{"stage": None, "name": "未开工", "houses": by_stage.get("", 0)}] + [
        {"stage": code, "name": name, "houses": by_stage.get(code, 0)} for code, name in stages.items()
    ]
    positions = _positions(conn, district)
    for r in rows:
        r["position"] = positions.get(r["name"])
    totals = {k: sum(r[k] for r in rows) for k in ("houses", "stock", "approving", "building", "completed",
                                                    "dangerous", "craftsmen")}  # fmt: skip
    if not district:
        totals["craftsmen"] = sum(crafts.values())
    return {"district": district, "level": "township" if district else "district", "totals": totals,
            "rows": rows, "stages": stage_rows}  # fmt: skip


def _positions(conn: Connection, district: str | None) -> dict[str, list[float]]:
    """A point inside each district (or, for one district, the middle of each township's houses) for the map."""
    if district is None:
        rows = conn.execute(
            sa.text("SELECT name, ST_X(p), ST_Y(p) FROM (SELECT name, ST_PointOnSurface(geom) p FROM districts) s")
        )
    else:
        t = houses()
        centre = sa.func.ST_Centroid(sa.func.ST_Collect(t.c.geom))
        rows = conn.execute(
            sa.select(t.c.township, sa.func.ST_X(centre), sa.func.ST_Y(centre))
            .where(t.c.district == district, t.c.deleted_at.is_(None))
            .group_by(t.c.township)
        )
    return {name: [round(x, 6), round(y, 6)] for name, x, y in rows if x is not None}


@router.get("/overview", summary="农房总览：存量、在建（审批状态、建设阶段）、工匠，按区县或乡镇")
def overview_api(
    district: Text(20) | None = Query(None, description="区县：给出时按乡镇街道统计"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require("farmhouse.view", "查看农房总览")
    if district is not None and district not in DISTRICT_NAMES:
        raise ApiError(422, "invalid_district", f"区县「{district}」不存在。", "district")
    return overview(conn, district)
