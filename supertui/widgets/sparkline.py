"""One-line loss sparklines for tables (▁▂▃▄▅▆▇█)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

BLOCKS = "▁▂▃▄▅▆▇█"
MISSING = " "  # NaN, inf, or (on a log scale) a value <= 0


def sparkline_text(values: Sequence[float], width: int = 16, log: bool = True) -> str:
    """A sparkline at most `width` characters long.

    Longer series are averaged into `width` bins (so a spike still moves its bin); shorter ones
    get one character per value. With `log` (losses span decades) values are compared on a log10
    scale. Missing values become spaces; a constant series sits at mid height."""
    if width <= 0:
        return ""
    data = np.asarray(list(values), dtype=float).ravel()
    if data.size == 0:
        return ""
    if log:
        with np.errstate(divide="ignore", invalid="ignore"):
            data = np.where(data > 0, np.log10(np.where(data > 0, data, 1.0)), np.nan)
    data[~np.isfinite(data)] = np.nan
    if data.size > width:
        edges = np.linspace(0, data.size, width + 1).astype(int)
        finite = np.isfinite(data)  # every bin holds at least one value: size > width
        sums = np.add.reduceat(np.where(finite, data, 0.0), edges[:-1])
        counts = np.add.reduceat(finite.astype(int), edges[:-1])
        data = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return MISSING * data.size
    lo, hi = float(finite.min()), float(finite.max())
    span = hi - lo
    chars = []
    for v in data:
        if math.isnan(v):
            chars.append(MISSING)
        elif span <= 1e-12 * max(1.0, abs(hi)):
            chars.append(BLOCKS[len(BLOCKS) // 2 - 1])
        else:
            chars.append(BLOCKS[min(len(BLOCKS) - 1, int((v - lo) / span * len(BLOCKS)))])
    return "".join(chars)
