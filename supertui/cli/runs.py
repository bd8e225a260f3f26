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
from supertui.formatting import format_headline

HEADLINE = "headline"
COLUMNS = (("id", 0), ("name", 0), ("preset", 10), ("activation", 10), ("status", 11), ("created", 25), ("final loss", 10))


def register(subparsers) -> None:
    from supertui.cli import add_data_dir

    p = subparsers.add_parser("runs", description="List saved runs, newest first.")
    p.add_argument("--json", action="store_true",
                   help="one JSON list (id, preset, experiment, activation, status, created, final_loss, headline)")
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
            "headline": r.headline,  # {"label", "name", "value"}: the experiment's number, once it finished
        }
        for r in store.listing(on_error=report_skipped)
        if only is None or r.id in only
    ]


def format_loss(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else "-"


def table_lines(rows: list[dict]) -> list[str]:
    """Plain, aligned columns: the id column as wide as the longest id, then the short name the
    app shows first (accepted wherever an id is); numbers right-aligned, the experiment's headline
    number last where any run has one."""
    columns = COLUMNS + ((HEADLINE, 0),) if any(row["headline"] for row in rows) else COLUMNS
    cells = [[safe_text(row["id"]), safe_text(row["name"] or "-"), safe_text(row["preset"]), safe_text(row["activation"]), safe_text(row["status"]),
              safe_text(row["created"]), format_loss(row["final_loss"]), safe_text(format_headline(row["headline"], unknown="-"))][:len(columns)]
             for row in rows]
    widths = [max([len(name), minimum, *(len(c[i]) for c in cells)]) for i, (name, minimum) in enumerate(columns)]
    numbers = len(columns) - len(COLUMNS) + 1  # the final loss and the headline
    header = "  ".join([*(name.ljust(w) for (name, _), w in zip(columns[:-numbers], widths)),
                        *(name.rjust(w) for (name, _), w in zip(columns[-numbers:], widths[-numbers:]))]).rstrip()
    lines = [header]
    for c in cells:
        lines.append("  ".join([*(v.ljust(w) for v, w in zip(c[:-numbers], widths)),
                                *(v.rjust(w) for v, w in zip(c[-numbers:], widths[-numbers:]))]).rstrip())
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
    lines = table_lines(rows)
    if args.sweep:  # a column per swept field, so the runs of one sweep tell themselves apart
        lines = with_swept_columns(lines, rows)
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def with_swept_columns(lines: list[str], rows: list[dict]) -> list[str]:
    axes = [dict(r["sweep"].get("axes") or {}) if isinstance(r.get("sweep"), dict) else {} for r in rows]
    names = list(dict.fromkeys(k for a in axes for k in a))
    cells = [[safe_text(f"{a[k]:.4g}" if isinstance(a.get(k), float) else a.get(k, "-")) for k in names] for a in axes]
    widths = [max([len(safe_text(k)), *(len(c[i]) for c in cells)]) for i, k in enumerate(names)]
    width = max(map(len, lines))
    out = [lines[0].ljust(width) + "  " + "  ".join(safe_text(k).ljust(w) for k, w in zip(names, widths))]
    out += [line.ljust(width) + "  " + "  ".join(v.ljust(w) for v, w in zip(c, widths)) for line, c in zip(lines[1:], cells)]
    return [line.rstrip() for line in out]
