"""The cosine between partner features across densities: the correlated-features experiment's
own picture. x is the density 1-S (log, dense on the right), y the cosine Ŵ_i·Ŵ_j of partner
pairs, from -1 (antipodal) through 0 (orthogonal) to +1 (one shared direction), with those three
drawn as reference lines. One curve per label: a pair kind of one run (in engine.palette's pair
colours), or a run and kind when comparing (an activation's colour, a marker per kind).

    plot.update_curves({"correlated": (densities, cosines), "anticorrelated": (densities, cosines)})
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from supertui.widgets.loss_plot import log_ticks, tick_label
from supertui.widgets.palette import PAIR_COLORS, activation_color, hex_to_rgb, label_colors
from supertui.widgets.plot_base import SafePlot, sorted_finite

REFERENCE_COLOR = "#6E6E6E"
KIND_MARKERS = {"correlated": "braille", "anticorrelated": "dot"}
REFERENCES = {-1.0: "antipodal", 0.0: "orthogonal", 1.0: "shared"}


@dataclass(frozen=True)
class CosineSeries:
    label: str
    x: np.ndarray  # densities
    y: np.ndarray  # cosines
    color: str
    marker: str


def series_colour(label: str, palette: dict[str, str]) -> str:
    """A pair kind's own colour; for "<activation> · <kind>" the activation's."""
    if label in PAIR_COLORS:
        return PAIR_COLORS[label]
    if " · " in label:
        return activation_color(label.split(" · ")[0])
    return palette[label]


def series_marker(label: str) -> str:
    """A marker per pair kind, the label's last part ("relu · anticorrelated" -> "anticorrelated")."""
    return KIND_MARKERS.get(label.split(" · ")[-1].split(" (")[0], "braille")


class PartnerCosinePlot(SafePlot):
    """Partner cosine against density. `update_curves({label: (densities, cosines)})`."""

    def __init__(self, *, title: str = "", name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.title = title
        self._series: list[CosineSeries] = []

    @property
    def series(self) -> list[CosineSeries]:
        return list(self._series)

    def update_curves(self, curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        palette = label_colors(list(curves))
        series = []
        for label, (x, y) in curves.items():
            series.append(CosineSeries(label, *sorted_finite(label, x, y, "cosine"), series_colour(label, palette),
                                       series_marker(label)))
        if len(series) == len(self._series) and all(
            a.label == b.label and np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
            for a, b in zip(series, self._series)
        ):
            return
        self._series = series
        self._draw()

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.title(self.title)
        plt.xlabel("density 1-S  (log)")
        drawn = [s for s in self._series if len(s.x)]
        if drawn:
            lo = min(float(s.x.min()) for s in drawn)
            hi = max(float(s.x.max()) for s in drawn)
            if hi <= lo:
                lo, hi = lo / 1.5, hi * 1.5
            ticks = log_ticks(lo, hi)
            plt.xticks(list(np.log10(ticks)), [tick_label(t) for t in ticks])
            plt.xlim(float(np.log10(lo)), float(np.log10(hi)))
        plt.ylim(-1.1, 1.1)
        plt.yticks([-1, -0.5, 0, 0.5, 1], ["-1", "-0.5", "0", "0.5", "1"])
        for value in REFERENCES:
            plt.hline(value, color=hex_to_rgb(REFERENCE_COLOR))
        for s in drawn:
            plt.plot(np.log10(s.x).tolist(), s.y.tolist(), label=s.label, color=hex_to_rgb(s.color), marker=s.marker)
        self.refresh()
