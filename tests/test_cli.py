import json
import subprocess
import sys

import pytest

from supertui.cli import main

TINY = ["--n", "4", "--m", "2", "--steps", "20", "--batch-size", "32", "--no-compile", "--densities", "1", "0.1"]


def runs_on_disk(data_dir):
    runs = data_dir / "runs"
    return sorted(p.name for p in runs.iterdir()) if runs.exists() else []


BAD_INPUTS = [
    (["train", "sparsity", "--densities", "0"], "densities: each density must lie in (0, 1]"),
    (["train", "sparsity", "--densities", "1.5"], "densities: each density must lie in (0, 1]"),
    (["train", "sparsity", "--densities", "abc"], "densities: cannot read 'abc'"),
    (["train", "sparsity", "--m", "10"], "m: must be smaller than n=10"),
    (["train", "sparsity", "--importance-decay", "0"], "importance_decay: must lie in (0, 1]"),
    (["train", "sparsity", "--importance-decay", "-0.5"], "importance_decay: must lie in (0, 1]"),
    (["train", "sparsity", "-a", "swish"], "activation: unknown activation 'swish' (accepted: linear, relu"),
    (["train", "sparsity", "--steps", "0"], "steps: must be an integer >= 1"),
    (["train", "sparsity", "--device", "cuda"], "device: cuda is not available"),
    (["train", "sparsity", "--device", "tpu"], "device: unknown device 'tpu'"),
    (["train", "dims", "--batch-size", "100000000"], "batch_size: this run needs about"),
    (["train", "phase", "--grid", "40by40"], "grid: cannot read '40by40'"),
    (["train", "sparsity", "--grid", "4x4"], "grid: applies to the phase preset only"),
    (["train", "bogus"], "preset: unknown preset 'bogus' (accepted: sparsity, phase, dims, correlated, custom)"),
    (["train", "sparsity", "-a", "stretched_sigmoid", "--param", "eps=-1"], "activation_params.eps: must be a finite number >= 0"),
    (["train", "sparsity", "-a", "relu", "--param", "eps=1"], "activation_params: relu takes no parameter 'eps'"),
    (["train", "dims", "--profile", "bogus"], "profile: unknown profile 'bogus' (accepted: default, anthropic)"),
    (["train", "dims", "--loss-reduction", "median"], "loss_reduction: unknown loss reduction 'median' (accepted: sum, mean)"),
    (["train", "dims", "-a", "solu", "--param", "axis=batch"],
     "activation_params.axis: solu's axis must be one of feature, instance, got 'batch'"),
    (["train", "dims", "--param", "eps"], "param: cannot read 'eps' (accepted: NAME=VALUE"),
    (["train", "--resume", "no-such-run", "--steps", "5"], "run: no run 'no-such-run'"),
    (["show", "no-such-run"], "run: no run 'no-such-run'"),
    (["show", "../../etc"], "run: invalid run id '../../etc'"),
    (["rm", "no-such-run"], "run: no run 'no-such-run'"),
]


@pytest.mark.parametrize("argv,message", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_naming_the_field_exit_2_nothing_written(argv, message, capsys, isolated_data_dir):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("supertui: error: ") and message in err, err
    assert runs_on_disk(isolated_data_dir) == []


def test_train_saves_one_run_per_activation_and_prints_ids_last(capsys, isolated_data_dir):
    assert main(["train", "sparsity", "-a", "relu", "tanh", *TINY]) == 0
    out_lines = capsys.readouterr().out.strip().splitlines()
    ids = out_lines[-2:]
    assert sorted(ids) == runs_on_disk(isolated_data_dir)
    assert "sparsity-relu" in ids[0] and "sparsity-tanh" in ids[1]


def test_runs_json_and_show_json_contract(capsys):
    assert main(["train", "phase", "-a", "relu", "--grid", "2x3", "--seeds", "2", "--steps", "20", "--no-compile"]) == 0
    run_id = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["runs", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["id"] == run_id and row["preset"] == "phase" and row["status"] == "completed"
    assert set(row) >= {"id", "preset", "activation", "status", "created", "final_loss"}

    assert main(["show", run_id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert set(shown) >= {"id", "preset", "activation", "n", "m", "steps", "status", "device", "instances", "phase_grid"}
    assert (shown["n"], shown["m"], shown["steps"]) == (2, 1, 20)
    assert len(shown["instances"]) == 2 * 3 * 2
    entry = shown["instances"][0]
    assert set(entry) >= {"density", "importance", "seed", "loss", "W", "b", "feature_norms",
                          "feature_dimensionality", "superposition", "dims_per_feature"}
    assert len(entry["W"]) == 1 and len(entry["W"][0]) == 2 and len(entry["importance"]) == 2
    assert len(shown["phase_grid"]) == 6
    point = shown["phase_grid"][0]
    assert set(point) >= {"density", "relative_importance", "phase", "agreement"}  # fields are only added
    assert point["phase"] in {"feature1", "feature2", "superposition", "neither"}
    assert 0 < point["agreement"] <= 1
    # the gap that decided the point, with its paired standard error on the shared evaluation samples
    assert point["loss_gap"] >= 0 and point["loss_gap_se"] >= 0


def test_show_json_of_a_non_phase_run_has_null_phase_grid(capsys):
    assert main(["train", "dims", "--n", "20", "--m", "4", "--densities", "1:0.1:3", "--steps", "10", "--no-compile"]) == 0
    run_id = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["show", run_id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["phase_grid"] is None
    assert [round(i["density"], 4) for i in shown["instances"]] == [1.0, 0.3162, 0.1]
    assert main(["show", run_id]) == 0
    assert "D*" in capsys.readouterr().out


def test_show_names_the_activation_parameters(capsys, isolated_data_dir):
    from engine.config import RunConfig
    from engine.jobs.runner import run_experiment
    from engine.store.runs import RunStore

    config = RunConfig(preset="custom", activation="solu", activation_params={"axis": "instance"}, n=5, m=2,
                       densities=(1.0, 0.1), steps=3, batch_size=16, compile=False)
    run = run_experiment(config, RunStore(isolated_data_dir))
    assert main(["show", run.id]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"{run.id}  custom/solu (axis=instance)  completed"


def test_rm_deletes_and_runs_skips_corrupt_folders(capsys, isolated_data_dir):
    assert main(["train", "custom", *TINY]) == 0
    run_id = capsys.readouterr().out.strip().splitlines()[-1]
    (isolated_data_dir / "runs" / "broken").mkdir()
    assert main(["runs"]) == 0
    captured = capsys.readouterr()
    assert run_id in captured.out
    assert "skipped" in captured.err and "broken" in captured.err
    assert main(["rm", run_id]) == 0
    assert runs_on_disk(isolated_data_dir) == ["broken"]


def test_data_dir_flag_overrides_the_environment(tmp_path, capsys, isolated_data_dir):
    other = tmp_path / "elsewhere"
    assert main(["train", "custom", *TINY, "--data-dir", str(other)]) == 0
    assert len(runs_on_disk(other)) == 1 and runs_on_disk(isolated_data_dir) == []
    capsys.readouterr()
    assert main(["--data-dir", str(other), "runs", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1


def test_the_console_script_runs_as_a_module(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "supertui", "train", "sparsity", "--steps", "0"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "supertui: error: steps: must be an integer >= 1, got 0"


def test_a_profile_sets_its_fields_and_flags_after_it_override_them():
    from supertui.cli import build_parser
    from supertui.cli.train import configs_from_args

    def config(*flags):
        (only,) = configs_from_args(build_parser().parse_args(["train", "dims", *flags]), check_hardware=False)
        return only

    anthropic = config("--profile", "anthropic")
    assert (anthropic.profile, anthropic.loss_reduction, anthropic.optimizer, anthropic.weight_decay, anthropic.init) == (
        "anthropic", "mean", "adamw", 0.01, "xavier_batched")
    overridden = config("--profile", "anthropic", "--weight-decay", "0", "--loss-reduction", "sum")
    assert overridden.profile == "anthropic" and overridden.weight_decay == 0 and overridden.loss_reduction == "sum"
    assert overridden.init == "xavier_batched"
    assert config().profile == "default" and config("-a", "solu", "--param", "axis=instance").activation_params == {
        "axis": "instance"}


def test_commands_that_do_not_train_never_import_torch(capsys, isolated_data_dir):
    """--help, --version, runs, show (JSON too), jobs, cancel, rm and bad input answer without torch:
    importing it costs seconds (benchmarks/command_latency.py measures the ratio)."""
    assert main(["train", "sparsity", "-a", "relu", *TINY]) == 0
    run_id = capsys.readouterr().out.strip().splitlines()[-1]
    code = f"""
import contextlib, io, sys
from supertui.cli import main
calls = [["--help"], ["--version"], ["runs"], ["runs", "--json"], ["show", {run_id!r}], ["show", {run_id!r}, "--json"],
         ["jobs"], ["cancel", {run_id!r}], ["rm", "no-such-run"], ["train", "sparsity", "--densities", "0"],
         ["export", "no-such-run"], ["trian"]]
codes = []
for argv in calls:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            codes.append(main(argv))
        except SystemExit as exit:
            codes.append(exit.code)
print(codes, "torch" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "SUPERTUI_DATA_DIR": str(isolated_data_dir)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2] False", done.stdout


def test_only_the_typed_command_is_loaded_and_listing_commands_skip_numpy(isolated_data_dir):
    """The parser registers the command typed and names the rest: `--help`, `jobs`, `rm`, a typo
    never load train's flag checks (the experiment registry) nor numpy, a tenth of a second each."""
    code = """
import contextlib, io, sys
from supertui.cli import main
codes = []
for argv in (["--help"], ["--version"], ["jobs"], ["rm", "no-such-run"], ["sweeps"], ["trian"]):
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()):
        try:
            codes.append(main(argv))
        except SystemExit as exit:
            codes.append(exit.code)
print(codes, sorted(m for m in ("numpy", "supertui.cli.train", "engine.experiments") if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "SUPERTUI_DATA_DIR": str(isolated_data_dir)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0, 0, 0, 2, 0, 2] []", done.stdout


def test_help_lists_every_command_with_its_summary(capsys):
    from supertui.cli import COMMANDS

    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    for name, summary in COMMANDS.items():
        assert f"{name} {' '.join(summary.split())}" in out


def test_jobs_fits_a_terminal_of_80_columns_and_keeps_every_column_when_piped():
    """`jobs`'s uses column was off-screen at 80 columns: on a terminal it shortens as the app's
    queue does (uses in short, then no rate, then a long name ending in …); piped, it is whole."""
    from engine.system.resources import ResourceSample
    from supertui.cli.jobs import MIN_NAME, table_lines

    rows = [{"id": "20260101-000000-dims-relu-abcdef12", "name": "dims-relu-n400m30-lr0.001-initxavier_batched",
             "status": "running", "device": "cuda:0", "step": 12_000, "steps": 30_000, "steps_per_second": 1234.5,
             "seconds_left": 4321.0, "queue_position": None},
            {"id": "20260101-000001-phase-relu-abcdef13", "name": "phase-relu-40x40", "status": "queued",
             "device": None, "step": 0, "steps": 10_000, "steps_per_second": None, "seconds_left": None,
             "queue_position": 1}]
    samples = {rows[0]["id"]: ResourceSample(398.0, 3 << 30, 87.0, (5 << 30) // 4)}
    whole = table_lines(rows, samples, None)
    assert whole[0].split() == ["run", "status", "device", "step", "rate", "left", "uses"]
    assert rows[0]["name"] in whole[1] and "1,234 it/s" in whole[1] and whole[1].endswith("cpu 398% · 3.0 GiB · gpu 87% 1.2 GiB")
    for width in (80, 100):
        lines = table_lines(rows, samples, width)
        assert all(len(line) <= width for line in lines), lines
        assert lines[1].endswith("cpu 398% 3.0G gpu 87% 1.2G") and "#1 in queue" in lines[2]
        name = lines[1].split()[0]
        assert name == rows[0]["name"] or (name.endswith("…") and len(name) >= MIN_NAME)


def test_runs_shows_each_runs_headline_number_last_and_in_json(tmp_path, capsys):
    """Issue 25: `runs` lists the experiment's headline number saved when each run finished; a
    run saved before runs kept it shows nothing there."""
    from handmade import write_run

    headline = {"label": "D* at density 0.1", "name": "D*", "value": 0.1484}
    write_run(tmp_path, "with-headline", summary={"final_loss": 0.1, "headline": headline})
    write_run(tmp_path, "older-run", summary={"final_loss": 0.2})
    assert main(["runs", "--data-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-1] == "headline"
    by_id = {line.split()[0]: line for line in lines[1:]}
    assert by_id["with-headline"].endswith("D* 0.148") and by_id["older-run"].endswith("0.2")
    assert main(["runs", "--json", "--data-dir", str(tmp_path)]) == 0
    rows = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["with-headline"]["headline"] == headline and rows["older-run"]["headline"] is None
