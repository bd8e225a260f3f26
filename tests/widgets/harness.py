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
    return WidgetHarness(*widgets)


if __name__ == "__main__":
    demo(sys.argv[1] if len(sys.argv) > 1 else "all").run()
