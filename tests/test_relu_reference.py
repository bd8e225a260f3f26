"""The exact n=2, m=1 ReLU reference (engine.science.relu_reference, SCIENCE.md): its loss against Monte
Carlo and the closed form, the true optimum against the closed-form bound, the table and its
boundary. Fast: no training, one or two small minimisations."""

import subprocess
import sys

import numpy as np
import pytest

from engine.science.phase import PHASES, classify, relu_bound_losses, relu_bound_phase
from engine.presets import phase_axes
from engine.science.relu_reference import (
    PHASE_THRESHOLD,
    _table,
    expected_loss,
    expected_loss_and_grad,
    reference_boundary,
    reference_gap,
    reference_optimum,
    reference_phase,
    reference_triple_point,
    solve,
)


def monte_carlo_loss(w, b, s, r, samples, rng):
    x = rng.random((samples, 2)) * (rng.random((samples, 2)) < s)  # [samples, 2]
    z = np.outer(x @ w, w) + b  # z_i = w_i (w . x) + b_i
    per_sample = ((x - np.maximum(z, 0)) ** 2) @ np.array([1.0, r])
    return per_sample.mean(), per_sample.std() / np.sqrt(samples)


# (w, b, s, r): the optimum, a lopsided pair, a same-sign pair with a dead bias, a weak model.
MC_POINTS = [
    ((0.80, -0.80), (0.28, 0.28), 0.65, 1.0),
    ((0.93, -0.47), (0.20, 0.46), 0.8, 0.7),
    ((1.3, 0.4), (-0.2, 0.1), 0.3, 2.0),
    ((0.2, -1.1), (0.6, -0.05), 0.05, 5.0),
]


@pytest.mark.parametrize("w, b, s, r", MC_POINTS)
def test_expected_loss_matches_monte_carlo(w, b, s, r):
    rng = np.random.default_rng(14)
    mean, stderr = monte_carlo_loss(np.array(w), np.array(b), s, r, 400_000, rng)
    assert abs(float(expected_loss(w, b, s, r)) - mean) < 4 * stderr, (mean, stderr)


def test_expected_loss_reproduces_the_closed_form_candidates():
    s, r = np.geomspace(0.01, 1, 7)[:, None], np.geomspace(0.1, 10, 5)[None, :]
    bound = relu_bound_losses(s, r)
    zero = np.zeros_like(s * r)
    np.testing.assert_allclose(expected_loss([1, 0], np.stack([zero, s / 2 + zero], -1), s, r), bound["feature1"], rtol=1e-13)
    np.testing.assert_allclose(expected_loss([0, 1], np.stack([s / 2 + zero, zero], -1), s, r), bound["feature2"] + zero, rtol=1e-13)
    np.testing.assert_allclose(expected_loss([1, -1], [0, 0], s, r), bound["superposition"], rtol=1e-13)


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    w, b = rng.normal(size=(20, 2)), rng.normal(0, 0.5, size=(20, 2))
    s, r = rng.uniform(0.01, 1, 20), np.exp(rng.normal(size=20))
    _, gw, gb = expected_loss_and_grad(w, b, s, r)
    h = 1e-6
    for k, (dw, db) in enumerate([((1, 0), (0, 0)), ((0, 1), (0, 0)), ((0, 0), (1, 0)), ((0, 0), (0, 1))]):
        step_w, step_b = h * np.array(dw, float), h * np.array(db, float)
        fd = (expected_loss(w + step_w, b + step_b, s, r) - expected_loss(w - step_w, b - step_b, s, r)) / (2 * h)
        np.testing.assert_allclose(np.concatenate([gw, gb], -1)[:, k], fd, atol=1e-8)


def test_swapping_the_features_maps_r_to_one_over_r_with_the_loss_scaled_by_r():
    rng = np.random.default_rng(5)
    w, b = rng.normal(size=(50, 2)), rng.normal(0, 0.5, size=(50, 2))
    s, r = rng.uniform(0.01, 1, 50), np.exp(rng.normal(size=50))
    np.testing.assert_allclose(expected_loss(w[:, ::-1], b[:, ::-1], s, r), r * expected_loss(w, b, s, 1 / r), rtol=1e-12)


def test_optimum_at_r1_s065_has_a_bias_and_beats_both_zero_bias_candidates():
    best = solve(0.65, 1.0)
    loss = best["phase_loss"][0]
    phase = int(np.argmin(loss))
    w, b = best["phase_w"][0, phase], best["phase_b"][0, phase]
    assert PHASES[phase] == "superposition"
    assert loss[phase] == pytest.approx(0.1053334, abs=1e-7)
    np.testing.assert_allclose(np.abs(w), [0.80286, 0.80286], atol=1e-4)
    assert w[0] * w[1] < 0  # an antipodal pair
    np.testing.assert_allclose(b, [0.28084, 0.28084], atol=1e-4)
    bound = relu_bound_losses(0.65, 1.0)
    assert loss[phase] < float(bound["feature1"]) - 0.005  # 0.1110
    assert loss[phase] < float(bound["superposition"]) - 0.03  # 0.1408
    # The rounded numbers give the same loss to 1e-5, and the best monosemantic model
    # is not the closed form's: it leans on the other feature up to the phase's edge |w2| = 0.5.
    assert float(expected_loss([0.80, -0.80], [0.28, 0.28], 0.65, 1.0)) == pytest.approx(0.10534, abs=1e-5)
    assert loss[0] == pytest.approx(0.1073524, abs=1e-7) and loss[0] < float(bound["feature1"])
    assert abs(best["phase_w"][0, 0, 1]) == pytest.approx(PHASE_THRESHOLD, abs=1e-9)


def test_boundary_at_r1_lies_at_density_0_713():
    s_triple, r_triple = reference_triple_point()
    assert r_triple == 1.0
    assert s_triple == pytest.approx(0.7131, abs=2e-4)
    # Either side of it, minimised afresh: the lopsided pair's weaker weight crosses 0.5.
    found = solve([0.708, 0.718], [1.0, 1.0])
    assert [PHASES[p] for p in found["phase_loss"].argmin(-1)] == ["superposition", "feature1"]
    assert reference_phase(s_triple * 0.99, 1.0) == "superposition"
    assert reference_phase(s_triple * 1.01, 1.0) == "feature1"
    assert float(reference_gap(s_triple * 1.01, 1.0)) == 0.0  # feature2 ties feature1 on r = 1


def test_every_preset_point_is_a_table_point_even_as_float32():
    for count in (12, 40):
        densities, importances = phase_axes(count, count)
        s, r = np.meshgrid(np.array(densities, np.float32), np.array(importances, np.float32), indexing="ij")
        assert reference_optimum(s.astype(float), r.astype(float)).from_table.all()


def test_table_phases_agree_with_the_loss_at_the_stored_optima():
    t = _table()
    s, r = t.points[:, 0], t.points[:, 1]
    loss = expected_loss(t.w, t.b, s, r)
    optimum = t.phase_loss[np.arange(len(s)), t.phase]
    np.testing.assert_allclose(loss, optimum, rtol=2e-6, atol=1e-9)  # the table keeps float32
    assert (classify(t.w[:, None, :], PHASE_THRESHOLD) == t.phase).all()
    assert (t.gap >= 0).all()
    assert (optimum <= t.phase_loss.min(-1) * (1 + 1e-6)).all()
    # Each phase's best is at most the closed form's candidate of that phase: it is a bound.
    bound = relu_bound_losses(s, r)
    for k, name in enumerate(("feature1", "feature2", "superposition")):
        assert (t.phase_loss[:, k] <= bound[name] * (1 + 1e-6)).all(), name


def test_table_is_symmetric_on_r_equal_one():
    t = _table()
    on_one = np.isclose(t.points[:, 1], 1.0, rtol=1e-12)
    assert on_one.sum() == len(t.density)
    np.testing.assert_allclose(t.phase_loss[on_one, 0], t.phase_loss[on_one, 1], rtol=1e-6)


def test_reference_mirrors_above_r_equal_one():
    s = np.geomspace(0.01, 1, 161)[[20, 80, 140, 150]]
    r = np.geomspace(0.1, 10, 161)[[40, 120]]  # 10**-0.5 and 10**0.5
    low = reference_optimum(s, r[0])
    high = reference_optimum(s, r[1])
    assert low.from_table.all() and high.from_table.all()
    np.testing.assert_allclose(high.loss, r[1] * low.loss, rtol=1e-12)
    np.testing.assert_allclose(high.w, low.w[:, ::-1])
    swapped = {"feature1": "feature2", "feature2": "feature1"}
    assert list(high.phase) == [swapped.get(p, p) for p in low.phase]


def test_off_table_phase_agrees_with_a_fresh_minimisation():
    rng = np.random.default_rng(8)
    s, r = np.exp(rng.uniform(np.log(0.02), 0, 12)), np.exp(rng.uniform(np.log(0.12), np.log(8), 12))
    s, r = np.append(s, [0.7108, 0.35, 0.7]), np.append(r, [1.0, 0.2711, 0.9])  # a few near the boundary
    fresh = solve(s, r)["phase_loss"].argmin(-1)
    assert list(reference_phase(s, r)) == [PHASES[p] for p in fresh]


def test_boundaries_separate_superposition_from_each_feature_and_the_features_at_r1():
    lines = reference_boundary()
    pairs = {tuple(sorted(line.phases)) for line in lines}
    assert pairs == {("feature1", "superposition"), ("feature2", "superposition"), ("feature1", "feature2")}
    for line in lines:
        assert len(line.density) == len(line.relative_importance) >= 2
        assert ((line.density >= 0.01 * (1 - 1e-9)) & (line.density <= 1 + 1e-9)).all()
        assert ((line.relative_importance >= 0.1 * (1 - 1e-9)) & (line.relative_importance <= 10 * (1 + 1e-9))).all()
    # The phase changes across every boundary point (checked a little to each side in density).
    for line in lines:
        if "superposition" not in line.phases:
            continue
        s, r = line.density[1:-1:7], line.relative_importance[1:-1:7]
        left, right = reference_phase(s * 0.995, r), reference_phase(s * 1.005, r)
        assert (left == "superposition").all() and (right != "superposition").all()


def test_true_boundary_lies_at_higher_density_than_the_bound():
    s, r = np.meshgrid(np.geomspace(0.01, 1, 40), np.geomspace(0.1, 10, 40), indexing="ij")
    exact, bound = reference_phase(s, r), relu_bound_phase(s, r)
    assert ((bound == "superposition") <= (exact == "superposition")).all()
    assert ((exact == "superposition") & (bound != "superposition")).sum() > 0


def test_runtime_module_imports_neither_torch_nor_scipy():
    code = ("import sys; from engine.science.relu_reference import reference_phase, reference_boundary; "
            "reference_phase(0.5, 2.0); reference_boundary(); "
            "print(sorted(m for m in ('torch', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_points_outside_the_table_are_minimised_on_the_spot():
    found = reference_optimum([0.005, 0.9], [1.0, 20.0])
    assert not found.from_table.any()
    assert list(found.phase) == ["superposition", "feature2"]
    assert list(reference_phase([0.005, 0.9], [1.0, 20.0])) == ["superposition", "feature2"]
    np.testing.assert_allclose(found.loss, expected_loss(found.w, found.b, [0.005, 0.9], [1.0, 20.0]), rtol=1e-12)
