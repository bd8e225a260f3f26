"""report.md of `supertui reproduce`: each figure beside the blog's claim (supertui.blog), our own
measurable statement of it, the numbers measured from these runs and a verdict (all from
engine.reproduce), then the measurement tables of each experiment."""

from __future__ import annotations

import datetime as _dt

import numpy as np

from engine.config import RunConfig
from engine.reproduce import EXPERIMENTS, ReproduceResult
from supertui import blog

VERDICT_MARK = {"reproduced": "✅ reproduced", "explained": "🔎 explained", "refuted": "❌ refuted",
                "not reproduced": "⚠️ not reproduced", "not converged": "⏳ not converged",
                "not measured": "– not measured"}
VERDICT_MEANING = {
    "reproduced": "our runs show what the blog says",
    "explained": "our runs contradict it, and a measured mechanism accounts for what the blog saw",
    "refuted": "our runs clearly show the opposite",
    "not reproduced": "our runs do not show it, but not clearly the opposite either",
    "not converged": "our runs do not show it yet, but the numbers that decide were still moving when training stopped",
    "not measured": "a run it needs is missing",
}
NOT_IN_BLOG = "(not in the blog: our own claim)"


def _pct(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{100 * x:.0f}%"


def _num(x) -> str:
    if isinstance(x, str):
        return x
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return "–" if x is None or not np.isfinite(x) else f"{x:.3g}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    cell = lambda text: str(text).replace("|", "\\|")  # noqa: E731  (a | inside a cell, e.g. |WᵀW|, would end it)
    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return lines


def _describe(config: RunConfig) -> str:
    from engine.experiments import experiment_for

    grid = " × ".join(f"{len(a.values)} {a.name}" for a in experiment_for(config).axes(config))
    return (f"n={config.n}, m={config.m}, grid {grid}, {config.seeds} seed(s)/point, {config.steps:,} steps, "
            f"batch {config.batch_size}, {config.optimizer} lr {config.lr:g}")


def describe_partners(record) -> str:
    """What one activation does with partner pairs, in numbers: per pair kind, how many densities
    end in each arrangement and the range of the cosine."""
    from engine.experiments.correlated import GEOMETRIES, partner_geometry

    parts = []
    for kind, points in partner_geometry(record).items():
        counts = {g: sum(1 for _, _, got in points if got == g) for g in GEOMETRIES}
        cosines = [c for _, c, _ in points if np.isfinite(c)]
        spread = f"; cosine {min(cosines):+.2f} to {max(cosines):+.2f}" if cosines else ""
        where = ", ".join(
            f"{g} at {n}/{len(points)}" + (" (" + ", ".join(f"{d:.3g}" for d, _, got in points if got == g) + ")"
                                          if 0 < n < len(points) else "")
            for g, n in counts.items() if n
        )
        parts.append(f"{kind}: {where}{spread}")
    return "; ".join(parts)


def render_report(result: ReproduceResult) -> str:
    from engine.experiments.sparsity import input_batch

    paths = result.paths
    rel = lambda key: paths[key].relative_to(result.out_dir).as_posix()  # noqa: E731
    first = next(iter(result.runs.values()))
    device = first.manifest.get("device") or "?"
    lines = [
        f"# {blog.TITLE}: reproduced with supertui",
        "",
        f"Quality **{result.quality}**, written {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {device}. "
        f"{len(result.trained)} runs trained now, {len(result.reused)} reused from the run store; "
        f"the whole job took {result.elapsed:.0f} s.",
        "",
        "Each section sets a figure beside the claim the blog makes about it (paraphrased, marked *Blog*), our own "
        "measurable statement of that claim, the numbers measured from these runs and a verdict. A grid point's "
        "numbers are always those of its lowest-loss seed on the shared evaluation batch.",
        "",
        "| experiment | settings | runs |",
        "|---|---|---|",
    ]
    for name in EXPERIMENTS:
        runs = result.runs_of(name)
        if runs:
            ids = ", ".join(f"`{r.id}`" for r in runs.values())
            lines.append(f"| {name} | {_describe(next(iter(runs.values())).config)} | {ids} |")
    left_out = [name for name in EXPERIMENTS if name not in result.experiments]
    if left_out:
        lines += ["", f"Left out of this reproduction (`--experiments`): {', '.join(left_out)}. Their claims are not "
                      "judged here."]
    variants = getattr(result, "variant_runs", {})
    if variants:
        lines += ["", "Reference switches trained beside them with the same settings (SCIENCE.md 9.3; their tables "
                      "follow each experiment's): " + ", ".join(f"{name} {key} `{r.id}`" for (name, key), r in variants.items())
                  + "."]
    if result.train_seconds:
        per: dict[str, float] = {}
        for (preset, _), secs in result.train_seconds.items():
            per[preset] = per.get(preset, 0.0) + secs
        lines += ["", "Training time this job: " + ", ".join(f"{p} {s:.0f} s" for p, s in per.items()) + "."]
    lines += _verdicts_section(result)

    shares = {S: float((input_batch(20, 100, 1 - S).numpy() > 0).mean()) for S in (0.5, 0.99)}
    lines += [
        "", "## Input batches", "", f"![input batches]({rel('input_batches')})", "",
        f"> Blog: {blog.INPUT_BATCHES}", "",
        f"Measured: {_pct(shares[0.5])} of entries non-zero at S=0.5, {_pct(shares[0.99])} at S=0.99 "
        "(n=20, 100 samples, seed 0).",
    ]
    for name, measured in result.measured.items():
        lines += _experiment_section(result, name, measured, rel)
    lines += _training_section(result, rel)
    return "\n".join(lines) + "\n"


def _verdicts_section(result: ReproduceResult) -> list[str]:
    """Every claim with its verdict, the rule that decided it, and the numbers behind it, up front:
    one row per verdict counted in the count line."""
    verdicts = [e.verdict for m in result.measured.values() for _, e in m.claims]
    lines = ["", "## Verdicts", ""]
    if result.quality == "tiny":
        lines += ["Quality tiny trains each model for a few dozen steps: these verdicts test the pipeline, not the blog.", ""]
    elif result.quality == "quick":
        lines += ["Quality quick trains shorter than the blog (see the settings above): a verdict whose numbers were "
                  "still moving says *not converged*; `supertui reproduce --quality paper` decides those.", ""]
    lines += [
        f"{len(verdicts)} verdicts: " + ", ".join(f"{verdicts.count(v)} {v}" for v in VERDICT_MARK if verdicts.count(v))
        + ". " + "; ".join(f"*{v}*: {VERDICT_MEANING[v]}" for v in VERDICT_MARK if verdicts.count(v)) + ".", ""]
    rows = []
    for measured in result.measured.values():
        for claim, evidence in measured.claims:
            why = evidence.reason or _numbers(evidence)
            rows.append([f"`{claim.id}`", blog.CLAIMS.get(claim.id, NOT_IN_BLOG), VERDICT_MARK[evidence.verdict],
                         evidence.threshold or "–", why])
    return lines + _table(["claim", "the blog says", "verdict", "decided by", "why, in numbers"], rows)


def _numbers(evidence) -> str:
    return "; ".join(f"{k} = {_num(v)}" for k, v in evidence.numbers.items())


def _experiment_section(result: ReproduceResult, name: str, measured, rel) -> list[str]:
    runs = result.runs_of(name)
    config = next(iter(runs.values())).config
    lines = ["", f"## {blog.SECTIONS.get(name, measured.experiment.title)}", "", f"Settings: {_describe(config)}."]
    if f"compare:{name}" in result.paths:
        lines += ["", f"![all activations]({rel(f'compare:{name}')})"]
    if name == "correlated":
        lines += ["", blog.CORRELATED_INTRO]
    if name == "phase":
        lines += ["", blog.ONE_MODEL_PER_POINT, "", seed_sentence(runs)]
    if name == "dims" and result.reference:
        lines += _blog_numbers_section(result, runs)
    for table in measured.tables:
        lines += ["", table.title + ":", ""] + _table(table.header, table.rows)
    if name == "correlated":
        lines += ["", "What each activation does with partner pairs (antipodal: cosine below −0.9; orthogonal: |cosine| "
                      "below 0.2; one direction: above 0.9; densities in brackets where the arrangement changes):", ""]
        lines += [f"- **{a}**: {describe_partners(record)}." for a, record in runs.items()]
    if measured.claims:
        lines += ["", "### Claims", ""]
        for claim, evidence in measured.claims:
            lines += [f"**{VERDICT_MARK[evidence.verdict]}** · `{claim.id}` · {claim.statement}", ""]
            if claim.id in blog.CLAIMS:
                lines += [f"> Blog: {blog.CLAIMS[claim.id]}", ""]
            lines += [f"Measured: {_numbers(evidence)}.", ""]
            if evidence.threshold:
                lines += [f"Decided by: {evidence.threshold}.", ""]
            if evidence.reason:
                lines += [f"Why {evidence.verdict}: {evidence.reason}", ""]
    figures = [k for k in result.paths if k.count(":") == 2 and k.split(":")[1] == name and not k.startswith("loss:")]
    if figures:
        lines += ["Per activation: " + " ".join(f"[{k.split(':')[0]} {k.split(':')[2]}]({rel(k)})" for k in figures)]
    return lines


def seed_sentence(runs) -> str:
    """The GeLU/SiLU disagreement with the blog, in this run's numbers (ReLU for contrast)."""
    from engine.experiments.phase import SPARSE, phase_measures, seed_measures

    parts = []
    for activation in ("gelu", "silu", "relu"):
        if activation not in runs:
            continue
        m, s = phase_measures(runs[activation]), seed_measures(runs[activation])
        sign = s["init_sign"]
        start = "" if sign is None else (
            f"; {_pct(sign.superposed_if_negative)} of the models that started with w1·w2 < 0 superpose, "
            f"{_pct(sign.superposed_if_positive)} of those that started with w1·w2 ≥ 0")
        gap = s["loss_gap_sparse"]
        worse = "" if not np.isfinite(gap) else f", the others at a median loss {_pct(gap)} higher"
        parts.append(f"**{activation}**: the lowest-loss seed superposes at {_pct(m['superposition_sparse'])} of the "
                     f"points, single seeds at {_pct(s['seeds_superposed_sparse'])} (each seed alone: "
                     f"{', '.join(_pct(v) for v in s['each_seed_superposed_sparse'])}){worse}{start}")
    if not parts:
        return ""
    return (f"Below density {SPARSE:g}, " + "; ".join(parts) + ". A model's initial weights depend on its seed "
            "alone, so each seed starts every point from the same w1·w2: a one-model-per-point diagram is monosemantic "
            "where its model started with w1·w2 ≥ 0, and the best of several seeds superposes wherever one of them "
            "started below 0. The seed figures (`phase_seeds_<activation>.png`) show each seed's own diagram beside "
            "the best-of-seeds one.")


def _blog_numbers_section(result: ReproduceResult, runs) -> list[str]:
    """Our D* against the numbers the blog states in its text (supertui.blog.DIMS_REFERENCE)."""
    from engine.export import reference_errors
    from engine.export.figures import dims_curve
    from engine.science.reference_curves import MAE_DEFINITION

    rows = []
    for curve, (label, record, error) in zip(result.reference, reference_errors(list(runs.values()), result.reference)):
        if record is None:
            rows.append([label, curve.source, ", ".join(f"{y:g} at {x:g}" for x, y in zip(curve.x, curve.y)), "–", "–"])
            continue
        run = dims_curve(record)
        ours = [float(run.dstar[int(np.argmin(np.abs(np.log(1 / run.density) - np.log(x))))]) for x in curve.x]
        rows.append([label, curve.source, ", ".join(f"{y:g} at {x:g}" for x, y in zip(curve.x, curve.y)),
                     ", ".join(f"{v:.3f}" for v in ours), f"{error.mae:.3f}"])
    return ["", f"Our D* against the numbers the blog states in its text ({MAE_DEFINITION}; x = 1/(1−S)); the "
                "combined D* figure draws them as stars:", ""] + _table(
        ["activation", "the blog's words", "blog's D* at x", "ours at the nearest x", "MAE"], rows)


def _training_section(result: ReproduceResult, rel) -> list[str]:
    lines = ["", "## Training", "",
             "Final loss (mean over instances, on the shared evaluation batch) and diverged instances:", ""]
    names = [name for name in EXPERIMENTS if result.runs_of(name)]
    rows = []
    for a in result.activations:
        row = [a]
        for name in names:
            record = result.runs.get((name, a))
            if record is None:
                row.append("–")
                continue
            loss = record.arrays.final_loss
            finite = loss[np.isfinite(loss)]
            div = int(record.arrays.diverged.sum())
            row.append((_num(float(finite.mean())) if finite.size else "–") + (f" ({div} diverged)" if div else ""))
        rows.append(row)
    lines += _table(["activation", *names], rows)
    lines += ["", "Loss curves: " + "; ".join(
        f"{n}: " + " ".join(f"[{a}]({rel(f'loss:{n}:{a}')})" for a in result.activations if f"loss:{n}:{a}" in result.paths)
        for n in names), ""]
    return lines
