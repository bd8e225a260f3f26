"""Faults while a run is saved (issue 15): SIGKILL and SIGINT at each save stage, two Ctrl+C
during the final save, a full disk, a diverged run, and what the queue redesign already
guarantees (ids, staging clean-up, dead runs found by their lock, deleted runs stay deleted).

The invariant throughout: every run folder is readable and its status is true."""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import fill, kill_processes_using, mounted_tmpfs
from engine.config import RunConfig
from engine.errors import StoreError
from engine.store.runs import RunStore, make_run_id
from handmade import write_run
from supertui.cli import main

ROOT = Path(__file__).resolve().parents[1]
HARNESS = Path(__file__).with_name("save_stages.py")
TINY = RunConfig(preset="custom", activation="relu", n=4, m=2, densities=(1.0, 0.1), seeds=1, steps=6, batch_size=32,
                 compile=False, snapshots=3)


def run_harness(data_dir: Path, run: str, stage: str, sig: str, mode: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(HARNESS), str(data_dir), run, stage, sig, mode], env=env,
                          capture_output=True, text=True, timeout=300)


def assert_every_run_readable(store: RunStore) -> None:
    for path in store.runs_dir.iterdir():
        if path.name.startswith("."):
            continue
        record = store.load(path.name)
        assert record.status in ("queued", "interrupted", "completed", "failed", "cancelled")
        if record.has_arrays:
            a = record.arrays
            assert a.W.shape == (2, 2, 4) and len(a.loss_steps) == a.loss_history.shape[0]
        assert main(["show", record.id, "--data-dir", str(store.data_dir)]) == 0


# What is true after a signal at each stage: SIGKILL leaves the status as written last (a run
# nobody trains any more reads interrupted); the worker ignores SIGINT and finishes.
STAGES = {
    "before:start-manifest": "interrupted",  # claimed, never started: the reconciler ends it with the reason
    "after:start-manifest": "interrupted",
    "before:checkpoint-arrays": "interrupted",
    "after:checkpoint-arrays": "interrupted",
    "after:checkpoint-manifest": "interrupted",
    "before:final-arrays": "interrupted",
    "after:final-arrays": "interrupted",  # the arrays are whole; the manifest says where it stopped
    "before:final-manifest": "interrupted",
    "after:final-manifest": "completed",
}


@pytest.mark.parametrize("stage,status", STAGES.items(), ids=list(STAGES))
def test_sigkill_at_each_save_stage_of_a_worker_leaves_a_readable_truthful_run(stage, status, isolated_data_dir, capsys):
    store = RunStore(isolated_data_dir)
    run_id = store.submit(TINY).id
    done = run_harness(isolated_data_dir, run_id, stage, "SIGKILL", "worker")
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    record = store.load(run_id)
    assert record.status == status
    if stage == "before:start-manifest":
        assert record.saved_status == "claimed" and store.queue_entries() == []  # claimed before the entry went
    if stage == "after:checkpoint-manifest":
        assert record.has_arrays and record.manifest["steps_done"] == record.arrays.loss_steps[-1]
    assert_every_run_readable(store)
    capsys.readouterr()


@pytest.mark.parametrize("stage", ["before:final-arrays", "after:final-arrays"])
def test_sigint_at_a_save_stage_of_a_worker_changes_nothing(stage, isolated_data_dir):
    store = RunStore(isolated_data_dir)
    run_id = store.submit(TINY).id
    done = run_harness(isolated_data_dir, run_id, stage, "SIGINT", "worker")
    assert done.returncode == 0, done.stderr[-2000:]
    record = store.load(run_id)
    assert record.status == "completed" and record.manifest["steps_done"] == TINY.steps
    assert_every_run_readable(store)


@pytest.mark.parametrize("stage", ["before:final-arrays", "after:final-arrays", "before:final-manifest"])
def test_two_ctrl_c_during_the_final_save_in_process_never_lose_the_run(stage, isolated_data_dir):
    store = RunStore(isolated_data_dir)
    done = run_harness(isolated_data_dir, json.dumps(TINY.to_dict()), stage, "SIGINT", "in-process")
    assert done.returncode != 0 and "KeyboardInterrupt" in done.stderr  # the second Ctrl+C aborts, after the save
    (record,) = store.list_runs()
    assert record.status == "completed" and record.manifest["steps_done"] == TINY.steps
    assert record.arrays.loss_steps[-1] == TINY.steps
    assert_every_run_readable(store)


def test_ctrl_c_while_training_in_process_marks_the_run_interrupted(isolated_data_dir):
    store = RunStore(isolated_data_dir)
    done = run_harness(isolated_data_dir, json.dumps(TINY.to_dict()), "after:checkpoint-manifest", "SIGINT",
                       "in-process")
    assert done.returncode != 0
    (record,) = store.list_runs()
    assert record.status == "interrupted" and "Ctrl+C" in record.error
    assert_every_run_readable(store)


# --------------------------------------------------------------------------- a full disk


BIG_SNAPSHOTS = ["--n", "64", "--m", "32", "--densities", "1", "0.5", "--seeds", "1", "--steps", "200",
                 "--batch-size", "16", "--snapshots", "200", "--no-compile"]


def test_a_full_disk_at_the_final_save_keeps_what_fits_and_marks_the_run_failed(tmp_path):
    with mounted_tmpfs(tmp_path / "disk", "size=2m") as disk:
        data_dir = disk / "data"
        try:
            (data_dir / "runs").mkdir(parents=True)
            fill(disk, 300_000)  # room to queue and train, not for 200 snapshots of 2 x 32 x 64 weights
            env = {**os.environ, "PYTHONPATH": str(ROOT), "SUPERTUI_DATA_DIR": str(data_dir)}
            done = subprocess.run([sys.executable, "-m", "supertui", "train", "custom", *BIG_SNAPSHOTS], env=env,
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 1, done.stderr[-3000:]
            store = RunStore(data_dir)
            (record,) = store.list_runs()
            assert record.status == "failed"
            assert "no space left on device" in record.error and "kept its weights and losses" in record.error
            a = record.arrays
            assert a.W.shape == (2, 32, 64) and len(a.snapshots) == 0 and a.loss_steps[-1] == 200
            assert record.manifest["steps_done"] == 200 and record.final_loss is not None
            assert "failed" in done.stdout + done.stderr
        finally:
            kill_processes_using(data_dir)


def test_a_full_disk_in_process_raises_one_oserror_and_the_run_says_failed(tmp_path):
    from engine.jobs.runner import run_experiment

    with mounted_tmpfs(tmp_path / "disk", "size=1m") as disk:
        store = RunStore(disk / "data")
        store.check_writable()
        fill(disk, 60_000)
        config = RunConfig(preset="custom", n=64, m=32, densities=(1.0, 0.5), steps=30, batch_size=16, snapshots=200,
                           compile=False)
        with pytest.raises(OSError):
            run_experiment(config, store)
        (record,) = store.list_runs()
        assert record.status == "failed" and "no space left on device" in record.error
        (disk / "filler").unlink()
        assert main(["runs", "--data-dir", str(store.data_dir)]) == 0


# --------------------------------------------------------------------------- diverged runs


@pytest.fixture
def diverged_run(isolated_data_dir):
    """A run whose every instance diverges within the bounds validate keeps: an activation that
    overflows (exp) at a large learning rate."""
    from engine.training import activations
    from engine.jobs.runner import run_experiment

    name = "test_overflowing_exp"
    import torch

    activations._REGISTRY.pop(name, None)
    activations.register_activation(name, "exp: overflows for large inputs")(lambda: torch.exp)
    try:
        config = TINY.replace(activation=name, lr=10.0, steps=60, densities=(1.0, 0.5), seeds=2)
        record = run_experiment(config, RunStore(isolated_data_dir), on_warning=lambda text: None)
        yield record
    finally:
        activations._REGISTRY.pop(name, None)


def test_a_diverged_run_has_no_loss_never_ranks_best_and_its_json_stays_valid(diverged_run, isolated_data_dir, capsys,
                                                                             tmp_path):
    record = RunStore(isolated_data_dir).load(diverged_run.id)
    a = record.arrays
    assert a.diverged.all()
    assert np.isnan(a.final_loss).all()  # never 0.0, never a point's best
    frozen_rows = a.loss_history[-1]
    assert np.isnan(frozen_rows).all()  # a frozen instance adds no loss: NaN, not 0
    assert record.final_loss is None and record.summary["best_loss"] is None and record.summary["diverged"] == 4
    write_run(isolated_data_dir, "20260101-100000-custom-relu-00000000")  # a sane run beside it

    assert main(["runs", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(c))
    assert [r["final_loss"] for r in rows if r["id"] == record.id] == [None]
    assert main(["show", record.id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(c))
    assert all(entry["loss"] is None and entry["diverged"] for entry in shown["instances"])
    assert main(["show", record.id]) == 0
    assert "diverged: 4 instance(s)" in capsys.readouterr().out
    assert main(["export", record.id, "--out", str(tmp_path / "figs")]) == 0
    figures = sorted((tmp_path / "figs").iterdir())
    assert len(figures) == 3 and all(p.read_bytes()[:4] == b"\x89PNG" for p in figures)


def test_a_partly_diverged_point_is_decided_by_its_finite_seed(isolated_data_dir):
    from engine.science.metrics import point_rows

    arrays = __import__("handmade").arrays_for()
    arrays["diverged"] = np.array([True, False, False, False])
    arrays["final_loss"] = np.array([0.0, 0.5, 0.2, 0.3])  # an old run saved the frozen seed's loss as 0
    write_run(isolated_data_dir, "20260101-100000-custom-relu-00000000", arrays=arrays)
    a = RunStore(isolated_data_dir).load("20260101-100000-custom-relu-00000000").arrays
    assert math.isnan(a.final_loss[0])
    assert [row["winner"] for row in point_rows(a.instances, a.W, a.final_loss, ["loss"])] == [1, 2]


# --------------------------------------------------------------------------- what the redesign guarantees


def test_ids_carry_32_random_bits_and_a_clash_never_overwrites(isolated_data_dir, monkeypatch):
    import engine.store.runs as store_module

    ids = {make_run_id(TINY) for _ in range(200)}
    assert len(ids) == 200 and all(len(i.rsplit("-", 1)[1]) == 8 for i in ids)
    store = RunStore(isolated_data_dir)
    first = store.submit(TINY)
    taken = itertools.cycle([first.id, "20260101-000000-custom-relu-feedbeef"])
    monkeypatch.setattr(store_module, "make_run_id", lambda config: next(taken))
    (store.runs_dir / ".creating-20260101-000000-custom-relu-feedbeef").mkdir()  # a stale staging folder
    with pytest.raises(StoreError):
        store.submit(TINY)  # every candidate is taken: refused, nothing overwritten
    assert store.load(first.id).manifest["created"] == first.manifest["created"]


def test_stale_staging_and_half_deleted_folders_are_cleaned(isolated_data_dir):
    store = RunStore(isolated_data_dir)
    store.submit(TINY)
    stale = [store.runs_dir / ".creating-x", store.runs_dir / ".deleting-y-0000"]
    fresh = store.runs_dir / ".creating-z"
    for path in [*stale, fresh]:
        path.mkdir()
        (path / "manifest.json").write_text("{}")
    old = time.time() - 7200
    for path in stale:
        os.utime(path, (old, old))
    store.clean_stale(3600)
    assert not any(p.exists() for p in stale) and fresh.exists()
    assert len(store.list_runs()) == 1


def test_a_dead_run_is_found_by_its_lock_even_when_its_pid_lives(isolated_data_dir):
    path = write_run(isolated_data_dir, "20260101-100000-custom-relu-00000000", status="running", pid=os.getpid(),
                     host=os.uname().nodename)
    store = RunStore(isolated_data_dir)
    assert store.load(path.name).status == "interrupted"  # this very process is alive, but holds no lock
    from engine.system.locks import try_lock

    lock = try_lock(store.lock_path(path.name))
    try:
        assert store.load(path.name).status == "running"
        assert main(["rm", path.name]) == 2  # rm refuses a run that trains
    finally:
        lock.release(unlink=True)
    assert main(["rm", path.name]) == 0


def test_a_run_deleted_while_it_trains_stays_deleted(isolated_data_dir):
    from engine.training.train import train
    from engine.training.run import resolve_run

    store = RunStore(isolated_data_dir)
    writer = store.create(TINY)
    writer.start()
    result = train(resolve_run(TINY))
    writer.lock.release(unlink=True)  # as if its worker let go, so rm may take it
    store.delete(writer.id)
    with pytest.raises(StoreError, match="removed while it trained"):
        writer.checkpoint(result)  # the worker's training stops here
    with pytest.raises(StoreError, match="removed while it trained"):
        writer.finish(result)
    assert not writer.path.exists() and store.list_runs() == []


# --------------------------------------------------------------------------- reproduce


def test_ctrl_c_during_reproduces_export_stops_and_a_restart_needs_no_force(tmp_path):
    from engine.reproduce import ReproduceCancelled, reproduce
    from supertui.cli.reproduce_report import render_report

    store = RunStore(tmp_path / "data")
    figures: list = []

    def stop_after_two_figures() -> bool:
        return len(figures) >= 2

    with pytest.raises(ReproduceCancelled, match="while writing figures"):
        reproduce(store, tmp_path / "out", quality="tiny", activations=("relu",), report=render_report,
                  should_stop=stop_after_two_figures,
                  on_progress=lambda p: figures.append(p.label) if p.stage == "export" else None)
    assert len(list((tmp_path / "out" / "figures").iterdir())) == 2
    result = reproduce(store, tmp_path / "out", quality="tiny", activations=("relu",), report=render_report)
    # every run of the first call, the relu reference switch (anthropic profile) among them
    assert len(result.reused) == len(result.runs) + len(result.variant_runs) == 5
    assert not result.trained and result.report.exists()
    with pytest.raises(Exception, match="already exists"):  # a finished reproduce is not overwritten silently
        reproduce(store, tmp_path / "out", quality="tiny", activations=("relu",), report=render_report)
