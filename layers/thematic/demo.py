"""The demo's thematic maps (X-03): sites by status, sites per district with an overdue report, dangerous
farmhouses as a city heatmap, enterprises' average credit score per district, projects by stage — and the maps other
modules declare for the demo as ``THEMATIC_DEMO_MAPS`` (a tuple of declarations) in any of their files. A map whose
source is not there when the demo runs (a register module missing) is skipped with a log line; the others are
declared through the same checks as the editor's."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from geo import modules
from geo.errors import Invalid
from geo.modules import seeder
from layers.thematic import store
from layers.thematic.declaration import check

log = logging.getLogger(__name__)

BASE = {"filter": None, "attribute": None, "grouping": "district", "classes": 5, "published": True}
MAPS = [
    {
        "slug": "sites-by-status",
        "title": "建设工地状态分布",
        "description": "全市在建工地按状态分类着色，区县按占多数的状态着色。",
        "source": "sites",
        "statistic": "count",
        "classification": "quantiles",
        "colors": "blues",
        "rendering": "category",
        "category": "status",
        "sort": 10,
    },
    {
        "slug": "sites-overdue",
        "title": "各区县逾期未报工地数",
        "description": "状态为「逾期未报」的工地数，按区县分级设色。",
        "source": "sites",
        "statistic": "count",
        "filter": {"attribute": "status", "value": "逾期未报"},
        "classification": "natural_breaks",
        "classes": 4,
        "colors": "reds",
        "rendering": "choropleth",
        "sort": 20,
    },
    {
        "slug": "farmhouse-danger-heat",
        "title": "D级危房分布热力图",
        "description": "危险等级为 D 级的农房分布热力，区县统计为 D 级危房数。",
        "source": "farmhouses",
        "statistic": "count",
        "filter": {"attribute": "danger_grade", "value": "D"},
        "classification": "quantiles",
        "colors": "ylorrd",
        "rendering": "heatmap",
        "sort": 30,
    },
    {
        "slug": "enterprise-credit",
        "title": "各区县企业平均信用分",
        "description": "企业库中各区县企业信用分的平均值。",
        "source": "enterprises",
        "statistic": "avg",
        "attribute": "credit_score",
        "classification": "equal_interval",
        "colors": "greens",
        "rendering": "choropleth",
        "sort": 40,
    },
    {
        "slug": "projects-by-stage",
        "title": "建设项目所处阶段",
        "description": "项目库中的项目按当前阶段分类，区县按占多数的阶段着色。",
        "source": "projects",
        "statistic": "count",
        "classification": "quantiles",
        "colors": "purples",
        "rendering": "category",
        "category": "stage",
        "sort": 50,
    },
]


@seeder(order=90)
def seed_thematic_maps(conn, world) -> dict:
    made = 0
    for spec in [*MAPS, *(m for declared in modules.collect("THEMATIC_DEMO_MAPS") for m in declared)]:
        body = BASE | spec
        try:
            with conn.begin_nested():
                decl, _ = check(conn, body)
                if conn.execute(sa.select(store.maps.c.id).where(store.maps.c.slug == decl["slug"])).first():
                    continue
                store.create(conn, decl, "demo")
                made += 1
        except Invalid as e:
            log.warning("thematic demo map %s skipped: %s (%s)", spec["slug"], e.message, e.field)
    return {"thematic_maps": made}
