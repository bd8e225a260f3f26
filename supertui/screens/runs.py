"""Home: every saved run, newest first. Filter with /, sort by a column, mark runs to compare."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from supertui.exporting import export_in_background
from supertui.jobs import RUNNING
from supertui.messages import JobUpdated, RunsChanged
from supertui.widgets.job_queue import JobQueueTable
from supertui.widgets.runs_table import RunsTable


class RunsScreen(Screen):
    TITLE = "Runs"
    BINDINGS = [
        Binding("enter", "open_run", "Open", id="runs.open"),
        Binding("n", "app.new_run", "New run", id="runs.new"),
        Binding("slash", "filter", "Filter", id="runs.filter", key_display="/"),
        Binding("space", "mark", "Mark", id="runs.mark"),
        Binding("c", "compare", "Compare", id="runs.compare"),
        Binding("s", "sort", "Sort", id="runs.sort"),
        Binding("t", "edit_meta", "Tags/note", id="runs.edit"),
        Binding("d,delete", "delete", "Delete", id="runs.delete"),
        Binding("e", "export", "Export", id="runs.export"),
        Binding("j", "focus_queue", "Queue", id="runs.queue"),
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
        self.query_one("#filter", Input).display = False
        self.query_one(JobQueueTable).show_jobs(self.app.queue.active)
        self.reload()
        self.table.focus()

    def reload(self) -> None:
        skipped: list[str] = []
        records = self.app.store.list_runs(on_error=lambda path, msg: skipped.append(msg))
        self.table.set_records(records)
        self._update_empty()
        if skipped:
            self.notify("\n".join(skipped[:5]), title=f"Skipped {len(skipped)} unreadable run folder(s)", severity="warning")

    def _update_empty(self) -> None:
        empty = self.query_one("#runs-empty", Static)
        if not self.table.records:
            empty.update(f"No runs yet in {self.app.store.runs_dir}.\nPress [b]n[/b] to launch one, [b]?[/b] for every key.")
        elif self.table.row_count == 0:
            empty.update(f"No run matches {self.table.filter_text!r} (esc clears the filter).")
        empty.display = self.table.row_count == 0

    def marked_ids(self) -> list[str]:
        return [r.id for r in self.table.visible_records() if r.id in self.table.marked] or sorted(self.table.marked)

    # Messages ----------------------------------------------------------------------------
    def on_runs_changed(self, message: RunsChanged) -> None:
        self.reload()

    def on_job_updated(self, message: JobUpdated) -> None:
        job = message.job
        self.query_one(JobQueueTable).update_job(job)
        if job.run_id:
            status = f"running {100 * job.fraction_done:.0f}%" if job.state == RUNNING else None
            self.table.set_live_status(job.run_id, status)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if isinstance(event.data_table, RunsTable):
            self.action_open_run()
        elif isinstance(event.data_table, JobQueueTable):
            job = self.app.queue.get(int(event.row_key.value))
            if job is not None and job.run_id:
                self.app.open_run(job.run_id) if not job.active else self.app.open_job(job)

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
            return  # the queue's own RowSelected opens the job
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

    def action_mark(self) -> None:
        run_id = self.table.current_run_id
        if run_id:
            self.table.toggle_mark(run_id)
            if self.table.cursor_row < self.table.row_count - 1:
                self.table.move_cursor(row=self.table.cursor_row + 1)

    def action_compare(self) -> None:
        self.app.open_compare(self.marked_ids())

    def action_sort(self) -> None:
        self.table.sort_by(self.table.column_at_cursor())
        self.notify(f"sorted by {self.table.sort_column} ({'descending' if self.table.sort_reverse else 'ascending'})", timeout=2)

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
                tags, note = result
                self.app.store.update_meta(record.id, tags=tags, note=note)
                self.reload()

        self.app.push_screen(EditMetaScreen(record.id, record.tags, record.note), save)

    def action_delete(self) -> None:
        from supertui.screens.confirm import ConfirmScreen

        run_id = self.table.current_run_id
        if run_id is None:
            return
        job = self.app.queue.job_for_run(run_id)
        if job is not None and job.active:
            self.notify("This run is still training: open it and cancel it first.", severity="warning")
            return

        def delete(yes: bool | None) -> None:
            if yes:
                self.app.store.delete(run_id)
                self.notify(f"deleted {run_id}")
                self.reload()

        self.app.push_screen(ConfirmScreen(f"Delete run {run_id}? Its folder and arrays are removed for good.", yes="Delete"), delete)

    def action_export(self) -> None:
        ids = self.marked_ids() or ([self.table.current_run_id] if self.table.current_run_id else [])
        if ids:
            export_in_background(self.app, [self.app.store.load(i) for i in ids])
