"""Training from the app: launch and watch a tiny run finish, cancel one, quit with one in flight,
and the interface answering keys while a model trains."""

from __future__ import annotations

import asyncio
import statistics
import time

from textual import events

from engine.store import RunStore
from supertui.app import SupertuiApp
from supertui.jobs import COMPLETED, BoundedHistory
from supertui.screens.confirm import ConfirmScreen
from supertui.screens.help import HelpScreen
from supertui.screens.launch import PRESET_CHOICES, LaunchScreen
from supertui.screens.run_view import RunViewScreen

TINY_RUN = {"n": "6", "m": "3", "densities": "1, 0.1", "steps": "50", "batch_size": "64", "snapshots": "5"}
LONG_RUN = {"n": "6", "m": "3", "densities": "1, 0.1", "steps": "1000000", "batch_size": "64", "snapshots": "5"}


async def wait_for(pilot, predicate, timeout: float = 60.0, poll: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(poll)


async def launch(pilot, fields: dict[str, str]) -> RunViewScreen:
    """Open the launch screen, pick the custom preset, fill `fields` (compile off), start."""
    await pilot.press("n")
    screen = pilot.app.screen
    assert isinstance(screen, LaunchScreen)
    screen.query_one("#presets").highlighted = PRESET_CHOICES.index("custom")
    await pilot.pause()
    for name, value in fields.items():
        screen.query_one(f"#field-{name}").value = value
    screen.query_one("#field-compile").value = False
    screen.query_one("#field-device").value = "cpu"
    await pilot.pause()
    assert screen.errors == {}
    await pilot.press("ctrl+r")
    await pilot.pause()
    assert isinstance(pilot.app.screen, RunViewScreen)
    return pilot.app.screen


async def test_launch_a_tiny_run_and_watch_it_finish(tmp_path):
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await launch(pilot, TINY_RUN)
        job = view.job
        await wait_for(pilot, lambda: job.state == COMPLETED)
        await pilot.pause(0.3)
        assert view.record is not None and view.record.status == "completed"
        assert "completed" in str(view.query_one("#run-status").render())
        assert view.query_one("#gram").matrix.shape == (6, 6)
        assert view.query_one("#bars").weights.shape == (3, 6)
        await pilot.press("right_square_bracket")  # the second density
        assert "density 0.1" in view.query_one("#pane-gram").border_title
        await pilot.press("comma")  # replay: the last snapshot before the final weights
        assert view.scrub == len(view.record.arrays.snapshot_steps) - 1
        await pilot.press("escape")
        runs = RunStore(tmp_path).list_runs()
        assert [r.status for r in runs] == ["completed"] and runs[0].config.steps == 50


async def test_cancel_keeps_the_run_as_cancelled(tmp_path):
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await launch(pilot, LONG_RUN)
        job = view.job
        await wait_for(pilot, lambda: job.progress is not None and job.progress.step > 0)
        await pilot.press("x")
        await wait_for(pilot, lambda: not job.active)
        record = RunStore(tmp_path).load(job.run_id)
        assert record.status == "cancelled"
        assert 0 < record.manifest["steps_done"] < 1_000_000
        assert record.has_arrays and record.arrays.W.shape == (2, 3, 6)


async def test_quitting_with_a_run_in_flight_asks_then_saves_it_cancelled(tmp_path):
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await launch(pilot, LONG_RUN)
        job = view.job
        await wait_for(pilot, lambda: job.run_id is not None and job.progress is not None)
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert job.active and not isinstance(app.screen, ConfirmScreen)
        await pilot.press("ctrl+q")
        await pilot.press("y")
        await wait_for(pilot, lambda: app._exit, timeout=60)
    assert RunStore(tmp_path).load(job.run_id).status == "cancelled"


async def test_keys_are_answered_quickly_while_training(tmp_path):
    """The issue's promise: while a run trains, a key press is answered within 100 ms.

    Keys are posted the way the terminal driver posts them (Pilot.press also waits for the
    whole app to go idle, which a stream of progress messages delays, so it would time the
    test harness rather than the app). The median of seven open/close cycles is judged, so one
    scheduler hiccup on a busy machine cannot fail it."""
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await launch(pilot, LONG_RUN)
        job = view.job
        await wait_for(pilot, lambda: job.progress is not None and job.progress.step > 10)
        latencies = []
        for _ in range(7):
            started = time.perf_counter()
            app.post_message(events.Key("question_mark", "?"))
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), timeout=5, poll=0.002)
            latencies.append(time.perf_counter() - started)
            app.post_message(events.Key("escape", None))
            await wait_for(pilot, lambda: isinstance(app.screen, RunViewScreen), timeout=5, poll=0.002)
            await pilot.pause(0.05)
        assert job.active, "training was still going on during the measurement"
        assert statistics.median(latencies) < 0.1, latencies
        await pilot.press("x")
        await wait_for(pilot, lambda: not job.active)


def test_loss_history_stays_bounded():
    import numpy as np

    history = BoundedHistory(limit=50)
    for step in range(10_000):
        history.add(step, np.array([1.0 / (step + 1)]))
    steps, rows = history.as_arrays()
    assert len(steps) < 50 and rows.shape == (len(steps), 1)
    assert steps[0] == 0 and steps[-1] > 9_000  # the whole run, at lower resolution
