"""The queue's invariant, enforced (engine.jobs.queue): every run on disk is queued with its entry,
held by a live worker, or ended with a reason, whatever died when. Each test breaks one thing with
real processes (a SIGKILL, a real EFBIG from RLIMIT_FSIZE, a deleted entry, a killed scheduler, a
relative data directory, folders and FIFOs where files belong, a worker that cannot start) and
checks that `supertui wait` returns with every run ended or training. Every wait is bounded."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import RunConfig, RunStore
from engine.jobs.scheduler import SchedulerPaths, ensure_scheduler, save_devices
from engine.system.locks import is_held
from tests.conftest import processes_using
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
HARNESS = Path(__file__).with_name("save_stages.py")
TINY = RunConfig(preset="custom", activation="relu", n=4, m=2, densities=(1.0, 0.1), seeds=1, steps=40, batch_size=32,
                 compile=False)
TINY_FLAGS = ["custom", "--n", "4", "--m", "2", "--batch-size", "32", "--no-compile", "--densities", "1", "0.1"]
ENDED = ("completed", "cancelled", "failed", "interrupted")
WAIT_LIMIT = 150  # seconds: a `wait` that has not returned by then is the bug these tests are about


def supertui(data_dir, *args, timeout: float = WAIT_LIMIT, env=None, cwd=None) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "supertui", *(["--data-dir", str(data_dir)] if data_dir else []), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


def wait_for(store: RunStore, *run_ids: str, env=None) -> subprocess.CompletedProcess:
    """`supertui wait` as the only client: it must return, and leave every run ended."""
    done = supertui(store.data_dir, "wait", *run_ids, env=env)
    for run_id in run_ids:
        assert store.load(run_id).status in ENDED, (run_id, store.load(run_id).status, done.stderr[-2000:])
    return done




def scheduler_pids(store: RunStore) -> list[int]:
    return [pid for pid in processes_using(store.data_dir)
            if b"engine.jobs.scheduler" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def test_a_worker_killed_between_claim_and_running_ends_interrupted(isolated_data_dir):
    store = RunStore(isolated_data_dir)
    run_id = store.submit(TINY).id
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    killed = subprocess.run([sys.executable, str(HARNESS), str(isolated_data_dir), run_id, "before:start-manifest",
                             "SIGKILL", "worker"], env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    assert store.load(run_id).saved_status == "claimed"  # written before the queue entry went
    assert store.queue_entries() == []
    done = wait_for(store, run_id)
    assert done.returncode == 1
    record = store.load(run_id)
    assert record.saved_status == "interrupted" and "before training began" in record.error


def _manifest_sizes(tmp_path: Path) -> tuple[int, int]:
    """Bytes of a run's manifest once claimed, and once started (in a scratch store)."""
    scratch = RunStore(tmp_path / "scratch")
    writer = scratch.claim(scratch.submit(TINY).id)
    claimed = (writer.path / "manifest.json").stat().st_size
    writer.start(device="cpu (x86_64, 2 threads)", versions={"torch": "2.13.0"})
    started = (writer.path / "manifest.json").stat().st_size
    writer.cancel_before_start()
    return claimed, started


def test_a_full_disk_at_the_start_manifest_never_leaves_a_run_behind(isolated_data_dir, tmp_path):
    claimed, started = _manifest_sizes(tmp_path)
    assert started > claimed + 8
    limit = claimed + 4  # a real EFBIG on the start manifest (and every bigger write), not on the claim

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    store = RunStore(isolated_data_dir)
    run_id = store.submit(TINY).id
    worker = subprocess.run([sys.executable, "-m", "engine.jobs.worker", "--data-dir", str(isolated_data_dir),
                             "--run", run_id, "--device", "cpu"], preexec_fn=small_disk, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "File too large" in worker.stderr, worker.stderr[-2000:]
    assert store.load(run_id).saved_status in ("claimed", "queued", "failed")
    wait_for(store, run_id)
    record = store.load(run_id)
    assert record.error and ("File too large" in record.error or "before training began" in record.error)


def test_a_deleted_queue_entry_is_entered_again_and_the_run_trains(isolated_data_dir):
    store = RunStore(isolated_data_dir)
    run_id = store.submit(TINY).id
    for entry in store.queue_entries():
        (store.queue_dir / entry).unlink()
    done = wait_for(store, run_id)
    assert done.returncode == 0 and store.load(run_id).status == "completed"


def test_a_killed_scheduler_with_wait_as_the_only_client(isolated_data_dir):
    store = RunStore(isolated_data_dir)
    save_devices(store, ["cpu"])
    long_run = store.submit(TINY.replace(steps=10_000_000)).id
    short_run = store.submit(TINY).id
    ensure_scheduler(store)
    wait_until(lambda: store.load(long_run).status == "running")
    for pid in scheduler_pids(store):
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not is_held(SchedulerPaths.of(store).lock))
    store.request_cancel(long_run)  # its worker lives on and saves it cancelled; the short run has nobody
    done = wait_for(store, long_run, short_run)
    assert store.load(short_run).status == "completed", done.stderr[-2000:]


@pytest.mark.parametrize("how", ["flag", "env"])
def test_a_relative_data_dir_from_the_cli_names_one_folder_for_every_process(tmp_path, how):
    env = {k: v for k, v in os.environ.items() if k != "SUPERTUI_DATA_DIR"}
    args = ["train", *TINY_FLAGS, "--steps", "30"]
    if how == "env":
        env["SUPERTUI_DATA_DIR"] = "runs"
        done = supertui(None, *args, env=env, cwd=tmp_path)
    else:
        done = supertui("runs", *args, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    store = RunStore(tmp_path / "runs")
    run_id = done.stdout.split()[-1]
    assert store.load(run_id).status == "completed"
    assert not (tmp_path / "runs" / "scheduler" / "runs").exists()  # no second data dir inside the first


def test_a_relative_data_dir_from_the_app_is_the_folder_the_scheduler_serves(tmp_path, monkeypatch):
    from engine.jobs.queue import JobQueue
    from supertui.app import SupertuiApp

    monkeypatch.chdir(tmp_path)
    app = SupertuiApp("runs")
    assert app.store.data_dir == tmp_path / "runs"
    run_id = JobQueue(app.store).submit(TINY).id
    monkeypatch.chdir(ROOT)  # the app's working directory moves: its runs do not
    ensure_scheduler(app.store)
    done = wait_for(RunStore(tmp_path / "runs"), run_id)
    assert done.returncode == 0


def test_folders_and_fifos_in_queue_scheduler_and_locks_never_stop_the_queue(isolated_data_dir):
    store = RunStore(isolated_data_dir)
    run_id = store.submit(TINY).id
    paths = SchedulerPaths.of(store)
    (store.queue_dir / f"{time.time_ns():020d}-{run_id}x").mkdir()  # a folder named like an entry
    os.mkfifo(store.queue_dir / f"{time.time_ns():020d}-fifo-run")
    store.locks_dir.mkdir(parents=True, exist_ok=True)
    (store.locks_dir / run_id).mkdir()  # the queued run's own lock is a folder
    os.mkfifo(store.locks_dir / "another-run")
    paths.root.mkdir(parents=True, exist_ok=True)
    os.mkfifo(paths.devices)  # a FIFO blocks a plain open forever
    paths.log.mkdir()  # where every process appends its lines
    (paths.clients / "123").mkdir(parents=True)
    os.mkfifo(paths.root / "slots")  # where the slot locks go
    done = wait_for(store, run_id)
    assert done.returncode == 0, done.stderr[-2000:]
    assert store.load(run_id).status == "completed"
    assert supertui(isolated_data_dir, "jobs", "--json", timeout=60).returncode == 0


def test_a_worker_that_always_exits_1_fails_its_run_with_the_reason_and_stops_retrying(isolated_data_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    # An installation where the worker cannot start (here: it exits 1 as soon as Python is up).
    (broken / "sitecustomize.py").write_text(
        "import sys\n"
        "if b'engine.jobs.worker' in open('/proc/self/cmdline', 'rb').read():\n"
        "    sys.exit(1)\n")
    env = {**os.environ, "PYTHONPATH": f"{broken}{os.pathsep}{ROOT}"}
    store = RunStore(isolated_data_dir)
    run_id = store.submit(TINY).id
    done = wait_for(store, run_id, env=env)
    assert done.returncode == 1
    record = store.load(run_id)
    assert record.status == "failed" and "exit code 1" in record.error
    started = SchedulerPaths.of(store).log.read_text().count(f"run {run_id} -> slot")
    assert started <= 4, started  # a few tries with a growing pause, never a respawn loop


@pytest.mark.slow
def test_a_reproduction_whose_client_is_killed_completes_anyway(isolated_data_dir, tmp_path):
    from engine import BLOG_ACTIVATIONS
    from engine.reproduce import experiment_configs, variant_configs
    from engine.sweeps.refine import PREFIX as REFINE_PREFIX
    from engine.sweeps.refine import read_refinement

    store = RunStore(isolated_data_dir)
    out = tmp_path / "out"
    client = subprocess.Popen([sys.executable, "-m", "supertui", "reproduce", "--quality", "tiny", "--out", str(out)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: any(r.status == "running" for r in store.list_runs()), timeout=120)
    finally:
        os.killpg(client.pid, signal.SIGHUP)  # its SSH connection drops...
        os.killpg(client.pid, signal.SIGKILL)  # ...and nothing of it is left
        client.wait()
    # every run it queued (all experiments, the reference switches) and every level its phase
    # refinements go on to queue, driven by the scheduler with no client left
    planned = len(experiment_configs("tiny")) + len(variant_configs("tiny"))

    def refinements_ended() -> bool:
        ids = [path.stem for path in store.sweeps_dir.glob(f"{REFINE_PREFIX}*.json")]
        return len(ids) == len(BLOG_ACTIVATIONS) and all(
            (read_refinement(store, i) or {}).get("ended") for i in ids)

    wait_until(lambda: len(store.list_runs()) > planned and all(r.status in ENDED for r in store.list_runs())
               and refinements_ended(), timeout=900)
    assert {r.status for r in store.list_runs()} == {"completed"}
    again = supertui(isolated_data_dir, "reproduce", "--quality", "tiny", "--out", str(out), timeout=900)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "0 runs trained" in again.stderr and (out / "report.md").exists()
