"""The convergence study's parts on histories whose answer we know: the still-moving flag held
against a continued run (hits, false alarms, misses), D* read at the snapshot nearest a step, the
settling step, and the study's figure drawn whole."""

from __future__ import annotations

import numpy as np
import pytest

from engine.export.convergence import figure_convergence, settling_step
from engine.export.style import clipped_artists
from engine.science.convergence import DStarHistory, calibrate_flag, dstar_history, dstar_near

DENSITY = np.array([1.0, 0.3, 0.1, 0.05])  # [P]


def history(steps, dstar) -> DStarHistory:
    """A history as dstar_history makes it: the flag over the last half-decade of `steps`."""
    steps = np.asarray(steps)
    dstar = np.asarray(dstar, dtype=float)  # [S, P]
    T = steps[-1]
    t0 = max(s for s in steps if s <= T / 10**0.5)
    change = np.abs(dstar[-1] - dstar[list(steps).index(t0)]) / np.abs(dstar[-1])
    return DStarHistory(steps, DENSITY, dstar, int(t0), change)


def test_the_flag_is_scored_against_how_far_dstar_moved_when_the_run_went_on():
    # at 10k: points 0 and 1 moved > 5 % since 3k (flagged), 2 and 3 did not
    at_end = history([0, 1_000, 3_000, 10_000], [[1, 1, 1, 1], [1, 1, 1, 1], [1.0, 0.8, 0.50, 0.30],
                                                  [0.9, 0.6, 0.50, 0.30]])
    # continued to 30k: point 0 keeps falling (a hit), 1 stops (a false alarm), 2 stays (quiet),
    # 3 starts falling (a miss)
    continued = history([0, 1_000, 3_000, 10_000, 30_000], [*at_end.dstar, [0.7, 0.6, 0.50, 0.25]])
    result = calibrate_flag("relu", at_end, continued)
    assert list(result.flagged) == [True, True, False, False]
    assert list(result.moved_on) == [True, False, False, True]
    assert result.counts() == {"hits": 1, "false_alarms": 1, "misses": 1, "quiet": 1}
    assert (result.end, result.continued_to) == (10_000, 30_000)


def test_a_continuation_of_other_grid_points_is_refused():
    at_end = history([0, 100, 1_000], np.ones((3, 4)))
    other = DStarHistory(np.array([0, 3_000]), DENSITY[:3], np.ones((2, 3)), 0, np.zeros(3))
    with pytest.raises(ValueError, match="same grid points"):
        calibrate_flag("relu", at_end, other)


def test_dstar_is_read_at_the_snapshot_nearest_in_log_step_and_not_past_the_end():
    h = history([0, 1_000, 3_162, 10_000], [[1] * 4, [2] * 4, [3] * 4, [4] * 4])
    assert dstar_near(h, 3_000)[0] == 3_162
    assert dstar_near(h, 10_000)[1].tolist() == [4] * 4
    assert dstar_near(h, 30_000) is None


def test_settling_step_is_where_dstar_stays_within_five_percent_of_its_end():
    h = history([0, 1_000, 3_000, 10_000, 30_000],
                [[1] * 4, [0.8] * 4, [0.52] * 4, [0.51] * 4, [0.5] * 4])
    assert settling_step(h) == 3_000
    never = history([0, 1_000, 3_000], [[1] * 4, [0.5] * 4, [0.2] * 4])
    assert settling_step(never) == 3_000  # only the end itself is within 5 % of the end


def test_the_flag_from_real_snapshots_matches_the_definition():
    """dstar_history (the engine's) and the hand-made histories above agree on what is flagged."""
    from engine.instances import InstanceTable

    P, m, n = 4, 2, 6
    table = InstanceTable(density=DENSITY.astype(np.float32), importance=np.ones((P, n), np.float32),
                          seed=np.zeros(P, np.int64), point=np.arange(P), relative_importance=None)
    scale = np.array([1.0, 1.0, 1.3, 1.0])
    W_early = np.tile(np.eye(m, n), (P, 1, 1))
    W_late = W_early * scale[:, None, None]
    h = dstar_history(table, np.array([0, 1_000]), np.stack([W_early, W_early]), W_late, None, 10_000)
    assert list(h.moving) == [False, False, True, False]


def test_the_convergence_figure_has_a_panel_per_activation_and_clips_nothing():
    steps = [0, 1_000, 3_000, 10_000, 30_000]
    dstar = np.array([[1] * 4, [0.9, 0.8, 0.6, 0.5], [0.9, 0.7, 0.5, 0.4], [0.9, 0.6, 0.5, 0.3], [0.9, 0.6, 0.5, 0.3]])
    histories = {name: history(steps, dstar) for name in ("linear", "relu", "gelu", "silu", "sigmoid", "tanh", "solu")}
    fig = figure_convergence(histories, (3_000, 10_000, 30_000))
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title().split(":")[0] for ax in visible] == list(histories)
    assert all(len(ax.get_lines()) >= 3 for ax in visible)  # three step counts (and the sticky lines)
    assert "from step 10,000" in visible[0].get_title()
    assert clipped_artists(fig) == []


@pytest.mark.slow
def test_the_study_script_continues_runs_through_the_queue_and_scores_the_flag(tmp_path):
    """End to end, as the README tells a user: a paper-shaped dims run (few steps), then the
    script continues it through the queue (a real scheduler and worker) and prints both tables."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    data = tmp_path / "data"
    train = [sys.executable, "-m", "supertui", "--data-dir", str(data), "train", "dims", "--paper", "-a", "relu",
             "--steps", "60", "--densities", "1:0.05:3"]
    subprocess.run(train, cwd=root, check=True, capture_output=True, timeout=600)
    script = [sys.executable, "scripts/measure_reference_switches.py", "--data-dir", str(data), "--steps", "60",
              "--densities", "3", "--convergence", "--calibrate", "--train", "--continue-to", "180",
              "--at", "20", "60", "180", "--figure", str(tmp_path / "convergence.png")]
    out = subprocess.run(script, cwd=root, check=True, capture_output=True, text=True, timeout=600).stdout
    assert "| relu | 60 → 180 |" in out
    assert "(step 180)" in out and (tmp_path / "convergence.png").stat().st_size > 10_000
    from engine.store.runs import RunStore

    runs = RunStore(data).list_runs()
    continued = [r for r in runs if r.manifest.get("parent")]
    assert len(runs) == 2 and len(continued) == 1 and continued[0].status == "completed"
    assert continued[0].config.steps == 180
