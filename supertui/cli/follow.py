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


CANCEL_WAIT = 0.5  # seconds Ctrl+C waits for the runs' final save (it shows their losses) before returning


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
                                         display.start(record.config, record.id, record.status)))
            cancelled = False
            while True:
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


def _cancel_quietly(store: RunStore, run_id: str) -> None:
    try:
        store.request_cancel(run_id)
    except StoreError as exc:
        print(f"supertui: {safe_text(exc)}", file=sys.stderr)
