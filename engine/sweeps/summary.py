"""What a sweep found: per run its swept values, final loss and its experiment's headline metric,
and the same as curves against one swept field (one curve per value of a second one). The app's
sweep screen and the sweep PNG both draw `summary_curves`, so they show the same points."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from engine.errors import StoreError
from engine.store.runs import RunRecord


@dataclass(frozen=True)
class SweepRow:
    run_id: str
    status: str
    axes: dict[str, Any]  # the swept fields' values
    final_loss: float | None
    headline: float | None


@dataclass(frozen=True)
class SweepSummary:
    sweep_id: str
    axes: list[str]  # swept fields in the sweep's order
    headline_label: str
    rows: list[SweepRow]

    @property
    def x_axis(self) -> str | None:
        """The field drawn along x: the first swept field with more than one value."""
        varied = [a for a in self.axes if len({_key(r.axes.get(a)) for r in self.rows}) > 1]
        return varied[0] if varied else (self.axes[0] if self.axes else None)

    @property
    def group_axis(self) -> str | None:
        """The field that separates curves: the next varied field after x, if any."""
        x = self.x_axis
        varied = [a for a in self.axes if a != x and len({_key(r.axes.get(a)) for r in self.rows}) > 1]
        return varied[0] if varied else None


def _key(value: Any) -> str:
    return repr(value)


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def summarize(sweep_id: str, records: list[RunRecord]) -> SweepSummary:
    """Rows for every run of the sweep; runs without arrays yet (queued, failed) have no numbers."""
    from engine.experiments import experiment_for

    axes: list[str] = []
    rows = []
    label = "headline"
    for record in records:
        sweep = record.manifest.get("sweep") if isinstance(record.manifest.get("sweep"), dict) else {}
        values = sweep.get("axes") if isinstance(sweep.get("axes"), dict) else {}
        for name in values:
            if name not in axes:
                axes.append(name)
        headline = None
        if record.status == "completed" and record.has_arrays:
            try:
                label, value = experiment_for(record.config).headline(record)
                headline = _finite(value)
            except (StoreError, ValueError, KeyError):
                headline = None
        rows.append(SweepRow(record.id, record.status, dict(values), _finite(record.final_loss), headline))
    return SweepSummary(sweep_id, axes, label, rows)


def summary_curves(summary: SweepSummary, metric: str) -> dict[str, tuple[list[float], list[float]]]:
    """metric "final_loss" or "headline" against the x axis: {curve label: (x, y)}, x sorted.
    Non-numeric x values (init, optimizer, activation) are placed at 0, 1, 2... in order."""
    x_axis, group_axis = summary.x_axis, summary.group_axis
    if x_axis is None:
        return {}
    x_values = list(dict.fromkeys(r.axes.get(x_axis) for r in summary.rows))
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in x_values)
    curves: dict[str, list[tuple[float, float]]] = {}
    for row in summary.rows:
        y = getattr(row, metric)
        if y is None:
            continue
        x = row.axes.get(x_axis)
        position = float(x) if numeric else float(x_values.index(x))
        label = f"{group_axis}={row.axes.get(group_axis)}" if group_axis else metric.replace("_", " ")
        curves.setdefault(label, []).append((position, y))
    return {label: ([p[0] for p in sorted(points)], [p[1] for p in sorted(points)]) for label, points in curves.items()}


def x_labels(summary: SweepSummary) -> list[str] | None:
    """Tick labels for a non-numeric x axis (in position order), else None."""
    x_axis = summary.x_axis
    if x_axis is None:
        return None
    values = list(dict.fromkeys(r.axes.get(x_axis) for r in summary.rows))
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return None
    return [str(v) for v in values]
