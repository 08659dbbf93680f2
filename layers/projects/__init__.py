"""The project register (项目库, SPEC DC-01): one row per construction project across its life cycle, keyed by the
national investment project code (项目代码) with its construction permit numbers beside it, the dates of its stages
(立项 → 规划许可 → 施工图审查 → 施工许可 → 开工 → 标化监管 → 竣工验收), its site point and boundary.

The module owns the ``projects`` table (core migration 0006; this module's ``prj_0001`` grew it); other modules use
it through what is exported here. It declares the record kind ``projects`` and the links from every module's records
to their project (``links.py``), so that ``GET /api/registers/projects/{code}`` and the record page list them.

- ``codes`` — the project code's shape, division and year;
- ``register`` — fields, checks, reads and versioned, audited writes;
- ``excel`` — Excel export and all-or-nothing import with a row-numbered report;
- ``routes`` — ``/api/registers/projects``; ``pages`` — the back-office page ``/registers/projects``;
- ``demo`` — 5,000 projects, the demo sites' among them.
"""

from geo.modules import Page, log_labels, pages
from layers.projects.codes import check as check_code
from layers.projects.register import (
    STAGE_NAMES,
    find,
    get_by_code,
    holds_permit,
    mark_supervised,
)
from layers.projects.tables import projects

__all__ = [
    "STAGE_NAMES",
    "check_code",
    "find",
    "get_by_code",
    "holds_permit",
    "mark_supervised",
    "projects",
]

log_labels(objects={"projects": "项目"})

pages(Page("/registers/projects", "项目库", "数据中心", "registers.view", order=30))
