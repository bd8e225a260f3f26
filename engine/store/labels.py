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


def difference_label(config, fields: list[str], run_id: str, hidden: int | None = None) -> str:
    """One run's label from the differing `fields`: the activation bare, others as name=value;
    `hidden` differing fields left out are counted (by default those past MAX_FIELDS)."""
    data = config.to_dict()
    parts = [str(data[f]) if f == "activation" else f"{f}={format_value(data[f])}" for f in fields[:MAX_FIELDS]]
    hidden = max(len(fields) - MAX_FIELDS, 0) if hidden is None else hidden
    if hidden:
        parts.append(f"+{hidden} more")
    return ", ".join(parts) if parts else f"run {short_id(run_id)}"


def telling_fields(configs: list, fields: list[str]) -> list[str]:
    """Of the differing `fields`, at most MAX_FIELDS (in config order) that tell the runs apart:
    first each field that splits runs the fields taken so far leave together, then fields that
    group the runs another way, then the rest in config order. A field that differs exactly where
    a taken one does (`n` beside `preset`) gives its place to one that says more (`lr`)."""
    dicts = [c.to_dict() for c in configs]

    def grouping(names: list[str]) -> tuple[int, ...]:
        """Which runs the fields `names` leave together: each run's first equal run."""
        keys = [tuple(repr(d.get(n)) for n in names) for d in dicts]
        return tuple(keys.index(key) for key in keys)

    taken: list[str] = []
    for name in fields:  # the fields that split: as few as tell every run apart
        if len(taken) < MAX_FIELDS and len(set(grouping([*taken, name]))) > len(set(grouping(taken))):
            taken.append(name)
    seen = {grouping([name]) for name in taken}
    for name in fields:  # then what else differs, a field per way of grouping the runs first
        if len(taken) < MAX_FIELDS and name not in taken and grouping([name]) not in seen:
            taken.append(name)
            seen.add(grouping([name]))
    taken += [name for name in fields if name not in taken][: MAX_FIELDS - len(taken)]
    return [name for name in fields if name in taken]


def difference_labels(records: list) -> list[str]:
    """A label per run naming what differs between them, by the fields that tell them apart;
    runs that share every field are told apart by their id's tail, and duplicate labels get it too."""
    configs = [r.config for r in records]
    fields = differing_fields(configs)
    shown = telling_fields(configs, fields)
    labels = [difference_label(r.config, shown, r.id, hidden=len(fields) - len(shown)) for r in records]
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
