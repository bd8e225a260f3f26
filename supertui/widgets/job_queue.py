"""The queue as a table: every queued and training run of the data directory, wherever it was
started, with where it trains and how far it is. A run that ends leaves the queue (it is in the
runs table)."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from supertui.formatting import format_seconds, format_uses
from supertui.live_runs import LiveRun

STATUS_STYLES = {"queued": "dim", "running": "bold cyan"}
STAGES = {"eager": "eager", "compiling": "eager, compiling", "compiled": "compiled"}
# Where the full forms of progress and uses would leave a name less room than this, they take
# their short forms; a name still too long ends in …, so every column, `uses` the last, stays
# on an 80-column screen.
NAME_WANTED = 24
MIN_NAME = 12
SHORTEST = 2  # the last level of progress_text
CELL_PADDING = 2  # a DataTable cell has one space each side
SCROLLBAR = 2


def progress_text(run: LiveRun, level: int = 0) -> str:
    """`42% 1,234 it/s 1m15s left (eager)`; shorter at each `level` (the run view has the rest):
    1 without the stage, 2 without the speed."""
    if run.status == "queued":
        return "waiting" if level else "waiting for a device"
    state = run.state
    if state.step == 0:
        return "starting"
    done, left = f"{100 * state.fraction_done:3.0f}%", f"{format_seconds(state.seconds_left)} left"
    if level >= 2:
        return f"{done} {left}"
    stage = STAGES.get(state.stage, "") if level == 0 else ""
    return f"{done} {state.steps_per_second:,.0f} it/s {left}" + (f" ({stage})" if stage else "")


def uses_text(run: LiveRun, level: int = 0) -> str:
    """`cpu 98% · 312 MiB · gpu 87% 1.2 GiB`; from level 1: `cpu 98% 312M gpu 87% 1.2G`."""
    return format_uses(run.resources, short=level > 0)


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


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
        self._runs: dict[str, LiveRun] = {}  # the rows' runs, to draw them again at another width
        self.level = 0  # how short progress and uses are (progress_text; set by _redraw from the width)

    def on_mount(self) -> None:
        self._redraw()

    def on_resize(self) -> None:
        self._redraw()

    def _width(self) -> int:
        return self.size.width or (self.app.size.width if self.is_attached else 0)

    def show_runs(self, runs: list[LiveRun]) -> None:
        self._runs = {run.id: run for run in runs if run.active}
        self._redraw()

    def _redraw(self) -> None:
        # Shorter forms while the longer ones would leave a name less than NAME_WANTED (or whole) room.
        wanted = min(NAME_WANTED, max([len(r.record.name) for r in self._runs.values()] or [0]))
        for self.level in range(SHORTEST + 1):
            if self._name_room() >= wanted:
                break
        current = self.current_run_id
        self.clear(columns=True)  # columns keep the width of their widest cell ever: start again
        for column in self.COLUMNS:
            self.add_column(column, key=column)
        for run in self._runs.values():
            self.add_row(*self._cells(run), key=run.id)
        if current in self.rows:
            self.move_cursor(row=self.get_row_index(current), animate=False)
        self.display = self.row_count > 0

    def update_run(self, run: LiveRun) -> None:
        if not run.active:
            self._runs.pop(run.id, None)
            if run.id in self.rows:
                self.remove_row(run.id)
        elif run.id not in self.rows:
            self._runs[run.id] = run
            self._redraw()  # a new row may need the short forms
        else:
            self._runs[run.id] = run
            for column, value in zip(self.COLUMNS, self._cells(run)):
                self.update_cell(run.id, column, value, update_width=True)
        self.display = self.row_count > 0

    def _texts(self, run: LiveRun) -> list[str]:
        # the short name; enter opens the run, whose title is its id
        return [run.record.name, run.status, run.where or "–", progress_text(run, self.level), uses_text(run, self.level)]

    def _name_room(self) -> int:
        """What the name may take once the other columns have theirs (they are never cut)."""
        width = self._width()
        if not width:
            return 10**6
        others = [max([len(label), *(len(self._texts(r)[i]) for r in self._runs.values())])
                  for i, label in enumerate(self.COLUMNS) if i > 0]
        return max(MIN_NAME, width - SCROLLBAR - CELL_PADDING * len(self.COLUMNS) - sum(others))

    def _cells(self, run: LiveRun) -> list:
        name, status, where, progress, uses = self._texts(run)
        return [
            Text(clip(name, self._name_room())),
            Text(status, style=STATUS_STYLES.get(status, "")),
            Text(where),
            Text(progress),
            Text(uses),
        ]

    @property
    def current_run_id(self) -> str | None:
        if self.row_count == 0:
            return None
        key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return key.value
