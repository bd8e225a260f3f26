"""Metrics of trained weights (SCIENCE.md). Each takes W of shape [..., m, n], numpy or torch-free,
so the app, the exports and the CLI read the same numbers from saved runs."""

from __future__ import annotations

import numpy as np

REPRESENTED_NORM = 0.5  # a feature counts as represented when ||W_i|| >= this
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
