"""The map style (MapLibre style spec v8), generated from the layer registry.

One vector source per registry layer (its tiles at ``/tiles/<id>/{z}/{x}/{y}.mvt``, one MVT layer
named after the layer id) and, per layer in legend order, the MapLibre layers that draw it:

- ``<id>``: circle, line or fill, coloured by ``style.color_by`` when the layer declares it; circles whose
  ``style.ring_by`` attribute is true get a wide ring of ``style.ring_color`` (overdue reviews, say);
- ``<id>-outline``: the outline of a fill layer;
- ``<id>-cluster`` / ``<id>-cluster-count``: the server-side aggregates of a dense point layer below
  its ``cluster_maxzoom`` (features carrying ``cluster``; filled with their majority category, ringed
  with the commonest legend category they hold, so a few dangerous houses among many show);
- ``<id>-label``: the layer's label attribute (for district and township names from the GeoJSON source
  ``<id>-labels``: one point per area, so a name is not repeated in every tile the area touches).

Geometry layers are stacked by ``order``; labels lie above all of them, so no fill hides a label (again by
``order``, district and township names on top, so they win label collisions). Every layer carries
``metadata`` naming its registry layer, group, Chinese title and role, and the main layer also its legend.

The basemap is our own data: the district and township layers (fills, outlines and Chinese names)
and the greenway lines over a plain background; no internet basemap. Label glyphs come from the app
(:mod:`webmap.glyphs`): Latin ranges as vendored SDF PBFs, CJK drawn by the browser.
"""

from __future__ import annotations

from typing import Any

from geo.layer.registry import Layer

FONT = ["Noto Sans CJK SC Regular"]
BACKGROUND = "#eef2f5"
HANGZHOU_CENTER = [119.62, 29.95]
HANGZHOU_ZOOM = 7.6
MAX_SOURCE_ZOOM = 18  # deeper views overzoom the z18 tiles
OTHER = "其他"


def cluster_maxzoom(layer: Layer) -> int | None:
    """Zoom below which a point layer's tiles carry aggregates (the tiles issue adds the field)."""
    if layer.kind != "circle":
        return None
    return getattr(layer, "cluster_maxzoom", None)


def legend(layer: Layer) -> list[dict]:
    """Legend rows in declaration order: ``{value, label, color}``; ``其他`` for values drawn in the default colour."""
    style = layer.style
    if not style.color_by:
        return [{"value": None, "label": layer.title, "color": style.color}]
    rows: list[dict[str, Any]] = [{"value": v, "label": v, "color": c} for v, c in style.colors.items()]
    choices = layer.attr(style.color_by).choices
    if choices is None or set(choices) - set(style.colors):
        rows.append({"value": None, "label": OTHER, "color": style.color})
    return rows


def _meta(layer: Layer, role: str) -> dict:
    meta: dict[str, Any] = {
        "chengjian:layer": layer.id,
        "chengjian:group": layer.group,
        "chengjian:title": layer.title,
        "chengjian:role": role,
    }
    if role == "main":
        meta["chengjian:legend"] = legend(layer)
        meta["chengjian:color_by"] = layer.style.color_by
        meta["chengjian:order"] = layer.order
        if ring(layer):
            meta["chengjian:ring"] = ring(layer)
    return meta


def ring(layer: Layer) -> dict | None:
    """The ring of a point layer's flagged features: ``{attribute, label, color}``, None without one."""
    by = layer.style.ring_by
    return {"attribute": by, "label": layer.attr(by).label, "color": layer.style.ring_color} if by else None


def _stroke(layer: Layer) -> tuple[Any, Any]:
    """Circle stroke colour and width: white and thin, or the ring's colour and wide where ``ring_by`` is true."""
    width: list[Any] = ["interpolate", ["linear"], ["zoom"], 8, 0.3, 14, 1]
    by = layer.style.ring_by
    if not by:
        return "#ffffff", width
    flagged = ["==", ["get", by], True]
    return (
        ["case", flagged, layer.style.ring_color, "#ffffff"],
        ["interpolate", ["linear"], ["zoom"], 8, ["case", flagged, 1.5, 0.3], 14, ["case", flagged, 3, 1]],
    )


def _zoom_range(layer: Layer, minzoom: float | None = None, maxzoom: float | None = None) -> dict:
    out: dict[str, Any] = {}
    lo = max(layer.minzoom, minzoom or 0)
    hi = min(layer.maxzoom, maxzoom if maxzoom is not None else 24)
    if lo > 0:
        out["minzoom"] = lo
    if hi < 24:
        out["maxzoom"] = hi
    return out


def _by_zoom(value: float, low: float = 0.6, high: float = 1.8) -> list:
    """A size that grows with the zoom: ``low``·v at z8, v at z13, ``high``·v at z18."""
    return ["interpolate", ["linear"], ["zoom"], 8, round(value * low, 2), 13, value, 18, round(value * high, 2)]


def _individual(layer: Layer) -> list | None:
    return ["!", ["has", "cluster"]] if cluster_maxzoom(layer) is not None else None


def main_layer(layer: Layer) -> list[dict]:
    s = layer.style
    color = s.color_expression()
    base: dict[str, Any] = {"source": layer.id, "source-layer": layer.id, **_zoom_range(layer)}
    flt = _individual(layer)
    if flt:
        base["filter"] = flt
    if layer.kind == "circle":
        stroke, stroke_width = _stroke(layer)
        return [
            {
                "id": layer.id,
                "type": "circle",
                **base,
                "metadata": _meta(layer, "main"),
                "paint": {
                    "circle-color": color,
                    "circle-radius": _by_zoom(s.radius),
                    "circle-opacity": s.opacity,
                    "circle-stroke-color": stroke,
                    "circle-stroke-width": stroke_width,
                },
            }
        ]
    if layer.kind == "line":
        return [
            {
                "id": layer.id,
                "type": "line",
                **base,
                "metadata": _meta(layer, "main"),
                "layout": {"line-cap": "round", "line-join": "round"},
                "paint": {
                    "line-color": color,
                    "line-width": _by_zoom(s.width, 0.5, 2.0),
                    "line-opacity": s.opacity,
                },
            }
        ]
    return [
        {
            "id": layer.id,
            "type": "fill",
            **base,
            "metadata": _meta(layer, "main"),
            "paint": {"fill-color": color, "fill-opacity": s.opacity},
        },
        {
            "id": f"{layer.id}-outline",
            "type": "line",
            **base,
            "metadata": _meta(layer, "outline"),
            "layout": {"line-join": "round"},
            "paint": {"line-color": s.outline, "line-width": _by_zoom(s.width, 0.7, 1.6)},
        },
    ]


def _majority(keys: list[str], colors: list[str], default: str) -> Any:
    """The colour of whichever ``count_<value>`` of a cluster is largest."""
    expr: list[Any] = ["case"]
    for key, color in zip(keys, colors, strict=True):
        mine = ["coalesce", ["get", key], 0]
        expr += [["all", *[[">=", mine, ["coalesce", ["get", k], 0]] for k in keys if k != key]], color]
    return expr + [default]


def _cluster_paint(layer: Layer) -> dict:
    """Fill: the cluster's majority category. Ring: when it holds any of the legend's categories (say,
    dangerous houses among mostly safe ones), the colour of the commonest of them, drawn wider."""
    s = layer.style
    paint: dict[str, Any] = {"circle-color": s.color, "circle-stroke-color": "#ffffff", "circle-stroke-width": 1.5}
    if not s.color_by or not s.colors:
        return paint
    keys, colors = [f"count_{v}" for v in s.colors], list(s.colors.values())
    paint["circle-color"] = _majority(keys + ["count_other"], colors + [s.color], s.color)
    listed = ["+", *[["coalesce", ["get", k], 0] for k in keys]] if len(keys) > 1 else ["coalesce", ["get", keys[0]], 0]
    paint["circle-stroke-color"] = ["case", [">", listed, 0], _majority(keys, colors, "#ffffff"), "#ffffff"]
    paint["circle-stroke-width"] = ["case", [">", listed, 0], 3, 1.5]
    return paint


def count_text() -> list:
    """``1234`` as is, ``12345`` as ``1.2万``."""
    n = ["get", "count"]
    return [
        "case",
        [">=", n, 10000],
        ["concat", ["to-string", ["/", ["round", ["/", n, 1000]], 10]], "万"],
        ["to-string", n],
    ]


def cluster_layers(layer: Layer) -> list[dict]:
    z = cluster_maxzoom(layer)
    if z is None:
        return []
    # No maxzoom of their own: above cluster_maxzoom the tile size guard may still send cells, and they must show.
    base = {"source": layer.id, "source-layer": layer.id, "filter": ["has", "cluster"], **_zoom_range(layer)}
    radius = ["interpolate", ["linear"], ["sqrt", ["get", "count"]], 1, 5, 10, 9, 30, 14, 100, 22, 300, 32]
    return [
        {
            "id": f"{layer.id}-cluster",
            "type": "circle",
            **base,
            "metadata": _meta(layer, "cluster"),
            "paint": {**_cluster_paint(layer), "circle-radius": radius, "circle-opacity": 0.75},
        },
        {
            "id": f"{layer.id}-cluster-count",
            "type": "symbol",
            **base,
            "metadata": _meta(layer, "cluster-count"),
            "layout": {
                "text-field": count_text(),
                "text-font": FONT,
                "text-size": 11,
                "text-allow-overlap": True,
                "text-ignore-placement": True,
            },
            "paint": {"text-color": "#ffffff", "text-halo-color": "rgba(0,0,0,0.35)", "text-halo-width": 1},
        },
    ]


def point_labels(layer: Layer) -> bool:
    """Administrative areas are labelled once, at a point inside (a GeoJSON source), not once per tile."""
    return layer.kind == "fill" and layer.reference and bool(layer.label)


def label_layer(layer: Layer) -> list[dict]:
    if not layer.label:
        return []
    field: list = ["to-string", ["coalesce", ["get", layer.label], ""]]
    layout: dict[str, Any] = {"text-field": field, "text-font": FONT}
    if layer.kind == "fill":
        # Administrative names: big and early; others from where their fills become readable.
        admin = layer.reference
        minzoom = layer.minzoom if admin else max(layer.minzoom, 16)
        layout |= {
            "text-size": ["interpolate", ["linear"], ["zoom"], 7, 12, 12, 16] if admin else 12,
            "text-max-width": 8,
        }
        paint = {"text-color": "#334155" if admin else "#1e3a8a", "text-halo-color": "#ffffff", "text-halo-width": 1.5}
    elif layer.kind == "line":
        minzoom = max(layer.minzoom, 12)
        layout |= {"symbol-placement": "line", "text-size": 12}
        paint = {"text-color": "#14532d", "text-halo-color": "#ffffff", "text-halo-width": 1.5}
    else:
        minzoom = max(layer.minzoom, (cluster_maxzoom(layer) or 0) + 2, 14)
        layout |= {"text-size": 11, "text-anchor": "top", "text-offset": [0, 0.7], "text-optional": True}
        paint = {"text-color": "#1f2937", "text-halo-color": "#ffffff", "text-halo-width": 1.2}
    src = {"source": f"{layer.id}-labels"} if point_labels(layer) else {"source": layer.id, "source-layer": layer.id}
    out = {
        "id": f"{layer.id}-label",
        "type": "symbol",
        **src,
        **_zoom_range(layer, minzoom=minzoom),
        "metadata": _meta(layer, "label"),
        "layout": layout,
        "paint": paint,
    }
    flt = _individual(layer)
    if flt:
        out["filter"] = flt
    return [out]


def source(layer: Layer, base_url: str) -> dict:
    return {
        "type": "vector",
        "tiles": [f"{base_url}/tiles/{layer.id}/{{z}}/{{x}}/{{y}}.mvt"],
        "minzoom": layer.minzoom,
        "maxzoom": min(layer.maxzoom, MAX_SOURCE_ZOOM),
        "attribution": "杭州市城乡建设委员会",
    }


def build_style(layers: list[Layer], base_url: str) -> dict:
    """The style for ``layers`` (those the principal may view), tiles and glyphs served from ``base_url``."""
    base_url = base_url.rstrip("/")
    ordered = sorted(layers, key=lambda lyr: (lyr.order, lyr.id))
    geometry: list[dict] = []
    labels: list[dict] = []
    for layer in ordered:
        geometry += main_layer(layer) + cluster_layers(layer)
    # Labels above every shape; the names of districts and townships on top (placed first, never hidden).
    for layer in sorted(ordered, key=lambda lyr: point_labels(lyr)):
        labels += label_layer(layer)
    return {
        "version": 8,
        "name": "杭州城建一张图",
        "metadata": {"chengjian:groups": list(dict.fromkeys(lyr.group for lyr in ordered))},
        "center": HANGZHOU_CENTER,
        "zoom": HANGZHOU_ZOOM,
        "glyphs": f"{base_url}/map/glyphs/{{fontstack}}/{{range}}.pbf",
        "sources": {
            **{layer.id: source(layer, base_url) for layer in ordered},
            **{
                f"{layer.id}-labels": {"type": "geojson", "data": f"{base_url}/map/labels/{layer.id}.geojson"}
                for layer in ordered
                if point_labels(layer)
            },
        },
        "layers": [
            {
                "id": "background",
                "type": "background",
                "paint": {"background-color": BACKGROUND},
                "metadata": {"chengjian:role": "background"},
            }
        ]
        + geometry
        + labels,
    }
