"""Messages between the app and its screens.

The app follows the data directory's live runs (supertui.live_runs) on its own event loop and
tells every screen what changed; background workers (export) talk back only through
`post_message`, the one thread-safe call, so no widget ever reads state a thread is writing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from supertui.live_runs import LiveRun


@dataclass(eq=False)
class _DataMessage(Message, bubble=False):
    """Message.__post_init__ does Message's own setup, so these can be plain dataclasses.
    None bubble: the app forwards them to each screen itself, and a bubbling copy would loop."""


@dataclass(eq=False)
class LiveRunUpdated(_DataMessage, bubble=False):
    """A queued or training run made progress or changed status; `run` is already up to date
    (an ended run carries its final record and `run.active` is False)."""

    run: "LiveRun"


@dataclass(eq=False)
class RunsChanged(_DataMessage, bubble=False):
    """Saved runs were added, deleted or edited: lists of runs should reload."""


@dataclass(eq=False)
class RunsMarked(_DataMessage, bubble=False):
    """Mark these runs wherever runs are listed (a sweep's runs, as its summary screen compares
    them), so that back on the runs table compare and export use them."""

    run_ids: list


@dataclass(eq=False)
class ExportFinished(_DataMessage, bubble=False):
    """From the export worker to the app: what was written, or why not."""

    paths: list
    out_dir: str
    error: str | None = None
