"""Measure what the reference switches do to D*, and how D* moves with training, at the dims
experiment's paper settings (n=200, m=20, 20 densities, 10,000 steps, batch 1024), or at smaller
ones given as flags (the tables say which):

    python scripts/measure_reference_switches.py --data-dir DIR [--train] [--steps N] [--batch-size B] [--densities COUNT]

- the anthropic profile (loss averaged over features, AdamW with weight decay 0.01, batched Xavier)
  against the project's choices, per activation;
- SoLU's softmax over the instance axis against the feature axis, beside the blog's D* ≈ 0.54 at
  density 1;
- sigmoid's D* at the sparsest density against training step (its W snapshots; a run continued
  with `supertui train --resume` extends the history).

Completed runs of each experiment in DIR are reused (engine.reproduce.find_saved); with --train
the missing ones are trained there (hours on a 2-core CPU; queue them detached instead:
`supertui train dims --paper -a all --profile anthropic --detach --data-dir DIR`, and the same
with `-a solu --param axis=instance` and without the profile). Prints markdown tables; README.md
and SCIENCE.md quote them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from engine.training.activations import BLOG_ACTIVATIONS  # noqa: E402
from engine.science.convergence import run_dstar_history  # noqa: E402
from engine.experiments.base import Table  # noqa: E402
from engine.experiments.dims import VARIANTS, variant_effect, variant_table  # noqa: E402
from engine.presets import preset_config  # noqa: E402
from engine.reproduce import find_saved  # noqa: E402
from engine.store.runs import RunStore  # noqa: E402

BLOG_SOLU_DENSE_DSTAR = 0.54  # the blog's plotted SoLU D* at density 1 (issue 14, section 3)
SIGMOID_STEPS = (1_000, 3_000, 10_000, 30_000)  # the steps the sigmoid history is read at (where reached)


def markdown(table: Table) -> str:
    def cells(row) -> str:  # a | inside a cell (|ΔD*|) would end it
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |"

    lines = [f"**{table.title}**", "", cells(table.header), "|" + "---|" * len(table.header)]
    lines += [cells(row) for row in table.rows]
    return "\n".join(lines)


def find(store: RunStore, saved: list, config, train: bool):
    record = find_saved(store, config, saved)
    if record is None and train:
        from engine.jobs.runner import run_experiment

        record = run_experiment(config, store, progress_interval=3600)
        print(f"trained {record.id}", file=sys.stderr)
    return record


def settings(args) -> dict:
    """The fields that differ from the paper settings, from the flags."""
    from engine.experiments.dims import dims_densities

    out = {}
    if args.steps:
        out["steps"] = args.steps
    if args.batch_size:
        out["batch_size"] = args.batch_size
    if args.densities:
        out["densities"] = dims_densities(args.densities)
    return out


def runs_of(store: RunStore, saved: list, activations, change, train: bool, label: str, fields: dict) -> dict:
    """{activation: the saved (or, with train, new) dims run of `change(config)`, config the paper
    settings with `fields` replaced}."""
    out = {}
    for activation in activations:
        config = preset_config("dims", "paper", activation=activation).replace(**fields)
        record = find(store, saved, change(config), train)
        if record is not None:
            out[activation] = record
        else:
            print(f"missing: {label} {activation}", file=sys.stderr)
    return out


def _what(config) -> dict:
    """A config without its step count and what only says how it ran."""
    fields = config.to_dict()
    for key in ("steps", "compile", "device", "snapshots"):
        fields.pop(key, None)
    return fields


def longest_sigmoid_history(saved: list):
    """The completed paper-settings sigmoid dims run with the most steps (a resumed one goes further)."""
    base = _what(preset_config("dims", "paper", activation="sigmoid"))
    candidates = [r for r in saved if r.status == "completed" and r.has_arrays and _what(r.config) == base]
    return max(candidates, key=lambda r: r.config.steps) if candidates else None


def sigmoid_table(record) -> Table:
    history = run_dstar_history(record)
    sparsest = int(np.argmin(history.density))
    rows = []
    for target in SIGMOID_STEPS:
        if target > history.last_step:
            continue
        i = int(np.argmin(np.abs(history.steps - target)))
        rows.append([f"{int(history.steps[i]):,}", f"{history.dstar[i, sparsest]:.3f}"])
    return Table(f"sigmoid: D* at 1/(1−S) = {1 / history.density[sparsest]:.3g} against training step "
                 f"(run {record.id}; {history.summary()})", ["step", "D*"], rows)


def per_density_table(variant, ours: dict, theirs: dict) -> Table:
    """D* at every density, the project's choice → the variant's, per activation."""
    effect = variant_effect(ours, theirs)
    if not effect:
        return Table(f"D* per density, default → {variant.name}: no runs", ["activation"], [])
    density = next(iter(effect.values()))["density"]
    def moving(record) -> str:
        return str(int(run_dstar_history(record).moving.sum()))

    rows = [[a, *[f"{d:.3f} → {v:.3f}" for d, v in zip(e["dstar"], e["variant_dstar"])], f"{e['mean_abs_difference']:.3f}",
             f"{moving(ours[a])} → {moving(theirs[a])}"] for a, e in effect.items()]
    return Table(f"D* per density, the project's choices → {variant.name}; the last column: densities whose D* still "
                 "moved by more than 5% over the last half-decade of training (SCIENCE.md 5.1)",
                 ["activation", *[f"1/(1−S) = {1 / d:.3g}" for d in density], "mean |ΔD*|", "still moving"], rows)


CONVERGENCE_STEPS = (3_000, 10_000, 30_000)  # issue 28, section 5


def settling_step(history, threshold: float = 0.05) -> int | None:
    """The earliest snapshot step from which D* stays within `threshold` of its final value at
    every density (None: not even the last snapshot before the end)."""
    final = history.dstar[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        off = np.abs(history.dstar - final) / np.abs(final) > threshold  # [S, P]
    bad = np.flatnonzero(off.any(axis=1))
    first = 0 if not bad.size else int(bad[-1]) + 1
    return int(history.steps[first]) if first < len(history.steps) else None


def convergence_table(records: dict) -> Table:
    """Per activation, D* at the sparsest density at 3k, 10k and 30k steps (nearest snapshot, where
    reached) and the step from which D* stays within 5 % of its final value at every density."""
    rows = []
    for activation, record in records.items():
        history = run_dstar_history(record)
        sparsest = int(np.argmin(history.density))
        cells = []
        for target in CONVERGENCE_STEPS:
            if target > history.last_step:
                cells.append("–")
                continue
            i = int(np.argmin(np.abs(history.steps - target)))
            cells.append(f"{history.dstar[i, sparsest]:.3f} (step {int(history.steps[i]):,})")
        settled = settling_step(history)
        rows.append([activation, *cells, "–" if settled is None else f"{settled:,} of {history.last_step:,}"])
    return Table("D* at the sparsest density against training step, and the step from which D* stays within 5% of "
                 "its final value at every density (the longest saved run per activation)",
                 ["activation", *[f"D* at {s:,}" for s in CONVERGENCE_STEPS], "settled from step"], rows)


def longest_runs(saved: list, fields: dict) -> dict:
    """Per activation, the completed dims run with these settings (up to steps) with the most steps."""
    out = {}
    for activation in BLOG_ACTIVATIONS:
        base = _what(preset_config("dims", "paper", activation=activation).replace(**fields))
        candidates = [r for r in saved if r.status == "completed" and r.has_arrays and _what(r.config) == base]
        if candidates:
            out[activation] = max(candidates, key=lambda r: r.config.steps)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--train", action="store_true", help="train the missing runs (slow)")
    parser.add_argument("--steps", type=int, help="training steps instead of the paper's 10,000")
    parser.add_argument("--batch-size", type=int, help="batch size instead of the paper's 1024")
    parser.add_argument("--densities", type=int, help="this many densities 20**-linspace(0, 1, COUNT) instead of 20")
    parser.add_argument("--convergence", action="store_true",
                        help="only the convergence study: D* at 3k, 10k, 30k steps per activation, from the longest "
                             "saved runs (train them with: supertui train dims --paper -a all --steps 30000 --detach)")
    args = parser.parse_args()
    store = RunStore(args.data_dir)
    saved = store.list_runs()
    fields = settings(args)
    if args.convergence:
        print(markdown(convergence_table(longest_runs(saved, {k: v for k, v in fields.items() if k != "steps"}))))
        return
    base = preset_config("dims", "paper").replace(**fields)
    print(f"Settings: n={base.n}, m={base.m}, {len(base.densities)} densities, {base.steps:,} steps, batch "
          f"{base.batch_size}, lr {base.lr:g}, {base.seeds} seed" + (" (the paper settings)" if not fields else "")
          + "\n")
    ours = runs_of(store, saved, BLOG_ACTIVATIONS, lambda c: c, args.train, "default", fields)
    for variant in VARIANTS.values():
        theirs = runs_of(store, saved, variant.activations, variant.apply, args.train, variant.name, fields)
        print(markdown(variant_table(variant, ours, theirs)), "\n")
        print(markdown(per_density_table(variant, ours, theirs)), "\n")
        if variant.name == "solu_instance_axis" and "solu" in theirs and "solu" in ours:
            effect = variant_effect(ours, theirs)["solu"]
            print(f"SoLU D* at density 1: feature axis {effect['densest'][0]:.3f}, instance axis "
                  f"{effect['densest'][1]:.3f}; the blog plots about {BLOG_SOLU_DENSE_DSTAR}\n")
    record = longest_sigmoid_history(saved)
    if record is not None:
        print(markdown(sigmoid_table(record)))


if __name__ == "__main__":
    main()
