"""The frame of an all-or-nothing Excel import (the registers' and the expert pool's): open the workbook, walk its
filled rows with their Excel row numbers, and conclude — a dry run or a file with any refused row stores nothing
(the caller's savepoint is rolled back; a refused commit is 422 ``import_rejected`` with the report), else the rows
are kept and the import is in the operation log.

What each importer keeps to itself: its columns and header rules, what a row means, and its report's counts. Its
report is a dict with ``mode`` (``commit`` or ``dry_run``) and ``errors`` (one dict per refused row); ``conclude``
adds ``valid``.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import NestedTransaction

from geo import audit
from geo.errors import Invalid


def open_workbook(content: bytes) -> Any:
    """The workbook (read-only, cell values), or 422 ``file_format`` when the bytes are not an .xlsx file."""
    from openpyxl import load_workbook  # type: ignore[import-untyped]

    try:
        return load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:
        raise Invalid("file_format", "无法读取该文件，请上传 Excel（.xlsx）文件。", "file") from None


def filled_rows(rows: Iterable[tuple], start: int = 2) -> Iterator[tuple[int, tuple]]:
    """(Excel row number, values) of every row with a value, numbered from ``start`` (row 1 is the header)."""
    for number, values in enumerate(rows, start=start):
        if values and not all(v in (None, "") for v in values):
            yield number, values


def report(commit: bool, **counts: int) -> dict[str, Any]:
    """An import's report before its rows: the mode, the counts (each 0 unless given) and no errors yet."""
    return {"mode": "commit" if commit else "dry_run", **counts, "errors": []}


def conclude(
    conn: Connection,
    savepoint: NestedTransaction,
    result: dict[str, Any],
    commit: bool,
    what: str,
    table: str,
    actor: str,
    client: str | None = None,
    user_id: int | None = None,
) -> dict[str, Any]:
    """Keep or drop the rows written under ``savepoint``: a dry run, or any refused row, rolls them all back (a
    refused commit raises 422 ``import_rejected`` naming ``what`` was imported, e.g. 人员, with the report); else they
    are kept and an ``import`` of ``table`` with the report's counts goes to the operation log."""
    result["valid"] = not result["errors"]
    if not commit or result["errors"]:
        savepoint.rollback()
        if commit:
            raise Invalid(
                "import_rejected",
                f"文件中有 {len(result['errors'])} 行未通过检查，未导入任何{what}。请按报告修改后重新上传。",
                "file",
                result,
            )
        return result
    savepoint.commit()
    counts = {k: v for k, v in result.items() if k not in ("mode", "errors", "valid")}
    audit.record(conn, actor, "import", table, None, None, None, client, counts, user_id)
    return result
