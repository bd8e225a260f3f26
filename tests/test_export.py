"""Figure export: every figure kind of a tiny run is a valid PNG of the expected size, several
runs give the combined figures, existing files are refused unless forced, and the CLI agrees."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PIL import Image

from engine import RunStore, run_experiment
from engine.errors import ConfigError, StoreError
from engine.experiments import get_experiment
from engine.export import FigureExistsError, export_input_batches, export_runs, figure_kinds
from engine.export.style import DPI
from engine.reproduce import tiny_config
from supertui.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return RunStore(tmp_path_factory.mktemp("export-data"))


@pytest.fixture(scope="module")
def runs(store):
    """Tiny runs of each preset, for two activations: {(preset, activation): RunRecord}."""
    out = {}
    for preset in ("sparsity", "phase", "dims"):
        for activation in ("relu", "gelu"):
            out[(preset, activation)] = run_experiment(tiny_config(preset, activation).replace(steps=15), store)
    return out


def png_size(path) -> tuple[int, int]:
    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def inches(width: float, height: float) -> tuple[int, int]:
    return round(width * DPI), round(height * DPI)


# Figure sizes follow from each layout: (width, height) in inches for these tiny runs.
EXPECTED = {
    ("sparsity", "wtw"): inches(1.55 * 3 + 1.6, 5.9),  # one column per density (3), three rows
    ("sparsity", "loss"): inches(6.4, 4.0),
    ("phase", "phase"): inches(6.2, 4.2),
    ("phase", "seeds"): inches(2.35 * 3 + 1.4, 6.0),  # best-of-seeds, shares, loss gap; one panel per seed (2)
    ("phase", "loss"): inches(6.4, 4.0),
    ("dims", "dims"): inches(8.4, 7.4),  # D* by density over D* by step and the represented features
    ("dims", "loss"): inches(6.4, 4.0),
}


@pytest.mark.parametrize("preset", ["sparsity", "phase", "dims"])
def test_each_figure_of_a_run_is_a_png_of_the_expected_size(runs, tmp_path, preset):
    record = runs[(preset, "relu")]
    paths = export_runs([record], tmp_path)
    kinds = figure_kinds(record)
    assert [p.name for p in paths] == [f"{record.id}_{kind}.png" for kind in kinds]
    assert {kind for (p, kind) in EXPECTED if p == preset} == set(kinds)
    for path, kind in zip(paths, kinds):
        assert png_size(path) == EXPECTED[(preset, kind)], path.name
    assert DPI >= 150
    assert not list(tmp_path.glob(".*.tmp")), "no temporary files are left behind"


def test_input_batches_figure(tmp_path):
    path = export_input_batches(tmp_path)
    assert path.name == "input_batches.png"
    assert png_size(path) == inches(3.4 * 2 + 0.9, 2.6)


def test_several_runs_give_the_combined_figures(runs, tmp_path):
    records = list(runs.values())
    paths = export_runs(records, tmp_path)
    names = {p.name for p in paths}
    assert "compare_dims_dstar_2runs_relu-gelu.png" in names
    assert "compare_phase_2runs_relu-gelu.png" in names
    assert "compare_wtw_rows_2runs_relu-gelu.png" in names
    assert len(paths) == sum(len(figure_kinds(r)) for r in records) + 3
    for path in paths:
        width, height = png_size(path)
        assert width >= 1000 and height >= 500
    # phase diagrams as small multiples: two panels side by side
    assert png_size(tmp_path / "compare_phase_2runs_relu-gelu.png") == inches(2.6 * 2 + 0.9, 2.5 + 1.1)


def test_runs_sharing_an_activation_get_a_distinct_compare_name(store, runs, tmp_path):
    again = run_experiment(tiny_config("dims", "relu").replace(steps=5, seed=7), store)
    paths = export_runs([runs[("dims", "relu")], again], tmp_path)
    compare = [p.name for p in paths if p.name.startswith("compare_")]
    assert len(compare) == 1 and compare[0].startswith("compare_dims_dstar_2runs_") and "relu-relu" not in compare[0]


def test_existing_files_are_refused_unless_forced(runs, tmp_path):
    record = runs[("phase", "relu")]
    first = export_runs([record], tmp_path)
    before = {p: p.stat().st_mtime_ns for p in first}
    with pytest.raises(FigureExistsError) as info:
        export_runs([record], tmp_path)
    assert str(first[0]) in str(info.value) and "--force" in str(info.value)
    assert "\n" not in str(info.value)
    assert {p: p.stat().st_mtime_ns for p in first} == before, "a refusal writes nothing"
    # One new run plus one existing name: still nothing is written.
    other = runs[("phase", "gelu")]
    with pytest.raises(FigureExistsError):
        export_runs([other, record], tmp_path)
    assert not any(p.name.startswith(other.id) for p in tmp_path.iterdir())
    again = export_runs([record], tmp_path, force=True)
    assert again == first
    assert all(p.stat().st_mtime_ns >= before[p] for p in again)


def test_svg_and_bad_format(runs, tmp_path):
    paths = export_runs([runs[("dims", "gelu")]], tmp_path, fmt="svg")
    assert all(p.suffix == ".svg" for p in paths)
    assert b"<svg" in paths[0].read_bytes()[:2000]
    with pytest.raises(ConfigError, match="format"):
        export_runs([runs[("dims", "gelu")]], tmp_path, fmt="jpg")


def test_a_run_without_arrays_is_refused(store, tmp_path):
    writer = store.create(tiny_config("dims", "relu"))  # created, nothing trained yet
    with pytest.raises(StoreError, match="nothing to export"):
        export_runs([store.load(writer.id)], tmp_path)


def test_cli_export_prints_paths_and_refuses_to_overwrite(store, runs, tmp_path, capsys):
    ids = [runs[("phase", "relu")].id, runs[("phase", "gelu")].id]
    out = tmp_path / "figs"
    argv = ["export", *ids, "--out", str(out), "--data-dir", str(store.data_dir)]
    assert main(argv) == 0
    printed = capsys.readouterr().out.split()
    per_run = len(get_experiment("phase").figures) + 1  # its figures (phase, seeds) and the loss curves; + 1: combined
    assert len(printed) == 2 * per_run + 1 and all((out / p.split("/")[-1]).exists() for p in printed)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and len(err.strip().splitlines()) == 1
    assert main([*argv, "--force"]) == 0
    assert main(["export", "no-such-run", "--data-dir", str(store.data_dir), "--out", str(out)]) == 2


def test_importing_engine_does_not_import_matplotlib():
    code = "import sys, engine, engine.export, engine.reproduce, supertui.cli; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_a_custom_run_gets_the_figures_its_shape_supports(store, tmp_path):
    from engine import RunConfig

    config = RunConfig(preset="custom", activation="silu", n=8, m=3, densities=(1.0, 0.3, 0.1), steps=5,
                       batch_size=64, compile=False, snapshots=1)
    record = run_experiment(config, store)
    paths = export_runs([record], tmp_path)
    assert [p.name.split("_", 1)[1] for p in paths] == ["wtw.png", "dims.png", "loss.png"]
    for path in paths:
        png_size(path)


def figure_text(fig) -> str:
    """Every title, suptitle and text of a matplotlib figure, joined."""
    texts = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        texts += [ax.get_title(), *(t.get_text() for t in ax.texts)]
    if fig._suptitle is not None:
        texts.append(fig._suptitle.get_text())
    return "\n".join(texts)


def test_every_figure_states_its_steps_and_batch(runs, store):
    from engine.export import figure_builder

    for (preset, activation), record in runs.items():
        for kind in figure_kinds(record):
            text = figure_text(figure_builder(kind, [record])())
            assert "15 steps, batch 128" in text, (preset, kind, text)
    pair = [runs[("dims", "relu")], runs[("dims", "gelu")]]
    assert "15 steps, batch 128" in figure_text(figure_builder("dims", pair)())
    longer = run_experiment(tiny_config("dims", "relu").replace(steps=20), store)
    text = figure_text(figure_builder("dims", [runs[("dims", "gelu")], longer])())
    assert "steps and batch per run" in text  # and each label says its own


def test_no_figure_clips(runs, store):
    """Figures have a fixed size and no tight cropping: a title, tick label or legend past the
    edge is cut off in the file (the phase title was, then the compare phase title and legend).
    Every figure kind, of one run, of several (same activation, another lr, three), and a sweep's."""
    from engine.export import compare_kind, figure_builder
    from engine.export.style import clipped_artists
    from engine.export.sweep import figure_sweep_summary
    from engine.sweeps.summary import SweepRow, SweepSummary

    extra = {preset: [run_experiment(tiny_config(preset, a).replace(**change), store)
                      for a, change in (("relu", {}), ("relu", {"lr": 1e-3}))]
             for preset in ("sparsity", "phase", "dims", "correlated")}
    for preset, (same, other_lr) in extra.items():
        first = runs.get((preset, "relu"), same)
        for kind in figure_kinds(first):
            assert clipped_artists(figure_builder(kind, [first])()) == [], (preset, kind)
        kind = compare_kind(first)
        groups = [[first, same], [first, other_lr], [first, same, other_lr]]
        if (preset, "gelu") in runs:
            groups.append([first, runs[(preset, "gelu")], same, other_lr])
        for group in groups:
            assert clipped_artists(figure_builder(kind, group)()) == [], (preset, kind, [r.id for r in group])
    rows = [SweepRow(f"run-{i}", "completed", {"activation": a, "lr": lr, "n": n}, 0.01 * (i + 1), 1.0 + i)
            for i, (a, lr, n) in enumerate([(a, lr, n) for a in ("relu", "gelu") for lr in (1e-3, 3e-3, 1e-2) for n in (10, 11)])]
    summary = SweepSummary("sweep-20260101-000000-sparsity-abcdef12", ["activation", "lr", "n"], "mean D*", rows)
    assert clipped_artists(figure_sweep_summary(summary)) == []


def test_clipped_artists_sees_a_clipped_title():
    from engine.export.style import clipped_artists, new_figure

    fig = new_figure(2.0, 2.0)
    fig.subplots().set_title("a title far wider than a two-inch figure can show at nine points")
    assert clipped_artists(fig) and "title far wider" in clipped_artists(fig)[0]


def test_a_compare_figure_names_every_run_in_its_legend_however_long_its_label(tmp_path):
    """Runs that differ in many fields get long labels: each is in the legend, whole, and the
    legend stays inside the figure."""
    from engine.export import compare_kind, figure_builder
    from engine.export.style import clipped_artists
    from engine.store.labels import difference_labels
    from handmade import CONFIG, write_run

    changes = [dict(lr=3e-4, batch_size=512, optimizer="adamw", weight_decay=0.01, schedule="cosine"),
               dict(lr=3e-3, batch_size=128, optimizer="adamw", weight_decay=0.001),
               dict(lr=1e-3, batch_size=256, init="xavier_batched", loss_reduction="mean"),
               dict(lr=1e-2, batch_size=64, schedule="linear", importance_decay=0.9)]
    for i, change in enumerate(changes):
        write_run(tmp_path, f"run-{i}", CONFIG.replace(**change))
    store = RunStore(tmp_path)
    records = [store.load(f"run-{i}") for i in range(len(changes))]
    labels = difference_labels(records)
    assert len(set(labels)) == len(labels) and min(map(len, labels)) > 40
    fig = figure_builder(compare_kind(records[0]), records)()
    legend = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    assert all(label in legend for label in labels), (labels, legend)
    assert clipped_artists(fig) == []
