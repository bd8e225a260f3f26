"""Commands that train many runs (`reproduce`, `scripts/take_screenshots.py --figures`) take the
path every run takes: they submit to the queue and follow, as `train` does. The runs train in the
scheduler's workers, so they outlive the command (an SSH drop, a Ctrl+C of the follower that
chose --detach); a stop request cancels them.

    ids = submit_batch(store, configs, extras)
    records = follow_batch(store, ids, on_progress=show, should_stop=stop.is_set)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from engine.errors import StoreError, SupertuiError
from engine.jobs.queue import JobQueue
from engine.jobs.scheduler import serve_queue
from engine.store.manifest import LIVE_STATUSES

if TYPE_CHECKING:
    from engine.config import RunConfig
    from engine.store.runs import RunRecord, RunStore

FOLLOW_POLL = 0.5  # seconds between looks at the followed runs
SERVE_QUEUE_EVERY = 2.0  # seconds between passes that keep the followed runs moving (reconcile, scheduler)


class BatchCancelled(SupertuiError):
    """should_stop() asked to stop: the batch's unfinished runs were cancelled."""


@dataclass
class RunProgress:
    run_id: str
    status: str
    step: int
    steps: int


def submit_batch(store: "RunStore", configs: list["RunConfig"], extras: list[dict[str, Any]] | None = None) -> list[str]:
    """Queue every config as one unit (none trains if one cannot be queued) and make sure a
    scheduler serves them; the run ids, in order."""
    ids = JobQueue(store).submit_all(configs, extras)
    serve_queue(store, ids)
    return ids


def follow_batch(store: "RunStore", run_ids: list[str], *,
                 on_progress: Callable[[list[RunProgress]], None] | None = None,
                 should_stop: Callable[[], bool] | None = None,
                 poll: float = FOLLOW_POLL) -> dict[str, "RunRecord"]:
    """Wait until every run has ended and return the final records. Progress of all of them
    goes to on_progress at each look. should_stop() cancels the unfinished ones (each is kept
    as cancelled) and raises BatchCancelled."""
    from engine.experiments import instance_count
    from engine.store.live import LiveReader

    readers: dict[str, LiveReader] = {}
    ended: dict[str, "RunRecord"] = {}
    served_at = 0.0
    while True:
        waiting = [run_id for run_id in run_ids if run_id not in ended]
        if not waiting:
            return ended
        if should_stop is not None and should_stop():
            JobQueue(store).cancel(waiting)
            raise BatchCancelled(f"cancelled {len(waiting)} unfinished run(s); "
                                 f"{len(ended)} had ended and are kept")
        if time.monotonic() - served_at > SERVE_QUEUE_EVERY:
            served_at = time.monotonic()
            serve_queue(store, waiting)
        progress = []
        for run_id in run_ids:
            record = ended.get(run_id) or _load(store, run_id)
            if record is None:
                raise StoreError(f"run {run_id} was deleted while it was followed")
            if record.status not in LIVE_STATUSES:
                ended[run_id] = record
                progress.append(RunProgress(run_id, record.status, record.config.steps, record.config.steps))
                continue
            reader = readers.setdefault(run_id, LiveReader(record.path, instance_count(record.config)))
            reader.poll()
            step = reader.state.step if reader.state is not None and record.status == "running" else 0
            progress.append(RunProgress(run_id, record.status, step, record.config.steps))
        if on_progress is not None:
            on_progress(progress)
        if len(ended) < len(run_ids):
            time.sleep(poll)


def _load(store: "RunStore", run_id: str) -> "RunRecord | None":
    try:
        return store.load(run_id)
    except StoreError:
        return None
