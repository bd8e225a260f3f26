"""`supertui runs [--json]`: the saved runs, newest first."""

from __future__ import annotations

import json
import sys

from supertui.cli.common import open_store, report_skipped


def register(subparsers) -> None:
    from supertui.cli import add_data_dir

    p = subparsers.add_parser("runs", help="list saved runs", description="List saved runs, newest first.")
    p.add_argument("--json", action="store_true",
                   help="one JSON list (id, preset, experiment, activation, status, created, final_loss)")
    p.add_argument("--sweep", metavar="ID", help="only the runs of this sweep (id or unique prefix, see `supertui sweeps`)")
    add_data_dir(p)
    p.set_defaults(func=run)


def run_rows(store, only: set[str] | None = None) -> list[dict]:
    from engine.experiments import experiment_for

    return [
        {
            "id": r.id,
            "preset": r.preset,
            "experiment": experiment_for(r.config).title,
            "activation": r.activation,
            "status": r.status,
            "created": r.created,
            "final_loss": r.final_loss,
            "instances": r.manifest.get("instances"),
            "tags": r.tags,
            "sweep": r.manifest.get("sweep"),
        }
        for r in store.iter_runs(on_error=report_skipped)
        if only is None or r.id in only
    ]


def run(args) -> int:
    store = open_store(args)
    only = set(store.load_sweep(args.sweep)["runs"]) if args.sweep else None
    rows = run_rows(store, only)
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not rows:
        print(f"no runs in {store.runs_dir}")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("id", "preset", "activation", "status", "created", "final loss"):
        table.add_column(column, no_wrap=column != "created")
    for row in rows:
        loss = "-" if row["final_loss"] is None else f"{row['final_loss']:.4g}"
        table.add_row(row["id"], row["preset"], row["activation"], row["status"], row["created"], loss)
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    return 0
