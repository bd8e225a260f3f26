"""Waiting for refinements (engine.sweeps.refine) from a client: `reproduce` follows every
activation's refinement here while the scheduler queues their levels. Kept apart from the planning,
which the scheduler itself imports."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from engine.errors import ConfigError, StoreError
from engine.jobs.batch import BatchCancelled
from engine.jobs.queue import JobQueue
from engine.jobs.scheduler import ensure_scheduler, serve_queue
from engine.store.manifest import LIVE_STATUSES
from engine.sweeps.refine import read_refinement

if TYPE_CHECKING:
    from engine.store.runs import RunStore

FOLLOW_POLL = 1.0  # seconds between looks at followed refinements


def follow_refinements(store: "RunStore", ids: list[str], should_stop=None, on_progress=None) -> dict[str, dict]:
    """Wait until every refinement has ended (the scheduler queues their levels); their indexes.
    should_stop() cancels their unfinished runs and raises engine.jobs.batch.BatchCancelled."""
    served_at = 0.0
    while True:
        indexes = {i: read_refinement(store, i) for i in ids}
        missing = [i for i, index in indexes.items() if index is None]
        if missing:
            raise StoreError(f"refinement {missing[0]}: its index can no longer be read")
        if all(index.get("ended") for index in indexes.values()):
            return indexes
        live = _live_runs(store, indexes.values())
        if should_stop is not None and should_stop():
            raise BatchCancelled(f"cancelled {cancel_refinements(store, ids)} unfinished refinement run(s)")
        if time.monotonic() - served_at > 2.0:
            served_at = time.monotonic()
            serve_queue(store, live)
            if not live:  # a level ended and none is queued yet: a scheduler plans the next one
                ensure_scheduler(store)
        if on_progress is not None:
            on_progress(indexes)
        time.sleep(FOLLOW_POLL)


def cancel_refinements(store: "RunStore", ids: list[str], rounds: int = 3) -> int:
    """Cancel every queued or training run of these refinements (a cancelled level ends its
    refinement); how many. Looked at again after each cancel: a scheduler may have queued the next
    level between the look and the cancel."""
    cancelled = 0
    for _ in range(rounds):
        live = _live_runs(store, [index for i in ids if (index := read_refinement(store, i)) is not None])
        if not live:
            break
        JobQueue(store).cancel(live)
        cancelled += len(live)
        time.sleep(0.2)
    return cancelled


def _live_runs(store: "RunStore", indexes) -> list[str]:
    return [run_id for index in indexes for run_id in index["runs"]
            if (record := _load_or_none(store, run_id)) is not None and record.status in LIVE_STATUSES]


def _load_or_none(store: "RunStore", run_id: str):
    try:
        return store.load(run_id)
    except (StoreError, ConfigError):
        return None
