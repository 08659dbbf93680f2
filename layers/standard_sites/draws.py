"""Review rounds and the expert draw (专家抽取, ST-16), on the auditable engine of ``geo.draw``.

A round (评审轮次, ``st_rounds``) fixes the review window, how long before its end the reminder goes out, how many
experts each project gets and how many projects one expert may get in the round.

The draw is two calls, so that the commitment is on record (and can be shown to observers) before anyone can know
the result:

1. ``POST /api/st/rounds/{id}/draws`` — *commit*: collects the round's recommended evaluation applications (those
   of the round, and those not yet in a round), the expert pool and the rules, and records in ``st_draws`` the
   canonical inputs, their SHA-256 and the commitment ``SHA-256(seed || inputs_sha256)``. The 32-byte seed comes
   from ``secrets`` and is kept in the row but never shown until the draw is run. Committing again for the round
   supersedes an earlier commitment that was not run (both stay on record).
2. ``POST /api/st/draws/{id}/run`` — *run*: reruns the engine from the recorded inputs and seed (checking that
   they still open the commitment), reveals the seed, stores the result with the report of who was excluded from
   each project and why, and for every project that got all its experts: creates the assignments with the
   round's window, grants each expert's account the site for that window only (row-level security), moves the
   application through EVALUATION "assign" (recommended → in_review). Each drawn expert then gets one SMS with the
   account and a dynamic password valid in the window (``api.accounts.otp.issue``; it replaces an unused code the
   expert may hold from another round — the expert can ask for a new one inside any window). A project with too
   few eligible experts (a shortfall) gets nobody and stays recommended for a later draw.

``GET /api/st/draws/{id}/verify`` recomputes the commitment and the draw from the record (``geo.draw.verify``)
and compares the assignments stored in the database with the result.

Rules fed to the engine: an application's group is its project's 工程类别 (``projects.project_type``, else the
site's, else 房屋建筑); its specialty is the one the commit names for it (or for all), else any; the enterprises
involved are the project's construction, supervision and builder units; experts earlier assigned to the same
application (in any round) are excluded. The per-round limit also counts earlier draws of the round: an expert
who already reached it is marked unavailable, and the limit given to the engine is lowered by the largest count
so far, so that nobody can exceed it.
"""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.accounts import otp
from api.accounts.users import grant
from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit, draw
from geo.bounds import REVIEW_WINDOW, Hours, Moment, RecordId, Text, Version, Whole
from layers.standard_sites import common
from layers.standard_sites import tables as t
from layers.standard_sites.common import PREFIX
from layers.standard_sites.evaluations import EVALUATION

router = APIRouter(prefix=PREFIX, tags=["标化工地"])

DEFAULT_GROUP = "房屋建筑"
ROUND_FIELDS = ("name", "review_from", "review_to", "reminder_hours", "per_project", "max_per_expert")
DRAW_STATES = {"committed": "已承诺（待抽取）", "drawn": "已抽取", "superseded": "已作废（被新的承诺取代）"}


ReviewTime = Moment(REVIEW_WINDOW)
PerProject = Whole(1, 9)
PerExpert = Whole(1, 100)


class RoundIn(BaseModel):
    name: Text(100, 1) = Field(title="轮次名称")
    review_from: ReviewTime = Field(title="评审开始时间", description="评审开始时间（含时区）")
    review_to: ReviewTime = Field(title="评审截止时间")
    reminder_hours: Hours = Field(24, title="截止前提醒（小时）", description="截止前多少小时发送提醒短信")
    per_project: PerProject = Field(2, title="每个项目抽取专家数")
    max_per_expert: PerExpert = Field(3, title="每位专家本轮最多评审项目数")


class RoundUpdate(BaseModel):
    version: Version = Field(title="版本号")
    name: Text(100, 1) | None = Field(None, title="轮次名称")
    review_from: ReviewTime | None = Field(None, title="评审开始时间")
    review_to: ReviewTime | None = Field(None, title="评审截止时间")
    reminder_hours: Hours | None = Field(None, title="截止前提醒（小时）")
    per_project: PerProject | None = Field(None, title="每个项目抽取专家数")
    max_per_expert: PerExpert | None = Field(None, title="每位专家本轮最多评审项目数")


class DrawRequest(BaseModel):
    evaluation_ids: list[RecordId] | None = Field(
        None, title="考评申报", description="只抽取这些考评申报（默认：本轮全部已推荐的）", max_length=1000
    )
    specialty: Text(50) | None = Field(None, title="要求的专业", description="要求的专业（默认不限）")
    specialties: dict[RecordId, Text(50)] = Field(
        default_factory=dict, title="按考评申报指定专业", description="按考评申报指定专业", max_length=1000
    )


def _require_rounds(who: Principal, what: str) -> None:
    if not who.can("site.config"):
        who.require("site.experts", what)


def _check_window(a: datetime, b: datetime) -> None:
    if a.tzinfo is None or b.tzinfo is None:
        raise ApiError(422, "timezone_required", "评审时间须带时区（如 2026-12-01T09:00:00+08:00）。", "review_from")
    if b <= a:
        raise ApiError(422, "invalid_window", "评审截止时间必须晚于开始时间。", "review_to")


def round_view(row: dict) -> dict:
    return {
        "id": row["id"],
        **{k: row[k] for k in ROUND_FIELDS},
        "status": row["status"],
        "version": row["version"],
        "created_by": row["created_by"],
        "created_at": common.iso(row["created_at"]),
    }


def get_round(conn: Connection, round_id: int, lock: bool = False) -> dict:
    query = sa.select(t.rounds).where(t.rounds.c.id == round_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "评审轮次不存在。")
    return dict(row)


def _has_draws(conn: Connection, round_id: int) -> bool:
    d = t.draws
    return (
        conn.execute(sa.select(1).where(d.c.round_id == round_id, d.c.status == "drawn").limit(1)).scalar() is not None
    )


# -- building the inputs -------------------------------------------------------------------------------------


def _projects(conn: Connection, round_id: int, body: DrawRequest) -> list[draw.Project]:
    e, s, a, pr = t.evaluations, t.sites(), t.assignments, t.projects
    # the site's first project (LEFT JOIN LATERAL … ON true) and the experts assigned earlier (array(SELECT …))
    p = sa.select(pr).where(pr.c.site_id == e.c.site_id).order_by(pr.c.id).limit(1).lateral("p")
    previous = sa.select(a.c.expert_id).distinct().where(a.c.evaluation_id == e.c.id).scalar_subquery()
    query = (
        sa.select(
            e.c.id,
            s.c.name,
            sa.func.coalesce(p.c.project_type, s.c.project_type).label("project_type"),
            p.c.construction_uscc,
            p.c.supervision_uscc,
            p.c.builder_uscc,
            sa.func.array(previous).label("previous"),
        )
        .select_from(e.join(s, s.c.id == e.c.site_id).outerjoin(p, sa.true()))
        .where(e.c.status == "recommended", sa.or_(e.c.round_id == round_id, e.c.round_id.is_(None)))
        .order_by(e.c.id)
    )
    if body.evaluation_ids is not None:
        query = query.where(e.c.id.in_(body.evaluation_ids))
    rows = conn.execute(query).mappings().all()
    if body.evaluation_ids:
        missing = sorted(set(body.evaluation_ids) - {r["id"] for r in rows})
        if missing:
            raise ApiError(
                409,
                "not_recommended",
                f"考评申报 {'、'.join(map(str, missing))} 不是本轮待抽取的已推荐申报。",
                "evaluation_ids",
                {"evaluation_ids": missing},
            )
    return [
        draw.Project(
            id=r["id"],
            name=r["name"],
            group=r["project_type"] or DEFAULT_GROUP,
            specialty=body.specialties.get(r["id"], body.specialty) or None,
            involved_uscc=tuple(u for u in (r["construction_uscc"], r["supervision_uscc"], r["builder_uscc"]) if u),
            previous_expert_ids=tuple(r["previous"]),
        )
        for r in rows
    ]


def _experts(conn: Connection, round_id: int, limit: int) -> tuple[list[draw.Expert], int]:
    """The pool for the engine, and the per-expert limit left for this draw (see the module's docstring)."""
    e, a, d = t.experts, t.assignments, t.draws
    used = (
        sa.select(sa.func.count())
        .select_from(a.join(d, d.c.id == a.c.draw_id))
        .where(a.c.expert_id == e.c.id, d.c.round_id == round_id)
        .scalar_subquery()
    )
    rows = (
        conn.execute(
            sa.select(
                e.c.id,
                e.c.name,
                e.c.group_name,
                e.c.specialties,
                e.c.enterprise_uscc,
                e.c.available,
                e.c.unavailable_reason,
                e.c.user_id,
                used.label("used"),
            )
            .where(e.c.deleted_at.is_(None))
            .order_by(e.c.id)
        )
        .mappings()
        .all()
    )
    left = limit - max([r["used"] for r in rows if r["used"] < limit] or [0])
    out = []
    for r in rows:
        available, reason = r["available"], r["unavailable_reason"]
        if available and r["user_id"] is None:
            available, reason = False, "未开通评审账号"
        elif available and r["used"] >= limit:
            available, reason = False, f"本轮已分配 {r['used']} 个项目，达到上限"
        out.append(
            draw.Expert(
                id=r["id"],
                name=r["name"],
                group=r["group_name"],
                specialties=tuple(r["specialties"]),
                enterprise_uscc=r["enterprise_uscc"],
                available=available,
                unavailable_reason=reason,
            )
        )
    return out, max(left, 1)


# -- views -------------------------------------------------------------------------------------------------


def get_draw(conn: Connection, draw_id: int, lock: bool = False) -> dict:
    query = sa.select(t.draws).where(t.draws.c.id == draw_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "抽取记录不存在。")
    return dict(row)


def draw_view(conn: Connection, d: dict) -> dict:
    drawn = d["status"] == "drawn"
    inputs = d["inputs"]
    names = {e["id"]: e["name"] for e in inputs["experts"]}
    projects = {p["id"]: p["name"] for p in inputs["projects"]}
    out = {
        "id": d["id"],
        "round_id": d["round_id"],
        "status": d["status"],
        "status_title": DRAW_STATES[d["status"]],
        "scheme": inputs.get("scheme"),
        "inputs": inputs,
        "inputs_sha256": d["inputs_sha256"],
        "commitment": d["commitment"],
        "seed": d["seed"] if drawn else None,
        "created_by": d["created_by"],
        "created_at": common.iso(d["created_at"]),
        "drawn_at": common.iso(d["drawn_at"]),
    }
    if drawn:
        res = d["result"]
        out["projects"] = [
            {
                "evaluation_id": int(pid),
                "name": projects.get(int(pid)),
                "experts": [{"expert_id": e, "name": names.get(e)} for e in res["assignments"].get(pid, [])],
                "excluded": res["exclusions"].get(pid, []),
                "shortfall": res["shortfalls"].get(pid),
            }
            for pid in sorted(res["assignments"], key=int)
        ]
        out["shortfalls"] = res["shortfalls"]
        a, x = t.assignments, t.experts
        out["assignments"] = [
            dict(r)
            for r in conn.execute(
                sa.select(
                    a.c.id,
                    a.c.evaluation_id,
                    a.c.site_id,
                    a.c.expert_id,
                    x.c.name.label("expert_name"),
                    a.c.window_from,
                    a.c.window_to,
                    a.c.status,
                )
                .select_from(a.join(x, x.c.id == a.c.expert_id))
                .where(a.c.draw_id == d["id"])
                .order_by(a.c.evaluation_id, a.c.id)
            ).mappings()
        ]
    return out


# -- routes: rounds ----------------------------------------------------------------------------------------


@router.get("/rounds", summary="评审轮次列表")
def list_rounds(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    _require_rounds(who, "查看评审轮次")
    r = t.rounds
    rows = conn.execute(sa.select(r).order_by(r.c.review_from.desc(), r.c.id.desc())).mappings().all()
    return {"rounds": [round_view(dict(r)) for r in rows]}


@router.post("/rounds", status_code=201, summary="新建评审轮次（评审时间、提醒、抽取规则）")
def create_round(
    body: RoundIn, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> dict:
    _require_rounds(who, "新建评审轮次")
    _check_window(body.review_from, body.review_to)
    row = (
        conn.execute(
            sa.insert(t.rounds)
            .values(**{k: getattr(body, k) for k in ROUND_FIELDS}, created_by=who.user)
            .returning(*t.rounds.c)
        )
        .mappings()
        .one()
    )
    audit.record(
        conn, who.user, "create", "st_rounds", row["id"], None, round_view(dict(row)), who.client, user_id=who.user_id
    )
    return round_view(dict(row))


@router.get("/rounds/{round_id}", summary="评审轮次详情（含抽取记录）")
def round_detail(
    round_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    _require_rounds(who, "查看评审轮次")
    rnd = round_view(get_round(conn, round_id))
    dt = t.draws
    draws = (
        conn.execute(
            sa.select(dt.c.id, dt.c.status, dt.c.commitment, dt.c.created_at, dt.c.created_by, dt.c.drawn_at)
            .where(dt.c.round_id == round_id)
            .order_by(dt.c.id)
        )
        .mappings()
        .all()
    )
    return {
        **rnd,
        "draws": [
            {**dict(d), "created_at": common.iso(d["created_at"]), "drawn_at": common.iso(d["drawn_at"])} for d in draws
        ],
    }


@router.patch("/rounds/{round_id}", summary="修改评审轮次（已抽取后不能改评审时间和规则）")
def update_round(
    round_id: int,
    body: RoundUpdate,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    _require_rounds(who, "修改评审轮次")
    before = get_round(conn, round_id, lock=True)
    if before["version"] != body.version:
        raise ApiError(
            409,
            "stale_version",
            "该评审轮次已被他人修改，请刷新后再保存。",
            "version",
            {"current": before["version"], "given": body.version},
        )
    changes = body.model_dump(exclude={"version"}, exclude_unset=True)
    if any(v is None for v in changes.values()):
        raise ApiError(422, "required", "字段不能为空。", next(k for k, v in changes.items() if v is None))
    if set(changes) - {"name", "reminder_hours"} and _has_draws(conn, round_id):
        raise ApiError(409, "round_drawn", "本轮已抽取专家，评审时间和抽取规则不能再修改。", None)
    _check_window(changes.get("review_from", before["review_from"]), changes.get("review_to", before["review_to"]))
    if not changes:
        return round_view(before)
    r = t.rounds
    after = (
        conn.execute(sa.update(r).where(r.c.id == round_id).values(**changes, version=r.c.version + 1).returning(*r.c))
        .mappings()
        .one()
    )
    audit.record(
        conn,
        who.user,
        "update",
        "st_rounds",
        round_id,
        round_view(before),
        round_view(dict(after)),
        who.client,
        user_id=who.user_id,
    )
    return round_view(dict(after))


@router.delete("/rounds/{round_id}", status_code=204, summary="删除评审轮次（尚无抽取记录时）")
def delete_round(
    round_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> Response:
    _require_rounds(who, "删除评审轮次")
    before = get_round(conn, round_id, lock=True)
    if conn.execute(sa.select(1).where(t.draws.c.round_id == round_id).limit(1)).scalar():
        raise ApiError(409, "round_has_draws", "本轮已有抽取记录（含承诺），不能删除。", None)
    conn.execute(sa.update(t.evaluations).where(t.evaluations.c.round_id == round_id).values(round_id=None))
    conn.execute(sa.delete(t.rounds).where(t.rounds.c.id == round_id))
    audit.record(
        conn, who.user, "delete", "st_rounds", round_id, round_view(before), None, who.client, user_id=who.user_id
    )
    return Response(status_code=204)


# -- routes: draws -------------------------------------------------------------------------------------------


@router.post("/rounds/{round_id}/draws", status_code=201, summary="抽取专家第一步：记录抽取输入和承诺值")
def commit_draw(
    round_id: int,
    body: DrawRequest | None = None,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require("site.experts", "抽取评审专家")
    body = body or DrawRequest()
    rnd = get_round(conn, round_id, lock=True)
    if rnd["status"] == "closed" or rnd["review_to"] <= common.now():
        raise ApiError(409, "round_closed", "本轮评审已结束或已关闭，不能再抽取专家。", None)
    projects = _projects(conn, round_id, body)
    if not projects:
        raise ApiError(409, "nothing_to_draw", "本轮没有待抽取专家的已推荐考评申报。", None)
    experts, limit = _experts(conn, round_id, rnd["max_per_expert"])
    prepared = draw.prepare(projects, experts, draw.Rules(per_project=rnd["per_project"], max_per_expert=limit))
    d = t.draws
    superseded = (
        conn.execute(
            sa.update(d)
            .where(d.c.round_id == round_id, d.c.status == "committed")
            .values(status="superseded")
            .returning(d.c.id)
        )
        .scalars()
        .all()
    )
    # The seed stays in the row, unshown, until the draw is run; inputs and commitment are on record from now on.
    row = (
        conn.execute(
            sa.insert(d)
            .values(
                round_id=round_id,
                inputs=t.jsonb(prepared.inputs),
                inputs_sha256=prepared.inputs_sha256,
                commitment=prepared.commitment,
                seed=prepared.seed.hex(),
                status="committed",
                created_by=who.user,
            )
            .returning(*d.c)
        )
        .mappings()
        .one()
    )
    audit.record(
        conn,
        who.user,
        "draw_commit",
        "st_draws",
        row["id"],
        None,
        {
            "round_id": round_id,
            "inputs_sha256": prepared.inputs_sha256,
            "commitment": prepared.commitment,
            "evaluations": [p.id for p in projects],
            "superseded": superseded,
        },
        who.client,
        user_id=who.user_id,
    )
    return draw_view(conn, dict(row))


def run(conn: Connection, draw_id: int, who: Principal) -> dict:
    d = get_draw(conn, draw_id, lock=True)
    if d["status"] != "committed":
        raise ApiError(
            409, "draw_not_committed", f"该抽取记录状态为「{DRAW_STATES[d['status']]}」，不能执行抽取。", None
        )
    rnd = get_round(conn, d["round_id"], lock=True)
    if rnd["status"] == "closed" or rnd["review_to"] <= common.now():
        raise ApiError(409, "round_closed", "本轮评审已结束或已关闭，不能再抽取专家。", None)
    result = draw.reproduce(json.dumps(d["inputs"], ensure_ascii=False), d["seed"])
    if result.commitment != d["commitment"] or result.inputs_sha256 != d["inputs_sha256"]:
        raise ApiError(409, "commitment_mismatch", "抽取记录与承诺值不符（记录可能被改动），不能执行抽取。", None)
    ids = list(result.assignments)
    e, x, a = t.evaluations, t.experts, t.assignments
    states = dict(conn.execute(sa.select(e.c.id, e.c.status).where(e.c.id.in_(ids)).with_for_update()).all())
    stale = [i for i in ids if states.get(i) != "recommended"]
    if stale:
        raise ApiError(
            409, "stale_draw", "部分考评申报的状态已变化，请重新记录抽取承诺后再抽取。", None, {"evaluation_ids": stale}
        )
    chosen = {e for v in result.assignments.values() for e in v}
    accounts = dict(
        conn.execute(
            sa.select(x.c.id, x.c.user_id).where(
                x.c.id.in_(sorted(chosen)), x.c.deleted_at.is_(None), x.c.user_id.is_not(None)
            )
        ).all()
    )
    if chosen - accounts.keys():
        raise ApiError(
            409,
            "stale_draw",
            "抽中的专家已从专家库删除，请重新记录抽取承诺后再抽取。",
            None,
            {"expert_ids": sorted(chosen - accounts.keys())},
        )
    drawn: set[int] = set()
    for eid, expert_ids in result.assignments.items():
        if eid in result.shortfalls:
            continue  # stays recommended for a later draw
        ev = conn.execute(sa.select(e.c.site_id, e.c.district).where(e.c.id == eid)).one()
        for xid in expert_ids:
            conn.execute(
                sa.insert(a).values(
                    draw_id=draw_id,
                    evaluation_id=eid,
                    site_id=ev.site_id,
                    expert_id=xid,
                    window_from=rnd["review_from"],
                    window_to=rnd["review_to"],
                    district=ev.district,
                    created_by=who.user,
                    updated_by=who.user,
                )
            )
            grant(conn, accounts[xid], "sites", ev.site_id, "expert", rnd["review_from"], rnd["review_to"], who.user)
            drawn.add(xid)
        EVALUATION.apply(conn, eid, "assign", who, values={"round_id": rnd["id"]})
    for xid in sorted(drawn):
        otp.issue(conn, accounts[xid], rnd["review_from"], rnd["review_to"], actor=who.user, what="标化工地专家评审")
    after = (
        conn.execute(
            sa.update(t.draws)
            .where(t.draws.c.id == draw_id)
            .values(result=t.jsonb(result.to_json()), status="drawn", drawn_at=sa.func.now())
            .returning(*t.draws.c)
        )
        .mappings()
        .one()
    )
    audit.record(
        conn,
        who.user,
        "draw_run",
        "st_draws",
        draw_id,
        None,
        {
            "seed": result.seed,
            "assignments": result.assignments,
            "shortfalls": result.shortfalls,
            "notified_experts": sorted(drawn),
        },
        who.client,
        user_id=who.user_id,
    )
    return draw_view(conn, dict(after))


@router.post("/draws/{draw_id}/run", summary="抽取专家第二步：执行抽取、公布种子、通知专家")
def run_draw(
    draw_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> dict:
    who.require("site.experts", "抽取评审专家")
    return run(conn, draw_id, who)


@router.get("/rounds/{round_id}/draws", summary="本轮抽取记录")
def list_draws(
    round_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    who.require("site.experts", "查看抽取记录")
    get_round(conn, round_id)
    rows = conn.execute(sa.select(t.draws).where(t.draws.c.round_id == round_id).order_by(t.draws.c.id)).mappings()
    return {"draws": [draw_view(conn, dict(r)) for r in rows]}


@router.get("/draws/{draw_id}", summary="抽取记录：输入、承诺值、种子、结果、回避和排除原因")
def draw_detail(
    draw_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    who.require("site.experts", "查看抽取记录")
    return draw_view(conn, get_draw(conn, draw_id))


@router.get("/draws/{draw_id}/verify", summary="验证抽取：由记录的输入和种子重算承诺值和结果")
def verify_draw(
    draw_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    who.require("site.experts", "验证抽取记录")
    d = get_draw(conn, draw_id)
    if d["status"] != "drawn":
        raise ApiError(409, "draw_not_run", "该抽取尚未执行，种子未公布，无法验证。", None)
    try:
        ok = draw.verify(
            json.dumps(d["inputs"], ensure_ascii=False), d["seed"], d["commitment"], d["result"]["assignments"]
        )
        redo = draw.reproduce(json.dumps(d["inputs"], ensure_ascii=False), d["seed"])
    except ValueError as e:
        return {"verified": False, "reason": f"记录格式不正确：{e}"}
    stored: dict[int, list[int]] = {}
    a = t.assignments
    for r in conn.execute(sa.select(a.c.evaluation_id, a.c.expert_id).where(a.c.draw_id == draw_id).order_by(a.c.id)):
        stored.setdefault(r.evaluation_id, []).append(r.expert_id)
    expected = {k: v for k, v in redo.assignments.items() if k not in redo.shortfalls}
    records_match = stored == expected
    return {
        "verified": ok and records_match,
        "commitment_and_result_match": ok,
        "records_match": records_match,
        "inputs_sha256": redo.inputs_sha256,
        "commitment": d["commitment"],
        "seed": d["seed"],
        "reason": None
        if ok and records_match
        else ("承诺值或抽取结果与重算不符" if not ok else "数据库中的分配记录与抽取结果不符"),
    }
