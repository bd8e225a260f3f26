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
    from engine.jobs.queue import JobQueue

    store = open_store(args)
    run_ids = resolve_run_ids(store, args.runs)
    outcome = JobQueue(store).cancel(run_ids)  # the queue folder is listed once, however many runs
    deadline = time.monotonic() + (0 if args.no_wait else WAIT_SECONDS)
    pending = [run_id for run_id, what in outcome.items() if what == "requested"]
    while pending and time.monotonic() < deadline:
        time.sleep(0.1)
        pending = [run_id for run_id in pending if store.load(run_id).is_live]
    lines = []
    for run_id, what in outcome.items():
        if what == "finished":
            lines.append(f"{run_id}: already {store.load(run_id).status}, nothing to cancel")
        elif run_id in pending:
            lines.append(f"{run_id}: asked to stop")
        else:
            lines.append(f"{run_id}: {'cancelled' if what == 'cancelled' else store.load(run_id).status}")
    print("\n".join(lines))
    return 0
