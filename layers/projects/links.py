"""The register as a record kind, and what hangs off a project in the other modules (``geo.records``).

The standardized-site records key on the site (``site_id``), and so does the project (``projects.site_id``): each
is linked through it. A drawing-review project is filed under its project code (``review_projects.code``, 项目代码)
and linked when that is the register's code. Declared here, in the register's module: the standardized-site and
drawing-review modules need not change (each group still carries its own module's name).
"""

from __future__ import annotations

from geo.layer.registry import Attr
from geo.records import Link, RecordKind, register_kind, register_link
from layers.projects.register import STAGE_NAMES, STAGES

register_kind(
    RecordKind(
        kind="projects",
        title="项目",
        table="projects",
        key="project_code",
        attrs=(
            Attr("project_code", "项目代码"),
            Attr("name", "项目名称"),
            Attr("district", "所属区县"),
            Attr("stage", "当前阶段", choices=STAGE_NAMES),
            Attr("project_type", "工程类别"),
            Attr("address", "项目地址"),
            Attr("permit_nos", "施工许可证号"),
            Attr("builder_name", "建设单位"),
            Attr("builder_uscc", "建设单位统一社会信用代码"),
            Attr("construction_name", "施工单位"),
            Attr("construction_uscc", "施工单位统一社会信用代码"),
            Attr("supervision_name", "监理单位"),
            Attr("supervision_uscc", "监理单位统一社会信用代码"),
            *(Attr(col, label, "date") for _, col, label in STAGES if col),
            Attr("planned_end_date", "计划竣工日期", "date"),
            Attr("floor_area_m2", "建筑面积（㎡）", "float"),
            Attr("investment_wan", "总投资（万元）", "float"),
        ),
        module="projects",
        label="name",
        view="registers.view",
        geometry="geom",
        audit_object="projects",
    )
)


def _site(title: str, table: str, kind: str | None, columns: tuple[tuple[str, str], ...], order: str, **kw) -> Link:
    return Link(
        target="projects",
        module="standard_sites",
        title=title,
        kind=kind,
        table=table,
        column="site_id",
        target_column="site_id",
        columns=columns,
        order=order,
        **kw,
    )


register_link(
    Link(
        target="projects",
        module="standard_sites",
        title="标化工地",
        kind="sites",
        table="sites",
        column="id",
        target_column="site_id",
        columns=(("code", "项目编号"), ("name", "项目名称"), ("status", "状态"), ("latest_report", "最近月报")),
        where="deleted_at IS NULL",
    ),
    Link(
        target="projects",
        module="standard_sites",
        title="标化工地注册",
        table="st_registrations",
        column="project_id",
        target_column="id",
        columns=(("status", "状态"), ("created_at", "注册时间")),
    ),
    _site(
        "月度申报", "st_reports", "st_report", (("month", "月份"), ("status", "状态"), ("late", "逾期")), "month DESC"
    ),
    _site(
        "加分项申报",
        "st_bonus_claims",
        "st_bonus",
        (("status", "状态"), ("points", "分值"), ("submitted_at", "提交时间")),
        "id DESC",
    ),
    _site(
        "减分记录",
        "st_deductions",
        "st_deduction",
        (("subject_name", "扣分对象"), ("points", "扣分"), ("reason", "事由"), ("occurred_on", "发生日期")),
        "occurred_on DESC",
    ),
    _site(
        "阶段考评登记",
        "st_stage_evals",
        "st_stage",
        (("stage", "阶段"), ("evaluated_on", "考评日期"), ("result", "结果"), ("score", "得分")),
        "evaluated_on DESC",
    ),
    _site(
        "考评申报",
        "st_evaluations",
        "st_evaluation",
        (("status", "状态"), ("decision", "审定结果"), ("final_score", "最终得分")),
        "id DESC",
    ),
    Link(
        target="projects",
        module="drawing_review",
        title="施工图审查",
        kind="review_projects",
        table="review_projects",
        column="code",
        target_column="project_code",
        columns=(("code", "项目代码"), ("name", "项目名称"), ("agency", "审查机构"), ("status", "状态")),
        order="submitted_at DESC",
        where="deleted_at IS NULL",
    ),
)
