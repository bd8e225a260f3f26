"""A queue of thousands: what an idle scheduler costs, and how long `cancel` takes, with a long queue
against a short one, measured in the same run.

    python benchmarks/queue_scale.py [--runs 2000] [--small 10] [--seconds 10]

For each queue length it submits that many runs, keeps the device slot busy (this process holds
the slot's lock, so nothing trains and the scheduler only watches), measures the scheduler's CPU
time over --seconds (user + system, from /proc), then cancels every run with `supertui cancel`.
Targets (issue 26): an idle scheduler under 2% of a core whatever the queue's length, and a cancel
of 2,000 runs under 2 s. The last line is
`idle_cpu_percent_large=<p> idle_cpu_percent_small=<p> cancel_s_large=<s> cancel_s_small=<s>`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from engine.config import RunConfig  # noqa: E402
from engine.jobs.scheduler import SchedulerPaths, save_devices  # noqa: E402
from engine.store.runs import RunStore  # noqa: E402
from engine.system.locks import is_held, try_lock  # noqa: E402

CONFIG = RunConfig(preset="custom", activation="relu", n=4, m=2, densities=(1.0, 0.1), seeds=1, steps=10,
                   batch_size=16, compile=False)
ROOT = Path(__file__).resolve().parents[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scheduler_pid(store: RunStore) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"engine.jobs.scheduler" in cmdline and str(store.data_dir).encode() in cmdline:
                return int(entry.name)
    raise RuntimeError("no scheduler")


def settle(pid: int, quiet: float = 0.02, limit: float = 300.0) -> None:
    """Wait until the scheduler spent under `quiet` of a core over two seconds (its start-up look
    at every queued run is over), then two reconciler periods more."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(2.0)
        if cpu_seconds(pid) - before < 2.0 * quiet:
            break
    time.sleep(1.0)


def measure(count: int, seconds: float) -> tuple[float, float]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"queue-scale-{count}-"))
    store = RunStore(data_dir)
    save_devices(store, ["cpu"])
    busy = try_lock(SchedulerPaths.of(store).slot_lock(0))  # the one slot is taken: the queue only waits
    ids = [store.submit(CONFIG.replace(seed=i)).id for i in range(count)]
    env = {**os.environ, "SUPERTUI_SCHEDULER_IDLE": "3600"}
    subprocess.run([sys.executable, "-c", "import sys; from engine.jobs.scheduler import ensure_scheduler;"
                    "from engine.store.runs import RunStore; ensure_scheduler(RunStore(sys.argv[1]))", str(data_dir)],
                   env={**env, "PYTHONPATH": str(ROOT)}, check=True)
    while not is_held(SchedulerPaths.of(store).lock):
        time.sleep(0.05)
    pid = scheduler_pid(store)
    try:
        settle(pid)  # its first look reads every manifest once: measure the scheduler that only waits
        before, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(seconds)
        idle_percent = 100 * (cpu_seconds(pid) - before) / (time.monotonic() - t0)
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "supertui", "--data-dir", str(data_dir), "cancel", "--no-wait",
                               *ids], capture_output=True, text=True, env={**env, "PYTHONPATH": str(ROOT)})
        cancel_s = time.monotonic() - started
        assert done.returncode == 0, done.stderr[-2000:]
        assert all(r.status == "cancelled" for r in store.list_runs())
    finally:
        os.kill(pid, signal.SIGKILL)  # this benchmark's scheduler only: nothing trains under it
        busy.release()
        shutil.rmtree(data_dir, ignore_errors=True)
    return idle_percent, cancel_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    small = measure(args.small, args.seconds)
    large = measure(args.runs, args.seconds)
    print(f"{args.small} queued: idle scheduler {small[0]:.2f}% of a core, cancel {small[1]:.2f} s")
    print(f"{args.runs} queued: idle scheduler {large[0]:.2f}% of a core, cancel {large[1]:.2f} s")
    print(f"idle_cpu_percent_large={large[0]:.2f} idle_cpu_percent_small={small[0]:.2f} "
          f"cancel_s_large={large[1]:.2f} cancel_s_small={small[1]:.2f}")


if __name__ == "__main__":
    main()
