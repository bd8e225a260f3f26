"""The table of saved runs: filter, sort, mark for comparison, and optionally one row per sweep
that expands into its runs. Shows the store's listing (engine.store.index: no manifest is parsed,
no array loaded); a RunRecord reads the same. Everything shown comes from run folders, so it is
shown as plain text.

Ten thousand runs must paint and filter without a pause: filtering and sorting run over the
cached records (each run's search text is built once), and only a page of rows is put in the
table; the next page is added when the cursor or the scroll bar comes near the last row."""

from __future__ import annotations

import math

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from engine.store.runs import RunRecord
from supertui.widgets.run_columns import (COLUMNS, DEFAULT_COLUMNS, STATUS_STYLES, cell_width, clip, fit_columns,
                                          format_created, format_loss, styled)

__all__ = ["RunsTable", "STATUS_STYLES", "format_created", "format_loss"]

MARK = "●"
SWEEP_ROW = "sweep:"  # row keys of sweep rows; run ids never contain ':'
EXPANDED, COLLAPSED = "▾", "▸"
SCROLLBAR = 2  # columns the vertical scroll bar may take


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


class RunsTable(DataTable):
    """Rows keyed by run id. `records` is the full list; `filter_text` and the sort choose what shows."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

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
        self.chosen: list[str] = list(DEFAULT_COLUMNS)  # the person's columns, in order (the chooser sets them)
        self.shown: list[str] = []  # those that fit the width now
        self.widths: dict[str, int] = {}
        self.group_sweeps = False
        self.expanded: set[str] = set()  # sweep ids shown with their runs

    def on_mount(self) -> None:
        self.relayout(self.app.size.width)

    def on_resize(self) -> None:
        self.relayout(self.size.width)

    def choose_columns(self, chosen: list[str]) -> None:
        self.chosen = [key for key in chosen if key in COLUMNS] or list(DEFAULT_COLUMNS)
        self.relayout(self.size.width or self.app.size.width, force=True)

    def relayout(self, width: int, force: bool = False) -> None:
        """Give each chosen column the width its cells need (numbers whole), and keep those that fit."""
        widths = {key: cell_width(COLUMNS[key], self._column_texts(key)) for key in self.chosen}
        room = width - SCROLLBAR - (1 + 2)  # the mark column
        shown = fit_columns(self.chosen, widths, room)
        spare = room - sum(widths[k] + 2 for k in shown)
        for key in ("tags", "name", "note"):  # text that was shortened takes what is left
            if key in shown and spare > 0:
                full = max([len(t) for t in self._column_texts(key)] or [0])
                extra = min(spare, max(full - widths[key], 0))
                widths[key] += extra
                spare -= extra
        if force or shown != self.shown or any(widths[k] != self.widths.get(k) for k in shown):
            self.shown, self.widths = shown, widths
            self.clear(columns=True)
            self.add_column("", key="mark", width=1)
            for key in shown:
                self.add_column(COLUMNS[key].label, key=key, width=widths[key])
            self.rebuild()

    def _column_texts(self, key: str) -> list[str]:
        column = COLUMNS[key]
        if key == "spark":
            return []
        texts = [column.cell(r) for r in self.records]
        if key == "status":
            texts += ["running 100%"]  # room for a live run's percentage before it starts: it is never cut
        if key == "loss" and self.group_sweeps:
            texts += [f"best {t}" for t in texts]
        if key in ("name", "tags") and self.group_sweeps:  # what a sweep's own row says there
            sweeps = {sweep_of(r): r for r in self.records if sweep_of(r)}
            texts += [f"{sweep} (00 runs)" if key == "name" else "sweeps " + ", ".join(sorted(
                (sweep_info(r) or {}).get("axes") or {})) for sweep, r in sweeps.items()]
        return texts

    def shown_columns(self) -> list[tuple[str, str]]:
        return [("", "mark")] + [(COLUMNS[key].label, key) for key in self.shown]

    # Data --------------------------------------------------------------------------------
    def set_records(self, records: list[RunRecord]) -> None:
        self.records = records
        self._by_id = {r.id: r for r in records}
        self._haystacks = {r.id: self._haystack(r) for r in records}
        self.marked &= set(self._by_id)
        if self.is_mounted:
            self.relayout(self.size.width or self.app.size.width, force=True)  # rebuilds
        else:
            self.rebuild()

    def visible_records(self) -> list[RunRecord]:
        words = self.filter_text.lower().split()
        rows = [r for r in self.records if all(w in self._haystacks[r.id] for w in words)] if words else list(self.records)
        column = COLUMNS.get(self.sort_column, COLUMNS["name"])
        keyed = [(column.sort_value(r), r) for r in rows]
        present = [(v, r) for v, r in keyed if v is not None and v != ""]
        missing = [r for v, r in keyed if v is None or v == ""]  # last, whichever the direction
        try:
            present.sort(key=lambda item: item[0], reverse=self.sort_reverse)
        except TypeError:  # a field of mixed types across runs: compare as text
            present.sort(key=lambda item: str(item[0]), reverse=self.sort_reverse)
        return [r for _, r in present] + missing

    def _matches(self, record) -> bool:
        return all(w in self._haystack(record) for w in self.filter_text.lower().split())

    @staticmethod
    def _haystack(record: RunRecord) -> str:
        return " ".join([record.id, record.name, record.preset, record.activation, record.status, *record.tags,
                         record.note]).lower()

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
        texts = {
            "name": f"{sweep} ({len(records)} runs)",
            "id": sweep,
            "preset": records[0].preset,
            "activation": ", ".join(sorted({r.activation for r in records})),
            "status": f"{done}/{len(records)} done",
            "created": format_created(min(r.created for r in records)),
            "loss": f"best {format_loss(min(losses))}" if losses else "–",
            "tags": f"sweeps {names}" if names else "",
        }
        cells = [Text(EXPANDED if sweep in self.expanded else COLLAPSED, style="bold")]
        for key in self.shown:
            text = texts.get(key, "")
            if key == "status":
                cells.append(Text(text, style="green" if done == len(records) else "cyan"))
            elif key == "name":
                cells.append(Text(clip(text, self.widths[key]), style="bold"))
            else:
                cells.append(Text(text, justify="right") if COLUMNS[key].number else Text(clip(text, self.widths[key])))
        return cells

    def _cells(self, record: RunRecord, indent: bool = False) -> list:
        cells = [Text(MARK if record.id in self.marked else " ", style="bold magenta")]
        for key in self.shown:
            cells.append(self._cell(record, key, indent))
        return cells

    def _cell(self, record, key: str, indent: bool = False) -> Text:
        column, width = COLUMNS[key], self.widths[key]
        if key == "status":
            status = self.live_status.get(record.id, record.status)
            return Text(clip(status, width), style=STATUS_STYLES.get(status.split()[0], ""))
        if key == "name" and indent:
            return styled(column, record, width, "  " + column.cell(record))
        return styled(column, record, width)

    def _label_sorted_column(self) -> None:
        arrow = " ▼" if self.sort_reverse else " ▲"
        for _, key in self.shown_columns()[1:]:
            column = self.columns.get(key)  # type: ignore[call-overload]
            if column is not None:
                label = COLUMNS[key].label + (arrow if key == self.sort_column else "")
                column.label = Text(label, justify="right" if COLUMNS[key].number else "left")
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
            if any(len(COLUMNS[k].cell(record)) > self.widths[k] for k in self.shown if COLUMNS[k].number):
                self.relayout(self.size.width, force=True)  # a number needs more room than its column has
                return
            for (_, key), value in zip(self.shown_columns(), self._cells(record)):
                self.update_cell(record.id, key, value)
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
        """Sort by this column; again by the same one reverses."""
        if column not in COLUMNS:
            return
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = column, column == "created"  # newest first, else lowest first
        self.rebuild()

    def sort_by_next_column(self) -> None:
        """`s`: the sort moves one shown column to the right (wrapping)."""
        keys = self.shown or list(DEFAULT_COLUMNS)
        i = keys.index(self.sort_column) if self.sort_column in keys else -1
        self.sort_by(keys[(i + 1) % len(keys)])

    def reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self.rebuild()

    def sort_description(self) -> str:
        label = COLUMNS[self.sort_column].label if self.sort_column in COLUMNS else self.sort_column
        return f"sorted by {label} ({'descending' if self.sort_reverse else 'ascending'})"

    def set_live_status(self, run_id: str, status: str | None) -> None:
        if status is None:
            self.live_status.pop(run_id, None)
        else:
            self.live_status[run_id] = status
        if run_id in self.rows and status is not None and "status" in self.shown:
            self.update_cell(run_id, "status", Text(clip(status, self.widths["status"]), style=STATUS_STYLES["running"]))
