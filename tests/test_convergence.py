"""D* against training step and the still-moving flag (engine.science.convergence), and the represented
features' mean ‖W_i‖² beside D*: from hand-made snapshots, then from a saved run through `show --json`."""

from __future__ import annotations

import numpy as np
import pytest

from engine.science.convergence import MOVING_THRESHOLD, dstar_history
from engine.science.metrics import METRICS, dims_per_feature, represented_norm_sq
from engine.instances import InstanceTable


def table(points: int, seeds: int = 1) -> InstanceTable:
    K = points * seeds
    return InstanceTable(density=np.repeat(np.geomspace(1, 0.05, points), seeds).astype(np.float32),
                         importance=np.ones((K, 4), np.float32), seed=np.tile(np.arange(seeds), points),
                         point=np.repeat(np.arange(points), seeds), relative_importance=None)


def snapshots_growing(scales_by_step: dict[int, list[float]]):
    """Snapshots whose instance k is scale * (the identity-like W): D* = m / (scale^2 * m) = 1/scale^2."""
    base = np.zeros((2, 4), np.float32)
    base[0, 0] = base[1, 1] = 1.0  # two features of norm 1 in m=2
    steps = sorted(scales_by_step)
    frames = np.stack([np.stack([base * s for s in scales_by_step[t]]) for t in steps])  # [S, K, m, n]
    return np.array(steps), frames


def test_a_point_still_moving_over_the_last_half_decade_is_flagged_and_a_settled_one_is_not():
    # point 0 grows 10% in scale over the last half-decade (D* falls 17%); point 1 by 1% (D* 2%)
    steps, frames = snapshots_growing({0: [1.0, 1.0], 10: [1.0, 1.0], 300: [1.0, 1.0], 1000: [1.1, 1.01]})
    history = dstar_history(table(2), steps, frames, frames[-1], np.zeros(2), last_step=1000)
    assert history.reference_step == 300  # the latest snapshot at or before T/√10 = 316
    np.testing.assert_allclose(history.dstar[:, 0], [1, 1, 1, 1 / 1.21], rtol=1e-6)
    np.testing.assert_allclose(history.change, [1.21 - 1, 1.01**2 - 1], rtol=1e-5)
    assert history.moving.tolist() == [True, False]
    assert "still moving at 1/2 densities" in history.summary() and "step 300" in history.summary()
    json = history.to_json()
    assert json["steps"] == [0, 10, 300, 1000] and json["threshold"] == MOVING_THRESHOLD and json["still_moving"]
    assert [p["moving"] for p in json["points"]] == [True, False] and len(json["points"][0]["dstar"]) == 4


def test_the_reference_is_the_latest_snapshot_at_or_before_t_over_root_ten_and_the_final_weights_close_it():
    steps, frames = snapshots_growing({0: [1.0], 3: [1.0], 40: [1.5], 300: [2.0]})
    final = frames[-1] * 1.0
    history = dstar_history(table(1), steps, frames, final, None, last_step=500)  # cancelled after its last snapshot
    assert history.steps.tolist() == [0, 3, 40, 300, 500] and history.reference_step == 40  # 500/√10 = 158
    np.testing.assert_allclose(history.change, [abs(1 / 4 - 1 / 2.25) / (1 / 4)], rtol=1e-6)


def test_the_winning_seed_by_final_loss_is_followed_at_every_step():
    steps, frames = snapshots_growing({0: [1.0, 3.0], 100: [1.0, 3.0], 1000: [1.0, 3.0]})
    losses = np.array([0.5, 0.1])  # the second seed wins
    history = dstar_history(table(1, seeds=2), steps, frames, frames[-1], losses, last_step=1000)
    np.testing.assert_allclose(history.dstar[:, 0], 1 / 9, rtol=1e-6)


def test_too_short_a_run_is_not_judged_and_flags_nothing():
    steps, frames = snapshots_growing({0: [1.0], 5: [2.0]})
    history = dstar_history(table(1), steps, frames, frames[-1], None, last_step=5)
    assert history.reference_step is None and not history.moving.any() and "too few steps" in history.summary()


def test_represented_norm_sq_averages_the_represented_features_only():
    W = np.array([[2.0, 0.0, 0.3, 0.0], [0.0, 1.0, 0.0, 0.1]])  # norms 2, 1, 0.3, 0.1
    assert represented_norm_sq(W) == pytest.approx((4 + 1) / 2)
    assert np.isnan(represented_norm_sq(W * 0.1))
    assert dims_per_feature(W) == pytest.approx(2 / (4 + 1 + 0.09 + 0.01))
    assert "‖W_i‖ ≥ 0.5" in METRICS["represented_norm_sq"].formula
    assert METRICS["represented_norm_sq"].of_model(W, []) == pytest.approx(2.5)


def test_show_json_has_the_dstar_history_and_the_represented_norms(tmp_path):
    from engine.store.run_json import run_to_json
    from engine.reproduce import tiny_config
    from engine.jobs.runner import run_experiment
    from engine.store.runs import RunStore

    record = run_experiment(tiny_config("dims", "sigmoid").replace(steps=60, snapshots=8), RunStore(tmp_path))
    shown = run_to_json(record)
    history = shown["dstar_history"]
    assert history["steps"][0] == 0 and history["steps"][-1] == 60 and history["reference_step"] <= 60 / 10**0.5
    assert len(history["points"]) == len(record.config.densities)
    final = [p["dstar"][-1] for p in history["points"]]
    np.testing.assert_allclose(final, [p["dims_per_feature"] for p in shown["points"]], rtol=1e-6)
    assert all({"represented", "represented_norm_sq"} <= set(p) for p in shown["points"])
    assert shown["metrics"]["represented_norm_sq"]["label"] == METRICS["represented_norm_sq"].label
    assert shown["profile"] == "default" and shown["parent"] is None
    sparsity = run_to_json(run_experiment(tiny_config("sparsity", "relu").replace(steps=5), RunStore(tmp_path)))
    assert sparsity["dstar_history"] is None  # its experiment shows no D* curve
