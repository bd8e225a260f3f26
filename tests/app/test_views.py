"""Saved runs in the run view and the compare view: the panes, the keys, the diff, export."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest

from engine.science.metrics import gram
from engine.store.runs import RunStore
from supertui.app import SupertuiApp
from supertui.screens.compare import CompareScreen, config_diff
from supertui.screens.run_view import RunViewScreen


async def open_run(pilot, run_id: str) -> RunViewScreen:
    pilot.app.open_run(run_id)
    await pilot.pause()
    assert isinstance(pilot.app.screen, RunViewScreen)
    return pilot.app.screen


async def test_sparsity_run_steps_through_densities_and_replays_snapshots(saved_runs):
    record = RunStore(saved_runs).load("run-sparsity-relu")
    arrays = record.arrays
    app = SupertuiApp(saved_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_run(pilot, record.id)
        heatmap = view.query_one("#gram")
        np.testing.assert_allclose(heatmap.matrix, gram(arrays.W[0]), rtol=1e-6)
        await pilot.press("right_square_bracket", "right_square_bracket")
        np.testing.assert_allclose(heatmap.matrix, gram(arrays.W[2]), rtol=1e-6)
        assert "density 0.1 (3/4)" in view.query_one("#pane-gram").border_title
        await pilot.press("comma", "comma")  # two snapshots back from the final weights
        index = len(arrays.snapshot_steps) - 2
        assert view.scrub == index
        np.testing.assert_allclose(heatmap.matrix, gram(arrays.snapshots[index, 2]), rtol=1e-6)
        assert f"step {int(arrays.snapshot_steps[index]):,}" in str(view.query_one("#scrubber").render())
        await pilot.press("g")
        assert view.scrub is None
        await pilot.press("2", "l")  # the heatmap cursor reads out a cell, in the pane, once
        assert "feature 0 × feature 1" in heatmap.readout()
        assert not view.query_one("#pane-gram").border_subtitle  # no second copy to go stale


async def test_phase_run_cursor_picks_the_instance_shown(saved_runs):
    app = SupertuiApp(saved_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_run(pilot, "run-phase-relu")
        grid = view.query_one("#phase")
        assert grid.trained_count == 25
        await pilot.press("4")  # focus the phase grid
        await pilot.press("right", "up")
        await pilot.pause()
        assert (view.selection.density, view.selection.importance) == (1, 1)
        assert "r 0.316" in view.query_one("#pane-gram").border_title


async def test_narrow_terminal_shows_one_pane_at_a_time(saved_runs):
    app = SupertuiApp(saved_runs)
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_run(pilot, "run-dims-relu")
        shown = [p.id for p in view.query(".pane") if p.display and p.styles.display != "none"]
        assert shown == [f"pane-{view.panes[0].id}"]  # the pane its tab bar marks: 1
        assert str(view.query_one("#pane-tabs").render()).lstrip().startswith(f"1 {view.panes[0].tab}")
        assert view.current_pane == 0  # the tab drawn reversed
        assert view.query_one("#run-status").size.height == 1  # the status line never wraps
        # toasts (headless tests show none) sit top right in the run view, off its axis and readout
        css = (Path(__file__).parents[2] / "supertui" / "app.tcss").read_text()
        assert re.search(r"RunViewScreen ToastRack \{\s*align: right top;", css)
        await pilot.press("4")
        shown = [p.id for p in view.query(".pane") if p.styles.display != "none"]
        assert shown == ["pane-dstar"]


async def test_compare_two_sparsity_runs_on_one_scale_with_a_config_diff(saved_runs):
    app = SupertuiApp(saved_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("down", "down", "down", "down", "space", "space", "c")  # the two sparsity runs
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        assert sorted(r.id for r in screen.records) == ["run-sparsity-gelu", "run-sparsity-relu"]
        maps = list(screen.query("HeatMap"))
        assert len(maps) == 2 and maps[0].vmax == maps[1].vmax
        await pilot.press("right_square_bracket")
        assert "density 0.3" in str(screen.query_one("#compare-status").render())
        diff = {name: values for name, values in config_diff(screen.records)}
        assert set(diff) == {"preset", "activation"}
        assert sorted(diff["activation"]) == ["gelu", "relu"]
        rows_before = screen.query_one("#diff").row_count
        await pilot.press("a")
        assert screen.query_one("#diff").row_count > rows_before


async def test_compare_dims_runs_share_one_plot(saved_runs):
    app = SupertuiApp(saved_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_compare(["run-dims-relu", "run-dims-gelu"])
        await pilot.pause()
        assert len(app.screen.query("DStarPlot")) == 1
        # one shared D* pane, beside the overlaid loss curves every compare opens with
        assert [p.id for p in app.screen.query(".compare-pane")] == ["pane-losses", "pane-dstar"]


async def test_export_from_the_run_view_writes_pngs(saved_runs):
    pytest.importorskip("engine.export")
    app = SupertuiApp(saved_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_run(pilot, "run-sparsity-relu")
        await pilot.press("e")
        out = saved_runs / "exports"
        deadline = time.monotonic() + 120
        while not any(out.rglob("*.png")) or any(w.group == "export" and not w.is_finished for w in app.workers):
            assert time.monotonic() < deadline
            await pilot.pause(0.2)
    assert any(out.rglob("*.png"))
