"""The handled-matter register (办件库, DC-05): every case of every module, as declared with ``geo.cases.CaseType``,
searchable across modules — type, applicant and unit, project, status with its Chinese label, every timestamp (the
case's history), the submitted materials — with nothing asked of the modules beyond their declaration.

How: a query built from the declarations (``query``), one ``UNION ALL`` branch per case type, run on the principal's
connection. Not an index table kept by transition hooks, because a case's creation is not a transition (no hook fires
when a draft is written, and a case recorded without a workflow never transitions), because a copy would need a
backfill and could drift from its source, and above all because reading the source tables on the principal's
connection gives exactly their row-level security (and the declaration's ``restrict`` rule) with nothing to
re-implement. A new module's case type appears here the moment it is declared.
"""

from geo.modules import Page, log_labels, pages

log_labels(objects={"matters": "办件库"})

pages(Page("/registers/matters", "办件库", "数据中心", "registers.view", order=34))
