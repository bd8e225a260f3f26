"""`supertui rm RUN [RUN ...]`: delete saved runs."""

from __future__ import annotations

from supertui.cli.common import open_store


def register(subparsers) -> None:
    from supertui.cli import add_data_dir

    p = subparsers.add_parser("rm", help="delete saved runs", description="Delete saved runs.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run id(s)")
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args) -> int:
    store = open_store(args)
    for run_id in args.runs:
        store.load(run_id)  # every id must name a readable run before anything is deleted
    for run_id in args.runs:
        store.delete(run_id)
        print(f"deleted {run_id}")
    return 0
