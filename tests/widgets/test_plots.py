import numpy as np
import pytest

from engine.science.metrics import STICKY_FRACTIONS
from supertui.widgets.dstar_plot import DStarPlot, fraction_label
from supertui.widgets.loss_plot import DEFAULT_MAX_POINTS, LossPlot, log_ticks, nice_ticks, tick_label
from supertui.widgets.palette import activation_color
from tests.widgets.harness import WidgetHarness, sample_dstar_curves, sample_loss_history


def rendered(widget) -> str:
    return widget.render().plain


async def test_loss_plot_bounds_points_and_summarises_many_instances():
    steps, history = sample_loss_history(steps=5000, instances=12)
    plot = LossPlot()
    async with WidgetHarness(plot).run_test(size=(80, 24)):
        plot.update_curves(steps, {"relu": history})
        labels = [s.label for s in plot.series]
        assert labels == ["relu min/max of 12", "", "relu mean of 12"]
        assert all(len(s.x) <= DEFAULT_MAX_POINTS for s in plot.series)
        assert plot.series[0].x[-1] == steps[-1]  # the latest step is always drawn
        mean = plot.series[2]
        assert np.all(plot.series[1].y <= mean.y + 1e-12) and np.all(mean.y <= plot.series[0].y + 1e-12)
        text = rendered(plot)
        assert "relu mean of 12" in text and "step" in text
        assert "0.01" in text and "0.1" in text  # decade ticks on the log axis


async def test_loss_plot_few_instances_are_labelled_curves_and_bad_points_dropped():
    steps = np.arange(10)
    loss = np.geomspace(1, 0.01, 10)[:, None].repeat(2, 1)
    loss[3, 0] = np.nan
    loss[4, 1] = 0.0  # cannot sit on a log axis
    plot = LossPlot()
    async with WidgetHarness(plot).run_test(size=(80, 24)):
        plot.update_curves(steps, {"gelu": loss})
        assert [s.label for s in plot.series] == ["gelu 0", "gelu 1"]
        assert len(plot.series[0].x) == 9 and len(plot.series[1].x) == 9
        plot.update_curves(steps, {"gelu": loss}, log_y=False)
        assert len(plot.series[1].x) == 10


async def test_loss_plot_redraws_only_on_change():
    steps, history = sample_loss_history(steps=300, instances=2)
    plot = LossPlot()
    async with WidgetHarness(plot).run_test(size=(80, 24)):
        plot.update_curves(steps, {"relu": history})
        first = plot.series
        plot.update_curves(steps, {"relu": history.copy()})
        assert plot.series[0] is first[0]  # unchanged data keeps the drawn series
        plot.update_curves(steps[:100], {"relu": history[:100]})
        assert len(plot.series[0].x) == 100


async def test_loss_plot_survives_empty_and_tiny():
    plot = LossPlot()
    async with WidgetHarness(plot).run_test(size=(20, 6)):
        plot.update_curves(np.arange(0), {"relu": np.zeros(0)})
        rendered(plot)
        plot.update_curves(np.arange(3), {"relu": np.full(3, np.nan)})
        rendered(plot)


def test_loss_plot_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match=r"curves\['relu'\]"):
        LossPlot().update_curves(np.arange(3), {"relu": np.ones(4)})


def test_tick_helpers():
    assert log_ticks(0.0009, 0.5) == [0.001, 0.01, 0.1]  # wide: decades
    assert log_ticks(0.3, 0.9) == [0.4, 0.6, 0.8]  # under a decade: still some ticks
    assert tick_label(1e-4) == "1e-4" and tick_label(2000) == "2k" and tick_label(0.5) == "0.5"
    assert nice_ticks(0, 4999) == [0, 2000, 4000]
    assert log_ticks(1, 20) == [1, 2, 5, 10, 20]
    assert [fraction_label(f) for f in STICKY_FRACTIONS] == ["1", "3/4", "2/3", "1/2", "2/5", "3/8"]


async def test_dstar_plot_curves_legend_and_sticky_lines():
    curves, dims = sample_dstar_curves(("linear", "relu", "gelu"))
    plot = DStarPlot()
    async with WidgetHarness(plot).run_test(size=(80, 24)):
        plot.update_curves(curves, feature_dims=dims)
        assert [s.label for s in plot.series] == ["linear", "relu", "gelu"]
        assert [s.color for s in plot.series] == [activation_color(a) for a in ("linear", "relu", "gelu")]
        assert [s.label for s in plot.scatter] == ["linear D_i", "relu D_i", "gelu D_i"]
        text = rendered(plot)
        for label in ("linear", "relu", "gelu", "3/4", "2/3", "1/2", "2/5", "3/8", "1/(1-S)"):
            assert label in text
        for tick in ("1", "2", "5", "10", "20"):
            assert tick in text.splitlines()[-2].split()
        plot.toggle_reference()
        assert "3/8" not in rendered(plot)


async def test_dstar_run_ids_get_stable_distinct_colours_and_x_is_sorted():
    x = np.array([20.0, 1.0, 5.0])
    plot = DStarPlot()
    async with WidgetHarness(plot).run_test(size=(80, 24)):
        plot.update_curves({"run-a": (x, [0.2, 1.0, 0.5]), "run-b": (x, [0.3, 0.9, 0.6])})
        a, b = plot.series
        assert a.color != b.color
        assert list(a.x) == [1.0, 5.0, 20.0] and list(a.y) == [1.0, 0.5, 0.2]
        plot.update_curves({"run-a": (x, [0.2, 1.0, 0.5]), "run-b": (x, [0.3, 0.9, 0.6])})
        assert plot.series[0] is a


async def test_dstar_draws_an_earlier_step_faded_in_the_curves_colour():
    x = np.array([1.0, 5.0, 20.0])
    plot = DStarPlot()
    async with WidgetHarness(plot).run_test(size=(80, 24)):
        plot.update_curves({"sigmoid": (x, [0.6, 0.2, 0.05])}, earlier={"sigmoid": (x, [0.7, 0.5, 0.3], "step 1,000")})
        (ghost,) = plot.earlier
        assert ghost.label == "sigmoid at step 1,000" and list(ghost.y) == [0.7, 0.5, 0.3]
        assert ghost.color != plot.series[0].color != "" and "sigmoid at step 1,000" in rendered(plot)
        plot.update_curves({"sigmoid": (x, [0.6, 0.2, 0.05])})
        assert plot.earlier == []


def test_dstar_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"curves\['relu'\]"):
        DStarPlot().update_curves({"relu": (np.ones(3), np.ones(2))})


async def test_dstar_plot_survives_empty_and_nan():
    plot = DStarPlot()
    async with WidgetHarness(plot).run_test(size=(30, 8)):
        plot.update_curves({})
        rendered(plot)
        plot.update_curves({"relu": (np.array([1.0, 2.0]), np.array([np.nan, np.nan]))})
        rendered(plot)
        plot.update_curves({}, feature_dims={"relu": (np.array([1.0, 2.0]), np.array([0.5, 0.4]))})
        assert "•" in rendered(plot)  # the D_i dots


async def test_plots_survive_repeated_redraws():
    """plotext 5 log axes break on the second build; every redraw here is a build."""
    steps, history = sample_loss_history(steps=300, instances=2)
    curves, dims = sample_dstar_curves(("relu",))
    loss, dstar = LossPlot(), DStarPlot()
    async with WidgetHarness(loss, dstar).run_test(size=(80, 30)) as pilot:
        loss.update_curves(steps, {"relu": history})
        dstar.update_curves(curves, feature_dims=dims)
        for size in ((80, 30), (100, 40), (70, 24)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            for _ in range(2):
                loss.refresh()
                dstar.refresh()
                assert "unavailable" not in rendered(loss)
                assert "unavailable" not in rendered(dstar)
