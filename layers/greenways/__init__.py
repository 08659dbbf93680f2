"""Greenways (绿道): segments reported by the districts."""

from geo.bounds import INVESTMENT_MAX_WAN, RECORD_CODE
from geo.divisions import district_attr
from geo.layer.registry import Attr, Layer, Style, register

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
