"""The national investment project code (全国投资项目在线审批监管平台 项目代码): ``YYYY-AAAAAA-II-TT-NNNNNN`` — the
year it was issued, the administrative division that issued it, the industry (行业) and the project type
(审批/核准/备案), and a serial number. The register takes only codes issued in Hangzhou: the division part must be one
of its county-level divisions (``geo.divisions``), the city itself (330100), or a division it had before the 2021
redistricting in a code issued before it; the year lies between the platform's start and this year.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from geo import bounds
from geo.divisions import DISTRICTS
from geo.errors import Invalid

FIRST_YEAR = 2015  # the online approval platform issued its first codes in 2015-2016
CITY = "330100"  # 杭州市本级
FORMER = {"330103": ("下城区", 2021), "330104": ("江干区", 2021)}  # division: (name, last year its codes were issued)
PATTERN = re.compile(r"(\d{4})-(\d{6})-(\d{2})-(\d{2})-(\d{6})")
EXAMPLE = "2024-330106-47-01-123456"

# The declared bound of a project-code field (what tests/test_bounds.py's walk and the API description read). Pydantic
# only checks its length; ``check`` below is the whole rule, called by the routes, so that a refusal says which part
# is wrong (the division, the year) with the machine code ``invalid_project_code``.
SHAPE = bounds.Shape(
    "项目代码",
    f"年份-行政区划代码-行业代码-项目类型代码-流水号，如 {EXAMPLE}；行政区划为杭州市的区、县（市）",
    24,
    PATTERN.pattern,
    code="invalid_project_code",
)


def ProjectCode() -> Any:  # noqa: N802 - a type, named like one
    """A request field holding a project code: at most 24 characters, not blank; the routes ``check`` it."""
    return Annotated[str, SHAPE, bounds.Length(SHAPE.max_length, 1)]


def district_of(code: str) -> str | None:
    """The district a (valid) code's division names; None for the city itself."""
    division = code[5:11]
    if division in DISTRICTS:
        return DISTRICTS[division]
    return FORMER[division][0] if division in FORMER else None


def check(code: str, field: str = "project_code") -> str:
    """``code`` when it is a Hangzhou project code; else ``Invalid("invalid_project_code")`` saying what is wrong.
    Nothing is trimmed or repaired."""
    m = PATTERN.fullmatch(code) if isinstance(code, str) else None
    shown = bounds.number_text(code) if isinstance(code, (int, float)) else str(code)
    if m is None:
        raise Invalid(
            "invalid_project_code",
            f"「{shown}」不是有效的项目代码：应为“年份-行政区划代码-行业代码-项目类型代码-流水号”，"
            f"如 {EXAMPLE}（4-6-2-2-6 位数字，以短横线分隔）。",
            field,
            {"value": shown},
        )
    year, division, _industry, _kind, serial = m.groups()
    this_year = bounds.today().year
    if not FIRST_YEAR <= int(year) <= this_year:
        raise Invalid(
            "invalid_project_code",
            f"项目代码「{code}」的年份 {year} 不对：应在 {FIRST_YEAR} 至 {this_year} 年之间。",
            field,
            {"value": code, "year": int(year)},
        )
    if division != CITY and division not in DISTRICTS:
        if division in FORMER and int(year) <= FORMER[division][1]:
            return code
        hint = (
            f"{FORMER[division][0]}的代码只用到 {FORMER[division][1]} 年"
            if division in FORMER
            else "不是杭州市的区、县（市）"
        )
        raise Invalid(
            "invalid_project_code",
            f"项目代码「{code}」中的行政区划代码 {division} {hint}：项目库只登记杭州市赋码的项目。",
            field,
            {"value": code, "division": division},
        )
    if int(serial) == 0:
        raise Invalid("invalid_project_code", f"项目代码「{code}」的流水号不能全为 0。", field, {"value": code})
    return code
