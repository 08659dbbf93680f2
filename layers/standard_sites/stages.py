"""Stage evaluation registrations (阶段考评登记, ST-14): foundation, main structure, decoration — one per site and
stage — registered on site from the phone (ST-26).

The registering officer's position (``lon``, ``lat``, ``accuracy_m``, ``crs``) is checked against the site's
electronic fence exactly as a photo is (``photos.fence_check``: refused outside, or flagged, per policy) and kept
with the record. A retried registration with the same ``Idempotency-Key`` answers the first answer. The scans
(signed evaluation forms) are uploaded through the photos route, kind ``stage``.
"""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api import idempotency
from api.auth import Principal, principal
from api.cases import case_routes, visible
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit, cases
from geo.bounds import Amount, Day, Text, Window
from geo.cases import CaseType, Lookup, Range
from geo.divisions import district_attr
from geo.layer.registry import Attr
from layers.standard_sites import common
from layers.standard_sites import tables as t
from layers.standard_sites.common import PREFIX
from layers.standard_sites.photos import fence_check, photos_of

router = APIRouter(prefix=PREFIX, tags=["标化工地"])

STAGES = {"foundation": "地基基础", "main_structure": "主体结构", "decoration": "装饰装修"}

REGISTRATION = cases.register(
    CaseType(
        kind="st_stage",
        title="阶段考评登记",
        table="st_stage_evals",
        materials=(common.photos("stage"),),
        states={},  # registered once on site; no workflow
        actions=(),
        fields=(
            Attr("site_id", "工地", "int", filterable=True),
            district_attr(),
            Attr("stage", "阶段", choices=tuple(STAGES), filterable=True),
            Attr("evaluated_on", "考评日期", "date"),
            Attr("result", "结果"),
            Attr("score", "得分", "float"),
            Attr("remarks", "备注"),
            Attr("lon", "经度", "float"),
            Attr("lat", "纬度", "float"),
            Attr("inside_fence", "在电子围栏内", "bool"),
            Attr("distance_m", "距围栏(米)", "float"),
        ),
        columns=(
            ("id", "编号"),
            ("site_code", "项目编号"),
            ("site_name", "项目名称"),
            ("district", "区县"),
            ("stage_title", "阶段"),
            ("evaluated_on", "考评日期"),
            ("result", "结果"),
            ("score", "得分"),
            ("inside_fence", "在电子围栏内"),
            ("created_by", "登记人"),
        ),
        view="site.view",
        sort=("site_id", "evaluated_on", "id"),
        ranges=(Range("from", "evaluated_on", ">="), Range("to", "evaluated_on", "<=")),
        lookups=(Lookup("sites", "site_id", {"site_code": "code", "site_name": "name"}),),
    )
)


class NewStage(BaseModel):
    stage: Literal["foundation", "main_structure", "decoration"]
    evaluated_on: Day(Window(years_ahead=0)) = Field(title="考评日期")
    result: Literal["优良", "合格", "不合格"]
    score: Amount(100) | None = Field(None, title="得分")
    remarks: Text(2000) | None = Field(None, title="备注")
    lon: Amount(180, -180) | None = Field(None, title="经度")  # the fence check says where Hangzhou is
    lat: Amount(90, -90) | None = Field(None, title="纬度")
    accuracy_m: Amount(100_000) | None = Field(None, title="定位精度（米）")
    crs: Text(20) | None = Field(None, title="坐标系")


def view(row: dict) -> dict:
    return {
        "id": row["id"],
        "site_id": row["site_id"],
        "site_code": row.get("site_code"),
        "site_name": row.get("site_name"),
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
    se = t.stage_evals
    existing = conn.execute(
        sa.select(se.c.id, se.c.evaluated_on).where(se.c.site_id == site_id, se.c.stage == body.stage)
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
            sa.insert(se)
            .values(
                site_id=site_id,
                stage=body.stage,
                evaluated_on=body.evaluated_on,
                result=body.result,
                score=body.score,
                remarks=body.remarks,
                lon=where["lon"],
                lat=where["lat"],
                inside_fence=where["inside_fence"],
                distance_m=where["distance_m"],
                idempotency_key=f"{who.user_id}:{key}" if key else None,
                district=s["district"],
                created_by=who.user,
                updated_by=who.user,
            )
            .returning(*se.c)
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
    return {**view(visible(conn, REGISTRATION, row["id"], who)), "photos": []}


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


@router.get("/sites/{site_id}/stages", summary="工地的阶段考评登记")
def site_stages(
    site_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    who.require("site.view", "查看阶段考评")
    common.site(conn, site_id)
    rows = (
        conn.execute(
            REGISTRATION.select()  # with the site's code and name
            .where(REGISTRATION.sa_table.c.site_id == site_id)
            .order_by(REGISTRATION.sa_table.c.evaluated_on, REGISTRATION.sa_table.c.id)
        )
        .mappings()
        .all()
    )
    done = {r["stage"] for r in rows}
    return {
        "stages": [view(dict(r)) for r in rows],
        "pending": [{"stage": k, "stage_title": v} for k, v in STAGES.items() if k not in done],
    }


# The list (filters site_id, district, stage, from, to), its Excel export and the detail (with the scans) come from
# the declaration; registering on site and a site's stages are the routes above.
case_routes(
    router,
    REGISTRATION,
    "/stages",
    view=lambda conn, row, who: view(row),
    items_key="stages",
    detail=lambda conn, row, who: {"photos": photos_of(conn, "stage", row["id"])},
    summaries={"list": "阶段考评登记列表（按权限范围）", "detail": "阶段考评登记详情（含扫描件）"},
)
