"""Training from the app, which never trains itself: launch a run and watch it train in a worker
process and finish, cancel one, quit with runs in flight (they go on), open the app on runs
another client started, and the interface answering keys while four runs train."""

from __future__ import annotations

import asyncio
import time

from textual import events

from engine.experiments import instance_count
from engine.presets import preset_config
from engine.jobs.scheduler import ensure_scheduler, save_devices
from engine.store.runs import RunStore
from supertui.app import SupertuiApp
from supertui.screens.confirm import ConfirmScreen
from supertui.screens.help import HelpScreen
from supertui.screens.launch import LaunchScreen
from supertui.screens.run_view import RunViewScreen

TINY_RUN = {"n": "6", "m": "3", "densities": "1, 0.1", "steps": "300", "batch_size": "64", "snapshots": "5"}
LONG_RUN = {"n": "6", "m": "3", "densities": "1, 0.1", "steps": "1000000", "batch_size": "64", "snapshots": "5"}


async def wait_for(pilot, predicate, timeout: float = 90.0, poll: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(poll)


async def launch(pilot, fields: dict[str, str]) -> RunViewScreen:
    """Open the launch screen, pick the custom preset, fill `fields` (compile off), queue it."""
    await pilot.press("n")
    screen = pilot.app.screen
    assert isinstance(screen, LaunchScreen)
    screen.query_one("#presets").highlighted = list(screen.query_one("#presets")._options).index(
        next(o for o in screen.query_one("#presets")._options if o.id == "custom"))
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
    # the view takes the form's place: Back leads to the runs, not to the form
    assert not any(isinstance(screen, LaunchScreen) for screen in pilot.app.screen_stack)
    return pilot.app.screen


def status_of(view: RunViewScreen) -> str:
    return str(view.query_one("#run-status").render())


def test_a_watched_queued_run_shows_its_first_progress_without_waiting_for_the_listing(tmp_path):
    """The run view opened on a queued run reads its progress the moment a worker publishes it
    (and learns it is running), not at the next look at which runs are live."""
    import numpy as np

    from engine.store.live import LiveWriter
    from engine.training.train import TrainProgress
    from supertui.live_runs import LiveRuns

    store = RunStore(tmp_path)
    watched, unwatched = (store.submit(preset_config("custom", n=4, m=2, steps=10, batch_size=16, compile=False))
                          for _ in range(2))
    live_runs = LiveRuns(store)
    followed = {record.id: live_runs.follow(record) for record in (watched, unwatched)}
    followed[watched.id].watch(True)
    assert live_runs.poll() == []
    for record in (watched, unwatched):
        writer = store.claim(record.id)
        writer.start(device="cpu")
        K = instance_count(record.config)
        LiveWriter(writer.path, K).publish(TrainProgress(
            step=1, steps=10, losses=np.ones(K), elapsed=0.1, steps_per_second=10.0, stage="eager",
            diverged=np.zeros(K, dtype=bool), history_steps=np.array([1]), history_rows=np.ones((1, K))))
    moved = live_runs.poll()
    assert [run.id for run in moved] == [watched.id]
    assert moved[0].status == "running" and moved[0].state.history_steps.tolist() == [1]
    assert followed[unwatched.id].status == "queued"  # until the next listing, as before


async def test_launch_a_tiny_run_and_watch_it_train_elsewhere_and_finish(tmp_path):
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await launch(pilot, TINY_RUN)
        run_id = view.run_id
        # in the store at once (a warm worker may already have trained all 300 steps)
        assert RunStore(tmp_path).load(run_id).status in ("queued", "running", "completed")
        await wait_for(pilot, lambda: view.live_run is None and view.record.status == "completed")
        await pilot.pause(0.4)
        assert "completed" in status_of(view)
        assert view.record.manifest["pid"] != __import__("os").getpid()  # a worker process trained it
        assert view.query_one("#gram").matrix.shape == (6, 6)
        assert view.query_one("#bars").weights.shape == (3, 6)
        await pilot.press("right_square_bracket")  # the second density
        assert "density 0.1" in view.pane("gram").container.border_title
        await pilot.press("comma")  # replay: the last snapshot before the final weights
        assert view.scrub == len(view.record.arrays.snapshot_steps) - 1


async def test_cancel_keeps_the_run_as_cancelled(tmp_path):
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await launch(pilot, LONG_RUN)
        await wait_for(pilot, lambda: view.live_run is not None and view.live_run.state.step > 0)
        await wait_for(pilot, lambda: "step" in status_of(view))
        await pilot.press("x")  # asks first, as delete does (issue 24.15)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause(0.5)
        assert app.screen is view and view.live_run is not None and view.live_run.status == "running"
        await pilot.press("x")
        await pilot.press("y")
        await wait_for(pilot, lambda: view.live_run is None)
        record = RunStore(tmp_path).load(view.run_id)
        assert record.status == "cancelled"
        assert 0 < record.manifest["steps_done"] < 1_000_000
        assert record.has_arrays and record.arrays.W.shape == (2, 3, 6)


async def test_quitting_leaves_runs_training_and_says_so(tmp_path):
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await launch(pilot, LONG_RUN)
        run_id = view.run_id
        await wait_for(pilot, lambda: view.live_run is not None and view.live_run.status == "running")
        started = time.monotonic()
        await pilot.press("ctrl+q")  # no question: quitting does not touch the runs
        await wait_for(pilot, lambda: app._exit, timeout=10)
    assert time.monotonic() - started < 1.0
    assert "go on without the app" in app.farewell()
    store = RunStore(tmp_path)
    time.sleep(1.0)
    assert store.load(run_id).status == "running"  # still training, in its own process
    assert store.request_cancel(run_id) == "requested"


async def test_an_app_opened_later_shows_runs_another_client_started_live(tmp_path):
    store = RunStore(tmp_path)
    config = preset_config("custom", n=6, m=3, densities=(1.0, 0.1), steps=1_000_000, batch_size=64,
                           compile=False, device="cpu")
    running = store.submit(config)
    queued = store.submit(config.replace(activation="tanh"))
    ensure_scheduler(store)
    deadline = time.monotonic() + 90
    while store.load(running.id).status != "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: set(app.live_runs.runs) == {running.id, queued.id}, timeout=5)
        queue = app.screen.query_one("#queue")
        await wait_for(pilot, lambda: queue.display and set(queue.rows) == {running.id, queued.id}, timeout=5)
        app.open_run(running.id)
        await pilot.pause()
        view = app.screen
        assert isinstance(view, RunViewScreen) and view.live_run is not None
        first = view.live_run.state.step
        await wait_for(pilot, lambda: view.live_run.state.step > first and view.query_one("#gram").matrix is not None)
        assert "live, step" in view.pane("gram").container.border_title or view.source.data().moment.startswith("live")
        await pilot.press("x", "y")
        await wait_for(pilot, lambda: store.load(running.id).status == "cancelled")
        store.request_cancel(queued.id)


async def test_keys_are_answered_while_four_runs_train(tmp_path):
    """While four runs train (in four worker processes), every key press is answered: seven
    open/close cycles of the help screen, keys posted the way the terminal driver posts them
    (Pilot.press also waits for the whole app to go idle). How fast is a speed target, measured by
    benchmarks/key_latency.py against the idle app (target: under 100 ms)."""
    store = RunStore(tmp_path)
    save_devices(store, ["cpu"] * 4)
    config = preset_config("custom", n=6, m=3, densities=(1.0, 0.1), steps=1_000_000, batch_size=64,
                           compile=False, device="cpu")
    ids = [store.submit(config.replace(seed=i)).id for i in range(4)]
    ensure_scheduler(store)
    deadline = time.monotonic() + 180
    while sum(store.load(i).status == "running" for i in ids) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sum(store.load(i).status == "running" for i in ids) == 4, "four workers did not start"
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_run(ids[0])
        await pilot.pause()
        view = app.screen
        await wait_for(pilot, lambda: len(app.live_runs.training) == 4 and view.live_run.state.step > 10)
        for _ in range(7):  # each key must be answered (wait_for fails after 5 s)
            app.post_message(events.Key("question_mark", "?"))
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), timeout=5, poll=0.002)
            app.post_message(events.Key("escape", None))
            await wait_for(pilot, lambda: isinstance(app.screen, RunViewScreen), timeout=5, poll=0.002)
            await pilot.pause(0.05)
        assert len(app.live_runs.training) == 4, "the four runs were training while the keys were answered"
    for run_id in ids:
        store.request_cancel(run_id)
