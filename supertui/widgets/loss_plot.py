"""The training loss curve, log y by default, at most ~200 points per curve however long the run.

`update_curves(steps, {"loss": loss_history})`: a 1-D array is one labelled curve; a 2-D
[T, K] array (K instances) is K labelled curves when K is small, else its mean with a min/max
envelope, so a sweep of hundreds of models stays one readable picture. The legend is a strip
under the axes (plot_base), so with seven densities the dense p=1 curve, which starts at the top
left where plotext puts its own legend, stays in sight; each label keeps its colour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from supertui.widgets.plot_base import SafePlot
from supertui.widgets.palette import blend, hex_to_rgb, label_colors

DEFAULT_MAX_POINTS = 200
BAND_TOWARD = "#555555"  # min/max envelope: the curve's colour, muted


@dataclass(frozen=True)
class Series:
    """One drawn line: what the plot was given after downsampling and dropping bad points."""

    label: str
    x: np.ndarray
    y: np.ndarray
    color: str


def downsample_indices(length: int, max_points: int) -> np.ndarray:
    """Evenly spread indices, always keeping the first and last point."""
    if length <= max_points:
        return np.arange(length)
    return np.unique(np.round(np.linspace(0, length - 1, max_points)).astype(int))


def log_ticks(low: float, high: float) -> list[float]:
    """Ticks for a log axis over [low, high] (both > 0): 1-2-5 steps inside a narrow range,
    decades over a wide one."""
    if not (low > 0 and high > 0):
        return []
    if high / low < 10:  # less than a decade: 1-2-5 steps may miss it entirely
        fine = [t for t in nice_ticks(low, high, 4) if t > 0]
        return fine or [low]
    ticks = []
    for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        for m in ((1, 2, 5) if high / low <= 200 else (1,)):
            t = m * 10.0**e
            if low * 0.999 <= t <= high * 1.001:
                ticks.append(t)
    return ticks


def thin_ticks(ticks: list[float], rows: int) -> list[float]:
    """Every k-th tick so that labels stand at least two rows apart: with more labels than
    rows, plotext overwrites some, and which survive would depend on drawing order."""
    fit = max(2, rows // 2)
    return ticks[:: math.ceil(len(ticks) / fit)] if len(ticks) > fit else ticks


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round values (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else []
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(int((high - first) / step + 1e-9) + 1)]


def tick_label(value: float) -> str:
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e")
    if abs(value) >= 1000 and value == int(value):
        return f"{value / 1000:g}k"
    return f"{value:g}"


class LossPlot(SafePlot):
    """Loss against step. Redraws only when the (downsampled) data changes."""

    def __init__(
        self,
        *,
        title: str = "loss",
        max_points: int = DEFAULT_MAX_POINTS,
        max_curves: int = 4,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.title = title
        self.max_points = max_points
        self.max_curves = max_curves
        self._series: list[Series] = []
        self._log_y = True
        self.x_label = "step"

    @property
    def series(self) -> list[Series]:
        return list(self._series)

    def update_curves(self, steps: np.ndarray, curves: dict[str, np.ndarray], log_y: bool = True,
                      x_label: str = "step") -> None:
        """`steps`: the x of each row (training steps, or seconds of wall time with its x_label)."""
        steps = np.asarray(steps, dtype=float)
        idx = downsample_indices(len(steps), self.max_points)
        series: list[Series] = []
        colors = label_colors(list(curves))
        for label, values in curves.items():
            values = np.asarray(values, dtype=float)
            if values.shape[0] != len(steps):
                raise ValueError(f"curves[{label!r}]: {values.shape[0]} values for {len(steps)} steps")
            color = colors[label]
            values = values[idx]
            x = steps[idx]
            if values.ndim == 1:
                series.append(self._series_of(label, x, values, color, log_y))
            elif values.shape[1] <= self.max_curves:
                instance_colors = label_colors([f"{label} {k}" for k in range(values.shape[1])])
                for k in range(values.shape[1]):
                    name = f"{label} {k}"
                    series.append(self._series_of(name, x, values[:, k], instance_colors[name], log_y))
            else:
                with np.errstate(all="ignore"):
                    finite = np.where(np.isfinite(values), values, np.nan)
                    any_finite = np.isfinite(finite).any(1)
                    safe = np.where(any_finite[:, None], finite, 0.0)
                    mean = np.where(any_finite, np.nanmean(safe, 1), np.nan)
                    low = np.where(any_finite, np.nanmin(safe, 1), np.nan)
                    high = np.where(any_finite, np.nanmax(safe, 1), np.nan)
                band = blend(color, BAND_TOWARD, 0.5)
                k = values.shape[1]
                series.append(self._series_of(f"{label} min/max of {k}", x, high, band, log_y))
                series.append(self._series_of("", x, low, band, log_y))
                series.append(self._series_of(f"{label} mean of {k}", x, mean, color, log_y))
        if self._same(series) and log_y == self._log_y and x_label == self.x_label:
            return
        self._series, self._log_y, self.x_label = series, log_y, x_label
        self._draw()

    def update_runs(self, curves: list[tuple[str, np.ndarray, np.ndarray, str]], log_y: bool = True) -> None:
        """Curves with x of their own, (label, x, y, colour) each: several runs overlaid."""
        series = []
        for label, x, y, color in curves:
            idx = downsample_indices(len(x), self.max_points)
            series.append(self._series_of(label, np.asarray(x, dtype=float)[idx], np.asarray(y, dtype=float)[idx], color, log_y))
        if self._same(series) and log_y == self._log_y:
            return
        self._series, self._log_y = series, log_y
        self._draw()

    @staticmethod
    def _series_of(label: str, x: np.ndarray, y: np.ndarray, color: str, log_y: bool) -> Series:
        keep = np.isfinite(y) & ((y > 0) if log_y else True)
        return Series(label, x[keep], y[keep], color)

    def _same(self, series: list[Series]) -> bool:
        return len(series) == len(self._series) and all(
            a.label == b.label and a.color == b.color and np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
            for a, b in zip(series, self._series)
        )

    def legend_entries(self) -> list[tuple[str, str]]:
        return [(s.label, s.color) for s in self._series if s.label]

    def _plot_rows(self) -> int:
        # the widget's height less the title, the x tick labels, the x label and the legend
        if not self.size.height:
            return 20
        legend = self.legend_strip(self.size.width, self.size.height)
        return max(2, self.size.height - 4 - len(legend))

    def on_resize(self) -> None:
        if self._series:
            self._draw()

    def _draw(self) -> None:
        # Log axes are drawn as log10 data on a linear axis with labelled ticks: plotext 5 applies
        # its own log scale to the stored data in place, so a second build (every redraw) fails.
        plt = self.plt
        plt.clear_data()
        plt.title(self.title)  # "" takes no row: use it when the pane has its own border title
        plt.xlabel(self.x_label)
        drawn = [s for s in self._series if len(s.x)]
        for s in drawn:
            y = np.log10(s.y) if self._log_y else s.y
            plt.plot(s.x.tolist(), y.tolist(), color=hex_to_rgb(s.color), marker="braille")  # legend: under the axes
        if drawn:
            x_lo = min(float(s.x.min()) for s in drawn)
            x_hi = max(float(s.x.max()) for s in drawn)
            ticks = nice_ticks(x_lo, x_hi)
            plt.xticks(ticks, [tick_label(t) for t in ticks])
        if drawn:
            y_lo = min(float(s.y.min()) for s in drawn)
            y_hi = max(float(s.y.max()) for s in drawn)
            ticks = log_ticks(y_lo, y_hi) if self._log_y else nice_ticks(y_lo, y_hi)
            ticks = thin_ticks(ticks, self._plot_rows())
            positions = np.log10(ticks) if self._log_y else ticks
            plt.yticks(list(positions), [tick_label(t) for t in ticks])
        self.refresh()
