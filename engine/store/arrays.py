"""A run's arrays (arrays.npz): the trained weights, loss history, snapshots, instance table and
optimiser state, their shape checks and size bounds, and the summary a manifest keeps of them.

Apart from engine.store.runs so that the commands that only read manifests (runs, jobs, cancel, rm)
never import numpy: the store imports this module when it loads or saves arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.config import RunConfig
from engine.errors import StoreError
from engine.instances import InstanceTable

SPARKLINE_POINTS = 32


@dataclass
class RunArrays:
    W: np.ndarray  # [K, m, n]
    b: np.ndarray  # [K, n]
    final_loss: np.ndarray  # [K]
    loss_steps: np.ndarray  # [T]
    loss_history: np.ndarray  # [T, K]
    snapshot_steps: np.ndarray  # [S]
    snapshots: np.ndarray  # [S, K, m, n]
    diverged: np.ndarray  # [K] bool
    instances: InstanceTable
    # Saved since the shared evaluation stream; absent (None) in older runs.
    final_loss_se: np.ndarray | None = None  # [K] standard error of final_loss
    final_loss_gap_se: np.ndarray | None = None  # [K] paired standard error of (loss_k - its point's winner)
    # Saved since `train --resume`: the optimiser state to continue from; absent in older runs.
    adam_mW: np.ndarray | None = None  # [K, m, n] Adam's first moment of W
    adam_vW: np.ndarray | None = None  # [K, m, n] second moment
    adam_mb: np.ndarray | None = None  # [K, n]
    adam_vb: np.ndarray | None = None  # [K, n]
    optimizer_step: np.ndarray | None = None  # [] int64: steps the moments have seen (the next step's index)

    _INSTANCE_KEYS = ("density", "importance", "seed", "point", "relative_importance", "partner", "pair_kind")
    _OPTIONAL_KEYS = ("final_loss_se", "final_loss_gap_se", "adam_mW", "adam_vW", "adam_mb", "adam_vb", "optimizer_step")
    _OPTIMIZER_KEYS = ("adam_mW", "adam_vW", "adam_mb", "adam_vb", "optimizer_step")

    @property
    def has_optimizer_state(self) -> bool:
        return all(getattr(self, key) is not None for key in self._OPTIMIZER_KEYS)

    def to_npz(self) -> dict[str, np.ndarray]:
        out = {
            k: getattr(self, k)
            for k in ("W", "b", "final_loss", "loss_steps", "loss_history", "snapshot_steps", "snapshots", "diverged")
        }
        for key in self._OPTIONAL_KEYS:
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        for key in self._INSTANCE_KEYS:
            value = getattr(self.instances, key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_npz(cls, data: dict[str, np.ndarray]) -> "RunArrays":
        instances = InstanceTable(
            density=data["density"],
            importance=data["importance"],
            seed=data["seed"],
            point=data["point"],
            relative_importance=data.get("relative_importance"),
            partner=data.get("partner"),
            pair_kind=data.get("pair_kind"),
        )
        fields = {k: data[k] for k in ("W", "b", "final_loss", "loss_steps", "loss_history", "snapshot_steps", "snapshots", "diverged")}
        optional = {k: data.get(k) for k in cls._OPTIONAL_KEYS}
        arrays = cls(**fields, instances=instances, **optional)
        arrays._check()
        # A diverged instance was frozen where its loss went non-finite: it has no final loss
        # (older runs saved the frozen weights' loss), so it can never rank as a point's best.
        arrays.diverged = np.asarray(arrays.diverged, dtype=bool)
        arrays.final_loss = np.where(arrays.diverged, np.nan, arrays.final_loss)
        return arrays

    def _check(self) -> None:
        K, m, n = self.W.shape
        expected = {
            "b": (K, n),
            "final_loss": (K,),
            "diverged": (K,),
            "density": (K,),
            "importance": (K, n),
            "seed": (K,),
            "point": (K,),
        }
        optional = {"final_loss_se": (K,), "final_loss_gap_se": (K,), "relative_importance": (K,), "partner": (K, n),
                    "pair_kind": (K, n), "adam_mW": (K, m, n), "adam_vW": (K, m, n), "adam_mb": (K, n), "adam_vb": (K, n),
                    "optimizer_step": ()}
        for name, shape in optional.items():
            value = getattr(self, name) if hasattr(self, name) else getattr(self.instances, name)
            if value is not None:
                expected[name] = shape
        for name, shape in expected.items():
            value = getattr(self, name) if hasattr(self, name) else getattr(self.instances, name)
            if value.shape != shape:
                raise StoreError(f"{name} has shape {value.shape}, expected {shape}")
        step = self.optimizer_step
        if step is not None and (step.dtype.kind not in "iu" or int(step) < 0):
            raise StoreError("optimizer_step must be a whole number >= 0")
        for name, high in (("partner", n), ("pair_kind", 3)):  # indices: read from disk, so checked
            value = getattr(self.instances, name)
            if value is not None and (value.dtype.kind not in "iu" or value.min(initial=0) < 0 or value.max(initial=0) >= high):
                raise StoreError(f"{name} holds values outside [0, {high})")
        if self.loss_history.shape != (len(self.loss_steps), K):
            raise StoreError(f"loss_history has shape {self.loss_history.shape}, expected ({len(self.loss_steps)}, {K})")
        if self.snapshots.shape != (len(self.snapshot_steps), K, m, n):
            raise StoreError(f"snapshots has shape {self.snapshots.shape}")


def check_matches_manifest(arrays: RunArrays, config: RunConfig, table: InstanceTable) -> None:
    """The arrays belong to the run whose config the manifest holds: as many instances, of its
    m and n, and the same instance table (a dims run's arrays.npz copied into a sparsity run's
    folder would otherwise draw nonsense, or index past the end). StoreError naming the first
    mismatch, in one line."""
    K, m, n = len(table), config.m, config.n
    if arrays.W.shape != (K, m, n):
        raise StoreError(f"does not match its manifest: W has shape {arrays.W.shape}, the manifest's config "
                         f"({config.preset}, n={n}, m={m}) needs {(K, m, n)}")
    for name in ("point", "seed"):
        saved, expected = getattr(arrays.instances, name), getattr(table, name)
        if not np.array_equal(np.asarray(saved), np.asarray(expected)):
            raise StoreError(f"does not match its manifest: its instance table's {name} column differs from the "
                             f"one the manifest's config ({config.preset}) makes")
    for name in ("density", "importance"):
        saved, expected = getattr(arrays.instances, name), getattr(table, name)
        if not np.allclose(np.asarray(saved, dtype=np.float64), np.asarray(expected, dtype=np.float64),
                           rtol=1e-5, atol=1e-8, equal_nan=True):
            raise StoreError(f"does not match its manifest: its instance table's {name} column differs from the "
                             f"one the manifest's config ({config.preset}) makes")


def array_limits(config: RunConfig, instances: int) -> dict[str, int]:
    """The most bytes each entry of a run's arrays.npz may hold (8 bytes an element), from its
    config and instance count: only these entries are loaded, and none larger (engine.system.files.load_npz)."""
    from engine.training.memory import HISTORY_POINTS, snapshot_count

    K, m, n = instances, config.m, config.n
    rows = 4 * HISTORY_POINTS + 4  # the trainer records at most HISTORY_POINTS + 2
    snapshots = 2 * snapshot_count(config, K) + 2  # twice: a resumed run keeps its parent's too (engine.jobs.resume)
    elements = {
        "W": K * m * n, "b": K * n, "final_loss": K, "diverged": K, "loss_steps": rows, "loss_history": rows * K,
        "snapshot_steps": snapshots, "snapshots": snapshots * K * m * n, "final_loss_se": K, "final_loss_gap_se": K,
        "density": K, "importance": K * n, "seed": K, "point": K, "relative_importance": K, "partner": K * n,
        "pair_kind": K * n, "adam_mW": K * m * n, "adam_vW": K * m * n, "adam_mb": K * n, "adam_vb": K * n,
        "optimizer_step": 1,
    }
    return {name: 8 * count for name, count in elements.items()}


def run_summary(result) -> dict[str, Any]:
    losses = np.where(np.asarray(result.diverged, dtype=bool), np.nan, result.final_loss)  # [K]
    finite = losses[np.isfinite(losses)]
    mean_curve = _mean_finite(result.loss_history)
    summary = {
        "final_loss": float(finite.mean()) if finite.size else None,
        "best_loss": float(finite.min()) if finite.size else None,
        "diverged": int(result.diverged.sum()),
        "loss_sparkline": _downsample(mean_curve, SPARKLINE_POINTS),
    }
    last = np.asarray(result.loss_history[-1:], dtype=np.float64).ravel()
    last = last[np.isfinite(last)]
    if result.status == "checkpoint" and last.size:
        # While it trains there is no evaluation yet: the latest training loss stands in. A run
        # whose every instance diverged has no loss at all (never 0, never best).
        summary["final_loss"] = float(last.mean())
    return summary


def _mean_finite(history: np.ndarray) -> list[float]:
    rows = []
    for row in np.asarray(history, dtype=np.float64):
        finite = row[np.isfinite(row)]
        if finite.size:
            rows.append(float(finite.mean()))
    return rows


def _downsample(values: list[float], points: int) -> list[float]:
    if len(values) <= points:
        return [float(v) for v in values]
    idx = np.linspace(0, len(values) - 1, points).round().astype(int)
    return [float(values[i]) for i in idx]
