"""The enterprise register (企业库, SPEC DC-02): enterprises keyed by their unified social credit code, with their
types, principals, qualifications (expired ones flagged), track record (their projects) and market behaviour (their
credit events); duplicates are merged on the code with a merge log.

Other modules use it through what this package exports: ``enterprises`` (the table), ``ENTERPRISE_TYPES``,
``get_by_uscc(conn, uscc)`` and ``require(conn, uscc, field)`` (a unit they record must be in the register).

- ``store`` — reading, writing, merging, Excel import and export;
- ``api`` — ``/api/registers/enterprises`` (``registers.view`` / ``edit`` / ``import`` / ``export``);
- ``pages`` — the back-office page ``/registers/enterprises``;
- ``demo`` — 20,000 enterprises, among them every unit the demo's site pins name.
"""

from geo.layer.registry import Attr
from geo.modules import Page, log_labels, pages, permissions
from geo.records import Link, RecordKind, register_kind, register_link
from layers.enterprises.tables import ENTERPRISE_TYPES, enterprises, get_by_uscc, require

__all__ = ["ENTERPRISE_TYPES", "enterprises", "get_by_uscc", "require"]

# The registers' permissions (the other registers — persons, projects, credit — use them too).
permissions(
    {
        "registers.view": "查看数据中心名录库",
        "registers.edit": "编辑数据中心名录库",
        "registers.import": "导入数据中心名录库",
        "registers.export": "导出数据中心名录库",
    },
    group="数据中心",
)

log_labels(
    objects={
        "enterprises": "企业",
        "enterprise_qualifications": "企业资质",
        "enterprise_merges": "企业合并",
    },
    actions={"merge": "合并"},
)

register_kind(
    RecordKind(
        kind="enterprises",
        title="企业",
        table="enterprises",
        key="uscc",
        attrs=(
            Attr("uscc", "统一社会信用代码"),
            Attr("name", "企业名称"),
            Attr("types", "企业类型"),
            Attr("legal_rep", "法定代表人"),
            Attr("tech_lead", "技术负责人"),
            Attr("address", "地址"),
            Attr("district", "所在区县"),
            Attr("credit_score", "信用分", "float"),
        ),
        label="name",
        view="registers.view",
        module="enterprises",
    )
)

_PROJECT_COLUMNS = (("name", "项目名称"), ("district", "区县"), ("permit_no", "施工许可证号"))
register_link(
    Link(
        target="enterprises",
        module="enterprises",
        title="资质",
        table="enterprise_qualifications",
        column="enterprise_id",
        target_column="id",
        columns=(
            ("category", "资质类别"),
            ("grade", "等级"),
            ("number", "证书编号"),
            ("valid_to", "有效期至"),
        ),
        order="valid_to DESC",
    ),
    *(
        Link(
            target="enterprises",
            module="enterprises",
            title=title,
            table="projects",
            column=column,
            target_column="uscc",
            kind="projects",
            key="project_code",
            columns=_PROJECT_COLUMNS,
        )
        for title, column in (
            ("项目（建设单位）", "builder_uscc"),
            ("项目（施工单位）", "construction_uscc"),
            ("项目（监理单位）", "supervision_uscc"),
        )
    ),
    Link(
        target="enterprises",
        module="enterprises",
        title="单位账号",
        table="organisations",
        column="uscc",
        target_column="uscc",
        columns=(("name", "单位名称"), ("kind", "类别"), ("district", "区县")),
    ),
)

pages(Page("/registers/enterprises", "企业库", "数据中心", "registers.view", order=31))
