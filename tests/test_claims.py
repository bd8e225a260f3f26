"""Claims and verdicts on synthetic weights whose answer we know: "not converged" for numbers
still moving, the D* plateau at 1/2 apart from D_i = 1, basis-free partner counts, tanh judged
against what the blog plots, a threshold behind every verdict, and the report's verdict table."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from engine.experiments import experiment_names, get_experiment
from engine.experiments.base import Evidence, moved
from engine.experiments.dims import DIMS, dims_densities, dims_measures, plateau
from engine.experiments.sparsity import SPARSITY
from engine.science.metrics import direction_partners, features_per_neuron, max_partners
from tests.synthetic_runs import antipodal_pairs, fake_run, scaled_identity

DIMS_CONFIG = DIMS.config("tiny").replace(densities=dims_densities(6))  # n=12, m=3, 6 densities, 40 steps
K, M, N = 6, DIMS_CONFIG.m, DIMS_CONFIG.n


def claim(experiment, claim_id):
    return next(c for c in experiment.claims if c.id == claim_id)


def dims_run(activation: str, dstar, earlier=None):
    """A dims run whose winners have D* = dstar[p] at each density (densest first), from features
    in their own dimensions; `earlier`: D* of the snapshot at step 10 (≤ 40/√10)."""
    def weights(values):
        return scaled_identity(K, M, N, 1 / np.sqrt(np.asarray(values, float)))

    config = DIMS_CONFIG.replace(activation=activation)
    snapshots = {0: np.zeros((K, M, N)), 10: weights(earlier if earlier is not None else dstar)}
    return fake_run(config, weights(dstar), snapshots)


# --------------------------------------------------------------------------- not converged

def test_a_verdict_whose_dstar_still_moves_is_not_converged_with_its_numbers():
    pack = claim(DIMS, "dims.sigmoid_solu_pack")
    runs = {a: dims_run(a, [1.0] * 5 + [0.13]) for a in ("relu", "gelu", "silu")}
    runs["sigmoid"] = dims_run("sigmoid", [1.0] * 5 + [0.128], earlier=[1.0] * 5 + [0.3])  # still falling
    runs["solu"] = dims_run("solu", [1.0] * 5 + [0.04])
    evidence = pack.evaluate(runs)
    assert evidence.verdict == "not converged"
    assert "0.3 → 0.128" in evidence.reason and "step 10 → 40" in evidence.reason
    assert "not reproduced" in evidence.reason  # what it would read now, said plainly
    assert "D* < 0.1" in evidence.threshold


def test_a_settled_failure_stays_not_reproduced_and_a_success_is_never_downgraded():
    pack = claim(DIMS, "dims.sigmoid_solu_pack")
    runs = {a: dims_run(a, [1.0] * 5 + [0.13]) for a in ("relu", "gelu", "silu")}
    runs["sigmoid"] = dims_run("sigmoid", [1.0] * 5 + [0.128])
    runs["solu"] = dims_run("solu", [1.0] * 5 + [0.04])
    assert pack.evaluate(runs).verdict == "not reproduced"
    runs["sigmoid"] = dims_run("sigmoid", [1.0] * 5 + [0.05], earlier=[1.0] * 5 + [0.3])
    assert pack.evaluate(runs).verdict == "reproduced"


def test_moved_counts_changes_above_five_percent_and_integer_steps():
    assert moved(0.3, 0.128) and moved(6, 7) and not moved(0.100, 0.103)
    assert not moved("1, 2", "1, 3") and not moved(float("nan"), 1.0) and not moved(True, False)


def test_every_claim_states_the_threshold_that_decides_it():
    for name in experiment_names():
        for c in get_experiment(name).claims:
            assert c.threshold and any(ch.isdigit() for ch in c.threshold), c.id


# --------------------------------------------------------------------------- dims: sticky at 1/2

def test_a_linear_models_share_at_one_half_is_zero_and_its_features_sit_at_one():
    linear = dims_measures(dims_run("linear", [1.0] * 6))
    assert linear["plateau_half"] == 0 and linear["dstar_at_half_share"] == 0
    assert linear["one_share"] == 1.0 and linear["half_share"] == 0.0


def test_plateau_counts_consecutive_densities_within_tolerance_of_the_value():
    assert plateau(np.array([1.0, 0.52, 0.49, 0.51, 0.7, 0.5]), 0.5) == (4, 3)
    assert plateau(np.array([1.0, 0.9]), 0.5) == (0, 0)


def test_only_relu_sticky_reads_the_plateau_at_one_half_not_features_at_one():
    sticky = claim(DIMS, "dims.only_relu_sticky")
    runs = {a: dims_run(a, [1.0] * 6) for a in ("linear", "tanh")}  # D_i = 1 everywhere: not sticky at 1/2
    runs["relu"] = dims_run("relu", [1.0, 0.8, 0.5, 0.49, 0.51, 0.52])  # 4 densities at 1/2
    runs["gelu"] = dims_run("gelu", [1.0, 0.8, 0.6, 0.5, 0.48, 0.4])  # 2
    runs["silu"] = dims_run("silu", [1.0, 0.8, 0.6, 0.5, 0.45, 0.4])  # 1
    runs["sigmoid"] = dims_run("sigmoid", [0.9, 0.5, 0.3, 0.2, 0.1, 0.05])
    runs["solu"] = dims_run("solu", [0.9, 0.6, 0.3, 0.2, 0.1, 0.05])
    evidence = sticky.evaluate(runs)
    assert evidence.verdict == "reproduced", evidence
    assert evidence.numbers["linear: longest run of densities with D* within 0.03 of 1/2"] == 0
    assert evidence.numbers["relu: longest run of densities with D* within 0.03 of 1/2"] == 4
    # a reference switch's run (reproduce passes them as "<activation>@<variant>") is not another activation
    runs["gelu@anthropic"] = dims_run("gelu", [1.0, 0.5, 0.5, 0.5, 0.48, 0.4])
    evidence = sticky.evaluate(runs)
    assert evidence.verdict == "reproduced" and not any("@" in key for key in evidence.numbers)
    runs["gelu"] = dims_run("gelu", [1.0, 0.5, 0.5, 0.5, 0.48, 0.4])
    assert sticky.evaluate(runs).verdict == "not reproduced"


def test_tanh_like_linear_leaves_the_blogs_dip_at_density_one_out():
    like = claim(DIMS, "dims.tanh_like_linear")
    runs = {"linear": dims_run("linear", [1.0] * 6), "tanh": dims_run("tanh", [0.6, 0.95, 0.97, 1.0, 1.0, 1.0])}
    evidence = like.evaluate(runs)
    assert evidence.verdict == "reproduced"
    assert evidence.numbers["|D*(tanh) − D*(linear)| at density 1 (the blog's dip, not judged)"] == pytest.approx(0.4)
    runs["tanh"] = dims_run("tanh", [0.6, 0.95, 0.5, 1.0, 1.0, 1.0])
    assert like.evaluate(runs).verdict == "refuted"


def test_dstar_falls_with_sparsity_and_tanh_rises():
    falls = claim(DIMS, "dims.dstar_falls_with_sparsity")
    runs = {a: dims_run(a, [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]) for a in ("relu", "gelu", "silu", "sigmoid", "solu")}
    runs["tanh"] = dims_run("tanh", [0.6, 0.9, 1.0, 1.0, 1.0, 1.0])
    assert falls.evaluate(runs).verdict == "reproduced"
    runs["tanh"] = dims_run("tanh", [1.0] * 5 + [0.9])
    assert falls.evaluate(runs).verdict == "not reproduced"


# --------------------------------------------------------------------------- sparsity: pairs, basis-free

SPARSITY_CONFIG = SPARSITY.config("tiny").replace(n=10, m=5, densities=(1.0, 0.1, 0.01))  # 3 densities, 1 seed


def rotation(m: int, seed: int = 0) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(m, m)))
    return q


def sparsity_run(activation: str, sparse_W: np.ndarray):
    """Dense: the top m features on their own dimensions; the other densities: sparse_W [m, n]."""
    W = np.stack([scaled_identity(1, 5, 10)[0], sparse_W, sparse_W])
    return fake_run(SPARSITY_CONFIG.replace(activation=activation), W, {0: np.zeros_like(W), 10: W})


def test_direction_partners_count_pairs_and_larger_groups_in_any_basis():
    pairs = antipodal_pairs(1, 5, 10)[0]
    assert (direction_partners(pairs) == 1).all()
    rotated = rotation(5) @ pairs
    assert (direction_partners(rotated) == 1).all() and max_partners(rotated) == 1
    assert features_per_neuron(rotated) > 2  # the neuron count is not basis-free: a rotation changes it
    angles = 2 * np.pi * np.arange(5) / 5
    pentagon = np.zeros((5, 10))
    pentagon[0, :5], pentagon[1, :5] = np.cos(angles), np.sin(angles)
    partners = direction_partners(pentagon)
    assert (partners[:5] == 2).all() and (partners[5:] == -1).all()


def test_gelu_two_per_neuron_counts_partners_by_cosine_not_neurons():
    two = claim(SPARSITY, "sparsity.gelu_two_per_neuron")
    rotated = rotation(5) @ antipodal_pairs(1, 5, 10)[0]
    evidence = two.evaluate({"gelu": sparsity_run("gelu", rotated)})
    assert evidence.verdict == "reproduced", evidence
    assert evidence.numbers["most partners of a represented feature (|cosine| ≥ 0.5)"] == 1
    angles = 2 * np.pi * np.arange(5) / 5
    pentagon = np.zeros((5, 10))
    pentagon[0, :5], pentagon[1, :5] = np.cos(angles), np.sin(angles)
    pentagon[2:, 5:8] = np.eye(3)
    assert two.evaluate({"gelu": sparsity_run("gelu", pentagon)}).verdict == "not reproduced"


def test_gelu_antipodal_reports_how_much_one_feature_of_a_pair_dominates():
    pairs = antipodal_pairs(1, 5, 10)[0]
    pairs[:, 1::2] *= 0.6  # each pair's second feature shorter
    evidence = claim(SPARSITY, "sparsity.gelu_antipodal").evaluate({"gelu": sparsity_run("gelu", pairs)})
    assert evidence.verdict == "reproduced"
    assert evidence.numbers["weaker ‖W_i‖ / stronger in a pair, median (one dominates when small; not judged)"] == \
        pytest.approx(0.6)


# --------------------------------------------------------------------------- the report's verdict table

def test_the_verdict_table_has_a_row_for_every_counted_verdict_and_its_threshold():
    from supertui.cli.reproduce_report import _verdicts_section

    ours = SimpleNamespace(id="correlated.relu_anticorrelated_antipodal")
    blogs = SimpleNamespace(id="dims.gelu_silu_alike")
    measured = {"x": SimpleNamespace(claims=[
        (blogs, Evidence({"mean |ΔD*|": 0.01}, "reproduced", threshold="reproduced when mean |ΔD*| < 0.05")),
        (ours, Evidence({"cosine": -0.5}, "not converged", "still moving", threshold="reproduced when cosine < -0.9")),
    ])}
    lines = _verdicts_section(SimpleNamespace(measured=measured, quality="paper"))
    text = "\n".join(lines)
    assert "2 verdicts: 1 reproduced, 1 not converged" in text
    rows = [line for line in lines if line.startswith("| `")]
    assert len(rows) == 2
    assert "reproduced when cosine < -0.9" in rows[1] and "not in the blog" in rows[1]


def test_reproduce_progress_lines_say_the_time_left():
    from engine.reproduce import ReproduceProgress

    line = ReproduceProgress("train", 0.25, 1, 28, "dims · relu", step=10, steps=40, elapsed=60.0).line()
    assert "3 min 00 s left" in line
    assert "left" not in ReproduceProgress("train", 0.0, 1, 28, "dims · relu", elapsed=1.0).line()


def test_the_plotted_solu_curve_is_judged_on_the_instance_axis_run():
    instance = claim(DIMS, "dims.solu_plotted_curve_is_the_instance_axis")
    runs = {"solu": dims_run("solu", [0.2, 0.1, 0.08, 0.06, 0.05, 0.05])}
    assert instance.evaluate(runs).verdict == "not measured"  # the variant was not trained
    runs["solu@solu_instance_axis"] = dims_run("solu", [0.5, 0.3, 0.2, 0.1, 0.06, 0.05])
    evidence = instance.evaluate(runs)
    assert evidence.verdict == "reproduced" and evidence.numbers["D* at density 1, softmax over instances"] == \
        pytest.approx(0.5)
    tables = DIMS.tables({**runs, "linear": dims_run("linear", [1.0] * 6)})
    assert not any("@" in column for t in tables for column in t.header)


def test_report_phrases_parse_an_empty_band_and_the_top_m_count():
    from engine.experiments.phase import _share_of

    assert _share_of(float("nan"), 0) == "no point" and _share_of(0.5, 12) == "50% of 12"
    keeps = claim(SPARSITY, "sparsity.linear_keeps_top_m")
    evidence = keeps.evaluate({"linear": sparsity_run("linear", antipodal_pairs(1, 5, 10)[0])})
    assert evidence.numbers["densities (of 3) at which exactly the 5 most important features are represented"] == 1
    assert evidence.verdict == "not reproduced"
