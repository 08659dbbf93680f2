"""Project account registration (ST-01) and project information upkeep (ST-02).

A construction unit registers a project from the project register (项目库) by its project code, the construction
permit number and its own unified social credit code; no account is needed yet. The project must hold a
construction permit and must not be registered already. Registering creates the construction-unit and the
supervision-unit accounts (``sg-<code>``, ``jl-<code>``), binds both to the project's site, and sends each its
account and a one-time initial password by SMS (the password must be changed at first sign-in).
"""

from __future__ import annotations

import secrets
import string

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api import idempotency
from api.accounts import sms, users
from api.accounts.ids import check_uscc
from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit
from geo.bounds import (
    AREA_MAX_M2,
    INVESTMENT_MAX_WAN,
    MOBILE,
    PERMIT_NO,
    PROJECT_CODE,
    USCC,
    Amount,
    Code,
    Day,
    Text,
    Version,
    Window,
)
from geo.db import transaction
from layers import projects as project_register
from layers.standard_sites import common
from layers.standard_sites import tables as t
from layers.standard_sites.common import PREFIX

router = APIRouter(prefix=PREFIX, tags=["标化工地"])

PROJECT_FIELDS = (
    "code",
    "name",
    "address",
    "project_type",
    "builder_name",
    "construction_name",
    "construction_uscc",
    "supervision_name",
    "supervision_uscc",
    "permit_no",
    "permit_date",
    "floor_area_m2",
    "investment_wan",
    "start_date",
    "planned_end_date",
    "completion_date",
    "district",
    "site_id",
)


class Contact(BaseModel):
    name: Text(50, 1) = Field(title="联系人姓名")
    phone: Code(MOBILE) = Field(title="联系人手机号")


class Registration(BaseModel):
    project_code: Code(PROJECT_CODE) = Field(title="项目代码", description="项目代码（项目库）")
    permit_no: Code(PERMIT_NO) = Field(title="施工许可证号", description="施工许可证号")
    construction_uscc: Code(USCC) = Field(title="施工单位统一社会信用代码", description="施工单位统一社会信用代码")
    construction_contact: Contact = Field(title="施工单位联系人")
    supervision_contact: Contact = Field(title="监理单位联系人")


class ProjectUpdate(BaseModel):
    version: Version = Field(title="版本号")
    address: Text(200) | None = Field(None, title="项目地址")
    floor_area_m2: Amount(AREA_MAX_M2) | None = Field(None, title="建筑面积（㎡）")
    investment_wan: Amount(INVESTMENT_MAX_WAN) | None = Field(None, title="总投资（万元）")
    planned_end_date: Day() | None = Field(None, title="计划竣工日期")
    completion_date: Day(Window(years_ahead=0)) | None = Field(None, title="竣工日期")


def _project(conn: Connection, code: str) -> dict:
    """The project from the project register (项目库), by its project code or its site project number."""
    row = project_register.find(conn, code.strip())
    if row is None:
        raise ApiError(
            404, "project_not_found", f"项目库中没有项目代码为「{code}」的项目，请核对后再试。", "project_code"
        )
    return dict(row)


def _password() -> str:
    alphabet = string.ascii_letters + string.digits
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(12))
        if any(c.isdigit() for c in pw) and any(c.isalpha() for c in pw):
            return pw


def _org(conn: Connection, name: str, uscc: str | None) -> int | None:
    if not uscc:
        return None
    found = conn.execute(sa.select(t.organisations.c.id).where(t.organisations.c.uscc == uscc)).scalar()
    return found or users.create_org(conn, name, "enterprise", uscc, actor="registration")


def register(conn: Connection, body: Registration, actor: str = "registration", password: str | None = None) -> dict:
    """Register the project's standardized-site accounts; each unit's initial password goes to its contact by SMS.
    ``password`` is the initial password of both accounts (the demo gives its published demo password, so that a
    developer can sign in as a unit); by default each gets a fresh random one."""
    uscc = check_uscc(body.construction_uscc, "construction_uscc")
    p = _project(conn, body.project_code)
    if not p["permit_no"] and not p["permit_nos"]:
        raise ApiError(422, "no_permit", f"项目「{p['name']}」尚未取得施工许可证，不能注册标化工地账号。", "permit_no")
    if not project_register.holds_permit(p, body.permit_no.strip()):
        raise ApiError(422, "permit_mismatch", "施工许可证号与项目库登记的不一致，请核对。", "permit_no")
    if (p["construction_uscc"] or "").upper() != uscc.upper():
        raise ApiError(
            403,
            "not_construction_unit",
            "统一社会信用代码与项目库登记的施工单位不符，只有本项目的施工单位可以注册。",
            "construction_uscc",
        )
    if p["site_id"] is None:
        raise ApiError(
            422, "project_not_located", "该项目尚未在地图上定位（缺少工地位置），请联系属地主管部门。", "project_code"
        )
    r = t.registrations
    done = conn.execute(sa.select(r.c.created_at).where(r.c.project_id == p["id"])).scalar()
    if done is not None:
        raise ApiError(
            409,
            "already_registered",
            f"该项目已于 {done.strftime('%Y-%m-%d')} 注册，请使用已有的施工单位或监理单位账号登录。",
            "project_code",
        )
    accounts = []
    ids = {}
    for role, prefix, contact, org_name, org_uscc, relation in (
        ("construction_unit", "sg", body.construction_contact, p["construction_name"], uscc, "construction_unit"),
        (
            "supervision_unit",
            "jl",
            body.supervision_contact,
            p["supervision_name"],
            p["supervision_uscc"],
            "supervision_unit",
        ),
    ):
        initial = password or _password()
        username = f"{prefix}-{p['code']}"
        uid = users.create_user(
            conn,
            username,
            f"{org_name or ''}（{contact.name}）",
            [role],
            password=initial,
            org_id=_org(conn, org_name or "", org_uscc),
            phone=contact.phone,
            must_change_password=True,
            actor=actor,
            district=None,
        )
        users.grant(conn, uid, "sites", p["site_id"], relation, actor=actor)
        what = "施工单位" if role == "construction_unit" else "监理单位"
        sms.gateway().send(
            conn,
            users.check_phone(contact.phone),
            (
                f"【杭州市建委】项目「{p['name']}」标化工地{what}账号已开通。账号：{username}，初始密码：{initial}，"
                "首次登录后请修改密码。"
            ),
            "st_registration",
            uid,
        )
        accounts.append({"role": role, "username": username, "phone": contact.phone[:3] + "****" + contact.phone[-4:]})
        ids[role] = uid
    rid = conn.execute(
        sa.insert(r)
        .values(
            project_id=p["id"],
            site_id=p["site_id"],
            construction_user_id=ids["construction_unit"],
            supervision_user_id=ids["supervision_unit"],
            contact_name=body.construction_contact.name,
            contact_phone=body.construction_contact.phone,
            district=p["district"],
            created_at=common.now(),  # the day months are owed from (common.months_owed)
            created_by=actor,
            updated_by=actor,
        )
        .returning(r.c.id)
    ).scalar_one()
    project_register.mark_supervised(conn, p["id"], common.today_beijing())  # the day it came under supervision
    audit.record(
        conn,
        actor,
        "register",
        "st_registrations",
        rid,
        None,
        {"project": p["code"], "site_id": p["site_id"], "accounts": [a["username"] for a in accounts]},
    )
    return {
        "id": rid,
        "project": {k: p[k] for k in ("code", "name", "district", "site_id")},
        "accounts": accounts,
        "message": "注册成功，施工单位和监理单位的账号及初始密码已通过短信发送至登记的手机号。",
    }


@router.get("/projects/{code}", summary="按项目代码从项目库取项目信息（注册前核对）")
def project_lookup(code: str, uscc: str) -> dict:
    """Anyone may look a project up, but only with the construction unit's credit code that the register holds."""
    with transaction() as conn:
        p = _project(conn, code)
        if (p["construction_uscc"] or "").upper() != check_uscc(uscc, "uscc").upper():
            raise ApiError(403, "not_construction_unit", "统一社会信用代码与项目库登记的施工单位不符。", "uscc")
        registered = conn.execute(sa.select(1).where(t.registrations.c.project_id == p["id"])).scalar() is not None
    return {**{k: p[k] for k in PROJECT_FIELDS}, "has_permit": bool(p["permit_no"]), "registered": registered}


@router.post("/registrations", status_code=201, summary="项目账号注册（施工单位，须持施工许可证）")
def create_registration(body: Registration, request: Request) -> JSONResponse:
    """No account is needed: the register checks who may register. Runs as the system (the caller sees nothing
    yet); idempotent with an ``Idempotency-Key`` header (per project code)."""
    key = idempotency.key_of(request)
    with transaction() as conn:
        return idempotency.run(
            conn,
            0,
            f"register:{key}" if key else None,
            idempotency.body_hash(body.model_dump()),
            lambda: (201, register(conn, body)),
        )


@router.get("/my/projects", summary="本单位（本账号）的项目")
def my_projects(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    who.require("site.view", "查看项目")
    rows = (
        conn.execute(
            sa.select(t.projects, t.registrations.c.id.label("registration_id"))
            .select_from(t.projects.join(t.registrations, t.registrations.c.project_id == t.projects.c.id))
            .order_by(t.projects.c.code)
        )
        .mappings()
        .all()
    )
    return {
        "projects": [
            {
                **{k: r[k] for k in PROJECT_FIELDS},
                "id": r["id"],
                "version": r["version"],
                "registration_id": r["registration_id"],
            }
            for r in rows
        ]
    }


@router.patch("/projects/{project_id}", summary="项目信息维护（施工单位）")
def update_project(
    project_id: int,
    body: ProjectUpdate,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require("site.edit", "维护项目信息")
    before = (
        conn.execute(sa.select(t.projects).where(t.projects.c.id == project_id).with_for_update()).mappings().first()
    )
    if before is None:
        raise ApiError(404, "not_found", "项目不存在，或不在您的数据范围内。")
    if before["version"] != body.version:
        raise ApiError(
            409,
            "stale_version",
            "项目信息已被他人修改，请刷新后再保存。",
            "version",
            {"current": before["version"], "given": body.version},
        )
    changes = body.model_dump(exclude={"version"}, exclude_unset=True)
    # A completion date after today is refused by its declaration (``Day(Window(years_ahead=0))``).
    if not changes:
        return {k: before[k] for k in PROJECT_FIELDS} | {"version": before["version"]}
    p = t.projects
    after = (
        conn.execute(
            sa.update(p)
            .where(p.c.id == project_id)
            .values(**changes, version=p.c.version + 1, updated_at=sa.func.now(), updated_by=who.user)
            .returning(*p.c)
        )
        .mappings()
        .one()
    )
    audit.record(
        conn, who.user, "update", "projects", project_id, dict(before), dict(after), who.client, user_id=who.user_id
    )
    return {k: after[k] for k in PROJECT_FIELDS} | {"version": after["version"], "id": project_id}
