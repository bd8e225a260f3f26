"""Runs outlive their clients: a durable queue in the data directory, a scheduler and worker
processes, all real. Each test kills something and checks that nothing is lost or run twice."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from engine import RunConfig, RunStore
from engine.store.live import LiveReader
from engine.system.locks import is_held
from engine.jobs.scheduler import SchedulerPaths, ensure_scheduler
from tests.conftest import processes_using
from tests.waiting import wait_until

TINY = ["custom", "--n", "4", "--m", "2", "--batch-size", "32", "--no-compile", "--densities", "1", "0.1"]
LONG = [*TINY, "--steps", "10000000"]
FINAL = ("completed", "cancelled", "failed", "interrupted")


def supertui(data_dir, *args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "supertui", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=120, **kwargs)




def statuses(store: RunStore) -> dict[str, str]:
    return {r.id: r.status for r in store.list_runs()}


def all_final(store: RunStore, count: int):
    now = statuses(store)
    return len(now) == count and all(s in FINAL for s in now.values()) and now


def scheduler_pid(store: RunStore) -> int:
    """The scheduler is the process holding the scheduler lock; find it by its command line."""
    for pid in processes_using(store.data_dir):
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
        if b"engine.jobs.scheduler" in cmdline:
            return pid
    raise AssertionError("no scheduler process")


def worker_runs(store: RunStore) -> list[str]:
    """Every run a worker was started for, from the scheduler's log, in order."""
    text = SchedulerPaths.of(store).log.read_text()
    return re.findall(r"run (\S+) -> slot", text)


def test_detached_runs_complete_after_the_client_is_gone(isolated_data_dir):
    store = RunStore(isolated_data_dir)
    # A following client in its own process group, like a shell in a terminal...
    client = subprocess.Popen([sys.executable, "-m", "supertui", "train", *TINY, "--steps", "300"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_until(lambda: any(r.status == "running" for r in store.list_runs()))
    finally:
        # ...whose terminal goes away: the whole group is hung up, then killed.
        os.killpg(client.pid, signal.SIGHUP)
        os.killpg(client.pid, signal.SIGKILL)
        client.wait()
    (run_id,) = wait_until(lambda: all_final(store, 1))
    assert store.load(run_id).status == "completed"
    assert store.load(run_id).arrays.W.shape == (2, 2, 4)


def test_detach_prints_ids_at_once_and_jobs_lists_them(isolated_data_dir):
    started = time.monotonic()
    proc = supertui(isolated_data_dir, "train", *LONG, "-a", "relu", "tanh", "--detach")
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 30
    ids = proc.stdout.split()
    assert len(ids) == 2 and all("custom" in i for i in ids)
    store = RunStore(isolated_data_dir)
    assert {r.status for r in store.list_runs()} <= {"queued", "running"}
    wait_until(lambda: any(r.status == "running" for r in store.list_runs()))
    jobs = json.loads(supertui(isolated_data_dir, "jobs", "--json").stdout)
    assert sorted(j["id"] for j in jobs) == sorted(ids)
    assert {j["status"] for j in jobs} == {"running", "queued"}
    assert [j["queue_position"] for j in jobs if j["status"] == "queued"] == [1]
    cancel = supertui(isolated_data_dir, "cancel", *ids)
    assert cancel.returncode == 0, cancel.stderr
    assert {r.status for r in store.list_runs()} == {"cancelled"}
    assert json.loads(supertui(isolated_data_dir, "jobs", "--json").stdout) == []


def test_two_cpu_slots_train_two_runs_at_once(isolated_data_dir):
    store = RunStore(isolated_data_dir)
    proc = supertui(isolated_data_dir, "train", *LONG, "-a", "relu", "tanh", "--devices", "cpu,cpu", "--detach")
    assert proc.returncode == 0, proc.stderr
    ids = proc.stdout.split()
    readers = {run_id: LiveReader(store.run_path(run_id), 2) for run_id in ids}

    def both_stepping():
        """both runs past step 10 at the same moment"""
        for reader in readers.values():
            reader.poll()
        return all(r.state.step > 10 for r in readers.values()) and all(store.load(i).status == "running" for i in ids)

    wait_until(both_stepping)
    assert sorted(r.status for r in store.list_runs()) == ["running", "running"]
    supertui(isolated_data_dir, "cancel", *ids)
    assert {r.status for r in store.list_runs()} == {"cancelled"}


def test_killing_the_scheduler_mid_queue_loses_and_repeats_nothing(isolated_data_dir):
    store = RunStore(isolated_data_dir)
    proc = supertui(isolated_data_dir, "train", *TINY, "--steps", "150", "-a", "relu", "tanh", "gelu", "silu",
                    "--detach")
    ids = proc.stdout.split()
    wait_until(lambda: any(r.status == "running" for r in store.list_runs()))
    os.kill(scheduler_pid(store), signal.SIGKILL)
    time.sleep(0.5)
    assert not is_held(SchedulerPaths.of(store).lock)
    # The next client to come along starts a new scheduler, which picks the queue up.
    ensure_scheduler(store)
    wait_until(lambda: all_final(store, 4), timeout=180)
    assert statuses(store) == {run_id: "completed" for run_id in ids}
    started = worker_runs(store)
    assert sorted(started) == sorted(ids), started  # each run given to a worker exactly once


def test_a_killed_worker_leaves_its_run_interrupted_and_the_queue_goes_on(isolated_data_dir):
    store = RunStore(isolated_data_dir)
    proc = supertui(isolated_data_dir, "train", *LONG, "--detach")
    (long_id,) = proc.stdout.split()
    proc = supertui(isolated_data_dir, "train", *TINY, "--steps", "100", "-a", "tanh", "--detach")
    (short_id,) = proc.stdout.split()
    wait_until(lambda: store.load(long_id).status == "running" and store.load(long_id).manifest.get("pid"))
    os.kill(store.load(long_id).manifest["pid"], signal.SIGKILL)
    wait_until(lambda: store.load(short_id).status == "completed")
    record = store.load(long_id)
    assert record.status == "interrupted"
    # The scheduler's reconciler wrote it down, with the reason (engine.jobs.queue).
    assert record.saved_status == "interrupted" and "stopped while training" in record.error


def test_three_clients_submitting_at_once_get_every_run_exactly_once(isolated_data_dir):
    store = RunStore(isolated_data_dir)
    env = {**os.environ, "SUPERTUI_DATA_DIR": str(isolated_data_dir)}
    clients = [
        subprocess.Popen([sys.executable, "-m", "supertui", "train", *TINY, "--steps", "60", "-a", a, b, "--detach"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for a, b in (("relu", "tanh"), ("gelu", "silu"), ("sigmoid", "linear"))
    ]
    ids = []
    for client in clients:
        out, err = client.communicate(timeout=120)
        assert client.returncode == 0, err
        ids += out.split()
    assert len(set(ids)) == 6
    wait_until(lambda: all_final(store, 6), timeout=240)
    assert statuses(store) == {run_id: "completed" for run_id in ids}
    assert sorted(worker_runs(store)) == sorted(ids)
    assert len([p for p in processes_using(isolated_data_dir)
                if b"engine.jobs.scheduler" in open(f"/proc/{p}/cmdline", "rb").read()]) <= 1


def test_rm_refuses_a_training_run_and_cancel_stops_it(isolated_data_dir, capsys):
    from supertui.cli import main

    store = RunStore(isolated_data_dir)
    proc = supertui(isolated_data_dir, "train", *LONG, "--detach")
    (run_id,) = proc.stdout.split()
    wait_until(lambda: store.load(run_id).status == "running")
    assert main(["rm", run_id]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is training; cancel it first" in err
    assert main(["cancel", run_id[:20]]) == 0  # a unique prefix is enough
    assert store.load(run_id).status == "cancelled"
    assert store.load(run_id).has_arrays  # what was trained is kept
    assert main(["rm", run_id]) == 0
    assert store.list_runs() == []


def test_wait_exits_0_only_when_all_completed(isolated_data_dir):
    proc = supertui(isolated_data_dir, "train", *TINY, "--steps", "50", "--detach")
    (run_id,) = proc.stdout.split()
    assert supertui(isolated_data_dir, "wait", run_id).returncode == 0
    proc = supertui(isolated_data_dir, "train", *LONG, "--detach")
    (long_id,) = proc.stdout.split()
    supertui(isolated_data_dir, "cancel", long_id)
    waited = supertui(isolated_data_dir, "wait", run_id, long_id)
    assert waited.returncode == 1
    assert "cancelled" in waited.stdout


def test_a_queued_run_is_in_the_store_with_its_id_before_any_worker(isolated_data_dir):
    store = RunStore(isolated_data_dir)
    config = RunConfig(preset="custom", n=4, m=2, steps=10, batch_size=16, compile=False)
    record = store.submit(config)
    assert record.status == "queued" and record.is_live
    assert store.live_runs()[0].id == record.id
    assert store.request_cancel(record.id) == "cancelled"
    assert store.load(record.id).status == "cancelled"
    assert store.queue_entries() == [] and store.live_runs() == []
    assert store.claim(record.id) is None  # a cancelled run is never trained


def test_the_scheduler_wakes_when_a_run_is_queued_not_at_its_next_poll(isolated_data_dir):
    import threading

    from engine.jobs.scheduler import Scheduler

    store = RunStore(isolated_data_dir)
    scheduler = Scheduler(store=store, lock=None)
    config = RunConfig(preset="custom", n=4, m=2, steps=10, batch_size=16, compile=False)
    threading.Timer(0.3, lambda: store.submit(config)).start()
    started = time.monotonic()
    scheduler.wait_for_the_queue(60.0)
    assert time.monotonic() - started < 30.0  # woken by the submission, far before the minute
    wait_until(lambda: store.queue_entries(), timeout=10)
    assert store.request_cancel(store.live_runs()[0].id) == "cancelled"


def test_ctrl_c_on_train_returns_the_prompt_and_the_run_ends_cancelled(tmp_path):
    """One Ctrl+C: `train` exits 130 (waiting only briefly for the save, benchmarks/ctrl_c.py times
    it), prints the run id, and the detached worker saves the run as cancelled, never failed."""
    store = RunStore(tmp_path)
    train = subprocess.Popen([sys.executable, "-m", "supertui", "--data-dir", str(tmp_path), "train", *LONG],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: any(s == "running" for s in statuses(store).values()))
        (run_id,) = statuses(store)
        wait_until(lambda: LiveReader(store.load(run_id).path, 2).poll() or None)
        train.send_signal(signal.SIGINT)
        out, err = train.communicate(timeout=60)
    finally:
        if train.poll() is None:
            train.kill()
    assert train.returncode == 130, err
    assert out.strip().splitlines()[-1] == run_id and "cancelling" in err
    assert wait_until(lambda: all_final(store, 1)) == {run_id: "cancelled"}
