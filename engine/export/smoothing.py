"""TensorBoard's smoothing of a scalar curve, one definition for the app's live loss plot and the
loss PNG: an exponential moving average, debiased so that the first points are not pulled toward
zero (TensorBoard's `smoothing` slider; W&B's "exponential moving average" does the same)."""

from __future__ import annotations

import numpy as np

SMOOTHING_STEPS = (0.0, 0.6, 0.9, 0.99)  # the app's `m` cycles through these; 0.6 is TensorBoard's default
PNG_SMOOTHING = 0.9  # the loss PNG: its curves are hundreds of noisy points


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """Debiased EMA along axis 0, [T, ...] -> [T, ...]: s_t = w s_(t-1) + (1-w) v_t, divided by
    1 - w^n (n: finite values seen so far). A NaN or inf stays where it is and is skipped, as in
    TensorBoard. weight 0 returns the values unchanged."""
    values = np.asarray(values, dtype=float)
    if weight <= 0 or not len(values):
        return values
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing weight must lie in [0, 1), got {weight!r}")
    out = np.empty_like(values)
    last = np.zeros(values.shape[1:])
    seen = np.zeros(values.shape[1:])
    for t, row in enumerate(values):
        finite = np.isfinite(row)
        last = np.where(finite, weight * last + (1 - weight) * np.where(finite, row, 0.0), last)
        seen = seen + finite
        with np.errstate(invalid="ignore", divide="ignore"):
            out[t] = np.where(finite, last / (1 - weight ** np.maximum(seen, 1)), row)
    return out
