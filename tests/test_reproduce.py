"""`reproduce` end to end at the tiny quality: every experiment for all seven activations, every
figure, a report.md with each claim's numbers and verdict; reuse of saved runs; refusal to overwrite."""

from __future__ import annotations

import re

import numpy as np
import pytest

from engine import BLOG_ACTIVATIONS, RunStore
from engine.errors import ConfigError
from engine.export import FigureExistsError
from engine.experiments import get_experiment
from engine.experiments.base import VERDICTS
from engine.experiments.phase import phase_measures
from engine.reproduce import (EXPERIMENTS, experiment_configs, planned_paths, reproduce, same_experiment, tiny_config,
                              variant_configs)
from supertui.cli import main
from supertui.blog import CLAIMS as BLOG_CLAIMS
from supertui.blog import dims_reference
from supertui.cli.reproduce_report import VERDICT_MARK, render_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("reproduce-data"))
    out = tmp_path_factory.mktemp("reproduce-out")
    events = []
    result = reproduce(store, out, quality="tiny", on_progress=events.append, report=render_report,
                       reference=dims_reference())
    return store, out, result, events


DEFAULT_RUNS = len(EXPERIMENTS) * 7
VARIANT_RUNS = 7 + 1  # the dims reference switches: the anthropic profile for all seven, SoLU's instance axis
RUNS = DEFAULT_RUNS + VARIANT_RUNS


@pytest.mark.slow  # shares the all-activations reproduction (minutes); test_faults and the test below cover reproduce by default
def test_every_experiment_trains_for_all_seven_activations(job):
    store, _, result, _ = job
    assert EXPERIMENTS == ("sparsity", "phase", "dims", "correlated")
    assert len(result.trained) == RUNS and not result.reused
    assert set(result.runs) == {(p, a) for p in EXPERIMENTS for a in BLOG_ACTIVATIONS}
    assert set(result.variant_runs) == {("dims", f"{a}@anthropic") for a in BLOG_ACTIVATIONS} | {
        ("dims", "solu@solu_instance_axis")}
    assert result.variant_runs[("dims", "solu@solu_instance_axis")].config.activation_params["axis"] == "instance"
    assert result.variant_runs[("dims", "relu@anthropic")].config.loss_reduction == "mean"
    for (preset, activation), record in result.runs.items():
        assert record.status == "completed" and record.config.activation == activation
        assert "reproduce" in record.tags and "tiny" in record.tags
    refined = {run_id for index, _, _ in result.refinements.values() for run_id in index["runs"]}
    assert set(result.refinements) == set(BLOG_ACTIVATIONS)
    assert {r.id for r in store.list_runs()} == set(result.trained) | refined


@pytest.mark.slow  # shares the all-activations reproduction (minutes); test_faults and the test below cover reproduce by default
def test_every_figure_is_written_as_a_png(job):
    _, out, result, _ = job
    expected = planned_paths(out)
    assert sorted(result.figures) == sorted(p for key, p in expected.items() if key != "report")
    per_run = sum(len(get_experiment(e).figures) for e in EXPERIMENTS)
    # input batches, per run, combined, losses, the refined boundaries of every activation
    assert len(result.figures) == 1 + 7 * per_run + len(EXPERIMENTS) + DEFAULT_RUNS + 1
    for path in result.figures:
        assert path.read_bytes()[:8] == PNG_SIGNATURE, path.name


@pytest.mark.slow  # shares the all-activations reproduction (minutes); test_faults and the test below cover reproduce by default
def test_report_sets_figures_beside_claims_with_measured_tables(job):
    _, out, result, _ = job
    text = result.report.read_text()
    assert result.report == out / "report.md"
    # every figure the report links exists
    links = re.findall(r"\]\((figures/[^)]+\.png)\)", text)
    assert len(set(links)) == len(result.figures)
    assert all((out / link).exists() for link in links)
    # every claim of every experiment is there with its verdict; the blog's words beside the blog's claims only
    claims = [c for e in EXPERIMENTS for c in get_experiment(e).claims]
    for claim in claims:
        assert f"`{claim.id}` · {claim.statement}" in text
    assert text.count("> Blog:") == 1 + sum(not c.id.startswith("correlated.") for c in claims)
    from engine.science.metrics import METRICS

    # the tables name each metric by the one formula the app's headers and the JSON use
    for key in ("represented", "max_interference", "features_per_neuron", "dims_per_feature", "partner_cosine"):
        assert METRICS[key].formula in text, key
    assert "| 1/(1−S) |" in text
    assert "What each activation does with partner pairs" in text
    assert all(f"- **{a}**: correlated: " in text for a in BLOG_ACTIVATIONS)
    # the D* table: one row per density, one column per activation, numbers measured from the runs
    dims = result.runs[("dims", "relu")]
    lines = text.splitlines()
    header = lines.index("| 1/(1−S) | " + " | ".join(BLOG_ACTIVATIONS) + " |")
    dstar_rows = lines[header + 2: header + 2 + len(dims.config.densities)]
    assert all(re.match(r"^\| \d", row) for row in dstar_rows)
    assert lines[header + 2 + len(dims.config.densities)] == ""
    from engine.science.metrics import dims_per_feature

    first = float(dstar_rows[0].split("|")[3])  # column 2 is relu (after linear)
    assert first == pytest.approx(float(dims_per_feature(dims.arrays.W[0])), rel=5e-3)
    assert "`phase.relu_matches_exact_reference`" in text


@pytest.mark.slow  # shares the all-activations reproduction (minutes); test_faults and the test below cover reproduce by default
def test_progress_covers_the_whole_job(job):
    *_, events = job
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions), "the whole-job fraction never goes back"
    assert fractions[-1] == 1.0 and events[-1].stage == "done"
    assert {e.stage for e in events} >= {"train", "export", "report", "done"}
    assert all(e.line() for e in events)


@pytest.mark.slow  # shares the all-activations reproduction (minutes); test_faults and the test below cover reproduce by default
def test_a_second_run_reuses_saved_runs_and_refuses_to_overwrite(job):
    store, out, first, _ = job
    with pytest.raises(FigureExistsError, match="report.md"):
        reproduce(store, out, quality="tiny", report=render_report)
    refined = sum(len(index["runs"]) for index, _, _ in first.refinements.values())
    assert len(store.list_runs()) == RUNS + refined, "the refusal came before any training"
    subset = ("relu", "tanh")  # fewer figures to draw; the reuse logic is the same for all
    again = reproduce(store, out, quality="tiny", force=True, activations=subset, report=render_report)
    assert not again.trained
    assert sorted(again.reused) == sorted([first.runs[(p, a)].id for p in EXPERIMENTS for a in subset]
                                          + [first.variant_runs[("dims", f"{a}@anthropic")].id for a in subset])


@pytest.mark.slow  # shares the all-activations reproduction (minutes); test_faults and the test below cover reproduce by default
def test_fresh_trains_again(job, tmp_path):
    store, *_ = job
    result = reproduce(store, tmp_path, quality="tiny", fresh=True, activations=("relu",), report=render_report)
    assert len(result.trained) == len(EXPERIMENTS) + 1 and not result.reused  # and relu's anthropic variant
    assert (tmp_path / "report.md").exists()


def test_matching_ignores_how_a_run_was_computed():
    a = tiny_config("phase", "relu")
    assert same_experiment(a, a.replace(compile=True, device="cpu", snapshots=9))
    assert not same_experiment(a, a.replace(steps=41))
    assert not same_experiment(a, tiny_config("phase", "gelu"))


def test_quick_and_paper_use_the_presets():
    quick = experiment_configs("quick")
    assert len(quick) == DEFAULT_RUNS and {c.preset for c in quick} == set(EXPERIMENTS)
    assert len(variant_configs("quick")) == VARIANT_RUNS
    assert quick[0].to_dict() == {**quick[0].to_dict(), "steps": 5_000, "n": 10, "m": 5}
    with pytest.raises(ConfigError, match="quality"):
        experiment_configs("fast")


def test_some_experiments_only_train_plan_and_report_only_those(tmp_path):
    """`--experiments`: a CPU reproduces at paper settings what it can in an afternoon; the report
    says what was left out, and no claim of a left-out experiment is judged."""
    assert {c.preset for c in experiment_configs("paper", experiments=("sparsity", "correlated"))} == {
        "sparsity", "correlated"}
    assert variant_configs("quick", experiments=("sparsity",)) == []  # the reference switches are the dims experiment's
    paths = planned_paths(tmp_path, experiments=("dims",))
    assert paths and all(":" not in key or key.split(":")[1] == "dims" for key in paths)
    with pytest.raises(ConfigError, match="experiments: .*'dimz'"):
        experiment_configs("quick", experiments=("dimz",))

    store = RunStore(tmp_path / "data")
    result = reproduce(store, tmp_path / "out", quality="tiny", activations=("relu",), experiments=("sparsity",),
                       report=render_report)
    assert {preset for preset, _ in result.runs} == {"sparsity"} and set(result.measured) == {"sparsity"}
    report = result.report.read_text()
    assert "Left out of this reproduction (`--experiments`): phase, dims, correlated." in report
    assert re.search(r"\bsparsity\.[a-z_]+", report)
    assert not re.search(r"\b(phase|dims|correlated)\.[a-z_]+", report)


def test_an_unknown_experiment_is_one_line_and_exit_2_with_nothing_written(tmp_path, capsys):
    code = main(["--data-dir", str(tmp_path / "data"), "reproduce", "--experiments", "sparsity", "dimz",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "experiments" in err[0] and "dimz" in err[0] and "correlated" in err[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # shares the all-activations reproduction (minutes); test_faults and the test below cover reproduce by default
def test_relu_reference_check_counts_every_point(job):
    _, _, result, _ = job
    m = phase_measures(result.runs[("phase", "relu")])
    shares = [m[f"share_{p}"] for p in ("feature1", "feature2", "superposition", "neither")]
    assert sum(shares) == pytest.approx(1.0)
    assert m["reference_points"] == 9  # all of the tiny 3 x 3 grid, near the boundary included
    assert m["reference_near_points"] + m["reference_clear_points"] == 9
    assert sum(m[f"reference_band{i}_points"] for i in range(3)) == 9
    assert 0.0 <= m["reference_match"] <= 1.0


@pytest.mark.slow  # shares the all-activations reproduction (minutes); test_faults and the test below cover reproduce by default
def test_every_claim_has_a_verdict_with_numbers(job):
    """Each blog claim is reproduced, explained, refuted (or not reproduced / not measured), with
    the numbers behind it, in the Verdicts table up front and beside its figure."""
    _, _, result, _ = job
    text = render_report(result)  # the file itself was rewritten by a later subset run (force=True)
    table = text[text.index("## Verdicts"):text.index("## Input batches")]
    for measured in result.measured.values():
        for claim, evidence in measured.claims:
            assert evidence.verdict in VERDICTS and evidence.verdict != "not measured", claim.id
            assert evidence.numbers and all(v is not None for v in evidence.numbers.values()), claim.id
            if claim.id in BLOG_CLAIMS:
                row = next(line for line in table.splitlines() if line.startswith(f"| `{claim.id}` |"))
                assert VERDICT_MARK[evidence.verdict] in row
                assert re.search(r"\d", row.rsplit("|", 2)[1]), f"{claim.id}: no numbers in its reason"
            if evidence.reason:
                assert f"Why {evidence.verdict}: {evidence.reason}" in text
    # the seed populations and the blog's stated D* numbers, in this run's numbers
    assert "Below density 0.1, **gelu**: the lowest-loss seed superposes at" in text
    assert "Our D* against the numbers the blog states in its text" in text
    assert "| sigmoid | line 409: 'The Sigmoid and SoLU activations pack nearly 20 features" in text
    assert "Seed populations below density 0.1" in text and "exact n=2 ReLU optimum" in text


def test_evidence_refuses_an_unknown_verdict():
    from engine.experiments.base import Evidence, verdict

    with pytest.raises(ValueError, match="verdict"):
        Evidence({}, "sort of")
    assert (verdict(True), verdict(False), verdict(False, refuted=True)) == ("reproduced", "not reproduced", "refuted")


@pytest.mark.slow  # shares the all-activations reproduction (minutes); test_faults and the test below cover reproduce by default
def test_cli_reproduce_reuses_runs_and_prints_plain_lines(job, tmp_path, capsys):
    store, *_ = job
    out = tmp_path / "cli"
    code = main(["reproduce", "--quality", "tiny", "--out", str(out), "--data-dir", str(store.data_dir)])
    assert code == 0
    printed = capsys.readouterr()
    assert f"reuse 1/{RUNS} sparsity · linear" in printed.out
    assert str(out / "report.md") in printed.out
    assert f"0 runs trained, {RUNS} reused" in printed.err
    code = main(["reproduce", "--quality", "tiny", "--out", str(out), "--data-dir", str(store.data_dir)])
    assert code == 2 and "already exists" in capsys.readouterr().err


def test_stopping_cancels_cleanly_and_keeps_the_run(tmp_path):
    from engine.reproduce import ReproduceCancelled

    store = RunStore(tmp_path / "data")
    with pytest.raises(ReproduceCancelled, match="sparsity · relu"):
        reproduce(store, tmp_path / "out", quality="tiny", activations=("relu",), should_stop=lambda: True,
                  report=render_report)
    records = store.list_runs()  # every run was queued as one batch; stopping cancels them all, none trains
    # relu's dims reference switch (the anthropic profile) and level 0 of relu's phase refinement
    # are queued beside the four default runs
    assert len(records) == len(EXPERIMENTS) + 2 and {r.status for r in records} == {"cancelled"}
    assert all("reproduce" in r.tags for r in records)
    assert not (tmp_path / "out" / "report.md").exists()
