"""TileJSON 3.0.0 for a layer's vector tiles."""

from __future__ import annotations

import math

from geo.layer.registry import Layer
from tiles import sql

CENTER_ZOOM = 9


def fields(layer: Layer) -> dict[str, str]:
    """Field name -> Chinese description, for single features and (if any) aggregated points."""
    out = {"id": "要素编号"}
    out |= {name: layer.attr(name).label for name in sql.tile_attrs(layer)}
    if layer.cluster_maxzoom is not None:
        out["cluster"] = f"聚合点标记（缩放级别 {layer.cluster_maxzoom} 以下为 1）"
        out["count"] = "格网内要素数"
        if layer.style.color_by:
            label = layer.attr(layer.style.color_by).label
            for value in sql.categories(layer):
                out[f"count_{value}"] = f"{label}为「{value}」的要素数"
            out["count_other"] = f"{label}为其他值或为空的要素数"
    return out


def outward(bounds: tuple[float, float, float, float], digits: int = 6) -> list[float]:
    """The box rounded outwards to ``digits`` decimals: rounding must never crop the outermost feature."""
    f = 10**digits
    w, s, e, n = bounds
    return [math.floor(w * f) / f, math.floor(s * f) / f, math.ceil(e * f) / f, math.ceil(n * f) / f]


def tilejson(layer: Layer, base_url: str, bounds: tuple[float, float, float, float]) -> dict:
    minzoom, maxzoom = layer.minzoom, min(layer.maxzoom, sql.MAX_ZOOM)
    description = f"{layer.group} · {layer.title}"
    if layer.cluster_maxzoom is not None:
        description += f"（缩放级别 {layer.cluster_maxzoom} 以下按格网聚合）"
    return {
        "tilejson": "3.0.0",
        "name": layer.title,
        "description": description,
        "version": "1.0.0",
        "scheme": "xyz",
        "tiles": [f"{base_url.rstrip('/')}/tiles/{layer.id}/{{z}}/{{x}}/{{y}}.mvt"],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": outward(bounds),
        "center": [
            round((bounds[0] + bounds[2]) / 2, 6),
            round((bounds[1] + bounds[3]) / 2, 6),
            max(minzoom, min(CENTER_ZOOM, maxzoom)),
        ],
        "vector_layers": [
            {
                "id": layer.id,
                "description": layer.title,
                "minzoom": minzoom,
                "maxzoom": maxzoom,
                "fields": fields(layer),
            }
        ],
    }
