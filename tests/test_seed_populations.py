"""Issue 14, section 4: every seed of a phase-grid point, not only the lowest-loss one. Shares per
phase and the loss gap between phases, each seed's own diagram, and whether the sign of w1·w2 at
initialisation decides a seed's phase; checked by hand on built arrays and on a small real run."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine import RunConfig, RunStore, run_experiment
from engine.experiments import get_experiment
from engine.experiments.phase import PHASE, SPARSE, judge_monosemantic, seed_measures
from engine.export import export_runs
from engine.science.phase import PHASES, InitSign, classify, init_sign_outcomes, seed_init_products, seed_populations

# Two sparse points and one dense one, four seeds each: GeLU at high sparsity is where seeds split.
SMALL = RunConfig(preset="phase", activation="gelu", n=2, m=1, densities=(0.02, 0.05, 1.0), relative_importances=(1.0,),
                  seeds=4, steps=1500, batch_size=256, lr=1e-2, snapshots=3, compile=False)


def W_of(pairs) -> np.ndarray:
    return np.array([[[w1, w2]] for w1, w2 in pairs], dtype=np.float32)  # [K, 1, 2]


def test_shares_and_loss_gap_by_hand():
    # point 0: three seeds superposed (losses 1, 2, 3), one keeps feature 1 (loss 5); point 1: unanimous
    W = W_of([(0.9, -0.9), (1.0, -0.8), (0.8, -0.7), (1.0, 0.1),
              (1.0, 0.0), (0.9, 0.2), (1.1, 0.1), (1.0, 0.3)])
    loss = np.array([1.0, 2.0, 3.0, 5.0, 0.4, 0.5, 0.6, 0.7])
    point = np.repeat([0, 1], 4)
    first, second = seed_populations(W, loss, np.repeat([0.02, 0.5], 4), np.ones(8), point)
    assert first.winner == "superposition" and first.count == 4
    np.testing.assert_allclose(first.shares, [0.25, 0, 0.75, 0])
    assert first.winner_median == 2.0 and first.others_median == 5.0
    assert first.loss_gap == pytest.approx(1.5)  # "150% higher"
    assert second.share("feature1") == 1.0 and np.isnan(second.loss_gap)


def test_a_diverged_seed_counts_in_no_share():
    W = W_of([(0.9, -0.9), (1.0, 0.0), (np.nan, np.nan)])
    populations = seed_populations(W, np.array([1.0, 2.0, np.nan]), np.full(3, 0.05), np.ones(3), np.zeros(3, int))
    assert populations[0].count == 2
    np.testing.assert_allclose(populations[0].shares, [0.5, 0, 0.5, 0])


def test_init_sign_counts_models_and_distinct_seeds():
    W0 = W_of([(0.3, -0.2), (0.3, 0.2), (0.3, -0.2), (0.3, 0.2)])  # seeds 0 and 1 at two points
    W = W_of([(0.9, -0.9), (1.0, 0.0), (0.9, -0.9), (0.8, 0.7)])  # the last one superposes same-sign
    sign = init_sign_outcomes(W0, W, np.array([0, 1, 0, 1]))
    assert (sign.negative, sign.negative_superposed, sign.positive, sign.positive_superposed) == (2, 2, 2, 1)
    assert (sign.negative_seeds, sign.positive_seeds) == (1, 1)
    assert sign.superposed_if_negative == 1.0 and sign.superposed_if_positive == 0.5
    assert sign.predicted == 0.75
    assert seed_init_products(W0, np.array([0, 1, 0, 1])) == pytest.approx({0: -0.06, 1: 0.06})


def test_the_verdict_on_gelu_follows_the_seeds():
    rule = InitSign(negative=72, negative_superposed=71, positive=144, positive_superposed=0,
                    negative_seeds=1, positive_seeds=2)
    verdict, reason = judge_monosemantic(0.97, 0.33, 1.48, rule, 3)
    assert verdict == "explained"
    assert "97%" in reason and "67%" in reason and "148%" in reason and "w1·w2" in reason
    assert judge_monosemantic(0.3, 0.2, 1.0, rule, 3)[0] == "reproduced"
    assert judge_monosemantic(0.97, 0.95, 1.0, rule, 3)[0] == "refuted"  # almost every seed superposes
    no_rule = InitSign(72, 71, 144, 80, 1, 2)  # starts with w1·w2 >= 0 superpose too: nothing explains it
    assert judge_monosemantic(0.97, 0.5, 1.0, no_rule, 3)[0] == "not reproduced"
    assert judge_monosemantic(0.97, 0.5, 1.0, None, 3)[0] == "not reproduced"  # no step-0 snapshot


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    return run_experiment(SMALL, RunStore(tmp_path_factory.mktemp("seed-populations")))


def test_a_real_run_seed_by_seed(small_run):
    a = small_run.arrays
    populations = PHASE.populations(small_run)
    grid = PHASE.grid(small_run)
    phases = classify(a.W)  # [K]
    assert len(populations) == 3
    for p, (population, point) in enumerate(zip(populations, grid)):
        members = np.flatnonzero(a.instances.point == p)
        counts = np.bincount(phases[members], minlength=4)
        np.testing.assert_allclose(population.shares, counts / len(members))
        assert population.winner == point.phase
        same = phases[members] == PHASES.index(point.phase)
        if (~same).any():  # the gap is the medians' ratio, recomputed from the saved losses
            expected = np.median(a.final_loss[members][~same]) / np.median(a.final_loss[members][same]) - 1
            assert population.loss_gap == pytest.approx(expected)
    # each seed's own diagram is that seed's model at every point
    singles = PHASE.seed_grids(small_run)
    assert len(singles) == SMALL.seeds
    for s, single in enumerate(singles):
        assert [q.phase for q in single] == [PHASES[phases[p * SMALL.seeds + s]] for p in range(3)]
        assert all(q.agreement == 1.0 for q in single)


def test_the_init_sign_decides_gelu_at_high_sparsity(small_run):
    """The physics the report states: at density < 0.1 a GeLU model superposes exactly when its
    w1·w2 started below 0 (the init is kept as snapshot 0)."""
    assert int(small_run.arrays.snapshot_steps[0]) == 0
    m = seed_measures(small_run)
    sign = m["init_sign"]
    assert sign.negative + sign.positive == 2 * SMALL.seeds  # two sparse points
    assert sign.negative_seeds >= 1 and sign.positive_seeds >= 1, "seed 0..3 happen to start on both sides"
    assert sign.superposed_if_negative == 1.0 and sign.superposed_if_positive == 0.0
    assert m["seeds_superposed_sparse"] == pytest.approx(sign.negative / (sign.negative + sign.positive))
    assert m["each_seed_superposed_sparse"] == [1.0 if v < 0 else 0.0
                                                for v in seed_init_products(PHASE.initial_W(small_run),
                                                                            small_run.arrays.instances.seed).values()]


def test_the_seed_figure_and_the_pane_are_offered(small_run, tmp_path):
    experiment = get_experiment("phase")
    assert "seeds" in experiment.figures and "seeds" in experiment.panes
    paths = {p.name.rsplit("_", 1)[1]: p for p in export_runs([small_run], tmp_path)}
    with Image.open(paths["seeds.png"]) as image:
        width, height = image.size
    assert width > height > 1000  # two rows of panels: best of seeds, shares, gap; then one per seed
    from supertui.panes import PANES, SeedsPane

    assert PANES["seeds"] is SeedsPane
    assert SPARSE == 0.1
