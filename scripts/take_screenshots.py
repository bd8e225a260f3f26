"""Regenerate screenshots/ from real runs.

    python scripts/take_screenshots.py                     # the app's SVGs, from small runs (a few minutes)
    python scripts/take_screenshots.py --figures --data-dir DIR   # the README's PNGs, from converged runs
    python scripts/take_screenshots.py --figures --quality quick --data-dir DIR   # the same from quick runs

The SVGs: a few small runs of each preset (CPU, a minute or two) trained into a temporary data
directory, then the app driven with Textual's Pilot, each screen saved as SVG.

The PNGs (`--figures`): the README's figures, drawn from runs trained to convergence (FIGURE_RUNS:
the paper settings, 10,000 steps at batch 1024, except the correlated runs, whose README table
uses the quick settings). Completed runs of the same experiment in DIR are reused, the missing
ones queued there and trained by DIR's workers, as every run is (hours on a 2-core CPU: they
outlive this script, and running it again reuses what finished). With
`--quality quick` every figure comes from the quick preset's runs instead (about a quarter of an
hour on a 2-core CPU). Each figure states its steps and batch. Nothing touches the user's own data
directory.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.presets import preset_config  # noqa: E402
from engine.jobs.runner import run_experiment  # noqa: E402
from engine.store.runs import RunStore  # noqa: E402

SMALL = dict(compile=False, device="cpu", batch_size=512)
BLOG = ("linear", "relu", "gelu", "silu", "sigmoid", "tanh", "solu")
# The README's figures: (file, figure kind, quality, preset, activations).
FIGURE_RUNS = [
    ("export_dims_all.png", "dims", "paper", "dims", BLOG),
    ("export_phase_relu.png", "phase", "paper", "phase", ("relu",)),
    ("export_sparsity_relu.png", "wtw", "paper", "sparsity", ("relu",)),
    ("export_correlated_cosine_all.png", "cosine", "quick", "correlated", BLOG),
    ("export_correlated_pairs_relu.png", "pairs", "quick", "correlated", ("relu",)),
]
RUNS = [
    ("sparsity", "relu", dict(steps=2000)),
    ("sparsity", "gelu", dict(steps=2000)),
    ("phase", "relu", dict(steps=1500, seeds=2)),
    ("phase", "gelu", dict(steps=1500, seeds=2)),
    ("dims", "relu", dict(steps=800, batch_size=256)),
    ("dims", "gelu", dict(steps=800, batch_size=256)),
    ("dims", "sigmoid", dict(steps=800, batch_size=256)),
    ("correlated", "relu", dict(steps=2000)),
    ("correlated", "tanh", dict(steps=2000)),
]


def train_sweep(store: RunStore) -> None:
    """A small lr x init sweep of the sparsity preset, recorded as one sweep like `--sweep` does."""
    from engine.sweeps.plan import SweepPlan, new_sweep_id

    plan = SweepPlan(preset_config("sparsity", **{**SMALL, "steps": 1000}), ["relu"],
                     {"lr": [1e-3, 3e-3, 1e-2], "init": ["xavier", "xavier_batched"]})
    sweep_id = new_sweep_id("sparsity")
    ids = []
    for point in plan.points():
        record = run_experiment(point.config, store, progress_interval=3600,
                                extra={"sweep": {"id": sweep_id, "axes": point.axes}})
        ids.append(record.id)
    store.record_sweep(sweep_id, plan.describe(), ids)
    print(f"trained sweep {sweep_id}: {len(ids)} runs")


def train_runs(store: RunStore) -> dict[tuple[str, str], str]:
    ids = {}
    for preset, activation, overrides in RUNS:
        started = time.perf_counter()
        config = preset_config(preset, activation=activation, **{**SMALL, **overrides})
        record = run_experiment(config, store, progress_interval=3600)
        ids[(preset, activation)] = record.id
        print(f"trained {record.id} in {time.perf_counter() - started:.1f}s")
    return ids


async def shoot(data_dir: Path, ids: dict, out: Path, size: tuple[int, int]) -> None:
    from supertui.app import SupertuiApp
    from supertui.screens.launch import PRESET_CHOICES, LaunchScreen

    suffix = f"{size[0]}x{size[1]}"

    async def save(app, pilot, name: str) -> None:
        await pilot.pause(0.5)
        path = out / f"{name}-{suffix}.svg"
        app.save_screenshot(str(path))
        print("saved", path.relative_to(ROOT))

    app = SupertuiApp(data_dir)
    async with app.run_test(size=size) as pilot:
        await save(app, pilot, "runs")
        for (preset, activation), run_id in ids.items():
            if activation == "relu":
                app.open_run(run_id)
                await save(app, pilot, f"run-{preset}")
                app.pop_screen()
        for preset in ("sparsity", "phase", "dims", "correlated"):
            app.open_compare([run_id for (p, _), run_id in ids.items() if p == preset])
            await save(app, pilot, f"compare-{preset}")
            app.pop_screen()
        await pilot.press("question_mark")
        await save(app, pilot, "help")
        await pilot.press("escape")
        await pilot.press("n")
        launch = app.screen
        assert isinstance(launch, LaunchScreen)
        launch.query_one("#presets").highlighted = PRESET_CHOICES.index("phase")
        await pilot.press("ctrl+t")
        await save(app, pilot, "launch")
        launch.query_one("#field-steps").value = "-5"
        await save(app, pilot, "launch-invalid")
        launch.query_one("#field-steps").value = "20000"
        launch.query_one("#field-compile").value = False
        await pilot.pause()
        await pilot.press("ctrl+r")  # seven phase runs: the first trains, six wait in the queue
        view = app.screen
        while view.live_run is None or view.live_run.state.fraction_done < 0.15:
            await asyncio.sleep(0.2)
        await save(app, pilot, "run-live")
        for run in list(app.live_runs.runs.values()):
            app.live_runs.cancel(run.id)
        await pilot.press("escape")
        runs = app.screen
        runs.table.toggle_grouping()
        sweep = next(key for key in runs.table.rows if str(key.value).startswith("sweep:"))
        runs.table.move_cursor(row=runs.table.get_row_index(sweep))
        await save(app, pilot, "runs-sweeps")
        await pilot.press("enter")
        await save(app, pilot, "sweep")


def figure_configs(quality: str) -> dict[tuple[str, str, str], object]:
    """Every run the README's figures draw, by (preset, activation, quality)."""
    configs = {}
    for _, _, figure_quality, preset, activations in FIGURE_RUNS:
        for activation in activations:
            key = (preset, activation, "quick" if quality == "quick" else figure_quality)
            configs[key] = preset_config(key[0], key[2], activation=activation)
    return configs


def converged_runs(store: RunStore, quality: str) -> dict:
    """The newest completed run of each experiment in the store; the missing ones are queued as
    one batch and trained by the data directory's workers (engine.jobs.batch): they outlive this
    script, and running it again reuses what finished. Ctrl+C cancels them."""
    from engine.jobs.batch import follow_batch, submit_batch
    from engine.reproduce import find_saved

    saved = store.list_runs()
    records, missing = {}, {}
    for key, config in figure_configs(quality).items():
        record = find_saved(store, config, saved)
        if record is None:
            missing[key] = config
        else:
            records[key] = record
    if missing:
        ids = submit_batch(store, list(missing.values()))
        print(f"queued {len(ids)} runs in {store.data_dir}: {', '.join(ids)}")
        try:
            ended = follow_batch(store, ids, poll=5.0)
        except KeyboardInterrupt:
            from engine.jobs.queue import JobQueue

            JobQueue(store).cancel(ids)
            raise
        for key, run_id in zip(missing, ids):
            if ended[run_id].status != "completed":
                raise SystemExit(f"run {run_id} ended {ended[run_id].status}: {ended[run_id].error or ''}")
            records[key] = ended[run_id]
    return records


def draw_figures(store: RunStore, out: Path, quality: str) -> None:
    """`quality` "paper" draws each figure from the runs FIGURE_RUNS names; "quick" from the
    quick preset's runs of every figure."""
    from engine.export import figure_builder, write_figure

    runs = converged_runs(store, quality)
    for name, kind, figure_quality, preset, activations in FIGURE_RUNS:
        chosen = "quick" if quality == "quick" else figure_quality
        records = [runs[(preset, a, chosen)] for a in activations]
        write_figure(figure_builder(kind, records)(), out / name)
        print("saved", out / name, "from", ", ".join(r.id for r in records))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--figures", action="store_true", help="the README's PNGs from converged runs (not the SVGs)")
    parser.add_argument("--data-dir", type=Path, help="with --figures: where runs are reused from and trained into")
    parser.add_argument("--quality", choices=("paper", "quick"), default="paper",
                        help="with --figures: the settings of the runs drawn (default: paper, except correlated)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.figures:
        if args.data_dir is None:
            parser.error("--figures needs --data-dir (the converged runs take hours to train; keep them)")
        draw_figures(RunStore(args.data_dir), args.out, args.quality)
        return
    with tempfile.TemporaryDirectory(prefix="supertui-shots-") as tmp:
        data_dir = Path(tmp)
        ids = train_runs(RunStore(data_dir))
        train_sweep(RunStore(data_dir))
        for size in ((120, 40), (80, 24)):
            asyncio.run(shoot(data_dir, ids, args.out, size))


if __name__ == "__main__":
    main()
