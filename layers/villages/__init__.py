"""Smart villages and towns (智慧村镇): farmhouses, including dangerous houses."""

from geo.bounds import ID_MAX, RECORD_CODE
from geo.divisions import district_attr
from geo.layer.registry import Attr, Layer, Style, register

FARMHOUSE_STATUS = ("存量", "审批中", "在建", "已竣工")
DANGER_GRADES = ("A", "B", "C", "D")

register(
    Layer(
        id="farmhouses",
        title="农房",
        module="villages",
        group="智慧村镇",
        geometry="Point",
        attrs=(
            Attr("code", "农房编号", required=True, searchable=True, filterable=True, shape=RECORD_CODE),
            Attr("owner_name", "户主姓名", searchable=True, max_length=50),
            district_attr(),
            Attr("township", "乡镇街道", searchable=True, filterable=True, max_length=50),
            Attr("village", "行政村", searchable=True, filterable=True, max_length=50),
            Attr("address", "地址", searchable=True, max_length=200),
            Attr("floors", "层数", "int", minimum=1, maximum=10, filterable=True),
            Attr(
                "structure",
                "结构类型",
                choices=("砖混", "砖木", "框架", "木结构", "土木", "石结构", "其他"),
                filterable=True,
            ),
            Attr("built_year", "建成年份", "int", minimum=1900, maximum=2100),
            Attr("floor_area_m2", "建筑面积(㎡)", "float", minimum=0, maximum=10_000),
            Attr("status", "建设状态", choices=FARMHOUSE_STATUS, filterable=True),
            Attr("danger_grade", "危险等级", choices=DANGER_GRADES, filterable=True),
            Attr(
                "governance",
                "治理方式",
                choices=("未治理", "维修加固", "拆除重建", "拆除", "置换", "搬迁", "已治理"),
                filterable=True,
            ),
            Attr("difficult_family", "困难家庭", "bool", filterable=True),
        ),
        style=Style(
            color_by="danger_grade", colors={"B": "#f59e0b", "C": "#f97316", "D": "#dc2626"}, color="#16a34a", radius=3
        ),
        label="code",
        popup=(
            "code",
            "owner_name",
            "district",
            "township",
            "village",
            "floors",
            "structure",
            "status",
            "danger_grade",
        ),
        view="farmhouse.view",
        edit="farmhouse.edit",
        order=50,
        # Measured with 1,000,000 demo farmhouses: the densest z13 tile of single houses is 545 KB, z14 381 KB.
        cluster_maxzoom=14,
    ),
)

register(
    Layer(
        id="farmhouse_footprints",
        title="农房轮廓",
        module="villages",
        group="智慧村镇",
        geometry="MultiPolygon",
        attrs=(
            Attr("farmhouse_id", "所属农房", "int", required=True, filterable=True, minimum=1, maximum=ID_MAX),
            district_attr(),
            Attr("area_m2", "占地面积(㎡)", "float", read_only=True),
        ),
        style=Style(color="#16a34a", opacity=0.35, outline="#166534", width=0.8),
        minzoom=15,
        label=None,
        popup=("farmhouse_id", "district", "area_m2"),
        view="farmhouse.view",
        edit="farmhouse.edit",
        order=49,
    ),
)
from layers.villages import construction as _construction  # noqa: F401,E402
from layers.villages import county_fetch as _county_fetch  # noqa: F401,E402 (imports county_push)
from layers.villages import craftsmen as _craftsmen  # noqa: F401,E402
from layers.villages import dangerous as _dangerous  # noqa: F401,E402
from layers.villages import overview as _overview  # noqa: F401,E402  (archives, gallery, requests: discovered)
from layers.villages import provincial as _provincial  # noqa: F401,E402
from layers.villages import realestate as _realestate  # noqa: F401,E402
from layers.villages.construction import stage_counts  # noqa: E402,F401  (the overview's houses per stage)
