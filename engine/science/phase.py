"""Phases of n=2, m=1 models, the phase grid of a run, and the closed-form ReLU bound.

The exact ReLU reference (the true optimum over all of W and b) is engine.science.relu_reference, and
every diagram and check is held against it. The closed form kept here compares three zero-bias
candidates only, so it is an upper bound on each phase's best loss and its boundary is not the
true one (SCIENCE.md 7.1); it is named a bound wherever it appears."""

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
    winner's entry: the paired standard error of runner-up minus winner, see engine.training.evaluate).
    A diverged instance (NaN loss) never wins."""
    from engine.instances import lowest_loss_instances  # engine.instances loads torch; classify and PHASES need not

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
# nonzero bias does better (engine.science.relu_reference), so the boundary below is not the true one.
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
    4/(5+2r) above. The true boundary lies at higher densities (engine.science.relu_reference)."""
    r = np.asarray(r, dtype=float)
    return np.where(r <= 1, 4 * r / (2 + 5 * r), 4 / (5 + 2 * r))


RELU_BOUND_TRIPLE_POINT = (4 / 7, 1.0)  # (density, relative importance) where the three candidates tie


# --------------------------------------------------------------------------- seed populations
# The lowest-loss seed decides a point's phase (phase_grid), as Toy Models do; a blog that trains
# one model per point shows whatever its one seed found. These say what every seed did.


@dataclass(frozen=True)
class SeedPopulation:
    """What all the seeds of one grid point did, each on its own."""

    density: float
    relative_importance: float
    shares: np.ndarray  # [4] fraction of the point's seeds in each of PHASES (diverged seeds left out)
    winner: str  # the lowest-loss seed's phase (as in phase_grid)
    winner_median: float  # median final loss of the seeds in the winner's phase
    others_median: float  # median final loss of the seeds in any other phase; NaN when there are none
    count: int  # seeds counted (the point's seeds whose loss is finite)

    @property
    def loss_gap(self) -> float:
        """How much worse the seeds outside the winning phase do: others' median / winners' - 1
        (1.53 reads "153% higher"); NaN when every seed is in the winner's phase."""
        if not np.isfinite(self.others_median) or not self.winner_median > 0:
            return float("nan")
        return float(self.others_median / self.winner_median - 1)

    def share(self, phase: str) -> float:
        return float(self.shares[PHASES.index(phase)])


def seed_populations(
    W: np.ndarray,
    final_loss: np.ndarray,
    density: np.ndarray,
    relative_importance: np.ndarray,
    point: np.ndarray,
    threshold: float = 0.5,
) -> list[SeedPopulation]:
    """One SeedPopulation per grid point, in point order. W [K, 1, 2], the rest [K]. Seeds whose
    loss is not finite (diverged) count in no share and no median."""
    from engine.instances import lowest_loss_instances

    phases = classify(W, threshold)  # [K]
    out = []
    for p, winner in zip(np.unique(point), lowest_loss_instances(point, final_loss)):
        members = np.flatnonzero((point == p) & np.isfinite(final_loss))
        if members.size == 0:  # every seed diverged: the (diverged) winner stands for the point
            members = np.array([winner])
        counts = np.bincount(phases[members], minlength=len(PHASES))  # [4]
        same = phases[members] == phases[winner]
        loss = final_loss[members]
        out.append(SeedPopulation(
            density=float(density[winner]),
            relative_importance=float(relative_importance[winner]),
            shares=counts / members.size,
            winner=PHASES[phases[winner]],
            winner_median=float(np.median(loss[same])) if same.any() else float("nan"),
            others_median=float(np.median(loss[~same])) if (~same).any() else float("nan"),
            count=int(members.size),
        ))
    return out


@dataclass(frozen=True)
class InitSign:
    """Whether the sign of w1·w2 at initialisation predicts that a model ends superposed.

    Counted over models (seed x grid point). A seed's initial W depends on the seed alone, so every
    grid point of a seed starts from the same W: `negative_seeds` and `positive_seeds` count the
    distinct starts behind the model counts."""

    negative: int  # models that started with w1·w2 < 0
    negative_superposed: int  # ... and ended in superposition
    positive: int  # models that started with w1·w2 >= 0
    positive_superposed: int
    negative_seeds: int
    positive_seeds: int

    @property
    def superposed_if_negative(self) -> float:
        return self.negative_superposed / self.negative if self.negative else float("nan")

    @property
    def superposed_if_positive(self) -> float:
        return self.positive_superposed / self.positive if self.positive else float("nan")

    @property
    def predicted(self) -> float:
        """Share of models the rule "superposes iff w1·w2 < 0 at init" gets right."""
        total = self.negative + self.positive
        right = self.negative_superposed + (self.positive - self.positive_superposed)
        return right / total if total else float("nan")


def init_sign_outcomes(W_init: np.ndarray, W: np.ndarray, seed: np.ndarray, threshold: float = 0.5,
                       where: np.ndarray | None = None) -> InitSign:
    """W_init, W [K, 1, 2] (the weights at step 0 and at the end), seed [K]; `where` [K] bool
    picks the models counted (e.g. the sparse points)."""
    keep = np.ones(len(W), dtype=bool) if where is None else np.asarray(where, dtype=bool)
    w0 = np.asarray(W_init)[keep, 0, :]  # [k, 2]
    negative = w0[:, 0] * w0[:, 1] < 0
    superposed = classify(np.asarray(W)[keep], threshold) == PHASES.index("superposition")
    seeds = np.asarray(seed)[keep]
    return InitSign(
        negative=int(negative.sum()), negative_superposed=int((negative & superposed).sum()),
        positive=int((~negative).sum()), positive_superposed=int((~negative & superposed).sum()),
        negative_seeds=len(np.unique(seeds[negative])), positive_seeds=len(np.unique(seeds[~negative])),
    )


def seed_init_products(W_init: np.ndarray, seed: np.ndarray) -> dict[int, float]:
    """w1·w2 at initialisation of each seed: W_init [K, 1, 2], seed [K] -> {seed: w1·w2}, in seed
    order. Every grid point of a seed starts from the same W, so its first instance speaks for all."""
    first = {int(s): int(np.flatnonzero(seed == s)[0]) for s in np.unique(seed)}
    return {s: float(W_init[k, 0, 0] * W_init[k, 0, 1]) for s, k in first.items()}
