"""Greenway construction (绿道建设, SPEC VT-16): the segments on the map and the districts' reports.

- the ``greenways`` layer (below): segments drawn and edited on the one map by district staff (``greenway.edit``),
  their endpoints snapped to the existing segments within 5 m and their length computed in metres on CGCS2000
  Gauss-Krüger (EPSG:4549) by the database (migration ``grw_0001``); styled by construction status;
- ``reports`` — the annual plan, monthly progress and fund reports, each a case: the district submits, the city
  accepts or returns it with a reason; late and missing reports flagged (due dates: ``settings``);
- ``photos`` — progress photos with the position they were taken at;
- ``summary`` — by district and year, with its Excel export; ``pages`` — the ``/greenways`` workbench;
- ``demo`` — the demo's segments and two years of reports.
"""

from geo.bounds import INVESTMENT_MAX_WAN, RECORD_CODE
from geo.divisions import district_attr
from geo.layer.registry import Attr, Layer, Style, register
from geo.modules import Page, log_labels, pages, permissions

register(
    Layer(
        id="greenways",
        title="绿道",
        module="greenways",
        group="绿道建设",
        geometry="LineString",
        attrs=(
            Attr("code", "绿道编号", required=True, searchable=True, filterable=True, shape=RECORD_CODE),
            Attr("name", "绿道名称", required=True, searchable=True, max_length=200),
            district_attr(),
            Attr("level", "级别", choices=("省级", "市级", "区县级"), filterable=True),
            Attr("kind", "类型", choices=("城镇型", "郊野型", "生态型"), filterable=True),
            Attr("status", "建设状态", choices=("规划", "在建", "已建成"), filterable=True),
            Attr("plan_year", "计划年度", "int", minimum=2000, maximum=2100, filterable=True),
            Attr("fund_wan", "资金(万元)", "float", minimum=0, maximum=INVESTMENT_MAX_WAN),
            Attr("length_m", "长度(米)", "float", read_only=True),
        ),
        style=Style(color_by="status", colors={"规划": "#a3a3a3", "在建": "#f59e0b", "已建成": "#16a34a"}, width=3),
        popup=("name", "code", "district", "level", "status", "plan_year", "length_m"),
        view=None,
        edit="greenway.edit",
        order=60,
    ),
)

permissions(
    {"greenway.report.submit": "填报绿道建设报表", "greenway.report.review": "审核绿道建设报表"},
    group="绿道建设",
)
log_labels(
    objects={"gw_reports": "绿道建设报表", "gw_photos": "绿道进度照片", "gw_summary": "绿道建设汇总"},
    actions={"accept": "接收", "photo_upload": "上传照片"},
)
pages(Page("/greenways", "绿道建设", "业务系统", "greenway.view", order=30))
