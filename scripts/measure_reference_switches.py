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
from engine.science.convergence import MOVING_THRESHOLD, calibrate_flag, dstar_near, run_dstar_history  # noqa: E402
from engine.export.convergence import settling_step  # noqa: E402
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


def find(store: RunStore, saved: list, config, missing: list):
    """The saved run of `config`, or None after noting the config in `missing` (trained later,
    through the queue, when --train asks)."""
    record = find_saved(store, config, saved)
    if record is None:
        missing.append(config)
    return record


def train_missing(store: RunStore, missing: list, extras: list | None = None) -> None:
    """Queue the missing runs as one batch (the path every run takes: queue, worker, one lifecycle)
    and wait for them; Ctrl+C cancels them."""
    import signal
    import threading

    from engine.jobs.batch import follow_batch, submit_batch

    ids = submit_batch(store, missing, extras)
    print(f"queued {len(ids)} runs: {', '.join(ids)}", file=sys.stderr)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    records = follow_batch(store, ids, should_stop=stop.is_set)
    failed = [r.id for r in records.values() if r.status != "completed"]
    if failed:
        print(f"not completed: {', '.join(failed)}", file=sys.stderr)


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


def runs_of(store: RunStore, saved: list, activations, change, missing: list, label: str, fields: dict) -> dict:
    """{activation: the saved dims run of `change(config)`, config the paper settings with
    `fields` replaced}; the configs with no saved run go to `missing`."""
    out = {}
    for activation in activations:
        config = preset_config("dims", "paper", activation=activation).replace(**fields)
        record = find(store, saved, change(config), missing)
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


def completed_like(saved: list, config) -> list:
    """The completed runs (arrays kept) of `config`'s experiment, whatever their step count."""
    base = _what(config)
    return [r for r in saved if r.status == "completed" and r.has_arrays and _what(r.config) == base]


def longest_sigmoid_history(saved: list):
    """The completed paper-settings sigmoid dims run with the most steps (a resumed one goes further)."""
    candidates = completed_like(saved, preset_config("dims", "paper", activation="sigmoid"))
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


def convergence_table(records: dict, at: tuple = CONVERGENCE_STEPS) -> Table:
    """Per activation, D* at the sparsest density at 3k, 10k and 30k steps (nearest snapshot, where
    reached) and the step from which D* stays within 5 % of its final value at every density."""
    rows = []
    for activation, record in records.items():
        history = run_dstar_history(record)
        sparsest = int(np.argmin(history.density))
        cells = []
        for target in at:
            found = dstar_near(history, target)
            cells.append("–" if found is None else f"{found[1][sparsest]:.3f} (step {found[0]:,})")
        settled = settling_step(history)
        rows.append([activation, *cells, "–" if settled is None else f"{settled:,} of {history.last_step:,}"])
    return Table("D* at the sparsest density against training step, and the step from which D* stays within 5% of "
                 "its final value at every density (the longest saved run per activation)",
                 ["activation", *[f"D* at {s:,}" for s in at], "settled from step"], rows)


def longest_runs(saved: list, fields: dict) -> dict:
    """Per activation, the completed dims run with these settings (up to steps) with the most steps."""
    out = {}
    for activation in BLOG_ACTIVATIONS:
        candidates = completed_like(saved, preset_config("dims", "paper", activation=activation).replace(**fields))
        if candidates:
            out[activation] = max(candidates, key=lambda r: r.config.steps)
    return out


def continued_pairs(saved: list, fields: dict) -> dict:
    """Per activation, (the completed run at these settings, its longest completed continuation by
    `train --resume`, or None)."""
    out = {}
    for activation in BLOG_ACTIVATIONS:
        config = preset_config("dims", "paper", activation=activation).replace(**fields)
        parents = [r for r in completed_like(saved, config)
                   if not r.manifest.get("parent") and r.config.steps == config.steps]
        if not parents:
            continue
        parent = max(parents, key=lambda r: r.id)
        children = [r for r in saved if r.status == "completed" and r.has_arrays
                    and r.manifest.get("parent") == parent.id and r.config.steps > parent.config.steps]
        out[activation] = (parent, max(children, key=lambda r: r.config.steps) if children else None)
    return out


def queue_continuations(store: RunStore, pairs: dict, target_steps: int) -> None:
    """Continue every parent without a continuation to `target_steps`, through the queue, and wait."""
    from engine.jobs.resume import resume_config, resume_extra

    todo = [parent for parent, child in pairs.values() if child is None]
    if not todo:
        return
    configs = [resume_config(p, target_steps - p.config.steps) for p in todo]
    extras = [resume_extra(p) for p in todo]
    train_missing(store, configs, extras)


def calibration_table(pairs: dict) -> tuple[Table, dict]:
    """The flag at each run's end against how far D* moved when the run was continued."""
    rows, total = [], {"hits": 0, "false_alarms": 0, "misses": 0, "quiet": 0}
    for activation, (parent, child) in pairs.items():
        if child is None:
            continue
        result = calibrate_flag(activation, run_dstar_history(parent), run_dstar_history(child))
        counts = result.counts()
        for key in total:
            total[key] += counts[key]
        flagged = result.flagged
        after = np.nan_to_num(result.change_after, nan=0.0)
        def spread(mask) -> str:
            return "–" if not mask.any() else f"{after[mask].min():.1%}–{after[mask].max():.1%}"
        rows.append([activation, f"{result.end:,} → {result.continued_to:,}", str(int(flagged.sum())),
                     str(counts["hits"]), str(counts["false_alarms"]), spread(flagged),
                     str(int((~flagged).sum())), str(counts["misses"]), spread(~flagged)])
    title = (f"The still-moving flag at the end of training against D* when the run is continued: a flagged point "
             f"is a false alarm when D* then moves by at most {MOVING_THRESHOLD:.0%}, an unflagged one a miss when "
             "it moves by more")
    header = ["activation", "steps", "flagged", "moved on", "false alarms", "flagged: moved", "unflagged", "misses",
              "unflagged: moved"]
    return Table(title, header, rows), total


def print_rates(total: dict) -> None:
    flagged = total["hits"] + total["false_alarms"]
    unflagged = total["misses"] + total["quiet"]
    if flagged:
        print(f"false-alarm rate: {total['false_alarms']}/{flagged} = {total['false_alarms'] / flagged:.0%} of flagged points")
    if unflagged:
        print(f"miss rate: {total['misses']}/{unflagged} = {total['misses'] / unflagged:.0%} of unflagged points")


def switch_tables(store: RunStore, fields: dict, train: bool) -> None:
    saved = store.list_runs()
    missing: list = []
    ours = runs_of(store, saved, BLOG_ACTIVATIONS, lambda c: c, missing, "default", fields)
    theirs = {v.name: runs_of(store, saved, v.activations, v.apply, missing, v.name, fields) for v in VARIANTS.values()}
    if missing and train:
        train_missing(store, missing)
        return switch_tables(store, fields, train=False)
    base = preset_config("dims", "paper").replace(**fields)
    print(f"Settings: n={base.n}, m={base.m}, {len(base.densities)} densities, {base.steps:,} steps, batch "
          f"{base.batch_size}, lr {base.lr:g}, {base.seeds} seed" + (" (the paper settings)" if not fields else "")
          + "\n")
    for variant in VARIANTS.values():
        print(markdown(variant_table(variant, ours, theirs[variant.name])), "\n")
        print(markdown(per_density_table(variant, ours, theirs[variant.name])), "\n")
        if variant.name == "solu_instance_axis" and "solu" in theirs[variant.name] and "solu" in ours:
            effect = variant_effect(ours, theirs[variant.name])["solu"]
            print(f"SoLU D* at density 1: feature axis {effect['densest'][0]:.3f}, instance axis "
                  f"{effect['densest'][1]:.3f}; the blog plots about {BLOG_SOLU_DENSE_DSTAR}\n")
    record = longest_sigmoid_history(saved)
    if record is not None:
        print(markdown(sigmoid_table(record)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--train", action="store_true",
                        help="queue the missing runs and wait for them (slow); with --convergence or --calibrate, "
                             "continue each paper dims run to 30,000 steps")
    parser.add_argument("--steps", type=int, help="training steps instead of the paper's 10,000")
    parser.add_argument("--batch-size", type=int, help="batch size instead of the paper's 1024")
    parser.add_argument("--densities", type=int, help="this many densities 20**-linspace(0, 1, COUNT) instead of 20")
    parser.add_argument("--convergence", action="store_true",
                        help="the convergence study: D* at 3k, 10k, 30k steps per activation, from the longest saved "
                             "runs (a paper run continued with `supertui train --resume RUN --steps 20000`)")
    parser.add_argument("--continue-to", type=int, default=CONVERGENCE_STEPS[-1],
                        help="with --train and --convergence or --calibrate: the step count to continue runs to "
                             "(default: %(default)s)")
    parser.add_argument("--at", type=int, nargs="+", default=list(CONVERGENCE_STEPS),
                        help="with --convergence: the step counts D* is read at (default: %(default)s)")
    parser.add_argument("--figure", type=Path, help="with --convergence: write its figure (PNG) here")
    parser.add_argument("--calibrate", action="store_true",
                        help="the still-moving flag at 10,000 steps against how far D* moved by 30,000 (continued runs)")
    args = parser.parse_args()
    store = RunStore(args.data_dir)
    fields = settings(args)
    if args.convergence or args.calibrate:
        if args.train:
            queue_continuations(store, continued_pairs(store.list_runs(), fields), args.continue_to)
        saved = store.list_runs()
    if args.convergence:
        records = longest_runs(saved, {k: v for k, v in fields.items() if k != "steps"})
        print(markdown(convergence_table(records, tuple(args.at))), "\n")
        if args.figure:
            from engine.export.convergence import figure_convergence
            from engine.export.style import render
            from engine.system.files import atomic_write_bytes

            histories = {a: run_dstar_history(r) for a, r in records.items()}
            atomic_write_bytes(args.figure, render(figure_convergence(histories, args.at)))
            print(f"wrote {args.figure}")
    if args.calibrate:
        table, total = calibration_table(continued_pairs(saved, fields))
        print(markdown(table), "\n")
        print_rates(total)
    if not (args.convergence or args.calibrate):
        switch_tables(store, fields, args.train)


if __name__ == "__main__":
    main()
