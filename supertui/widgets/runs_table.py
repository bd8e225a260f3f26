"""The table of saved runs: filter, sort, mark for comparison, and optionally one row per sweep
that expands into its runs. Shows the store's listing (engine.store.index: no manifest is parsed,
no array loaded); a RunRecord reads the same. Everything shown comes from run folders, so it is
shown as plain text.

Ten thousand runs must paint and filter without a pause: filtering and sorting run over the
cached records (each run's search text is built once), and only a page of rows is put in the
table; the next page is added when the cursor or the scroll bar comes near the last row."""

from __future__ import annotations

import datetime as dt
import math

from rich.text import Text
from textual.widgets import DataTable

from engine.store.runs import RunRecord
from supertui.widgets.palette import activation_color
from supertui.widgets.sparkline import sparkline_text

SPARK_WIDTH = 12
STATUS_STYLES = {
    "queued": "blue",
    "running": "bold cyan",
    "completed": "green",
    "cancelled": "yellow",
    "interrupted": "magenta",
    "failed": "bold red",
}
MARK = "●"
SWEEP_ROW = "sweep:"  # row keys of sweep rows; run ids never contain ':'
EXPANDED, COLLAPSED = "▾", "▸"


PAGE = 100  # rows added to the table at a time: a screenful or two, whatever the store holds


def sweep_info(record) -> dict | None:
    """The manifest's `sweep` entry of a RunRecord or of a listing row."""
    sweep = record.manifest.get("sweep") if isinstance(record, RunRecord) else record.sweep
    return sweep if isinstance(sweep, dict) else None


def sweep_of(record) -> str | None:
    sweep = sweep_info(record)
    if sweep is not None and isinstance(sweep.get("id"), str):
        return sweep["id"]
    return None


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
    if column == "tags":
        return ",".join(record.tags)
    if column in ("preset", "activation", "status", "created"):
        return getattr(record, column)
    return record.id


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
        self._by_id: dict[str, RunRecord] = {}
        self._haystacks: dict[str, str] = {}
        self._pending: list[str] = []  # keys of the rows, in display order, not yet in the table
        self._members: dict[str, list[RunRecord]] = {}  # sweep id -> its shown runs
        self._indented: set[str] = set()  # runs shown under their sweep's row
        self.filter_text = ""
        self.sort_column = "created"
        self.sort_reverse = True  # newest first
        self.marked: set[str] = set()
        self.live_status: dict[str, str] = {}  # run id -> "running 42%" for runs training now
        self.compact: bool | None = None
        self.group_sweeps = False
        self.expanded: set[str] = set()  # sweep ids shown with their runs

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
        self._by_id = {r.id: r for r in records}
        self._haystacks = {r.id: self._haystack(r) for r in records}
        self.marked &= set(self._by_id)
        self.rebuild()

    def visible_records(self) -> list[RunRecord]:
        words = self.filter_text.lower().split()
        rows = [r for r in self.records if all(w in self._haystacks[r.id] for w in words)] if words else list(self.records)
        rows.sort(key=lambda r: _sort_value(r, self.sort_column), reverse=self.sort_reverse)
        return rows

    def _matches(self, record) -> bool:
        return all(w in self._haystack(record) for w in self.filter_text.lower().split())

    @staticmethod
    def _haystack(record: RunRecord) -> str:
        return " ".join([record.id, record.preset, record.activation, record.status, *record.tags, record.note]).lower()

    @property
    def total_rows(self) -> int:
        """Rows the filter lets through, shown or still to be added."""
        return self.row_count + len(self._pending)

    def rebuild(self) -> None:
        current, column = self.current_key, self.cursor_column
        self._pending = []
        self.clear()
        self._pending = self._rows()
        target = self._pending.index(current) if current is not None and current in self._pending else 0
        self._add_rows(target + PAGE)
        row = self.get_row_index(current) if current is not None and current in self.rows else 0
        self.move_cursor(row=row, column=column, animate=False)
        self._label_sorted_column()

    def _add_rows(self, count: int) -> None:
        # add_row can move the cursor, whose watcher would add the next page from inside this one
        page, rest = self._pending[:count], self._pending[count:]
        self._pending = []
        for key in page:
            self.add_row(*self._cells_for(key), key=key)
        self._pending = rest

    def _add_rows_near(self, row: int) -> None:
        if self._pending and row >= self.row_count - PAGE // 4:
            self._add_rows(PAGE)

    def watch_cursor_coordinate(self, old, new) -> None:
        super().watch_cursor_coordinate(old, new)
        self._add_rows_near(new.row)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if self._pending and new + self.size.height >= self.row_count - PAGE // 4:
            self._add_rows(PAGE)

    def _rows(self) -> list[str]:
        """Row keys in display order: runs, or with grouping one row per sweep (at its first
        run's place in the sort) followed by its runs when expanded. Cells are made as rows are
        added (`_cells_for`), so a long list costs only its keys."""
        records = self.visible_records()
        self._members, self._indented = {}, set()
        if not self.group_sweeps:
            return [r.id for r in records]
        for record in records:
            sweep = sweep_of(record)
            if sweep is not None:
                self._members.setdefault(sweep, []).append(record)
        rows, placed = [], set()
        for record in records:
            sweep = sweep_of(record)
            if sweep is None:
                rows.append(record.id)
            elif sweep not in placed:
                placed.add(sweep)
                rows.append(SWEEP_ROW + sweep)
                if sweep in self.expanded:
                    rows += [r.id for r in self._members[sweep]]
                    self._indented.update(r.id for r in self._members[sweep])
        return rows

    def _cells_for(self, key: str) -> list:
        if key.startswith(SWEEP_ROW):
            sweep = key[len(SWEEP_ROW):]
            return self._sweep_cells(sweep, self._members[sweep])
        return self._cells(self._by_id[key], key in self._indented)  # the record as it is now

    def _sweep_cells(self, sweep: str, records: list[RunRecord]) -> list:
        done = sum(r.status == "completed" for r in records)
        losses = [r.final_loss for r in records if isinstance(r.final_loss, (int, float)) and math.isfinite(r.final_loss)]
        axes = (sweep_info(records[0]) or {}).get("axes")
        names = ", ".join(sorted(axes)) if isinstance(axes, dict) else ""
        cells = {
            "mark": Text(EXPANDED if sweep in self.expanded else COLLAPSED, style="bold"),
            "id": Text(f"{sweep} ({len(records)} runs)", style="bold"),
            "preset": records[0].preset,
            "activation": Text(", ".join(sorted({r.activation for r in records}))),
            "status": Text(f"{done}/{len(records)} completed", style="green" if done == len(records) else "cyan"),
            "created": format_created(min(r.created for r in records)),
            "spark": Text(""),
            "loss": Text(f"best {format_loss(min(losses))}" if losses else "–", justify="right"),
            "tags": Text(f"sweeps {names}" if names else ""),
        }
        return [cells[key] for _, key in self.shown_columns()]

    def _cells(self, record: RunRecord, indent: bool = False) -> list:
        status = self.live_status.get(record.id, record.status)
        note = " ✎" if record.note else ""
        run_id = ("  " if indent else "") + record.id
        cells = {
            "mark": Text(MARK if record.id in self.marked else " ", style="bold magenta"),
            "id": Text(run_id, style=activation_color(record.activation) if self.compact else ""),
            "preset": Text(record.preset),
            "activation": Text(record.activation, style=activation_color(record.activation)),
            "status": Text(status, style=STATUS_STYLES.get(status.split()[0], "")),
            "created": format_created(record.created),
            "spark": Text(sparkline_text(record.summary.get("loss_sparkline") or [], SPARK_WIDTH), style="cyan"),
            "loss": Text(format_loss(record.final_loss), justify="right"),
            "tags": Text(", ".join(record.tags) + note),
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
    def current_key(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except Exception:
            return None
        return key.value

    @property
    def current_run_id(self) -> str | None:
        key = self.current_key
        return key if key is not None and not key.startswith(SWEEP_ROW) else None

    @property
    def current_sweep_id(self) -> str | None:
        key = self.current_key
        return key[len(SWEEP_ROW):] if key is not None and key.startswith(SWEEP_ROW) else None

    def sweep_runs(self, sweep_id: str) -> list[RunRecord]:
        return [r for r in self.records if sweep_of(r) == sweep_id]

    def toggle_grouping(self) -> None:
        self.group_sweeps = not self.group_sweeps
        self.rebuild()

    def toggle_expanded(self, sweep_id: str) -> None:
        self.expanded ^= {sweep_id}
        self.rebuild()

    def upsert(self, record: RunRecord) -> None:
        """A run that appeared or changed (queued elsewhere, finished): one row, not a reload."""
        old = self._by_id.get(record.id)
        if old is None:
            self.records.insert(0, record)
        else:
            self.records[self.records.index(old)] = record
        self._by_id[record.id] = record
        self._haystacks[record.id] = self._haystack(record)
        if record.id in self.rows and not self.group_sweeps:
            for (_, key), value in zip(self.shown_columns(), self._cells(record)):
                self.update_cell(record.id, key, value, update_width=True)
        elif old is None or self.group_sweeps or self._matches(old) != self._matches(record):
            self.rebuild()
        # else: filtered out before and after, or a row still to be added (built from the new record)

    def record(self, run_id: str) -> RunRecord | None:
        return self._by_id.get(run_id)

    def toggle_mark(self, run_id: str) -> None:
        self.marked ^= {run_id}
        if run_id in self.rows:
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
            self.update_cell(run_id, "status", Text(status, style=STATUS_STYLES["running"]), update_width=True)
