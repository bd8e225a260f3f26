"""One run, live while it trains and the same once saved: loss, WᵀW, neuron bars, and the
preset's own pane (phase grid, D* curve, or the per-density table of the sparsity sweep).

Live data arrive as `JobUpdated` messages (about four a second); the screen only marks itself
dirty and redraws on a timer, so a burst of messages never means a burst of redraws.
"""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from engine.metrics import gram
from engine.store import RunRecord, StoreError
from supertui.exporting import export_in_background
from supertui.jobs import RUNNING, Job
from supertui.messages import JobUpdated
from supertui.run_model import Selection, density_rows, describe_instance, dstar_curve, loss_curves, phase_cells
from supertui.widgets.dstar_plot import DStarPlot
from supertui.widgets.heatmap import HeatMap
from supertui.widgets.job_queue import format_seconds
from supertui.widgets.loss_plot import LossPlot
from supertui.widgets.neuron_bars import NeuronBars
from supertui.widgets.phase_grid import PhaseGrid
from supertui.widgets.scrubber import Scrubber

REDRAW_INTERVAL = 0.25  # seconds: at most four redraws a second, however fast progress arrives
SETTLED_REPORTS = 3  # while training, a phase cell fills in once its phase held this many reports


class RunViewScreen(Screen):
    BINDINGS = [
        Binding("right_square_bracket", "density(1)", "Density+", id="run.next_density", key_display="]"),
        Binding("left_square_bracket", "density(-1)", "Density-", id="run.prev_density", key_display="["),
        Binding("right_curly_bracket", "seed(1)", "Next seed", id="run.next_seed", key_display="}", show=False),
        Binding("left_curly_bracket", "seed(-1)", "Previous seed", id="run.prev_seed", key_display="{", show=False),
        Binding("full_stop", "scrub(1)", "Later W", id="run.scrub_forward", key_display="."),
        Binding("comma", "scrub(-1)", "Earlier W", id="run.scrub_back", key_display=","),
        Binding("g", "latest", "Latest W", id="run.latest", show=False),
        Binding("x", "cancel_run", "Cancel run", id="run.cancel"),
        Binding("j", "running_job", "Running job", id="run.running_job"),
        Binding("e", "export", "Export PNG", id="run.export"),
        Binding("z", "zoom", "Zoom pane", id="run.zoom"),
        Binding("1", "pane(0)", "Loss", id="run.pane_loss", show=False),
        Binding("2", "pane(1)", "WᵀW", id="run.pane_gram", show=False),
        Binding("3", "pane(2)", "Bars", id="run.pane_bars", show=False),
        Binding("4", "pane(3)", "Preset pane", id="run.pane_preset", show=False),
        Binding("escape,q", "back", "Back", id="run.back"),
    ]

    def __init__(self, job: Job | None = None, record: RunRecord | None = None):
        super().__init__()
        if job is None and record is None:
            raise ValueError("RunViewScreen needs a job or a record")
        self.job = job
        self.record = record
        self.config = job.config if job is not None else record.config
        self.selection = Selection()
        self.scrub: int | None = None  # snapshot index; None: the latest weights
        self._dirty = True
        self._loss_version = -1
        self._recent_phases: list[list[str]] = []  # live phase grids of the last few reports
        self._phase_step = -1

    @classmethod
    def for_job(cls, job: Job) -> "RunViewScreen":
        return cls(job=job)

    @classmethod
    def for_record(cls, record: RunRecord) -> "RunViewScreen":
        return cls(record=record)

    @property
    def live(self) -> bool:
        return self.record is None

    @property
    def run_id(self) -> str | None:
        return self.record.id if self.record is not None else self.job.run_id

    # Layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="run-status")
        yield Static("", id="pane-tabs")
        with Container(id="panes"):
            with Vertical(classes="pane", id="pane-loss"):
                yield LossPlot(id="loss")
            with Vertical(classes="pane", id="pane-gram"):
                yield HeatMap(id="gram")
            with Vertical(classes="pane", id="pane-bars"):
                yield NeuronBars(id="bars")
            with Vertical(classes="pane", id="pane-preset"):
                if self.config.preset == "phase" or self.config.relative_importances:
                    yield PhaseGrid(id="preset-pane")
                elif self.config.preset == "dims":
                    yield DStarPlot(id="preset-pane")
                else:
                    yield DataTable(id="preset-pane", cursor_type="row", zebra_stripes=True)
        yield Scrubber(id="scrubber")
        yield Footer()

    def on_mount(self) -> None:
        self.title = self.run_id or f"job #{self.job.id}"
        self.sub_title = f"{self.config.preset} · {self.config.activation}"
        titles = {"pane-loss": "loss (log)", "pane-gram": "WᵀW", "pane-bars": "neuron-feature weights W[k, i]"}
        for pane_id, title in titles.items():
            self.query_one(f"#{pane_id}").border_title = title
        preset = self.query_one("#preset-pane")
        self.query_one("#pane-preset").border_title = (
            "phase of the winning seed (ReLU boundary drawn)" if isinstance(preset, PhaseGrid)
            else "D* = m/‖W‖²_F against 1/(1-S)" if isinstance(preset, DStarPlot)
            else "per density (enter picks)"
        )
        if isinstance(preset, DataTable):
            for label in ("density", "loss", "represented", "interference", "D*"):
                preset.add_column(label, key=label)
        self.set_interval(REDRAW_INTERVAL, self._redraw_if_dirty)
        self.redraw()
        self.action_pane(1)

    # Data ---------------------------------------------------------------------------------
    def _arrays(self):
        if self.record is None or not self.record.has_arrays:
            return None
        try:
            return self.record.arrays
        except StoreError as exc:
            self.notify(str(exc), severity="error")
            self.record = None if self.job is not None else self.record
            return None

    def current_weights(self) -> tuple[np.ndarray | None, np.ndarray | None, str]:
        """W [K, m, n], the losses that pick winning seeds [K], and which moment they show."""
        arrays = self._arrays()
        if arrays is not None:
            if self.scrub is not None and self.scrub < len(arrays.snapshot_steps):
                step = int(arrays.snapshot_steps[self.scrub])
                # Mid-training the saved final losses would judge other weights: use the loss
                # history row nearest that step instead.
                row = int(np.searchsorted(arrays.loss_steps, max(step, 1)))
                losses = arrays.loss_history[min(row, len(arrays.loss_history) - 1)] if len(arrays.loss_history) else None
                return arrays.snapshots[self.scrub], losses, f"step {step:,}"
            return arrays.W, arrays.final_loss, "final"
        if self.job is not None and self.job.progress is not None and self.job.progress.W is not None:
            p = self.job.progress
            losses = p.losses if np.isfinite(p.losses).any() else None
            return p.W, losses, f"live, step {p.step:,}"
        return None, None, "waiting for the first weights"

    def instances(self):
        from engine.sweep import instance_table

        arrays = self._arrays()
        return arrays.instances if arrays is not None else instance_table(self.config)

    def loss_history(self) -> tuple[np.ndarray, np.ndarray]:
        arrays = self._arrays()
        if arrays is not None:
            return arrays.loss_steps, arrays.loss_history
        if self.job is not None:
            return self.job.history.as_arrays()
        return np.zeros(0), np.zeros((0, 0))

    # Drawing ------------------------------------------------------------------------------
    def _redraw_if_dirty(self) -> None:
        if self._dirty:
            self.redraw()

    def redraw(self) -> None:
        self._dirty = False
        self._draw_status()
        self._draw_loss()
        W, losses, moment = self.current_weights()
        instances = self.instances()
        if W is not None:
            self._draw_instance(W, moment)
            self._draw_preset(W, losses, instances)
        arrays = self._arrays()
        scrubber = self.query_one(Scrubber)
        if arrays is not None:
            scrubber.set_steps(arrays.snapshot_steps, self.config.steps)
        else:
            scrubber.set_steps(np.zeros(0), self.config.steps, live=True)

    def _draw_status(self) -> None:
        text = Text()
        status = self.record.status if self.record is not None else (self.job.state if self.job else "?")
        text.append(f"{status}", style="bold green" if status == "completed" else "bold cyan" if status in ("running", RUNNING) else "bold yellow")
        cfg = self.config
        text.append(f"  n={cfg.n} m={cfg.m}  {cfg.num_instances} instance(s)  ")
        if self.record is not None:
            m = self.record.manifest
            text.append(f"{m.get('device') or '?'}  {m.get('steps_done', 0):,}/{cfg.steps:,} steps in {format_seconds(m.get('elapsed_seconds'))}")
            rate = (m.get("steps_done") or 0) / max(m.get("elapsed_seconds") or 0, 1e-9)
            if m.get("elapsed_seconds"):
                text.append(f" ({rate:,.0f} it/s)")
            if self.record.final_loss is not None:
                text.append(f"  final loss {self.record.final_loss:.4g}")
        elif self.job is not None:
            p = self.job.progress
            if p is None:
                text.append("waiting to start" if self.job.state == "pending" else "starting…")
            elif p.stage == "compiling":
                text.append("compiling the training step…")
            else:
                text.append(f"step {p.step:,}/{p.steps:,}  {p.steps_per_second:,.0f} it/s  {format_seconds(p.seconds_left)} left")
                text.append(f"  ({100 * self.job.fraction_done:.0f}%)", style="bold")
            if self.job.state == RUNNING:
                text.append("   x cancels", style="dim")
            if self.job.error:
                text.append(f"  {self.job.error}", style="red")
        self.query_one("#run-status", Static).update(text)

    def _draw_loss(self) -> None:
        steps, history = self.loss_history()
        version = (len(steps), int(steps[-1]) if len(steps) else 0, self.record is not None)
        if version == self._loss_version:
            return
        self._loss_version = version
        curves = loss_curves(self.config, self.instances(), history)
        if curves:
            self.query_one(LossPlot).update_curves(np.asarray(steps), curves, log_y=True)

    def _draw_instance(self, W: np.ndarray, moment: str) -> None:
        k = self.selection.instance(self.config)
        where = describe_instance(self.config, self.selection)
        self.query_one(HeatMap).update_matrix(gram(W[k]), title=moment)
        self.query_one(NeuronBars).update_weights(W[k], title=moment)
        self.query_one("#pane-gram").border_title = f"WᵀW · {where}"
        self.query_one("#pane-bars").border_title = f"neuron-feature weights W[k, i] · {where}"

    def _draw_preset(self, W: np.ndarray, losses: np.ndarray | None, instances) -> None:
        pane = self.query_one("#preset-pane")
        cfg = self.config
        if isinstance(pane, PhaseGrid):
            cells = phase_cells(cfg, instances, W, losses)
            if cells is not None:
                phases, agreement = cells
                if self._arrays() is None:
                    phases = self._settled(phases)
                pane.update_grid(cfg.densities, cfg.relative_importances, phases, agreement)
        elif isinstance(pane, DStarPlot):
            inv_density, dstar, per_feature = dstar_curve(cfg, instances, W, losses)
            x = np.broadcast_to(inv_density[:, None], per_feature.shape)  # [D, n]
            pane.update_curves({cfg.activation: (inv_density, dstar)}, feature_dims={cfg.activation: (x, per_feature)})
        elif isinstance(pane, DataTable):
            rows = density_rows(cfg, instances, W, losses)
            if pane.row_count != len(rows):
                pane.clear()
                for i, row in enumerate(rows):
                    pane.add_row(*self._density_cells(row), key=str(i))
            else:
                for i, row in enumerate(rows):
                    for column, value in zip(("density", "loss", "represented", "interference", "D*"), self._density_cells(row)):
                        pane.update_cell(str(i), column, value)
            if pane.cursor_row != self.selection.density:
                pane.move_cursor(row=self.selection.density, animate=False)

    def _settled(self, phases: list[str]) -> list[str | None]:
        """Live cells fill in one by one as their phase stops changing; the rest stay blank.
        One entry per progress report, so redraws for other reasons do not count as time."""
        step = self.job.progress.step if self.job is not None and self.job.progress is not None else -1
        if step != self._phase_step:
            self._phase_step = step
            self._recent_phases = (self._recent_phases + [phases])[-SETTLED_REPORTS:]
        if len(self._recent_phases) < SETTLED_REPORTS:
            return [None] * len(phases)
        return [p if all(h[i] == p for h in self._recent_phases) else None for i, p in enumerate(phases)]

    def _density_cells(self, row: tuple) -> list:
        density, loss, represented, interference, dstar = row
        return [f"{density:.3g}", f"{loss:.4g}" if np.isfinite(loss) else "–", f"{represented}/{self.config.n}",
                f"{interference:.3f}", f"{dstar:.3f}"]

    # Messages -----------------------------------------------------------------------------
    def on_job_updated(self, message: JobUpdated) -> None:
        if message.job is not self.job:
            if message.job.state == RUNNING:
                self.refresh_bindings()  # "j: running job" may apply now
            return
        if not self.job.active and self.record is None and self.job.run_id:
            try:
                self.record = self.app.store.load(self.job.run_id)
            except StoreError:
                pass
            self.title = self.job.run_id
            self.refresh_bindings()
        self._dirty = True

    def on_heat_map_cursor_moved(self, message: HeatMap.CursorMoved) -> None:
        self.query_one("#pane-gram").border_subtitle = self.query_one(HeatMap).readout()

    def on_phase_grid_point_selected(self, message: PhaseGrid.PointSelected) -> None:
        selection = Selection(message.density_index, message.importance_index, self.selection.seed)
        if selection != self.selection:
            self.selection = selection
            self.redraw()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "cancel_run":
            return True if self.job is not None and self.job.active else None
        if action == "running_job":
            running = self.app.queue.running
            return True if running is not None and running is not self.job else None
        if action in ("scrub", "latest"):
            return True if self._arrays() is not None else None
        return True

    def on_scrubber_moved(self, message: Scrubber.Moved) -> None:
        self.scrub = message.position
        self.redraw()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "preset-pane" and event.cursor_row != self.selection.density:
            self.selection = Selection(event.cursor_row, self.selection.importance, self.selection.seed)
            self.redraw()

    # Actions ------------------------------------------------------------------------------
    def action_density(self, delta: int) -> None:
        self.selection = self.selection.moved(self.config, density=delta)
        self.redraw()

    def action_seed(self, delta: int) -> None:
        self.selection = self.selection.moved(self.config, seed=delta)
        self.redraw()

    def action_scrub(self, delta: int) -> None:
        if self._arrays() is None:
            self.notify("Replay works once W snapshots are saved (at the end of training).", timeout=3)
            return
        self.query_one(Scrubber).move(delta)

    def action_latest(self) -> None:
        self.query_one(Scrubber).latest()

    def action_cancel_run(self) -> None:
        if self.job is None or not self.job.active:
            self.notify("This run is not training.", timeout=3)
            return
        self.app.queue.cancel(self.job)
        self.app.job_queue_changed()
        self.notify("Cancelling: the run stops after this step and is kept as cancelled.")

    def action_running_job(self) -> None:
        """Jump to the job training now (after this one finished, the queue moved on)."""
        running = self.app.queue.running
        if running is not None and running is not self.job:
            self.app.switch_screen(RunViewScreen.for_job(running))

    def action_export(self) -> None:
        if self.record is None:
            self.notify("Export works once the run is saved.", severity="warning")
            return
        export_in_background(self.app, [self.record])

    def action_zoom(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        focused = self.focused
        pane = next((a for a in (focused.ancestors_with_self if focused else []) if "pane" in a.classes), None)
        if pane is not None:
            self.maximize(pane, container=False)

    def action_pane(self, index: int) -> None:
        """Show pane `index` (1-4 keys): on a narrow terminal it is the one pane shown; on a wide
        one every pane shows and this focuses it."""
        panes = list(self.query(".pane"))
        for i, pane in enumerate(panes):
            pane.set_class(i == index, "-current")
        focusable = [w for w in panes[index].query("*") if w.can_focus]
        if focusable:
            focusable[0].focus()
        preset = self.query_one("#preset-pane")
        last = "phase grid" if isinstance(preset, PhaseGrid) else "D* curve" if isinstance(preset, DStarPlot) else "densities"
        names = ["loss", "WᵀW", "neuron bars", last]
        tabs = Text()
        for i, name in enumerate(names):
            tabs.append(f" {i + 1} {name} ", style="reverse bold" if i == index else "dim")
        self.query_one("#pane-tabs", Static).update(tabs)

    def action_back(self) -> None:
        if self.maximized is not None:
            self.minimize()
        else:
            self.dismiss()
