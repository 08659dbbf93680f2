"""The farmhouse overview (农房总览, VT-01) and the archives workbench: figures, charts and the map on one page.

``GET /api/villages/overview`` (optionally for one district, then by township): the stock of houses, the houses
under construction by approval state (``farmhouses.status`` 审批中 / 在建) and by post-approval stage
(``farmhouses.stage`` in the order of ``vil_stages``; none yet: 未开工), the craftsmen (``vil_craftsmen``, counted
once the craftsmen part of the module has created its table), per district (or township) with each district's
position for the map. Row-level security: a district account sees its district.

Speed: the houses' part is read from ``vil_overview_counts`` (migration ``vil_0008``): counts per district, township,
status, stage and danger, and the sums of the houses' points (a township's position is their mean), kept by
statement-level triggers on ``farmhouses`` in the writing transaction. A few hundred rows instead of up to 1,000,000
houses, so no cache: every answer, the first after a write included, is exact under the reader's own row-level
security and snapshot. The districts' positions, the craftsmen and the stage names are read on every request (small
tables).

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
from layers.villages.archives import PREFIX, stage_names

router = APIRouter(prefix=PREFIX, tags=["智慧村镇"])

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


# The houses in scope per area (district, or township of one district) and, for the houses under construction,
# per post-approval stage ('' for none yet), with the sums of their points: from the kept counts (vil_0008).
HOUSES = """
SELECT nullif({area}, '') AS name,
       CASE WHEN status IN ('审批中', '在建') THEN stage END AS stage,
       sum(n)::bigint AS houses,
       coalesce(sum(n) FILTER (WHERE status = '存量'), 0)::bigint AS stock,
       coalesce(sum(n) FILTER (WHERE status = '审批中'), 0)::bigint AS approving,
       coalesce(sum(n) FILTER (WHERE status = '在建'), 0)::bigint AS building,
       coalesce(sum(n) FILTER (WHERE status = '已竣工'), 0)::bigint AS completed,
       coalesce(sum(n) FILTER (WHERE dangerous), 0)::bigint AS dangerous,
       sum(sx) AS sx, sum(sy) AS sy
  FROM vil_overview_counts
 {where}
 GROUP BY 1, 2
HAVING sum(n) <> 0
 ORDER BY 1 NULLS LAST, 2 NULLS FIRST
"""
FIGURES = ("houses", "stock", "approving", "building", "completed", "dangerous")


def _house_counts(conn: Connection, district: str | None) -> tuple[dict, dict, dict]:
    """(areas, houses per stage, positions) of the houses in scope, read from ``vil_overview_counts``."""
    sql = (
        HOUSES.format(area="township", where="WHERE district = :d")
        if district
        else HOUSES.format(area="district", where="")
    )
    areas: dict[Any, dict] = {}
    by_stage: dict[str, int] = {}
    sums: dict[Any, list[float]] = {}
    for r in conn.execute(sa.text(sql), {"d": district}).mappings():
        area = areas.setdefault(r["name"], {"name": r["name"], **dict.fromkeys(FIGURES, 0), "stages": {}})
        for k in FIGURES:
            area[k] += r[k]
        s = sums.setdefault(r["name"], [0.0, 0.0])
        s[0] += r["sx"]
        s[1] += r["sy"]
        if r["stage"] is not None:
            area["stages"][r["stage"] or "none"] = r["houses"]
            by_stage[r["stage"]] = by_stage.get(r["stage"], 0) + r["houses"]
    if district is None:
        positions = _district_positions(conn)
    else:  # the middle of each township's houses: the mean of their points
        positions = {
            k: [round(x / areas[k]["houses"], 6), round(y / areas[k]["houses"], 6)] for k, (x, y) in sums.items()
        }
    return areas, by_stage, positions


def overview(conn: Connection, district: str | None) -> dict:
    """The figures of the houses in scope, the craftsmen and the stages."""
    areas, by_stage, positions = _house_counts(conn, district)
    rows = list(areas.values())
    crafts = craftsmen_by(conn, "township" if district else "district", district)
    for r in rows:
        r["craftsmen"] = crafts.get(r["name"], 0)
    stages = stage_names(conn)
    stage_rows = [{"stage": None, "name": "未开工", "houses": by_stage.get("", 0)}] + [
        {"stage": code, "name": name, "houses": by_stage.get(code, 0)} for code, name in stages.items()
    ]
    for r in rows:
        r["position"] = positions.get(r["name"])
    totals = {k: sum(r[k] for r in rows) for k in ("houses", "stock", "approving", "building", "completed",
                                                    "dangerous", "craftsmen")}  # fmt: skip
    if not district:
        totals["craftsmen"] = sum(crafts.values())
    return {"district": district, "level": "township" if district else "district", "totals": totals,
            "rows": rows, "stages": stage_rows}  # fmt: skip


def _district_positions(conn: Connection) -> dict[str, list[float]]:
    """A point inside each district, for the map."""
    rows = conn.execute(
        sa.text("SELECT name, ST_X(p), ST_Y(p) FROM (SELECT name, ST_PointOnSurface(geom) p FROM districts) s")
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
