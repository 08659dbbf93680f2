"""Rural construction craftsmen (农村建房工匠, VT-04): registration and credit record.

A craftsman is a person of the personnel register (``layers.persons``), found by the resident ID number: the name,
ID number and phone stay in the register (a person not yet in it is added there, with the craftsman's district);
this module keeps where the craftsman works (district or county, township), the trades, the team and a photo. One
person is at most one craftsman. Trainings are in ``training``, the merge of existing lists in
``craftsmen_merge``.

Credit: good and bad behaviour (a passed or failed inspection of a house he built, a complaint, an award) is
recorded here (``vil_craftsman_events``) and declared a credit feed of the person (``credit.feeds`` on
``vil_craftsman_event``, state None: on recording): the credit module writes the event in the credit register and
rescores the person in the same transaction. The inspections of a house whose builder he is give theirs by
themselves (``inspection_event``, once per inspection, ``inspections.py``). The trades are the names of the
configurable list ``vil_trades`` (``trades.py``).

Personal data: ID numbers and phones are masked in every answer; ``POST /{id}/unmask`` (``person.unmask``) shows
them and is written to the operation log as 「查看个人信息」. Reading needs ``farmhouse.view``, writing
``farmhouse.edit``; row-level security keeps a district account to its district's craftsmen.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Query, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit, files, personal
from geo import scope as scopes
from geo.bounds import MOBILE, RECORD_CODE, RESIDENT_ID, Amount, Code, Day, RecordId, Text, Version, Window
from geo.db import bookkeeping_columns
from geo.errors import Conflict, Forbidden, Invalid, NotFound, StaleVersion
from geo.layer.registry import Attr
from geo.modules import Page, log_labels, pages
from geo.records import Link, RecordKind, register_kind, register_link
from layers import credit
from layers.credit import Subject
from layers.persons import UNMASK, check_id_number, get_by_id_number, persons
from layers.villages import trades as trade_list

PREFIX = "/api/villages/craftsmen"
VIEW, EDIT, IMPORT = "farmhouse.view", "farmhouse.edit", "farmhouse.import"
STATUSES = {"active": "在册", "inactive": "停用"}
EVENT_KIND = "vil_craftsman_event"  # the credit feeds' kind (the source of the credit events)
# event type → (Chinese title, polarity, default points)
EVENTS: dict[str, tuple[str, str, float]] = {
    "vil_inspection_pass": ("农房建设检查合格", "good", 2.0),
    "vil_inspection_fail": ("农房建设检查不合格", "bad", 5.0),
    "vil_complaint": ("农户投诉", "bad", 3.0),
    "vil_award": ("工匠表彰奖励", "good", 5.0),
}
MASKED = {"id_number": "id_number", "phone": "phone"}
TS = sa.DateTime(timezone=True)
metadata = sa.MetaData()

craftsmen = sa.Table(
    "vil_craftsmen",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("person_id", sa.BigInteger),
    sa.Column("district", sa.Text),
    sa.Column("township", sa.Text),
    sa.Column("trades", ARRAY(sa.Text)),
    sa.Column("team", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("photo_sha256", sa.Text),
    sa.Column("photo_type", sa.Text),
    sa.Column("source", sa.Text),
    sa.Column("note", sa.Text),
    *bookkeeping_columns(),
)
trainings = sa.Table(
    "vil_craftsman_trainings",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("craftsman_id", sa.BigInteger),
    sa.Column("district", sa.Text),
    sa.Column("course", sa.Text),
    sa.Column("hours", sa.Numeric),
    sa.Column("trained_on", sa.Date),
    sa.Column("certificate_no", sa.Text),
    sa.Column("expires_on", sa.Date),
    *bookkeeping_columns(),
)
events = sa.Table(
    "vil_craftsman_events",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("craftsman_id", sa.BigInteger),
    sa.Column("district", sa.Text),
    sa.Column("event_type", sa.Text),
    sa.Column("occurred_on", sa.Date),
    sa.Column("points", sa.Numeric),
    sa.Column("reason", sa.Text),
    sa.Column("farmhouse_code", sa.Text),
    sa.Column("inspection_id", sa.BigInteger),
    *bookkeeping_columns(),
)

log_labels(
    objects={
        "vil_craftsmen": "农村建房工匠",
        "vil_craftsman_trainings": "工匠培训记录",
        "vil_craftsman_events": "工匠信用事件",
        "vil_craftsman_conflicts": "工匠合并冲突",
    },
    actions={"photo_upload": "上传照片", "resolve": "处理冲突"},
)
pages(Page("/villages/craftsmen", "建房工匠", "智慧村镇", VIEW, order=54))
# A craftsman's credit event is the source record of its entry in the credit register (``/records/<kind>/<id>``).
register_kind(
    RecordKind(
        kind=EVENT_KIND,
        title="工匠信用事件",
        table="vil_craftsman_events",
        key="id",
        attrs=(
            Attr("event_type", "事件类型"),
            Attr("occurred_on", "发生日期", type="date"),
            Attr("points", "分值", type="float"),
            Attr("reason", "事由"),
            Attr("farmhouse_code", "农房编号"),
            Attr("district", "区县"),
            Attr("created_by", "登记人"),
        ),
        module="villages",
        label="reason",
        view=VIEW,
        audit_object="vil_craftsman_events",
        value_labels={"event_type": {k: v[0] for k, v in EVENTS.items()}},
    )
)
register_link(
    Link(
        target="persons",
        module="villages",
        title="农村建房工匠",
        table="vil_craftsmen",
        column="person_id",
        columns=(("district", "登记区县"), ("township", "乡镇街道"), ("team", "施工队"), ("status", "状态")),
    )
)


# -- checks --------------------------------------------------------------------------------------------------


def require_district(who: Any, district: str) -> None:
    """A district account writes only its own district's craftsmen (row-level security would refuse it too; this
    says so in words)."""
    scope = who.scope
    if not scope.all and district not in scope.districts:
        raise Forbidden("out_of_scope", f"「{district}」不在您的数据范围内，不能登记或修改该区县的工匠。", "district")


def counties(conn: Connection) -> frozenset[str]:
    return frozenset(r[0] for r in conn.execute(sa.text("SELECT district FROM vil_counties")))


def check_district(conn: Connection, value: Any, field: str = "district", known: frozenset[str] | None = None) -> str:
    """One of the 13 districts and counties (``known``: their names, read once by a caller checking many)."""
    text = str(value or "").strip()
    if not text:
        raise Invalid("required", "请填写「区县」。", field)
    if text not in (known if known is not None else counties(conn)):
        raise Invalid("unknown_district", f"没有名为「{text}」的区县（应为杭州市的 13 个区、县、市之一）。", field)
    return text


def clean_trades(values: Any, known: dict[str, bool], field: str = "trades", kept: Any = ()) -> list[str]:
    """The trades, each an active one of the list ``known`` (``trades.listed``: name → active, in order) or one of
    ``kept`` (what the craftsman already carries, a retired trade included); anything else refused. Distinct, in
    the list's order."""
    out = {str(v).strip() for v in values or [] if v is not None and str(v).strip()}
    allowed = [n for n, active in known.items() if active]
    wrong = sorted(out - set(allowed) - set(kept or ()))
    if wrong:
        raise Invalid(
            "invalid_trade",
            f"工种「{'、'.join(wrong)}」不在工种列表中（或已停用），可选：{'、'.join(allowed)}。",
            field,
            {"allowed": allowed},
        )
    order = list(known)
    return sorted(out, key=lambda v: order.index(v) if v in order else len(order))


def check_phone(value: Any, field: str = "phone") -> str | None:
    text = str(value or "").strip()
    if not text:
        return None
    if MOBILE.refuse(text) is not None:
        raise Invalid("invalid_phone", f"手机号「{personal.mask_phone(text)}」不正确（应为 11 位手机号码）。", field)
    return text


def check_name(value: Any, field: str = "name") -> str:
    text = str(value or "").strip()
    if not text:
        raise Invalid("required", "请填写「姓名」。", field)
    if len(text) > 50:
        raise Invalid("too_long", "「姓名」至多 50 个字。", field)
    return text


def _short(value: Any, label: str, field: str, maximum: int) -> str | None:
    text = str(value or "").strip()
    if len(text) > maximum:
        raise Invalid("too_long", f"「{label}」至多 {maximum} 个字。", field)
    return text or None


# -- reading -------------------------------------------------------------------------------------------------


def _valid_certificates(today: date) -> Any:
    t = trainings
    return (
        sa.select(sa.func.count())
        .where(
            t.c.craftsman_id == craftsmen.c.id,
            t.c.certificate_no.is_not(None),
            sa.or_(t.c.expires_on.is_(None), t.c.expires_on >= today),
        )
        .scalar_subquery()
    )


def _select(today: date) -> sa.Select:
    c, p = craftsmen, persons
    return sa.select(
        c,
        p.c.name,
        p.c.id_number,
        p.c.phone,
        p.c.gender,
        p.c.credit_score,
        sa.select(sa.func.count()).where(trainings.c.craftsman_id == c.c.id).scalar_subquery().label("trainings_n"),
        sa.select(sa.func.coalesce(sa.func.sum(trainings.c.hours), 0))
        .where(trainings.c.craftsman_id == c.c.id)
        .scalar_subquery()
        .label("training_hours"),
        _valid_certificates(today).label("valid_certificates"),
    ).select_from(c.outerjoin(p, p.c.id == c.c.person_id))


def view(row: dict, unmasked: bool = False) -> dict:
    """A craftsman as the API shows it: the ID number and phone masked unless ``unmasked``. A person outside the
    caller's scope in the register (registered in another district) shows no name."""
    out = {
        "id": row["id"],
        "person_id": row["person_id"],
        "name": row.get("name"),
        "id_number": row.get("id_number"),
        "phone": row.get("phone"),
        "gender": {"male": "男", "female": "女"}.get(row.get("gender") or ""),
        "district": row["district"],
        "township": row["township"],
        "trades": list(row["trades"] or []),
        "team": row["team"],
        "status": row["status"],
        "status_title": STATUSES[row["status"]],
        "source": row["source"],
        "note": row["note"],
        "has_photo": row["photo_sha256"] is not None,
        "credit_score": float(row["credit_score"]) if row.get("credit_score") is not None else None,
        "trainings_n": row.get("trainings_n", 0),
        "training_hours": float(row.get("training_hours") or 0),
        "valid_certificates": row.get("valid_certificates", 0),
        "version": row["version"],
        "updated_at": row["updated_at"].isoformat() if row.get("updated_at") else None,
        "masked": not unmasked,
    }
    return out if unmasked else personal.mask_row(out, MASKED)


def get(conn: Connection, craftsman_id: int, lock: bool = False) -> dict:
    if lock:
        conn.execute(sa.select(craftsmen.c.id).where(craftsmen.c.id == craftsman_id).with_for_update())
    row = conn.execute(_select(date.today()).where(craftsmen.c.id == craftsman_id)).mappings().first()
    if row is None:
        raise NotFound("not_found", "工匠不存在或不在您的数据范围内。")
    return dict(row)


def filters(
    q: str | None = None,
    district: str | None = None,
    township: str | None = None,
    trade: str | None = None,
    status: str | None = None,
    known_trades: dict[str, bool] | None = None,
) -> list[sa.ColumnElement]:
    c, p = craftsmen, persons
    where: list[sa.ColumnElement] = []
    if q and q.strip():
        text = q.strip()
        if len(text) == 18 and RESIDENT_ID.refuse(text.upper()) is None:  # a whole ID number: that person
            where.append(p.c.id_number == text.upper())
        else:
            where.append(sa.or_(p.c.name.contains(text, autoescape=True), c.c.team.contains(text, autoescape=True)))
    if district:
        where.append(c.c.district == district)
    if township:
        where.append(c.c.township == township)
    if trade:
        if known_trades is not None and trade not in known_trades:
            raise Invalid("invalid_trade", f"工种「{trade}」不在工种列表中。", "trade", {"allowed": list(known_trades)})
        where.append(c.c.trades.contains([trade]))
    if status:
        if status not in STATUSES:
            raise Invalid("invalid_status", f"状态「{status}」不存在。", "status", {"allowed": list(STATUSES)})
        where.append(c.c.status == status)
    return where


def query(conn: Connection, where: list, limit: int = 20, offset: int = 0) -> tuple[int, list[dict]]:
    c, p = craftsmen, persons
    total = conn.execute(
        sa.select(sa.func.count()).select_from(c.outerjoin(p, p.c.id == c.c.person_id)).where(*where)
    ).scalar_one()
    rows = conn.execute(_select(date.today()).where(*where).order_by(c.c.id.desc()).limit(limit).offset(offset))
    return total, [dict(r) for r in rows.mappings()]


def training_rows(conn: Connection, craftsman_id: int) -> list[dict]:
    t = trainings
    rows = conn.execute(
        sa.select(t).where(t.c.craftsman_id == craftsman_id).order_by(t.c.trained_on.desc(), t.c.id.desc())
    ).mappings()
    today = date.today()
    return [
        {
            "id": r["id"],
            "course": r["course"],
            "hours": float(r["hours"]),
            "trained_on": r["trained_on"].isoformat(),
            "certificate_no": r["certificate_no"],
            "expires_on": r["expires_on"].isoformat() if r["expires_on"] else None,
            "expired": bool(r["expires_on"] and r["expires_on"] < today),
        }
        for r in rows
    ]


def event_rows(conn: Connection, craftsman_id: int) -> list[dict]:
    e = events
    rows = conn.execute(
        sa.select(e).where(e.c.craftsman_id == craftsman_id).order_by(e.c.occurred_on.desc(), e.c.id.desc())
    ).mappings()
    return [
        {
            "id": r["id"],
            "event_type": r["event_type"],
            "title": EVENTS[r["event_type"]][0],
            "polarity": EVENTS[r["event_type"]][1],
            "occurred_on": r["occurred_on"].isoformat(),
            "points": float(r["points"]),
            "reason": r["reason"],
            "farmhouse_code": r["farmhouse_code"],
            "created_by": r["created_by"],
        }
        for r in rows
    ]


def detail(conn: Connection, craftsman_id: int, unmasked: bool = False) -> dict:
    out = view(get(conn, craftsman_id), unmasked)
    out["trainings"] = training_rows(conn, craftsman_id)
    out["events"] = event_rows(conn, craftsman_id)
    return out


def snapshot(conn: Connection, craftsman_id: int) -> dict:
    """What the operation log keeps of a craftsman: masked."""
    out = view(get(conn, craftsman_id))
    return {k: v for k, v in out.items() if k not in ("updated_at", "masked")}


# -- writing -------------------------------------------------------------------------------------------------


def add_person(
    conn: Connection, id_number: str, name: str, phone: str | None, district: str, actor: str, client: str | None
) -> dict:
    """A person new to the personnel register, added for a craftsman (logged as the register's own creation,
    masked). A person already registered in a district the caller cannot see is refused (409)."""
    p = persons
    # ON CONFLICT DO NOTHING: the unique index sees a person row-level security hides (no row back: refused).
    pid = (
        conn.execute(
            postgresql.insert(p)
            .values(id_number=id_number, name=name, phone=phone, district=district, created_by=actor, updated_by=actor)
            .on_conflict_do_nothing(index_elements=["id_number"])
            .returning(p)
        )
        .mappings()
        .first()
    )
    if pid is None:
        raise Conflict(
            "person_out_of_scope",
            "该身份证号的人员已在人员库中登记于其他区县，您无权查看，请联系市级管理员登记该工匠。",
            "id_number",
        )
    masked = {"name": name, "id_number": personal.mask_id_number(id_number), "phone": personal.mask_phone(phone)}
    audit.record(conn, actor, "create", "persons", pid["id"], None, masked, client, {"via": "craftsmen"})
    return dict(pid)


def fill_phone(conn: Connection, person: dict, phone: str, actor: str, client: str | None) -> None:
    """Give a person of the register who has no phone the one the craftsman's record brings."""
    p = persons
    conn.execute(
        sa.update(p)
        .where(p.c.id == person["id"])
        .values(phone=phone, version=p.c.version + 1, updated_at=sa.func.now(), updated_by=actor)
    )
    audit.record(
        conn, actor, "update", "persons", person["id"], {"phone": None}, {"phone": personal.mask_phone(phone)},
        client, {"via": "craftsmen"},
    )  # fmt: skip


def craftsman_of_person(conn: Connection, person_id: int) -> dict | None:
    row = conn.execute(sa.select(craftsmen).where(craftsmen.c.person_id == person_id)).mappings().first()
    return dict(row) if row else None


def insert_craftsman(conn: Connection, person_id: int, values: dict, source: str, actor: str) -> int:
    """The craftsman row (a person already a craftsman out of the caller's scope: 409)."""
    cid = conn.execute(
        postgresql.insert(craftsmen)
        .values(person_id=person_id, source=source, created_by=actor, updated_by=actor, **values)
        .on_conflict_do_nothing(index_elements=["person_id"])
        .returning(craftsmen.c.id)
    ).scalar()
    if cid is None:
        raise Conflict("duplicate_craftsman", "该人员已在其他区县登记为工匠，不能重复登记。", "id_number")
    return cid


def register(conn: Connection, data: dict, who: Any) -> dict:
    """Register the person with ``data['id_number']`` as a craftsman. The person comes from the register; one not
    in it is added (``name`` required). A name or phone that contradicts the register is refused: the register is
    corrected first (or through the merge's conflicts)."""
    idn = check_id_number(data.get("id_number"))
    district = check_district(conn, data.get("district"))
    require_district(who, district)
    values = {
        "district": district,
        "township": _short(data.get("township"), "乡镇街道", "township", 50),
        "trades": clean_trades(data.get("trades"), trade_list.listed(conn)),
        "team": _short(data.get("team"), "施工队/班组", "team", 100),
        "note": _short(data.get("note"), "备注", "note", 500),
    }
    phone = check_phone(data.get("phone"))
    name = str(data.get("name") or "").strip()
    person = get_by_id_number(conn, idn)
    if person is None:
        person = add_person(conn, idn, check_name(name), phone, district, who.user, who.client)
    else:
        if name and name != person["name"]:
            raise Conflict(
                "name_mismatch",
                f"人员库中该身份证号的姓名为「{person['name']}」，与填写的「{name}」不一致，请核实。",
                "name",
            )
        if phone and person["phone"] and phone != person["phone"]:
            raise Conflict(
                "phone_mismatch",
                f"人员库中该身份证号的手机号为 {personal.mask_phone(person['phone'])}，与填写的不一致，请先在人员库中更正。",
                "phone",
            )
        if phone and not person["phone"]:
            fill_phone(conn, person, phone, who.user, who.client)
    existing = craftsman_of_person(conn, person["id"])
    if existing is not None:
        raise Conflict(
            "duplicate_craftsman", "该人员已登记为工匠，不能重复登记。", "id_number", {"craftsman_id": existing["id"]}
        )
    cid = insert_craftsman(conn, person["id"], values, "entry", who.user)
    after = snapshot(conn, cid)
    audit.record(conn, who.user, "create", "vil_craftsmen", cid, None, after, who.client, user_id=who.user_id)
    return detail(conn, cid)


def update(conn: Connection, craftsman_id: int, data: dict, version: int, who: Any) -> dict:
    before_row = get(conn, craftsman_id, lock=True)
    require_district(who, before_row["district"])
    if version != before_row["version"]:
        raise StaleVersion(before_row["version"], version, "工匠信息")
    before = snapshot(conn, craftsman_id)
    values: dict[str, Any] = {}
    if "district" in data:
        values["district"] = check_district(conn, data["district"])
        require_district(who, values["district"])
    if "township" in data:
        values["township"] = _short(data["township"], "乡镇街道", "township", 50)
    if "trades" in data:
        values["trades"] = clean_trades(data["trades"], trade_list.listed(conn), kept=before_row["trades"])
    if "team" in data:
        values["team"] = _short(data["team"], "施工队/班组", "team", 100)
    if "note" in data:
        values["note"] = _short(data["note"], "备注", "note", 500)
    if "status" in data:
        if data["status"] not in STATUSES:
            raise Invalid("invalid_status", f"状态「{data['status']}」不存在。", "status", {"allowed": list(STATUSES)})
        values["status"] = data["status"]
    c = craftsmen
    conn.execute(
        sa.update(c)
        .where(c.c.id == craftsman_id)
        .values(**values, version=c.c.version + 1, updated_at=sa.func.now(), updated_by=who.user)
    )
    if "district" in values:  # the trainings and events follow their craftsman (row-level security reads them so)
        for table in (trainings, events):
            conn.execute(
                sa.update(table).where(table.c.craftsman_id == craftsman_id).values(district=values["district"])
            )
        conn.execute(
            sa.text("UPDATE vil_craftsman_conflicts SET district = :d WHERE craftsman_id = :c"),  # the merge's table
            {"d": values["district"], "c": craftsman_id},
        )
    after = snapshot(conn, craftsman_id)
    audit.record(
        conn, who.user, "update", "vil_craftsmen", craftsman_id, before, after, who.client, user_id=who.user_id
    )
    return detail(conn, craftsman_id)


def reveal(conn: Connection, craftsman_id: int, who: Any) -> dict:
    row = get(conn, craftsman_id)
    if row["name"] is None:
        raise NotFound("not_found", "该工匠的人员信息不在您的数据范围内。")
    personal.reveal(conn, who.user, "persons", row["person_id"], list(MASKED), user_id=who.user_id)
    return detail(conn, craftsman_id, unmasked=True)


# -- credit --------------------------------------------------------------------------------------------------


def _subject(event_type: str) -> Any:
    def subject(conn: Connection, row: dict) -> Subject | None:
        if row["event_type"] != event_type or not row.get("subject_code"):
            return None
        return Subject("person", row["subject_code"], row["subject_name"])

    return subject


def _reason(conn: Connection, row: dict) -> str:
    title = EVENTS[row["event_type"]][0]
    house = f"（农房 {row['farmhouse_code']}）" if row.get("farmhouse_code") else ""
    return f"农村建房工匠{title}{house}：{row['reason']}"


# One feed per event type on the same kind: each names the subject only for its own type.
for _type, (_title, _polarity, _points) in EVENTS.items():
    credit.feeds(
        kind=EVENT_KIND,
        state=None,
        event_type=_type,
        title=_title,
        polarity=_polarity,
        subject=_subject(_type),
        points=lambda conn, row: float(row["points"]),
        reason=_reason,
        occurred_on=lambda conn, row: row["occurred_on"],
    )


def record_event(conn: Connection, craftsman_id: int, data: dict, who: Any) -> dict:
    """A good or bad behaviour of the craftsman, and its credit event in the credit register (same transaction)."""
    row = get(conn, craftsman_id, lock=True)
    require_district(who, row["district"])
    if row["id_number"] is None:
        raise Conflict("person_out_of_scope", "该工匠的人员信息不在您的数据范围内，不能记录信用事件。", "craftsman_id")
    event_type = data["event_type"]
    if event_type not in EVENTS:
        raise Invalid(
            "invalid_event_type", f"信用事件类型「{event_type}」不存在。", "event_type", {"allowed": list(EVENTS)}
        )
    points = data.get("points") or EVENTS[event_type][2]
    if not 0 < float(points) <= 100:
        raise Invalid("out_of_range", "「分值」应大于 0、至多 100。", "points")
    reason = str(data.get("reason") or "").strip()
    if not reason:
        raise Invalid("required", "请填写「事由」。", "reason")
    values = {
        "event_type": event_type,
        "occurred_on": data["occurred_on"],
        "points": points,
        "reason": reason,
        "farmhouse_code": _short(data.get("farmhouse_code"), "农房编号", "farmhouse_code", 40),
    }
    _write_event(conn, row, values, who)
    return detail(conn, craftsman_id)


def _write_event(conn: Connection, row: dict, values: dict, who: Any) -> dict | None:
    """Store the event of the craftsman ``row`` (read with his person), feed it to the credit register and audit it;
    None when the event's inspection already gave one."""
    saved = (
        conn.execute(
            postgresql.insert(events)
            .values(
                craftsman_id=row["id"], district=row["district"], created_by=who.user, updated_by=who.user, **values
            )  # fmt: skip
            .on_conflict_do_nothing(index_elements=["inspection_id"], index_where=events.c.inspection_id.is_not(None))
            .returning(*events.c)
        )
        .mappings()
        .first()
    )
    if saved is None:
        return None
    fed = {**dict(saved), "subject_code": row["id_number"], "subject_name": row["name"]}
    credit.recorded_many(conn, EVENT_KIND, [fed], who.user)
    logged = {k: (v.isoformat() if isinstance(v, date) else float(v) if k == "points" else v) for k, v in saved.items()}
    logged = {k: v for k, v in logged.items() if k not in ("created_at", "updated_at")}
    audit.record(
        conn, who.user, "create", "vil_craftsman_events", saved["id"], None, logged, who.client, user_id=who.user_id
    )
    return dict(saved)


def inspection_event(
    conn: Connection, craftsman_id: int, inspection: dict, farmhouse_code: str, stage_name: str, who: Any
) -> dict | None:
    """The credit event a post-approval inspection of a house gives its builder: a passed inspection
    (``vil_inspection_pass``) a good one, a failed one (不合格, to be rectified: ``vil_inspection_fail``) a bad one,
    with the default points of the type; at most one per inspection (None when it already gave one).

    Written by the system on behalf of the inspection: the builder may be registered in a district the inspector
    does not see, so row-level security is widened to the whole city for these writes only and the caller's scope
    is stated again after them (same transaction). Nothing of the craftsman is returned but the event."""
    passed = inspection["result"] == "pass"
    event_type = "vil_inspection_pass" if passed else "vil_inspection_fail"
    note = (inspection.get("note") or "").strip()
    reason = f"{stage_name}巡查{'合格' if passed else '不合格，责令整改'}" + (f"：{note[:400]}" if note else "")
    scopes.apply(conn, scopes.SYSTEM)
    try:
        row = get(conn, craftsman_id, lock=True)
        saved = _write_event(
            conn,
            row,
            {
                "event_type": event_type,
                "occurred_on": inspection["inspected_on"],
                "points": EVENTS[event_type][2],
                "reason": reason,
                "farmhouse_code": farmhouse_code,
                "inspection_id": inspection["id"],
            },
            who,
        )
    finally:
        scopes.apply(conn, who.scope)
    if saved is None:
        return None
    return {k: saved[k] for k in ("id", "event_type", "occurred_on", "reason")} | {
        "points": float(saved["points"]),
        "title": EVENTS[event_type][0],
    }


def house_events(conn: Connection, farmhouse_id: int, who: Any) -> int:
    """How many credit events the inspections of a house gave (its builder's, whichever district he is in: counted
    with the whole city's scope, the caller's stated again after)."""
    scopes.apply(conn, scopes.SYSTEM)
    try:
        return conn.execute(
            sa.text(
                "SELECT count(*) FROM vil_craftsman_events e JOIN vil_inspections i ON i.id = e.inspection_id "
                "WHERE i.farmhouse_id = :h"
            ),
            {"h": farmhouse_id},
        ).scalar_one()
    finally:
        scopes.apply(conn, who.scope)


def builder_view(conn: Connection, craftsman_id: int | None) -> dict | None:
    """A house's builder as the caller may see him: his name, or none when registered out of the caller's scope."""
    if craftsman_id is None:
        return None
    name = conn.execute(
        sa.select(persons.c.name)
        .select_from(craftsmen.join(persons, persons.c.id == craftsmen.c.person_id))
        .where(craftsmen.c.id == craftsman_id)
    ).scalar()
    return {"id": craftsman_id, "name": name}


def builder_of(conn: Connection, id_number: Any, field: str = "craftsman_id_number") -> dict:
    """The craftsman with the resident ID number ``id_number`` (in the caller's scope), to be a house's builder: one
    not registered (or out of scope) or retired is refused in words."""
    idn = check_id_number(id_number, field)
    person = get_by_id_number(conn, idn)
    craftsman = craftsman_of_person(conn, person["id"]) if person else None
    if person is None or craftsman is None:
        raise Invalid(
            "unknown_craftsman",
            f"没有身份证号为 {personal.mask_id_number(idn)} 的登记工匠（或不在您的数据范围内），"
            "请先在「建房工匠」中登记。",
            field,
        )
    if craftsman["status"] != "active":
        raise Conflict("craftsman_inactive", f"工匠「{person['name']}」已停用，不能登记为建房工匠。", field)
    return {"id": craftsman["id"], "name": person["name"], "district": craftsman["district"]}


# -- photo ---------------------------------------------------------------------------------------------------


def set_photo(conn: Connection, craftsman_id: int, data: bytes, filename: str, who: Any) -> dict:
    row = get(conn, craftsman_id, lock=True)
    require_district(who, row["district"])
    try:
        stored = files.store(data, filename or "photo.jpg", "photo")
    except files.FileRefused as e:
        raise ApiError(e.status, e.code, e.message, e.field, e.detail) from None
    c = craftsmen
    conn.execute(
        sa.update(c)
        .where(c.c.id == craftsman_id)
        .values(
            photo_sha256=stored.sha256,
            photo_type=stored.content_type,
            version=c.c.version + 1,
            updated_at=sa.func.now(),
            updated_by=who.user,
        )
    )
    audit.record(
        conn, who.user, "photo_upload", "vil_craftsmen", craftsman_id, {"photo": row["photo_sha256"]},
        {"photo": stored.sha256}, who.client, user_id=who.user_id,
    )  # fmt: skip
    return detail(conn, craftsman_id)


# -- API -----------------------------------------------------------------------------------------------------

router = APIRouter(prefix=PREFIX, tags=["智慧村镇·工匠"])


class CraftsmanIn(BaseModel):
    id_number: Code(RESIDENT_ID) = Field(title="身份证号", description="18 位，含校验位；据此在人员库中查找人员")
    name: Text(50) | None = Field(None, title="姓名", description="人员库中尚无此人时必填；已有时须与人员库一致")
    phone: Code(MOBILE, blank=True) | None = Field(None, title="手机号")
    district: Text(20, 1) = Field(title="登记区县")
    township: Text(50) | None = Field(None, title="乡镇街道")
    trades: list[Text(10)] = Field(default_factory=list, title="工种", max_length=10)
    team: Text(100) | None = Field(None, title="施工队/班组")
    note: Text(500) | None = Field(None, title="备注")


class CraftsmanUpdate(BaseModel):
    version: Version = Field(title="版本号")
    district: Text(20, 1) | None = Field(None, title="登记区县")
    township: Text(50) | None = Field(None, title="乡镇街道")
    trades: list[Text(10)] | None = Field(None, title="工种", max_length=10)
    team: Text(100) | None = Field(None, title="施工队/班组")
    note: Text(500) | None = Field(None, title="备注")
    status: Literal["active", "inactive"] | None = Field(None, title="状态")


class EventIn(BaseModel):
    event_type: Literal["vil_inspection_pass", "vil_inspection_fail", "vil_complaint", "vil_award"] = Field(
        title="信用事件类型"
    )
    occurred_on: Day(Window(years_ahead=0)) = Field(title="发生日期")
    points: Amount(100) | None = Field(None, title="分值", description="不填按事件类型的默认分值")
    reason: Text(500, 1) = Field(title="事由")
    farmhouse_code: Code(RECORD_CODE, blank=True) | None = Field(None, title="农房编号")


@router.get("/options", summary="工匠选项（工种、信用事件类型、状态、区县）")
def options(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    who.require(VIEW, "查看工匠")
    districts = [r[0] for r in conn.execute(sa.text("SELECT district FROM vil_counties ORDER BY code"))]
    return {
        "trades": trade_list.active_names(conn),
        "statuses": STATUSES,
        "events": {k: {"title": v[0], "polarity": v[1], "points": v[2]} for k, v in EVENTS.items()},
        "districts": districts if who.scope.all else [d for d in districts if d in who.scope.districts],
        "can_edit": who.can(EDIT),
        "can_import": who.can(IMPORT),
        "can_export": who.can("farmhouse.export"),
        "can_unmask": who.can(UNMASK),
        "can_edit_trades": who.can(trade_list.EDIT) and who.scope.all,
    }


@router.get("/lookup", summary="按身份证号在人员库中查找人员（登记工匠前；脱敏）")
def lookup(
    id_number: Code(RESIDENT_ID),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require(EDIT, "登记工匠")
    idn = check_id_number(id_number)
    person = get_by_id_number(conn, idn)
    if person is None:
        return {"found": False, "person": None, "craftsman_id": None}
    craftsman = craftsman_of_person(conn, person["id"])
    shown = {"id": person["id"], "name": person["name"], "id_number": idn, "phone": person["phone"]}
    return {"found": True, "person": personal.mask_row(shown, MASKED), "craftsman_id": craftsman and craftsman["id"]}


@router.get("/stats", summary="工匠统计（按区县：在册人数、有有效证书人数、培训学时）")
def stats(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    who.require(VIEW, "查看工匠")
    c = craftsmen
    certified = sa.exists().where(
        trainings.c.craftsman_id == c.c.id,
        trainings.c.certificate_no.is_not(None),
        sa.or_(trainings.c.expires_on.is_(None), trainings.c.expires_on >= date.today()),
    )
    rows = conn.execute(
        sa.select(
            c.c.district,
            sa.func.count().label("craftsmen"),
            sa.func.count().filter(c.c.status == "active").label("active"),
            sa.func.count().filter(certified).label("certified"),
        )
        .group_by(c.c.district)
        .order_by(c.c.district)
    ).mappings()
    return {"districts": [dict(r) for r in rows]}


@router.get("", summary="工匠列表（姓名/身份证号/施工队检索、区县、乡镇、工种、状态；脱敏）")
def list_craftsmen(
    q: Text(50) | None = Query(None, description="姓名或施工队（包含），或完整身份证号"),
    district: Text(20) | None = Query(None, description="区县"),
    township: Text(50) | None = Query(None, description="乡镇街道"),
    trade: Text(10) | None = Query(None, description="工种"),
    status: Text(10) | None = Query(None, description="状态 active/inactive"),
    limit: int = Query(20, ge=1, le=200),
    offset: int = Query(0, ge=0, le=1_000_000),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require(VIEW, "查看工匠")
    total, rows = query(conn, filters(q, district, township, trade, status, trade_list.listed(conn)), limit, offset)
    return {"total": total, "limit": limit, "offset": offset, "craftsmen": [view(r) for r in rows]}


@router.post("", status_code=201, summary="登记工匠（按身份证号取人员库人员；人员库中没有时一并新增）")
def create_craftsman(
    body: CraftsmanIn, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> dict:
    who.require(EDIT, "登记工匠")
    return register(conn, body.model_dump(), who)


@router.get("/{craftsman_id}", summary="工匠详情（培训记录、信用事件；脱敏）")
def craftsman_detail(
    craftsman_id: RecordId, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    who.require(VIEW, "查看工匠")
    return detail(conn, craftsman_id)


@router.patch("/{craftsman_id}", summary="修改工匠登记信息（带版本号）")
def update_craftsman(
    craftsman_id: RecordId,
    body: CraftsmanUpdate,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(EDIT, "修改工匠信息")
    return update(conn, craftsman_id, body.model_dump(exclude={"version"}, exclude_unset=True), body.version, who)


@router.post(
    "/{craftsman_id}/unmask", summary="查看工匠身份证号、手机号明文（需「查看个人信息明文」权限，记入操作日志）"
)
def unmask_craftsman(
    craftsman_id: RecordId, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> dict:
    who.require(VIEW, "查看工匠")
    who.require(UNMASK, "查看个人信息明文")
    return reveal(conn, craftsman_id, who)


@router.post("/{craftsman_id}/events", status_code=201, summary="记录工匠信用事件（检查、投诉、表彰；计入信用库）")
def add_event(
    craftsman_id: RecordId,
    body: EventIn,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(EDIT, "记录工匠信用事件")
    return record_event(conn, craftsman_id, body.model_dump(), who)


@router.post("/{craftsman_id}/photo", summary="上传工匠照片")
def upload_photo(
    craftsman_id: RecordId,
    file: UploadFile = File(...),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(EDIT, "上传工匠照片")
    return set_photo(conn, craftsman_id, file.file.read(), file.filename or "", who)


@router.get("/{craftsman_id}/photo", summary="工匠照片（thumb=true 为缩略图）")
def photo(
    craftsman_id: RecordId,
    thumb: bool = False,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> FileResponse:
    who.require(VIEW, "查看工匠")
    row = get(conn, craftsman_id)
    if row["photo_sha256"] is None:
        raise ApiError(404, "no_photo", "该工匠尚未上传照片。", "craftsman_id")
    try:
        path = files.open_path(row["photo_sha256"], thumb=thumb)
    except FileNotFoundError:
        raise ApiError(404, "file_missing", "照片文件不在文件存储中，请联系管理员。", "craftsman_id") from None
    return FileResponse(
        path,
        media_type="image/jpeg" if thumb else row["photo_type"],
        headers={"Cache-Control": "private, max-age=3600"},
    )
