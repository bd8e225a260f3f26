"""One call that reproduces every experiment `reproduce` covers, for all seven activations: train
(or reuse) the runs, export every figure their experiments name, and measure each experiment's
claims and tables.

    reproduce(store, out_dir, quality="quick", fresh=False, on_progress=print, report=render)

The engine only measures: each claim comes with our own one-line statement, its numbers and a
verdict (engine.experiments). The words a report sets beside them (a blog's prose) belong to
whoever renders it: `report(result) -> markdown` is written to report.md when given (the CLI
passes supertui.cli.reproduce_report.render_report).

Qualities: "paper" and "quick" are the experiments' own settings; "tiny" shrinks each to
seconds, for tests and for trying the pipeline.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from engine.experiments import instance_count, validate_config
from engine.training.activations import BLOG_ACTIVATIONS
from engine.config import RunConfig
from engine.errors import ConfigError, SupertuiError
from engine.experiments import Claim, Evidence, Experiment, experiment_names, get_experiment
from engine.experiments.base import QUALITIES, Table
from engine.jobs.runner import run_experiment
from engine.system.files import check_writable_folder
from engine.store.runs import RunRecord, RunStore, atomic_write_bytes

REPORT = "report.md"
FIGURES_DIR = "figures"
# Fields that choose how a run is computed, not what it computes: a saved run that differs only
# in these is the same experiment (data are hashed per seed and step, identical on every device).
_HOW_NOT_WHAT = ("compile", "device", "snapshots")


def reproduction_experiments() -> list[Experiment]:
    """The experiments reproduce trains, in registry order."""
    return [get_experiment(name) for name in experiment_names() if get_experiment(name).in_reproduction]


EXPERIMENTS = tuple(e.name for e in reproduction_experiments())


class ReproduceCancelled(SupertuiError):
    """should_stop() asked to stop: the current run is saved as cancelled; nothing is exported."""


# --------------------------------------------------------------------------- what to train


def tiny_config(preset: str, activation: str) -> RunConfig:
    """Seconds per experiment on a CPU: the pipeline end to end, not the science."""
    return get_experiment(preset).config("tiny").replace(activation=activation)


def experiment_config(preset: str, activation: str, quality: str) -> RunConfig:
    return validate_config(get_experiment(preset).config(quality).replace(activation=activation))


def experiment_configs(quality: str, activations=BLOG_ACTIVATIONS) -> list[RunConfig]:
    if quality not in QUALITIES:
        raise ConfigError("quality", f"unknown quality {quality!r} (accepted: {', '.join(QUALITIES)})")
    return [experiment_config(p, a, quality) for p in EXPERIMENTS for a in activations]


def same_experiment(a: RunConfig, b: RunConfig) -> bool:
    da, db = a.to_dict(), b.to_dict()
    for key in _HOW_NOT_WHAT:
        da.pop(key, None)
        db.pop(key, None)
    return da == db


def find_saved(store: RunStore, config: RunConfig, runs: list[RunRecord]) -> RunRecord | None:
    """The newest completed run of this very experiment, if its arrays are there."""
    for record in runs:  # newest first
        if record.status == "completed" and record.has_arrays and same_experiment(record.config, config):
            return record
    return None


FIGURE_COST = 20.0  # one figure takes about as long as 20 small training steps


def cost(config: RunConfig) -> float:
    """Relative training cost in units of one small step, for the whole-job progress bar: a
    per-step overhead plus the work of the batched step (instances x features x batch x hidden).
    Fitted to CPU timings of the three quick presets (about 0.03 s overhead per step)."""
    work = instance_count(config) * config.n * config.batch_size * (1 + config.m / 4)
    return config.steps * (1.0 + work / 5e5)


# --------------------------------------------------------------------------- progress and result


@dataclass
class ReproduceProgress:
    stage: str  # "train" | "reuse" | "export" | "report" | "done"
    fraction: float  # of the whole job, work-weighted, 0..1
    job: int  # 1-based index of the current experiment run (training stage)
    jobs: int
    label: str  # e.g. "phase · relu", or a figure's file name
    step: int = 0
    steps: int = 0
    elapsed: float = 0.0  # seconds since reproduce began

    def line(self) -> str:
        """The plain-text progress line (no terminal needed)."""
        where = f"[{self.fraction:6.1%}] {self.elapsed:6.0f}s"
        if self.stage == "train":
            return f"{where} train {self.job}/{self.jobs} {self.label}: step {self.step}/{self.steps}"
        if self.stage == "reuse":
            return f"{where} reuse {self.job}/{self.jobs} {self.label}"
        return f"{where} {self.stage} {self.label}"


@dataclass
class Measured:
    """One experiment's measurements over its runs: each claim with its evidence, and tables."""

    experiment: Experiment
    claims: list[tuple[Claim, Evidence]]
    tables: list[Table]


@dataclass
class ReproduceResult:
    out_dir: Path
    report: Path | None
    figures: list[Path]
    runs: dict[tuple[str, str], RunRecord]  # (experiment, activation) -> run
    paths: dict[str, Path] = field(default_factory=dict)  # planned_paths, by key
    activations: tuple[str, ...] = BLOG_ACTIVATIONS
    quality: str = "quick"
    measured: dict[str, Measured] = field(default_factory=dict)  # by experiment name
    trained: list[str] = field(default_factory=list)  # run ids trained now
    reused: list[str] = field(default_factory=list)  # run ids reused from the store
    reference: list = field(default_factory=list)  # published curves drawn over the D* figure
    elapsed: float = 0.0
    train_seconds: dict[tuple[str, str], float] = field(default_factory=dict)

    def runs_of(self, experiment: str) -> dict[str, RunRecord]:
        """The runs of one experiment by activation, in the order they were asked for."""
        return {a: self.runs[(experiment, a)] for a in self.activations if (experiment, a) in self.runs}


def _name(experiment: str, kind: str) -> str:
    return experiment if kind == experiment else f"{experiment}_{kind}"


def planned_paths(out_dir: Path, activations=BLOG_ACTIVATIONS) -> dict[str, Path]:
    """Every file reproduce writes, by a short key (so existing files are refused up front):
    "report", "input_batches", "<figure>:<experiment>:<activation>", "loss:<experiment>:<activation>",
    "compare:<experiment>"."""
    figs = Path(out_dir) / FIGURES_DIR
    paths = {"report": Path(out_dir) / REPORT, "input_batches": figs / "input_batches.png"}
    for experiment in reproduction_experiments():
        for activation in activations:
            for kind in experiment.figures:
                paths[f"{kind}:{experiment.name}:{activation}"] = figs / f"{_name(experiment.name, kind)}_{activation}.png"
            paths[f"loss:{experiment.name}:{activation}"] = figs / f"loss_{experiment.name}_{activation}.png"
        if experiment.compare_figure:
            paths[f"compare:{experiment.name}"] = figs / f"{_name(experiment.name, experiment.compare_figure)}_all.png"
    return paths


# --------------------------------------------------------------------------- an unfinished export

UNFINISHED = ".reproduce-unfinished.json"  # the files a reproduce is writing, until it is done


def mark_unfinished(out_dir: Path, files: list[Path]) -> None:
    atomic_write_bytes(Path(out_dir) / UNFINISHED, json.dumps(sorted(p.name for p in files)).encode())


def unfinished_outputs(out_dir: Path) -> set[Path]:
    """The files a reproduce that stopped half way (Ctrl+C, a crash) had set out to write in
    out_dir: a new reproduce may replace them. Names only, read as untrusted text."""
    try:
        from engine.system.input_files import read_bounded_json  # a FIFO or /dev/zero there: never a hang

        names = read_bounded_json(Path(out_dir) / UNFINISHED, 1 << 20)
    except (OSError, ValueError, RecursionError):
        return set()
    if not isinstance(names, list):
        return set()
    planned = planned_paths(out_dir)
    return {p for p in planned.values() if p.name in {n for n in names if isinstance(n, str)}}


# --------------------------------------------------------------------------- the job


def reproduce(
    store: RunStore,
    out_dir: Path,
    quality: str = "quick",
    fresh: bool = False,
    on_progress: Callable[[ReproduceProgress], None] | None = None,
    *,
    force: bool = False,
    should_stop: Callable[[], bool] | None = None,
    activations=BLOG_ACTIVATIONS,
    report: Callable[[ReproduceResult], str] | None = None,
    reference=None,
) -> ReproduceResult:
    """Train or reuse every experiment, export every figure, measure every claim; write
    report.md when `report` renders one. `reference`: published curves (engine.science.reference_curves)
    drawn over the combined D* figure. See the module doc.

    Existing output files are refused before anything trains unless force. Reused runs must
    be completed and have the same config (up to compile/device/snapshots)."""
    from engine.export import figure_builder, refuse_existing, write_figure
    from engine.export.figures import figure_input_batches

    started = time.monotonic()
    out_dir = Path(out_dir)
    activations = tuple(activations)
    configs = experiment_configs(quality, activations)
    paths = planned_paths(out_dir, activations)
    if report is None:
        paths.pop("report")
    # Files an earlier reproduce left when it stopped half way are its own: no --force needed.
    refuse_existing([p for p in paths.values() if p not in unfinished_outputs(out_dir)], force)
    check_writable_folder(out_dir / FIGURES_DIR, "out")  # before hours of training, not after
    store.check_writable()

    def emit(**kw) -> None:
        if on_progress:
            on_progress(ReproduceProgress(elapsed=time.monotonic() - started, **kw))

    saved = [] if fresh else store.list_runs()
    figure_count = len([k for k in paths if k != "report"])
    costs = [cost(c) for c in configs]
    render_cost = FIGURE_COST * figure_count
    total = sum(costs) + render_cost
    done = 0.0
    result = ReproduceResult(out_dir, paths.get("report"), [], {}, paths=paths, activations=activations, quality=quality,
                             reference=list(reference or []))

    for index, config in enumerate(configs, start=1):
        label = f"{config.preset} · {config.activation}"
        reuse = None if fresh else find_saved(store, config, saved)
        if reuse is not None:
            result.runs[(config.preset, config.activation)] = reuse
            result.reused.append(reuse.id)
            done += costs[index - 1]
            emit(stage="reuse", fraction=done / total, job=index, jobs=len(configs), label=f"{label} ({reuse.id})")
            continue
        base = done

        def progress(p, base=base, index=index, label=label, job_cost=costs[index - 1]):
            emit(stage="train", fraction=(base + job_cost * p.step / max(p.steps, 1)) / total, job=index,
                 jobs=len(configs), label=label, step=p.step, steps=p.steps)

        emit(stage="train", fraction=base / total, job=index, jobs=len(configs), label=label, step=0, steps=config.steps)
        t0 = time.monotonic()
        record = run_experiment(config, store, on_progress=progress, should_stop=should_stop, send_weights=False,
                                progress_interval=0.5)
        result.train_seconds[(config.preset, config.activation)] = time.monotonic() - t0
        if record.status != "completed":
            raise ReproduceCancelled(
                f"reproduce: stopped during {label}; run {record.id} is saved as {record.status}, "
                f"completed runs are reused next time"
            )
        store.update_meta(record.id, tags=[*record.tags, "reproduce", quality])
        record = store.load(record.id)
        result.runs[(config.preset, config.activation)] = record
        result.trained.append(record.id)
        done += costs[index - 1]

    per_figure = render_cost / figure_count
    mark_unfinished(out_dir, list(paths.values()))

    def export(key: str, build) -> None:
        nonlocal done
        if should_stop is not None and should_stop():
            raise ReproduceCancelled("reproduce: stopped while writing figures; every run is saved, and running it "
                                     "again finishes the figures (no --force needed)")
        emit(stage="export", fraction=done / total, job=len(configs), jobs=len(configs), label=paths[key].name)
        result.figures.append(write_figure(build(), paths[key], "png"))
        done += per_figure

    export("input_batches", figure_input_batches)
    for experiment in reproduction_experiments():
        runs = result.runs_of(experiment.name)
        for activation, record in runs.items():
            for kind in experiment.figures:
                export(f"{kind}:{experiment.name}:{activation}", figure_builder(kind, [record]))
        if experiment.compare_figure:
            export(f"compare:{experiment.name}", figure_builder(experiment.compare_figure, list(runs.values()), reference))
        for activation, record in runs.items():
            export(f"loss:{experiment.name}:{activation}", figure_builder("loss", [record]))
        result.measured[experiment.name] = Measured(
            experiment, [(claim, claim.evaluate(runs)) for claim in experiment.claims], experiment.tables(runs)
        )

    result.elapsed = time.monotonic() - started
    if report is not None:
        emit(stage="report", fraction=done / total, job=len(configs), jobs=len(configs), label=REPORT)
        atomic_write_bytes(paths["report"], report(result).encode())
    (out_dir / UNFINISHED).unlink(missing_ok=True)
    emit(stage="done", fraction=1.0, job=len(configs), jobs=len(configs),
         label=str(paths["report"]) if report is not None else str(out_dir))
    return result
