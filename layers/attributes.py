"""Attribute coercion and validation from a layer's declaration.

Column-wise, so a million-row import and a single API write go through the same
rules: values arrive as text (CSV, Excel) or JSON scalars and leave typed, or as
an :class:`AttrError` per row with a Chinese message naming the field.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from layers.registry import Attr, Layer

TRUE = {"true", "1", "yes", "y", "是", "t", "√"}
FALSE = {"false", "0", "no", "n", "否", "f", "×", ""}


@dataclass
class AttrError(ValueError):
    code: str
    message: str
    field: str
    value: Any = None

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "field": self.field,
                "detail": {"value": None if self.value is None else str(self.value)[:200]}}


def _blank(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and np.isnan(v):
        return True
    if v is pd.NaT:
        return True
    return isinstance(v, str) and v.strip() == ""


def _to_python(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def coerce_column(attr: Attr, values: list[Any]) -> tuple[list[Any], dict[int, AttrError]]:
    """Coerce one attribute's values; returns (typed values, {row: error})."""
    out: list[Any] = [None] * len(values)
    errors: dict[int, AttrError] = {}
    label = f"「{attr.label}」"

    def err(i: int, code: str, msg: str) -> None:
        errors[i] = AttrError(code, msg, attr.name, values[i])

    for i, raw in enumerate(values):
        raw = _to_python(raw)
        if _blank(raw):
            if attr.required:
                err(i, "required", f"{label}为必填项。")
            continue
        try:
            if attr.type == "text":
                v = str(raw).strip() if not isinstance(raw, float) or not raw.is_integer() else str(int(raw))
            elif attr.type == "int":
                if isinstance(raw, bool):
                    raise ValueError
                f = float(str(raw).strip()) if isinstance(raw, str) else float(raw)
                if not f.is_integer():
                    raise ValueError
                v = int(f)
            elif attr.type == "float":
                if isinstance(raw, bool):
                    raise ValueError
                v = float(str(raw).strip().replace(",", "")) if isinstance(raw, str) else float(raw)
                if not np.isfinite(v):
                    raise ValueError
            elif attr.type == "bool":
                if isinstance(raw, bool):
                    v = raw
                elif str(raw).strip().lower() in TRUE:
                    v = True
                elif str(raw).strip().lower() in FALSE:
                    v = False
                else:
                    raise ValueError
            elif attr.type == "date":
                if isinstance(raw, dt.datetime):
                    v = raw.date()
                elif isinstance(raw, dt.date):
                    v = raw
                else:
                    v = dt.date.fromisoformat(str(raw).strip().replace("/", "-")[:10])
            elif attr.type == "datetime":
                if isinstance(raw, dt.datetime):
                    v = raw
                else:
                    v = dt.datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
                if v.tzinfo is None:
                    v = v.replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))  # Beijing time
            else:  # pragma: no cover - registry rejects unknown types
                raise ValueError
        except (ValueError, TypeError, OverflowError):
            kind = {"int": "整数", "float": "数字", "bool": "是/否", "date": "日期（YYYY-MM-DD）",
                    "datetime": "日期时间（ISO 8601）"}.get(attr.type, "文本")
            err(i, "invalid_type", f"{label}应为{kind}。")
            continue
        if attr.choices and v not in attr.choices:
            err(i, "invalid_choice", f"{label}的取值「{v}」无效，可选：{'、'.join(attr.choices)}。")
            continue
        if attr.max_length and isinstance(v, str) and len(v) > attr.max_length:
            err(i, "too_long", f"{label}最长 {attr.max_length} 个字符。")
            continue
        if attr.minimum is not None and isinstance(v, (int, float)) and v < attr.minimum:
            err(i, "out_of_range", f"{label}应不小于 {attr.minimum:g}。")
            continue
        if attr.maximum is not None and isinstance(v, (int, float)) and v > attr.maximum:
            err(i, "out_of_range", f"{label}应不大于 {attr.maximum:g}。")
            continue
        out[i] = v
    return out, errors


def check_properties(layer: Layer, props: dict[str, Any] | None, partial: bool = False) -> dict[str, Any]:
    """Validate one record's properties (API writes). Unknown fields are refused; read-only ones ignored."""
    props = dict(props or {})
    unknown = [k for k in props if k not in layer.attr_names]
    if unknown:
        raise AttrError("unknown_field", f"图层「{layer.title}」没有字段「{unknown[0]}」。", unknown[0], unknown[0])
    clean: dict[str, Any] = {}
    for attr in layer.writable:
        if partial and attr.name not in props:
            continue
        values, errors = coerce_column(attr, [props.get(attr.name)])
        if errors:
            raise errors[0]
        clean[attr.name] = values[0]
    return clean


def to_json(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return _to_python(value)
