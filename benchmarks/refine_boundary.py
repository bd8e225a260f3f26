"""Refinement against the uniform grid: how close each finds the phase boundary, at what cost.

    python benchmarks/refine_boundary.py                      # exact labels, then trained ReLU
    python benchmarks/refine_boundary.py --steps 3000 --activations relu gelu silu --figure out.png

1. Exact labels (no training, seconds): every point labelled by the exact n=2 ReLU optimum
   (engine.science.relu_reference), so the error is the method's alone. The 40x40 uniform grid,
   a refinement of a 6x6 grid by 5 levels, and the cheapest refinement that is as close as the grid.
2. Trained: the same two designs trained (in this process, same settings for both; each level is
   one batched run as the queue would train it), held against the exact ReLU boundary; for GeLU
   and SiLU (no exact reference) the boundary's own uncertainty is reported.

Error: the mean over the boundary's crossings (superposition–feature1 and –feature2) of the
distance to the exact boundary, in decades of density, at the crossing's r. Compute: instance-steps
(points x seeds x steps). Prints the ratio of the errors and of the compute."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from engine.science.boundary import Lattice, Outcome, outcomes_of_run, phase_boundaries, reference_error  # noqa: E402
from engine.sweeps.refine import level_config, next_nodes  # noqa: E402

GRID = 40
COARSE, LEVELS = 6, 5


def exact_labels(lattice: Lattice, nodes) -> dict:
    from engine.science.relu_reference import reference_phase

    s, r = lattice.coordinates([n[0] for n in nodes], [n[1] for n in nodes])
    return {n: Outcome(str(p)) for n, p in zip(nodes, reference_phase(s, r))}


def refine(lattice: Lattice, label) -> tuple[dict, list[int]]:
    """Level 0 then every level, each labelled by `label(lattice, nodes)`; (outcomes, points per level)."""
    known = label(lattice, lattice.coarse_nodes())
    counts = [len(known)]
    for level in range(1, lattice.levels + 1):
        nodes = next_nodes(known, lattice, level)
        if not nodes:
            break
        known.update(label(lattice, nodes))
        counts.append(len(nodes))
    return known, counts


def error_of(known: dict, lattice: Lattice, reference: bool = True) -> tuple[dict, list]:
    boundaries = phase_boundaries(known, lattice, reference=reference)
    return reference_error(boundaries), boundaries


def exact_part() -> None:
    print("1. Exact labels (the method's own error, no training)")
    grid = Lattice(GRID, 0)
    grid_known, _ = refine(grid, exact_labels)
    g, _ = error_of(grid_known, grid)
    print(f"   {GRID}x{GRID} grid: {len(grid_known):,} points, {g['crossings']} crossings, "
          f"mean error {g['mean_decades']:.4f} decades (max {g['max_decades']:.4f}), "
          f"exact boundary inside the stated interval at {g['within']:.0%}")
    lattice = Lattice(COARSE, LEVELS)
    known, counts = refine(lattice, exact_labels)
    e, _ = error_of(known, lattice)
    print(f"   {COARSE}x{COARSE} refined {LEVELS} levels: {len(known):,} points ({' + '.join(map(str, counts))}), "
          f"mean error {e['mean_decades']:.4f} decades (max {e['max_decades']:.4f}), inside at {e['within']:.0%}")
    print(f"   error ratio grid/refined: {g['mean_decades'] / e['mean_decades']:.2f}x at "
          f"{len(known) / len(grid_known):.0%} of the grid's compute")
    for coarse, levels in ((8, 5), (7, 5), (8, 3), (8, 2), (6, 3)):
        small = Lattice(coarse, levels)
        k, _ = refine(small, exact_labels)
        s, _ = error_of(k, small)
        print(f"   {coarse}x{coarse} refined {levels} levels: {len(k):,} points ({len(k) / len(grid_known):.0%} of the "
              f"grid's compute), mean error {s['mean_decades']:.4f} decades "
              f"({g['mean_decades'] / s['mean_decades']:.2f}x the grid's accuracy)")


def trainer(settings: dict, spent: list):
    from engine.experiments import instance_table
    from engine.experiments.phase import PHASE
    from engine.training.run import resolve_run
    from engine.training.train import train

    def label(lattice: Lattice, nodes) -> dict:
        base = PHASE.config("quick").replace(**settings)
        config = level_config(base, lattice, list(nodes))
        result = train(resolve_run(config))
        spent.append(len(nodes) * config.seeds * config.steps)
        arrays = SimpleNamespace(W=result.W, final_loss=result.final_loss, instances=instance_table(config),
                                 final_loss_gap_se=result.final_loss_gap_se)
        return outcomes_of_run(SimpleNamespace(arrays=arrays, config=config), lattice)

    return label


def uncertainty(boundaries) -> str:
    crossings = [c for b in boundaries for c in b.crossings]
    if not crossings:
        return "no boundary found"
    widths = np.array([c.half_width_decades for c in crossings])
    split = [c for c in crossings if c.seed_shares and max(c.seed_shares.values()) < 1]
    pairs = ", ".join(f"{b.phases[0]}–{b.phases[1]} {len(b.crossings)}" for b in boundaries)
    return (f"{len(crossings)} crossings ({pairs}); half-width {widths.mean():.4f} decades (mean), "
            f"seeds split at {len(split)} of them")


def trained_part(args) -> dict:
    settings = {"seeds": args.seeds, "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
                "schedule": args.schedule, "snapshots": 0, "device": "cpu"}
    print(f"2. Trained ({', '.join(f'{k} {v}' for k, v in settings.items() if k not in ('snapshots',))})")
    found, phases = {}, {}
    for activation in args.activations:
        ours = {**settings, "activation": activation}
        relu = activation == "relu"
        if relu and not args.no_grid:
            spent: list[int] = []
            t = time.time()
            grid = Lattice(GRID, 0)
            grid_known, _ = refine(grid, trainer(ours, spent))
            g, _ = error_of(grid_known, grid)
            grid_cost = sum(spent)
            print(f"   relu {GRID}x{GRID} grid: {grid_cost:,} instance-steps, mean error {g['mean_decades']:.4f} decades "
                  f"(median {g['median_decades']:.4f}, max {g['max_decades']:.4f}), inside the interval at {g['within']:.0%} [{time.time() - t:.0f} s]")
        spent = []
        t = time.time()
        lattice = Lattice(args.coarse, args.levels)
        known, counts = refine(lattice, trainer(ours, spent))
        e, boundaries = error_of(known, lattice, reference=relu)
        found[activation] = boundaries
        phases[activation] = {o.phase for o in known.values()}
        line = f"   {activation} {args.coarse}x{args.coarse} refined {args.levels} levels: {sum(spent):,} instance-steps " \
               f"({' + '.join(map(str, counts))} points)"
        if relu:
            line += (f", mean error {e['mean_decades']:.4f} decades (median {e['median_decades']:.4f}, "
                     f"max {e['max_decades']:.4f}), inside the interval at {e['within']:.0%} [{time.time() - t:.0f} s]")
        if relu and not args.no_grid:
            print(line)
            print(f"   relu: error ratio grid/refined {g['mean_decades'] / e['mean_decades']:.2f}x (median "
                  f"{g['median_decades'] / e['median_decades']:.2f}x) at "
                  f"{sum(spent) / grid_cost:.2f}x the grid's instance-steps")
        print(f"{'' if relu and not args.no_grid else line + chr(10)}   {activation} boundary: {uncertainty(boundaries)}")
    if "relu" in found:
        from engine.science.boundary import shift_sentence

        print("3. Each activation's boundary against ReLU's")
        for activation, boundaries in found.items():
            print(f"   {shift_sentence(activation, boundaries, found['relu'], phases[activation])}")
    return found


def figure(found: dict, path: str) -> None:
    from engine.export.refine_figure import boundaries_figure

    boundaries_figure(found, path)
    print(f"   figure: {path}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--schedule", default="constant", help="constant, linear or cosine")
    p.add_argument("--activations", nargs="*", default=["relu"])
    p.add_argument("--exact-only", action="store_true")
    p.add_argument("--no-grid", action="store_true", help="skip the trained 40x40 ReLU grid (only refine)")
    p.add_argument("--coarse", type=int, default=COARSE)
    p.add_argument("--levels", type=int, default=LEVELS)
    p.add_argument("--figure", help="write the trained boundaries as a PNG here")
    args = p.parse_args()
    if not args.no_grid:
        exact_part()
    if not args.exact_only:
        found = trained_part(args)
        if args.figure:
            figure(found, args.figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
