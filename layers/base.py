"""Administrative divisions: Hangzhou's districts and counties, and townships."""
from layers.registry import Attr, Layer, Style, register

# Hangzhou after the 2021 redistricting (临平区 and 钱塘区 exist; 江干区 and 下城区 are gone).
DISTRICTS: dict[str, str] = {
    "330102": "上城区", "330105": "拱墅区", "330106": "西湖区", "330108": "滨江区",
    "330109": "萧山区", "330110": "余杭区", "330111": "富阳区", "330112": "临安区",
    "330113": "临平区", "330114": "钱塘区", "330122": "桐庐县", "330127": "淳安县",
    "330182": "建德市",
}
DISTRICT_NAMES = tuple(DISTRICTS.values())


def district_attr(**kw) -> Attr:
    """The district every business record belongs to (filled from the geometry when omitted)."""
    return Attr("district", "所属区县", choices=DISTRICT_NAMES, filterable=True, **kw)


register(
    Layer(
        id="districts", title="区县边界", module="base", group="基础地理", geometry="MultiPolygon",
        attrs=(
            Attr("code", "行政区划代码", required=True, searchable=True, filterable=True, max_length=12),
            Attr("name", "名称", required=True, searchable=True, max_length=50),
            Attr("kind", "类型", choices=("区", "县", "县级市")),
        ),
        style=Style(color="#94a3b8", opacity=0.08, outline="#475569", width=1.5),
        popup=("name", "code", "kind"), order=10, edit="base.edit",
    ),
    Layer(
        id="townships", title="乡镇街道", module="base", group="基础地理", geometry="MultiPolygon",
        attrs=(
            Attr("code", "乡镇街道代码", required=True, searchable=True, filterable=True, max_length=12),
            Attr("name", "名称", required=True, searchable=True, max_length=50),
            district_attr(),
        ),
        style=Style(color="#cbd5e1", opacity=0.05, outline="#94a3b8", width=0.8),
        minzoom=9, popup=("name", "code", "district"), order=11, edit="base.edit",
    ),
)
