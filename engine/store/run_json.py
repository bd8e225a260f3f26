"""The scripting contract: a saved run as plain JSON (`supertui show RUN --json`).

Names here are stable; add fields, never rename them. What is particular to an experiment (the
phase grid, feature pairs) comes from the run's experiment; the per-point numbers come from
engine.science.metrics.point_rows, the same function the app, export and reproduce use.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.science.convergence import run_dstar_history
from engine.experiments import experiment_for
from engine.science.metrics import METRICS, instance_summary, point_rows
from engine.config import profile_label
from engine.store.runs import RunRecord


def _finite_or_none(x: float) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def finite_json(value: Any) -> Any:
    """`value` with every non-finite number (a diverged run's inf or NaN) as None, so the
    JSON written from it is valid JSON (null), never `Infinity` or `NaN`."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return finite_json(value.item())
    if isinstance(value, np.ndarray):
        return finite_json(value.tolist())
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(item) for item in value]
    return value


def run_phase_grid(record: RunRecord):
    """The phase grid of a run whose experiment has one (phase), else None."""
    grid = getattr(experiment_for(record.config), "grid", None)
    return grid(record) if grid is not None and record.has_arrays else None


def run_to_json(record: RunRecord) -> dict[str, Any]:
    cfg = record.config
    experiment = experiment_for(cfg)
    out: dict[str, Any] = {
        "id": record.id,
        "name": record.name,  # the short name (editable; accepted wherever an id is)
        "preset": cfg.preset,
        "activation": cfg.activation,
        "n": cfg.n,
        "m": cfg.m,
        "steps": cfg.steps,
        "status": record.status,
        "device": record.manifest.get("device"),
        "host": record.host,  # the machine it trained on (null while queued)
        "executor": record.executor,  # "local" or "ray"
        "created": record.created,
        "finished": record.manifest.get("finished"),
        "steps_done": record.manifest.get("steps_done"),
        "config": cfg.to_dict(),
        "tags": record.tags,
        "note": record.note,
        "sweep": record.manifest.get("sweep"),
        "profile": profile_label(cfg),  # the bundle of reference choices, with any field given otherwise
        "parent": record.manifest.get("parent"),  # the run this one continues (`train --resume`), else null
        "resumed_from_step": record.manifest.get("resumed_from_step"),
        "instances": [],
        "phase_grid": None,
        "experiment": {
            "name": experiment.name,
            "title": experiment.title,
            "panes": list(experiment.panes),
            "compare_pane": experiment.compare_pane,
            "figures": [*experiment.figures, "loss"],
        },
        "points": [],
        "metrics": {key: {"label": METRICS[key].label, "formula": METRICS[key].formula} for key in experiment.point_metrics},
        "headline": None,
        "dstar_history": None,  # runs whose experiment shows D*: D* against step and whether it still moves
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
            "loss_se": None if a.final_loss_se is None else _finite_or_none(a.final_loss_se[k]),
            "diverged": bool(a.diverged[k]),
            "W": a.W[k].astype(float).tolist(),
            "b": a.b[k].astype(float).tolist(),
        }
        if a.instances.relative_importance is not None:
            entry["relative_importance"] = float(a.instances.relative_importance[k])
        entry.update(instance_summary(a.W[k]))
        entry.update(experiment.instance_json(a, k))
        out["instances"].append(entry)
    out["points"] = [
        {key: (_finite_or_none(v) if isinstance(v, float) else v) for key, v in row.items()}
        for row in point_rows(a.instances, a.W, a.final_loss, experiment.point_metrics)
    ]
    if "dstar" in experiment.panes:  # D* against training step, and whether it is still moving (engine.science.convergence)
        out["dstar_history"] = run_dstar_history(record).to_json()
    label, value = experiment.headline(record)
    out["headline"] = {"label": label, "value": _finite_or_none(value)}
    out.update(experiment.run_json(record))
    return finite_json(out)
