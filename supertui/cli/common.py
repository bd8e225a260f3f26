"""Pieces the subcommands share."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import TYPE_CHECKING, Iterator

from engine.errors import ConfigError

if TYPE_CHECKING:
    from engine.store.runs import RunStore


def open_store(args) -> RunStore:
    """The store of --data-dir (or the default). A data directory that cannot be one (empty,
    a file, /dev/null) is refused here, before any command reads or writes."""
    from engine.store.runs import RunStore  # imports numpy: only commands that read runs pay for it

    store = RunStore(check_data_dir(getattr(args, "data_dir", None)))
    if store.data_dir.exists() and not store.data_dir.is_dir():
        raise ConfigError("data-dir", f"{safe_text(store.data_dir)} is not a folder")
    return store


def check_data_dir(data_dir: str | None) -> str | None:
    if data_dir is not None and not str(data_dir).strip():
        raise ConfigError("data-dir", "is empty (give a folder, or leave --data-dir out for the default)")
    return data_dir


def check_out_folder(text: str, field: str = "out") -> str:
    """A folder to write figures into, as typed: not empty, and no control character (a newline
    would split every path printed after it over two lines, an escape would drive the terminal)."""
    if not text.strip():
        raise ConfigError(field, "is empty (give a folder for the figures)")
    if any(ord(c) in _CONTROL_CODES for c in text):
        raise ConfigError(field, f"{safe_text(text.replace(chr(10), chr(0xFFFD)))[:80]!r} holds a control "
                                 f"character (a newline or an escape); give a folder name without one")
    return text


def report_skipped(path, message: str) -> None:
    """A corrupt or foreign folder among the runs: name it on stderr (once), keep going."""
    name = getattr(path, "name", str(path))
    text = message if str(message).startswith(f"{name}:") else f"{name}: {message}"
    print(f"supertui: skipped {safe_text(text)}", file=sys.stderr)


_CONTROL = dict.fromkeys([*range(0x00, 0x20), *range(0x7F, 0xA0)], "\ufffd")
_CONTROL_CODES = frozenset(_CONTROL)  # every C0 and C1 control, the newline included
_CONTROL.pop(ord("\n"))
# Invisible characters that reorder or hide text (bidi overrides, zero widths): a crafted name
# could otherwise show as another one.
_CONTROL.update(dict.fromkeys([0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F),
                               *range(0x2066, 0x206A), 0xFEFF], "\ufffd"))


def safe_text(text: object) -> str:
    """Text from a run folder or a user, fit for a terminal: control characters (escape
    sequences included) and invisible reordering characters become U+FFFD, so a crafted run can
    never drive the terminal. It is plain text: never hand it to Rich as markup."""
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
