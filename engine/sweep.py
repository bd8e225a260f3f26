"""From a RunConfig to its instances, and from a sweep over config fields to several runs."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from engine.config import RunConfig
from engine.errors import ConfigError


@dataclass(frozen=True)
class InstanceTable:
    """The K instances of a run, point-major and seed-minor: k = point * seeds + seed_index.

    A grid point is one (density, relative importance) pair; each has `seeds` instances.
    """

    density: np.ndarray  # [K] float32
    importance: np.ndarray  # [K, n] float32
    seed: np.ndarray  # [K] int64
    point: np.ndarray  # [K] int64, index of the grid point
    relative_importance: np.ndarray | None  # [K] float32, phase preset only

    def __len__(self) -> int:
        return len(self.seed)


def importance_vector(config: RunConfig, relative_importance: float | None = None) -> np.ndarray:
    if relative_importance is not None:
        return np.array([1.0, relative_importance], dtype=np.float32)  # [2]
    return (config.importance_decay ** np.arange(config.n)).astype(np.float32)  # [n]


def instance_table(config: RunConfig) -> InstanceTable:
    relatives: list[float | None] = list(config.relative_importances or [None])
    points = list(itertools.product(config.densities, relatives))
    density = np.repeat([d for d, _ in points], config.seeds).astype(np.float32)  # [K]
    importance = np.repeat(np.stack([importance_vector(config, r) for _, r in points]), config.seeds, axis=0)  # [K, n]
    seed = np.tile(config.seed + np.arange(config.seeds, dtype=np.int64), len(points))  # [K]
    point = np.repeat(np.arange(len(points), dtype=np.int64), config.seeds)  # [K]
    relative = None
    if config.relative_importances is not None:
        relative = np.repeat([r for _, r in points], config.seeds).astype(np.float32)
    return InstanceTable(density, importance, seed, point, relative)


def lowest_loss_instances(point: np.ndarray, losses: np.ndarray | None) -> np.ndarray:
    """Per grid point (ascending), the instance with the lowest loss: the seed that decides.

    A diverged instance (NaN or inf loss) never wins; with no losses, the first seed does.
    point [K], losses [K] -> [P] instance indices."""
    points = np.unique(point)
    if losses is None:
        return np.array([np.flatnonzero(point == p)[0] for p in points], dtype=np.int64)
    safe = np.where(np.isfinite(losses), losses, np.inf)
    return np.array([(m := np.flatnonzero(point == p))[np.argmin(safe[m])] for p in points], dtype=np.int64)


# Config fields a sweep may vary (one run per combination); instance axes vary inside a run.
SWEEPABLE = ("activation", "importance_decay", "lr", "batch_size", "steps", "m", "n", "weight_decay", "init", "optimizer", "schedule")


def expand_sweep(base: RunConfig, axes: dict[str, Iterable[Any]]) -> list[RunConfig]:
    """One config per combination of the swept values, e.g. {"activation": [...], "importance_decay": [...]}."""
    for name in axes:
        if name not in SWEEPABLE:
            raise ConfigError("sweep", f"cannot sweep {name!r} (accepted: {', '.join(SWEEPABLE)})")
    names = list(axes)
    values = [list(axes[name]) for name in names]
    for name, vals in zip(names, values):
        if not vals:
            raise ConfigError(name, "a swept field needs at least one value")
    return [base.replace(**dict(zip(names, combo))).validate() for combo in itertools.product(*values)]
