"""The greenways' thematic maps (专题图, VT-16): completion per district, in the thematic module's declaration format
(``layers/thematic/declaration.py``), declared with the demo by the thematic module's seeder (it collects every
module's ``THEMATIC_DEMO_MAPS`` and checks them as the editor does). The thematic statistics count rows: the completion here is the
share of segments built (占比 of ``status = 已建成``) and the built length (求和 of ``length_m``); a share of the
*planned length* needs a weighted ratio the engine does not have.
"""

from __future__ import annotations

THEMATIC_DEMO_MAPS = [
    {
        "slug": "greenway-completion",
        "title": "各区县绿道建成率",
        "description": "各区县绿道中已建成路段所占比例（按路段计），分级设色。",
        "source": "greenways",
        "statistic": "ratio",
        "filter": {"attribute": "status", "value": "已建成"},
        "attribute": None,
        "grouping": "district",
        "classification": "equal_interval",
        "classes": 5,
        "colors": "greens",
        "rendering": "choropleth",
        "published": True,
        "sort": 60,
    },
    {
        "slug": "greenway-built-length",
        "title": "各区县已建成绿道长度",
        "description": "各区县已建成绿道的长度（米，CGCS2000 高斯-克吕格投影计算），分级设色。",
        "source": "greenways",
        "statistic": "sum",
        "attribute": "length_m",
        "filter": {"attribute": "status", "value": "已建成"},
        "grouping": "district",
        "classification": "natural_breaks",
        "classes": 5,
        "colors": "greens",
        "rendering": "choropleth",
        "published": True,
        "sort": 61,
    },
]
