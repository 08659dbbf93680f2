"""Identifiers checked on entry: unified social credit codes (GB 32100) and resident ID numbers (GB 11643), by their
declared shapes (geo/bounds.py: ``USCC``, ``RESIDENT_ID``, which use python-stdnum for the check digit)."""

from __future__ import annotations

from api.errors import ApiError
from geo.bounds import RESIDENT_ID, USCC


def check_uscc(value: str, field: str = "uscc") -> str:
    if USCC.refuse(value) is not None:
        raise ApiError(
            422, "invalid_uscc", f"统一社会信用代码「{value}」不正确（长度或校验位不符）。", field, {"value": value}
        )
    return value.upper()  # letters as the standard writes them


def check_id_number(value: str, field: str = "id_number") -> str:
    if RESIDENT_ID.refuse(value) is not None:
        raise ApiError(
            422,
            "invalid_id_number",
            f"身份证号码「{value}」不正确（出生日期、地区码或校验位不符）。",
            field,
            {"value": value},
        )
    return value.upper()  # the check character X as the standard writes it
