"""Review agencies (施工图审查机构, DR-01): each one an enterprise of the register (type ``review_agency``) with a
``dr_agencies`` row; its qualification scope (categories, grades, the largest total floor area, the review contents
it may do) with validity dates, and its declared affiliations (ties to other enterprises: the lottery never draws an
agency for an application whose builder or design unit it is tied to).

- ``GET /api/review/agencies`` (list), ``POST`` (add), ``GET|PATCH /api/review/agencies/{id}`` (detail with the
  change log, edit), ``…/{id}/qualifications`` and ``/api/review/qualifications/{id}`` (add, edit, remove),
  ``…/{id}/affiliations`` and ``/api/review/affiliations/{id}`` (declare, remove).
- Reading asks for one of ``review.view``, ``review.draw`` or ``review.config``; writing for ``review.config`` and
  the city's scope (agencies are city-wide reference data).
- The credit code is checked as GB 32100 (python-stdnum ``cn.uscc`` through ``geo.bounds.USCC``); an agency whose
  code is already in the register must carry the register's name (the register owns the enterprise; the address and
  the legal representative given here update it, audited as an enterprise change).
- Every change is audited (``geo.audit``) and listed on the agency's detail (``changes``).

This file also serves the lottery's pages (``/review/agencies``, ``/review/lottery``, ``/review/accepted`` and the
public ``/review/verify/{draw_id}``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import JSONB

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from api.web import APP_CACHE, HtmlPage, file_response
from geo import audit
from geo.bounds import AREA_MAX_M2, USCC, Amount, Code, Day, RecordId, Text, Version, Window, today
from geo.db import bookkeeping_columns
from geo.errors import StaleVersion
from geo.modules import Page, log_labels, pages
from layers.drawing_review.process import CATEGORIES, CONTENTS, GRADES
from layers.drawing_review.tables import agencies, metadata
from layers.enterprises import enterprises, get_by_uscc

E = enterprises
A = agencies
AGENCY_TYPE = "review_agency"
READ = ("review.view", "review.draw", "review.config")
VALIDITY = Window(dt.date(2000, 1, 1), 20)
WEB = Path(__file__).resolve().parent / "web"

qualifications = sa.Table(
    "dr_qualifications",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("agency_id", sa.BigInteger),
    sa.Column("certificate_no", sa.Text),
    sa.Column("categories", sa.ARRAY(sa.Text)),
    sa.Column("grades", sa.ARRAY(sa.Text)),
    sa.Column("max_floor_area_m2", sa.Float),
    sa.Column("contents", sa.ARRAY(sa.Text)),
    sa.Column("valid_from", sa.Date),
    sa.Column("valid_to", sa.Date),
    *bookkeeping_columns(),
)

affiliations = sa.Table(
    "dr_affiliations",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("agency_id", sa.BigInteger),
    sa.Column("uscc", sa.Text),
    sa.Column("relation", sa.Text),
    *bookkeeping_columns(),
)
Q, F = qualifications, affiliations

log_labels(
    objects={
        "dr_agencies": "施工图审查机构",
        "dr_qualifications": "审查机构资质",
        "dr_affiliations": "审查机构关联关系",
    },
)
pages(
    Page("/review/agencies", "审查机构", "施工图联审", "review.view", order=62),
    Page("/review/lottery", "摇号", "施工图联审", "review.view", order=63),
    Page("/review/accepted", "已受理项目列表", "施工图联审", "review.view", order=64),
)

router = APIRouter()


# -- request bodies -------------------------------------------------------------------------------------------------


class AgencyIn(BaseModel):
    uscc: Code(USCC) = Field(title="统一社会信用代码（组织机构代码）")
    name: Text(200, 1) = Field(title="机构名称")
    address: Text(200) | None = Field(None, title="地址")
    legal_rep: Text(50) | None = Field(None, title="法定代表人")
    business_licence_no: Text(50) | None = Field(None, title="营业执照号")


class AgencyUpdate(BaseModel):
    version: Version = Field(title="版本号")
    name: Text(200, 1) | None = Field(None, title="机构名称")
    address: Text(200) | None = Field(None, title="地址")
    legal_rep: Text(50) | None = Field(None, title="法定代表人")
    business_licence_no: Text(50) | None = Field(None, title="营业执照号")
    active: bool | None = Field(None, title="是否参加摇号")


class QualificationIn(BaseModel):
    certificate_no: Text(50, 1) = Field(title="资质证书编号")
    categories: list[Text(20, 1)] = Field(title="审查类别", min_length=1, max_length=len(CATEGORIES))
    grades: list[Text(10, 1)] = Field(title="项目等级", min_length=1, max_length=len(GRADES))
    max_floor_area_m2: Amount(AREA_MAX_M2, 1) | None = Field(None, title="最大规模（总建筑面积，㎡；空为不限）")
    contents: list[Text(20, 1)] = Field(title="审查内容", min_length=1, max_length=len(CONTENTS))
    valid_from: Day(VALIDITY) = Field(title="有效期起")
    valid_to: Day(VALIDITY) = Field(title="有效期至")


class QualificationUpdate(QualificationIn):
    version: Version = Field(title="版本号")


class AffiliationIn(BaseModel):
    uscc: Code(USCC) = Field(title="关联企业统一社会信用代码")
    relation: Text(100, 1) = Field(title="关联关系")


# -- checks ---------------------------------------------------------------------------------------------------------


def require_read(who: Principal, what: str = "查看审查机构") -> None:
    if not any(who.can(p) for p in READ):
        who.require("review.view", what)


def require_write(who: Principal, what: str) -> None:
    """Agencies are city-wide reference data: written by ``review.config`` holders of the city's scope (the tables'
    row-level security says the same; asked first so that the refusal is a clear 403, not a failed write)."""
    who.require("review.config", what)
    if not who.scope.all:
        raise ApiError(
            403,
            "out_of_scope",
            f"审查机构由市级统一登记和维护，您的账号（{who.scope.describe()}）不能{what}。",
            None,
        )


def _choices(values: list[str], allowed: Any, field: str, label: str) -> list[str]:
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ApiError(
            422,
            "invalid_choice",
            f"「{label}」中的「{'、'.join(unknown)}」不是可选项（可选：{'、'.join(allowed)}）。",
            field,
            {"unknown": unknown, "allowed": list(allowed)},
        )
    if len(set(values)) != len(values):
        raise ApiError(422, "duplicate_choice", f"「{label}」中有重复的选项。", field)
    order = list(allowed)
    return sorted(values, key=order.index)


def clean_qualification(body: QualificationIn) -> dict:
    if body.valid_to < body.valid_from:
        raise ApiError(422, "invalid_period", "「有效期至」不能早于「有效期起」。", "valid_to")
    return {
        "certificate_no": body.certificate_no.strip(),
        "categories": _choices(body.categories, CATEGORIES, "categories", "审查类别"),
        "grades": _choices(body.grades, GRADES, "grades", "项目等级"),
        "max_floor_area_m2": body.max_floor_area_m2,
        "contents": _choices(body.contents, CONTENTS, "contents", "审查内容"),
        "valid_from": body.valid_from,
        "valid_to": body.valid_to,
    }


def _blank(value: str | None) -> str | None:
    return value.strip() or None if isinstance(value, str) else value


# -- reading --------------------------------------------------------------------------------------------------------


def qualification_view(row: Any, on: dt.date) -> dict:
    q = dict(row)
    return {
        "id": q["id"],
        "agency_id": q["agency_id"],
        "certificate_no": q["certificate_no"],
        "categories": list(q["categories"]),
        "grades": list(q["grades"]),
        "max_floor_area_m2": q["max_floor_area_m2"],
        "contents": list(q["contents"]),
        "content_titles": [CONTENTS[c] for c in q["contents"]],
        "valid_from": q["valid_from"].isoformat(),
        "valid_to": q["valid_to"].isoformat(),
        "expired": q["valid_to"] < on,
        "not_yet_valid": q["valid_from"] > on,
        "version": q["version"],
    }


def _agency_query() -> sa.Select:
    return sa.select(
        A.c.id,
        A.c.uscc,
        A.c.business_licence_no,
        A.c.active,
        A.c.version,
        A.c.updated_at,
        A.c.updated_by,
        E.c.id.label("enterprise_id"),
        E.c.name,
        E.c.address,
        E.c.legal_rep,
        E.c.district,
        E.c.types,
    ).select_from(A.join(E, E.c.uscc == A.c.uscc))


def qualifications_of(conn: Connection, agency_ids: list[int]) -> dict[int, list[dict]]:
    on = today()
    out: dict[int, list[dict]] = {i: [] for i in agency_ids}
    rows = conn.execute(sa.select(Q).where(Q.c.agency_id.in_(agency_ids)).order_by(Q.c.valid_to.desc(), Q.c.id))
    for r in rows.mappings():
        out[r["agency_id"]].append(qualification_view(r, on))
    return out


def affiliations_of(conn: Connection, agency_ids: list[int]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {i: [] for i in agency_ids}
    rows = conn.execute(
        sa.select(F.c.id, F.c.agency_id, F.c.uscc, F.c.relation, E.c.name, F.c.created_at, F.c.created_by)
        .select_from(F.join(E, E.c.uscc == F.c.uscc))
        .where(F.c.agency_id.in_(agency_ids))
        .order_by(F.c.id)
    )
    for r in rows.mappings():
        out[r["agency_id"]].append({**dict(r), "created_at": r["created_at"].isoformat()})
    return out


def agency_view(row: Any, quals: list[dict], ties: list[dict]) -> dict:
    r = dict(row)
    valid = [q for q in quals if not q["expired"] and not q["not_yet_valid"]]
    return {
        "id": r["id"],
        "uscc": r["uscc"],
        "name": r["name"],
        "address": r["address"],
        "legal_rep": r["legal_rep"],
        "district": r["district"],
        "business_licence_no": r["business_licence_no"],
        "active": r["active"],
        "version": r["version"],
        "updated_at": r["updated_at"].isoformat() if r.get("updated_at") else None,
        "updated_by": r.get("updated_by"),
        "qualifications": quals,
        "qualification_status": "有效" if valid else ("已过期" if quals else "未登记资质"),
        "affiliations": ties,
    }


def get_agency(conn: Connection, agency_id: int, lock: bool = False) -> dict:
    query = _agency_query().where(A.c.id == agency_id)
    if lock:
        query = query.with_for_update(of=A)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "审查机构不存在。", "agency_id", {"agency_id": agency_id})
    return agency_view(
        row, qualifications_of(conn, [agency_id])[agency_id], affiliations_of(conn, [agency_id])[agency_id]
    )


def list_agencies(conn: Connection, q: str | None = None, active: bool | None = None) -> list[dict]:
    query = _agency_query().order_by(A.c.id)
    if q:
        like = f"%{q.strip()}%"
        query = query.where(sa.or_(E.c.name.ilike(like), A.c.uscc.ilike(like)))
    if active is not None:
        query = query.where(A.c.active.is_(active))
    rows = conn.execute(query).mappings().all()
    ids = [r["id"] for r in rows]
    quals, ties = qualifications_of(conn, ids), affiliations_of(conn, ids)
    return [agency_view(r, quals[r["id"]], ties[r["id"]]) for r in rows]


AUDIT = sa.table(
    "audit_log",
    *(sa.column(c) for c in ("id", "at", "actor", "action", "layer", "feature_id")),
    *(sa.column(c, JSONB) for c in ("before", "after", "detail")),
)
ACTIONS = {"create": "新增", "update": "修改", "delete": "删除"}
OBJECTS = {
    "dr_agencies": "机构信息",
    "enterprises": "企业库信息",
    "dr_qualifications": "资质",
    "dr_affiliations": "关联关系",
}


def changes_of(conn: Connection, agency_id: int, enterprise_id: int) -> list[dict]:
    """Every audited change of the agency: its row, its enterprise, its qualifications and affiliations (those
    carry ``{"agency_id": …}`` in their audit detail), newest first."""
    a = AUDIT.c
    rows = conn.execute(
        sa.select(a.id, a.at, a.actor, a.action, a.layer, a.feature_id, a.before, a.after)
        .where(
            sa.or_(
                sa.and_(a.layer == "dr_agencies", a.feature_id == agency_id),
                sa.and_(a.layer == "enterprises", a.feature_id == enterprise_id),
                sa.and_(
                    a.layer.in_(("dr_qualifications", "dr_affiliations")),
                    a.detail["agency_id"].astext == str(agency_id),
                ),
            )
        )
        .order_by(a.at.desc(), a.id.desc())
        .limit(200)
    ).mappings()
    return [
        {
            "at": r["at"].isoformat(),
            "actor": audit.actor_name(r["actor"]),
            "action": ACTIONS.get(r["action"], r["action"]),
            "object": OBJECTS.get(r["layer"], r["layer"]),
            "before": r["before"],
            "after": r["after"],
        }
        for r in rows
    ]


# -- writing --------------------------------------------------------------------------------------------------------


def _enterprise_values(before: dict, wanted: dict) -> dict:
    return {k: v for k, v in wanted.items() if v is not None and v != before.get(k)}


def create_agency(conn: Connection, who: Principal, body: AgencyIn) -> dict:
    code = body.uscc.strip().upper()
    name = body.name.strip()
    found = get_by_uscc(conn, code)
    if conn.execute(sa.select(A.c.id).where(A.c.uscc == code)).first() is not None:
        raise ApiError(409, "duplicate_agency", f"统一社会信用代码「{code}」的审查机构已登记。", "uscc", {"uscc": code})
    wanted = {"address": _blank(body.address), "legal_rep": _blank(body.legal_rep)}
    if found is None:
        eid = conn.execute(
            sa.insert(E)
            .values(uscc=code, name=name, types=[AGENCY_TYPE], **wanted, created_by=who.user, updated_by=who.user)
            .returning(E.c.id)
        ).scalar_one()
        after = dict(conn.execute(sa.select(E).where(E.c.id == eid)).mappings().one())
        audit.record(conn, who.user, "create", "enterprises", eid, None, after, who.client, user_id=who.user_id)
    else:
        if found["name"] != name:
            raise ApiError(
                409,
                "enterprise_name_mismatch",
                f"企业库中统一社会信用代码「{code}」的企业名称为「{found['name']}」，与填写的「{name}」不一致；"
                "请核对信用代码，或先在企业库更正企业名称。",
                "name",
                {"uscc": code, "register_name": found["name"]},
            )
        changes = _enterprise_values(found, wanted)
        types = list(found["types"] or [])
        if AGENCY_TYPE not in types:
            changes["types"] = [*types, AGENCY_TYPE]
        if changes:
            conn.execute(
                sa.update(E)
                .where(E.c.id == found["id"])
                .values(**changes, version=E.c.version + 1, updated_at=sa.func.now(), updated_by=who.user)
            )
            after = dict(conn.execute(sa.select(E).where(E.c.id == found["id"])).mappings().one())
            audit.record(
                conn, who.user, "update", "enterprises", found["id"], found, after, who.client, user_id=who.user_id
            )
    aid = conn.execute(
        sa.insert(A)
        .values(
            uscc=code,
            business_licence_no=_blank(body.business_licence_no),
            created_by=who.user,
            updated_by=who.user,
        )
        .returning(A.c.id)
    ).scalar_one()
    view = get_agency(conn, aid)
    audit.record(conn, who.user, "create", "dr_agencies", aid, None, view, who.client, user_id=who.user_id)
    return view


def update_agency(conn: Connection, who: Principal, agency_id: int, body: AgencyUpdate) -> dict:
    before = get_agency(conn, agency_id, lock=True)
    if body.version != before["version"]:
        raise StaleVersion(before["version"], body.version, "审查机构")
    given = body.model_dump(exclude={"version"}, exclude_unset=True)
    if "name" in given and given["name"] is None:
        raise ApiError(422, "required", "「机构名称」不能为空。", "name")
    if "active" in given and given["active"] is None:
        raise ApiError(422, "required", "「是否参加摇号」不能为空。", "active")
    for key in ("name", "address", "legal_rep", "business_licence_no"):
        if key in given:
            given[key] = _blank(given[key])
    ent = {k: given[k] for k in ("name", "address", "legal_rep") if k in given and given[k] != before[k]}
    own = {k: given[k] for k in ("business_licence_no", "active") if k in given and given[k] != before[k]}
    if not ent and not own:
        return before
    if ent:
        old = dict(conn.execute(sa.select(E).where(E.c.uscc == before["uscc"]).with_for_update()).mappings().one())
        conn.execute(
            sa.update(E)
            .where(E.c.id == old["id"])
            .values(**ent, version=E.c.version + 1, updated_at=sa.func.now(), updated_by=who.user)
        )
        new = dict(conn.execute(sa.select(E).where(E.c.id == old["id"])).mappings().one())
        audit.record(conn, who.user, "update", "enterprises", old["id"], old, new, who.client, user_id=who.user_id)
    conn.execute(
        sa.update(A)
        .where(A.c.id == agency_id)
        .values(**own, version=A.c.version + 1, updated_at=sa.func.now(), updated_by=who.user)
    )
    after = get_agency(conn, agency_id)
    audit.record(conn, who.user, "update", "dr_agencies", agency_id, before, after, who.client, user_id=who.user_id)
    return after


def _qualification(conn: Connection, qid: int, lock: bool = False) -> dict:
    query = sa.select(Q).where(Q.c.id == qid)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "资质记录不存在。", "qualification_id", {"qualification_id": qid})
    return qualification_view(row, today())


def _duplicate_certificate(conn: Connection, agency_id: int, number: str, other: int | None = None) -> None:
    query = sa.select(Q.c.id).where(Q.c.agency_id == agency_id, Q.c.certificate_no == number)
    if other is not None:
        query = query.where(Q.c.id != other)
    if conn.execute(query).first() is not None:
        raise ApiError(409, "duplicate_certificate", f"该机构已登记证书编号为「{number}」的资质。", "certificate_no")


def add_qualification(conn: Connection, who: Principal, agency_id: int, body: QualificationIn) -> dict:
    get_agency(conn, agency_id, lock=True)
    values = clean_qualification(body)
    _duplicate_certificate(conn, agency_id, values["certificate_no"])
    qid = conn.execute(
        sa.insert(Q).values(agency_id=agency_id, **values, created_by=who.user, updated_by=who.user).returning(Q.c.id)
    ).scalar_one()
    after = _qualification(conn, qid)
    audit.record(
        conn,
        who.user,
        "create",
        "dr_qualifications",
        qid,
        None,
        after,
        who.client,
        detail={"agency_id": agency_id},
        user_id=who.user_id,
    )
    return after


def update_qualification(conn: Connection, who: Principal, qid: int, body: QualificationUpdate) -> dict:
    before = _qualification(conn, qid, lock=True)
    if body.version != before["version"]:
        raise StaleVersion(before["version"], body.version, "资质记录")
    values = clean_qualification(body)
    _duplicate_certificate(conn, before["agency_id"], values["certificate_no"], qid)
    conn.execute(
        sa.update(Q)
        .where(Q.c.id == qid)
        .values(**values, version=Q.c.version + 1, updated_at=sa.func.now(), updated_by=who.user)
    )
    after = _qualification(conn, qid)
    audit.record(
        conn,
        who.user,
        "update",
        "dr_qualifications",
        qid,
        before,
        after,
        who.client,
        detail={"agency_id": before["agency_id"]},
        user_id=who.user_id,
    )
    return after


def delete_qualification(conn: Connection, who: Principal, qid: int) -> None:
    before = _qualification(conn, qid, lock=True)
    conn.execute(sa.delete(Q).where(Q.c.id == qid))
    audit.record(
        conn,
        who.user,
        "delete",
        "dr_qualifications",
        qid,
        before,
        None,
        who.client,
        detail={"agency_id": before["agency_id"]},
        user_id=who.user_id,
    )


def add_affiliation(conn: Connection, who: Principal, agency_id: int, body: AffiliationIn) -> dict:
    agency = get_agency(conn, agency_id, lock=True)
    code = body.uscc.strip().upper()
    other = get_by_uscc(conn, code)
    if other is None:
        raise ApiError(
            422,
            "unknown_enterprise",
            f"企业库中没有统一社会信用代码为「{code}」的企业，请先在企业库登记该企业。",
            "uscc",
            {"uscc": code},
        )
    if code == agency["uscc"]:
        raise ApiError(422, "self_affiliation", "关联企业不能是审查机构本身（同一单位始终回避）。", "uscc")
    if conn.execute(sa.select(F.c.id).where(F.c.agency_id == agency_id, F.c.uscc == code)).first() is not None:
        raise ApiError(409, "duplicate_affiliation", f"已声明与「{other['name']}」的关联关系。", "uscc")
    fid = conn.execute(
        sa.insert(F)
        .values(
            agency_id=agency_id, uscc=code, relation=body.relation.strip(), created_by=who.user, updated_by=who.user
        )
        .returning(F.c.id)
    ).scalar_one()
    after = {"id": fid, "agency_id": agency_id, "uscc": code, "name": other["name"], "relation": body.relation.strip()}
    audit.record(
        conn,
        who.user,
        "create",
        "dr_affiliations",
        fid,
        None,
        after,
        who.client,
        detail={"agency_id": agency_id},
        user_id=who.user_id,
    )
    return after


def delete_affiliation(conn: Connection, who: Principal, fid: int) -> None:
    row = conn.execute(sa.select(F).where(F.c.id == fid).with_for_update()).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "关联关系不存在。", "affiliation_id", {"affiliation_id": fid})
    conn.execute(sa.delete(F).where(F.c.id == fid))
    before = {k: row[k] for k in ("id", "agency_id", "uscc", "relation")}
    audit.record(
        conn,
        who.user,
        "delete",
        "dr_affiliations",
        fid,
        before,
        None,
        who.client,
        detail={"agency_id": row["agency_id"]},
        user_id=who.user_id,
    )


# -- routes ---------------------------------------------------------------------------------------------------------

API = "/api/review"
TAGS: list[str | Any] = ["施工图联审"]


@router.get(f"{API}/agencies/meta", tags=TAGS, summary="审查机构：可选的审查类别、等级、审查内容和当前账号的权限")
def agencies_meta(who: Principal = Depends(principal)) -> dict:
    require_read(who)
    return {
        "categories": list(CATEGORIES),
        "grades": list(GRADES),
        "contents": CONTENTS,
        "can": {"edit": who.can("review.config")},
    }


@router.get(f"{API}/agencies", tags=TAGS, summary="审查机构列表（含资质和关联关系）")
def agencies_list(
    q: Text(100) | None = None,
    active: bool | None = None,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    require_read(who)
    items = list_agencies(conn, q, active)
    return {"items": items, "total": len(items)}


@router.post(f"{API}/agencies", tags=TAGS, status_code=201, summary="新增审查机构（登记为企业库中的审查机构）")
def agencies_create(
    body: AgencyIn, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> dict:
    require_write(who, "新增审查机构")
    return create_agency(conn, who, body)


@router.get(f"{API}/agencies/{{agency_id}}", tags=TAGS, summary="审查机构详情：资质、关联关系和变更记录")
def agencies_detail(
    agency_id: RecordId, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    require_read(who)
    view = get_agency(conn, agency_id)
    eid = conn.execute(sa.select(E.c.id).where(E.c.uscc == view["uscc"])).scalar_one()
    return {**view, "changes": changes_of(conn, agency_id, eid)}


@router.patch(f"{API}/agencies/{{agency_id}}", tags=TAGS, summary="修改审查机构")
def agencies_update(
    agency_id: RecordId,
    body: AgencyUpdate,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    require_write(who, "修改审查机构")
    return update_agency(conn, who, agency_id, body)


@router.post(f"{API}/agencies/{{agency_id}}/qualifications", tags=TAGS, status_code=201, summary="登记审查机构资质")
def qualifications_create(
    agency_id: RecordId,
    body: QualificationIn,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    require_write(who, "登记审查机构资质")
    return add_qualification(conn, who, agency_id, body)


@router.put(f"{API}/qualifications/{{qualification_id}}", tags=TAGS, summary="修改审查机构资质")
def qualifications_update(
    qualification_id: RecordId,
    body: QualificationUpdate,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    require_write(who, "修改审查机构资质")
    return update_qualification(conn, who, qualification_id, body)


@router.delete(f"{API}/qualifications/{{qualification_id}}", tags=TAGS, status_code=204, summary="删除审查机构资质")
def qualifications_delete(
    qualification_id: RecordId,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> Response:
    require_write(who, "删除审查机构资质")
    delete_qualification(conn, who, qualification_id)
    return Response(status_code=204)


@router.post(f"{API}/agencies/{{agency_id}}/affiliations", tags=TAGS, status_code=201, summary="声明审查机构的关联企业")
def affiliations_create(
    agency_id: RecordId,
    body: AffiliationIn,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    require_write(who, "声明审查机构的关联企业")
    return add_affiliation(conn, who, agency_id, body)


@router.delete(f"{API}/affiliations/{{affiliation_id}}", tags=TAGS, status_code=204, summary="删除关联关系")
def affiliations_delete(
    affiliation_id: RecordId,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> Response:
    require_write(who, "删除审查机构的关联关系")
    delete_affiliation(conn, who, affiliation_id)
    return Response(status_code=204)


# -- the lottery's pages (public HTML; what they show comes from the API with the browser session) ------------------


def _page(request: Request, name: str) -> Response:
    return file_response(request, WEB / name, APP_CACHE)


# The four pages are one shell (web/lottery_shell.html) with their title; lottery.js draws the page named.
PAGES = {
    name: HtmlPage.from_template(WEB / "lottery_shell.html", title=title, page=name)
    for name, title in (
        ("agencies", "审查机构"),
        ("lottery", "摇号"),
        ("accepted", "已受理项目列表"),
        ("verify", "摇号结果验证"),
    )
}


@router.get("/review/agencies", include_in_schema=False)
def agencies_page(request: Request) -> Response:
    return PAGES["agencies"].response(request)


@router.get("/review/lottery", include_in_schema=False)
def lottery_page(request: Request) -> Response:
    return PAGES["lottery"].response(request)


@router.get("/review/accepted", include_in_schema=False)
def accepted_page(request: Request) -> Response:
    return PAGES["accepted"].response(request)


@router.get("/review/verify/{draw_id}", include_in_schema=False)
def verify_page(draw_id: int, request: Request) -> Response:
    return PAGES["verify"].response(request)


@router.get("/review/lottery.js", include_in_schema=False)
def lottery_script(request: Request) -> Response:
    """The script the lottery's pages share (sign-in, tables, forms)."""
    return _page(request, "lottery.js")


@router.get("/review/lottery.css", include_in_schema=False)
def lottery_style(request: Request) -> Response:
    return _page(request, "lottery.css")
