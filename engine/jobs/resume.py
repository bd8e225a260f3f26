"""Continuing a saved run for more steps, as a new run (`supertui train --resume RUN --steps N`).

The new run has its own id; its manifest names the parent (`parent`) and the step it starts from
(`resumed_from_step`), and its config is the parent's with `steps` = that step + N. It starts
from the parent's saved W, b, Adam moments and step counter (arrays.npz), so, because the data of
step t are a pure function of (seed, t, ...), resuming equals training straight through: bit for
bit on the same device and code path (tests/test_resume.py checks it on CPU, eager). Its arrays
hold the whole history: the parent's loss rows and W snapshots, then its own.

A learning-rate schedule that depends on the total step count (linear, cosine) would have been
different all along had the total been known, so such runs are refused rather than continued on
a schedule nobody trained with. Runs saved before the optimiser state was kept cannot be resumed.

Torch-free except `initial_state` and `Continuation.join` (the worker's side).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.experiments import validate_config
from engine.config import RunConfig
from engine.errors import ConfigError, StoreError

if TYPE_CHECKING:
    from engine.store.arrays import RunArrays
    from engine.store.runs import RunRecord, RunStore
    from engine.training.step import TrainState
    from engine.training.train import TrainResult

RESUMABLE_STATUSES = ("completed", "cancelled", "interrupted")
# Config fields a resumed run may set otherwise than its parent: where and how it runs, not what.
RESUME_OVERRIDES = ("device", "compile")


def check_resumable(record: "RunRecord") -> int:
    """The step `record` can be continued from, or ConfigError("resume", one line) saying why not."""
    name = f"run {record.id}"
    if record.status not in RESUMABLE_STATUSES:
        raise ConfigError("resume", f"{name} is {record.status}; only {', '.join(RESUMABLE_STATUSES)} runs can be resumed")
    if record.config.schedule != "constant":
        raise ConfigError("resume", f"{name} uses the {record.config.schedule} learning-rate schedule, which depends on the "
                                    "total step count; only runs with a constant schedule can be resumed exactly")
    try:
        arrays = record.arrays
    except StoreError as exc:
        raise ConfigError("resume", f"{name} cannot be resumed: {exc}") from None
    if not arrays.has_optimizer_state:
        raise ConfigError("resume", f"{name} was saved without its optimiser state (by a supertui older than --resume); "
                                    "it cannot be resumed")
    return int(arrays.optimizer_step)


def resume_config(record: "RunRecord", steps: Any, **overrides: Any) -> RunConfig:
    """The new run's config: the parent's, `steps` more steps (and any RESUME_OVERRIDES)."""
    start = check_resumable(record)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError("steps", f"with --resume: the steps to add, an integer >= 1, got {steps!r}")
    unknown = sorted(set(overrides) - set(RESUME_OVERRIDES))
    if unknown:
        raise ConfigError("resume", f"a resumed run keeps its parent's {unknown[0]} (accepted changes: "
                                    f"{', '.join(RESUME_OVERRIDES)}, and --steps)")
    return validate_config(record.config.replace(steps=start + steps, **overrides))


def resume_extra(record: "RunRecord") -> dict[str, Any]:
    """What the new run's manifest says about where it came from."""
    return {"parent": record.id, "resumed_from_step": check_resumable(record)}


def initial_state(arrays: "RunArrays") -> "TrainState":
    from engine.training.step import OptimizerState, TrainState

    optimizer = OptimizerState(arrays.adam_mW, arrays.adam_vW, arrays.adam_mb, arrays.adam_vb, int(arrays.optimizer_step))
    return TrainState(arrays.W, arrays.b, optimizer, np.asarray(arrays.diverged, dtype=bool))


@dataclass(frozen=True)
class Continuation:
    """A queued run that continues another: the state to start from and the history to keep."""

    parent: str
    initial: "TrainState"
    history: "RunArrays"
    config: RunConfig  # the continuing run's

    def join(self, result: "TrainResult") -> "TrainResult":
        """`result` (the steps after the parent's) with the parent's loss rows and snapshots first.

        The parent's part is thinned (evenly, keeping its first and last entries) so that the
        whole stays within twice what one run keeps: a chain of resumed runs never outgrows the
        bounds the store checks when it loads arrays (engine.store.arrays.array_limits)."""
        from engine.training.memory import HISTORY_POINTS, snapshot_count

        h = self.history
        K = h.W.shape[0]
        rows = _thinned(len(h.loss_steps), 2 * (HISTORY_POINTS + 1) - len(result.loss_steps))
        snaps = _thinned(len(h.snapshot_steps), 2 * snapshot_count(self.config, K) - len(result.snapshot_steps))
        return replace(
            result,
            loss_steps=np.concatenate([h.loss_steps[rows], result.loss_steps]).astype(np.int64),
            loss_history=np.concatenate([h.loss_history.reshape(-1, K)[rows], result.loss_history.reshape(-1, K)]),
            snapshot_steps=np.concatenate([h.snapshot_steps[snaps], result.snapshot_steps]).astype(np.int64),
            snapshots=np.concatenate([h.snapshots[snaps].astype(np.float32), result.snapshots.astype(np.float32)]),
        )


def _thinned(count: int, room: int) -> np.ndarray:
    """Indices of at most `room` of `count` entries, evenly spread, first and last kept."""
    if count <= room:
        return np.arange(count)
    if room <= 1:
        return np.arange(count)[-1:] if room == 1 else np.zeros(0, dtype=np.int64)
    return np.unique(np.round(np.linspace(0, count - 1, room)).astype(np.int64))


def continuation(store: "RunStore", manifest: dict[str, Any], config: RunConfig) -> Continuation | None:
    """The parent a queued run continues (from its manifest), checked again now that it trains;
    None for a fresh run. StoreError / ConfigError when the parent is gone or no longer fits."""
    parent_id = manifest.get("parent")
    if parent_id is None:
        return None
    parent = store.load(str(parent_id))
    start = check_resumable(parent)
    if start != manifest.get("resumed_from_step"):
        raise StoreError(f"run {parent.id} changed since this run was queued (it now ends at step {start})")
    expected = parent.config.replace(steps=config.steps, **{k: getattr(config, k) for k in RESUME_OVERRIDES})
    if expected != config or not start < config.steps:
        raise StoreError(f"this run's config no longer continues run {parent.id}")
    return Continuation(parent.id, initial_state(parent.arrays), parent.arrays, config)
