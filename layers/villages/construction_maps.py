"""Thematic maps of the construction dynamics (专题图, VT-02) in the thematic module's declaration format
(``layers/thematic/declaration.py``), declared with the demo by its seeder: the density of the houses under
construction (``status = 在建``) per township and their number per district. The stage, overdue and heat-map views
need the inspections or a filter the tiles do not summarise (the engine's heat maps filter on the layer's colour
field only): they are the construction workbench's map (``/villages/construction``)."""

from __future__ import annotations

THEMATIC_DEMO_MAPS = [
    {
        "slug": "farmhouse-construction-density",
        "title": "在建农房密度（按乡镇街道）",
        "description": "各乡镇街道已取得审批、正在建设的农房数，分级设色。",
        "source": "farmhouses",
        "statistic": "count",
        "filter": {"attribute": "status", "value": "在建"},
        "attribute": None,
        "grouping": "township",
        "classification": "quantiles",
        "classes": 5,
        "colors": "ylorrd",
        "rendering": "choropleth",
        "published": True,
        "sort": 52,
    },
    {
        "slug": "farmhouse-construction-count",
        "title": "各区县在建农房数",
        "description": "各区县已取得审批、正在建设的农房数，分级设色。",
        "source": "farmhouses",
        "statistic": "count",
        "filter": {"attribute": "status", "value": "在建"},
        "attribute": None,
        "grouping": "district",
        "classification": "natural_breaks",
        "classes": 5,
        "colors": "greens",
        "rendering": "choropleth",
        "published": True,
        "sort": 53,
    },
]
