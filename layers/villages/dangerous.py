"""The dangerous-house archive (农村危房档案, VT-08), the counties' own entry (VT-09) and the families in difficulty
(VT-10): ``/api/villages/dangerous``.

- **Lists** (``/options``): governance methods, governance stages (ordered; ``done`` = governance finished) and the
  categories of families in difficulty, configurable by administrators (``danger.options``). The API takes their
  codes; the Excel import their Chinese names.
- **Search** by district, township, village, owner name, danger grade, structure type, floors, governance method,
  stage, year and family category (``difficult=true`` keeps the families in difficulty); **statistics** over the
  same filters, counted by any of those fields; the Excel export of a search.
- **Entry** by form (``POST``, ``PATCH`` with the version read) and by Excel (``/import``: all or nothing, refused
  rows named by their Excel row number), scoped: a district account enters only its own district's houses (the
  counties without a system of their own, 建德市、淳安县、桐庐县, keep their archive here).
- **Personal data**: owner name, ID number and phone are masked in every answer; ``POST /{id}/unmask`` with
  ``person.unmask`` shows them in clear and is logged; an export by a holder of that permission is clear and logged.
- **The farmhouse**: a row linked to a farmhouse (``farmhouse_code``) keeps the farmhouse's summary columns in step
  — ``danger_grade`` = the grade, ``difficult_family`` = a category is set, ``governance`` = 未治理 at the first
  stage, 已治理 at a finished stage, else the method's name.

Permissions: ``farmhouse.view`` to read, ``farmhouse.edit`` to enter, ``farmhouse.import`` to import,
``farmhouse.export`` to export; row-level security scopes everything to the principal's district.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any, Literal
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit, personal, sheets
from geo.bounds import ITEM_CODE, MOBILE, RECORD_CODE, RESIDENT_ID, Amount, Code, Day, RecordId, Text, Version, Whole
from geo.divisions import DISTRICT_NAMES
from geo.errors import Conflict, Invalid, NotFound, StaleVersion
from geo.modules import Page, log_labels, pages, permissions
from layers.persons import UNMASK

PREFIX = "/api/villages/dangerous"
VIEW, EDIT, IMPORT, EXPORT = "farmhouse.view", "farmhouse.edit", "farmhouse.import", "farmhouse.export"
OPTIONS_EDIT = "danger.options"
MASKED = {"owner_name": "name", "owner_id_number": "id_number", "owner_phone": "phone"}
KINDS = {"method": "治理方式", "stage": "治理阶段", "family": "困难家庭类别"}
PAGE_MAX = 200
EXPORT_MAX = 50_000

router = APIRouter(prefix=PREFIX, tags=["农村危房"])

permissions({OPTIONS_EDIT: "配置危房治理选项", "danger.brief": "生成危房分析简报"}, group="智慧村镇")
log_labels(
    objects={
        "vil_dangerous": "危房档案",
        "vil_danger_options": "危房治理选项",
        "vil_danger_reports": "危房治理进度上报",
        "vil_danger_briefs": "危房分析简报",
    },
    actions={"brief": "生成简报"},
)
pages(Page("/villages/dangerous", "农村危房", "智慧村镇", VIEW, order=20))

COLUMNS = (
    "id", "code", "farmhouse_id", "district", "township", "village", "address", "owner_name", "owner_id_number",
    "owner_phone", "grade", "appraised_on", "appraisal_agency", "structure", "floors", "built_year", "method",
    "stage", "stage_on", "year", "family", "source", "version", "created_at", "updated_at", "updated_by",
)  # fmt: skip
SELECT = f"""
    SELECT {", ".join("d." + c for c in COLUMNS)}, ST_X(d.geom) AS lon, ST_Y(d.geom) AS lat, f.code AS farmhouse_code
      FROM vil_dangerous d LEFT JOIN farmhouses f ON f.id = d.farmhouse_id
"""


# -- the configurable lists ----------------------------------------------------------------------------------------
def options(conn: Connection, active_only: bool = False) -> dict[str, list[dict]]:
    rows = conn.execute(
        sa.text(
            "SELECT kind, code, name, seq, done, active, version FROM vil_danger_options"
            + (" WHERE active" if active_only else "")
            + " ORDER BY kind, seq, code"
        )
    ).mappings()
    out: dict[str, list[dict]] = {k: [] for k in KINDS}
    for r in rows:
        out[r["kind"]].append(dict(r))
    return out


def names_of(conn: Connection) -> dict[str, dict[str, str]]:
    """kind → code → name (retired entries included: old records carry them)."""
    return {k: {o["code"]: o["name"] for o in v} for k, v in options(conn).items()}


def _check_option(conn: Connection, kind: str, code: str | None, field: str) -> None:
    if code is None:
        return
    row = conn.execute(
        sa.text("SELECT active FROM vil_danger_options WHERE kind = :k AND code = :c"), {"k": kind, "c": code}
    ).first()
    if row is None or not row.active:
        allowed = [o["code"] + "（" + o["name"] + "）" for o in options(conn, True)[kind]]
        raise Invalid(
            f"unknown_{kind}", f"「{KINDS[kind]}」不在可选范围内：{'、'.join(allowed)}。", field, {"value": code}
        )


def governance_summary(conn: Connection, stage: str, method: str | None) -> str:
    """The farmhouse's ``governance`` summary for an archive row at ``stage`` by ``method``."""
    st = conn.execute(
        sa.text(
            "SELECT done, seq = (SELECT min(seq) FROM vil_danger_options WHERE kind = 'stage') AS first "
            "FROM vil_danger_options WHERE kind = 'stage' AND code = :c"
        ),
        {"c": stage},
    ).one()
    if st.done:
        return "已治理"
    if st.first or method is None:
        return "未治理"
    return names_of(conn)["method"][method]


# -- request bodies ------------------------------------------------------------------------------------------------
OptionCode = Code(ITEM_CODE)


class DangerIn(BaseModel):
    """One dangerous house as entered (form or Excel row)."""

    model_config = ConfigDict(extra="forbid")

    code: Code(RECORD_CODE) = Field(title="危房编号")  # type: ignore[valid-type]
    farmhouse_code: Code(RECORD_CODE) | None = Field(None, title="农房编号")  # type: ignore[valid-type]
    district: Text(20, 1) = Field(title="区县")  # type: ignore[valid-type]
    township: Text(50) | None = Field(None, title="乡镇街道")  # type: ignore[valid-type]
    village: Text(50) | None = Field(None, title="行政村")  # type: ignore[valid-type]
    address: Text(200) | None = Field(None, title="地址")  # type: ignore[valid-type]
    lon: Amount(122.0, 118.0) | None = Field(None, title="经度")  # type: ignore[valid-type]
    lat: Amount(31.0, 29.0) | None = Field(None, title="纬度")  # type: ignore[valid-type]
    owner_name: Text(50, 1) = Field(title="户主姓名")  # type: ignore[valid-type]
    owner_id_number: Code(RESIDENT_ID) | None = Field(None, title="身份证号")  # type: ignore[valid-type]
    owner_phone: Code(MOBILE) | None = Field(None, title="联系电话")  # type: ignore[valid-type]
    grade: Literal["A", "B", "C", "D"] = Field(title="危险等级")
    appraised_on: Day() | None = Field(None, title="鉴定日期")  # type: ignore[valid-type]
    appraisal_agency: Text(100) | None = Field(None, title="鉴定机构")  # type: ignore[valid-type]
    structure: Literal["砖混", "砖木", "框架", "木结构", "土木", "石结构", "其他"] | None = Field(
        None, title="结构类型"
    )
    floors: Whole(1, 10) | None = Field(None, title="层数")  # type: ignore[valid-type]
    built_year: Whole(1900, 2100) | None = Field(None, title="建成年份")  # type: ignore[valid-type]
    method: OptionCode | None = Field(None, title="治理方式")  # type: ignore[valid-type]
    stage: OptionCode = Field(title="治理阶段")  # type: ignore[valid-type]
    stage_on: Day() | None = Field(None, title="阶段日期")  # type: ignore[valid-type]
    year: Whole(2000, 2100) = Field(title="治理年度")  # type: ignore[valid-type]
    family: OptionCode | None = Field(None, title="困难家庭类别")  # type: ignore[valid-type]


class DangerUpdate(BaseModel):
    """Changed fields of an archive row, with the version read."""

    model_config = ConfigDict(extra="forbid")

    version: Version = Field(title="版本号")  # type: ignore[valid-type]
    farmhouse_code: Code(RECORD_CODE) | None = Field(None, title="农房编号")  # type: ignore[valid-type]
    township: Text(50) | None = Field(None, title="乡镇街道")  # type: ignore[valid-type]
    village: Text(50) | None = Field(None, title="行政村")  # type: ignore[valid-type]
    address: Text(200) | None = Field(None, title="地址")  # type: ignore[valid-type]
    lon: Amount(122.0, 118.0) | None = Field(None, title="经度")  # type: ignore[valid-type]
    lat: Amount(31.0, 29.0) | None = Field(None, title="纬度")  # type: ignore[valid-type]
    owner_name: Text(50, 1) | None = Field(None, title="户主姓名")  # type: ignore[valid-type]
    owner_id_number: Code(RESIDENT_ID) | None = Field(None, title="身份证号")  # type: ignore[valid-type]
    owner_phone: Code(MOBILE) | None = Field(None, title="联系电话")  # type: ignore[valid-type]
    grade: Literal["A", "B", "C", "D"] | None = Field(None, title="危险等级")
    appraised_on: Day() | None = Field(None, title="鉴定日期")  # type: ignore[valid-type]
    appraisal_agency: Text(100) | None = Field(None, title="鉴定机构")  # type: ignore[valid-type]
    structure: Literal["砖混", "砖木", "框架", "木结构", "土木", "石结构", "其他"] | None = Field(
        None, title="结构类型"
    )
    floors: Whole(1, 10) | None = Field(None, title="层数")  # type: ignore[valid-type]
    built_year: Whole(1900, 2100) | None = Field(None, title="建成年份")  # type: ignore[valid-type]
    method: OptionCode | None = Field(None, title="治理方式")  # type: ignore[valid-type]
    year: Whole(2000, 2100) | None = Field(None, title="治理年度")  # type: ignore[valid-type]
    family: OptionCode | None = Field(None, title="困难家庭类别")  # type: ignore[valid-type]


class OptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text(20, 1) = Field(title="名称")  # type: ignore[valid-type]
    seq: Whole(1, 999) = Field(title="顺序")  # type: ignore[valid-type]
    done: bool = Field(False, title="治理完成")
    active: bool = Field(True, title="启用")
    version: Version | None = Field(None, title="版本号")  # type: ignore[valid-type]


# -- checks and writes ---------------------------------------------------------------------------------------------
def _require_district(who: Principal, district: str, field: str = "district") -> None:
    if district not in DISTRICT_NAMES:
        raise Invalid("unknown_district", f"「{district}」不是杭州市的区县。", field, {"value": district})
    if who.district and who.district != district:
        raise ApiError(
            403, "out_of_scope", f"只能录入本区县（{who.district}）的危房，不能录入{district}的。", field,
            {"district": district},
        )  # fmt: skip


def _farmhouse(conn: Connection, code: str, district: str) -> dict:
    row = conn.execute(
        sa.text(
            "SELECT id, district, township, village, address, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM farmhouses "
            "WHERE code = :c AND deleted_at IS NULL"
        ),
        {"c": code},
    ).mappings().first()  # fmt: skip
    if row is None:
        raise Invalid("farmhouse_not_found", f"农房编号「{code}」不存在（或不在您的区县）。", "farmhouse_code")
    if row["district"] != district:
        raise Invalid(
            "farmhouse_district", f"农房「{code}」属于{row['district']}，与危房所在区县{district}不一致。",
            "farmhouse_code",
        )  # fmt: skip
    return dict(row)


def _checked(conn: Connection, data: dict, kept: dict | None = None) -> dict:
    """The row to store from checked input: options known and active (an entry ``kept`` unchanged from the stored
    row may have been retired since), the farmhouse found; the farmhouse's place fills the place fields left
    empty."""
    for kind in KINDS:
        if kept is None or data.get(kind) != kept.get(kind):
            _check_option(conn, kind, data.get(kind), kind)
    if (data.get("lon") is None) != (data.get("lat") is None):
        raise Invalid("incomplete_position", "经度和纬度须同时填写或同时不填。", "lon" if data.get("lat") else "lat")
    code = data.pop("farmhouse_code", None)
    data["farmhouse_id"] = None
    if code:
        fh = _farmhouse(conn, code, data["district"])
        data["farmhouse_id"] = fh["id"]
        for k in ("township", "village", "address", "lon", "lat"):
            if data.get(k) is None:
                data[k] = fh[k]
        if data.get("lon") is None:
            data["lon"], data["lat"] = fh["lon"], fh["lat"]
    return data


def _sync_farmhouse(conn: Connection, row: dict, actor: str, unlinked: int | None = None) -> None:
    """Keep the linked farmhouse's summary columns in step with its archive row (and clear a farmhouse unlinked)."""
    if unlinked is not None and unlinked != row.get("farmhouse_id"):
        conn.execute(
            sa.text(
                "UPDATE farmhouses SET danger_grade = NULL, governance = NULL, difficult_family = false, "
                "version = version + 1, updated_at = now(), updated_by = :a WHERE id = :i"
            ),
            {"i": unlinked, "a": actor},
        )
    if row.get("farmhouse_id") is None:
        return
    conn.execute(
        sa.text(
            "UPDATE farmhouses SET danger_grade = :g, governance = :gov, difficult_family = :fam, "
            "version = version + 1, updated_at = now(), updated_by = :a WHERE id = :i"
        ),
        {
            "i": row["farmhouse_id"],
            "g": row["grade"],
            "gov": governance_summary(conn, row["stage"], row.get("method")),
            "fam": row.get("family") is not None,
            "a": actor,
        },
    )


WRITABLE = (
    "code", "farmhouse_id", "district", "township", "village", "address", "owner_name", "owner_id_number",
    "owner_phone", "grade", "appraised_on", "appraisal_agency", "structure", "floors", "built_year", "method",
    "stage", "stage_on", "year", "family",
)  # fmt: skip


def _geom_sql(data: dict) -> str:
    return "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)" if data.get("lon") is not None else "NULL"


def insert(conn: Connection, data: dict, actor: str, source: str, client: str | None, user_id: int | None) -> int:
    data = _checked(conn, dict(data))
    if conn.execute(sa.text("SELECT 1 FROM vil_dangerous WHERE code = :c"), {"c": data["code"]}).first():
        raise Conflict("duplicate_code", f"危房编号「{data['code']}」已存在。", "code")
    _linked_once(conn, data.get("farmhouse_id"), None)
    cols = ", ".join(WRITABLE)
    vals = ", ".join(":" + c for c in WRITABLE)
    new_id = conn.execute(
        sa.text(
            f"INSERT INTO vil_dangerous ({cols}, geom, source, created_by, updated_by) "
            f"VALUES ({vals}, {_geom_sql(data)}, :source, :actor, :actor) RETURNING id"
        ),
        {**{c: data.get(c) for c in WRITABLE}, "lon": data.get("lon"), "lat": data.get("lat"), "source": source,
         "actor": actor},
    ).scalar_one()  # fmt: skip
    _sync_farmhouse(conn, data, actor)
    audit.record(conn, actor, "create", "vil_dangerous", new_id, None, _logged(data), client, user_id=user_id)
    return new_id


def _linked_once(conn: Connection, farmhouse_id: int | None, own_id: int | None) -> None:
    if farmhouse_id is None:
        return
    other = conn.execute(
        sa.text("SELECT code FROM vil_dangerous WHERE farmhouse_id = :f AND id IS DISTINCT FROM :i"),
        {"f": farmhouse_id, "i": own_id},
    ).scalar()
    if other is not None:
        raise Conflict("farmhouse_linked", f"该农房已登记在危房档案「{other}」中。", "farmhouse_code")


def _logged(data: dict) -> dict:
    """What the operation log keeps of a row: personal data masked, dates as text."""
    out = personal.mask_row({k: data.get(k) for k in WRITABLE if k in data}, MASKED)
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in out.items()}


def get_row(conn: Connection, house_id: int) -> dict:
    row = conn.execute(sa.text(SELECT + " WHERE d.id = :i"), {"i": house_id}).mappings().first()
    if row is None:
        raise NotFound("not_found", "危房档案不存在或不在您的数据范围内。")
    return dict(row)


def update(conn: Connection, house_id: int, changes: dict, actor: str, client: str | None, user_id: int | None) -> dict:
    before = get_row(conn, house_id)
    conn.execute(sa.text("SELECT 1 FROM vil_dangerous WHERE id = :i FOR UPDATE"), {"i": house_id})
    version = changes.pop("version")
    for k in ("owner_name", "grade", "year"):
        if k in changes and changes[k] is None:
            raise Invalid("required", "该项不能清空。", k)
    if version != before["version"]:
        raise StaleVersion(before["version"], version, "危房档案")
    data = {k: before[k] for k in WRITABLE} | {"lon": before["lon"], "lat": before["lat"]}
    data["farmhouse_code"] = before["farmhouse_code"]
    data |= changes
    data = _checked(conn, data, kept=before)
    _linked_once(conn, data.get("farmhouse_id"), house_id)
    sets = ", ".join(f"{c} = :{c}" for c in WRITABLE if c != "code")
    conn.execute(
        sa.text(
            f"UPDATE vil_dangerous SET {sets}, geom = {_geom_sql(data)}, version = version + 1, updated_at = now(), "
            "updated_by = :actor WHERE id = :id"
        ),
        {**{c: data.get(c) for c in WRITABLE}, "lon": data.get("lon"), "lat": data.get("lat"), "actor": actor,
         "id": house_id},
    )  # fmt: skip
    _sync_farmhouse(conn, data, actor, unlinked=before["farmhouse_id"])
    audit.record(
        conn, actor, "update", "vil_dangerous", house_id, _logged(before), _logged(data), client, user_id=user_id
    )
    return get_row(conn, house_id)


# -- reads ---------------------------------------------------------------------------------------------------------
def view(row: dict, names: dict[str, dict[str, str]], unmasked: bool = False) -> dict:
    out = row if unmasked else personal.mask_row(row, MASKED)
    out = {k: v.isoformat() if isinstance(v, dt.date | dt.datetime) else v for k, v in out.items()}
    out["method_name"] = names["method"].get(row["method"]) if row["method"] else None
    out["stage_name"] = names["stage"].get(row["stage"])
    out["family_name"] = names["family"].get(row["family"]) if row["family"] else None
    return out


class Filters(BaseModel):
    """The archive's search fields (also those of the statistics and the export)."""

    district: Text(20) | None = Field(None, title="区县")  # type: ignore[valid-type]
    township: Text(50) | None = Field(None, title="乡镇街道")  # type: ignore[valid-type]
    village: Text(50) | None = Field(None, title="行政村")  # type: ignore[valid-type]
    owner: Text(50) | None = Field(None, title="户主姓名")  # type: ignore[valid-type]
    code: Text(40) | None = Field(None, title="危房编号")  # type: ignore[valid-type]
    grade: list[Literal["A", "B", "C", "D"]] | None = Field(None, title="危险等级")
    structure: Text(10) | None = Field(None, title="结构类型")  # type: ignore[valid-type]
    floors: Whole(1, 10) | None = Field(None, title="层数")  # type: ignore[valid-type]
    method: Text(32) | None = Field(None, title="治理方式")  # type: ignore[valid-type]
    stage: Text(32) | None = Field(None, title="治理阶段")  # type: ignore[valid-type]
    year: Whole(2000, 2100) | None = Field(None, title="治理年度")  # type: ignore[valid-type]
    family: Text(32) | None = Field(None, title="困难家庭类别")  # type: ignore[valid-type]
    difficult: bool | None = Field(None, title="困难家庭")


def filters(
    district: str | None = Query(None, max_length=20, title="区县"),
    township: str | None = Query(None, max_length=50, title="乡镇街道"),
    village: str | None = Query(None, max_length=50, title="行政村"),
    owner: str | None = Query(None, max_length=50, title="户主姓名（包含）"),
    code: str | None = Query(None, max_length=40, title="危房编号（前缀）"),
    grade: list[Literal["A", "B", "C", "D"]] | None = Query(None, title="危险等级（可多选）"),
    structure: str | None = Query(None, max_length=10, title="结构类型"),
    floors: int | None = Query(None, ge=1, le=10, title="层数"),
    method: str | None = Query(None, max_length=32, title="治理方式编码"),
    stage: str | None = Query(None, max_length=32, title="治理阶段编码"),
    year: int | None = Query(None, ge=2000, le=2100, title="治理年度"),
    family: str | None = Query(None, max_length=32, title="困难家庭类别编码"),
    difficult: bool | None = Query(None, title="仅困难家庭（true）或仅非困难家庭（false）"),
) -> Filters:
    return Filters(
        district=district, township=township, village=village, owner=owner, code=code, grade=grade,
        structure=structure, floors=floors, method=method, stage=stage, year=year, family=family,
        difficult=difficult,
    )  # fmt: skip


def where(f: Filters) -> tuple[str, dict]:
    """The WHERE clause (over ``d``, the archive) and its parameters."""
    parts, params = ["true"], {}
    for col in ("district", "township", "village", "structure", "floors", "method", "stage", "year", "family"):
        value = getattr(f, col)
        if value is not None and value != "":
            parts.append(f"d.{col} = :{col}")
            params[col] = value
    if f.owner:
        parts.append("d.owner_name LIKE :owner")
        params["owner"] = "%" + f.owner.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if f.code:
        parts.append("d.code LIKE :code")
        params["code"] = f.code.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if f.grade:
        parts.append("d.grade = ANY(:grades)")
        params["grades"] = list(f.grade)
    if f.difficult is not None:
        parts.append("d.family IS NOT NULL" if f.difficult else "d.family IS NULL")
    return " AND ".join(parts), params


def search(conn: Connection, f: Filters, page: int, size: int) -> dict:
    clause, params = where(f)
    total = conn.execute(sa.text(f"SELECT count(*) FROM vil_dangerous d WHERE {clause}"), params).scalar_one()
    rows = conn.execute(
        sa.text(SELECT + f" WHERE {clause} ORDER BY d.district, d.code LIMIT :lim OFFSET :off"),
        {**params, "lim": size, "off": (page - 1) * size},
    ).mappings()
    names = names_of(conn)
    return {"total": total, "page": page, "size": size, "items": [view(dict(r), names) for r in rows]}


GROUPS = {
    "district": ("d.district", "区县"),
    "township": ("d.township", "乡镇街道"),
    "grade": ("d.grade", "危险等级"),
    "structure": ("d.structure", "结构类型"),
    "floors": ("d.floors", "层数"),
    "method": ("d.method", "治理方式"),
    "stage": ("d.stage", "治理阶段"),
    "year": ("d.year", "治理年度"),
    "family": ("d.family", "困难家庭类别"),
}


def statistics(conn: Connection, f: Filters, by: str) -> dict:
    """Counts of the filtered houses by ``by`` (and by grade within each group), with the families in difficulty."""
    clause, params = where(f)
    expr = GROUPS[by][0]
    rows = conn.execute(
        sa.text(f"""
            SELECT {expr} AS key, count(*) AS total,
                   count(*) FILTER (WHERE d.grade = 'A') AS a, count(*) FILTER (WHERE d.grade = 'B') AS b,
                   count(*) FILTER (WHERE d.grade = 'C') AS c, count(*) FILTER (WHERE d.grade = 'D') AS d,
                   count(*) FILTER (WHERE d.family IS NOT NULL) AS difficult,
                   count(*) FILTER (WHERE s.done) AS governed
              FROM vil_dangerous d LEFT JOIN vil_danger_options s ON s.kind = 'stage' AND s.code = d.stage
             WHERE {clause}
             GROUP BY 1 ORDER BY 1 NULLS LAST
        """),
        params,
    ).mappings()
    names = names_of(conn).get(by, {})
    items = []
    for r in rows:
        item = dict(r)
        item["label"] = names.get(r["key"], r["key"]) if r["key"] is not None else "未填写"
        items.append(item)
    keys = ("total", "a", "b", "c", "d", "difficult", "governed")
    return {"by": by, "title": GROUPS[by][1], "items": items, "total": {k: sum(i[k] for i in items) for k in keys}}


# -- Excel ---------------------------------------------------------------------------------------------------------
# The documented import (and export) columns: header title → field. 治理方式、治理阶段、困难家庭类别 by their names.
SHEET = (
    ("code", "危房编号"), ("farmhouse_code", "农房编号"), ("district", "区县"), ("township", "乡镇街道"),
    ("village", "行政村"), ("address", "地址"), ("lon", "经度"), ("lat", "纬度"), ("owner_name", "户主姓名"),
    ("owner_id_number", "身份证号"), ("owner_phone", "联系电话"), ("grade", "危险等级"), ("appraised_on", "鉴定日期"),
    ("appraisal_agency", "鉴定机构"), ("structure", "结构类型"), ("floors", "层数"), ("built_year", "建成年份"),
    ("method", "治理方式"), ("stage", "治理阶段"), ("stage_on", "阶段日期"), ("year", "治理年度"),
    ("family", "困难家庭类别"),
)  # fmt: skip
REQUIRED = ("code", "district", "owner_name", "grade", "stage", "year")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cell(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def import_xlsx(conn: Connection, content: bytes, commit: bool, who: Principal) -> dict:
    """All or nothing: rows are checked and written in a savepoint; any refused row (or a dry run) rolls back all.
    A code already in the archive updates that row (within the principal's scope); a new code adds one."""
    ws = sheets.open_workbook(content).worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
    by_title = {title: key for key, title in SHEET}
    columns = {i: by_title[h] for i, h in enumerate(header) if h in by_title}
    missing = [title for key, title in SHEET if key in REQUIRED and key not in columns.values()]
    if missing:
        raise Invalid(
            "missing_columns", f"表头缺少列：{'、'.join(missing)}（第 1 行应为表头）。", "file",
            {"missing": missing, "expected": [t for _, t in SHEET]},
        )  # fmt: skip
    by_name = {k: {o["name"]: o["code"] for o in v} for k, v in options(conn, True).items()}
    titles = dict(SHEET)
    report = sheets.report(commit, rows=0, created=0, updated=0)
    seen: dict[str, int] = {}
    outer = conn.begin_nested()
    for number, values in sheets.filled_rows(rows):
        report["rows"] += 1
        data = {key: _cell(values[i]) if i < len(values) else None for i, key in columns.items()}
        try:
            with conn.begin_nested():
                for kind in KINDS:
                    name = data.get(kind)
                    if name is not None:
                        if str(name) not in by_name[kind]:
                            raise Invalid(
                                f"unknown_{kind}",
                                f"「{KINDS[kind]}」应为：{'、'.join(by_name[kind])}，不能是「{name}」。",
                                kind,
                            )
                        data[kind] = by_name[kind][str(name)]
                for k in ("code", "farmhouse_code", "owner_id_number", "owner_phone"):
                    if data.get(k) is not None:
                        data[k] = str(data[k])
                try:
                    body = DangerIn.model_validate(data)
                except ValidationError as e:
                    err = e.errors()[0]
                    field = str(err["loc"][0]) if err.get("loc") else None
                    raise Invalid(err["type"], f"「{titles.get(field or '', field)}」{err['msg']}", field) from None
                if body.code in seen:
                    raise Invalid("duplicate_row", f"危房编号与第 {seen[body.code]} 行重复。", "code")
                seen[body.code] = number
                _require_district(who, body.district)
                existing = conn.execute(
                    sa.text("SELECT id, version FROM vil_dangerous WHERE code = :c"), {"c": body.code}
                ).first()
                values_in = body.model_dump()
                if existing is None:
                    insert(conn, values_in, who.user, "import", who.client, who.user_id)
                    report["created"] += 1
                else:
                    values_in.pop("code")
                    stage = values_in.pop("stage")
                    district = values_in.pop("district")
                    if district != get_row(conn, existing.id)["district"]:
                        raise Invalid("district_changed", "已有档案的区县不能通过导入修改。", "district")
                    update(
                        conn, existing.id, {**values_in, "stage": stage, "version": existing.version}, who.user,
                        who.client, who.user_id,
                    )  # fmt: skip
                    report["updated"] += 1
        except (Invalid, Conflict) as e:
            column = (e.field or "").rsplit(".", 1)[-1]
            report["errors"].append(
                {"row": number, "column": titles.get(column, column or None), "code": e.code,
                 "message": f"第 {number} 行：{e.message}"}
            )  # fmt: skip
        except sa.exc.IntegrityError:
            report["errors"].append(
                {"row": number, "column": titles["code"], "code": "duplicate",
                 "message": f"第 {number} 行：危房编号已被使用（可能属于其他区县），不能重复登记。"}
            )  # fmt: skip
        except ApiError as e:
            report["errors"].append(
                {"row": number, "column": titles.get(e.field or "", None), "code": e.code,
                 "message": f"第 {number} 行：{e.message}"}
            )  # fmt: skip
    return sheets.conclude(conn, outer, report, commit, "危房档案", "vil_dangerous", who.user, who.client, who.user_id)


def export_xlsx(rows: list[dict], names: dict[str, dict[str, str]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "危房档案"
    ws.append([t for _, t in SHEET])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r in rows:
        line = []
        for key, _ in SHEET:
            v = r.get(key)
            if key in KINDS and v is not None:
                v = names[key].get(v, v)
            line.append(v)
        ws.append(line)
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# -- routes --------------------------------------------------------------------------------------------------------
@router.get("/options", summary="危房治理选项：治理方式、治理阶段（有序）、困难家庭类别")
def get_options(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    who.require(VIEW, "查看危房档案")
    return {"kinds": KINDS, **options(conn)}


@router.put("/options/{kind}/{code}", summary="新增或修改一个危房治理选项（管理员）")
def put_option(
    kind: Literal["method", "stage", "family"],
    code: OptionCode,  # type: ignore[valid-type]
    body: OptionIn,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(OPTIONS_EDIT, "配置危房治理选项")
    if body.done and kind != "stage":
        raise Invalid("done_not_stage", "只有治理阶段可以标记为「治理完成」。", "done")
    before = conn.execute(
        sa.text("SELECT * FROM vil_danger_options WHERE kind = :k AND code = :c FOR UPDATE"), {"k": kind, "c": code}
    ).mappings().first()  # fmt: skip
    clash = conn.execute(
        sa.text("SELECT code FROM vil_danger_options WHERE kind = :k AND name = :n AND code <> :c"),
        {"k": kind, "n": body.name, "c": code},
    ).scalar()
    if clash:
        raise Conflict("duplicate_name", f"「{body.name}」已被选项 {clash} 使用。", "name")
    params = {"k": kind, "c": code, "n": body.name, "s": body.seq, "d": body.done, "a": body.active, "u": who.user}
    if before is None:
        conn.execute(
            sa.text(
                "INSERT INTO vil_danger_options (kind, code, name, seq, done, active, created_by, updated_by) "
                "VALUES (:k, :c, :n, :s, :d, :a, :u, :u)"
            ),
            params,
        )
    else:
        if body.version is None:
            raise Invalid("version_required", "修改已有选项须提供读取时的版本号。", "version")
        if body.version != before["version"]:
            raise StaleVersion(before["version"], body.version, "选项")
        conn.execute(
            sa.text(
                "UPDATE vil_danger_options SET name = :n, seq = :s, done = :d, active = :a, version = version + 1, "
                "updated_at = now(), updated_by = :u WHERE kind = :k AND code = :c"
            ),
            params,
        )
    after = {"kind": kind, "code": code, "name": body.name, "seq": body.seq, "done": body.done, "active": body.active}
    audit.record(
        conn, who.user, "update" if before else "create", "vil_danger_options", None,
        {k: before[k] for k in after} if before else None, after, who.client, user_id=who.user_id,
    )  # fmt: skip
    return {"kinds": KINDS, **options(conn)}


@router.get("", summary="检索危房档案（户主姓名、身份证号、电话脱敏）")
def get_dangerous(
    f: Filters = Depends(filters),
    page: int = Query(1, ge=1, le=100_000, title="页码"),
    size: int = Query(50, ge=1, le=PAGE_MAX, title="每页条数"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require(VIEW, "查看危房档案")
    return search(conn, f, page, size) | {"can_unmask": who.can(UNMASK), "can_edit": who.can(EDIT)}


@router.get("/statistics", summary="危房统计：按区县、乡镇、等级、结构、层数、治理方式、阶段、年度或困难家庭类别")
def get_statistics(
    by: Literal["district", "township", "grade", "structure", "floors", "method", "stage", "year", "family"] = Query(
        "district", title="统计维度"
    ),
    f: Filters = Depends(filters),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require(VIEW, "查看危房统计")
    return statistics(conn, f, by)


@router.get("/export.xlsx", summary="导出危房档案（Excel；无「查看个人信息明文」权限时脱敏）")
def export_dangerous(
    f: Filters = Depends(filters),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> Response:
    who.require(EXPORT, "导出危房档案")
    clause, params = where(f)
    total = conn.execute(sa.text(f"SELECT count(*) FROM vil_dangerous d WHERE {clause}"), params).scalar_one()
    if total > EXPORT_MAX:
        raise Invalid("too_many_rows", f"符合条件的危房有 {total} 条，超过单次导出上限 {EXPORT_MAX} 条，请缩小范围。")
    rows = [
        dict(r)
        for r in conn.execute(sa.text(SELECT + f" WHERE {clause} ORDER BY d.district, d.code"), params).mappings()
    ]
    unmasked = who.can(UNMASK)
    if not unmasked:
        rows = [personal.mask_row(r, MASKED) for r in rows]
    audit.record(
        conn, who.user, "export", "vil_dangerous", None, None, None, who.client,
        {"format": "xlsx", "rows": len(rows), "unmasked": unmasked, "filters": f.model_dump(exclude_none=True)},
        who.user_id,
    )  # fmt: skip
    if unmasked:
        audit.record(
            conn, who.user, "unmask", "vil_dangerous", None, None, None, who.client,
            {"columns": list(MASKED), "export": True, "rows": len(rows)}, who.user_id,
        )  # fmt: skip
    disposition = f"attachment; filename=\"dangerous.xlsx\"; filename*=UTF-8''{quote('危房档案.xlsx')}"
    return Response(export_xlsx(rows, names_of(conn)), media_type=XLSX, headers={"Content-Disposition": disposition})


IMPORT_DOC = (
    "第 1 个工作表，第 1 行为表头，列名如下（顺序不限，多余的列忽略；* 为必填）："
    + "、".join(t + ("*" if k in REQUIRED else "") for k, t in SHEET)
    + "。治理方式、治理阶段、困难家庭类别填选项的中文名称（见 /options）；日期为 Excel 日期或 YYYY-MM-DD；"
    "危房编号已存在的行更新该档案（区县不能改），否则新增。任一行有误则整批不导入，报告按 Excel 行号列出错误。"
)


@router.post(
    "/import",
    summary="导入危房档案（Excel；mode=dry_run 试导入，commit 全部通过才导入；仅本区县）",
    description=IMPORT_DOC,
)
def import_dangerous(
    response: Response,
    file: UploadFile = File(...),
    mode: Literal["dry_run", "commit"] = Query("dry_run", title="模式"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(IMPORT, "导入危房档案")
    who.require(EDIT, "导入危房档案")
    report = import_xlsx(conn, file.file.read(), mode == "commit", who)
    if mode == "commit":
        response.status_code = 201
    return report


@router.get("/template.xlsx", summary="危房档案导入模板（列说明见接口文档）")
def template(who: Principal = Depends(principal)) -> Response:
    who.require(VIEW, "下载导入模板")
    disposition = f"attachment; filename=\"dangerous-template.xlsx\"; filename*=UTF-8''{quote('危房档案导入模板.xlsx')}"
    return Response(
        export_xlsx([], {k: {} for k in KINDS}), media_type=XLSX, headers={"Content-Disposition": disposition}
    )


@router.post("", status_code=201, summary="录入一处危房（区县账号仅限本区县）")
def create_dangerous(
    body: DangerIn, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> dict:
    who.require(EDIT, "录入危房档案")
    _require_district(who, body.district)
    new_id = insert(conn, body.model_dump(), who.user, "entry", who.client, who.user_id)
    return view(get_row(conn, new_id), names_of(conn))


@router.get("/{house_id:int}", summary="危房档案详情（含治理进度上报；个人信息脱敏）")
def get_one(
    house_id: RecordId,  # type: ignore[valid-type]
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require(VIEW, "查看危房档案")
    names = names_of(conn)
    out = view(get_row(conn, house_id), names)
    reports = conn.execute(
        sa.text(
            "SELECT id, stage, method, reported_on, note, created_by, created_at FROM vil_danger_reports "
            "WHERE dangerous_id = :i ORDER BY reported_on, id"
        ),
        {"i": house_id},
    ).mappings()
    out["reports"] = [
        {**{k: (v.isoformat() if isinstance(v, dt.date | dt.datetime) else v) for k, v in r.items()},
         "stage_name": names["stage"].get(r["stage"]), "method_name": names["method"].get(r["method"] or "")}
        for r in reports
    ]  # fmt: skip
    out["can_unmask"] = who.can(UNMASK)
    return out


@router.post("/{house_id:int}/unmask", summary="查看户主个人信息明文（需「查看个人信息明文」权限，记入操作日志）")
def unmask(
    house_id: RecordId,  # type: ignore[valid-type]
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(VIEW, "查看危房档案")
    who.require(UNMASK, "查看个人信息明文")
    row = get_row(conn, house_id)
    personal.reveal(conn, who.user, "vil_dangerous", house_id, list(MASKED), who.user_id)
    return {k: row[k] for k in MASKED}


@router.patch("/{house_id:int}", summary="修改危房档案（带版本号；区县账号仅限本区县）")
def patch_dangerous(
    house_id: RecordId,  # type: ignore[valid-type]
    body: DangerUpdate,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(EDIT, "修改危房档案")
    changes = body.model_dump(exclude_unset=True)
    out = update(conn, house_id, changes, who.user, who.client, who.user_id)
    return view(out, names_of(conn))


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).date()
