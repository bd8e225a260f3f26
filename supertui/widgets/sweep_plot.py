"""A sweep's result against one swept field: one curve per value of a second field.

    plot.update_curves({"init=xavier": ([1e-4, 1e-3], [0.2, 0.1])}, x_label="lr", log_y=True)

x is drawn on a log axis when it spans a factor of ten or more (learning rates, sizes), and
non-numeric fields (init, optimizer) arrive as positions 0, 1, 2... with `x_ticks` naming them.
"""

from __future__ import annotations

import numpy as np

from supertui.widgets.loss_plot import log_ticks, nice_ticks, tick_label
from supertui.widgets.palette import hex_to_rgb, label_colors
from supertui.widgets.plot_base import SafePlot


class SweepPlot(SafePlot):
    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.x_label = ""
        self.x_ticks: list[str] | None = None
        self.log_y = False

    def legend_entries(self) -> list[tuple[str, str]]:
        if len(self.curves) < 2:
            return []
        colors = label_colors(list(self.curves))
        return [(label, colors[label]) for label in self.curves]

    def update_curves(self, curves: dict[str, tuple[list[float], list[float]]], *, x_label: str,
                      x_ticks: list[str] | None = None, log_y: bool = False) -> None:
        self.curves = {}
        for label, (x, y) in curves.items():
            x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
            keep = np.isfinite(x) & np.isfinite(y) & ((y > 0) if log_y else True)
            self.curves[label] = (x[keep], y[keep])
        self.x_label, self.x_ticks, self.log_y = x_label, x_ticks, log_y
        self._draw()

    def _log_x(self) -> bool:
        xs = np.concatenate([x for x, _ in self.curves.values()]) if self.curves else np.zeros(0)
        return self.x_ticks is None and xs.size > 0 and xs.min() > 0 and xs.max() / xs.min() >= 10

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.title("")
        drawn = [(label, x, y) for label, (x, y) in self.curves.items() if len(x)]
        if not drawn:
            self.refresh()
            return
        log_x = self._log_x()
        xs = np.concatenate([x for _, x, _ in drawn])
        ys = np.concatenate([y for _, _, y in drawn])
        plt.xlabel(f"{self.x_label}{'  (log)' if log_x else ''}")
        if self.x_ticks is not None:
            plt.xticks(list(range(len(self.x_ticks))), self.x_ticks)
        elif log_x:
            ticks = log_ticks(float(xs.min()), float(xs.max()))
            plt.xticks(list(np.log10(ticks)), [tick_label(t) for t in ticks])
        if self.log_y:
            ticks = log_ticks(float(ys.min()), float(ys.max()))
            plt.yticks(list(np.log10(ticks)), [tick_label(t) for t in ticks])
        else:
            low, high = float(ys.min()), float(ys.max())
            pad = (high - low) * 0.1 or abs(high) * 0.1 or 1.0
            ticks = nice_ticks(low - pad, high + pad, 5)
            plt.yticks(ticks, [tick_label(t) for t in ticks])
        colors = label_colors([label for label, _, _ in drawn])
        for label, x, y in drawn:
            px = np.log10(x) if log_x else x
            py = np.log10(y) if self.log_y else y
            plt.plot(px.tolist(), py.tolist(), color=hex_to_rgb(colors[label]), marker="braille")
            plt.scatter(px.tolist(), py.tolist(), color=hex_to_rgb(colors[label]), marker="●")
        self.refresh()
