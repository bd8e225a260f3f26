"""One sweep: what it varied and what it found. Final loss and the experiment's headline metric
against the first swept field (one curve per value of the second), and every run with its swept
values. `c` compares the sweep's runs, `e` writes the summary as a PNG, enter opens a run."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from engine.store.runs import RunRecord
from engine.sweeps.summary import SweepSummary, summarize, summary_curves, x_labels
from supertui.messages import LiveRunUpdated, RunsMarked
from supertui.widgets.runs_table import format_loss
from supertui.widgets.sweep_plot import SweepPlot


def format_value(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class SweepScreen(Screen):
    BINDINGS = [
        Binding("enter", "open_run", "Open run", id="sweep.open"),
        Binding("c", "compare", "Compare runs", id="sweep.compare"),
        Binding("e", "export", "Export PNG", id="sweep.export"),
        Binding("escape,q", "back", "Back", id="sweep.back"),
    ]

    def __init__(self, sweep_id: str, records: list[RunRecord]):
        super().__init__()
        self.sweep_id = sweep_id
        self.records = records
        self.summary: SweepSummary | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="sweep-status")
        with Horizontal(id="sweep-plots"):
            with Vertical(classes="pane", id="pane-sweep-loss"):
                yield SweepPlot(id="sweep-loss")
            with Vertical(classes="pane", id="pane-sweep-headline"):
                yield SweepPlot(id="sweep-headline")
        yield DataTable(id="sweep-runs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = self.sweep_id
        self.sub_title = f"sweep of {len(self.records)} runs"
        self.query_one("#pane-sweep-loss").border_title = "final loss (log)"
        self.redraw()
        self.query_one("#sweep-runs").focus()

    def redraw(self) -> None:
        self.summary = summary = summarize(self.sweep_id, self.records)
        x_axis, group_axis = summary.x_axis, summary.group_axis
        done = sum(row.status == "completed" for row in summary.rows)
        status = Text.assemble((f"{done}/{len(summary.rows)} completed", "bold"),
                               f"   swept: {', '.join(summary.axes) or '-'}")
        if x_axis:
            status.append(f"   x: {x_axis}" + (f", one curve per {group_axis}" if group_axis else ""), style="dim")
        self.query_one("#sweep-status", Static).update(status)
        self.query_one("#pane-sweep-headline").border_title = summary.headline_label
        ticks = x_labels(summary)
        self.query_one("#sweep-loss", SweepPlot).update_curves(
            summary_curves(summary, "final_loss"), x_label=x_axis or "", x_ticks=ticks, log_y=True)
        self.query_one("#sweep-headline", SweepPlot).update_curves(
            summary_curves(summary, "headline"), x_label=x_axis or "", x_ticks=ticks)
        self._fill_table(summary)

    def _fill_table(self, summary: SweepSummary) -> None:
        table = self.query_one("#sweep-runs", DataTable)
        table.clear(columns=True)
        table.add_column("run", key="run")
        for axis in summary.axes:
            table.add_column(axis, key=f"axis:{axis}")
        for label in ("status", "final loss", "headline"):
            table.add_column(label, key=label)
        for row in summary.rows:
            table.add_row(Text(row.run_id), *[Text(format_value(row.axes.get(a, "–"))) for a in summary.axes],
                          Text(row.status), Text(format_loss(row.final_loss), justify="right"),
                          Text(format_loss(row.headline), justify="right"), key=row.run_id)

    def on_live_run_updated(self, message: LiveRunUpdated) -> None:
        if not message.run.active and any(r.id == message.run.id for r in self.records):
            self.records = [message.run.record if r.id == message.run.id else r for r in self.records]
            self.redraw()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_run(str(event.row_key.value))

    def action_open_run(self) -> None:
        table = self.query_one("#sweep-runs", DataTable)
        if table.row_count:
            key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
            self.app.open_run(str(key.value))

    def action_compare(self) -> None:
        ids = [r.id for r in self.records if r.has_arrays]
        for screen in self.app.screen_stack:
            screen.post_message(RunsMarked(ids))  # back on the runs table the sweep's runs stay marked
        self.app.open_compare(ids)

    def action_export(self) -> None:
        from supertui.exporting import export_sweep_in_background

        export_sweep_in_background(self.app, self.sweep_id, self.records)

    def action_back(self) -> None:
        self.dismiss()
