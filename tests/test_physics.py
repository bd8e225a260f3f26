"""Trained physics against known answers (SCIENCE.md). These fail if the model, the data, the loss
or the optimiser is wrong, not just if the code crashes."""

import numpy as np
import pytest

from engine import RunConfig, instance_table, resolve_run, train
from engine.science.metrics import feature_norms, represented
from engine.science.phase import phase_grid, relu_bound_phase
from engine.science.relu_reference import reference_phase


@pytest.mark.slow
def test_linear_model_represents_exactly_the_most_important_features():
    config = RunConfig(activation="linear", n=10, m=5, densities=(1.0,), importance_decay=0.9,
                       seeds=2, steps=1500, lr=1e-2)
    result = train(resolve_run(config))
    norms = feature_norms(result.W)  # [2, 10]
    for seed_norms in norms:
        assert represented(seed_norms[None, :] * np.eye(10)[:1].T).shape  # shape sanity
        assert (seed_norms[:5] > 0.9).all(), seed_norms
        assert (seed_norms[5:] < 0.3).all(), seed_norms


# Points away from the phase boundaries: (density, relative importance of feature 2).
RELU_POINTS = [(1.0, 0.5), (1.0, 3.0), (0.02, 1.0)]


@pytest.mark.slow
def test_relu_two_features_land_in_the_exact_reference_phase():
    densities = tuple(sorted({d for d, _ in RELU_POINTS}))
    relatives = tuple(sorted({r for _, r in RELU_POINTS}))
    config = RunConfig(preset="phase", activation="relu", n=2, m=1, densities=densities,
                       relative_importances=relatives, seeds=4, steps=2000, lr=1e-2)
    result = train(resolve_run(config))
    table = instance_table(config)
    grid = phase_grid(result.W, result.final_loss, table.density, table.relative_importance, table.point)
    found = {(round(p.density, 6), round(p.relative_importance, 6)): p.phase for p in grid}
    for density, relative in RELU_POINTS:
        expected = str(reference_phase(density, relative))
        assert found[(round(density, 6), round(relative, 6))] == expected, (density, relative, found)


def test_closed_form_bound_matches_science_md():
    assert relu_bound_phase(1.0, 0.5) == "feature1"
    assert relu_bound_phase(1.0, 3.0) == "feature2"
    assert relu_bound_phase(0.02, 1.0) == "superposition"
    # the bound's triple point r = 1, s = 4/7 (the true one lies at s = 0.713, SCIENCE.md)
    assert relu_bound_phase(4 / 7 - 0.01, 1.0) == "superposition"
    assert relu_bound_phase(4 / 7 + 0.01, 0.99) == "feature1"
