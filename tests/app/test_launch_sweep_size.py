"""The launch form treats a sweep as one unit, as the CLI does: its size is refused from the axis
lengths (no run is built), and more than CONFIRM_ABOVE runs are queued only on a second ctrl+r."""

from __future__ import annotations

from engine import RunStore
from engine.jobs.queue import JobQueue


async def test_the_launch_form_refuses_a_million_runs_and_confirms_above_64(empty_data_dir):
    from supertui.app import SupertuiApp
    from tests.app.test_launch import open_launch

    app = SupertuiApp(empty_data_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_launch(pilot)
        screen.query_one("#presets").highlighted = 0
        await pilot.pause()
        screen.query_one("#sweep-field-0").value = "lr"
        screen.query_one("#sweep-values-0").value = "1e-4:1e-2:1000"
        screen.query_one("#sweep-field-1").value = "weight_decay"
        screen.query_one("#sweep-values-1").value = "1e-4:1e-1:1000"
        await pilot.pause()
        assert "1,000,000 runs" in screen.errors["sweep"] and screen.points == []
        screen.query_one("#sweep-values-1").value = "1e-4:1e-1:2"
        screen.query_one("#sweep-values-0").value = "1e-4:1e-2:50"
        await pilot.pause()
        assert len(screen.points) == 100 and not screen.errors
        await pilot.press("ctrl+r")  # more than 64 runs: the first ctrl+r only asks
        await pilot.pause()
        assert not (empty_data_dir / "runs").exists() or not list((empty_data_dir / "runs").iterdir())
        await pilot.press("ctrl+r")
        await pilot.pause(0.5)
        assert len(RunStore(empty_data_dir).list_runs()) == 100
        JobQueue(RunStore(empty_data_dir)).cancel([r.id for r in RunStore(empty_data_dir).list_runs()])
