"""Demo data of the drawing joint review: the review agencies and two years of applications.

- ``seed_agencies`` (order 19): the twelve review agencies (审查机构) of the three jurisdictions — six of the city
  (市本级), three of 建德市 and three of 淳安县 — as enterprises of the register with the type ``review_agency``, a
  valid unified social credit code (python-stdnum computes the check character), principals, an address in their
  seat's district (an agency's jurisdiction is that of its seat) and the agency qualification (一类 / 二类), and their
  ``dr_agencies`` rows. The lottery's seeder (order 20) adds their review scopes and ratio tables.
- ``seed_applications`` (order 21): 3,000 applications (``world.count``: fewer in tests) submitted over the two
  years before the demo's ``REF_DATE``, each of a project of the register — its project code, name, builder, site
  point and district — and a few (about 4 %) under a code the register does not know (not verified), with a
  design unit (an enterprise of type ``survey_design``), often a surveyor, an agency of its jurisdiction that the
  lottery's avoidance rules allow on its draw day (``lottery.screen``), its buildings (单体) with their disciplines,
  review rounds (one to four) with each discipline's conclusion and opinion, the design unit's replies, the
  conclusion and the certificate (审查合格书; application and certificate numbers as the flow gives them), the
  ``case_history`` rows of every transition (the timelines; the actors by role: 建设单位, 设计单位, 审查机构, 受理窗口),
  its pin in ``review_projects`` (status from ``PIN_STATUS``, ``overdue`` when its current stage is past its due
  date) and the grants of the pin to the accounts it concerns (``flow.grant_all``).

The register stays consistent: an application that passed concluded on its project's drawing-review date
(``projects.drawing_review_on``, 施工图审查合格日期), and the projects still at the planning-permit stage are the
ones in review, waiting for the design unit, returned, withdrawn or failed. Every step falls on an official working
day (the database's calendar, ``work_calendar``) and takes a plausible share of its time limit (``dr_time_limits``):
most within it, some late — late current stages are the overdue pins.

Deterministic for a seed (``world.rng``); rows go in with COPY (ids reserved from the tables' sequences in one
statement each): about three seconds for the 3,000 on a quiet machine.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy import Connection
from stdnum.cn import uscc as uscc_mod

from etl import names
from etl.demo import REF_DATE, DemoError, World, allocate, pick, project_name, sample_points, write_layer
from geo import audit
from geo.modules import log_labels, seeder
from layers.drawing_review.agencies import affiliations_of, qualifications_of
from layers.drawing_review.flow import CERTIFICATE_PREFIX, grant_all
from layers.drawing_review.lottery import screen
from layers.drawing_review.process import DISCIPLINES, PIN_STATUS, jurisdiction_of

ACTOR = "demo"
# Who took each step of the demo's timelines (no person's account: the demo opens none for these units).
log_labels(
    actors={"dr_builder": "建设单位", "dr_designer": "设计单位", "dr_agency": "审查机构", "dr_window": "受理窗口"}
)
APPLICATIONS = 3_000
YEARS_DAYS = 730  # "the last two years"
UNVERIFIED_SHARE = 0.04  # applications under a project code the register does not hold
OPEN_SHARE = 0.2  # applications not (yet) passed: in review, replying, returned, withdrawn, failed
TZ = ZoneInfo("Asia/Shanghai")
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100 characters
REGION = {"市本级": "330100", "建德市": "330182", "淳安县": "330127"}
QUALIFICATION = "施工图审查机构"

# name, seat (district), kind (centre: a public institution, 12…; company: 91…), agency class (一类 reviews every
# project grade, 二类 the second and third: as the lottery's seeder scopes them), draw weight (the lottery's targets)
AGENCIES: tuple[tuple[str, str, str, str, int], ...] = (
    ("杭州市施工图审查中心", "上城区", "centre", "一类", 25),
    ("浙江省建筑设计研究院审图中心", "西湖区", "centre", "二类", 20),  # the lottery's narrower scope
    ("浙江华审工程咨询有限公司", "拱墅区", "company", "一类", 20),
    ("杭州建安施工图审查有限公司", "滨江区", "company", "一类", 15),
    ("杭州正元工程技术审查有限公司", "萧山区", "company", "一类", 10),
    ("浙江中审建设工程咨询有限公司", "余杭区", "company", "一类", 10),
    ("建德市建设工程施工图审查中心", "建德市", "centre", "一类", 40),
    ("建德新安江施工图审查咨询有限公司", "建德市", "company", "一类", 35),
    ("杭州建兰工程技术审查有限公司", "建德市", "company", "一类", 25),
    ("淳安县建设工程施工图审查中心", "淳安县", "centre", "一类", 40),
    ("淳安千岛湖施工图审查咨询有限公司", "淳安县", "company", "一类", 35),
    ("杭州淳建工程技术审查有限公司", "淳安县", "company", "一类", 25),
)
DISTRICT_CODES = {
    "上城区": "330102",
    "拱墅区": "330105",
    "西湖区": "330106",
    "滨江区": "330108",
    "萧山区": "330109",
    "余杭区": "330110",
    "建德市": "330182",
    "淳安县": "330127",
}

HOUSE = ("architecture", "structure", "plumbing", "hvac", "electrical", "energy")
CIVIL = ("architecture", "structure", "plumbing", "electrical")
# What an agency writes when a discipline must be modified (需修改) or fails (不合格).
COMMENTS = {
    "architecture": (
        "疏散楼梯间的设置不满足《建筑设计防火规范》GB 50016-2014（2018年版）第5.5.12条要求，请补充前室。",
        "无障碍坡道坡度及扶手设置与《建筑与市政工程无障碍通用规范》GB 55019-2021第2.4节不符。",
        "卫生间、厨房等有水房间楼地面防水构造未表达，请补充。",
        "外窗可开启面积不满足自然通风要求，请复核并补充计算。",
    ),
    "structure": (
        "地下室抗浮设计水位取值依据不足，请补充抗浮验算。",
        "转换梁配筋不满足《混凝土结构设计规范》GB 50010-2010（2015年版）第9.2节构造要求。",
        "部分框架柱轴压比超限，请调整截面或混凝土强度等级。",
        "桩基承载力特征值与勘察报告不一致，请复核。",
    ),
    "plumbing": (
        "室内消火栓系统设计流量取值偏小，请按《消防给水及消火栓系统技术规范》GB 50974-2014复核。",
        "雨水排水系统设计重现期不满足规范要求。",
        "生活给水系统未设置防回流污染措施。",
    ),
    "hvac": (
        "防烟楼梯间加压送风量计算书缺失，请补充。",
        "地下车库排烟系统补风量不足。",
        "空调冷热源设备能效等级未注明。",
    ),
    "electrical": (
        "消防应急照明和疏散指示系统的设置不满足GB 51309-2018要求。",
        "配电线路电压损失计算缺失。",
        "建筑物防雷类别划分依据不足，请补充年预计雷击次数计算。",
    ),
    "fire": (
        "防火分区面积超过规范限值，请调整或增设自动灭火系统。",
        "消防车登高操作场地与建筑外墙距离不满足要求。",
        "疏散距离超过规范限值。",
    ),
    "civil_defence": (
        "人防工程防护单元划分不满足《人民防空地下室设计规范》GB 50038-2005要求。",
        "人防门框墙配筋未按等效静荷载计算。",
        "战时通风系统滤毒通风量计算有误。",
    ),
    "energy": (
        "围护结构热工性能权衡判断计算书缺失。",
        "外墙保温材料燃烧性能等级未注明。",
        "可再生能源应用比例不满足《建筑节能与可再生能源利用通用规范》GB 55015-2021要求。",
    ),
}
RETURN_REASONS = (
    "送审材料不齐全：缺少岩土工程勘察报告，请补正后重新送审。",
    "送审图纸缺少设计单位出图章及注册执业人员签章，请补正。",
    "建设工程规划许可证复印件与送审项目名称不一致，请核实。",
    "缺少消防设计专篇，请补充后重新送审。",
)
REPLY_NOTES = (
    "已按审查意见逐条修改，详见回复说明。",
    "已修改相关图纸并补充计算书。",
    "已按意见调整，部分意见附设计说明答复。",
)
STRUCTURES = ("框架", "框架-剪力墙", "剪力墙", "钢结构")
CIVIL_UNITS = ("主线工程", "桥梁工程", "排水工程", "附属工程", "照明工程")

# In the thematic module's demo maps (``layers/thematic/demo.py`` gathers ``THEMATIC_DEMO_MAPS`` of every module).
THEMATIC_DEMO_MAPS = (
    {
        "slug": "review-applications",
        "title": "各区县施工图审查申请数",
        "description": "近两年施工图审查申请按区县计数（每个申请在地图上一个审查项目点位），分级设色。",
        "source": "review_projects",
        "statistic": "count",
        "classification": "natural_breaks",
        "classes": 5,
        "colors": "oranges",
        "rendering": "choropleth",
        "sort": 60,
    },
)


def _uscc(name: str, kind: str, region: str) -> str:
    """A stable, valid credit code for a demo agency: 12 (public institution) or 91 (company), the region, nine
    characters from the name's hash, the check character."""
    digest = hashlib.sha256(name.encode()).digest()
    body = ("12" if kind == "centre" else "91") + region + "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:9])
    return body + uscc_mod.calc_check_digit(body)


def agency_rows() -> list[dict]:
    """The twelve agencies as enterprise rows (fixed: the same on every load)."""
    rng = np.random.default_rng(20261219)
    people = names.person_names(rng, 2 * len(AGENCIES), male_share=0.7)
    roads = names.roads(rng, len(AGENCIES))
    out = []
    for i, (name, seat, kind, grade, weight) in enumerate(AGENCIES):
        region = DISTRICT_CODES[seat]
        out.append(
            {
                "uscc": _uscc(name, kind, region),
                "name": name,
                "district": seat,
                "jurisdiction": jurisdiction_of(seat),
                "grade": grade,
                "weight": weight,
                "legal_rep": str(people[2 * i]),
                "tech_lead": str(people[2 * i + 1]),
                "address": f"杭州市{seat}{roads[i]}{int(rng.integers(1, 600))}号",
                "licence": region + f"{int(rng.integers(10**8, 10**9)):09d}",
                "number": f"SCSC{region}{i + 1:03d}",
                "valid_from": date(2023, 1, 1) + timedelta(days=int(rng.integers(0, 600))),
            }
        )
    return out


@seeder(order=19)
def seed_agencies(conn: Connection, world: World) -> dict:
    """The twelve review agencies in the enterprise register and ``dr_agencies`` (a second load adds none)."""
    rows = agency_rows()
    added = 0
    for r in rows:
        eid = conn.execute(
            sa.text(
                "INSERT INTO enterprises (uscc, name, types, legal_rep, tech_lead, address, district, created_by, "
                "updated_by) VALUES (:uscc, :name, ARRAY['review_agency'], :legal_rep, :tech_lead, :address, "
                ":district, :a, :a) ON CONFLICT (uscc) DO NOTHING RETURNING id"
            ),
            {**r, "a": ACTOR},
        ).scalar()
        if eid is None:
            continue
        added += 1
        conn.execute(
            sa.text(
                "INSERT INTO enterprise_qualifications (enterprise_id, category, grade, scope, number, valid_from, "
                "valid_to, created_by, updated_by) VALUES (:e, :c, :g, :s, :n, :f, :t, :a, :a) "
                "ON CONFLICT (enterprise_id, number) DO NOTHING"
            ),
            {
                "e": eid,
                "c": QUALIFICATION,
                "g": r["grade"],
                "s": "房屋建筑工程、市政基础设施工程施工图审查"
                + ("（不限规模）" if r["grade"] == "一类" else "（二类及以下）"),
                "n": r["number"],
                "f": r["valid_from"],
                "t": r["valid_from"] + timedelta(days=5 * 365),
                "a": ACTOR,
            },
        )
    made = conn.execute(
        sa.text(
            "INSERT INTO dr_agencies (uscc, business_licence_no, active, district, created_by, updated_by) "
            "SELECT u, l, true, d, :a, :a FROM unnest(CAST(:u AS text[]), CAST(:l AS text[]), CAST(:d AS text[])) "
            "AS x(u, l, d) ON CONFLICT (uscc) DO NOTHING RETURNING id"
        ),
        {
            "u": [r["uscc"] for r in rows],
            "l": [r["licence"] for r in rows],
            "d": [r["district"] for r in rows],
            "a": ACTOR,
        },
    ).all()
    if made:
        audit.record(conn, ACTOR, "import", "dr_agencies", None, detail={"rows": len(made), "source": world.source})
    return {"review_agency_enterprises": added, "dr_agencies": len(made)}


# -- the applications ----------------------------------------------------------------------------------------------


class Calendar:
    """The official working days of the database's calendar (``work_calendar``, filled from ``chinesecalendar`` and
    kept by the administrators) as day numbers, from well before the demo's window to as far as it is covered:
    events fall on working days, durations are counted in them, as the review clocks and statistics count them."""

    def __init__(self, conn: Connection, start: date, stop: date) -> None:
        self.w = np.array(
            [
                d.toordinal()
                for d in conn.execute(
                    sa.text("SELECT day FROM work_calendar WHERE working AND day BETWEEN :a AND :b ORDER BY day"),
                    {"a": start, "b": stop},
                ).scalars()
            ]
        )
        if not len(self.w) or self.w[0] > start.toordinal() + 7 or self.w[-1] < stop.toordinal() - 7:
            raise DemoError(f"the working-day calendar does not cover {start} to {stop}")

    def index(self, day: date) -> int:
        """The index of the first working day on or after ``day``."""
        return int(np.searchsorted(self.w, day.toordinal(), "left"))

    def last_before(self, day: date) -> int:
        """The index of the last working day before ``day``."""
        return int(np.searchsorted(self.w, day.toordinal(), "left")) - 1

    def on_or_before(self, day: date) -> int:
        return int(np.searchsorted(self.w, day.toordinal(), "right")) - 1

    def day(self, i: int) -> date:
        return date.fromordinal(int(self.w[i]))


@dataclass
class Plan:
    """One application's story: its state, its events (action, from, to, working-day index or a day, reason) and
    its rounds."""

    state: str
    rounds: int
    events: list[tuple[str, str | None, str, Any, str | None]] = field(default_factory=list)


@dataclass
class Unit:
    uscc: str
    name: str
    district: str | None


def _register_projects(conn: Connection, since: date) -> list[dict]:
    """The register's projects that can have an application: a code, a point, a builder of the register and a
    planning permit; those whose drawing review passed in the window and those still at the planning-permit stage
    (none has a pin yet: the layer is empty when the demo runs)."""
    return [
        dict(r)
        for r in conn.execute(
            sa.text(
                "SELECT p.id, p.project_code, p.name, p.district, p.project_type, p.builder_uscc, e.name AS builder, "
                "p.floor_area_m2, p.investment_wan, p.planning_permit_on, p.drawing_review_on, "
                "ST_X(p.geom) AS x, ST_Y(p.geom) AS y "
                "FROM projects p JOIN enterprises e ON e.uscc = p.builder_uscc "
                "WHERE p.project_code IS NOT NULL AND p.geom IS NOT NULL AND p.planning_permit_on IS NOT NULL "
                "AND (p.drawing_review_on >= :since AND p.drawing_review_on < :ref "
                "     OR p.drawing_review_on IS NULL AND p.stage = '规划许可') "
                "AND NOT EXISTS (SELECT 1 FROM review_projects r WHERE r.code = p.project_code AND r.deleted_at IS NULL) "
                "ORDER BY p.id"
            ),
            {"since": since, "ref": REF_DATE.item()},
        ).mappings()
    ]


def _units(conn: Connection, where: str) -> list[Unit]:
    return [
        Unit(*r)
        for r in conn.execute(sa.text(f"SELECT uscc, name, district FROM enterprises WHERE {where} ORDER BY uscc"))
    ]


def _category(rng: np.random.Generator, project_type: str | None) -> str:
    if project_type in ("市政基础设施", "轨道交通", "水利"):
        return "市政基础设施"
    if project_type == "其他":
        return "房屋建筑" if rng.random() < 0.6 else "市政基础设施"
    return "房屋建筑"


def _grade(category: str, area: float | None, invest: float | None) -> str:
    a, v = area or 0.0, invest or 0.0
    if category == "房屋建筑":
        return "一类" if a > 100_000 or v > 100_000 else "二类" if a > 30_000 or v > 20_000 else "三类"
    return "一类" if v > 50_000 else "二类" if v > 10_000 else "三类"


def _contents(rng: np.random.Generator, category: str, area: float | None) -> list[str]:
    house = category == "房屋建筑"
    out = ["general"]
    if rng.random() < (0.9 if house else 0.25):
        out.append("fire")
    if rng.random() < (0.75 if house and (area or 0) > 10_000 else 0.1):
        out.append("civil_defence")
    if rng.random() < (0.45 if house else 0.2):
        out.append("meteorology")
    return out


class Applications:
    """Builds the applications of one demo load and COPYs them in."""

    def __init__(self, conn: Connection, world: World) -> None:
        self.conn, self.world = conn, world
        self.rng = world.rng("dr_applications")
        self.ref = REF_DATE.item()
        self.since = self.ref - timedelta(days=YEARS_DAYS)
        self.cal = Calendar(conn, self.since - timedelta(days=60), self.ref + timedelta(days=55))
        self.now = self.cal.last_before(self.ref)  # the last working day before "today"
        self.limits = {
            (c, g, s): int(d)
            for c, g, s, d in conn.execute(
                sa.text("SELECT review_category, grade, stage, working_days FROM dr_time_limits")
            )
        }

    # -- choosing ----------------------------------------------------------------------------------------------

    def agencies(self) -> dict[str, list[dict]]:
        """The demo's active agencies by jurisdiction (of their seat), with their qualification grade (一类 agencies
        review every grade, 二类 ones the second and third) and draw weight."""
        rows = self.conn.execute(
            sa.text(
                "SELECT g.id, g.uscc, e.name, e.district, "
                "(SELECT min(q.grade) FROM enterprise_qualifications q WHERE q.enterprise_id = e.id AND q.category = :c"
                " AND q.valid_to >= :ref) AS grade "
                "FROM dr_agencies g JOIN enterprises e ON e.uscc = g.uscc WHERE g.active AND g.created_by = :a "
                "ORDER BY g.id"
            ),
            {"c": QUALIFICATION, "ref": self.ref, "a": ACTOR},
        ).mappings()
        weights = {r["uscc"]: r["weight"] for r in agency_rows()}
        out: dict[str, list[dict]] = {}
        for r in rows:
            out.setdefault(jurisdiction_of(r["district"]), []).append(
                {**r, "grade": r["grade"] or "二类", "weight": weights.get(r["uscc"], 10)}
            )
        for j in ("市本级", "建德市", "淳安县"):
            if not any(a["grade"] == "一类" for a in out.get(j, [])):
                raise DemoError(f"{j} has no review agency of the first grade: run the agencies' seeder first")
        return out

    def pick_agency(self, app: dict, on: date) -> dict:
        """An agency of the application's jurisdiction the lottery could have drawn on ``on``: by its avoidance rules
        (``lottery.screen``: the qualification scopes and validity the lottery's seeder gave, ties to the builder or
        the design unit) where the agencies have scopes, else by the agencies' grade (一类 agencies review every
        grade, 二类 ones the second and third); by weight among those. Should none pass, any of the jurisdiction."""
        pool = self.agencies_by[app["jurisdiction"]]
        if self.scopes:
            facts = {k: app[k] for k in ("review_category", "grade", "floor_area_m2", "contents", "builder_uscc")}
            facts["designer_uscc"] = app["designer"].uscc
            fit = [a for a in pool if screen(facts, self.scopes[a["id"]], on.isoformat()) is None]
        else:
            fit = [a for a in pool if a["grade"] == "一类" or app["grade"] != "一类"]
        fit = fit or pool
        return _one(self.rng, tuple(fit), tuple(a["weight"] for a in fit))

    def pick_unit(self, pool: list[Unit], cumulative: np.ndarray, district: str) -> Unit:
        """A design unit (``cumulative``: the pool's cumulative weights): in a county, half of the time one of the
        county's own."""
        if district in ("建德市", "淳安县") and self.rng.random() < 0.5:
            local = self.local.setdefault(district, [u for u in pool if u.district == district])
            if local:
                return local[int(self.rng.integers(len(local)))]
        return pool[int(np.searchsorted(cumulative, self.rng.random() * cumulative[-1], "right"))]

    # -- timelines ---------------------------------------------------------------------------------------------

    def limit(self, app: dict, stage: str) -> int:
        return self.limits[(app["review_category"], app["grade"], stage)]

    def gaps(self, app: dict, rounds: int) -> dict[str, list[int]]:
        """Working days of each step: draw, accept, each review round, each reply, certificate."""
        rng = self.rng
        review, reply, accept = self.limit(app, "review"), self.limit(app, "reply"), self.limit(app, "accept")

        def late(p: float) -> bool:
            return bool(rng.random() < p)

        out = {
            "draw": [int(rng.random() < 0.4)],
            "accept": [accept + int(rng.integers(1, 3)) if late(0.08) else int(rng.integers(1, accept + 1))],
            "review": [],
            "reply": [],
            "certify": [],
        }
        for r in range(rounds):
            share = rng.uniform(0.45, 1.0) if r == 0 else rng.uniform(0.25, 0.65)
            out["review"].append(review + int(rng.integers(1, 5)) if late(0.07) else max(1, math.ceil(review * share)))
            out["reply"].append(reply + int(rng.integers(1, 7)) if late(0.1) else int(rng.integers(2, reply + 1)))
        certify = self.limit(app, "certify")
        out["certify"] = [certify + int(rng.integers(1, 3)) if late(0.05) else int(rng.integers(1, certify + 1))]
        return out

    def passed_plan(self, app: dict, low: int, concluded: date | None) -> Plan:
        """An application that passed (and, unless its certificate is still due, was certified): it concluded on
        ``concluded`` (its project's drawing-review date) or, without one, some time in the window."""
        rng = self.rng
        rounds = _one(rng, (1, 2, 3, 4), (18, 42, 28, 12))
        g = self.gaps(app, rounds)
        while True:
            steps = g["draw"] + g["accept"] + [x for r in range(rounds) for x in (g["review"][r], g["reply"][r])]
            steps = steps[: 2 + 2 * rounds - 1]  # no reply after the last round
            span = sum(steps)
            if concluded is None:
                top = self.now - g["certify"][0] - 1
                end = int(rng.integers(min(low + span, top), top + 1)) if top > low + span else top
            else:
                end = self.cal.on_or_before(concluded)
            if end - span >= low or rounds == 1:
                break
            rounds -= 1
        if end - span < low:  # squeeze into the time between the planning permit (or the window) and the conclusion
            room = max(end - low, 0)
            steps = [math.floor(s * room / span) if span else 0 for s in steps]
            span = sum(steps)
        start = end - span
        plan = Plan("passed", rounds)
        at = start
        plan.events.append(("submit", "draft", "submitted", at, None))
        at += steps[0]
        plan.events.append(("draw", "submitted", "drawn", at, None))
        at += steps[1]
        plan.events.append(("accept", "drawn", "reviewing", at, None))
        for r in range(rounds):
            at += steps[2 + 2 * r]
            if r == rounds - 1:
                plan.events.append(("pass", "reviewing", "passed", concluded if concluded else at, None))
            else:
                plan.events.append(("modify", "reviewing", "replying", at, None))
                at += steps[3 + 2 * r]
                plan.events.append(("reply", "replying", "reviewing", at, None))
        certify = self.cal.on_or_before(concluded) if concluded else at
        certify += g["certify"][0]
        if certify <= self.now:
            plan.events.append(("certify", "passed", "certified", certify, None))
            plan.state = "certified"
        return plan

    def open_plan(self, app: dict, low: int) -> Plan:
        """An application not passed: in the lottery, to accept, returned, withdrawn, in review, replying, failed."""
        rng = self.rng
        state = _one(rng, ("reviewing", "replying", "drawn", "submitted", "returned", "failed", "withdrawn"),
                     (36, 30, 7, 6, 6, 10, 5))  # fmt: skip
        rounds = {
            "reviewing": _one(rng, (1, 2, 3, 4), (50, 30, 15, 5)),
            "replying": _one(rng, (1, 2, 3), (55, 30, 15)),
            "failed": _one(rng, (1, 2, 3), (40, 35, 25)),
        }.get(state, 0)
        g = self.gaps(app, max(rounds, 1))
        order = ("submitted", "drawn", "reviewing", "replying")
        while True:
            steps = self._open_steps(state, rounds, g)
            waiting = self._waiting(app, state)
            room = self.now - low
            if sum(steps) + waiting <= room:
                break
            if rounds > 1:
                rounds -= 1
            elif state in ("failed", "replying"):
                state, rounds = "reviewing", 1
            elif state in order[1:]:
                state, rounds = order[order.index(state) - 1], 0
            elif state in ("returned", "withdrawn"):
                state, rounds = "submitted", 0
            else:  # submitted just now
                break
        span = sum(steps)
        if state in ("failed", "withdrawn"):  # over: any time in the window
            end = int(rng.integers(low + span, self.now + 1)) if self.now > low + span else self.now
        else:
            end = max(self.now - min(waiting, max(room - span, 0)), low + span)
        plan = Plan(state, rounds)
        at = end - span
        names_ = self._open_names(state, rounds)
        for (action, src, dst), step in zip(names_, [0, *steps]):
            at += step
            reason = None
            if action == "return":
                reason = RETURN_REASONS[int(rng.integers(len(RETURN_REASONS)))]
            plan.events.append((action, src, dst, at, reason))
        return plan

    def _waiting(self, app: dict, state: str) -> int:
        """Working days the current step has waited so far: mostly less than its limit, about one in ten past it
        (overdue: waiting its limit or more means the due day is over)."""
        rng = self.rng
        if state in ("submitted", "returned"):  # no limit: the lottery comes soon, a returned one waits for the builder
            return int(rng.integers(0, 3 if state == "submitted" else 21))
        stage = {"drawn": "accept", "reviewing": "review", "replying": "reply"}.get(state)
        if stage is None:
            return 0
        limit = self.limit(app, stage)
        return limit + int(rng.integers(0, 4)) if rng.random() < 0.1 else int(rng.integers(0, limit))

    @staticmethod
    def _open_names(state: str, rounds: int) -> list[tuple[str, str, str]]:
        """The transitions that bring an application to ``state`` in ``rounds`` review rounds."""
        out = [("submit", "draft", "submitted")]
        if state == "withdrawn":
            return out + [("withdraw", "submitted", "withdrawn")]
        if state == "submitted":
            return out
        out.append(("draw", "submitted", "drawn"))
        if state == "returned":
            return out + [("return", "drawn", "returned")]
        if state == "drawn":
            return out
        out.append(("accept", "drawn", "reviewing"))
        for _ in range(rounds - 1):
            out += [("modify", "reviewing", "replying"), ("reply", "replying", "reviewing")]
        if state == "replying":
            out.append(("modify", "reviewing", "replying"))
        if state == "failed":
            out.append(("fail", "reviewing", "failed"))
        return out

    def _open_steps(self, state: str, rounds: int, g: dict[str, list[int]]) -> list[int]:
        """The working days between consecutive events of ``_open_names(state, rounds)``."""
        names_ = self._open_names(state, rounds)
        steps = []
        r_review = r_reply = 0
        for action, _, _ in names_[1:]:
            if action == "draw":
                steps.append(g["draw"][0])
            elif action in ("withdraw",):
                steps.append(int(self.rng.integers(0, 3)))
            elif action == "return":
                steps.append(int(self.rng.integers(1, 3)))
            elif action == "accept":
                steps.append(g["accept"][0])
            elif action in ("modify", "fail"):
                steps.append(g["review"][min(r_review, len(g["review"]) - 1)])
                r_review += 1
            elif action == "reply":
                steps.append(g["reply"][min(r_reply, len(g["reply"]) - 1)])
                r_reply += 1
        return steps

    # -- building ----------------------------------------------------------------------------------------------

    def run(self) -> dict:
        conn, rng, world = self.conn, self.rng, self.world
        # Reset leaves the history of the applications it emptied: their ids start again.
        conn.execute(
            sa.text(
                "DELETE FROM case_history h WHERE h.case_kind = 'dr_application' AND NOT EXISTS "
                "(SELECT 1 FROM dr_applications a WHERE a.id = h.case_id)"
            )
        )
        self.agencies_by = self.agencies()
        ids = [a["id"] for pool in self.agencies_by.values() for a in pool]
        quals, ties = qualifications_of(conn, ids), affiliations_of(conn, ids)
        self.scopes = (
            {i: {"active": True, "qualifications": quals[i], "affiliations": ties[i], "uscc": u} for i, u in
             ((a["id"], a["uscc"]) for pool in self.agencies_by.values() for a in pool)}
            if any(quals.values()) else {}
        )  # fmt: skip
        designers = _units(conn, "'survey_design' = ANY(types)")
        if not designers:
            raise DemoError("the enterprise register holds no design unit (survey_design): run its seeder first")
        surveyors = [u for u in designers if "勘察" in u.name] or designers
        dw = np.cumsum(names.zipf_weights(len(designers), 0.8))
        sw = np.cumsum(names.zipf_weights(len(surveyors), 0.8))
        self.local: dict[str, list[Unit]] = {}
        builders = _units(conn, "'real_estate' = ANY(types)") or _units(conn, "true")
        reviewers = {
            a["id"]: [str(p) for p in names.person_names(rng, 12, male_share=0.65)]
            for pool in self.agencies_by.values()
            for a in pool
        }

        total = world.count(APPLICATIONS)
        found = _register_projects(conn, self.since + timedelta(days=30))
        done = [p for p in found if p["drawing_review_on"] is not None]
        pending = [p for p in found if p["drawing_review_on"] is None]
        # The share not passed comes from the projects at the planning-permit stage and, where the register has
        # too few of those (a small world: its projects are mostly the sites'), from codes it does not know.
        want_open = round(total * OPEN_SHARE)
        n_open = min(len(pending), want_open)
        n_done = min(len(done), total - max(1, round(total * UNVERIFIED_SHARE)) - want_open)
        chosen = [done[i] for i in _spread(rng, done, n_done)] + [pending[i] for i in _spread(rng, pending, n_open)]
        extra = self.unverified(total - n_open - n_done, builders)
        short = {int(i) for i in rng.permutation(len(extra))[: want_open - n_open]}
        for i, p in enumerate(extra):
            p["open"] = i in short or rng.random() < OPEN_SHARE
        chosen += extra

        apps: list[dict] = []
        for p in chosen:
            category = _category(rng, p["project_type"])
            area = p["floor_area_m2"] if category == "房屋建筑" else None
            if category == "房屋建筑" and area is None:
                area = round(float(rng.lognormal(math.log(30_000), 0.8)), 1)
            grade = _grade(category, area, p["investment_wan"])
            jurisdiction = jurisdiction_of(p["district"])
            designer = self.pick_unit(designers, dw, p["district"])
            surveyor = self.pick_unit(surveyors, sw, "") if rng.random() < 0.6 else None
            app = {
                "project": p,
                "project_id": p.get("id"),
                "project_code": p["project_code"],
                "name": p["name"],
                "submission_name": p["name"] + ("施工图设计文件" if category == "房屋建筑" else "施工图"),
                "builder_uscc": p["builder_uscc"],
                "builder": p["builder"],
                "designer": designer,
                "surveyor": surveyor,
                "review_category": category,
                "grade": grade,
                "contents": (contents := _contents(rng, category, area)),
                # Each building's disciplines (the flow asks a conclusion of each in every round): the trades of
                # its category, and fire protection and civil air defence when the joint review includes them.
                "disciplines": [
                    *(HOUSE if category == "房屋建筑" else CIVIL),
                    *(d for d in ("fire", "civil_defence") if d in contents),
                ],
                "floor_area_m2": area,
                "investment_wan": p["investment_wan"],
                "district": p["district"],
                "jurisdiction": jurisdiction,
            }
            low = max(
                self.cal.index(self.since),
                self.cal.index(p["planning_permit_on"] + timedelta(days=1)) if p["planning_permit_on"] else 0,
            )
            if p.get("id") is None:  # not in the register: any state
                app["plan"] = self.open_plan(app, low) if p["open"] else self.passed_plan(app, low, None)
            elif p["drawing_review_on"] is not None:
                app["plan"] = self.passed_plan(app, low, p["drawing_review_on"])
            else:
                app["plan"] = self.open_plan(app, low)
            drawn = next((when for action, *_, when, _ in app["plan"].events if action == "draw"), None)
            app["agency"] = self.pick_agency(app, self.cal.day(drawn) if drawn is not None else self.ref)
            apps.append(app)
        self.times(apps)
        apps.sort(key=lambda a: (a["events"][0][3], a["project_code"]))  # ids (and numbers) in submission order
        return self.write(apps, reviewers)

    def unverified(self, n: int, builders: list[Unit]) -> list[dict]:
        """Projects under a code the register does not hold (a mistyped or not yet registered code)."""
        if n <= 0:
            return []
        rng, districts = self.rng, self.world.districts
        per = allocate(n, [d.profile.sites + 0.3 for d in districts])
        serials = rng.choice(np.arange(1, 100_000), size=n, replace=False)
        out, k = [], 0
        for d, m in zip(districts, per):
            if not m:
                continue
            x, y = sample_points(self.rng, d, int(m), centre_share=0.6, sigma_km=5.0 if d.profile.urban else 3.0)
            kinds = pick(rng, ("房屋建筑", "市政基础设施"), (75, 25), int(m))
            places = names.places(rng, int(m), unique=False)
            for i in range(int(m)):
                builder = builders[int(rng.integers(len(builders)))]
                year = int(rng.integers(2023, 2027))
                area = float(rng.lognormal(math.log(30_000), 0.8)) if kinds[i] == "房屋建筑" else None
                out.append(
                    {
                        "id": None,
                        "project_code": f"{year}-{d.code}-{'47' if kinds[i] == '房屋建筑' else '48'}-03-{int(serials[k]):06d}",
                        "name": project_name(rng, str(kinds[i]), d, places[i], names.roads(rng, 3)),
                        "district": d.name,
                        "project_type": str(kinds[i]),
                        "builder_uscc": builder.uscc,
                        "builder": builder.name,
                        "floor_area_m2": round(area, 1) if area else None,
                        "investment_wan": round(
                            float(area * rng.uniform(0.3, 0.7) if area else rng.lognormal(math.log(15_000), 0.9)), 1
                        ),
                        "planning_permit_on": None,
                        "drawing_review_on": None,
                        "x": float(x[i]),
                        "y": float(y[i]),
                    }
                )
                k += 1
        return out

    def times(self, apps: list[dict]) -> None:
        """Each event's time: office hours (08:30–17:30), the events of one day in their order, minutes apart."""
        rng = self.rng
        for app in apps:
            days = [when if isinstance(when, date) else self.cal.day(when) for *_, when, _ in app["plan"].events]
            per_day = Counter(days)
            minutes: dict[date, list[int]] = {
                d: sorted(int(m) for m in rng.choice(np.arange(8 * 60 + 30, 17 * 60 + 30, 5), k, replace=False))
                for d, k in per_day.items()
            }
            timed = []
            for (action, src, dst, _, reason), day in zip(app["plan"].events, days):
                minute = minutes[day].pop(0)
                timed.append((action, src, dst, datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=TZ), reason))  # fmt: skip
            app["events"] = timed

    def numbers(self, conn: Connection, apps: list[dict], ids: list[int]) -> None:
        """Application numbers as the flow gives them (``SC`` + year + id: ids in the order of submission) and
        certificate numbers from the flow's sequence (``dr_certificate_seq``) in the order of issue, so that the
        flow's next ones follow on."""
        for a, aid in zip(apps, ids):
            a["application_no"] = f"SC{a['events'][0][3].year}{aid:07d}"
        issued = sorted((a for a in apps if a["plan"].state == "certified"), key=lambda a: a["events"][-1][3])
        serials = conn.execute(
            sa.text("SELECT nextval('dr_certificate_seq') FROM generate_series(1, :n)"), {"n": len(issued)}
        ).scalars()
        for a, serial in zip(issued, serials):
            year = a["events"][-1][3].year
            a["certificate_no"] = f"{CERTIFICATE_PREFIX[a['jurisdiction']]}-SCHG-{year}-{serial:06d}"

    def due(self, app: dict) -> date | None:
        """The due date of the current stage (working days from its start), None when nothing is due."""
        state, last = app["plan"].state, app["events"][-1][3].date()
        stage = {"drawn": "accept", "reviewing": "review", "replying": "reply", "passed": "certify"}.get(state)
        if stage is None:
            return None
        return self.cal.day(self.cal.on_or_before(last) + self.limit(app, stage))

    def write(self, apps: list[dict], reviewers: dict[int, list[str]]) -> dict:
        conn, rng = self.conn, self.rng
        n = len(apps)
        for a in apps:
            a["due_on"] = self.due(a)
            a["overdue"] = a["due_on"] is not None and a["due_on"] < self.ref
        # The pins first: an application names its pin.
        p = [a["project"] for a in apps]
        when = [{e[0]: e[3] for e in a["events"]} for a in apps]  # the last time of each action
        concluded = [ev.get("pass") or ev.get("fail") for ev in when]
        cols = {
            "code": [a["project_code"] for a in apps],
            "name": [a["name"] for a in apps],
            "district": [a["district"] for a in apps],
            "builder": [a["builder"] for a in apps],
            "designer": [a["designer"].name for a in apps],
            "agency": [a["agency"]["name"] if "draw" in ev else None for a, ev in zip(apps, when)],
            "review_category": [a["review_category"] for a in apps],
            "grade": [a["grade"] for a in apps],
            "floor_area_m2": [a["floor_area_m2"] for a in apps],
            "investment_wan": [a["investment_wan"] for a in apps],
            "submitted_at": [a["events"][0][3].date() for a in apps],
            "concluded_at": [c.date() if c else None for c in concluded],
            "status": [PIN_STATUS[a["plan"].state] for a in apps],
        }
        geoms = shapely.points([q["x"] for q in p], [q["y"] for q in p])
        write_layer(conn, "review_projects", geoms, cols, self.world.source)
        pins = dict(
            conn.execute(
                sa.text("SELECT code, id FROM review_projects WHERE code = ANY(:c) AND deleted_at IS NULL"),
                {"c": cols["code"]},
            ).all()
        )
        late = [pins[a["project_code"]] for a in apps if a["overdue"]]
        if late:
            conn.execute(sa.text("UPDATE review_projects SET overdue = true WHERE id = ANY(:i)"), {"i": late})

        app_ids = _reserve(conn, "dr_applications", n)
        self.numbers(conn, apps, app_ids)
        app_rows, building_rows, round_rows, opinion_rows, history_rows = [], [], [], [], []
        for a in apps:  # rounds started: at the acceptance and at each reply
            a["round_no"] = sum(1 for e in a["events"] if e[0] in ("accept", "reply"))
        round_ids = iter(_reserve(conn, "dr_rounds", sum(a["round_no"] for a in apps)))
        for a, aid, ev in zip(apps, app_ids, when):
            pin = pins[a["project_code"]]
            state = a["plan"].state
            events = a["events"]
            common = (a["district"], events[0][3], ACTOR, events[-1][3], ACTOR)
            pass_or_fail = ev.get("pass") or ev.get("fail")
            has_agency = "draw" in ev
            return_reason = next((e[4] for e in events if e[0] == "return"), None)
            app_rows.append(
                (
                    aid, a["application_no"], pin, a["project_code"], a["project_id"], a["name"],
                    a["submission_name"], a["builder_uscc"], a["designer"].uscc,
                    a["surveyor"].uscc if a["surveyor"] else None, a["agency"]["id"] if has_agency else None,
                    a["review_category"], a["grade"], a["contents"], a["floor_area_m2"], a["investment_wan"],
                    state, a["round_no"], events[0][3], ev.get("draw"), ev.get("accept"), pass_or_fail,
                    "合格" if "pass" in ev else "不合格" if "fail" in ev else None, a.get("certificate_no"),
                    ev.get("certify"), a["due_on"], return_reason if state == "returned" else None, *common,
                )
            )  # fmt: skip
            building_rows += self.buildings(a, aid, pin, common)
            round_rows_, opinions_ = self.rounds(a, aid, pin, round_ids, reviewers[a["agency"]["id"]], common)
            round_rows += round_rows_
            opinion_rows += opinions_
            actors = {"submit": "dr_builder" if rng.random() < 0.5 else "dr_designer", "withdraw": "dr_builder",
                      "draw": "dr_window", "reply": "dr_designer"}  # fmt: skip
            for action, src, dst, t, reason in events:
                history_rows.append(
                    ("dr_application", aid, a["district"], action, src, dst, reason, actors.get(action, "dr_agency"), t)
                )  # fmt: skip
        _copy(conn, "dr_applications", APPLICATION_COLUMNS, app_rows)
        _copy(conn, "dr_buildings", BUILDING_COLUMNS, building_rows)
        _copy(conn, "dr_rounds", ROUND_COLUMNS, round_rows)
        _copy(conn, "dr_opinions", OPINION_COLUMNS, opinion_rows)
        _copy(conn, "case_history", HISTORY_COLUMNS, history_rows)
        out = {
            "review_projects": n,
            "dr_applications": n,
            "dr_buildings": len(building_rows),
            "dr_rounds": len(round_rows),
            "dr_opinions": len(opinion_rows),
            "dr_case_history": len(history_rows),
        }
        for table in ("dr_applications", "dr_buildings", "dr_rounds", "dr_opinions"):
            audit.record(conn, ACTOR, "import", table, None, detail={"rows": out[table], "source": self.world.source})
        # The accounts each application concerns hold its pin, by the flow's rules (builders', design units',
        # agencies' and the departments' accounts that exist).
        out["dr_grants"] = grant_all(conn, ACTOR)
        return out

    def buildings(self, a: dict, aid: int, pin: int, common: tuple) -> list[tuple]:
        rng = self.rng
        if a["review_category"] != "房屋建筑":
            k = int(rng.integers(1, 4))
            units = [CIVIL_UNITS[i] for i in sorted(rng.choice(len(CIVIL_UNITS), k, replace=False))]
            return [(aid, pin, u, None, None, None, None, a["disciplines"], *common) for u in units]
        area = a["floor_area_m2"] or 10_000.0
        basement = area > 20_000 and rng.random() < 0.8
        k = min(max(round(area / 15_000) + int(rng.integers(0, 3)), 1), 12)
        shares = rng.dirichlet(np.full(k + int(basement), 4.0))
        rows = []
        for i in range(k):
            part = float(area * shares[i])
            floors = min(max(round(part / float(rng.uniform(600, 1_200))), 2), 33)
            structure = "框架" if floors <= 6 else STRUCTURES[int(rng.integers(1, 3))] if floors <= 18 else "剪力墙"
            if rng.random() < 0.05:
                structure = "钢结构"
            height = round(floors * float(rng.uniform(2.9, 3.3)) + float(rng.uniform(0.5, 3.0)), 1)
            rows.append((aid, pin, f"{i + 1}#楼", round(part, 1), floors, height, structure, a["disciplines"], *common))
        if basement:
            rows.append((aid, pin, "地下室", round(float(area * shares[-1]), 1), -int(rng.integers(1, 3)), None, "框架",
                         a["disciplines"], *common))  # fmt: skip
        return rows

    def rounds(self, a: dict, aid: int, pin: int, ids, reviewers: list[str], common: tuple):
        """The rounds of ``a`` from its events, each discipline's conclusion per round (by the same reviewer)."""
        rng = self.rng
        disciplines = a["disciplines"]
        starts: list[list] = []  # per round: started, opinion time, result, replied
        for action, _, _, t, _ in a["events"]:
            if action in ("accept", "reply"):
                starts.append([t, None, None, None])
            elif action in ("modify", "pass", "fail") and starts:
                starts[-1][1] = t
                starts[-1][2] = {"modify": "modify", "pass": "passed", "fail": "failed"}[action]
            if action == "reply" and len(starts) >= 2:
                starts[-2][3] = t
        rows, opinions = [], []
        open_ = set(disciplines)  # disciplines not yet passed
        for no, (started, opinion_at, result, replied) in enumerate(starts, start=1):
            rid = next(ids)
            rows.append((rid, aid, pin, no, started, opinion_at, result, replied,
                         REPLY_NOTES[int(rng.integers(len(REPLY_NOTES)))] if replied else None, *common))  # fmt: skip
            if opinion_at is None:
                continue
            verdicts = {d: "合格" for d in disciplines}
            if result == "modify":
                p = 0.5 if no == 1 else 0.3
                flagged = [d for d in sorted(open_) if rng.random() < p] or [
                    sorted(open_)[int(rng.integers(len(open_)))]
                ]
                for d in flagged:
                    verdicts[d] = "需修改"
                open_ = set(flagged)
            elif result == "failed":
                bad = sorted(open_)[int(rng.integers(len(open_)))]
                verdicts[bad] = "不合格"
            for j, d in enumerate(disciplines):
                v = verdicts[d]
                text = "符合规范及审查要点要求。" if v == "合格" else COMMENTS[d][int(rng.integers(len(COMMENTS[d])))]
                opinions.append((rid, aid, pin, d, v, text, reviewers[(2 * j + aid) % len(reviewers)], *common))
        return rows, opinions


APPLICATION_COLUMNS = (
    "id", "application_no", "review_project_id", "project_code", "project_id", "name", "submission_name",
    "builder_uscc", "designer_uscc", "surveyor_uscc", "agency_id", "review_category", "grade", "contents",
    "floor_area_m2", "investment_wan", "status", "round_no", "submitted_at", "drawn_at", "accepted_at",
    "concluded_at", "conclusion", "certificate_no", "certified_at", "due_on", "return_reason",
    "district", "created_at", "created_by", "updated_at", "updated_by",
)  # fmt: skip
COMMON_COLUMNS = ("district", "created_at", "created_by", "updated_at", "updated_by")
BUILDING_COLUMNS = ("application_id", "review_project_id", "name", "floor_area_m2", "floors", "height_m", "structure", "disciplines", *COMMON_COLUMNS)  # fmt: skip
ROUND_COLUMNS = ("id", "application_id", "review_project_id", "round_no", "started_at", "opinion_at", "result", "replied_at", "reply_note", *COMMON_COLUMNS)  # fmt: skip
OPINION_COLUMNS = ("round_id", "application_id", "review_project_id", "discipline", "conclusion", "opinion", "reviewer", *COMMON_COLUMNS)  # fmt: skip
HISTORY_COLUMNS = ("case_kind", "case_id", "district", "action", "from_state", "to_state", "reason", "actor", "at")
assert set(HOUSE + CIVIL) <= set(DISCIPLINES)


def _one(rng: np.random.Generator, values: tuple, weights: tuple[int, ...]) -> Any:
    """One of ``values`` by ``weights``."""
    return values[int(np.searchsorted(np.cumsum(weights), rng.random() * sum(weights), "right"))]


def _spread(rng: np.random.Generator, projects: list[dict], n: int) -> list[int]:
    """``n`` of the projects at random, every district among them first (the counties' too at a small scale)."""
    order = [int(i) for i in rng.permutation(len(projects))]
    seen: set[str] = set()
    first = [i for i in order if projects[i]["district"] not in seen and not seen.add(projects[i]["district"])]
    taken = set(first)
    return sorted((first + [i for i in order if i not in taken])[:n])


def _reserve(conn: Connection, table: str, n: int) -> list[int]:
    """``n`` ids from the table's identity sequence (rows are then copied in with them)."""
    if n == 0:
        return []
    return list(
        conn.execute(
            sa.text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table, "n": n},
        ).scalars()
    )


def _copy(conn: Connection, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    raw = conn.connection.driver_connection
    assert raw is not None  # the caller's transaction runs on it
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        for r in rows:
            cp.write_row(r)


@seeder(order=21)
def seed_applications(conn: Connection, world: World) -> dict:
    """Two years of applications with their rounds, opinions, replies, certificates, history and pins."""
    return Applications(conn, world).run()
