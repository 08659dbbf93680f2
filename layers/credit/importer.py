"""Import of administrative licences (行政许可) and penalties (行政处罚) from the market-supervision/credit platform.

Accepted files: Excel (``.xlsx``, the first sheet) or CSV (UTF-8, with or without BOM, or GB18030 as the platform
exports it). The first row is the header; the columns are named exactly as in ``COLUMNS`` (any order; every required
column present, no unknown column). Each data row is checked — the type, the subject kind, the code (unified social
credit code by ``stdnum.cn.uscc`` for an enterprise, resident ID number by ``stdnum.cn.ric`` for a person), the date
(an Excel date or ``YYYY-MM-DD``, not in the future), the points (a number above 0 and at most 100), the district (a
Hangzhou district, when given) — and a wrong header or any bad row rejects the whole file with a report naming the row
(as numbered in the spreadsheet), the column and the reason; nothing is stored. Fully empty rows are skipped.

A row's natural key is (type, decision document number, subject code): importing the same file again adds nothing,
and a row repeated within one file is an error. New events rescore their subjects.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql
from stdnum.cn import ric, uscc

from geo import audit
from geo.divisions import DISTRICT_NAMES
from geo.errors import Invalid, TooLarge
from layers.credit import score
from layers.credit import tables as t
from layers.credit.feeds import EVENT_TYPES

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
MAX_ERRORS = 500  # errors listed in the report (all are counted)

TYPES = {"行政许可": "licence", "行政处罚": "penalty"}
KINDS = {"企业": "enterprise", "个人": "person"}

# (header, required, what it holds) — the page and the API description show this table.
COLUMNS: tuple[tuple[str, bool, str], ...] = (
    ("数据类别", True, "「行政许可」或「行政处罚」"),
    ("相对人类别", True, "「企业」（含其他组织）或「个人」"),
    ("相对人名称", True, "企业名称或姓名，不超过 200 字"),
    ("证件号码", True, "企业填 18 位统一社会信用代码，个人填 18 位居民身份证号码"),
    ("决定文书号", True, "许可决定书或处罚决定书文号，不超过 100 字；与数据类别、证件号码一起确定一条记录"),
    ("事项", True, "许可事项名称或违法行为及处罚内容，不超过 1000 字"),
    ("决定日期", True, "Excel 日期或 YYYY-MM-DD，不晚于今天"),
    ("分值", True, "大于 0、不超过 100 的数字；许可为加分，处罚为减分"),
    ("决定机关", False, "作出决定的机关，不超过 200 字"),
    ("区县", False, "杭州市的区、县（市）名称，如「西湖区」"),
)
HEADERS = tuple(c for c, _, _ in COLUMNS)
REQUIRED = tuple(c for c, req, _ in COLUMNS if req)
LIMITS = {"相对人名称": 200, "决定文书号": 100, "事项": 1000, "决定机关": 200}
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
NUMBER_RE = re.compile(r"^\d+(\.\d+)?$")


def _rows_xlsx(data: bytes) -> Iterator[list[Any]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        raise Invalid("invalid_file", "无法读取该 Excel 文件，请确认是 .xlsx 格式。", "file") from None
    ws = wb.worksheets[0]
    for row in ws.iter_rows(values_only=True):
        yield list(row)


def _rows_csv(data: bytes) -> Iterator[list[Any]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise Invalid("invalid_encoding", "CSV 文件编码无法识别，请保存为 UTF-8 或 GB18030 编码。", "file")
    yield from csv.reader(io.StringIO(text, newline=""))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _check_row(cells: dict[str, Any], today: date) -> tuple[dict | None, list[tuple[str, str]]]:
    """The event of one row, or the (column, reason) of each fault."""
    errors: list[tuple[str, str]] = []
    text = {k: _text(v) for k, v in cells.items()}
    for col in REQUIRED:
        if not text.get(col):
            errors.append((col, "不能为空"))
    for col, limit in LIMITS.items():
        if len(text.get(col, "")) > limit:
            errors.append((col, f"超过 {limit} 字"))
    kind_name, type_name = text.get("数据类别", ""), text.get("相对人类别", "")
    if kind_name and kind_name not in TYPES:
        errors.append(("数据类别", f"「{kind_name[:20]}」不是「行政许可」或「行政处罚」"))
    if type_name and type_name not in KINDS:
        errors.append(("相对人类别", f"「{type_name[:20]}」不是「企业」或「个人」"))
    code = text.get("证件号码", "")
    if code and type_name in KINDS:
        if KINDS[type_name] == "enterprise":
            if not (uscc.is_valid(code) and uscc.compact(code) == code):
                errors.append(("证件号码", f"统一社会信用代码「{code[:30]}」不正确（长度、字符或校验位不符）"))
        elif not (ric.is_valid(code) and ric.compact(code) == code):
            errors.append(("证件号码", "身份证号码不正确（出生日期、地区码或校验位不符）"))
    raw_day, day = cells.get("决定日期"), None
    if isinstance(raw_day, datetime):
        day = raw_day.date()
    elif isinstance(raw_day, date):
        day = raw_day
    elif text.get("决定日期"):
        if DATE_RE.match(text["决定日期"]):
            try:
                day = date.fromisoformat(text["决定日期"])
            except ValueError:
                pass
        if day is None:
            errors.append(("决定日期", f"「{text['决定日期'][:20]}」不是有效日期（应为 YYYY-MM-DD）"))
    if day is not None and day > today:
        errors.append(("决定日期", f"{day.isoformat()} 晚于今天"))
    raw_points, points = cells.get("分值"), None
    if isinstance(raw_points, (int, float)) and not isinstance(raw_points, bool):
        points = float(raw_points)
    elif text.get("分值"):
        if NUMBER_RE.match(text["分值"]):
            points = float(text["分值"])
        else:
            errors.append(("分值", f"「{text['分值'][:20]}」不是数字"))
    if points is not None and not (0 < points <= 100):
        errors.append(("分值", "应大于 0 且不超过 100"))
    district = text.get("区县") or None
    if district and district not in DISTRICT_NAMES:
        errors.append(("区县", f"「{district[:20]}」不是杭州市的区、县（市）"))
    if errors:
        return None, errors
    event_type = TYPES[kind_name]
    return {
        "subject_kind": KINDS[type_name],
        "subject_code": code,
        "subject_name": text["相对人名称"],
        "event_type": event_type,
        "polarity": EVENT_TYPES[event_type][1],
        "points": points,
        "reason": text["事项"],
        "document_no": text["决定文书号"],
        "authority": text.get("决定机关") or None,
        "district": district,
        "occurred_on": day,
        "natural_key": f"{event_type}:{text['决定文书号']}:{code}",
    }, []


def parse(data: bytes, filename: str, today: date) -> list[dict]:
    """Every row's event, or ``Invalid`` (422) with the row-numbered report; nothing is read past the limits."""
    if len(data) > MAX_BYTES:
        raise TooLarge("file_too_large", f"文件超过 {MAX_BYTES // 1024 // 1024} MB。", "file")
    name = filename.lower()
    if name.endswith(".xlsx"):
        rows = _rows_xlsx(data)
    elif name.endswith(".csv"):
        rows = _rows_csv(data)
    else:
        raise Invalid("invalid_file_type", "只接受 .xlsx 或 .csv 文件。", "file", {"filename": filename[:100]})
    header = [_text(h) for h in next(rows, [])]
    while header and header[-1] == "":
        header.pop()
    unknown = [h for h in header if h not in HEADERS]
    missing = [h for h in REQUIRED if h not in header]
    doubled = sorted({h for h in header if header.count(h) > 1})
    if unknown or missing or doubled:
        problems = []
        if missing:
            problems.append(f"缺少列「{'」「'.join(missing)}」")
        if unknown:
            problems.append(f"无法识别的列「{'」「'.join(x[:20] or '（空）' for x in unknown)}」")
        if doubled:
            problems.append(f"重复的列「{'」「'.join(doubled)}」")
        raise Invalid(
            "invalid_header",
            f"第 1 行表头不正确：{'；'.join(problems)}。请使用模板的列名。",
            "file",
            {"missing": missing, "unknown": unknown, "doubled": doubled, "columns": list(HEADERS)},
        )
    events: list[dict] = []
    errors: list[dict] = []
    total_errors = 0
    seen: dict[str, int] = {}
    for number, raw in enumerate(rows, start=2):
        if number - 1 > MAX_ROWS:
            raise TooLarge("too_many_rows", f"文件超过 {MAX_ROWS} 行，请分批导入。", "file")
        if all(_text(v) == "" for v in raw):
            continue
        if len(raw) > len(header) and any(_text(v) for v in raw[len(header) :]):
            problems = [("（表头外）", "表头之外的列有数据")]
        else:
            cells = {h: raw[i] if i < len(raw) else None for i, h in enumerate(header)}
            event, problems = _check_row(cells, today)
            if event is not None:
                first = seen.get(event["natural_key"])
                if first is not None:
                    problems = [("决定文书号", f"与第 {first} 行重复（同一类别、文书号和证件号码）")]
                else:
                    seen[event["natural_key"]] = number
                    events.append(event)
        for column, reason in problems:
            total_errors += 1
            if len(errors) < MAX_ERRORS:
                errors.append({"row": number, "column": column, "message": reason})
    if total_errors:
        raise Invalid(
            "import_rejected",
            f"文件中有 {total_errors} 处错误，未导入任何数据。请按错误清单修改后重新导入。",
            "file",
            {"errors": errors, "total": total_errors},
        )
    if not events:
        raise Invalid("empty_file", "文件中没有数据行。", "file")
    return events


def store(conn: Connection, events: list[dict], filename: str, data: bytes, who: Any) -> dict:
    """Insert the checked events (those already imported are left as they are), rescore, audit."""
    source = f"credit_import:{hashlib.sha256(data).hexdigest()[:16]}"
    new: list[tuple[str, str]] = []
    for i in range(0, len(events), 5000):
        chunk = [
            {**e, "source": "credit_import", "source_module": "credit", "created_by": who.user}
            for e in events[i : i + 5000]
        ]
        stmt = (
            postgresql.insert(t.events)
            .values(chunk)
            .on_conflict_do_nothing(index_elements=["natural_key"])
            .returning(t.events.c.subject_kind, t.events.c.subject_code)
        )
        new += [(r[0], r[1]) for r in conn.execute(stmt)]
    score.rescore(conn, new)
    summary = {"rows": len(events), "imported": len(new), "existing": len(events) - len(new)}
    audit.record(
        conn,
        who.user,
        "credit_import",
        "credit_events",
        None,
        None,
        None,
        who.client,
        {"file": filename[:200], "digest": source, **summary},
        user_id=getattr(who, "user_id", None),
    )
    return summary
