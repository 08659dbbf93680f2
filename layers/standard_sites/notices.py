"""Notices and announcements (通知公告, ST-10).

Holders of ``site.notice`` write them: a city-scope principal for the whole city (``district`` null) or any
district, district staff only for their own district. A notice is a draft until published. Readers: every signed-in
principal sees the published notices of the whole city and of the districts in its scope; the public ones are
readable without signing in (``GET /api/st/notices?public=1``; an anonymous request always gets only those).
"""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.cases import ActionBody, case_routes, visible
from api.deps import db_write
from api.errors import ApiError
from geo import audit, cases
from geo.bounds import Text, Version
from geo.cases import Action, CaseType
from geo.divisions import DISTRICT_NAMES
from geo.layer.registry import Attr
from layers.standard_sites import common
from layers.standard_sites import tables as t
from layers.standard_sites.common import PREFIX

router = APIRouter(prefix=PREFIX, tags=["标化工地"])

KINDS = {"notice": "通知", "announcement": "公告", "disclosure": "公示"}


def _visible(who: Principal, n, conn: Connection, params: dict[str, str]) -> sa.ColumnElement[bool]:
    """The condition on ``st_notices`` of the notices ``who`` may read (``?public=1``: the public ones only)."""
    public_only = str(params.get("public", "")).lower() in ("1", "true", "yes")
    if public_only or not who.authenticated:
        return sa.and_(n.c.public, n.c.published_at.is_not(None))
    if who.scope.all:
        return sa.true() if who.can("site.notice") else n.c.published_at.is_not(None)
    # The districts of the principal's scope: its own, or those of the sites it is bound to.
    s = t.sites()
    districts = set(who.scope.districts) | set(
        conn.execute(
            sa.select(s.c.district).distinct().where(s.c.deleted_at.is_(None), s.c.district.is_not(None))
        ).scalars()
    )
    read = sa.or_(n.c.district.is_(None), n.c.district.in_(sorted(districts)))
    cond = sa.and_(n.c.published_at.is_not(None), read)
    if who.can("site.notice"):  # drafts of the districts one may write for
        cond = sa.or_(cond, sa.and_(n.c.published_at.is_(None), n.c.district.in_(list(who.scope.districts))))
    return cond


NOTICE = cases.register(
    CaseType(
        kind="st_notice",
        title="通知公告",
        table="st_notices",
        states={"draft": "草稿", "published": "已发布"},
        actions=(
            Action("publish", "发布", ("draft",), "published", "site.notice"),
            Action("unpublish", "撤回", ("published",), "draft", "site.notice"),
        ),
        fields=(
            Attr("kind", "类别", choices=tuple(KINDS), filterable=True),
            Attr("title", "标题"),
            Attr("body", "正文"),
            Attr("district", "范围", choices=DISTRICT_NAMES, filterable=True),
            Attr("public", "对外公开", "bool"),
            Attr("status", "状态", filterable=True),
            Attr("published_at", "发布时间", "datetime"),
        ),
        columns=(
            ("id", "编号"),
            ("kind_title", "类别"),
            ("title", "标题"),
            ("scope_title", "范围"),
            ("public", "对外公开"),
            ("published_at", "发布时间"),
            ("created_by", "发布人"),
        ),
        view=None,  # every principal reads what ``_visible`` lets it read; anonymous visitors the public ones
        export="site.notice",
        bookkeeping=("id", "status", "version", "created_at", "created_by"),  # no updated_at/by on notices
        sort=("-published_at", "-id"),  # drafts (no publication time) first, then the latest
        restrict=_visible,
    )
)


class NoticeIn(BaseModel):
    kind: Literal["notice", "announcement", "disclosure"] = "notice"
    title: Text(200, 1) = Field(title="标题")
    body: Text(20000, 1) = Field(title="正文")
    district: Text(20) | None = Field(None, title="范围", description="为空表示全市")
    public: bool = False
    publish: bool = False


class NoticeUpdate(BaseModel):
    version: Version = Field(title="版本号")
    kind: Literal["notice", "announcement", "disclosure"] | None = None
    title: Text(200, 1) | None = Field(None, title="标题")
    body: Text(20000, 1) | None = Field(None, title="正文")
    district: Text(20) | None = Field(None, title="范围")
    public: bool | None = None


def view(row: dict) -> dict:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "kind_title": KINDS[row["kind"]],
        "title": row["title"],
        "body": row["body"],
        "district": row["district"],
        "scope_title": row["district"] or "全市",
        "public": row["public"],
        "published": row["published_at"] is not None,
        "status": row.get("status"),
        "status_title": NOTICE.states.get(row.get("status") or "", ""),
        "published_at": row["published_at"].isoformat() if row["published_at"] else None,
        "version": row["version"],
        "created_at": row["created_at"].isoformat(),
        "created_by": row["created_by"],
    }


def check_district(who: Principal, district: str | None) -> None:
    """May ``who`` write a notice for ``district`` (None: the whole city)?"""
    who.require("site.notice", "发布通知公告")
    if district is not None and district not in DISTRICT_NAMES:
        raise ApiError(
            422, "invalid_district", f"区县「{district}」不正确。", "district", {"districts": DISTRICT_NAMES}
        )
    if who.scope.all:
        return
    if district is None or district not in who.scope.districts:
        mine = "、".join(who.scope.districts) or "无"
        raise ApiError(
            403,
            "district_not_allowed",
            f"只能发布本区县（{mine}）的通知公告，不能发布{'全市' if district is None else district}的。",
            "district",
            {"districts": list(who.scope.districts)},
        )


def _get(conn: Connection, notice_id: int, lock: bool = False) -> dict:
    query = sa.select(t.notices).where(t.notices.c.id == notice_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "通知公告不存在或已删除。")
    return dict(row)


def _writable(conn: Connection, who: Principal, notice_id: int, version: int | None) -> dict:
    row = _get(conn, notice_id, lock=True)
    check_district(who, row["district"])
    if version is not None and row["version"] != version:
        raise ApiError(
            409,
            "stale_version",
            "该通知公告已被他人修改，请刷新后再操作。",
            "version",
            {"current": row["version"], "given": version},
        )
    return row


@router.post("/notices", status_code=201, summary="新建通知公告（可同时发布）")
def create_notice(
    body: NoticeIn, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> dict:
    check_district(who, body.district)
    row = (
        conn.execute(
            sa.insert(t.notices)
            .values(
                kind=body.kind,
                title=body.title.strip(),
                body=body.body,
                district=body.district,
                public=body.public,
                published_at=sa.func.now() if body.publish else None,
                created_by=who.user,
            )
            .returning(*t.notices.c)
        )
        .mappings()
        .one()
    )
    audit.record(
        conn, who.user, "create", "st_notices", row["id"], None, view(dict(row)), who.client, user_id=who.user_id
    )
    return view(dict(row))


@router.put("/notices/{notice_id}", summary="修改通知公告")
def update_notice(
    notice_id: int,
    body: NoticeUpdate,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    row = _writable(conn, who, notice_id, body.version)
    changes = body.model_dump(exclude={"version"}, exclude_unset=True)
    if "district" in changes:
        check_district(who, changes["district"])
    for k in ("kind", "title", "body", "public"):
        if k in changes and changes[k] is None:
            del changes[k]
    n = t.notices
    after = (
        conn.execute(sa.update(n).where(n.c.id == notice_id).values(version=n.c.version + 1, **changes).returning(*n.c))
        .mappings()
        .one()
    )
    audit.record(
        conn, who.user, "update", "st_notices", notice_id, view(row), view(dict(after)), who.client, user_id=who.user_id
    )
    return view(dict(after))


def prepare(conn: Connection, who: Principal, row: dict, a: Action, body: ActionBody) -> dict:
    """Only for the notice's own district (or the city); publishing stamps the time, withdrawing clears it."""
    check_district(who, row["district"])
    return {"published_at": common.now() if a.name == "publish" else None}


@router.post("/notices/{notice_id}/{action}", summary="发布（publish）或撤回（unpublish）通知公告")
def publish_notice(
    notice_id: int,
    action: Literal["publish", "unpublish"],
    version: int | None = None,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    """The same transition as ``…/actions/{action}`` (kept for the clients that call it so)."""
    a = NOTICE.action(action)
    row = visible(conn, NOTICE, notice_id, who)
    values = prepare(conn, who, row, a, ActionBody(version=version))
    return view(NOTICE.machine.apply(conn, notice_id, action, who, None, values, version))


# The list (filters kind, district, status; ``?public=1``), its Excel export, the detail and the publish/withdraw
# actions (with their history) come from the declaration; writing a notice is the routes here.
case_routes(
    router,
    NOTICE,
    "/notices",
    view=lambda conn, row, who: view(row),
    items_key="notices",
    prepare=prepare,
    summaries={"list": "通知公告列表（公开的无需登录：?public=1）", "detail": "通知公告详情"},
)


@router.delete("/notices/{notice_id}", status_code=204, summary="删除通知公告")
def delete_notice(
    notice_id: int,
    version: int | None = None,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> Response:
    row = _writable(conn, who, notice_id, version)
    conn.execute(sa.delete(t.notices).where(t.notices.c.id == notice_id))
    audit.record(conn, who.user, "delete", "st_notices", notice_id, view(row), None, who.client, user_id=who.user_id)
    return Response(status_code=204)
