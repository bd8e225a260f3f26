"""The training queue: jobs train one at a time in a thread worker, never on the event loop.

A worker calls `engine.runner.run_experiment`, whose `should_stop` is polled every training
step, so cancelling stops within one step and the run is saved as cancelled. Everything the
worker learns goes back through `app.post_message`; the app then calls `apply_*` on the
`Job` from the main thread, so job state is only ever touched by one thread.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from engine.config import RunConfig
from engine.runner import run_experiment
from engine.store import RunStore
from engine.train import TrainProgress
from supertui.messages import JobFailed, JobFinished, JobProgress, JobStarted, JobWarning

if TYPE_CHECKING:
    from textual.app import App

PROGRESS_INTERVAL = 0.25  # seconds between progress reports: at most four redraws a second
HISTORY_POINTS = 400  # loss-history rows a live job keeps, however long it trains
WORKER_GROUP = "training"

PENDING, RUNNING, COMPLETED, CANCELLED, FAILED = "pending", "running", "completed", "cancelled", "failed"
ACTIVE = (PENDING, RUNNING)


class BoundedHistory:
    """A loss history that never grows past `limit` rows: when full it keeps every other row
    and from then on records half as often, so the whole run stays visible at lower resolution."""

    def __init__(self, limit: int = HISTORY_POINTS):
        self.limit = limit
        self.steps: list[int] = []
        self.rows: list[np.ndarray] = []  # each [K]
        self._stride = 1
        self._seen = 0

    def __len__(self) -> int:
        return len(self.steps)

    def add(self, step: int, losses: np.ndarray) -> None:
        self._seen += 1
        if (self._seen - 1) % self._stride:
            return
        self.steps.append(int(step))
        self.rows.append(np.asarray(losses, dtype=np.float32))
        if len(self.steps) >= self.limit:
            self.steps, self.rows = self.steps[::2], self.rows[::2]
            self._stride *= 2

    def as_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """steps [T], losses [T, K]."""
        if not self.rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        return np.asarray(self.steps), np.stack(self.rows)


@dataclass(eq=False)
class Job:
    id: int
    config: RunConfig
    state: str = PENDING
    run_id: str | None = None
    progress: TrainProgress | None = None
    history: BoundedHistory = field(default_factory=BoundedHistory)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)

    @property
    def label(self) -> str:
        return f"{self.config.preset}/{self.config.activation}"

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def fraction_done(self) -> float:
        if self.progress is None:
            return 0.0
        return self.progress.step / max(1, self.progress.steps)

    # Called on the main thread only (by the app, from the worker's messages).
    def apply_progress(self, progress: TrainProgress) -> None:
        self.progress = progress
        if progress.stage != "compiling" and np.isfinite(progress.losses).any():
            self.history.add(progress.step, progress.losses)


class JobQueue:
    """Pending and running jobs, trained one at a time (a second model on the same device would
    only halve the speed of the first)."""

    def __init__(self, app: "App", store: RunStore):
        self.app = app
        self.store = store
        self.jobs: list[Job] = []
        self._ids = itertools.count(1)

    def get(self, job_id: int) -> Job | None:
        return next((job for job in self.jobs if job.id == job_id), None)

    def job_for_run(self, run_id: str) -> Job | None:
        return next((job for job in self.jobs if job.run_id == run_id), None)

    @property
    def running(self) -> Job | None:
        return next((job for job in self.jobs if job.state == RUNNING), None)

    @property
    def active(self) -> list[Job]:
        return [job for job in self.jobs if job.active]

    def submit(self, configs: list[RunConfig]) -> list[Job]:
        new = [Job(next(self._ids), config) for config in configs]
        self.jobs.extend(new)
        self._start_next()
        return new

    def cancel(self, job: Job) -> None:
        """A pending job is dropped; a running one stops within a step and is saved as cancelled."""
        if job.state == PENDING:
            job.state = CANCELLED
        elif job.state == RUNNING:
            job.stop_event.set()

    def cancel_all(self) -> None:
        for job in self.jobs:
            self.cancel(job)

    def _start_next(self) -> None:
        if self.running is not None:
            return
        job = next((job for job in self.jobs if job.state == PENDING), None)
        if job is None:
            return
        job.state = RUNNING
        self.app.run_worker(
            lambda: self._train(job), name=f"job-{job.id}", group=WORKER_GROUP, thread=True, exit_on_error=False
        )

    # The worker thread: post_message only.
    def _train(self, job: Job) -> None:
        post = self.app.post_message
        try:
            record = run_experiment(
                job.config,
                self.store,
                on_created=lambda run_id: post(JobStarted(job.id, run_id)),
                on_progress=lambda progress: post(JobProgress(job.id, progress)),
                should_stop=job.stop_event.is_set,
                on_warning=lambda text: post(JobWarning(job.id, text)),
                progress_interval=PROGRESS_INTERVAL,
            )
        except Exception as exc:  # the run is already saved as failed; show why
            post(JobFailed(job.id, f"{type(exc).__name__}: {exc}"))
        else:
            post(JobFinished(job.id, record.id, record.status))

    # Main thread: the app forwards its worker messages here.
    def on_started(self, message: JobStarted) -> Job | None:
        job = self.get(message.job_id)
        if job:
            job.run_id = message.run_id
        return job

    def on_progress(self, message: JobProgress) -> Job | None:
        job = self.get(message.job_id)
        if job:
            job.apply_progress(message.progress)
        return job

    def on_warning(self, message: JobWarning) -> Job | None:
        job = self.get(message.job_id)
        if job:
            job.warnings.append(message.text)
        return job

    def on_finished(self, message: JobFinished) -> Job | None:
        job = self.get(message.job_id)
        if job:
            job.run_id = message.run_id
            job.state = COMPLETED if message.status == "completed" else CANCELLED
        self._start_next()
        return job

    def on_failed(self, message: JobFailed) -> Job | None:
        job = self.get(message.job_id)
        if job:
            job.state, job.error = FAILED, message.error
        self._start_next()
        return job

    async def wait_idle(self) -> None:
        """Wait for the running worker to save its run and stop (after a cancel)."""
        for worker in list(self.app.workers):
            if worker.group == WORKER_GROUP and not worker.is_finished:
                try:
                    await worker.wait()
                except Exception:
                    pass
