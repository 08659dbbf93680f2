"""Excel export and import of the project register.

The workbook has one sheet, 项目库, whose first row is the header and each further row one project; these are the
columns (the export writes all of them in this order; the import reads them by header, in any order):

=====================================  ==========================================================================
项目代码 (required)                     the national project code, e.g. 2024-330106-47-01-123456
项目名称 (required)                     up to 200 characters
所属区县 (required)                     one of Hangzhou's districts and counties (上城区 … 建德市)
当前阶段                                written by the export, ignored by the import (it follows the dates)
工程类别                                房屋建筑, 市政基础设施, 轨道交通, 水利 or 其他
项目地址, 建设单位, 施工单位, 监理单位   text
…统一社会信用代码                        18 characters with a valid check digit; an enterprise of the enterprise register
施工许可证号                            one or more, separated by ； or ; or 、
立项（备案）日期 … 竣工验收日期           dates (an Excel date or YYYY-MM-DD), not after today, in the life cycle's order
计划竣工日期                            a date
建筑面积（㎡）, 总投资（万元）             numbers
经度, 纬度                              the site point (EPSG:4326), inside the project's district; both or neither
=====================================  ==========================================================================

A row whose code is in the register updates that project (every column above: an empty cell empties the field),
any other row adds one. The import is all or nothing: any wrong header or bad row and nothing is stored; the report
names each bad row by its number in the sheet (the header is row 1) with the column and the reason.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy import Connection

from geo import audit, bounds
from geo.errors import DomainError, Invalid
from layers.projects import register
from layers.projects.register import STAGE_DATES, ProjectFields, ProjectIn, ProjectUpdate

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET = "项目库"
MAX_ROWS = 20_000

COLUMNS: tuple[tuple[str, str], ...] = (
    ("project_code", "项目代码"),
    ("name", "项目名称"),
    ("district", "所属区县"),
    ("stage", "当前阶段"),
    ("project_type", "工程类别"),
    ("address", "项目地址"),
    ("builder_name", "建设单位"),
    ("builder_uscc", "建设单位统一社会信用代码"),
    ("construction_name", "施工单位"),
    ("construction_uscc", "施工单位统一社会信用代码"),
    ("supervision_name", "监理单位"),
    ("supervision_uscc", "监理单位统一社会信用代码"),
    ("permit_nos", "施工许可证号"),
    *STAGE_DATES,
    ("planned_end_date", "计划竣工日期"),
    ("floor_area_m2", "建筑面积（㎡）"),
    ("investment_wan", "总投资（万元）"),
    ("lon", "经度"),
    ("lat", "纬度"),
)
REQUIRED = ("project_code", "name", "district")
READ_ONLY = ("stage",)
TITLES = dict(COLUMNS)
DATES = {c for c, _ in STAGE_DATES} | {"planned_end_date"}
NUMBERS = {"floor_area_m2", "investment_wan", "lon", "lat"}


def columns() -> list[dict]:
    """The documented columns (what the page shows before an import)."""
    return [{"key": k, "title": t, "required": k in REQUIRED, "read_only": k in READ_ONLY} for k, t in COLUMNS]


# -- export -------------------------------------------------------------------------------------------------------


def _out(key: str, row: dict) -> Any:
    if key == "permit_nos":
        return "；".join(row.get("permit_nos") or []) or None
    if key in ("lon", "lat"):
        geom = row.get("geom")
        return geom["coordinates"][0 if key == "lon" else 1] if geom else None
    return row.get(key)


def export_xlsx(rows: list[dict]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    ws.append([t for _, t in COLUMNS])
    for r in rows:
        ws.append([_out(k, r) for k, _ in COLUMNS])
    for i, (key, _) in enumerate(COLUMNS, start=1):
        width = 26 if key in ("project_code", "permit_nos") else 36 if key == "name" else 14 if key in DATES else 18
        ws.column_dimensions[ws.cell(1, i).column_letter].width = width
        if key in DATES:
            for cell in ws.iter_cols(min_col=i, max_col=i, min_row=2):
                for c in cell:
                    c.number_format = "yyyy-mm-dd"
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# -- import -------------------------------------------------------------------------------------------------------


def _text(value: Any) -> Any:
    """A text cell as text: a code typed as a number (a permit number of digits) reads as its digits."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return bounds.number_text(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _cell(key: str, value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        value = None
    if value is None:
        return [] if key == "permit_nos" else None
    if key in DATES:
        if isinstance(value, dt.datetime):
            return value.date() if value.time() == dt.time() else value
        return value
    if key in NUMBERS:
        return value
    value = _text(value)
    if key == "permit_nos" and isinstance(value, str):
        return [p.strip() for p in re.split(r"[；;、,，\n]", value) if p.strip()]
    return value


def _refusal(e: ValidationError) -> Invalid:
    first = e.errors()[0]
    loc = [str(x) for x in first.get("loc", ())]
    key = loc[0] if loc else ""
    title = TITLES.get(key, key)
    if first.get("type") in bounds.CODES:
        msg = first.get("msg", "")
    elif first.get("type", "").startswith("date"):
        msg = "应为日期（YYYY-MM-DD）。"
    elif first.get("type") in ("float_parsing", "float_type", "int_parsing"):
        msg = "应为数字。"
    else:
        msg = "格式不正确。"
    return Invalid(first.get("type", "invalid"), f"「{title}」{msg}", key)


def _header(ws: Any) -> dict[int, str]:
    first = next(ws.iter_rows(min_row=1, max_row=1, values_only=True), ())
    header = [str(h).strip() if h is not None else "" for h in first]
    by_title = {t: k for k, t in COLUMNS}
    unknown = [h for h in header if h and h not in by_title]
    missing = [TITLES[k] for k in REQUIRED if TITLES[k] not in header]
    repeated = sorted({h for h in header if h and header.count(h) > 1})
    if unknown or missing or repeated:
        parts = []
        if missing:
            parts.append(f"缺少必填列：{'、'.join(missing)}")
        if unknown:
            parts.append(f"不认识的列：{'、'.join(unknown)}")
        if repeated:
            parts.append(f"重复的列：{'、'.join(repeated)}")
        raise Invalid(
            "bad_header",
            f"第 1 行表头不正确（{'；'.join(parts)}）。请使用导出的表格或按列说明填写表头。",
            "file",
            {"missing": missing, "unknown": unknown, "repeated": repeated},
        )
    return {i: by_title[h] for i, h in enumerate(header) if h}


def _report_error(number: int, e: DomainError) -> dict:
    return {
        "row": number,
        "column": TITLES.get(e.field or "", e.field),
        "code": e.code,
        "message": f"第 {number} 行：{e.message}",
    }


def import_xlsx(conn: Connection, content: bytes, commit: bool, who: Any) -> dict:
    """Check every row (and with ``commit`` store them all, or nothing when any is bad); returns the report."""
    from openpyxl import load_workbook

    report: dict[str, Any] = {"mode": "commit" if commit else "dry_run", "rows": 0, "created": 0, "updated": 0}
    report["errors"] = []
    try:
        wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        ws = wb[SHEET] if SHEET in wb.sheetnames else wb.worksheets[0]
    except Exception:
        raise Invalid("file_format", "无法读取该文件，请上传 Excel（.xlsx）文件。", "file")
    try:
        cols = _header(ws)
    except Invalid as e:
        report["errors"].append(_report_error(1, e))
        return _finish(report, commit)
    seen: dict[str, int] = {}
    outer = conn.begin_nested()
    for number, values in enumerate(ws.iter_rows(min_row=2, values_only=True), start=2):
        if not values or all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        report["rows"] += 1
        if report["rows"] > MAX_ROWS:
            report["errors"].append(
                {"row": number, "column": None, "code": "too_many_rows", "message": f"一次最多导入 {MAX_ROWS} 行。"}
            )
            break
        data = {key: _cell(key, values[i] if i < len(values) else None) for i, key in cols.items()}
        for key in READ_ONLY:
            data.pop(key, None)
        try:
            with conn.begin_nested():
                code = data.get("project_code")
                if isinstance(code, str) and code in seen:
                    raise Invalid("duplicate_row", f"项目代码「{code}」与第 {seen[code]} 行重复。", "project_code")
                stored = _store(conn, data, who)
                if isinstance(code, str):
                    seen[code] = number
                report[stored] += 1
        except ValidationError as e:
            report["errors"].append(_report_error(number, _refusal(e)))
        except DomainError as e:
            report["errors"].append(_report_error(number, e))
        except sa.exc.IntegrityError:
            report["errors"].append(
                _report_error(
                    number,
                    Invalid(
                        "duplicate_project_code",
                        "项目代码已被登记（不在您的数据范围内），不能重复登记。",
                        "project_code",
                    ),
                )
            )
        except sa.exc.ProgrammingError as e:
            if getattr(e.orig, "sqlstate", None) != "42501":
                raise
            report["errors"].append(
                _report_error(
                    number, Invalid("out_of_scope", "超出您的数据权限范围：只能导入本辖区的项目。", "district")
                )
            )
    if not commit or report["errors"]:
        outer.rollback()
        return _finish(report, commit)
    outer.commit()
    audit.record(
        conn,
        who.user,
        "import",
        "projects",
        None,
        client=who.client,
        user_id=who.user_id,
        detail={k: report[k] for k in ("rows", "created", "updated")},
    )
    return _finish(report, commit)


def _store(conn: Connection, data: dict, who: Any) -> str:
    """Add the row's project, or update the one with its code; 'created' or 'updated'."""
    code = data.get("project_code")
    existing = register.get_by_code(conn, code) if isinstance(code, str) else None
    if existing is None:
        register.create(conn, ProjectIn(**data), who)
        return "created"
    fields = {k: v for k, v in data.items() if k in ProjectFields.model_fields}
    register.update(conn, code, ProjectUpdate(version=existing["version"], **fields), who)
    return "updated"


def _finish(report: dict, commit: bool) -> dict:
    report["valid"] = not report["errors"]
    report["stored"] = commit and report["valid"]
    if commit and not report["valid"]:
        raise Invalid(
            "import_rejected",
            f"文件中有 {len(report['errors'])} 处未通过检查，未导入任何项目。请按报告修改后重新上传。",
            "file",
            report,
        )
    return report
