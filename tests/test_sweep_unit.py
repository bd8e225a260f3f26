"""A sweep is one unit: its size is the product of its axis lengths, checked before any run is built
(the CLI, a TOML file and the launch form alike), and it is queued whole or not at all."""

from __future__ import annotations

import shutil
import tracemalloc

import pytest

from engine import RunConfig, RunStore
from engine.errors import ConfigError
from engine.jobs.queue import JobQueue
from engine.sweeps.plan import MAX_SWEEP_RUNS, SweepPlan
from supertui.cli import main

MILLION = ["--sweep", "lr=1e-4:1e-2:1000", "--sweep", "weight_decay=1e-4:1e-1:1000"]
TINY = RunConfig(preset="custom", activation="relu", n=4, m=2, densities=(1.0, 0.1), seeds=1, steps=10, batch_size=16,
                 compile=False)


def test_a_million_run_sweep_is_refused_from_its_axis_lengths_in_constant_memory(isolated_data_dir, capsys):
    tracemalloc.start()
    code = main(["train", "custom", *MILLION, "--yes"])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "sweep: 1,000,000 runs (1 x 1000 x 1000)" in err and f"{MAX_SWEEP_RUNS:,}" in err
    assert peak < 32 << 20  # nothing of the million runs was built
    assert not (isolated_data_dir / "runs").exists()
    plan = SweepPlan(TINY, ["relu"] * 10, {"lr": [1e-3] * 10_000, "m": [2] * 10_000})
    with pytest.raises(ConfigError, match="1,000,000,000 runs"):
        plan.points()


def test_a_huge_sweep_file_is_refused_the_same_way(isolated_data_dir, tmp_path, capsys):
    sweep = tmp_path / "huge.toml"
    sweep.write_text('preset = "custom"\n[sweep]\nlr = "1e-4:1e-2:1000"\nweight_decay = "1e-4:1e-1:1000"\n'
                     'batch_size = "1:1000:1000"\n')
    assert main(["sweep", str(sweep), "--yes"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "runs in one sweep" in err
    assert not (isolated_data_dir / "runs").exists()


def test_a_sweep_that_cannot_be_queued_whole_leaves_no_run_to_train(isolated_data_dir):
    store = RunStore(isolated_data_dir)
    configs = [TINY.replace(seed=i) for i in range(20)]

    def break_the_queue_after_ten(run_id: str) -> None:
        if len(store.queue_entries()) == 10:  # the queue folder turns into a file: a real ENOTDIR
            shutil.move(store.queue_dir, store.data_dir / "queue-was")
            store.queue_dir.write_bytes(b"")

    with pytest.raises(OSError, match="10 of 20 runs had been queued and were cancelled"):
        JobQueue(store).submit_all(configs, sweep=("sweep-test", {"preset": "custom"}),
                                   on_queued=break_the_queue_after_ten)
    statuses = [r.status for r in store.list_runs()]
    assert statuses == ["cancelled"] * 10  # the 11th, half made, is gone; none is queued
    assert len(store.load_sweep("sweep-test")["runs"]) == 10
