"""The widgets fed from real (tiny) training runs, the way the run view will feed them."""

import numpy as np
import pytest

from engine.science.metrics import dims_per_feature, feature_dimensionality, gram
from engine.science.phase import PHASES, phase_grid
from engine.presets import preset_config
from engine.experiments import instance_table
from engine.training.train import train
from engine.training.run import resolve_run
from supertui.widgets import DStarPlot, HeatMap, LossPlot, NeuronBars, PhaseGrid
from tests.widgets.harness import WidgetHarness


def tiny(name, **overrides):
    cfg = preset_config(name, steps=200, compile=False, batch_size=256, snapshots=2, device="cpu", **overrides)
    return cfg, train(resolve_run(cfg), send_weights=False)


@pytest.fixture(scope="module")
def sparsity_run():
    return tiny("sparsity", densities=(1.0, 0.03))


async def test_sparsity_run_heatmap_bars_and_loss(sparsity_run):
    cfg, result = sparsity_run
    W = result.W[1]  # [m, n] at density 0.03
    G = gram(W)
    heat, bars, loss = HeatMap(), NeuronBars(), LossPlot()
    async with WidgetHarness(heat, bars, loss).run_test(size=(120, 40)) as pilot:
        heat.update_matrix(G, title="WᵀW relu density 0.03")
        bars.update_weights(W)
        loss.update_curves(result.loss_steps, {"relu": result.loss_history})
        heat.focus()
        await pilot.press("down", "down", "right")
        assert f"W^TW[2,1] = {G[2, 1]:+.3f}" in heat.render().plain
        assert [s.label for s in loss.series] == ["relu 0", "relu 1"]
        assert "relu 0" in loss.render().plain
        assert len([line for line in bars.render().plain.splitlines() if "│" in line]) >= cfg.m


async def test_phase_run_fills_the_grid(tmp_path):
    cfg, result = tiny("phase", densities=(0.03, 0.9), relative_importances=(0.3, 3.0), seeds=2)
    table = instance_table(cfg)
    points = phase_grid(result.W, result.final_loss, table.density, table.relative_importance, table.point)
    grid = PhaseGrid(title="relu")
    async with WidgetHarness(grid).run_test(size=(80, 24)):
        grid.update_grid(cfg.densities, cfg.relative_importances, [None] * len(points))
        assert "0/4 points" in grid.render().plain
        grid.update_grid(
            cfg.densities, cfg.relative_importances, [p.phase for p in points], [p.agreement for p in points]
        )
        assert "4/4 points" in grid.render().plain
        assert all(grid.phase_at(i, j) in PHASES for i in range(2) for j in range(2))


async def test_dims_run_dstar_curve():
    cfg, result = tiny("dims", n=40, m=4, densities=(1.0, 0.3, 0.1))
    inverse = 1 / np.asarray(cfg.densities)
    dstar = dims_per_feature(result.W)  # [K]
    d_i = feature_dimensionality(result.W)  # [K, n]
    plot = DStarPlot()
    async with WidgetHarness(plot).run_test(size=(80, 24)):
        plot.update_curves({"relu": (inverse, dstar)}, feature_dims={"relu": (np.repeat(inverse, cfg.n), d_i.ravel())})
        assert np.allclose(plot.series[0].y, dstar)
        text = plot.render().plain
        assert "relu" in text and "1/2" in text
