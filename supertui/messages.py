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
class _DataMessage(Message):
    bubble = False  # the app forwards them to each screen itself; a bubbling copy would loop

    def __post_init__(self) -> None:
        super().__init__()


# From a training worker (thread) to the app.
@dataclass(eq=False)
class JobStarted(_DataMessage):
    job_id: int
    run_id: str


@dataclass(eq=False)
class JobProgress(_DataMessage):
    job_id: int
    progress: "TrainProgress"


@dataclass(eq=False)
class JobWarning(_DataMessage):
    job_id: int
    text: str


@dataclass(eq=False)
class JobFinished(_DataMessage):
    job_id: int
    run_id: str
    status: str  # "completed" | "cancelled"


@dataclass(eq=False)
class JobFailed(_DataMessage):
    job_id: int
    error: str


# From the app to its screens.
@dataclass(eq=False)
class JobUpdated(_DataMessage):
    """A job changed state or made progress; `job` is already up to date."""

    job: "Job"


@dataclass(eq=False)
class RunsChanged(_DataMessage):
    """Saved runs were added, deleted or edited: lists of runs should reload."""


@dataclass(eq=False)
class ExportFinished(_DataMessage):
    """From the export worker to the app: what was written, or why not."""

    paths: list
    out_dir: str
    error: str | None = None
