"""Dimensions per feature D* against 1/(1-S) on a log x axis: the blog's third experiment.

One curve per label (an activation, or a run id when comparing runs) in its stable palette
colour, horizontal reference lines at the sticky fractions (engine.science.metrics.STICKY_FRACTIONS:
1, 3/4, 2/3, 1/2, 2/5, 3/8), and optionally every feature's dimensionality D_i as dots.

    curves = {"relu": (1 / densities, dims_per_feature(W))}            # x [N], D* [N]
    dims = {"relu": (np.repeat(1 / densities, n), feature_dimensionality(W).ravel())}
    plot.update_curves(curves, feature_dims=dims)
    plot.update_curves(curves, reference={"ref relu": (x_ref, y_ref, "relu")})  # published points
    plot.update_curves(curves, earlier={"relu": (1 / densities, dstar_at_step_1000, "step 1,000")})  # faded

Reference points (supertui.reference_overlay) are drawn as × marks joined by a line, in the colour
of the curve they are held against.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from engine.science.metrics import STICKY_FRACTIONS
from supertui.widgets.loss_plot import Series, downsample_indices, log_ticks, nice_ticks, tick_label
from supertui.widgets.plot_base import SafePlot, sorted_finite
from supertui.widgets.palette import blend, hex_to_rgb, label_color, label_colors

REFERENCE_COLOR = "#6E6E6E"
SCATTER_TOWARD = "#333333"  # D_i dots: the curve's colour, darker, so curves stay on top
EARLIER_TOWARD = "#1E1E1E"  # an earlier step's curve: the label's colour faded toward the background
MAX_SCATTER_POINTS = 4000


def fraction_label(value: float) -> str:
    return str(Fraction(value).limit_denominator(10))


class DStarPlot(SafePlot):
    """D* vs 1/(1-S). `update_curves({label: (x, dstar)}, feature_dims={label: (x, D_i)})`."""

    def __init__(
        self,
        *,
        title: str = "dimensions per feature D* vs 1/(1-S)",
        show_reference: bool = True,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.title = title
        self.show_reference = show_reference
        self._series: list[Series] = []
        self._scatter: list[Series] = []
        self._reference: list[Series] = []
        self._earlier: list[Series] = []

    @property
    def series(self) -> list[Series]:
        return list(self._series)

    @property
    def scatter(self) -> list[Series]:
        return list(self._scatter)

    @property
    def reference(self) -> list[Series]:
        return list(self._reference)

    @property
    def earlier(self) -> list[Series]:
        return list(self._earlier)

    def update_curves(
        self,
        curves: dict[str, tuple[np.ndarray, np.ndarray]],
        feature_dims: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
        reference: dict[str, tuple[np.ndarray, np.ndarray, str]] | None = None,
        earlier: dict[str, tuple[np.ndarray, np.ndarray, str]] | None = None,
    ) -> None:
        """`earlier`: per label, the same curve at an earlier training step (x, D*, "step 1,000"),
        drawn faded in the label's colour, so a D* still moving shows as a gap between the two."""
        colors = label_colors(list(curves))
        series = []
        for label, (x, y) in curves.items():
            series.append(Series(label, *sorted_finite(label, x, y, "D*"), colors[label]))
        ghosts = []
        for label, (x, y, when) in (earlier or {}).items():
            colour = blend(colors.get(label) or label_color(label), EARLIER_TOWARD, 0.55)
            ghosts.append(Series(f"{label} at {when}", *sorted_finite(label, x, y, "D*"), colour))
        scatter = []
        for label, (x, y) in (feature_dims or {}).items():
            x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
            if x.shape != y.shape:
                raise ValueError(f"feature_dims[{label!r}]: x has shape {x.shape} but D_i has {y.shape}")
            keep = np.isfinite(x) & np.isfinite(y) & (x > 0)
            x, y = x[keep], y[keep]
            idx = downsample_indices(len(x), MAX_SCATTER_POINTS)
            colour = blend(colors.get(label) or label_color(label), SCATTER_TOWARD, 0.45)
            scatter.append(Series(f"{label} D_i", x[idx], y[idx], colour))
        marks = [Series(name, *sorted_finite(name, x, y, "y"), colors.get(against) or label_color(against))
                 for name, (x, y, against) in (reference or {}).items()]
        if (self._same(series, self._series) and self._same(scatter, self._scatter)
                and self._same(marks, self._reference) and self._same(ghosts, self._earlier)):
            return
        self._series, self._scatter, self._reference, self._earlier = series, scatter, marks, ghosts
        self._draw()

    def toggle_reference(self) -> None:
        self.show_reference = not self.show_reference
        self._draw()

    @staticmethod
    def _same(a: list[Series], b: list[Series]) -> bool:
        return len(a) == len(b) and all(
            s.label == t.label and s.color == t.color and np.array_equal(s.x, t.x) and np.array_equal(s.y, t.y)
            for s, t in zip(a, b)
        )

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.title(self.title)  # "" takes no row: use it when the pane has its own border title
        plt.xlabel("1/(1-S)  (log)")
        everything = [s for s in self._series + self._scatter + self._reference + self._earlier if len(s.x)]
        # x is drawn as log10(1/(1-S)) on a linear axis with labelled ticks: plotext 5's own log
        # scale transforms the stored data in place and fails on the next redraw.
        if everything:
            x_lo = min(float(s.x.min()) for s in everything)
            x_hi = max(float(s.x.max()) for s in everything)
            if x_hi <= x_lo:
                x_lo, x_hi = x_lo / 1.5, x_hi * 1.5
            y_hi = max(1.05, max(float(s.y.max()) for s in everything) * 1.05)
            ticks = log_ticks(x_lo, x_hi)
            plt.xticks(list(np.log10(ticks)), [tick_label(t) for t in ticks])
            plt.ylim(0, y_hi)
            y_ticks = nice_ticks(0, y_hi, 5)
            plt.yticks(y_ticks, [tick_label(t) for t in y_ticks])
            if self.show_reference:
                for fraction in STICKY_FRACTIONS:
                    plt.hline(fraction, color=hex_to_rgb(REFERENCE_COLOR))
                    plt.text(fraction_label(fraction), x=float(np.log10(x_hi)), y=fraction, alignment="right", color=hex_to_rgb(REFERENCE_COLOR))
            for s in self._scatter:
                if len(s.x):
                    plt.scatter(np.log10(s.x).tolist(), s.y.tolist(), color=hex_to_rgb(s.color), marker="dot")
            for s in self._earlier:
                if len(s.x):
                    plt.plot(np.log10(s.x).tolist(), s.y.tolist(), label=s.label, color=hex_to_rgb(s.color), marker="braille")
            for s in self._series:
                if len(s.x):
                    plt.plot(np.log10(s.x).tolist(), s.y.tolist(), label=s.label, color=hex_to_rgb(s.color), marker="braille")
            for s in self._reference:
                if len(s.x):
                    plt.plot(np.log10(s.x).tolist(), s.y.tolist(), label=s.label, color=hex_to_rgb(s.color), marker="x")
        self.refresh()
