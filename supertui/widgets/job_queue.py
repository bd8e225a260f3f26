"""The training queue as a table: pending and running jobs, and what became of the finished ones."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from supertui.jobs import CANCELLED, COMPLETED, FAILED, PENDING, RUNNING, Job

STATE_STYLES = {PENDING: "dim", RUNNING: "bold cyan", COMPLETED: "green", CANCELLED: "yellow", FAILED: "bold red"}


def format_seconds(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "–"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def job_progress_text(job: Job) -> str:
    if job.state == PENDING:
        return "waiting"
    p = job.progress
    if p is None:
        return "starting"
    if p.stage == "compiling":
        return "compiling"
    if job.state != RUNNING:
        return f"{p.step}/{p.steps}"
    return f"{100 * job.fraction_done:3.0f}% {p.steps_per_second:,.0f} it/s {format_seconds(p.seconds_left)} left"


class JobQueueTable(DataTable):
    """Pending and running jobs, keyed by job id; the screen that holds it forwards `JobUpdated`
    to `update_job`. A finished job leaves the queue (its run is in the runs table)."""

    def __init__(self, **kwargs):
        super().__init__(cursor_type="row", **kwargs)

    def on_mount(self) -> None:
        self.add_column("job", key="job")
        self.add_column("run", key="run")
        self.add_column("state", key="state")
        self.add_column("progress", key="progress")

    def show_jobs(self, jobs: list[Job]) -> None:
        self.clear()
        for job in jobs:
            if job.active:
                self.add_row(*self._cells(job), key=str(job.id))
        self.display = self.row_count > 0

    def update_job(self, job: Job) -> None:
        key = str(job.id)
        if not job.active:
            if key in self.rows:
                self.remove_row(key)
        elif key not in self.rows:
            self.add_row(*self._cells(job), key=key)
        else:
            for column, value in zip(("job", "run", "state", "progress"), self._cells(job)):
                self.update_cell(key, column, value, update_width=True)
        self.display = self.row_count > 0

    @staticmethod
    def _cells(job: Job) -> list:
        return [
            f"#{job.id} {job.label}",
            job.run_id or "–",
            Text(job.state, style=STATE_STYLES.get(job.state, "")),
            job_progress_text(job) if job.error is None else Text(job.error, style="red"),
        ]

    @property
    def current_job_id(self) -> int | None:
        if self.row_count == 0:
            return None
        key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return int(key.value)
