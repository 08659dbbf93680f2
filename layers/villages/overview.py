"""The farmhouse overview (农房总览, VT-01) and the archives workbench: figures, charts and the map on one page.

``GET /api/villages/overview`` (optionally for one district, then by township): the stock of houses, the houses
under construction by approval state (``farmhouses.status`` 审批中 / 在建) and by post-approval stage
(``farmhouses.stage`` in the order of ``vil_stages``; none yet: 未开工), the craftsmen (``vil_craftsmen``, counted
once the craftsmen part of the module has created its table), per district (or township) with each district's
position for the map. Row-level security: a district account sees its district.

Speed: the houses' part (one aggregate over up to 1,000,000 rows, 400–600 ms) is cached in the process per database,
role, stated scope, district and the farmhouse and district layers' generations (``layer_changes``, bumped by every transaction
that writes the layer, read in the same statement as the aggregate), so a request after any write recomputes it;
the craftsmen and the stage names are read on every request (small tables).

Pages (``overview_pages``): ``/villages/overview`` (this) and ``/villages/archives`` (import, search, statistics,
report requests).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read
from api.errors import ApiError
from geo import scope as scopes
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


_cache: OrderedDict[tuple, tuple[Any, dict, dict, dict]] = OrderedDict()
_lock = threading.Lock()
CACHE_SIZE = 256
# The generations of the farmhouses (the counts) and the districts (their positions on the map).
STAMP = (
    "(SELECT array_agg(ARRAY[gen, (extract(epoch FROM changed_at) * 1e6)::bigint] ORDER BY layer) "
    "FROM layer_changes WHERE layer IN ('districts', 'farmhouses'))"
)


def _house_counts(conn: Connection, district: str | None) -> tuple[dict, dict, dict]:
    """(areas, houses per stage, positions) of the houses in scope, from the cache while the farmhouses are
    unchanged (see the module's docstring)."""
    stamp, role = conn.execute(sa.text(f"SELECT {STAMP}, current_user")).one()
    key = (conn.engine.url.render_as_string(hide_password=True), role, scopes.current_key(conn), district)
    if stamp is not None:
        with _lock:
            hit = _cache.get(key)
            if hit is not None and hit[0] == stamp:
                _cache.move_to_end(key)
                return hit[1], hit[2], hit[3]
    areas, by_stage, computed_at = _aggregate(conn, district, stamp)
    positions = _positions(conn, district)
    if computed_at is not None:
        with _lock:
            _cache[key] = (computed_at, areas, by_stage, positions)
            _cache.move_to_end(key)
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return areas, by_stage, positions


def _aggregate(conn: Connection, district: str | None, stamp: Any) -> tuple[dict, dict, Any]:
    """One scan of the houses in scope: counts per area (district, or township of ``district``) and, for the houses
    under construction, per post-approval stage ('' for none yet); with ``stamp`` (the generations read just before)
    when they are still the same after it, else None."""
    t = houses()
    key = t.c.township if district else t.c.district
    live = [t.c.deleted_at.is_(None)] + ([t.c.district == district] if district else [])
    stage = sa.case((t.c.status.in_(BUILDING), sa.func.coalesce(t.c.stage, "")), else_=None).label("stage")
    query = (
        sa.select(key.label("name"), stage, *(c.label(k) for k, c in _counts(t).items()))
        .where(*live)
        .group_by(key, stage)
        .order_by(key)
    )
    areas: dict[Any, dict] = {}
    by_stage: dict[str, int] = {}
    names = list(_counts(t))
    for r in conn.execute(query).mappings():
        area = areas.setdefault(r["name"], {"name": r["name"], **dict.fromkeys(names, 0), "stages": {}})
        for k in names:
            area[k] += r[k]
        if r["stage"] is not None:
            area["stages"][r["stage"] or "none"] = r["houses"]
            by_stage[r["stage"]] = by_stage.get(r["stage"], 0) + r["houses"]
    # A write between the two statements of a read-committed transaction: do not keep this answer.
    if conn.execute(sa.text(f"SELECT {STAMP}")).scalar() != stamp:
        stamp = None
    return areas, by_stage, stamp


def _counts(t: Any) -> dict[str, Any]:
    return {
        "houses": sa.func.count(),
        "stock": sa.func.count().filter(t.c.status == "存量"),
        "approving": sa.func.count().filter(t.c.status == "审批中"),
        "building": sa.func.count().filter(t.c.status == "在建"),
        "completed": sa.func.count().filter(t.c.status == "已竣工"),
        "dangerous": sa.func.count().filter(t.c.danger_grade.in_(("B", "C", "D"))),
    }


def overview(conn: Connection, district: str | None) -> dict:
    """The figures of the houses in scope (cached per farmhouse generation), the craftsmen and the stages."""
    cached, by_stage, positions = _house_counts(conn, district)
    areas = {k: {**v, "stages": dict(v["stages"])} for k, v in cached.items()}  # the cache is never changed
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
