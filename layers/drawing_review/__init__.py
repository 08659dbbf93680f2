"""Construction-drawing joint review (施工图联审, SPEC DR-01…12): applications of register projects by builders and
design units, the lottery of review agencies, review rounds with per-discipline opinions and drawing comments, the
design unit's replies, the certificate, evaluations, queries and statistics in official working days, for the city
(市本级) and the counties 建德市 and 淳安县.

- ``process`` — the application as a case (states, actions) and the review's vocabulary;
- ``tables`` — table objects over the module's migrations (``migrations/``);
- the ``review_projects`` layer below — each application's pin on the one map, coloured by the application's state
  (``PIN_STATUS``) and ringed in red while its current stage is overdue (``overdue``, migration ``dr_0007``), and the
  links that put the applications on the record pages of their pin, project and enterprises (``geo.records``);
- ``demo`` — the twelve agencies and 3,000 applications of two years, and the thematic map of applications per
  district.
"""

from geo.bounds import AREA_MAX_M2, INVESTMENT_MAX_WAN, RECORD_CODE
from geo.divisions import district_attr
from geo.layer.registry import Attr, Layer, Style, register
from geo.modules import permissions
from geo.records import Link, register_link
from layers.drawing_review.process import (
    APPLICATION,
    CATEGORIES,
    CONTENTS,
    DISCIPLINES,
    GRADES,
    JURISDICTIONS,
    PIN_STATUS,
    jurisdiction_of,
)

__all__ = ["APPLICATION", "CATEGORIES", "CONTENTS", "DISCIPLINES", "GRADES", "JURISDICTIONS", "jurisdiction_of"]

# The review's named actions (migration dr_0001 grants them to the roles; ``review.view`` / ``review.export`` come
# with the ``review_projects`` layer below).
permissions(
    {
        "review.submit": "施工图送审（建设单位、设计单位）",
        "review.reply": "回复审查意见（设计单位）",
        "review.accept": "受理或退回送审",
        "review.opine": "出具审查意见",
        "review.certify": "发放审查合格书",
        "review.score": "评价勘察设计单位",
        "review.rate": "评价审查机构服务",
        "review.draw": "摇号确定审查机构",
        "review.config": "施工图联审配置（审查机构、摇号比例、时限、评分标准）",
    },
    group="施工图联审",
)

# The pin's statuses: one per state of the application (``process.PIN_STATUS``), in the order of the flow.
REVIEW_STATUS = tuple(PIN_STATUS.values())
STATUS_COLORS = {
    "草稿": "#cbd5e1",
    "待摇号": "#8b5cf6",
    "待受理": "#64748b",
    "退回补正": "#f97316",
    "审查中": "#f59e0b",
    "待回复": "#ec4899",
    "审查合格": "#10b981",
    "审查不合格": "#44403c",
    "已发证": "#0ea5e9",
    "已撤回": "#94a3b8",
}
assert set(STATUS_COLORS) == set(REVIEW_STATUS)

register(
    Layer(
        id="review_projects",
        title="施工图审查项目",
        module="drawing_review",
        group="施工图联审",
        geometry="Point",
        attrs=(
            Attr("code", "项目代码", required=True, searchable=True, filterable=True, shape=RECORD_CODE),
            Attr("name", "项目名称", required=True, searchable=True, max_length=200),
            district_attr(),
            Attr("builder", "建设单位", searchable=True, max_length=200),
            Attr("designer", "设计单位", searchable=True, max_length=200),
            Attr("agency", "审查机构", searchable=True, filterable=True, max_length=200),
            Attr("review_category", "审查类别", choices=CATEGORIES, filterable=True),
            Attr("grade", "项目等级", choices=GRADES, filterable=True),
            Attr("floor_area_m2", "总建筑面积(㎡)", "float", minimum=0, maximum=AREA_MAX_M2),
            Attr("investment_wan", "估算投资(万元)", "float", minimum=0, maximum=INVESTMENT_MAX_WAN),
            Attr("submitted_at", "送审日期", "date"),
            Attr("concluded_at", "审查结论日期", "date"),
            Attr("status", "状态", choices=REVIEW_STATUS, filterable=True),
            # The current stage is past its due date in working days: set by whoever computes the due dates.
            Attr("overdue", "逾期", "bool", filterable=True, read_only=True),
        ),
        style=Style(color_by="status", colors=STATUS_COLORS, radius=5, ring_by="overdue"),
        popup=("name", "code", "district", "status", "overdue", "agency", "builder", "designer", "submitted_at"),
        view="review.view",
        edit="review.edit",
        order=45,
        grantable=True,
    ),
)

# Record pages: a pin's page lists its application; a project's page its applications (the project register names
# the pins ``施工图审查``: this group is the applications themselves) and an enterprise's page those it surveyed or
# reviewed (``flow`` links the builders' and design units'); each row links to the application's page.
_COLUMNS = (
    ("application_no", "申请编号"),
    ("name", "项目名称"),
    ("status", "状态"),
    ("round_no", "审查轮次"),
    ("submitted_at", "送审时间"),
    ("certificate_no", "审查合格书编号"),
)


def _applications(target: str, title: str, column: str, target_column: str, table: str = "dr_applications") -> Link:
    return Link(
        target=target,
        module="drawing_review",
        title=title,
        kind="dr_application",
        table=table,
        column=column,
        target_column=target_column,
        columns=_COLUMNS,
        order="submitted_at DESC",
    )


register_link(
    _applications("review_projects", "施工图审查申请", "review_project_id", "id"),
    _applications("projects", "施工图审查申请", "project_id", "id"),
    _applications("enterprises", "施工图审查（勘察单位）", "surveyor_uscc", "uscc"),
    _applications("enterprises", "施工图审查（审查机构）", "agency_uscc", "uscc", table="dr_agency_applications"),
)

from layers.drawing_review import queries as _queries, stats as _stats  # noqa: F401,E402,I001

from layers.drawing_review import flow as _flow  # noqa: F401,E402
from layers.drawing_review import lottery as _lottery  # noqa: F401,E402  (agencies, ratio tables, the draw)
from layers.drawing_review import evaluations as _evaluations  # noqa: F401,E402
from layers.drawing_review import drawings as _drawings  # noqa: F401,E402
from layers.drawing_review import overdue as _overdue  # noqa: F401,E402
