"""What a thematic map declares, and the checks that refuse a declaration that cannot be computed.

A *source* is a layer of the registry (``sites``, ``farmhouses``, ``sewage_plants`` …) or a record kind of
``geo.records`` whose table has a ``district`` column (``enterprises``, ``persons``, ``projects`` from the register
modules). Attributes are the source's *declared* ones (``Attr``): a statistic, a filter or a category names one of
them or is refused, so no user input ever becomes a column name that was not declared.

Every refusal is ``geo.errors.Invalid`` (422) with a Chinese message and the field at fault; nothing is coerced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from geo import records
from geo.errors import Invalid
from geo.layer.registry import Attr, registry
from layers.thematic.classify import QUALITATIVE, RAMP_TITLES, RAMPS, SCHEMES

STATISTICS = {"count": "计数", "sum": "求和", "avg": "平均值", "ratio": "占比"}
GROUPINGS = {"district": "按区县", "township": "按乡镇街道", "grid": "按网格"}
RENDERINGS = {"choropleth": "分级设色", "graduated": "分级符号", "heatmap": "热力图", "category": "分类着色"}
CELL_SHAPES = {"square": "正方形", "hexagon": "六边形"}
NUMERIC = ("int", "float")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
RESERVED_SLUGS = {"edit", "static", "new", "options", "preview"}  # paths beside /thematic/{slug}
HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
CELL_MIN, CELL_MAX = 200, 50_000
K_MIN, K_MAX = 2, 9
TEXT_MAX = 200


@dataclass(frozen=True)
class Source:
    """A table a thematic map counts: its declared attributes, its geometry, the view permission."""

    id: str
    title: str
    kind: str  # layer | record
    table: sa.Table
    attrs: tuple[Attr, ...]
    view: str | None
    geometry: str | None  # the geometry column (SRID 4326), None: no position (district grouping only)
    geometry_type: str | None = None
    style_colors: tuple[tuple[str, str], ...] = ()  # the layer's own colour per value of ``style_by``
    style_by: str | None = None

    def attr(self, name: str) -> Attr | None:
        return next((a for a in self.attrs if a.name == name), None)

    @property
    def points(self) -> bool:
        """A point layer with vector tiles (a heatmap draws its points)."""
        return self.kind == "layer" and self.geometry_type == "Point"

    def live(self) -> Any:
        """The condition for rows that count (a layer's deleted features do not)."""
        return self.table.c.deleted_at.is_(None) if "deleted_at" in self.table.c else sa.true()

    def public(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "kind": self.kind,
            "points": self.points,
            "spatial": self.geometry is not None,
            "attributes": [
                {"name": a.name, "label": a.label, "type": a.type, "choices": list(a.choices or []) or None}
                for a in self.attrs
            ],
        }


_reflected = sa.MetaData()


def _record_table(conn: Connection, name: str) -> sa.Table | None:
    if name not in _reflected.tables:
        try:
            sa.Table(name, _reflected, autoload_with=conn)
        except sa.exc.NoSuchTableError:
            return None
    return _reflected.tables[name]


def find_source(conn: Connection, source_id: str) -> Source | None:
    """The layer or record kind named ``source_id`` if it can be a source (it has a ``district`` column)."""
    layer = registry.get(source_id)
    if layer is not None:
        if layer.reference or "district" not in layer.attr_names:
            return None
        return Source(
            layer.id,
            layer.title,
            "layer",
            layer.sa_table,
            layer.attrs,
            layer.view,
            "geom",
            layer.geometry,
            tuple(layer.style.colors.items()),
            layer.style.color_by,
        )
    kind = records.get_kind(source_id)
    if kind is None:
        return None
    table = _record_table(conn, kind.table)
    if table is None or "district" not in table.c:
        return None
    attrs = tuple(a for a in kind.attrs if a.name in table.c)
    if not any(a.name == "district" for a in attrs):
        attrs += (Attr("district", "区县"),)
    return Source(kind.kind, kind.title, "record", table, attrs, kind.view, kind.geometry)


def sources(conn: Connection) -> list[Source]:
    """Every possible source: the business layers with a district, then the register kinds with one."""
    ids = [lyr.id for lyr in registry.business()] + [k.kind for k in records.kinds()]
    out = []
    for sid in ids:
        s = find_source(conn, sid)
        if s is not None and all(s.id != o.id for o in out):
            out.append(s)
    return out


# -- checking a declaration ------------------------------------------------------------------------------------


def _bad(code: str, message: str, field: str, **detail: Any) -> Invalid:
    return Invalid(code, message, field, detail)


def _choice(value: Any, allowed: dict[str, str], field: str, what: str) -> str:
    if value not in allowed:
        names = "、".join(f"{k}（{v}）" for k, v in allowed.items())
        raise _bad(f"invalid_{field}", f"{what}须为以下之一：{names}。", field, allowed=list(allowed))
    return value


def filter_value(attr: Attr, value: Any, field: str) -> Any:
    """The filter's value as the attribute's type (refused when it is not one: nothing is converted)."""
    if attr.choices is not None:
        if value not in attr.choices:
            raise _bad(
                "invalid_filter_value",
                f"筛选条件「{attr.label}」的取值须为：{'、'.join(attr.choices)}。",
                field,
                choices=list(attr.choices),
            )
        return value
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "text": isinstance(value, str) and 0 < len(value) <= TEXT_MAX,
        "date": isinstance(value, str),
        "datetime": False,
    }.get(attr.type, False)
    if ok and attr.type == "date":
        try:
            value = date.fromisoformat(value)
        except ValueError:
            ok = False
    if not ok:
        kinds = {"int": "整数", "float": "数值", "bool": "是/否", "text": "文字", "date": "日期（YYYY-MM-DD）"}
        raise _bad(
            "invalid_filter_value",
            f"筛选条件「{attr.label}」的取值须为{kinds.get(attr.type, '可比较的值')}。",
            field,
        )
    return value


def check(conn: Connection, body: dict) -> tuple[dict, Source]:
    """The declaration as stored (only the fields it declares) and its source; ``Invalid`` on the first fault."""
    out: dict[str, Any] = {}
    slug = body.get("slug")
    if not isinstance(slug, str) or not SLUG.match(slug) or slug in RESERVED_SLUGS:
        raise _bad(
            "invalid_slug",
            "链接名须为 2–63 位小写字母、数字或连字符（以字母或数字开头），且不能是 edit、new、static、options、preview。",
            "slug",
        )
    out["slug"] = slug
    title = body.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > 100:
        raise _bad("invalid_title", "请填写专题图标题（不超过 100 字）。", "title")
    out["title"] = title.strip()
    description = body.get("description") or ""
    if not isinstance(description, str) or len(description) > 500:
        raise _bad("invalid_description", "说明不超过 500 字。", "description")
    out["description"] = description

    source = find_source(conn, body.get("source")) if isinstance(body.get("source"), str) else None
    if source is None:
        raise _bad(
            "unknown_source",
            "数据源不存在或没有区县字段：须为地图图层或数据库（企业、人员、项目等）之一。",
            "source",
            sources=[s.id for s in sources(conn)],
        )
    out["source"] = source.id

    statistic = _choice(body.get("statistic"), STATISTICS, "statistic", "统计方式")
    out["statistic"] = statistic
    attribute = body.get("attribute")
    if statistic in ("sum", "avg"):
        attr = source.attr(attribute) if isinstance(attribute, str) else None
        if attr is None:
            raise _bad(
                "unknown_attribute",
                f"请选择「{source.title}」的一个数值字段作为{STATISTICS[statistic]}对象。",
                "attribute",
                attributes=[a.name for a in source.attrs if a.type in NUMERIC],
            )
        if attr.type not in NUMERIC:
            raise _bad(
                "attribute_not_numeric",
                f"「{attr.label}」不是数值字段，不能{STATISTICS[statistic]}。",
                "attribute",
                attributes=[a.name for a in source.attrs if a.type in NUMERIC],
            )
        out["attribute"] = attr.name
    elif attribute not in (None, ""):
        raise _bad("attribute_not_used", f"{STATISTICS[statistic]}不需要统计字段，请留空。", "attribute")
    else:
        out["attribute"] = None

    flt = body.get("filter")
    if flt in (None, {}):
        out["filter"] = None
    else:
        if not isinstance(flt, dict) or set(flt) != {"attribute", "value"}:
            raise _bad("invalid_filter", "筛选条件须为「字段 = 取值」（attribute、value）。", "filter")
        attr = source.attr(flt["attribute"]) if isinstance(flt["attribute"], str) else None
        if attr is None:
            raise _bad(
                "unknown_attribute",
                f"筛选字段不是「{source.title}」的字段。",
                "filter.attribute",
                attributes=[a.name for a in source.attrs],
            )
        filter_value(attr, flt["value"], "filter.value")
        out["filter"] = {"attribute": attr.name, "value": flt["value"]}
    if statistic == "ratio" and out["filter"] is None:
        raise _bad("ratio_needs_filter", "占比须有筛选条件：占比 = 符合条件的记录数 / 全部记录数。", "filter")

    grouping = _choice(body.get("grouping"), GROUPINGS, "grouping", "分组方式")
    out["grouping"] = grouping
    out["cell_shape"] = out["cell_size_m"] = None
    if grouping != "district" and source.geometry is None:
        raise _bad(
            "source_not_spatial", f"「{source.title}」没有空间位置，只能按区县分组。", "grouping", source=source.id
        )
    if grouping == "grid":
        out["cell_shape"] = _choice(body.get("cell_shape") or "square", CELL_SHAPES, "cell_shape", "网格形状")
        size = body.get("cell_size_m")
        if not isinstance(size, int) or isinstance(size, bool) or not CELL_MIN <= size <= CELL_MAX:
            raise _bad(
                "invalid_cell_size",
                f"网格边长须为 {CELL_MIN}–{CELL_MAX} 米之间的整数。",
                "cell_size_m",
                minimum=CELL_MIN,
                maximum=CELL_MAX,
            )
        out["cell_size_m"] = size

    out["classification"] = _choice(body.get("classification"), SCHEMES, "classification", "分级方法")
    k = body.get("classes")
    if not isinstance(k, int) or isinstance(k, bool) or not K_MIN <= k <= K_MAX:
        raise _bad(
            "invalid_classes", f"分级数须为 {K_MIN}–{K_MAX} 之间的整数。", "classes", minimum=K_MIN, maximum=K_MAX
        )
    out["classes"] = k

    rendering = _choice(body.get("rendering"), RENDERINGS, "rendering", "表现方式")
    out["rendering"] = rendering
    out["category"] = None
    if rendering == "heatmap":
        if not source.points:
            raise _bad("heatmap_needs_points", "热力图须以点图层（如工地、农房）为数据源。", "rendering")
        f = out["filter"]
        if f is not None and (f["attribute"] != source.style_by or f["value"] not in dict(source.style_colors)):
            raise _bad(
                "heatmap_filter",
                "热力图的筛选条件只能是图层按其着色的字段及其图例取值（地图瓦片按这些取值汇总）。",
                "filter",
                attribute=source.style_by,
                values=[v for v, _ in source.style_colors],
            )
    if rendering == "category":
        attr = source.attr(body.get("category")) if isinstance(body.get("category"), str) else None
        if attr is None or not attr.choices:
            raise _bad(
                "invalid_category",
                "分类着色须选择一个有固定取值的字段（如状态、等级）。",
                "category",
                attributes=[a.name for a in source.attrs if a.choices],
            )
        out["category"] = attr.name
    elif body.get("category") not in (None, ""):
        raise _bad("category_not_used", "只有分类着色需要分类字段，请留空。", "category")

    colors = body.get("colors")
    if isinstance(colors, str):
        if colors not in RAMPS:
            names = "、".join(f"{k}（{v}）" for k, v in RAMP_TITLES.items())
            raise _bad("invalid_colors", f"配色须为以下色带之一：{names}，或颜色列表。", "colors", ramps=list(RAMPS))
    elif isinstance(colors, list):
        want = len(source.attr(out["category"]).choices or ()) if out["category"] else k
        if len(colors) != want or not all(isinstance(c, str) and HEX.match(c) for c in colors):
            raise _bad(
                "invalid_colors",
                f"颜色列表须为 {want} 个 #RRGGBB 颜色（{'每个分类一个' if out['category'] else '每级一个'}）。",
                "colors",
                expected=want,
            )
    else:
        raise _bad("invalid_colors", "请选择配色（色带名称或颜色列表）。", "colors", ramps=list(RAMPS))
    out["colors"] = colors

    published = body.get("published", False)
    if not isinstance(published, bool):
        raise _bad("invalid_published", "「发布」须为是或否。", "published")
    out["published"] = published
    sort = body.get("sort", 100)
    if not isinstance(sort, int) or isinstance(sort, bool) or not 0 <= sort <= 10_000:
        raise _bad("invalid_sort", "排序须为 0–10000 的整数。", "sort")
    out["sort"] = sort
    return out, source


def category_colors(source: Source, decl: dict) -> dict[str, str]:
    """A colour per value of the category attribute: the declared list, else the layer's own, else a palette."""
    attr = source.attr(decl["category"])
    choices = list(attr.choices or ()) if attr else []
    if isinstance(decl["colors"], list):
        return dict(zip(choices, decl["colors"]))
    own = dict(source.style_colors) if source.style_by == decl["category"] else {}
    return {c: own.get(c) or QUALITATIVE[i % len(QUALITATIVE)] for i, c in enumerate(choices)}
