"""Follow queued and training runs from the terminal, through the store: the same view whoever
started them. Ctrl+C once cancels the followed runs (each is kept as `cancelled`); twice stops
following at once (the workers still finish cancelling)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from engine.errors import StoreError
from engine.store.live import LiveReader
from engine.store.runs import LIVE_STATUSES, RunRecord, RunStore
from supertui.cli.common import graceful_sigint, safe_text
from supertui.cli.progress import TrainDisplay

POLL_INTERVAL = 0.25
SERVE_QUEUE_EVERY = 2.0  # seconds between looks that the followed runs can still end (engine.jobs.scheduler.serve_queue)


CANCEL_WAIT = 0.5  # seconds Ctrl+C waits for the runs' final save (it shows their losses) before returning


def sweep_member(record) -> dict | None:
    """The swept values of a sweep's run (its manifest's sweep.axes), else None."""
    sweep = record.manifest.get("sweep")
    axes = sweep.get("axes") if isinstance(sweep, dict) else None
    return axes if isinstance(axes, dict) else None


@dataclass
class Followed:
    record: RunRecord
    reader: LiveReader
    task: object
    done: bool = False


def follow(store: RunStore, run_ids: list[str], *, live: bool, cancel_on_interrupt: bool = True) -> tuple[list[RunRecord], bool]:
    """Show each run until it ends; returns the final records and whether the user interrupted.
    Without cancel_on_interrupt, Ctrl+C only stops following (`wait`)."""
    interrupted = False
    message = ("supertui: cancelling: each run stops after its step and is saved as cancelled" if cancel_on_interrupt
               else "supertui: stopped waiting; the runs go on")
    cancel_deadline = float("inf")
    with graceful_sigint(message=message) as stop:
        with TrainDisplay(live=live) as display:
            from engine.experiments import instance_count  # the registry loads numpy: only where a run is read

            followed = []
            for run_id in run_ids:
                record = store.load(run_id)
                followed.append(Followed(record, LiveReader(record.path, instance_count(record.config)),
                                         display.start(record.config, record.id, record.status, sweep_member(record))))
            cancelled = False
            served_at = 0.0
            while True:
                if time.monotonic() - served_at > SERVE_QUEUE_EVERY:
                    served_at = time.monotonic()
                    _serve_queue(store, [item.record.id for item in followed if not item.done])
                if stop.is_set() and not cancelled:
                    interrupted = cancelled = True
                    cancel_deadline = time.monotonic() + CANCEL_WAIT
                    if cancel_on_interrupt:
                        for item in followed:
                            if not item.done:
                                _cancel_quietly(store, item.record.id)
                if stop.aborted or (interrupted and not cancel_on_interrupt):
                    break
                for item in followed:
                    if not item.done:
                        _refresh(store, item)
                if all(item.done for item in followed):
                    break
                if time.monotonic() > cancel_deadline:
                    # The prompt comes back now; the detached workers finish the save on their own.
                    print("supertui: still saving; `supertui runs` shows them as cancelled once saved", file=sys.stderr)
                    break
                time.sleep(POLL_INTERVAL)
    return [item.record for item in followed], interrupted


def _refresh(store: RunStore, item: Followed) -> None:
    try:
        item.record = store.load(item.record.id)
    except StoreError as exc:
        item.task.gone(str(exc))
        item.done = True
        return
    if item.reader.poll():
        item.task.update_live(item.reader.state)
    status = item.record.status
    if status in LIVE_STATUSES:
        item.task.waiting(status)
        return
    item.task.finish(item.record)
    item.done = True


def _serve_queue(store: RunStore, run_ids: list[str]) -> None:
    """A run can only end if something trains it: re-enter a queued run that lost its entry, end a
    run whose worker died, start a scheduler when none runs. Never forever waiting."""
    from engine.jobs.scheduler import serve_queue

    try:
        serve_queue(store, run_ids)
    except OSError as exc:
        print(f"supertui: cannot start the scheduler: {safe_text(exc)}", file=sys.stderr)


def _cancel_quietly(store: RunStore, run_id: str) -> None:
    try:
        store.request_cancel(run_id)
    except StoreError as exc:
        print(f"supertui: {safe_text(exc)}", file=sys.stderr)
