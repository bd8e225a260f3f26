"""The run view's loss plot: smoothing (TensorBoard's EMA, the PNG's), log/linear, step or wall time,
each on a key; and the EMA itself against TensorBoard's definition."""

from __future__ import annotations

import numpy as np

from engine.export.smoothing import SMOOTHING_STEPS, ema
from engine.store.runs import RunStore
from supertui.app import SupertuiApp
from supertui.panes import loss_curves
from supertui.widgets.loss_plot import downsample_indices


def tensorboard_ema(values, weight):
    """TensorBoard's smoothing, written as its frontend does it, point by point."""
    last, n, out = 0.0, 0, []
    for v in values:
        if not np.isfinite(v):
            out.append(v)
            continue
        last = last * weight + (1 - weight) * v
        n += 1
        out.append(last / (1 - weight**n))
    return np.array(out)


def test_ema_is_tensorboards():
    rng = np.random.default_rng(0)
    values = rng.lognormal(size=(50, 3))
    values[7, 1] = np.nan
    for weight in (0.6, 0.9, 0.99):
        smoothed = ema(values, weight)
        for k in range(3):
            np.testing.assert_allclose(smoothed[:, k], tensorboard_ema(values[:, k], weight), rtol=1e-12)
    np.testing.assert_array_equal(ema(values, 0.0), values)


async def test_keys_smooth_switch_scale_and_put_wall_time_on_x(saved_runs):
    record = RunStore(saved_runs).load("run-sparsity-relu")
    app = SupertuiApp(saved_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_run(record.id)
        await pilot.pause()
        view = app.screen
        pane, plot = view.pane("loss"), view.query_one("#loss")
        raw = {s.label: s.y for s in plot.series}
        await pilot.press("m")  # 0 -> 0.6
        await pilot.pause()
        assert pane.smoothing == SMOOTHING_STEPS[1] and "EMA 0.6" in pane.container.border_title
        curves = loss_curves(record.config, record.arrays.instances, record.arrays.loss_history)
        label = plot.series[0].label
        expected = ema(next(iter(curves.values())), 0.6)
        expected = expected[:, 0] if expected.ndim == 2 else expected
        assert not np.array_equal(plot.series[0].y, raw[label])
        shown = expected[downsample_indices(len(expected), plot.max_points)]  # the plot keeps ~200 points
        np.testing.assert_allclose(plot.series[0].y, shown, rtol=1e-9)
        await pilot.press("y")
        await pilot.pause()
        assert pane.log_y is False and plot._log_y is False and "linear" in pane.container.border_title
        await pilot.press("t")
        await pilot.pause()
        seconds = record.manifest["elapsed_seconds"]
        assert plot.x_label.startswith("wall time (s")
        assert max(float(s.x.max()) for s in plot.series) <= seconds + 1e-9
        await pilot.press("t", "y", "m", "m", "m")  # back to step, log, and round the smoothing to 0
        await pilot.pause()
        assert (pane.smoothing, pane.log_y, plot.x_label) == (0.0, True, "step")
        assert "m smooth" in pane.container.border_subtitle  # the keys are told where they act


async def test_compare_overlays_each_runs_loss_curve_named_by_what_differs(saved_runs):
    app = SupertuiApp(saved_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        for preset in ("sparsity", "phase", "dims"):  # every experiment
            ids = [f"run-{preset}-relu", f"run-{preset}-gelu"]
            app.open_compare(ids)
            await pilot.pause()
            plot = app.screen.query_one("#view-losses")
            assert [s.label for s in plot.series] == ["relu", "gelu"]  # the activation is what differs
            record = RunStore(saved_runs).load(ids[0])
            mean = np.nanmean(record.arrays.loss_history.astype(float), axis=1)
            assert plot.series[0].y[-1] == mean[-1] and plot.series[0].x[-1] == record.arrays.loss_steps[-1]
            await pilot.press("escape")


async def test_the_sweep_summary_overlays_its_runs_coloured_by_the_swept_value(tmp_path):
    from engine.palette import SEQUENTIAL_STOPS
    from tests.app.test_sweep_view import make_sweep

    sweep_id, ids = make_sweep(tmp_path)
    store = RunStore(tmp_path)
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        from supertui.screens.sweep import SweepScreen

        app.push_screen(SweepScreen(sweep_id, [store.load(i) for i in ids]))
        await pilot.pause()
        series = app.screen.query_one("#sweep-curves").series
        assert len(series) == 4
        assert {s.label for s in series} == {f"lr={lr}, init={init}" for lr in (0.001, 0.01) for init in ("xavier", "xavier_batched")}
        colour = {s.label: s.color for s in series}
        assert colour["lr=0.001, init=xavier"] == colour["lr=0.001, init=xavier_batched"] == SEQUENTIAL_STOPS[0]
        assert colour["lr=0.01, init=xavier"] != SEQUENTIAL_STOPS[0]  # the higher lr, further along the scale
        assert "colour: lr" in app.screen.query_one("#pane-sweep-curves").border_title


def test_loss_gaps_read_as_ratios_not_percentages():
    from supertui.widgets.seed_grid import loss_ratio

    assert loss_ratio(1.25) == "1.25×" and loss_ratio(37.0) == "37×"
    assert loss_ratio(1 + 26323.78) == "10^4.4×"  # was "+2632378%"
    assert loss_ratio(float("nan")) == "–"


async def test_the_points_table_has_one_precision(saved_runs):
    import re

    app = SupertuiApp(saved_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_run("run-dims-relu")
        await pilot.pause()
        table = app.screen.query_one("#points")
        cells = [str(table.get_cell_at((r, c))) for r in range(table.row_count) for c in range(len(table.columns))]
        decimals = [c for c in cells if re.fullmatch(r"-?\d*\.\d+(e-?\d+)?", c)]
        assert decimals
        for cell in decimals:  # 3 significant digits, whatever the column
            digits = re.sub(r"e.*", "", cell).lstrip("-").replace(".", "").lstrip("0")
            assert len(digits) == 3, cell
