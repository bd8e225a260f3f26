"""A run's history as tables: `supertui export RUN --format csv|parquet|json` and
engine.export.tables.load_run_tables agree with the saved arrays, row for row."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from engine import RunStore, run_experiment
from engine.export.tables import load_run_tables, plain_float
from engine.reproduce import tiny_config
from supertui.cli import main


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tables-data")


@pytest.fixture(scope="module")
def phase_run(data_dir):
    return run_experiment(tiny_config("phase", "relu").replace(steps=15), RunStore(data_dir))


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_csv_is_long_form_with_the_grid_values_and_the_config(phase_run, data_dir, tmp_path, capsys):
    assert main(["export", phase_run.id, "--format", "csv", "--out", str(tmp_path), "--data-dir", str(data_dir)]) == 0
    printed = capsys.readouterr().out.split()
    assert [p.rsplit("_", 1)[-1] for p in printed] == ["loss.csv", "dstar.csv", "points.csv", "config.json"]
    a = phase_run.arrays
    rows = read_csv(tmp_path / f"{phase_run.id}_loss.csv")
    T, K = a.loss_history.shape
    assert len(rows) == T * K
    assert list(rows[0]) == ["step", "instance", "loss", "point", "seed", "density", "relative_importance"]
    last = rows[(T - 1) * K + 3]  # the last recorded step, instance 3
    assert int(last["step"]) == int(a.loss_steps[-1]) and int(last["instance"]) == 3
    assert np.float32(float(last["loss"])) == a.loss_history[-1, 3]
    assert float(last["density"]) == plain_float(a.instances.density[3])
    assert len(last["density"]) <= 8  # shortest decimal, not float32 noise
    points = read_csv(tmp_path / f"{phase_run.id}_points.csv")
    assert len(points) == len(np.unique(a.instances.point)) and "winner" in points[0]
    dstar = read_csv(tmp_path / f"{phase_run.id}_dstar.csv")
    assert {"step", "point", "density", "dstar"} == set(dstar[0])
    config = json.loads((tmp_path / f"{phase_run.id}_config.json").read_text())
    assert config["config"]["lr"] == phase_run.config.lr and config["run"] == phase_run.id


def test_json_and_parquet_hold_the_same_tables(phase_run, data_dir, tmp_path, capsys):
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    args = [phase_run.id, "--data-dir", str(data_dir), "--out", str(tmp_path)]
    assert main(["export", *args, "--format", "json"]) == 0
    assert main(["export", *args, "--format", "parquet"]) == 0
    body = json.loads((tmp_path / f"{phase_run.id}.json").read_text())
    parquet = pq.read_table(tmp_path / f"{phase_run.id}_loss.parquet")
    assert parquet.column_names == list(body["tables"]["loss"])
    assert parquet.column("loss").to_pylist() == body["tables"]["loss"]["loss"]
    assert json.loads(parquet.schema.metadata[b"supertui.config"])["config"]["activation"] == "relu"
    assert main(["export", *args, "--format", "json"]) == 2  # exists: refused, one line
    assert "exists" in capsys.readouterr().err


def test_load_run_tables_gives_dataframes(phase_run, data_dir):
    pytest.importorskip("pandas")
    t = load_run_tables(phase_run.id[:-4], data_dir=data_dir)  # a unique prefix works
    a = phase_run.arrays
    assert len(t.loss) == a.loss_history.size
    final = t.loss[t.loss.step == t.loss.step.max()].sort_values("instance")
    np.testing.assert_array_equal(final.loss.to_numpy(np.float32), a.loss_history[-1])
    assert t.config["activation"] == "relu" and len(t.points) == len(np.unique(a.instances.point))
    assert load_run_tables(phase_run.path).run_id == phase_run.id  # a run folder works too


def test_tables_refuse_sweep_and_bad_format(phase_run, data_dir, tmp_path, capsys):
    assert main(["export", phase_run.id, "--format", "csv", "--sweep", "x", "--out", str(tmp_path),
                 "--data-dir", str(data_dir)]) == 2
    assert "sweep" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_show_json_writes_float32_values_as_their_digits(phase_run, data_dir, capsys):
    """0.01 stays 0.01 in `show --json`, not its float64 widening 0.009999999776482582."""
    assert main(["show", phase_run.id, "--json", "--data-dir", str(data_dir)]) == 0
    shown = json.loads(capsys.readouterr().out)
    densities = {i["density"] for i in shown["instances"]} | {p["density"] for p in shown["points"]}
    assert densities == {plain_float(d) for d in phase_run.config.densities}
    assert all(len(repr(d)) <= 10 for d in densities), densities
    assert {p["relative_importance"] for p in shown["points"]} == {plain_float(r) for r in phase_run.config.relative_importances}
    assert shown["instances"][0]["loss"] == float(phase_run.arrays.final_loss[0])  # float64: every digit kept
