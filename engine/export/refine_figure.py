"""Figures of refined phase boundaries (engine.sweeps.refine, engine.science.boundary).

`refinement_figure`: one refinement: every trained point coloured by its phase (smaller where the
lattice is finer), each boundary crossing with its interval as an error bar, and the exact ReLU
boundary in black. `boundaries_figure`: the boundaries of several activations on one plot, one
colour per activation (the app's), the exact ReLU boundary in black."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.export.figures import PHASE_X_RANGE, PHASE_Y_RANGE, draw_reference_boundary, plain_log_ticks
from engine.export.style import PHASE_COLOURS, activation_style, new_figure, render, styled

FOUND = "#d1006f"  # the boundary found: no phase's colour, and apart from the exact one's black


def _axes(ax) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*PHASE_X_RANGE)
    ax.set_ylim(*PHASE_Y_RANGE)
    plain_log_ticks(ax.xaxis)
    plain_log_ticks(ax.yaxis)
    draw_reference_boundary(ax)
    ax.set_xlabel("feature density 1−S (log scale)")
    ax.set_ylabel("relative importance I₂/I₁ (log scale)")


def _error_bars(ax, crossings, color: str, label: str | None = None) -> None:
    """Each crossing at its midpoint, its interval as a bar along the axis it was found on."""
    if not crossings:
        return
    s = np.array([c.density for c in crossings])
    r = np.array([c.relative_importance for c in crossings])
    xerr = np.array([[c.density - c.density_interval[0], c.density_interval[1] - c.density] for c in crossings]).T
    yerr = np.array([[c.relative_importance - c.importance_interval[0], c.importance_interval[1] - c.relative_importance]
                     for c in crossings]).T
    ax.errorbar(s, r, xerr=xerr, yerr=yerr, fmt="o", markersize=2.2, color=color, elinewidth=0.9, capsize=0,
                label=label)


@styled
def refinement_figure(known: dict, lattice, boundaries, title: str, fmt: str = "png") -> bytes:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig = new_figure(6.4, 5.2)
    ax = fig.add_subplot()
    nodes = list(known)
    s, r = lattice.coordinates([n[0] for n in nodes], [n[1] for n in nodes])
    colours = [PHASE_COLOURS[known[n].phase] for n in nodes]
    ax.scatter(s, r, c=colours, s=6, linewidths=0)
    for boundary in boundaries:
        _error_bars(ax, boundary.crossings, FOUND)
    _axes(ax)
    present = sorted({o.phase for o in known.values()})
    handles = [Patch(facecolor=PHASE_COLOURS[p], label=p) for p in present]
    handles.append(Line2D([], [], color=FOUND, marker="o", markersize=3, label="boundary found (its interval)"))
    handles.append(Line2D([], [], color="black", label="exact ReLU boundary"))
    ax.legend(handles=handles, loc="upper left", fontsize=7)
    ax.set_title(title, fontsize=9)
    return render(fig, fmt)


@styled
def boundaries_figure_bytes(found: dict, title: str = "Refined phase boundaries", fmt: str = "png") -> bytes:
    """found: activation -> list of PhaseBoundary."""
    fig = new_figure(6.4, 5.2)
    ax = fig.add_subplot()
    for index, (activation, boundaries) in enumerate(found.items()):
        crossings = [c for b in boundaries for c in b.crossings]
        _error_bars(ax, crossings, activation_style(activation, index)["color"], label=activation)
    _axes(ax)
    ax.plot([], [], color="black", label="exact ReLU boundary")
    ax.legend(loc="upper left", fontsize=7, ncol=2)
    ax.set_title(title, fontsize=9)
    return render(fig, fmt)


def boundaries_figure(found: dict, path: str | Path, title: str = "Refined phase boundaries") -> None:
    from engine.system.files import atomic_write_bytes

    atomic_write_bytes(Path(path), boundaries_figure_bytes(found, title))


def export_refinement(store, index: dict, out_dir: str | Path, fmt: str = "png", force: bool = False) -> Path:
    """The refinement's figure (every point, the boundary with its intervals, the exact ReLU
    boundary) as `<out>/<refinement id>.<fmt>`."""
    from engine.export import check_format, inside, prepare_destination, refuse_existing
    from engine.store.runs import validate_run_id
    from engine.sweeps.refine import refinement_boundaries

    path = inside(Path(out_dir), f"{validate_run_id(index['id'])}.{check_format(fmt)}")
    refuse_existing([path], force)
    lattice, known, boundaries = refinement_boundaries(store, index)
    plan = index["plan"]
    title = (f"{plan.get('activation')}: {lattice.coarse}x{lattice.coarse} refined {lattice.levels} levels, "
             f"{len(known):,} points ({len(index['runs'])} runs)")
    data = refinement_figure(known, lattice, boundaries, title, fmt=fmt)
    prepare_destination(Path(out_dir))
    from engine.system.files import atomic_write_bytes

    atomic_write_bytes(path, data)
    return path
