"""The lottery of review agencies (摇号, DR-02): avoidance, the draw by target shares, the public draw record and
its verification, and the list of accepted projects (已受理项目列表).

Avoidance (回避)
----------------
For an application, every agency of its jurisdiction's ratio table is screened; the first rule it fails excludes it
and the draw record lists it with that reason: suspended from the lottery; no qualification registered; no
qualification valid on the day of the draw (expired or not yet valid); none covering the review category; the
project grade; the scale (the application's total floor area above the qualification's maximum); the review
contents (all of the application's, e.g. general + fire protection); the same enterprise (credit code) as the
builder or the design unit; a declared affiliation (``dr_affiliations``) with the builder or the design unit.
No eligible agency: a 422 ``no_eligible_agency`` with every exclusion, and nothing is assigned or recorded.

Selection method (stated in the docs too)
-----------------------------------------
Among the eligible agencies, ``geo.lottery.quota_pick`` draws by *deficit*: with ``T_i`` an agency's target in
hundredths of a percent (the table sums to 10,000), ``c_i`` its draws so far under the table's current version
and ``n`` all draws of the jurisdiction under that version, the deficit is ``D_i = T_i × (n + 1) − 10,000 × c_i``.
An eligible agency with a positive deficit is drawn with probability proportional to it (an agency ahead of its
target share is not drawn); if no eligible agency has a positive deficit, the largest deficit wins, ties broken by
the seeded stream. Realized shares so stay within about two draws of the targets at any time (within ±3
percentage points after 200 draws: ``tests/test_dr_lottery.py`` checks it on the demo's ratios), yet which agency
gets the next project is random. Editing a table starts a new count (a new version).

Commit and reveal
-----------------
Each jurisdiction always holds one open seed commitment (``ratios.ensure_commitment``): 32 bytes from ``secrets``,
of which only the SHA-256 is published (on the lottery page) before the draw that will use it. A draw fixes its
inputs — the application (category, grade, floor area, contents, builder, design unit), every agency of the table
with its target, its count, its qualifications and affiliations, the day — as canonical JSON with its SHA-256,
takes the open seed, draws from the stream HMAC-SHA256(seed, ``SCHEME`` || inputs_sha256 || counter), reveals the
seed in the record and commits the next seed, all in one transaction. The operator cannot choose the seed after
seeing the inputs (it was committed before), and the record cannot be changed afterwards without the check
failing.

Anyone recomputes a draw from its published record at ``/review/verify/{draw_id}`` (no sign-in): the server
recomputes it (``GET /api/review/draws/{id}/verify``: the inputs' SHA-256, the seed against the commitment, the
screening and the pick — "一致" when all agree), and the page recomputes it again in the browser with WebCrypto from
the published record alone (``web/lottery.js``, a second implementation), so a verifier need not trust the server.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import JSONB

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit, lottery
from geo.bounds import BEIJING, Day, RecordId, Text, Whole, Window
from geo.records import Link, register_link
from layers.drawing_review import ratios
from layers.drawing_review.agencies import READ, E, affiliations_of, qualifications_of
from layers.drawing_review.agencies import agencies as A
from layers.drawing_review.process import CONTENTS, COUNTIES, JURISDICTIONS, MACHINE, STATES
from layers.drawing_review.tables import applications, metadata

SCHEME = "chengjian-review-lottery/v1"
TS = sa.DateTime(timezone=True)
AP = applications

draws = sa.Table(
    "dr_draws",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("application_id", sa.BigInteger),
    sa.Column("review_project_id", sa.BigInteger),
    sa.Column("district", sa.Text),
    sa.Column("jurisdiction", sa.Text),
    sa.Column("ratio_version", sa.Integer),
    sa.Column("scheme", sa.Text),
    sa.Column("inputs", sa.Text),
    sa.Column("inputs_sha256", sa.Text),
    sa.Column("commitment_id", sa.BigInteger),
    sa.Column("commitment", sa.Text),
    sa.Column("committed_at", TS),
    sa.Column("seed", sa.Text),
    sa.Column("agency_id", sa.BigInteger),
    sa.Column("result", JSONB),
    sa.Column("drawn_at", TS),
    sa.Column("drawn_by", sa.Text),
)
D = draws

# Exclusion reasons, in the order the rules are checked.
REASONS = {
    "inactive": "机构已暂停参加摇号",
    "no_qualification": "未登记审查资质",
    "expired": "资质不在有效期内（{detail}）",
    "category": "资质不含审查类别「{detail}」",
    "grade": "资质不含项目等级「{detail}」",
    "scale": "资质规模上限不足（{detail}）",
    "contents": "资质不含审查内容「{detail}」",
    "same_builder": "与建设单位为同一单位",
    "same_designer": "与设计单位为同一单位",
    "affiliated_builder": "与建设单位存在关联关系（{detail}）",
    "affiliated_designer": "与设计单位存在关联关系（{detail}）",
}
DRAWN = ("drawn", "reviewing", "replying", "passed", "failed", "certified", "returned")
ACCEPTED = ("reviewing", "replying", "passed", "failed", "certified")

router = APIRouter(prefix="/api/review", tags=["施工图联审"])

# The application's record page lists its draw records (the public record: its verification page links from it).
register_link(
    Link(
        target="dr_application",
        module="drawing_review",
        title="摇号记录",
        table="dr_draws",
        column="application_id",
        columns=(("drawn_at", "摇号时间"), ("jurisdiction", "管辖"), ("commitment", "种子承诺值"), ("seed", "种子")),
        order="drawn_at DESC",
    )
)


# -- the pure draw: screening and picking from the published inputs -------------------------------------------------


def _area(value: float) -> str:
    return f"{value:,.0f} ㎡"


def screen(app: dict[str, Any], agency: dict[str, Any], on: str) -> tuple[str, str] | None:
    """The first avoidance rule ``agency`` fails for ``app`` on day ``on`` (ISO), as (code, Chinese reason)."""

    def why(code: str, detail: str = "") -> tuple[str, str]:
        return code, REASONS[code].format(detail=detail)

    if not agency["active"]:
        return why("inactive")
    quals = agency["qualifications"]
    if not quals:
        return why("no_qualification")
    valid = [q for q in quals if q["valid_from"] <= on <= q["valid_to"]]
    if not valid:
        latest = max(quals, key=lambda q: q["valid_to"])
        detail = f"有效期 {latest['valid_from']} 至 {latest['valid_to']}"
        return why("expired", detail)
    fits = [q for q in valid if app["review_category"] in q["categories"]]
    if not fits:
        return why("category", app["review_category"])
    fits = [q for q in fits if app["grade"] in q["grades"]]
    if not fits:
        return why("grade", app["grade"])
    area = app["floor_area_m2"]
    if area is not None:
        roomy = [q for q in fits if q["max_floor_area_m2"] is None or area <= q["max_floor_area_m2"]]
        if not roomy:
            top = max(q["max_floor_area_m2"] for q in fits)
            return why("scale", f"上限 {_area(top)}，本项目总建筑面积 {_area(area)}")
        fits = roomy
    wanted = set(app["contents"])
    if not any(wanted <= set(q["contents"]) for q in fits):
        best = max(fits, key=lambda q: len(wanted & set(q["contents"])))
        missing = [CONTENTS.get(c, c) for c in app["contents"] if c not in best["contents"]]
        return why("contents", "、".join(missing))
    if agency["uscc"] == app["builder_uscc"]:
        return why("same_builder")
    if agency["uscc"] == app["designer_uscc"]:
        return why("same_designer")
    ties = {t["uscc"]: t["relation"] for t in agency["affiliations"]}
    if app["builder_uscc"] in ties:
        return why("affiliated_builder", ties[app["builder_uscc"]])
    if app["designer_uscc"] in ties:
        return why("affiliated_designer", ties[app["designer_uscc"]])
    return None


def run(inputs_json: str, seed: bytes) -> dict[str, Any]:
    """The draw from its canonical inputs and the seed: the agency (None when none is eligible), every exclusion
    with its reason, the eligible agencies' deficits and how the pick was made. Deterministic."""
    data = json.loads(inputs_json)
    if not isinstance(data, dict) or data.get("scheme") != SCHEME:
        raise ValueError(f"inputs are not a {SCHEME} document")
    app, on = data["application"], data["drawn_on"]
    eligible, exclusions = [], []
    for agency in sorted(data["agencies"], key=lambda a: a["id"]):
        found = screen(app, agency, on)
        if found is None:
            eligible.append(agency["id"])
        else:
            exclusions.append({"agency_id": agency["id"], "name": agency["name"], "code": found[0], "reason": found[1]})
    targets = {a["id"]: a["target_bp"] for a in data["agencies"]}
    counts = {a["id"]: a["count"] for a in data["agencies"]}
    stream = lottery.Stream(seed, SCHEME.encode() + bytes.fromhex(lottery.sha256_hex(inputs_json)))
    chosen, weights, method = lottery.quota_pick(targets, counts, data["drawn"], eligible, stream, data["total"])
    return {
        "agency_id": chosen,
        "method": method,
        "eligible": eligible,
        "deficits": {str(k): v for k, v in weights.items()},
        "exclusions": exclusions,
    }


def verify(record: dict[str, Any]) -> dict[str, Any]:
    """Recompute a published draw record (``inputs``, ``inputs_sha256``, ``commitment``, ``seed``, ``agency_id``,
    ``result``): each check with its outcome, and ``verified`` when all agree. Needs nothing but the record."""
    checks = []

    def check(name: str, ok: bool, detail: str) -> None:
        checks.append({"name": name, "ok": ok, "detail": detail})

    digest = lottery.sha256_hex(record["inputs"])
    check("inputs", digest == record["inputs_sha256"], f"摇号输入的 SHA-256 为 {digest}")
    try:
        seed = lottery.parse_seed(record["seed"])
    except ValueError:
        check("seed", False, "公布的种子格式不正确（应为 64 位十六进制）")
        return {"verified": False, "checks": checks}
    check(
        "commitment",
        lottery.opens(seed, record["commitment"]),
        f"种子的 SHA-256 为 {lottery.commit(seed)}，摇号前公布的承诺值为 {record['commitment']}",
    )
    try:
        redo = run(record["inputs"], seed)
    except (ValueError, KeyError, TypeError) as exc:
        check("result", False, f"摇号输入无法解析：{exc}")
        return {"verified": False, "checks": checks}
    stored = record["result"]
    check(
        "result",
        redo["agency_id"] == record["agency_id"] and redo["agency_id"] == stored.get("agency_id"),
        f"重算摇中机构编号 {redo['agency_id']}，记录为 {record['agency_id']}",
    )
    check(
        "exclusions",
        redo["exclusions"] == stored.get("exclusions"),
        f"重算回避 {len(redo['exclusions'])} 家，记录为 {len(stored.get('exclusions') or [])} 家",
    )
    return {"verified": all(c["ok"] for c in checks), "checks": checks, "recomputed": redo}


# -- gathering the inputs --------------------------------------------------------------------------------------------


def window_jurisdiction(who: Principal) -> str:
    """The jurisdiction a window draws for: a county's account its county, the city's accounts 市本级."""
    return who.district if who.district in COUNTIES else "市本级"


def _application(conn: Connection, application_id: int) -> dict:
    row = (
        conn.execute(
            sa.select(AP, E.c.name.label("builder_name"))
            .select_from(AP.join(E, E.c.uscc == AP.c.builder_uscc))
            .where(AP.c.id == application_id)
            .with_for_update(of=AP)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise ApiError(404, "not_found", "施工图审查申请不存在，或不在您的数据范围内。", "application_id")
    return dict(row)


def inputs_of(conn: Connection, app: dict, table: dict, on: dt.date) -> dict:
    counts, drawn = ratios.tally(conn, table["jurisdiction"], table["version"])
    ids = [r["agency_id"] for r in table["ratios"]]
    quals, ties = qualifications_of(conn, ids), affiliations_of(conn, ids)
    designer = conn.execute(sa.select(E.c.name).where(E.c.uscc == app["designer_uscc"])).scalar()
    return {
        "scheme": SCHEME,
        "jurisdiction": table["jurisdiction"],
        "ratio_version": table["version"],
        "drawn_on": on.isoformat(),
        "total": ratios.TOTAL_BP,
        "drawn": drawn,
        "application": {
            "id": app["id"],
            "application_no": app["application_no"],
            "name": app["name"],
            "review_category": app["review_category"],
            "grade": app["grade"],
            "floor_area_m2": app["floor_area_m2"],
            "contents": sorted(app["contents"]),
            "builder_uscc": app["builder_uscc"],
            "builder_name": app["builder_name"],
            "designer_uscc": app["designer_uscc"],
            "designer_name": designer,
        },
        "agencies": [
            {
                "id": r["agency_id"],
                "name": r["name"],
                "uscc": r["uscc"],
                "active": r["active"],
                "target_bp": r["target_bp"],
                "count": counts.get(r["agency_id"], 0),
                "qualifications": [
                    {
                        k: q[k]
                        for k in (
                            "certificate_no",
                            "categories",
                            "grades",
                            "max_floor_area_m2",
                            "contents",
                            "valid_from",
                            "valid_to",
                        )
                    }
                    for q in sorted(quals[r["agency_id"]], key=lambda q: q["certificate_no"])
                ],
                "affiliations": sorted(
                    ({"uscc": t["uscc"], "relation": t["relation"]} for t in ties[r["agency_id"]]),
                    key=lambda t: t["uscc"],
                ),
            }
            for r in sorted(table["ratios"], key=lambda r: r["agency_id"])
        ],
    }


# -- the draw --------------------------------------------------------------------------------------------------------


def draw_agency(conn: Connection, who: Any, application_id: int) -> dict:
    """Draw the review agency of a submitted application (see the module's docstring): takes the case's ``draw``
    action with ``agency_id`` and ``drawn_at`` and writes the draw record; returns the record's view. Refused with a
    422 ``no_eligible_agency`` (every exclusion in the detail) when no agency is eligible — nothing changes then."""
    who.require("review.draw", "摇号确定审查机构")
    app = _application(conn, application_id)
    jurisdiction = app["jurisdiction"]
    if jurisdiction != window_jurisdiction(who):
        raise ApiError(
            403,
            "other_jurisdiction",
            f"该申请属于「{jurisdiction}」，您只能为「{window_jurisdiction(who)}」的申请摇号。",
            "application_id",
            {"jurisdiction": jurisdiction},
        )
    if app["status"] != "submitted":
        raise ApiError(
            409,
            "illegal_transition",
            f"施工图审查申请当前状态为「{STATES[app['status']]}」，只有「{STATES['submitted']}」的申请可以摇号。",
            "status",
            {"state": app["status"]},
        )
    table = ratios.current(conn, jurisdiction, lock=True)  # one draw at a time per jurisdiction
    if table is None or not table["ratios"]:
        raise ApiError(409, "no_ratio_table", f"「{jurisdiction}」尚未设置审查机构摇号比例，不能摇号。", "jurisdiction")
    sealed = (
        conn.execute(
            sa.select(ratios.C)
            .where(ratios.C.c.jurisdiction == jurisdiction, ratios.C.c.used_at.is_(None))
            .with_for_update()
        )
        .mappings()
        .first()
    )
    if sealed is None:
        raise ApiError(
            409,
            "no_commitment",
            f"「{jurisdiction}」没有事先公布的种子承诺值，请重新保存摇号比例表后再摇号。",
            "jurisdiction",
        )
    now = conn.execute(sa.select(sa.func.now())).scalar_one()
    inputs = lottery.canonical(inputs_of(conn, app, table, now.astimezone(BEIJING).date()))
    digest = lottery.sha256_hex(inputs)
    result = run(inputs, bytes.fromhex(sealed["seed"]))
    if result["agency_id"] is None:
        raise ApiError(
            422,
            "no_eligible_agency",
            f"「{jurisdiction}」没有符合条件的审查机构，未分配："
            + "；".join(f"{x['name']}：{x['reason']}" for x in result["exclusions"]),
            "application_id",
            {"exclusions": result["exclusions"]},
        )
    conn.execute(sa.update(ratios.C).where(ratios.C.c.id == sealed["id"]).values(used_at=now))
    ratios.ensure_commitment(conn, jurisdiction, who.user)
    did = conn.execute(
        sa.insert(D)
        .values(
            application_id=app["id"],
            review_project_id=app["review_project_id"],
            district=app["district"],
            jurisdiction=jurisdiction,
            ratio_version=table["version"],
            scheme=SCHEME,
            inputs=inputs,
            inputs_sha256=digest,
            commitment_id=sealed["id"],
            commitment=sealed["commitment"],
            committed_at=sealed["created_at"],
            seed=sealed["seed"],
            agency_id=result["agency_id"],
            result=result,
            drawn_at=now,
            drawn_by=who.user,
        )
        .returning(D.c.id)
    ).scalar_one()
    MACHINE.apply(conn, app["id"], "draw", who, None, {"agency_id": result["agency_id"], "drawn_at": now})
    audit.record(
        conn,
        who.user,
        "create",
        "dr_draws",
        did,
        None,
        {
            "application_id": app["id"],
            "agency_id": result["agency_id"],
            "seed": sealed["seed"],
            "inputs_sha256": digest,
        },
        getattr(who, "client", None),
        user_id=getattr(who, "user_id", None),
    )
    return record_view(get_record(conn, did))


# -- the published record --------------------------------------------------------------------------------------------


def get_record(conn: Connection, draw_id: int) -> dict:
    row = conn.execute(sa.select(D).where(D.c.id == draw_id)).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "摇号记录不存在。", "draw_id", {"draw_id": draw_id})
    return dict(row)


def record_view(row: dict) -> dict:
    """What the draw record publishes (everything a verifier needs; the inputs exactly as hashed)."""
    data = json.loads(row["inputs"])
    names = {a["id"]: a["name"] for a in data["agencies"]}
    return {
        "id": row["id"],
        "application_id": row["application_id"],
        "application": data["application"],
        "jurisdiction": row["jurisdiction"],
        "ratio_version": row["ratio_version"],
        "scheme": row["scheme"],
        "inputs": row["inputs"],
        "inputs_sha256": row["inputs_sha256"],
        "commitment": row["commitment"],
        "committed_at": row["committed_at"].isoformat(),
        "seed": row["seed"],
        "agency_id": row["agency_id"],
        "agency_name": names.get(row["agency_id"]),
        "agencies": [
            {
                "id": a["id"],
                "name": a["name"],
                "target_pct": a["target_bp"] / 100,
                "count": a["count"],
                "deficit": row["result"]["deficits"].get(str(a["id"])),
            }
            for a in data["agencies"]
        ],
        "result": row["result"],
        "exclusions": row["result"]["exclusions"],
        "drawn_at": row["drawn_at"].isoformat(),
        "drawn_by": audit.actor_name(row["drawn_by"]),
        "verify_url": f"/review/verify/{row['id']}",
    }


# -- lists -----------------------------------------------------------------------------------------------------------


def _scope_jurisdiction(query: sa.Select, who: Principal) -> sa.Select:
    return query.where(AP.c.jurisdiction == who.district) if who.district in COUNTIES else query


LATEST_DRAW = sa.select(D.c.id).where(D.c.application_id == AP.c.id).order_by(D.c.id.desc()).limit(1).scalar_subquery()
AGENCY_NAME = (
    sa.select(E.c.name).select_from(A.join(E, E.c.uscc == A.c.uscc)).where(A.c.id == AP.c.agency_id).scalar_subquery()
)


def _row(r: Any) -> dict:
    out = dict(r)
    for k in ("submitted_at", "drawn_at", "accepted_at"):
        if out.get(k) is not None:
            out[k] = out[k].isoformat()
    if "status" in out:
        out["status_title"] = STATES.get(out["status"], out["status"])
    return out


def accepted(
    conn: Connection,
    who: Principal,
    q: str | None,
    agency_id: int | None,
    jurisdiction: str | None,
    start: dt.date | None,
    end: dt.date | None,
    limit: int,
    offset: int,
) -> dict:
    """已受理项目列表: every accepted application with its agency, acceptance date and draw record."""
    query = sa.select(
        AP.c.id,
        AP.c.application_no,
        AP.c.project_code,
        AP.c.name,
        AP.c.jurisdiction,
        AP.c.district,
        AP.c.review_category,
        AP.c.grade,
        AP.c.status,
        AP.c.agency_id,
        AGENCY_NAME.label("agency_name"),
        AP.c.drawn_at,
        AP.c.accepted_at,
        LATEST_DRAW.label("draw_id"),
    ).where(AP.c.accepted_at.is_not(None), AP.c.status.in_(ACCEPTED))
    query = _scope_jurisdiction(query, who)
    if q:
        like = f"%{q.strip()}%"
        query = query.where(
            sa.or_(AP.c.name.ilike(like), AP.c.application_no.ilike(like), AP.c.project_code.ilike(like))
        )
    if agency_id is not None:
        query = query.where(AP.c.agency_id == agency_id)
    if jurisdiction:
        query = query.where(AP.c.jurisdiction == jurisdiction)
    if start is not None:
        query = query.where(AP.c.accepted_at >= ratios._day_start(start))
    if end is not None:
        query = query.where(AP.c.accepted_at < ratios._day_start(end + dt.timedelta(days=1)))
    total = conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = conn.execute(query.order_by(AP.c.accepted_at.desc(), AP.c.id.desc()).limit(limit).offset(offset)).mappings()
    return {"items": [_row(r) for r in rows], "total": total, "limit": limit, "offset": offset}


def awaiting(conn: Connection, who: Principal) -> list[dict]:
    """Submitted applications of the window's jurisdiction, oldest first (what the window draws for)."""
    rows = conn.execute(
        sa.select(
            AP.c.id,
            AP.c.application_no,
            AP.c.name,
            AP.c.jurisdiction,
            AP.c.district,
            AP.c.review_category,
            AP.c.grade,
            AP.c.floor_area_m2,
            AP.c.submitted_at,
            AP.c.status,
        )
        .where(AP.c.status == "submitted", AP.c.jurisdiction == window_jurisdiction(who))
        .order_by(AP.c.submitted_at, AP.c.id)
        .limit(200)
    ).mappings()
    return [_row(r) for r in rows]


# -- routes ----------------------------------------------------------------------------------------------------------

DATES = Window(dt.date(2000, 1, 1), 1)


@router.post("/applications/{application_id}/draw", summary="摇号确定审查机构（受理窗口，限本管辖范围）")
def draw_route(
    application_id: RecordId,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    return draw_agency(conn, who, application_id)


@router.get("/draws/awaiting", summary="待摇号的申请（本窗口管辖范围）")
def awaiting_route(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    who.require("review.draw", "查看待摇号的申请")
    return {"jurisdiction": window_jurisdiction(who), "items": awaiting(conn, who)}


@router.get("/draws/{draw_id}", summary="摇号记录（公开：输入、承诺值、种子、结果和回避原因）")
def draw_record(draw_id: RecordId, conn: Connection = Depends(db_read, scope="function")) -> dict:
    return record_view(get_record(conn, draw_id))


@router.get("/draws/{draw_id}/verify", summary="验证摇号（公开：由公布的输入和种子重算）")
def draw_verify(draw_id: RecordId, conn: Connection = Depends(db_read, scope="function")) -> dict:
    row = get_record(conn, draw_id)
    out = verify({**row, "result": row["result"]})
    return {"draw_id": draw_id, **out, "message": "一致" if out["verified"] else "不一致"}


@router.get("/accepted", summary="已受理项目列表（可按名称、编号、审查机构、管辖、日期查询）")
def accepted_route(
    q: Text(100) | None = Query(None, description="项目名称、申请编号或项目代码"),
    agency_id: RecordId | None = Query(None, description="审查机构"),
    jurisdiction: Text(10) | None = Query(None, description="管辖范围"),
    start: Day(DATES) | None = Query(None, alias="from", description="受理日期起（含）"),
    end: Day(DATES) | None = Query(None, alias="to", description="受理日期止（含）"),
    limit: Whole(1, 200) = 50,
    offset: Whole(0, 10_000_000) = 0,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    if not any(who.can(p) for p in READ):
        who.require("review.view", "查看已受理项目列表")
    if jurisdiction and jurisdiction not in JURISDICTIONS:
        raise ApiError(422, "invalid_jurisdiction", f"「{jurisdiction}」不是施工图审查的管辖范围。", "jurisdiction")
    if start and end and end < start:
        raise ApiError(422, "invalid_period", "截止日期不能早于起始日期。", "to")
    return accepted(conn, who, q, agency_id, jurisdiction, start, end, limit, offset)
