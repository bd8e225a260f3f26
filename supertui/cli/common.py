"""Pieces the subcommands share."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from engine.store import RunStore


def open_store(args) -> RunStore:
    from engine.store import RunStore  # imports numpy: only commands that read runs pay for it

    return RunStore(args.data_dir)


def report_skipped(path, message: str) -> None:
    """A corrupt or foreign folder among the runs: name it on stderr, keep going."""
    print(f"supertui: skipped {safe_text(str(path))}: {safe_text(message)}", file=sys.stderr)


_CONTROL = dict.fromkeys([*range(0x00, 0x20), *range(0x7F, 0xA0)], "\ufffd")
_CONTROL.pop(ord("\n"))


def safe_text(text: object) -> str:
    """Text from a run folder or a user, fit for a terminal: control characters (escape
    sequences included) become U+FFFD, so a crafted run can never drive the terminal."""
    return str(text).translate(_CONTROL)


def resolve_run_ids(store: RunStore, tokens: list[str]) -> list[str]:
    """Whole ids or unique prefixes, each named once, in the order given."""
    out: list[str] = []
    for token in tokens:
        run_id = store.resolve(token)
        if run_id not in out:
            out.append(run_id)
    return out


class StopRequest(threading.Event):
    """Set by the first Ctrl+C; `aborted` by the second."""

    aborted = False


@contextlib.contextmanager
def graceful_sigint(message: str = "supertui: stopping after this step (Ctrl+C again to abort)",
                    second_raises: bool = False) -> Iterator[StopRequest]:
    """The first Ctrl+C sets the request (the work stops soon and keeps what it did); a second
    one marks it aborted, or raises KeyboardInterrupt with second_raises."""
    stop = StopRequest()

    def on_sigint(signum, frame):
        if stop.is_set():
            stop.aborted = True
            if second_raises:
                raise KeyboardInterrupt
            return
        stop.set()
        print(message, file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
