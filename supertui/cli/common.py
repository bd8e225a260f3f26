"""Pieces the subcommands share."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import Iterator

from engine import RunStore


def open_store(args) -> RunStore:
    store = RunStore(args.data_dir)
    return store


def report_skipped(path, message: str) -> None:
    """A corrupt or foreign folder among the runs: name it on stderr, keep going."""
    print(f"supertui: skipped {path}: {message}", file=sys.stderr)


@contextlib.contextmanager
def graceful_sigint() -> Iterator[threading.Event]:
    """The first Ctrl+C sets the event (training stops after its step and keeps the run as
    cancelled); a second one aborts at once."""
    stop = threading.Event()

    def on_sigint(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("supertui: stopping after this step (Ctrl+C again to abort)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
