"""Figures of one run: the blog's per-activation layouts, drawn from a saved run's arrays.

Each `figure_*` returns a matplotlib Figure of a fixed size (inches x style.DPI pixels); the
`draw_*` helpers draw onto a given Axes so the multi-run figures reuse them as small multiples.
"""

from __future__ import annotations

import numpy as np

from typing import NamedTuple

from engine.science.agreement import LEGEND_SWATCH, agreement_alpha, agreement_label, legend_levels
from engine.export.smoothing import PNG_SMOOTHING, ema
from engine.export.style import (
    DIVERGING_CMAP,
    PHASE_COLOURS,
    PHASE_LABELS,
    SEQUENTIAL_CMAP,
    activation_style,
    format_density,
    repeat_style,
    new_figure,
    sequential_cmap,
    styled,
)
from engine.science.metrics import (
    STICKY_FRACTIONS,
    feature_dimensionality,
    feature_norms,
    gram,
    point_rows,
    point_spread,
    superposition,
)
from engine.palette import PAIR_COLORS, feature_color
from engine.science.phase import PHASES
from engine.store.runs import RunRecord
from engine.instances import lowest_loss_instances

PHASE_X_RANGE = (0.01, 1.0)
PHASE_Y_RANGE = (0.1, 10.0)
STICKY_LABELS = {1.0: "1", 3 / 4: "3/4", 2 / 3: "2/3", 1 / 2: "1/2", 2 / 5: "2/5", 3 / 8: "3/8"}
DSTAR_CAP = 2.0  # D* above this (tiny weights: nothing represented) is drawn at the cap as a triangle


# --------------------------------------------------------------------------- selecting instances


def best_instances(record: RunRecord) -> list[int]:
    """Per grid point, in the config's order, the instance with the lowest final loss
    (a diverged instance never wins): what the blog shows when it trains several seeds."""
    a = record.arrays
    return [int(k) for k in lowest_loss_instances(a.instances.point, a.final_loss)]


class DimsCurve(NamedTuple):
    """D* per grid point of a run, in point order: the lowest-loss seed's value (the one meaning
    of D* everywhere), with the other seeds' range as a band."""

    density: np.ndarray  # [P]
    dstar: np.ndarray  # [P] of the lowest-loss seed
    feature_dims: np.ndarray  # [P, n] D_i of the lowest-loss seed's features
    low: np.ndarray  # [P] lowest D* over the point's seeds (diverged ones left out)
    high: np.ndarray  # [P] highest


def dims_curve(record: RunRecord) -> DimsCurve:
    a = record.arrays
    rows = point_rows(a.instances, a.W, a.final_loss, ("dims_per_feature",))
    winners = [r["winner"] for r in rows]
    low, high = point_spread(a.instances, a.W, a.final_loss, "dims_per_feature", a.diverged)
    return DimsCurve(
        np.array([r["density"] for r in rows]),
        np.array([r["dims_per_feature"] for r in rows]),
        feature_dimensionality(a.W[winners]),
        low,
        high,
    )


def run_label(record: RunRecord) -> str:
    return f"{record.activation} · run {record.id}"


# --------------------------------------------------------------------------- WᵀW row (sparsity)


def finite_max(values, default: float) -> float:
    """The largest finite value (a diverged instance draws blank, never sets a scale), else default."""
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else default


def gram_scale(records: list[RunRecord]) -> float:
    """The largest |WᵀW| entry shown for these runs: one diverging scale centred on 0."""
    vmax = 0.0
    for record in records:
        G = gram(record.arrays.W[best_instances(record)])
        finite = np.abs(G[np.isfinite(G)])
        if finite.size:
            vmax = max(vmax, float(finite.max()))
    return vmax or 1.0


def signed_sqrt_norm(vmax: float):
    """A diverging colour norm centred on 0 that compresses large magnitudes (sign(x) sqrt|x|), so
    runs whose weights differ several-fold in scale still show their structure on one scale."""
    from matplotlib.colors import FuncNorm

    forward = lambda x: np.sign(x) * np.sqrt(np.abs(x))  # noqa: E731
    inverse = lambda y: np.sign(y) * y**2  # noqa: E731
    return FuncNorm((forward, inverse), vmin=-vmax, vmax=vmax)


def draw_gram(ax, G: np.ndarray, vmax: float, title: str | None = None, label_axes: bool = True, norm=None):
    """One WᵀW heatmap [n, n] on a diverging map centred on 0 (linear unless a norm is given)."""
    if norm is None:
        image = ax.imshow(G, cmap=DIVERGING_CMAP, vmin=-vmax, vmax=vmax, interpolation="nearest")
    else:
        image = ax.imshow(G, cmap=DIVERGING_CMAP, norm=norm, interpolation="nearest")
    n = G.shape[0]
    ticks = np.arange(0, n, max(1, n // 5))
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    if label_axes:
        ax.set_ylabel("feature i")
    ax.set_xlabel("feature j")
    if title:
        ax.set_title(title)
    for side in ("top", "right"):
        ax.spines[side].set_visible(True)
    return image


def draw_neuron_bars(ax, W: np.ndarray, colours, ylim: float, label_axes: bool = True) -> None:
    """Stacked bars of W[k, i] per hidden neuron k, one colour per feature; positive weights stack
    up from 0 and negative ones down, so a neuron holding an antipodal pair shows both halves."""
    m, n = W.shape
    up = np.zeros(m)
    down = np.zeros(m)
    x = np.arange(m)
    for i in range(n):
        w = W[:, i]
        pos, neg = np.clip(w, 0, None), np.clip(w, None, 0)
        ax.bar(x, pos, bottom=up, color=colours[i], width=0.8, linewidth=0.3, edgecolor="white")
        ax.bar(x, neg, bottom=down, color=colours[i], width=0.8, linewidth=0.3, edgecolor="white")
        up += pos
        down += neg
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(x)
    ax.set_xlim(-0.6, m - 0.4)
    ax.set_ylim(-ylim, ylim)
    ax.set_xlabel("hidden neuron k")
    if label_axes:
        ax.set_ylabel("weight W[k, i], stacked")


def feature_colours(n: int) -> list[str]:
    """engine.palette's feature colours, the ones the app's neuron bars use."""
    return [feature_color(i) for i in range(n)]


def draw_norm_bars(ax, W: np.ndarray, label_axes: bool = True):
    """Toy Models' feature figure: a bar of ‖W_i‖ per feature, coloured by its superposition
    Σ_{j≠i}(Ŵ_i·W_j)² on engine.palette's sequential scale (0 dark, >= 1 bright)."""
    from matplotlib.colors import Normalize

    norms, shared = feature_norms(W), superposition(W)
    cmap, norm = sequential_cmap(), Normalize(0.0, 1.0)
    y = np.arange(len(norms))
    ax.barh(y, norms, color=cmap(norm(np.minimum(shared, 1.0))), height=0.8, linewidth=0)
    ax.set_yticks(y[:: max(1, len(y) // 5)])
    ax.invert_yaxis()
    ax.set_xlabel("‖W_i‖")
    if label_axes:
        ax.set_ylabel("feature i")
    return cmap, norm


@styled
def figure_gram_row(record: RunRecord):
    """The blog's per-activation figure: WᵀW per density (one shared diverging scale) with the
    neuron-feature weight bars under each."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm, ListedColormap

    a = record.arrays
    cfg = record.config
    chosen = best_instances(record)
    W = a.W[chosen]  # [P, m, n]
    G = gram(W)  # [P, n, n]
    vmax = gram_scale([record])
    stack = max(finite_max(np.clip(W, 0, None).sum(-1), 0.0), finite_max(-np.clip(W, None, 0).sum(-1), 0.0), 1e-6)
    columns = len(chosen)
    fig = new_figure(1.55 * columns + 1.6, 5.9)
    axes = fig.subplots(3, columns, squeeze=False, gridspec_kw={"height_ratios": [1.0, 0.85, 0.85]})
    colours = feature_colours(cfg.n)
    norm_top = max(1.0, finite_max(feature_norms(W), 1.0) * 1.05)
    image = shading = None
    for c, k in enumerate(chosen):
        density = float(a.instances.density[k])
        image = draw_gram(axes[0, c], G[c], vmax, f"1−S = {format_density(density)}", label_axes=c == 0)
        draw_neuron_bars(axes[1, c], W[c], colours, stack * 1.05, label_axes=c == 0)
        shading = draw_norm_bars(axes[2, c], W[c], label_axes=c == 0)
        axes[2, c].set_xlim(0, norm_top)
        if c:
            axes[1, c].tick_params(labelleft=False)
            axes[2, c].tick_params(labelleft=False)
    fig.colorbar(image, ax=axes[0, :].tolist(), label="WᵀW entry", shrink=0.9, pad=0.01)
    cmap = ListedColormap(colours)
    norm = BoundaryNorm(np.arange(cfg.n + 1) - 0.5, cfg.n)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes[1, :].tolist(), shrink=0.9, pad=0.01)
    bar.set_label(_importance_label(record))
    bar.set_ticks(np.arange(0, cfg.n, max(1, cfg.n // 5)))
    fig.colorbar(ScalarMappable(norm=shading[1], cmap=shading[0]), ax=axes[2, :].tolist(), shrink=0.9, pad=0.01,
                 label="superposition Σⱼ≠ᵢ(Ŵᵢ·Wⱼ)²")
    fig.suptitle(
        f"{record.activation}: WᵀW, neuron–feature weights W[k, i], and ‖W_i‖ coloured by superposition\n"
        f"by feature density; n={cfg.n}, m={cfg.m}, {training_note(record)}, lowest-loss seed per density",
        fontsize=9,
    )
    return fig


def _importance_label(record: RunRecord) -> str:
    decay = record.config.importance_decay
    if decay == 1:
        return "feature i (uniform importance)"
    return f"feature i (importance {decay:g}^i)"


def _steps(record: RunRecord) -> str:
    done = record.manifest.get("steps_done") or record.config.steps
    return f"{int(done):,}"


def training_note(record: RunRecord) -> str:
    """How long and on what the run trained, as every figure states it: "10,000 steps, batch 1024"
    (and the profile when it is not the default one)."""
    note = f"{_steps(record)} steps, batch {record.config.batch_size}"
    if record.config.profile != "default":
        from engine.config import profile_label

        note += f", {profile_label(record.config)} profile"
    return note


# --------------------------------------------------------------------------- phase diagram


def _cell_edges(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Cell edges on a log axis: geometric midpoints, half a step beyond the ends."""
    v = np.log(np.asarray(sorted(values), dtype=float))
    if len(v) == 1:
        return np.array([low, high])
    mids = (v[1:] + v[:-1]) / 2
    first, last = v[0] - (mids[0] - v[0]), v[-1] + (v[-1] - mids[-1])
    return np.exp(np.concatenate([[first], mids, [last]]))


def plain_log_ticks(axis) -> None:
    """Log-axis tick labels as 0.01, 0.1, 1, 10 rather than powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def phase_cells(grid) -> list[tuple[object, tuple[float, float, float, float]]]:
    """Each grid point with its cell on the log-log phase axes: [(point, (x0, x1, y0, y1))]."""
    densities = np.array(sorted({p.density for p in grid}))
    importances = np.array(sorted({p.relative_importance for p in grid}))
    x_edges = _cell_edges(densities, *PHASE_X_RANGE)
    y_edges = _cell_edges(importances, *PHASE_Y_RANGE)
    out = []
    for p in grid:
        i = int(np.argmin(np.abs(densities - p.density)))
        j = int(np.argmin(np.abs(importances - p.relative_importance)))
        out.append((p, (x_edges[i], x_edges[i + 1], y_edges[j], y_edges[j + 1])))
    return out


def phase_axes(ax, grid, *, boundary: bool = True, label_axes: bool = True) -> None:
    """The phase diagram's log-log axes for this grid, with the exact reference drawn on them."""
    densities = [p.density for p in grid]
    importances = [p.relative_importance for p in grid]
    ax.set_xscale("log")
    ax.set_yscale("log")
    # The blog's axes: 0.01..1 by 0.1..10; a custom grid reaching beyond them widens them.
    ax.set_xlim(min(PHASE_X_RANGE[0], min(densities)), max(PHASE_X_RANGE[1], max(densities)))
    ax.set_ylim(min(PHASE_Y_RANGE[0], min(importances)), max(PHASE_Y_RANGE[1], max(importances)))
    plain_log_ticks(ax.xaxis)
    plain_log_ticks(ax.yaxis)
    if boundary:
        draw_reference_boundary(ax)
    ax.set_xlabel("feature density 1−S (log scale)")
    if label_axes:
        ax.set_ylabel("relative importance I₂/I₁ (log scale)")
    for side in ("top", "right"):
        ax.spines[side].set_visible(True)


def draw_phase(ax, grid, *, seeds: int, boundary: bool = True, label_axes: bool = True) -> None:
    """The phase grid as log-spaced cells (colour: the winning seed's phase; opacity: how many
    seeds agree, engine.science.agreement), with the exact ReLU reference's boundary and triple point
    (SCIENCE.md 7) in black."""
    from matplotlib.patches import Rectangle

    for p, (x0, x1, y0, y1) in phase_cells(grid):
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor=PHASE_COLOURS[p.phase],
                               alpha=agreement_alpha(p.agreement) if seeds > 1 else 1.0, edgecolor="white",
                               linewidth=0.3))
    phase_axes(ax, grid, boundary=boundary, label_axes=label_axes)


def draw_reference_boundary(ax) -> None:
    """The exact n=2 ReLU optimum's phase boundaries (engine.science.relu_reference) as black polylines,
    and a dot at its triple point."""
    from engine.science.relu_reference import reference_boundary, reference_triple_point

    for line in reference_boundary():
        ax.plot(line.density, line.relative_importance, color="black", linewidth=1.3)
    s_triple, r_triple = reference_triple_point()
    ax.plot([s_triple], [r_triple], marker="o", color="black", markersize=3.5)


def phase_legend_handles(seeds: int, phases_present: set[str] | None = None) -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Patch(facecolor=PHASE_COLOURS[p], label=PHASE_LABELS[p])
        for p in PHASES
        if phases_present is None or p in phases_present or p != "neither"
    ]
    handles.append(Line2D([], [], color="black", linewidth=1.3, marker="o", markersize=3.5,
                          label="exact ReLU boundary, triple point"))
    if seeds > 1:
        handles += [Patch(facecolor=LEGEND_SWATCH, alpha=agreement_alpha(k / seeds), label=agreement_label(k, seeds))
                    for k in legend_levels(seeds)]
    return handles


@styled
def figure_phase(record: RunRecord):
    from engine.store.run_json import run_phase_grid

    grid = run_phase_grid(record)
    if grid is None:
        raise ValueError(f"run {record.id} is not a phase-grid run (needs n=2, m=1 and relative importances)")
    seeds = record.config.seeds
    fig = new_figure(6.2, 4.2)
    ax = fig.subplots()
    draw_phase(ax, grid, seeds=seeds)
    # two lines: on one, the title is wider than the fixed-size figure and its ends were cut off
    ax.set_title(f"{record.activation}: phase of the lowest-loss seed\n(n=2, m=1, {training_note(record)}, {seeds} seeds/point)")
    ax.legend(
        handles=phase_legend_handles(seeds, {p.phase for p in grid}),
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        frameon=False,
    )
    return fig


# --------------------------------------------------------------------------- dimensions per feature


def draw_sticky_lines(ax, labelled: bool = True) -> None:
    """Reference lines at the sticky fractions of D_i, labelled at the right edge (unless a panel
    to the right would be written over)."""
    from matplotlib.transforms import blended_transform_factory

    where = blended_transform_factory(ax.transAxes, ax.transData)
    for frac, label in STICKY_LABELS.items():
        ax.axhline(frac, color="#888888", linewidth=0.7, linestyle=(0, (2, 2)), zorder=0)
        if not labelled:
            continue
        offset = {2 / 5: "bottom", 3 / 8: "top"}.get(frac, "center")
        ax.text(1.01, frac, f"{label} {STICKY_FRACTIONS[frac]}", transform=where, fontsize=7, va=offset, color="#444444")


def draw_dims(ax, record: RunRecord, *, scatter: bool = True, style_index: int = 0, label: str | None = None,
              repeat: int = 0):
    """D* of the lowest-loss seed per density; with several seeds, their range as a band. A point
    whose D* is still moving at the end of training (engine.science.convergence) is drawn hollow."""
    from engine.science.convergence import run_dstar_history

    curve = dims_curve(record)
    moving = run_dstar_history(record).moving  # [P], in point order like the curve
    dstar = curve.dstar
    x = 1.0 / curve.density
    style = repeat_style(activation_style(record.activation, style_index), repeat)
    if scatter:
        xs = np.repeat(x[:, None], curve.feature_dims.shape[1], axis=1)
        ax.scatter(xs.ravel(), curve.feature_dims.ravel(), s=5, color="#666666", alpha=0.35, linewidths=0, zorder=1,
                   label="each feature's D_i")
    if record.config.seeds > 1:
        ax.fill_between(x, np.minimum(curve.low, DSTAR_CAP), np.minimum(curve.high, DSTAR_CAP), color=style["color"],
                        alpha=0.15, linewidth=0, zorder=2)
    shown = np.minimum(dstar, DSTAR_CAP)
    capped = dstar > DSTAR_CAP
    ax.plot(x, shown, color=style["color"], linestyle=style["linestyle"], linewidth=1.5, zorder=3,
            marker=style["marker"], markersize=4, markevery=list(np.flatnonzero(~capped & ~moving)),
            label=label or f"D* ({record.activation})")
    hollow = ~capped & moving
    if hollow.any():
        ax.scatter(x[hollow], shown[hollow], marker=style["marker"], s=22, facecolors="white", edgecolors=style["color"],
                   linewidths=1.0, zorder=4)
    if capped.any():
        ax.scatter(x[capped], shown[capped], marker="^", s=30, color=style["color"], zorder=4, edgecolors="black",
                   linewidths=0.5)
    return dstar


def log_x_ticks(ax) -> None:
    """1, 2, 5, 10, 20 ... on a log x axis."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _dims_axes(ax, max_dstar: float) -> None:
    ax.set_xscale("log")
    log_x_ticks(ax)
    ax.set_xlabel("1/(1−S), inverse feature density (log scale)")
    ax.set_ylabel("dimensions per feature D* = m/‖W‖²_F")
    top = min(max(1.1, max_dstar * 1.05), DSTAR_CAP * 1.05)
    ax.set_ylim(0, top)
    draw_sticky_lines(ax)


def draw_reference_curves(ax, curves, run_curves: dict[str, tuple[np.ndarray, np.ndarray]], *,
                          only_matching: bool = False) -> None:
    """Published curves (engine.science.reference_curves) over D* plots: a curve whose label names a drawn
    run's activation in that activation's colour, with its MAE against that run in the legend;
    the others in grey (left out with only_matching, unless none matches)."""
    from engine.science.reference_curves import curve_error

    lowered = {label.lower(): label for label in run_curves}
    matched = [c for c in curves if c.label.lower() in lowered]
    for curve in curves if not (only_matching and matched) else matched:
        run = lowered.get(curve.label.lower())
        colour = activation_style(run)["color"] if run else "#777777"
        label = f"reference: {curve.label}"
        if run:
            error = curve_error(curve, *run_curves[run])
            label += f" (MAE {error.mae:.3g})"
        ax.plot(curve.x, np.minimum(curve.y, DSTAR_CAP), color=colour, linestyle=(0, (1, 1.5)), linewidth=1.0,
                marker="*", markersize=9, markeredgecolor="black", markeredgewidth=0.5, zorder=5, label=label)


def run_dims_curves(records: list[RunRecord]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each run's D* curve as a reference is held against it: {activation: (1/(1-S) [P], D* [P])}
    (a repeated activation keeps its first run)."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for record in records:
        if record.activation not in out:
            curve = dims_curve(record)
            out[record.activation] = (1.0 / curve.density, curve.dstar)
    return out


def moving_note(records: list[RunRecord]) -> str | None:
    """The legend line for hollow markers, when some drawn point is still moving."""
    from engine.science.convergence import MOVING_THRESHOLD, run_dstar_history

    if not any(run_dstar_history(r).moving.any() for r in records):
        return None
    return f"hollow: D* still moving (changed > {MOVING_THRESHOLD:.0%} over the last half-decade of steps)"


def draw_dstar_steps(ax, record: RunRecord) -> None:
    """D* of each density's lowest-loss seed against training step (log), from the W snapshots;
    the last half-decade, which decides whether D* is still moving, is shaded."""
    from matplotlib.colors import LogNorm, Normalize

    from engine.science.convergence import run_dstar_history

    history = run_dstar_history(record)
    keep = history.steps > 0  # a log axis: the init (step 0) is left out
    lo, hi = float(history.density.min()), float(history.density.max())
    norm = LogNorm(lo, hi) if lo < hi else Normalize(lo - 1e-9, hi + 1e-9)
    cmap = sequential_cmap()
    for p, density in enumerate(history.density):
        moving = bool(history.moving[p])
        ax.plot(history.steps[keep], np.minimum(history.dstar[keep, p], DSTAR_CAP), color=cmap(norm(density) * 0.9),
                linewidth=1.3 if moving else 0.8, linestyle="-" if moving else (0, (3, 2)))
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)
    if history.reference_step:
        ax.axvspan(history.reference_step, history.last_step, color="#888888", alpha=0.12, linewidth=0)
    ax.set_xlabel("training step (log scale)")
    ax.set_ylabel("D*")
    ax.set_title(f"{history.summary()}\nsolid: moving, dashed: settled; shaded: the last half-decade", fontsize=8)
    from matplotlib.cm import ScalarMappable

    # The bar's name under it: at its side it would read as the next panel's axis label.
    bar = ax.figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.01)
    bar.ax.set_xlabel("1−S")


def draw_represented(ax, records: list[RunRecord], labels: list[str] | None = None) -> None:
    """Beside D*: how many features are represented (‖W_i‖ ≥ 0.5, solid, left axis) and their
    mean ‖W_i‖² (dotted, right axis), per density, lowest-loss seed."""
    from engine.science.metrics import REPRESENTED_NORM

    twin = ax.twinx()
    for i, record in enumerate(records):
        a = record.arrays
        rows = point_rows(a.instances, a.W, a.final_loss, ("represented", "represented_norm_sq"))
        x = 1.0 / np.array([r["density"] for r in rows])
        repeat = [r.activation for r in records[:i]].count(record.activation)
        style = repeat_style(activation_style(record.activation, i), repeat)
        label = labels[i] if labels else record.activation
        ax.plot(x, [r["represented"] for r in rows], color=style["color"], marker=style["marker"], markersize=3,
                linewidth=1.2, label=label)
        twin.plot(x, [r["represented_norm_sq"] for r in rows], color=style["color"], linestyle=(0, (1, 1.5)),
                  linewidth=1.2)
    ax.set_xscale("log")
    log_x_ticks(ax)
    ax.set_ylim(0, records[0].config.n * 1.05)
    ax.set_xlabel("1/(1−S) (log scale)")
    ax.set_ylabel(f"represented (‖W_i‖ ≥ {REPRESENTED_NORM}), solid")
    twin.set_ylim(bottom=0)
    twin.set_ylabel("their mean ‖W_i‖², dotted", fontsize=8)


@styled
def figure_dims(record: RunRecord, reference=None):
    cfg = record.config
    fig = new_figure(8.4, 7.4)
    grid = fig.add_gridspec(2, 2, height_ratios=[1.35, 1.0])
    ax = fig.add_subplot(grid[0, :])
    dstar = draw_dims(ax, record)
    if reference:
        draw_reference_curves(ax, reference, run_dims_curves([record]), only_matching=True)
    _dims_axes(ax, float(np.nanmax(dstar)) if np.isfinite(dstar).any() else 1.0)
    ax.set_title(f"{record.activation}: dimensions per feature (n={cfg.n}, m={cfg.m}, {training_note(record)})")
    handles, texts = ax.get_legend_handles_labels()
    note = moving_note([record])
    if note:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor="white", markeredgecolor="#444444"))
        texts.append(note)
    ax.legend(handles, texts, loc="lower left", bbox_to_anchor=(0.0, 1.06), ncols=3, frameon=False, fontsize=7,
              markerscale=1.5)
    if (dstar > DSTAR_CAP).any():
        ax.text(0.01, 0.99, f"▲ D* > {DSTAR_CAP:g} (drawn at the top)", transform=ax.transAxes, ha="left", va="top", fontsize=7)
    draw_dstar_steps(fig.add_subplot(grid[1, 0]), record)
    represented = fig.add_subplot(grid[1, 1])
    draw_represented(represented, [record])
    represented.set_title("what D* = m / Σ‖W_i‖² is made of", fontsize=8)
    return fig


# --------------------------------------------------------------------------- partner pairs


def _pair_rows(record: RunRecord) -> list[dict]:
    a = record.arrays
    return point_rows(a.instances, a.W, a.final_loss, ("partner_cosine",))


@styled
def figure_pairs(record: RunRecord):
    """WᵀW of the lowest-loss seed at each grid point of a run with partner pairs: one row per
    pair kind, one column per density, partner entries (i, j) outlined."""
    from matplotlib.patches import Rectangle

    from engine.science.metrics import feature_pairs

    a = record.arrays
    cfg = record.config
    rows = _pair_rows(record)
    kinds = list(dict.fromkeys(r["pairs"] for r in rows))
    densities = list(dict.fromkeys(r["density"] for r in rows))
    vmax = max(finite_max(np.abs(gram(a.W[r["winner"]])), 0.0) for r in rows) or 1.0
    fig = new_figure(max(5.2, 1.55 * len(densities) + 1.6), 1.9 * len(kinds) + 1.0)
    axes = fig.subplots(len(kinds), len(densities), squeeze=False)
    image = None
    for r in rows:
        row, col = kinds.index(r["pairs"]), densities.index(r["density"])
        ax = axes[row, col]
        k = r["winner"]
        cosine = r["partner_cosine"]
        title = "cos " + ("–" if not np.isfinite(cosine) else f"{cosine:+.2f}")
        if row == 0:
            title = f"1−S = {format_density(r['density'])}\n{title}"
        image = draw_gram(ax, gram(a.W[k]), vmax, title, label_axes=False)
        ax.title.set_fontsize(8)
        for i, j, kind in feature_pairs(a.instances.partner[k], a.instances.pair_kind[k]):
            for x, y in ((j, i), (i, j)):
                ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, edgecolor=PAIR_COLORS[kind], linewidth=1.6))
        ax.set_xlabel("")
        if col == 0:
            ax.set_ylabel(r["pairs"], fontsize=9, color=PAIR_COLORS.get(r["pairs"], "black"))
    fig.colorbar(image, ax=axes.ravel().tolist(), label="WᵀW entry", shrink=0.9, pad=0.01)
    fig.suptitle(f"{record.activation}: WᵀW, partner pairs outlined; rows: pair kind\n"
                 f"n={cfg.n}, m={cfg.m}, {training_note(record)}, lowest-loss seed; cos: mean partner cosine", fontsize=9)
    return fig


COSINE_REFERENCES = {-1.0: "antipodal", 0.0: "orthogonal", 1.0: "one direction"}


def draw_partner_cosine(ax, record: RunRecord, *, colour_by_activation: bool = False, band: bool = True,
                        label_prefix: str = "", dodge: float = 1.0) -> None:
    """Mean partner cosine of the lowest-loss seed per density, one line per pair kind; with
    several seeds, their range as a band. `dodge` multiplies the densities where it is drawn (a
    small sideways shift, so that runs with equal cosines stay visible side by side)."""
    a = record.arrays
    rows = _pair_rows(record)
    low, high = point_spread(a.instances, a.W, a.final_loss, "partner_cosine", a.diverged)
    style = activation_style(record.activation)
    for kind in dict.fromkeys(r["pairs"] for r in rows):
        index = [i for i, r in enumerate(rows) if r["pairs"] == kind]
        x = np.array([rows[i]["density"] for i in index]) * dodge
        y = np.array([rows[i]["partner_cosine"] for i in index])
        colour = style["color"] if colour_by_activation else PAIR_COLORS.get(kind, "black")
        dash = (0, ()) if kind == "correlated" else (0, (4, 2))
        if band and record.config.seeds > 1:
            ax.fill_between(x, low[index], high[index], color=colour, alpha=0.15, linewidth=0)
        ax.plot(x, y, color=colour, linestyle=dash, marker="o" if kind == "correlated" else "v", markersize=4,
                linewidth=1.5, label=f"{label_prefix}{kind}")


def _cosine_axes(ax) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    from matplotlib.transforms import blended_transform_factory

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(-1.1, 1.1)
    ax.set_xlabel("feature density 1−S (log scale)")
    ax.set_ylabel("partner cosine Ŵ_i·Ŵ_j")
    where = blended_transform_factory(ax.transAxes, ax.transData)
    for value, label in COSINE_REFERENCES.items():
        ax.axhline(value, color="#888888", linewidth=0.7, linestyle=(0, (2, 2)), zorder=0)
        ax.text(1.01, value, label, transform=where, fontsize=7, va="center", color="#444444")


@styled
def figure_partner_cosine(record: RunRecord):
    cfg = record.config
    fig = new_figure(6.4, 4.2)
    ax = fig.subplots()
    draw_partner_cosine(ax, record)
    _cosine_axes(ax)
    # two lines: on one the title ran past both edges of the fixed-size figure
    ax.set_title(f"{record.activation}: cosine between partner features\n(n={cfg.n}, m={cfg.m}, {training_note(record)},"
                 f" lowest-loss seed{', band: all seeds' if cfg.seeds > 1 else ''})")
    fig.legend(loc="outside lower center", frameon=False, ncols=2)
    return fig


# --------------------------------------------------------------------------- loss curves


@styled
def figure_loss(record: RunRecord):
    """Training loss (log y), smoothed as TensorBoard does (engine.export.smoothing, weight
    PNG_SMOOTHING, the app's live plot the same way). A few instances: one line each.
    Many (a phase grid): per density, the median over its instances with a 10-90% band."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm, Normalize

    a = record.arrays
    K = len(a.instances)
    steps = np.asarray(a.loss_steps)
    history = np.asarray(a.loss_history, dtype=float)  # [T, K]
    history = np.where(np.isfinite(history) & (history > 0), history, np.nan)
    history = ema(history, PNG_SMOOTHING)  # [T, K]
    fig = new_figure(6.4, 4.0)
    ax = fig.subplots()
    density = a.instances.density.astype(float)
    lo, hi = float(density.min()), float(density.max())
    norm = LogNorm(lo, hi) if lo < hi else Normalize(lo - 1e-9, hi + 1e-9)
    cmap = colormaps[SEQUENTIAL_CMAP]
    few = K <= 10
    drawn = False
    if few:
        for k in range(K):
            if np.all(np.isnan(history[:, k])):
                continue
            label = f"1−S = {format_density(density[k])}"
            if a.instances.relative_importance is not None:
                label += f", I₂/I₁ = {a.instances.relative_importance[k]:.3g}"
            if record.config.seeds > 1:
                label += f", seed {int(a.instances.seed[k])}"
            ax.plot(steps, history[:, k], color=cmap(norm(density[k]) * 0.9), linewidth=1.0, label=label)
            drawn = True
    else:
        for d in np.unique(density):
            group = history[:, density == d]  # [T', members]
            if np.all(np.isnan(group)):
                continue
            colour = cmap(norm(d) * 0.9)
            with np.errstate(all="ignore"):
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows of a diverged group
                    low, mid, high = np.nanpercentile(group, [10, 50, 90], axis=1)
            ax.fill_between(steps, low, high, color=colour, alpha=0.15, linewidth=0)
            ax.plot(steps, mid, color=colour, linewidth=1.0)
            drawn = True
    if drawn:
        ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("importance-weighted MSE per sample (log scale)")
    diverged = int(np.asarray(a.diverged).sum())
    note = f", {diverged} diverged" if diverged else ""
    how = f"smoothed: EMA {PNG_SMOOTHING:g}, as TensorBoard"
    if few:
        ax.set_title(f"{record.activation} · {record.preset}: training loss of {K} instances{note}\n"
                     f"({training_note(record)}; {how})", fontsize=9)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=7)
    else:
        ax.set_title(f"{record.activation} · {record.preset}: training loss, median over the {K // len(np.unique(density))} "
                     f"instances per density, 10–90% band{note}\n({training_note(record)}; {how})", fontsize=9)
        fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="feature density 1−S")
    return fig


# --------------------------------------------------------------------------- input batches


@styled
def figure_input_batches(n: int = 20, samples: int = 100, sparsities=(0.5, 0.99), seed: int = 0):
    """The blog's "input batches": one [n, samples] batch per sparsity; each column is a sample."""
    from engine.experiments.sparsity import input_batch

    from matplotlib import colormaps

    cmap = colormaps[SEQUENTIAL_CMAP].with_extremes(bad="white")
    fig = new_figure(3.4 * len(sparsities) + 0.9, 2.6)
    axes = fig.subplots(1, len(sparsities), squeeze=False)[0]
    image = None
    for ax, S in zip(axes, sparsities):
        x = input_batch(n, samples, 1.0 - S, seed).numpy()  # [n, samples]
        # Absent features (exact zeros) are white, so sparsity reads as empty space.
        image = ax.imshow(np.ma.masked_equal(x, 0.0), cmap=cmap, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        for side in ("top", "right"):
            ax.spines[side].set_visible(True)
        ax.set_title(f"S = {S:g} (density {1 - S:.2g}): {np.mean(x > 0):.0%} of entries non-zero")
        ax.set_xlabel("sample (column = one input vector)")
        ax.set_ylabel("feature i")
    fig.colorbar(image, ax=axes.tolist(), label="feature value x_i (white: absent, 0)", pad=0.01)
    fig.suptitle(f"Input batches: n={n} features, {samples} samples, x_i ~ U[0,1] with probability 1−S")
    return fig
