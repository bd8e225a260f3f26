"""The n=2, m=1 phase diagram: one cell per grid point, coloured by the winning seed's phase.

x is the density 1-S (log, 0.01..1, left to right), y the relative importance r of feature 2
(log, 0.1..10, larger at the top). Points not trained yet are dim dots, so the grid fills in
cell by cell during a run. A cell is as pale as few of its seeds agree with the winner: the
phase colour at opacity 0.2 + 0.8 * k/N over white, labelled "k/N seeds agree", exactly as in
the exported PNG (engine.science.agreement; in 16 colours, where no paler shade exists, a shade glyph
▓▒░ in the colour over white). The exact ReLU reference
(SCIENCE.md 7; engine.science.relu_reference, the optimum over all of W and b) is drawn over it as
marks: the characters its boundary polylines pass through (`reference_boundary()`: superposition
against feature 1 and against feature 2, and above the triple point the r = 1 line where feature 1
hands the dimension to feature 2), and the triple point itself. `b` toggles those marks.

A saved run::

    from engine.store.run_json import run_phase_grid

    points = run_phase_grid(record)  # list[PhasePoint] in point order, or None if not a phase run
    if points is not None:
        cfg = record.config
        grid.update_grid(
            cfg.densities,
            cfg.relative_importances,
            [p.phase for p in points],
            [p.agreement for p in points],
            seeds=cfg.seeds,
        )

While training, pass None for the points not yet classified. Without `seeds`, the grid takes N
from the agreements it is given (the smallest N whose levels k/N they all are).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from engine.science.agreement import (
    LEGEND_SWATCH,
    agreeing_seeds,
    agreement_alpha,
    agreement_label,
    agreement_shade,
    infer_seeds,
    legend_levels,
)
from engine.science.phase import PHASES
from engine.science.relu_reference import reference_boundary, reference_triple_point
from supertui.widgets.no_color import NoColorAware
from supertui.widgets.palette import PHASE_COLORS, PHASE_GLYPHS, PHASE_LABELS, hex_to_rgb
from supertui.widgets.terminal_colors import (
    BRIGHT_WHITE,
    PHASE_COLORS_16,
    color_system,
    is_sixteen,
    palette_color,
    shade_glyph,
)

PHASE_SHORT_LABELS = {"feature1": "f1", "feature2": "f2", "superposition": "both", "neither": "none"}
UNTRAINED = "·"
CURSOR_MARK = "◆"
BOUNDARY_MARK = "•"
ASCII_BOUNDARY = "*"
TRIPLE_MARK = "●"
ASCII_TRIPLE = "@"
FOUND_MARK = "×"  # a point of the boundary a refinement found (engine.science.boundary)
ASCII_FOUND = "x"
BOUNDARY, TRIPLE, FOUND = 1, 2, 3  # what a character of the marks array holds (0: nothing)
SAMPLES_PER_BOX = 4  # points per box traced along a boundary polyline, so no box is skipped
LEGEND_SWATCH_16 = 8  # LEGEND_SWATCH's grey in 16 colours
Y_GUTTER = 6  # "  0.1 " tick labels of r
# The axes' names, longest first: the first that fits the pane (a 58-column pane cut the first).
AXIS_NAMES = (
    "density 1-S (log) →    ↑ relative importance r of feature 2 (log)",
    "density 1-S (log) →  ↑ importance r of feature 2",  # its ticks 0.1 1 10 say log
    "density →  ↑ importance r",
)


def _tick_label(value: float) -> str:
    return f"{value:g}"


def _log_edges(values: np.ndarray) -> np.ndarray:
    """Cell edges in log10 space: geometric midpoints, ends mirrored. [N] -> [N + 1]."""
    logs = np.log10(values)
    if len(logs) == 1:
        return np.array([logs[0] - 0.5, logs[0] + 0.5])
    mids = (logs[1:] + logs[:-1]) / 2
    return np.concatenate([[2 * logs[0] - mids[0]], mids, [2 * logs[-1] - mids[-1]]])


def _pick(count: int, room: int) -> np.ndarray:
    """Indices of `count` points to show in `room` cells: all of them, or evenly spread."""
    if count <= room:
        return np.arange(count)
    return np.unique(np.round(np.linspace(0, count - 1, max(room, 1))).astype(int))


def _box_of(log_s: np.ndarray, log_r: np.ndarray, s_edges: np.ndarray, r_edges: np.ndarray):
    """Row and column of the boxes holding these points (log10 coordinates), and which are inside.
    s_edges [W + 1] left to right, r_edges [H + 1] top (largest r) to bottom; a point on an edge
    belongs to the box to its right or above (the r = 1 line goes to the row above it)."""
    ls, lr = np.log10(s_edges), np.log10(r_edges)[::-1]  # both ascending
    col = np.searchsorted(ls, log_s, side="right") - 1
    up = np.searchsorted(lr, log_r, side="right") - 1  # counted from the bottom
    inside = (col >= 0) & (col < len(ls) - 1) & (up >= 0) & (up < len(lr) - 1)
    return len(lr) - 2 - up, col, inside


def boundary_mask(s_edges: np.ndarray, r_edges: np.ndarray) -> np.ndarray:
    """Which boxes the exact ReLU boundary passes through: s_edges [W + 1] left to right,
    r_edges [H + 1] top (largest r) to bottom -> bool [H, W].

    Each of the reference's polylines (engine.science.relu_reference.reference_boundary) is traced in
    (log s, log r) in steps of a quarter of the smallest box, and every box a step lands in is marked."""
    mask = np.zeros((len(r_edges) - 1, len(s_edges) - 1), dtype=bool)
    box = min(np.abs(np.diff(np.log10(s_edges))).min(), np.abs(np.diff(np.log10(r_edges))).min())
    for line in reference_boundary():
        x, y = np.log10(line.density), np.log10(line.relative_importance)  # [k]
        pieces = np.maximum(1, np.ceil(np.hypot(np.diff(x), np.diff(y)) * SAMPLES_PER_BOX / box)).astype(int)
        t = [np.arange(p) / p for p in pieces]
        xs = np.concatenate([x[k] + f * (x[k + 1] - x[k]) for k, f in enumerate(t)] + [x[-1:]])
        ys = np.concatenate([y[k] + f * (y[k + 1] - y[k]) for k, f in enumerate(t)] + [y[-1:]])
        row, col, inside = _box_of(xs, ys, s_edges, r_edges)
        mask[row[inside], col[inside]] = True
    return mask


def triple_point_box(s_edges: np.ndarray, r_edges: np.ndarray) -> tuple[int, int] | None:
    """(row, column) of the box holding the reference's triple point, or None when it is off the grid."""
    s, r = reference_triple_point()
    row, col, inside = _box_of(np.log10([s]), np.log10([r]), s_edges, r_edges)
    return (int(row[0]), int(col[0])) if inside[0] else None


def boundary_crosses(s_lo: float, s_hi: float, r_lo: float, r_hi: float) -> bool:
    """Does the exact ReLU boundary pass through the box [s_lo, s_hi] x [r_lo, r_hi]?"""
    return bool(boundary_mask(np.array([s_lo, s_hi]), np.array([r_hi, r_lo]))[0, 0])


class PhaseGrid(NoColorAware, Widget, can_focus=True):
    """Phase diagram of an n=2 phase sweep. See the module docstring for a saved-run example."""

    DEFAULT_CSS = """
    PhaseGrid {
        width: 1fr;
        height: 1fr;
        min-height: 8;
        text-wrap: nowrap;
        text-overflow: clip;
    }
    """

    BINDINGS = [
        Binding("b", "toggle_boundary", "Boundary", id="phase_grid.boundary"),
        Binding("up,k", "move_cursor(0, 1)", "point", show=False),
        Binding("down,j", "move_cursor(0, -1)", "point", show=False),
        Binding("left,h", "move_cursor(-1, 0)", "point", show=False),
        Binding("right,l", "move_cursor(1, 0)", "Point", key_display="←→↑↓", id="phase_grid.cursor"),
    ]

    @dataclass
    class PointSelected(Message):
        """The cursor is on grid point density_index * R + importance_index."""

        density_index: int
        importance_index: int
        density: float
        relative_importance: float
        phase: str | None
        agreement: float | None
        grid: "PhaseGrid | None" = None

        @property
        def control(self) -> "PhaseGrid | None":
            return self.grid

    show_boundary: reactive[bool] = reactive(True)

    def __init__(
        self,
        *,
        title: str = "",
        ascii: bool | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._title = title
        self._ascii = ascii
        self._densities = np.zeros(0)
        self._importances = np.zeros(0)
        self._phases: list[str | None] = []
        self._agreement = np.zeros(0)
        self._seeds_given: int | None = None
        self._found: list[tuple[float, float]] = []
        self._seeds = 1  # as given, else inferred from the agreements
        self._cursor = (0, 0)  # (density index, importance index) into the full grid
        self._shown: tuple[np.ndarray, np.ndarray] = (np.zeros(0, int), np.zeros(0, int))
        self._version = 0
        self._cache: tuple[tuple, Text] | None = None
        self._empty_text = "no phase grid yet"  # what an empty grid says

    # ----- data -------------------------------------------------------------------------------
    def update_grid(
        self,
        densities: Sequence[float],
        relative_importances: Sequence[float],
        phases: Sequence[str | None],
        agreement: Sequence[float] | None = None,
        *,
        title: str | None = None,
        seeds: int | None = None,
        found: Sequence[tuple[float, float]] = (),
    ) -> None:
        """Phases flat in point order: point = density_index * R + r_index (engine.instances's order).
        None marks a point not trained yet; agreement (0..1 per point) defaults to 1. `seeds`, the
        seeds per point, names the levels k/seeds; without it they are inferred (see above)."""
        d = np.asarray(densities, dtype=float)
        r = np.asarray(relative_importances, dtype=float)
        expected = len(d) * len(r)
        if len(phases) != expected:
            raise ValueError(f"phases: expected {expected} points ({len(d)} densities x {len(r)} importances), got {len(phases)}")
        unknown = {p for p in phases if p is not None and p not in PHASES}
        if unknown:
            raise ValueError(f"phases: unknown phase {sorted(unknown)[0]!r} (accepted: {', '.join(PHASES)} or None)")
        if (d <= 0).any() or (r <= 0).any():
            raise ValueError("densities and relative_importances must be positive (log axes)")
        agree = np.ones(expected) if agreement is None else np.asarray(agreement, dtype=float)
        if agree.shape != (expected,):
            raise ValueError(f"agreement: expected {expected} values, got {agree.shape[0] if agree.ndim else 1}")
        if seeds is not None and (int(seeds) != seeds or seeds < 1):
            raise ValueError(f"seeds: expected a whole number >= 1, got {seeds!r}")
        new_title = self._title if title is None else title
        same = (
            np.array_equal(d, self._densities)
            and np.array_equal(r, self._importances)
            and list(phases) == self._phases
            and np.array_equal(agree, self._agreement)
            and new_title == self._title
            and seeds == self._seeds_given
            and list(found) == self._found
        )
        if same:
            return
        self._found = list(found)  # (density, r) of each boundary point a refinement found
        self._densities, self._importances = d, r
        self._phases, self._agreement, self._title = list(phases), agree, new_title
        self._seeds_given = None if seeds is None else int(seeds)
        trained = [a for a, p in zip(agree.tolist(), self._phases) if p is not None]
        self._seeds = self._seeds_given or infer_seeds(trained)
        self._cursor = (min(self._cursor[0], len(d) - 1), min(self._cursor[1], len(r) - 1))
        self._version += 1
        self.refresh()

    def phase_at(self, density_index: int, importance_index: int) -> str | None:
        return self._phases[density_index * len(self._importances) + importance_index]

    @property
    def trained_count(self) -> int:
        return sum(p is not None for p in self._phases)

    @property
    def seeds(self) -> int:
        """Seeds per point: as given to update_grid, else inferred from the trained points."""
        return self._seeds

    def agreeing_at(self, density_index: int, importance_index: int) -> int:
        """How many of the point's seeds share the winner's phase."""
        return agreeing_seeds(self._agreement[density_index * len(self._importances) + importance_index], self.seeds)

    @property
    def cursor(self) -> tuple[int, int]:
        """(density index, importance index) of the point under the cursor."""
        return self._cursor

    def action_move_cursor(self, d_density: int, d_importance: int) -> None:
        """Step to the next shown point (a subsampled grid skips the points it does not draw)."""
        if not self._phases:
            return
        cols, rows = self._shown
        if not len(cols):
            cols, rows = np.arange(len(self._densities)), np.arange(len(self._importances))
        i = int(np.argmin(np.abs(cols - self._cursor[0])))
        j = int(np.argmin(np.abs(rows - self._cursor[1])))
        i = min(max(i + d_density, 0), len(cols) - 1)
        j = min(max(j + d_importance, 0), len(rows) - 1)
        self.set_cursor(int(cols[i]), int(rows[j]))

    def set_cursor(self, density_index: int, importance_index: int) -> None:
        density_index = min(max(density_index, 0), len(self._densities) - 1)
        importance_index = min(max(importance_index, 0), len(self._importances) - 1)
        if (density_index, importance_index) == self._cursor:
            return  # no echo when a screen mirrors the cursor across grids
        self._cursor = (density_index, importance_index)
        self._version += 1
        self.refresh()
        point = density_index * len(self._importances) + importance_index
        phase = self._phases[point]
        self.post_message(
            self.PointSelected(
                density_index,
                importance_index,
                float(self._densities[density_index]),
                float(self._importances[importance_index]),
                phase,
                None if phase is None else float(self._agreement[point]),
                self,
            )
        )

    def readout(self) -> str:
        """The point under the cursor, e.g. `density 0.032  r 2.15: superposition, 2/3 seeds agree`."""
        if not self._phases:
            return ""
        di, ri = self._cursor
        point = di * len(self._importances) + ri
        phase = self._phases[point]
        where = f"density {self._densities[di]:.3g}  r {self._importances[ri]:.3g}"
        if phase is None:
            return f"{where}: not yet trained"
        if self.seeds <= 1:  # one seed (or none seen disagreeing yet): nothing to count
            return f"{where}: {PHASE_LABELS[phase]}"
        return f"{where}: {PHASE_LABELS[phase]}, {agreement_label(self.agreeing_at(di, ri), self.seeds)}"

    def on_focus(self) -> None:
        self._version += 1
        self.refresh()

    on_blur = on_focus

    def action_toggle_boundary(self) -> None:
        self.show_boundary = not self.show_boundary

    def watch_show_boundary(self) -> None:
        self.refresh()

    def show_empty(self, text: str) -> None:
        """No grid to draw, and `text` says why (plain text: never markup)."""
        self._densities, self._importances = np.zeros(0), np.zeros(0)
        self._empty_text = text
        self._version += 1
        self.refresh()

    # ----- rendering -------------------------------------------------------------------------
    def render(self) -> Text:
        key = (self._version, self.content_size.width, self.content_size.height, self.show_boundary, self.ascii, color_system(self))
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._build(self.content_size.width, self.content_size.height))
        return self._cache[1]

    def _build(self, width: int, height: int) -> Text:
        D, R = len(self._densities), len(self._importances)
        if D == 0 or R == 0:
            return Text((self._title + "\n" if self._title else "") + self._empty_text, style="dim")
        # Full chrome (an axis-name line, a long legend) when every row fits; otherwise a compact
        # legend that also names the axes, so a small pane keeps as many rows as it can.
        legend = self._legend_lines(width, compact=False)
        readout = self._readout_lines(width)
        axis_line = True
        if height - (3 + len(legend) + len(readout)) < R:  # title, x ticks, axis names, legend, readout
            legend, axis_line = self._legend_lines(width, compact=True), False
        chrome = 2 + len(legend) + axis_line + len(readout)
        avail_w = max(1, width - Y_GUTTER)
        avail_h = max(1, height - chrome)
        cols, rows = _pick(D, avail_w), _pick(R, avail_h)
        cell_w = max(1, min(4, avail_w // len(cols)))
        cell_h = max(1, min(2, avail_h // len(rows)))
        self._shown = (cols, rows)
        # One row of cells per shown importance, largest r at the top.
        rows = rows[::-1]
        x_edges, y_edges = _log_edges(self._densities[cols]), _log_edges(self._importances[rows[::-1]])[::-1]

        marks = self._boundary_marks(x_edges, y_edges, cell_w, cell_h) if self.show_boundary else None
        if self._found:
            marks = self._found_marks(marks, x_edges, y_edges, cell_w, cell_h)
        lines = [self._title_line(D, R, len(cols), len(rows))]
        y_ticks = self._tick_positions(self._importances[rows], len(rows))
        for i, ri in enumerate(rows):
            for sub in range(cell_h):
                label = y_ticks.get(i, "") if sub == 0 else ""
                # assemble: a dim base style would spread over the cells and fade their colours
                line = Text.assemble((label.rjust(Y_GUTTER - 1) + " ", "dim"))
                row_marks = None if marks is None else marks[i * cell_h + sub].tolist()
                for j, di in enumerate(cols):
                    cell_marks = None if row_marks is None else row_marks[j * cell_w : (j + 1) * cell_w]
                    self._cell(line, di, ri, cell_marks, cell_w, sub, cell_h)
                lines.append(line)
        self._draw_cursor(lines, cols, rows, cell_w, cell_h)
        lines.append(self._x_tick_line(cols, cell_w))
        if axis_line:
            names = next((n for n in AXIS_NAMES if Y_GUTTER + len(n) <= width), AXIS_NAMES[-1])
            lines.append(Text(" " * Y_GUTTER + names, style="dim"))
        lines.extend(legend)
        lines.extend(readout)
        return Text("\n").join(lines)

    def _readout_lines(self, width: int) -> list[Text]:
        """The readout, on two lines (where, then what) when one is too narrow for it."""
        style = "bold" if self.has_focus else ""
        text = self.readout()
        if len(text) <= width or ": " not in text:
            return [Text(text, style=style)]
        where, what = text.split(": ", 1)
        return [Text(where + ":", style=style), Text(what, style=style)]

    def _draw_cursor(self, lines: list[Text], cols: np.ndarray, rows: np.ndarray, cell_w: int, cell_h: int) -> None:
        """Mark the cursor's cell (the nearest shown one): a ◆ in the middle and, 3 or more
        columns wide, brackets at its edges, drawn in the cell's ink over its own colour, which
        must stay readable (reverse video turned the whole cell into the ink colour). Without
        colour, reverse video as well."""
        i = int(np.argmin(np.abs(cols - self._cursor[0])))
        j_full = int(np.argmin(np.abs(rows - self._cursor[1])))  # rows run from the top (largest r)
        x = Y_GUTTER + i * cell_w
        for sub in range(cell_h):
            line = lines[1 + j_full * cell_h + sub]
            chars = list(line.plain[x : x + cell_w])
            if cell_w >= 3:
                chars[0], chars[-1] = "[", "]"
            if sub == (cell_h - 1) // 2:
                chars[(cell_w - 1) // 2] = CURSOR_MARK
            line.plain = line.plain[:x] + "".join(chars) + line.plain[x + cell_w :]
            line.stylize(Style(bold=True, reverse=self.ascii), x, x + cell_w)

    def _title_line(self, D: int, R: int, shown_d: int, shown_r: int) -> Text:
        """Title, points trained and, where the pane is too small for the grid, what it leaves
        out: that note is kept whole before anything else (it was cut to `showin`)."""
        title = self._title or "phases n=2 m=1"
        points = f"  {self.trained_count}/{D * R} points"
        hidden = shown_d < D or shown_r < R
        gone = [f"{n - shown} of {n} {what} hidden" for n, shown, what in ((D, shown_d, "columns"), (R, shown_r, "rows"))
                if shown < n]
        note = f"  {', '.join(gone)} (a larger pane shows all)" if hidden else ""
        if len(note) > (self.content_size.width or 10**6):
            note = f"  {', '.join(gone)}"
        width = self.content_size.width or 10**6
        for head, count in ((title, points), (title, ""), ("", "")):
            if len(head) + len(count) + len(note) <= width:
                break
        line = Text(head, style="bold")
        line.append(count, style="dim")
        line.append(note.lstrip() if not head and not count else note, style="italic")
        return line

    @staticmethod
    def _boundary_marks(x_edges: np.ndarray, y_edges: np.ndarray, cell_w: int, cell_h: int) -> np.ndarray:
        """What the exact reference puts on each character: int [lines, columns], BOUNDARY where
        its boundary passes, TRIPLE at its triple point, else 0. Each cell is split into its
        characters in log space so the curve is traced at screen resolution."""
        s_edges = 10 ** np.concatenate(
            [np.linspace(a, b, cell_w + 1)[:-1] for a, b in zip(x_edges[:-1], x_edges[1:])] + [x_edges[-1:]]
        )
        r_edges = 10 ** np.concatenate(
            [np.linspace(a, b, cell_h + 1)[:-1] for a, b in zip(y_edges[:-1], y_edges[1:])] + [y_edges[-1:]]
        )
        marks = boundary_mask(s_edges, r_edges).astype(np.int8) * BOUNDARY
        triple = triple_point_box(s_edges, r_edges)
        if triple is not None:
            marks[triple] = TRIPLE
        return marks

    def _found_marks(self, marks, x_edges: np.ndarray, y_edges: np.ndarray, cell_w: int, cell_h: int) -> np.ndarray:
        """`marks` (or none) with FOUND on each character holding a boundary point found by a refinement."""
        s_edges = 10 ** np.concatenate(
            [np.linspace(a, b, cell_w + 1)[:-1] for a, b in zip(x_edges[:-1], x_edges[1:])] + [x_edges[-1:]])
        r_edges = 10 ** np.concatenate(
            [np.linspace(a, b, cell_h + 1)[:-1] for a, b in zip(y_edges[:-1], y_edges[1:])] + [y_edges[-1:]])
        if marks is None:
            marks = np.zeros((len(r_edges) - 1, len(s_edges) - 1), dtype=np.int8)
        points = np.log10(np.asarray(self._found, dtype=float))  # [k, 2]
        row, col, inside = _box_of(points[:, 0], points[:, 1], s_edges, r_edges)
        marks[row[inside], col[inside]] = FOUND
        return marks

    def mark_glyphs(self) -> dict[int, str]:
        """The character of each kind of reference mark (BOUNDARY, TRIPLE, FOUND) in this colour mode."""
        if self.ascii:
            return {BOUNDARY: ASCII_BOUNDARY, TRIPLE: ASCII_TRIPLE, FOUND: ASCII_FOUND}
        return {BOUNDARY: BOUNDARY_MARK, TRIPLE: TRIPLE_MARK, FOUND: FOUND_MARK}

    def _cell(self, line: Text, di: int, ri: int, marks: list[int] | None, cell_w: int, sub: int, cell_h: int) -> None:
        """Append one line of one grid cell to `line`."""
        point = di * len(self._importances) + ri
        phase = self._phases[point]
        seeds = self.seeds
        agreeing = agreeing_seeds(self._agreement[point], seeds)
        ascii_mode = self.ascii
        glyphs = self.mark_glyphs()
        if phase is None:
            centre = (cell_w - 1) // 2 if sub == (cell_h - 1) // 2 else -1
            for k in range(cell_w):
                if marks is not None and marks[k]:
                    line.append(glyphs[marks[k]], _UNTRAINED_MARK_STYLE)
                else:
                    line.append(UNTRAINED if k == centre else " ", _UNTRAINED_STYLE)
            return
        style = None
        if ascii_mode:
            chars = [PHASE_GLYPHS[phase]] * cell_w
            if agreeing < seeds and cell_w >= 2:
                chars[-1] = "?"
        else:
            fill, style = _fill(PHASE_COLORS[phase], PHASE_COLORS_16[phase], agreeing / seeds, color_system(self))
            chars = [fill] * cell_w
        if marks is not None:
            for k in range(cell_w):
                if marks[k]:
                    chars[k] = glyphs[marks[k]]
        line.append("".join(chars), style)

    def _tick_positions(self, values: np.ndarray, count: int) -> dict[int, str]:
        """Row (or column) index -> label for decades (0.01, 0.1, 1, 10) nearest in log space."""
        logs = np.log10(values)
        out: dict[int, str] = {}
        for decade in range(math.floor(logs.min() - 0.01), math.ceil(logs.max() + 0.01) + 1):
            i = int(np.argmin(np.abs(logs - decade)))
            if abs(logs[i] - decade) <= max(0.5 * np.abs(np.diff(logs)).max(initial=0.0), 0.05):
                out[i] = _tick_label(10.0**decade)
        return out

    def _x_tick_line(self, cols: np.ndarray, cell_w: int) -> Text:
        chars = [" "] * (Y_GUTTER + len(cols) * cell_w + 4)
        last_end = -1
        for j, label in sorted(self._tick_positions(self._densities[cols], len(cols)).items()):
            x = Y_GUTTER + j * cell_w
            x = min(x, len(chars) - len(label))
            if x > last_end:
                chars[x : x + len(label)] = label
                last_end = x + len(label)
        return Text("".join(chars).rstrip(), style="dim")

    def _legend_lines(self, width: int, compact: bool = False) -> list[Text]:
        """The legend, wrapped to width; `compact` uses short labels that fit one 60-column line."""
        labels = PHASE_SHORT_LABELS if compact else PHASE_LABELS
        gap = "" if compact else " "
        mark = ASCII_BOUNDARY if self.ascii else BOUNDARY_MARK
        triple = ASCII_TRIPLE if self.ascii else TRIPLE_MARK
        state = "b: hide" if self.show_boundary else "b: show"
        items: list[Text] = []
        for phase in PHASES:
            if self.ascii:
                items.append(Text(f"{PHASE_GLYPHS[phase]}{'=' if compact else ' '}{labels[phase]}"))
            else:
                items.append(self._swatch(PHASE_COLORS[phase], PHASE_COLORS_16[phase], 1.0) + Text(gap + labels[phase]))
        if self.trained_count < len(self._phases):  # only while there are untrained points to explain
            items.append(Text(f"{UNTRAINED}untrained" if compact else f"{UNTRAINED} not yet trained", style="dim"))
        items += self._agreement_legend(compact)
        items.append(Text(f"{mark}ReLU(b)" if compact else f"{mark} exact ReLU boundary ({state})"))
        if not compact:
            items.append(Text(f"{triple} its triple point"))
        if self._found:
            found = ASCII_FOUND if self.ascii else FOUND_MARK
            items.append(Text(f"{found}found" if compact else f"{found} boundary the refinement found"))
        separator = " " if compact else "  "
        lines, current = [], Text()
        for item in items:
            if current.cell_len and current.cell_len + len(separator) + item.cell_len > width:
                lines.append(current)
                current = Text()
            if current.cell_len:
                current.append(separator)
            current.append_text(item)
        lines.append(current)
        return lines

    def _agreement_legend(self, compact: bool) -> list[Text]:
        """One item per agreement level the PNG's legend shows, in the same words: 'k/N seeds agree'."""
        seeds = self.seeds
        if seeds <= 1:
            return []
        if self.ascii:
            return [Text(f"?{'=' if compact else ' '}fewer than {agreement_label(seeds, seeds)}")]
        levels = legend_levels(seeds)
        items = []
        for k in levels:
            label = agreement_label(k, seeds)
            if compact:  # "3/3 2/3 1/3 agree": the levels, then the verb once
                label = label.split()[0] + (" agree" if k == levels[-1] else "")
            items.append(self._swatch(LEGEND_SWATCH, LEGEND_SWATCH_16, k / seeds) + Text(("" if compact else " ") + label))
        if compact:  # one item, so the levels wrap together
            return [Text(" ").join(items)]
        return items

    def _swatch(self, colour: str, colour16: int, agreement: float) -> Text:
        fill, style = _fill(colour, colour16, agreement, color_system(self))
        # assemble, not Text(style=...): a base style would spread over the label appended to it
        return Text.assemble((fill * 2, style))


_UNTRAINED_STYLE = Style(dim=True)
_UNTRAINED_MARK_STYLE = Style(color="#DDDDDD")


@lru_cache(maxsize=None)
def _fill(colour: str, colour16: int, agreement: float, system: str | None) -> tuple[str, Style]:
    """How a cell of `colour` whose seeds agree by `agreement` is filled: (character, style).
    The colour at the PNG's opacity over white; in 16 colours a shade glyph over bright white."""
    if is_sixteen(system):
        solid = palette_color(colour16, system)
        glyph = shade_glyph(agreement_alpha(agreement))
        if glyph is None:
            return " ", Style(bgcolor=solid, color=_contrast(solid.get_truecolor().hex))
        return glyph, Style(color=solid, bgcolor=palette_color(BRIGHT_WHITE, system))
    shade = agreement_shade(colour, agreement)
    return " ", Style(bgcolor=shade, color=_contrast(shade))


def _contrast(colour: str) -> str:
    r, g, b = hex_to_rgb(colour)
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#FFFFFF"
