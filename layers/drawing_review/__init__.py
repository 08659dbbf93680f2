"""Construction-drawing joint review (施工图联审, SPEC DR-01…12): applications of register projects by builders and
design units, the lottery of review agencies, review rounds with per-discipline opinions and drawing comments, the
design unit's replies, the certificate, evaluations, queries and statistics in official working days, for the city
(市本级) and the counties 建德市 and 淳安县.

- ``process`` — the application as a case (states, actions) and the review's vocabulary;
- ``tables`` — table objects over the module's migrations (``migrations/``);
- the ``review_projects`` layer below — each application's pin on the one map.
"""

from geo.bounds import AREA_MAX_M2, INVESTMENT_MAX_WAN, RECORD_CODE
from geo.divisions import district_attr
from geo.layer.registry import Attr, Layer, Style, register
from geo.modules import permissions
from layers.drawing_review.process import (
    APPLICATION,
    CATEGORIES,
    CONTENTS,
    DISCIPLINES,
    GRADES,
    JURISDICTIONS,
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

REVIEW_STATUS = ("已受理", "审查中", "待回复", "审查合格", "已发证")

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
            Attr(
                "review_category",
                "审查类别",
                choices=("房屋建筑", "市政基础设施", "人防", "消防", "防雷"),
                filterable=True,
            ),
            Attr("grade", "项目等级", choices=("一类", "二类", "三类"), filterable=True),
            Attr("floor_area_m2", "总建筑面积(㎡)", "float", minimum=0, maximum=AREA_MAX_M2),
            Attr("investment_wan", "估算投资(万元)", "float", minimum=0, maximum=INVESTMENT_MAX_WAN),
            Attr("submitted_at", "送审日期", "date"),
            Attr("concluded_at", "审查结论日期", "date"),
            Attr("status", "状态", choices=REVIEW_STATUS, filterable=True),
        ),
        style=Style(
            color_by="status",
            colors={
                "已受理": "#64748b",
                "审查中": "#f59e0b",
                "待回复": "#ef4444",
                "审查合格": "#10b981",
                "已发证": "#0ea5e9",
            },
            radius=5,
        ),
        popup=("name", "code", "district", "builder", "agency", "status"),
        view="review.view",
        edit="review.edit",
        order=45,
        grantable=True,
    ),
)
from layers.drawing_review import queries as _queries, stats as _stats  # noqa: F401,E402,I001

from layers.drawing_review import flow as _flow  # noqa: F401,E402
from layers.drawing_review import lottery as _lottery  # noqa: F401,E402  (agencies, ratio tables, the draw)
from layers.drawing_review import evaluations as _evaluations  # noqa: F401,E402
from layers.drawing_review import drawings as _drawings  # noqa: F401,E402
