"""Two or more runs side by side, the same pane for each, and a diff of their configs.

Each run's experiment names the pane compare shows for it (supertui.panes.COMPARE_PANES): WᵀW
at the same density on one shared colour scale (sparsity), phase grids as small multiples, D*
curves on one plot (dims, custom), partner cosines on one plot (correlated); one stable colour
per activation. `[` `]` step the density of the WᵀW panes and act only when some are shown.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import HorizontalScroll, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from engine.experiments import experiment_for
from engine.store.labels import difference_labels, mean_loss_curve, overlay_colours, run_caption
from engine.store.runs import RunRecord, StoreError
from supertui.exporting import export_in_background
from supertui.panes import COMPARE_PANES, TITLE_FRAME
from supertui.screens.reference_path import ask_reference
from supertui.widgets.loss_plot import LossPlot
from supertui.widgets.plot_base import fit_label
from supertui.widgets.runs_table import format_loss

ALWAYS_SHOWN = ("preset", "activation")
PANE_MIN_WIDTH = 38
PANE_BORDERS = 2  # a pane's width less its content's


def pane_kind(record: RunRecord) -> str:
    """The compare pane of a run: its experiment says which."""
    return experiment_for(record.config).compare_pane


def format_field(value) -> str:
    if isinstance(value, (list, tuple)):
        if len(value) > 4:
            return f"{len(value)} values {value[0]:.3g}…{value[-1]:.3g}"
        return ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def config_diff(records: list[RunRecord], everything: bool = False) -> list[tuple[str, list[str]]]:
    """(field, value per run) for the fields that differ (or all fields), config order."""
    dicts = [r.config.to_dict() for r in records]
    rows = []
    for name in dicts[0]:
        values = [d.get(name) for d in dicts]
        differs = any(v != values[0] for v in values[1:])
        if everything or differs or name in ALWAYS_SHOWN:
            rows.append((name, [format_field(v) for v in values]))
    return rows


class CompareScreen(Screen):
    BINDINGS = [
        Binding("right_square_bracket", "density(1)", "Density", id="compare.next_density", key_display="]"),
        Binding("left_square_bracket", "density(-1)", "Previous density", id="compare.prev_density", key_display="[", show=False),
        Binding("a", "toggle_all_fields", "All fields", id="compare.all_fields", show=False),
        Binding("o", "reference", "Reference", id="compare.reference"),
        Binding("e", "export", "Export", id="compare.export"),
        Binding("escape,q", "back", "Back", id="compare.back"),
    ]

    def __init__(self, records: list[RunRecord]):
        super().__init__()
        self.records = [r for r in records if r.has_arrays]
        self.skipped = [r.id for r in records if not r.has_arrays]
        self.labels = difference_labels(self.records)  # what tells the runs apart: `lr=0.001`, not the id
        self.density_index = 0
        self.all_fields = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="compare-status")
        with HorizontalScroll(id="compare-panes"):
            with Vertical(classes="compare-pane", id="pane-losses"):  # every experiment: the first comparison
                yield LossPlot(id="view-losses")
            shared_done: set[str] = set()
            for i, record in enumerate(self.records):
                pane = COMPARE_PANES[pane_kind(record)]
                if pane.shared:
                    if pane.id in shared_done:
                        continue
                    shared_done.add(pane.id)
                    with Vertical(classes="compare-pane", id=f"pane-{pane.id}"):
                        yield pane.make(f"view-{pane.id}")
                else:
                    with Vertical(classes="compare-pane", id=f"pane-{i}"):
                        yield pane.make(f"view-{i}")
        yield DataTable(id="diff", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Compare"
        self.sub_title = f"{len(self.records)} runs"
        if self.skipped:
            self.notify(f"no saved arrays yet, left out: {', '.join(self.skipped)}", severity="warning", markup=False)
        self._draw_losses(self.labels)
        self._size_panes()
        self.redraw()
        self._fill_diff()
        first = next((w for w in self.query("#compare-panes > .compare-pane > *") if w.can_focus), None)
        if first is not None:
            first.focus()

    def _draw_losses(self, labels: list[str]) -> None:
        """Each run's mean loss curve on one plot, labelled by what differs between the runs."""
        curves = []
        for record, label, colour in zip(self.records, labels, overlay_colours(self.records)):
            try:
                steps, mean = mean_loss_curve(record.arrays)
            except StoreError:
                continue  # said once by redraw
            curves.append((label, steps, mean, colour))
        plot = self.query_one("#view-losses", LossPlot)
        plot.title = ""
        plot.update_runs(curves)

    def on_resize(self) -> None:
        self._size_panes()

    def _size_panes(self) -> None:
        """Side by side when they fit (at least PANE_MIN_WIDTH each), else scroll sideways."""
        panes = list(self.query(".compare-pane"))
        if not panes:
            return
        width = max(PANE_MIN_WIDTH, self.size.width // len(panes))
        for pane in panes:
            pane.styles.width = width
        self._title_panes(width - PANE_BORDERS - TITLE_FRAME)

    def _title_panes(self, room: int) -> None:
        """Each pane's border title in `room` cells: a shared pane's short title where its own
        does not fit, a run's caption (its activation, what tells it apart) shortened with …."""
        loss_title = "loss, mean over instances (log)"
        self.query_one("#pane-losses").border_title = loss_title if len(loss_title) <= room else "mean loss (log)"
        for i, (record, label) in enumerate(zip(self.records, self.labels)):
            pane = COMPARE_PANES[pane_kind(record)]
            if pane.shared:
                title = pane.title if len(pane.title) <= room or not pane.short_title else pane.short_title
                self.query_one(f"#pane-{pane.id}").border_title = title
            else:
                self.query_one(f"#pane-{i}").border_title = fit_label(run_caption(record.activation, label), room)

    def _densities(self) -> list[float]:
        """The densities [ ] step through: those of runs whose compare pane shows one density."""
        stepping = [r for r in self.records if COMPARE_PANES[pane_kind(r)].steps_density]
        return sorted({d for r in stepping for d in r.config.densities}, reverse=True)

    def redraw(self) -> None:
        densities = self._densities()
        target = densities[self.density_index % len(densities)] if densities else None
        groups: dict[str, list] = {}
        for i, record in enumerate(self.records):
            try:
                arrays = record.arrays
            except StoreError as exc:
                self.notify(str(exc), severity="error", markup=False)
                continue
            groups.setdefault(pane_kind(record), []).append((i, record, arrays))
        for kind, items in groups.items():
            COMPARE_PANES[kind].update(self, items, target)
        status = Text(f"{len(self.records)} runs", style="bold")
        if target is not None:
            where = f"WᵀW at density {target:.3g} ({self.density_index % len(densities) + 1}/{len(densities)})"
            longer = f"   {where}, one colour scale   [ ] density"
            status.append(longer if len(longer) + 40 <= self.size.width else f"   {where}, one scale")
        status.append("   a: all config fields" if not self.all_fields else "   a: differing fields only", style="dim")
        self.query_one("#compare-status", Static).update(status)

    def _fill_diff(self) -> None:
        table = self.query_one("#diff", DataTable)
        table.clear(columns=True)
        table.add_column("field", key="field")
        for i, record in enumerate(self.records):  # its short name, as the runs table shows it
            table.add_column(Text(record.name or record.id, style="bold"), key=str(i))
        for name, values in config_diff(self.records, self.all_fields):
            distinct = len(set(values)) > 1
            table.add_row(Text(name, style="bold" if distinct else "dim"), *[Text(v, style="yellow" if distinct else "") for v in values])
        table.add_row(Text("final loss", style="bold"), *[format_loss(r.final_loss) for r in self.records])
        table.add_row(Text("status", style="bold"), *[r.status for r in self.records])

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "density":
            return bool(self._densities())  # only where WᵀW panes are shown: else not even in the footer
        if action == "reference":
            return any(pane_kind(r) == "dstar" for r in self.records)  # hidden without a D* pane
        return True

    def action_density(self, delta: int) -> None:
        if self._densities():
            self.density_index = (self.density_index + delta) % len(self._densities())
            self.redraw()

    def action_toggle_all_fields(self) -> None:
        self.all_fields = not self.all_fields
        self._fill_diff()
        self.redraw()

    def action_reference(self) -> None:
        """Ask for a file of published D* curves to overlay (kept for the session)."""
        ask_reference(self, self.redraw)

    def action_export(self) -> None:
        export_in_background(self.app, self.records)

    def action_back(self) -> None:
        self.dismiss()
