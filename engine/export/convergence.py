"""The convergence study's figure: D* against density at a few step counts, one panel per
activation, so one can see which of the blog's numbers depend on where training stopped
(issue 28, section 5; SCIENCE.md 5.1)."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from engine.export.style import activation_style, new_figure, styled
from engine.science.convergence import MOVING_THRESHOLD, DStarHistory, dstar_near

# One line style per step count, from the earliest (faint, dotted) to the last (solid).
_STEP_STYLES = [(0, (1, 1.5)), (0, (4, 2)), (0, ())]
_STEP_ALPHAS = [0.45, 0.7, 1.0]


def settling_step(history: DStarHistory, threshold: float = MOVING_THRESHOLD) -> int | None:
    """The earliest snapshot step from which D* stays within `threshold` of its final value at
    every density (None: not even the last snapshot before the end)."""
    final = history.dstar[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        off = np.abs(history.dstar - final) / np.abs(final) > threshold  # [S, P]
    bad = np.flatnonzero(off.any(axis=1))
    first = 0 if not bad.size else int(bad[-1]) + 1
    return int(history.steps[first]) if first < len(history.steps) else None


@styled
def figure_convergence(histories: Mapping[str, DStarHistory], steps: Sequence[int]):
    """Per activation, D* of each density's lowest-loss seed at the snapshots nearest `steps`
    (those the run reached), over 1/(1−S); the panel's title gives the step from which D* stays
    within 5 % of its final value at every density."""
    from engine.export.figures import DSTAR_CAP, draw_sticky_lines, log_x_ticks

    names = list(histories)
    columns = min(4, max(1, len(names)))
    rows = max(1, math.ceil(len(names) / columns))
    fig = new_figure(max(6.5, 2.3 * columns + 1.4), 2.3 * rows + 0.5)
    axes = fig.subplots(rows, columns, squeeze=False, sharex=True, sharey=True)
    top = 1.1
    for index, name in enumerate(names):
        ax = axes[index // columns][index % columns]
        history = histories[name]
        colour = activation_style(name)["color"]
        x = 1.0 / history.density
        for k, step in enumerate(steps):
            found = dstar_near(history, step)
            if found is None:
                continue
            at, dstar = found
            shown = np.minimum(dstar, DSTAR_CAP)
            top = max(top, float(np.nanmax(shown)) * 1.05)
            style = min(k, len(_STEP_STYLES) - 1)
            ax.plot(x, shown, color=colour, linestyle=_STEP_STYLES[style], alpha=_STEP_ALPHAS[style], linewidth=1.4,
                    label=f"step {at:,}")
        settled = settling_step(history)
        when = "not settled" if settled is None else f"within {MOVING_THRESHOLD:.0%} from step {settled:,}"
        ax.set_title(f"{name}: {when}", fontsize=8)
        ax.set_xscale("log")
        log_x_ticks(ax)
        last_in_row = index % columns == columns - 1 or index == len(names) - 1
        draw_sticky_lines(ax, labelled=last_in_row)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper right", fontsize=6, frameon=False)
    for index in range(len(names), rows * columns):
        axes[index // columns][index % columns].set_visible(False)
        if index >= columns:  # the panel above an empty one is the lowest of its column: it keeps its x axis
            above = axes[index // columns - 1][index % columns]
            above.tick_params(labelbottom=True)
            above.set_xlabel("1/(1−S)")
    for ax in axes.flat:
        ax.set_ylim(0, min(top, DSTAR_CAP * 1.05))
    for row in axes:
        row[0].set_ylabel("D*")
    for ax in axes[-1]:
        ax.set_xlabel("1/(1−S)")
    fig.suptitle("D* against feature density, read at several training lengths")
    return fig
