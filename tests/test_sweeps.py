"""Sweeps over any field, from flags and from a TOML file, kept together under one sweep id."""

from __future__ import annotations

import json

import pytest

from engine import RunStore
from engine.sweeps.plan import SweepPlan, parse_sweep_flag
from supertui.cli import main
from tests.test_queue import supertui, wait_until

FILE = """
preset = "dims"
activations = ["relu", "gelu"]
[fixed]
n = 20
m = 4
steps = 30
densities = [1.0, 0.1]
compile = false
[sweep]
lr = "1e-3:1e-2:2"
init = ["xavier", "xavier_batched"]
"""
FLAGS = ["train", "dims", "-a", "relu", "gelu", "--n", "20", "--m", "4", "--steps", "30", "--densities", "1", "0.1",
         "--no-compile", "--sweep", "lr=1e-3:1e-2:2", "--sweep", "init=xavier,xavier_batched"]


def queued_configs(data_dir) -> list[dict]:
    store = RunStore(data_dir)
    return sorted((r.config.to_dict() for r in store.list_runs()), key=lambda c: json.dumps(c, sort_keys=True))


def test_flags_and_a_toml_file_queue_identical_configs(tmp_path, capsys):
    (tmp_path / "sweep.toml").write_text(FILE)
    assert main([*FLAGS, "--detach", "--data-dir", str(tmp_path / "a")]) == 0
    assert main(["sweep", str(tmp_path / "sweep.toml"), "--detach", "--data-dir", str(tmp_path / "b")]) == 0
    a, b = queued_configs(tmp_path / "a"), queued_configs(tmp_path / "b")
    assert len(a) == 8 and a == b
    assert {c["lr"] for c in a} == {0.001, 0.01}
    assert {c["init"] for c in a} == {"xavier", "xavier_batched"}
    for data_dir in (tmp_path / "a", tmp_path / "b"):
        store = RunStore(data_dir)
        (sweep,) = store.list_sweeps()
        runs = store.list_runs()
        assert sorted(sweep["runs"]) == sorted(r.id for r in runs)
        for run in runs:
            assert run.manifest["sweep"]["id"] == sweep["id"]
            assert set(run.manifest["sweep"]["axes"]) == {"activation", "lr", "init"}
            assert run.manifest["sweep"]["axes"]["lr"] == run.config.lr


BAD_FLAGS = [
    (["--sweep", "lr=abc"], "lr: cannot read 'abc' as a number"),
    (["--sweep", "lr"], "sweep: cannot read 'lr'"),
    (["--sweep", "colour=1,2"], "sweep: cannot sweep 'colour'"),
    (["--sweep", "init=xavier,he"], "init: unknown value 'he'"),
    (["--sweep", "m=5,50"], "m: must be smaller than n=20"),
    (["--sweep", "steps=1.5"], "steps: must be a whole number"),
    (["--sweep", "lr=1e-4:1e-2:100000"], "lr: a range has 1 to 10000 values"),
    (["--sweep", "lr=1e-4:1e-2:70"], "sweep: 140 runs would be queued; pass --yes"),
    (["--sweep", "lr=1,2", "--sweep", "lr=3"], "sweep: lr is swept twice"),
]


@pytest.mark.parametrize("extra,message", BAD_FLAGS, ids=[" ".join(e) for e, _ in BAD_FLAGS])
def test_bad_sweep_values_are_refused_before_any_run_exists(extra, message, capsys, isolated_data_dir):
    argv = ["train", "dims", "-a", "relu", "gelu", "--n", "20", "--m", "4", "--steps", "30", *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (isolated_data_dir / "runs").exists()


BAD_FILES = [
    ("preset = 'dims'\n[sweep]\nlr = ['x']\n", "lr: cannot read 'x' as a number"),
    ("[sweep]\nlr = [1]\n", "preset: the sweep file needs preset"),
    ("preset = 'dims'\ncolour = 1\n", "colour: unknown key in the sweep file"),
    ("preset = 'dims'\nmode = 'random'\n[sweep]\nlr = '1e-4:1e-2'\n", "count: random mode needs a count"),
    ("preset = 'dims'\n[fixed]\nsteps = 0\n", "steps: must be an integer >= 1"),
    ("preset = 'bogus'\n", "preset: unknown preset 'bogus'"),
    ("preset = [", "file: "),
]


@pytest.mark.parametrize("text,message", BAD_FILES, ids=[m for _, m in BAD_FILES])
def test_bad_sweep_files_are_refused_before_any_run_exists(text, message, tmp_path, capsys, isolated_data_dir):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["sweep", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (isolated_data_dir / "runs").exists()


def test_random_mode_is_reproducible_from_its_seed():
    from engine.presets import preset_config

    base = preset_config("dims", n=20, m=4, steps=10)
    plan = SweepPlan(base, ["relu", "gelu"], {"init": ["xavier", "xavier_batched"]}, mode="random", count=5, seed=7,
                     ranges={"lr": (1e-4, 1e-2)})
    first, again = plan.points(), plan.points()
    assert [p.axes for p in first] == [p.axes for p in again] and len(first) == 5
    assert all(1e-4 <= p.config.lr <= 1e-2 for p in first)


def test_ranges_are_log_spaced_and_whole_numbers_rounded():
    assert parse_sweep_flag("lr=1e-4:1e-2:3") == ("lr", pytest.approx([1e-4, 1e-3, 1e-2]))
    assert parse_sweep_flag("m=2:8:3") == ("m", [2, 4, 8])
    assert parse_sweep_flag("param.eps=0.1,0.2") == ("param.eps", [0.1, 0.2])


def test_reference_switches_sweep_by_name():
    from engine.errors import ConfigError
    from engine.presets import preset_config

    assert parse_sweep_flag("param.axis=feature,instance") == ("param.axis", ["feature", "instance"])
    assert parse_sweep_flag("loss_reduction=sum,mean") == ("loss_reduction", ["sum", "mean"])
    plan = SweepPlan(preset_config("dims", n=20, m=4, steps=10), ["solu"], {"param.axis": ["feature", "instance"]})
    assert [p.config.activation_params for p in plan.points()] == [{"axis": "feature"}, {"axis": "instance"}]
    with pytest.raises(ConfigError, match="a range needs numbers"):
        parse_sweep_flag("param.axis=a:b:2")
    with pytest.raises(ConfigError, match="axis must be one of feature, instance"):
        SweepPlan(preset_config("dims", n=20, m=4), ["solu"], {"param.axis": ["batch"]}).points()


def test_a_sweep_of_four_runs_completes_and_runs_lists_exactly_those(isolated_data_dir):
    proc = supertui(isolated_data_dir, "train", "sparsity", "--n", "6", "--m", "3", "--steps", "40", "--batch-size",
                    "64", "--no-compile", "--sweep", "lr=1e-3,3e-3", "--sweep", "init=xavier,xavier_batched",
                    "--detach")
    assert proc.returncode == 0, proc.stderr
    ids = proc.stdout.split()
    supertui(isolated_data_dir, "train", "custom", "--n", "4", "--m", "2", "--steps", "20", "--no-compile", "--detach")
    store = RunStore(isolated_data_dir)
    wait_until(lambda: all(store.load(i).status == "completed" for i in ids), timeout=240)
    (sweep,) = json.loads(supertui(isolated_data_dir, "sweeps", "--json").stdout)
    assert sweep["runs"] == 4 and sweep["statuses"].get("completed") == 4
    listed = json.loads(supertui(isolated_data_dir, "runs", "--sweep", sweep["id"][:22], "--json").stdout)
    assert sorted(r["id"] for r in listed) == sorted(ids)
    shown = json.loads(supertui(isolated_data_dir, "show", ids[0], "--json").stdout)
    assert shown["sweep"]["id"] == sweep["id"] and set(shown["sweep"]["axes"]) == {"lr", "init"}
