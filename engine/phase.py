"""Phases of n=2, m=1 models, the phase grid of a run, and the closed-form ReLU bound.

The exact ReLU reference (the true optimum over all of W and b) is engine.relu_reference; the
closed form kept here compares three zero-bias candidates only, so it is an upper bound on each
phase's best loss and its boundary is not the true one (SCIENCE.md)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PHASES = ("feature1", "feature2", "superposition", "neither")


def classify(W: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Phase index (into PHASES) of each n=2, m=1 model: W [..., 1, 2] -> [...] int."""
    w = np.abs(np.asarray(W)[..., 0, :])  # [..., 2]
    has1, has2 = w[..., 0] >= threshold, w[..., 1] >= threshold
    return np.select([has1 & has2, has1, has2], [2, 0, 1], default=3)


@dataclass(frozen=True)
class PhasePoint:
    density: float
    relative_importance: float
    phase: str  # one of PHASES: the phase of the lowest-loss seed
    agreement: float  # fraction of this point's seeds in that phase
    winner: int  # instance index of the lowest-loss seed
    loss: float
    loss_gap: float = float("nan")  # runner-up's loss minus the winner's (NaN with one seed)
    loss_gap_se: float = float("nan")  # paired standard error of that gap, on the evaluation samples

    def to_dict(self) -> dict[str, object]:
        return {
            "density": self.density,
            "relative_importance": self.relative_importance,
            "phase": self.phase,
            "agreement": self.agreement,
            "loss_gap": _finite_or_none(self.loss_gap),
            "loss_gap_se": _finite_or_none(self.loss_gap_se),
        }


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def phase_grid(
    W: np.ndarray,
    final_loss: np.ndarray,
    density: np.ndarray,
    relative_importance: np.ndarray,
    point: np.ndarray,
    threshold: float = 0.5,
    gap_se: np.ndarray | None = None,
) -> list[PhasePoint]:
    """One PhasePoint per grid point: the lowest-loss seed decides, the others vote on agreement.

    W [K, 1, 2], final_loss [K], density / relative_importance / point [K]; gap_se [K] (the
    winner's entry: the paired standard error of runner-up minus winner, see engine.train.evaluate).
    A diverged instance (NaN loss) never wins."""
    from engine.sweep import lowest_loss_instances  # engine.sweep loads torch; classify and PHASES need not

    phases = classify(W, threshold)  # [K]
    out = []
    for p, winner in zip(np.unique(point), lowest_loss_instances(point, final_loss)):
        members = np.flatnonzero(point == p)
        rivals = np.sort(final_loss[members][np.isfinite(final_loss[members])])
        gap = float(rivals[1] - rivals[0]) if len(rivals) > 1 else float("nan")
        out.append(
            PhasePoint(
                density=float(density[winner]),
                relative_importance=float(relative_importance[winner]),
                phase=PHASES[phases[winner]],
                agreement=float(np.mean(phases[members] == phases[winner])),
                winner=int(winner),
                loss=float(final_loss[winner]),
                loss_gap=gap,
                loss_gap_se=float(gap_se[winner]) if gap_se is not None else float("nan"),
            )
        )
    return out


# The closed-form bound: exact expected losses of three zero-bias candidates (SCIENCE.md), density s,
# importance (1, r). Each is an upper bound on the best loss of its phase, not that loss: a
# nonzero bias does better (engine.relu_reference), so the boundary below is not the true one.
def relu_bound_losses(s: np.ndarray | float, r: np.ndarray | float) -> dict[str, np.ndarray]:
    """Loss of W = [1, 0] (b2 = s/2), W = [0, 1] (b1 = s/2) and W = [1, -1] (b = 0)."""
    s, r = np.asarray(s, dtype=float), np.asarray(r, dtype=float)
    return {
        "feature1": r * (s / 3 - s**2 / 4),
        "feature2": s / 3 - s**2 / 4,
        "superposition": (1 + r) * s**2 / 6,
    }


def relu_bound_phase(s: np.ndarray | float, r: np.ndarray | float) -> np.ndarray:
    """The phase (a PHASES name) of the lowest of the three candidates at each (s, r)."""
    losses = relu_bound_losses(s, r)
    names = np.array(["feature1", "feature2", "superposition"])
    stacked = np.stack([losses[k] for k in names])
    return names[np.argmin(stacked, axis=0)]


def relu_bound_superposition_boundary(r: np.ndarray | float) -> np.ndarray:
    """Density below which the zero-bias pair beats both candidates: 4r/(2+5r) for r <= 1,
    4/(5+2r) above. The true boundary lies at higher densities (engine.relu_reference)."""
    r = np.asarray(r, dtype=float)
    return np.where(r <= 1, 4 * r / (2 + 5 * r), 4 / (5 + 2 * r))


RELU_BOUND_TRIPLE_POINT = (4 / 7, 1.0)  # (density, relative importance) where the three candidates tie

# Old names of the closed-form bound, kept while their callers move to engine.relu_reference
# (reference_phase, reference_boundary, reference_triple_point). They are the bound, not the optimum.
relu_reference_losses = relu_bound_losses
relu_reference_phase = relu_bound_phase
relu_superposition_boundary = relu_bound_superposition_boundary
RELU_TRIPLE_POINT = RELU_BOUND_TRIPLE_POINT
