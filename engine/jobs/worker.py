"""A training worker: one process per run, started by the scheduler, detached from any terminal.

    python -m engine.jobs.worker --data-dir DIR --spare

A spare worker imports torch at once, says `ready` (with the devices it sees) on stdout, and
waits for one assignment on stdin: `{"run": ID, "device": "cuda:1", "slot": PATH, "threads": N}`.
So a run that is queued while a spare waits starts its first step in a fraction of a second.
The worker then takes the device slot's lock and claims the run (its lock, status `running`),
trains it, publishing progress into the run folder (engine.store.live), polls the run's cancel file,
and saves the run as completed, cancelled or failed (with a one-line reason). Its exit ends the
slot's and the run's locks, however it exits.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

from engine.system.locks import try_lock
from engine.store.runs import RunStore

NICE = 10  # training yields the CPU to the interactive app on the same machine
CANCEL_POLL_INTERVAL = 0.05  # seconds between looks at the cancel file
EXIT_NOT_CLAIMED = 3  # the run was no longer queued (cancelled, deleted, or taken)
EXIT_SLOT_BUSY = 4


def log(text: str) -> None:
    """A line for the scheduler's log (this worker's stderr); a full disk loses the line, not the run."""
    try:
        print(text, file=sys.stderr, flush=True)
    except OSError:
        pass


def one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def detect_devices() -> dict:
    """What this machine offers, as the scheduler's default slots need it."""
    import torch

    backend = getattr(torch.backends, "mps", None)
    return {
        "cuda": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "mps": bool(backend and backend.is_available()),
        "cpus": os.cpu_count() or 1,
    }


class StopFlag:
    """Set by SIGTERM (the scheduler or a user asking nicely) or by the run's cancel file."""

    def __init__(self, writer):
        self.writer = writer
        self.event = threading.Event()
        self._last_look = 0.0

    def __call__(self) -> bool:
        if self.event.is_set():
            return True
        now = time.monotonic()
        if now - self._last_look >= CANCEL_POLL_INTERVAL:
            self._last_look = now
            if self.writer.cancel_requested():
                self.event.set()
        return self.event.is_set()


def train_claimed(writer, device_name: str, threads: int | None) -> int:
    """Train a run this process has claimed; always leaves it in a final, truthful state.
    Exit status 0 when it ended as asked (completed or cancelled), 1 when it failed."""
    import torch

    from engine.training.device import describe_device
    from engine.store.live import PUBLISH_INTERVAL, LiveWriter
    from engine.jobs.resume import continuation
    from engine.training.run import resolve_run
    from engine.training.train import train

    if threads:
        torch.set_num_threads(threads)
    stop = StopFlag(writer)
    signal.signal(signal.SIGTERM, lambda *_: stop.event.set())
    live = None

    def checkpoint(result) -> None:
        if not writer.checkpoint(result):
            log(f"warning: {writer.id}: checkpoint not saved ({writer.checkpoint_error}); training goes on")

    try:
        if stop():
            writer.cancel_before_start()
            return 0
        run = resolve_run(writer.config, device=device_name)  # validated against the device's free memory
        resumed = continuation(writer.store, writer.manifest, writer.config)  # None unless `train --resume`
        join = resumed.join if resumed else (lambda result: result)
        writer.start(device=describe_device(run.device), versions={"torch": torch.__version__})
        live = LiveWriter(writer.path, run.instances)
        result = train(
            run,
            on_progress=live.publish,
            should_stop=stop,
            on_checkpoint=lambda partial: checkpoint(join(partial)),
            on_warning=lambda text: log(f"warning: {writer.id}: {text}"),
            send_weights=True,
            progress_interval=PUBLISH_INTERVAL,
            initial=resumed.initial if resumed else None,
        )
        writer.finish(join(result))  # on a write failure: frees the live files, keeps what fits, marks it failed, raises
    except BaseException as exc:
        log(traceback.format_exc())
        if live is not None:
            live.close()
            live = None
        try:
            writer.fail(one_line(exc))  # a no-op when finish() already wrote the failure
        except Exception:
            log(traceback.format_exc())  # the disk refuses even that: the run reads interrupted
        return 1
    finally:
        if live is not None:
            live.close()
    return 0


def run_assignment(store: RunStore, assignment: dict) -> int:
    slot_path = assignment.get("slot")
    slot = try_lock(Path(slot_path)) if slot_path else None
    if slot_path and slot is None:
        return EXIT_SLOT_BUSY
    writer = store.claim(str(assignment["run"]))
    if writer is None:
        return EXIT_NOT_CLAIMED
    return train_claimed(writer, str(assignment.get("device") or "auto"), assignment.get("threads"))


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
