"""What the run view and the compare view draw, computed from a run's arrays (numpy only).

The same functions serve a live job (W and per-instance losses from the latest progress
report) and a saved run (final W and final losses, or a W snapshot while scrubbing), so a
run looks the same while it trains and after. Every per-point number comes from
engine.science.metrics.point_rows: a grid point shows its lowest-loss seed, as export and the report do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.config import RunConfig
from engine.experiments import experiment_for
from engine.experiments.base import point_index, point_indices
from engine.science.metrics import feature_dimensionality, point_rows
from engine.science.phase import PHASES, classify, phase_grid, seed_populations
from engine.instances import InstanceTable, lowest_loss_instances

MAX_LOSS_CURVES = 8  # more grid points than this: mean and envelope instead of one curve each


@dataclass(frozen=True)
class Selection:
    """Which instance the single-model panes (WᵀW, neuron bars, norms) show: a position on each
    axis of the run's grid of points (density first, see Experiment.axes) and a seed."""

    indices: tuple[int, ...] = (0,)
    seed: int = 0

    @property
    def density(self) -> int:
        return self.indices[0]

    @property
    def importance(self) -> int:
        """Position on the second axis (relative importance, or pair kind), 0 without one."""
        return self.indices[1] if len(self.indices) > 1 else 0

    @staticmethod
    def axes(config: RunConfig):
        return experiment_for(config).axes(config)

    def point(self, config: RunConfig) -> int:
        axes = self.axes(config)
        return point_index(axes, self._fit(axes))

    def instance(self, config: RunConfig) -> int:
        return self.point(config) * config.seeds + self.seed

    def _fit(self, axes) -> tuple[int, ...]:
        return tuple(self.indices[i] if i < len(self.indices) else 0 for i in range(len(axes)))

    def moved(self, config: RunConfig, axis: int = 0, delta: int = 0, seed: int = 0) -> "Selection":
        axes = self.axes(config)
        indices = list(self._fit(axes))
        if delta and axis < len(axes):
            indices[axis] = (indices[axis] + delta) % len(axes[axis].values)
        return Selection(tuple(indices), (self.seed + seed) % config.seeds)

    def at_point(self, config: RunConfig, point: int) -> "Selection":
        return Selection(point_indices(self.axes(config), point), self.seed)


def describe_instance(config: RunConfig, selection: Selection) -> str:
    axes = Selection.axes(config)
    indices = selection._fit(axes)
    parts = [f"density {config.densities[indices[0]]:.3g} ({indices[0] + 1}/{len(config.densities)})"]
    for axis, i in zip(axes[1:], indices[1:]):
        value = axis.values[i]
        parts.append(f"{axis.name} {value:.3g}" if isinstance(value, float) else f"{value}")
    if config.seeds > 1:
        parts.append(f"seed {config.seed + selection.seed} ({selection.seed + 1}/{config.seeds})")
    return ", ".join(parts)


def point_labels(config: RunConfig) -> list[str]:
    """A short label per grid point, in point order: "p=0.1", "p=0.1 r=3", "p=0.1 anticorrelated"."""
    axes = Selection.axes(config)
    labels = []
    for combo in np.ndindex(*(len(a.values) for a in axes)):
        parts = [f"p={axes[0].values[combo[0]]:.3g}"]
        for axis, i in zip(axes[1:], combo[1:]):
            value = axis.values[i]
            parts.append(f"{axis.name}={value:.3g}" if isinstance(value, float) else str(value))
        labels.append(" ".join(parts))
    return labels


def loss_curves(config: RunConfig, instances: InstanceTable, history: np.ndarray) -> dict[str, np.ndarray]:
    """Loss curves to plot from history [T, K]: one per grid point when there are few (seeds
    averaged), else every instance as one [T, K] series (drawn as mean and envelope)."""
    if history.size == 0:
        return {}
    labels = point_labels(config)
    if len(labels) <= MAX_LOSS_CURVES and history.shape[1] == len(instances):
        curves = {}
        with np.errstate(invalid="ignore"):
            for p, label in enumerate(labels):
                members = np.flatnonzero(instances.point == p)
                if members.size:
                    curves[label] = np.nanmean(history[:, members], axis=1)
        return curves
    return {"loss": history}  # LossPlot draws the mean and a min/max envelope of many instances


def winners(instances: InstanceTable, losses: np.ndarray | None) -> np.ndarray:
    """For each grid point, the instance with the lowest loss (the first seed if losses are unknown)."""
    return lowest_loss_instances(instances.point, losses)


def dstar_curve(config: RunConfig, instances: InstanceTable, W: np.ndarray, losses: np.ndarray | None):
    """(1/(1-S) [P], D* [P], D_i of each feature [P, n]) from the winning seed of each point."""
    rows = point_rows(instances, W, losses, ("dims_per_feature",))
    best = np.array([r["winner"] for r in rows], dtype=np.int64)
    inv_density = 1.0 / np.array([r["density"] for r in rows], dtype=float)
    dstar = np.array([r["dims_per_feature"] for r in rows], dtype=float)
    per_feature = feature_dimensionality(W[best]) if len(best) else np.zeros((0, W.shape[-1]))
    order = np.argsort(inv_density, kind="stable")
    return inv_density[order], dstar[order], per_feature[order]


def phase_cells(config: RunConfig, instances: InstanceTable, W: np.ndarray, losses: np.ndarray | None):
    """The phase (a PHASES name) and seed agreement of each grid point, in point order
    (density-major): the lowest-loss seed decides, as in the saved report."""
    loss = losses if losses is not None else np.zeros(len(instances))
    grid = phase_grid(W, loss, instances.density, instances.relative_importance, instances.point, config.phase_threshold)
    return [p.phase for p in grid], [p.agreement for p in grid]


def grid_layout(config: RunConfig, values: list) -> tuple[np.ndarray, np.ndarray, list, dict[int, int]]:
    """Per-point values (point order) on the grid the phase pane draws: (densities [D], relative
    importances [R], one value per cell density-major, the point at each cell). A grid run's
    points are its cells; a refinement level's paired points (point_layout "pairs") lie on the
    grid of their distinct values, with None where the level trained no point."""
    d, r = np.asarray(config.densities, dtype=float), np.asarray(config.relative_importances, dtype=float)
    if config.point_layout != "pairs":
        return d, r, list(values), {cell: cell for cell in range(len(values))}
    ds, rs = np.unique(d), np.unique(r)
    cells: list = [None] * (len(ds) * len(rs))
    point_at = {}
    for point, (density, importance, value) in enumerate(zip(d, r, values)):
        cell = int(np.searchsorted(ds, density)) * len(rs) + int(np.searchsorted(rs, importance))
        cells[cell], point_at[cell] = value, point
    return ds, rs, cells, point_at


def seed_cells(config: RunConfig, instances: InstanceTable, W: np.ndarray, losses: np.ndarray | None):
    """Every seed of each grid point, in point order: (SeedPopulation per point, and per seed its
    own model's phase at every point). Instances are point-major and seed-minor (k = point * seeds + s)."""
    loss = losses if losses is not None else np.zeros(len(instances))
    populations = seed_populations(W, loss, instances.density, instances.relative_importance, instances.point,
                                   config.phase_threshold)
    phases = classify(W, config.phase_threshold).reshape(-1, config.seeds)  # [P, seeds]
    singles = [[PHASES[i] for i in phases[:, s]] for s in range(config.seeds)]
    return populations, singles


def partner_cosine_curves(instances: InstanceTable, W: np.ndarray, losses: np.ndarray | None):
    """{pair kind: (densities [D], winners' partner cosine [D])}, one curve per kind of pairs."""
    curves: dict[str, tuple[list, list]] = {}
    for row in point_rows(instances, W, losses, ("partner_cosine",)):
        densities, cosines = curves.setdefault(row.get("pairs", "pairs"), ([], []))
        densities.append(row["density"])
        cosines.append(row["partner_cosine"])
    return {kind: (np.array(d), np.array(c)) for kind, (d, c) in curves.items()}
