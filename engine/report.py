"""The scripting contract: a saved run as plain JSON (`supertui show RUN --json`).

Names here are stable; add fields, never rename them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.metrics import instance_summary
from engine.phase import phase_grid
from engine.store import RunRecord


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def run_phase_grid(record: RunRecord):
    """The phase grid of a phase-preset run (n=2, m=1, relative importances), else None."""
    a = record.arrays
    cfg = record.config
    if cfg.relative_importances is None or cfg.n != 2 or cfg.m != 1:
        return None
    return phase_grid(a.W, a.final_loss, a.instances.density, a.instances.relative_importance, a.instances.point, cfg.phase_threshold)


def run_to_json(record: RunRecord) -> dict[str, Any]:
    cfg = record.config
    out: dict[str, Any] = {
        "id": record.id,
        "preset": cfg.preset,
        "activation": cfg.activation,
        "n": cfg.n,
        "m": cfg.m,
        "steps": cfg.steps,
        "status": record.status,
        "device": record.manifest.get("device"),
        "created": record.created,
        "finished": record.manifest.get("finished"),
        "steps_done": record.manifest.get("steps_done"),
        "config": cfg.to_dict(),
        "tags": record.tags,
        "note": record.note,
        "sweep": record.manifest.get("sweep"),
        "instances": [],
        "phase_grid": None,
    }
    if not record.has_arrays:
        return out
    a = record.arrays
    for k in range(len(a.instances)):
        entry = {
            "density": float(a.instances.density[k]),
            "importance": a.instances.importance[k].astype(float).tolist(),
            "seed": int(a.instances.seed[k]),
            "loss": _finite_or_none(a.final_loss[k]),
            "diverged": bool(a.diverged[k]),
            "W": a.W[k].astype(float).tolist(),
            "b": a.b[k].astype(float).tolist(),
        }
        if a.instances.relative_importance is not None:
            entry["relative_importance"] = float(a.instances.relative_importance[k])
        entry.update(instance_summary(a.W[k]))
        out["instances"].append(entry)
    grid = run_phase_grid(record)
    if grid is not None:
        out["phase_grid"] = [p.to_dict() for p in grid]
    return out
