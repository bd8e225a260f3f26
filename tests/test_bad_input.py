"""Bad input and unwritable destinations (issue 15): refused before anything is allocated,
trained or written, in one line naming the field, exit status 2; export never writes outside
--out; a disk that fills up mid-way is one line and exit status 1, never half a file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.experiments import instance_count, validate_config
from engine.config import RunConfig
from engine.errors import ConfigError
from engine.training.memory import EVAL_CHUNK, estimate, snapshot_count
from engine.store.runs import RunRecord, RunStore
from conftest import fill, mounted_tmpfs
from handmade import CONFIG, write_run
from supertui.cli import main

GOOD = "20260101-100000-custom-relu-00000000"
OTHER = "20260101-100500-custom-tanh-22222222"


def nothing_written(data_dir: Path) -> bool:
    return not (data_dir / "runs").exists() or not any((data_dir / "runs").iterdir())


BAD_INPUTS = [
    (["train", "phase", "--grid", ""], "grid: cannot read ''"),
    (["train", "phase", "--grid", "10000000000x1"], "grid: each side must be at most 10,000"),
    (["train", "sparsity", "--densities", "1:0.5:1000000000"], "densities: '1:0.5:1000000000' asks for 1,000,000,000 values"),
    (["train", "sparsity", "--densities", "1:0:3"], "densities: '1:0:3': HIGH and LOW must lie in (0, 1]"),
    (["train", "sparsity", "--lr", "1e30"], "lr: must be a number in (0, 10]"),
    (["train", "sparsity", "--steps", str(10**30)], "steps: must be at most 1,000,000,000"),
    (["train", "sparsity", "--seeds", "100000"], "seeds: must be at most 10,000"),
    (["train", "sparsity", "--n", "1000000"], "n: must be at most 100,000"),
    (["train", "sparsity", "--weight-decay", "1e300"], "weight_decay: must be a number in [0, 100]"),
    (["train", "sparsity", "-a", "stretched_sigmoid", "--param", "eps=1e308"], "activation_params.eps: must be a number within"),
    (["train", "phase", "--grid", "2000x2000"], "densities: this run would train 12,000,000 instances, at most 1,000,000"),
    (["--data-dir", "", "runs"], "data-dir: is empty"),
    (["--data-dir", "/dev/null", "runs"], "data-dir: /dev/null is not a folder"),
    (["train", "custom", "--data-dir", "/dev/null", "--detach"], "data-dir: /dev/null is not a folder"),
    (["export", GOOD, "--out", ""], "out: is empty"),
    (["export", GOOD, "--out", "/dev/null/x"], "out: cannot create /dev/null/x: a part of its path is not a folder"),
    (["export", GOOD, "--out", "/dev/null"], "out: /dev/null exists and is not a folder"),
    (["reproduce", "--quality", "tiny", "--out", "/dev/null/x"], "out: cannot create /dev/null/x/figures"),
]


@pytest.mark.parametrize("argv,message", BAD_INPUTS, ids=[" ".join(a) or "empty" for a, _ in BAD_INPUTS])
def test_bad_input_is_refused_first_in_one_line_exit_2(argv, message, capsys, isolated_data_dir):
    write_run(isolated_data_dir, GOOD)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("supertui: error: ") and message in err, err
    assert [p.name for p in (isolated_data_dir / "runs").iterdir()] == [GOOD]  # nothing trained or queued
    assert not (isolated_data_dir / "queue").exists()


def test_export_to_an_existing_file_is_refused(isolated_data_dir, tmp_path, capsys):
    write_run(isolated_data_dir, GOOD)
    target = tmp_path / "a-file"
    target.write_text("mine")
    assert main(["export", GOOD, "--out", str(target)]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
    assert target.read_text() == "mine"


def test_snapshots_beyond_the_cap_are_accepted_and_cost_nothing_more():
    config = validate_config(CONFIG.replace(snapshots=100_000_000), available_memory_bytes=1 << 30)
    assert snapshot_count(config, instance_count(config)) < 100_000_000
    assert estimate(config, 4).state == estimate(CONFIG.replace(snapshots=snapshot_count(config, 4)), 4).state


def test_the_memory_estimate_counts_the_evaluation_and_names_what_is_too_big():
    wide = RunConfig(preset="custom", n=50_000, m=1, batch_size=1, densities=(1.0,))
    assert estimate(wide, 1).evaluation >= 4 * EVAL_CHUNK * 50_000  # 8,192 samples of 50,000 features at once
    with pytest.raises(ConfigError, match=r"^n: this run needs about .* lower n"):
        validate_config(wide, available_memory_bytes=8 << 30)
    with pytest.raises(ConfigError, match=r"^batch_size: this run needs about"):
        validate_config(RunConfig(preset="custom", n=100, m=5, batch_size=10_000_000), available_memory_bytes=8 << 30)
    many = RunConfig(preset="custom", n=1000, m=500, densities=tuple(1 / (i + 1) for i in range(2000)))
    with pytest.raises(ConfigError, match=r"^densities: this run needs about"):
        validate_config(many, available_memory_bytes=8 << 30)


def test_configs_from_files_are_typed_field_by_field():
    for data, message in (({"densities": "abc"}, "densities: must be a list of numbers"),
                          ({"n": "4"}, "n: must be an integer"), ({"lr": True}, "lr: must be a number"),
                          ({"activation_params": {"eps": [1]}}, "activation_params: must be a table"),
                          ({"activation_params": 5}, "activation_params: must be a table"),
                          ({"compile": 1}, "compile: must be true or false"), ([], "config: must be a table")):
        with pytest.raises(ConfigError, match=f"^{message}"):
            RunConfig.from_dict(data)
    assert RunConfig.from_dict({"densities": [1, 0.5], "lr": 1}).densities == (1.0, 0.5)


# --------------------------------------------------------------------------- export stays inside --out


def test_export_never_writes_outside_out_whatever_a_run_folder_says(isolated_data_dir, tmp_path, capsys):
    write_run(isolated_data_dir, GOOD)
    evil = write_run(isolated_data_dir, OTHER)
    manifest = json.loads((evil / "manifest.json").read_text())
    manifest["config"]["activation"] = "x/../../../../elsewhere/PWNED"
    (evil / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "deep" / "er" / "figs"
    assert main(["export", GOOD, OTHER, "--out", str(out)]) == 2  # the copied run is refused when read
    assert "activation" in capsys.readouterr().err
    # and however a record got its activation, the export names files only from plain parts
    from engine.export import export_runs

    store = RunStore(isolated_data_dir)
    good = store.load(GOOD)
    crafted = RunRecord(id=OTHER, path=evil, manifest=manifest, config=good.config.replace(activation="x/../../../../elsewhere/PWNED"),
                        lock_path=None)
    paths = export_runs([good, crafted], out)
    assert all(p.resolve().parent == out.resolve() for p in paths), paths
    assert [p.name for p in out.iterdir() if p.name.startswith("compare_")] != []
    written = {str(p) for p in tmp_path.rglob("*.png")}
    assert written == {str(p) for p in paths}
    assert not list(tmp_path.rglob("PWNED*"))


def test_the_apps_export_never_overwrites(isolated_data_dir):
    from engine.export import export_runs, free_destination, plan_exports

    write_run(isolated_data_dir, GOOD)
    records = [RunStore(isolated_data_dir).load(GOOD)]
    base = isolated_data_dir / "exports"
    names = [p.path.name for p in plan_exports(records, base)]
    first = free_destination(base, names)
    assert first == base
    export_runs(records, first)
    before = {p: p.stat().st_mtime_ns for p in base.iterdir()}
    second = free_destination(base, names)
    assert second == base.with_name("exports-2")
    export_runs(records, second)
    assert {p: p.stat().st_mtime_ns for p in base.iterdir()} == before
    assert sorted(p.name for p in second.iterdir()) == sorted(p.name for p in before)


# --------------------------------------------------------------------------- unwritable and full disks


def test_export_to_a_read_only_folder_is_refused_before_drawing(isolated_data_dir, tmp_path, capsys, unprivileged,
                                                                  public_data_dir):
    write_run(public_data_dir, GOOD)
    out = public_data_dir / "figs"
    out.mkdir(mode=0o555)
    out.chmod(0o555)
    with unprivileged():
        assert main(["export", GOOD, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"out: cannot write into {out} (permission denied)" in err
    with mounted_tmpfs(tmp_path / "ro", "size=1m,ro"):
        assert main(["export", GOOD, "--data-dir", str(public_data_dir), "--out", str(tmp_path / "ro")]) == 2
        assert "(read-only file system)" in capsys.readouterr().err


def test_a_full_disk_during_export_is_one_line_exit_1_and_no_half_file(isolated_data_dir, tmp_path, capsys):
    write_run(isolated_data_dir, GOOD)
    with mounted_tmpfs(tmp_path / "disk", "size=256k") as disk:
        fill(disk, 20_000)  # room for a figure or two, not for all three
        assert main(["export", GOOD, "--out", str(disk / "figs")]) == 1
        out, err = capsys.readouterr()
        assert err.count("\n") == 1 and "no space left on device" in err, err
        printed = out.split()
        assert all(Path(p).exists() for p in printed)  # what was reported written is there, whole
        assert sorted(p.name for p in (disk / "figs").iterdir()) == sorted(Path(p).name for p in printed)


def test_training_into_a_read_only_data_dir_is_refused_before_queueing(public_data_dir, capsys, unprivileged):
    (public_data_dir / "runs").mkdir(mode=0o555)
    (public_data_dir / "runs").chmod(0o555)
    with unprivileged():
        assert main(["train", "custom", "--detach"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data-dir: cannot write into" in err and "permission denied" in err
    assert not list((public_data_dir / "runs").iterdir())


# --------------------------------------------------------------------------- small oddities


def test_runs_json_into_a_closed_pipe_is_quiet(isolated_data_dir):
    for i in range(30):
        write_run(isolated_data_dir, f"20260101-1000{i:02d}-custom-relu-000000{i:02d}")
    proc = subprocess.run(f"{sys.executable} -m supertui runs --json | head -1", shell=True, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert proc.stdout == "[\n" and proc.stderr == ""


def test_rm_names_each_run_once_and_run_ids_take_unique_prefixes(isolated_data_dir, capsys):
    write_run(isolated_data_dir, GOOD)
    write_run(isolated_data_dir, OTHER)
    assert main(["show", "20260101-1000"]) == 0 and GOOD in capsys.readouterr().out
    assert main(["show", "20260101-10"]) == 2 and "is the start of 2 runs" in capsys.readouterr().err
    assert main(["rm", GOOD, GOOD, GOOD[:16]]) == 0
    assert capsys.readouterr().out == f"deleted {GOOD}\n"
    assert [p.name for p in (isolated_data_dir / "runs").iterdir()] == [OTHER]
