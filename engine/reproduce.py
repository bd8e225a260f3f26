"""One call that reproduces every figure of the blog: train (or reuse) the three experiments for
all seven activations, export every figure, and write report.md setting each figure beside the
claim the blog makes about it, with the numbers measured from these runs under it.

    reproduce(store, out_dir, quality="quick", fresh=False, on_progress=print)

Qualities: "paper" and "quick" are the presets' own settings (engine.presets); "tiny" shrinks
every experiment to seconds, for tests and for trying the pipeline.
"""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from engine.activations import BLOG_ACTIVATIONS
from engine.config import RunConfig
from engine.errors import ConfigError, SupertuiError
from engine.metrics import REPRESENTED_NORM, feature_dimensionality, feature_norms, gram
from engine.presets import dims_densities, get_preset, log_grid, phase_axes
from engine.runner import run_experiment
from engine.store import RunRecord, RunStore, atomic_write_bytes

QUALITIES = ("quick", "paper", "tiny")
EXPERIMENTS = ("sparsity", "phase", "dims")
REPORT = "report.md"
FIGURES_DIR = "figures"
# Fields that choose how a run is computed, not what it computes: a saved run that differs only
# in these is the same experiment (data are hashed per seed and step, identical on every device).
_HOW_NOT_WHAT = ("compile", "device", "snapshots")
PHASE_MARGIN = 1.5  # "away from the boundary": the exact phase is the same this factor away in s and r
STICKY_TOLERANCE = 0.05
NEURON_SHARE = 0.3  # a feature "uses" neuron k when |W[k, i]| >= this


class ReproduceCancelled(SupertuiError):
    """should_stop() asked to stop: the current run is saved as cancelled; nothing is exported."""


# --------------------------------------------------------------------------- what to train


def tiny_config(preset: str, activation: str) -> RunConfig:
    """Seconds per experiment on a CPU: the pipeline end to end, not the science."""
    common = dict(preset=preset, activation=activation, steps=40, batch_size=128, compile=False, snapshots=2, lr=3e-3)
    if preset == "sparsity":
        return RunConfig(n=6, m=3, densities=log_grid(1.0, 0.01, 3), importance_decay=0.9, **common)
    if preset == "phase":
        densities, importances = phase_axes(3, 3)
        return RunConfig(n=2, m=1, densities=densities, relative_importances=importances, seeds=2, **common)
    return RunConfig(n=12, m=3, densities=dims_densities(4), importance_decay=1.0, **common)


def experiment_config(preset: str, activation: str, quality: str) -> RunConfig:
    if quality == "tiny":
        return tiny_config(preset, activation).validate()
    return get_preset(preset).config(quality).replace(activation=activation).validate()


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
    work = config.num_instances * config.n * config.batch_size * (1 + config.m / 4)
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
class ReproduceResult:
    out_dir: Path
    report: Path
    figures: list[Path]
    runs: dict[tuple[str, str], RunRecord]  # (preset, activation) -> run
    trained: list[str] = field(default_factory=list)  # run ids trained now
    reused: list[str] = field(default_factory=list)  # run ids reused from the store
    elapsed: float = 0.0
    train_seconds: dict[tuple[str, str], float] = field(default_factory=dict)


def planned_paths(out_dir: Path, activations=BLOG_ACTIVATIONS) -> dict[str, Path]:
    """Every file reproduce writes, by a short key (so existing files are refused up front)."""
    figs = Path(out_dir) / FIGURES_DIR
    paths = {"report": Path(out_dir) / REPORT, "input_batches": figs / "input_batches.png"}
    for activation in activations:
        paths[f"wtw:{activation}"] = figs / f"sparsity_wtw_{activation}.png"
        paths[f"phase:{activation}"] = figs / f"phase_{activation}.png"
        paths[f"dims:{activation}"] = figs / f"dims_{activation}.png"
        for preset in EXPERIMENTS:
            paths[f"loss:{preset}:{activation}"] = figs / f"loss_{preset}_{activation}.png"
    paths["compare:wtw"] = figs / "sparsity_wtw_all.png"
    paths["compare:phase"] = figs / "phase_all.png"
    paths["compare:dims"] = figs / "dims_dstar_all.png"
    return paths


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
) -> ReproduceResult:
    """Train or reuse every experiment, export every figure, write report.md; see the module doc.

    Existing output files are refused before anything trains unless force. Reused runs must
    be completed and have the same config (up to compile/device/snapshots)."""
    from engine.export import refuse_existing, write_figure
    from engine.export import compare, figures

    started = time.monotonic()
    out_dir = Path(out_dir)
    configs = experiment_configs(quality, activations)
    paths = planned_paths(out_dir, activations)
    refuse_existing(list(paths.values()), force)

    def emit(**kw) -> None:
        if on_progress:
            on_progress(ReproduceProgress(elapsed=time.monotonic() - started, **kw))

    saved = [] if fresh else store.list_runs()
    figure_count = len(paths) - 1
    costs = [cost(c) for c in configs]
    render_cost = FIGURE_COST * figure_count
    total = sum(costs) + render_cost
    done = 0.0
    result = ReproduceResult(out_dir, paths["report"], [], {})

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
    runs = result.runs

    def export(key: str, build) -> None:
        nonlocal done
        emit(stage="export", fraction=done / total, job=len(configs), jobs=len(configs), label=paths[key].name)
        result.figures.append(write_figure(build(), paths[key], "png"))
        done += per_figure

    export("input_batches", figures.figure_input_batches)
    for activation in activations:
        export(f"wtw:{activation}", lambda a=activation: figures.figure_gram_row(runs[("sparsity", a)]))
        export(f"phase:{activation}", lambda a=activation: figures.figure_phase(runs[("phase", a)]))
        export(f"dims:{activation}", lambda a=activation: figures.figure_dims(runs[("dims", a)]))
    ordered = {p: [runs[(p, a)] for a in activations] for p in EXPERIMENTS}
    export("compare:wtw", lambda: compare.figure_compare_gram(ordered["sparsity"]))
    export("compare:phase", lambda: compare.figure_compare_phase(ordered["phase"]))
    export("compare:dims", lambda: compare.figure_compare_dims(ordered["dims"]))
    for preset in EXPERIMENTS:
        for activation in activations:
            export(f"loss:{preset}:{activation}", lambda p=preset, a=activation: figures.figure_loss(runs[(p, a)]))

    emit(stage="report", fraction=done / total, job=len(configs), jobs=len(configs), label=REPORT)
    result.elapsed = time.monotonic() - started
    text = render_report(result, quality, paths, activations)
    atomic_write_bytes(paths["report"], text.encode())
    emit(stage="done", fraction=1.0, job=len(configs), jobs=len(configs), label=str(paths["report"]))
    return result


# --------------------------------------------------------------------------- measurements


def sparsity_measures(record: RunRecord) -> list[dict[str, float]]:
    """Per density (lowest-loss seed): features represented (norm >= 0.5) and the largest
    off-diagonal |WᵀW| (interference between two features)."""
    from engine.export.figures import best_instances

    a = record.arrays
    out = []
    for k in best_instances(record):
        W = a.W[k]
        G = gram(W)
        off = np.abs(G - np.diag(np.diag(G)))
        out.append({
            "density": float(a.instances.density[k]),
            "represented": int((feature_norms(W) >= REPRESENTED_NORM).sum()),
            "max_interference": float(off.max()),
            "features_per_neuron": int((np.abs(W) >= NEURON_SHARE).sum(axis=1).max()),  # W [m, n]
        })
    return out


def phase_measures(record: RunRecord) -> dict[str, float]:
    """Share of the grid in each phase, mean seed agreement, the superposition share on each side
    of density 0.1 (the blog's S = 0.9), and agreement with the exact ReLU phase away from its
    boundary (where the exact phase is the same PHASE_MARGIN away in density and importance)."""
    from engine.phase import PHASES, relu_reference_phase
    from engine.report import run_phase_grid

    grid = run_phase_grid(record)
    phases = np.array([p.phase for p in grid])
    s = np.array([p.density for p in grid])
    r = np.array([p.relative_importance for p in grid])
    out: dict[str, float] = {f"share_{name}": float(np.mean(phases == name)) for name in PHASES}
    out["agreement"] = float(np.mean([p.agreement for p in grid]))
    sparse = s < 0.1
    out["superposition_sparse"] = float(np.mean(phases[sparse] == "superposition")) if sparse.any() else float("nan")
    out["superposition_dense"] = float(np.mean(phases[~sparse] == "superposition")) if (~sparse).any() else float("nan")
    exact = relu_reference_phase(s, r)
    away = np.ones(len(grid), dtype=bool)
    for fs in (1 / PHASE_MARGIN, 1.0, PHASE_MARGIN):
        for fr in (1 / PHASE_MARGIN, 1.0, PHASE_MARGIN):
            away &= relu_reference_phase(np.minimum(s * fs, 1.0), r * fr) == exact
    out["reference_points"] = int(away.sum())
    out["reference_match"] = float(np.mean(phases[away] == exact[away])) if away.any() else float("nan")
    return out


def dims_measures(record: RunRecord) -> dict[str, np.ndarray]:
    """D* per density and the share of represented features whose D_i sits at a sticky value
    the blog names for ReLU (1 or 1/2, within STICKY_TOLERANCE)."""
    from engine.export.figures import dims_curve

    densities, dstar, _ = dims_curve(record)
    a = record.arrays
    keep = ~a.diverged
    W = a.W[keep]
    Di = feature_dimensionality(W)  # [K, n]
    live = feature_norms(W) >= REPRESENTED_NORM
    sticky = (np.abs(Di - 1.0) < STICKY_TOLERANCE) | (np.abs(Di - 0.5) < STICKY_TOLERANCE)
    share = float(sticky[live].mean()) if live.any() else float("nan")
    return {"density": densities, "dstar": dstar, "sticky_share": share, "represented": int(live.sum()),
            "features": int(live.size)}


# --------------------------------------------------------------------------- the report

BLOG_CLAIMS = {
    ("sparsity", "linear"): "A linear model can only represent the top m features and discards the others (no superposition).",
    ("sparsity", "relu"): "ReLU focuses on the most significant features at low sparsity (monosemantic) and relies on "
                          "superposition at high sparsity, using antipodal pairs (a light diagonal entry with a dark "
                          "off-diagonal entry in the same column).",
    ("sparsity", "gelu"): "GeLU superposes with increasing sparsity, more 'strictly' than ReLU: at most two features per "
                          "neuron, one of them dominant; many antipodal pairs.",
    ("sparsity", "silu"): "SiLU behaves like GeLU: strict superposition, at most two features per neuron, antipodal pairs.",
    ("sparsity", "sigmoid"): "Sigmoid superposes in all neurons as soon as sparsity is non-zero ('speckled' off-diagonal "
                             "WᵀW), unlike ReLU/GeLU/SiLU where superposition leaks in gradually.",
    ("sparsity", "tanh"): "Tanh prioritises the most important features regardless of sparsity, much like a linear model.",
    ("sparsity", "solu"): "SoLU shows non-zero superposition of all features at every sparsity.",
    ("phase", "linear"): "(The blog shows no linear phase diagram; a linear model should keep only the more important feature.)",
    ("phase", "relu"): "Below 1−S = 0.1 ReLU is highly polysemantic for all relative importances; at low sparsity it "
                       "embeds the more important feature, mirroring Toy Models of Superposition.",
    ("phase", "gelu"): "GeLU is markedly different from ReLU: significant monosemanticity at high sparsity.",
    ("phase", "silu"): "SiLU, like GeLU, stays largely monosemantic at high sparsity.",
    ("phase", "sigmoid"): "Sigmoid's phase diagram is very similar to ReLU's: polysemantic below 1−S = 0.1.",
    ("phase", "tanh"): "Tanh nearly acts linearly (encodes only the more important feature), with some difference along "
                       "the boundary near importance 1.",
    ("phase", "solu"): "SoLU is very polysemantic, yet prefers the more important feature at low sparsity.",
}
DIMS_CLAIM = (
    "Bringing them all together (n=200, m=20, uniform importance): D* falls as sparsity grows for most activations; "
    "GeLU and SiLU are very similar; Sigmoid and SoLU pack nearly 20 features per dimension (D* near 0.05) at high "
    "sparsity; Tanh behaves like the linear model (about one feature per dimension); only ReLU is 'sticky' at D* = 1 "
    "and 1/2 (antipodal pairs)."
)
INPUT_CLAIM = "Changing the sparsity changes the feature density: at S=0.5 about half of the entries are non-zero, at S=0.99 about 1%."


def _pct(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{100 * x:.0f}%"


def _num(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{x:.3g}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _describe(config: RunConfig) -> str:
    grid = f"{len(config.densities)} densities"
    if config.relative_importances is not None:
        grid += f" × {len(config.relative_importances)} importances"
    return (f"n={config.n}, m={config.m}, {grid}, {config.seeds} seed(s)/point, {config.steps:,} steps, "
            f"batch {config.batch_size}, {config.optimizer} lr {config.lr:g}")


def render_report(result: ReproduceResult, quality: str, paths: dict[str, Path], activations) -> str:
    from engine.data import input_batch

    runs = result.runs
    rel = lambda key: paths[key].relative_to(result.out_dir).as_posix()  # noqa: E731
    first = runs[("sparsity", activations[0])]
    device = first.manifest.get("device") or "?"
    lines = [
        "# The Effect of Activation Functions on Superposition: reproduced with supertui",
        "",
        f"Quality **{quality}**, written {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {device}. "
        f"{len(result.trained)} runs trained now, {len(result.reused)} reused from the run store; "
        f"the whole job took {result.elapsed:.0f} s.",
        "",
        "Each section sets a figure beside the claim the blog makes about it, with the numbers measured from "
        "these runs under it. Claims are the blog's words (paraphrased); numbers are this reproduction's.",
        "",
        "| experiment | settings | runs |",
        "|---|---|---|",
    ]
    for preset in EXPERIMENTS:
        cfg = runs[(preset, activations[0])].config
        ids = ", ".join(f"`{runs[(preset, a)].id}`" for a in activations)
        lines.append(f"| {preset} | {_describe(cfg)} | {ids} |")
    if result.train_seconds:
        per = {}
        for (preset, _), secs in result.train_seconds.items():
            per[preset] = per.get(preset, 0.0) + secs
        lines += ["", "Training time this job: " + ", ".join(f"{p} {s:.0f} s" for p, s in per.items()) + "."]

    # Input batches
    shares = {S: float((input_batch(20, 100, 1 - S).numpy() > 0).mean()) for S in (0.5, 0.99)}
    lines += [
        "", "## Input batches", "", f"![input batches]({rel('input_batches')})", "",
        f"> Blog: {INPUT_CLAIM}", "",
        f"Measured: {_pct(shares[0.5])} of entries non-zero at S=0.5, {_pct(shares[0.99])} at S=0.99 "
        "(n=20, 100 samples, seed 0).",
    ]

    # Sparsity
    scfg = runs[("sparsity", activations[0])].config
    lines += ["", f"## Experiment 1: WᵀW and neuron-feature weights across sparsity (n={scfg.n}, m={scfg.m})", "",
              f"![all activations]({rel('compare:wtw')})", "",
              "All activations on one diverging scale centred on 0 (red positive, blue negative).", ""]
    measures = {a: sparsity_measures(runs[("sparsity", a)]) for a in activations}
    densities = [m["density"] for m in measures[activations[0]]]
    header = ["activation"] + [f"1−S={d:.3g}" for d in densities]
    n = runs[("sparsity", activations[0])].config.n
    lines += [f"Features represented (‖W_i‖ ≥ {REPRESENTED_NORM}) out of n={n}, per density:", ""]
    lines += _table(header, [[a] + [str(m["represented"]) for m in measures[a]] for a in activations])
    lines += ["", "Largest interference between two features, max over i≠j of |(WᵀW)_ij|, per density:", ""]
    lines += _table(header, [[a] + [_num(m["max_interference"]) for m in measures[a]] for a in activations])
    lines += ["", f"Most features sharing one neuron (features i with |W[k, i]| ≥ {NEURON_SHARE}, the largest over "
                  "neurons k), per density. This reads the neuron bars as drawn; the hidden layer has no activation, "
                  "so its basis is not privileged and a rotation of W changes these counts without changing the model:", ""]
    lines += _table(header, [[a] + [str(m["features_per_neuron"]) for m in measures[a]] for a in activations])
    for a in activations:
        lines += ["", f"### {a}", "", f"![{a} sparsity]({rel(f'wtw:{a}')})", "",
                  f"> Blog: {BLOG_CLAIMS[('sparsity', a)]}", "",
                  "Measured, represented features per density (1 → sparsest): "
                  + ", ".join(str(m["represented"]) for m in measures[a])
                  + "; largest off-diagonal |WᵀW|: " + ", ".join(_num(m["max_interference"]) for m in measures[a])
                  + "; most features on one neuron: " + ", ".join(str(m["features_per_neuron"]) for m in measures[a]) + "."]

    # Phase
    lines += ["", "## Experiment 2: phase diagrams (n=2, m=1)", "", f"![all phase diagrams]({rel('compare:phase')})", "",
              "Colour: phase of the lowest-loss seed; opacity: share of seeds that agree; black lines: the exact "
              "ReLU boundary (superposition iff s < 4r/(2+5r) for r ≤ 1, s < 4/(5+2r) for r ≥ 1; triple point s=4/7, r=1).", ""]
    pm = {a: phase_measures(runs[("phase", a)]) for a in activations}
    rows = [[a, _pct(m["share_feature1"]), _pct(m["share_feature2"]), _pct(m["share_superposition"]),
             _pct(m["share_neither"]), _pct(m["agreement"]), _pct(m["superposition_sparse"]),
             _pct(m["superposition_dense"]), f"{_pct(m['reference_match'])} of {m['reference_points']}"] for a, m in pm.items()]
    lines += _table(["activation", "feature 1 only", "feature 2 only", "superposition", "neither", "mean seed agreement",
                     "superposition at 1−S<0.1", "superposition at 1−S≥0.1", "matches exact ReLU phase (away from boundary)"], rows)
    if "relu" in pm:
        m = pm["relu"]
        lines += ["", f"ReLU check: away from the boundary (the exact phase unchanged ×{PHASE_MARGIN:g} in density and "
                      f"importance), {_pct(m['reference_match'])} of {m['reference_points']} grid points are in the exact phase."]
    for a in activations:
        m = pm[a]
        lines += ["", f"### {a}", "", f"![{a} phase]({rel(f'phase:{a}')})", "",
                  f"> Blog: {BLOG_CLAIMS[('phase', a)]}", "",
                  f"Measured: feature 1 only {_pct(m['share_feature1'])}, feature 2 only {_pct(m['share_feature2'])}, "
                  f"superposition {_pct(m['share_superposition'])}, neither {_pct(m['share_neither'])} of the grid; "
                  f"superposition in {_pct(m['superposition_sparse'])} of points below 1−S=0.1 and "
                  f"{_pct(m['superposition_dense'])} above."]

    # Dims
    dm = {a: dims_measures(runs[("dims", a)]) for a in activations}
    dcfg = runs[("dims", activations[0])].config
    lines += ["", f"## Experiment 3: dimensions per feature (n={dcfg.n}, m={dcfg.m}, uniform importance)", "",
              f"![D* of all activations]({rel('compare:dims')})", "", f"> Blog: {DIMS_CLAIM}", "",
              f"D* = m/‖W‖²_F per density (reference: all m dimensions shared evenly by all n features gives "
              f"m/n = {dcfg.m / dcfg.n:.3g}; D* also grows as weights shrink, see SCIENCE.md):", ""]
    dens = dm[activations[0]]["density"]
    rows = [[f"{1 / d:.3g}"] + [_num(dm[a]["dstar"][i]) for a in activations] for i, d in enumerate(dens)]
    lines += _table(["1/(1−S)"] + list(activations), rows)
    lines += ["", f"Share of represented features (‖W_i‖ ≥ {REPRESENTED_NORM}) whose D_i is within "
                  f"{STICKY_TOLERANCE} of a sticky value the blog names for ReLU (1 or 1/2), over all densities:", ""]
    lines += _table(["activation", "sticky share", "represented features"],
                    [[a, _pct(dm[a]["sticky_share"]), f"{dm[a]['represented']} of {dm[a]['features']}"] for a in activations])
    lines += ["", "Per activation, with each feature's D_i as grey dots:", ""]
    lines += [" ".join(f"[{a}]({rel(f'dims:{a}')})" for a in activations)]

    # Loss
    lines += ["", "## Training", "", "Final loss (mean over instances, on a fixed evaluation batch) and diverged instances:", ""]
    rows = []
    for a in activations:
        row = [a]
        for preset in EXPERIMENTS:
            loss = runs[(preset, a)].arrays.final_loss
            finite = loss[np.isfinite(loss)]
            div = int(runs[(preset, a)].arrays.diverged.sum())
            row.append((_num(float(finite.mean())) if finite.size else "–") + (f" ({div} diverged)" if div else ""))
        rows.append(row)
    lines += _table(["activation"] + list(EXPERIMENTS), rows)
    lines += ["", "Loss curves: " + "; ".join(
        f"{p}: " + " ".join(f"[{a}]({rel(f'loss:{p}:{a}')})" for a in activations) for p in EXPERIMENTS), ""]
    return "\n".join(lines)
