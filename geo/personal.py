"""Personal data (个人信息): resident ID numbers, phone numbers, names of private persons.

Shown masked to everyone without a named permission; the unmasked value is read only through :func:`reveal`, which
writes an audit record of who saw whose data. The mask keeps what a clerk needs to tell records apart (the
region of an ID number, its last four characters; a phone's first three and last four digits; a surname).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from geo import audit

KINDS = ("id_number", "phone", "name")


def mask_id_number(value: str | None) -> str | None:
    """``330106199001011234`` → ``3301**********1234`` (four kept each side)."""
    if not value:
        return value
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str | None) -> str | None:
    """``13812345678`` → ``138****5678``."""
    if not value:
        return value
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str | None) -> str | None:
    """``张三丰`` → ``张**``: the surname only."""
    if not value:
        return value
    return value[0] + "*" * (len(value) - 1)


MASKS = {"id_number": mask_id_number, "phone": mask_phone, "name": mask_name}


def mask(kind: str, value: str | None) -> str | None:
    return MASKS[kind](value)


def mask_row(row: dict[str, Any], columns: dict[str, str]) -> dict[str, Any]:
    """A copy of ``row`` with each of ``columns`` (column → kind of personal data) masked."""
    out = dict(row)
    for column, kind in columns.items():
        if column in out:
            out[column] = mask(kind, out[column])
    return out


def reveal(
    conn: Connection, actor: str, table: str, record_id: int, columns: list[str], user_id: int | None = None
) -> None:
    """Record that ``actor`` saw the unmasked ``columns`` of ``table #record_id`` (action ``unmask``: the operation
    log names it 「查看个人信息」); call it in the transaction that reads the values."""
    audit.record(conn, actor, "unmask", table, record_id, detail={"columns": columns}, user_id=user_id)
