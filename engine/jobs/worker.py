"""A training worker: one process per run, started by the scheduler, detached from any terminal.

    python -m engine.jobs.worker --data-dir DIR --spare

A spare worker imports torch at once, says `ready` (with the devices it sees) on stdout, and
waits for one assignment on stdin: `{"run": ID, "device": "cuda:1", "slot": PATH, "threads": N}`.
So a run that is queued while a spare waits starts its first step in a fraction of a second.
The worker then takes the device slot's lock, claims the run (its lock, status `claimed`, then the
queue entry goes: engine.jobs.queue) and carries it to a terminal status through the one lifecycle
(engine.jobs.lifecycle): progress into the run folder, the cancel file polled, a one-line reason on
failure. Its exit ends the slot's and the run's locks, however it exits; its exit status is one of
the EXIT_ constants below.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from engine.jobs.lifecycle import StopFlag, carry, local_execution, log_to_stderr
from engine.jobs.queue import JobQueue
from engine.store.runs import RunStore
from engine.system.files import describe_os_error
from engine.system.locks import try_lock

NICE = 10  # training yields the CPU to the interactive app on the same machine
# Exit statuses the scheduler reads (engine.jobs.scheduler): anything else is a worker failure.
EXIT_RUN_ENDED = 0  # the run reached a terminal status (completed, cancelled, failed, ...), saved in its manifest
EXIT_NOT_CLAIMED = 3  # the run was no longer queued (cancelled, deleted, or taken)
EXIT_SLOT_BUSY = 4
EXIT_CLAIM_FAILED = 5  # the claim could not be written (a full disk): the run is still queued
QUIET_EXITS = (EXIT_RUN_ENDED, EXIT_NOT_CLAIMED, EXIT_SLOT_BUSY)


def detect_devices() -> dict:
    """What this machine offers, as the scheduler's default slots need it."""
    import torch

    backend = getattr(torch.backends, "mps", None)
    return {
        "cuda": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "mps": bool(backend and backend.is_available()),
        "cpus": os.cpu_count() or 1,
    }


def run_assignment(store: RunStore, assignment: dict) -> int:
    """Take the slot, claim the run, carry it to its end (engine.jobs.lifecycle)."""
    slot_path = assignment.get("slot")
    slot = try_lock(Path(slot_path)) if slot_path else None
    if slot_path and slot is None:
        return EXIT_SLOT_BUSY
    try:
        writer = JobQueue(store, log_to_stderr).claim(str(assignment["run"]))
    except OSError as exc:
        log_to_stderr(f"run {assignment['run']}: cannot be claimed ({describe_os_error(exc)}); it stays queued")
        return EXIT_CLAIM_FAILED
    if writer is None:
        return EXIT_NOT_CLAIMED
    threads = assignment.get("threads")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    from engine.store.live import PUBLISH_INTERVAL

    stop = StopFlag(writer)
    signal.signal(signal.SIGTERM, lambda *_: stop.event.set())
    device = str(assignment.get("device") or "auto")
    carry(writer, local_execution(device=device, progress_interval=PUBLISH_INTERVAL), stop=stop)
    return EXIT_RUN_ENDED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.jobs.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--spare", action="store_true", help="import torch, say ready, wait for one assignment on stdin")
    parser.add_argument("--run", help="train this queued run now (instead of --spare)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--slot", help="the device slot's lock file")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a stray Ctrl+C in some terminal never kills a run
    try:
        os.nice(NICE)
    except OSError:
        pass
    store = RunStore(args.data_dir)
    if args.spare:
        import engine.store.live, engine.jobs.resume, engine.training.train  # noqa: F401,E401 (what an assignment needs, loaded while it waits)

        ready = {"ready": True, "pid": os.getpid(), **detect_devices()}
        print(json.dumps(ready), flush=True)
        line = sys.stdin.readline()
        if not line.strip():
            return 0  # the scheduler went away or retired this spare
        assignment = json.loads(line)
    else:
        assignment = {"run": args.run, "device": args.device, "slot": args.slot, "threads": args.threads}
    return run_assignment(store, assignment)


if __name__ == "__main__":
    sys.exit(main())
