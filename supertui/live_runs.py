"""The app's view of the queue: every queued and training run of the data directory, wherever it
was started (this app, another app window or browser tab, `supertui train`, a Ray cluster).

The app never trains: it submits runs to the store and tails them. `LiveRuns.refresh()` (about
once a second) asks the store which runs are live, through its queue and lock folders, so it
stays cheap however many runs are saved; `LiveRuns.poll()` (four times a second) reads the
progress the workers publish (engine.store.live). Both run on the app's event loop: they read a few
small files and never block on training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.experiments import instance_count
from engine.errors import ConfigError, StoreError
from engine.store.live import LiveReader, LiveState
from engine.store.runs import LIVE_STATUSES, RunRecord, RunStore
from engine.system.resources import ResourceSample, ResourceSampler

PROGRESS_INTERVAL = 0.25  # seconds between looks at the live runs' progress
LIST_EVERY = 4  # progress ticks between looks at which runs are live


@dataclass(eq=False)
class LiveRun:
    """One queued or training run, as the app follows it."""

    record: RunRecord
    reader: LiveReader
    watchers: int = 0  # views drawing its weights: only then is W read from disk
    resources: ResourceSample | None = None  # its worker's CPU, memory and GPU use (this host only)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def config(self):
        return self.record.config

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def state(self) -> LiveState:
        return self.reader.state

    @property
    def active(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def label(self) -> str:
        return f"{self.config.preset}/{self.config.activation}"

    @property
    def where(self) -> str:
        """The device (and the host, when it is another machine) that trains it."""
        device = self.record.manifest.get("device") or ""
        host = self.record.manifest.get("host") or ""
        executor = self.record.manifest.get("executor")
        if isinstance(executor, dict) and executor.get("kind") == "ray":
            return f"{device} on {host} (ray)" if host else "ray"
        return device

    def watch(self, weights: bool) -> None:
        self.watchers = max(0, self.watchers + (1 if weights else -1))
        self.reader.want_weights(self.watchers > 0)

    def reload(self, store: RunStore) -> bool:
        """Read its manifest again; True when its status changed."""
        before = self.status
        try:
            self.record = store.load(self.id)
        except (StoreError, ConfigError):
            return False
        return self.status != before


@dataclass
class LiveRuns:
    store: RunStore
    runs: dict[str, LiveRun] = field(default_factory=dict)
    sampler: ResourceSampler = field(default_factory=ResourceSampler)

    def get(self, run_id: str | None) -> LiveRun | None:
        return self.runs.get(run_id) if run_id else None

    @property
    def active(self) -> list[LiveRun]:
        """Training runs first, then queued ones in queue order."""
        return sorted(self.runs.values(), key=lambda r: r.status != "running")

    @property
    def training(self) -> list[LiveRun]:
        return [r for r in self.runs.values() if r.status == "running"]

    def follow(self, record: RunRecord) -> LiveRun:
        run = self.runs.get(record.id)
        if run is None:
            run = LiveRun(record, LiveReader(record.path, instance_count(record.config), weights=False))
            self.runs[record.id] = run
        return run

    def refresh(self) -> tuple[list[LiveRun], list[LiveRun]]:
        """Which runs are live now. Returns (runs that changed, runs that ended); an ended run
        holds its final record and leaves the set."""
        changed: list[LiveRun] = []
        live = {record.id: record for record in self.store.live_runs()}
        for run_id, record in live.items():
            run = self.runs.get(run_id)
            if run is None:
                changed.append(self.follow(record))
            elif run.record.saved_status != record.saved_status or run.record.manifest != record.manifest:
                run.record = record
                changed.append(run)
        ended = []
        for run_id in [r for r in self.runs if r not in live]:
            run = self.runs.pop(run_id)
            run.reload(self.store)
            ended.append(run)
        self._sample_resources(changed)
        return changed, ended

    def _sample_resources(self, changed: list[LiveRun]) -> None:
        """Once a listing (about a second): what each training run's worker uses. A run whose
        numbers are new counts as changed, so the queue table and its view show them."""
        pids = set()
        for run in self.training:
            manifest = run.record.manifest
            pid = manifest.get("pid")
            run.resources = self.sampler.sample(pid, manifest.get("host"), manifest.get("device"))
            if isinstance(pid, int):
                pids.add(pid)
            if run.resources is not None and run not in changed:
                changed.append(run)
        self.sampler.forget_others(pids)

    def poll(self) -> list[LiveRun]:
        """Read new progress of the training runs; returns those that moved. A queued run that a
        view shows is looked at too: its first loss point is drawn the moment a worker publishes
        it, not at the next listing (up to a second later), which then also finds it running."""
        moved = []
        for run in self.runs.values():
            if run.status == "running" or (run.status == "queued" and run.watchers > 0):
                if run.reader.poll():
                    if run.status == "queued":
                        run.reload(self.store)
                    moved.append(run)
        return moved

    def cancel(self, run_id: str) -> str:
        outcome = self.store.request_cancel(run_id)
        run = self.runs.get(run_id)
        if run is not None:
            run.reload(self.store)
        return outcome
