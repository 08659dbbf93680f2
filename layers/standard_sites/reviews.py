"""Expert review (专家评审, ST-17/ST-25): what a drawn expert sees and scores, and the authorities' view of it.

The expert signs in with phone or ID number plus the SMS dynamic password (``/api/auth/otp/login``), only inside
the review window. Row-level security does the rest: the draw granted the expert's account each assigned site for
the window only, so the expert sees those sites (and their applications and assignments) and nothing else, and
only while the window is open. ``GET /api/st/my/assignments`` lists the open tasks; a review is scored against the
configured form (``st_catalog`` kind ``score_item``: code, name, maximum points), with comments required when the
total is below ``CHENGJIAN_ST_COMMENTS_BELOW`` (60), inside the window only and once only.

``GET /api/st/my/reviews`` is the expert's history: every assignment the expert ever had, with the review given,
read-only once reviewed or once the window is over. Past windows are outside the expert's row-level scope, so
this one list (and the ownership check that tells "not yours", 404, from "not now", 403 ``outside_window``) reads
with the system scope, filtered to the signed-in user's own expert records.

When every expert of an application's latest draw has scored, the application moves through EVALUATION
"complete" (in_review → reviewed). That transition needs ``site.experts``, which experts do not hold: it is applied
by ``SYSTEM`` (a principal with only that permission, actor ``system``), in the expert's transaction, so the case
history shows the system completing the review right after the last expert's score.

The assignment is a case (``ASSIGNMENT``, kind ``st_assignment``: 待评审 → 已评审 by the action 提交评审): the review
route takes that action through the declaration's machine, so each review leaves its ``case_history`` row, the
assignment's audit record and a new version. The factory gives the authorities ``GET /api/st/assignments`` (filters
evaluation_id, expert_id, status, district, site_id) and its ``.xlsx``; the detail stays the route here, and the
generic action route refuses 提交评审 (``handled_by``: only the review route, with its checks, takes it). Who sees which
assignments (``_visible_to``): the experts' managers all in their scope, other authorities (district staff, leaders)
those in their scope, an expert their own, the units and builders of the reviewed site none.
"""

from __future__ import annotations

import json
from contextlib import nullcontext

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.cases import case_routes
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit, cases, workflow
from geo import scope as scopes
from geo.bounds import ITEM_CODE, Amount, Code, Text
from geo.cases import Action, CaseType, Lookup
from geo.db import transaction
from geo.divisions import district_attr
from geo.layer.registry import Attr
from layers.standard_sites import common
from layers.standard_sites import tables as t
from layers.standard_sites.common import PREFIX
from layers.standard_sites.evaluations import EVALUATION, STATES
from layers.standard_sites.photos import photos_of
from layers.standard_sites.settings import st_settings

router = APIRouter(prefix=PREFIX, tags=["标化工地"])

SYSTEM = Principal(
    user="system",
    roles=("system",),
    permissions=frozenset({"site.experts"}),
    scope=scopes.SYSTEM,
    via="system",
    display_name="系统",
)


def _visible_to(who: Principal, table: sa.Table, conn: Connection | None = None, params: dict | None = None):
    """Beyond row-level security: who reviews a site is not for the reviewed (units, builders: none); an expert sees
    their own assignments; the experts' managers and the other authorities (city or district scope) all in scope."""
    if who.can("site.experts"):
        return None
    if who.can("site.expert_review"):
        x = t.experts
        own = sa.select(x.c.id).where(x.c.user_id == sa.literal(who.user_id, sa.BigInteger))  # no account: none
        return table.c.expert_id.in_(own.scalar_subquery())
    if common.authority_only(who) and (who.scope.all or who.scope.districts):
        return None
    return sa.false()


ASSIGNMENT = cases.register(
    CaseType(
        kind="st_assignment",
        title="专家评审任务",
        table="st_assignments",
        states={"assigned": "待评审", "reviewed": "已评审"},
        actions=(Action("review", "提交评审", ("assigned",), "reviewed", "site.expert_review", handled_by="专家评审"),),
        fields=(
            Attr("draw_id", "专家抽取", "int"),
            Attr("evaluation_id", "考评申报", "int", filterable=True),
            Attr("site_id", "工地", "int", filterable=True),
            district_attr(),
            Attr("expert_id", "评审专家", "int", filterable=True),
            Attr("status", "状态", filterable=True),
            Attr("window_from", "评审开始时间", "datetime"),
            Attr("window_to", "评审截止时间", "datetime"),
            Attr("reminded_at", "提醒时间", "datetime"),
        ),
        columns=(
            ("id", "编号"),
            ("evaluation_id", "考评申报编号"),
            ("site_code", "项目编号"),
            ("site_name", "项目名称"),
            ("district", "区县"),
            ("expert_name", "评审专家"),
            ("status_title", "状态"),
            ("window_from", "评审开始时间"),
            ("window_to", "评审截止时间"),
            ("reminded_at", "提醒时间"),
            ("updated_at", "更新时间"),
        ),
        view="site.view",
        initial="assigned",
        sort=("-window_to", "id"),
        restrict=_visible_to,
        lookups=(
            Lookup("sites", "site_id", {"site_code": "code", "site_name": "name"}),
            Lookup("experts", "expert_id", {"expert_name": "name"}),
        ),
    )
)
ASSIGNMENT_STATES = ASSIGNMENT.states


def view(row: dict) -> dict:
    """An assignment in the authorities' list and its export."""
    return {
        "id": row["id"],
        "evaluation_id": row["evaluation_id"],
        "draw_id": row["draw_id"],
        "site_id": row["site_id"],
        "site_code": row["site_code"],
        "site_name": row["site_name"],
        "district": row["district"],
        "expert_id": row["expert_id"],
        "expert_name": row["expert_name"],
        "status": row["status"],
        "status_title": ASSIGNMENT_STATES[row["status"]],
        "window_from": common.iso(row["window_from"]),
        "window_to": common.iso(row["window_to"]),
        "reminded_at": common.iso(row["reminded_at"]),
        "version": row["version"],
        "updated_at": common.iso(row["updated_at"]),
        "updated_by": row["updated_by"],
    }


def _list(user_id: int | None) -> sa.Select:
    """The expert's assignments with the site and the review given, latest deadline first."""
    a, x, s, r = t.assignments, t.experts, t.sites(), t.reviews
    return (
        sa.select(
            a.c.id,
            a.c.evaluation_id,
            a.c.site_id,
            s.c.code.label("site_code"),
            s.c.name.label("site_name"),
            s.c.district,
            a.c.window_from,
            a.c.window_to,
            a.c.status,
            r.c.id.label("review_id"),
            r.c.scores,
            r.c.total,
            r.c.comments,
            r.c.submitted_at,
        )
        .select_from(
            a.join(x, x.c.id == a.c.expert_id).join(s, s.c.id == a.c.site_id).outerjoin(r, r.c.assignment_id == a.c.id)
        )
        .where(x.c.user_id == sa.literal(user_id, sa.BigInteger))  # no account: no rows (not IS NULL)
        .order_by(a.c.window_to.desc(), a.c.id)
    )


def comments_below() -> float:
    """A total below this needs comments."""
    return st_settings().comments_below


class ReviewIn(BaseModel):
    scores: dict[Code(ITEM_CODE), Amount(100)] = Field(
        title="评分", description='各评分项得分，如 {"S01": 27}', max_length=100
    )
    comments: Text(5000) | None = Field(None, title="评审意见", description="评审意见")


def _item(row, now) -> dict:
    open_ = row["window_from"] <= now < row["window_to"]
    return {
        "id": row["id"],
        "evaluation_id": row["evaluation_id"],
        "site_id": row["site_id"],
        "site_code": row["site_code"],
        "site_name": row["site_name"],
        "district": row["district"],
        "window_from": common.iso(row["window_from"]),
        "window_to": common.iso(row["window_to"]),
        "status": row["status"],
        "status_title": ASSIGNMENT_STATES.get(row["status"], row["status"]),
        "open": open_,
        "read_only": row["review_id"] is not None or not open_,
        "review": None
        if row["review_id"] is None
        else {
            "id": row["review_id"],
            "scores": row["scores"],
            "total": row["total"],
            "comments": row["comments"],
            "submitted_at": common.iso(row["submitted_at"]),
        },
    }


def _own(assignment_id: int, who: Principal, system: Connection | None = None) -> dict:
    """The signed-in expert's own assignment, inside its window (404 when not theirs, 403 when not now).
    ``system``: a connection outside row-level security to read it with (else a new system-scope transaction)."""
    with nullcontext(system) if system is not None else transaction() as sys_conn:  # the window is checked here
        a, x = t.assignments, t.experts
        row = (
            sys_conn.execute(
                sa.select(a.c.id, a.c.window_from, a.c.window_to, x.c.user_id)
                .select_from(a.join(x, x.c.id == a.c.expert_id))
                .where(a.c.id == assignment_id)
            )
            .mappings()
            .first()
        )
    if row is None or row["user_id"] != who.user_id:
        raise ApiError(404, "not_found", "评审任务不存在，或不是分配给您的。")
    now = common.now()
    if not row["window_from"] <= now < row["window_to"]:
        fmt = "%Y-%m-%d %H:%M"
        raise ApiError(
            403,
            "outside_window",
            f"不在评审时间内（{row['window_from'].astimezone(common.BEIJING).strftime(fmt)} 至 "
            f"{row['window_to'].astimezone(common.BEIJING).strftime(fmt)}），不能查看或提交评审。",
            None,
            {"window_from": common.iso(row["window_from"]), "window_to": common.iso(row["window_to"])},
        )
    return dict(row)


def _access(conn: Connection, assignment_id: int, who: Principal) -> dict:
    """Authorities (``site.experts``) see any assignment in their scope; an expert only their own, in the window."""
    if not who.can("site.experts"):
        who.require("site.expert_review", "查看评审任务")
        _own(assignment_id, who)
    return _load(conn, assignment_id)


def _load(conn: Connection, assignment_id: int, lock: bool = False) -> dict:
    a, x = t.assignments, t.experts
    query = (
        sa.select(a, x.c.name.label("expert_name"), x.c.user_id)
        .select_from(a.join(x, x.c.id == a.c.expert_id))
        .where(a.c.id == assignment_id)
    )
    if lock:
        query = query.with_for_update(of=a)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "评审任务不存在，或不在您的数据范围内。")
    return dict(row)


def score_form(conn: Connection) -> list[dict]:
    return [
        {"code": i["code"], "name": i["name"], "max_points": i["points"], "required": i["required"]}
        for i in common.catalog(conn, "score_item")
    ]


def check_scores(conn: Connection, body: ReviewIn) -> tuple[dict, float, str | None]:
    items = {i["code"]: i for i in score_form(conn)}
    for code in body.scores:
        if code not in items:
            raise ApiError(
                422, "unknown_item", f"评分表没有「{code}」这一项。", f"scores.{code}", {"items": list(items)}
            )
    scores = {}
    for code, item in items.items():
        value = body.scores.get(code)
        if value is None:
            if item["required"]:
                raise ApiError(422, "required", f"请给「{item['name']}」打分。", f"scores.{code}")
            continue
        top = item["max_points"] or 0
        if not 0 <= value <= top:
            raise ApiError(
                422,
                "out_of_range",
                f"「{item['name']}」的得分应在 0 至 {top:g} 分之间。",
                f"scores.{code}",
                {"min": 0, "max": top, "given": value},
            )
        scores[code] = int(value) if float(value).is_integer() else value
    total = float(sum(scores.values()))
    comments = (body.comments or "").strip() or None
    if total < comments_below() and not comments:
        raise ApiError(
            422,
            "comments_required",
            f"总分低于 {comments_below():g} 分，请填写评审意见。",
            "comments",
            {"total": total},
        )
    return scores, total, comments


def _complete_if_done(conn: Connection, evaluation_id: int) -> bool:
    a, latest = t.assignments, t.assignments.alias("latest")
    last_draw = sa.select(sa.func.max(latest.c.draw_id)).where(latest.c.evaluation_id == evaluation_id)
    left = conn.execute(
        sa.select(sa.func.count()).where(
            a.c.evaluation_id == evaluation_id, a.c.status != "reviewed", a.c.draw_id == last_draw.scalar_subquery()
        )
    ).scalar()
    status = conn.execute(sa.select(t.evaluations.c.status).where(t.evaluations.c.id == evaluation_id)).scalar()
    if left or status != "in_review":
        return False
    EVALUATION.apply(conn, evaluation_id, "complete", SYSTEM)
    return True


# -- routes: the expert --------------------------------------------------------------------------------------


@router.get("/my/assignments", summary="我的评审任务（评审时间内）")
def my_assignments(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    who.require("site.expert_review", "查看评审任务")
    now = common.now()
    rows = (
        conn.execute(_list(who.user_id).where(t.assignments.c.window_from <= now, t.assignments.c.window_to > now))
        .mappings()
        .all()
    )
    return {"assignments": [_item(r, now) for r in rows], "form": score_form(conn)}


@router.get("/my/reviews", summary="我的评审记录（历史，只读）")
def my_reviews(who: Principal = Depends(principal)) -> dict:
    who.require("site.expert_review", "查看评审记录")
    now = common.now()
    with transaction() as conn:  # system scope, own records only (past windows are outside row-level scope)
        rows = conn.execute(_list(who.user_id)).mappings().all()
        form = score_form(conn)
    return {"reviews": [_item(r, now) for r in rows], "form": form}


@router.get("/assignments/{assignment_id}", summary="评审任务：工地、考评申报摘要、评分表")
def assignment_detail(
    assignment_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    a = _access(conn, assignment_id, who)
    e, r = t.evaluations, t.reviews
    ev = (
        conn.execute(
            sa.select(
                e.c.id,
                e.c.status,
                e.c.completion_date,
                e.c.prefill,
                e.c.form,
                e.c.recommendation,
                e.c.submitted_at,
                e.c.recommended_at,
            ).where(e.c.id == a["evaluation_id"])
        )
        .mappings()
        .one()
    )
    review = (
        conn.execute(
            sa.select(r.c.id, r.c.scores, r.c.total, r.c.comments, r.c.submitted_at).where(
                r.c.assignment_id == assignment_id
            )
        )
        .mappings()
        .first()
    )
    out = {
        "id": a["id"],
        "window_from": common.iso(a["window_from"]),
        "window_to": common.iso(a["window_to"]),
        "status": a["status"],
        "status_title": ASSIGNMENT_STATES.get(a["status"], a["status"]),
        "site": common.site(conn, a["site_id"]),
        "evaluation": {
            **dict(ev),
            "status_title": STATES[ev["status"]],
            "submitted_at": common.iso(ev["submitted_at"]),
            "recommended_at": common.iso(ev["recommended_at"]),
            "photos": photos_of(conn, "evaluation", ev["id"]),
            "attachments": [
                {**dict(f), "url": f"{PREFIX}/evaluations/{ev['id']}/attachments/{f['id']}/file"}
                for f in conn.execute(
                    sa.select(t.attachments.c["id", "name", "filename", "content_type", "size"])
                    .where(t.attachments.c.evaluation_id == ev["id"], t.attachments.c.deleted_at.is_(None))
                    .order_by(t.attachments.c.id)
                ).mappings()
            ],
        },
        "form": score_form(conn),
        "comments_below": comments_below(),
        "review": None if review is None else {**dict(review), "submitted_at": common.iso(review["submitted_at"])},
        "history": workflow.history(conn, ASSIGNMENT.kind, assignment_id),
    }
    if who.can("site.experts"):
        out["expert"] = {"id": a["expert_id"], "name": a["expert_name"]}
    return out


@router.post("/assignments/{assignment_id}/review", status_code=201, summary="提交评审打分和意见（评审时间内，仅一次）")
def submit_review(
    assignment_id: int,
    body: ReviewIn,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    return submit(conn, who, assignment_id, body)


def submit(
    conn: Connection, who: Principal, assignment_id: int, body: ReviewIn, system: Connection | None = None
) -> dict:
    """The expert's review of an assignment (see ``_own`` for ``system``)."""
    who.require("site.expert_review", "提交评审意见")
    _own(assignment_id, who, system)
    # One review of an application at a time (application, then assignment), so that the last one completes it.
    e = t.evaluations
    conn.execute(sa.select(e.c.id).where(e.c.id == _load(conn, assignment_id)["evaluation_id"]).with_for_update())
    a = _load(conn, assignment_id, lock=True)
    if (
        a["status"] == "reviewed"
        or conn.execute(sa.select(1).where(t.reviews.c.assignment_id == assignment_id)).scalar()
    ):
        raise ApiError(409, "already_reviewed", "您已提交过该项目的评审意见，不能重复提交。", None)
    scores, total, comments = check_scores(conn, body)
    rid = conn.execute(
        sa.insert(t.reviews)
        .values(
            assignment_id=assignment_id,
            site_id=a["site_id"],
            scores=t.jsonb(json.dumps(scores)),
            total=total,
            comments=comments,
            district=a["district"],
            created_by=who.user,
            updated_by=who.user,
        )
        .returning(t.reviews.c.id)
    ).scalar_one()
    # The assignment's transition (已评审), its history row, audit record and version, like every case's.
    ASSIGNMENT.machine.apply(conn, assignment_id, "review", who)
    audit.record(
        conn,
        who.user,
        "review",
        "st_reviews",
        rid,
        None,
        {"assignment_id": assignment_id, "scores": scores, "total": total, "comments": comments},
        who.client,
        user_id=who.user_id,
    )
    completed = _complete_if_done(conn, a["evaluation_id"])
    return {
        "id": rid,
        "assignment_id": assignment_id,
        "scores": scores,
        "total": total,
        "comments": comments,
        "evaluation_completed": completed,
        "message": "评审意见已提交。",
    }


# -- routes: the authorities -------------------------------------------------------------------------------

# The list (filters evaluation_id, expert_id, status, district, site_id) and its Excel export come from the
# declaration; the detail is the route above (the expert's task, the authority's view), the action the review route.
case_routes(
    router,
    ASSIGNMENT,
    "/assignments",
    view=lambda conn, row, who: view(row),
    items_key="assignments",
    detail_route=False,
    summaries={"list": "专家评审任务列表（主管部门按权限范围，专家为本人的）"},
)


@router.get("/evaluations/{evaluation_id}/reviews", summary="考评申报的专家评审情况（专家、打分、意见）")
def evaluation_reviews(
    evaluation_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    who.require("site.experts", "查看专家评审情况")
    e, a, x, r = t.evaluations, t.assignments, t.experts, t.reviews
    ev = (
        conn.execute(sa.select(e.c.id, e.c.site_id, e.c.status, e.c.round_id).where(e.c.id == evaluation_id))
        .mappings()
        .first()
    )
    if ev is None:
        raise ApiError(404, "not_found", "考评申报不存在，或不在您的数据范围内。")
    rows = (
        conn.execute(
            sa.select(
                a.c.id,
                a.c.draw_id,
                a.c.expert_id,
                x.c.name.label("expert_name"),
                x.c.enterprise_name,
                a.c.window_from,
                a.c.window_to,
                a.c.status,
                a.c.reminded_at,
                r.c.scores,
                r.c.total,
                r.c.comments,
                r.c.submitted_at,
            )
            .select_from(a.join(x, x.c.id == a.c.expert_id).outerjoin(r, r.c.assignment_id == a.c.id))
            .where(a.c.evaluation_id == evaluation_id)
            .order_by(a.c.draw_id, a.c.id)
        )
        .mappings()
        .all()
    )
    totals = [r["total"] for r in rows if r["total"] is not None]
    return {
        "evaluation": {**dict(ev), "status_title": STATES[ev["status"]]},
        "assignments": [
            {**dict(r), **{k: common.iso(r[k]) for k in ("window_from", "window_to", "reminded_at", "submitted_at")}}
            for r in rows
        ],
        "average_total": round(sum(totals) / len(totals), 2) if totals else None,
        "form": score_form(conn),
    }
