"""The report's combined figures as a reader sees them: equal partner cosines of several runs stay
visible side by side, and every panel of the combined phase figure has its own x tick labels."""

from __future__ import annotations

import numpy as np
import pytest

from engine import RunStore
from engine.experiments import get_experiment, instance_table
from engine.export import figure_builder
from tests.handmade import arrays_for, write_run

pytest.importorskip("matplotlib")


def saved_runs(tmp_path, preset: str, activations) -> list:
    """Hand-made completed runs of the tiny `preset`, identical weights for every activation."""
    store = RunStore(tmp_path)
    out = []
    for index, activation in enumerate(activations):
        config = get_experiment(preset).config("tiny").replace(activation=activation)
        table = instance_table(config)
        arrays = arrays_for(config, seed=0)
        for key in ("relative_importance", "partner", "pair_kind"):
            if getattr(table, key) is not None:
                arrays[key] = getattr(table, key)
        write_run(tmp_path, f"20260101-10000{index}-{preset}-{activation}", config, arrays, seeds=[0, 1][:config.seeds])
        out.append(store.load(f"20260101-10000{index}-{preset}-{activation}"))
    return out


def test_runs_with_equal_cosines_are_drawn_side_by_side_and_the_figure_says_so(tmp_path):
    runs = saved_runs(tmp_path, "correlated", ("relu", "gelu", "silu"))
    fig = figure_builder("cosine", runs)()
    ax = fig.axes[0]
    curves = [line for line in ax.get_lines() if line.get_marker() in ("o", "v")]  # not the guide lines at 0, ±1
    xs = [tuple(np.round(line.get_xdata(), 6)) for line in curves]
    ys = [tuple(np.round(line.get_ydata(), 6)) for line in curves]
    assert len(xs) == 6 and len(set(ys)) <= 2  # three runs, two pair kinds, equal cosines
    assert len(set(zip(xs, ys))) == 6  # yet no curve lies exactly on another
    assert "side by side" in ax.get_title()
    fig.canvas.draw()
    box, canvas = ax.title.get_window_extent(), fig.bbox
    assert canvas.x0 <= box.x0 and box.x1 <= canvas.x1 and box.y1 <= canvas.y1  # the note does not clip


def test_every_panel_of_the_combined_phase_figure_has_x_tick_labels(tmp_path):
    runs = saved_runs(tmp_path, "phase", ("linear", "relu", "gelu", "silu", "sigmoid", "tanh", "solu"))
    fig = figure_builder("phase", runs)()
    fig.canvas.draw()
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert len(panels) == 7
    for ax in panels:
        assert any(t.get_text() and t.get_visible() for t in ax.get_xticklabels()), ax.get_title()
