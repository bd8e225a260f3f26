"""Figures of several runs of one experiment: the blog's "bringing them all together" D* plot,
phase diagrams or WᵀW rows as small multiples sharing one scale, partner cosines on one axis."""

from __future__ import annotations

import math

import numpy as np

from engine.export.figures import (
    DSTAR_CAP,
    _cosine_axes,
    _dims_axes,
    best_instances,
    draw_dims,
    draw_gram,
    draw_partner_cosine,
    draw_phase,
    draw_reference_curves,
    draw_represented,
    gram_scale,
    moving_note,
    run_dims_curves,
    signed_sqrt_norm,
    phase_legend_handles,
    training_note,
)
from engine.export.style import format_density, legend_columns, new_figure, styled
from engine.science.metrics import gram
from engine.store.labels import difference_labels
from engine.store.runs import RunRecord


def _labels(records: list[RunRecord]) -> list[str]:
    """What tells the runs apart (engine.store.labels): the activation where only that differs,
    `relu, lr=0.001` where more does, the id's tail where nothing does."""
    return difference_labels(records)


def _training(records: list[RunRecord]) -> str:
    """The runs' steps and batch for a title: "10,000 steps, batch 1024", or "steps and batch per run"."""
    notes = {training_note(r) for r in records}
    return notes.pop() if len(notes) == 1 else "steps and batch per run"


@styled
def figure_compare_dims(records: list[RunRecord], reference=None):
    """D* of every run against 1/(1-S) on one axis, with the sticky reference lines and any
    published curves (engine.science.reference_curves) over them; below, what each D* is made of."""
    fig = new_figure(7.2, 6.8)
    ax, lower = fig.subplots(2, 1, height_ratios=[2.2, 1.0])
    top = 1.0
    capped = False
    labels = _labels(records)
    for i, (record, label) in enumerate(zip(records, labels)):
        # a second run of one activation keeps its colour but not its line, or the two look one
        repeat = [r.activation for r in records[:i]].count(record.activation)
        dstar = draw_dims(ax, record, scatter=False, style_index=i, label=label, repeat=repeat)
        if np.isfinite(dstar).any():
            top = max(top, float(np.nanmax(dstar)))
        capped |= bool((dstar > DSTAR_CAP).any())
    if reference:
        draw_reference_curves(ax, reference, run_dims_curves(records))
    _dims_axes(ax, top)
    cfg = records[0].config
    ax.set_title(f"Dimensions per feature by activation (n={cfg.n}, m={cfg.m}, m/n = {cfg.m / cfg.n:.2g}; "
                 f"{_training(records)})", fontsize=9)
    draw_represented(lower, records, labels)
    lower.set_title("what D* = m / Σ‖W_i‖² is made of: features represented, and their mean ‖W_i‖²", fontsize=8)
    handles, texts = ax.get_legend_handles_labels()
    fig.legend(handles, texts, loc="outside lower center", frameon=False, ncols=legend_columns(texts, 7.0))
    note = moving_note(records)
    if note:
        ax.text(0.01, 0.01, f"○ {note}", transform=ax.transAxes, ha="left", va="bottom", fontsize=7)
    if capped:
        ax.text(0.99, 0.99, f"▲ D* > {DSTAR_CAP:g} (drawn at the top)", transform=ax.transAxes, ha="right", va="top", fontsize=7)
    return fig


@styled
def figure_compare_phase(records: list[RunRecord]):
    """One phase diagram per run, small multiples on shared axes, one legend."""
    from engine.store.run_json import run_phase_grid

    grids = [run_phase_grid(r) for r in records]
    columns = min(4, len(records))
    rows = math.ceil(len(records) / columns)
    fig = new_figure(2.6 * columns + 0.9, 2.5 * rows + 1.1)
    axes = fig.subplots(rows, columns, squeeze=False, sharex=True, sharey=True)
    seeds = max(r.config.seeds for r in records)
    present: set[str] = set()
    for index, (record, grid, label) in enumerate(zip(records, grids, _labels(records))):
        ax = axes[index // columns, index % columns]
        draw_phase(ax, grid, seeds=record.config.seeds, label_axes=index % columns == 0)
        present |= {p.phase for p in grid}
        ax.set_title(label)
        ax.tick_params(labelbottom=True)  # shared x hides them where no panel sits below: every panel keeps its own
        if index // columns != rows - 1 and index + columns < len(records):
            ax.set_xlabel("")
    for index in range(len(records), rows * columns):
        axes[index // columns, index % columns].set_visible(False)
    handles = phase_legend_handles(seeds, present)
    # a legend row and the title as wide as the figure allows: two runs leave room for two
    # entries a row and a title on two lines (it was cut at both ends, the legend on the right)
    fig.legend(handles=handles, loc="outside lower center", frameon=False, ncols=min(columns + 1, 4, len(handles)))
    fig.suptitle(f"Phase diagrams (n=2, m=1): which feature the lowest-loss seed represents\n({_training(records)})")
    return fig


@styled
def figure_compare_gram(records: list[RunRecord]):
    """WᵀW rows of several sparsity runs as small multiples: one row per run, one diverging
    scale for all, so weight growth (sigmoid, SoLU) reads as it is."""
    chosen = [best_instances(r) for r in records]
    columns = max(len(c) for c in chosen)
    rows = len(records)
    scales = [gram_scale([r]) for r in records]
    vmax = max(scales)
    # Sigmoid and SoLU grow their weights several-fold: a linear shared scale would wash the
    # other rows out, so then the shared scale compresses large magnitudes (and says so).
    compressed = vmax > 2 * min(scales)
    norm = signed_sqrt_norm(vmax) if compressed else None
    fig = new_figure(max(1.35 * columns + 1.9, 4.8), 1.35 * rows + 0.8)
    axes = fig.subplots(rows, columns, squeeze=False)
    image = None
    for row, (record, picks, label) in enumerate(zip(records, chosen, _labels(records))):
        G = gram(record.arrays.W[picks])
        for col in range(columns):
            ax = axes[row, col]
            if col >= len(picks):
                ax.set_visible(False)
                continue
            density = float(record.arrays.instances.density[picks[col]])
            image = draw_gram(ax, G[col], vmax, f"1−S = {format_density(density)}" if row == 0 else None,
                              label_axes=False, norm=norm)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel("")
            if col == 0:  # one field a line: a row is 1.35 inches tall
                ax.set_ylabel(label.replace(", ", "\n"), fontsize=9 if label.count(", ") < 2 else 7)
    label = "WᵀW entry, shared " + ("√-spaced scale" if compressed else "scale")
    bar = fig.colorbar(image, ax=axes.ravel().tolist(), label=label, shrink=min(0.9, 2.5 / rows), pad=0.02,
                       fraction=0.04, aspect=25)
    if compressed:
        ticks = [t for t in (0.25, 1, 2, 4, 8, 16, 32) if t <= vmax]
        bar.set_ticks([-t for t in reversed(ticks)] + [0] + ticks, labels=[f"{t:g}" for t in [-t for t in reversed(ticks)] + [0] + ticks])
    cfg = records[0].config
    fig.suptitle(f"WᵀW by feature density (columns) and activation (rows)\nn={cfg.n}, m={cfg.m}, {_training(records)}, "
                 "lowest-loss seed per density",
                 fontsize=10)
    return fig


COSINE_DODGE = 0.015  # decades between neighbouring runs in the compare cosine figure


def cosine_dodge(index: int, count: int) -> float:
    """The density factor run `index` of `count` is drawn at: symmetric about 1, COSINE_DODGE decades apart."""
    return float(10 ** (COSINE_DODGE * (index - (count - 1) / 2)))


@styled
def figure_compare_cosine(records: list[RunRecord]):
    """Partner cosine against density of several runs on one axis: one colour per run (its
    activation's), solid for correlated pairs and dashed for anticorrelated ones."""
    from matplotlib.lines import Line2D

    from engine.export.style import activation_style

    fig = new_figure(7.2, 4.6)
    ax = fig.subplots()
    labels = _labels(records)
    # Runs often share a cosine (±1 exactly): each is drawn at its density times a small factor
    # of its own, so no curve hides another; the note under the title says so.
    for index, record in enumerate(records):
        draw_partner_cosine(ax, record, colour_by_activation=True, band=False, dodge=cosine_dodge(index, len(records)))
    _cosine_axes(ax)
    cfg = records[0].config
    title = (f"Cosine between partner features by activation (n={cfg.n}, m={cfg.m}, {_training(records)}, "
             "lowest-loss seed)")
    if len(records) > 1:
        spread = cosine_dodge(len(records) - 1, len(records))
        title += f"\nruns drawn side by side (density × or ÷ up to {spread:.2f}) so that equal cosines stay visible"
    ax.set_title(title, fontsize=9)
    # One entry per run (its colour) and one per pair kind (its line): not one per curve.
    handles = [Line2D([], [], color=activation_style(r.activation, i)["color"], linewidth=2, label=label)
               for i, (r, label) in enumerate(zip(records, labels))]
    handles += [Line2D([], [], color="#444444", linestyle=(0, ()), marker="o", label="correlated"),
                Line2D([], [], color="#444444", linestyle=(0, (4, 2)), marker="v", label="anticorrelated")]
    fig.legend(handles=handles, loc="outside lower center", frameon=False,
               ncols=legend_columns([h.get_label() for h in handles], 7.0, most=5))
    return fig
