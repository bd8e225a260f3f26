"""`supertui cancel RUN [RUN ...]`: stop queued or training runs (each is kept as `cancelled`)."""

from __future__ import annotations

import time

from supertui.cli.common import open_store, resolve_run_ids

WAIT_SECONDS = 10.0  # for a training run to save itself as cancelled


def register(subparsers) -> None:
    from supertui.cli import add_data_dir

    p = subparsers.add_parser("cancel", description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", metavar="RUN", help="run id(s) or unique prefixes")
    p.add_argument("--no-wait", action="store_true", help="ask the workers to stop and return at once")
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args) -> int:
    store = open_store(args)
    run_ids = resolve_run_ids(store, args.runs)
    outcome = {run_id: store.request_cancel(run_id) for run_id in run_ids}
    deadline = time.monotonic() + (0 if args.no_wait else WAIT_SECONDS)
    pending = [run_id for run_id, what in outcome.items() if what == "requested"]
    while pending and time.monotonic() < deadline:
        time.sleep(0.1)
        pending = [run_id for run_id in pending if store.load(run_id).is_live]
    for run_id, what in outcome.items():
        if what == "finished":
            print(f"{run_id}: already {store.load(run_id).status}, nothing to cancel")
        elif run_id in pending:
            print(f"{run_id}: asked to stop")
        else:
            print(f"{run_id}: {store.load(run_id).status}")
    return 0
