"""A run's instances (the table its experiment builds), and from a sweep over config fields to several runs."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    import numpy as np

from engine.config import RunConfig
from engine.errors import ConfigError


@dataclass(frozen=True)
class InstanceTable:
    """The K instances of a run, point-major and seed-minor: k = point * seeds + seed_index.

    A grid point is what its seeds share: a density, and per experiment a relative importance
    (phase) or a layout of partner pairs (correlated); each point has `seeds` instances.
    """

    density: np.ndarray  # [K] float32
    importance: np.ndarray  # [K, n] float32
    seed: np.ndarray  # [K] int64
    point: np.ndarray  # [K] int64, index of the grid point
    relative_importance: np.ndarray | None  # [K] float32, phase experiment only
    partner: np.ndarray | None = None  # [K, n] int64: each feature's partner (itself: unpaired)
    pair_kind: np.ndarray | None = None  # [K, n] int8: index into engine.metrics.PAIR_KINDS

    def __len__(self) -> int:
        return len(self.seed)


def instance_table(config: RunConfig) -> InstanceTable:
    """The instances of a run, as its experiment lays them out."""
    from engine.experiments import experiment_for

    return experiment_for(config).instance_table(config)


def lowest_loss_instances(point: np.ndarray, losses: np.ndarray | None) -> np.ndarray:
    """Per grid point (ascending), the instance with the lowest loss: the seed that decides.

    A diverged instance (NaN or inf loss) never wins; with no losses, the first seed does.
    point [K], losses [K] -> [P] instance indices."""
    import numpy as np

    points = np.unique(point)
    if losses is None:
        return np.array([np.flatnonzero(point == p)[0] for p in points], dtype=np.int64)
    safe = np.where(np.isfinite(losses), losses, np.inf)
    return np.array([(m := np.flatnonzero(point == p))[np.argmin(safe[m])] for p in points], dtype=np.int64)


# Config fields a sweep may vary (one run per combination); instance axes vary inside a run.
SWEEPABLE = ("activation", "importance_decay", "lr", "batch_size", "steps", "m", "n", "weight_decay", "init", "optimizer", "schedule",
             "loss_reduction")


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
