"""`supertui show RUN [--json]`: one saved run; with --json, the scripting contract."""

from __future__ import annotations

import json
import sys
from collections import Counter

from supertui.cli.common import open_store, safe_text


def register(subparsers) -> None:
    from supertui.cli import add_data_dir

    p = subparsers.add_parser("show", description="Show one saved run.")
    p.add_argument("run", help="run id or a unique prefix (see `supertui runs`)")
    p.add_argument("--json", action="store_true", help="the full run as JSON (see README: the JSON contract)")
    add_data_dir(p)
    p.set_defaults(func=run)


def header_lines(record) -> list[str]:
    """The run's settings and story; text from its folder is printed through safe_text."""
    from engine.config import profile_label

    cfg = record.config
    m = record.manifest
    # Named parameters change what the activation is (solu's axis=instance couples the instances).
    params = ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}"
                       for k, v in sorted(cfg.activation_params.items()))
    activation = f"{cfg.activation} ({params})" if params else cfg.activation
    lines = [
        f"{record.id}  {cfg.preset}/{activation}  {record.status}",
        f"  n={cfg.n} m={cfg.m} steps={m.get('steps_done')}/{cfg.steps} instances={m.get('instances')} "
        f"batch={cfg.batch_size} lr={cfg.lr:g} {cfg.optimizer} {cfg.schedule} init={cfg.init} "
        f"loss={cfg.loss_reduction} profile={profile_label(cfg)}",
    ]
    if m.get("parent"):
        lines.append(f"  continues run {m['parent']} from step {m.get('resumed_from_step')}")
    lines.append(f"  device={m.get('device')} host={record.host or '-'} executor={record.executor} compiled={m.get('compiled')} elapsed={m.get('elapsed_seconds')}s "
                 f"created={record.created}")
    if record.tags or record.note:
        lines.append(f"  tags={','.join(record.tags) or '-'} note={record.note or '-'}")
    if m.get("error"):
        lines.append(f"  error: {m['error']}")
    diverged = (record.summary or {}).get("diverged")
    if diverged:
        lines.append(f"  diverged: {diverged} instance(s) (their losses are unknown and never rank best)")
    return lines


def run(args) -> int:
    import numpy as np

    from engine import run_phase_grid, run_to_json
    from engine.science.convergence import run_dstar_history
    from engine.experiments import experiment_for
    from engine.experiments.base import point_indices
    from engine.science.metrics import METRICS, format_metric, point_rows
    from engine.sweeps.refine import refinement_json, refinement_of, refinement_summary
    store = open_store(args)
    record = store.load(store.resolve(args.run))
    refinement = refinement_of(store, record)  # the refinement this run is a level of, if any
    if args.json:
        data = run_to_json(record)
        if refinement is not None:
            data.update(refinement_json(store, refinement))
        json.dump(data, sys.stdout, indent=1, allow_nan=False)
        sys.stdout.write("\n")
        return 0
    for line in header_lines(record):
        print(safe_text(line))
    if not record.has_arrays:
        return 0
    a = record.arrays
    cfg = record.config
    experiment = experiment_for(cfg)
    label, value = experiment.headline(record)
    shown = f"{value:.4g}" if isinstance(value, (int, float)) and np.isfinite(value) else "unknown (diverged)"
    print(f"  {experiment.title}: {label} = {shown}")
    if "dstar" in experiment.panes:
        print(f"  {run_dstar_history(record).summary()}")
    grid = run_phase_grid(record)
    if grid is not None:
        counts = Counter(p.phase for p in grid)
        share = ", ".join(f"{k} {100 * v / len(grid):.0f}%" for k, v in counts.most_common())
        print(f"  phase grid ({len(grid)} points): {share}; mean seed agreement {np.mean([p.agreement for p in grid]):.2f}")
        for line in refinement_summary(store, refinement) if refinement is not None else ():
            print(safe_text(f"  {line}"))
        return 0
    # One line per grid point: its lowest-loss seed's numbers (the app, export and report show the same).
    axes = experiment.axes(cfg)
    keys = experiment.point_metrics
    print("  " + "  ".join(f"{name:<14}" for name in [*(axis.name for axis in axes), *(METRICS[k].label for k in keys)]))
    for row in point_rows(a.instances, a.W, a.final_loss, keys):
        values = [axis.values[i] for axis, i in zip(axes, point_indices(axes, row["point"]))]
        coordinates = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in values]
        cells = [*coordinates, *(format_metric(k, row[k], cfg.n) for k in keys)]
        diverged = "  (diverged)" if a.diverged[row["winner"]] else ""
        print("  " + "  ".join(f"{c:<14}" for c in cells) + diverged)
    return 0
