"""Urban and rural sewage treatment plants and facilities."""

from geo.bounds import RECORD_CODE
from geo.divisions import district_attr
from geo.layer.registry import Attr, Layer, Style, register

ONLINE_STATUSES = ("正常", "超标", "离线", "故障")
# The kinds of alarm (layers/sewage/alarms.py), the most serious first: a discharge over its limit, then no data at
# all, a plant that stopped flowing, instruments out of range, instruments stuck. The popup names the worst open one.
ALARM_SEVERITY = ("超标", "数据中断", "零流量", "超出量程", "数据恒值")
NO_ALARM = "无"

register(
    Layer(
        id="sewage_plants",
        title="污水处理设施",
        module="sewage",
        group="污水处理",
        geometry="Point",
        attrs=(
            Attr("code", "设施编号", required=True, searchable=True, filterable=True, shape=RECORD_CODE),
            Attr("name", "设施名称", required=True, searchable=True, max_length=200),
            district_attr(),
            Attr("kind", "类型", choices=("城镇污水处理厂", "农村污水处理终端"), required=True, filterable=True),
            Attr("capacity_t_d", "设计规模(吨/日)", "float", minimum=0, maximum=5_000_000),
            Attr(
                "process",
                "处理工艺",
                choices=("AAO", "MBR", "氧化沟", "SBR", "人工湿地", "生物滤池", "其他"),
                filterable=True,
            ),
            Attr("discharge_standard", "排放标准", choices=("一级A", "一级B", "二级", "准IV类"), filterable=True),
            Attr("operator", "运维单位", searchable=True, max_length=200),
            Attr("status", "运行状态", choices=("正常运行", "停运", "在建", "整改中"), filterable=True),
            Attr("commissioned_on", "投运日期", "date"),
            # From the online monitors' readings, every minute (layers/sewage/status.py): never written by clients.
            Attr("online_status", "在线状态", choices=ONLINE_STATUSES, filterable=True, read_only=True),
            # Its alarms not closed and the worst one's kind (layers/sewage/alarms.py, ``recount``): the popup's.
            Attr("open_alarms", "未关闭告警", "int", minimum=0, maximum=10_000, read_only=True),
            Attr("alarm_kind", "最重告警", choices=(NO_ALARM, *ALARM_SEVERITY), filterable=True, read_only=True),
        ),
        style=Style(
            color_by="online_status",
            colors={"正常": "#16a34a", "超标": "#dc2626", "离线": "#9ca3af", "故障": "#f59e0b"},
            radius=5,
        ),
        popup=(
            "name",
            "code",
            "district",
            "kind",
            "online_status",
            "open_alarms",
            "alarm_kind",
            "capacity_t_d",
            "process",
            "status",
        ),
        view="sewage.view",
        edit="sewage.edit",
        order=55,
    ),
)
