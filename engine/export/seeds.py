"""The seed-population figure of a phase run: what every seed of every grid point did, not only
the lowest-loss one (engine.science.phase.SeedPopulation).

Top row: the best-of-seeds diagram (what export's phase figure shows), the share of seeds in each
phase per point (each cell split in the phases' colours), and the loss gap between the seeds
outside the winning phase and those in it. Bottom row: each seed's own diagram, one model per
point as a blog trains it, titled with the sign of w1·w2 it started from.
"""

from __future__ import annotations

import numpy as np

from engine.export.figures import _steps, draw_phase, phase_axes, phase_cells, phase_legend_handles
from engine.export.style import PHASE_COLOURS, SEQUENTIAL_CMAP, new_figure, styled
from engine.science.phase import PHASES, seed_init_products
from engine.store.runs import RunRecord

GAP_RANGE = (0.01, 10.0)  # loss gaps drawn from 1% to 1000% (log colour scale), clipped outside


def draw_seed_shares(ax, populations, *, label_axes: bool = True) -> None:
    """Each cell split left to right (in log density) into the shares of its seeds in PHASES order."""
    from matplotlib.patches import Rectangle

    for p, (x0, x1, y0, y1) in phase_cells(populations):
        lo, width = np.log10(x0), np.log10(x1) - np.log10(x0)
        start = 0.0
        for phase, share in zip(PHASES, p.shares):
            if share <= 0:
                continue
            a, b = 10 ** (lo + start * width), 10 ** (lo + (start + share) * width)
            ax.add_patch(Rectangle((a, y0), b - a, y1 - y0, facecolor=PHASE_COLOURS[phase], linewidth=0))
            start += share
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="white", linewidth=0.6))
    phase_axes(ax, populations, label_axes=label_axes)


def draw_loss_gap(ax, populations, *, label_axes: bool = True):
    """The loss gap per cell on a log colour scale; white where every seed is in the winner's phase."""
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Rectangle

    cmap, norm = colormaps[SEQUENTIAL_CMAP], LogNorm(*GAP_RANGE, clip=True)
    for p, (x0, x1, y0, y1) in phase_cells(populations):
        gap = p.loss_gap
        colour = cmap(norm(max(gap, GAP_RANGE[0]))) if np.isfinite(gap) else "white"
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor=colour, edgecolor="#DDDDDD", linewidth=0.3))
    phase_axes(ax, populations, label_axes=label_axes)
    return cmap, norm


@styled
def figure_seeds(record: RunRecord):
    from matplotlib.cm import ScalarMappable

    from engine.experiments.phase import PHASE, SPARSE, phase_measures, seed_measures

    cfg = record.config
    grid, populations, singles = PHASE.grid(record), PHASE.populations(record), PHASE.seed_grids(record)
    init = PHASE.initial_W(record)
    products = {} if init is None else seed_init_products(init, record.arrays.instances.seed)
    columns = max(3, len(singles))
    fig = new_figure(2.35 * columns + 1.4, 6.0)
    axes = fig.subplots(2, columns, squeeze=False, sharex=True, sharey=True)
    draw_phase(axes[0, 0], grid, seeds=cfg.seeds)
    axes[0, 0].set_title(f"lowest-loss of {cfg.seeds} seeds", fontsize=8)
    draw_seed_shares(axes[0, 1], populations, label_axes=False)
    axes[0, 1].set_title("seeds in each phase (shares)", fontsize=8)
    cmap, norm = draw_loss_gap(axes[0, 2], populations, label_axes=False)
    axes[0, 2].set_title("loss gap of the other seeds", fontsize=8)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes[0, 2], pad=0.02, fraction=0.08,
                 label="others' median loss / winners' − 1\n(white: all seeds agree)")
    for c in range(3, columns):
        axes[0, c].set_visible(False)
    for c in range(columns):
        ax = axes[1, c]
        if c >= len(singles):
            ax.set_visible(False)
            continue
        seed = cfg.seed + c
        draw_phase(ax, singles[c], seeds=1, label_axes=c == 0)
        start = products.get(seed)
        sign = "" if start is None else f", w1·w2 {'<' if start < 0 else '≥'} 0 at init"
        ax.set_title(f"seed {seed} alone{sign}", fontsize=8)
    for ax in axes.ravel():
        ax.set_xlabel("")
        ax.set_ylabel("")
    for ax in axes[1]:
        ax.set_xlabel("density 1−S (log)")
    for ax in axes[:, 0]:
        ax.set_ylabel("importance I₂/I₁ (log)")
    m = seed_measures(record)
    fig.legend(handles=phase_legend_handles(cfg.seeds, {p.phase for p in grid}), loc="outside lower center",
               frameon=False, fontsize=7, ncols=4)
    fig.suptitle(
        f"{record.activation}: every seed of every point (n=2, m=1, {_steps(record)} steps, batch {cfg.batch_size}, "
        f"{cfg.seeds} seeds/point)\nbelow density {SPARSE:g}: the lowest-loss seed superposes at "
        f"{_share(phase_measures(record)['superposition_sparse'])}, single seeds at {_share(m['seeds_superposed_sparse'])}",
        fontsize=9,
    )
    return fig


def _share(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{100 * x:.0f}%"
