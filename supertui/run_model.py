"""What the run view and the compare view draw, computed from a run's arrays (numpy only).

The same functions serve a live job (W and per-instance losses from the latest progress
report) and a saved run (final W and final losses, or a W snapshot while scrubbing), so a
run looks the same while it trains and after.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.config import RunConfig
from engine.metrics import dims_per_feature, feature_dimensionality, represented, superposition
from engine.phase import phase_grid
from engine.sweep import InstanceTable, lowest_loss_instances

MAX_LOSS_CURVES = 8  # more grid points than this: mean and envelope instead of one curve each


@dataclass(frozen=True)
class Selection:
    """Which instance the single-model panes (WᵀW, neuron bars) show."""

    density: int = 0
    importance: int = 0  # index into relative_importances (phase preset)
    seed: int = 0

    def instance(self, config: RunConfig) -> int:
        R = len(config.relative_importances or (None,))
        return (self.density * R + self.importance) * config.seeds + self.seed

    def moved(self, config: RunConfig, density: int = 0, importance: int = 0, seed: int = 0) -> "Selection":
        R = len(config.relative_importances or (None,))
        return Selection(
            (self.density + density) % len(config.densities),
            (self.importance + importance) % R,
            (self.seed + seed) % config.seeds,
        )


def describe_instance(config: RunConfig, selection: Selection) -> str:
    parts = [f"density {config.densities[selection.density]:.3g} ({selection.density + 1}/{len(config.densities)})"]
    if config.relative_importances:
        parts.append(f"r {config.relative_importances[selection.importance]:.3g}")
    if config.seeds > 1:
        parts.append(f"seed {config.seed + selection.seed} ({selection.seed + 1}/{config.seeds})")
    return ", ".join(parts)


def loss_curves(config: RunConfig, instances: InstanceTable, history: np.ndarray) -> dict[str, np.ndarray]:
    """Loss curves to plot from history [T, K]: one per density when there are few grid points
    (seeds averaged), else every instance as one [T, K] series (drawn as mean and envelope)."""
    if history.size == 0:
        return {}
    with np.errstate(invalid="ignore"):
        if config.num_points <= MAX_LOSS_CURVES and not config.relative_importances:
            curves = {}
            for d_index, density in enumerate(config.densities):
                members = np.flatnonzero(instances.point == d_index)  # one importance: point = density index
                curves[f"p={density:.3g}"] = np.nanmean(history[:, members], axis=1)
            return curves
        return {"loss": history}  # LossPlot draws the mean and a min/max envelope of many instances


def winners(instances: InstanceTable, losses: np.ndarray | None) -> np.ndarray:
    """For each grid point, the instance with the lowest loss (the first seed if losses are unknown)."""
    return lowest_loss_instances(instances.point, losses)


def dstar_curve(config: RunConfig, instances: InstanceTable, W: np.ndarray, losses: np.ndarray | None):
    """(1/(1-S) [D], D* [D], D_i of each feature [D, n]) from the winning seed at each density."""
    best = winners(instances, losses)
    inv_density = 1.0 / instances.density[best].astype(float)
    dstar = dims_per_feature(W[best]).astype(float)
    per_feature = feature_dimensionality(W[best])
    order = np.argsort(inv_density)
    return inv_density[order], dstar[order], per_feature[order]


def phase_cells(config: RunConfig, instances: InstanceTable, W: np.ndarray, losses: np.ndarray | None):
    """The phase (a PHASES name) and seed agreement of each grid point, in point order
    (density-major): the lowest-loss seed decides, as in the saved report."""
    if instances.relative_importance is None:
        return None
    loss = losses if losses is not None else np.zeros(len(instances))
    grid = phase_grid(W, loss, instances.density, instances.relative_importance, instances.point, config.phase_threshold)
    return [p.phase for p in grid], [p.agreement for p in grid]


def density_rows(config: RunConfig, instances: InstanceTable, W: np.ndarray, losses: np.ndarray | None) -> list[tuple]:
    """Per density (winning seed): density, loss, features represented, mean interference, D*."""
    best = winners(instances, losses)
    rows = []
    for k in best:
        w = W[k]
        rows.append(
            (
                float(instances.density[k]),
                float(losses[k]) if losses is not None else float("nan"),
                int(represented(w).sum()),
                float(superposition(w).mean()),
                float(dims_per_feature(w)),
            )
        )
    return rows
