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
from engine.experiments.base import QUALITIES, VARIANT_MARK, Table
from engine.jobs.batch import BatchCancelled, RunProgress, follow_batch, submit_batch
from engine.jobs.scheduler import serve_queue
from engine.store.manifest import LIVE_STATUSES
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


def selected_experiments(names=EXPERIMENTS) -> list[Experiment]:
    """The reproduced experiments among `names`, in registry order; ConfigError for another name."""
    unknown = [name for name in names if name not in EXPERIMENTS]
    if unknown:
        raise ConfigError("experiments", f"unknown experiment {unknown[0]!r} (accepted: {', '.join(EXPERIMENTS)})")
    return [e for e in reproduction_experiments() if e.name in names]


class ReproduceCancelled(SupertuiError):
    """should_stop() asked to stop: the current run is saved as cancelled; nothing is exported."""


# --------------------------------------------------------------------------- what to train


def tiny_config(preset: str, activation: str) -> RunConfig:
    """Seconds per experiment on a CPU: the pipeline end to end, not the science."""
    return get_experiment(preset).config("tiny").replace(activation=activation)


def experiment_config(preset: str, activation: str, quality: str) -> RunConfig:
    return validate_config(get_experiment(preset).config(quality).replace(activation=activation))


def experiment_configs(quality: str, activations=BLOG_ACTIVATIONS, experiments=EXPERIMENTS) -> list[RunConfig]:
    if quality not in QUALITIES:
        raise ConfigError("quality", f"unknown quality {quality!r} (accepted: {', '.join(QUALITIES)})")
    return [experiment_config(e.name, a, quality) for e in selected_experiments(experiments) for a in activations]


def variant_configs(quality: str, activations=BLOG_ACTIVATIONS, experiments=EXPERIMENTS) -> list[tuple[RunConfig, str]]:
    """The reference switches each reproduced experiment names (extras["variants"], e.g. the dims
    experiment's anthropic profile and SoLU instance axis): (config, variant name), trained beside
    the default runs so the report measures what each choice changes."""
    out = []
    for experiment in selected_experiments(experiments):
        for variant in experiment.extras.get("variants", {}).values():
            for activation in activations:
                if activation in variant.activations:
                    config = variant.apply(experiment_config(experiment.name, activation, quality))
                    out.append((validate_config(config), variant.name))
    return out


def same_experiment(a: RunConfig, b: RunConfig) -> bool:
    da, db = a.to_dict(), b.to_dict()
    for key in _HOW_NOT_WHAT:
        da.pop(key, None)
        db.pop(key, None)
    return da == db


def find_following(config: RunConfig, runs: list[RunRecord]) -> RunRecord | None:
    """A run of this very experiment still queued or training (an earlier reproduce's)."""
    for record in runs:
        if record.status in LIVE_STATUSES and "reproduce" in record.tags and same_experiment(record.config, config):
            return record
    return None


def find_saved(store: RunStore, config: RunConfig, runs: list[RunRecord]) -> RunRecord | None:
    """The newest completed run of this very experiment, if its arrays are there."""
    for record in runs:  # newest first
        if record.status == "completed" and record.has_arrays and same_experiment(record.config, config):
            return record
    return None


def _duration(seconds: float) -> str:
    """"45 s", "3 min 10 s", "2 h 05 min"."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


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

    @property
    def seconds_left(self) -> float | None:
        """The time left, from the work-weighted fraction done so far; None before any is done."""
        if self.fraction <= 0 or self.stage == "done":
            return None if self.stage != "done" else 0.0
        return self.elapsed * (1 - self.fraction) / self.fraction

    def line(self) -> str:
        """The plain-text progress line (no terminal needed), with the time left once it can be told."""
        left = self.seconds_left
        where = f"[{self.fraction:6.1%}] {self.elapsed:6.0f}s" + ("" if left is None else f", {_duration(left)} left")
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
    experiments: tuple[str, ...] = EXPERIMENTS  # the experiments asked for, in registry order
    measured: dict[str, Measured] = field(default_factory=dict)  # by experiment name
    trained: list[str] = field(default_factory=list)  # run ids trained now
    queued: list[str] = field(default_factory=list)  # run ids this call submitted to the queue
    reused: list[str] = field(default_factory=list)  # run ids reused from the store
    reference: list = field(default_factory=list)  # published curves drawn over the D* figure
    elapsed: float = 0.0
    train_seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    variant_runs: dict[tuple[str, str], RunRecord] = field(default_factory=dict)  # (experiment, "act@variant")
    refinements: dict[str, tuple] = field(default_factory=dict)  # activation -> (index, outcomes, boundaries)

    def runs_of(self, experiment: str) -> dict[str, RunRecord]:
        """The runs of one experiment by activation, in the order they were asked for."""
        return {a: self.runs[(experiment, a)] for a in self.activations if (experiment, a) in self.runs}

    def variants_of(self, experiment: str) -> dict[str, RunRecord]:
        """The reference-switch runs of one experiment, by "<activation>@<variant>"."""
        return {key: record for (name, key), record in self.variant_runs.items() if name == experiment}

    def keep(self, job: "Job", record: RunRecord) -> None:
        """Where a job's run belongs: the default runs by activation, a reference switch's by
        "<activation>@<variant>"."""
        (self.runs if job.variant is None else self.variant_runs)[(job.config.preset, job.key)] = record

    def kept(self, job: "Job") -> RunRecord | None:
        return (self.runs if job.variant is None else self.variant_runs).get((job.config.preset, job.key))


@dataclass(frozen=True, eq=False)  # compared by identity: a config holds dicts
class Job:
    """One run reproduce needs: an experiment's config, and the reference switch it tries (None:
    the project's own choices)."""

    config: RunConfig
    variant: str | None = None

    @property
    def key(self) -> str:
        return self.config.activation if self.variant is None else f"{self.config.activation}{VARIANT_MARK}{self.variant}"

    @property
    def label(self) -> str:
        return f"{self.config.preset} · {self.key}"


def _name(experiment: str, kind: str) -> str:
    return experiment if kind == experiment else f"{experiment}_{kind}"


def planned_paths(out_dir: Path, activations=BLOG_ACTIVATIONS, experiments=EXPERIMENTS) -> dict[str, Path]:
    """Every file reproduce writes, by a short key (so existing files are refused up front):
    "report", "input_batches", "<figure>:<experiment>:<activation>", "loss:<experiment>:<activation>",
    "compare:<experiment>"."""
    figs = Path(out_dir) / FIGURES_DIR
    paths = {"report": Path(out_dir) / REPORT, "input_batches": figs / "input_batches.png"}
    for experiment in selected_experiments(experiments):
        for activation in activations:
            for kind in experiment.figures:
                paths[f"{kind}:{experiment.name}:{activation}"] = figs / f"{_name(experiment.name, kind)}_{activation}.png"
            paths[f"loss:{experiment.name}:{activation}"] = figs / f"loss_{experiment.name}_{activation}.png"
        if experiment.compare_figure:
            paths[f"compare:{experiment.name}"] = figs / f"{_name(experiment.name, experiment.compare_figure)}_all.png"
        if experiment.name == "phase":  # every activation's refined boundary (engine.sweeps.refine)
            paths["boundaries:phase"] = figs / "phase_boundaries_all.png"
    return paths


# --------------------------------------------------------------------------- refined phase boundaries

# (coarse grid, levels) of the phase refinement each quality trains per activation (engine.sweeps.refine)
REFINEMENTS = {"tiny": (3, 1), "quick": (6, 3), "paper": (8, 4)}


def _start_refinements(store: RunStore, activations, quality: str, fresh: bool,
                       result: ReproduceResult) -> dict[str, str]:
    """{activation: refinement id}: a stored refinement of the same settings (completed, else
    still going), or a new one whose level 0 is queued now (its run id goes to result.queued).
    Started with the other runs, so the scheduler trains every level even if this client is gone
    (or detached)."""
    from engine.sweeps.refine import find_refinement, start_refinement

    coarse, levels = REFINEMENTS[quality]
    ids, queued = {}, []
    for activation in activations:
        base = experiment_config("phase", activation, quality)
        index = None if fresh else find_refinement(store, base, coarse, levels)
        if index is None:
            ids[activation], run_id = start_refinement(store, base, levels, coarse, {"tags": ["reproduce", quality]})
            queued.append(run_id)
        else:
            ids[activation] = index["id"]
    if queued:
        serve_queue(store, queued)  # a scheduler, even when every other run was reused
    result.queued += queued
    return ids


def _follow_refinements(store: RunStore, ids: dict[str, str], result: ReproduceResult, emit, should_stop,
                        fraction: float) -> None:
    """Wait for the scheduler to train every level of every refinement, and keep each one's
    boundaries."""
    from engine.sweeps.refine import refinement_boundaries
    from engine.sweeps.refine_follow import follow_refinements

    def progress(indexes: dict) -> None:
        done = sum(1 for index in indexes.values() if index.get("ended"))
        emit(stage="refine", fraction=fraction, job=done, jobs=len(indexes),
             label=f"phase boundaries: {done} of {len(indexes)} refinements ended")

    try:
        indexes = follow_refinements(store, list(ids.values()), should_stop, progress)
    except BatchCancelled as exc:
        raise ReproduceCancelled(f"reproduce: stopped while refining the phase boundaries; {exc}") from None
    for activation, refinement_id in ids.items():
        index = indexes[refinement_id]
        if not str(index.get("ended")).startswith("completed"):
            raise ReproduceCancelled(f"reproduce: the phase refinement of {activation} ({refinement_id}) ended: "
                                     f"{index.get('ended')}; completed runs are reused next time")
        lattice, known, boundaries = refinement_boundaries(store, index)
        result.refinements[activation] = (index, known, boundaries)


def _write_boundaries(result: ReproduceResult, path: Path) -> None:
    from engine.export.refine_figure import boundaries_figure_bytes

    found = {activation: boundaries for activation, (_, _, boundaries) in result.refinements.items()}
    atomic_write_bytes(path, boundaries_figure_bytes(found, "Refined phase boundaries of every activation"))
    result.figures.append(path)


# --------------------------------------------------------------------------- training through the queue


def _reuse_or_submit(store: RunStore, jobs: list[Job], saved: list[RunRecord], quality: str,
                     result: ReproduceResult, fresh: bool) -> dict[str, Job]:
    """Reuse what is saved, follow what an earlier reproduce left training, queue the rest (as
    one unit): the runs to wait for, by id."""
    pending: dict[str, Job] = {}
    to_submit: list[Job] = []
    for job in jobs:
        reuse = None if fresh else find_saved(store, job.config, saved)
        live = None if fresh or reuse else find_following(job.config, saved)
        if reuse is not None:
            result.keep(job, reuse)
            result.reused.append(reuse.id)
        elif live is not None:
            pending[live.id] = job
        else:
            to_submit.append(job)
    ids = submit_batch(store, [job.config for job in to_submit],
                       [{"tags": ["reproduce", quality]} for _ in to_submit]) if to_submit else []
    result.queued = list(ids)
    pending.update(zip(ids, to_submit))
    return pending


def _follow(store: RunStore, pending: dict[str, Job], jobs: list[Job], costs: list[float], total: float,
            done: float, emit, should_stop, result: ReproduceResult) -> None:
    """Wait for the queued runs, reporting work-weighted progress; a run that does not complete
    stops the reproduction with its reason (the completed ones are reused next time)."""
    cost_of = dict(zip(jobs, costs))
    index_of = {job: i for i, job in enumerate(jobs, start=1)}

    def progress(rows: list[RunProgress]) -> None:
        live = [row for row in rows if row.status not in ("completed", "cancelled", "failed", "interrupted")]
        fraction = (done + sum(cost_of[pending[row.run_id]] * row.step / max(row.steps, 1) for row in rows)) / total
        row = max(live, key=lambda r: r.step) if live else rows[-1]
        job = pending[row.run_id]
        emit(stage="train", fraction=fraction, job=index_of[job], jobs=len(jobs), label=job.label,
             step=row.step, steps=row.steps)

    try:
        records = follow_batch(store, list(pending), on_progress=progress, should_stop=should_stop)
    except BatchCancelled as exc:
        first = next(iter(pending.values()))
        raise ReproduceCancelled(f"reproduce: stopped during {first.label}; {exc}; "
                                 "completed runs are reused next time") from None
    for run_id, record in records.items():
        job = pending[run_id]
        if record.status != "completed":
            raise ReproduceCancelled(
                f"reproduce: {job.label}: run {run_id} ended {record.status}"
                + (f" ({record.error})" if record.error else "") + "; completed runs are reused next time")
        result.keep(job, record)
        result.trained.append(run_id)
        result.train_seconds[(job.config.preset, job.key)] = float(record.manifest.get("elapsed_seconds") or 0.0)


def _export_all(result: ReproduceResult, paths: dict[str, Path], reference, emit, should_stop, done: float,
                total: float, per_figure: float, jobs: int) -> float:
    """Every figure of every experiment, and each experiment's claims measured; returns the
    progress done. should_stop() stops between figures (the next reproduce finishes them)."""
    from engine.export import figure_builder, write_figure
    from engine.export.figures import figure_input_batches

    def export(key: str, build) -> None:
        nonlocal done
        if should_stop is not None and should_stop():
            raise ReproduceCancelled("reproduce: stopped while writing figures; every run is saved, and running it "
                                     "again finishes the figures (no --force needed)")
        emit(stage="export", fraction=done / total, job=jobs, jobs=jobs, label=paths[key].name)
        result.figures.append(write_figure(build(), paths[key], "png"))
        done += per_figure

    export("input_batches", figure_input_batches)
    for experiment in selected_experiments(result.experiments):
        runs = result.runs_of(experiment.name)
        for activation, record in runs.items():
            for kind in experiment.figures:
                export(f"{kind}:{experiment.name}:{activation}", figure_builder(kind, [record]))
        if experiment.compare_figure:
            export(f"compare:{experiment.name}", figure_builder(experiment.compare_figure, list(runs.values()), reference))
        for activation, record in runs.items():
            export(f"loss:{experiment.name}:{activation}", figure_builder("loss", [record]))
        # Claims and tables read the reference-switch runs too, by "<activation>@<variant>".
        every = {**runs, **result.variants_of(experiment.name)}
        result.measured[experiment.name] = Measured(
            experiment, [(claim, claim.evaluate(every)) for claim in experiment.claims], experiment.tables(every)
        )
    return done


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
    detach: bool = False,
    variants: bool = True,
    experiments=EXPERIMENTS,
    refine: bool = True,
) -> ReproduceResult:
    """Train or reuse every experiment, export every figure, measure every claim; write
    report.md when `report` renders one. `reference`: published curves (engine.science.reference_curves)
    drawn over the combined D* figure. See the module doc.

    Existing output files are refused before anything trains unless force. Reused runs must
    be completed and have the same config (up to compile/device/snapshots); a run of the same
    experiment still queued or training (an earlier reproduce's) is followed, not trained twice.
    The others are submitted to the queue (engine.jobs.batch) and train in the scheduler's
    workers, so they outlive this call; with `detach` it returns once they are queued
    (result.queued), and a later reproduce writes the figures."""
    from engine.export import refuse_existing

    started = time.monotonic()
    out_dir = Path(out_dir)
    activations = tuple(activations)
    experiments = tuple(e.name for e in selected_experiments(experiments))
    # The reference switches (variant name beside each config; None: the project's own choices).
    jobs = [Job(c) for c in experiment_configs(quality, activations, experiments)]
    jobs += [Job(c, v) for c, v in variant_configs(quality, activations, experiments)] if variants else []
    configs = [job.config for job in jobs]
    paths = planned_paths(out_dir, activations, experiments)
    refine = refine and "boundaries:phase" in paths  # the phase experiment's refinements
    if not refine:
        paths.pop("boundaries:phase", None)
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
                             experiments=experiments, reference=list(reference or []))

    pending = _reuse_or_submit(store, jobs, saved, quality, result, fresh)
    refinements = _start_refinements(store, activations, quality, fresh, result) if refine else {}
    if detach:
        result.elapsed = time.monotonic() - started
        return result
    done = sum(c for job, c in zip(jobs, costs) if result.kept(job) is not None)
    for index, job in enumerate(jobs, start=1):
        if (reused := result.kept(job)) is not None:
            emit(stage="reuse", fraction=done / total, job=index, jobs=len(jobs), label=f"{job.label} ({reused.id})")
    try:
        _follow(store, pending, jobs, costs, total, done, emit, should_stop, result)
    except ReproduceCancelled:
        if refinements:  # stopping stops all of it: the refinements were queued with the batch
            from engine.sweeps.refine_follow import cancel_refinements

            cancel_refinements(store, list(refinements.values()))
        raise
    done = sum(costs)
    if refine:
        _follow_refinements(store, refinements, result, emit, should_stop, done / total)

    mark_unfinished(out_dir, list(paths.values()))
    done = _export_all(result, paths, reference, emit, should_stop, done, total, render_cost / figure_count, len(configs))
    if refine:
        _write_boundaries(result, paths["boundaries:phase"])

    result.elapsed = time.monotonic() - started
    if report is not None:
        emit(stage="report", fraction=done / total, job=len(configs), jobs=len(configs), label=REPORT)
        atomic_write_bytes(paths["report"], report(result).encode())
    (out_dir / UNFINISHED).unlink(missing_ok=True)
    emit(stage="done", fraction=1.0, job=len(configs), jobs=len(configs),
         label=str(paths["report"]) if report is not None else str(out_dir))
    return result
