"""Sweeps in the app: the runs table groups a sweep into one row, its summary shows one point per
run, compare opens with the sweep's runs, and the PNG draws the same points; a failed run says why."""

from __future__ import annotations

import asyncio
import time

from engine.export import export_sweep
from engine.presets import preset_config
from engine.jobs.runner import run_experiment
from engine.store.runs import RunStore
from engine.sweeps.plan import SweepPlan, new_sweep_id
from engine.sweeps.summary import summarize, summary_curves
from supertui.app import SupertuiApp
from supertui.screens.compare import CompareScreen
from supertui.screens.run_view import RunViewScreen
from supertui.screens.sweep import SweepScreen
from supertui.widgets.runs_table import SWEEP_ROW, RunsTable


def make_sweep(data_dir) -> tuple[str, list[str]]:
    store = RunStore(data_dir)
    base = preset_config("sparsity", n=6, m=3, densities=(1.0, 0.1), steps=40, batch_size=64, compile=False)
    plan = SweepPlan(base, ["relu"], {"lr": [1e-3, 1e-2], "init": ["xavier", "xavier_batched"]})
    sweep_id = new_sweep_id("sparsity")
    ids = [run_experiment(p.config, store, extra={"sweep": {"id": sweep_id, "axes": p.axes}}).id for p in plan.points()]
    store.record_sweep(sweep_id, plan.describe(), ids)
    run_experiment(base.replace(activation="tanh"), store)  # a run outside the sweep
    return sweep_id, ids


async def test_a_sweep_is_one_row_and_its_summary_has_one_point_per_run(tmp_path):
    sweep_id, ids = make_sweep(tmp_path)
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(RunsTable)
        assert table.row_count == 5
        await pilot.press("w")
        assert table.row_count == 2 and SWEEP_ROW + sweep_id in table.rows
        table.move_cursor(row=table.get_row_index(SWEEP_ROW + sweep_id))
        await pilot.press("space")  # expands into its runs
        assert table.row_count == 6 and set(ids) <= {str(k.value) for k in table.rows}
        table.move_cursor(row=table.get_row_index(SWEEP_ROW + sweep_id))
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SweepScreen)
        for plot_id in ("#sweep-loss", "#sweep-headline"):
            curves = screen.query_one(plot_id).curves
            assert set(curves) == {"init=xavier", "init=xavier_batched"}
            assert sum(len(x) for x, _ in curves.values()) == 4  # one point per run
        assert screen.query_one("#sweep-runs").row_count == 4
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen)
        assert sorted(r.id for r in app.screen.records) == sorted(ids)
        await pilot.pause()
        assert table.marked == set(ids)  # back on the runs table, the sweep's runs stay marked


def test_the_sweep_png_draws_the_same_points(tmp_path):
    sweep_id, ids = make_sweep(tmp_path)
    store = RunStore(tmp_path)
    records = [store.load(i) for i in ids]
    summary = summarize(sweep_id, records)
    assert summary.x_axis == "lr" and summary.group_axis == "init"
    assert sum(len(x) for x, _ in summary_curves(summary, "headline").values()) == 4
    path = export_sweep(sweep_id, records, tmp_path / "figs")
    assert path.name == f"{sweep_id}.png" and path.stat().st_size > 10_000


async def test_a_run_that_fails_says_why_in_the_app(tmp_path):
    store = RunStore(tmp_path)
    config = preset_config("custom", n=4, m=2, steps=10, batch_size=16, compile=False, device="cuda")
    record = store.submit(config)
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_run(record.id)
        await pilot.pause()
        view = app.screen
        assert isinstance(view, RunViewScreen)
        deadline = time.monotonic() + 90
        while store.load(record.id).status != "failed" and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        while view.live_run is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await pilot.pause(0.5)
        status = str(view.query_one("#run-status").render())
        assert "failed" in status and "cuda" in status, status  # the worker's one-line reason
