"""The project register's rules: what a project is made of, how it is checked, read, listed, created and changed.

The HTTP routes (``routes.py``), the Excel import and export (``excel.py``) and the demo use these functions; every
write is version-checked and leaves an entry in the operation log (``geo.audit``), every read runs on the caller's
connection (row-level security scopes it: 0006's policy on ``district`` and the granted sites).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from geo import audit
from geo.bounds import (
    AREA_MAX_M2,
    INVESTMENT_MAX_WAN,
    PERMIT_NO,
    USCC,
    Amount,
    Code,
    Day,
    Text,
    Version,
    Window,
)
from geo.divisions import DISTRICT_NAMES
from geo.errors import Invalid, NotFound, StaleVersion
from layers.projects import codes
from layers.projects.tables import projects

# The life cycle, in order: (stage, the column holding the day it was reached, Chinese label of that day).
STAGES: tuple[tuple[str, str | None, str], ...] = (
    ("前期", None, ""),
    ("立项", "approved_on", "立项（备案）日期"),
    ("规划许可", "planning_permit_on", "规划许可日期"),
    ("施工图审查", "drawing_review_on", "施工图审查合格日期"),
    ("施工许可", "permit_date", "施工许可日期"),
    ("开工", "start_date", "开工日期"),
    ("标化监管", "st_supervised_on", "纳入标化监管日期"),
    ("竣工验收", "completion_date", "竣工验收日期"),
)
STAGE_NAMES = tuple(s for s, _, _ in STAGES)
STAGE_DATES = tuple((col, label) for _, col, label in STAGES if col)
PROJECT_TYPES = ("房屋建筑", "市政基础设施", "轨道交通", "水利", "其他")
UNITS = (("builder", "建设单位"), ("construction", "施工单位"), ("supervision", "监理单位"))
PERMITS_MAX = 20

PAST = Window(dt.date(1990, 1, 1), 0)  # a stage day already reached: not after today


class ProjectFields(BaseModel):
    """Everything of a project but its code (the key) and version; all optional here (an update names some)."""

    model_config = ConfigDict(extra="forbid")

    name: Text(200, 1) | None = Field(None, title="项目名称")
    district: Text(10) | None = Field(None, title="所属区县")
    project_type: Text(20) | None = Field(None, title="工程类别")
    address: Text(200) | None = Field(None, title="项目地址")
    builder_name: Text(200) | None = Field(None, title="建设单位")
    builder_uscc: Code(USCC) | None = Field(None, title="建设单位统一社会信用代码")
    construction_name: Text(200) | None = Field(None, title="施工单位")
    construction_uscc: Code(USCC) | None = Field(None, title="施工单位统一社会信用代码")
    supervision_name: Text(200) | None = Field(None, title="监理单位")
    supervision_uscc: Code(USCC) | None = Field(None, title="监理单位统一社会信用代码")
    permit_nos: list[Code(PERMIT_NO)] | None = Field(None, title="施工许可证号", max_length=PERMITS_MAX)
    approved_on: Day(PAST) | None = Field(None, title="立项（备案）日期")
    planning_permit_on: Day(PAST) | None = Field(None, title="规划许可日期")
    drawing_review_on: Day(PAST) | None = Field(None, title="施工图审查合格日期")
    permit_date: Day(PAST) | None = Field(None, title="施工许可日期")
    start_date: Day(PAST) | None = Field(None, title="开工日期")
    st_supervised_on: Day(PAST) | None = Field(None, title="纳入标化监管日期")
    completion_date: Day(PAST) | None = Field(None, title="竣工验收日期")
    planned_end_date: Day() | None = Field(None, title="计划竣工日期")
    floor_area_m2: Amount(AREA_MAX_M2) | None = Field(None, title="建筑面积（㎡）")
    investment_wan: Amount(INVESTMENT_MAX_WAN) | None = Field(None, title="总投资（万元）")
    lon: Amount(123.0, 117.0) | None = Field(None, title="经度")
    lat: Amount(32.0, 28.0) | None = Field(None, title="纬度")


class ProjectIn(ProjectFields):
    project_code: codes.ProjectCode() = Field(title="项目代码", description="投资项目代码，如 2024-330106-47-01-123456")
    name: Text(200, 1) = Field(title="项目名称")
    district: Text(10, 1) = Field(title="所属区县")


class ProjectUpdate(ProjectFields):
    version: Version = Field(title="版本号")


def get_by_code(conn: Connection, code: str) -> dict | None:
    """The project of a national project code, as the caller may see it (None: no such project in its scope)."""
    row = conn.execute(sa.select(projects).where(projects.c.project_code == code)).mappings().first()
    return dict(row) if row else None


def require(conn: Connection, code: str, field: str = "project_code") -> dict:
    """The project of ``code``: 422 ``invalid_project_code`` for a malformed code, 404 when there is none (or it lies
    outside the caller's data scope: the two are not told apart)."""
    codes.check(code, field)
    row = get_by_code(conn, code)
    if row is None:
        raise NotFound("project_not_found", f"项目库中没有项目代码为「{code}」的项目，或不在您的数据范围内。", field)
    return row


def find(conn: Connection, code: str) -> dict | None:
    """A project by its national project code or by its site project number (``code``, what the standardized-site
    registration has always taken)."""
    p = projects
    row = (
        conn.execute(sa.select(p).where(sa.or_(p.c.project_code == code, p.c.code == code)).order_by(p.c.id).limit(1))
        .mappings()
        .first()
    )
    return dict(row) if row else None


def holds_permit(project: dict, permit_no: str) -> bool:
    """Whether ``permit_no`` is one of the project's construction permit numbers."""
    return permit_no == project.get("permit_no") or permit_no in (project.get("permit_nos") or [])


def mark_supervised(conn: Connection, project_id: int, day: dt.date) -> None:
    """The day the project came under standardized-site supervision (its registration), unless already known."""
    p = projects
    conn.execute(sa.update(p).where(p.c.id == project_id, p.c.st_supervised_on.is_(None)).values(st_supervised_on=day))


# -- checks -------------------------------------------------------------------------------------------------------


def _check_choices(data: dict) -> None:
    if data.get("district") is not None and data["district"] not in DISTRICT_NAMES:
        raise Invalid(
            "unknown_district",
            f"「所属区县」应为杭州市的区、县（市）之一（{'、'.join(DISTRICT_NAMES)}），不是「{data['district']}」。",
            "district",
        )
    if data.get("project_type") is not None and data["project_type"] not in PROJECT_TYPES:
        raise Invalid(
            "unknown_project_type",
            f"「工程类别」应为{'、'.join(PROJECT_TYPES)}之一，不是「{data['project_type']}」。",
            "project_type",
        )


def _check_order(row: dict) -> None:
    """Stage days in the order of the life cycle (a later stage not before an earlier one)."""
    last: tuple[str, dt.date] | None = None
    for col, label in STAGE_DATES:
        day = row.get(col)
        if day is None:
            continue
        if last is not None and day < last[1]:
            raise Invalid(
                "stage_out_of_order",
                f"「{label}」{day.isoformat()} 早于「{last[0]}」{last[1].isoformat()}：各阶段日期应按立项、规划许可、"
                "施工图审查、施工许可、开工、纳入标化监管、竣工验收的顺序。",
                col,
            )
        last = (label, day)


def _check_units(conn: Connection, data: dict) -> None:
    """Units named by credit code are enterprises of the enterprise register (when the register is installed)."""
    if conn.execute(sa.text("SELECT to_regclass('enterprises') IS NOT NULL")).scalar() is not True:
        return
    for unit, title in UNITS:
        uscc = data.get(f"{unit}_uscc")
        if uscc is None:
            continue
        known = conn.execute(sa.text("SELECT 1 FROM enterprises WHERE uscc = :u"), {"u": uscc.upper()}).scalar()
        if known is None:
            raise Invalid(
                "unknown_enterprise",
                f"{title}的统一社会信用代码「{uscc}」不在企业库中，请先在企业库登记该企业。",
                f"{unit}_uscc",
            )


def _point(conn: Connection, row: dict) -> dict | None:
    """The site point as GeoJSON, checked to lie in the project's district (None: no point given)."""
    lon, lat = row.get("lon"), row.get("lat")
    if lon is None and lat is None:
        return None
    if lon is None or lat is None:
        field = "lat" if lon is not None else "lon"
        raise Invalid("incomplete_point", "经度和纬度应同时填写（或同时不填）。", field)
    inside = conn.execute(
        sa.text("SELECT name FROM districts WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) LIMIT 1"),
        {"x": lon, "y": lat},
    ).scalar()
    if inside != row.get("district"):
        where = f"位于{inside}" if inside else "不在杭州市范围内"
        raise Invalid(
            "outside_district",
            f"坐标（{lon}, {lat}）{where}，与所属区县「{row.get('district')}」不符。",
            "lon",
        )
    return {"type": "Point", "coordinates": [lon, lat]}


def _values(conn: Connection, data: dict, current: dict | None) -> dict:
    """The columns to write from checked fields (``current``: the row being changed)."""
    _check_choices(data)
    merged = {**(current or {}), **data}
    _check_order(merged)
    _check_units(conn, data)
    values = {k: v for k, v in data.items() if k not in ("lon", "lat", "permit_nos")}
    for unit, _ in UNITS:
        if values.get(f"{unit}_uscc"):
            values[f"{unit}_uscc"] = values[f"{unit}_uscc"].upper()
    if "permit_nos" in data:
        nos = list(dict.fromkeys(data["permit_nos"] or []))
        values["permit_nos"], values["permit_no"] = nos, (nos[0] if nos else None)
    if "lon" in data or "lat" in data or ("district" in data and current and current.get("geom")):
        if "lon" not in data and current and current.get("geom"):
            merged["lon"], merged["lat"] = current["geom"]["coordinates"]
        values["geom"] = _point(conn, merged)
    return values


# -- reads and writes ----------------------------------------------------------------------------------------------


def view(row: dict) -> dict:
    """A project as the API shows it."""
    out = {k: v for k, v in row.items() if k not in ("geom", "boundary")}
    geom = row.get("geom")
    out["lon"], out["lat"] = geom["coordinates"] if geom else (None, None)
    out["geometry"] = geom
    out["boundary"] = row.get("boundary")
    out["timeline"] = [
        {"stage": stage, "label": label, "date": row.get(col), "reached": row.get(col) is not None}
        for stage, col, label in STAGES
        if col
    ]
    return out


def create(conn: Connection, body: ProjectIn, who: Any) -> dict:
    data = body.model_dump(exclude_unset=True)
    code = codes.check(data.pop("project_code"))
    taken = conn.execute(sa.text("SELECT 1 FROM projects WHERE project_code = :c"), {"c": code}).scalar()
    if taken:
        raise Invalid("duplicate_project_code", f"项目代码「{code}」已在项目库中登记，不能重复登记。", "project_code")
    values = _values(conn, data, None)
    p = projects
    row = (
        conn.execute(
            sa.insert(p)
            .values(project_code=code, code=code, **values, created_by=who.user, updated_by=who.user)
            .returning(*p.c)
        )
        .mappings()
        .one()
    )
    audit.record(conn, who.user, "create", "projects", row["id"], None, dict(row), who.client, user_id=who.user_id)
    return dict(row)


def update(conn: Connection, code: str, body: ProjectUpdate, who: Any) -> dict:
    before = require(conn, code)
    p = projects
    locked = conn.execute(sa.select(p.c.version).where(p.c.id == before["id"]).with_for_update()).scalar()
    if locked != body.version:
        raise StaleVersion(locked, body.version, "项目")
    data = body.model_dump(exclude={"version"}, exclude_unset=True)
    for required in ("name", "district"):
        if required in data and data[required] is None:
            raise Invalid("required", f"「{ProjectIn.model_fields[required].title}」不能为空。", required)
    if not data:
        return before
    values = _values(conn, data, before)
    after = (
        conn.execute(
            sa.update(p)
            .where(p.c.id == before["id"])
            .values(**values, version=p.c.version + 1, updated_at=sa.func.now(), updated_by=who.user)
            .returning(*p.c)
        )
        .mappings()
        .one()
    )
    audit.record(
        conn, who.user, "update", "projects", before["id"], before, dict(after), who.client, user_id=who.user_id
    )
    return dict(after)


SORTS = {
    "project_code": projects.c.project_code.asc().nulls_last(),
    "-project_code": projects.c.project_code.desc().nulls_last(),
    "name": projects.c.name.asc(),
    "-updated_at": projects.c.updated_at.desc(),
    "-approved_on": projects.c.approved_on.desc().nulls_last(),
    "stage": sa.case({s: i for i, s in enumerate(STAGE_NAMES)}, value=projects.c.stage),
}
SEARCH = ("project_code", "code", "name", "permit_no", "address", "builder_name", "construction_name")


def search_filter(q: str) -> Any:
    """Code, name, address, units or any permit number containing ``q`` (the migration's trigram index)."""
    doc = sa.text(" || ' ' || ".join(f"coalesce(projects.{c}::text, '')" for c in SEARCH))
    like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return sa.or_(sa.literal_column(f"({doc.text})").ilike(like), sa.literal(q) == sa.any_(projects.c.permit_nos))


def query(
    conn: Connection,
    q: str | None = None,
    district: str | None = None,
    stage: str | None = None,
    project_type: str | None = None,
    sort: str = "project_code",
    limit: int | None = 20,
    offset: int = 0,
) -> tuple[int, list[dict]]:
    p = projects
    conds = []
    if q and q.strip():
        conds.append(search_filter(q.strip()))
    if district:
        conds.append(p.c.district == district)
    if stage:
        conds.append(p.c.stage == stage)
    if project_type:
        conds.append(p.c.project_type == project_type)
    where = sa.and_(sa.true(), *conds)
    total = conn.execute(sa.select(sa.func.count()).select_from(p).where(where)).scalar_one()
    stmt = sa.select(p).where(where).order_by(SORTS[sort], p.c.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return total, [dict(r) for r in conn.execute(stmt).mappings()]
