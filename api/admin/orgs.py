"""Organisations: list, create and edit (``admin.users``)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.accounts import users
from api.admin.common import PAGE_MAX, USERS, blank, endpoints, like, logged, page, writing
from api.auth import Principal
from api.deps import db_read
from api.errors import ApiError
from geo.bounds import USCC, Code, Text, Version

ORG_SELECT = (
    "o.id, o.name, o.kind, o.uscc, o.district, o.version, o.created_at, o.updated_at, "
    "(SELECT count(*) FROM users u WHERE u.org_id = o.id) AS users"
)


class OrgIn(BaseModel):
    name: Text(200) = Field("", title="单位名称")
    kind: Text(40) = Field("", title="单位类型")
    uscc: Code(USCC, blank=True) | None = Field(None, title="统一社会信用代码")
    district: Text(20) | None = Field(None, title="所属区县")


class OrgPatch(BaseModel):
    name: Text(200) | None = Field(None, title="单位名称")
    kind: Text(40) | None = Field(None, title="单位类型")
    uscc: Code(USCC, blank=True) | None = Field(None, title="统一社会信用代码")
    district: Text(20) | None = Field(None, title="所属区县")
    version: Version = Field(title="版本号")


def org_row(conn: Connection, org_id: int) -> dict:
    row = (
        conn.execute(sa.text(f"SELECT {ORG_SELECT} FROM organisations o WHERE o.id = :i"), {"i": org_id})
        .mappings()
        .first()
    )
    if row is None:
        raise ApiError(404, "not_found", "单位不存在。")
    return dict(row)


@endpoints.get("/organisations", summary="单位列表")
def list_orgs(
    kind: str | None = None,
    q: str | None = None,
    limit: int = Query(50, ge=1, le=PAGE_MAX),
    offset: int = Query(0, ge=0),
    who: Principal = USERS,
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    where, params = [], {}
    if blank(kind):
        where.append("o.kind = :kind")
        params["kind"] = kind
    if blank(q):
        where.append("(o.name ILIKE :q OR o.uscc ILIKE :q)")
        params["q"] = like(q.strip())
    return page(conn, ORG_SELECT, "organisations o", where, params, "o.id DESC", limit, offset)


@endpoints.post("/organisations", status_code=201, summary="新增单位")
def create_org(body: OrgIn, who: Principal = USERS) -> dict:
    with writing(who) as conn:
        oid = users.create_org(conn, body.name, body.kind, blank(body.uscc), blank(body.district), actor=who.user)
        return org_row(conn, oid)


@endpoints.patch("/organisations/{org_id}", summary="修改单位（须带上读到的 version）")
def update_org(org_id: int, body: OrgPatch, who: Principal = USERS) -> dict:
    """Validated as on creation; 409 ``stale_version`` when someone changed the record since it was read."""
    with writing(who) as conn:
        before = org_row(conn, org_id)
        if body.version != before["version"]:
            raise ApiError(
                409,
                "stale_version",
                "该单位已被他人修改，请刷新后再保存。",
                "version",
                {"current": before["version"], "given": body.version},
            )
        given = body.model_dump(exclude_unset=True, exclude={"version"})
        new = {k: before[k] for k in ("name", "kind", "uscc", "district")}
        new.update({k: (v.strip() if k == "name" and v else blank(v)) for k, v in given.items()})
        if not new["name"]:
            raise ApiError(422, "required", "单位名称不能为空。", "name")
        if new["kind"] not in users.ORG_KINDS:
            raise ApiError(
                422, "invalid_kind", f"单位类型「{new['kind']}」不正确。", "kind", {"choices": users.ORG_KINDS}
            )
        if new["uscc"]:
            new["uscc"] = users.check_uscc(new["uscc"])
        elif new["kind"] in ("enterprise", "review_agency"):
            raise ApiError(422, "required", "企业和审查机构须填写统一社会信用代码。", "uscc")
        new["district"] = users.check_district(new["district"])
        conn.execute(
            sa.text(
                "UPDATE organisations SET name = :name, kind = :kind, uscc = :uscc, district = :district, "
                "version = version + 1, updated_at = now() WHERE id = :id"
            ),
            {**new, "id": org_id},
        )
        after = org_row(conn, org_id)
        logged(who, conn, "update", "organisations", org_id, before, after)
        return after
