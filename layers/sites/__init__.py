"""Standardized construction sites (标化工地): the site pin and its boundary (the electronic fence)."""

from geo.bounds import AREA_MAX_M2, ID_MAX, INVESTMENT_MAX_WAN, PERMIT_NO, RECORD_CODE
from geo.divisions import district_attr
from geo.layer.registry import Attr, Layer, Style, register

# The map legend of ST-19: 在建 (reporting monthly, 申报中), 逾期未报 (last month's report missing after the due day),
# 考评中 (evaluation applied for), 已获评 (awarded); 停工 and 竣工验收 are set by hand. The standardized-site module
# keeps the four in step with the records (layers/standard_sites/stats.py, ``refresh_site_status``).
SITE_STATUS = ("在建", "逾期未报", "考评中", "已获评", "停工", "竣工验收")
STATUS_COLORS = {
    "在建": "#2563eb",
    "逾期未报": "#dc2626",
    "考评中": "#8b5cf6",
    "已获评": "#ca8a04",
    "停工": "#6b7280",
    "竣工验收": "#10b981",
}

register(
    Layer(
        id="sites",
        title="建设工地",
        module="sites",
        group="标化工地",
        geometry="Point",
        attrs=(
            Attr("code", "项目编号", required=True, searchable=True, filterable=True, shape=RECORD_CODE),
            Attr("name", "项目名称", required=True, searchable=True, max_length=200),
            district_attr(),
            Attr("address", "项目地址", searchable=True, max_length=200),
            Attr("permit_no", "施工许可证号", searchable=True, shape=PERMIT_NO),
            Attr("builder", "建设单位", searchable=True, max_length=200),
            Attr("construction_unit", "施工单位", searchable=True, max_length=200),
            Attr("supervision_unit", "监理单位", searchable=True, max_length=200),
            Attr(
                "project_type",
                "工程类别",
                choices=("房屋建筑", "市政基础设施", "轨道交通", "水利", "其他"),
                filterable=True,
            ),
            Attr("floor_area_m2", "建筑面积(㎡)", "float", minimum=0, maximum=AREA_MAX_M2),
            Attr("investment_wan", "总投资(万元)", "float", minimum=0, maximum=INVESTMENT_MAX_WAN),
            Attr("start_date", "开工日期", "date"),
            Attr("planned_end_date", "计划竣工日期", "date"),
            Attr("status", "状态", choices=SITE_STATUS, filterable=True),
            Attr("latest_report", "最近月报", max_length=60),  # kept by standard_sites.stats.refresh_site_status
        ),
        style=Style(color_by="status", colors=STATUS_COLORS, radius=6),
        popup=(
            "name",
            "code",
            "district",
            "construction_unit",
            "supervision_unit",
            "status",
            "latest_report",
            "start_date",
        ),
        view="site.view",
        edit="site.edit",
        order=40,
        grantable=True,
    ),
    Layer(
        id="site_fences",
        title="工地电子围栏",
        module="sites",
        group="标化工地",
        geometry="MultiPolygon",
        attrs=(
            Attr("site_id", "所属工地", "int", required=True, filterable=True, minimum=1, maximum=ID_MAX),
            Attr("name", "围栏名称", searchable=True, max_length=200),
            district_attr(),
            Attr("area_m2", "面积(㎡)", "float", read_only=True),
        ),
        style=Style(color="#2563eb", opacity=0.15, outline="#1d4ed8", width=1.5),
        minzoom=11,
        popup=("name", "site_id", "district", "area_m2"),
        view="site.view",
        edit="site.edit",
        order=35,
    ),
)
