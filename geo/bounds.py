"""The bounds of every declared input field, in one place: dates within a sane window, whole numbers and amounts
within limits, text no longer than declared, codes of a declared shape.

A bound is a small frozen object (:class:`Window`, :class:`Range`, :class:`Length`, :class:`Shape`) that knows its
rule and says in Chinese what is allowed. Layer attributes carry them (``Attr(window=…, shape=…)``, the
minimum/maximum/max_length already there; geo/layer/attributes.py checks them), and the request models and settings
use the annotated types built from them here (``Day()``, ``Moment()``, ``Whole(1, 9)``, ``Hours``, ``Amount(…)``,
``Text(200)``, ``Code(SHAPE)``): the same bound object sits in the field's metadata, so a test can see that every
field has one, and its refusal is a validation error whose type is the machine code (``out_of_range``,
``invalid_type``, ``too_long``, ``required``, ``bad_format``, ``invalid_uscc``, ``invalid_id_number``,
``invalid_phone``) and whose message is the Chinese rule; api/errors.py puts the field's label in front.

Nothing is repaired: 704.2 hours is refused, not rounded; a number is not a date; true is not a number. A number
given as text reads as that number ("12" is 12), as in a CSV cell (geo/layer/attributes.py does the same).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import PydanticCustomError, core_schema
from stdnum.cn import ric, uscc

BEIJING = dt.timezone(dt.timedelta(hours=8))
EARLIEST = dt.date(1949, 10, 1)  # no record of the Commission's predates the People's Republic
YEARS_AHEAD = 10  # a planned date lies at most this many years ahead
ID_MAX = 2**53 - 1  # record ids: what a JSON number holds exactly
AREA_MAX_M2 = 10_000_000.0  # a building's or a project's floor area: 1,000 hectares
INVESTMENT_MAX_WAN = 100_000_000.0  # an investment or a fund in 万元: one trillion yuan

# The machine codes a bound refuses with; its validation errors carry ``ctx["geo_bounds"]`` (api/errors.py reads both).
CODES = frozenset(
    {"out_of_range", "invalid_type", "too_long", "too_short", "required", "bad_format", "invalid_uscc",
     "invalid_id_number", "invalid_phone"}
)  # fmt: skip


def today() -> dt.date:
    """Today in Beijing."""
    return dt.datetime.now(BEIJING).date()


def number_text(v: float) -> str:
    """A limit as a clerk reads it: 720, 0.5, 100000000 (no exponent)."""
    return str(int(v)) if float(v).is_integer() else f"{v:f}".rstrip("0")


def _years_after(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True)
class Refusal:
    """What a bound says of a value it refuses: the machine code and the Chinese rule (without the field's name)."""

    code: str
    rule: str


class _Annotation:
    """A bound as pydantic metadata: ``Annotated[int, Range(1, 9, whole=True)]`` parses, checks and describes itself
    in the JSON schema (what the functions below build)."""

    def parse(self, source: Any) -> Callable[[Any], Any] | None:
        return None

    def schema(self) -> dict[str, Any]:
        return {}

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        checked = core_schema.no_info_after_validator_function(_check(self), handler(source))  # type: ignore[arg-type]
        before = self.parse(source)
        return checked if before is None else core_schema.no_info_before_validator_function(before, checked)

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> Any:
        out = handler(schema)
        out.update(self.schema())
        return out


@dataclass(frozen=True)
class Window(_Annotation):
    """Dates from ``earliest`` to ``years_ahead`` years after today (0: not after today)."""

    earliest: dt.date = EARLIEST
    years_ahead: int = YEARS_AHEAD

    def latest(self) -> dt.date:
        return _years_after(today(), self.years_ahead)

    def rule(self) -> str:
        last = "今天" if self.years_ahead == 0 else self.latest().isoformat()
        return f"应在 {self.earliest.isoformat()} 至 {last} 之间"

    def refuse(self, value: dt.date | dt.datetime) -> Refusal | None:
        day = value.astimezone(BEIJING).date() if isinstance(value, dt.datetime) and value.tzinfo else value
        if isinstance(day, dt.datetime):
            day = day.date()
        if self.earliest <= day <= self.latest():
            return None
        return Refusal("out_of_range", self.rule() + "。")

    def parse(self, source: Any) -> Callable[[Any], Any]:
        if source is dt.datetime:
            return _date_input("应为日期时间（ISO 8601，如 2026-12-01T09:00:00+08:00）。")
        return _date_input("应为日期（YYYY-MM-DD）。")

    def schema(self) -> dict[str, Any]:
        return {"formatMinimum": self.earliest.isoformat(), "formatMaximum": self.latest().isoformat()}


@dataclass(frozen=True)
class Range(_Annotation):
    """Numbers from ``minimum`` to ``maximum``; ``whole``: integers only."""

    minimum: float
    maximum: float
    whole: bool = False

    def rule(self) -> str:
        kind = "整数" if self.whole else "数"
        return f"应为 {number_text(self.minimum)} 至 {number_text(self.maximum)} 之间的{kind}"

    def refuse(self, value: float) -> Refusal | None:
        if not math.isfinite(value) or (self.whole and not float(value).is_integer()):
            return Refusal("invalid_type", self.rule() + "。")
        if self.minimum <= value <= self.maximum:
            return None
        return Refusal("out_of_range", self.rule() + "。")

    def parse(self, source: Any) -> Callable[[Any], Any]:
        return _number_input(self)

    def schema(self) -> dict[str, Any]:
        kind = int if self.whole else float
        return {"minimum": kind(self.minimum), "maximum": kind(self.maximum)}


@dataclass(frozen=True)
class Length(_Annotation):
    """Text of ``minimum`` to ``maximum`` characters (``minimum`` 1: not blank)."""

    maximum: int
    minimum: int = 0

    def refuse(self, value: str) -> Refusal | None:
        if self.minimum and not value.strip():
            return Refusal("required", "不能为空。")
        if len(value) > self.maximum:
            return Refusal("too_long", f"最长 {self.maximum} 个字符。")
        if len(value) < self.minimum:
            return Refusal("too_short", f"至少 {self.minimum} 个字符。")
        return None

    def schema(self) -> dict[str, Any]:
        return {"maxLength": self.maximum} | ({"minLength": self.minimum} if self.minimum else {})


@dataclass(frozen=True)
class Shape:
    """A code's shape: a regular expression and/or a checker (a check digit), with the rule in Chinese."""

    name: str  # what it is, in Chinese: 统一社会信用代码
    rule: str  # its shape, in Chinese
    max_length: int
    pattern: str | None = None
    check: Callable[[str], Any] | None = None  # raises ValueError (stdnum's ValidationError is one) when wrong
    code: str = "bad_format"

    def refuse(self, value: str) -> Refusal | None:
        ok = len(value) <= self.max_length and (self.pattern is None or re.fullmatch(self.pattern, value) is not None)
        if ok and self.check is not None:
            try:
                self.check(value)
            except ValueError:
                ok = False
        return None if ok else Refusal(self.code, f"「{value}」不是有效的{self.name}（{self.rule}）。")


# -- the shapes of the codes clerks type ---------------------------------------------------------------------------
USCC = Shape(
    "统一社会信用代码",
    "18 位数字或大写字母，末位为校验码",
    18,
    r"(?i)[1-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}",  # letters in either case: the same code
    lambda v: uscc.validate(v.upper()),
    "invalid_uscc",
)
RESIDENT_ID = Shape(
    "身份证号码", "18 位，含出生日期、地区码和校验位", 18, r"\d{17}[\dXx]", ric.validate, "invalid_id_number"
)
MOBILE = Shape("手机号码", "11 位数字，以 13–19 开头", 11, r"1[3-9]\d{9}", code="invalid_phone")
# Whose it is (enterprise or person) says which check digit applies: the route checks it, the shape only the form.
SUBJECT_CODE = Shape("统一社会信用代码或身份证号码", "18 位数字或字母", 18, r"[0-9A-Za-z]{18}")
# A record's own code (项目编号, 绿道编号 …): letters and digits with - _ . /, a letter or a digit 1–9 somewhere.
RECORD_CODE = Shape(
    "编号",
    "由字母、数字和 - _ . / 组成，以字母或数字开头，不能全为 0，至多 40 个字符",
    40,
    r"(?=.*[A-Za-z1-9])[A-Za-z0-9][A-Za-z0-9_./-]*",
)
# 项目代码 of the project library (投资项目代码 such as 2020-330106-47-01-123456, or a local one such as XH-2026-0001).
PROJECT_CODE = Shape(
    "项目代码",
    "由大写字母、数字和短横线组成，以字母或数字开头，不能全为 0，4 至 40 个字符",
    40,
    r"(?=.*[A-Z1-9])[A-Z0-9][A-Z0-9-]{3,}",
)
PERMIT_NO = Shape(
    "施工许可证号",
    "由字母、数字和短横线组成，不能全为 0，至多 60 个字符",
    60,
    r"(?=.*[A-Za-z1-9])[A-Za-z0-9][A-Za-z0-9-]*",
)
# A configured item's code (P01, B02, safety_checks): a letter first, then letters, digits, _ or -.
ITEM_CODE = Shape(
    "配置项编码", "以字母开头，由字母、数字、下划线和短横线组成，至多 32 个字符", 32, r"[A-Za-z][A-Za-z0-9_-]*"
)
OTP = Shape("动态密码", "短信中的 4 至 10 位数字", 10, r"\d{4,10}")
DIVISION_CODE = Shape("行政区划代码", "6、9 或 12 位数字，不能全为 0", 12, r"(?=.*[1-9])\d{6}(\d{3}(\d{3})?)?")


def _month_in_window(value: str) -> None:
    if Window().refuse(dt.date(int(value[:4]), int(value[5:7]), 28)) is not None:
        raise ValueError(value)


MONTH = Shape(
    "月份", "YYYY-MM，如 2026-11，不早于 1949 年、不晚于十年后", 7, r"\d{4}-(0[1-9]|1[0-2])", _month_in_window
)


# -- annotated types for request models and settings ----------------------------------------------------------------
def _fail(refusal: Refusal) -> PydanticCustomError:
    # The rule is the whole message: braces in an echoed value are not placeholders (pydantic fills only ctx keys).
    return PydanticCustomError(refusal.code, refusal.rule, {"geo_bounds": refusal.code})


def _not_bool(value: Any, rule: str) -> None:
    if isinstance(value, bool):
        raise _fail(Refusal("invalid_type", rule + "。"))


def _number_input(bound: Range) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        _not_bool(value, bound.rule())
        if isinstance(value, str):
            text = value.strip()
            if bound.whole and re.fullmatch(r"[+-]?\d+", text):
                return int(text)
            try:
                value = float(text)
            except ValueError:
                raise _fail(Refusal("invalid_type", bound.rule() + "。")) from None
        if isinstance(value, float):
            refusal = bound.refuse(value)
            if refusal is not None and refusal.code == "invalid_type":
                raise _fail(refusal)
            return int(value) if bound.whole else value
        return value

    return parse


def _check(bound: Range | Window | Length | Shape) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        refusal = bound.refuse(value)
        if refusal is not None:
            raise _fail(refusal)
        return value

    return check


def Whole(minimum: int, maximum: int) -> Any:  # noqa: N802 - a type, named like one
    """An integer from ``minimum`` to ``maximum`` (a fraction is refused, not rounded)."""
    return Annotated[int, Range(minimum, maximum, whole=True)]


def Amount(maximum: float, minimum: float = 0) -> Any:  # noqa: N802
    """A number (area, amount, score, distance) from ``minimum`` (0) to ``maximum``."""
    return Annotated[float, Range(minimum, maximum)]


def _date_input(rule: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if isinstance(value, (bool, int, float)):  # pydantic would read a number as a Unix time
            raise _fail(Refusal("invalid_type", rule))
        return value

    return parse


def Day(window: Window = Window()) -> Any:  # noqa: N802, B008 - a frozen default
    """A date (YYYY-MM-DD) within ``window`` (1949-10-01 to ten years from today unless the field says otherwise)."""
    return Annotated[dt.date, window]


def Moment(window: Window = Window()) -> Any:  # noqa: N802, B008
    """A date and time (ISO 8601) whose Beijing date lies within ``window``."""
    return Annotated[dt.datetime, window]


def Text(maximum: int, minimum: int = 0) -> Any:  # noqa: N802
    """Text of at most ``maximum`` characters (``minimum`` 1: not blank)."""
    return Annotated[str, Length(maximum, minimum)]


def Code(shape: Shape, blank: bool = False) -> Any:  # noqa: N802
    """A code of the declared shape (refused as it is; never trimmed or upper-cased). Blank (empty or spaces) is
    refused as ``required`` unless ``blank``: an optional field a form sends empty."""

    def check(value: str) -> str:
        if not value.strip():
            if blank:
                return value
            raise _fail(Refusal("required", "不能为空。"))
        return _check(shape)(value)

    return Annotated[str, AfterValidator(check), shape, Field(json_schema_extra={"maxLength": shape.max_length})]


Hours = Whole(1, 720)  # a reminder or a period in whole hours: one hour to thirty days
RecordId = Whole(1, ID_MAX)
Version = Whole(0, 2**31 - 1)  # the version a client read (an integer column; one that never was is stale: 409)
REVIEW_WINDOW = Window(dt.date(2000, 1, 1), 2)  # review rounds: planned at most two years ahead

BOUNDS = (Window, Range, Length, Shape)


def bound_of(metadata: list[Any]) -> Window | Range | Length | Shape | None:
    """The bound among a field's metadata (None: the field declares none)."""
    return next((m for m in metadata if isinstance(m, BOUNDS)), None)
