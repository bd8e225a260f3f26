"""`supertui train phase -a ACT --refine LEVELS [--coarse N]`: a phase diagram refined where its
phases change (engine.sweeps.refine). Queues level 0 of one refinement per activation; the
scheduler queues each next level when the one before has completed, so the refinement goes on
after this command ends (--detach, an SSH drop). Following shows each level's run as it trains."""

from __future__ import annotations

import sys
import time

from engine.errors import ConfigError, StoreError
from supertui.cli.common import open_store

LEVEL_WAIT_POLL = 0.5  # seconds between looks for the next level once one has ended
LEVEL_WAIT_LIMIT = 120.0  # seconds a follower waits for the scheduler to queue a next level


def refuse_other_layouts(args) -> None:
    """--refine lays out its own points: flags that set another layout are refused by name."""
    for flag, given in (("grid", args.grid is not None), ("densities", bool(args.densities)),
                        ("sweep", bool(args.sweep)), ("resume", args.resume is not None)):
        if given:
            raise ConfigError(flag, "does not combine with --refine, which lays out its own points "
                                    "(accepted with --refine: --coarse, the training flags and the queue options)")


def queue_refinements(args, plan, executor_from_args) -> int:
    """Check every activation's refinement, queue each one's level 0, then follow them or detach.
    executor_from_args: `train`'s check of where the runs go (--executor ray), passed in."""
    from engine.experiments import validate_config
    from engine.jobs.scheduler import ensure_scheduler, parse_devices, save_devices
    from engine.sweeps.refine import DEFAULT_COARSE, plan_refinement, start_refinement
    from engine.training.device import host_memory_bytes

    refuse_other_layouts(args)
    coarse = DEFAULT_COARSE if args.coarse is None else args.coarse
    bases = [plan.base.replace(activation=a) for a in plan.activations]
    firsts = []
    for base in bases:  # every check before anything is written
        _, first = plan_refinement(base, args.refine, coarse)
        validate_config(first, available_memory_bytes=host_memory_bytes())
        firsts.append(first)
    devices = parse_devices(args.devices) if args.devices else None
    executor = executor_from_args(args, firsts)
    store = open_store(args)
    store.check_writable()
    if args.devices:
        save_devices(store, devices)
    started = []
    for base in bases:
        refinement_id, run_id = start_refinement(store, base, int(args.refine), int(coarse),
                                                 {"executor": executor} if executor else None)
        print(f"supertui: refinement {refinement_id}: level 0 queued as {run_id}", file=sys.stderr, flush=True)
        started.append(refinement_id)
    ensure_scheduler(store)
    if args.detach:
        for refinement_id in started:
            print(refinement_id)
        return 0
    ok = True
    for refinement_id in started:
        status = follow_refinement(store, refinement_id)
        if status is None:
            return 130
        ok = ok and status.startswith("completed")
        print(refinement_id)
    return 0 if ok else 1


def follow_refinement(store, refinement_id: str) -> str | None:
    """Follow each level's run as the scheduler queues it, until the refinement ends; its ending
    (a line), or None when the user interrupted (the followed level is then cancelled)."""
    from engine.jobs.scheduler import ensure_scheduler
    from engine.sweeps.refine import read_refinement as read_index
    from supertui.cli.follow import follow

    followed: set[str] = set()
    waited_since = time.monotonic()
    while True:
        index = read_index(store, refinement_id)
        if index is None:
            raise StoreError(f"refinement {refinement_id}: its index can no longer be read")
        new = [run_id for run_id in index["runs"] if run_id not in followed]
        if new:
            _, interrupted = follow(store, new, live=sys.stdout.isatty())
            followed.update(new)
            if interrupted:
                return None
            waited_since = time.monotonic()
            continue
        if index.get("ended"):
            print(f"supertui: refinement {refinement_id}: {index['ended']}", file=sys.stderr, flush=True)
            return index["ended"]
        if time.monotonic() - waited_since > LEVEL_WAIT_LIMIT:
            raise StoreError(f"refinement {refinement_id}: no scheduler queued its next level within "
                             f"{LEVEL_WAIT_LIMIT:.0f} s (see `supertui jobs`)")
        ensure_scheduler(store)
        time.sleep(LEVEL_WAIT_POLL)
