"""The credit register (信用库, DC-04): good and bad behaviour events of enterprises and persons, a score per subject
from a configurable rule, and the subject's credit page.

Events come from two places:

- the modules, by declaration: ``credit.feeds(kind=..., state=..., event_type=..., subject=..., points=...)`` says
  that a case of ``kind`` entering ``state`` (``None``: a case recorded without a workflow, when it is recorded) is a
  credit event of the subject its ``subject(conn, row)`` names. The credit module's ``on_transition`` hook
  (``hooks``) writes the event with its source record (module, case kind, id: ``/records/<kind>/<id>``) and rescores
  the subject; a module never writes ``credit_events`` itself;
- the market-supervision/credit platform: Excel or CSV files of administrative licences and penalties (``importer``).

``score``: score = base + Σ sign × weight(type) × points × 0.5^(age in days / half-life), sign +1 for good events and
-1 for bad ones; the rule (``credit_rules``) is versioned, edited in the back office and audited; every computed score
is kept (``credit_scores``) and written to ``enterprises.credit_score`` / ``persons.credit_score`` when those
registers are installed.
"""

from geo.modules import Page, log_labels, pages, permissions
from layers.credit.feeds import EVENT_TYPES, Feed, Subject, feeds
from layers.credit.hooks import recorded_many

__all__ = ["EVENT_TYPES", "Feed", "Subject", "feeds", "recorded_many"]

permissions({"credit.rules": "配置信用评分规则"}, group="数据中心")

log_labels(
    objects={
        "credit_events": "信用事件",
        "credit_rules": "信用评分规则",
        "credit_subjects": "信用主体",
    },
    actions={"credit_import": "导入信用信息", "credit_rules": "修改信用评分规则"},
)

pages(Page("/registers/credit", "信用库", "数据中心", "registers.view", order=33))
