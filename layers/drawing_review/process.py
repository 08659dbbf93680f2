"""The drawing-review application (施工图审查送审) as a case of the case declaration, and the vocabulary of the
review: categories, grades, review contents (the joint review), disciplines, jurisdictions and stages.

The flow (SPEC DR-02…06)::

    draft ─submit→ submitted ─draw (摇号)→ drawn ─accept→ reviewing ─opinions: modify→ replying ─reply→ reviewing …
                                             └─return→ returned ─submit→ submitted
    reviewing ─opinions: all pass→ passed ─certify→ certified        reviewing ─opinions: fail→ failed

The lottery, the agency's opinions, the design unit's reply and the certificate are taken by their own routes (they
carry more than a reason: the draw record, the per-discipline conclusions, revised drawings, the certificate
number), which call the state machine; the action routes take the plain ones (submit, accept, return, withdraw).
"""

from __future__ import annotations

from typing import Any

from geo.cases import Action, CaseType, Lookup, register
from geo.divisions import district_attr
from geo.layer.registry import Attr

CATEGORIES = ("房屋建筑", "市政基础设施")
GRADES = ("一类", "二类", "三类")
# Review contents of the joint review: the general review and the departments' (人防、消防、气象).
CONTENTS = {"general": "施工图审查", "fire": "消防审查", "civil_defence": "人防审查", "meteorology": "防雷（气象）审查"}
# The department that co-reviews each content (their viewers see the applications that include it).
DEPARTMENTS = {"fire": "消防", "civil_defence": "人防", "meteorology": "气象"}
DISCIPLINES = {
    "architecture": "建筑",
    "structure": "结构",
    "plumbing": "给排水",
    "hvac": "暖通",
    "electrical": "电气",
    "fire": "消防",
    "civil_defence": "人防",
    "energy": "节能",
}
OPINION_CONCLUSIONS = ("合格", "需修改", "不合格")
JURISDICTIONS = ("市本级", "建德市", "淳安县")
COUNTIES = ("建德市", "淳安县")
# Stages with a time limit (working days, ``dr_time_limits``): accepting, one review round, the design unit's reply,
# issuing the certificate.
STAGES = {"accept": "受理", "review": "审查", "reply": "设计回复", "certify": "发证"}


def jurisdiction_of(district: str | None) -> str:
    """市本级 or the county that runs its own review (建德市, 淳安县)."""
    return district if district in COUNTIES else "市本级"


# Roles that see every jurisdiction's applications whatever else they hold (the city's supervision).
CITY_WIDE_ROLES = frozenset({"admin", "city_supervisor", "leader"})


def window_restriction(who: Any, table: Any, conn: Any, params: dict[str, str]) -> Any:
    """DR-03: an acceptance window (受理窗口, role ``review_window``, scope all) works for one jurisdiction — the
    county of its account's district (``users.district`` 建德市 / 淳安县), else 市本级 — and sees only its
    applications; everybody else is scoped by row-level security alone."""
    roles = set(getattr(who, "roles", ()))
    if "review_window" not in roles or roles & CITY_WIDE_ROLES:
        return None
    return table.c.jurisdiction == jurisdiction_of(getattr(who, "district", None))


STATES = {
    "draft": "草稿",
    "submitted": "已送审（待摇号）",
    "drawn": "待受理",
    "returned": "退回补正",
    "reviewing": "审查中",
    "replying": "待回复",
    "passed": "审查合格",
    "failed": "审查不合格",
    "certified": "已发证",
    "withdrawn": "已撤回",
}
# The pin's status on the map (``review_projects.status``) for each state.
PIN_STATUS = {
    "draft": "草稿",
    "submitted": "待摇号",
    "drawn": "待受理",
    "returned": "退回补正",
    "reviewing": "审查中",
    "replying": "待回复",
    "passed": "审查合格",
    "failed": "审查不合格",
    "certified": "已发证",
    "withdrawn": "已撤回",
}

APPLICATION = register(
    CaseType(
        kind="dr_application",
        title="施工图审查申请",
        table="dr_applications",
        states=STATES,
        actions=(
            Action("submit", "送审", ("draft", "returned"), "submitted", "review.submit"),
            Action("withdraw", "撤回", ("draft", "submitted", "returned"), "withdrawn", "review.submit"),
            Action("draw", "摇号", ("submitted",), "drawn", "review.draw", handled_by="摇号"),
            Action("accept", "受理", ("drawn",), "reviewing", "review.accept"),
            Action("return", "退回补正", ("drawn",), "returned", "review.accept", reason_required=True),
            Action(
                "modify", "出具审查意见（需修改）", ("reviewing",), "replying", "review.opine", handled_by="审查意见"
            ),
            Action("pass", "审查合格", ("reviewing",), "passed", "review.opine", handled_by="审查意见"),
            Action("fail", "审查不合格", ("reviewing",), "failed", "review.opine", handled_by="审查意见"),
            Action("reply", "设计回复", ("replying",), "reviewing", "review.reply", handled_by="设计回复"),
            Action("certify", "发放审查合格书", ("passed",), "certified", "review.certify", handled_by="发证"),
        ),
        fields=(
            Attr("application_no", "申请编号", filterable=True),
            Attr("project_code", "项目代码", filterable=True),
            Attr("name", "项目名称"),
            Attr("submission_name", "送审名称"),
            Attr("builder_uscc", "建设单位", filterable=True),
            Attr("designer_uscc", "设计单位", filterable=True),
            Attr("agency_id", "审查机构", "int", filterable=True),
            Attr("review_category", "审查类别", choices=CATEGORIES, filterable=True),
            Attr("grade", "项目等级", choices=GRADES, filterable=True),
            Attr("floor_area_m2", "总建筑面积(㎡)", "float"),
            Attr("investment_wan", "估算投资(万元)", "float"),
            Attr("jurisdiction", "管辖", choices=JURISDICTIONS, filterable=True),
            district_attr(),
            Attr("round_no", "审查轮次", "int"),
            Attr("submitted_at", "送审时间", "datetime"),
            Attr("drawn_at", "摇号时间", "datetime"),
            Attr("accepted_at", "受理时间", "datetime"),
            Attr("concluded_at", "审查结论时间", "datetime"),
            Attr("conclusion", "审查结论"),
            Attr("certificate_no", "审查合格书编号"),
            Attr("certified_at", "发证时间", "datetime"),
            Attr("due_on", "本阶段到期日", "date"),
        ),
        columns=(
            ("application_no", "申请编号"),
            ("project_code", "项目代码"),
            ("name", "项目名称"),
            ("submission_name", "送审名称"),
            ("builder_name", "建设单位"),
            ("designer_name", "设计单位"),
            ("agency_name", "审查机构"),
            ("review_category", "审查类别"),
            ("grade", "项目等级"),
            ("jurisdiction", "管辖"),
            ("district", "区县"),
            ("status_title", "状态"),
            ("submitted_at", "送审时间"),
            ("due_on", "本阶段到期日"),
        ),
        lookups=(Lookup("dr_agencies", "agency_id", {"agency_uscc": "uscc"}),),
        scope="project",
        view="review.view",
        export="review.export",
        sort=("-submitted_at", "-id"),
        restrict=window_restriction,
    )
)
MACHINE = APPLICATION.machine
