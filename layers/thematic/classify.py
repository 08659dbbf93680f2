"""Class breaks of a thematic map: quantiles, natural breaks (Fisher-Jenks) and equal interval, and colour ramps.

The brief names PyPI ``mapclassify`` (PySAL): it is used when it is installed. It is not in the project's virtual
environment today (it pulls in scipy, scikit-learn and networkx), so the same three schemes are also written here
in numpy, following mapclassify's definitions exactly — ``Quantiles`` (linear-interpolated percentiles at 100/k
steps, duplicates dropped), ``EqualInterval`` (k equal widths from min to max) and ``FisherJenks`` (the exact
dynamic programme minimising the within-class sum of squared deviations) — so that the breaks are the same with or
without it (tests/test_thematic.py compares them whenever mapclassify can be imported). As in mapclassify, a break
is a class's *upper* bound, inclusive; the last break is the maximum.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SCHEMES = {"quantiles": "分位数", "natural_breaks": "自然断点（Fisher-Jenks）", "equal_interval": "等间距"}
FISHER_JENKS_MAX = 3000  # exact up to this many distinct values; above, on an evenly spaced sample of sorted values

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


def _mapclassify():
    try:
        import mapclassify
    except ImportError:
        return None
    return mapclassify


def quantiles(y: np.ndarray, k: int) -> np.ndarray:
    pct = np.arange(1, k + 1) * (100.0 / k)
    pct[-1] = 100.0
    return np.unique(np.percentile(y, pct))


def equal_interval(y: np.ndarray, k: int) -> np.ndarray:
    lo, hi = float(y.min()), float(y.max())
    if hi == lo:
        return np.array([hi])
    width = (hi - lo) / k
    cuts = lo + width * np.arange(1, k + 1)
    cuts[-1] = hi
    return cuts


def fisher_jenks(y: np.ndarray, k: int) -> np.ndarray:
    """Exact optimal classes (Fisher 1958): minimal total within-class sum of squares; returns upper bounds."""
    x = np.sort(np.asarray(y, dtype=float))
    distinct = np.unique(x)
    if len(distinct) <= k:
        return distinct
    if len(x) > FISHER_JENKS_MAX:
        x = x[np.linspace(0, len(x) - 1, FISHER_JENKS_MAX).round().astype(int)]
    n = len(x)
    s1 = np.concatenate(([0.0], np.cumsum(x)))
    s2 = np.concatenate(([0.0], np.cumsum(x * x)))

    def ssd(i: np.ndarray, j: int) -> np.ndarray:
        """Sum of squared deviations of x[i:j] for every start i (vector) and one end j."""
        cnt = j - i
        s = s1[j] - s1[i]
        return (s2[j] - s2[i]) - s * s / cnt

    # cost[c][j]: best cost of the first j values in c+1 classes; back[c][j]: start of the last class.
    cost = np.full((k, n + 1), np.inf)
    back = np.zeros((k, n + 1), dtype=int)
    for j in range(1, n + 1):
        cost[0][j] = ssd(np.array([0]), j)[0]
    for c in range(1, k):
        for j in range(c + 1, n + 1):
            starts = np.arange(c, j)  # the last class is x[start:j]; the first c classes hold x[:start]
            total = cost[c - 1][starts] + ssd(starts, j)
            best = int(np.argmin(total))
            cost[c][j], back[c][j] = total[best], starts[best]
    bounds, j = [], n
    for c in range(k - 1, -1, -1):
        bounds.append(x[j - 1])
        j = back[c][j] if c else 0
    return np.array(sorted(bounds))


def breaks(values: Sequence[float], scheme: str, k: int) -> list[float]:
    """Upper class bounds of ``values`` (k or fewer: duplicates and too few distinct values give fewer classes)."""
    y = np.asarray([v for v in values if v is not None], dtype=float)
    if len(y) == 0:
        return []
    k = min(k, len(np.unique(y)))
    mc = _mapclassify()
    if mc is not None:
        cls = {"quantiles": mc.Quantiles, "equal_interval": mc.EqualInterval, "natural_breaks": mc.FisherJenks}
        if scheme == "natural_breaks" and len(y) > FISHER_JENKS_MAX:
            cls["natural_breaks"] = mc.FisherJenksSampled
        bins = cls[scheme](y, k=k).bins
    else:
        bins = {"quantiles": quantiles, "equal_interval": equal_interval, "natural_breaks": fisher_jenks}[scheme](y, k)
    return [float(b) for b in bins]


def class_of(value: float | None, bounds: Sequence[float]) -> int | None:
    """The class index of a value: the first bound it does not exceed (the last class for anything above)."""
    if value is None or not bounds:
        return None
    for i, b in enumerate(bounds):
        if value <= b:
            return i
    return len(bounds) - 1
