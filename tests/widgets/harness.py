"""A small app that shows each visual widget with realistic data: the harness of the widget
tests, and a demo to look at by hand:

    python -m tests.widgets.harness heatmap     # or bars, phase, loss, loss7, dstar, norms, cosine, all
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
    last points untrained and, of 3 seeds per point, 2 or only 1 agreeing at a few points, as a
    run part way through looks."""
    from engine.presets import phase_axes
    from engine.science.relu_reference import reference_phase

    d, r = phase_axes(densities, importances)
    s_grid, r_grid = np.meshgrid(d, r, indexing="ij")  # [D, R]: point = d_index * R + r_index
    phases: list[str | None] = list(reference_phase(s_grid, r_grid).ravel())
    cutoff = int(round(trained * len(phases)))
    phases[cutoff:] = [None] * (len(phases) - cutoff)
    draw = np.random.default_rng(seed).random(len(phases))
    agreement = np.select([draw < 0.05, draw < 0.15], [1 / 3, 2 / 3], default=1.0)
    return d, r, phases, agreement


def sample_loss_history(steps: int = 5000, instances: int = 12, seed: int = 0):
    """(steps [T], loss [T, K]): decaying noisy losses, one column per instance."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    floors = np.geomspace(1e-3, 5e-2, instances)  # [K]
    loss = floors[None] + 0.3 * np.exp(-t[:, None] / (300 + 100 * np.arange(instances)[None]))
    return t, loss * np.exp(0.05 * rng.standard_normal(loss.shape))


def sample_density_losses(steps: int = 300, seed: int = 0):
    """(steps [T], {"p=<density>": loss [T]}) for the sparsity preset's seven densities, as the
    run view plots them: the dense p=1 model plateaus highest, at the top left of the plot."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    curves = {}
    for density in np.geomspace(1.0, 1e-3, 7):
        floor = 0.3 * density**0.9
        loss = floor + (0.35 - floor) * np.exp(-t / 60)
        curves[f"p={density:.3g}"] = loss * np.exp(0.1 * rng.standard_normal(steps))
    return t, curves


def sample_dstar_curves(activations=("linear", "relu", "gelu"), n: int = 200, m: int = 20):
    """{activation: (1/(1-S), D*)} and per-feature D_i, shaped like the blog's third figure."""
    from engine.presets import dims_densities

    inverse = 1 / np.asarray(dims_densities(20))
    curves, dims = {}, {}
    rng = np.random.default_rng(0)
    for k, name in enumerate(activations):
        dstar = np.clip(1.0 / (1 + (k + 1) * 0.4 * np.log(inverse)), m / n, 1.0)
        curves[name] = (inverse, dstar)
        dims[name] = (np.repeat(inverse, 10), np.clip(np.repeat(dstar, 10) + 0.08 * rng.standard_normal(200), 0, 1))
    return curves, dims


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
    if which == "loss7":
        from supertui.widgets.loss_plot import LossPlot

        plot = LossPlot(id="loss")
        plot.update_curves(*sample_density_losses())
        widgets.append(plot)
    if which in ("loss", "all"):
        from supertui.widgets.loss_plot import LossPlot

        plot = LossPlot(id="loss")
        steps, history = sample_loss_history()
        plot.update_curves(steps, {"relu": history})
        widgets.append(plot)
    if which in ("dstar", "all"):
        from supertui.widgets.dstar_plot import DStarPlot

        plot = DStarPlot(id="dstar")
        curves, dims = sample_dstar_curves()
        plot.update_curves(curves, feature_dims=dims)
        widgets.append(plot)
    if which == "norms":
        from supertui.widgets.norm_bars import FeatureNormBars

        bars = FeatureNormBars(title="feature norms  relu  density 0.1", id="norms")
        bars.update_model(sample_W())
        widgets.append(bars)
    if which == "cosine":
        from supertui.widgets.partner_cosine import PartnerCosinePlot

        plot = PartnerCosinePlot(id="cosine")
        densities = np.geomspace(0.5, 0.01, 6)
        plot.update_curves({"correlated": (densities, np.array([1.0, -0.05, -0.02, -0.01, 0.0, 0.0])),
                            "anticorrelated": (densities, np.full(6, -1.0))})
        widgets.append(plot)
    return WidgetHarness(*widgets)


if __name__ == "__main__":
    demo(sys.argv[1] if len(sys.argv) > 1 else "all").run()
