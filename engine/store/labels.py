"""What tells runs apart, in a few words: the config fields that differ between them
(`lr=0.001`, `gelu, batch_size=512`), or the tail of the id where nothing does. Compare panes,
compare and sweep figures and the overlaid loss curves all label runs with these."""

from __future__ import annotations

from typing import Any

import numpy as np

# Fields that never tell runs apart for a reader (where a run ran, how often it saved).
IGNORED = ("device", "compile", "snapshots", "profile")
MAX_FIELDS = 3


def format_value(value: Any) -> str:
    """A config value in a label: numbers in 4 significant digits, long lists as a count and range."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        if len(value) > 3:
            return f"{len(value)} values {format_value(value[0])}…{format_value(value[-1])}"
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in sorted(value.items())) + "}"
    return str(value)


def differing_fields(configs: list) -> list[str]:
    """The config fields (RunConfig names, config order) whose value is not the same in every config."""
    dicts = [c.to_dict() for c in configs]
    if len(dicts) < 2:
        return []
    return [name for name in dicts[0]
            if name not in IGNORED and any(d.get(name) != dicts[0].get(name) for d in dicts[1:])]


def short_id(run_id: str) -> str:
    """The part of an id that tells it apart: its random tail (`…-e7da78a0` -> `e7da78a0`)."""
    return run_id.rsplit("-", 1)[-1] if "-" in run_id else run_id


def difference_label(config, fields: list[str], run_id: str) -> str:
    """One run's label from the differing `fields`: the activation bare, others as name=value."""
    data = config.to_dict()
    parts = [str(data[f]) if f == "activation" else f"{f}={format_value(data[f])}" for f in fields[:MAX_FIELDS]]
    if len(fields) > MAX_FIELDS:
        parts.append(f"+{len(fields) - MAX_FIELDS} more")
    return ", ".join(parts) if parts else f"run {short_id(run_id)}"


def difference_labels(records: list) -> list[str]:
    """A label per run naming what differs between them; runs that share every field are told
    apart by their id's tail, and duplicate labels get it too."""
    fields = differing_fields([r.config for r in records])
    labels = [difference_label(r.config, fields, r.id) for r in records]
    return [f"{label} ({short_id(r.id)})" if fields and labels.count(label) > 1 else label
            for label, r in zip(labels, records)]


def run_caption(activation: str, label: str) -> str:
    """`relu · lr=0.001`: a run's activation, then its difference label (once, where that is it)."""
    return label if label.split(",")[0].split(" (")[0] == activation else f"{activation} · {label}"


def mean_loss_curve(arrays) -> tuple[np.ndarray, np.ndarray]:
    """A run's loss history as one curve, (steps [T], mean over its finite instances [T]): the
    curve the overlaid comparisons draw, the same mean the manifest's final loss is."""
    history = np.asarray(arrays.loss_history, dtype=np.float64)  # [T, K]
    finite = np.isfinite(history)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite, history, 0.0).sum(1) / finite.sum(1)  # NaN where no instance is finite
    return np.asarray(arrays.loss_steps, dtype=np.float64), mean


def overlay_colours(records: list, swept: str | None = None) -> list[str]:
    """A colour per run for overlaid loss curves: by the swept field's value on the sequential
    scale (low to high, in value order) when `swept` is given, else one categorical colour each."""
    from engine.palette import CATEGORICAL, sequential_color

    if swept is None:
        return [CATEGORICAL[i % len(CATEGORICAL)] for i in range(len(records))]
    values = [r.config.to_dict().get(swept) for r in records]
    order = sorted(set(map(repr, values)), key=lambda v: _sort_key(v))
    rank = {v: i for i, v in enumerate(order)}
    return [sequential_color(0.9 * rank[repr(v)] / max(len(order) - 1, 1)) for v in values]


def _sort_key(text: str):
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, 0.0, text)
