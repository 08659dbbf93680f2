"""Stage evaluation registrations (阶段考评登记, ST-14): foundation, main structure, decoration — one per site and
stage — registered on site from the phone (ST-26).

The registering officer's position (``lon``, ``lat``, ``accuracy_m``, ``crs``) is checked against the site's
electronic fence exactly as a photo is (``photos.fence_check``: refused outside, or flagged, per policy) and kept
with the record. A retried registration with the same ``Idempotency-Key`` answers the first answer. The scans
(signed evaluation forms) are uploaded through the photos route, kind ``stage``.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api import idempotency
from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit
from layers.standard_sites import common
from layers.standard_sites.common import PREFIX
from layers.standard_sites.photos import fence_check, photos_of

router = APIRouter(prefix=PREFIX, tags=["标化工地"])

STAGES = {"foundation": "地基基础", "main_structure": "主体结构", "decoration": "装饰装修"}


class NewStage(BaseModel):
    stage: Literal["foundation", "main_structure", "decoration"]
    evaluated_on: date
    result: Literal["优良", "合格", "不合格"]
    score: float | None = Field(None, ge=0, le=100)
    remarks: str | None = Field(None, max_length=2000)
    lon: float | None = None
    lat: float | None = None
    accuracy_m: float | None = Field(None, ge=0)
    crs: str | None = Field(None, max_length=20)


def view(row: dict) -> dict:
    return {
        "id": row["id"],
        "site_id": row["site_id"],
        "district": row["district"],
        "stage": row["stage"],
        "stage_title": STAGES[row["stage"]],
        "evaluated_on": row["evaluated_on"].isoformat(),
        "result": row["result"],
        "score": row["score"],
        "remarks": row["remarks"],
        "lon": row["lon"],
        "lat": row["lat"],
        "inside_fence": row["inside_fence"],
        "distance_m": row["distance_m"],
        "version": row["version"],
        "created_at": row["created_at"].isoformat(),
        "created_by": row["created_by"],
        "scans_url": f"{PREFIX}/stage/{row['id']}/photos",
    }


def create(conn: Connection, who: Principal, site_id: int, body: NewStage, key: str | None) -> dict:
    who.require("site.stage", "登记阶段考评")
    s = common.site(conn, site_id)
    if body.evaluated_on > common.today_beijing():
        raise ApiError(422, "future_date", "考评日期不能晚于今天。", "evaluated_on")
    existing = conn.execute(
        sa.text("SELECT id, evaluated_on FROM st_stage_evals WHERE site_id = :s AND stage = :t"),
        {"s": site_id, "t": body.stage},
    ).first()
    if existing is not None:
        raise ApiError(
            409,
            "duplicate_stage",
            f"该工地的{STAGES[body.stage]}阶段考评已于 {existing.evaluated_on} 登记，每个阶段只能登记一次。",
            "stage",
            {"stage_eval_id": existing.id},
        )
    where = fence_check(conn, site_id, body.lon, body.lat, body.crs, body.accuracy_m)
    row = (
        conn.execute(
            sa.text(
                "INSERT INTO st_stage_evals (site_id, stage, evaluated_on, result, score, remarks, lon, lat, inside_fence, "
                "distance_m, idempotency_key, district, created_by, updated_by) VALUES (:s, :t, :on, :r, :score, :rem, "
                ":lon, :lat, :inside, :dist, :key, :d, :a, :a) RETURNING *"
            ),
            {
                "s": site_id,
                "t": body.stage,
                "on": body.evaluated_on,
                "r": body.result,
                "score": body.score,
                "rem": body.remarks,
                "lon": where["lon"],
                "lat": where["lat"],
                "inside": where["inside_fence"],
                "dist": where["distance_m"],
                "key": f"{who.user_id}:{key}" if key else None,
                "d": s["district"],
                "a": who.user,
            },
        )
        .mappings()
        .one()
    )
    audit.record(
        conn,
        who.user,
        "create",
        "st_stage_evals",
        row["id"],
        None,
        {
            "site_id": site_id,
            "stage": body.stage,
            "result": body.result,
            "score": body.score,
            "inside_fence": where["inside_fence"],
            "distance_m": where["distance_m"],
        },
        who.client,
        user_id=who.user_id,
    )
    return {**view(dict(row)), "photos": []}


@router.post("/sites/{site_id}/stages", status_code=201, summary="阶段考评登记（现场定位，电子围栏校验）")
def create_stage(
    site_id: int,
    body: NewStage,
    request: Request,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> JSONResponse:
    key = idempotency.key_of(request)
    return idempotency.run(
        conn,
        who.user_id,
        key,
        idempotency.body_hash("stage", site_id, body.model_dump()),
        lambda: (201, create(conn, who, site_id, body, key)),
    )


@router.get("/stages", summary="阶段考评登记列表（按权限范围）")
def list_stages(
    site_id: int | None = None,
    district: str | None = None,
    stage: str | None = None,
    limit: int = Query(100, ge=1, le=500),
    offset: int = Query(0, ge=0),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require("site.view", "查看阶段考评")
    where, params = ["true"], {"limit": limit, "offset": offset}
    for name, value in (("site_id", site_id), ("district", district), ("stage", stage)):
        if value is not None:
            where.append(f"{name} = :{name}")
            params[name] = value
    sql = " AND ".join(where)
    total = conn.execute(sa.text(f"SELECT count(*) FROM st_stage_evals WHERE {sql}"), params).scalar()
    rows = (
        conn.execute(
            sa.text(
                f"SELECT * FROM st_stage_evals WHERE {sql} ORDER BY site_id, evaluated_on, id "
                "LIMIT :limit OFFSET :offset"
            ),
            params,
        )
        .mappings()
        .all()
    )
    return {"total": total, "stages": [view(dict(r)) for r in rows]}


@router.get("/sites/{site_id}/stages", summary="工地的阶段考评登记")
def site_stages(
    site_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    who.require("site.view", "查看阶段考评")
    common.site(conn, site_id)
    rows = (
        conn.execute(
            sa.text("SELECT * FROM st_stage_evals WHERE site_id = :s ORDER BY evaluated_on, id"), {"s": site_id}
        )
        .mappings()
        .all()
    )
    done = {r["stage"] for r in rows}
    return {
        "stages": [view(dict(r)) for r in rows],
        "pending": [{"stage": k, "stage_title": v} for k, v in STAGES.items() if k not in done],
    }


@router.get("/stages/{stage_id}", summary="阶段考评登记详情（含扫描件）")
def stage_detail(
    stage_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    who.require("site.view", "查看阶段考评")
    row = conn.execute(sa.text("SELECT * FROM st_stage_evals WHERE id = :id"), {"id": stage_id}).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "阶段考评登记不存在，或不在您的数据范围内。")
    return {**view(dict(row)), "photos": photos_of(conn, "stage", stage_id)}
