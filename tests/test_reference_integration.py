"""Issue 14, section 2: the exact n=2 ReLU reference, not the closed-form bound, is what the PNG
draws and what the report's agreement is measured against, on every grid point (near the
boundary included, split by the reference's loss gap)."""

from __future__ import annotations

import numpy as np
import pytest

import engine.science.phase
from engine import RunConfig, RunStore, run_experiment
from engine.experiments.phase import GAP_BANDS, NEAR_BOUNDARY, phase_axes, phase_measures, reference_agreement
from engine.science.phase import RELU_BOUND_TRIPLE_POINT, PhasePoint
from engine.science.relu_reference import reference_boundary, reference_optimum, reference_triple_point


def reference_grid(size: int) -> list[PhasePoint]:
    """A preset grid whose every point sits in the exact reference's phase."""
    d, r = phase_axes(size, size)
    s, rr = (a.ravel() for a in np.meshgrid(d, r, indexing="ij"))
    optimum = reference_optimum(s, rr)
    return [PhasePoint(float(a), float(b), str(p), 1.0, k, float(loss))
            for k, (a, b, p, loss) in enumerate(zip(s, rr, optimum.phase, optimum.loss))]


def test_agreement_counts_every_point_and_splits_by_the_gap():
    grid = reference_grid(40)
    assert reference_agreement(grid)["reference_match"] == 1.0
    # the point nearest the boundary (smallest relative gap) flips to another phase
    s = np.array([p.density for p in grid])
    r = np.array([p.relative_importance for p in grid])
    optimum = reference_optimum(s, r)
    gap = optimum.gap / optimum.loss
    k = int(np.argmin(gap))
    other = "superposition" if grid[k].phase != "superposition" else "feature1"
    grid[k] = PhasePoint(grid[k].density, grid[k].relative_importance, other, 1.0, k, grid[k].loss)
    m = reference_agreement(grid)
    assert m["reference_points"] == 1600  # every point of the paper grid, none left out
    assert m["reference_match"] == pytest.approx(1599 / 1600)
    near = int((gap < NEAR_BOUNDARY).sum())
    assert near == m["reference_near_points"] == 16  # SCIENCE.md 7.4: 16 points under 1% on the 40 x 40 grid
    assert m["reference_near"] == pytest.approx(15 / 16) and m["reference_clear"] == 1.0
    assert sum(m[f"reference_band{i}_points"] for i in range(len(GAP_BANDS))) == 1600


def test_the_closed_form_survives_only_as_a_named_bound():
    for old in ("relu_reference_phase", "relu_reference_losses", "relu_superposition_boundary", "RELU_TRIPLE_POINT"):
        assert not hasattr(engine.science.phase, old), old
    assert RELU_BOUND_TRIPLE_POINT == (4 / 7, 1.0)


@pytest.fixture(scope="module")
def relu_run(tmp_path_factory):
    config = RunConfig(preset="phase", activation="relu", n=2, m=1, densities=(0.05, 0.65, 1.0),
                       relative_importances=(0.3, 1.0, 3.0), seeds=2, steps=400, batch_size=256, lr=1e-2,
                       compile=False, snapshots=2)
    return run_experiment(config, RunStore(tmp_path_factory.mktemp("reference-integration")))


def test_the_phase_png_draws_the_exact_boundary_and_triple_point(relu_run):
    from engine.export.figures import figure_phase

    ax = figure_phase(relu_run).axes[0]
    drawn = [(np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)) for line in ax.lines]
    for boundary in reference_boundary():
        assert any(len(x) == len(boundary.density) and np.allclose(x, boundary.density)
                   and np.allclose(y, boundary.relative_importance) for x, y in drawn), boundary.phases
    triple = reference_triple_point()
    assert any(len(x) == 1 and (x[0], y[0]) == triple for x, y in drawn)
    # nothing is drawn through the bound's triple point (4/7, 1)
    s_bound, r_bound = RELU_BOUND_TRIPLE_POINT
    for x, y in drawn:
        assert not np.any((np.abs(x - s_bound) < 0.01) & (np.abs(y - r_bound) < 0.01))


def test_the_measures_use_the_reference_on_every_point(relu_run):
    from engine.experiments.phase import PHASE
    from engine.science.phase import relu_bound_phase

    grid = PHASE.grid(relu_run)
    s = np.array([p.density for p in grid])
    r = np.array([p.relative_importance for p in grid])
    phases = np.array([p.phase for p in grid])
    exact = reference_optimum(s, r).phase
    m = phase_measures(relu_run)
    assert m["reference_points"] == 9
    assert m["reference_match"] == pytest.approx(np.mean(phases == exact))
    # s = 0.65, r = 1 is where the two disagree: the exact optimum superposes, the bound keeps feature 1
    at = int(np.flatnonzero((np.abs(s - 0.65) < 1e-6) & (np.abs(r - 1) < 1e-6))[0])
    assert exact[at] == "superposition" and relu_bound_phase(0.65, 1.0) == "feature1"
