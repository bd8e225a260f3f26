"""`supertui rm RUN [RUN ...]`: delete saved runs."""

from __future__ import annotations

from engine.errors import StoreError
from engine.store.manifest import HELD_STATUSES

from supertui.cli.common import open_store, resolve_run_ids


def register(subparsers) -> None:
    from supertui.cli import add_data_dir

    p = subparsers.add_parser("rm", description="Delete saved runs.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run id(s) or unique prefixes")
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args) -> int:
    store = open_store(args)
    run_ids = resolve_run_ids(store, args.runs)  # every id must name a run before anything is deleted
    # Training: a worker holds it (a lock held by another client, such as a second rm, is waited for).
    training = [run_id for run_id in run_ids if store.load(run_id).status in HELD_STATUSES]
    if training:
        raise StoreError(f"run: {training[0]} is training; cancel it first (supertui cancel {training[0]})")
    for run_id in run_ids:
        store.delete(run_id)
        print(f"deleted {run_id}")
    return 0
