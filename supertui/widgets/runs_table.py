"""The table of saved runs: filter, sort, mark for comparison. Reads manifests only (no arrays),
so hundreds of runs list instantly; rows are rebuilt from the cached records on each change."""

from __future__ import annotations

import datetime as dt
import math

from rich.text import Text
from textual.widgets import DataTable

from engine.store import RunRecord
from supertui.widgets.palette import activation_color
from supertui.widgets.sparkline import sparkline_text

SPARK_WIDTH = 12
STATUS_STYLES = {
    "running": "bold cyan",
    "completed": "green",
    "cancelled": "yellow",
    "interrupted": "magenta",
    "failed": "bold red",
}
MARK = "●"


def format_created(created: str) -> str:
    """ISO time (UTC, as saved) shown in local time, minutes precision."""
    try:
        return dt.datetime.fromisoformat(created).astimezone().strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return created or "?"


def format_loss(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.4g}"


def _sort_value(record: RunRecord, column: str):
    # Missing numbers sort last whichever the direction; tuples keep types comparable.
    if column == "loss":
        loss = record.final_loss
        return (loss is None, loss if loss is not None else 0.0)
    return {
        "id": record.id,
        "preset": record.preset,
        "activation": record.activation,
        "status": record.status,
        "created": record.created,
        "tags": ",".join(record.tags),
    }.get(column, record.id)


class RunsTable(DataTable):
    """Rows keyed by run id. `records` is the full list; `filter_text` and the sort choose what shows."""

    COLUMNS = (
        ("", "mark"),
        ("id", "id"),
        ("preset", "preset"),
        ("activation", "activation"),
        ("status", "status"),
        ("created", "created"),
        ("loss curve", "spark"),
        ("final loss", "loss"),
        ("tags", "tags"),
    )
    SORTABLE = ("id", "preset", "activation", "status", "created", "loss", "tags")
    # Under this many columns the table drops what the run id already says (preset, activation)
    # and the creation time, so the loss columns stay on screen at 80x24.
    COMPACT_BELOW = 110
    COMPACT_HIDDEN = ("preset", "activation", "created", "tags")

    def __init__(self, **kwargs):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.records: list[RunRecord] = []
        self.filter_text = ""
        self.sort_column = "created"
        self.sort_reverse = True  # newest first
        self.marked: set[str] = set()
        self.live_status: dict[str, str] = {}  # run id -> "running 42%" for runs training here
        self.compact: bool | None = None

    def on_mount(self) -> None:
        self._set_compact(self.app.size.width < self.COMPACT_BELOW)

    def on_resize(self) -> None:
        self._set_compact(self.size.width < self.COMPACT_BELOW)

    def _set_compact(self, compact: bool) -> None:
        if compact != self.compact:
            self.compact = compact
            self.clear(columns=True)
            for label, key in self.shown_columns():
                self.add_column(label, key=key)
            self.rebuild()

    def shown_columns(self) -> list[tuple[str, str]]:
        return [(label, key) for label, key in self.COLUMNS if not (self.compact and key in self.COMPACT_HIDDEN)]

    # Data --------------------------------------------------------------------------------
    def set_records(self, records: list[RunRecord]) -> None:
        self.records = records
        known = {r.id for r in records}
        self.marked &= known
        self.rebuild()

    def visible_records(self) -> list[RunRecord]:
        words = self.filter_text.lower().split()
        rows = [r for r in self.records if all(w in self._haystack(r) for w in words)]
        rows.sort(key=lambda r: _sort_value(r, self.sort_column), reverse=self.sort_reverse)
        return rows

    @staticmethod
    def _haystack(record: RunRecord) -> str:
        return " ".join([record.id, record.preset, record.activation, record.status, *record.tags, record.note]).lower()

    def rebuild(self) -> None:
        current, column = self.current_run_id, self.cursor_column
        self.clear()
        for record in self.visible_records():
            self.add_row(*self._cells(record), key=record.id)
        row = self.get_row_index(current) if current is not None and current in self.rows else 0
        self.move_cursor(row=row, column=column, animate=False)
        self._label_sorted_column()

    def _cells(self, record: RunRecord) -> list:
        status = self.live_status.get(record.id, record.status)
        note = " ✎" if record.note else ""
        cells = {
            "mark": Text(MARK if record.id in self.marked else " ", style="bold magenta"),
            "id": Text(record.id, style=activation_color(record.activation)) if self.compact else record.id,
            "preset": record.preset,
            "activation": Text(record.activation, style=activation_color(record.activation)),
            "status": Text(status, style=STATUS_STYLES.get(status.split()[0], "")),
            "created": format_created(record.created),
            "spark": Text(sparkline_text(record.summary.get("loss_sparkline") or [], SPARK_WIDTH), style="cyan"),
            "loss": Text(format_loss(record.final_loss), justify="right"),
            "tags": ", ".join(record.tags) + note,
        }
        return [cells[key] for _, key in self.shown_columns()]

    def _label_sorted_column(self) -> None:
        arrow = " ▼" if self.sort_reverse else " ▲"
        for label, key in self.shown_columns():
            column = self.columns.get(key)  # type: ignore[call-overload]
            if column is not None:
                column.label = Text(label + (arrow if key == self.sort_column else ""))
        self.refresh()

    # Queries and edits --------------------------------------------------------------------
    @property
    def current_run_id(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except Exception:
            return None
        return key.value

    def record(self, run_id: str) -> RunRecord | None:
        return next((r for r in self.records if r.id == run_id), None)

    def toggle_mark(self, run_id: str) -> None:
        self.marked ^= {run_id}
        self.update_cell(run_id, "mark", Text(MARK if run_id in self.marked else " ", style="bold magenta"))

    def sort_by(self, column: str) -> None:
        if column not in self.SORTABLE:
            return
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = column, column in ("created", "id")
        self.rebuild()

    def column_at_cursor(self) -> str:
        shown = self.shown_columns()
        return shown[self.cursor_column][1] if self.cursor_column < len(shown) else "id"

    def set_live_status(self, run_id: str, status: str | None) -> None:
        if status is None:
            self.live_status.pop(run_id, None)
        else:
            self.live_status[run_id] = status
        if run_id in self.rows and status is not None and self.columns:
            self.update_cell(run_id, "status", Text(status, style=STATUS_STYLES["running"]))
