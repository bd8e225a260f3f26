"""Metrics of trained weights (SCIENCE.md), numpy only, so the app, the exports, the report and
the CLI read the same numbers from saved runs.

Each function takes W of shape [..., m, n]. `METRICS` names the metrics reported per grid point,
with the formula each header and report cites, and `point_rows` computes them in the one way
every view uses: a grid point's numbers are those of its lowest-loss seed (on the shared
evaluation batch); the other seeds show at most as a spread (`point_spread`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

REPRESENTED_NORM = 0.5  # a feature counts as represented when ||W_i|| >= this
NEURON_SHARE = 0.3  # a feature "uses" hidden neuron k when |W[k, i]| >= this
# Two represented features share a direction (partners) when |cosine| >= this: an antipodal or a
# parallel pair is 1, a pentagon's neighbours 0.81 (cos 144°), orthogonal features 0.
PARTNER_COSINE = 0.5
# Kinds of partner pairs (engine.instances.InstanceTable.pair_kind holds the index).
PAIR_KINDS = ("independent", "correlated", "anticorrelated")
# Geometric "sticky" values of the feature dimensionality D_i, and what they are.
STICKY_FRACTIONS = {
    1.0: "own dimension",
    3 / 4: "tetrahedron",
    2 / 3: "triangle",
    1 / 2: "antipodal pair",
    2 / 5: "pentagon",
    3 / 8: "square antiprism",
}
_TINY = 1e-12


def gram(W: np.ndarray) -> np.ndarray:
    """WᵀW: [..., m, n] -> [..., n, n]. Diagonal: how strongly each feature is represented;
    off-diagonal: interference between features."""
    return np.einsum("...mi,...mj->...ij", W, W)


def feature_norms(W: np.ndarray) -> np.ndarray:
    """||W_i|| of each feature's column: [..., m, n] -> [..., n]."""
    return np.sqrt(np.einsum("...mi,...mi->...i", W, W))


def represented(W: np.ndarray, threshold: float = REPRESENTED_NORM) -> np.ndarray:
    return feature_norms(W) >= threshold


def represented_norm_sq(W: np.ndarray, threshold: float = REPRESENTED_NORM) -> np.ndarray:
    """Mean ‖W_i‖² over the represented features (‖W_i‖ ≥ threshold): [..., m, n] -> [...]; NaN
    where none is. Beside D* it says whether a small D* means many features per dimension or a
    few features with long weights (D* = m / Σ ‖W_i‖²)."""
    norms_sq = feature_norms(W) ** 2  # [..., n]
    kept = represented(W, threshold)  # [..., n]
    count = kept.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.where(kept, norms_sq, 0.0).sum(-1) / np.maximum(count, 1), np.nan)


def _unit_columns(W: np.ndarray) -> np.ndarray:
    return W / np.maximum(feature_norms(W), _TINY)[..., None, :]


def superposition(W: np.ndarray) -> np.ndarray:
    """Interference of feature i: sum over j != i of (Ŵ_i · W_j)^2: [..., m, n] -> [..., n]."""
    overlaps = np.einsum("...mi,...mj->...ij", _unit_columns(W), W) ** 2  # [..., n, n]
    return overlaps.sum(-1) - np.diagonal(overlaps, axis1=-2, axis2=-1)


def dims_per_feature(W: np.ndarray) -> np.ndarray:
    """D* = m / ||W||_F^2: [..., m, n] -> [...]. Also measures weight scale (see SCIENCE.md)."""
    m = W.shape[-2]
    return m / np.maximum(np.einsum("...mn,...mn->...", W, W), _TINY)


def feature_dimensionality(W: np.ndarray) -> np.ndarray:
    """D_i = ||W_i||^2 / sum_j (Ŵ_i · W_j)^2, j including i; scale invariant, at most 1.

    [..., m, n] -> [..., n]; a feature with no weight has dimensionality 0."""
    norms_sq = feature_norms(W) ** 2  # [..., n]
    overlaps = np.einsum("...mi,...mj->...ij", _unit_columns(W), W) ** 2  # [..., n, n]
    return np.where(norms_sq > _TINY, norms_sq / np.maximum(overlaps.sum(-1), _TINY), 0.0)


def neuron_feature_weights(W: np.ndarray) -> np.ndarray:
    """W[k, i], the weight of feature i in hidden neuron k, drawn as stacked bars per neuron.
    Returned as is ([..., m, n]); named so the intent reads at the call site."""
    return np.asarray(W)


def nearest_sticky(value: float) -> tuple[float, str]:
    """The sticky fraction closest to a feature dimensionality, with its geometric name."""
    frac = min(STICKY_FRACTIONS, key=lambda f: abs(f - value))
    return frac, STICKY_FRACTIONS[frac]


def instance_summary(W: np.ndarray) -> dict[str, object]:
    """Every per-instance metric of one model W [m, n], as plain lists (the JSON contract)."""
    return {
        "feature_norms": feature_norms(W).tolist(),
        "feature_dimensionality": feature_dimensionality(W).tolist(),
        "superposition": superposition(W).tolist(),
        "dims_per_feature": float(dims_per_feature(W)),
    }


def max_interference(W: np.ndarray) -> np.ndarray:
    """Largest interference between two features, max over i != j of |(WᵀW)_ij|: [..., m, n] -> [...]."""
    G = gram(W)
    n = G.shape[-1]
    off = np.abs(np.where(np.eye(n, dtype=bool), 0.0, G))
    return off.reshape(*off.shape[:-2], -1).max(-1)


def features_per_neuron(W: np.ndarray) -> np.ndarray:
    """Most features i with |W[k, i]| >= NEURON_SHARE on one hidden neuron k: [..., m, n] -> [...].
    It reads the neuron bars as drawn; the hidden layer has no activation, so its basis is not
    privileged and a rotation of W changes this count without changing the model."""
    return (np.abs(W) >= NEURON_SHARE).sum(-1).max(-1)


def direction_partners(W: np.ndarray, threshold: float = PARTNER_COSINE) -> np.ndarray:
    """For each feature of one model W [m, n], how many other represented features lie along its
    direction, |Ŵ_i·Ŵ_j| ≥ threshold (j ≠ i) -> [n] int; -1 for a feature not represented.
    Basis-free: a rotation of the hidden space leaves it unchanged (unlike features_per_neuron).
    An antipodal pair gives 1 each, a triangle or pentagon 2, features in their own dimension 0."""
    norms = feature_norms(W)
    live = norms >= REPRESENTED_NORM
    unit = W / np.maximum(norms, _TINY)
    cosines = np.abs(unit.T @ unit)  # [n, n]
    np.fill_diagonal(cosines, 0.0)
    counts = ((cosines >= threshold) & live[None, :]).sum(-1)
    return np.where(live, counts, -1)


def max_partners(W: np.ndarray, threshold: float = PARTNER_COSINE) -> np.ndarray:
    """Most direction partners of any represented feature (direction_partners): [..., m, n] -> [...];
    0 when no feature has any (or none is represented)."""
    W = np.asarray(W)
    flat = W.reshape(-1, *W.shape[-2:])
    out = np.array([max(int(direction_partners(w, threshold).max(initial=-1)), 0) for w in flat])
    return out.reshape(W.shape[:-2])


# --------------------------------------------------------------------------- partner pairs


def feature_pairs(partner: np.ndarray | None, pair_kind: np.ndarray | None) -> list[tuple[int, int, str]]:
    """(i, j, kind) of each partner pair of one instance, i < j: partner [n], pair_kind [n]."""
    if partner is None or pair_kind is None:
        return []
    return [(i, int(partner[i]), PAIR_KINDS[int(pair_kind[i])]) for i in range(len(partner)) if int(partner[i]) > i]


def pair_cosines(W: np.ndarray, pairs: Sequence[tuple[int, int, str]]) -> np.ndarray:
    """Cosine Ŵ_i·Ŵ_j of each pair (i, j) of one model W [m, n]; NaN where either feature is not
    represented (‖W‖ < REPRESENTED_NORM), whose direction means nothing."""
    norms = feature_norms(W)
    out = np.full(len(pairs), np.nan)
    for index, (i, j, _) in enumerate(pairs):
        if norms[i] >= REPRESENTED_NORM and norms[j] >= REPRESENTED_NORM:
            out[index] = float(W[:, i] @ W[:, j]) / (norms[i] * norms[j])
    return out


def layout_name(pair_kind: np.ndarray | None) -> str:
    """The pair layout of one instance: the one kind all its pairs share, else "mixed"."""
    if pair_kind is None:
        return PAIR_KINDS[0]
    kinds = {PAIR_KINDS[int(k)] for k in pair_kind if int(k) != 0}
    return kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else PAIR_KINDS[0])


# --------------------------------------------------------------------------- named metrics


def _nanmean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


@dataclass(frozen=True)
class Metric:
    """A number reported per model: its name in the JSON and the report, its column header, and
    the formula it computes. `of_model(W [m, n], pairs)` computes it; loss has none (it is read
    from the evaluation)."""

    key: str
    label: str
    formula: str
    of_model: Callable[[np.ndarray, list], float] | None
    integer: bool = False


METRICS: dict[str, Metric] = {
    m.key: m
    for m in (
        Metric("loss", "loss", "importance-weighted squared error per sample (summed over features; averaged with "
                               "loss_reduction=mean), on the shared evaluation batch", None),
        Metric("dims_per_feature", "D*", "m / ‖W‖²_F", lambda W, pairs: float(dims_per_feature(W))),
        Metric("represented", "represented", f"features with ‖W_i‖ ≥ {REPRESENTED_NORM}",
               lambda W, pairs: int(represented(W).sum()), integer=True),
        Metric("represented_norm_sq", "‖W_i‖² repr.", f"mean of ‖W_i‖² over the features with ‖W_i‖ ≥ {REPRESENTED_NORM}",
               lambda W, pairs: float(represented_norm_sq(W))),
        Metric("mean_superposition", "superposition", "mean over features i of Σ_{j≠i} (Ŵ_i·W_j)²",
               lambda W, pairs: float(superposition(W).mean())),
        Metric("max_interference", "max |WᵀW|", "largest off-diagonal |(WᵀW)_ij|, i ≠ j",
               lambda W, pairs: float(max_interference(W))),
        Metric("features_per_neuron", "features/neuron",
               f"most features i with |W[k, i]| ≥ {NEURON_SHARE} on one neuron k",
               lambda W, pairs: int(features_per_neuron(W)), integer=True),
        Metric("max_partners", "partners", f"most represented features j ≠ i with |Ŵ_i·Ŵ_j| ≥ {PARTNER_COSINE} "
                                           "for one represented feature i (basis-free)",
               lambda W, pairs: int(max_partners(W)), integer=True),
        Metric("partner_cosine", "partner cos",
               f"mean over partner pairs (i, j) of Ŵ_i·Ŵ_j, pairs with both ‖W‖ ≥ {REPRESENTED_NORM}",
               lambda W, pairs: _nanmean(pair_cosines(W, pairs))),
    )
}


def format_metric(key: str, value: float, n: int | None = None) -> str:
    """A metric's value as the app and the report print it."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if key == "represented" and n is not None:
        return f"{int(value)}/{n}"
    if METRICS[key].integer:
        return str(int(value))
    return f"{value:.4g}" if key == "loss" else f"{value:.3f}"


def _instance_pairs(instances, k: int) -> list[tuple[int, int, str]]:
    partner = getattr(instances, "partner", None)
    kind = getattr(instances, "pair_kind", None)
    return feature_pairs(None if partner is None else partner[k], None if kind is None else kind[k])


def instance_metric(key: str, instances, W: np.ndarray, losses: np.ndarray | None, k: int) -> float:
    """Metric `key` of instance k: W [K, m, n], losses [K] or None."""
    metric = METRICS[key]
    if metric.of_model is None:
        return float(losses[k]) if losses is not None else float("nan")
    return metric.of_model(W[k], _instance_pairs(instances, k))


def point_rows(instances, W: np.ndarray, losses: np.ndarray | None, keys: Sequence[str]) -> list[dict]:
    """One row per grid point, in point order: the point's coordinates, its lowest-loss seed
    (`winner`, the instance index) and that seed's value of each metric in `keys`.

    instances: an InstanceTable; W [K, m, n]; losses [K] (None: the first seed decides)."""
    from engine.instances import lowest_loss_instances

    rows = []
    for p, k in zip(np.unique(instances.point), lowest_loss_instances(instances.point, losses)):
        row = {"point": int(p), "winner": int(k), "seeds": int((instances.point == p).sum()),
               "density": float(instances.density[k])}
        if instances.relative_importance is not None:
            row["relative_importance"] = float(instances.relative_importance[k])
        if getattr(instances, "pair_kind", None) is not None:
            row["pairs"] = layout_name(instances.pair_kind[k])
        for key in keys:
            row[key] = instance_metric(key, instances, W, losses, int(k))
        rows.append(row)
    return rows


def point_spread(instances, W: np.ndarray, losses: np.ndarray | None, key: str,
                 diverged: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) of a metric over each point's seeds, diverged ones left out: [P], [P].
    The band drawn around the winners' curve; never a second meaning of the metric."""
    points = np.unique(instances.point)
    low, high = np.full(len(points), np.nan), np.full(len(points), np.nan)
    for index, p in enumerate(points):
        members = np.flatnonzero(instances.point == p)
        if diverged is not None and (~diverged[members]).any():
            members = members[~diverged[members]]
        values = np.array([instance_metric(key, instances, W, losses, int(k)) for k in members], dtype=float)
        values = values[np.isfinite(values)]
        if values.size:
            low[index], high[index] = values.min(), values.max()
    return low, high


def run_points(record, keys: Sequence[str]) -> list[dict]:
    """`point_rows` of a saved run's final weights, judged by its final losses."""
    a = record.arrays
    return point_rows(a.instances, a.W, a.final_loss, keys)
