import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from engine import RunConfig, RunStore, run_experiment
from engine.errors import ConfigError, StoreError
from engine.store.runs import ARRAYS, MANIFEST

TINY = RunConfig(preset="custom", activation="relu", n=4, m=2, densities=(1.0, 0.1), seeds=2, steps=30,
                 batch_size=64, compile=False, snapshots=5)


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path)


def test_save_then_load_is_exact(store):
    saved = run_experiment(TINY, store)
    loaded = store.load(saved.id)
    assert loaded.status == "completed"
    assert loaded.config == TINY
    a = loaded.arrays
    assert a.W.shape == (4, 2, 4) and a.W.dtype == np.float32
    # Arrays written are the arrays read, bit for bit.
    again = RunStore(store.data_dir).load(saved.id).arrays
    for name in ("W", "b", "final_loss", "loss_history", "snapshots", "snapshot_steps"):
        assert np.array_equal(getattr(a, name), getattr(again, name), equal_nan=True)
    assert a.snapshot_steps[0] == 0 and a.snapshot_steps[-1] == TINY.steps
    manifest = json.loads((loaded.path / MANIFEST).read_text())
    assert manifest["versions"]["torch"] and manifest["device"] == "cpu"
    assert manifest["seeds"] == [0, 1]


def test_no_temporary_files_are_left_behind(store):
    saved = run_experiment(TINY, store)
    assert sorted(p.name for p in saved.path.iterdir()) == [ARRAYS, MANIFEST]
    assert [p.name for p in store.runs_dir.iterdir()] == [saved.id]
    assert list(store.locks_dir.iterdir()) == []  # the run's lock file goes with its worker


def test_cancelled_run_keeps_what_was_trained(store):
    calls = {"n": 0}

    def stop_after_ten():
        calls["n"] += 1
        return calls["n"] > 10

    record = run_experiment(TINY.replace(steps=1000), store, should_stop=stop_after_ten)
    assert record.status == "cancelled"
    # polled between blocks of steps (about 50 ms each): ten polls, at least ten steps, far from the end
    assert 10 <= record.manifest["steps_done"] < 1000
    assert record.arrays.W.shape == (4, 2, 4)


def test_killed_worker_leaves_a_readable_run_marked_interrupted(isolated_data_dir):
    env = {**os.environ, "SUPERTUI_DATA_DIR": str(isolated_data_dir)}
    proc = subprocess.run(
        [sys.executable, "-m", "supertui", "train", "custom", "--n", "4", "--m", "2", "--steps", "1000000",
         "--batch-size", "32", "--no-compile", "--detach"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    (run_id,) = proc.stdout.split()
    store = RunStore(isolated_data_dir)
    deadline = time.time() + 90
    while time.time() < deadline and not (store.load(run_id).status == "running" and store.load(run_id).manifest["pid"]):
        time.sleep(0.2)
    run = store.load(run_id)
    assert run.status == "running"
    os.kill(run.manifest["pid"], signal.SIGKILL)  # the worker, not a client: nothing can save the run now
    deadline = time.time() + 10
    while time.time() < deadline and store.load(run_id).status == "running":
        time.sleep(0.1)
    run = store.load(run_id)
    assert run.status == "interrupted"
    assert run.config.steps == 1000000


def test_corrupt_and_foreign_folders_are_reported_and_skipped(store):
    good = run_experiment(TINY, store)
    (store.runs_dir / "garbage").mkdir()
    (store.runs_dir / "garbage" / MANIFEST).write_text("{not json")
    (store.runs_dir / "holiday-photos").mkdir()
    (store.runs_dir / "notes.txt").write_text("hello")
    errors = []
    runs = store.list_runs(on_error=lambda path, msg: errors.append((path.name, msg)))
    assert [r.id for r in runs] == [good.id]
    assert sorted(name for name, _ in errors) == ["garbage", "holiday-photos"]
    assert all(msg.startswith(name) for name, msg in errors)


def test_corrupt_arrays_give_a_clear_error(store):
    saved = run_experiment(TINY, store)
    (saved.path / ARRAYS).write_bytes(b"not a zip")
    with pytest.raises(StoreError, match="arrays.npz is unreadable"):
        store.load(saved.id).arrays


def test_arrays_never_unpickle(store):
    saved = run_experiment(TINY, store)
    np.savez(saved.path / ARRAYS, W=np.array([object()], dtype=object))
    with pytest.raises(StoreError):
        store.load(saved.id).arrays


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", ".hidden", "x" * 200])
def test_run_ids_are_validated(store, bad):
    with pytest.raises(ConfigError, match="invalid run id"):
        store.load(bad)


def test_tags_notes_and_delete(store):
    saved = run_experiment(TINY, store)
    updated = store.update_meta(saved.id, tags=["baseline", " ", "relu"], note="first try")
    assert updated.tags == ["baseline", "relu"] and updated.note == "first try"
    store.delete(saved.id)
    assert store.list_runs() == []
    with pytest.raises(StoreError, match="no run"):
        store.load(saved.id)


def test_a_run_that_ends_between_reading_its_manifest_and_its_lock_is_not_called_interrupted(tmp_path):
    """A worker saves its final status, then frees the lock: a reader holding the older manifest
    that finds the lock free reads the manifest again rather than report the run as lost."""
    store = RunStore(tmp_path)
    queued = store.submit(RunConfig(preset="custom", n=4, m=2, steps=10, batch_size=16, compile=False))
    writer = store.claim(queued.id)
    writer.start(device="cpu")
    seen_while_running = store.load(queued.id)
    assert seen_while_running.saved_status == "running"
    writer.cancel_before_start()  # final status saved, lock released
    assert seen_while_running.status == "cancelled"
    assert seen_while_running.saved_status == "cancelled"


def test_a_listed_run_that_ends_after_the_listing_was_read_is_not_called_interrupted(tmp_path):
    store = RunStore(tmp_path)
    queued = store.submit(RunConfig(preset="custom", n=4, m=2, steps=10, batch_size=16, compile=False))
    writer = store.claim(queued.id)
    writer.start(device="cpu")
    (listed,) = store.listing()
    assert listed.saved_status == "running"
    writer.cancel_before_start()
    assert listed.status == "cancelled" and listed.saved_status == "cancelled"


def test_a_finished_run_keeps_its_headline_number_in_its_summary_and_the_listing(store):
    """Issue 25: the experiment's headline number is written when a run finishes, so lists of runs
    show it without opening arrays; it is the number `show` computes from the arrays."""
    from engine.experiments import experiment_for

    saved = run_experiment(TINY, store)
    label, value = experiment_for(TINY).headline(saved)
    expected = {"label": label, "name": "D*", "value": pytest.approx(value)}
    assert saved.headline == expected and label.startswith("D* at density")
    first = {r.id: r for r in store.listing()}[saved.id]  # read from the manifest, then cached
    index = json.loads((store.data_dir / "runs-index.json").read_text())
    assert index["entries"][saved.id]["row"][-1] == first.headline
    again = {r.id: r for r in RunStore(store.data_dir).listing()}[saved.id]  # from the cache
    assert first.headline == again.headline == expected


@pytest.mark.parametrize("headline, shown", [
    ("D* 0.5", None),  # not a table
    ({"label": "x", "name": "D*", "value": "[bold red]0.5"}, None),  # a value that is not a number
    ({"label": "x", "name": "D*", "value": True}, None),
    ({"label": 7, "name": ["D*"], "value": 0.5}, {"label": "", "name": "", "value": 0.5}),
    ({"label": "x", "name": "[bold red]big[/]" * 100, "value": 10 ** 400},
     {"label": "x", "name": "[bold red]big[/…", "value": None}),
    ({"label": "x" * 10_000, "name": "esc\x1b[31m\u202e", "value": -1e300},
     {"label": "x" * 119 + "…", "name": "esc\ufffd[31m\ufffd", "value": -1e300}),
])
def test_an_odd_headline_in_a_manifest_reads_as_plain_bounded_text_or_none(store, headline, shown):
    """A run folder may hold anything: the run is listed all the same, its headline normalised
    (text cut and cleaned of escapes, numbers finite or unknown) or left out, before and after
    the index caches it."""
    from handmade import write_run

    write_run(store.data_dir, "odd-headline", summary={"final_loss": 0.1, "headline": headline})
    for _ in range(2):  # read from the manifest, then from the index
        listed = {r.id: r for r in RunStore(store.data_dir).listing()}
        assert listed["odd-headline"].headline == shown
    assert store.load("odd-headline").headline == shown


def test_a_huge_integer_in_a_summary_reads_as_an_unknown_loss(store):
    from handmade import write_run

    write_run(store.data_dir, "huge-loss", summary={"final_loss": 10 ** 400, "loss_sparkline": [10 ** 400, 0.5]})
    record = store.load("huge-loss")
    assert record.final_loss is None and record.summary["loss_sparkline"] == [0.5]
