"""A small app that shows each visual widget with realistic data: the harness of the widget
tests, and a demo to look at by hand:

    python -m tests.widgets.harness heatmap     # or bars, phase, loss, dstar, all
"""

from __future__ import annotations

import sys

import numpy as np
from textual.app import App, ComposeResult
from textual.widget import Widget


def sample_W(m: int = 5, n: int = 10, seed: int = 0) -> np.ndarray:
    """A hand-built superposition-like W [m, n]: the first m features get their own direction,
    the rest are packed antipodally onto them with smaller norms."""
    rng = np.random.default_rng(seed)
    W = np.zeros((m, n))
    for i in range(n):
        k = i % m
        W[k, i] = (1.0 if i < m else -0.8 * 0.9 ** (i - m)) + 0.02 * rng.standard_normal()
    return W


def dense_W(m: int = 5, n: int = 10, seed: int = 0) -> np.ndarray:
    """W [m, n] with every feature spread over every neuron, as dense low-sparsity runs end up."""
    return np.random.default_rng(seed).normal(0.0, 0.5, (m, n))


def reference_phase_grid(densities: int = 12, importances: int = 12, trained: float = 1.0, seed: int = 0):
    """(densities, relative_importances, phases, agreement) from the exact ReLU reference, with the
    last points untrained and a few seeds disagreeing, as a run part way through looks."""
    from engine.phase import relu_reference_phase
    from engine.presets import phase_axes

    d, r = phase_axes(densities, importances)
    s_grid, r_grid = np.meshgrid(d, r, indexing="ij")  # [D, R]: point = d_index * R + r_index
    phases: list[str | None] = list(relu_reference_phase(s_grid, r_grid).ravel())
    cutoff = int(round(trained * len(phases)))
    phases[cutoff:] = [None] * (len(phases) - cutoff)
    agreement = np.where(np.random.default_rng(seed).random(len(phases)) < 0.15, 0.6, 1.0)
    return d, r, phases, agreement


class WidgetHarness(App):
    """Mounts the given widgets; tests drive them with the Pilot."""

    CSS = """
    Screen { layout: vertical; }
    """

    def __init__(self, *widgets: Widget, **kwargs) -> None:
        super().__init__(**kwargs)
        self._widgets = widgets

    def compose(self) -> ComposeResult:
        yield from self._widgets


def demo(which: str) -> WidgetHarness:
    from supertui.widgets.heatmap import HeatMap

    widgets: list[Widget] = []
    if which in ("heatmap", "all"):
        W = sample_W()
        widgets.append(HeatMap(W.T @ W, title="WᵀW  relu  density 0.1", id="heatmap"))
    if which == "heatmap200":
        W = sample_W(20, 200)
        widgets.append(HeatMap(W.T @ W, title="WᵀW  n=200", id="heatmap"))
    if which in ("bars", "all"):
        from supertui.widgets.neuron_bars import NeuronBars

        widgets.append(NeuronBars(dense_W(), title="neurons  relu  density 0.1", id="bars"))
    if which == "bars200":
        from supertui.widgets.neuron_bars import NeuronBars

        widgets.append(NeuronBars(dense_W(20, 200), id="bars"))
    if which in ("phase", "phase40", "all"):
        from supertui.widgets.phase_grid import PhaseGrid

        grid = PhaseGrid(title="phase diagram  relu", id="phase")
        size = 40 if which == "phase40" else 12
        grid.update_grid(*reference_phase_grid(size, size, trained=0.8 if which != "phase40" else 1.0))
        widgets.append(grid)
    return WidgetHarness(*widgets)


if __name__ == "__main__":
    demo(sys.argv[1] if len(sys.argv) > 1 else "all").run()
