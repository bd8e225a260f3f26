"""The queue as a table: every queued and training run of the data directory, wherever it was
started, with where it trains and how far it is. A run that ends leaves the queue (it is in the
runs table)."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from supertui.formatting import format_seconds
from supertui.live_runs import LiveRun

STATUS_STYLES = {"queued": "dim", "running": "bold cyan"}
STAGES = {"eager": "eager", "compiling": "eager, compiling", "compiled": "compiled"}


def progress_text(run: LiveRun) -> str:
    if run.status == "queued":
        return "waiting for a device"
    state = run.state
    if state.step == 0:
        return "starting"
    stage = STAGES.get(state.stage, "")
    return (f"{100 * state.fraction_done:3.0f}% {state.steps_per_second:,.0f} it/s {format_seconds(state.seconds_left)} left"
            + (f" ({stage})" if stage else ""))


class JobQueueTable(DataTable):
    """Live runs keyed by run id; the screen that holds it forwards `LiveRunUpdated` to
    `update_run`."""

    COLUMNS = ("run", "status", "where", "progress", "uses")
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def __init__(self, **kwargs):
        super().__init__(cursor_type="row", **kwargs)

    def on_mount(self) -> None:
        for column in self.COLUMNS:
            self.add_column(column, key=column)

    def show_runs(self, runs: list[LiveRun]) -> None:
        self.clear()
        for run in runs:
            if run.active:
                self.add_row(*self._cells(run), key=run.id)
        self.display = self.row_count > 0

    def update_run(self, run: LiveRun) -> None:
        if not run.active:
            if run.id in self.rows:
                self.remove_row(run.id)
        elif run.id not in self.rows:
            self.add_row(*self._cells(run), key=run.id)
        else:
            for column, value in zip(self.COLUMNS, self._cells(run)):
                self.update_cell(run.id, column, value, update_width=True)
        self.display = self.row_count > 0

    @staticmethod
    def _cells(run: LiveRun) -> list:
        return [
            Text(run.record.name),  # the short name; enter opens the run, whose title is its id
            Text(run.status, style=STATUS_STYLES.get(run.status, "")),
            Text(run.where or "–"),
            Text(progress_text(run)),
            Text(run.resources.describe() if run.resources is not None else ""),
        ]

    @property
    def current_run_id(self) -> str | None:
        if self.row_count == 0:
            return None
        key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return key.value
