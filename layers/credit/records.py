"""What hangs off other registers' records: a subject's credit events and score (enterprises, persons), a project's
and a site's credit events (events fed from a site's cases carry its ``site_id``)."""

from __future__ import annotations

from geo.records import Link, register_link

EVENT_COLUMNS = (
    ("occurred_on", "日期"),
    ("event_type", "事件类型"),
    ("polarity", "性质"),
    ("points", "分值"),
    ("reason", "事由"),
    ("source", "来源"),
    ("source_id", "来源编号"),
)
SCORE_COLUMNS = (("score", "信用分"), ("events", "事件数"), ("rule_version", "规则版本"), ("computed_at", "计算时间"))

register_link(
    Link(target="enterprises", module="credit", title="信用记录", table="credit_events", column="subject_code",
         target_column="uscc", columns=EVENT_COLUMNS, order="occurred_on DESC", where="subject_kind = 'enterprise'"),
    Link(target="enterprises", module="credit", title="信用分", table="credit_subjects", column="subject_code",
         target_column="uscc", columns=SCORE_COLUMNS, where="subject_kind = 'enterprise'"),
    Link(target="persons", module="credit", title="信用记录", table="credit_events", column="subject_code",
         target_column="id_number", columns=EVENT_COLUMNS, order="occurred_on DESC", where="subject_kind = 'person'"),
    Link(target="persons", module="credit", title="信用分", table="credit_subjects", column="subject_code",
         target_column="id_number", columns=SCORE_COLUMNS, where="subject_kind = 'person'"),
    Link(target="projects", module="credit", title="信用记录", table="credit_events", column="site_id",
         target_column="site_id", columns=EVENT_COLUMNS, order="occurred_on DESC"),
    Link(target="sites", module="credit", title="信用记录", table="credit_events", column="site_id",
         target_column="id", columns=EVENT_COLUMNS, order="occurred_on DESC"),
)  # fmt: skip
