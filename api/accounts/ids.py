"""Identifiers checked on entry: unified social credit codes (GB 32100) and resident ID numbers (GB 11643)."""

from __future__ import annotations

from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from api.errors import ApiError


def check_uscc(value: str, field: str = "uscc") -> str:
    try:
        return uscc.validate(value)
    except ValidationError:
        raise ApiError(
            422, "invalid_uscc", f"统一社会信用代码「{value}」不正确（长度或校验位不符）。", field, {"value": value}
        )


def check_id_number(value: str, field: str = "id_number") -> str:
    try:
        return ric.validate(value)
    except ValidationError:
        raise ApiError(
            422,
            "invalid_id_number",
            f"身份证号码「{value}」不正确（出生日期、地区码或校验位不符）。",
            field,
            {"value": value},
        )
