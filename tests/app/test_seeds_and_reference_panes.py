"""Issue 14 in the app: the phase run's seeds pane (shares per phase, loss gap, each seed's own
diagram) and published D* curves overlaid on the D* panes, chosen with `o` and kept for the session."""

from __future__ import annotations

import numpy as np

from engine.experiments import get_experiment
from engine.science.phase import PHASES, classify, seed_init_products, seed_populations
from engine.science.reference_curves import curve_error, load_reference
from engine.store.runs import RunStore
from supertui.app import SupertuiApp
from supertui.reference_overlay import current
from supertui.run_model import dstar_curve
from supertui.screens.reference_path import ReferencePathScreen
from supertui.widgets.seed_grid import SHARES, SeedGrid, share_phases


def test_a_cell_shows_each_phase_in_proportion():
    assert share_phases(np.array([0.25, 0, 0.75, 0]), 4) == ["feature1", "superposition", "superposition", "superposition"]
    assert share_phases(np.array([0.5, 0.5, 0, 0]), 2) == ["feature1", "feature2"]
    assert share_phases(np.array([0, 0, 1.0, 0]), 1) == ["superposition"]


async def test_the_seeds_pane_shows_every_seed(saved_runs):
    store = RunStore(saved_runs)
    record = store.load("run-phase-relu")
    a, cfg = record.arrays, record.config
    app = SupertuiApp(saved_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_run(record.id)
        await pilot.pause()
        view = app.screen
        assert [p.id for p in view.panes] == list(get_experiment("phase").panes)
        grid = view.query_one("#seeds", SeedGrid)
        expected = seed_populations(a.W, a.final_loss, a.instances.density, a.instances.relative_importance,
                                    a.instances.point, cfg.phase_threshold)
        assert grid.view == SHARES
        np.testing.assert_allclose([p.shares for p in grid._populations], [p.shares for p in expected])
        grid.set_cursor(0, 2)
        point = 2
        readout = grid.readout()
        assert readout.startswith("density 0.05  r 1: ")
        for phase, share in zip(PHASES, expected[point].shares):
            if share:
                assert f"{round(share * cfg.seeds)}/{cfg.seeds}" in readout
        # v: seed 1 alone, titled with the sign its w1·w2 started from, then seed 2, then the shares again
        await pilot.press(str(view.panes.index(view.pane("seeds")) + 1))
        products = list(seed_init_products(a.snapshots[0], a.instances.seed).values())
        for k in range(cfg.seeds):
            await pilot.press("v")
            assert grid.view == k + 1
            phases = classify(a.W).reshape(-1, cfg.seeds)[:, k]
            assert grid._phases == [PHASES[i] for i in phases]
            sign = "w1·w2 < 0 at init" if products[k] < 0 else "w1·w2 ≥ 0 at init"
            assert f"seed {k + 1} of {cfg.seeds} alone, {sign}" in grid.render().plain
        await pilot.press("v")
        assert grid.view == SHARES


async def test_reference_curves_overlay_the_dstar_panes_for_the_session(saved_runs, tmp_path):
    store = RunStore(saved_runs)
    relu, gelu = store.load("run-dims-relu"), store.load("run-dims-gelu")
    path = tmp_path / "published.csv"
    path.write_text("x,y,label\n1,1.0,relu\n10,0.5,relu\n2,0.8,gelu\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y,label\n1,one,relu\n")
    curves = {c.label: c for c in load_reference(path)}
    app = SupertuiApp(saved_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_run(relu.id)
        await pilot.pause()
        view = app.screen
        assert view.check_action("reference", ()) is True
        # a bad file: named in one line under the field, the dialog stays open
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, ReferencePathScreen)
        field = app.screen.query_one("#reference-path")
        field.value = str(bad)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ReferencePathScreen)
        assert "reference: CSV row 2 y: expected a number" in str(app.screen.query_one("#reference-error").render())
        field.value = str(path)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is view and current(app).path == str(path)
        plot = view.query_one("#dstar")
        assert [s.label for s in plot.reference] == ["ref relu"]
        a = relu.arrays
        x, y, _ = dstar_curve(relu.config, a.instances, a.W, a.final_loss)
        mae = curve_error(curves["relu"], x, y).mae
        assert f"ref: relu MAE {mae:.3g}" in view.query_one("#pane-dstar").border_subtitle
        await pilot.press("escape")
        await pilot.pause()

        # remembered: compare draws both runs' published curves without asking again
        app.open_compare([relu.id, gelu.id])
        await pilot.pause()
        screen = app.screen
        assert {s.label for s in screen.query_one("#view-dstar").reference} == {"ref relu", "ref gelu"}
        subtitle = screen.query_one("#pane-dstar").border_subtitle
        assert f"relu MAE {mae:.3g}" in subtitle and "gelu MAE" in subtitle
        # an empty path clears it
        await pilot.press("o")
        await pilot.pause()
        assert app.screen.query_one("#reference-path").value == str(path)
        app.screen.query_one("#reference-path").value = ""
        await pilot.press("enter")
        await pilot.pause()
        assert current(app) is None and not screen.query_one("#view-dstar").reference


async def test_the_reference_key_acts_only_beside_a_dstar_pane(saved_runs):
    app = SupertuiApp(saved_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_run("run-phase-relu")
        await pilot.pause()
        assert app.screen.check_action("reference", ()) is False  # not even in the footer
