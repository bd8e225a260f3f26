"""Runs written by hand, without torch: a saved run in the current layout, in milliseconds, for
tests that damage, copy or crowd the store (the layout is what engine.store.runs writes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.experiments import instance_count
from engine.config import RunConfig
from engine.experiments import instance_table

CONFIG = RunConfig(preset="custom", activation="relu", n=4, m=2, densities=(1.0, 0.1), seeds=2, steps=30,
                   batch_size=64, compile=False, snapshots=3)


def manifest_for(run_id: str, config: RunConfig = CONFIG, **fields) -> dict:
    return {
        "format": "supertui-run", "format_version": 1, "id": run_id, "config": config.to_dict(), "seeds": [0, 1],
        "instances": instance_count(config), "status": "completed", "created": "2026-01-01T10:00:00+00:00",
        "updated": "2026-01-01T10:00:00+00:00", "started": "2026-01-01T10:00:00+00:00",
        "finished": "2026-01-01T10:00:01+00:00", "device": "cpu", "compiled": False, "steps_done": config.steps,
        "elapsed_seconds": 1.0, "versions": {"supertui": "0.1.0"}, "host": "here", "pid": None, "tags": [],
        "note": "", "warnings": [], "error": None,
        "summary": {"final_loss": 0.1, "best_loss": 0.05, "diverged": 0, "loss_sparkline": [0.3, 0.2, 0.1]},
        **fields,
    }


def arrays_for(config: RunConfig = CONFIG, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    table = instance_table(config)
    K, m, n = len(table), config.m, config.n
    return {
        "W": rng.normal(size=(K, m, n)).astype(np.float32),
        "b": np.zeros((K, n), np.float32),
        "final_loss": rng.uniform(0.01, 0.1, K),
        "loss_steps": np.array([15, 30]),
        "loss_history": rng.uniform(0.01, 0.3, (2, K)).astype(np.float32),
        "snapshot_steps": np.array([0, 30]),
        "snapshots": rng.normal(size=(2, K, m, n)).astype(np.float32),
        "diverged": np.zeros(K, bool),
        "density": table.density,
        "importance": table.importance,
        "seed": table.seed,
        "point": table.point,
    }


def write_run(data_dir: Path, run_id: str, config: RunConfig = CONFIG, arrays: dict | None = None, **fields) -> Path:
    """A completed run folder with its manifest and arrays; `fields` override manifest fields."""
    path = Path(data_dir) / "runs" / run_id
    path.mkdir(parents=True)
    (path / "manifest.json").write_text(json.dumps(manifest_for(run_id, config, **fields), indent=1))
    np.savez(path / "arrays.npz", **(arrays if arrays is not None else arrays_for(config)))
    return path


def edit_manifest(path: Path, edit) -> None:
    """Apply `edit(manifest) -> None` to a run folder's manifest.json, in place."""
    manifest = json.loads((path / "manifest.json").read_text())
    edit(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))
