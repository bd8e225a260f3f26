"""Saved runs built in memory from chosen weights, for testing claims and verdicts on numbers we
know (no torch, no disk): `fake_run(config, W)` with optional earlier snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.config import RunConfig
from engine.experiments import instance_table
from engine.store.arrays import RunArrays


@dataclass
class FakeRun:
    id: str
    config: RunConfig
    manifest: dict[str, Any]
    arrays: RunArrays


def fake_run(config: RunConfig, W: np.ndarray, snapshots: dict[int, np.ndarray] | None = None,
             final_loss: np.ndarray | None = None, run_id: str = "fake") -> FakeRun:
    """A completed run of `config` whose final weights are W [K, m, n]; `snapshots` {step: W} are
    its W snapshots (the run's last step is config.steps)."""
    table = instance_table(config)
    K = len(table)
    W = np.asarray(W, dtype=np.float32)
    assert W.shape == (K, config.m, config.n), W.shape
    snapshots = snapshots or {}
    steps = sorted(snapshots)
    stacked = (np.stack([np.asarray(snapshots[s], np.float32) for s in steps]) if steps
               else np.zeros((0, K, config.m, config.n), np.float32))
    arrays = RunArrays(
        W=W, b=np.zeros((K, config.n), np.float32),
        final_loss=np.asarray(final_loss if final_loss is not None else np.full(K, 0.1), dtype=float),
        loss_steps=np.array([config.steps]), loss_history=np.full((1, K), 0.1, np.float32),
        snapshot_steps=np.array(steps, dtype=np.int64), snapshots=stacked, diverged=np.zeros(K, bool),
        instances=table,
    )
    manifest = {"id": run_id, "status": "completed", "steps_done": config.steps, "device": "cpu"}
    return FakeRun(run_id, config, manifest, arrays)


def scaled_identity(K: int, m: int, n: int, scale: float | np.ndarray = 1.0) -> np.ndarray:
    """W [K, m, n]: the first m features on their own dimension with ‖W_i‖ = scale, the others
    unrepresented (D* = m / (m · scale²) = 1 / scale²)."""
    W = np.zeros((K, m, n), np.float32)
    scale = np.broadcast_to(np.asarray(scale, np.float32), (K,))
    for k in range(K):
        W[k, :, :m] = np.eye(m) * scale[k]
    return W


def antipodal_pairs(K: int, m: int, n: int, pairs: int | None = None) -> np.ndarray:
    """W [K, m, n]: `pairs` antipodal pairs (feature 2d on +e_d, 2d+1 on −e_d), unit norms, rest
    unrepresented: D* = 1/2 when every dimension holds a pair."""
    pairs = m if pairs is None else pairs
    W = np.zeros((K, m, n), np.float32)
    for d in range(pairs):
        W[:, d, 2 * d], W[:, d, 2 * d + 1] = 1.0, -1.0
    return W
