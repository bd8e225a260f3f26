"""`supertui runs [--json]`: the saved runs, newest first.

Listed from the data directory's run index (engine.store.index): a stat per run once it is warm,
so 10,000 runs list in a fraction of a second. Plain columns, every text through safe_text:
nothing a run folder holds is ever read as markup or a terminal escape.
"""

from __future__ import annotations

import json
import math
import sys

from supertui.cli.common import open_store, report_skipped, safe_text

COLUMNS = (("id", 0), ("preset", 10), ("activation", 10), ("status", 11), ("created", 25), ("final loss", 10))


def register(subparsers) -> None:
    from supertui.cli import add_data_dir

    p = subparsers.add_parser("runs", description="List saved runs, newest first.")
    p.add_argument("--json", action="store_true",
                   help="one JSON list (id, preset, experiment, activation, status, created, final_loss)")
    p.add_argument("--sweep", metavar="ID", help="only the runs of this sweep (id or unique prefix, see `supertui sweeps`)")
    add_data_dir(p)
    p.set_defaults(func=run)


def run_rows(store, only: set[str] | None = None) -> list[dict]:
    return [
        {
            "id": r.id,
            "name": r.name,  # the short name, accepted wherever an id is
            "preset": r.preset,
            "experiment": r.experiment_title,
            "activation": r.activation,
            "status": r.status,
            "created": r.created,
            "final_loss": r.final_loss,
            "instances": r.instances,
            "tags": r.tags,
            "sweep": r.sweep,
        }
        for r in store.listing(on_error=report_skipped)
        if only is None or r.id in only
    ]


def format_loss(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else "-"


def table_lines(rows: list[dict]) -> list[str]:
    """Plain, aligned columns: the id column as wide as the longest id."""
    cells = [[safe_text(row["id"]), safe_text(row["preset"]), safe_text(row["activation"]), safe_text(row["status"]),
              safe_text(row["created"]), format_loss(row["final_loss"])] for row in rows]
    widths = [max([len(name), minimum, *(len(c[i]) for c in cells)]) for i, (name, minimum) in enumerate(COLUMNS)]
    header = "  ".join(name.ljust(w) for (name, _), w in zip(COLUMNS, widths)).rstrip()
    lines = [header]
    for c in cells:
        lines.append("  ".join([*(v.ljust(w) for v, w in zip(c[:-1], widths)), c[-1].rjust(widths[-1])]).rstrip())
    return lines


def run(args) -> int:
    store = open_store(args)
    only = set(store.load_sweep(args.sweep)["runs"]) if args.sweep else None
    rows = run_rows(store, only)
    if args.json:
        # One run per line: json's C encoder (an indented dump runs the pure-Python one, 3x slower).
        body = ",\n".join(f"  {json.dumps(row, allow_nan=False)}" for row in rows)
        sys.stdout.write(f"[\n{body}\n]\n" if rows else "[]\n")
        return 0
    if not rows:
        print(f"no runs in {safe_text(store.runs_dir)}")
        return 0
    sys.stdout.write("\n".join(table_lines(rows)) + "\n")
    return 0
