"""The personnel register (人员库, SPEC DC-03): persons keyed by resident ID number — registered practitioners,
enterprise principals, project managers, safety and site managers, experts — with their registrations, employment
history (which enterprise when) and expert attributes. The standardized-site expert pool is a view of it
(``layers/standard_sites/migrations/st_0003_experts_register.py``).

Submodules: ``register`` (checks, reads, writes, Excel), ``api`` (``/api/registers/persons``), ``pages``
(``/registers/persons``), ``demo`` (100,000 demo persons). ID numbers and phones are personal data: masked
everywhere (``geo.personal``) unless unmasked on purpose with ``person.unmask``, each unmasking logged.

What other modules may use: ``persons`` (the table), ``CATEGORIES``, ``EXPERT_KINDS``, ``UNMASK`` (the name of the
permission that shows personal data in the clear), ``get_by_id_number``, ``check_id_number``, ``note_pool_change``.
"""

from geo.layer.registry import Attr
from geo.modules import Page, log_labels, pages, permissions
from geo.records import Link, RecordKind, register_kind, register_link
from layers.persons.register import (
    CATEGORIES,
    EXPERT_KINDS,
    UNMASK,
    check_id_number,
    get_by_id_number,
    note_pool_change,
)
from layers.persons.tables import persons

__all__ = ["CATEGORIES", "EXPERT_KINDS", "UNMASK", "check_id_number", "get_by_id_number", "note_pool_change", "persons"]

# registers.view / .edit / .import / .export are the enterprise register's (declared there); this one is ours.
permissions({UNMASK: "查看个人信息明文"}, group="数据中心")

log_labels(
    objects={"persons": "人员", "person_registrations": "人员注册执业", "person_employment": "人员从业经历"},
    actions={"unmask": "查看个人信息"},
)

register_kind(
    RecordKind(
        kind="persons",
        title="人员",
        table="persons",
        key="id",  # an ID number never goes into a URL
        attrs=(
            Attr("name", "姓名"),
            Attr("id_number", "身份证号"),
            Attr("gender", "性别"),
            Attr("phone", "手机号"),
            Attr("categories", "人员类别"),
            Attr("district", "所属区县"),
            Attr("expert_kinds", "专家类别"),
            Attr("specialties", "专业"),
            Attr("expert_groups", "专家分组"),
            Attr("credit_score", "信用分", type="float"),
        ),
        module="persons",
        label="name",
        view="registers.view",
        masked=(("id_number", "id_number"), ("phone", "phone")),
        unmask=UNMASK,
        audit_object="persons",
    )
)

register_link(
    Link(
        target="persons",
        module="persons",
        title="注册执业",
        table="person_registrations",
        column="person_id",
        columns=(
            ("reg_type", "注册类别"),
            ("reg_no", "注册证书编号"),
            ("specialty", "注册专业"),
            ("valid_to", "有效期至"),
        ),
    ),
    Link(
        target="persons",
        module="persons",
        title="从业经历",
        table="person_employment",
        column="person_id",
        columns=(
            ("enterprise_name", "单位名称"),
            ("enterprise_uscc", "统一社会信用代码"),
            ("role", "岗位"),
            ("started_on", "入职日期"),
            ("ended_on", "离职日期"),
        ),
        order="started_on DESC",
    ),
    Link(
        target="enterprises",
        module="persons",
        title="从业人员",
        table="person_employment",
        column="enterprise_uscc",
        target_column="uscc",
        kind="persons",
        key="person_id",
        columns=(("role", "岗位"), ("started_on", "入职日期"), ("ended_on", "离职日期")),
        order="started_on DESC",
    ),
)

pages(Page("/registers/persons", "人员库", "数据中心", "registers.view", order=32))
