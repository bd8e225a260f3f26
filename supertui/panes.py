"""The panes of the run view and of compare, by the ids experiments list (engine.experiments.base.PANES).

A run-view pane is a class with an id, a short tab name, the widgets it composes and an
`update(ctx)` that feeds them from a `PaneContext` (the run's data at one moment, the selected
instance, and the per-point rows every view shares). The run view composes the panes its
experiment names, in that order (keys 1..N); it never asks what kind of run it shows.

A compare pane is either shared (one widget for every run: D* curves, partner cosines) or one
widget per run (WᵀW at one density, phase grids).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import re

import numpy as np
from rich.text import Text
from textual.widget import Widget
from textual.widgets import DataTable, Static

from engine.export.smoothing import ema
from engine.science.convergence import dstar_history
from engine.experiments import Experiment
from engine.science.metrics import METRICS, feature_pairs, format_metric, gram, pair_cosines
from engine.science.phase import seed_init_products
from supertui.run_model import (
    Selection,
    dstar_curve,
    grid_layout,
    loss_curves,
    partner_cosine_curves,
    phase_cells,
    seed_cells,
    winners,
)
from supertui.reference_overlay import current as current_overlay
from supertui.reference_overlay import overlay_curves
from supertui.run_source import RunData
from supertui.widgets.dstar_plot import DStarPlot
from supertui.widgets.heatmap import HeatMap
from supertui.widgets.loss_plot import LossPlot
from supertui.widgets.neuron_bars import NeuronBars
from supertui.widgets.norm_bars import FeatureNormBars
from supertui.widgets.partner_cosine import PartnerCosinePlot
from supertui.widgets.phase_grid import PhaseGrid
from supertui.widgets.seed_grid import SeedGrid

SETTLED_REPORTS = 3  # while training, a phase cell fills in once its phase held this many reports
LEGEND_PAIRS = 3  # partner pairs listed under WᵀW


@dataclass(frozen=True)
class PaneContext:
    data: RunData
    experiment: Experiment
    selection: Selection
    where: str  # the selected instance, in words
    rows: list[dict]  # engine.science.metrics.point_rows of the experiment's point metrics
    progress_step: int  # the live report this moment belongs to (-1 when saved)
    initial_W: np.ndarray | None = None  # [K, m, n] W at step 0, where a saved run kept it

    @property
    def k(self) -> int:
        return self.selection.instance(self.data.config)


# A border title shows as "╭─ title ─╮": it has this many cells less than the pane's content width.
TITLE_FRAME = 4


class Pane:
    id = ""
    tab = ""  # its name on the one-pane-at-a-time tab line
    title = ""  # its border title
    short_title = ""  # where `title` does not fit the pane's border: the same, shorter (fit_static_title)

    def __init__(self) -> None:
        self.container: Widget | None = None

    def fit_static_title(self) -> None:
        """A fixed title, or its short form where the pane is too narrow for it (panes whose
        title changes with what they show fit it themselves: fit_title)."""
        if self.short_title and self.container is not None and self.container.size.width:
            room = self.container.size.width - TITLE_FRAME
            self.set_title(self.title if len(self.title) <= room else self.short_title)

    def widgets(self) -> list[Widget]:
        raise NotImplementedError

    def update(self, ctx: PaneContext) -> None:
        raise NotImplementedError

    def set_title(self, title: str) -> None:
        if self.container is not None:
            self.container.border_title = title


def fit_title(label: str, tab: str, where: str, container) -> str:
    """The longest of `label · where` forms that fits the pane's border (a cut title hid which
    seed or importance was shown): the (i/N) counts go first, then the long label, then words."""
    room = (container.size.width - 4) if container is not None and container.size.width else 10**6
    terse = re.sub(r" \(\d+/\d+\)", "", where)
    tersest = terse.replace("density ", "d ").replace("seed ", "s").replace(", ", " ")
    for title in (f"{label} · {where}", f"{label} · {terse}", f"{tab} · {terse}", f"{tab} · {tersest}"):
        if len(title) <= room:
            return title
    return f"{tab} · {tersest}"


class LossPane(Pane):
    """Loss against step or wall time, log or linear, raw or smoothed as TensorBoard smooths
    (engine.export.smoothing, the PNG's smoothing): keys m, y and t of the run view."""

    id, tab, title = "loss", "loss", "loss (log)"
    HINT = "m smooth · y log/lin · t step/time"

    def __init__(self) -> None:
        super().__init__()
        self._version: tuple | None = None
        self.smoothing = 0.0  # one of SMOOTHING_STEPS
        self.log_y = True
        self.wall_time = False
        self._clock: dict[int, float] = {0: 0.0}  # step -> seconds of training, as reports arrive

    def widgets(self):
        self.plot = LossPlot(id="loss")
        return [self.plot]

    def describe(self) -> str:
        """The border title: what the plot shows now."""
        parts = [f"loss ({'log' if self.log_y else 'linear'})"]
        if self.smoothing:
            parts.append(f"EMA {self.smoothing:g}")
        if self.wall_time:
            parts.append("vs time")
        return " · ".join(parts)

    def set_view(self, *, smoothing: float | None = None, log_y: bool | None = None, wall_time: bool | None = None) -> None:
        self.smoothing = self.smoothing if smoothing is None else smoothing
        self.log_y = self.log_y if log_y is None else log_y
        self.wall_time = self.wall_time if wall_time is None else wall_time
        self._version = None  # redraw at the next update
        self.set_title(self.describe())

    def seconds(self, steps: np.ndarray) -> np.ndarray:
        """Wall time at each step: between the (step, seconds) points seen, linear. A saved run
        knows only its total, so there it is the mean rate's time (the x label says so)."""
        known = sorted(self._clock.items())
        return np.interp(steps, [s for s, _ in known], [t for _, t in known])

    def update(self, ctx):
        if ctx.data.clock is not None:
            self._clock[ctx.data.clock[0]] = ctx.data.clock[1]
        steps, history = ctx.data.loss_steps, ctx.data.loss_history
        version = (len(steps), int(steps[-1]) if len(steps) else 0, ctx.data.live)
        if version == self._version:
            return
        self._version = version
        curves = loss_curves(ctx.data.config, ctx.data.instances, history)
        if not curves:
            return
        curves = {label: ema(values, self.smoothing) for label, values in curves.items()}
        x, x_label = np.asarray(steps), "step"
        if self.wall_time and len(self._clock) > 1:
            x = self.seconds(np.asarray(steps, dtype=float))
            x_label = "wall time (s)" if ctx.data.live else "wall time (s, mean rate)"
        self.plot.update_curves(x, curves, log_y=self.log_y, x_label=x_label)


class ModelPane(Pane):
    """A pane that draws the selected model W [m, n]; its border says which one."""

    label = ""  # the border title before " · <which model>"

    def draw(self, W: np.ndarray, moment: str) -> None:
        raise NotImplementedError

    def update(self, ctx):
        if ctx.data.W is not None:
            self.draw(ctx.data.W[ctx.k], ctx.data.moment)
            self.set_title(fit_title(self.label, self.tab, ctx.where, self.container))


class GramPane(ModelPane):
    id, tab, title, label = "gram", "WᵀW", "WᵀW", "WᵀW"

    def widgets(self):
        self.heatmap = HeatMap(id="gram")
        return [self.heatmap]

    def draw(self, W, moment):
        self.heatmap.update_matrix(gram(W), title=moment)


class BarsPane(ModelPane):
    id, tab, title = "bars", "neuron bars", "neuron-feature weights W[k, i]"
    label = title

    def widgets(self):
        self.bars = NeuronBars(id="bars")
        return [self.bars]

    def draw(self, W, moment):
        self.bars.update_weights(W, title=moment)


class NormsPane(ModelPane):
    id, tab, title, label = "norms", "norms", "feature norms ‖W_i‖, colour: superposition", "‖W_i‖ by superposition"

    def widgets(self):
        self.bars = FeatureNormBars(id="norms")
        return [self.bars]

    def draw(self, W, moment):
        self.bars.update_model(W, title=moment)


POINT_DIGITS = 3  # the points table's one rule: 3 significant digits, zeros kept (1.00, 0.247, 0.0124)


def point_value(value: float) -> str:
    """A number in the points table: POINT_DIGITS significant digits, trailing zeros kept."""
    text = f"{value:#.{POINT_DIGITS}g}"
    return text[:-1] if text.endswith(".") else text


class PointsPane(Pane):
    """One row per grid point: its coordinates and the lowest-loss seed's metrics; the row under
    the cursor picks the instance the other panes show."""

    id, tab, title = "points", "points", "per grid point, lowest-loss seed (enter picks)"
    short_title = "per point, lowest-loss seed"

    def widgets(self):
        self.table = DataTable(id="points", cursor_type="row", zebra_stripes=True)
        self._columns: list[str] = []
        return [self.table]

    def _ensure_columns(self, ctx) -> None:
        if self._columns:
            return
        axes = Selection.axes(ctx.data.config)
        self._columns = [axis.name for axis in axes] + list(ctx.experiment.point_metrics)
        for name in self._columns:
            label = METRICS[name].label if name in METRICS else name
            self.table.add_column(label, key=name)

    def _cells(self, ctx, row: dict) -> list[str]:
        axes = Selection.axes(ctx.data.config)
        coordinates = Selection().at_point(ctx.data.config, row["point"]).indices
        cells = []
        for axis, i in zip(axes, coordinates):
            value = axis.values[i]
            cells.append(point_value(value) if isinstance(value, float) else str(value))
        if ctx.data.losses is None:
            row = {**row, "loss": float("nan")}
        for key in ctx.experiment.point_metrics:
            value = row[key]
            counted = key == "represented" or METRICS[key].integer
            finite = isinstance(value, (int, float)) and np.isfinite(value)
            cells.append(format_metric(key, value, ctx.data.config.n) if counted or not finite
                         else point_value(value))
        return cells

    def update(self, ctx):
        self._ensure_columns(ctx)
        table = self.table
        if table.row_count != len(ctx.rows):
            table.clear()
            for row in ctx.rows:
                table.add_row(*self._cells(ctx, row), key=str(row["point"]))
        else:
            for row in ctx.rows:
                for column, value in zip(self._columns, self._cells(ctx, row)):
                    table.update_cell(str(row["point"]), column, value, update_width=True)
        point = ctx.selection.point(ctx.data.config)
        if table.cursor_row != point:
            table.move_cursor(row=point, animate=False)


class PhasePane(Pane):
    id, tab, title = "phase", "phase grid", "phase of the winning seed (ReLU boundary drawn)"
    short_title = "winning seed's phase · ReLU line"

    def __init__(self) -> None:
        super().__init__()
        self._recent: list[list[str]] = []  # live phase grids of the last few reports
        self._step = -1
        self._refined: dict | None = None  # a refinement level's whole refinement, once read
        self._loading = False

    def widgets(self):
        self.grid = PhaseGrid(id="phase")
        return [self.grid]

    def update(self, ctx):
        if ctx.data.W is None:
            return
        cfg = ctx.data.config
        if cfg.point_layout == "pairs" and not ctx.data.live and self._draw_refinement():
            return
        phases, agreement = phase_cells(cfg, ctx.data.instances, ctx.data.W, ctx.data.losses)
        if ctx.data.live:
            phases = self._settled(phases, ctx.progress_step)
        densities, importances, phases, point_at = grid_layout(cfg, phases)
        _, _, agreement, _ = grid_layout(cfg, agreement)
        agreement = [1.0 if a is None else a for a in agreement]
        self.grid.update_grid(densities, importances, phases, agreement, seeds=cfg.seeds)

    def _draw_refinement(self) -> bool:
        """A saved level of a refinement: the whole refinement as one diagram with the boundary it
        found (engine.sweeps.refine.refinement_view), read in a thread the first time; True once drawn."""
        if self._refined is not None:
            view = self._refined
            if not view["phases"]:
                return False
            self.grid.update_grid(view["densities"], view["importances"], view["phases"], view["agreement"],
                                  title=f"refinement: {view['points']} points", found=view["found"])
            if self.container is not None:
                self.container.border_subtitle = "× boundary found · every level of the refinement, nearest point"
            return True
        if not self._loading:
            record = getattr(self.grid.screen, "record", None)
            sweep = record.manifest.get("sweep") if record is not None else None
            if isinstance(sweep, dict) and isinstance(sweep.get("id"), str):
                self._loading = True
                store = self.grid.app.store
                self.grid.run_worker(lambda: self._load_refinement(store, sweep["id"]), thread=True, group="refine")
        return False

    def _load_refinement(self, store, refinement_id: str) -> None:
        from engine.sweeps.refine import read_refinement, refinement_view

        try:
            index = read_refinement(store, refinement_id)
            view = refinement_view(store, index) if index is not None else None
        except Exception:  # a level unreadable: the pane keeps this level's own points
            view = None
        if view is not None:
            self.grid.app.call_from_thread(self._refinement_loaded, view)

    def _refinement_loaded(self, view: dict) -> None:
        self._refined = view
        self._draw_refinement()

    def _settled(self, phases: list[str], step: int) -> list[str | None]:
        """Live cells fill in one by one as their phase stops changing; the rest stay blank.
        One entry per progress report, so redraws for other reasons do not count as time."""
        if step != self._step:
            self._step = step
            self._recent = (self._recent + [phases])[-SETTLED_REPORTS:]
        if len(self._recent) < SETTLED_REPORTS:
            return [None] * len(phases)
        return [p if all(h[i] == p for h in self._recent) else None for i, p in enumerate(phases)]


class SeedsPane(Pane):
    """Every seed of every grid point: shares per phase and the loss gap, or (v) one seed's own
    diagram, beside the best-of-seeds phase pane."""

    id, tab, title = "seeds", "seeds", "every seed: shares per phase (v: each seed alone)"
    short_title = "every seed's phase (v: alone)"

    def widgets(self):
        self.grid = SeedGrid(id="seeds")
        return [self.grid]

    def update(self, ctx):
        if ctx.data.W is None:
            return
        cfg, instances = ctx.data.config, ctx.data.instances
        if cfg.point_layout == "pairs":  # a refinement level: its points lie on no grid (export --sweep draws them)
            if self.container is not None:
                self.container.border_subtitle = "a refinement level's points lie on no grid: see the phase pane"
            # one short line a sentence: the grid draws its lines as they are, unwrapped
            self.grid.show_empty("A refinement level: its points lie on no grid,\nso its seeds are not drawn here.\n"
                                 "The phase pane shows the whole refinement\nand the boundary it found.")
            return
        populations, singles = seed_cells(cfg, instances, ctx.data.W, ctx.data.losses)
        products = None
        if ctx.initial_W is not None:
            products = list(seed_init_products(ctx.initial_W, instances.seed).values())
        self.grid.update_populations(cfg.densities, cfg.relative_importances, populations, singles, products)


class DStarPane(Pane):
    """D* against 1/(1-S), and whether it has stopped moving: the curve at the step a half-decade
    before the end (T/√10) is drawn faded behind it, and a line under the plot says at how many
    densities D* still changed by more than 5% since (engine.science.convergence)."""

    id, tab, title = "dstar", "D* curve", "D* = m/‖W‖²_F against 1/(1-S), lowest-loss seed"
    short_title = "D* vs 1/(1-S), lowest-loss seed"

    def __init__(self) -> None:
        super().__init__()
        self._history = None  # the saved run's D* history, computed once at its final weights

    def widgets(self):
        self.plot = DStarPlot(id="dstar")
        self.convergence = Static("", id="dstar-convergence")
        return [self.plot, self.convergence]

    def update(self, ctx):
        if ctx.data.W is None:
            return
        cfg = ctx.data.config
        inv_density, dstar, per_feature = dstar_curve(cfg, ctx.data.instances, ctx.data.W, ctx.data.losses)
        x = np.broadcast_to(inv_density[:, None], per_feature.shape)  # [P, n]
        curves = {cfg.activation: (inv_density, dstar)}
        reference, summary = overlay_curves(current_overlay(self.plot.app), curves)
        history = self._dstar_history(ctx)
        earlier = None
        if history is not None and history.reference_step is not None:
            order = np.argsort(1.0 / history.density, kind="stable")
            earlier = {cfg.activation: (1.0 / history.density[order], history.dstar_at_reference[order],
                                        f"step {history.reference_step:,}")}
        self.plot.update_curves(curves, feature_dims={cfg.activation: (x, per_feature)}, reference=reference,
                                earlier=earlier)
        if self.container is not None:
            self.container.border_subtitle = summary
        if history is None:
            line = Text(f"{ctx.data.moment}: D* against step appears once the run is saved", style="dim")
        else:
            line = Text(history.summary() + ("; faded: D* at that step" if earlier else ""),
                        style="bold yellow" if history.moving.any() else "green")
        self.convergence.update(line)

    def _dstar_history(self, ctx):
        data = ctx.data
        if data.live or data.snapshots is None or data.snapshot_steps is None or not len(data.loss_steps):
            self._history = None
        elif data.moment == "final":  # the final weights and losses: what the JSON and the PNG judge
            self._history = dstar_history(data.instances, data.snapshot_steps, data.snapshots, data.W, data.losses,
                                          int(data.loss_steps[-1]))
        return self._history


class PairsPane(Pane):
    """WᵀW of the selected model with its partner pairs listed under it: each pair's entry
    (WᵀW)_ij and the cosine of the two directions."""

    id, tab, title = "pairs", "WᵀW pairs", "WᵀW, partner pairs marked"

    def widgets(self):
        self.heatmap = HeatMap(id="pairs")
        self.legend = Static("", id="pairs-legend")
        return [self.heatmap, self.legend]

    def update(self, ctx):
        if ctx.data.W is None:
            return
        W = ctx.data.W[ctx.k]
        G = gram(W)
        instances = ctx.data.instances
        pairs = feature_pairs(instances.partner[ctx.k], instances.pair_kind[ctx.k]) if instances.partner is not None else []
        self.heatmap.update_matrix(G, title=ctx.data.moment)
        lines = []
        for (i, j, kind), cosine in zip(pairs, pair_cosines(W, pairs)):
            lines.append(Text.assemble((f"({i},{j}) ", "bold"), f"{kind}: WᵀW {G[i, j]:+.2f}, cos {format_metric('partner_cosine', cosine)}"))
        if len(lines) > LEGEND_PAIRS:
            lines = lines[: LEGEND_PAIRS - 1] + [Text(f"… {len(lines) - LEGEND_PAIRS + 1} more pairs", style="dim")]
        self.legend.update(Text("\n").join(lines))
        self.set_title(f"WᵀW, pairs {', '.join(f'({i},{j})' for i, j, _ in pairs)} · {ctx.where}")


class CosinePane(Pane):
    id, tab, title = "cosine", "partner cos", "partner cosine by density, lowest-loss seed"
    short_title = "partner cosine, lowest-loss seed"

    def widgets(self):
        self.plot = PartnerCosinePlot(id="cosine")
        return [self.plot]

    def update(self, ctx):
        if ctx.data.W is not None:
            self.plot.update_curves(partner_cosine_curves(ctx.data.instances, ctx.data.W, ctx.data.losses))


PANES: dict[str, Callable[[], Pane]] = {
    cls.id: cls
    for cls in (LossPane, GramPane, BarsPane, NormsPane, PointsPane, PhasePane, SeedsPane, DStarPane, PairsPane,
                CosinePane)
}


# --------------------------------------------------------------------------- compare
# A compare pane draws a group of runs (those whose experiment names it): items are
# (index, record, arrays); a per-run widget has id "view-<index>", a shared one "view-<pane id>".


def _compare_gram(screen, items, target: float | None) -> None:
    """WᵀW of each run at the density nearest the shared target, lowest-loss seed, one scale."""
    grams = {}
    for i, record, arrays in items:
        cfg = record.config
        d_index = int(np.argmin(np.abs(np.log(np.asarray(cfg.densities)) - np.log(target))))
        point = Selection((d_index,)).point(cfg)
        k = winners(arrays.instances, arrays.final_loss)[point]
        grams[i] = (gram(arrays.W[k]), f"density {cfg.densities[d_index]:.3g}")
    vmax = max(float(np.abs(g).max()) for g, _ in grams.values()) or 1.0
    for i, (matrix, where) in grams.items():
        screen.query_one(f"#view-{i}").update_matrix(matrix, title=where, vmax=vmax)


def _compare_phase(screen, items, target) -> None:
    for i, record, arrays in items:
        cfg = record.config
        phases, agreement = phase_cells(cfg, arrays.instances, arrays.W, arrays.final_loss)
        screen.query_one(f"#view-{i}").update_grid(cfg.densities, cfg.relative_importances, phases, agreement,
                                                   seeds=cfg.seeds)


def _labelled(curves: dict, label: str, record, curve) -> None:
    curves[label if label not in curves else f"{label} ({record.id[-4:]})"] = curve


def _compare_dstar(screen, items, target) -> None:
    curves: dict[str, tuple] = {}
    for _, record, arrays in items:
        inv_density, dstar, _ = dstar_curve(record.config, arrays.instances, arrays.W, arrays.final_loss)
        _labelled(curves, record.config.activation, record, (inv_density, dstar))
    reference, summary = overlay_curves(current_overlay(screen.app), curves)
    screen.query_one("#view-dstar").update_curves(curves, reference=reference)
    screen.query_one("#pane-dstar").border_subtitle = summary


def _compare_cosine(screen, items, target) -> None:
    curves: dict[str, tuple] = {}
    for _, record, arrays in items:
        for kind, curve in partner_cosine_curves(arrays.instances, arrays.W, arrays.final_loss).items():
            _labelled(curves, f"{record.config.activation} · {kind}", record, curve)
    screen.query_one("#view-cosine").update_curves(curves)


@dataclass(frozen=True)
class ComparePane:
    """How compare shows runs whose experiment names this pane: `shared` panes draw every such
    run into one widget; the others get one widget per run. `steps_density`: [ ] move the density
    these panes show."""

    id: str
    shared: bool
    title: str
    make: Callable[[str], Widget]  # widget id -> widget
    update: Callable  # (screen, items, target density) -> None
    steps_density: bool = False
    short_title: str = ""  # where `title` does not fit the pane's border


COMPARE_PANES: dict[str, ComparePane] = {
    "gram": ComparePane("gram", False, "WᵀW at one density, one colour scale", lambda wid: HeatMap(id=wid),
                        _compare_gram, steps_density=True),
    "phase": ComparePane("phase", False, "phase of the winning seed", lambda wid: PhaseGrid(id=wid), _compare_phase),
    "dstar": ComparePane("dstar", True, "D* against 1/(1-S), one colour per activation", lambda wid: DStarPlot(id=wid),
                         _compare_dstar, short_title="D* vs 1/(1-S), by activation"),
    "cosine": ComparePane("cosine", True, "partner cosine by density, one colour per activation",
                          lambda wid: PartnerCosinePlot(id=wid), _compare_cosine,
                          short_title="partner cosine, by activation"),
}
