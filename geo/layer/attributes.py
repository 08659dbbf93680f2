"""Attribute coercion and validation from a layer's declaration.

Column-wise, so a million-row import and a single API write go through the same
rules: values arrive as text (CSV, Excel) or JSON scalars and leave typed, or as
an :class:`AttrError` per row with a Chinese message naming the field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from geo.bounds import number_text
from geo.errors import Invalid, excerpt
from geo.layer.registry import Attr, Layer
from geo.values import to_python

TRUE = {"true", "1", "yes", "y", "是", "t", "√"}
FALSE = {"false", "0", "no", "n", "否", "f", "×", ""}


class AttrError(Invalid):
    """An attribute value refused as it is; ``value`` is the value given."""

    def __init__(self, code: str, message: str, field: str, value: Any = None) -> None:
        super().__init__(code, message, field, {"value": None if value is None else excerpt(value)})
        self.value = value

    def as_dict(self) -> dict:
        return self.body()


def _blank(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and np.isnan(v):
        return True
    if v is pd.NaT:
        return True
    return isinstance(v, str) and v.strip() == ""


def coerce_column(attr: Attr, values: Sequence[Any] | np.ndarray) -> tuple[list[Any], dict[int, AttrError]]:
    """Coerce one attribute's values; returns (typed values, {row: error}).

    Long columns take a vectorised fast path for the plain cases (text, numbers,
    yes/no as they come from files); every other row — blanks of required
    fields, anything unusual, anything that breaks a rule — goes through the
    row-by-row rules of :func:`_coerce_rows`, so values and messages are the same.
    """
    fast = _fast_column(attr, values) if len(values) >= FAST_MIN_ROWS else None
    if fast is None:
        return _coerce_rows(attr, values)
    out, redo = fast
    idx = np.flatnonzero(redo)
    if not len(idx):
        return out.tolist(), {}
    again, errs = _coerce_rows(attr, [values[int(i)] for i in idx])
    for j, i in enumerate(idx):
        out[i] = again[j]
    return out.tolist(), {int(idx[j]): e for j, e in errs.items()}


FAST_MIN_ROWS = 1000
_PLAIN = {
    str: "str",
    type(None): "none",
    float: "float",
    np.float64: "float",
    np.float32: "float",
    int: "int",
    np.int64: "int",
    np.int32: "int",
    np.int16: "int",
    bool: "bool",
    np.bool_: "bool",
}
_type_of = np.frompyfunc(type, 1, 1)


def _flags(items, test) -> np.ndarray:
    """``test`` (a builtin, for speed) applied to every item."""
    return np.fromiter(map(test, items), dtype=bool, count=len(items))


def _fast_column(attr: Attr, values: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(typed values, rows to redo one by one) for text, int, float and bool attributes; None: no fast path."""
    if attr.type not in ("text", "int", "float", "bool") or (attr.choices and attr.type != "text"):
        return None
    if attr.type == "bool" and (attr.minimum is not None or attr.maximum is not None):
        return None
    n = len(values)
    raw = np.empty(n, dtype=object)
    try:
        raw[:] = values
    except ValueError:  # nested sequences
        return None
    types = np.asarray(_type_of(raw), dtype=object)  # it is one already (no copy); typed as an array here
    kind = {k: np.zeros(n, dtype=bool) for k in ("str", "none", "float", "int", "bool", "other")}
    for t in set(types):
        box = np.empty((), dtype=object)  # compare with the type as an object (numpy types are special)
        box[()] = t
        kind[_PLAIN.get(t, "other")] |= types == box
    out = np.full(n, None, dtype=object)
    redo = kind["other"] | kind["bool"] if attr.type != "bool" else kind["other"].copy()
    # Blanks: None, NaN, whitespace-only text.
    text = np.array(list(map(str.strip, raw[kind["str"]])), dtype=object)
    blank = kind["none"].copy()
    blank[kind["str"]] = text == ""
    if kind["float"].any():
        blank[kind["float"]] = np.isnan(raw[kind["float"]].astype(float))
    if attr.required:
        redo |= blank
    cells = text[text != ""]
    rows = np.flatnonzero(kind["str"] & ~blank)  # the rows of ``cells``
    nums = kind["float"] | kind["int"]
    if attr.type in ("text", "bool"):
        redo |= nums & ~blank  # numbers as text or yes/no: row by row
    if attr.type == "text":
        bad = np.zeros(len(cells), dtype=bool)
        if attr.choices:
            bad |= ~_flags(cells, frozenset(attr.choices).__contains__)
        if attr.max_length:
            bad |= np.fromiter(map(len, cells), dtype=np.int64, count=len(cells)) > attr.max_length
        if attr.shape is not None:
            shape = attr.shape
            bad |= _flags(cells, lambda c: shape.refuse(c) is not None)
        out[rows] = cells
        redo[rows[bad]] = True
        return out, redo
    if attr.type == "bool":
        out[kind["bool"]] = raw[kind["bool"]].astype(bool).astype(object)
        low = list(map(str.lower, cells))
        yes, no = _flags(low, TRUE.__contains__), _flags(low, FALSE.__contains__)
        out[rows[yes]] = True
        out[rows[no]] = False
        redo[rows[~(yes | no)]] = True
        return out, redo
    # int and float: text parses as float(text) does (numpy calls it); anything odd goes row by row
    if attr.type == "float":
        cells = np.array([x.replace(",", "") for x in cells], dtype=object)
    values_f = np.full(n, np.nan)
    try:
        values_f[rows] = cells.astype(float)
    except (ValueError, TypeError, OverflowError):
        redo[rows] = True
    numbers = np.flatnonzero(nums & ~blank)
    try:
        values_f[numbers] = raw[numbers].astype(float)
    except (ValueError, TypeError, OverflowError):
        redo[numbers] = True
    todo = np.flatnonzero(~blank & ~redo & (kind["str"] | nums))
    f = values_f[todo]
    bad = ~np.isfinite(f)
    if attr.type == "int":
        bad |= (f != np.floor(f)) | (np.abs(f) >= 2.0**53)
    if attr.minimum is not None:
        bad |= f < attr.minimum
    if attr.maximum is not None:
        bad |= f > attr.maximum
    redo[todo[bad]] = True
    good = todo[~bad]
    out[good] = (values_f[good].astype(np.int64) if attr.type == "int" else values_f[good]).astype(object)
    return out, redo


def _coerce_rows(attr: Attr, values: Sequence[Any] | np.ndarray) -> tuple[list[Any], dict[int, AttrError]]:
    """The rules, one value at a time."""
    out: list[Any] = [None] * len(values)
    errors: dict[int, AttrError] = {}
    label = f"「{attr.label}」"

    def err(i: int, code: str, msg: str) -> None:
        errors[i] = AttrError(code, msg, attr.name, values[i])

    v: str | int | float | bool | dt.date | dt.datetime
    for i, raw in enumerate(values):
        raw = to_python(raw)
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
                    t = raw
                else:
                    t = dt.datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
                v = t if t.tzinfo is not None else t.replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))  # Beijing time
            else:  # pragma: no cover - registry rejects unknown types
                raise ValueError
        except (ValueError, TypeError, OverflowError):
            kind = {
                "int": "整数",
                "float": "数字",
                "bool": "是/否",
                "date": "日期（YYYY-MM-DD）",
                "datetime": "日期时间（ISO 8601）",
            }.get(attr.type, "文本")
            err(i, "invalid_type", f"{label}应为{kind}。")
            continue
        if attr.choices and v not in attr.choices:
            err(i, "invalid_choice", f"{label}的取值「{v}」无效，可选：{'、'.join(attr.choices)}。")
            continue
        if attr.max_length and isinstance(v, str) and len(v) > attr.max_length:
            err(i, "too_long", f"{label}最长 {attr.max_length} 个字符。")
            continue
        if attr.minimum is not None and isinstance(v, (int, float)) and v < attr.minimum:
            err(i, "out_of_range", f"{label}应不小于 {number_text(attr.minimum)}。")
            continue
        if attr.maximum is not None and isinstance(v, (int, float)) and v > attr.maximum:
            err(i, "out_of_range", f"{label}应不大于 {number_text(attr.maximum)}。")
            continue
        refusal = (
            attr.window.refuse(v)
            if isinstance(v, dt.date)
            else attr.shape.refuse(v)
            if attr.shape is not None and isinstance(v, str)
            else None
        )
        if refusal is not None:
            err(i, refusal.code, f"{label}{refusal.rule}")
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
