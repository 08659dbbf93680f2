"""Trainings of the rural construction craftsmen (工匠培训, VT-04): the courses a craftsman attended, with the hours,
the date, and the certificate obtained with its expiry (a certificate past its expiry no longer counts as valid in
the list and the statistics). The same course on the same day is one training (409 the second time)."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_write
from geo import audit
from geo.bounds import Amount, Day, RecordId, Text, Window
from geo.errors import Conflict, Invalid, NotFound
from layers.villages import craftsmen as cm

router = APIRouter(prefix=cm.PREFIX, tags=["智慧村镇·工匠"])


def clean(data: dict, field: str = "") -> dict:
    """A training's fields checked (nothing repaired)."""
    course = str(data.get("course") or "").strip()
    if not course:
        raise Invalid("required", "请填写「培训课程」。", f"{field}course")
    if len(course) > 100:
        raise Invalid("too_long", "「培训课程」至多 100 个字。", f"{field}course")
    hours = data.get("hours")
    if hours is None or not 0 < float(hours) <= 1000:
        raise Invalid("out_of_range", "「培训学时」应大于 0、至多 1000。", f"{field}hours")
    trained_on = data.get("trained_on")
    if not isinstance(trained_on, date):
        raise Invalid("required", "请填写「培训日期」。", f"{field}trained_on")
    if trained_on > date.today():
        raise Invalid("out_of_range", "「培训日期」不能晚于今天。", f"{field}trained_on")
    expires_on = data.get("expires_on")
    if expires_on is not None and expires_on < trained_on:
        raise Invalid("invalid_period", "「证书有效期至」不能早于培训日期。", f"{field}expires_on")
    certificate = str(data.get("certificate_no") or "").strip() or None
    if certificate and len(certificate) > 60:
        raise Invalid("too_long", "「证书编号」至多 60 个字。", f"{field}certificate_no")
    if expires_on is not None and certificate is None:
        raise Invalid("required", "填写了证书有效期，请同时填写「证书编号」。", f"{field}certificate_no")
    return {
        "course": course,
        "hours": round(float(hours), 1),
        "trained_on": trained_on,
        "certificate_no": certificate,
        "expires_on": expires_on,
    }


def same_training(conn: Connection, craftsman_id: int, course: str, trained_on: date) -> int | None:
    t = cm.trainings
    return conn.execute(
        sa.select(t.c.id).where(t.c.craftsman_id == craftsman_id, t.c.course == course, t.c.trained_on == trained_on)
    ).scalar()


def insert(conn: Connection, craftsman: dict, values: dict, actor: str) -> int:
    t = cm.trainings
    return conn.execute(
        sa.insert(t)
        .values(
            craftsman_id=craftsman["id"], district=craftsman["district"], created_by=actor, updated_by=actor, **values
        )
        .returning(t.c.id)
    ).scalar_one()


def _logged(values: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in values.items()}


def add(conn: Connection, craftsman_id: int, data: dict, who: Any) -> dict:
    craftsman = cm.get(conn, craftsman_id, lock=True)
    cm.require_district(who, craftsman["district"])
    values = clean(data)
    if same_training(conn, craftsman_id, values["course"], values["trained_on"]) is not None:
        raise Conflict("duplicate_training", "该工匠同一天的同一培训课程已登记。", "course")
    tid = insert(conn, craftsman, values, who.user)
    audit.record(
        conn, who.user, "create", "vil_craftsman_trainings", tid, None,
        {"craftsman_id": craftsman_id, **_logged(values)}, who.client, user_id=who.user_id,
    )  # fmt: skip
    return cm.detail(conn, craftsman_id)


def remove(conn: Connection, craftsman_id: int, training_id: int, who: Any) -> dict:
    craftsman = cm.get(conn, craftsman_id, lock=True)
    cm.require_district(who, craftsman["district"])
    t = cm.trainings
    row = (
        conn.execute(sa.delete(t).where(t.c.id == training_id, t.c.craftsman_id == craftsman_id).returning(*t.c))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("not_found", "培训记录不存在。", "training_id")
    before = _logged({k: row[k] for k in ("craftsman_id", "course", "trained_on", "certificate_no", "expires_on")})
    audit.record(
        conn, who.user, "delete", "vil_craftsman_trainings", training_id, {**before, "hours": float(row["hours"])},
        None, who.client, user_id=who.user_id,
    )  # fmt: skip
    return cm.detail(conn, craftsman_id)


class TrainingIn(BaseModel):
    course: Text(100, 1) = Field(title="培训课程")
    hours: Amount(1000) = Field(title="培训学时")
    trained_on: Day(Window(years_ahead=0)) = Field(title="培训日期")
    certificate_no: Text(60) | None = Field(None, title="证书编号")
    expires_on: Day() | None = Field(None, title="证书有效期至")


@router.post("/{craftsman_id}/trainings", status_code=201, summary="登记工匠培训（课程、学时、证书、有效期）")
def add_training(
    craftsman_id: RecordId,
    body: TrainingIn,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(cm.EDIT, "登记工匠培训")
    return add(conn, craftsman_id, body.model_dump(), who)


@router.delete("/{craftsman_id}/trainings/{training_id}", summary="删除工匠培训记录")
def delete_training(
    craftsman_id: RecordId,
    training_id: RecordId,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(cm.EDIT, "删除工匠培训记录")
    return remove(conn, craftsman_id, training_id, who)
