"""`supertui wait RUN [RUN ...]`: wait until the runs end; exit 0 only if every one completed."""

from __future__ import annotations

import sys

from supertui.cli.common import open_store, resolve_run_ids


def register(subparsers) -> None:
    from supertui.cli import add_data_dir

    p = subparsers.add_parser("wait", description=__doc__.splitlines()[0] + " Ctrl+C stops waiting; the runs go on.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run id(s) or unique prefixes")
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from supertui.cli.follow import follow

    store = open_store(args)
    run_ids = resolve_run_ids(store, args.runs)
    records, interrupted = follow(store, run_ids, live=sys.stdout.isatty(), cancel_on_interrupt=False)
    if interrupted:
        return 130
    return 0 if all(r.status == "completed" for r in records) else 1
