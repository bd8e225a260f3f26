"""A run's instances: the table its experiment builds (engine.experiments), one row per model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


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
    pair_kind: np.ndarray | None = None  # [K, n] int8: index into engine.science.metrics.PAIR_KINDS

    def __len__(self) -> int:
        return len(self.seed)


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
