"""Seed agreement at a phase-grid point, and the one way every view draws and names it.

A grid point trains `seeds` models; the lowest-loss seed decides the phase, and agreement is the
fraction of the point's seeds in that phase: k/seeds, 1 <= k <= seeds (the winner always agrees
with itself). The terminal grid and the exported PNG both draw a point's phase colour at opacity
0.2 + 0.8 * agreement over white (unanimous points solid, lone winners pale) and label the levels
"k/N seeds agree".

Plain Python on purpose: the app draws with it without importing matplotlib.
"""

from __future__ import annotations

from typing import Iterable

MIN_OPACITY = 0.2  # a lone winner among many seeds: still visible, clearly pale
LEGEND_SWATCH = "#555555"  # the neutral colour legends show the agreement levels in
MAX_INFERRED_SEEDS = 64


def agreement_alpha(agreement: float) -> float:
    """Opacity of a point whose seeds agree by `agreement` (0..1): unanimous points are solid."""
    return MIN_OPACITY + (1 - MIN_OPACITY) * min(max(float(agreement), 0.0), 1.0)


def agreeing_seeds(agreement: float, seeds: int) -> int:
    """How many of `seeds` seeds share the winner's phase."""
    return min(max(round(float(agreement) * seeds), 1), seeds)


def agreement_label(agreeing: int, seeds: int) -> str:
    """The one wording of an agreement level, in legends and readouts: '2/3 seeds agree'."""
    return f"{agreeing}/{seeds} seeds agree"


def legend_levels(seeds: int) -> list[int]:
    """The agreeing-seed counts a legend shows, most first: every level down to half the seeds,
    and the lone winner (the palest), so a legend for many seeds stays short."""
    if seeds <= 1:
        return [1]
    return [k for k in range(seeds, 0, -1) if 2 * k >= seeds or k == 1]


def agreement_shade(colour: str, agreement: float, background: str = "#FFFFFF") -> str:
    """`colour` ('#RRGGBB') at the agreement's opacity over `background`: the colour the PNG shows."""
    alpha = agreement_alpha(agreement)
    fg, bg = _rgb(colour), _rgb(background)
    return "#{:02X}{:02X}{:02X}".format(*(round(b + (f - b) * alpha) for f, b in zip(fg, bg)))


def infer_seeds(agreements: Iterable[float]) -> int:
    """The smallest seed count N whose levels k/N give every agreement seen: a fallback for a
    caller that knows the fractions but not the number of seeds (all unanimous gives 1)."""
    values = [float(a) for a in agreements if a == a]
    for n in range(1, MAX_INFERRED_SEEDS + 1):
        if all(abs(a * n - round(a * n)) < 1e-6 for a in values):
            return n
    return MAX_INFERRED_SEEDS


def _rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)
