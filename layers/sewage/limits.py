"""The discharge limits of the sewage facilities: the table shipped in the repo (``limits.csv``, loaded by the
migration ``sew_0004`` into ``sewage_limits``) and each facility's overrides.

Every value of ``limits.csv`` names its set, code, the clause of the standard it comes from and whether it was
verified against a text of the standard (``verified`` with the address read) or not (``unverified``: transcribed,
to be checked against the published standard before it is relied on). A facility's set follows its type and
discharge standard (``sewage_limit_set`` in the migration): 农村污水处理终端 → DB33/973-2021 一级 (二级 where its
standard is 二级); 城镇污水处理厂 一级A / 一级B / 二级 → GB 18918-2002 表1; 准IV类 → DB33/2169-2018 表1 (现有) or
表2 (新建: commissioned from 2019), with GB 18918-2002 一级A for the codes DB33/2169-2018 does not name.

An administrator (``sewage.limits``) sets a facility's own value for one code with a reason, or removes it: both
in the operation log with the values before and after. ``GET /api/sewage/limits`` lists the table with its
citations; ``GET /api/sewage/facilities/{id}/limits`` the limits that apply to one facility.
"""

from __future__ import annotations

import csv
from pathlib import Path

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit
from geo.bounds import Amount, Text
from geo.modules import log_labels, permissions

LIMITS_CSV = Path(__file__).resolve().parent / "limits.csv"

permissions({"sewage.limits": "维护污水设施排放限值"}, group="污水处理")
log_labels(
    objects={"sewage_limit_overrides": "设施排放限值"},
    actions={"sewage_limit_set": "设定设施排放限值", "sewage_limit_clear": "恢复标准排放限值"},
)

router = APIRouter(prefix="/api/sewage", tags=["sewage"])


def shipped() -> list[dict]:
    """The rows of ``limits.csv`` as shipped (what the migration loaded)."""
    with LIMITS_CSV.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


TABLE_SQL = """
SELECT s.id AS set_id, s.title, s.document, s.fallback, l.code, c.name AS code_name, c.unit, l.max, l.max_cold,
       l.min, l.clause, l.verified, l.source
FROM sewage_limits l JOIN sewage_limit_sets s ON s.id = l.set_id JOIN sewage_codes c ON c.code = l.code
ORDER BY s.id, c.id
"""

FACILITY_SQL = """
SELECT l.code, c.name AS code_name, c.unit, l.max, l.max_cold, l.min, l.plant_set, l.set_id, l.clause, l.verified,
       l.source, l.overridden, l.override_reason, l.standard_max, l.standard_max_cold, l.standard_min
FROM sewage_plant_limits l JOIN sewage_codes c ON c.code = l.code
WHERE l.plant_id = :p ORDER BY c.id
"""


def facility_limits(conn: Connection, plant_id: int) -> dict:
    """The limits that apply to a facility the caller may see (404 otherwise)."""
    row = (
        conn.execute(
            sa.text(
                "SELECT id, district, kind, discharge_standard, commissioned_on, "
                "sewage_limit_set(kind, discharge_standard, commissioned_on) AS set_id "
                "FROM sewage_plants WHERE id = :p AND deleted_at IS NULL"
            ),
            {"p": plant_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise ApiError(404, "not_found", "污水处理设施不存在或无权查看。")
    items = [dict(r) for r in conn.execute(sa.text(FACILITY_SQL), {"p": plant_id}).mappings()]
    title = None
    if row["set_id"]:
        title = conn.execute(
            sa.text("SELECT title FROM sewage_limit_sets WHERE id = :s"), {"s": row["set_id"]}
        ).scalar()
    return {"plant_id": plant_id, "set_id": row["set_id"], "set_title": title, "items": items}


@router.get("/limits")
def limits_table(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    """The limits table with the clause cited and the verification of every value."""
    who.require("sewage.view", "查看污水处理设施")
    return {"items": [dict(r) for r in conn.execute(sa.text(TABLE_SQL)).mappings()]}


@router.get("/facilities/{plant_id}/limits")
def get_facility_limits(
    plant_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    who.require("sewage.view", "查看污水处理设施")
    return facility_limits(conn, plant_id)


class Override(BaseModel):
    max: Amount(1e6, -1e6)
    max_cold: Amount(1e6, -1e6) | None = None
    min: Amount(1e6, -1e6) | None = None
    reason: Text(500, 2)


def _current(conn: Connection, plant_id: int, code: str) -> dict | None:
    r = conn.execute(
        sa.text("SELECT max, max_cold, min, reason FROM sewage_limit_overrides WHERE plant_id = :p AND code = :c"),
        {"p": plant_id, "c": code},
    )
    row = r.mappings().first()
    return dict(row) if row else None


def _plant(conn: Connection, plant_id: int) -> dict:
    row = (
        conn.execute(
            sa.text("SELECT id, district FROM sewage_plants WHERE id = :p AND deleted_at IS NULL FOR UPDATE"),
            {"p": plant_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise ApiError(404, "not_found", "污水处理设施不存在或无权查看。")
    return dict(row)


@router.put("/facilities/{plant_id}/limits/{code}")
def set_override(
    plant_id: int,
    code: str,
    body: Override,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    """Set the facility's own limit of one code (an administrator's, with a reason)."""
    who.require("sewage.limits", "维护污水设施排放限值")
    plant = _plant(conn, plant_id)
    name = conn.execute(sa.text("SELECT name FROM sewage_codes WHERE code = :c"), {"c": code}).scalar()
    if name is None:
        raise ApiError(404, "unknown_code", f"监测因子编码 {code[:20]} 不在本平台的因子表中。", "code")
    if body.min is not None and body.min >= body.max:
        raise ApiError(422, "invalid_limit", f"{name}的下限须小于上限。", "min")
    if body.max_cold is not None and body.max_cold < body.max:
        raise ApiError(422, "invalid_limit", f"{name}的低水温限值不应严于常温限值。", "max_cold")
    before = _current(conn, plant_id, code)
    conn.execute(
        sa.text(
            "INSERT INTO sewage_limit_overrides (plant_id, code, district, max, max_cold, min, reason, updated_by) "
            "VALUES (:p, :c, :d, :max, :cold, :min, :r, :u) ON CONFLICT (plant_id, code) DO UPDATE SET "
            "max = excluded.max, max_cold = excluded.max_cold, min = excluded.min, reason = excluded.reason, "
            "updated_by = excluded.updated_by, updated_at = now()"
        ),
        {
            "p": plant_id,
            "c": code,
            "d": plant["district"],
            "max": body.max,
            "cold": body.max_cold,
            "min": body.min,
            "r": body.reason,
            "u": who.user,
        },
    )
    after = _current(conn, plant_id, code)
    audit.record(
        conn,
        who.user,
        "sewage_limit_set",
        "sewage_limit_overrides",
        plant_id,
        before,
        after,
        detail={"code": code},
        user_id=who.user_id,
    )
    return facility_limits(conn, plant_id)


@router.delete("/facilities/{plant_id}/limits/{code}")
def clear_override(
    plant_id: int,
    code: str,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    """Remove the facility's own limit of one code: the standard's applies again."""
    who.require("sewage.limits", "维护污水设施排放限值")
    _plant(conn, plant_id)
    before = _current(conn, plant_id, code)
    if before is None:
        raise ApiError(404, "not_found", "该设施的这一监测因子没有单独设定的限值。", "code")
    conn.execute(
        sa.text("DELETE FROM sewage_limit_overrides WHERE plant_id = :p AND code = :c"), {"p": plant_id, "c": code}
    )
    audit.record(
        conn,
        who.user,
        "sewage_limit_clear",
        "sewage_limit_overrides",
        plant_id,
        before,
        None,
        detail={"code": code},
        user_id=who.user_id,
    )
    return facility_limits(conn, plant_id)
