"""Home: every run of the data directory, newest first, and the queue under it (queued and
training runs, wherever they were started). Filter with /, sort by a column, mark runs to
compare, group sweeps into one row each."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from engine.errors import ConfigError, StoreError
from supertui.exporting import export_in_background
from supertui.messages import LiveRunUpdated, RunsChanged, RunsMarked
from supertui.widgets.job_queue import JobQueueTable
from supertui.widgets.run_columns import COLUMNS
from supertui.widgets.runs_table import RunsTable


class RunsScreen(Screen):
    TITLE = "Runs"
    # The footer shows the keys a newcomer needs first (it must fit 80 columns); `?` lists all.
    BINDINGS = [
        Binding("enter", "open_run", "Open", id="runs.open"),
        Binding("n", "app.new_run", "New", id="runs.new"),
        Binding("slash", "filter", "Filter", id="runs.filter", key_display="/"),
        Binding("space", "mark", "Mark", id="runs.mark"),
        Binding("c", "compare", "Compare", id="runs.compare"),
        Binding("s", "sort", "Sort by next column", id="runs.sort", show=False),
        Binding("S", "reverse_sort", "Reverse the sort", id="runs.reverse_sort", show=False),
        Binding("v", "choose_columns", "Columns", id="runs.columns", show=False),
        Binding("w", "group_sweeps", "Sweeps", id="runs.sweeps"),
        Binding("t", "edit_meta", "Name, tags and note", id="runs.edit", show=False),
        Binding("d,delete", "delete", "Delete", id="runs.delete", show=False),
        Binding("e", "export", "Export", id="runs.export", show=False),
        Binding("u", "focus_queue", "Queue (training and queued runs)", id="runs.queue", show=False),
        Binding("r", "reload", "Reload", id="runs.reload", show=False),
        Binding("escape", "clear", "Clear filter/marks", id="runs.clear", show=False),
        Binding("q", "app.quit", "Quit", id="runs.quit"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="filter: words in id, preset, activation, status, tags or note (enter to keep, esc to clear)", id="filter")
        yield RunsTable(id="runs")
        yield Static("", id="runs-empty")
        yield JobQueueTable(id="queue")
        yield Footer()

    @property
    def table(self) -> RunsTable:
        return self.query_one(RunsTable)

    def on_mount(self) -> None:
        from supertui.settings import load_settings

        columns = load_settings().get("runs_columns")
        if columns:
            self.table.chosen = [key for key in columns if key in COLUMNS] or self.table.chosen
        self.query_one("#filter", Input).display = False
        self.query_one(JobQueueTable).show_runs(self.app.live_runs.active)
        self.reload()
        self.table.focus()

    def reload(self) -> None:
        skipped: list[str] = []
        try:
            records = self.app.store.listing(on_error=lambda path, msg: skipped.append(msg))
        except (StoreError, OSError) as exc:  # the runs folder itself cannot be read
            self.notify(str(exc), title="Cannot list the runs", severity="error", markup=False)
            records = []
        self.table.set_records(records)
        self._update_empty()
        if skipped:
            self.notify("\n".join(skipped[:5]), title=f"Skipped {len(skipped)} unreadable run folder(s)",
                        severity="warning", markup=False)

    def _update_empty(self) -> None:
        empty = self.query_one("#runs-empty", Static)
        if not self.table.records:
            empty.update(Text.assemble(f"No runs yet in {self.app.store.runs_dir}.\nPress ", ("n", "bold"),
                                       " to launch one, ", ("?", "bold"), " for every key."))
        elif self.table.row_count == 0:
            empty.update(Text(f"No run matches {self.table.filter_text!r} (esc clears the filter)."))
        empty.display = self.table.row_count == 0

    def mark(self, run_ids: list[str]) -> None:
        """Mark these runs (a sweep's, from its summary screen), so compare and export use them."""
        self.table.marked = set(run_ids) & {r.id for r in self.table.records}
        self.table.rebuild()

    def marked_ids(self) -> list[str]:
        return [r.id for r in self.table.visible_records() if r.id in self.table.marked] or sorted(self.table.marked)

    # Messages ----------------------------------------------------------------------------
    def on_runs_marked(self, message: RunsMarked) -> None:
        self.mark(message.run_ids)

    def on_runs_changed(self, message: RunsChanged) -> None:
        self.reload()

    def on_live_run_updated(self, message: LiveRunUpdated) -> None:
        run = message.run
        self.query_one(JobQueueTable).update_run(run)
        live = f"running {100 * run.state.fraction_done:.0f}%" if run.status == "running" else None
        self.table.set_live_status(run.id, live)
        if not run.active or self.table.record(run.id) is None:
            self.table.upsert(run.record)
            self._update_empty()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if isinstance(event.data_table, RunsTable):
            self.action_open_run()
        elif isinstance(event.data_table, JobQueueTable):
            self.app.open_run(str(event.row_key.value))

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        if isinstance(event.data_table, RunsTable):
            self.table.sort_by(event.column_key.value)

    def on_input_changed(self, event: Input.Changed) -> None:
        self.table.filter_text = event.value
        self.table.rebuild()
        self._update_empty()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.table.focus()

    # Actions -----------------------------------------------------------------------------
    def action_open_run(self) -> None:
        if self.focused is self.query_one(JobQueueTable):
            return  # the queue's own RowSelected opens the run
        sweep_id = self.table.current_sweep_id
        if sweep_id is not None:
            from supertui.screens.sweep import SweepScreen

            records = []
            for listed in self.table.sweep_runs(sweep_id):
                try:
                    records.append(self.app.store.load(listed.id))
                except (StoreError, ConfigError) as exc:  # changed on disk since it was listed
                    self.notify(str(exc), severity="warning", markup=False)
            if records:
                self.app.push_screen(SweepScreen(sweep_id, records))
            return
        run_id = self.table.current_run_id
        if run_id:
            self.app.open_run(run_id)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_clear(self) -> None:
        box = self.query_one("#filter", Input)
        if box.value or box.display:
            box.value = ""
            box.display = False
        elif self.table.marked:
            self.table.marked.clear()
            self.table.rebuild()
        self.table.focus()

    def action_group_sweeps(self) -> None:
        self.table.toggle_grouping()
        self.table.relayout(self.table.size.width)  # a sweep's "best …" may need a wider loss column
        self.notify("one row per sweep (enter: its summary, space: its runs)" if self.table.group_sweeps
                    else "every run on its own row", timeout=3)

    def action_mark(self) -> None:
        sweep_id = self.table.current_sweep_id
        if sweep_id is not None:
            self.table.toggle_expanded(sweep_id)
            return
        run_id = self.table.current_run_id
        if run_id:
            self.table.toggle_mark(run_id)
            if self.table.cursor_row < self.table.row_count - 1:
                self.table.move_cursor(row=self.table.cursor_row + 1)

    def action_compare(self) -> None:
        self.app.open_compare(self.marked_ids())

    def action_sort(self) -> None:
        self.table.sort_by_next_column()
        self.notify(self.table.sort_description() + "; s: next column, S: reverse", timeout=2)

    def action_reverse_sort(self) -> None:
        self.table.reverse_sort()
        self.notify(self.table.sort_description(), timeout=2)

    def action_choose_columns(self) -> None:
        from supertui.screens.columns import ColumnsScreen

        def chosen(columns: list[str] | None) -> None:
            if columns is not None:
                self.table.choose_columns(columns)
                self.app.keep_setting("runs_columns", self.table.chosen)
                hidden = [COLUMNS[k].label for k in self.table.chosen if k not in self.table.shown]
                if hidden:
                    self.notify(f"no room for: {', '.join(hidden)} (a wider terminal shows them)", timeout=4)

        self.app.push_screen(ColumnsScreen(self.table.chosen), chosen)

    def action_reload(self) -> None:
        self.reload()

    def action_focus_queue(self) -> None:
        queue = self.query_one(JobQueueTable)
        if queue.display:
            queue.focus()

    def action_edit_meta(self) -> None:
        from supertui.screens.edit_meta import EditMetaScreen

        record = self.table.record(self.table.current_run_id or "")
        if record is None:
            return

        def save(result) -> None:
            if result is not None:
                tags, note, name = result
                try:
                    self.app.store.update_meta(record.id, tags=tags, note=note, name=name or None)
                except (StoreError, ConfigError, OSError) as exc:
                    self.notify(str(exc), severity="error", markup=False)
                self.reload()

        self.app.push_screen(EditMetaScreen(record.id, record.tags, record.note, record.name), save)

    def action_delete(self) -> None:
        from supertui.screens.confirm import ConfirmScreen

        run_id = self.table.current_run_id
        if run_id is None:
            return
        live = self.app.live_runs.get(run_id)
        if live is not None and live.status == "running":
            self.notify("This run is training: open it and cancel it (x) first.", severity="warning")
            return

        def delete(yes: bool | None) -> None:
            if yes:
                try:
                    self.app.store.delete(run_id)
                except (StoreError, ConfigError, OSError) as exc:
                    self.notify(str(exc), severity="error", markup=False)
                else:
                    self.notify(f"deleted {run_id}", markup=False)
                self.reload()

        self.app.push_screen(ConfirmScreen(f"Delete run {run_id}? Its folder and arrays are removed for good.", yes="Delete"), delete)

    def action_export(self) -> None:
        ids = self.marked_ids() or ([self.table.current_run_id] if self.table.current_run_id else [])
        if ids:
            try:
                records = [self.app.store.load(i) for i in ids]
            except (StoreError, ConfigError) as exc:
                self.notify(str(exc), severity="error", markup=False)
                return
            export_in_background(self.app, records)
