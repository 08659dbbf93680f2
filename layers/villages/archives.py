"""Farmhouse archives (农房档案, VT-03): import, search, statistics and Excel export of the houses in ``farmhouses``.

Import (``POST /api/villages/archives/import``, multipart ``file``, ``mode`` dry_run or commit): Excel (.xlsx), CSV
or GeoPackage — any format the layer importer reads (``geo.layer.importer``). The accepted columns are the
``farmhouses`` layer's attributes, by name or Chinese label, plus the archive's own (:data:`ARCHIVE_ATTRS`):

=================  ============  =====================================================================
column (label)     name          rule
=================  ============  =====================================================================
农房编号           code          required, unique (in the file and among the live houses)
户主姓名           owner_name    ≤ 50 characters (personal data: masked when read without person.unmask)
所属区县           district      filled from the position when empty; must fit the position
乡镇街道 / 行政村  township …    ≤ 50 characters
地址               address       ≤ 200 characters
层数               floors        1–10
结构类型           structure     砖混、砖木、框架、木结构、土木、石结构、其他
建成年份           built_year    1900–2100
建筑面积(㎡)       floor_area_m2 0–10,000
建设状态           status        存量、审批中、在建、已竣工
审批文号           approval_no   ≤ 50 characters
审批日期           approved_on   a date
建设阶段           stage         a post-approval stage (vil_stages) by name or code; only for 在建 / 已竣工
经度 / 纬度        lon / lat     CSV and Excel: the position (WGS84 unless ``crs`` says otherwise);
                                 GeoPackage: the point geometry
=================  ============  =====================================================================

All or nothing: every row is checked first; a file with any refused row stores nothing and answers 422
``import_rejected`` with the report, each refused row named by its number as the clerk sees it (the spreadsheet row
for CSV/Excel, the feature number for GeoPackage). Rows outside a district account's district are refused (403).
Imported houses get ``source = 'import'``. Every run, dry runs and refusals included, is kept in ``vil_imports``
with its report; a commit is also in the operation log.

Search (``GET /api/villages/archives``) by county, township, village, owner name (prefix), house code (prefix),
status, stage and built year; statistics (``/stats``) of the same filter grouped by one field; the Excel export
(``/export.xlsx``). Owner names are masked unless the principal holds ``person.unmask`` and asks (``unmask=true``),
which is logged.
"""

from __future__ import annotations

import dataclasses
import io
from datetime import date
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from fastapi.responses import JSONResponse
from openpyxl import Workbook
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_write
from api.errors import ApiError
from geo import audit, personal
from geo.bounds import RECORD_CODE, Text, Whole
from geo.divisions import DISTRICT_NAMES
from geo.layer import importer
from geo.layer.registry import Attr, Layer, registry
from geo.settings import get_settings
from layers.persons import UNMASK
from layers.villages import FARMHOUSE_STATUS

PREFIX = "/api/villages"
router = APIRouter(prefix=PREFIX, tags=["智慧村镇"])

VIEW, IMPORT, EXPORT = "farmhouse.view", "farmhouse.import", "farmhouse.export"
ARCHIVE_ATTRS = (
    Attr("approval_no", "审批文号", max_length=50),
    Attr("approved_on", "审批日期", "date"),
    Attr("stage", "建设阶段", max_length=20),
)
STAGED_STATUS = ("在建", "已竣工")  # a house with a post-approval stage is being built or built
EXPORT_MAX = 100_000  # rows of one Excel export
MASKED = {"owner_name": "name"}
LAST_CHAR = "\U0010ffff"

imports = sa.Table(
    "vil_imports",
    sa.MetaData(),
    sa.Column("id", sa.BigInteger, primary_key=True),
    *(sa.Column(c, sa.Text) for c in ("district", "filename", "format", "mode", "created_by", "updated_by")),
    sa.Column("committed", sa.Boolean),
    *(sa.Column(c, sa.Integer) for c in ("rows", "accepted", "rejected")),
    *(sa.Column(c, sa.BigInteger) for c in ("first_id", "last_id")),
    sa.Column("report", sa.JSON),
    sa.Column("created_at", sa.DateTime(timezone=True)),
)


@lru_cache
def archive_layer(with_source: bool = False) -> Layer:
    """The farmhouses layer with the archive's columns (and, to write, ``source``): what an import reads and
    checks; the same table."""
    base = registry.get("farmhouses")
    assert base is not None  # declared by the package
    extra = (*ARCHIVE_ATTRS, Attr("source", "数据来源")) if with_source else ARCHIVE_ATTRS
    return dataclasses.replace(base, attrs=(*base.attrs, *extra))


def houses() -> sa.Table:
    return archive_layer(True).sa_table


def stage_names(conn: Connection) -> dict[str, str]:
    """Stage code → name, in order (retired stages included: archives keep their history)."""
    rows = conn.execute(sa.text("SELECT code, name FROM vil_stages ORDER BY seq"))
    return {code: name for code, name in rows}


# -- import -----------------------------------------------------------------------------------------------------


def _check_stages(conn: Connection, checked: importer.Checked, first_row: int) -> None:
    """Each row's stage, by name or code, becomes its code; an unknown stage, or a stage on a house that is not
    being built or built, refuses the row (added to the report)."""
    stages = checked.columns.get("stage")
    if stages is None:
        return
    names = stage_names(conn)
    by_name = {v: k for k, v in names.items()}
    status = checked.columns.get("status") or [None] * len(stages)
    report = checked.report
    refused = {e["row"] for e in report["errors"]}
    added: list[dict] = []
    for i, value in enumerate(stages):
        if value is None:
            continue
        code = by_name.get(value) or (value if value in names else None)
        if code is None:
            added.append({"row": i + first_row, "code": "unknown_stage", "field": "stage", "value": value,
                          "message": f"建设阶段「{value}」不存在，可选：{'、'.join(names.values())}。"})  # fmt: skip
        elif status[i] not in STAGED_STATUS:
            added.append({"row": i + first_row, "code": "stage_without_construction", "field": "stage",
                          "message": f"建设阶段只适用于建设状态为{'或'.join(STAGED_STATUS)}的农房"
                                     f"（该行为「{status[i] or '空'}」）。"})  # fmt: skip
        else:
            stages[i] = code
    if added:
        report["errors"] = sorted(report["errors"] + added, key=lambda e: e["row"])[: importer.MAX_ERRORS]
        report["errors_total"] += len(added)
        new_rows = {e["row"] for e in added} - refused
        report["rejected"] += len(new_rows)
        report["accepted"] -= len(new_rows)


def _log(conn: Connection, who: Principal, report: dict, mode: str, committed: dict | None) -> int:
    return conn.execute(
        sa.insert(imports)
        .values(
            district=who.district,
            filename=str(report.get("file") or "")[:255],
            format=report.get("format") or "",
            mode=mode,
            committed=committed is not None,
            rows=report["rows"],
            accepted=report["accepted"],
            rejected=report["rejected"],
            first_id=(committed or {}).get("first_id"),
            last_id=(committed or {}).get("last_id"),
            report=report,
            created_by=who.user,
            updated_by=who.user,
        )
        .returning(imports.c.id)
    ).scalar_one()


def import_archive(
    conn: Connection, who: Principal, data: bytes, filename: str | None, mode: str, crs: str
) -> tuple[int, dict]:
    """(HTTP status, body) of an import: the report (with ``import_id``), or the refusal with the report."""
    reading = archive_layer()
    try:
        src = importer.read_file(data, filename, reading, crs)
    except importer.ImportFileError as e:
        raise ApiError(e.status, e.code, e.message, e.field, e.detail)
    checked = importer.check(conn, reading, src, margin=get_settings().hangzhou_margin_deg)
    _check_stages(conn, checked, src.first_row)
    report = checked.report
    report["layer"], report["layer_title"] = "farmhouses", "农房档案"
    if not checked.ok:
        report["import_id"] = _log(conn, who, report, mode, None)
        outside = [x for x in report["errors"] if x["code"] == "out_of_scope"]
        if outside:
            body = ApiError(403, "out_of_scope",
                            f"文件中有 {len(outside)} 行超出您的数据权限范围（第 {outside[0]['row']} 行："
                            f"{outside[0]['message']}），未导入任何农房。", outside[0]["field"], report)  # fmt: skip
            return 403, body.body()
        if mode == "dry_run":
            return 200, report
        body = ApiError(422, "import_rejected",
                        f"文件中有 {report['rejected']} 行未通过检查，未导入任何农房。请按报告修改后重新上传。",
                        "file", report)  # fmt: skip
        return 422, body.body()
    if mode == "dry_run":
        report["import_id"] = _log(conn, who, report, mode, None)
        return 200, report
    columns = {**checked.columns, "source": ["import"] * len(checked.geoms)}
    writing = importer.Checked(report, checked.geoms, columns)
    savepoint = conn.begin_nested()
    try:
        committed = importer.commit_import(conn, archive_layer(True), writing, who.user, src.filename)
    except importer.ImportFileError as e:
        savepoint.rollback()
        raise ApiError(e.status, e.code, e.message, e.field, e.detail)
    savepoint.commit()
    report["committed"] = committed
    report["import_id"] = _log(conn, who, report, mode, committed)
    return 201, report


@router.post("/archives/import", summary="导入农房档案（Excel、CSV、GeoPackage；先试导入，全部通过才写入）")
def import_file(
    file: UploadFile = File(...),
    mode: Literal["dry_run", "commit"] = Query("dry_run", description="dry_run 试导入；commit 正式导入"),
    crs: Text(20) = "EPSG:4326",
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> JSONResponse:
    who.require(IMPORT, "导入农房档案")
    status, body = import_archive(conn, who, file.file.read(), file.filename, mode, crs)
    return JSONResponse(body, status_code=status)


@router.get("/archives/imports", summary="农房档案导入记录")
def import_log(
    limit: Whole(1, 200) = 50,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(IMPORT, "查看农房档案导入记录")
    rows = conn.execute(
        sa.select(*(c for c in imports.c if c.name != "report")).order_by(imports.c.id.desc()).limit(limit)
    ).mappings()
    return {"rows": [dict(r) for r in rows]}


@router.get("/archives/imports/{import_id}", summary="一次导入的报告")
def import_report(
    import_id: int,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(IMPORT, "查看农房档案导入记录")
    row = conn.execute(sa.select(imports).where(imports.c.id == import_id)).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "导入记录不存在，或不在您的数据范围内。", "import_id")
    return dict(row)


@router.get("/archives/fields", summary="农房档案的导入列和检索选项（建设阶段）")
def fields(who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")) -> dict:
    who.require(VIEW, "查看农房档案")
    columns = [
        {"name": a.name, "label": a.label, "type": a.type, "required": a.required, "choices": list(a.choices or ()),
         "rule": rule_text(a)}
        for a in archive_layer().writable
    ]  # fmt: skip
    columns += [
        {"name": "lon", "label": "经度", "type": "float", "required": False, "choices": [], "rule": "CSV、Excel：WGS84 经度"},
        {"name": "lat", "label": "纬度", "type": "float", "required": False, "choices": [], "rule": "CSV、Excel：WGS84 纬度"},
    ]  # fmt: skip
    return {"columns": columns, "stages": [[c, n] for c, n in stage_names(conn).items()], "status": FARMHOUSE_STATUS}


def rule_text(a: Attr) -> str:
    """The column's rule in Chinese, for the page's column list."""
    if a.choices:
        return "可选：" + "、".join(a.choices)
    if a.name == "stage":
        return "建设阶段名称或代码，只适用于在建、已竣工的农房"
    if a.minimum is not None and a.maximum is not None:
        return f"{a.minimum:g}–{a.maximum:g}"
    if a.type == "date":
        return "日期，如 2026-03-02"
    return f"至多 {a.max_length} 个字符" if a.max_length else ""


# -- search -----------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Filter:
    """What a search, a statistic and an export share."""

    district: str | None = None
    township: str | None = None
    village: str | None = None
    owner: str | None = None
    code: str | None = None
    status: str | None = None
    stage: str | None = None
    year: int | None = None
    source: str | None = None

    def where(self, conn: Connection) -> list[Any]:
        t = houses()
        cond: list[Any] = [t.c.deleted_at.is_(None)]
        if self.district is not None:
            if self.district not in DISTRICT_NAMES:
                raise ApiError(422, "invalid_district", f"区县「{self.district}」不存在。", "district")
            cond.append(t.c.district == self.district)
        for name in ("township", "village", "status", "source"):
            value = getattr(self, name)
            if value is not None:
                cond.append(t.c[name] == value)
        if self.status is not None and self.status not in FARMHOUSE_STATUS:
            raise ApiError(422, "invalid_status", f"建设状态应为{'、'.join(FARMHOUSE_STATUS)}之一。", "status")
        if self.stage is not None:
            names = stage_names(conn)
            code = {v: k for k, v in names.items()}.get(self.stage, self.stage)
            if code not in names:
                raise ApiError(422, "unknown_stage", f"建设阶段「{self.stage}」不存在。", "stage")
            cond.append(t.c.stage == code)
        for column, prefix in ((t.c.owner_name, self.owner), (t.c.code, self.code)):
            if prefix:
                cond += starts_with(column, prefix)
        if self.year is not None:
            cond.append(t.c.built_year == self.year)
        return cond


def starts_with(column: Any, prefix: str) -> list[Any]:
    """``column`` starts with ``prefix``, as a range of the column's btree index (``vil_0003``). Not ``LIKE``: under
    row-level security only LEAKPROOF operators may use an index ahead of the policy, and ``textlike`` is not (see
    migration 0011) while the text comparisons are; every string that starts with ``prefix`` sorts between it and
    it followed by the last code point (the database's collation is C.UTF-8)."""
    return [column >= prefix, column < prefix + LAST_CHAR]


def archive_filter(
    district: Text(20) | None = Query(None, description="区县"),
    township: Text(50) | None = Query(None, description="乡镇街道"),
    village: Text(50) | None = Query(None, description="行政村"),
    owner: Text(50) | None = Query(None, description="户主姓名（前缀）"),
    code: Text(RECORD_CODE.max_length or 40) | None = Query(None, description="农房编号（前缀）"),
    status: Text(10) | None = Query(None, description="建设状态"),
    stage: Text(32) | None = Query(None, description="建设阶段（名称或代码）"),
    year: Whole(1900, 2100) | None = Query(None, description="建成年份"),
    source: Literal["demo", "import", "entry", "county", "province"] | None = Query(None, description="数据来源"),
) -> Filter:
    return Filter(district, township, village, owner, code, status, stage, year, source)


LIST_COLUMNS = (
    ("code", "农房编号"),
    ("owner_name", "户主姓名"),
    ("district", "区县"),
    ("township", "乡镇街道"),
    ("village", "行政村"),
    ("address", "地址"),
    ("floors", "层数"),
    ("structure", "结构类型"),
    ("built_year", "建成年份"),
    ("floor_area_m2", "建筑面积(㎡)"),
    ("status", "建设状态"),
    ("stage_name", "建设阶段"),
    ("approval_no", "审批文号"),
    ("approved_on", "审批日期"),
    ("source", "数据来源"),
)


def _rows(conn: Connection, cond: list[Any], limit: int, offset: int) -> list[dict]:
    t = houses()
    names = [c for c, _ in LIST_COLUMNS if c != "stage_name"]
    query = (
        sa.select(t.c.id, *(t.c[c] for c in names), t.c.stage).where(*cond).order_by(t.c.id).limit(limit).offset(offset)
    )
    stages = stage_names(conn)
    return [{**r, "stage_name": stages.get(r["stage"]) if r["stage"] else None} for r in conn.execute(query).mappings()]


def _unmasking(who: Principal, unmask: bool) -> bool:
    if unmask:
        who.require(UNMASK, "查看户主姓名明文")
    return unmask


def _reveal(conn: Connection, who: Principal, rows: list[dict]) -> None:
    """One operation-log entry for the owner names read in the clear."""
    if rows:
        audit.record(conn, who.user, "unmask", "farmhouses", None, detail={"columns": ["owner_name"],
                     "ids": [r["id"] for r in rows][:1000], "rows": len(rows)}, user_id=who.user_id)  # fmt: skip


@router.get("/archives", summary="检索农房档案（区县、乡镇、村、户主、编号、状态、阶段、年份）")
def search(
    f: Filter = Depends(archive_filter),
    limit: Whole(1, 500) = 50,
    offset: Whole(0, 10_000_000) = 0,
    unmask: bool = Query(False, description="显示户主姓名明文（需 person.unmask 权限，记入日志）"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(VIEW, "查看农房档案")
    reveal = _unmasking(who, unmask)
    t = houses()
    cond = f.where(conn)
    total = conn.execute(sa.select(sa.func.count()).select_from(t).where(*cond)).scalar_one()
    rows = _rows(conn, cond, limit, offset)
    if reveal:
        _reveal(conn, who, rows)
    else:
        rows = [personal.mask_row(r, MASKED) for r in rows]
    return {"total": total, "rows": rows, "unmasked": reveal, "columns": [list(c) for c in LIST_COLUMNS]}


# -- statistics -------------------------------------------------------------------------------------------------

GROUPS = {
    "district": ("区县", lambda t: (t.c.district,)),
    "township": ("乡镇街道", lambda t: (t.c.district, t.c.township)),
    "village": ("行政村", lambda t: (t.c.district, t.c.township, t.c.village)),
    "status": ("建设状态", lambda t: (t.c.status,)),
    "stage": ("建设阶段", lambda t: (t.c.stage,)),
    "structure": ("结构类型", lambda t: (t.c.structure,)),
    "built_year": ("建成年份", lambda t: (t.c.built_year,)),
    "source": ("数据来源", lambda t: (t.c.source,)),
}


def statistics(conn: Connection, f: Filter, by: str) -> dict:
    """Houses, floor area and houses per status of the filter, grouped by ``by``."""
    t = houses()
    keys = GROUPS[by][1](t)
    counts = [sa.func.count().filter(t.c.status == s).label(s) for s in FARMHOUSE_STATUS]
    query = (
        sa.select(*keys, sa.func.count().label("houses"), sa.func.coalesce(sa.func.sum(t.c.floor_area_m2), 0)
                  .label("floor_area_m2"), *counts)
        .where(*f.where(conn))
        .group_by(*keys)
        .order_by(*keys)
    )  # fmt: skip
    stages = stage_names(conn)
    rows = []
    for r in conn.execute(query).mappings():
        row = dict(r)
        if by == "stage":
            row["stage_name"] = stages.get(row["stage"], "未开工") if row["stage"] else "未开工"
        row["floor_area_m2"] = round(float(row["floor_area_m2"]), 1)
        rows.append(row)
    total = {"houses": sum(r["houses"] for r in rows), **{s: sum(r[s] for r in rows) for s in FARMHOUSE_STATUS}}
    return {"by": by, "title": GROUPS[by][0], "rows": rows, "total": total}


@router.get("/archives/stats", summary="农房档案统计（按区县、乡镇、村、状态、阶段、结构、年份、来源）")
def stats(
    by: Literal[tuple(GROUPS)] = Query("district", description="分组字段"),  # type: ignore[valid-type]
    f: Filter = Depends(archive_filter),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(VIEW, "查看农房档案统计")
    return statistics(conn, f, by)


@router.get("/archives/export.xlsx", summary="导出农房档案（Excel）")
def export(
    f: Filter = Depends(archive_filter),
    unmask: bool = Query(False, description="导出户主姓名明文（需 person.unmask 权限，记入日志）"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> Response:
    who.require(EXPORT, "导出农房档案")
    reveal = _unmasking(who, unmask)
    t = houses()
    cond = f.where(conn)
    total = conn.execute(sa.select(sa.func.count()).select_from(t).where(*cond)).scalar_one()
    if total > EXPORT_MAX:
        raise ApiError(422, "too_many_rows", f"符合条件的农房有 {total} 条，超过单次导出上限 {EXPORT_MAX} 条，"
                       "请缩小范围（如按区县或乡镇）。", None, {"total": total, "max": EXPORT_MAX})  # fmt: skip
    rows = _rows(conn, cond, EXPORT_MAX, 0)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("农房档案")
    ws.append([title for _, title in LIST_COLUMNS])
    for r in rows:
        shown = r if reveal else personal.mask_row(r, MASKED)
        ws.append([shown[c].isoformat() if isinstance(shown[c], date) else shown[c] for c, _ in LIST_COLUMNS])
    buf = io.BytesIO()
    wb.save(buf)
    if reveal:
        _reveal(conn, who, rows)
    audit.record(conn, who.user, "export", "farmhouses", None, detail={"rows": len(rows), "format": "xlsx",
                 "filter": dataclasses.asdict(f), "unmasked": reveal}, user_id=who.user_id)  # fmt: skip
    name = quote(f"农房档案_{date.today().isoformat()}.xlsx")
    return Response(
        buf.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}", "Cache-Control": "no-store"},
    )
