"""Locks and races (issue 26, item 5): a run is held by its lock file and by its folder's own lock,
so deleting locks/<id> of a training run neither makes it read interrupted nor lets `rm` delete it;
concurrent `rm` of one run never claims it is training; a client heartbeat dated ahead or left
by a dead client does not keep the scheduler alive."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from engine import RunConfig, RunStore
from engine.jobs.queue import JobQueue
from engine.jobs.scheduler import client_alive, ensure_scheduler
from tests.waiting import wait_until

TINY = RunConfig(preset="custom", activation="relu", n=4, m=2, densities=(1.0, 0.1), seeds=1, steps=10_000_000,
                 batch_size=32, compile=False)




def test_deleting_the_lock_file_of_a_training_run_changes_nothing(isolated_data_dir, capsys):
    from supertui.cli import main

    store = RunStore(isolated_data_dir)
    run_id = store.submit(TINY).id
    ensure_scheduler(store)
    wait_until(lambda: store.load(run_id).status == "running")
    store.lock_path(run_id).unlink()
    assert store.load(run_id).status == "running"  # its folder's lock still says who holds it
    assert JobQueue(store).reconcile().interrupted == []
    assert main(["rm", run_id]) == 2
    assert "is training; cancel it first" in capsys.readouterr().err
    assert store.run_path(run_id).is_dir()
    assert JobQueue(store).cancel([run_id]) == {run_id: "requested"}
    wait_until(lambda: store.load(run_id).status == "cancelled")


def test_three_rm_of_one_run_at_once_one_deletes_the_others_say_it_is_gone(isolated_data_dir):
    store = RunStore(isolated_data_dir)
    run_id = store.submit(TINY.replace(steps=10)).id
    JobQueue(store).cancel([run_id])
    procs = [subprocess.Popen([sys.executable, "-m", "supertui", "--data-dir", str(isolated_data_dir), "rm", run_id],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    assert sorted(code for code, _ in results) in ([0, 0, 2], [0, 2, 2]), results
    assert not any("is training" in err for _, err in results), results
    assert not store.run_path(run_id).exists()


def test_a_heartbeat_dated_ahead_or_from_a_dead_client_does_not_count():
    now = time.time()
    assert client_alive(str(os.getpid()), now, now)
    assert not client_alive(str(os.getpid()), now + 86_400, now)  # dated a day ahead
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert not client_alive(str(dead.pid), now, now)
    assert not client_alive("9" * 40, now, now) and not client_alive("app", now, now)


def test_cancelling_more_runs_than_one_by_one_cancels_each_and_empties_the_queue(isolated_data_dir):
    from engine.jobs.queue import CANCEL_ONE_BY_ONE

    store = RunStore(isolated_data_dir)
    ids = [store.submit(TINY).id for _ in range(CANCEL_ONE_BY_ONE + 9)]  # the batched path, one sync for all
    outcome = JobQueue(store).cancel(ids)
    assert outcome == {run_id: "cancelled" for run_id in ids}
    assert {store.load(run_id).status for run_id in ids} == {"cancelled"}
    assert store.queue_entries() == []
