"""Snapshots of the main screens at 80x24 and 120x40, from the fixture runs (fixed seeds, ids
and times, so the pictures only change when the app's drawing does).

Update after an intended change with `pytest tests/app/test_snapshots.py --snapshot-update`
and look at the report before committing."""

from __future__ import annotations

import pytest

from supertui.app import SupertuiApp

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


def opened(action):
    async def run_before(pilot) -> None:
        action(pilot.app)
        # Let the redraw timer fire and the plots lay out at their final size, then paint once
        # more, so the picture never catches a plot drawn for a transient size.
        for _ in range(3):
            await pilot.pause(0.2)
        pilot.app.screen.refresh(layout=True)
        for widget in pilot.app.screen.query("*"):
            widget.refresh()
        await pilot.pause(0.2)

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_runs_table(snap_compare, saved_runs, size):
    assert snap_compare(SupertuiApp(saved_runs), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("run_id", ["run-sparsity-relu", "run-phase-relu", "run-dims-relu"])
def test_run_view(snap_compare, saved_runs, size, run_id):
    app = SupertuiApp(saved_runs)
    assert snap_compare(app, terminal_size=size, run_before=opened(lambda app: app.open_run(run_id)))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("preset", ["sparsity", "phase", "dims"])
def test_compare(snap_compare, saved_runs, size, preset):
    app = SupertuiApp(saved_runs)
    runs = [f"run-{preset}-relu", f"run-{preset}-gelu"]
    assert snap_compare(app, terminal_size=size, run_before=opened(lambda app: app.open_compare(runs)))


@pytest.mark.parametrize("size", SIZES)
def test_correlated_run_view(snap_compare, correlated_runs, size):
    app = SupertuiApp(correlated_runs)
    assert snap_compare(app, terminal_size=size, run_before=opened(lambda app: app.open_run("run-correlated-relu")))


@pytest.mark.parametrize("size", SIZES)
def test_correlated_compare(snap_compare, correlated_runs, size):
    app = SupertuiApp(correlated_runs)
    runs = ["run-correlated-relu", "run-correlated-tanh"]
    assert snap_compare(app, terminal_size=size, run_before=opened(lambda app: app.open_compare(runs)))
