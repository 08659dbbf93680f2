"""The operation log (``admin.log``) and the SMS outbox (``admin.sms``)."""

from __future__ import annotations

from fastapi import Depends, Query
from sqlalchemy import Connection

from api.admin.common import LOG, PAGE_MAX, SMS, blank, endpoints, like, moment, page
from api.auth import Principal
from api.deps import db_read


@endpoints.get("/log", summary="操作日志（新的在前）")
def operation_log(
    actor: str | None = None,
    action: str | None = None,
    layer: str | None = None,
    feature_id: int | None = None,
    from_: str | None = Query(None, alias="from"),
    to: str | None = None,
    q: str | None = None,
    limit: int = Query(50, ge=1, le=PAGE_MAX),
    offset: int = Query(0, ge=0),
    who: Principal = LOG,
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    """``actor``, ``action`` and ``layer`` match exactly (``action`` may list several, comma-separated); ``from``
    and ``to`` bound the time (a date means the whole day, Beijing time); ``q`` is a substring of the actor,
    address, object or the recorded content."""
    where, params = [], {}
    if blank(actor):
        where.append("actor = :actor")
        params["actor"] = actor.strip()
    if blank(action):
        where.append("action = ANY(:actions)")
        params["actions"] = [a.strip() for a in action.split(",") if a.strip()]
    if blank(layer):
        where.append("layer = :layer")
        params["layer"] = layer.strip()
    if feature_id is not None:
        where.append("feature_id = :fid")
        params["fid"] = feature_id
    start, end = moment(from_, "from"), moment(to, "to", end=True)
    if start:
        where.append("at >= :start")
        params["start"] = start
    if end:
        where.append("at < :end")
        params["end"] = end
    if blank(q):
        where.append(
            "(actor ILIKE :q OR client ILIKE :q OR layer ILIKE :q OR detail::text ILIKE :q "
            "OR before::text ILIKE :q OR after::text ILIKE :q)"
        )
        params["q"] = like(q.strip())
    return page(
        conn,
        "id, at, actor, user_id, client, action, layer, feature_id, before, after, detail",
        "audit_log",
        where,
        params,
        "at DESC, id DESC",
        limit,
        offset,
    )


@endpoints.get("/sms", summary="短信发件箱（新的在前）")
def sms_outbox(
    phone: str | None = None,
    purpose: str | None = None,
    limit: int = Query(50, ge=1, le=PAGE_MAX),
    offset: int = Query(0, ge=0),
    who: Principal = SMS,
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    """``phone`` is a substring of the number; ``purpose`` matches exactly."""
    where, params = [], {}
    if blank(phone):
        where.append("s.phone LIKE :phone")
        params["phone"] = like(phone.strip())
    if blank(purpose):
        where.append("s.purpose = :purpose")
        params["purpose"] = purpose.strip()
    return page(
        conn,
        "s.id, s.phone, s.body, s.purpose, s.user_id, u.username, s.backend, s.status, s.error, "
        "s.created_at, s.sent_at",
        "sms_outbox s LEFT JOIN users u ON u.id = s.user_id",
        where,
        params,
        "s.id DESC",
        limit,
        offset,
    )
