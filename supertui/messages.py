"""Messages between the training workers, the app and its screens.

Workers run in threads and talk to the interface only through `post_message` (the one
thread-safe call); the app applies each message to its `Job` on the main thread, then tells
every screen with `JobUpdated`, so no widget ever reads state a thread is writing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from engine.train import TrainProgress
    from supertui.jobs import Job


@dataclass(eq=False)
class _DataMessage(Message, bubble=False):
    """Message.__post_init__ does Message's own setup, so these can be plain dataclasses.
    None bubble: the app forwards them to each screen itself, and a bubbling copy would loop."""


# From a training worker (thread) to the app.
@dataclass(eq=False)
class JobStarted(_DataMessage, bubble=False):
    job_id: int
    run_id: str


@dataclass(eq=False)
class JobProgress(_DataMessage, bubble=False):
    job_id: int
    progress: "TrainProgress"


@dataclass(eq=False)
class JobWarning(_DataMessage, bubble=False):
    job_id: int
    text: str


@dataclass(eq=False)
class JobFinished(_DataMessage, bubble=False):
    job_id: int
    run_id: str
    status: str  # "completed" | "cancelled"


@dataclass(eq=False)
class JobFailed(_DataMessage, bubble=False):
    job_id: int
    error: str


# From the app to its screens.
@dataclass(eq=False)
class JobUpdated(_DataMessage, bubble=False):
    """A job changed state or made progress; `job` is already up to date."""

    job: "Job"


@dataclass(eq=False)
class RunsChanged(_DataMessage, bubble=False):
    """Saved runs were added, deleted or edited: lists of runs should reload."""


@dataclass(eq=False)
class ExportFinished(_DataMessage, bubble=False):
    """From the export worker to the app: what was written, or why not."""

    paths: list
    out_dir: str
    error: str | None = None
