"""One run, live while it trains and the same once saved: the panes its experiment names, in
its order (keys 1..N), fed from one data source.

Where the data come from (a live run tailed through the store, or the saved run) is
`supertui.run_source.RunSource`; what each pane draws is `supertui.panes`. Live data arrive as
`LiveRunUpdated` messages (about four a second); the screen only marks itself dirty and redraws on
a timer, so a burst of messages never means a burst of redraws.
"""

from __future__ import annotations

import time

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from engine.experiments import experiment_for
from engine.export.smoothing import SMOOTHING_STEPS
from engine.science.metrics import point_rows
from engine.store.runs import RunRecord
from supertui.exporting import export_in_background
from supertui.live_runs import LiveRun
from supertui.messages import LiveRunUpdated
from supertui.panes import PANES, PaneContext
from supertui.run_model import Selection, describe_instance
from supertui.run_source import RunSource
from supertui.screens.reference_path import ask_reference
from supertui.widgets.heatmap import HeatMap
from supertui.widgets.phase_grid import PhaseGrid
from supertui.widgets.scrubber import Scrubber

REDRAW_INTERVAL = 0.25  # seconds: at most four redraws a second, however fast progress arrives
MAX_PANES = 6  # keys 1..6


class RunViewScreen(Screen):
    BINDINGS = [
        Binding("right_square_bracket", "density(1)", "Density", id="run.next_density", key_display="]"),
        Binding("left_square_bracket", "density(-1)", "Previous density", id="run.prev_density", key_display="[", show=False),
        Binding("right_curly_bracket", "seed(1)", "Next seed", id="run.next_seed", key_display="}", show=False),
        Binding("left_curly_bracket", "seed(-1)", "Previous seed", id="run.prev_seed", key_display="{", show=False),
        Binding("full_stop", "scrub(1)", "Later W", id="run.scrub_forward", key_display=".", show=False),
        Binding("comma", "scrub(-1)", "Earlier W", id="run.scrub_back", key_display=",", show=False),
        Binding("g", "latest", "Latest W", id="run.latest", show=False),
        Binding("x", "cancel_run", "Cancel", id="run.cancel"),
        Binding("j", "running_job", "Next live run", id="run.running_job", show=False),
        Binding("e", "export", "Export", id="run.export"),
        Binding("f", "refine", "Refine phase boundary", id="run.refine", show=False),
        Binding("z", "zoom", "Zoom", id="run.zoom", show=False),
        Binding("o", "reference", "Reference", id="run.reference"),
        Binding("m", "smoothing", "Smoothing", id="run.smoothing", show=False),
        Binding("y", "log_y", "Log/linear loss", id="run.log_y", show=False),
        Binding("t", "wall_time", "Step/wall time", id="run.wall_time", show=False),
        *[Binding(str(i + 1), f"pane({i})", f"Pane {i + 1}", id=f"run.pane_{i + 1}", show=False) for i in range(MAX_PANES)],
        Binding("escape,q", "back", "Back", id="run.back"),
    ]

    def __init__(self, record: RunRecord, live: LiveRun | None = None):
        super().__init__()
        self.source = RunSource(record, live, on_error=lambda message: self.notify(message, severity="error", markup=False))
        self.config = self.source.config
        self.experiment = experiment_for(self.config)
        self.panes = [PANES[pane_id]() for pane_id in self.experiment.panes[:MAX_PANES]]
        self.selection = Selection().moved(self.config)
        self.scrub: int | None = None  # snapshot index; None: the latest weights
        self._dirty = True
        self._drawn_at = 0.0  # time.monotonic() of the last redraw
        self.current_pane = 0  # the pane keys 1..N picked (the one shown on a narrow terminal)
        self._could_jump: bool | None = None  # whether "j: next live run" applied at the last footer redraw

    @property
    def record(self) -> RunRecord:
        return self.source.record

    @property
    def live_run(self) -> LiveRun | None:
        return self.source.live_run

    @property
    def live(self) -> bool:
        return self.source.live

    @property
    def run_id(self) -> str | None:
        return self.source.run_id

    # Layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="run-status")
        yield Static("", id="pane-tabs")
        with Container(id="panes", classes=f"panes-{len(self.panes)}"):
            for i, pane in enumerate(self.panes):
                # Five panes in three columns: the last one takes the free cell beside it too.
                wide = len(self.panes) == 5 and i == 4
                with Vertical(classes="pane -span" if wide else "pane", id=f"pane-{pane.id}") as container:
                    pane.container = container
                    yield from pane.widgets()
        yield Scrubber(id="scrubber")
        yield Footer()

    def on_mount(self) -> None:
        self.title = self.run_id
        self.sub_title = f"{self.config.preset} · {self.config.activation}"
        for pane in self.panes:
            pane.set_title(pane.title)
        self.call_after_refresh(self._fit_titles)  # once the panes have their widths
        if self.pane("loss") is not None:
            self.pane("loss").container.border_subtitle = self.pane("loss").HINT
        self.set_interval(REDRAW_INTERVAL, self._redraw_if_dirty)
        self.redraw()
        self.action_pane(0)  # the first tab: what the narrow view shows is what its tab bar says
        if self.focused is None and not self.has_class("-narrow") and not self.app.has_class("-narrow"):
            # wide, every pane shows: the keys go to the first pane that takes them (WᵀW's cells)
            focusable = [w for p in self.panes for w in p.container.query("*") if w.can_focus]
            if focusable:
                focusable[0].focus()

    def pane(self, pane_id: str):
        """The pane of that id in this view, or None when the experiment shows none."""
        return next((p for p in self.panes if p.id == pane_id), None)

    # Drawing ------------------------------------------------------------------------------
    def _redraw_if_dirty(self) -> None:
        # Under a dialog (help, confirm) the view waits: drawing what the dimmed background shows
        # would take the time the dialog needs to answer keys.
        if self._dirty and self.is_current:
            self.redraw()

    def redraw(self) -> None:
        self._dirty, self._drawn_at = False, time.monotonic()
        status = self.query_one("#run-status", Static)
        status.update(self.source.status(status.content_region.width or None))
        data = self.source.data(self.scrub)
        rows = [] if data.W is None else point_rows(data.instances, data.W, data.losses, self.experiment.point_metrics)
        ctx = PaneContext(data, self.experiment, self.selection, describe_instance(self.config, self.selection), rows,
                          self.source.progress_step(), self._initial_W())
        for pane in self.panes:
            pane.update(ctx)
        scrubber = self.query_one(Scrubber)
        if data.snapshot_steps is not None:
            scrubber.set_steps(data.snapshot_steps, self.config.steps)
        else:
            scrubber.set_steps(np.zeros(0), self.config.steps, live=True)

    def _initial_W(self) -> np.ndarray | None:
        """W at step 0 of a saved run (its first snapshot), for the panes that ask where seeds started."""
        arrays = self.source.arrays()
        if arrays is None or not len(arrays.snapshot_steps) or int(arrays.snapshot_steps[0]) != 0:
            return None
        return arrays.snapshots[0]

    def _select(self, selection: Selection) -> None:
        if selection != self.selection:
            self.selection = selection
            self.redraw()

    # Messages -----------------------------------------------------------------------------
    def on_live_run_updated(self, message: LiveRunUpdated) -> None:
        if message.run.id != self.run_id:
            self._refresh_jump_hint()
            return
        if self.source.refresh(self.app.store):
            self.refresh_bindings()
        self._dirty = True
        if time.monotonic() - self._drawn_at >= REDRAW_INTERVAL:
            self._redraw_if_dirty()  # nothing drawn for a while (the first loss point): draw it now

    def _refresh_jump_hint(self) -> None:
        """Redraw the footer only when "j: next live run" comes or goes: a footer redraw on every
        progress tick of every other run would keep the app too busy to answer keys."""
        can_jump = bool(self._other_training_runs())
        if can_jump != self._could_jump:
            self._could_jump = can_jump
            self.refresh_bindings()

    def on_resize(self) -> None:
        self._dirty = True  # the status line fits itself to the new width
        self.call_after_refresh(self._fit_titles)

    def _fit_titles(self) -> None:
        for pane in self.panes:
            pane.fit_static_title()

    def on_unmount(self) -> None:
        self.source.close()

    def on_phase_grid_point_selected(self, message: PhaseGrid.PointSelected) -> None:
        if self.config.point_layout == "pairs":  # a refinement level: its point nearest the cell (in log)
            s, r = np.log10(self.config.densities), np.log10(self.config.relative_importances)
            point = int(np.argmin((s - np.log10(message.density)) ** 2 + (r - np.log10(message.relative_importance)) ** 2))
            self._select(self.selection.at_point(self.config, point))
            return
        self._select(Selection((message.density_index, message.importance_index), self.selection.seed))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "points" and event.cursor_row is not None and event.cursor_row >= 0:
            self._select(self.selection.at_point(self.config, event.cursor_row))

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "cancel_run":
            return self.source.active  # hidden once the run has ended
        if action == "running_job":
            return True if self._other_training_runs() else None
        if action in ("scrub", "latest"):
            return True if self.source.arrays() is not None else None
        if action == "pane":
            return bool(parameters) and parameters[0] < len(self.panes)
        if action == "reference":
            return self.pane("dstar") is not None  # hidden where there is no D* pane
        if action == "refine":
            return self.config.preset == "phase" or None  # a phase run only
        if action in ("smoothing", "log_y", "wall_time"):
            return self.pane("loss") is not None
        return True

    def on_scrubber_moved(self, message: Scrubber.Moved) -> None:
        self.scrub = message.position
        self.redraw()

    # Actions ------------------------------------------------------------------------------
    def action_density(self, delta: int) -> None:
        self._select(self.selection.moved(self.config, axis=0, delta=delta))

    def action_seed(self, delta: int) -> None:
        self._select(self.selection.moved(self.config, seed=delta))

    def action_scrub(self, delta: int) -> None:
        if self.source.arrays() is None:
            self.notify("Replay works once W snapshots are saved (at the end of training).", timeout=3)
            return
        self.query_one(Scrubber).move(delta)

    def action_latest(self) -> None:
        self.query_one(Scrubber).latest()

    def action_cancel_run(self) -> None:
        if not self.source.active:
            self.notify("This run is not queued or training.", timeout=3)
            return
        from supertui.screens.confirm import ConfirmScreen

        def cancel(yes: bool | None) -> None:
            if not yes or not self.source.active:
                return
            outcome = self.app.live_runs.cancel(self.run_id)
            self.notify("Cancelled before it started." if outcome == "cancelled"
                        else "Cancelling: the run stops after its step and is kept as cancelled.")
            self._dirty = True

        # Like delete (d), it asks first: a training run's hours are not undone by a key.
        doing = "training" if self.live_run is not None and self.live_run.status == "running" else "queued"
        self.app.push_screen(ConfirmScreen(f"Cancel run {self.run_id}? It is {doing}; it stops after its step and "
                                           "is kept as cancelled (its weights so far are saved).", yes="Cancel run",
                                           no="Keep training" if doing == "training" else "Keep it"), cancel)

    def _other_training_runs(self) -> list[LiveRun]:
        return [run for run in self.app.live_runs.training if run.id != self.run_id]

    def action_running_job(self) -> None:
        """Jump to another run training now (the next one after this, in the queue's order)."""
        others = self._other_training_runs()
        if others:
            self.app.switch_screen(RunViewScreen(others[0].record, others[0]))

    def action_export(self) -> None:
        if self.source.live or not self.record.has_arrays:
            self.notify("Export works once the run is saved.", severity="warning")
            return
        export_in_background(self.app, [self.record])

    def action_refine(self) -> None:
        """Refine this phase run's diagram where its phases change: a refinement with its settings
        (engine.sweeps.refine), level 0 queued now, the next levels by the scheduler."""
        from engine.errors import SupertuiError
        from engine.sweeps.refine import DEFAULT_COARSE, DEFAULT_LEVELS, start_refinement

        try:
            refinement_id, run_id = start_refinement(self.app.store, self.config, DEFAULT_LEVELS, DEFAULT_COARSE)
            record = self.app.store.load(run_id)
        except (SupertuiError, OSError) as exc:
            self.notify(str(exc), title="Refine", severity="error", markup=False)
            return
        self.app.wake_scheduler()
        self.app.live_runs.follow(record)
        self.notify(f"{refinement_id}: level 0 of {DEFAULT_LEVELS} queued as {run_id}; the scheduler queues the "
                    "next levels (export --sweep draws the boundary)", title="Refine", markup=False, timeout=8)

    def action_reference(self) -> None:
        """Ask for a file of published D* curves to overlay (kept for the session)."""
        ask_reference(self, self.redraw)

    def action_zoom(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        focused = self.focused
        pane = next((a for a in (focused.ancestors_with_self if focused else []) if "pane" in a.classes), None)
        if pane is not None:
            self.maximize(pane, container=False)

    def action_pane(self, index: int) -> None:
        """Show pane `index` (keys 1..N): on a narrow terminal it is the one pane shown; on a wide
        one every pane shows and this focuses it."""
        if index >= len(self.panes):
            return
        self.current_pane = index
        for i, pane in enumerate(self.panes):
            pane.container.set_class(i == index, "-current")
        focusable = [w for w in self.panes[index].container.query("*") if w.can_focus]
        if focusable:
            focusable[0].focus()
        tabs = Text()
        for i, pane in enumerate(self.panes):
            tabs.append(f" {i + 1} {pane.tab} ", style="reverse bold" if i == index else "dim")
        self.query_one("#pane-tabs", Static).update(tabs)
        self.call_after_refresh(self._fit_titles)  # the pane shown now has its width

    def _loss_view(self, **change) -> None:
        loss = self.pane("loss")
        if loss is not None:
            loss.set_view(**change)
            self.redraw()

    def action_smoothing(self) -> None:
        """Next smoothing weight (TensorBoard's EMA, the loss PNG's): 0, 0.6, 0.9, 0.99."""
        loss = self.pane("loss")
        if loss is not None:
            steps = list(SMOOTHING_STEPS)
            now = steps.index(loss.smoothing) if loss.smoothing in steps else 0
            self._loss_view(smoothing=steps[(now + 1) % len(steps)])

    def action_log_y(self) -> None:
        if self.pane("loss") is not None:
            self._loss_view(log_y=not self.pane("loss").log_y)

    def action_wall_time(self) -> None:
        if self.pane("loss") is not None:
            self._loss_view(wall_time=not self.pane("loss").wall_time)

    def action_back(self) -> None:
        if self.maximized is not None:
            self.minimize()
        else:
            self.dismiss()
