"""What an experiment is: one object that owns everything particular to it.

An `Experiment` holds its name and prose, its quick / paper / tiny settings, its own checks of a
config, its instance table (which models a run trains, point-major and seed-minor), its data
sampler, the per-point metrics it reports, the panes the app shows (in order) and the one it
compares runs with, the figures export draws, the headline number of a sweep, and the claims
`reproduce` measures. The engine, the CLI, the app, export and reproduce ask the run's experiment
(`experiment_for(config)`); none of them guesses from the config's shape.

A new experiment is one module in this package: subclass `Experiment`, call `register(...)`.

This module never imports torch: samplers import it when they are built.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence

import numpy as np

from engine.config import MAX_INSTANCES, RunConfig
from engine.errors import ConfigError
from engine.instances import InstanceTable
# The D* flag's rule, for every claim's numbers: > 5% over the last half-decade (T/√10 to T).
from engine.science.convergence import MOVING_THRESHOLD, WINDOW

if TYPE_CHECKING:
    from engine.training.data import SampleFn
    from engine.store.arrays import RunArrays

QUALITIES = ("quick", "paper", "tiny")

# Pane ids an experiment may list (the app maps each to a widget; see supertui/panes.py):
#   loss      training loss          gram     WᵀW of the selected model    bars   neuron-feature weights
#   norms     ‖W_i‖ coloured by superposition                             points one row per grid point
#   phase     the n=2 phase grid     dstar    D* against 1/(1-S)
#   pairs     WᵀW with partner pairs marked                               cosine partner cosine by density
#   seeds     every seed of each phase-grid point: shares per phase, loss gap, each seed's own diagram
PANES = ("loss", "gram", "bars", "norms", "points", "phase", "dstar", "pairs", "cosine", "seeds")
# Figure kinds export may draw for one run (engine/export/figures.py) and for several.
FIGURES = ("wtw", "phase", "seeds", "dims", "pairs", "cosine", "loss")


class SavedRun(Protocol):
    """What an experiment reads of a saved run (engine.store.runs.RunRecord is one): claims,
    headlines and report tables take runs through this, so experiments never import the store."""

    id: str
    config: RunConfig
    manifest: dict[str, Any]

    @property
    def arrays(self) -> "RunArrays": ...


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Sampler:
    """An input distribution behind one interface (swap this one object to change the data).

    `build()` returns the sampling function (engine.training.data.SampleFn): hashed uniforms [S, n, batch],
    each instance's seed row [K] and the per-instance tensors from `params(table)` -> x [K, n, batch].
    It must use elementwise ops (torch.where, gather along features), so an instance's data depend
    on its own seed and parameters alone, identically on every device and inside a compiled graph.
    `name` is its identity: a compiled training step is reused only for the same sampler.
    """

    name: str
    build: Callable[[], "SampleFn"]
    params: Callable[[InstanceTable], dict[str, np.ndarray]]


def _build_independent() -> "SampleFn":
    from engine.training.data import independent_features

    return independent_features


INDEPENDENT = Sampler("independent", _build_independent, lambda table: {"density": table.density})


# --------------------------------------------------------------------------- claims


# What a claim's measurement says about it:
#   reproduced      our runs show what the claim says
#   explained       our runs contradict it, and a measured mechanism accounts for what its author saw
#   refuted         our runs clearly show the opposite, and nothing measured accounts for it
#   not reproduced  our runs do not show it, but not clearly the opposite either
#   not converged   our runs do not show it yet, and the numbers that decide were still moving when training
#                   stopped (more than MOVING_THRESHOLD over the last half-decade of steps): longer runs decide
#   not measured    a run it needs is missing
# A reference switch's runs come to claims and tables as "<activation>@<variant>" (engine.reproduce).
VARIANT_MARK = "@"
VERDICTS = ("reproduced", "explained", "refuted", "not reproduced", "not converged", "not measured")


@dataclass(frozen=True)
class Evidence:
    """What a claim's measurement found: named numbers, a verdict (one of VERDICTS) and, where
    the numbers alone do not say it, why that verdict (one or two sentences, numbers included)."""

    numbers: dict[str, Any]
    verdict: str
    reason: str = ""
    threshold: str = ""  # the rule that decided the verdict, in words and numbers (the claim's, by default)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} (known: {', '.join(VERDICTS)})")


@dataclass(frozen=True)
class Claim:
    """A measurable statement about an experiment's runs: an id, our own one-line statement, and
    a function of the runs (by activation) that returns the evidence and a verdict."""

    id: str
    statement: str
    activations: tuple[str, ...]  # the runs it reads
    measure: Callable[[Mapping[str, "SavedRun"]], Evidence]
    threshold: str = ""  # the rule that decides: "reproduced when ..., refuted when ..."

    def evaluate(self, runs: Mapping[str, "SavedRun"]) -> Evidence:
        """The claim's evidence; a verdict short of reproduced whose numbers were still moving
        when training stopped becomes "not converged" (see `still_moving`)."""
        missing = [a for a in self.activations if a not in runs]
        if missing:
            return Evidence({"missing": ", ".join(missing)}, "not measured", threshold=self.threshold)
        evidence = self.measure(runs)
        if not evidence.threshold and self.threshold:
            evidence = replace(evidence, threshold=self.threshold)
        if evidence.verdict in ("not reproduced", "refuted"):
            moving = still_moving(self, runs, evidence)
            if moving:
                evidence = replace(evidence, verdict="not converged", reason=(
                    f"{moving}. At the end of training it reads {evidence.verdict}"
                    + (f" ({evidence.reason})" if evidence.reason else "") + "; longer runs decide."))
        return evidence


# --------------------------------------------------------------------------- has it converged?



@dataclass(frozen=True)
class _RunAtStep:
    """A saved run seen at an earlier W snapshot: the same instances and final losses (so the same
    lowest-loss seeds decide, as in engine.science.convergence), the snapshot's weights."""

    id: str
    config: RunConfig
    manifest: dict[str, Any]
    arrays: Any


def earlier_view(record: "SavedRun") -> tuple["SavedRun", int, int] | None:
    """(the run at t0, t0, T): t0 the latest snapshot step at or before T/√10, T the run's last
    step; None when the run kept no such snapshot (then nothing is judged)."""
    a = record.arrays
    last = int(record.manifest.get("steps_done") or (a.loss_steps[-1] if len(a.loss_steps) else 0))
    steps = [int(s) for s in a.snapshot_steps]
    earlier = [i for i, s in enumerate(steps) if 0 < s <= last / WINDOW]
    if not earlier:
        return None
    i = max(earlier, key=lambda j: steps[j])
    return _RunAtStep(record.id, record.config, record.manifest, replace(a, W=a.snapshots[i])), steps[i], last


def moved(before: Any, after: Any) -> bool:
    """A number moved: a count changed, or a real value changed by more than MOVING_THRESHOLD of
    the larger of the two. Text and non-finite values never count."""
    numeric = (int, float, np.integer, np.floating)
    if isinstance(before, bool) or not isinstance(before, numeric) or not isinstance(after, numeric):
        return False
    before, after = float(before), float(after)
    if not (np.isfinite(before) and np.isfinite(after)):
        return False
    return abs(after - before) > MOVING_THRESHOLD * max(abs(before), abs(after))


def still_moving(claim: "Claim", runs: Mapping[str, "SavedRun"], evidence: Evidence) -> str:
    """Why the claim's numbers are still moving, or "" when they are not (or cannot be judged):
    the claim measured again on each run's weights at t0 (≈ T/√10), every number compared."""
    views, steps = {}, set()
    for activation, record in runs.items():
        view = earlier_view(record) if activation in claim.activations else None
        if view is None:
            if activation in claim.activations:
                return ""
            views[activation] = record
            continue
        views[activation], t0, last = view
        steps.add((t0, last))
    try:
        earlier = claim.measure(views)
    except Exception:  # an early, barely trained snapshot a measure cannot read: nothing to judge
        return ""
    changes = [f"{key} {_short(earlier.numbers[key])} → {_short(value)}" for key, value in evidence.numbers.items()
               if key in earlier.numbers and moved(earlier.numbers[key], value)]
    if not changes:
        return ""
    span = ", ".join(f"step {t0:,} → {last:,}" for t0, last in sorted(steps))
    return (f"still moving over the last half-decade of training ({span}; more than {MOVING_THRESHOLD:.0%}): "
            + "; ".join(changes))


def _short(value: Any) -> str:
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{float(value):.3g}"


def verdict(ok: bool, refuted: bool = False) -> str:
    """reproduced when ok; else refuted when the measurement clearly shows the opposite."""
    return "reproduced" if ok else "refuted" if refuted else "not reproduced"


def series(values, digits: int = 3) -> str:
    """Numbers as one comparable string, e.g. "5, 7, 9" or "0.12, 0.34"."""
    out = []
    for v in values:
        if isinstance(v, (int, np.integer)):
            out.append(str(int(v)))
        else:
            out.append("–" if not np.isfinite(v) else f"{float(v):.{digits}g}")
    return ", ".join(out)


@dataclass(frozen=True)
class Table:
    """A table of measurements the report prints as is: a title, column names, rows of text."""

    title: str
    header: list[str]
    rows: list[list[str]]


# --------------------------------------------------------------------------- grid points


@dataclass(frozen=True)
class Axis:
    """One axis of a run's grid of points: a name for people and its values."""

    name: str
    values: tuple


@dataclass(frozen=True)
class Point:
    """One grid point: what its instances (one per seed) share."""

    density: float
    importance: np.ndarray  # [n]
    relative_importance: float | None = None
    partner: np.ndarray | None = None  # [n] int: each feature's partner (itself when unpaired)
    pair_kind: np.ndarray | None = None  # [n] int: engine.science.metrics.PAIR_KINDS index, 0 unpaired


def log_grid(low: float, high: float, count: int) -> tuple[float, ...]:
    return tuple(float(v) for v in np.geomspace(low, high, count))


def tiny(config: RunConfig) -> RunConfig:
    """Seconds on a CPU: the pipeline end to end (tests, trying `reproduce --quality tiny`), not the science."""
    return config.replace(steps=40, batch_size=128, compile=False, snapshots=2, lr=3e-3)


def importance_vector(config: RunConfig, relative_importance: float | None = None) -> np.ndarray:
    if relative_importance is not None:
        return np.array([1.0, relative_importance], dtype=np.float32)  # [2]
    return (config.importance_decay ** np.arange(config.n)).astype(np.float32)  # [n]


def table_of_points(config: RunConfig, points: Sequence[Point]) -> InstanceTable:
    """The instance table: point-major, seed-minor (k = point * seeds + seed index)."""
    seeds = config.seeds
    density = np.repeat([p.density for p in points], seeds).astype(np.float32)  # [K]
    importance = np.repeat(np.stack([p.importance for p in points]), seeds, axis=0).astype(np.float32)  # [K, n]
    seed = np.tile(config.seed + np.arange(seeds, dtype=np.int64), len(points))  # [K]
    point = np.repeat(np.arange(len(points), dtype=np.int64), seeds)  # [K]

    def optional(name: str, dtype) -> np.ndarray | None:
        values = [getattr(p, name) for p in points]
        if all(v is None for v in values):
            return None
        return np.repeat(np.asarray(values, dtype=dtype), seeds, axis=0)

    return InstanceTable(
        density, importance, seed, point, optional("relative_importance", np.float32),
        partner=optional("partner", np.int64), pair_kind=optional("pair_kind", np.int8),
    )


# --------------------------------------------------------------------------- the experiment


@dataclass(frozen=True)
class Experiment:
    """Base class; each experiment module defines a subclass instance and registers it."""

    name: str
    title: str
    description: str
    configs: Mapping[str, RunConfig]  # quality ("quick", "paper", "tiny") -> settings
    panes: tuple[str, ...]  # run-view panes, in key order 1..N
    compare_pane: str  # the pane compare shows for runs of this experiment
    figures: tuple[str, ...]  # export's figures of one run (the loss curves come last, always)
    compare_figure: str | None  # export's figure of several runs
    point_metrics: tuple[str, ...] = ("loss", "represented", "represented_norm_sq", "mean_superposition",
                                      "dims_per_feature")
    sampler: Sampler = INDEPENDENT
    claims: tuple[Claim, ...] = ()
    in_reproduction: bool = False  # trained and reported by `supertui reproduce`
    # Config fields this experiment never reads: a form hides them (phase sets I = (1, r), so it
    # ignores the importance decay; only phase has relative importances).
    ignored_fields: tuple[str, ...] = ("relative_importances",)
    extras: dict[str, Any] = field(default_factory=dict)
    # The headline's number in a word or two, for a column of runs ("D* 0.157"); headline() gives the whole phrase.
    headline_name: str = "D*"

    def __post_init__(self) -> None:
        for pane in (*self.panes, self.compare_pane):
            if pane not in PANES:
                raise ValueError(f"{self.name}: unknown pane {pane!r} (known: {', '.join(PANES)})")
        for figure in (*self.figures, *([self.compare_figure] if self.compare_figure else [])):
            if figure not in FIGURES:
                raise ValueError(f"{self.name}: unknown figure {figure!r} (known: {', '.join(FIGURES)})")

    # settings ---------------------------------------------------------------------------
    def config(self, quality: str = "quick") -> RunConfig:
        if quality not in self.configs:
            raise ConfigError("quality", f"unknown quality {quality!r} (accepted: {', '.join(self.configs)})")
        return self.configs[quality]

    @property
    def quick(self) -> RunConfig:
        return self.config("quick")

    @property
    def paper(self) -> RunConfig:
        return self.config("paper")

    def validate(self, config: RunConfig) -> None:
        """Checks particular to this experiment (RunConfig.check_fields does the common ones)."""
        if config.point_layout != "grid":
            raise ConfigError("point_layout", f"{config.point_layout!r} pairs densities with relative importances, "
                                              f"which only the phase experiment has (accepted here: grid)")
        if config.relative_importances is not None:
            raise ConfigError(
                "relative_importances",
                f"belong to the phase experiment (I = (1, r) for n=2); the {self.name} experiment takes none",
            )

    # instances --------------------------------------------------------------------------
    def axes(self, config: RunConfig) -> tuple[Axis, ...]:
        """The axes of the grid of points (density first), point index = their row-major ravel.
        By default density, and the relative importance of feature 2 where the config has some."""
        axes = [Axis("density", tuple(config.densities))]
        if config.relative_importances is not None:
            axes.append(Axis("r", tuple(config.relative_importances)))
        return tuple(axes)

    def points(self, config: RunConfig) -> list[Point]:
        relatives = config.relative_importances or (None,)
        return [Point(float(d), importance_vector(config, r), r) for d, r in itertools.product(config.densities, relatives)]

    def instance_table(self, config: RunConfig) -> InstanceTable:
        return table_of_points(config, self.points(config))

    def sample(self, table: InstanceTable, batch: int, step: int = 0, salt: int = 0, device: str = "cpu"):
        """Draw one batch per instance with this experiment's sampler: -> x [K, n, batch] (torch)."""
        import torch

        from engine.training.data import draw

        params = {k: torch.as_tensor(v, device=device) for k, v in self.sampler.params(table).items()}
        seeds = torch.as_tensor(table.seed, device=device)
        return draw(self.sampler.build(), seeds, params, table.importance.shape[1], batch, step, salt)

    # what it reports --------------------------------------------------------------------
    def headline(self, record: "SavedRun") -> tuple[str, float]:
        """One number that sums a run up, to compare the runs of a sweep: (label, value)."""
        from engine.science.metrics import run_points

        rows = run_points(record, ("dims_per_feature",))
        sparsest = min(rows, key=lambda r: r["density"])
        return f"D* at density {sparsest['density']:.3g}", float(sparsest["dims_per_feature"])

    def tables(self, runs: Mapping[str, "SavedRun"]) -> list[Table]:
        """Measurement tables across the runs of this experiment (by activation) for the report."""
        return []

    def instance_json(self, arrays: "RunArrays", k: int) -> dict[str, Any]:
        """Fields this experiment adds to each instance of `show --json`."""
        return {}

    def run_json(self, record: "SavedRun") -> dict[str, Any]:
        """Top-level fields this experiment adds to `show --json` (fields are never renamed)."""
        return {}


# --------------------------------------------------------------------------- the registry

_REGISTRY: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    _REGISTRY[experiment.name] = experiment
    return experiment


def experiment_names() -> list[str]:
    return list(_REGISTRY)


def get_experiment(name: str) -> Experiment:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError("preset", f"unknown preset {name!r} (accepted: {', '.join(_REGISTRY)})") from None


def experiment_for(config: RunConfig) -> Experiment:
    """The experiment a run belongs to: its config's `preset` names it. A run saved by a newer
    supertui with an experiment this one does not know opens as `custom`."""
    return _REGISTRY.get(config.preset) or _REGISTRY["custom"]


# --------------------------------------------------------------------------- a run's checks


def instance_count(config: RunConfig, experiment: Experiment | None = None) -> int:
    """How many instances (grid points x seeds) a run of `config` trains (its experiment's, when
    the caller has it already)."""
    experiment = experiment or experiment_for(config)
    return math.prod(len(axis.values) for axis in experiment.axes(config)) * config.seeds


def instance_table(config: RunConfig) -> InstanceTable:
    """The instances of a run, as its experiment lays them out."""
    return experiment_for(config).instance_table(config)


def validate_config(config: RunConfig, available_memory_bytes: int | None = None) -> RunConfig:
    """Every check a run must pass before anything is written or trained, in one place: the
    fields (RunConfig.check_fields), the experiment's own checks, the instance count and, given
    the memory available, the estimate of what the run needs. ConfigError names the first bad
    field; returns the config when all is well."""
    experiment = get_experiment(config.preset)  # names every experiment when it is unknown
    config.check_fields()
    experiment.validate(config)
    count = instance_count(config, experiment)
    if count > MAX_INSTANCES:
        raise ConfigError(_instance_field(config), f"this run would train {count:,} instances, at most "
                                                   f"{MAX_INSTANCES:,} (fewer densities, seeds or grid points)")
    if available_memory_bytes is not None:
        _check_memory(config, count, available_memory_bytes)
    return config


def _instance_field(config: RunConfig) -> str:
    """The field that multiplies the instances most: the one to lower when there are too many."""
    sizes = {"densities": len(config.densities), "seeds": config.seeds,
             "relative_importances": len(config.relative_importances or ())}
    return max(sizes, key=sizes.get)


def _check_memory(config: RunConfig, count: int, available: int) -> None:
    from engine.training.memory import estimate

    parts = estimate(config, count)
    if parts.total <= available:
        return
    field_name, advice = {
        "step": ("batch_size", "lower batch_size or n"),
        "evaluation": ("n", "lower n (the final evaluation holds 8,192 samples of every feature at once)"),
        "state": (_instance_field(config), f"lower the number of instances ({count:,}), n or m"),
    }[parts.largest()]
    raise ConfigError(field_name, f"this run needs about {parts.total / 2**30:.1f} GiB but "
                                  f"{available / 2**30:.1f} GiB is available; {advice}")


def grid_shape(axes: Sequence[Axis]) -> tuple[int, ...]:
    return tuple(len(a.values) for a in axes)


def point_index(axes: Sequence[Axis], indices: Sequence[int]) -> int:
    return int(np.ravel_multi_index(tuple(indices), grid_shape(axes)))


def point_indices(axes: Sequence[Axis], point: int) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(point, grid_shape(axes)))
