"""Refinement of a phase diagram where its phases change (engine.sweeps.refine) and the boundary
with error bars it gives (engine.science.boundary). Unit tests label lattice points by the exact
n=2 ReLU optimum (no training); the system test runs a real refinement through the queue."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine import RunStore
from engine.errors import ConfigError
from engine.experiments import instance_table, validate_config
from engine.experiments.phase import PHASE
from engine.science.boundary import Lattice, Outcome, cell_disagrees, leaf_edges, phase_boundaries, reference_error
from engine.sweeps.refine import disagreeing_cells, level_cell, next_nodes
from supertui.cli import main
from tests.test_queue import supertui, wait_until


def exact_labels(lattice: Lattice, nodes) -> dict:
    from engine.science.relu_reference import reference_phase

    s, r = lattice.coordinates([n[0] for n in nodes], [n[1] for n in nodes])
    return {n: Outcome(str(p), tuple(float(p == q) for q in ("feature1", "feature2", "superposition", "neither")))
            for n, p in zip(nodes, reference_phase(s, r))}


def refined(coarse: int, levels: int):
    lattice = Lattice(coarse, levels)
    known = exact_labels(lattice, lattice.coarse_nodes())
    added = []
    for level in range(1, levels + 1):
        nodes = next_nodes(known, lattice, level)
        added.append((level, dict(known), nodes))
        known.update(exact_labels(lattice, nodes))
    return lattice, known, added


def test_a_level_adds_points_only_in_cells_whose_corners_disagree():
    lattice, known, added = refined(4, 3)
    assert sum(len(nodes) for *_, nodes in added) > 0
    for level, before, nodes in added:
        side = level_cell(lattice, level)
        cells = disagreeing_cells(before, side)
        assert cells, level
        assert len(set(nodes)) == len(nodes) and not set(nodes) & set(before)
        for i, j in nodes:  # every new point lies in (or on the edge of) a disagreeing cell of the level before
            assert any(ci <= i <= ci + side and cj <= j <= cj + side for ci, cj in cells), (level, i, j)
        for ci, cj in cells:  # and every such cell is split into four: its edge midpoints and centre are known
            half = side // 2
            for di, dj in ((half, 0), (0, half), (half, half), (side, half), (half, side)):
                assert (ci + di, cj + dj) in known
        # a cell whose corners agree gets nothing inside it
        for ci in range(0, lattice.size, side):
            for cj in range(0, lattice.size, side):
                corners = [before.get(c) for c in ((ci, cj), (ci + side, cj), (ci, cj + side), (ci + side, cj + side))]
                if all(corners) and not cell_disagrees(corners):
                    assert not any(ci < i < ci + side and cj < j < cj + side for i, j in nodes)


def test_the_boundary_lies_within_its_stated_uncertainty_of_the_exact_relu_boundary():
    lattice, known, _ = refined(4, 3)
    boundaries = phase_boundaries(known, lattice, reference=True)
    pairs = {b.phases for b in boundaries}
    assert {("feature1", "superposition"), ("feature2", "superposition")} <= pairs
    held = [c for b in boundaries for c in b.crossings if c.reference_decades is not None]
    assert len(held) > 20
    for c in held:
        assert c.reference_within, c
        if c.along_density:  # the exact boundary's density at this r lies inside the interval
            assert c.reference_decades <= c.half_width_decades + 1e-9, c
    # the finest crossings are LEVELS halvings finer than the coarse grid
    finest = min(c.half_width_decades for c in held)
    assert finest == pytest.approx(lattice.decades(0) / 2)
    error = reference_error(boundaries)
    assert error["within"] == 1.0 and error["mean_decades"] < lattice.decades(0)


def test_a_contested_corner_refines_a_cell_whose_phases_agree():
    same = [Outcome("superposition")] * 4
    assert not cell_disagrees(same)
    assert cell_disagrees([*same[:3], Outcome("superposition", contested=True)])
    assert cell_disagrees([*same[:3], Outcome("feature1")])


def test_leaf_edges_join_neighbours_on_a_cell_edge_never_across_a_gap():
    nodes = {(0, 0), (4, 0), (2, 0), (8, 0), (0, 4), (4, 4)}
    edges = {tuple(sorted(e)) for e in leaf_edges(nodes)}
    assert ((0, 0), (2, 0)) in edges and ((2, 0), (4, 0)) in edges and ((4, 0), (8, 0)) in edges
    assert ((0, 0), (0, 4)) in edges and ((4, 0), (4, 4)) in edges
    assert not any(set(e) == {(0, 0), (4, 0)} for e in edges)  # (2, 0) lies between


def test_seed_shares_say_how_many_seeds_sit_on_each_side():
    lattice = Lattice(2, 1)
    known = {(0, 0): Outcome("superposition", (0.0, 0.0, 2 / 3, 1 / 3)), (1, 0): Outcome("feature1", (1.0, 0, 0, 0))}
    (boundary,) = phase_boundaries(known, lattice)
    (crossing,) = boundary.crossings
    assert crossing.seed_shares == {"superposition": pytest.approx(2 / 3), "feature1": 1.0}
    assert crossing.density_interval == pytest.approx((0.01, 0.1))


def test_a_phase_run_takes_explicit_points_paired_not_crossed():
    config = PHASE.config("tiny").replace(densities=(0.1, 0.2, 0.5), relative_importances=(0.3, 1.0, 3.0),
                                          point_layout="pairs")
    validate_config(config)
    table = instance_table(config)
    assert len(table) == 3 * config.seeds
    assert np.allclose(np.unique(np.stack([table.density, table.relative_importance], 1), axis=0),
                       [[0.1, 0.3], [0.2, 1.0], [0.5, 3.0]])
    with pytest.raises(ConfigError, match="^relative_importances: paired point by point"):
        validate_config(config.replace(relative_importances=(1.0,)))
    with pytest.raises(ConfigError, match="^point_layout: "):
        validate_config(config.replace(point_layout="diagonal"))
    from engine.experiments.sparsity import SPARSITY

    with pytest.raises(ConfigError, match="^point_layout: "):
        validate_config(SPARSITY.config("tiny").replace(point_layout="pairs"))


BAD = [
    (["--refine", "0"], "refine: must be a whole number from 1 to 8"),
    (["--refine", "x"], "refine: must be a whole number from 1 to 8, got 'x'"),
    (["--refine", "99"], "refine: must be a whole number from 1 to 8"),
    (["--refine", "2", "--coarse", "1"], "coarse: must be a whole number from 2 to 64"),
    (["--coarse", "4"], "coarse: applies with --refine only"),
    (["--refine", "2", "--grid", "4x4"], "grid: does not combine with --refine"),
    (["--refine", "2", "--steps", "0"], "steps: must be"),
]


@pytest.mark.parametrize("extra,message", BAD, ids=[" ".join(e) for e, _ in BAD])
def test_bad_refine_values_get_one_line_naming_the_field_and_nothing_is_written(extra, message, capsys,
                                                                                isolated_data_dir):
    assert main(["train", "phase", "-a", "relu", *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not any(isolated_data_dir.iterdir())


def test_refine_names_the_phase_preset(capsys, isolated_data_dir):
    assert main(["train", "sparsity", "--refine", "2"]) == 2
    assert "refine: refines a phase diagram: the phase preset only" in capsys.readouterr().err
    assert not any(isolated_data_dir.iterdir())


@pytest.mark.slow
def test_a_refinement_runs_level_by_level_through_the_queue_after_its_client_left(isolated_data_dir):
    proc = supertui(isolated_data_dir, "train", "phase", "-a", "relu", "--refine", "2", "--coarse", "3", "--steps",
                    "150", "--seeds", "2", "--batch-size", "64", "--snapshots", "0", "--no-compile", "--detach")
    assert proc.returncode == 0, proc.stderr
    refinement_id = proc.stdout.split()[0]
    store = RunStore(isolated_data_dir)
    index_path = store.sweeps_dir / f"{refinement_id}.json"
    wait_until(lambda: json.loads(index_path.read_text()).get("ended"), timeout=300)  # the scheduler queued the levels
    index = json.loads(index_path.read_text())
    assert index["ended"].startswith("completed"), index
    records = [store.load(run_id) for run_id in index["runs"]]
    assert len(records) >= 2 and all(r.status == "completed" for r in records)
    assert [r.manifest["sweep"]["axes"]["level"] for r in records] == list(range(len(records)))
    assert records[0].config.point_layout == "pairs" and len(records[0].config.densities) == 9
    # each later level trained only points that are new
    seen = set()
    for record in records:
        points = set(zip(record.config.densities, record.config.relative_importances))
        assert not points & seen
        seen |= points
    shown = json.loads(supertui(isolated_data_dir, "show", records[-1].id, "--json").stdout)
    assert shown["refinement"]["id"] == refinement_id and shown["refinement"]["points"] == len(seen)
    for boundary in shown["boundary"]:
        for point in boundary["points"]:
            low, high = point["density_interval"]
            assert low <= point["density"] <= high
    listed = json.loads(supertui(isolated_data_dir, "sweeps", "--json").stdout)
    assert [s["id"] for s in listed] == [refinement_id]


async def test_the_app_draws_a_refinement_level_as_the_whole_refinement_with_its_boundary(tmp_path):
    from engine import run_experiment
    from engine.store.runs import now_iso
    from engine.sweeps.refine import plan_refinement, refinement_boundaries, write_index
    from supertui.app import SupertuiApp

    store = RunStore(tmp_path)
    base = PHASE.config("tiny").replace(steps=150, compile=False, snapshots=2, lr=1e-2)
    plan, first = plan_refinement(base, 1, 4)
    index = {"id": "refine-test-relu", "created": now_iso(), "plan": plan, "runs": [], "ended": None}
    record = run_experiment(first, store, extra={"sweep": {"id": index["id"], "axes": {"level": 0}}})
    write_index(store, {**index, "runs": [record.id]})
    lone = run_experiment(first.replace(densities=(0.05, 0.5, 0.5), relative_importances=(0.3, 0.3, 3.0)), store)
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_run(record.id)
        await pilot.pause()
        view = app.screen
        await pilot.press(str(1 + list(PHASE.panes).index("phase")))
        grid = view.query_one("#phase")
        for _ in range(100):  # the refinement is read in a thread
            await pilot.pause(0.05)
            if grid.trained_count == 49:
                break
        # the refinement on its finest lattice, 7 x 7 here (4 x 4 halved once), each cell its nearest trained point
        assert grid.trained_count == 49
        found = [c for b in refinement_boundaries(store, {**index, "runs": [record.id]})[2] for c in b.crossings]
        assert found and "×" in str(grid.render())  # the boundary it found, drawn over the diagram
        await pilot.press(str(1 + list(PHASE.panes).index("seeds")))  # no grid to draw: said, never a crash
        await pilot.pause()
        assert app.screen is view
        assert "A refinement level: its points lie on no grid" in str(view.query_one("#seeds").render())
        await pilot.press("escape")
        await pilot.pause()
        # a run of paired points outside any refinement: its own points on the grid of their values
        app.open_run(lone.id)
        await pilot.pause()
        await pilot.press(str(1 + list(PHASE.panes).index("phase")))
        await pilot.pause()
        grid = app.screen.query_one("#phase")
        assert grid.trained_count == 3
        assert grid.phase_at(0, 1) is None and grid.phase_at(1, 1) is not None


async def test_f_on_a_phase_run_starts_a_refinement_of_its_settings(tmp_path):
    from engine import run_experiment
    from engine.sweeps.refine import DEFAULT_COARSE, DEFAULT_LEVELS, PREFIX
    from supertui.app import SupertuiApp

    config = PHASE.config("tiny").replace(steps=20, compile=False, snapshots=2)
    record = run_experiment(config, RunStore(tmp_path))
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_run(record.id)
        await pilot.pause()
        await pilot.press("f")
        await pilot.pause()
    store = RunStore(tmp_path)
    (path,) = store.sweeps_dir.glob(f"{PREFIX}*.json")
    index = json.loads(path.read_text())
    assert index["plan"]["levels"] == DEFAULT_LEVELS and index["plan"]["coarse"] == DEFAULT_COARSE
    first = store.load(index["runs"][0])
    assert first.config.point_layout == "pairs" and len(first.config.densities) == DEFAULT_COARSE ** 2
    assert first.config.steps == 20 and first.config.seeds == config.seeds


def test_a_refinement_waits_for_its_level_and_ends_when_a_level_does_not_complete(isolated_data_dir):
    from engine.jobs.queue import JobQueue
    from engine.sweeps.refine import advance, read_refinement, start_refinement

    from engine.store.runs import now_iso
    from engine.sweeps.refine import plan_refinement, write_index

    store = RunStore(isolated_data_dir)
    base = PHASE.config("tiny").replace(compile=False)
    # recorded but its level 0 not yet (its starter is between the two writes): nothing is planned from no run
    plan, _ = plan_refinement(base, 2, 3)
    empty = {"id": "refine-empty", "created": now_iso(), "plan": plan, "runs": [], "ended": None}
    write_index(store, empty)
    assert advance(store, empty) is None and read_refinement(store, "refine-empty")["ended"] is None
    refinement_id, run_id = start_refinement(store, base, 2, 3)
    index = read_refinement(store, refinement_id)
    assert index["runs"] == [run_id] and index["ended"] is None
    assert advance(store, index) is None and advance(store, index) is None  # level 0 still queued: nothing to do
    assert read_refinement(store, refinement_id)["runs"] == [run_id]
    JobQueue(store).cancel([run_id])
    line = advance(store, read_refinement(store, refinement_id))
    assert line is not None and f"level 0 run {run_id} ended cancelled" in line
    ended = read_refinement(store, refinement_id)
    assert ended["ended"] == f"level 0 run {run_id} ended cancelled" and ended["runs"] == [run_id]
    assert advance(store, ended) is None  # an ended refinement stays ended
