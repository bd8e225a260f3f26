"""The experiment registry: every experiment is one object that the engine, the CLI, the app and
export ask; the modules that describe runs never import torch; one palette for app and PNGs;
runs saved before experiments existed still open."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.experiments import instance_count, validate_config
from engine import RunConfig, RunStore
from engine.errors import ConfigError
from engine.experiments import experiment_for, experiment_names, get_experiment
from engine.experiments.base import FIGURES, PANES
from engine.experiments import instance_table

ROOT = Path(__file__).resolve().parents[1]
TORCH_FREE = ("engine.training.activations", "engine.config", "engine.experiments", "engine.experiments.base",
              "engine.experiments.sparsity", "engine.experiments.phase", "engine.experiments.dims",
              "engine.experiments.custom", "engine.experiments.correlated", "engine.science.metrics", "engine.science.phase",
              "engine.store.run_json", "engine.store.runs", "engine.palette", "engine.profiles", "engine.science.convergence", "engine.jobs.resume")


def test_describing_runs_never_imports_torch():
    """Checked without engine/__init__.py (whose own imports are another matter): the package is
    stubbed, then each module is imported on its own, and a config is validated and laid out."""
    code = f"""
import importlib, sys, types
package = types.ModuleType("engine"); package.__path__ = [{str(ROOT / 'engine')!r}]; sys.modules["engine"] = package
for name in {TORCH_FREE!r}:
    importlib.import_module(name)
from engine.experiments import get_experiment, validate_config
for name in ("sparsity", "phase", "dims", "correlated", "custom"):
    experiment = get_experiment(name)
    config = validate_config(experiment.config("tiny"))
    experiment.instance_table(config)
print("torch" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == "False"


def test_the_registry_lists_every_experiment_and_names_them_when_one_is_unknown():
    assert experiment_names() == ["sparsity", "phase", "dims", "correlated", "custom"]
    with pytest.raises(ConfigError, match="unknown preset 'nope' .*custom"):
        get_experiment("nope")
    with pytest.raises(ConfigError, match="^preset: .*correlated.*custom"):
        validate_config(RunConfig(preset="nope"))


@pytest.mark.parametrize("name", ["sparsity", "phase", "dims", "correlated", "custom"])
def test_each_experiment_owns_its_settings_panes_and_figures(name):
    experiment = get_experiment(name)
    for quality in ("quick", "paper", "tiny"):
        config = validate_config(experiment.config(quality))
        assert config.preset == name and experiment_for(config) is experiment
        table = instance_table(config)
        assert len(table) == instance_count(config)  # point-major, seed-minor
        assert np.array_equal(table.point, np.repeat(np.arange(instance_count(config) // config.seeds), config.seeds))
    assert set(experiment.panes) <= set(PANES) and experiment.panes[0] == "loss"
    assert experiment.compare_pane in PANES
    assert set(experiment.figures) <= set(FIGURES)


def test_an_unknown_experiment_saved_by_a_newer_version_opens_as_custom():
    assert experiment_for(RunConfig(preset="from-the-future")).name == "custom"


def test_experiment_specific_checks_name_the_field():
    with pytest.raises(ConfigError, match="^relative_importances: belong to the phase experiment"):
        validate_config(get_experiment("sparsity").quick.replace(n=2, m=1, relative_importances=(1.0,)))
    with pytest.raises(ConfigError, match="^relative_importances: the phase experiment needs"):
        validate_config(get_experiment("phase").quick.replace(relative_importances=None))
    with pytest.raises(ConfigError, match="^n: features come in pairs"):
        validate_config(get_experiment("correlated").quick.replace(n=5))
    # custom takes any shape, relative importances included (they become a second grid axis)
    custom = validate_config(RunConfig(preset="custom", n=2, m=1, densities=(0.1, 1.0), relative_importances=(0.5, 2.0)))
    assert instance_count(custom) == 4 and experiment_for(custom).panes == get_experiment("custom").panes


def test_one_palette_for_the_app_and_the_figures():
    from engine.training.activations import BLOG_ACTIVATIONS
    from engine.export.figures import feature_colours
    from engine.export.style import PHASE_COLOURS, activation_style
    from supertui.widgets import palette

    for name in (*BLOG_ACTIVATIONS, "stretched_sigmoid"):
        assert palette.activation_color(name) == activation_style(name)["color"], name
    assert dict(palette.PHASE_COLORS) == dict(PHASE_COLOURS)
    assert [palette.feature_color(i) for i in range(20)] == feature_colours(20)
    assert len({palette.activation_color(a) for a in BLOG_ACTIVATIONS}) == len(BLOG_ACTIVATIONS)


# --------------------------------------------------------------------------- runs saved before


def write_old_run(data_dir: Path, run_id: str, config: dict, K: int, n: int, m: int, relative: bool = False) -> Path:
    """A run in the layout of format_version 1 as first released: no loss errors, no pair arrays,
    no experiment fields. Written by hand so it stays old whatever the writer does now."""
    rng = np.random.default_rng(0)
    path = data_dir / "runs" / run_id
    path.mkdir(parents=True)
    manifest = {
        "format": "supertui-run", "format_version": 1, "id": run_id, "config": config, "seeds": [0, 1],
        "instances": K, "status": "completed", "created": "2026-01-01T10:00:00+00:00",
        "updated": "2026-01-01T10:00:00+00:00", "finished": "2026-01-01T10:00:00+00:00", "device": "cpu",
        "compiled": False, "steps_done": config["steps"], "elapsed_seconds": 1.0, "versions": {}, "host": "old",
        "pid": None, "tags": [], "note": "", "warnings": [], "error": None,
        "summary": {"final_loss": 0.1, "best_loss": 0.05, "diverged": 0, "loss_sparkline": [0.3, 0.2, 0.1]},
    }
    (path / "manifest.json").write_text(json.dumps(manifest))
    seeds = config["seeds"]
    points = K // seeds
    arrays = {
        "W": rng.normal(size=(K, m, n)).astype(np.float32),
        "b": np.zeros((K, n), np.float32),
        "final_loss": rng.uniform(0.01, 0.1, K),
        "loss_steps": np.array([5, 10]),
        "loss_history": rng.uniform(0.01, 0.3, (2, K)).astype(np.float32),
        "snapshot_steps": np.array([0, 10]),
        "snapshots": rng.normal(size=(2, K, m, n)).astype(np.float32),
        "diverged": np.zeros(K, bool),
        "density": np.repeat(np.geomspace(1, 0.01, points // (3 if relative else 1)), seeds * (3 if relative else 1)).astype(np.float32),
        # The importances the config makes (a real run saved them): decaying by importance_decay,
        # or (phase) the first feature 1 and the second its relative importance.
        "importance": np.tile(config["importance_decay"] ** np.arange(n), (K, 1)).astype(np.float32),
        "seed": np.tile(np.arange(seeds), points),
        "point": np.repeat(np.arange(points), seeds),
    }
    if relative:
        arrays["relative_importance"] = np.tile(np.repeat([0.5, 1.0, 2.0], seeds), points // 3).astype(np.float32)
        arrays["importance"] = np.stack([np.ones(K), arrays["relative_importance"]], axis=1).astype(np.float32)
    np.savez(path / "arrays.npz", **arrays)
    return path


def _old_config(preset: str, n: int, m: int, densities, seeds: int, relatives=None) -> dict:
    config = RunConfig(preset=preset, n=n, m=m, densities=tuple(densities), seeds=seeds, steps=10,
                       relative_importances=relatives).to_dict()
    return config


OLD_INSTANCE_FIELDS = {"density", "importance", "seed", "loss", "diverged", "W", "b", "feature_norms",
                       "feature_dimensionality", "superposition", "dims_per_feature"}
OLD_TOP_FIELDS = {"id", "preset", "activation", "n", "m", "steps", "status", "device", "created", "finished",
                  "steps_done", "config", "tags", "note", "instances", "phase_grid"}


@pytest.fixture
def old_runs(tmp_path):
    data = tmp_path / "data"
    write_old_run(data, "old-sparsity", _old_config("sparsity", 6, 3, np.geomspace(1, 0.01, 4), 2), K=8, n=6, m=3)
    write_old_run(data, "old-phase", _old_config("phase", 2, 1, np.geomspace(1, 0.01, 2), 2, (0.5, 1.0, 2.0)),
                  K=12, n=2, m=1, relative=True)
    return data


def test_runs_saved_in_the_old_layout_open_and_keep_every_json_field(old_runs, capsys):
    from engine.store.run_json import run_to_json
    from supertui.cli import main

    store = RunStore(old_runs)
    for run_id in ("old-sparsity", "old-phase"):
        record = store.load(run_id)
        assert record.arrays.final_loss_se is None and record.arrays.instances.partner is None
        shown = run_to_json(record)
        assert set(shown) >= OLD_TOP_FIELDS
        assert all(set(entry) >= OLD_INSTANCE_FIELDS for entry in shown["instances"])
        assert shown["instances"][0]["loss_se"] is None  # added, and honest about not knowing
        assert len(shown["points"]) == len(np.unique(record.arrays.instances.point))
    phase = run_to_json(store.load("old-phase"))
    assert len(phase["phase_grid"]) == 6 and {"density", "relative_importance", "phase", "agreement"} <= set(phase["phase_grid"][0])
    assert all("relative_importance" in entry for entry in phase["instances"])
    assert main(["show", "old-sparsity", "--data-dir", str(old_runs)]) == 0
    assert "D*" in capsys.readouterr().out
    assert main(["runs", "--json", "--data-dir", str(old_runs)]) == 0
    assert {row["id"] for row in json.loads(capsys.readouterr().out)} == {"old-sparsity", "old-phase"}


def test_runs_saved_in_the_old_layout_export(old_runs, tmp_path):
    from engine.export import export_runs

    store = RunStore(old_runs)
    paths = export_runs([store.load("old-sparsity"), store.load("old-phase")], tmp_path / "figs")
    assert sorted(p.name for p in paths) == sorted([
        "old-sparsity_wtw.png", "old-sparsity_loss.png", "old-phase_phase.png", "old-phase_seeds.png", "old-phase_loss.png"])


async def test_runs_saved_in_the_old_layout_open_in_the_app(old_runs):
    from supertui.app import SupertuiApp
    from supertui.screens.run_view import RunViewScreen

    app = SupertuiApp(old_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        for run_id, panes in (("old-sparsity", ["loss", "gram", "bars", "norms", "points"]),
                              ("old-phase", ["loss", "gram", "bars", "phase", "seeds"])):
            app.open_run(run_id)
            await pilot.pause()
            view = app.screen
            assert isinstance(view, RunViewScreen)
            assert [p.id for p in view.panes] == panes
            await pilot.press("escape")
            await pilot.pause()
