"""Phase boundaries with error bars, from phase points on a nested lattice (SCIENCE.md 6.2).

A refinement (engine.sweeps.refine) trains a coarse grid, then adds points only in the cells
whose corners disagree, halving the cell each level. Every point it trains lies on one fine
lattice in (log10 density, log10 r): index i along density, j along r, 0..`size`. Between two
neighbouring points of that lattice (an edge of the finest cell around them) whose phases differ,
the boundary crosses: its position is the edge's midpoint and its uncertainty the edge itself (the
size of the finest cell that holds it). The boundary between two phases is every such crossing,
ordered along the boundary; where the seeds of its two ends disagree, the share of seeds on each
side goes with it. For ReLU each crossing is held against the exact n=2 boundary
(engine.science.relu_reference): the distance in decades of density at the crossing's r, and
whether the exact boundary passes through the crossing's interval.

Numpy only: the CLI's `show --json` and the figures ask this without torch."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from engine.science.phase import PHASES

DENSITY_RANGE = (0.01, 1.0)  # the phase experiment's axes (engine.experiments.phase.phase_axes)
IMPORTANCE_RANGE = (0.1, 10.0)
# A corner whose runner-up seed sits in another phase and loses by fewer than this many paired
# standard errors has an undecided phase: its cells are refined as if their corners disagreed.
CONTESTED_SE = 3.0
MIN_SHIFT_ROWS = 5  # values of r two superposition boundaries must share to be compared in density


@dataclass(frozen=True)
class Lattice:
    """The finest lattice of a refinement of `levels` halvings of a `coarse` x `coarse` grid:
    index 0..size on each axis, log-spaced over the phase experiment's ranges."""

    coarse: int
    levels: int

    @property
    def size(self) -> int:
        return (self.coarse - 1) * 2 ** self.levels

    @property
    def coarse_step(self) -> int:
        return 2 ** self.levels

    def decades(self, axis: int) -> float:
        """The width in decades of one finest step along axis 0 (density) or 1 (r)."""
        low, high = (DENSITY_RANGE, IMPORTANCE_RANGE)[axis]
        return math.log10(high / low) / self.size

    def coordinates(self, i, j) -> tuple[np.ndarray, np.ndarray]:
        """(density, relative importance) of lattice nodes (i, j): arrays of the shape of i."""
        i, j = np.asarray(i, dtype=float), np.asarray(j, dtype=float)
        s = 10 ** (math.log10(DENSITY_RANGE[0]) + i * self.decades(0))
        r = 10 ** (math.log10(IMPORTANCE_RANGE[0]) + j * self.decades(1))
        return s, r

    def index(self, density: float, relative_importance: float) -> tuple[int, int] | None:
        """The node at (density, r), or None where the point lies off the lattice (by more than
        a hundredth of a step: the runs keep float32 coordinates)."""
        out = []
        for axis, value, (low, _) in ((0, density, DENSITY_RANGE), (1, relative_importance, IMPORTANCE_RANGE)):
            if not (value > 0 and math.isfinite(value)):
                return None
            x = math.log10(value / low) / self.decades(axis)
            k = round(x)
            if abs(x - k) > 0.01 or not 0 <= k <= self.size:
                return None
            out.append(int(k))
        return out[0], out[1]

    def coarse_nodes(self) -> list[tuple[int, int]]:
        step = self.coarse_step
        return [(i * step, j * step) for i in range(self.coarse) for j in range(self.coarse)]


@dataclass(frozen=True)
class Outcome:
    """What a refinement knows of one lattice node: the lowest-loss seed's phase, every seed's
    share per phase ([4], PHASES order) and whether that phase is contested (the runner-up seed
    sits in another phase within CONTESTED_SE paired standard errors)."""

    phase: str
    shares: tuple[float, ...] = ()
    contested: bool = False


def outcomes_of_run(record, lattice: Lattice) -> dict[tuple[int, int], Outcome]:
    """The lattice nodes a finished phase run trained (points off the lattice are left out)."""
    from engine.science.phase import classify, seed_populations

    a = record.arrays
    threshold = record.config.phase_threshold
    populations = seed_populations(a.W, a.final_loss, a.instances.density, a.instances.relative_importance,
                                   a.instances.point, threshold)
    phases = classify(a.W, threshold)  # [K]
    gap_se = a.final_loss_gap_se
    out = {}
    for p, population in zip(np.unique(a.instances.point), populations):
        node = lattice.index(population.density, population.relative_importance)
        if node is None:
            continue
        out[node] = Outcome(population.winner, tuple(float(x) for x in population.shares),
                            _contested(a.final_loss, phases, gap_se, np.flatnonzero(a.instances.point == p)))
    return out


def _contested(loss: np.ndarray, phases: np.ndarray, gap_se, members: np.ndarray) -> bool:
    """Whether the best seed outside the winner's phase loses by fewer than CONTESTED_SE paired
    standard errors (gap_se[k]: of loss_k minus its point's winner, on the shared evaluation batch)."""
    finite = members[np.isfinite(loss[members])]
    if len(finite) < 2 or gap_se is None:
        return False
    winner = finite[np.argmin(loss[finite])]
    others = finite[phases[finite] != phases[winner]]
    if not len(others):
        return False
    rival = others[np.argmin(loss[others])]
    se = float(gap_se[rival])
    return bool(np.isfinite(se) and se > 0 and loss[rival] - loss[winner] < CONTESTED_SE * se)


def cell_disagrees(corners: list[Outcome]) -> bool:
    """Different winning phases at the corners, or one corner's phase undecided."""
    return len({c.phase for c in corners}) > 1 or any(c.contested for c in corners)


@dataclass(frozen=True)
class Crossing:
    """One point of a boundary: the edge between two lattice neighbours in different phases."""

    phases: tuple[str, str]  # sorted by PHASES order
    density: float  # the edge's midpoint (geometric: the midpoint in log)
    relative_importance: float
    density_interval: tuple[float, float]  # the edge's extent (one of the two is a single value)
    importance_interval: tuple[float, float]
    seed_shares: dict[str, float] = field(default_factory=dict)  # per phase: share of its end's seeds in it
    reference_decades: float | None = None  # |log10 density - log10 exact boundary density| at this r (ReLU)
    reference_within: bool | None = None  # the exact boundary crosses this edge (ReLU)

    @property
    def along_density(self) -> bool:
        return self.density_interval[0] != self.density_interval[1]

    @property
    def half_width_decades(self) -> float:
        low, high = self.density_interval if self.along_density else self.importance_interval
        return math.log10(high / low) / 2

    def to_dict(self) -> dict:
        return {"phases": list(self.phases), "density": self.density, "relative_importance": self.relative_importance,
                "density_interval": list(self.density_interval),
                "relative_importance_interval": list(self.importance_interval),
                "seed_shares": self.seed_shares, "reference_decades": self.reference_decades,
                "reference_within": self.reference_within}


@dataclass(frozen=True)
class PhaseBoundary:
    phases: tuple[str, str]
    crossings: list[Crossing]

    def to_dict(self) -> dict:
        decades = [c.reference_decades for c in self.crossings if c.reference_decades is not None]
        return {"phases": list(self.phases), "points": [c.to_dict() for c in self.crossings],
                "reference_mean_decades": float(np.mean(decades)) if decades else None,
                "reference_max_decades": float(np.max(decades)) if decades else None}


def leaf_edges(nodes) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Pairs of neighbouring known nodes along a lattice line that bound an aligned cell: the two
    ends are consecutive on their row (or column), d = their distance is a power of two and both
    lie on the lattice of step d (so the segment is an edge of a cell of side d, not a gap)."""
    out = []
    for axis in (0, 1):
        lines: dict[int, list[int]] = {}
        for node in nodes:
            lines.setdefault(node[1 - axis], []).append(node[axis])
        for fixed, along in lines.items():
            along.sort()
            for a, b in zip(along, along[1:]):
                d = b - a
                if d & (d - 1) == 0 and a % d == 0 and fixed % d == 0:
                    out.append(((a, fixed), (b, fixed)) if axis == 0 else ((fixed, a), (fixed, b)))
    return out


def phase_boundaries(outcomes: dict[tuple[int, int], Outcome], lattice: Lattice,
                     reference: bool = False) -> list[PhaseBoundary]:
    """Every boundary between two phases, as crossings ordered by r then density; `reference`
    holds each crossing against the exact n=2 ReLU boundary (for ReLU runs)."""
    by_pair: dict[tuple[str, str], list[Crossing]] = {}
    for a, b in leaf_edges(outcomes):
        pa, pb = outcomes[a].phase, outcomes[b].phase
        if pa == pb:
            continue
        pair = tuple(sorted((pa, pb), key=PHASES.index))
        (s0, s1), (r0, r1) = lattice.coordinates([a[0], b[0]], [a[1], b[1]])
        s, r = lattice.coordinates((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
        by_pair.setdefault(pair, []).append(Crossing(
            pair, float(s), float(r), (float(s0), float(s1)), (float(r0), float(r1)),
            _side_shares(outcomes[a], outcomes[b])))
    boundaries = []
    for pair in sorted(by_pair, key=lambda p: (PHASES.index(p[0]), PHASES.index(p[1]))):
        crossings = sorted(by_pair[pair], key=lambda c: (c.relative_importance, c.density))
        if reference:
            crossings = held_against_reference(crossings)
        boundaries.append(PhaseBoundary(pair, crossings))
    return boundaries


def _side_shares(a: Outcome, b: Outcome) -> dict[str, float]:
    """Per phase of the pair, the share of the seeds at its own end that sit in it (1 where
    every seed there agrees with the lowest-loss one); empty without seed shares."""
    if not a.shares or not b.shares:
        return {}
    return {a.phase: float(a.shares[PHASES.index(a.phase)]), b.phase: float(b.shares[PHASES.index(b.phase)])}


# --------------------------------------------------------------------------- the exact ReLU boundary


def reference_density(phases: tuple[str, str], relative_importance: np.ndarray) -> np.ndarray:
    """The exact n=2 ReLU boundary's density at each r for a superposition–feature boundary
    (NaN where that polyline has no point at this r, or for any other pair of phases)."""
    from engine.science.relu_reference import reference_boundary

    r = np.asarray(relative_importance, dtype=float)
    for line in reference_boundary():
        if tuple(sorted(line.phases, key=PHASES.index)) != tuple(phases) or "superposition" not in phases:
            continue
        lr, ls = np.log10(np.asarray(line.relative_importance)), np.log10(np.asarray(line.density))
        order = np.argsort(lr)
        lr, ls = lr[order], ls[order]
        x = np.log10(r)
        inside = (x >= lr[0] - 1e-6) & (x <= lr[-1] + 1e-6)  # the table keeps float32 ends
        return np.where(inside, 10 ** np.interp(x, lr, ls), np.nan)
    return np.full(r.shape, np.nan)


def held_against_reference(crossings: list[Crossing]) -> list[Crossing]:
    """Each crossing with its distance to the exact ReLU boundary in decades of density (at its r)
    and whether that boundary crosses its edge (the reference's phases at the two ends differ)."""
    from dataclasses import replace

    from engine.science.relu_reference import reference_phase

    if not crossings:
        return crossings
    r = np.array([c.relative_importance for c in crossings])
    exact = reference_density(crossings[0].phases, r)
    s0 = np.array([c.density_interval[0] for c in crossings])
    s1 = np.array([c.density_interval[1] for c in crossings])
    r0 = np.array([c.importance_interval[0] for c in crossings])
    r1 = np.array([c.importance_interval[1] for c in crossings])
    ends_differ = np.asarray(reference_phase(s0, r0)) != np.asarray(reference_phase(s1, r1))
    out = []
    for c, e, within in zip(crossings, exact, ends_differ):
        decades = float(abs(math.log10(c.density / e))) if np.isfinite(e) else None
        out.append(replace(c, reference_decades=decades, reference_within=bool(within)))
    return out


def reference_error(boundaries: list[PhaseBoundary]) -> dict[str, float]:
    """The boundaries' distance to the exact ReLU boundary over every crossing it applies to:
    mean and largest, in decades of density; the share of crossings whose interval holds it."""
    crossings = [c for b in boundaries for c in b.crossings if c.reference_decades is not None]
    if not crossings:
        return {"crossings": 0, "mean_decades": None, "median_decades": None, "max_decades": None, "within": None}
    decades = np.array([c.reference_decades for c in crossings])
    return {"crossings": len(crossings), "mean_decades": float(decades.mean()),
            "median_decades": float(np.median(decades)), "max_decades": float(decades.max()),
            "within": float(np.mean([bool(c.reference_within) for c in crossings]))}


# --------------------------------------------------------------------------- one activation against another


def superposition_curve(boundaries: list[PhaseBoundary]) -> tuple[np.ndarray, np.ndarray]:
    """The superposition boundary as density against r: (log10 r [k], log10 density [k]) from
    the crossings found along density, averaged where one r has several, sorted by r."""
    rows: dict[float, list[float]] = {}
    for boundary in boundaries:
        if "superposition" not in boundary.phases:
            continue
        for c in boundary.crossings:
            if c.along_density:
                rows.setdefault(round(math.log10(c.relative_importance), 9), []).append(math.log10(c.density))
    keys = sorted(rows)
    return np.array(keys), np.array([np.mean(rows[k]) for k in keys])


def boundary_shift(ours: list[PhaseBoundary], relu: list[PhaseBoundary]) -> tuple[float, int]:
    """How far our superposition boundary lies from ReLU's: the mean over the values of r where
    both have one of log10(our density / ReLU's density) (positive: at higher density, i.e.
    superposing over a wider range), and how many values of r were compared (0: none)."""
    x, y = superposition_curve(ours)
    xr, yr = superposition_curve(relu)
    if not len(x) or not len(xr):
        return float("nan"), 0
    common = x[(x >= xr.min()) & (x <= xr.max())]
    if not len(common):
        return float("nan"), 0
    shift = y[np.isin(x, common)] - np.interp(common, xr, yr)
    return float(np.mean(shift)), len(common)


def shift_sentence(activation: str, ours: list[PhaseBoundary], relu: list[PhaseBoundary], phases: set[str]) -> str:
    """One sentence: where `activation`'s refined boundary lies relative to ReLU's."""
    if activation == "relu":
        error = reference_error(relu)
        if not error["crossings"]:
            return "ReLU: no superposition boundary was found."
        return (f"ReLU: the refined boundary lies {error['mean_decades']:.3f} decades of density from the exact n=2 "
                f"optimum's on average (median {error['median_decades']:.3f}, {error['crossings']} crossings, "
                f"{error['within']:.0%} within their interval).")
    shift, rows = boundary_shift(ours, relu)
    superposed = [c for b in ours if "superposition" in b.phases for c in b.crossings]
    if rows < MIN_SHIFT_ROWS and superposed:  # a band about r = 1 (the degenerate line), no density boundary
        band = max(abs(math.log10(c.relative_importance)) for c in superposed)
        return (f"{activation}: superposes only where r is within a factor {10 ** band:.2f} of 1, at every density "
                "there; it has no boundary in density to set beside ReLU's.")
    if rows == 0:
        only = ", ".join(sorted(phases)) or "no phase"
        return f"{activation}: no superposition boundary to set beside ReLU's (phases found: {only})."
    side = "higher" if shift > 0 else "lower"
    return (f"{activation}: its superposition boundary lies at {10 ** abs(shift):.2f}x {side} density than ReLU's "
            f"({shift:+.3f} decades, mean over {rows} values of r where both have one).")


def reference_point_agreement(outcomes: dict[tuple[int, int], Outcome], lattice: Lattice) -> dict:
    """Every trained point of a ReLU refinement held against the exact optimum's phase: overall,
    and in the band where the closed-form bound (SCIENCE.md 7.1) and the exact optimum disagree,
    which only near-boundary points reach (a refinement puts its points there)."""
    from engine.science.phase import relu_bound_phase
    from engine.science.relu_reference import reference_phase

    if not outcomes:
        return {"points": 0, "match": None, "bound_band_points": 0, "bound_band_match": None}
    nodes = list(outcomes)
    s, r = lattice.coordinates([n[0] for n in nodes], [n[1] for n in nodes])
    exact = np.asarray(reference_phase(s, r))
    ours = np.array([outcomes[n].phase for n in nodes])
    agree = ours == exact
    band = np.asarray(relu_bound_phase(s, r)) != exact
    return {"points": len(nodes), "match": float(agree.mean()), "bound_band_points": int(band.sum()),
            "bound_band_match": float(agree[band].mean()) if band.any() else None}
