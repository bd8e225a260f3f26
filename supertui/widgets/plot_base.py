"""The base of the plotext plots: a failed draw shows in the pane instead of ending the app."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual_plotext import PlotextPlot


def sorted_finite(label: str, x, y, what: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """A curve's points ready for a log x axis: finite, x > 0, sorted by x (ValueError naming the
    curve when x and y differ in shape)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"curves[{label!r}]: x has shape {x.shape} but {what} has {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0)
    order = np.argsort(x[keep], kind="stable")
    return x[keep][order], y[keep][order]


class SafePlot(PlotextPlot):
    def render(self):
        # plotext 5 has edge cases (e.g. odd sizes) that raise while building; a live view must
        # keep running, so say so in the pane instead of taking the app down.
        try:
            return super().render()
        except Exception as error:  # noqa: BLE001
            self.log.error(f"{type(self).__name__} failed to draw: {error!r}")
            return Text(f"plot unavailable: {error}", style="dim")
