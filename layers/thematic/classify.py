"""Class breaks of a thematic map: quantiles, natural breaks (Fisher-Jenks) and equal interval, and colour ramps.

The schemes are PyPI ``mapclassify`` (PySAL): ``Quantiles``, ``EqualInterval`` and ``FisherJenks`` (the exact
optimum; ``FisherJenksSampled`` above a few thousand values). As in mapclassify, a break is a class's *upper*
bound, inclusive; the last break is the maximum.
"""

from __future__ import annotations

from collections.abc import Sequence

import mapclassify
import numpy as np

SCHEMES = {"quantiles": "分位数", "natural_breaks": "自然断点（Fisher-Jenks）", "equal_interval": "等间距"}
FISHER_JENKS_MAX = 3000  # exact up to this many values; above, mapclassify's sampled variant

# Sequential ramps (ColorBrewer, 9 classes; fewer classes take evenly spaced members).
RAMPS: dict[str, tuple[str, ...]] = {
    "blues": ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b"),
    "reds": ("#fff5f0", "#fee0d2", "#fcbba1", "#fc9272", "#fb6a4a", "#ef3b2c", "#cb181d", "#a50f15", "#67000d"),
    "greens": ("#f7fcf5", "#e5f5e0", "#c7e9c0", "#a1d99b", "#74c476", "#41ab5d", "#238b45", "#006d2c", "#00441b"),
    "oranges": ("#fff5eb", "#fee6ce", "#fdd0a2", "#fdae6b", "#fd8d3c", "#f16913", "#d94801", "#a63603", "#7f2704"),
    "purples": ("#fcfbfd", "#efedf5", "#dadaeb", "#bcbddc", "#9e9ac8", "#807dba", "#6a51a3", "#54278f", "#3f007d"),
    "ylorrd": ("#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026"),
    "ylgnbu": ("#ffffd9", "#edf8b1", "#c7e9b4", "#7fcdbb", "#41b6c4", "#1d91c0", "#225ea8", "#253494", "#081d58"),
}
RAMP_TITLES = {
    "blues": "蓝色渐变",
    "reds": "红色渐变",
    "greens": "绿色渐变",
    "oranges": "橙色渐变",
    "purples": "紫色渐变",
    "ylorrd": "黄-橙-红",
    "ylgnbu": "黄-绿-蓝",
}
# Categories without colours of their own (the layer's style names none): ColorBrewer Set1 then Set2.
QUALITATIVE = ("#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#999999", "#66c2a5")


def ramp(name: str, k: int) -> list[str]:
    """``k`` colours of a named ramp, light to dark (evenly spaced members, skipping the palest)."""
    colors = RAMPS[name]
    if k == 1:
        return [colors[-3]]
    idx = np.linspace(1, len(colors) - 1, k).round().astype(int)
    return [colors[i] for i in idx]


def breaks(values: Sequence[float], scheme: str, k: int) -> list[float]:
    """Upper class bounds of ``values`` (k or fewer: duplicates and too few distinct values give fewer classes)."""
    y = np.asarray([v for v in values if v is not None], dtype=float)
    if len(y) == 0:
        return []
    k = min(k, len(np.unique(y)))
    if k == 1:
        return [float(y.max())]
    if scheme == "natural_breaks":
        cls = mapclassify.FisherJenksSampled if len(y) > FISHER_JENKS_MAX else mapclassify.FisherJenks
    else:
        cls = {"quantiles": mapclassify.Quantiles, "equal_interval": mapclassify.EqualInterval}[scheme]
    return [float(b) for b in np.unique(cls(y, k=k).bins)]


def class_of(value: float | None, bounds: Sequence[float]) -> int | None:
    """The class index of a value: the first bound it does not exceed (the last class for anything above)."""
    if value is None or not bounds:
        return None
    for i, b in enumerate(bounds):
        if value <= b:
            return i
    return len(bounds) - 1
