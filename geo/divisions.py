"""Hangzhou's districts and counties (reference data of the core: migration 0002 loads their boundaries, data scope
and accounts name them); the ``districts`` and ``townships`` layers are declared by the ``divisions`` module."""

from geo.layer.registry import Attr

# Hangzhou after the 2021 redistricting (临平区 and 钱塘区 exist; 江干区 and 下城区 are gone).
DISTRICTS: dict[str, str] = {
    "330102": "上城区",
    "330105": "拱墅区",
    "330106": "西湖区",
    "330108": "滨江区",
    "330109": "萧山区",
    "330110": "余杭区",
    "330111": "富阳区",
    "330112": "临安区",
    "330113": "临平区",
    "330114": "钱塘区",
    "330122": "桐庐县",
    "330127": "淳安县",
    "330182": "建德市",
}
DISTRICT_NAMES = tuple(DISTRICTS.values())


def district_attr(**kw) -> Attr:
    """The district every business record belongs to (filled from the geometry when omitted)."""
    return Attr("district", "所属区县", choices=DISTRICT_NAMES, filterable=True, **kw)
