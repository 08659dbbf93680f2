"""Thematic maps (专题图) and the big-screen map (SPEC X-03, part 2).

A thematic map is a saved declaration (table ``thematic_maps``): a source — a layer of the registry or a register's
record kind with a ``district`` column — a statistic (count, sum, average of a numeric attribute, or the ratio of
the rows matching a filter), a grouping (district, township, grid), a classification (quantiles, natural breaks,
equal interval: ``classify.py``), colours and a rendering (choropleth, graduated symbols, heatmap, category map).

- ``declaration`` — sources and the checks that refuse what cannot be computed (422 with the field);
- ``engine`` — the statistic's SQL from the declaration, classes, legend, headline figures, and the cache keyed on
  the source's change generation (invalidated on write);
- ``store`` and ``api`` — ``/api/thematic`` (CRUD with ``thematic.edit``, preview, figures, export);
- ``pages`` — the editor ``/thematic/edit``, the viewer ``/thematic/{slug}`` and the big screen ``/screen/map``;
- ``export`` — PNG and PDF through headless Chromium; ``demo`` — the demo's maps.
"""

from geo.modules import Page, log_labels, pages, permissions

permissions({"thematic.edit": "管理专题图"}, group="专题图")
log_labels(objects={"thematic_maps": "专题图"})

pages(
    Page("/thematic/edit", "专题图", "一张图", "thematic.edit", order=50),
    Page("/screen/map", "大屏", "一张图", order=51),
)
