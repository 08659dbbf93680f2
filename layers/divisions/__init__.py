"""Administrative divisions (行政区划): the boundaries of Hangzhou's districts and counties, and its townships,
as reference layers of the one map (drawn as boundaries, kept by demo resets)."""

from geo.bounds import DIVISION_CODE
from geo.divisions import district_attr
from geo.layer.registry import Attr, Layer, Style, register

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
    ),
)
