"""Has D* stopped moving? D* against training step, from a run's W snapshots (numpy only).

D* = m/‖W‖²_F falls as weights grow, and some activations (sigmoid, SoLU) keep growing them long
after the loss has flattened: a D* read off a short run can be far from where training goes
(issue 14, section 5). So every D* the tool shows comes with its history and a flag.

Definition (SCIENCE.md, 5.1): T is the last step of the run and t0 the latest snapshot step at or
before T/√10 (snapshots are log-spaced, so one lies close). A grid point's D* is **still moving**
when |D*(T) − D*(t0)| > MOVING_THRESHOLD · D*(T): it changed by more than 5 % over the last
half-decade of training (training 3.2 times longer moved it that much). Each point's D* is that of
its lowest-loss seed (by the final loss) at every step, as everywhere else. A run of fewer than
MIN_STEPS steps is not judged: nothing is flagged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.science.metrics import dims_per_feature
from engine.instances import InstanceTable, lowest_loss_instances

MOVING_THRESHOLD = 0.05  # relative change of D* over the window that counts as moving
WINDOW = 10**0.5  # the window: the last half-decade of steps, from T/√10 to T
MIN_STEPS = 10


@dataclass(frozen=True)
class DStarHistory:
    steps: np.ndarray  # [S] steps of the snapshots, ending with the run's last step T
    density: np.ndarray  # [P] each grid point's density, in point order
    dstar: np.ndarray  # [S, P] D* of each point's lowest-loss seed at each step
    reference_step: int | None  # t0: the latest snapshot step at or before T/√10 (None: too short to judge)
    change: np.ndarray  # [P] |D*(T) - D*(t0)| / D*(T); NaN when not judged

    @property
    def last_step(self) -> int:
        return int(self.steps[-1]) if len(self.steps) else 0

    @property
    def moving(self) -> np.ndarray:
        """[P] bool: D* changed by more than MOVING_THRESHOLD over the last half-decade."""
        with np.errstate(invalid="ignore"):
            return np.nan_to_num(self.change, nan=0.0) > MOVING_THRESHOLD

    @property
    def dstar_at_reference(self) -> np.ndarray | None:
        """[P] D* at t0, or None when not judged."""
        if self.reference_step is None:
            return None
        return self.dstar[list(self.steps).index(self.reference_step)]

    def summary(self) -> str:
        """One line for people, e.g. "D* still moving at 14/20 densities (> 5% since step 1,000)"."""
        if self.reference_step is None:
            return f"D* at step {self.last_step:,}: too few steps to judge convergence"
        moving = int(self.moving.sum())
        since = f"(> {MOVING_THRESHOLD:.0%} since step {self.reference_step:,})"
        if moving:
            return f"D* still moving at {moving}/{len(self.change)} densities {since}"
        return f"D* settled at every density (≤ {MOVING_THRESHOLD:.0%} change since step {self.reference_step:,})"

    def to_json(self) -> dict:
        """The `dstar_history` field of `show --json`."""
        def clean(values) -> list:
            return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]

        return {
            "steps": [int(s) for s in self.steps],
            "reference_step": self.reference_step,
            "threshold": MOVING_THRESHOLD,
            "still_moving": bool(self.moving.any()),
            "points": [{"density": float(d), "dstar": clean(self.dstar[:, p]), "change": clean([self.change[p]])[0],
                        "moving": bool(self.moving[p])} for p, d in enumerate(self.density)],
        }


def dstar_history(instances: InstanceTable, snapshot_steps: np.ndarray, snapshots: np.ndarray, W: np.ndarray,
                  losses: np.ndarray | None, last_step: int) -> DStarHistory:
    """D* of each point's lowest-loss seed at every snapshot step and at the end (W at
    `last_step`, added when the snapshots stop before it).

    snapshot_steps [S], snapshots [S, K, m, n], W [K, m, n], losses [K] (None: the first seed)."""
    points = np.unique(instances.point)
    winners = lowest_loss_instances(instances.point, losses)  # [P]
    steps = [int(s) for s in snapshot_steps]
    frames = [snapshots[i][winners] for i in range(len(steps))]  # S x [P, m, n]
    if not steps or steps[-1] < last_step:
        steps.append(int(last_step))
        frames.append(W[winners])
    dstar = dims_per_feature(np.stack(frames)) if frames else np.zeros((0, len(points)))  # [S, P]
    density = instances.density[winners].astype(float)
    T = steps[-1]
    earlier = [s for s in steps if s <= T / WINDOW]
    if T < MIN_STEPS or not earlier:
        return DStarHistory(np.asarray(steps), density, dstar, None, np.full(len(points), np.nan))
    t0 = max(earlier)
    with np.errstate(invalid="ignore", divide="ignore"):
        change = np.abs(dstar[-1] - dstar[steps.index(t0)]) / np.abs(dstar[-1])
    return DStarHistory(np.asarray(steps), density, dstar, t0, change)


def run_dstar_history(record) -> DStarHistory:
    """The D* history of a saved run (its snapshots and final weights)."""
    a = record.arrays
    last = int(record.manifest.get("steps_done") or (a.loss_steps[-1] if len(a.loss_steps) else 0))
    return dstar_history(a.instances, a.snapshot_steps, a.snapshots, a.W, a.final_loss, last)


def dstar_near(history: DStarHistory, step: int) -> tuple[int, np.ndarray] | None:
    """(the snapshot step nearest `step` in log(step), D* [P] there), or None past the run's end."""
    if step > history.last_step or not len(history.steps):
        return None
    positive = np.maximum(history.steps, 1)
    i = int(np.argmin(np.abs(np.log(positive) - np.log(step))))
    return int(history.steps[i]), history.dstar[i]


@dataclass(frozen=True)
class FlagCalibration:
    """How well the still-moving flag, raised at a run's end T, foretells D* moving on when the run
    is continued (`train --resume`) to T'. A point "moved on" when |D*(T') − D*(T)| > threshold ·
    D*(T'), the same test the flag applies to the half-decade before T."""

    activation: str
    flagged: np.ndarray  # [P] bool: the flag at T
    change_before: np.ndarray  # [P] the flag's own number: relative change over the half-decade before T
    change_after: np.ndarray  # [P] relative change from T to T'
    end: int  # T
    continued_to: int  # T'

    @property
    def moved_on(self) -> np.ndarray:
        return np.nan_to_num(self.change_after, nan=0.0) > MOVING_THRESHOLD

    def counts(self) -> dict[str, int]:
        """Flagged points that moved on (hits) or not (false alarms); unflagged ones that did (misses)
        or not."""
        f, m = self.flagged, self.moved_on
        return {"hits": int((f & m).sum()), "false_alarms": int((f & ~m).sum()),
                "misses": int((~f & m).sum()), "quiet": int((~f & ~m).sum())}


def calibrate_flag(activation: str, at_end: DStarHistory, continued: DStarHistory) -> FlagCalibration:
    """The flag of a run (`at_end`, its history up to T) against the run continued from T
    (`continued`, whose history holds the parent's snapshots and runs on to T'). Both histories
    must be of the same grid points in the same order."""
    if at_end.density.shape != continued.density.shape or not np.allclose(at_end.density, continued.density):
        raise ValueError("the continued run is not of the same grid points")
    before = at_end.dstar[-1]  # [P] D* at T
    after = continued.dstar[-1]  # [P] D* at T'
    with np.errstate(invalid="ignore", divide="ignore"):
        change_after = np.abs(after - before) / np.abs(after)
    return FlagCalibration(activation, at_end.moving, at_end.change, change_after, at_end.last_step, continued.last_step)
