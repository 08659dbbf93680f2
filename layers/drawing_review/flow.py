"""The drawing-review application end to end (DR-03…06): the draft, the submission, acceptance, review rounds with
per-discipline opinions, the design unit's replies, the project conclusion and the certificate.

- **Draft** (``POST /api/review/applications``, ``PUT …/{id}``): a builder's or design unit's account fills in the
  project code (checked for its shape; *verified* when it is a project of the register — ``project_id`` is set, the
  register's point is the pin's point and the register's builder must be the one named), the project and submission
  names, the builder and design unit (enterprises of the register), review category, grade, review contents and the
  buildings (单体) with their disciplines. Its pin in ``review_projects`` is created with it; the application and
  the pin are granted (``user_grants``, layer ``review_projects``) to the accounts it concerns (below). Creating and
  submitting take an ``Idempotency-Key``: a retried request answers what the first answered and writes nothing again.
- **Plain actions** from the declaration (``api.cases.case_routes`` under ``/api/review/applications``): submit,
  withdraw, accept (the drawn agency: round 1 begins), return for correction (reason required). The lottery takes
  ``draw`` (``MACHINE.apply`` with ``agency_id``).
- **Opinions** (``POST …/{id}/opinions``, the agency): a conclusion (合格 / 需修改 / 不合格) and opinion for every
  discipline of the application's buildings in the current round; the round's result: all 合格 → ``pass``, any
  不合格 → ``fail`` (a reason is required), else ``modify`` → the design unit replies (``POST …/{id}/reply``: its
  note; the revised drawings are the drawings part's), which begins the next round. A reply after the conclusion is
  refused (409 ``already_concluded``). **Certificate** (``POST …/{id}/certificate``): the agency issues the
  审查合格书 of a passed application, numbered ``<jurisdiction>-SCHG-<year>-<serial>``.

Who sees what (DR-03) — row-level security on the pin (``chengjian_scope_ok(district, 'review_projects', pin)``):

- the builder's and the design unit's accounts: the users whose organisation's credit code
  (``organisations.uscc``) is the application's builder or design unit (relations ``builder``, ``design_unit``);
- the drawn agency's accounts: users of the organisation with the agency's credit code (``review_agency``);
- the departments' viewers (``co_reviewer``, scope *assigned*): a co-reviewer's department is its organisation's —
  an organisation of kind ``department`` whose name contains the department's name (消防, 人防, 气象: ``DEPARTMENTS``,
  e.g. 杭州市消防救援支队) — and it is granted the applications whose review contents include that department's
  content; a department organisation with a county district (建德市, 淳安县) only its county's applications;
- district staff: their district (建德市's staff see only 建德市's applications); the city supervisor: all;
- the acceptance window (``review_window``): its jurisdiction only (``process.window_restriction``).

Grants follow the application: they are made when the draft is created and brought up to date on every edit and
every transition (a new account of a unit gets them at the application's next step), and the grants of a unit
that is no longer the application's are taken away.

The hook ``on_transition("dr_application")`` also keeps the pin's status (``PIN_STATUS``), dates and agency and the
application's due date (``limits``) in step with every transition, whoever takes it.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import shapely
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from api import idempotency
from api.accounts import users
from api.auth import Principal, principal
from api.cases import ActionBody, act, case_routes, visible
from api.deps import db_write
from api.errors import ApiError
from api.web import APP_CACHE, file_response
from geo import audit, workflow
from geo import scope as scopes
from geo.bounds import AREA_MAX_M2, INVESTMENT_MAX_WAN, PROJECT_CODE, USCC, Amount, Code, Text, Version, Whole
from geo.cases import Action
from geo.errors import Conflict, Invalid, StaleVersion
from geo.layer import store
from geo.layer.registry import registry
from geo.modules import Page, log_labels, pages
from geo.records import Link, register_link
from layers import enterprises, projects
from layers.drawing_review import limits, progress
from layers.drawing_review import tables as t
from layers.drawing_review.process import (
    APPLICATION,
    CATEGORIES,
    CONTENTS,
    DEPARTMENTS,
    DISCIPLINES,
    GRADES,
    JURISDICTIONS,
    MACHINE,
    OPINION_CONCLUSIONS,
    PIN_STATUS,
    STAGES,
    STATES,
)

router = APIRouter(tags=["施工图联审"])
PREFIX = "/api/review/applications"
LAYER = "review_projects"
EDITABLE = ("draft", "returned")
CONCLUDED = ("passed", "failed", "certified")
RELATIONS = ("builder", "design_unit", "review_agency", "co_reviewer")
CERTIFICATE_PREFIX = {"市本级": "HZ", "建德市": "JD", "淳安县": "CA"}
RESULT_ACTION = {"passed": "pass", "modify": "modify", "failed": "fail"}

log_labels(
    objects={
        "dr_applications": "施工图审查申请",
        "dr_buildings": "单体",
        "dr_rounds": "审查轮次",
        "dr_opinions": "审查意见",
        "dr_time_limits": "施工图审查时限",
    },
    actions={"opinions": "出具审查意见", "reply": "设计回复", "certificate": "发放审查合格书"},
)
pages(Page("/review", "施工图联审", "业务系统", "review.view", order=20))


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- request bodies ---------------------------------------------------------------------------------------------


class BuildingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text(100, 1) = Field(title="单体名称")
    floor_area_m2: Amount(AREA_MAX_M2) | None = Field(None, title="建筑面积（㎡）")
    floors: Whole(-10, 200) | None = Field(None, title="层数")
    height_m: Amount(1000) | None = Field(None, title="高度（米）")
    structure: Text(50) | None = Field(None, title="结构形式")
    disciplines: list[Text(20, 1)] = Field(title="专业", min_length=1, max_length=len(DISCIPLINES))


class ApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_code: Code(PROJECT_CODE) = Field(title="项目代码", description="投资项目代码，如 2024-330106-47-01-123456")
    name: Text(200, 1) = Field(title="项目名称")
    submission_name: Text(200, 1) = Field(title="送审名称")
    builder_uscc: Code(USCC) = Field(title="建设单位统一社会信用代码")
    designer_uscc: Code(USCC) = Field(title="设计单位统一社会信用代码")
    review_category: Text(20, 1) = Field(title="审查类别")
    grade: Text(10, 1) = Field(title="项目等级")
    contents: list[Text(20, 1)] = Field(title="审查内容", min_length=1, max_length=len(CONTENTS))
    floor_area_m2: Amount(AREA_MAX_M2) | None = Field(None, title="总建筑面积（㎡）")
    investment_wan: Amount(INVESTMENT_MAX_WAN) | None = Field(None, title="估算投资（万元）")
    district: Text(10) | None = Field(None, title="所在区县", description="项目库之外的项目：须与位置相符")
    lon: Amount(123.0, 117.0) | None = Field(None, title="经度", description="项目库之外（或无位置）的项目必填")
    lat: Amount(32.0, 28.0) | None = Field(None, title="纬度")
    buildings: list[BuildingIn] = Field(title="单体", min_length=1, max_length=200)


class ApplicationEdit(ApplicationIn):
    version: Version = Field(title="版本号")


class VersionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Version = Field(title="版本号")


class OpinionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    discipline: Text(20, 1) = Field(title="专业")
    conclusion: Text(10, 1) = Field(title="结论", description="合格 / 需修改 / 不合格")
    opinion: Text(4000) | None = Field(None, title="审查意见")


class OpinionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Version = Field(title="版本号")
    opinions: list[OpinionIn] = Field(title="各专业意见", min_length=1, max_length=len(DISCIPLINES))
    reason: Text(1000) | None = Field(None, title="不合格理由")


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Version = Field(title="版本号")
    note: Text(4000, 1) = Field(title="回复说明")


# -- checks -----------------------------------------------------------------------------------------------------


def _choice(value: str, known: Any, field: str, what: str) -> str:
    if value not in known:
        labels = known.values() if isinstance(known, dict) else known
        raise Invalid("invalid_choice", f"「{value}」不是有效的{what}（可选：{'、'.join(labels)}）。", field,
                      {"choices": list(known)})  # fmt: skip
    return value


def _check(body: ApplicationIn) -> None:
    projects.check_code(body.project_code, "project_code")
    _choice(body.review_category, CATEGORIES, "review_category", "审查类别")
    _choice(body.grade, GRADES, "grade", "项目等级")
    for i, c in enumerate(body.contents):
        _choice(c, CONTENTS, f"contents.{i}", "审查内容")
    if len(set(body.contents)) != len(body.contents):
        raise Invalid("duplicate_content", "审查内容有重复。", "contents")
    if "general" not in body.contents:
        raise Invalid("general_required", f"审查内容须包含「{CONTENTS['general']}」。", "contents")
    seen = set()
    for i, b in enumerate(body.buildings):
        if b.name in seen:
            raise Invalid("duplicate_building", f"单体「{b.name}」重复填写。", f"buildings.{i}.name")
        seen.add(b.name)
        for j, d in enumerate(b.disciplines):
            _choice(d, DISCIPLINES, f"buildings.{i}.disciplines.{j}", "专业")
        if len(set(b.disciplines)) != len(b.disciplines):
            raise Invalid("duplicate_discipline", f"单体「{b.name}」的专业有重复。", f"buildings.{i}.disciplines")


def _own_unit(conn: Connection, who: Principal, body: ApplicationIn) -> None:
    """A unit applies for itself: the account's organisation is the builder or the design unit named (the city's
    accounts excepted)."""
    if who.scope.all:
        return
    mine = conn.execute(sa.text("SELECT uscc FROM organisations WHERE id = :o"), {"o": who.org_id}).scalar()
    if not mine or mine.upper() not in (body.builder_uscc.upper(), body.designer_uscc.upper()):
        raise ApiError(403, "not_own_unit", "只能以本单位（建设单位或设计单位）的名义填报施工图审查申请。",
                       "builder_uscc", {"organisation_uscc": mine})  # fmt: skip


def _register_project(conn: Connection, who: Principal, code: str) -> dict | None:
    """The register's project of ``code`` whatever the caller's scope (a builder checks its own project's code before
    it holds any grant): only whether it exists, its id, district, builder and point are used."""
    scopes.apply(conn, scopes.SYSTEM)
    try:
        return projects.get_by_code(conn, code)
    finally:
        scopes.apply(conn, who.scope)


def _place(conn: Connection, who: Principal, body: ApplicationIn, builder: dict) -> dict:
    """``project_id`` (verified or None), the pin's point and the district given for it."""
    p = _register_project(conn, who, body.project_code)
    given = (body.lon, body.lat)
    if p is not None:
        if p.get("builder_uscc") and p["builder_uscc"].upper() != builder["uscc"].upper():
            raise Invalid("builder_mismatch", "项目库中该项目登记的建设单位与所填建设单位不一致，请核对项目代码和建设单位。",
                          "builder_uscc", {"project_code": body.project_code})  # fmt: skip
        if p.get("geom"):
            return {"project_id": p["id"], "point": shapely.geometry.shape(p["geom"]), "district": None}
    if None in given:
        raise Invalid("location_required", "项目库中没有该项目的位置，请填写项目位置（经度、纬度）。",
                      "lon" if body.lon is None else "lat")  # fmt: skip
    return {"project_id": p["id"] if p else None, "point": shapely.Point(*given), "district": body.district}


# -- grants (who sees an application) -----------------------------------------------------------------------------


def _accounts(conn: Connection, app: dict) -> set[tuple[int, str]]:
    """(user id, relation) of every account the application concerns."""
    units = [("builder", app["builder_uscc"]), ("design_unit", app["designer_uscc"])]
    if app.get("agency_id"):
        agency = conn.execute(sa.select(t.agencies.c.uscc).where(t.agencies.c.id == app["agency_id"])).scalar()
        units.append(("review_agency", agency))
    out: set[tuple[int, str]] = set()
    for relation, uscc in units:
        if uscc:
            found = conn.execute(
                sa.text("SELECT u.id FROM users u JOIN organisations o ON o.id = u.org_id "
                        "WHERE upper(o.uscc) = upper(:c) AND u.active"), {"c": uscc}).scalars()  # fmt: skip
            out |= {(uid, relation) for uid in found}
    depts = [DEPARTMENTS[c] for c in app["contents"] or [] if c in DEPARTMENTS]
    if depts:
        found = conn.execute(
            sa.text(
                "SELECT DISTINCT u.id FROM users u JOIN organisations o ON o.id = u.org_id "
                "JOIN user_roles r ON r.user_id = u.id AND r.role = 'co_reviewer' "
                "WHERE u.active AND o.kind = 'department' AND o.name LIKE ANY (:names) "
                "AND (o.district IS NULL OR o.district NOT IN ('建德市', '淳安县') OR o.district = :j)"
            ),
            {"names": [f"%{d}%" for d in depts], "j": app["jurisdiction"]},
        ).scalars()
        out |= {(uid, "co_reviewer") for uid in found}
    return out


def sync_grants(conn: Connection, app: dict, actor: str) -> set[int]:
    """Grant the application's pin to the accounts it concerns, take it from those it no longer does (each change
    in the operation log); returns the granted users."""
    want = _accounts(conn, app)
    pin = app["review_project_id"]
    have = set(
        conn.execute(
            sa.text(
                "SELECT user_id, relation FROM user_grants WHERE layer = :l AND feature_id = :f AND relation = ANY (:r)"
            ),
            {"l": LAYER, "f": pin, "r": list(RELATIONS)},
        ).all()  # fmt: skip
    )
    have = {(uid, rel) for uid, rel in have}
    for uid, relation in sorted(want - have):
        users.grant(conn, uid, LAYER, pin, relation, actor=actor)
    for uid, relation in sorted(have - want):
        conn.execute(
            sa.text("DELETE FROM user_grants WHERE user_id = :u AND layer = :l AND feature_id = :f AND relation = :r"),
            {"u": uid, "l": LAYER, "f": pin, "r": relation},
        )
        audit.record(conn, actor, "permission_change", "user_grants", None,
                     {"user_id": uid, "layer": LAYER, "feature_id": pin, "relation": relation}, None)  # fmt: skip
    return {uid for uid, _ in want}


_DEPARTMENT_NAMES = ", ".join(f"('{c}', '{n}')" for c, n in DEPARTMENTS.items())
GRANT_ALL_SQL = f"""
INSERT INTO user_grants (user_id, layer, feature_id, relation, created_by)
SELECT DISTINCT u.id, '{LAYER}', a.review_project_id, x.relation, :actor
FROM dr_applications a
CROSS JOIN LATERAL (VALUES ('builder', a.builder_uscc), ('design_unit', a.designer_uscc),
                           ('review_agency', (SELECT g.uscc FROM dr_agencies g WHERE g.id = a.agency_id))) x (relation, uscc)
JOIN organisations o ON upper(o.uscc) = upper(x.uscc)
JOIN users u ON u.org_id = o.id AND u.active
UNION
SELECT DISTINCT u.id, '{LAYER}', a.review_project_id, 'co_reviewer', :actor
FROM dr_applications a
CROSS JOIN LATERAL unnest(a.contents) c (content)
JOIN (VALUES {_DEPARTMENT_NAMES}) d (content, name) ON d.content = c.content
JOIN organisations o ON o.kind = 'department' AND o.name LIKE '%' || d.name || '%'
     AND (o.district IS NULL OR o.district NOT IN ('建德市', '淳安县') OR o.district = a.jurisdiction)
JOIN users u ON u.org_id = o.id AND u.active
JOIN user_roles r ON r.user_id = u.id AND r.role = 'co_reviewer'
ON CONFLICT (user_id, layer, feature_id, relation) DO NOTHING
"""


def grant_all(conn: Connection, actor: str = "system") -> int:
    """The grants of every application in one statement (the same rules as ``sync_grants``), for whoever writes
    applications in bulk (the demo) instead of through the flow; returns how many were added (one entry in the
    operation log for them all)."""
    added = conn.execute(sa.text(GRANT_ALL_SQL), {"actor": actor}).rowcount
    audit.record(conn, actor, "permission_change", "user_grants", None, None, None,
                 detail={"layer": LAYER, "granted": added, "by": "drawing_review.grant_all"})  # fmt: skip
    return added


def _widen(conn: Connection, who: Principal, pin: int) -> None:
    """The transaction's scope with the pin just granted to ``who`` (its next request loads it from the grants)."""
    if who.scope.all:
        return
    grants = {layer: list(ids) for layer, ids in who.scope.grants}
    grants[LAYER] = [*grants.get(LAYER, []), pin]
    scopes.apply(conn, scopes.Scope.of(districts=who.scope.districts, grants=grants))


# -- reading ----------------------------------------------------------------------------------------------------


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, (dt.datetime, dt.date)) else v


def whole(conn: Connection, row: dict) -> dict:
    """Every column of the application (the declaration's table object lists only the declared fields) and the
    declaration's lookups (the agency's credit code)."""
    a = t.applications
    found = conn.execute(sa.select(a).where(a.c.id == row["id"])).mappings().one()
    return {**row, **found}


def _bounds(conn: Connection) -> dict:
    """Today and the last nearly-due day, kept a minute on the connection (a list flags each of its rows with them;
    a change of the calendar shows within the minute)."""
    stamp = (limits.today(), int(time.monotonic() // 60))
    held = conn.info.get("dr_flag_bounds")
    if held is None or held[0] != stamp:
        held = conn.info["dr_flag_bounds"] = (stamp, limits.flags(conn, strict=False))
    return held[1]


def view(conn: Connection, row: dict, who: Principal) -> dict:
    row = whole(conn, row)
    agency_uscc = row.get("agency_uscc")
    n = progress.names(conn, row["builder_uscc"], row["designer_uscc"], agency_uscc)
    status = row["status"]
    flag = limits.flag_of(row["due_on"], status, _bounds(conn)) if row["due_on"] else None
    return {
        "id": row["id"],
        "application_no": row["application_no"],
        "review_project_id": row["review_project_id"],
        "project_code": row["project_code"],
        "project_id": row["project_id"],
        "verified": row["project_id"] is not None,
        "name": row["name"],
        "submission_name": row["submission_name"],
        "builder_uscc": row["builder_uscc"],
        "builder_name": n.get(row["builder_uscc"]),
        "designer_uscc": row["designer_uscc"],
        "designer_name": n.get(row["designer_uscc"]),
        "agency_id": row["agency_id"],
        "agency_uscc": agency_uscc,
        "agency_name": n.get(agency_uscc) if agency_uscc else None,
        "review_category": row["review_category"],
        "grade": row["grade"],
        "contents": list(row["contents"] or []),
        "floor_area_m2": row["floor_area_m2"],
        "investment_wan": row["investment_wan"],
        "jurisdiction": row["jurisdiction"],
        "district": row["district"],
        "status": status,
        "status_title": STATES[status],
        "round_no": row["round_no"],
        "submitted_at": _iso(row["submitted_at"]),
        "drawn_at": _iso(row["drawn_at"]),
        "accepted_at": _iso(row["accepted_at"]),
        "concluded_at": _iso(row["concluded_at"]),
        "conclusion": row["conclusion"],
        "certificate_no": row["certificate_no"],
        "certified_at": _iso(row["certified_at"]),
        "due_on": _iso(row["due_on"]),
        "stage": limits.STAGE_OF_STATE.get(status),
        "flag": flag,
        "flag_title": limits.FLAG_TITLES.get(flag or ""),
        "return_reason": row["return_reason"],
        "version": row["version"],
        "actions": [a for a in MACHINE.allowed(status, who.can) if not APPLICATION.action(a["action"]).handled_by],
        "can": {
            "edit": status in EDITABLE and who.can("review.submit"),
            "opine": status == "reviewing" and who.can("review.opine"),
            "reply": status == "replying" and who.can("review.reply"),
            "certify": status == "passed" and who.can("review.certify"),
        },
    }


def buildings_of(conn: Connection, application_id: int) -> list[dict]:
    b = t.buildings
    cols = (b.c.id, b.c.name, b.c.floor_area_m2, b.c.floors, b.c.height_m, b.c.structure, b.c.disciplines)
    return [
        {**dict(r), "disciplines": list(r["disciplines"] or [])}
        for r in conn.execute(sa.select(*cols).where(b.c.application_id == application_id).order_by(b.c.id)).mappings()
    ]


def disciplines_of(conn: Connection, application_id: int) -> list[str]:
    """The disciplines of the application's buildings, in the vocabulary's order."""
    found = {d for b in buildings_of(conn, application_id) for d in b["disciplines"]}
    return [d for d in DISCIPLINES if d in found]


def rounds_with_opinions(conn: Connection, application_id: int) -> list[dict]:
    o = t.opinions
    ops: dict[int, list[dict]] = {}
    for r in conn.execute(
        sa.select(o.c.round_id, o.c.discipline, o.c.conclusion, o.c.opinion, o.c.reviewer, o.c.created_at)
        .where(o.c.application_id == application_id)
        .order_by(o.c.id)
    ).mappings():
        ops.setdefault(r["round_id"], []).append(
            {
                "discipline": r["discipline"],
                "discipline_title": DISCIPLINES[r["discipline"]],
                "conclusion": r["conclusion"],
                "opinion": r["opinion"],
                "reviewer": r["reviewer"],
                "at": _iso(r["created_at"]),
            }  # fmt: skip
        )
    return [
        {
            "round_no": r["round_no"],
            "started_at": _iso(r["started_at"]),
            "opinion_at": _iso(r["opinion_at"]),
            "result": r["result"],
            "result_title": progress.RESULTS.get(r["result"] or ""),
            "replied_at": _iso(r["replied_at"]),
            "reply_note": r["reply_note"],
            "opinions": ops.get(r["id"], []),
        }
        for r in progress.rounds_of(conn, application_id)
    ]


def detail(conn: Connection, row: dict, who: Principal) -> dict:
    row = whole(conn, row)
    x, y = conn.execute(
        sa.text("SELECT ST_X(geom), ST_Y(geom) FROM review_projects WHERE id = :p"), {"p": row["review_project_id"]}
    ).one()
    return {
        "point": {"lon": x, "lat": y},
        "buildings": buildings_of(conn, row["id"]),
        "disciplines": disciplines_of(conn, row["id"]),
        "rounds": rounds_with_opinions(conn, row["id"]),
        "progress": progress.fields(conn, row),
        "timeline": progress.timeline(conn, row),
    }


def full(conn: Connection, application_id: int, who: Principal) -> dict:
    row = visible(conn, APPLICATION, application_id, who)
    history = [{**x, "at": _iso(x["at"])} for x in workflow.history(conn, APPLICATION.kind, application_id)]
    return {**view(conn, row, who), **detail(conn, row, who), "history": history}


# -- the draft ----------------------------------------------------------------------------------------------------


def _pin_props(body: ApplicationIn, builder: dict, designer: dict) -> dict:
    return {
        "code": body.project_code,
        "name": body.name,
        "builder": builder["name"],
        "designer": designer["name"],
        "review_category": body.review_category,
        "grade": body.grade,
        "floor_area_m2": body.floor_area_m2,
        "investment_wan": body.investment_wan,
    }


def _app_values(body: ApplicationIn, builder: dict, designer: dict, place: dict) -> dict:
    return {
        "project_code": body.project_code,
        "project_id": place["project_id"],
        "name": body.name,
        "submission_name": body.submission_name,
        "builder_uscc": builder["uscc"],
        "designer_uscc": designer["uscc"],
        "review_category": body.review_category,
        "grade": body.grade,
        "contents": [c for c in CONTENTS if c in body.contents],
        "floor_area_m2": body.floor_area_m2,
        "investment_wan": body.investment_wan,
    }


def _write_buildings(conn: Connection, app: dict, body: ApplicationIn, actor: str) -> None:
    b = t.buildings
    conn.execute(sa.delete(b).where(b.c.application_id == app["id"]))
    conn.execute(
        sa.insert(b),
        [
            {
                "application_id": app["id"],
                "review_project_id": app["review_project_id"],
                "district": app["district"],
                "name": x.name,
                "floor_area_m2": x.floor_area_m2,
                "floors": x.floors,
                "height_m": x.height_m,
                "structure": x.structure,
                "disciplines": [d for d in DISCIPLINES if d in x.disciplines],
                "created_by": actor,
                "updated_by": actor,
            }  # fmt: skip
            for x in body.buildings
        ],
    )


def create(conn: Connection, who: Principal, body: ApplicationIn) -> dict:
    who.require("review.submit", "填报施工图审查申请")
    _check(body)
    builder = enterprises.require(conn, body.builder_uscc, "builder_uscc")
    designer = enterprises.require(conn, body.designer_uscc, "designer_uscc")
    _own_unit(conn, who, body)
    place = _place(conn, who, body, builder)
    pin_id = conn.execute(sa.text("SELECT nextval(pg_get_serial_sequence('review_projects', 'id'))")).scalar_one()
    app_id = conn.execute(sa.text("SELECT nextval(pg_get_serial_sequence('dr_applications', 'id'))")).scalar_one()
    # The grants first (the district follows the point: known once the pin exists; the grants need only the units).
    stub = {"builder_uscc": builder["uscc"], "designer_uscc": designer["uscc"], "agency_id": None,
            "contents": body.contents, "review_project_id": pin_id, "jurisdiction": None}  # fmt: skip
    granted = sync_grants(conn, stub, who.user)
    if who.user_id in granted:
        _widen(conn, who, pin_id)
    layer = registry.get(LAYER)
    assert layer is not None
    props = {"id": pin_id, **_pin_props(body, builder, designer), "status": PIN_STATUS["draft"]}
    if place["district"]:
        props["district"] = place["district"]
    pin = store.create(conn, layer, place["point"], props, who.user, who.client)
    district = pin["properties"]["district"]
    a = t.applications
    year = limits.today().year
    row = (
        conn.execute(
            sa.insert(a)
            .values(
                id=app_id,
                application_no=f"SC{year}{app_id:07d}",
                review_project_id=pin_id,
                district=district,
                created_by=who.user,
                updated_by=who.user,
                **_app_values(body, builder, designer, place),
            )  # fmt: skip
            .returning(*a.c)
        )
        .mappings()
        .one()
    )
    app = dict(row)
    _write_buildings(conn, app, body, who.user)
    sync_grants(conn, app, who.user)  # the departments of a county see their county's: now that it is known
    workflow.record(conn, APPLICATION.kind, app_id, None, district, "create", None, "draft", who.user)
    audit.record(conn, who.user, "create", "dr_applications", app_id, None,
                 {**_plain(app), "buildings": [b.model_dump() for b in body.buildings]}, who.client,
                 user_id=who.user_id)  # fmt: skip
    return full(conn, app_id, who)


def _plain(row: dict) -> dict:
    return {k: _iso(v) for k, v in row.items() if k not in ("created_at", "updated_at")}


def edit(conn: Connection, who: Principal, application_id: int, body: ApplicationEdit) -> dict:
    who.require("review.submit", "修改施工图审查申请")
    visible(conn, APPLICATION, application_id, who)
    before = MACHINE.lock(conn, application_id)
    if before["status"] not in EDITABLE:
        raise Conflict("not_editable", f"施工图审查申请当前状态为「{STATES[before['status']]}」，不能修改（只有草稿和"
                       "退回补正的申请可以修改）。", "status", {"state": before["status"]})  # fmt: skip
    if before["version"] != body.version:
        raise StaleVersion(before["version"], body.version, "施工图审查申请")
    _check(body)
    builder = enterprises.require(conn, body.builder_uscc, "builder_uscc")
    designer = enterprises.require(conn, body.designer_uscc, "designer_uscc")
    _own_unit(conn, who, body)
    place = _place(conn, who, body, builder)
    layer = registry.get(LAYER)
    assert layer is not None
    pin = store.get_feature(conn, layer, before["review_project_id"])
    props = _pin_props(body, builder, designer)
    if place["district"]:
        props["district"] = place["district"]
    pin = store.update(conn, layer, pin["id"], pin["meta"]["version"], who.user, place["point"], props, who.client)
    a = t.applications
    after = (
        conn.execute(
            sa.update(a)
            .where(a.c.id == application_id)
            .values(
                district=pin["properties"]["district"],
                version=a.c.version + 1,
                updated_at=sa.func.now(),
                updated_by=who.user,
                **_app_values(body, builder, designer, place),
            )  # fmt: skip
            .returning(*a.c)
        )
        .mappings()
        .one()
    )
    app = dict(after)
    _write_buildings(conn, app, body, who.user)
    sync_grants(conn, app, who.user)
    audit.record(conn, who.user, "update", "dr_applications", application_id, _plain(before),
                 {**_plain(app), "buildings": [b.model_dump() for b in body.buildings]}, who.client,
                 user_id=who.user_id)  # fmt: skip
    return full(conn, application_id, who)


@router.post(PREFIX, status_code=201, summary="填报施工图审查申请（草稿；建设单位或设计单位）")
def create_application(
    body: ApplicationIn,
    request: Request,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> JSONResponse:
    key = idempotency.key_of(request)
    return idempotency.run(conn, who.user_id, key, idempotency.body_hash("dr-application", body.model_dump()),
                           lambda: (201, create(conn, who, body)))  # fmt: skip


@router.put(f"{PREFIX}/{{application_id}}", summary="修改施工图审查申请（草稿或退回补正；带版本号）")
def edit_application(
    application_id: int,
    body: ApplicationEdit,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    return edit(conn, who, application_id, body)


@router.post(f"{PREFIX}/{{application_id}}/submit", summary="送审（可带 Idempotency-Key：重试不重复送审）")
def submit_application(
    application_id: int,
    body: VersionIn,
    request: Request,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> JSONResponse:
    key = idempotency.key_of(request)

    def work() -> tuple[int, Any]:
        act(conn, APPLICATION.kind, application_id, "submit", who, version=body.version)
        return 200, full(conn, application_id, who)

    return idempotency.run(conn, who.user_id, key, idempotency.body_hash("dr-submit", application_id, body.version),
                           work)  # fmt: skip


# -- plain actions (declared), opinions, reply, certificate ---------------------------------------------------------


def prepare(conn: Connection, who: Principal, row: dict, a: Action, body: ActionBody) -> dict[str, Any]:
    if a.name == "submit":
        if not buildings_of(conn, row["id"]):
            raise Invalid("buildings_required", "请先填写单体及其专业再送审。", "buildings")
        return {"submitted_at": now(), "return_reason": None}
    if a.name == "accept":
        return {"accepted_at": now(), "round_no": 1, "return_reason": None}
    if a.name == "return":
        return {"return_reason": body.reason}
    return {}


def after_action(conn: Connection, who: Principal, row: dict, a: Action) -> None:
    if a.name == "accept":  # round 1 begins with the acceptance
        conn.execute(
            sa.insert(t.rounds).values(
                application_id=row["id"],
                review_project_id=row["review_project_id"],
                round_no=1,
                started_at=row["accepted_at"],
                district=row["district"],
                created_by=who.user,
                updated_by=who.user,
            )  # fmt: skip
        )


case_routes(
    router,
    APPLICATION,
    PREFIX,
    view=view,
    detail=detail,
    prepare=prepare,
    after=after_action,
    result=lambda conn, row, who: full(conn, row["id"], who),
    summaries={"action": "施工图审查申请办理：送审、撤回、受理、退回补正"},
)


def _locked(conn: Connection, who: Principal, application_id: int, version: int) -> dict:
    visible(conn, APPLICATION, application_id, who)
    row = MACHINE.lock(conn, application_id)
    if row["version"] != version:
        raise StaleVersion(row["version"], version, "施工图审查申请")
    return row


def _current_round(conn: Connection, row: dict) -> dict:
    r = t.rounds
    found = (
        conn.execute(sa.select(r).where(r.c.application_id == row["id"], r.c.round_no == row["round_no"]))
        .mappings()
        .first()
    )
    if found is None:  # every accept and reply begins one: a missing round is a broken record
        raise Conflict("no_round", f"申请 {row['application_no']} 没有第 {row['round_no']} 轮审查记录。", "round_no")
    return dict(found)


def give_opinions(conn: Connection, who: Principal, application_id: int, body: OpinionsIn) -> dict:
    who.require("review.opine", "出具施工图审查意见")
    row = _locked(conn, who, application_id, body.version)
    if row["status"] != "reviewing":
        raise Conflict("not_reviewing", f"施工图审查申请当前状态为「{STATES[row['status']]}」，不能出具审查意见（只有"
                       "「审查中」的申请可以）。", "status", {"state": row["status"]})  # fmt: skip
    wanted = disciplines_of(conn, application_id)
    given: dict[str, OpinionIn] = {}
    for i, o in enumerate(body.opinions):
        _choice(o.discipline, DISCIPLINES, f"opinions.{i}.discipline", "专业")
        if o.discipline not in wanted:
            raise Invalid("discipline_not_in_application", f"本申请的单体没有「{DISCIPLINES[o.discipline]}」专业。",
                          f"opinions.{i}.discipline", {"disciplines": wanted})  # fmt: skip
        if o.discipline in given:
            raise Invalid("duplicate_discipline", f"「{DISCIPLINES[o.discipline]}」专业的意见重复填写。",
                          f"opinions.{i}.discipline")  # fmt: skip
        _choice(o.conclusion, OPINION_CONCLUSIONS, f"opinions.{i}.conclusion", "结论")
        if o.conclusion != "合格" and not (o.opinion and o.opinion.strip()):
            raise Invalid("opinion_required", f"「{DISCIPLINES[o.discipline]}」专业结论为「{o.conclusion}」，须填写审查意见。",
                          f"opinions.{i}.opinion")  # fmt: skip
        given[o.discipline] = o
    missing = [d for d in wanted if d not in given]
    if missing:
        raise Invalid("missing_disciplines", f"还有专业未出具意见：{'、'.join(DISCIPLINES[d] for d in missing)}。",
                      "opinions", {"missing": missing})  # fmt: skip
    conclusions = {o.conclusion for o in given.values()}
    result = "failed" if "不合格" in conclusions else "modify" if "需修改" in conclusions else "passed"
    if result == "failed" and not (body.reason and body.reason.strip()):
        raise Invalid("reason_required", "审查不合格须填写理由。", "reason")
    rnd = _current_round(conn, row)
    at = now()
    conn.execute(
        sa.insert(t.opinions),
        [
            {
                "round_id": rnd["id"],
                "application_id": application_id,
                "review_project_id": row["review_project_id"],
                "district": row["district"],
                "discipline": d,
                "conclusion": given[d].conclusion,
                "opinion": given[d].opinion,
                "reviewer": who.user,
                "created_by": who.user,
                "updated_by": who.user,
            }  # fmt: skip
            for d in wanted
        ],
    )
    conn.execute(
        sa.update(t.rounds)
        .where(t.rounds.c.id == rnd["id"])
        .values(
            opinion_at=at, result=result, version=t.rounds.c.version + 1, updated_at=sa.func.now(), updated_by=who.user
        )  # fmt: skip
    )
    values: dict[str, Any] = {}
    if result != "modify":
        values = {"conclusion": "合格" if result == "passed" else "不合格", "concluded_at": at}
    audit.record(conn, who.user, "opinions", "dr_applications", application_id, None,
                 {"round_no": row["round_no"], "result": result,
                  "opinions": {d: [given[d].conclusion, given[d].opinion] for d in wanted}},
                 who.client, user_id=who.user_id)  # fmt: skip
    MACHINE.apply(conn, application_id, RESULT_ACTION[result], who, body.reason, values, body.version)
    return full(conn, application_id, who)


def reply(conn: Connection, who: Principal, application_id: int, body: ReplyIn) -> dict:
    who.require("review.reply", "提交设计回复")
    visible(conn, APPLICATION, application_id, who)
    row = MACHINE.lock(conn, application_id)
    if row["status"] in CONCLUDED:
        raise Conflict("already_concluded", f"该申请已有审查结论（{STATES[row['status']]}），不能再提交设计回复。",
                       "status", {"state": row["status"]})  # fmt: skip
    if row["version"] != body.version:
        raise StaleVersion(row["version"], body.version, "施工图审查申请")
    if row["status"] != "replying":
        raise Conflict("not_replying", f"施工图审查申请当前状态为「{STATES[row['status']]}」，不能提交设计回复（只有"
                       "「待回复」的申请可以）。", "status", {"state": row["status"]})  # fmt: skip
    rnd = _current_round(conn, row)
    at = now()
    conn.execute(
        sa.update(t.rounds)
        .where(t.rounds.c.id == rnd["id"])
        .values(
            replied_at=at,
            reply_note=body.note,
            version=t.rounds.c.version + 1,
            updated_at=sa.func.now(),
            updated_by=who.user,
        )  # fmt: skip
    )
    nxt = row["round_no"] + 1
    after = MACHINE.apply(conn, application_id, "reply", who, None, {"round_no": nxt}, body.version)
    conn.execute(
        sa.insert(t.rounds).values(
            application_id=application_id,
            review_project_id=row["review_project_id"],
            round_no=nxt,
            started_at=at,
            district=after["district"],
            created_by=who.user,
            updated_by=who.user,
        )  # fmt: skip
    )
    audit.record(conn, who.user, "reply", "dr_rounds", rnd["id"], None,
                 {"application_id": application_id, "round_no": row["round_no"], "note": body.note},
                 who.client, user_id=who.user_id)  # fmt: skip
    return full(conn, application_id, who)


def certify(conn: Connection, who: Principal, application_id: int, body: VersionIn) -> dict:
    who.require("review.certify", "发放审查合格书")
    row = _locked(conn, who, application_id, body.version)
    if row["status"] != "passed":
        raise Conflict("not_passed", f"施工图审查申请当前状态为「{STATES[row['status']]}」，不能发放审查合格书（只有"
                       "「审查合格」的申请可以）。", "status", {"state": row["status"]})  # fmt: skip
    at = now()
    serial = conn.execute(sa.text("SELECT nextval('dr_certificate_seq')")).scalar_one()
    number = f"{CERTIFICATE_PREFIX[row['jurisdiction']]}-SCHG-{limits.local_day(at).year}-{serial:06d}"
    MACHINE.apply(conn, application_id, "certify", who, None, {"certificate_no": number, "certified_at": at},
                  body.version)  # fmt: skip
    return full(conn, application_id, who)


@router.post(f"{PREFIX}/{{application_id}}/opinions", summary="出具本轮各专业审查意见（审查机构）")
def post_opinions(
    application_id: int,
    body: OpinionsIn,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    return give_opinions(conn, who, application_id, body)


@router.post(f"{PREFIX}/{{application_id}}/reply", summary="设计回复（设计单位；开始下一轮审查）")
def post_reply(
    application_id: int,
    body: ReplyIn,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    return reply(conn, who, application_id, body)


@router.post(f"{PREFIX}/{{application_id}}/certificate", summary="发放施工图审查合格书（审查机构）")
def post_certificate(
    application_id: int,
    body: VersionIn,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    return certify(conn, who, application_id, body)


# -- every transition: the pin, the due date, the grants -----------------------------------------------------------


@workflow.on_transition(APPLICATION.kind)
def follow(conn: Connection, machine: Any, before: dict, after: dict, who: Any) -> None:
    """Whoever takes a transition (a route here, the lottery, the demo): the pin shows the state, the application
    its current stage's due date, and the accounts it concerns hold its grant."""
    status = after["status"]
    stage = limits.STAGE_OF_STATE.get(status)
    due = None
    if after.get("due_on") != before.get("due_on"):
        due = after["due_on"]  # the caller gave it
    elif stage is not None:
        began = {"drawn": after.get("drawn_at"), "passed": after.get("concluded_at")}.get(status)
        if status == "reviewing" and before.get("status") == "drawn":
            began = after.get("accepted_at")
        start = limits.local_day(began) or limits.local_day(
            conn.execute(sa.text("SELECT statement_timestamp()")).scalar_one()
        )
        assert start is not None
        due = limits.due_on(conn, after, stage, start)
    conn.execute(sa.text("UPDATE dr_applications SET due_on = :d WHERE id = :i"), {"d": due, "i": after["id"]})
    pin: dict[str, Any] = {"status": PIN_STATUS[status]}
    if status == "submitted":
        pin["submitted_at"] = limits.local_day(after.get("submitted_at")) or limits.today()
    if status in ("passed", "failed"):
        pin["concluded_at"] = limits.local_day(after.get("concluded_at")) or limits.today()
    if after.get("agency_id") and after.get("agency_id") != before.get("agency_id"):
        pin["agency"] = conn.execute(
            sa.text("SELECT e.name FROM dr_agencies a JOIN enterprises e ON e.uscc = a.uscc WHERE a.id = :a"),
            {"a": after["agency_id"]},
        ).scalar()
    sets = ", ".join(f"{k} = :{k}" for k in pin)
    conn.execute(
        sa.text(f"UPDATE review_projects SET {sets}, version = version + 1, updated_at = now(), updated_by = :_by "
                "WHERE id = :_id"), {**pin, "_by": getattr(who, "user", "system"), "_id": after["review_project_id"]})  # fmt: skip
    sync_grants(conn, after, getattr(who, "user", "system"))


# -- links to the registers' record pages --------------------------------------------------------------------------

_COLUMNS = (("application_no", "申请编号"), ("submission_name", "送审名称"), ("status", "状态"), ("district", "区县"))
# (A project's applications are linked in the package's ``__init__`` as 施工图审查申请.)
register_link(
    Link(target="enterprises", module="drawing_review", title="施工图审查（建设单位）", table="dr_applications",
         column="builder_uscc", target_column="uscc", kind=APPLICATION.kind, columns=_COLUMNS),
    Link(target="enterprises", module="drawing_review", title="施工图审查（设计单位）", table="dr_applications",
         column="designer_uscc", target_column="uscc", kind=APPLICATION.kind, columns=_COLUMNS),
)  # fmt: skip


@router.get("/api/review/vocabulary", summary="施工图联审的取值：审查类别、项目等级、审查内容、专业、结论、管辖、阶段")
def vocabulary() -> dict:
    return {
        "categories": list(CATEGORIES),
        "grades": list(GRADES),
        "contents": CONTENTS,
        "disciplines": DISCIPLINES,
        "conclusions": list(OPINION_CONCLUSIONS),
        "jurisdictions": list(JURISDICTIONS),
        "stages": STAGES,
        "states": STATES,
    }


# -- the workbench page (/review) ----------------------------------------------------------------------------------

WEB = Path(__file__).resolve().parent / "web"
ASSETS = WEB / "workbench"


@router.get("/review", include_in_schema=False)
def workbench_page(request: Request) -> Response:
    return file_response(request, WEB / "workbench.html", APP_CACHE)


@router.get("/review/workbench/{path:path}", include_in_schema=False)
def workbench_file(path: str, request: Request) -> Response:
    target = (ASSETS / path).resolve()
    if not target.is_relative_to(ASSETS) or not target.is_file():
        raise ApiError(404, "not_found", "请求的文件不存在。", "path", {"path": path})
    return file_response(request, target, APP_CACHE)
