"""The register's back-office page at ``/registers/projects`` (web/registers/ in this module): list with search,
filters and paging, a project's detail with its stage timeline and linked records, edit, Excel import and export.
Left out of the API description; everything it shows comes from ``/api/registers/projects`` with the browser
session, in the consoles' shared look (``/static/console/``)."""

from __future__ import annotations

from pathlib import Path

from api.web import RegisterShell, page_router

PAGES_DIR = Path(__file__).resolve().parent / "web" / "registers"

router = page_router(
    "/registers/projects",
    PAGES_DIR,
    RegisterShell(
        name="项目库",
        permission="查看数据中心名录库",
        style="projects.css",
        script="projects.js",
        heading="杭州市建设项目库",
        note="项目库按投资项目代码登记每个建设项目的全生命周期：立项、规划许可、施工图审查、施工许可、开工、标化监管、竣工验收；点击一行查看详情及其在各业务模块的关联记录。",
    ),
)
