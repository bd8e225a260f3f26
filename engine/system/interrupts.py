"""Saves that Ctrl+C cannot cut in half.

    with sigint_deferred():
        writer.finish(result)      # a Ctrl+C here is held, then delivered once the save is done

The final save of a run writes its arrays and then its manifest; a KeyboardInterrupt between
the two would leave finished arrays under a manifest that says `running`. SIGINT is held while
the block runs and handed, in order, to whatever handler was installed before (so the CLI's
"Ctrl+C twice aborts" still works, one save later). Only the main thread receives signals; in
any other thread the block simply runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Iterator


@contextlib.contextmanager
def sigint_deferred() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield  # no signal reaches this thread (or a handler Python cannot put back is installed)
        return
    held: list = []
    signal.signal(signal.SIGINT, lambda signum, frame: held.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        for frame in held:
            _deliver(previous, frame)


def _deliver(handler, frame) -> None:
    if callable(handler):
        handler(signal.SIGINT, frame)  # default_int_handler raises KeyboardInterrupt here
    elif handler == signal.SIG_DFL:
        os.kill(os.getpid(), signal.SIGINT)
    # SIG_IGN: nothing to deliver
