"""`train --resume`: continuing a saved run equals training straight through, bit for bit (CPU,
eager: the same ops on the same data in the same order), and runs that cannot be continued
exactly are refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from engine.config import RunConfig
from engine.errors import ConfigError
from engine.config import apply_profile
from engine.jobs.resume import check_resumable, resume_config
from engine.jobs.runner import run_experiment
from engine.store.runs import ARRAYS, RunStore
from engine.training.train import train
from engine.training.run import resolve_run


def small_config(**changes) -> RunConfig:
    base = RunConfig(preset="custom", activation="gelu", n=6, m=3, densities=(1.0, 0.3, 0.05), importance_decay=0.9,
                     seeds=2, steps=30, batch_size=64, lr=3e-3, snapshots=6, compile=False)
    return base.replace(**changes)


def assert_same_state(a, b) -> None:
    """Bitwise: weights, Adam's moments, the step counter, divergence flags and the evaluation."""
    for name in ("W", "b", "diverged", "final_loss"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in ("mW", "vW", "mb", "vb", "step"):
        np.testing.assert_array_equal(getattr(a.optimizer, name), getattr(b.optimizer, name), err_msg=name)


@pytest.mark.parametrize("profile", ["default", "anthropic"])  # Adam; AdamW with decay, mean loss, batched init
def test_resuming_equals_training_straight_through_per_instance(profile):
    from engine.jobs.resume import initial_state
    from engine.store.arrays import RunArrays

    config = apply_profile(small_config(), profile)
    straight = train(resolve_run(config.replace(steps=30)))
    first = train(resolve_run(config.replace(steps=12)))
    saved = RunArrays(first.W, first.b, first.final_loss, first.loss_steps, first.loss_history, first.snapshot_steps,
                      first.snapshots, first.diverged, instances=None, adam_mW=first.optimizer.mW,
                      adam_vW=first.optimizer.vW, adam_mb=first.optimizer.mb, adam_vb=first.optimizer.vb,
                      optimizer_step=np.asarray(first.optimizer.step))
    rest = train(resolve_run(config.replace(steps=30)), initial=initial_state(saved))
    assert first.optimizer.step == 12 and rest.optimizer.step == 30 and rest.steps_done == 30
    assert_same_state(rest, straight)
    assert rest.loss_steps[0] > 12 and rest.snapshot_steps.min() > 12  # only its own steps; the store joins the rest


def test_a_resumed_run_is_a_new_run_naming_its_parent_with_the_whole_history(tmp_path):
    store = RunStore(tmp_path)
    config = small_config()
    straight = run_experiment(config.replace(steps=24), store)
    parent = run_experiment(config.replace(steps=10), store)
    child = run_experiment(resume_config(parent, 14), store, parent=parent)
    assert child.id != parent.id and child.manifest["parent"] == parent.id
    assert child.manifest["resumed_from_step"] == 10 and child.config.steps == 24 and child.manifest["steps_done"] == 24
    a, b = child.arrays, straight.arrays
    for name in ("W", "b", "final_loss", "adam_mW", "adam_vW", "adam_mb", "adam_vb", "optimizer_step"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    # every step recorded once, parent's first (both record every step at these lengths)
    np.testing.assert_array_equal(a.loss_steps, np.arange(1, 25))
    np.testing.assert_array_equal(a.loss_history, b.loss_history)
    assert np.all(np.diff(a.snapshot_steps) > 0) and a.snapshot_steps[0] == 0 and a.snapshot_steps[-1] == 24
    np.testing.assert_array_equal(a.snapshots[list(a.snapshot_steps).index(10)], parent.arrays.W)
    # and it can be resumed in turn
    assert check_resumable(child) == 24


def test_runs_that_cannot_be_continued_exactly_are_refused(tmp_path):
    store = RunStore(tmp_path)
    scheduled = run_experiment(small_config(steps=6, schedule="cosine"), store)
    with pytest.raises(ConfigError, match="cosine learning-rate schedule"):
        resume_config(scheduled, 5)
    run = run_experiment(small_config(steps=6), store)
    with pytest.raises(ConfigError, match="integer >= 1"):
        resume_config(run, 0)
    with pytest.raises(ConfigError, match="keeps its parent's lr"):
        resume_config(run, 5, lr=0.1)
    # a run saved before the optimiser state was kept
    with np.load(run.path / ARRAYS, allow_pickle=False) as data:
        kept = {k: data[k] for k in data.files if not k.startswith(("adam_", "optimizer_"))}
    np.savez(run.path / ARRAYS, **kept)
    old = store.load(run.id)
    with pytest.raises(ConfigError, match="without its optimiser state"):
        resume_config(old, 5)


def test_cli_resume_queues_a_new_run_and_refuses_old_runs_in_one_line(tmp_path, isolated_data_dir):
    store = RunStore(isolated_data_dir)
    parent = run_experiment(small_config(steps=8), store)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "supertui", "train", *args], capture_output=True, text=True,
                              timeout=300)

    done = cli("--resume", parent.id[:-3], "--steps", "4")
    assert done.returncode == 0, done.stderr
    child = store.load(done.stdout.split()[-1])
    assert child.status == "completed" and child.manifest["parent"] == parent.id and child.manifest["steps_done"] == 12
    # the queue's worker continued from the parent's optimiser state: the same as 12 steps straight
    straight = run_experiment(small_config(steps=12), store)
    for name in ("W", "b", "adam_mW", "adam_vW", "optimizer_step"):
        np.testing.assert_array_equal(getattr(child.arrays, name), getattr(straight.arrays, name), err_msg=name)
    on_ray = cli("--resume", parent.id, "--steps", "4", "--executor", "ray")
    assert on_ray.returncode == 2 and "executor" in on_ray.stderr
    refused = cli("--resume", parent.id, "--steps", "4", "--lr", "0.1")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "lr" in refused.stderr
    missing_steps = cli("--resume", parent.id)
    assert missing_steps.returncode == 2 and "steps" in missing_steps.stderr
    shown = json.loads(subprocess.run([sys.executable, "-m", "supertui", "show", child.id, "--json"],
                                      capture_output=True, text=True, timeout=120).stdout)
    assert shown["parent"] == parent.id and shown["resumed_from_step"] == 8


def test_a_continued_run_prints_no_loss_before_its_first_interval(capsys):
    """Its first report comes at its parent's step, before any loss of its own: no 'loss nan' line."""
    from engine.store.live import LiveState
    from supertui.cli.progress import RunTask, TrainDisplay

    config = small_config(steps=600)
    task = RunTask(TrainDisplay(live=False, plain_interval=0.0), config, "run-id")
    capsys.readouterr()
    task.update_live(LiveState(step=300, steps=600, stage="eager", losses=np.full(6, np.nan)))
    assert capsys.readouterr().out == ""
    task.update_live(LiveState(step=310, steps=600, stage="eager", steps_per_second=50.0, losses=np.full(6, 0.25)))
    assert "step 310/600 loss 0.25" in capsys.readouterr().out


def test_a_chain_of_resumed_runs_keeps_its_history_within_what_the_store_loads():
    from engine.jobs.resume import _thinned

    assert _thinned(5, 10).tolist() == [0, 1, 2, 3, 4]
    kept = _thinned(1_000, 100)
    assert len(kept) <= 100 and kept[0] == 0 and kept[-1] == 999 and np.all(np.diff(kept) > 0)
    assert _thinned(10, 1).tolist() == [9] and _thinned(10, 0).tolist() == []
