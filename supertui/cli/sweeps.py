"""`supertui sweeps [--json]`: every sweep with its progress (runs per status)."""

from __future__ import annotations

import json
import sys
from collections import Counter

from engine.errors import ConfigError, StoreError
from supertui.cli.common import open_store, safe_text


def register(subparsers) -> None:
    from supertui.cli import add_data_dir

    p = subparsers.add_parser("sweeps", description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="one JSON list (id, created, preset, axes, runs, statuses)")
    add_data_dir(p)
    p.set_defaults(func=run)


def sweep_row(store, sweep: dict) -> dict:
    statuses = Counter()
    for run_id in sweep["runs"]:
        try:
            statuses[store.load(run_id).status] += 1
        except (StoreError, ConfigError):
            statuses["deleted"] += 1
    plan = sweep.get("plan") if isinstance(sweep.get("plan"), dict) else {}
    return {
        "id": sweep["id"],
        "created": sweep.get("created"),
        "preset": plan.get("preset"),
        "activations": plan.get("activations"),
        "axes": plan.get("axes"),
        "runs": len(sweep["runs"]),
        "statuses": dict(statuses),
    }


def swept_words(row: dict) -> str:
    """`swept activation, lr (2 × 3 values)`: the fields in the words of the sweep's figure title."""
    counts = {k: len(v) for k, v in (row["axes"] or {}).items() if isinstance(v, list)}
    activations = row.get("activations")
    if isinstance(activations, list) and len(activations) > 1 and "activation" not in counts:
        counts = {"activation": len(activations), **counts}
    if not counts:
        return ""
    return f"swept {', '.join(counts)} ({' × '.join(map(str, counts.values()))} values)"


def run(args) -> int:
    store = open_store(args)
    rows = [sweep_row(store, s) for s in store.list_sweeps()]
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not rows:
        print("no sweeps yet (supertui train PRESET --sweep FIELD=VALUES, or supertui sweep FILE)")
        return 0
    for row in rows:
        done = row["statuses"].get("completed", 0)
        axes = swept_words(row)
        states = ", ".join(f"{n} {s}" for s, n in sorted(row["statuses"].items()))
        print(safe_text(f"{row['id']}  {row['preset']}  {axes or '-'}  {done}/{row['runs']} completed  ({states})"))
    return 0
