"""Demo evaluations of the drawing review (DR-08, DR-09), after the demo's applications (``demo``, order 21): over
every concluded application (审查合格, 审查不合格, 已发证) with its agency,

- the builder's rating of the agency after each round whose opinion was issued and after the certificate: mostly
  satisfied, about 8 % not, with a reason;
- the agency's score of the design unit and, where the application names one, of the survey unit: a total drawn
  around the grades (about 15 % 优, 50 % 良, 31 % 合格, 4 % 不合格), its deductions spread over the standard's
  items in use within their maxima, each with a reason, an explanation for each 不合格.

The rows are loaded in bulk; the credit events come from the module's declared feeds, for the rows that make one
(an unsatisfied rating, a 优 or a 不合格), written as the hook writes them for one row (``credit.recorded_many``),
the subjects rescored once. Without concluded applications (the demo's applications not loaded) nothing is written. Deterministic for a seed.
Run again after ``--reset``, it first removes the credit events whose evaluations the reset emptied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Connection

from geo.modules import seeder
from layers import credit
from layers.drawing_review import tables as t
from layers.drawing_review.evaluations import (
    CONCLUDED,
    FAIL,
    RATING,
    SCORE,
    deductions,
    grade_of,
    ratings,
    score_items,
    scores,
)

ACTOR = "demo"
UNSATISFIED = (
    "审查意见出具超过时限",
    "审查意见前后不一致，反复修改",
    "沟通不及时，电话多次无人接听",
    "审查意见表述不清，难以执行",
    "收费及资料要求不透明",
)
REASONS = {
    "D01": ("节点大样缺失", "结构计算深度不足", "设备选型未说明"),
    "D02": ("违反建筑设计防火规范强制性条文", "楼梯净宽不满足强制性条文", "抗震构造措施违反强条"),
    "D03": ("缺少地基承载力计算书", "计算书与图纸不一致"),
    "D04": ("尺寸标注错误", "图例与说明不一致", "剖面与平面不对应"),
    "D05": ("建筑与结构专业洞口不一致", "给排水与暖通管线冲突"),
    "D06": ("设计说明缺少节能专篇", "施工说明不完整"),
    "D07": ("上轮审查意见未逐条回复", "回复意见未落实到图纸"),
    "D08": ("人防专项设计缺漏", "消防设施设计不完整"),
    "D09": ("勘察孔位不足", "勘察报告未提供抗浮水位"),
    "D10": ("送审资料缺少审批文件", "图纸签章不全"),
}
EXPLANATIONS = ("多处违反强制性条文且计算书缺失，设计质量不合格", "图纸深度严重不足，专业间矛盾较多")
# The totals' bands: (probability, lowest, highest), in half points.
BANDS = ((0.15, 90, 100), (0.50, 75, 89.5), (0.31, 60, 74.5), (0.04, 40, 59.5))
UNSATISFIED_SHARE = 0.08


def forget(conn: Connection) -> None:
    """The credit events of evaluations an earlier run left (the reset emptied their rows, not the events)."""
    for kind, table in ((RATING.kind, "dr_ratings"), (SCORE.kind, "dr_scores")):
        conn.execute(
            sa.text(
                f"DELETE FROM credit_events e WHERE e.source = :k AND NOT EXISTS "
                f"(SELECT 1 FROM {table} x WHERE x.id = e.source_id)"
            ),
            {"k": kind},
        )


def _later(rng: np.random.Generator, moment: datetime, now: datetime, most_days: int) -> datetime:
    return min(moment + timedelta(days=int(rng.integers(1, most_days + 1)), hours=float(rng.uniform(1, 8))), now)


def _spread(rng: np.random.Generator, deducted: Decimal, items: list[dict]) -> list[tuple[dict, Decimal]]:
    """``deducted`` over one to four items first (a random share of each, within its maximum, in half points), then
    topped up over the items in the same random order until all is placed."""
    left, out = deducted, {}
    order = [items[i] for i in rng.permutation(len(items))]
    for item in order[: int(rng.integers(1, 5))]:
        if left <= 0:
            break
        cap = min(left, Decimal(str(item["max_deduction"])))
        take = min(cap, Decimal(int(rng.integers(1, int(cap * 2) + 1))) / 2) if cap >= Decimal("0.5") else cap
        out[item["id"]] = take
        left -= take
    for item in order:  # a second pass tops the items up to their maxima when the first left some over
        if left <= 0:
            break
        room = Decimal(str(item["max_deduction"])) - out.get(item["id"], Decimal(0))
        take = min(room, left)
        if take > 0:
            out[item["id"]] = out.get(item["id"], Decimal(0)) + take
            left -= take
    by_id = {i["id"]: i for i in items}
    return [(by_id[k], v) for k, v in out.items() if v > 0]


def _insert(conn: Connection, table: sa.Table, rows: list[dict]) -> list[dict]:
    """Rows inserted in batches with ids taken from the table's identity beforehand (a RETURNING in parameter order
    would insert them one by one); the rows with their ids."""
    if not rows:
        return []
    ids = conn.execute(
        sa.text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
        {"t": table.name, "n": len(rows)},
    ).scalars()
    rows = [{**row, "id": i} for row, i in zip(rows, ids, strict=True)]
    conn.execute(sa.insert(table), rows)
    return rows


@seeder(order=23)
def seed_evaluations(conn: Connection, world) -> dict:
    forget(conn)
    a, g = t.applications, t.agencies
    apps = [
        dict(r)
        for r in conn.execute(
            sa.select(a, g.c.uscc.label("agency_uscc"))
            .select_from(a.join(g, g.c.id == a.c.agency_id))
            .where(a.c.status.in_(CONCLUDED))
            .order_by(a.c.id)
        ).mappings()
    ]
    if not apps:
        return {"dr_ratings": 0, "dr_scores": 0}
    ids = [x["id"] for x in apps]
    rng = world.rng("drawing_review_evaluations")
    now = datetime.now(UTC)
    rounds: dict[int, list[tuple[int, datetime]]] = {}
    r = t.rounds
    for row in conn.execute(
        sa.select(r.c.application_id, r.c.round_no, r.c.opinion_at)
        .where(r.c.opinion_at.is_not(None), r.c.application_id.in_(ids))
        .order_by(r.c.application_id, r.c.round_no)
    ):
        rounds.setdefault(row.application_id, []).append((row.round_no, row.opinion_at))
    done_stages = {
        (x.application_id, x.stage, x.round_no)
        for x in conn.execute(
            sa.select(ratings.c.application_id, ratings.c.stage, ratings.c.round_no).where(
                ratings.c.application_id.in_(ids)
            )
        )
    }
    done_units = {
        (x.application_id, x.unit_role)
        for x in conn.execute(
            sa.select(scores.c.application_id, scores.c.unit_role).where(scores.c.application_id.in_(ids))
        )
    }
    items = [
        {**dict(i), "max_deduction": float(i["max_deduction"])}
        for i in conn.execute(sa.select(score_items).where(score_items.c.active).order_by(score_items.c.sort))
        .mappings()
        .all()
    ]

    rating_rows, score_rows, deduction_plans = [], [], []
    for app in apps:
        common = {
            "application_id": app["id"],
            "review_project_id": app["review_project_id"],
            "project_id": app["project_id"],
            "agency_id": app["agency_id"],
            "district": app["district"],
            "created_by": ACTOR,
            "updated_by": ACTOR,
        }
        stages = [("round", n, at) for n, at in rounds.get(app["id"], [])]
        if app["status"] == "certified" and app["certified_at"] is not None:
            stages.append(("certificate", 0, app["certified_at"]))
        for stage, n, at in stages:
            if (app["id"], stage, n) in done_stages:  # evaluated already (a second run, or by its builder)
                continue
            ok = rng.random() >= UNSATISFIED_SHARE
            rating_rows.append(
                {
                    **common,
                    "builder_uscc": app["builder_uscc"],
                    "stage": stage,
                    "round_no": n,
                    "satisfied": ok,
                    "reason": None if ok else str(rng.choice(UNSATISFIED)),
                    "rated_at": _later(rng, at, now, 10),
                }
            )
        if not items:
            continue
        concluded = app["concluded_at"] or app["certified_at"] or now
        for role, unit in (("design", app["designer_uscc"]), ("survey", app["surveyor_uscc"])):
            if not unit or (app["id"], role) in done_units:
                continue
            band = BANDS[int(rng.choice(len(BANDS), p=[b[0] for b in BANDS]))]
            total = Decimal(int(rng.integers(int(band[1] * 2), int(band[2] * 2) + 1))) / 2
            plan = _spread(rng, Decimal(100) - total, items)
            total = Decimal(100) - sum((p for _, p in plan), Decimal(0))  # what the items could hold
            grade = grade_of(total)
            score_rows.append(
                {
                    **common,
                    "unit_role": role,
                    "unit_uscc": unit,
                    "deducted": Decimal(100) - total,
                    "total": total,
                    "grade": grade,
                    "explanation": str(rng.choice(EXPLANATIONS)) if grade == FAIL else None,
                    "scored_at": _later(rng, concluded, now, 20),
                }
            )
            deduction_plans.append(
                [
                    {
                        "application_id": app["id"],
                        "review_project_id": app["review_project_id"],
                        "district": app["district"],
                        "item_id": item["id"],
                        "item_code": item["code"],
                        "item_name": item["name"],
                        "max_deduction": Decimal(str(item["max_deduction"])),
                        "points": points,
                        "reason": str(rng.choice(REASONS.get(item["code"], (item["name"],)))),
                        "created_by": ACTOR,
                        "updated_by": ACTOR,
                    }
                    for item, points in plan
                ]
            )

    rated = _insert(conn, ratings, rating_rows)
    scored = _insert(conn, scores, score_rows)
    lines = [{**d, "score_id": s["id"]} for s, plan in zip(scored, deduction_plans, strict=True) for d in plan]
    if lines:
        conn.execute(sa.insert(deductions), lines)

    # The credit events, through the declared feeds (as the hook writes them for one row), rescored once.
    credit.recorded_many(conn, RATING.kind, [x for x in rated if not x["satisfied"]], ACTOR)
    credit.recorded_many(conn, SCORE.kind, [x for x in scored if x["grade"] in ("优", FAIL)], ACTOR)
    return {"dr_ratings": len(rated), "dr_scores": len(scored), "dr_score_deductions": len(lines)}
