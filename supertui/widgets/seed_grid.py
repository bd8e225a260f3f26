"""Every seed of an n=2 phase grid, not only the lowest-loss one: what the blog's single-model
diagrams show and the best-of-seeds diagram hides.

Two kinds of view on the phase grid's axes (and its exact ReLU marks), `v` steps through them:
- **shares**: each cell split left to right into the shares of the point's seeds in each phase,
  in the phases' colours (engine.science.phase.SeedPopulation); the readout adds the loss gap, how much
  higher the median loss of the seeds outside the winning phase is than the winners';
- **seed k alone**: the diagram of one seed's own model at every point (one model per point, as
  the blog trains), titled with the sign of w1·w2 that seed started from.

    grid.update_populations(cfg.densities, cfg.relative_importances, populations, singles,
                            init_products)

populations: one SeedPopulation per point (point order); singles: per seed, its phase at every
point; init_products: per seed, w1·w2 at initialisation (None where no step-0 snapshot is kept).
Moving the cursor posts PhaseGrid.PointSelected, like the phase grid.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from rich.text import Text
from textual.binding import Binding

from engine.science.phase import PHASES, SeedPopulation
from supertui.widgets.palette import PHASE_COLORS, PHASE_GLYPHS, PHASE_LABELS
from supertui.widgets.phase_grid import PhaseGrid, _fill
from supertui.widgets.terminal_colors import PHASE_COLORS_16, color_system

SHARES = 0  # the view index of the shares; seed k alone is view k + 1


def share_phases(shares: np.ndarray, width: int) -> list[str]:
    """The phase each of `width` characters of a cell shows: left to right in PHASES order, each
    character the phase covering its middle, so a phase holding a share q fills about q * width."""
    edges = np.cumsum(shares) / max(float(np.sum(shares)), 1e-12)  # [4]
    middles = (np.arange(width) + 0.5) / width
    return [PHASES[min(int(np.searchsorted(edges, m)), len(PHASES) - 1)] for m in middles]


def sign_words(product: float | None) -> str:
    if product is None or not np.isfinite(product):
        return ""
    return "w1·w2 < 0 at init" if product < 0 else "w1·w2 ≥ 0 at init"


def loss_ratio(ratio: float) -> str:
    """A loss ratio as it reads: `1.25×`, `37×`, and past 100 its power of ten (`10^4.4×`), as the
    seeds PNG's log colour scale shows it (a percentage such as +2632378% does not read)."""
    if not np.isfinite(ratio) or ratio <= 0:
        return "–"
    return f"{ratio:.3g}×" if ratio < 100 else f"10^{np.log10(ratio):.1f}×"


class SeedGrid(PhaseGrid):
    """Seed shares per point, or one seed's own diagram. See the module docstring."""

    BINDINGS = [Binding("v", "next_view", "Seed view", id="seed_grid.view")]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._populations: list[SeedPopulation] = []
        self._singles: list[list[str]] = []
        self._products: list[float | None] = []
        self._axes: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))
        self._view = SHARES

    def update_populations(
        self,
        densities: Sequence[float],
        relative_importances: Sequence[float],
        populations: Sequence[SeedPopulation],
        singles: Sequence[Sequence[str]],
        init_products: Sequence[float | None] | None = None,
    ) -> None:
        points = len(densities) * len(relative_importances)
        if len(populations) != points or any(len(s) != points for s in singles):
            raise ValueError(f"populations and each seed's phases: expected {points} points")
        self._axes = (np.asarray(densities, dtype=float), np.asarray(relative_importances, dtype=float))
        self._populations, self._singles = list(populations), [list(s) for s in singles]
        products = list(init_products) if init_products is not None else []
        self._products = (products + [None] * len(self._singles))[: len(self._singles)]
        self._view = min(self._view, len(self._singles))
        self._show()

    @property
    def view(self) -> int:
        """SHARES, or k + 1 while seed k's own diagram is shown."""
        return self._view

    def action_next_view(self) -> None:
        if self._singles:
            self._view = (self._view + 1) % (len(self._singles) + 1)
            self._show()

    def _show(self) -> None:
        d, r = self._axes
        if self._view == SHARES:
            phases, title = [p.winner for p in self._populations], "seeds in each phase, per point"
        else:
            k = self._view - 1
            words = sign_words(self._products[k])
            phases, title = self._singles[k], f"seed {k + 1} of {len(self._singles)} alone" + (f", {words}" if words else "")
        self.update_grid(d, r, phases, None, title=title, seeds=1)
        self._version += 1  # the shares can change while the winners' phases do not
        self.refresh()

    # ----- drawing ------------------------------------------------------------------------
    def _cell(self, line: Text, di: int, ri: int, marks, cell_w: int, sub: int, cell_h: int) -> None:
        point = di * len(self._importances) + ri
        if self._view != SHARES or point >= len(self._populations) or self._phases[point] is None:
            super()._cell(line, di, ri, marks, cell_w, sub, cell_h)
            return
        glyphs = self.mark_glyphs()
        system = color_system(self)
        for k, phase in enumerate(share_phases(self._populations[point].shares, cell_w)):
            mark = glyphs.get(marks[k]) if marks is not None and marks[k] else None
            if self.ascii:
                line.append(mark or PHASE_GLYPHS[phase])
            else:
                fill, style = _fill(PHASE_COLORS[phase], PHASE_COLORS_16[phase], 1.0, system)
                line.append(mark or fill, style)

    def readout(self) -> str:
        text = super().readout()
        if not self._populations or not text:
            return text
        di, ri = self._cursor
        point = di * len(self._importances) + ri
        if self._view != SHARES:
            return text
        population = self._populations[point]
        where = text.split(": ", 1)[0]
        counts = [(PHASE_LABELS[ph], round(q * population.count)) for ph, q in zip(PHASES, population.shares) if q > 0]
        parts = ", ".join(f"{label} {n}/{population.count}" for label, n in counts)
        gap = population.loss_gap
        if np.isfinite(gap):
            parts += f"; the others' median loss is {loss_ratio(1 + gap)} the winner's"
        return f"{where}: {parts}"

    def _legend_lines(self, width: int, compact: bool = False) -> list[Text]:
        lines = super()._legend_lines(width, compact)
        if not self._singles:
            return lines
        following = "shares" if self._view == len(self._singles) else f"seed {self._view + 1} alone"
        hint = Text(f"v: {following}", style="dim")
        if lines and lines[-1].cell_len + 2 + hint.cell_len <= width:
            lines[-1].append("  ")
            lines[-1].append_text(hint)
        else:
            lines.append(hint)
        return lines
